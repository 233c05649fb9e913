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
# # 07 · Bring your own network (and trainer)
#
# nnU-Net v1 trains the network `initialize_network` puts in `self.network`, and checks one thing about it: V2's
# `initialize` ends with `assert isinstance(self.network, (SegmentationNetwork, nn.DataParallel))`. The network
# must derive from `SegmentationNetwork`, Generic_UNet's base class, whose `predict_3D` validation and
# `nnUNet_predict` call. Everything else is an unwritten contract with the trainer: it returns one output per
# deep-supervision level (highest resolution first), has a `do_ds` switch that makes it return only the
# full-resolution output at inference, and has `inference_apply_nonlin` (softmax) for prediction. Break it and v1
# fails late: an `AttributeError` when `run_training` reads a missing `do_ds`, `MultipleOutputLoss2`'s assert when
# the network returns one tensor, a shape error inside the loss for outputs of the wrong size. The explorer's
# `initialize` refuses a network that is not a `SegmentationNetwork`, as v1's does, and `check_network_contract`
# checks the whole contract up front and says what does not fit.
#
# Everything here is done v1's way: a subclass of `nnUNetTrainerV2` that overrides the v1 methods it wants to
# change — `initialize_network` for the network, `maybe_update_lr` for the schedule,
# `initialize_optimizer_and_scheduler` for the optimizer — and sets its hyperparameters in `__init__`. The
# trainer owns the run, so the run calls your methods wherever v1 calls them.

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
import torch
from torch import nn
from nnunet_explorer.walkthrough import training_walkthrough
from nnunet_explorer.training.contract import check_network_contract
p = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0)
pp = p["plans_processed"]
contract = dict(patch_size=pp.patch_size, batch_size=1, num_input_channels=pp.num_input_channels,
                num_classes=pp.num_classes, pool_op_kernel_sizes=pp.net_num_pool_op_kernel_sizes)
print(pp.summary())


# %% [markdown]
# ## A first attempt: a plain network with one output

# %%
class TinyNet(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.body = nn.Sequential(nn.Conv3d(in_channels, 8, 3, padding=1), nn.LeakyReLU(0.01),
                                  nn.Conv3d(8, num_classes, 1))
    def forward(self, x):
        return self.body(x)

report = check_network_contract(TinyNet(pp.num_input_channels, pp.num_classes), **contract)
report

# %% [markdown]
# ## Fixing it: a `SegmentationNetwork`, one output per level, `do_ds`, `inference_apply_nonlin`
#
# The class derives from `SegmentationNetwork` (v1: `nnunet.network_architecture.neural_network`; here
# `nnunet_explorer.training.segmentation_network`, which a ported v1 trainer file reaches by v1's import), calls
# its `__init__` first and then sets what Generic_UNet sets, `conv_op`, `num_classes` and `do_ds`, and the
# `inference_apply_nonlin` (softmax) that V2's `initialize_network` puts on the Generic_UNet it built. Deep
# supervision needs an output at every decoder resolution: full size, then divided by the cumulative pooling of
# each level. A cheap way for a toy network: average-pool the full-resolution logits.

# %%
import numpy as np
from nnunet_explorer.training.generic_unet import softmax_helper
from nnunet_explorer.training.segmentation_network import SegmentationNetwork

class TinyDSNet(SegmentationNetwork):
    def __init__(self, in_channels, num_classes, pools):
        super().__init__()
        self.body = TinyNet(in_channels, num_classes).body
        self.do_ds = True
        self.inference_apply_nonlin = softmax_helper
        self.num_classes = num_classes
        self.conv_op = nn.Conv3d
        # output i is smaller than the input by the product of the first i pooling kernels
        self.scales = [tuple(int(v) for v in np.prod(pools[:i], axis=0)) if i else (1, 1, 1)
                       for i in range(len(pools))]
    def forward(self, x):
        full = self.body(x)
        if not self.do_ds:
            return full
        return tuple(full if s == (1, 1, 1) else nn.functional.avg_pool3d(full, s) for s in self.scales)

pools = [list(k) for k in pp.net_num_pool_op_kernel_sizes]
report_ok = check_network_contract(TinyDSNet(pp.num_input_channels, pp.num_classes, pools), **contract)
report_ok


# %% [markdown]
# ## Plugging it in: override `initialize_network`
#
# v1 builds the network in `initialize_network`, called by `initialize` after `process_plans` has set
# `self.num_input_channels`, `self.num_classes` and `self.net_num_pool_op_kernel_sizes`, and before
# `initialize_optimizer_and_scheduler` (which needs `self.network.parameters()`). A subclass that sets
# `self.network` there replaces the Generic_UNet everywhere: the optimizer, the training iterations, validation
# and the checkpoints all use it. Register the class so that the walkthrough (or `nnunet-explorer train`) finds
# it by name.

# %%
from nnunet_explorer.network_training import nnUNetTrainerV2, register_trainer, known_trainers

@register_trainer
class nnUNetTrainerV2_TinyDS(nnUNetTrainerV2):
    """V2 with TinyDSNet instead of the Generic_UNet."""

    def initialize_network(self):
        pools = [list(k) for k in self.net_num_pool_op_kernel_sizes]
        self.network = TinyDSNet(self.num_input_channels, self.num_classes, pools)
        self.network.to(self.device)  # v1 calls .cuda() here; the explorer's trainer knows its device

p_mine = training_walkthrough("3d_fullres", "nnUNetTrainerV2_TinyDS", 901, 0)
print("\n".join(line for line in p_mine["initialize"].trace.text().splitlines()
                if "initialize_network" in line or "initialize_optimizer" in line))
record = p_mine["iteration"]
record

# %% [markdown]
# The `initialize` step's trace names the class whose `initialize_network` ran (yours), and the `network` step
# checked the contract on `trainer.network` — the same object the optimizer was built over. The `iteration` look
# then ran V2's `run_iteration` with it: one output per deep-supervision level, each weighted into the loss
# except the coarsest, which v1 weights 0 and never computes.

# %% [markdown]
# ## Your own hyperparameters, and a v1 method the run calls
#
# Hyperparameters that v1 keeps as attributes (`initial_lr`, `max_num_epochs`, the batch counts) are set on `self`
# in `__init__`, after `super().__init__(...)`, as v1's own variants do (`nnUNetTrainerV2_2epochs`,
# `nnUNetTrainerV2_Loss_Dice_LR1en3`, ...); the values v1 hard-codes in methods (momentum, Nesterov, clipping at
# 12, poly 0.9) are changed by overriding the method that holds them. Behaviour is changed by overriding the
# method v1 calls for it. This trainer keeps the tiny network, trains 4 short epochs with a smaller initial
# learning rate, and warms the rate up linearly over the first two epochs before V2's poly rule takes over.
# V2's `run_training` calls `maybe_update_lr(self.epoch)` once before the first epoch, and `on_epoch_end` calls
# `maybe_update_lr()` after every epoch (for the *next* epoch, hence `self.epoch + 1`).
#
# > **Pitfall: class attributes do nothing.** In v1 the hyperparameters that are attributes (the others are
# > literals inside methods, such as the momentum) are instance attributes assigned in
# > `__init__` (`nnUNetTrainerV2.__init__` sets `self.max_num_epochs = 1000` and `self.initial_lr = 1e-2`), and an
# > instance attribute hides a class attribute of the same name. A subclass with `initial_lr = 3e-3` in its class
# > body therefore trains with 1e-2 for 1000 epochs, silently. The explorer trains exactly as v1 (the class
# > attribute is ignored) but warns with a `V1IgnoresWarning` when the class is defined, naming the fix.

# %%
from nnunet_explorer.training.lr_schedule import poly_lr

@register_trainer
class nnUNetTrainerV2_TinyWarmup(nnUNetTrainerV2_TinyDS):
    """The tiny network; 4 epochs of 2 iterations; lr 3e-3, warmed up linearly over 2 epochs, then poly."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial_lr = 3e-3  # after super().__init__, so that nothing overwrites it
        self.max_num_epochs = 4
        self.num_batches_per_epoch = 2
        self.num_val_batches_per_epoch = 1
        self.warmup_epochs = 2  # not v1's: read by maybe_update_lr below

    def maybe_update_lr(self, epoch=None):
        ep = self.epoch + 1 if epoch is None else epoch  # V2's convention (see its maybe_update_lr)
        if ep < self.warmup_epochs:
            self.optimizer.param_groups[0]["lr"] = self.initial_lr * (ep + 1) / self.warmup_epochs
        else:
            super().maybe_update_lr(epoch)  # V2's poly rule

# overwrite_training: this notebook trains this trainer again each time it runs (the explorer refuses to start
# over in a fold folder that holds checkpoints unless asked; v1 would overwrite them silently)
p_trainer = training_walkthrough("3d_fullres", "nnUNetTrainerV2_TinyWarmup", 901, 0, overwrite_training=True,
                                 plot_progress=False, quiet=True)
mine = p_trainer["trainer"].provenance()
print("registered:", [t for t in known_trainers() if "Tiny" in t])
mine

# %% [markdown]
# The table marks what your class changed (`initial_lr`, `max_num_epochs`, the two batch counts) and lists your
# methods below it: `initialize_network` (from `nnUNetTrainerV2_TinyDS`) and `maybe_update_lr`. The `lr_schedule` look asks your `maybe_update_lr` for the rate of every
# epoch, calling it as `run_training` does (on a stand-in optimizer):

# %%
schedule = p_trainer["lr_schedule"]
print(schedule.summary())
print("rates:", [round(float(v), 6) for v in schedule.lrs])

# %% [markdown]
# Now train it: the `training_epochs` step calls `trainer.run_training()` on this trainer (4 epochs of 2 tiny
# iterations, a few seconds), and `epoch_end` shows the calls the last epoch's `on_epoch_end` made, in v1's order,
# with the class whose code ran.

# %%
trained = p_trainer["training_epochs"]
print(trained.summary())
end = p_trainer["epoch_end"]
print(end.summary())
lr_calls = [c for top in end.calls for c in top.walk() if c.name == "maybe_update_lr"]
print("maybe_update_lr ran from:", [c.defined_in for c in lr_calls])  # yours, and V2's through your super() call
ran_with = [e.lr_next for e in p_trainer["trainer"].explorer.epochs]  # the rate each epoch end set for the next
print("rates set after each epoch:", [round(v, 6) for v in ran_with])

# %% [markdown]
# ## The momentum lesson: a value v1 never reads
#
# V2's SGD momentum, 0.99, is not an attribute: it is a literal in `initialize_optimizer_and_scheduler`
# (`torch.optim.SGD(..., momentum=0.99, nesterov=True)`). `self.momentum = 0.9` in `__init__` is therefore
# **ignored** — by v1, and by the explorer, which trains exactly as v1 would. The explorer says so when the class
# is defined (a `V1IgnoresWarning`, caught and printed here) and in the provenance table.

# %%
import warnings
from nnunet_explorer.network_training import V1IgnoresWarning, attribute_provenance

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", V1IgnoresWarning)

    class nnUNetTrainerV2_TinyMomentumIgnored(nnUNetTrainerV2_TinyDS):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.momentum = 0.9  # nothing reads self.momentum

ignored = [str(w.message) for w in caught if issubclass(w.category, V1IgnoresWarning)]
print("V1IgnoresWarning:", *ignored)
row = attribute_provenance(nnUNetTrainerV2_TinyMomentumIgnored)["momentum"]  # the class's table says so too
print(f"provenance: momentum = {row.value}, set by {row.set_by}; history {row.chain}")

register_trainer(nnUNetTrainerV2_TinyMomentumIgnored)
p_ignored = training_walkthrough("3d_fullres", "nnUNetTrainerV2_TinyMomentumIgnored", 901, 0)
ignored_optimizer = p_ignored["optimizer"]
print(f"self.momentum = {p_ignored['trainer'].momentum}, but the optimizer the run uses has momentum "
      f"{ignored_optimizer.param_groups[0]['momentum']}")

# %% [markdown]
# The v1 way (it is how v1's `nnUNetTrainerV2_momentum09` does it) is to override the method that holds the
# literal:

# %%
import torch

@register_trainer
class nnUNetTrainerV2_TinyMomentum09(nnUNetTrainerV2_TinyDS):
    def initialize_optimizer_and_scheduler(self):
        assert self.network is not None, "self.initialize_network must be called first"
        self.optimizer = torch.optim.SGD(self.network.parameters(), self.initial_lr, weight_decay=self.weight_decay,
                                         momentum=0.9, nesterov=True)
        self.lr_scheduler = None

p_mom = training_walkthrough("3d_fullres", "nnUNetTrainerV2_TinyMomentum09", 901, 0)
optimizer = p_mom["optimizer"]
row09 = p_mom["trainer"].provenance()["momentum"]
print(f"momentum of the trainer's optimizer: {optimizer.param_groups[0]['momentum']} (set by {row09.set_by})")

# %% [markdown]
# ### Checks

# %%
assert not report.ok and any("not a SegmentationNetwork" in e for e in report.errors)
assert report_ok.ok, report_ok
# the override built the network the run uses
tiny_trainer = p_mine["trainer"]
assert isinstance(tiny_trainer.network, TinyDSNet) and p_mine["network"] is tiny_trainer.network
assert p_mine["initialize"].trace.find("initialize_network")[0].defined_in == "nnUNetTrainerV2_TinyDS"
assert len(record.scale_parts) == len(pools) and record.loss == record.loss
# hyperparameters from __init__, and the run called the overridden maybe_update_lr
assert set(mine.overridden) >= {"initial_lr", "max_num_epochs", "num_batches_per_epoch"}
assert "maybe_update_lr" in mine.overridden_hooks
expected = [3e-3 * 1 / 2, 3e-3 * 2 / 2, poly_lr(2, 4, 3e-3, 0.9), poly_lr(3, 4, 3e-3, 0.9)]
assert np.allclose(schedule.lrs, expected, rtol=1e-9, atol=0)
assert len(trained.all_tr_losses) == 4 and "model_final_checkpoint.model" in trained.files
assert np.allclose(ran_with, expected[1:] + [poly_lr(4, 4, 3e-3, 0.9)], rtol=1e-6, atol=1e-12)
assert [c.defined_in for c in lr_calls] == ["nnUNetTrainerV2_TinyWarmup", "nnUNetTrainerV2"]  # the last epoch: poly
assert end.order.index("maybe_update_lr") > end.order.index("on_epoch_end")
# momentum: ignored as an attribute, used when the method that holds it is overridden
assert ignored and "initialize_optimizer_and_scheduler" in ignored[0] and row.value == 0.99 and row.literal
assert ignored_optimizer.param_groups[0]["momentum"] == 0.99 and p_ignored["trainer"].momentum == 0.9
assert optimizer.param_groups[0]["momentum"] == 0.9 and "TinyMomentum09" in row09.set_by
print("07 ok")
