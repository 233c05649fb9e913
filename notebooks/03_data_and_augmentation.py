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
# # 03 · Data loading and augmentation
#
# Training works on patches, not on whole cases (a case smaller than the patch fits whole, padded). The loader
# cuts patches from random training cases — about a third of each batch is forced to contain foreground (at this
# task's batch size of 2: one sample of 2, see Exercise 1) — and the "moreDA" augmentation pipeline runs its
# steps in this order, each firing per sample with its own probability: rotation and scaling (0.2 each),
# Gaussian noise (0.1), blur (0.2), brightness (0.15), contrast (0.15), simulated low resolution (0.25), gamma
# (inverted 0.1, then plain 0.3) and mirroring (0.5 per axis); elastic deformation exists but V2 switches it
# off. This notebook follows one batch through it.

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

# %% [markdown]
# Everything below is the trainer's own data pipeline: `trainer.initialize(True)` (the walkthrough's `initialize`
# step, see notebook 02) loaded the case list, split it, built the loaders in `get_basic_generators` and wrapped
# the training loader in the augmentation (`trainer.tr_gen`). The steps here look at those objects.

# %%
from nnunet_explorer.walkthrough import training_walkthrough
p = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0)
trainer = p["trainer"]
print(p["dataset"].summary()); print(p["split"].summary())
print("the dataloader step is trainer.dl_tr:", p["dataloader"] is trainer.dl_tr)

# %% [markdown]
# `splits_final.pkl` holds 5 folds made with `KFold(shuffle=True, random_state=12345)` over the *sorted* case
# names, so the split depends only on the names.
#
# ## The loader's patch is larger than the network's
#
# The loader cuts `basic_generator_patch_size`, a margin sized for a rotation of up to ±30° about one axis at a
# time and a zoom-out by 1/0.85 ≈ 1.18; `SpatialTransform` then crops the centre. Rotations about several axes
# at once, and V2's zoom-out up to 1.4 (V2 widens the scale range to (0.7, 1.4) only after sizing the patch; in
# batchgenerators a factor above 1 zooms out), can reach past the loaded patch: those voxels get 0 in the image
# and -1 in the label (batchgenerators 0.25.4 and later; 0 with older versions); `RemoveLabelTransform` turns
# that -1 into 0 in the target either way.

# %%
aug = p["augmentation_parameters"]
print("network patch:", p["plans_processed"].patch_size, " loader patch:", aug.basic_generator_patch_size)
batch = p["batch"]
print(batch.summary())

# %% [markdown]
# ## Browse the batch
#
# Pick a sample and a slice. The last sample(s) of every batch are *forced foreground* (v1's
# `oversample_foreground_percent = 0.33`; with batch size 2 that is sample 1, i.e. 50 %); the others are random
# and may show only background.

# %%
from nnunet_explorer.views.browsers import BatchBrowser
browser = BatchBrowser(batch)
browser

# %% [markdown]
# ## One sample through every transform
#
# `trace_augmentation` runs one sample through the trainer's own transform list (`trainer.tr_gen.transform`, built
# by V2's `initialize` from `data_aug_params`) with a fixed seed and records, for each transform, whether it fired
# and which parameters it drew. Pick a transform to see the sample before and after it.

# %%
from nnunet_explorer.training.augmentation import trace_augmentation
transforms = list(trainer.tr_gen.transform.transforms)
print(" -> ".join(type(t).__name__ for t in transforms))
raw = next(iter(p["dataloader"]))
trace = trace_augmentation(raw, transforms, seed=3, sample_index=len(raw["keys"]) - 1)
print("fired for this sample:", trace.fired)

# %%
from nnunet_explorer.views.browsers import AugmentationBrowser
aug_browser = AugmentationBrowser(trace)
aug_browser

# %%
from nnunet_explorer.views.augmentation_plots import plot_augmentation_trace
plot_augmentation_trace(trace, only_changed=True)

# %% [markdown]
# ## Same seed, same batch
#
# v1's worker processes are not seeded, so its batches cannot be reproduced. The `batch` step draws one batch
# from the trainer's loader and transforms in the notebook's process, with a seed: re-running with the same seed
# gives the same batch, another seed another (and the random streams the training draws from afterwards are left
# as they were).

# %%
import numpy as np
again = p.rerun("batch", seed=p.seed("batch")).output
other = p.rerun("batch", seed=7).output
same = np.array_equal(np.asarray(again.data), np.asarray(batch.data))
different = not np.array_equal(np.asarray(other.data), np.asarray(batch.data))
print("same seed, same batch:", same, "| another seed, another batch:", different)

# %% [markdown]
# ## Exercise 1: how many patches are forced to contain foreground?
#
# v1's loader decides per sample index `j` of a batch (`DataLoader3D.get_do_oversample`):
# sample `j` is forced iff `not j < round(batch_size * (1 - oversample_foreground_percent))`.
# `nnUNetTrainer.__init__` sets `oversample_foreground_percent = 0.33` (V2 inherits it), and "a third of the batch" is how it is usually described — but this
# task's batch size is 2. **Predict**, for 20 batches of 2 samples, how many samples are forced with
# `oversample_foreground_percent` = 0.33, 0 and 1.0, write your numbers into `my_prediction`, then run the next
# cells: the loader is drawn with a fixed seed and the assert tells you whether you were right. (The numbers in
# the cell are the solution; change them first if you want to test yourself.)
#
# A *random* patch may also contain foreground, by chance: the second count below shows how often. On this tiny
# task every one does: the loader's patch (39×64×50 voxels) is larger than any case (about 16×36×36), so each
# patch holds its whole case.

# %%
import numpy as np
N_BATCHES = 20
my_prediction = {0.33: 20, 0.0: 0, 1.0: 40}  # forced samples out of 20 x 2: your guess (solution shown)

loader = p["dataloader"]
v2_percent = loader.oversample_foreground_percent
counts = {}
try:
    for percent in (0.33, 0.0, 1.0):
        loader.oversample_foreground_percent = percent
        np.random.seed(0)  # the loader draws cases and boxes from np.random
        batches = [next(loader) for _ in range(N_BATCHES)]
        samples = [(prov, b["seg"][j]) for b in batches for j, prov in enumerate(b["provenance"])]
        counts[percent] = dict(
            forced=sum(prov.forced for prov, _ in samples),
            forced_with_fg=sum(prov.forced and (seg > 0).any() for prov, seg in samples),
            random_with_fg=sum((not prov.forced) and (seg > 0).any() for prov, seg in samples),
            forced_index=sorted({j for b in batches for j, prov in enumerate(b["provenance"]) if prov.forced}))
finally:
    loader.oversample_foreground_percent = v2_percent  # V2's value again, for the rest of the notebook
for percent, c in counts.items():
    print(f"oversample_foreground_percent={percent}: {c['forced']} of {2 * N_BATCHES} forced "
          f"(sample index {c['forced_index']}, all with foreground: {c['forced_with_fg'] == c['forced']}); "
          f"random patches that contain foreground anyway: {c['random_with_fg']}")

# %%
assert {percent: c["forced"] for percent, c in counts.items()} == my_prediction, \
    "not what you predicted: re-read the rule above (round(2 * 0.67) = 1, so only sample 0 is random)"
print("right: at batch size 2, V2's 0.33 forces 1 sample of 2 (50 %, the last one); 0 forces none, 1.0 all")

# %% [markdown]
# ## Where the patches of an epoch come from: `sampling_map`
#
# `training.sampling_map` adds up the loader's boxes of many batches per case: which voxels they covered how often,
# forced and random samples counted apart. Random boxes favour the middle of a case; the forced ones pile up
# around the labelled structures. Not on this tiny task: every loader box is larger than its case and covers all
# of it (the 100 % below), so the maps come out flat; the pattern shows on cases larger than the loader's patch.
# Here one short "epoch" of 20 batches (v1: 250).

# %%
from nnunet_explorer.training.sampling_map import epoch_sampling_map
np.random.seed(1)
smap = epoch_sampling_map(loader, num_batches_per_epoch=N_BATCHES)
print(smap.summary())

# %% [markdown]
# ## Is training waiting for data? `throughput`
#
# `training.throughput` times each link of the data chain: the loader alone, each transform of the moreDA
# pipeline, and (with a network) the wait for a batch against the compute. On a GPU the augmentation is often the
# bottleneck; the shares say which transform costs most. (Worker processes are left out here: `workers=()`.)

# %%
from nnunet_explorer.training.throughput import profile_throughput
np.random.seed(2)
report = profile_throughput(loader, transforms, workers=(), n_batches=3)
print(report)
slowest = max(report.transforms, key=lambda t: t.seconds_per_batch)
print("the most expensive transform here:", slowest.name)

# %% [markdown]
# ### Checks

# %%
pp = p["plans_processed"]
assert tuple(batch.data.shape) == (pp.batch_size, pp.num_input_channels, *pp.patch_size)
assert [tuple(t.shape[2:]) for t in batch.target] == [tuple(s) for s in p["deep_supervision"].target_shapes]
assert tuple(batch.loaded_shape[2:]) == tuple(aug.basic_generator_patch_size)
assert same and different
assert browser.draw_count >= 1 and aug_browser.draw_count >= 1 and len(trace.steps) == len(transforms)
assert counts[0.0]["forced"] == 0 and counts[1.0]["forced"] == counts[1.0]["forced_with_fg"] == 2 * N_BATCHES
assert counts[0.33]["forced_index"] == [1] and loader.oversample_foreground_percent == v2_percent
assert smap.n_samples == 2 * N_BATCHES and 0 < smap.n_forced < smap.n_samples
assert report.loader_batches_per_s > 0 and len(report.transforms) == len(transforms)
print("03 ok")
