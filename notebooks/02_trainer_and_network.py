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
# # 02 · The trainer, the Generic_UNet and deep supervision
#
# In v1 every hyperparameter is an assignment in `__init__` (`self.max_num_epochs = 1000`, ...) somewhere in the
# trainer's class hierarchy: `NetworkTrainer` → `nnUNetTrainer` → `nnUNetTrainerV2`. To change one you write a
# subclass and assign the new value in *its* `__init__`, after `super().__init__(...)` — a class attribute
# would be shadowed by the instance attribute the parents' `__init__` sets, and would silently do nothing.
# This notebook shows which class sets what, builds the network from the plans, and looks at the deep
# supervision that V2 adds.

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
trainer = p["trainer"]
trainer.provenance()

# %% [markdown]
# Read the table as: `num_batches_per_epoch` is 250 and was set by `NetworkTrainer`; `max_num_epochs` is 1000 in
# `NetworkTrainer` and is set again, to the same value, by `nnUNetTrainerV2`; `initial_lr` is 1e-2 — V2 raised it
# from `nnUNetTrainer`'s 3e-4 because it trains with SGD + Nesterov momentum 0.99 instead of Adam.
#
# ## What the trainer takes from the plans
#
# `process_plans` turns the plans of the chosen stage into what training needs. Note
# `num_classes` here *includes* the background.

# %%
pp = p["plans_processed"]
print(pp.summary())

# %% [markdown]
# ## Deep supervision
#
# The V2 network returns one segmentation per decoder level. Each is compared with the target downsampled to its
# size, with weights `1/2**i` normalised over all outputs except the lowest one, which gets weight **0**.

# %%
ds = p["deep_supervision"]
print(ds.summary())

# %% [markdown]
# ## The Generic_UNet
#
# The `network` step builds the network and checks v1's network contract; `architecture` runs one forward pass
# with hooks on every module and groups what it saw by U-Net stage. Expand a section of the tree to see each
# conv unit's kernel, stride, output shape `(b, c, z, y, x)` and parameters.

# %%
net = p["network"]
arch = p["architecture"]
from nnunet_explorer.views.architecture_view import architecture_tree, unet_diagram
architecture_tree(arch)

# %% [markdown]
# > **Erratum for the blog.** The `Generic_UNet` argument list the blog copies is the *signature's defaults*
# > (`network_architecture/generic_UNet.py`): `conv_op=nn.Conv2d`, `norm_op=nn.BatchNorm2d`,
# > `dropout_op=nn.Dropout2d`, `final_nonlin=softmax_helper`, `convolutional_pooling=False`,
# > `convolutional_upsampling=False`. That is not the network V2 trains. `nnUNetTrainerV2.initialize_network`
# > passes, for 3D: `nn.Conv3d`, `nn.InstanceNorm3d` (`eps=1e-5, affine=True`), `nn.Dropout3d` with `p=0`,
# > LeakyReLU (slope 1e-2), `final_nonlin = lambda x: x` (softmax only at inference), the plans' pooling and
# > conv kernel sizes, and `convolutional_pooling=True, convolutional_upsampling=True`: downsampling by strided
# > convolutions and upsampling by transposed convolutions, no max-pooling. The tree above shows exactly that.

# %% [markdown]
# The same network as a U: the encoder goes down the left (strided convolutions halve the resolution; the first
# level keeps the coarse z axis, as `pool_op_kernel_sizes` says), the decoder comes up the right (transposed
# convolutions), skip connections concatenate encoder features into the decoder, and the deep-supervision heads
# hang off the decoder levels with their loss weights.

# %%
unet_diagram(arch)

# %%
print(arch.to_text())

# %% [markdown]
# ### Checks

# %%
import numpy as np
assert abs(sum(ds.weights) - 1) < 1e-6 and ds.weights[-1] == 0
assert len(arch.output_shapes) == len(ds.weights) == len(pp.net_num_pool_op_kernel_sizes)
assert arch.total_params == sum(t.numel() for t in net.parameters())
assert [tuple(s[2:]) for s in arch.output_shapes] == [tuple(t) for t in ds.target_shapes]
assert trainer.provenance()["initial_lr"].set_by == "nnUNetTrainerV2"
assert trainer.provenance()["num_batches_per_epoch"].set_by == "NetworkTrainer"
import torch
kinds = {type(m) for m in net.modules()}  # the erratum above: V2's network, not the signature's defaults
assert {torch.nn.Conv3d, torch.nn.InstanceNorm3d, torch.nn.ConvTranspose3d} <= kinds
assert not kinds & {torch.nn.Conv2d, torch.nn.BatchNorm2d, torch.nn.MaxPool3d, torch.nn.MaxPool2d}
print("02 ok")
