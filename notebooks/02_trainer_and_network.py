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
# # 02 · The trainer, `initialize`, the Generic_UNet and deep supervision
#
# In nnU-Net v1 the **trainer object owns the whole run**. After parsing, v1's `run_training.py` does four
# things with it in a plain training run, in this order (with `-c` or `-pretrained_weights` it also loads weights
# between `initialize` and `run_training`; for `3d_lowres` it also predicts the next stage after `validate`):
#
# ```python
# trainer = nnUNetTrainerV2(plans_file, fold, output_folder=..., dataset_directory=..., batch_dice=...,
#                           stage=..., unpack_data=..., deterministic=..., fp16=...)
# trainer.initialize(not validation_only)   # plans -> data loaders, augmentation, network, optimizer
# trainer.run_training()                     # the epochs (notebook 05)
# trainer.validate(...)                      # sliding-window prediction of the validation cases (notebook 06)
# ```
#
# The explorer's trainers have the same classes, methods and order: `NetworkTrainer` (the loop and its
# bookkeeping) → `nnUNetTrainer` (plans, data, online Dice, validation) → `nnUNetTrainerV2` (the default). The
# walkthrough builds that one trainer object, calls its `initialize` and then only *looks* at what it set.
# This notebook follows that: where each hyperparameter comes from, what `initialize` calls, the network it
# builds, and how a subclass changes one step.

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
# ## The trainer, before `initialize`
#
# The constructor stores its arguments and sets attributes (and, as in v1, the global cuDNN flags, the seeds
# under `--deterministic` and the loss `DC_and_CE_loss`); nothing that needs the plans. Most hyperparameters are
# assignments `self.<name> = ...` in some `__init__` of the class hierarchy (a few are literals inside methods: the
# last rows of the table); a subclass changes one of those attributes by assigning it again in *its* `__init__`,
# after `super().__init__(...)`. The provenance table shows, for each value, which class set it and what the
# classes above had set before.

# %%
from nnunet_explorer.walkthrough import training_walkthrough
p = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0)
trainer = p["trainer"]
print(trainer)  # constructed, not initialized yet
trainer.provenance()

# %% [markdown]
# Read the table as: `num_batches_per_epoch` is 250 and was set by `NetworkTrainer`; `max_num_epochs` is 1000 in
# `NetworkTrainer` and is set again, to the same value, by `nnUNetTrainerV2`; `initial_lr` is 1e-2 — V2 raised it
# from `nnUNetTrainer`'s 3e-4 because it trains with SGD + Nesterov momentum 0.99 instead of Adam.
#
# The last rows (shaded) are not attributes at all: momentum 0.99, Nesterov, the gradient-clipping norm 12 and
# the poly exponent 0.9 are **literals inside V2's methods** (`initialize_optimizer_and_scheduler`,
# `run_iteration`, `maybe_update_lr`). No attribute changes them; overriding the method does (notebook 07).

# %% [markdown]
# ## `initialize`: one call that sets up the run
#
# The `initialize` step calls `trainer.initialize(True)` — the same method `nnUNet_train` calls — and records which
# of the trainer's v1 methods ran, nested and in order, and which attributes each one set (a profiler hook, like
# a debugger's; it does not change the trainer). Indented calls were made by the call above them; the class in
# brackets is the one whose code ran.

# %%
init = p["initialize"]
print(init.summary())

# %% [markdown]
# In words, V2's `initialize`: reads the plans (`load_plans_file`) and turns the chosen stage into attributes
# (`process_plans`); decides the augmentation (`setup_DA_params`); wraps the loss for deep supervision (the
# `ds_loss_weights` and `loss` it sets itself); builds the loaders (`get_basic_generators`, which loads the case
# list and splits it into the fold's training and validation cases); unpacks `.npz` to `.npy`; wraps the loaders
# in the augmentation (`tr_gen`, `val_gen`); and finally builds the network (`initialize_network`) and the
# optimizer (`initialize_optimizer_and_scheduler`).
#
# The walkthrough's steps from `plans_processed` to `iteration` are **looks** at that same trainer object:
# `plans_processed` reads what `process_plans` set, `network` *is* `trainer.network`, `optimizer` *is*
# `trainer.optimizer`. The looks that run something (the network check, `architecture`, `lr_schedule`, `batch`,
# `iteration`) put the weights, the optimizer state and the random streams back afterwards, so looking does not
# change what the training does next. Only `training_epochs` trains: it calls `trainer.run_training()`.

# %%
print("the network step is trainer.network:", p["network"] is trainer.network)
print("the loss step is trainer.loss:", p["loss"] is trainer.loss, "|", type(trainer.loss).__name__)
print("the optimizer step is trainer.optimizer:", p["optimizer"] is trainer.optimizer, "|",
      type(trainer.optimizer).__name__)
print(trainer)  # initialized now

# %% [markdown]
# ## What the trainer took from the plans
#
# `process_plans` turned the plans of the chosen stage into what training needs. Note `num_classes` here
# *includes* the background (`plans['num_classes'] + 1`).

# %%
pp = p["plans_processed"]
print(pp.summary())

# %% [markdown]
# ## Deep supervision
#
# The V2 network returns one segmentation per decoder level. Each is compared with the target downsampled to its
# size, with weights `1/2**i` normalised over all outputs except the lowest one, which gets weight **0**
# (`initialize` sets them as `trainer.ds_loss_weights`).

# %%
ds = p["deep_supervision"]
print(ds.summary())

# %% [markdown]
# ## The Generic_UNet
#
# `initialize_network` built the network; the `network` step checks it against v1's network contract (one
# output per deep-supervision level, a `do_ds` switch, `inference_apply_nonlin`); `architecture` runs one forward
# pass with hooks on every module and groups what it saw by U-Net stage. Expand a section of the tree to see each
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
# ## Changing one step: override a v1 method
#
# To change what the trainer does, v1's way is a subclass that overrides the method responsible — the run then
# calls yours wherever v1 calls that method. Here `process_plans` is kept and one of the values it set is
# changed afterwards: a U-Net that starts with 16 instead of 32 features. Register the class so that the
# walkthrough (or `nnunet-explorer train`) can find it by name, as v1 finds its trainers by class name.

# %%
from nnunet_explorer.network_training import nnUNetTrainerV2, register_trainer

@register_trainer
class nnUNetTrainerV2_16features(nnUNetTrainerV2):
    """V2 with half the features at every level (a smaller network)."""

    def process_plans(self, plans):
        super().process_plans(plans)  # v1's values first ...
        self.base_num_features = 16   # ... then change the one you want

p16 = training_walkthrough("3d_fullres", "nnUNetTrainerV2_16features", 901, 0)
trace16 = p16["initialize"].trace
print("\n".join(line for line in trace16.text().splitlines() if "process_plans" in line or "initialize_network" in line))
small = p16["network"]
print(f"parameters: {sum(t.numel() for t in net.parameters()):,} (V2) -> {sum(t.numel() for t in small.parameters()):,} "
      f"(base_num_features {small.base_num_features})")

# %% [markdown]
# The trace shows both `process_plans` calls: yours, and inside it `nnUNetTrainer`'s (the `super()` call). The
# trace lists an attribute once, under the innermost call that set it, so `base_num_features` appears under
# `nnUNetTrainer`'s call although yours set it again afterwards (the `plans_processed` look shows the final 16).
# `initialize_network` did not change, yet it built the smaller network, because it reads `self.base_num_features`
# after `process_plans` has run. Notebook 07 replaces `initialize_network` itself.

# %% [markdown]
# ### Checks

# %%
import numpy as np
assert abs(sum(ds.weights) - 1) < 1e-6 and ds.weights[-1] == 0
assert len(arch.output_shapes) == len(ds.weights) == len(pp.net_num_pool_op_kernel_sizes)
assert arch.total_params == sum(t.numel() for t in net.parameters())
assert [tuple(s[2:]) for s in arch.output_shapes] == [tuple(t) for t in ds.target_shapes]
prov = trainer.provenance()
assert prov["initial_lr"].set_by == "nnUNetTrainerV2" and prov["num_batches_per_epoch"].set_by == "NetworkTrainer"
assert prov["momentum"].literal and prov["momentum"].value == 0.99
# initialize: one call of the trainer, in v1's order; the looks are the trainer's own objects
order = ["initialize", "load_plans_file", "process_plans", "setup_DA_params", "get_basic_generators", "load_dataset",
         "do_split", "initialize_network", "initialize_optimizer_and_scheduler"]
assert [n for n in init.trace.names() if n in order] == order
assert "network" in init.trace.find("initialize_network")[0].set_attributes
assert net is trainer.network and p["loss"] is trainer.loss and p["optimizer"] is trainer.optimizer
import torch
kinds = {type(m) for m in net.modules()}  # the erratum above: V2's network, not the signature's defaults
assert {torch.nn.Conv3d, torch.nn.InstanceNorm3d, torch.nn.ConvTranspose3d} <= kinds
assert not kinds & {torch.nn.Conv2d, torch.nn.BatchNorm2d, torch.nn.MaxPool3d, torch.nn.MaxPool2d}
# the override: called by initialize where v1 calls process_plans, and the network follows from it
assert [c.defined_in for c in trace16.find("process_plans")] == ["nnUNetTrainerV2_16features", "nnUNetTrainer"]
assert small.base_num_features == 16 and p16["plans_processed"].base_num_features == 16
assert sum(t.numel() for t in small.parameters()) < sum(t.numel() for t in net.parameters())
print("02 ok")
