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
# # 06 · Validation and inference: sliding window, postprocessing, pseudo vs real Dice
#
# The network is trained on patches, but a case is larger than a patch. Inference slides the patch over the case
# in steps of at most half a patch (`step_size` 0.5; the tiles are spread evenly so that the last one ends at the
# border), weights every tile with a Gaussian (centre voxels are trusted more than border voxels),
# averages the overlapping softmaxes, and — by default — also averages over mirrored copies (test-time
# augmentation). This notebook predicts one validation case, compares the "pseudo Dice" printed during training
# with the real Dice, and tries v1's postprocessing (keep the largest connected component).

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
# the synthetic CT sample (Task901_SyntheticCT): written and preprocessed once, reused afterwards
workspace, TASK = prepare_sample_task(901)
print(workspace.describe()); print("task:", TASK)

# %%
import numpy as np, torch
from nnunet_explorer.walkthrough import training_walkthrough
p = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0, quiet=True)
trainer = p["trainer"]
net = p["network"]; pp = p["plans_processed"]  # net is trainer.network
cfg = p["configuration"]
# use the weights of notebook 05 if it was run; otherwise the untrained network (the mechanics are the same).
# trainer.load_final_checkpoint(train=False) is what `nnUNet_train ... -val` calls after initialize.
ckpt = pathlib.Path(trainer.output_folder) / "model_final_checkpoint.model"
if ckpt.is_file():
    trainer.load_final_checkpoint(train=False)
    print(f"loaded {ckpt.name}: trained for {trainer.epoch} epochs")
else:
    print("no checkpoint of notebook 05: predicting with the untrained network")

# %% [markdown]
# ## Sliding-window prediction of one validation case

# %%
from nnunet_explorer.network_architecture.sliding_window import predict_sliding_window
case = p["split"].val[0]
folder = cfg.folder_with_preprocessed_data
arr = np.load(folder / f"{case}.npy") if (folder / f"{case}.npy").is_file() else np.load(folder / f"{case}.npz")["data"]
image, truth = arr[:-1].astype(np.float32), arr[-1].astype(np.int16)
truth[truth < 0] = 0  # -1: inside the crop box but outside the nonzero mask (v1's cropping); background
# v1 mirrors along all three axes (8 predictions per tile); to keep this notebook fast on a CPU we flip only the
# two in-plane axes (4 predictions per tile). Try mirror_axes=(0, 1, 2) to see the full test-time augmentation.
result = predict_sliding_window(net, image, pp.patch_size, do_mirroring=True, mirror_axes=(1, 2), step_size=0.5)
print(result.summary())
for c in result.mirror_contributions:
    print(f"flip {c.flipped_axes or 'none'}: weight {c.weight:.3f}, changed the argmax of "
          f"{100 * c.argmax_disagreement:.1f} % of the voxels")

# %%
from nnunet_explorer.views.browsers import InferenceView
view = InferenceView(result, image, truth)
view

# %% [markdown]
# ## Pseudo Dice vs real Dice
#
# During training v1 prints "Average global foreground Dice" — computed on the *validation patches* of the
# epoch, from the argmax of the highest-resolution output, with true/false positives pooled over the batches.
# It is an estimate ("This is not exact"): patches oversample foreground, and there is no sliding window, no
# Gaussian weighting and no mirroring. The real Dice compares the whole-case prediction with the ground truth.
# Below, the pseudo Dice of one batch from `trainer.val_gen` (v1's validation generator: patches of the
# validation cases, not augmented) — v1 pools 50 such batches per epoch.

# %%
from nnunet_explorer.inference.evaluation import evaluate_arrays
from nnunet_explorer.training.iteration import run_iteration
labels = list(range(1, pp.num_classes))
real = evaluate_arrays(result.segmentation, truth, labels, metrics=["Dice"])
batch = next(trainer.val_gen)  # what v1's validation loop draws: dict with data and the targets
rec = run_iteration(net, p["loss"], p["optimizer"], batch["data"], list(batch["target"]), do_backprop=False,
                    run_online_evaluation=True)
pseudo = rec.online_evaluation.pseudo_dice
for c in labels:
    print(f"class {c}: pseudo Dice (one validation batch) {pseudo[c - 1]:.3f} | real Dice (whole case) "
          f"{real[str(c)]['Dice']:.3f}")

# %% [markdown]
# ## Postprocessing: keep the largest connected component
#
# After validating a fold, v1 tests removing all but the largest connected component — first of all foreground
# classes taken together (kept if some class's validation Dice improves and none gets worse), then, with several
# foreground classes, of each class (kept for each class whose Dice improves) — and writes what it keeps to
# `postprocessing.json`. Here we apply it per class to one case and look at the effect.

# %%
from nnunet_explorer.inference.postprocessing import remove_all_but_the_largest_connected_component
spacing = np.asarray(p["configuration"].plans["plans_per_stage"][cfg.stage]["current_spacing"], dtype=float)
post, largest, kept = remove_all_but_the_largest_connected_component(result.segmentation.copy(), labels,
                                                                      float(np.prod(spacing)))
after = evaluate_arrays(post, truth, labels, metrics=["Dice"])
for c in labels:
    print(f"class {c}: Dice {real[str(c)]['Dice']:.3f} -> {after[str(c)]['Dice']:.3f} after keeping the largest "
          "component")

# %% [markdown]
# ## In 3D, with napari
#
# The napari plugin shows the same things as layers you can scroll through in 3D: the image, the prediction, the
# ground truth and the error map. `layers_for` builds the layers without napari; `show_in_napari` opens a viewer
# (it needs napari and a screen — on a server it starts a virtual one).

# %%
import os
from nnunet_explorer.views.layers import layers_for
case_layers = {"prediction": post, "reference": truth, "image": image[0]}
print([spec.as_tuple()[1]["name"] for spec in layers_for(case_layers)])
from nnunet_explorer.errors import ExplorerError
had_display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
shot, no_picture_because = None, None
try:
    from nnunet_explorer.views.napari import inline_screenshot, show_in_napari
    from nnunet_explorer.views.napari.display import xvfb_available
except ImportError as exc:  # napari is an optional extra: pip install -e ".[napari]"
    no_picture_because = f"napari is not installed ({exc}): pip install -e \".[napari]\""
else:
    if had_display:  # a desktop: open an interactive viewer (run %gui qt first in Jupyter)
        viewer = show_in_napari(case_layers)
    try:
        shot = inline_screenshot(case_layers)  # without a display this starts a virtual one (Xvfb)
    except ExplorerError as exc:
        if had_display or xvfb_available():
            raise  # a display (or Xvfb) is there, so this is a real error: show it
        # no screen and no Xvfb: say how to get the picture, and go on with the notebook
        no_picture_because = str(exc)
if no_picture_because:
    print("No napari picture here:", no_picture_because)
    print("To get it: install a virtual display (Debian/Ubuntu: `sudo apt-get install xvfb libxcb-icccm4 "
          "libxcb-keysyms1 libxcb-xinerama0 libxcb-image0 libxcb-render-util0 libxkbcommon-x11-0 libxcb-cursor0 "
          "libgl1 libegl1 libfontconfig1 libdbus-1-3`) and re-run this cell, or run the notebook on a desktop, "
          "where `show_in_napari` opens an interactive viewer.")
shot

# %% [markdown]
# ### Checks

# %%
assert result.segmentation.shape == truth.shape and result.probabilities.shape[0] == pp.num_classes
assert result.num_tiles >= 1 and (result.gaussian is None or result.gaussian.max() > result.gaussian.min())
assert np.allclose(result.probabilities.sum(0), 1, atol=1e-3)
assert all(0.0 <= (real[str(c)]["Dice"] if real[str(c)]["Dice"] == real[str(c)]["Dice"] else 0.0) <= 1.0
           for c in labels)
assert set(np.unique(post)) <= set(np.unique(result.segmentation))
assert view.draw_count >= 1
# either the napari picture was taken (and is not blank: it shows the label colours over the image), or there
# was no way to take it here and the cell said why
assert (shot is None) == bool(no_picture_because)
if shot is not None:
    assert shot.array.ndim == 3 and len(np.unique(shot.array.reshape(-1, shot.array.shape[-1]), axis=0)) > 10
else:
    assert not had_display and ("napari is not installed" in no_picture_because or "Xvfb" in no_picture_because)
print("06 ok")
