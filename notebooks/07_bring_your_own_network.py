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
# # 07 · Bring your own network (and trainer)
#
# nnU-Net v1 trains whatever `initialize_network` puts in `self.network`, as long as it keeps an unwritten
# contract with the trainer: it returns one output per deep-supervision level (highest resolution first), has a
# `do_ds` switch that makes it return only the full-resolution output at inference, and has
# `inference_apply_nonlin` (softmax) for prediction. Break it and v1 fails deep inside the loss with a shape
# error. The explorer checks the contract up front and says what does not fit.

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
# ## Fixing it: one output per level, `do_ds`, `inference_apply_nonlin`
#
# Deep supervision needs an output at every decoder resolution: full size, then divided by the cumulative
# pooling of each level. A cheap way for a toy network: average-pool the full-resolution logits.

# %%
import numpy as np
from nnunet_explorer.training.generic_unet import softmax_helper

class TinyDSNet(TinyNet):
    def __init__(self, in_channels, num_classes, pools):
        super().__init__(in_channels, num_classes)
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
# ## Plugging it in
#
# `network_factory` receives the processed plans and returns the network; the walkthrough's `network` step
# checks the contract and every later step (optimizer, batch, iteration) uses your network.

# %%
def my_network(plans):
    return TinyDSNet(plans.num_input_channels, plans.num_classes,
                     [list(k) for k in plans.net_num_pool_op_kernel_sizes])

p_mine = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0, network_factory=my_network)
record = p_mine["iteration"]
record

# %% [markdown]
# ## Your own trainer
#
# To change hyperparameters you subclass `nnUNetTrainerV2` and set them on `self` in `__init__`, after
# `super().__init__(...)`, as v1's own variants do; register the class so that it can be named like v1's trainers
# (v1 finds it by searching its own package; the explorer keeps a registry). The provenance table names the
# `__init__` that set each value and highlights what your class changed.
#
# > **Pitfall when you move to real v1: class attributes do nothing there.** In v1 every hyperparameter is an
# > instance attribute assigned in `__init__` (`nnUNetTrainerV2.__init__` sets `self.max_num_epochs = 1000` and
# > `self.initial_lr = 1e-2`), and an instance attribute shadows a class attribute of the same name. A subclass
# > with `initial_lr = 3e-3` in its class body therefore trains with 1e-2 for 1000 epochs, silently. The v1 way
# > (it is how v1's own variants do it, e.g. `nnUNetTrainerV2_Loss_Dice_lr1en3` or `nnUNetTrainerV2_2epochs`):
# >
# > ```python
# > class nnUNetTrainerV2_myLR(nnUNetTrainerV2):
# >     def __init__(self, plans_file, fold, output_folder=None, dataset_directory=None, batch_dice=True,
# >                  stage=None, unpack_data=True, deterministic=True, fp16=False):
# >         super().__init__(plans_file, fold, output_folder, dataset_directory, batch_dice, stage, unpack_data,
# >                          deterministic, fp16)
# >         self.initial_lr = 3e-3     # after super().__init__, so that nothing overwrites it
# >         self.max_num_epochs = 50
# > ```
# >
# > The explorer refuses such class attributes when the class is defined (they would do nothing), naming the fix.

# %%
from nnunet_explorer.training.trainers import nnUNetTrainerV2, register_trainer, known_trainers

@register_trainer
class nnUNetTrainerV2_myLR(nnUNetTrainerV2):
    """V2 with a smaller initial learning rate and fewer epochs."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial_lr = 3e-3  # after super().__init__, so that nothing overwrites it
        self.max_num_epochs = 50

p_trainer = training_walkthrough("3d_fullres", "nnUNetTrainerV2_myLR", 901, 0)
mine = p_trainer["trainer"].provenance()
print("registered:", [t for t in known_trainers() if "myLR" in t])
mine

# %%
print(p_trainer["lr_schedule"].summary())

# %% [markdown]
# ### Checks

# %%
assert not report.ok and report.errors
assert report_ok.ok, report_ok
assert len(record.scale_parts) == len(pools) and record.loss == record.loss
assert set(mine.overridden) >= {"initial_lr", "max_num_epochs"}
assert abs(p_trainer["lr_schedule"].lrs[0] - 3e-3) < 1e-12 and len(p_trainer["lr_schedule"].lrs) == 50
print("07 ok")
