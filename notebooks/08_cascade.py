# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 08 · The cascade: `3d_lowres`, then `3d_cascade_fullres`
#
# A 3D U-Net sees one patch at a time. For a big CT scan the patch that fits in GPU memory covers only a small
# part of the body, so the network decides about a voxel without seeing the organ it belongs to. v1's answer is
# the **cascade**: a first U-Net (`3d_lowres`) works on a downsampled copy of each image, where the same patch
# covers much more; its segmentation, upsampled to full resolution, becomes extra input channels of a second U-Net
# (`3d_cascade_fullres`) that refines it at full resolution.
#
# v1 plans the low-resolution stage only when the median case has at least 4 times as many voxels as the
# full-resolution patch, and keeps it only if its median case has fewer than half the full-resolution voxels. The
# low-resolution case is coarsened until it is about 4 patches again, so with v1's usual patch of about 2 M voxels
# a stage is tried from median cases of about 8 M voxels but kept only from about 17 M (8 patches) on. The tiny
# sample of these notebooks never gets one — so this notebook adds one by hand to see every step of the
# cascade on a laptop.

# %%
# figures (matplotlib Figure objects returned by the views) display as images
# %matplotlib inline
import os, pathlib
# The workspace: nnU-Net v1's three folders (raw, preprocessed, results). Unless you set them (or
# NNUNET_EXPLORER_WORKSPACE), the notebooks use ./nnunet_workspace next to themselves.
if not any(os.environ.get(v) for v in ("nnUNet_raw_data_base", "nnUNet_preprocessed", "RESULTS_FOLDER")):
    os.environ.setdefault("NNUNET_EXPLORER_WORKSPACE", str(pathlib.Path("nnunet_workspace").resolve()))
os.environ.setdefault("nnUNet_n_proc_DA", "1")  # one augmentation worker: this is a small CPU
import torch
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

from nnunet_explorer.views.widgets_common import prepare_sample_task
# its own copy of the synthetic CT sample (Task908_SyntheticCT), so that task 901 of notebooks 01-07 keeps the
# one-stage plan v1 made for it: written and preprocessed once, reused afterwards
workspace, TASK = prepare_sample_task(908)
print(workspace.describe()); print("task:", TASK)

# %%
import numpy as np
from nnunet_explorer.planning.plans import Plans
plans_file = workspace.preprocessed_task_dir(TASK) / "nnUNetPlansv2.1_plans_3D.pkl"
plans = Plans.from_file(plans_file)
full = plans.stage(plans.num_stages - 1)
ratio = np.prod(full["median_patient_size_in_voxels"]) / np.prod(full["patch_size"])
print(f"{plans.num_stages} stage(s), configurations {plans.configurations}")
print(f"median case {[int(v) for v in full['median_patient_size_in_voxels']]} voxels, patch "
      f"{[int(v) for v in full['patch_size']]}: "
      f"the median case holds {ratio:.2f} patches; v1 tries a low-resolution stage only from 4")

# %% [markdown]
# ## A teaching low-resolution stage
#
# `add_lowres_stage` is **not part of v1**: it makes stage 0 a copy of the full-resolution stage at twice the
# in-plane spacing, keeps patch size, pooling and batch size, makes the full-resolution stage stage 1, and
# preprocesses both stages from the cropped data exactly as `nnUNet_plan_and_preprocess` would for such a plan
# (the tests check the arrays against v1's own preprocessor). v1's real low-resolution stage would also re-plan
# patch, pooling and batch size for its coarser spacing. `overwrite=True` lets this notebook run again: on a
# re-run the plans already have the two stages, and stage 0 is rebuilt from the last (full-resolution) stage.

# %%
from nnunet_explorer.planning.lowres_stage import add_lowres_stage
report = add_lowres_stage(TASK, workspace=workspace, spacing_factor=(1, 2, 2), overwrite=True)
print(report)
plans = Plans.from_file(plans_file)
print("configurations now:", plans.configurations)

# %% [markdown]
# A second call refuses: the plans already have two stages, and a real two-stage plan (v1's) must not be replaced
# by accident.

# %%
from nnunet_explorer.errors import PlansError
try:
    add_lowres_stage(TASK, workspace=workspace)
except PlansError as error:
    refusal = error
    print(error)

# %% [markdown]
# ## Stage 1 of the cascade: `3d_lowres`
#
# `nnUNet_train 3d_lowres nnUNetTrainerV2 908 all` trains on `nnUNetData_plans_v2.1_stage0`, here for one epoch
# of two iterations. At the end v1 runs `predict_next_stage`: it predicts every *validation* case of the fold on
# the low-resolution grid, resamples the probabilities to the stage-1 grid and saves the argmax as
# `pred_next_stage/CASE_segFromPrevStage.npz`. It predicts with test-time mirroring (8 predictions per tile);
# to stay fast on a CPU we pass `--disable_next_stage_pred` and call the same function below without mirroring.

# %%
import contextlib, io
from nnunet_explorer.cli import main as nnunet_explorer

def run_cli(*argv):
    """Run `nnunet-explorer ARGV...` in this kernel; print the configuration lines and the last lines."""
    print("$ nnunet-explorer", " ".join(argv))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = nnunet_explorer(list(argv))
    lines = out.getvalue().splitlines()
    print("\n".join([l for l in lines if l.startswith("I am using")] + lines[-3:]))
    assert status == 0, out.getvalue()[-3000:]

SHORT = ["--max_num_epochs", "1", "--num_batches_per_epoch", "2", "--num_val_batches_per_epoch", "1",
         "--single_threaded", "--quiet", "--overwrite_training", "--device", "cpu", "--disable_validation_inference"]
run_cli("train", "3d_lowres", "nnUNetTrainerV2", TASK, "all", *SHORT, "--disable_next_stage_pred")

# %%
from nnunet_explorer.inference.cascade import predict_next_stage
from nnunet_explorer.walkthrough import training_walkthrough

# the 3d_lowres trainer, built and initialized as `nnUNet_train 3d_lowres` does, then given the weights just
# trained as `-val` does it: load_final_checkpoint(train=False)
lp = training_walkthrough("3d_lowres", "nnUNetTrainerV2", TASK, "all", quiet=True)
lowres_folder = lp["configuration"].output_folder_name
low_trainer = lp["trainer"]
net = lp["network"]  # low_trainer.network
low_trainer.load_final_checkpoint(train=False)
pre = workspace.preprocessed_task_dir(TASK)
stage0, stage1 = pre / "nnUNetData_plans_v2.1_stage0", pre / "nnUNetData_plans_v2.1_stage1"
next_stage = predict_next_stage(net, plans.to_dict(), 0, lowres_folder / "all", stage0, stage1, lp["split"].val,
                                do_mirroring=False, log=lambda *args: None)
print(next_stage.summary())
print(next_stage.cases[0].summary())

# %% [markdown]
# Fold `all` trains and validates on every case, so one run gives every case its prior — a shortcut for this
# notebook. The network that made these priors *has seen* the cases. Real use trains all five folds of
# `3d_lowres`: each case is then predicted by the fold that held it out, and the cascade learns from priors with
# realistic mistakes. (After two iterations the prior here is mostly noise; the mechanics are the same.)
#
# One case on both grids: the stage-0 image, the prior on the stage-1 grid, and the stage-1 image with its
# ground truth.

# %%
import io
from IPython.display import Image
from matplotlib.figure import Figure

def show(fig):
    """The figure as a PNG: shown by any notebook front end, whatever matplotlib backend is set."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return Image(data=buffer.getvalue())

def masked(seg):
    return np.ma.masked_where(seg <= 0, seg)  # background transparent

case = next_stage.cases[0].case
low = np.load(stage0 / f"{case}.npz")["data"]
high = np.load(stage1 / f"{case}.npz")["data"]
prior = np.load(next_stage.cases[0].output_file)["data"]
print(f"{case}: stage 0 {low.shape[1:]}, prior {prior.shape}, stage 1 {high.shape[1:]}  (z, y, x)")

fig = Figure(figsize=(9, 3), layout="constrained")
axes = fig.subplots(1, 3)
z0, z1 = low.shape[1] // 2, high.shape[1] // 2
axes[0].imshow(low[0, z0], cmap="gray"); axes[0].set_title(f"stage 0 image {low.shape[2:]}", fontsize=8)
axes[1].imshow(high[0, z1], cmap="gray"); axes[1].imshow(masked(prior[z1]), cmap="autumn", alpha=0.5, vmin=0, vmax=2)
axes[1].set_title(f"3d_lowres prior on the stage-1 grid {prior.shape[1:]}", fontsize=8)
axes[2].imshow(high[0, z1], cmap="gray"); axes[2].imshow(masked(high[-1, z1]), cmap="autumn", alpha=0.5, vmin=0, vmax=2)
axes[2].set_title(f"stage 1 image + ground truth {high.shape[2:]}", fontsize=8)
for ax in axes:
    ax.set_xticks([]); ax.set_yticks([])
show(fig)

# %% [markdown]
# ## Stage 2: `3d_cascade_fullres`, step by step
#
# The walkthrough of `nnUNet_train 3d_cascade_fullres nnUNetTrainerV2CascadeFullRes 908 all`: the trainer reads
# the priors from `3d_lowres/.../pred_next_stage`, the network gets `1 + (C - 1)` input channels (the CT channel
# plus one binary channel per foreground class), and the augmentation parameters gain the cascade keys.

# %%
cp = training_walkthrough("3d_cascade_fullres", "nnUNetTrainerV2CascadeFullRes", TASK, "all")
pp = cp["plans_processed"]
print(pp.summary())
aug = cp["augmentation_parameters"]
cascade_keys = {k: v for k, v in aug.data_aug_params.items()
                if k.startswith("cascade") or k in ("selected_seg_channels", "all_segmentation_labels",
                                                    "move_last_seg_chanel_to_data")}
for key, value in cascade_keys.items():
    print(f"{key:55s} {value}")

# %%
batch = cp["batch"]
print(batch.summary())

# %% [markdown]
# ## The prior through the augmentation
#
# The loader carries the prior as segmentation channel 1, so rotation, scaling and mirroring move it with the
# label. Near the end, `MoveSegAsOneHotToData` turns it into the extra image channels, and two transforms
# simulate mistakes of the low-resolution network:
#
# * `ApplyRandomBinaryOperatorTransform` (40 % of the samples): dilate, erode, close or open each class channel
#   with a ball of random radius — structures become too thick, too thin, merged or split;
# * `RemoveRandomConnectedComponentFromOneHotEncodingTransform` (20 %): meant to delete a small connected
#   component. **In v1 it never removes anything**: v1 passes two of its arguments swapped, so the size limit
#   is 0 % of the patch and no component qualifies. The explorer keeps that behaviour (and its random draws).
#
# We trace one sample with seeds 0, 1, 2 ... until the binary operator acts.

# %%
from nnunet_explorer.training.augmentation import trace_augmentation
transforms = list(cp["trainer"].tr_gen.transform.transforms)  # the cascade trainer's own transform list
raw = next(iter(cp["dataloader"]))
print("loader batch: data", raw["data"].shape, "seg", raw["seg"].shape, "(seg channel 1 = the prior)")
for seed in range(50):
    trace = trace_augmentation(raw, transforms, seed=seed, sample_index=0)
    if "ApplyRandomBinaryOperatorTransform" in trace.fired:
        break
steps = {s.name: s for s in trace.steps}
binary = steps["ApplyRandomBinaryOperatorTransform"]
remover = steps["RemoveRandomConnectedComponentFromOneHotEncodingTransform"]
moved = steps["MoveSegAsOneHotToData"]
print(f"seed {seed}: data after MoveSegAsOneHotToData has {moved.data.shape[0]} channels {moved.data.shape}")
print("binary operator:", dict(binary.params))
print("component remover:", "fired" if remover.fired else "did nothing", dict(remover.params))
remove_t = next(t for t in transforms if type(t).__name__ == remover.name)
print("its size limit (dont_do_if_covers_more_than_X_percent):", remove_t.dont_do_if_covers_more_than_X_percent,
      "| fill_with_other_class_p:", remove_t.fill_with_other_class_p)

# %%
fig = Figure(figsize=(9, 3), layout="constrained")
axes = fig.subplots(1, 3)
z = moved.data.shape[1] // 2
ops = ", ".join(f"{o['operation'].replace('binary_', '')} r={o['radius']:.1f}" for o in binary.params["operations"])
panels = [(None, "image channel (after the spatial transform)"), (moved.prior, "prior channels (decoded)"),
          (binary.prior, f"after the binary operator: {ops}")]
for ax, (seg, title) in zip(axes, panels):
    ax.imshow(moved.data[0, z], cmap="gray")
    if seg is not None:
        ax.imshow(masked(seg[z]), cmap="autumn", alpha=0.6, vmin=0, vmax=2)
    ax.set_title(title, fontsize=8); ax.set_xticks([]); ax.set_yticks([])
show(fig)

# %% [markdown]
# ## Train the cascade, then predict
#
# One epoch of two iterations again. Then `predict -m 3d_cascade_fullres` on the test images: without `-l` it
# first predicts `3d_lowres` into `OUTPUT/3d_lowres_predictions`, then resizes those segmentations to each
# case's full-resolution grid, adds them as one-hot channels and runs the cascade network. (A v1 quirk, kept: the
# image was cropped to its nonzero box, but the segmentation is resized from the whole, uncropped image, so where
# the crop removed anything the two are misaligned; `predict` warns when that happens.) `--disable_tta` skips
# the mirrored copies to keep it fast.

# %%
run_cli("train", "3d_cascade_fullres", "nnUNetTrainerV2CascadeFullRes", TASK, "all", *SHORT)
cascade_folder = cp["configuration"].output_folder_name
print(sorted(p.name for p in (cascade_folder / "all").iterdir()))

# %%
import SimpleITK as sitk
images = workspace.raw_task_dir(TASK) / "imagesTs"
predictions = workspace.results_folder / "08_cascade_predictions"
run_cli("predict", "-i", str(images), "-o", str(predictions), "-t", TASK, "-m", "3d_cascade_fullres", "-f", "all",
        "--disable_tta", "--overwrite_existing")
tests = sorted(p.name[:-len("_0000.nii.gz")] for p in images.glob("*_0000.nii.gz"))
image = sitk.GetArrayFromImage(sitk.ReadImage(str(images / f"{tests[0]}_0000.nii.gz")))
final = sitk.GetArrayFromImage(sitk.ReadImage(str(predictions / f"{tests[0]}.nii.gz")))
first = sitk.GetArrayFromImage(sitk.ReadImage(str(predictions / "3d_lowres_predictions" / f"{tests[0]}.nii.gz")))
fig = Figure(figsize=(6, 3), layout="constrained")
axes = fig.subplots(1, 2)
z = image.shape[0] // 2
window = np.percentile(image, [1, 99])  # a CT window, so that soft tissue is not all white
for ax, seg, title in zip(axes, (first, final), ("3d_lowres prediction", "3d_cascade_fullres prediction")):
    ax.imshow(image[z], cmap="gray", vmin=window[0], vmax=window[1]); ax.imshow(masked(seg[z]), cmap="autumn", alpha=0.5, vmin=0, vmax=2)
    ax.set_title(f"{tests[0]}: {title}", fontsize=8); ax.set_xticks([]); ax.set_yticks([])
show(fig)

# %% [markdown]
# ### Checks

# %%
assert plans.num_stages == 2 and plans.configurations == {"3d_lowres": 0, "3d_fullres": 1, "3d_cascade_fullres": 1}
low_info, high_info = report.new_stages
# old_stages: one stage on the first run, two (the previous teaching stage 0 and stage 1) on a re-run; the
# new stage 1 is always the full-resolution stage, unchanged
assert low_info.example_shape[1] < high_info.example_shape[1] and report.old_stages[-1].example_shape == high_info.example_shape
assert "already has 2 stages" in str(refusal)
assert len(next_stage.cases) == 10 and prior.shape == high.shape[1:] and low.shape[2:] != high.shape[2:]
assert pp.num_input_channels == 1 + (pp.num_classes - 1) and tuple(batch.data.shape[:2]) == (pp.batch_size, pp.num_input_channels)
assert cascade_keys["move_last_seg_chanel_to_data"] and cascade_keys["selected_seg_channels"] == [0, 1]
assert moved.data.shape[0] == pp.num_input_channels and binary.fired and not remover.fired
assert not np.array_equal(moved.prior, binary.prior) and remove_t.dont_do_if_covers_more_than_X_percent == 0
assert (cascade_folder / "all" / "model_final_checkpoint.model").is_file()
assert final.shape == image.shape == first.shape and set(np.unique(final)) <= {0, 1, 2}
print("08 ok")
