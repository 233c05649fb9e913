# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · Data loading and augmentation
#
# Training never sees whole cases. The loader cuts patches from random training cases — a third of each batch
# is forced to contain foreground — and the "moreDA" augmentation pipeline rotates and scales them, adds noise
# and blur, changes brightness, contrast and gamma, simulates low resolution and mirrors them (elastic
# deformation exists but V2 switches it off). This notebook follows one
# batch through it.

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
from nnunet_explorer.walkthrough import training_walkthrough
p = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0)
print(p["dataset"].summary()); print(p["split"].summary())

# %% [markdown]
# `splits_final.pkl` holds 5 folds made with `KFold(shuffle=True, random_state=12345)` over the *sorted* case
# names, so the split depends only on the names.
#
# ## The loader's patch is larger than the network's
#
# The loader cuts `basic_generator_patch_size`, big enough that a rotation of up to ±30° and a zoom still fill
# the network's `patch_size`; `SpatialTransform` then crops the centre.

# %%
aug = p["augmentation_parameters"]
print("network patch:", p["plans_processed"].patch_size, " loader patch:", aug.basic_generator_patch_size)
batch = p["batch"]
print(batch.summary())

# %% [markdown]
# ## Browse the batch
#
# Pick a sample and a slice. The last sample(s) of every batch are *forced foreground* (v1's
# `oversample_foreground_percent = 0.33`); the others are random and may show only background.

# %%
from nnunet_explorer.views.browsers import BatchBrowser
browser = BatchBrowser(batch)
browser

# %% [markdown]
# ## One sample through every transform
#
# `trace_augmentation` runs one sample through the same transform list with a fixed seed and records, for each
# transform, whether it fired and which parameters it drew. Pick a transform to see the sample before and after
# it.

# %%
from nnunet_explorer.training.augmentation import build_train_transforms, trace_augmentation
params = aug.data_aug_params
transforms = build_train_transforms(params["patch_size_for_spatialtransform"], params,
                                    [list(s) for s in p["deep_supervision"].scales])
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
# v1's worker processes are not seeded, so its batches cannot be reproduced. The walkthrough draws the batch in
# the notebook's process with a seed: re-running with the same seed gives the same batch, another seed another.

# %%
import numpy as np
again = p.rerun("batch", seed=p.seed("batch")).output
other = p.rerun("batch", seed=7).output
same = np.array_equal(np.asarray(again.data), np.asarray(batch.data))
different = not np.array_equal(np.asarray(other.data), np.asarray(batch.data))
print("same seed, same batch:", same, "| another seed, another batch:", different)

# %% [markdown]
# ### Checks

# %%
pp = p["plans_processed"]
assert tuple(batch.data.shape) == (pp.batch_size, pp.num_input_channels, *pp.patch_size)
assert [tuple(t.shape[2:]) for t in batch.target] == [tuple(s) for s in p["deep_supervision"].target_shapes]
assert tuple(batch.loaded_shape[2:]) == tuple(aug.basic_generator_patch_size)
assert same and different
assert browser.draw_count >= 1 and aug_browser.draw_count >= 1 and len(trace.steps) == len(transforms)
print("03 ok")
