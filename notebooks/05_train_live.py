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
# # 05 · Training, live — then resuming with `-c`
#
# The training run belongs to the trainer: `trainer.run_training()` is v1's loop — epochs of
# `num_batches_per_epoch` training iterations (`run_iteration`), then `num_val_batches_per_epoch` validation
# iterations with online evaluation, then `on_epoch_end` (in v1's order: the epoch's global Dice from the validation
# batches, `progress.png`, the next learning rate, `model_latest` every 50 epochs, the Dice moving average, and
# `model_best` when that average improves). The explorer adds to that loop, at four named points, *observers* that receive
# plain numbers after every training iteration, every validation and every epoch (`trainer.explorer.attach(...)`)
# and a stop request (`trainer.explorer.control`). The `TrainingMonitor` is an observer with a Stop button. Here the run is cut
# down (v1: 1000 epochs × 250 iterations) to what the machine can do in about a minute:
#
# * **on a CPU**: 6 epochs of 10 iterations on the synthetic CT task, about 40 s of training on 2 cores — enough to
#   watch the global pseudo Dice of the validation patches climb from near chance;
# * **on a GPU** (torch sees CUDA): a real workload, the Colin27 task (real MR, four deep-grey structures) at 40
#   epochs of 25 iterations — the run of `benchmarks/real_sample_learning.py` — with as many augmentation workers
#   as the machine's cores allow (`default_num_processes()`); `real_sample_learning.py` trained this schedule in
#   66 s on an H200 (the README's "On a GPU").
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
import torch
ON_GPU = torch.cuda.is_available()
if not ON_GPU:
    os.environ.setdefault("nnUNet_n_proc_DA", "1")  # one augmentation worker: this is a small CPU
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

from nnunet_explorer.training.augmenter import default_num_processes
from nnunet_explorer.views.widgets_common import prepare_sample_task
# a GPU trains the real Colin27 task (Task903_ColinDeepGrey), a CPU the synthetic CT sample (Task901_SyntheticCT):
# written and preprocessed once, reused afterwards
TASK_ID = 903 if ON_GPU else 901
workspace, TASK = prepare_sample_task(TASK_ID, "real" if ON_GPU else "synthetic-ct")
# 40 x 25 on a GPU is benchmarks/real_sample_learning.py's schedule; 6 x 10 trains in under a minute on a 2-core CPU
KNOBS = dict(max_num_epochs=40, num_batches_per_epoch=25, num_val_batches_per_epoch=4) if ON_GPU else \
    dict(max_num_epochs=6, num_batches_per_epoch=10, num_val_batches_per_epoch=2)
print(workspace.describe()); print("task:", TASK, "| schedule:", KNOBS)
# nnUNet_n_proc_DA when set (v1's variable), else the cores shared out, at most v1's 12
print("augmentation workers:", default_num_processes())

# %% [markdown]
# ## The trainer, as `nnUNet_train` has it just before `run_training`
#
# `p.run(until="initialize")` does what v1's `run_training.py` does before training: parse the arguments, find
# the configuration, build the trainer and call `trainer.initialize(True)`. On a CPU `deterministic=True` is
# `--deterministic`: the trainer seeds numpy and torch with 12345 and the augmentation runs in this process, so
# the curves below are the same every time the notebook runs (in-process augmentation is the explorer's: v1's
# `--deterministic` seeds only the main process, its augmentation workers stay unseeded). On a GPU the run is not deterministic, as a real run
# is not: the augmentation workers draw the random numbers and the GPU computes the transforms (`--augment_on
# auto` chooses the device path on CUDA; the training log says so), which is what keeps a GPU busy. The device is
# chosen once (`device="auto"`: the GPU when torch sees one, else the CPU). `quiet=True` keeps the training log out
# of the notebook (it is still written to the fold folder) and `plot_progress=False` skips `progress.png`.

# %%
from nnunet_explorer.walkthrough import training_walkthrough
from nnunet_explorer.views.monitor import TrainingMonitor

DETERMINISTIC = not ON_GPU
p = training_walkthrough("3d_fullres", "nnUNetTrainerV2", TASK_ID, 0, deterministic=DETERMINISTIC, quiet=True,
                         plot_progress=False, overwrite_training=True, **KNOBS)
p.run(until="initialize")
trainer = p["trainer"]
print(trainer, "on", trainer.device, "| fold folder:", trainer.output_folder)
monitor = TrainingMonitor(trainer.explorer.control,
                          title=f"nnUNet_train 3d_fullres nnUNetTrainerV2 {TASK_ID} 0"
                                + (" --deterministic" if DETERMINISTIC else ""))
monitor

# %% [markdown]
# The fold folder may already hold the checkpoints of an earlier run of this notebook. v1 would start over and
# overwrite them silently. `nnunet-explorer train` (and the walkthrough's `training_epochs` step) refuses unless
# asked — `overwrite_training=True`, `--overwrite_training` on the command line — so that a forgotten `-c`
# cannot destroy a long training. This notebook calls `trainer.run_training()` itself, so it makes that check
# first, by hand. When the run ends it writes `model_final_checkpoint.model` and removes `model_latest.model`,
# as v1 does, so no checkpoint of an earlier run is left to be picked up by `-c` below.
#
# The run goes to a background thread (`run_in_background`), so the kernel stays free and a click on **Stop**
# reaches the loop while it trains (a cell that runs the loop itself would block the click until it ends). The
# cell waits for the result only so that the cells after it see the finished run; the monitor above updates
# while it trains.

# %%
from nnunet_explorer.network_training import run_in_background
from nnunet_explorer.run.run_training import TrainRequest, check_fold_folder

# the request the walkthrough was built from: v1's flags and the explorer's options
request = TrainRequest(p["parsed_arguments"], p.params("trainer")["options"])
check_fold_folder(trainer, request)  # passes: overwrite_training=True

handle = run_in_background(trainer, [monitor])  # trainer.run_training() in a thread, the monitor attached
first = handle.result(timeout=1200)             # trainer.explorer.result, once the run has ended
print(first.summary())
print(monitor)
dice = [e.mean_global_dice for e in first.epochs]
print("global pseudo Dice per epoch:", " ".join(f"{d:.3f}" for d in dice))

# %% [markdown]
# The monitor's plots once the run has ended: the loss and its two parts, the global Dice per class and the
# moving average of their mean (v1 picks `model_best` by that average), the learning rate, and per epoch the seconds spent **computing**
# versus **waiting for data**. A tall "data wait" bar means the augmentation workers do not keep up with the
# network — the usual bottleneck of nnU-Net v1 on a fast GPU (more workers: `nnUNet_n_proc_DA`).

# %%
data_wait, compute = sum(monitor.state.epoch_data_s), sum(monitor.state.epoch_compute_s)
print(f"waiting for data {data_wait:.1f} s, computing {compute:.1f} s "
      f"({100 * data_wait / (data_wait + compute):.0f} % of the training time waiting)")
monitor.figure()

# %% [markdown]
# The fold folder holds v1's files: the final checkpoint (and `model_best.model`, written whenever the Dice
# moving average improved) with their `.pkl` companions, `debug.json`, and one `training_log_*.txt` per trainer
# that logged something in this fold — every walkthrough of `nnUNetTrainerV2` fold 0 in these notebooks
# initializes a trainer and starts one, as every `nnUNet_train` call does in v1.

# %%
import os
def fold_files(folder):
    names = sorted(os.listdir(folder))
    logs = [n for n in names if n.startswith("training_log_")]
    return [n for n in names if n not in logs] + [f"... and {len(logs)} training_log_*.txt"]
print(fold_files(first.output_folder))

# %% [markdown]
# > **On a GPU** these cells trained the real sample: `prepare_sample_task(903, "real")` wrote the Colin27
# > deep-grey task (MR, four structures), and the 40 × 25 schedule is the run of
# > `benchmarks/real_sample_learning.py`, which reached a mean foreground Dice of 0.87 on the held-out Colin27
# > crop (see the README). On 2 CPU cores it takes about 96 s per epoch, so a CPU trains the synthetic task.
#
# ## Resume with `-c`, and the Stop button
#
# With `-c`, v1's `run_training.py` builds and initializes a new trainer exactly as before and then calls
# `trainer.load_latest_checkpoint()` before `trainer.run_training()`. That loads `model_final_checkpoint.model`,
# else `model_latest.model`, else `model_best.model`, and restores the weights, the optimizer state, the epoch
# counter and the logged curves; the loop continues with the next epoch. The run above ended, so `-c` finds
# `model_final_checkpoint.model` (epoch 6 on a CPU, 40 on a GPU); to have something to continue, we raise
# `max_num_epochs` by 2 (to 8 on a CPU).
#
# **A v1 pitfall:** the poly learning rate is computed from `max_num_epochs`, so changing it and resuming makes
# the LR jump: on a CPU, the rate set for epoch 6 under the 6-epoch budget is exactly 0; under the 8-epoch one V2's
# `run_training` sets it back to `0.01 * (1 - 6/8) ** 0.9` before the first resumed epoch (on a GPU: epoch 40 of
# 42, `0.01 * (1 - 40/42) ** 0.9`).

# %%
from nnunet_explorer.training.lr_schedule import poly_lr

RESUMED_BUDGET = KNOBS["max_num_epochs"] + 2
p2 = training_walkthrough("3d_fullres", "nnUNetTrainerV2", TASK_ID, 0, continue_training=True,
                          deterministic=DETERMINISTIC, quiet=True, plot_progress=False, **dict(KNOBS, max_num_epochs=RESUMED_BUDGET))
p2.run(until="initialize")
trainer2 = p2["trainer"]
check_fold_folder(trainer2, TrainRequest(p2["parsed_arguments"], p2.params("trainer")["options"]))  # -c: allowed
trainer2.load_latest_checkpoint()  # what -c does, before run_training
print(f"resuming at epoch {trainer2.epoch} of {trainer2.max_num_epochs}; {len(trainer2.all_tr_losses)} epochs of "
      "curves restored")
lr_old_budget = first.epochs[-1].lr_next  # the rate the first run set, after its last epoch, for the next one
lr_new_budget = poly_lr(trainer2.epoch, trainer2.max_num_epochs, trainer2.initial_lr, 0.9)
print(f"LR of epoch {trainer2.epoch}: {lr_old_budget:.5f} with max_num_epochs={KNOBS['max_num_epochs']}, "
      f"{lr_new_budget:.5f} with max_num_epochs={RESUMED_BUDGET}")

# %% [markdown]
# So that this notebook also runs unattended, a tiny observer clicks Stop for us at the end of the first resumed
# epoch. The button calls `trainer2.explorer.control.request_stop(...)`; the loop checks the request after every
# iteration and before every epoch, so here it ends before epoch 7 starts, writes `model_latest.model` with the
# finished epochs, and the result says why it stopped.

# %%
monitor2 = TrainingMonitor(trainer2.explorer.control, title=f"... -c (resumed, max_num_epochs {RESUMED_BUDGET})")
display(monitor2)

class ClickStopAfterFirstEpoch:
    def on_epoch_end(self, event):
        monitor2.stop_button.click()  # exactly what a click in the browser does

second = run_in_background(trainer2, [monitor2, ClickStopAfterFirstEpoch()]).result(timeout=600)
print(second.summary())
print(monitor2)
print(fold_files(second.output_folder))

# %% [markdown]
# The epoch bar of the resumed run started at 6 of 8 on a CPU (40 of 42 on a GPU): the monitor was told
# `start_epoch=6` (40) and `resumed=True`, and its first iteration trained with the rate computed from the new
# budget. The Stop click ended the run after one epoch with `model_latest.model` (7 finished epochs; 41 on a GPU).
# **A second v1 pitfall:** `-c` would *not* continue from there. The first run's `model_final_checkpoint.model`
# (epoch 6; 40 on a GPU) is still in the folder and `load_latest_checkpoint` prefers it (the order above), so `-c`
# would start at epoch 6 (40) again, losing the epoch just trained (the explorer's `-c` says so in a warning before
# it loads): to resume from `model_latest.model`, move the final checkpoint away first. (The next run of this
# notebook starts over with `overwrite_training=True` instead.)

# %% [markdown]
# ### Checks

# %%
import math
from nnunet_explorer.training.pretrained import read_checkpoint
assert not first.stopped_early and len(first.epochs) == KNOBS["max_num_epochs"]
assert first.final_checkpoint is not None and first.final_checkpoint.is_file()
# it learns: the last epoch's global pseudo Dice is more than twice the first one's and above 0.5
assert dice[-1] > max(0.5, 2 * dice[0]), dice
assert monitor.state.start.start_epoch == 0 and len(monitor.state.epochs) == KNOBS["max_num_epochs"]
# -c: the resumed run starts after the first run's last epoch (6 of 8 on a CPU, 40 of 42 on a GPU), and Stop ends it
# after that one epoch with model_latest
assert monitor2.state.start.resumed and monitor2.state.start.start_epoch == KNOBS["max_num_epochs"]
assert monitor2.state.start.max_num_epochs == RESUMED_BUDGET
assert second.stopped_early and len(second.epochs) == 1 and "Stop button" in second.reason
latest = second.output_folder / "model_latest.model"
assert latest.is_file() and read_checkpoint(latest)["epoch"] == KNOBS["max_num_epochs"] + 1
# ... but the first run's final checkpoint is still there, and -c prefers it
final = second.output_folder / "model_final_checkpoint.model"
assert final.is_file() and read_checkpoint(final)["epoch"] == KNOBS["max_num_epochs"]
assert lr_old_budget < 1e-9 < lr_new_budget and math.isclose(monitor2.state.iter_lr[0], lr_new_budget, rel_tol=1e-6)
assert monitor.overhead_seconds > 0 and monitor.overhead_fraction < 0.05, monitor
# the compute-vs-data-wait plot has one bar pair per epoch, and the loop measured both parts
assert len(monitor.state.epoch_compute_s) == KNOBS["max_num_epochs"] and compute > 0 and data_wait >= 0
log = pathlib.Path(trainer.log_file).read_text()
# where the augmentation computed: on a GPU the device path (--augment_on auto), on a CPU this process
assert ("arithmetic on cuda" in log) if ON_GPU else ("augmentation: batchgenerators in the training process" in log)
print(f"monitor overhead: {100 * monitor.overhead_fraction:.2f} % and {100 * monitor2.overhead_fraction:.2f} %")
print(f"global pseudo Dice {dice[0]:.3f} (epoch 0) -> {dice[-1]:.3f} (epoch {len(dice) - 1})")
print("05 ok")
