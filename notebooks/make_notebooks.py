"""Write the walkthrough notebooks (nbformat 4, no outputs) from the cell lists below.

Run ``python notebooks/make_notebooks.py`` after editing a cell here; the .ipynb files are generated, so edit
this file, not the notebooks. Every notebook:

* creates its own workspace (``./nnunet_workspace`` next to the notebook unless ``NNUNET_EXPLORER_WORKSPACE``
  or the three nnU-Net variables are set) and the sample task if it is missing (idempotent);
* runs top to bottom on a 2-core CPU in a few minutes;
* ends with a cell of ``assert`` statements on what it produced (the notebook tests run them headless).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

SETUP = '''\
# figures (matplotlib Figure objects returned by the views) display as images
%matplotlib inline
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
print(workspace.describe()); print("task:", TASK)'''


def md(text: str) -> tuple[str, str]:
    return ("markdown", text.strip("\n"))


def code(text: str) -> tuple[str, str]:
    return ("code", text.strip("\n"))


NOTEBOOKS: dict[str, list[tuple[str, str]]] = {}

# ------------------------------------------------------------------------------------------------ 01
NOTEBOOKS["01_configuration"] = [
    md('''
# 01 · From `nnUNet_train` to a configuration

`nnUNet_train 3d_fullres nnUNetTrainerV2 901 0` runs v1's `nnunet/run/run_training.py`. Before a single
voxel is loaded, `main()` does three things:

1. **parse the arguments** (network, trainer, task, fold and about 20 flags),
2. turn the **task id** into a task folder name (`901` → `Task901_SyntheticCT`),
3. call **`get_default_configuration`**, which reads the plans file and decides the stage, whether the Dice
   loss is computed over the whole batch (`batch_dice`), where results go, and which trainer class to use.

This notebook runs those steps one at a time with `training_walkthrough`, shows the *why* of every value, and
lets you change an argument and see what follows from it.'''),
    code(SETUP),
    md('''
## The walkthrough

`training_walkthrough` takes exactly `nnUNet_train`'s arguments and returns a *pipeline* of steps. Nothing runs
until you ask for a step; each result is cached, and re-running a step drops everything downstream of it.'''),
    code('''\
from nnunet_explorer.walkthrough import training_walkthrough
p = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0)
p'''),
    code('''\
args = p.run(until="parsed_arguments")
args'''),
    md('''
Two details worth knowing about v1's parser: mixed precision is **on** by default (`--fp32` switches it off),
and `--val_disable_overwrite` is inverted — its value is `True` *unless* you pass the flag.'''),
    code('''\
print("run_mixed_precision:", p["parsed_arguments"].run_mixed_precision)
print("val_disable_overwrite:", p["parsed_arguments"].val_disable_overwrite)
p.run(until="task_name")'''),
    md('''
## `get_default_configuration`

This is the block v1 prints at the start of every training, followed by a card that gives the rule behind
each returned value.'''),
    code('''\
cfg = p["configuration"]
print(cfg.printed_text)'''),
    code('''\
from nnunet_explorer.views.cards import configuration_card
configuration_card(cfg)'''),
    md('''
## The plans, and why they are what they are

The plans were written by the experiment planner (`nnunet-explorer plan_and_preprocess`). `explain_plans`
re-runs the planner *in memory* on the same dataset fingerprint and records every rule it applies, so each
value below comes with the numbers that produced it: the patch size starts at 512 mm per axis and is clipped to
the median case, the batch size is capped at 5 % of the dataset's voxels, and so on.'''),
    code('''\
from nnunet_explorer.planning.plans import Plans
from nnunet_explorer.views.cards import explain_plans, plans_card
plans = Plans.from_file(cfg.plans_file)
print(plans.summarize())'''),
    code('''\
decisions = explain_plans(TASK, workspace)
card = plans_card(plans, decisions)
card'''),
    md('''
## Change an argument, see what follows

`batch_dice` depends on the network: the 2D U-Net computes Dice over the whole batch. Change the `network`
argument of the first step; the pipeline drops every step after it, and the configuration is recomputed.'''),
    code('''\
p.rerun("parsed_arguments", network="2d")
cfg_2d = p["configuration"]
print("2d:", cfg_2d.summary())
configuration_card(cfg_2d).row("batch_dice")'''),
    md('''
The same, with widgets: pick a step, run to it, re-run it with another seed, or change its keyword-only
parameters (its *knobs*) with the generated controls.'''),
    code('''\
p.rerun("parsed_arguments", network="3d_fullres")
from nnunet_explorer.views.step_runner import StepRunner
runner = StepRunner(p, initial="configuration")
runner.run_to()
runner'''),
    code('''\
print(p.summary(until="configuration"))'''),
    md("### Checks (the notebook tests run these)"),
    code('''\
assert cfg.batch_dice is False and cfg.stage == plans.num_stages - 1
assert cfg_2d.batch_dice is True and cfg_2d.plans_file.name.endswith("_plans_2D.pkl")
assert card.row("patch_size").rule and "median" in card.row("patch_size").why
assert runner.last_error is None and "configuration" in runner.status.value
print("01 ok")'''),
]

# ------------------------------------------------------------------------------------------------ 02
NOTEBOOKS["02_trainer_and_network"] = [
    md('''
# 02 · The trainer, the Generic_UNet and deep supervision

In v1 every hyperparameter is a class attribute or an assignment in `__init__` somewhere in the trainer's
class hierarchy: `NetworkTrainer` → `nnUNetTrainer` → `nnUNetTrainerV2`. To change one you write a subclass.
This notebook shows which class sets what, builds the network from the plans, and looks at the deep
supervision that V2 adds.'''),
    code(SETUP),
    code('''\
from nnunet_explorer.walkthrough import training_walkthrough
p = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0)
trainer = p["trainer"]
trainer.provenance()'''),
    md('''
Read the table as: `num_batches_per_epoch` is 250 and was set by `NetworkTrainer`; `max_num_epochs` is 1000 in
`NetworkTrainer` and is set again, to the same value, by `nnUNetTrainerV2`; `initial_lr` is 1e-2 — V2 raised it
from `nnUNetTrainer`'s 3e-4 because it trains with SGD + Nesterov momentum 0.99 instead of Adam.

## What the trainer takes from the plans

`process_plans` turns the plans of the chosen stage into what training needs. Note
`num_classes` here *includes* the background.'''),
    code('''\
pp = p["plans_processed"]
print(pp.summary())'''),
    md('''
## Deep supervision

The V2 network returns one segmentation per decoder level. Each is compared with the target downsampled to its
size, with weights `1/2**i` normalised over all outputs except the lowest one, which gets weight **0**.'''),
    code('''\
ds = p["deep_supervision"]
print(ds.summary())'''),
    md('''
## The Generic_UNet

The `network` step builds the network and checks v1's network contract; `architecture` runs one forward pass
with hooks on every module and groups what it saw by U-Net stage. Expand a section of the tree to see each
conv unit's kernel, stride, output shape `(b, c, z, y, x)` and parameters.'''),
    code('''\
net = p["network"]
arch = p["architecture"]
from nnunet_explorer.views.architecture_view import architecture_tree, unet_diagram
architecture_tree(arch)'''),
    md('''
The same network as a U: the encoder goes down the left (strided convolutions halve the resolution; the first
level keeps the coarse z axis, as `pool_op_kernel_sizes` says), the decoder comes up the right (transposed
convolutions), skip connections concatenate encoder features into the decoder, and the deep-supervision heads
hang off the decoder levels with their loss weights.'''),
    code('''\
unet_diagram(arch)'''),
    code('''\
print(arch.to_text())'''),
    md("### Checks"),
    code('''\
import numpy as np
assert abs(sum(ds.weights) - 1) < 1e-6 and ds.weights[-1] == 0
assert len(arch.output_shapes) == len(ds.weights) == len(pp.net_num_pool_op_kernel_sizes)
assert arch.total_params == sum(t.numel() for t in net.parameters())
assert [tuple(s[2:]) for s in arch.output_shapes] == [tuple(t) for t in ds.target_shapes]
assert trainer.provenance()["initial_lr"].set_by == "nnUNetTrainerV2"
assert trainer.provenance()["num_batches_per_epoch"].set_by == "NetworkTrainer"
print("02 ok")'''),
]

# ------------------------------------------------------------------------------------------------ 03
NOTEBOOKS["03_data_and_augmentation"] = [
    md('''
# 03 · Data loading and augmentation

Training never sees whole cases. The loader cuts patches from random training cases — a third of each batch
is forced to contain foreground — and the "moreDA" augmentation pipeline rotates and scales them, adds noise
and blur, changes brightness, contrast and gamma, simulates low resolution and mirrors them (elastic
deformation exists but V2 switches it off). This notebook follows one
batch through it.'''),
    code(SETUP),
    code('''\
from nnunet_explorer.walkthrough import training_walkthrough
p = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0)
print(p["dataset"].summary()); print(p["split"].summary())'''),
    md('''
`splits_final.pkl` holds 5 folds made with `KFold(shuffle=True, random_state=12345)` over the *sorted* case
names, so the split depends only on the names.

## The loader's patch is larger than the network's

The loader cuts `basic_generator_patch_size`, big enough that a rotation of up to ±30° and a zoom still fill
the network's `patch_size`; `SpatialTransform` then crops the centre.'''),
    code('''\
aug = p["augmentation_parameters"]
print("network patch:", p["plans_processed"].patch_size, " loader patch:", aug.basic_generator_patch_size)
batch = p["batch"]
print(batch.summary())'''),
    md('''
## Browse the batch

Pick a sample and a slice. The last sample(s) of every batch are *forced foreground* (v1's
`oversample_foreground_percent = 0.33`); the others are random and may show only background.'''),
    code('''\
from nnunet_explorer.views.browsers import BatchBrowser
browser = BatchBrowser(batch)
browser'''),
    md('''
## One sample through every transform

`trace_augmentation` runs one sample through the same transform list with a fixed seed and records, for each
transform, whether it fired and which parameters it drew. Pick a transform to see the sample before and after
it.'''),
    code('''\
from nnunet_explorer.training.augmentation import build_train_transforms, trace_augmentation
params = aug.data_aug_params
transforms = build_train_transforms(params["patch_size_for_spatialtransform"], params,
                                    [list(s) for s in p["deep_supervision"].scales])
raw = next(iter(p["dataloader"]))
trace = trace_augmentation(raw, transforms, seed=3, sample_index=len(raw["keys"]) - 1)
print("fired for this sample:", trace.fired)'''),
    code('''\
from nnunet_explorer.views.browsers import AugmentationBrowser
aug_browser = AugmentationBrowser(trace)
aug_browser'''),
    code('''\
from nnunet_explorer.views.augmentation_plots import plot_augmentation_trace
plot_augmentation_trace(trace, only_changed=True)'''),
    md('''
## Same seed, same batch

v1's worker processes are not seeded, so its batches cannot be reproduced. The walkthrough draws the batch in
the notebook's process with a seed: re-running with the same seed gives the same batch, another seed another.'''),
    code('''\
import numpy as np
again = p.rerun("batch", seed=p.seed("batch")).output
other = p.rerun("batch", seed=7).output
same = np.array_equal(np.asarray(again.data), np.asarray(batch.data))
different = not np.array_equal(np.asarray(other.data), np.asarray(batch.data))
print("same seed, same batch:", same, "| another seed, another batch:", different)'''),
    md("### Checks"),
    code('''\
pp = p["plans_processed"]
assert tuple(batch.data.shape) == (pp.batch_size, pp.num_input_channels, *pp.patch_size)
assert [tuple(t.shape[2:]) for t in batch.target] == [tuple(s) for s in p["deep_supervision"].target_shapes]
assert tuple(batch.loaded_shape[2:]) == tuple(aug.basic_generator_patch_size)
assert same and different
assert browser.draw_count >= 1 and aug_browser.draw_count >= 1 and len(trace.steps) == len(transforms)
print("03 ok")'''),
]

# ------------------------------------------------------------------------------------------------ 04
NOTEBOOKS["04_one_iteration"] = [
    md('''
# 04 · One training iteration

`run_iteration` is the heart of training: forward pass, deep-supervision loss, backward pass, gradient
clipping to norm 12, SGD step. This notebook runs one on the batch of notebook 03 and looks at every part.'''),
    code(SETUP),
    code('''\
from nnunet_explorer.walkthrough import training_walkthrough
p = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0)
record = p["iteration"]
record'''),
    md('''
## The loss, part by part

Each output's loss is `CE + (-soft Dice)` (background excluded from Dice, smooth 1e-5). The total is the
weighted sum over the outputs. The lowest-resolution output has weight 0: v1 does not even compute its loss.
Because the Dice part is *negative*, the loss goes below zero as training improves.'''),
    code('''\
for part in record.scale_parts:
    if part.computed:
        print(f"output {part.index}: weight {part.weight:.3f}  CE {part.ce:.4f}  Dice term {part.dice:.4f}"
              f"  -> weighted {part.weighted:.4f}")
    else:
        print(f"output {part.index}: weight {part.weight:.3f}  (not computed)")
print("total loss:", round(record.loss, 4))'''),
    md('''
## Gradients and the clipping

After `backward()`, v1 clips the global gradient norm to 12 (`clip_grad_norm_`). Early in training the norm is
usually well below 12, so clipping changes nothing; it protects against rare spikes.'''),
    code('''\
print("gradient norm before clipping:", record.grad_norm_before_clip, "after:", record.grad_norm_after_clip,
      "clipped:", record.clipped)
print(f"time: forward+loss {record.seconds_forward:.2f} s, backward+step {record.seconds_backward:.2f} s")'''),
    md('''
## Mixed precision

`nnUNet_train` trains in mixed precision unless `--fp32` is given: autocast for the forward pass and a
`GradScaler` that scales the loss before `backward()` (and skips a step whose gradients overflowed). Autocast
only applies on CUDA, so on a CPU v1 trains in float32 anyway — which is what the record says here.'''),
    code('''\
print("fp16 requested:", p["parsed_arguments"].run_mixed_precision, "| used:", record.fp16_used,
      "| device:", record.device)'''),
    md('''
## What each output predicts

A forward pass of the (untrained) network on the batch: each output's argmax next to the target downsampled for
it. Untrained, the predictions are noise — the point is the shapes: each output is half the resolution of the
previous one (per `pool_op_kernel_sizes`), and so is its target.'''),
    code('''\
import torch
net = p["network"]; batch = p["batch"]
net.eval()
with torch.no_grad():
    outputs = net(torch.as_tensor(batch.data))
from nnunet_explorer.views.browsers import DeepSupervisionView
ds_view = DeepSupervisionView(outputs, batch.target, weights=p["deep_supervision"].weights)
ds_view'''),
    md("### Checks"),
    code('''\
import math
computed = [part for part in record.scale_parts if part.computed]
assert math.isclose(record.loss, sum(part.weighted for part in record.scale_parts), rel_tol=1e-4, abs_tol=1e-5)
assert len(record.scale_parts) == len(p["deep_supervision"].weights) and not record.scale_parts[-1].computed
assert all(part.dice <= 0 for part in computed)
assert record.grad_norm_before_clip is not None and record.grad_norm_after_clip <= 12.0 + 1e-3
assert record.fp16_used is False
assert [tuple(o.shape[2:]) for o in outputs] == [tuple(t.shape[2:]) for t in batch.target]
print("04 ok")'''),
]

# ------------------------------------------------------------------------------------------------ 05
NOTEBOOKS["05_train_live"] = [
    md('''
# 05 · Training, live — then resuming with `-c`

`TrainingRun` is v1's `run_training` loop: epochs of `num_batches_per_epoch` training iterations, then
`num_val_batches_per_epoch` validation iterations with online evaluation, then the epoch-end bookkeeping
(moving averages, learning rate, checkpoints). It calls *observers* at fixed points; the
`TrainingMonitor` is one. Here the run is cut down to CPU size (v1: 1000 epochs × 250 iterations).

The monitor redraws at most twice a second and re-plots only while it stays under 2 % of the iteration time;
its own cost is shown at the bottom ("monitor overhead").'''),
    code(SETUP),
    code('''\
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
monitor'''),
    md('''
The run goes to a background thread (`run_in_background`), so the kernel stays free and a click on **Stop**
reaches the loop while it trains (a cell that runs the loop itself would block the click until it ends). So
that this notebook also runs unattended, a tiny observer clicks Stop for us at the end of epoch 0. The button
calls `LoopControl.request_stop`; the loop finishes the epoch's bookkeeping and writes `model_latest.model`.'''),
    code('''\
class ClickStopAfterFirstEpoch:
    def on_epoch_end(self, event):
        monitor.stop_button.click()  # exactly what a click in the browser does

handle = run.run_in_background([monitor, ClickStopAfterFirstEpoch()])
first = handle.result(timeout=900)  # wait here only so that the next cells see the finished run
print(first.summary())
print(monitor)'''),
    code('''\
import os
print(sorted(os.listdir(first.output_folder)))'''),
    md('''
## Resume with `-c`

`nnUNet_train ... -c` loads `model_final_checkpoint.model`, else `model_latest.model`, else `model_best.model`,
restores the optimizer state, the epoch counter and the logged curves, and continues with the next epoch.'''),
    code('''\
p2 = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0, continue_training=True, **KNOBS)
run2 = TrainingRun(p2, device="cpu", single_threaded=True, echo=False, plot_progress=False)
monitor2 = TrainingMonitor(run2.control, title="... -c (resumed)")
display(monitor2)
second = run2.run([monitor2])
print(second.summary())
print(monitor2)'''),
    md('''
The epoch bar of the resumed run started half full: the monitor was told `start_epoch=1` and `resumed=True`.
Training ended normally, so `model_final_checkpoint.model` was written and `model_latest.model` removed.'''),
    md("### Checks"),
    code('''\
assert first.stopped_early and len(first.epochs) == 1 and "Stop button" in first.reason
assert monitor.state.start.start_epoch == 0 and len(monitor.state.epochs) == 1
assert monitor2.state.start.resumed and monitor2.state.start.start_epoch == 1
assert not second.stopped_early and second.final_checkpoint is not None and second.final_checkpoint.is_file()
assert monitor2.epoch_bar.value == monitor2.epoch_bar.max == 2
assert monitor.overhead_seconds > 0 and monitor.overhead_fraction < 0.05, monitor
print(f"monitor overhead: {100 * monitor.overhead_fraction:.2f} % and {100 * monitor2.overhead_fraction:.2f} %")
print("05 ok")'''),
]

# ------------------------------------------------------------------------------------------------ 06
NOTEBOOKS["06_validation_and_inference"] = [
    md('''
# 06 · Validation and inference: sliding window, postprocessing, pseudo vs real Dice

The network is trained on patches, but a case is larger than a patch. Inference slides the patch over the case
with half-patch steps, weights every tile with a Gaussian (centre voxels are trusted more than border voxels),
averages the overlapping softmaxes, and — by default — also averages over mirrored copies (test-time
augmentation). This notebook predicts one validation case, compares the "pseudo Dice" printed during training
with the real Dice, and tries v1's postprocessing (keep the largest connected component).'''),
    code(SETUP),
    code('''\
import numpy as np, torch
from nnunet_explorer.walkthrough import training_walkthrough
p = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0)
net = p["network"]; pp = p["plans_processed"]
# use the weights of notebook 05 if it was run; otherwise the untrained network (the mechanics are the same)
cfg = p["configuration"]
ckpt = cfg.output_folder_name / "fold_0" / "model_final_checkpoint.model"
if ckpt.is_file():
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    net.load_state_dict(state); print("loaded", ckpt.name)
else:
    print("no checkpoint of notebook 05: predicting with the untrained network")'''),
    md('''
## Sliding-window prediction of one validation case'''),
    code('''\
from nnunet_explorer.inference.sliding_window import predict_sliding_window
case = p["split"].val[0]
folder = cfg.folder_with_preprocessed_data
arr = np.load(folder / f"{case}.npy") if (folder / f"{case}.npy").is_file() else np.load(folder / f"{case}.npz")["data"]
image, truth = arr[:-1].astype(np.float32), arr[-1].astype(np.int16)
truth[truth < 0] = 0  # -1 marks voxels outside the nonzero crop; they are background
# v1 mirrors along all three axes (8 predictions per tile); to keep this notebook fast on a CPU we flip only the
# two in-plane axes (4 predictions per tile). Try mirror_axes=(0, 1, 2) to see the full test-time augmentation.
result = predict_sliding_window(net, image, pp.patch_size, do_mirroring=True, mirror_axes=(1, 2), step_size=0.5)
print(result.summary())
for c in result.mirror_contributions:
    print(f"flip {c.flipped_axes or 'none'}: weight {c.weight:.3f}, changed the argmax of "
          f"{100 * c.argmax_disagreement:.1f} % of the voxels")'''),
    code('''\
from nnunet_explorer.views.browsers import InferenceView
view = InferenceView(result, image, truth)
view'''),
    md('''
## Pseudo Dice vs real Dice

During training v1 prints "Average global foreground Dice" — computed on the *validation patches* of the
epoch, from the argmax of the highest-resolution output, with true/false positives pooled over the batches.
It is an estimate ("This is not exact"): patches oversample foreground, and there is no sliding window, no
Gaussian weighting and no mirroring. The real Dice compares the whole-case prediction with the ground truth.'''),
    code('''\
from nnunet_explorer.inference.evaluation import evaluate_arrays
from nnunet_explorer.training.iteration import run_iteration
labels = list(range(1, pp.num_classes))
real = evaluate_arrays(result.segmentation, truth, labels, metrics=["Dice"])
batch = p["batch"]
rec = run_iteration(net, p["loss"], p["optimizer"], batch.data, list(batch.target), do_backprop=False,
                    run_online_evaluation=True)
pseudo = rec.online_evaluation.pseudo_dice
for c in labels:
    print(f"class {c}: pseudo Dice (one batch of patches) {pseudo[c - 1]:.3f} | real Dice (whole case) "
          f"{real[str(c)]['Dice']:.3f}")'''),
    md('''
## Postprocessing: keep the largest connected component

After validating a fold, v1 tests removing all but the largest connected component — first of all foreground
classes taken together, then of each class — and keeps the step only where it improves the validation Dice
(`postprocessing.json`). Here we apply it per class to one case and look at the effect.'''),
    code('''\
from nnunet_explorer.inference.postprocessing import remove_all_but_the_largest_connected_component
spacing = np.asarray(p["configuration"].plans["plans_per_stage"][cfg.stage]["current_spacing"], dtype=float)
post, largest, kept = remove_all_but_the_largest_connected_component(result.segmentation.copy(), labels,
                                                                      float(np.prod(spacing)))
after = evaluate_arrays(post, truth, labels, metrics=["Dice"])
for c in labels:
    print(f"class {c}: Dice {real[str(c)]['Dice']:.3f} -> {after[str(c)]['Dice']:.3f} after keeping the largest "
          "component")'''),
    md('''
## In 3D, with napari

The napari plugin shows the same things as layers you can scroll through in 3D: the image, the prediction, the
ground truth and the error map. `layers_for` builds the layers without napari; `show_in_napari` opens a viewer
(it needs napari and a screen — on a server it starts a virtual one).'''),
    code('''\
import os
from nnunet_explorer.views.layers import layers_for
case_layers = {"prediction": post, "reference": truth, "image": image[0]}
print([spec.as_tuple()[1]["name"] for spec in layers_for(case_layers)])
had_display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
try:
    from nnunet_explorer.views.napari import inline_screenshot, show_in_napari
except ImportError as exc:  # napari is an optional extra: pip install -e ".[napari]"
    shot = None
    print("napari is not installed:", exc)
else:
    if had_display:  # a desktop: open an interactive viewer (run %gui qt first in Jupyter)
        viewer = show_in_napari(case_layers)
    shot = inline_screenshot(case_layers)  # without a display this starts a virtual one (Xvfb)
shot'''),
    md("### Checks"),
    code('''\
assert result.segmentation.shape == truth.shape and result.probabilities.shape[0] == pp.num_classes
assert result.num_tiles >= 1 and (result.gaussian is None or result.gaussian.max() > result.gaussian.min())
assert np.allclose(result.probabilities.sum(0), 1, atol=1e-3)
assert all(0.0 <= (real[str(c)]["Dice"] if real[str(c)]["Dice"] == real[str(c)]["Dice"] else 0.0) <= 1.0
           for c in labels)
assert set(np.unique(post)) <= set(np.unique(result.segmentation))
assert view.draw_count >= 1
if shot is not None:  # the napari picture is not blank: it shows the label colours over the image
    assert shot.array.ndim == 3 and len(np.unique(shot.array.reshape(-1, shot.array.shape[-1]), axis=0)) > 10
print("06 ok")'''),
]

# ------------------------------------------------------------------------------------------------ 07
NOTEBOOKS["07_bring_your_own_network"] = [
    md('''
# 07 · Bring your own network (and trainer)

nnU-Net v1 trains whatever `initialize_network` puts in `self.network`, as long as it keeps an unwritten
contract with the trainer: it returns one output per deep-supervision level (highest resolution first), has a
`do_ds` switch that makes it return only the full-resolution output at inference, and has
`inference_apply_nonlin` (softmax) for prediction. Break it and v1 fails deep inside the loss with a shape
error. The explorer checks the contract up front and says what does not fit.'''),
    code(SETUP),
    code('''\
import torch
from torch import nn
from nnunet_explorer.walkthrough import training_walkthrough
from nnunet_explorer.training.contract import check_network_contract
p = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0)
pp = p["plans_processed"]
contract = dict(patch_size=pp.patch_size, batch_size=1, num_input_channels=pp.num_input_channels,
                num_classes=pp.num_classes, pool_op_kernel_sizes=pp.net_num_pool_op_kernel_sizes)
print(pp.summary())'''),
    md('''
## A first attempt: a plain network with one output'''),
    code('''\
class TinyNet(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.body = nn.Sequential(nn.Conv3d(in_channels, 8, 3, padding=1), nn.LeakyReLU(0.01),
                                  nn.Conv3d(8, num_classes, 1))
    def forward(self, x):
        return self.body(x)

report = check_network_contract(TinyNet(pp.num_input_channels, pp.num_classes), **contract)
report'''),
    md('''
## Fixing it: one output per level, `do_ds`, `inference_apply_nonlin`

Deep supervision needs an output at every decoder resolution: full size, then divided by the cumulative
pooling of each level. A cheap way for a toy network: average-pool the full-resolution logits.'''),
    code('''\
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
report_ok'''),
    md('''
## Plugging it in

`network_factory` receives the processed plans and returns the network; the walkthrough's `network` step
checks the contract and every later step (optimizer, batch, iteration) uses your network.'''),
    code('''\
def my_network(plans):
    return TinyDSNet(plans.num_input_channels, plans.num_classes,
                     [list(k) for k in plans.net_num_pool_op_kernel_sizes])

p_mine = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0, network_factory=my_network)
record = p_mine["iteration"]
record'''),
    md('''
## Your own trainer

v1's trainers assign their hyperparameters on `self` in `__init__`, so set yours there, after
`super().__init__(...)`, as v1's own variants do (a class attribute would be overwritten by that `__init__` — in v1
too — so the explorer refuses it). Register the class so that it can be named like v1's trainers (v1 finds it by
searching its own package; the explorer keeps a registry). The provenance table names the `__init__` that set
each value and highlights what your class changed.'''),
    code('''\
from nnunet_explorer.training.trainers import nnUNetTrainerV2, register_trainer, known_trainers

@register_trainer
class nnUNetTrainerV2_myLR(nnUNetTrainerV2):
    """V2 with a smaller initial learning rate and fewer epochs."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial_lr = 3e-3
        self.max_num_epochs = 50

p_trainer = training_walkthrough("3d_fullres", "nnUNetTrainerV2_myLR", 901, 0)
mine = p_trainer["trainer"].provenance()
print("registered:", [t for t in known_trainers() if "myLR" in t])
mine'''),
    code('''\
print(p_trainer["lr_schedule"].summary())'''),
    md("### Checks"),
    code('''\
assert not report.ok and report.errors
assert report_ok.ok, report_ok
assert len(record.scale_parts) == len(pools) and record.loss == record.loss
assert set(mine.overridden) >= {"initial_lr", "max_num_epochs"}
assert abs(p_trainer["lr_schedule"].lrs[0] - 3e-3) < 1e-12 and len(p_trainer["lr_schedule"].lrs) == 50
print("07 ok")'''),
]

# ------------------------------------------------------------------------------------------------ 08
SETUP_CASCADE = SETUP.replace(
    '''# the synthetic CT sample (Task901_SyntheticCT): written and preprocessed once, reused afterwards
workspace, TASK = prepare_sample_task(901)''',
    '''# its own copy of the synthetic CT sample (Task908_SyntheticCT), so that task 901 of notebooks 01-07 keeps the
# one-stage plan v1 made for it: written and preprocessed once, reused afterwards
workspace, TASK = prepare_sample_task(908)''')

NOTEBOOKS["08_cascade"] = [
    md('''
# 08 · The cascade: `3d_lowres`, then `3d_cascade_fullres`

A 3D U-Net sees one patch at a time. For a big CT scan the patch that fits in GPU memory covers only a small
part of the body, so the network decides about a voxel without seeing the organ it belongs to. v1's answer is
the **cascade**: a first U-Net (`3d_lowres`) works on a downsampled copy of each image, where the same patch
covers much more; its segmentation, upsampled to full resolution, becomes extra input channels of a second U-Net
(`3d_cascade_fullres`) that refines it at full resolution.

v1 plans the low-resolution stage only when the median case has at least 4 times as many voxels as the
full-resolution patch (in practice: cases of more than ~10 M voxels). The tiny sample of these notebooks never
gets one — so this notebook adds one by hand to see every step of the cascade on a laptop.'''),
    code(SETUP_CASCADE),
    code('''\
import numpy as np
from nnunet_explorer.planning.plans import Plans
plans_file = workspace.preprocessed_task_dir(TASK) / "nnUNetPlansv2.1_plans_3D.pkl"
plans = Plans.from_file(plans_file)
full = plans.stage(plans.num_stages - 1)
ratio = np.prod(full["median_patient_size_in_voxels"]) / np.prod(full["patch_size"])
print(f"{plans.num_stages} stage(s), configurations {plans.configurations}")
print(f"median case {[int(v) for v in full['median_patient_size_in_voxels']]} voxels, patch "
      f"{[int(v) for v in full['patch_size']]}: "
      f"the median case holds {ratio:.2f} patches; v1 tries a low-resolution stage only from 4")'''),
    md('''
## A teaching low-resolution stage

`add_lowres_stage` is **not part of v1**: it makes stage 0 a copy of the full-resolution stage at twice the
in-plane spacing, keeps patch size, pooling and batch size, makes the full-resolution stage stage 1, and
preprocesses both stages from the cropped data exactly as `nnUNet_plan_and_preprocess` would for such a plan
(the tests check the arrays against v1's own preprocessor). v1's real low-resolution stage would also re-plan
patch, pooling and batch size for its coarser spacing. `overwrite=True` lets this notebook run again.'''),
    code('''\
from nnunet_explorer.planning.lowres_stage import add_lowres_stage
report = add_lowres_stage(TASK, workspace=workspace, spacing_factor=(1, 2, 2), overwrite=True)
print(report)
plans = Plans.from_file(plans_file)
print("configurations now:", plans.configurations)'''),
    md('''
A second call refuses: the plans already have two stages, and a real two-stage plan (v1's) must not be replaced
by accident.'''),
    code('''\
from nnunet_explorer.errors import PlansError
try:
    add_lowres_stage(TASK, workspace=workspace)
except PlansError as error:
    refusal = error
    print(error)'''),
    md('''
## Stage 1 of the cascade: `3d_lowres`

`nnUNet_train 3d_lowres nnUNetTrainerV2 908 all` trains on `nnUNetData_plans_v2.1_stage0`, here for one epoch
of two iterations. At the end v1 runs `predict_next_stage`: it predicts every *validation* case of the fold on
the low-resolution grid, resamples the probabilities to the stage-1 grid and saves the argmax as
`pred_next_stage/CASE_segFromPrevStage.npz`. It predicts with test-time mirroring (8 predictions per tile);
to stay fast on a CPU we pass `--disable_next_stage_pred` and call the same function below without mirroring.'''),
    code('''\
import contextlib, io
from nnunet_explorer.cli import main as nnunet_explorer

def run_cli(*argv):
    """Run `nnunet-explorer ARGV...` in this kernel; print the configuration lines and the last lines."""
    print("$ nnunet-explorer", " ".join(argv))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = nnunet_explorer(list(argv))
    lines = out.getvalue().splitlines()
    print("\\n".join([l for l in lines if l.startswith("I am using")] + lines[-3:]))
    assert status == 0, out.getvalue()[-3000:]

SHORT = ["--max_num_epochs", "1", "--num_batches_per_epoch", "2", "--num_val_batches_per_epoch", "1",
         "--single_threaded", "--quiet", "--overwrite_training", "--device", "cpu", "--disable_validation_inference"]
run_cli("train", "3d_lowres", "nnUNetTrainerV2", TASK, "all", *SHORT, "--disable_next_stage_pred")'''),
    code('''\
from nnunet_explorer.fileio import load_pickle
from nnunet_explorer.inference.cascade import predict_next_stage
from nnunet_explorer.training.checkpoints import load_checkpoint_file
from nnunet_explorer.walkthrough import training_walkthrough

lp = training_walkthrough("3d_lowres", "nnUNetTrainerV2", TASK, "all")
lowres_folder = lp["configuration"].output_folder_name
net = lp["network"]
net.load_state_dict(load_checkpoint_file(lowres_folder / "all" / "model_final_checkpoint.model")["state_dict"])
pre = workspace.preprocessed_task_dir(TASK)
stage0, stage1 = pre / "nnUNetData_plans_v2.1_stage0", pre / "nnUNetData_plans_v2.1_stage1"
next_stage = predict_next_stage(net, plans.to_dict(), 0, lowres_folder / "all", stage0, stage1, lp["split"].val,
                                do_mirroring=False, log=lambda *args: None)
print(next_stage.summary())
print(next_stage.cases[0].summary())'''),
    md('''
Fold `all` trains and validates on every case, so one run gives every case its prior — a shortcut for this
notebook. The network that made these priors *has seen* the cases. Real use trains all five folds of
`3d_lowres`: each case is then predicted by the fold that held it out, and the cascade learns from priors with
realistic mistakes. (After two iterations the prior here is mostly noise; the mechanics are the same.)

One case on both grids: the stage-0 image, the prior on the stage-1 grid, and the stage-1 image with its
ground truth.'''),
    code('''\
import io
from IPython.display import Image
from matplotlib.figure import Figure

def show(fig):
    """The figure as a PNG: shown by any notebook front end, whatever matplotlib backend is set."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return Image(data=buffer.getvalue())

def masked(seg):
    return np.ma.masked_where(seg <= 0, seg)  # background transparent

case = next_stage.cases[0].case
low = np.load(stage0 / f"{case}.npz")["data"]
high = np.load(stage1 / f"{case}.npz")["data"]
prior = np.load(next_stage.cases[0].output_file)["data"]
print(f"{case}: stage 0 {low.shape[1:]}, prior {prior.shape}, stage 1 {high.shape[1:]}  (z, y, x)")

fig = Figure(figsize=(9, 3), layout="constrained")
axes = fig.subplots(1, 3)
z0, z1 = low.shape[1] // 2, high.shape[1] // 2
axes[0].imshow(low[0, z0], cmap="gray"); axes[0].set_title(f"stage 0 image {low.shape[2:]}", fontsize=8)
axes[1].imshow(high[0, z1], cmap="gray"); axes[1].imshow(masked(prior[z1]), cmap="autumn", alpha=0.5, vmin=0, vmax=2)
axes[1].set_title(f"3d_lowres prior on the stage-1 grid {prior.shape[1:]}", fontsize=8)
axes[2].imshow(high[0, z1], cmap="gray"); axes[2].imshow(masked(high[-1, z1]), cmap="autumn", alpha=0.5, vmin=0, vmax=2)
axes[2].set_title(f"stage 1 image + ground truth {high.shape[2:]}", fontsize=8)
for ax in axes:
    ax.set_xticks([]); ax.set_yticks([])
show(fig)'''),
    md('''
## Stage 2: `3d_cascade_fullres`, step by step

The walkthrough of `nnUNet_train 3d_cascade_fullres nnUNetTrainerV2CascadeFullRes 908 all`: the trainer reads
the priors from `3d_lowres/.../pred_next_stage`, the network gets `1 + (C - 1)` input channels (the CT channel
plus one binary channel per foreground class), and the augmentation parameters gain the cascade keys.'''),
    code('''\
cp = training_walkthrough("3d_cascade_fullres", "nnUNetTrainerV2CascadeFullRes", TASK, "all")
pp = cp["plans_processed"]
print(pp.summary())
aug = cp["augmentation_parameters"]
cascade_keys = {k: v for k, v in aug.data_aug_params.items()
                if k.startswith("cascade") or k in ("selected_seg_channels", "all_segmentation_labels",
                                                    "move_last_seg_chanel_to_data")}
for key, value in cascade_keys.items():
    print(f"{key:55s} {value}")'''),
    code('''\
batch = cp["batch"]
print(batch.summary())'''),
    md('''
## The prior through the augmentation

The loader carries the prior as segmentation channel 1, so rotation, scaling and mirroring move it with the
label. Near the end, `MoveSegAsOneHotToData` turns it into the extra image channels, and two transforms
simulate mistakes of the low-resolution network:

* `ApplyRandomBinaryOperatorTransform` (40 % of the samples): dilate, erode, close or open each class channel
  with a ball of random radius — structures become too thick, too thin, merged or split;
* `RemoveRandomConnectedComponentFromOneHotEncodingTransform` (20 %): meant to delete a small connected
  component. **In v1 it never removes anything**: v1 passes two of its arguments swapped, so the size limit
  is 0 % of the patch and no component qualifies. The explorer keeps that behaviour (and its random draws).

We trace one sample with seeds 0, 1, 2 ... until the binary operator acts.'''),
    code('''\
from nnunet_explorer.training.augmentation import build_train_transforms, trace_augmentation
params = aug.data_aug_params
transforms = build_train_transforms(params["patch_size_for_spatialtransform"], params,
                                    [list(s) for s in cp["deep_supervision"].scales])
raw = next(iter(cp["dataloader"]))
print("loader batch: data", raw["data"].shape, "seg", raw["seg"].shape, "(seg channel 1 = the prior)")
for seed in range(50):
    trace = trace_augmentation(raw, transforms, seed=seed, sample_index=0)
    if "ApplyRandomBinaryOperatorTransform" in trace.fired:
        break
steps = {s.name: s for s in trace.steps}
binary = steps["ApplyRandomBinaryOperatorTransform"]
remover = steps["RemoveRandomConnectedComponentFromOneHotEncodingTransform"]
moved = steps["MoveSegAsOneHotToData"]
print(f"seed {seed}: data after MoveSegAsOneHotToData has {moved.data.shape[0]} channels {moved.data.shape}")
print("binary operator:", dict(binary.params))
print("component remover:", "fired" if remover.fired else "did nothing", dict(remover.params))
remove_t = next(t for t in transforms if type(t).__name__ == remover.name)
print("its size limit (dont_do_if_covers_more_than_X_percent):", remove_t.dont_do_if_covers_more_than_X_percent,
      "| fill_with_other_class_p:", remove_t.fill_with_other_class_p)'''),
    code('''\
fig = Figure(figsize=(9, 3), layout="constrained")
axes = fig.subplots(1, 3)
z = moved.data.shape[1] // 2
ops = ", ".join(f"{o['operation'].replace('binary_', '')} r={o['radius']:.1f}" for o in binary.params["operations"])
panels = [(None, "image channel (after the spatial transform)"), (moved.prior, "prior channels (decoded)"),
          (binary.prior, f"after the binary operator: {ops}")]
for ax, (seg, title) in zip(axes, panels):
    ax.imshow(moved.data[0, z], cmap="gray")
    if seg is not None:
        ax.imshow(masked(seg[z]), cmap="autumn", alpha=0.6, vmin=0, vmax=2)
    ax.set_title(title, fontsize=8); ax.set_xticks([]); ax.set_yticks([])
show(fig)'''),
    md('''
## Train the cascade, then predict

One epoch of two iterations again. Then `predict -m 3d_cascade_fullres` on the test images: without `-l` it
first predicts `3d_lowres` into `OUTPUT/3d_lowres_predictions`, then resizes those segmentations to each
case's full-resolution grid, adds them as one-hot channels and runs the cascade network. `--disable_tta` skips
the mirrored copies to keep it fast.'''),
    code('''\
run_cli("train", "3d_cascade_fullres", "nnUNetTrainerV2CascadeFullRes", TASK, "all", *SHORT)
cascade_folder = cp["configuration"].output_folder_name
print(sorted(p.name for p in (cascade_folder / "all").iterdir()))'''),
    code('''\
import SimpleITK as sitk
images = workspace.raw_task_dir(TASK) / "imagesTs"
predictions = workspace.results_folder / "08_cascade_predictions"
run_cli("predict", "-i", str(images), "-o", str(predictions), "-t", TASK, "-m", "3d_cascade_fullres", "-f", "all",
        "--disable_tta", "--overwrite_existing")
tests = sorted(p.name[:-len("_0000.nii.gz")] for p in images.glob("*_0000.nii.gz"))
image = sitk.GetArrayFromImage(sitk.ReadImage(str(images / f"{tests[0]}_0000.nii.gz")))
final = sitk.GetArrayFromImage(sitk.ReadImage(str(predictions / f"{tests[0]}.nii.gz")))
first = sitk.GetArrayFromImage(sitk.ReadImage(str(predictions / "3d_lowres_predictions" / f"{tests[0]}.nii.gz")))
fig = Figure(figsize=(6, 3), layout="constrained")
axes = fig.subplots(1, 2)
z = image.shape[0] // 2
window = np.percentile(image, [1, 99])  # a CT window, so that soft tissue is not all white
for ax, seg, title in zip(axes, (first, final), ("3d_lowres prediction", "3d_cascade_fullres prediction")):
    ax.imshow(image[z], cmap="gray", vmin=window[0], vmax=window[1]); ax.imshow(masked(seg[z]), cmap="autumn", alpha=0.5, vmin=0, vmax=2)
    ax.set_title(f"{tests[0]}: {title}", fontsize=8); ax.set_xticks([]); ax.set_yticks([])
show(fig)'''),
    md("### Checks"),
    code('''\
assert plans.num_stages == 2 and plans.configurations == {"3d_lowres": 0, "3d_fullres": 1, "3d_cascade_fullres": 1}
low_info, high_info = report.new_stages
assert low_info.example_shape[1] < high_info.example_shape[1] and report.old_stages[0].example_shape == high_info.example_shape
assert "already has 2 stages" in str(refusal)
assert len(next_stage.cases) == 10 and prior.shape == high.shape[1:] and low.shape[2:] != high.shape[2:]
assert pp.num_input_channels == 1 + (pp.num_classes - 1) and tuple(batch.data.shape[:2]) == (pp.batch_size, pp.num_input_channels)
assert cascade_keys["move_last_seg_chanel_to_data"] and cascade_keys["selected_seg_channels"] == [0, 1]
assert moved.data.shape[0] == pp.num_input_channels and binary.fired and not remover.fired
assert not np.array_equal(moved.prior, binary.prior) and remove_t.dont_do_if_covers_more_than_X_percent == 0
assert (cascade_folder / "all" / "model_final_checkpoint.model").is_file()
assert final.shape == image.shape == first.shape and set(np.unique(final)) <= {0, 1, 2}
print("08 ok")'''),
]


def notebook_json(cells: list[tuple[str, str]]) -> dict:
    out = []
    for kind, source in cells:
        cell: dict = {"cell_type": kind, "metadata": {}, "source": source}
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        out.append(cell)
    return {"cells": out,
            "metadata": {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                                        "name": "python3"},
                         "language_info": {"name": "python", "pygments_lexer": "ipython3"}},
            "nbformat": 4, "nbformat_minor": 5}


def _with_ids(nb: dict, stem: str) -> dict:
    # nbformat 4.5 wants a unique id per cell; derived from the position so regeneration is stable
    for i, cell in enumerate(nb["cells"]):
        cell["id"] = f"{stem[:2]}-{i:02d}"
    return nb


def write_all(folder: Path = HERE) -> list[Path]:
    written = []
    for stem, cells in NOTEBOOKS.items():
        path = folder / f"{stem}.ipynb"
        text = json.dumps(_with_ids(notebook_json(cells), stem), indent=1, ensure_ascii=False) + "\n"
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
        written.append(path)
    return written


if __name__ == "__main__":
    for p in write_all(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE):
        print(p)
