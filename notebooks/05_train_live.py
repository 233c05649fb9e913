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
# `TrainingMonitor` is one. Here the run is cut down to CPU size (v1: 1000 epochs × 250 iterations).
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

# %%
from nnunet_explorer.walkthrough import training_walkthrough
from nnunet_explorer.training.loop import TrainingRun
from nnunet_explorer.views.monitor import TrainingMonitor

KNOBS = dict(max_num_epochs=2, num_batches_per_epoch=2, num_val_batches_per_epoch=1)
p = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0, **KNOBS)
# This notebook starts over each time it runs. v1 would overwrite a previous run silently; the explorer asks for
# overwrite=True. Old checkpoints must go too: -c prefers model_final_checkpoint.model, so a final checkpoint
# left by an earlier run would win over the model_latest.model this run writes (a v1 pitfall as well).
fold_folder = p["configuration"].output_folder_name / "fold_0"
for old in fold_folder.glob("model_*.model*"):
    old.unlink()
run = TrainingRun(p, device="cpu", single_threaded=True, echo=False, plot_progress=False, overwrite=True)
monitor = TrainingMonitor(run.control, title="nnUNet_train 3d_fullres nnUNetTrainerV2 901 0")
monitor


# %% [markdown]
# The run goes to a background thread (`run_in_background`), so the kernel stays free and a click on **Stop**
# reaches the loop while it trains (a cell that runs the loop itself would block the click until it ends). So
# that this notebook also runs unattended, a tiny observer clicks Stop for us at the end of epoch 0. The button
# calls `LoopControl.request_stop`; the loop finishes the epoch's bookkeeping and writes `model_latest.model`.

# %%
class ClickStopAfterFirstEpoch:
    def on_epoch_end(self, event):
        monitor.stop_button.click()  # exactly what a click in the browser does

handle = run.run_in_background([monitor, ClickStopAfterFirstEpoch()])
first = handle.result(timeout=900)  # wait here only so that the next cells see the finished run
print(first.summary())
print(monitor)

# %%
import os
print(sorted(os.listdir(first.output_folder)))

# %% [markdown]
# ## Resume with `-c`
#
# `nnUNet_train ... -c` loads `model_final_checkpoint.model`, else `model_latest.model`, else `model_best.model`,
# restores the optimizer state, the epoch counter and the logged curves, and continues with the next epoch.

# %%
p2 = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0, continue_training=True, **KNOBS)
run2 = TrainingRun(p2, device="cpu", single_threaded=True, echo=False, plot_progress=False)
monitor2 = TrainingMonitor(run2.control, title="... -c (resumed)")
display(monitor2)
second = run2.run([monitor2])
print(second.summary())
print(monitor2)

# %% [markdown]
# The epoch bar of the resumed run started half full: the monitor was told `start_epoch=1` and `resumed=True`.
# Training ended normally, so `model_final_checkpoint.model` was written and `model_latest.model` removed.

# %% [markdown]
# ### Checks

# %%
assert first.stopped_early and len(first.epochs) == 1 and "Stop button" in first.reason
assert monitor.state.start.start_epoch == 0 and len(monitor.state.epochs) == 1
assert monitor2.state.start.resumed and monitor2.state.start.start_epoch == 1
assert not second.stopped_early and second.final_checkpoint is not None and second.final_checkpoint.is_file()
assert monitor2.epoch_bar.value == monitor2.epoch_bar.max == 2
assert monitor.overhead_seconds > 0 and monitor.overhead_fraction < 0.05, monitor
print(f"monitor overhead: {100 * monitor.overhead_fraction:.2f} % and {100 * monitor2.overhead_fraction:.2f} %")
print("05 ok")
