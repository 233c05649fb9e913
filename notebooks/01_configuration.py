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
# # 01 · From `nnUNet_train` to a configuration
#
# `nnUNet_train 3d_fullres nnUNetTrainerV2 901 0` runs v1's `nnunet/run/run_training.py`. Before a single
# voxel is loaded, `main()` does three things:
#
# 1. **parse the arguments** (network, trainer, task, fold and 16 optional arguments),
# 2. turn the **task id** into a task folder name (`901` → `Task901_SyntheticCT`),
# 3. call **`get_default_configuration`**, which reads the plans file and decides the stage, whether the Dice
#    loss is computed over the whole batch (`batch_dice`), where results go, and which trainer class to use.
#
# This notebook runs those steps one at a time with `training_walkthrough`, shows the *why* of every value, and
# lets you change an argument and see what follows from it.

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
# ## The walkthrough
#
# `training_walkthrough` takes exactly `nnUNet_train`'s arguments and returns a *pipeline* of steps. Nothing runs
# until you ask for a step; each result is cached, and re-running a step drops everything downstream of it.

# %%
from nnunet_explorer.walkthrough import training_walkthrough
p = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0)
p

# %%
args = p.run(until="parsed_arguments")
args

# %% [markdown]
# Two details worth knowing about v1's parser: mixed precision is **on** by default (`--fp32` switches it off),
# and `--val_disable_overwrite` is inverted — its value is `True` *unless* you pass the flag.

# %%
print("run_mixed_precision:", p["parsed_arguments"].run_mixed_precision)
print("val_disable_overwrite:", p["parsed_arguments"].val_disable_overwrite)
p.run(until="task_name")

# %% [markdown]
# ## `get_default_configuration`
#
# This is the block v1 prints at the start of every training, followed by a card that gives the rule behind
# each returned value.

# %%
cfg = p["configuration"]
print(cfg.printed_text)

# %%
from nnunet_explorer.views.cards import configuration_card
configuration_card(cfg)

# %% [markdown]
# ## The plans, and why they are what they are
#
# The plans were written by the experiment planner (`nnunet-explorer plan_and_preprocess`). `explain_plans`
# re-runs the planner *in memory* on the same dataset fingerprint and records every rule it applies, so each
# value below comes with the numbers that produced it: the patch size starts at 512 voxels along the coarsest
# axis (the same length in mm on every axis; v1's comment calls it 512 mm) and is clipped to the median case,
# the batch is capped at round(5 % of the dataset's voxels / patch voxels), the dataset's voxels counted as the
# median case × the number of cropped cases, a cap never below 2 (on this tiny task the 5 % cap would be 0, so
# the batch of 2 is that floor), and so on.

# %%
from nnunet_explorer.planning.plans import Plans
from nnunet_explorer.views.cards import explain_plans, plans_card
plans = Plans.from_file(cfg.plans_file)
print(plans.summarize())

# %%
decisions = explain_plans(TASK, workspace)
card = plans_card(plans, decisions)
card

# %% [markdown]
# ## Exercise: predict the patch size for another spacing, then check it with `replan`
#
# `planning.replan` takes a plans file (yours from a real v1 run, or this one), re-runs the v2.1 planner on the
# fingerprint stored inside it (`dataset_properties`) and says whether it reproduces the stored plans; its trace
# explains every value. First on the plans as they are:

# %%
from nnunet_explorer.planning.replan import replan
again = replan(cfg.plans_file)
print("reproduces the stored plans:", again.matches)
print([d.text for d in again.trace if d.key == "patch_size"][0])

# %% [markdown]
# Now suppose every case had been scanned with **twice the in-plane spacing** (1.6 mm instead of 0.8 mm, so
# half as many voxels in-plane; 3 mm between slices as before). **Predict the new `patch_size`** before running
# the next cell. The rules you need, all in the trace above:
#
# 1. the target spacing is the per-axis median spacing (no anisotropy rule here), and the median shape is
#    taken at that spacing;
# 2. the patch starts as a box of 512 voxels along the coarsest axis and the same length in mm on the others
#    (v1's comment says 512 mm, true only at 1 mm spacing), clipped to the median shape (for this tiny task the VRAM proxy
#    never forces it smaller);
# 3. an axis is pooled while its current spacing is below twice the current finest spacing and it still has at
#    least 8 voxels (so the smallest feature map keeps at least 4); pooling halves an axis's size (rounded up)
#    and doubles its spacing; the patch is then padded up to a multiple of `2**pools` on every axis.
#
# Write your answer into `my_patch` (the value in the cell is the solution: change it to test yourself).

# %%
import copy
import numpy as np
my_patch = [16, 20, 20]  # your prediction for (z, y, x)

coarser = copy.deepcopy(plans.to_dict())
factor = np.array([1, 2, 2])
props = coarser["dataset_properties"]
props["all_spacings"] = [np.asarray(s, dtype=float) * factor for s in props["all_spacings"]]
props["all_sizes"] = [tuple(int(round(n)) for n in np.asarray(s) / factor) for s in props["all_sizes"]]
replanned = replan(coarser)
new_stage = replanned.plans["plans_per_stage"][len(replanned.plans["plans_per_stage"]) - 1]
print([d.text for d in replanned.trace if d.key == "patch_size"][0])
print("pool_op_kernel_sizes:", new_stage["pool_op_kernel_sizes"], "(before:", plans.stage(0)["pool_op_kernel_sizes"], ")")
print("differences from the stored plans:", *replanned.differences[:3], sep="\n  ")

# %%
assert [int(v) for v in new_stage["patch_size"]] == my_patch, \
    f"the planner says {list(new_stage['patch_size'])}: see the trace above (18 voxels in-plane, 2 poolings)"
print("right: at 1.6 mm in-plane the axes are no longer anisotropic enough to pool in-plane first, 18 voxels allow 2 "
      "poolings per axis, so the patch is the median shape padded to multiples of 4")

# %% [markdown]
# ## Change an argument, see what follows
#
# `batch_dice` depends on the network and the number of stages: `2d`, and `3d_fullres` / `3d_cascade_fullres`
# when the plans have two stages, compute Dice over the whole batch; `3d_lowres` and a one-stage `3d_fullres`
# use sample Dice. Change the `network` argument of the first step; the pipeline drops every step after it, and the configuration is recomputed.

# %%
p.rerun("parsed_arguments", network="2d")
cfg_2d = p["configuration"]
print("2d:", cfg_2d.summary())
configuration_card(cfg_2d).row("batch_dice")

# %% [markdown]
# The same, with widgets: pick a step, run to it, re-run it with another seed, or change its keyword-only
# parameters (its *knobs*) with the generated controls.

# %%
p.rerun("parsed_arguments", network="3d_fullres")
from nnunet_explorer.views.step_runner import StepRunner
runner = StepRunner(p, initial="configuration")
runner.run_to()
runner

# %%
print(p.summary(until="configuration"))

# %% [markdown]
# ### Checks (the notebook tests run these)

# %%
assert cfg.batch_dice is False and cfg.stage == plans.num_stages - 1
assert cfg_2d.batch_dice is True and cfg_2d.plans_file.name.endswith("_plans_2D.pkl")
assert card.row("patch_size").rule and "median" in card.row("patch_size").why
assert runner.last_error is None and "configuration" in runner.status.value
assert again.matches and not replanned.matches and [int(v) for v in new_stage["patch_size"]] == my_patch
print("01 ok")
