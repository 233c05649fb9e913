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
# # 05 · Training, live — then resuming with `-c`
#
# `TrainingRun` is v1's `run_training` loop: epochs of `num_batches_per_epoch` training iterations, then
# `num_val_batches_per_epoch` validation iterations with online evaluation, then the epoch-end bookkeeping
# (moving averages, learning rate, checkpoints). It calls *observers* at fixed points; the
# `TrainingMonitor` is one. Here the run is cut down to CPU size (v1: 1000 epochs × 250 iterations): 6 epochs of
# 10 iterations on the synthetic CT task, about 3 minutes on 2 CPU cores — enough to watch the global
# pseudo Dice of the validation patches climb from near chance.
#
# The monitor redraws at most twice a second and re-plots only while it stays under 2 % of the iteration time;
# its own cost is shown at the bottom ("monitor overhead").

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
# `--deterministic` (`deterministic=True`) seeds the run and augments in this process, so the curves below are
# the same every time the notebook runs. The device is chosen once: `resolve_device("auto")` is the GPU when
# torch sees one, else the CPU.
#
# The fold folder may already hold the checkpoints of an earlier run of this notebook. v1 would overwrite them
# silently; the explorer refuses unless asked, with `overwrite=True` (`nnunet-explorer train ...
# --overwrite_training`), so that a forgotten `-c` cannot destroy a long training. When this run ends it writes
# `model_final_checkpoint.model` and removes `model_latest.model`, as v1 does, so no checkpoint of the earlier
# run is left to be picked up by `-c` below.

# %%
from nnunet_explorer.device import resolve_device
from nnunet_explorer.walkthrough import training_walkthrough
from nnunet_explorer.training.loop import TrainingRun
from nnunet_explorer.views.monitor import TrainingMonitor

DEVICE = resolve_device("auto")
print("training on", DEVICE)
KNOBS = dict(max_num_epochs=6, num_batches_per_epoch=10, num_val_batches_per_epoch=2)
p = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0, deterministic=True, **KNOBS)
run = TrainingRun(p, device=str(DEVICE), echo=False, plot_progress=False, overwrite=True)
monitor = TrainingMonitor(run.control, title="nnUNet_train 3d_fullres nnUNetTrainerV2 901 0 --deterministic")
monitor

# %% [markdown]
# The run goes to a background thread (`run_in_background`), so the kernel stays free and a click on **Stop**
# reaches the loop while it trains (a cell that runs the loop itself would block the click until it ends). The
# next cell waits for the result only so that the cells after it see the finished run; the monitor above updates
# while it trains.

# %%
handle = run.run_in_background([monitor])
first = handle.result(timeout=1200)
print(first.summary())
print(monitor)
dice = [e.mean_global_dice for e in first.epochs]
print("global pseudo Dice per epoch:", " ".join(f"{d:.3f}" for d in dice))

# %%
import os
print(sorted(os.listdir(first.output_folder)))

# %% [markdown]
# > **On a GPU** the same cells train the real sample: `prepare_sample_task(903, "real")` writes the Colin27
# > deep-grey task (MR, four structures), and `training_walkthrough("3d_fullres", "nnUNetTrainerV2", 903, 0,
# > max_num_epochs=40, num_batches_per_epoch=25, num_val_batches_per_epoch=4)` is the run of
# > `benchmarks/real_sample_learning.py`, which reached a mean foreground Dice of 0.87 on the held-out Colin27
# > crop (see the README). It takes about 96 s per epoch on 2 CPU cores, so it is not run here.
#
# ## Resume with `-c`, and the Stop button
#
# `nnUNet_train ... -c` loads `model_final_checkpoint.model`, else `model_latest.model`, else `model_best.model`,
# restores the optimizer state, the epoch counter and the logged curves, and continues with the next epoch.
# The run above ended, so `-c` finds `model_final_checkpoint.model` (epoch 6); to have something to continue, we
# raise `max_num_epochs` to 8.
#
# **A v1 pitfall:** the poly learning rate is computed from `max_num_epochs`, so changing it and resuming makes
# the LR jump: at epoch 6 it was about to reach 0 under the 6-epoch budget, under the 8-epoch one it is back at
# `0.01 * (1 - 6/8) ** 0.9`.
#
# So that this notebook also runs unattended, a tiny observer clicks Stop for us at the end of the first resumed
# epoch. The button calls `LoopControl.request_stop`; the loop finishes the epoch's bookkeeping and writes
# `model_latest.model`.

# %%
p2 = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0, continue_training=True, deterministic=True,
                          **dict(KNOBS, max_num_epochs=8))
lr_old_budget, lr_new_budget = p["trainer"].learning_rate(6), p2["trainer"].learning_rate(6)
print(f"LR of epoch 6: {lr_old_budget:.5f} with max_num_epochs=6, {lr_new_budget:.5f} with max_num_epochs=8")
run2 = TrainingRun(p2, device=str(DEVICE), echo=False, plot_progress=False)
monitor2 = TrainingMonitor(run2.control, title="... -c (resumed, max_num_epochs 8)")
display(monitor2)

class ClickStopAfterFirstEpoch:
    def on_epoch_end(self, event):
        monitor2.stop_button.click()  # exactly what a click in the browser does

second = run2.run_in_background([monitor2, ClickStopAfterFirstEpoch()]).result(timeout=600)
print(second.summary())
print(monitor2)
print(sorted(os.listdir(second.output_folder)))

# %% [markdown]
# The epoch bar of the resumed run started at 6 of 8: the monitor was told `start_epoch=6` and `resumed=True`.
# The Stop click ended it after one epoch with `model_latest.model`; `-c` would continue from there (the next
# run of this notebook starts over with `overwrite=True` instead).

# %% [markdown]
# ### Checks

# %%
assert not first.stopped_early and len(first.epochs) == KNOBS["max_num_epochs"]
assert first.final_checkpoint is not None and first.final_checkpoint.is_file()
# it learns: the last epoch's global pseudo Dice is more than twice the first one's and above 0.5
assert dice[-1] > max(0.5, 2 * dice[0]), dice
assert monitor.state.start.start_epoch == 0 and len(monitor.state.epochs) == KNOBS["max_num_epochs"]
assert monitor2.state.start.resumed and monitor2.state.start.start_epoch == KNOBS["max_num_epochs"]
assert second.stopped_early and len(second.epochs) == 1 and "Stop button" in second.reason
assert (second.output_folder / "model_latest.model").is_file()
assert lr_old_budget < 1e-9 < lr_new_budget
assert monitor.overhead_seconds > 0 and monitor.overhead_fraction < 0.05, monitor
print(f"monitor overhead: {100 * monitor.overhead_fraction:.2f} % and {100 * monitor2.overhead_fraction:.2f} %")
print(f"global pseudo Dice {dice[0]:.3f} (epoch 0) -> {dice[-1]:.3f} (epoch {len(dice) - 1})")
print("05 ok")
