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
# # 04 · One training iteration
#
# `run_iteration` is the heart of training: forward pass, deep-supervision loss, backward pass, gradient
# clipping to norm 12, SGD step. v1's loop calls the trainer's `run_iteration` `num_batches_per_epoch` times per
# epoch. The walkthrough's `iteration` step calls that same method of the same trainer once, on the seeded batch
# of notebook 03 (the `batch` step), with online evaluation on (v1 evaluates online only on validation batches;
# the walkthrough turns it on for this training batch to show what it computes); then it puts the weights, the optimizer state and
# the random streams back, so the look does not change the training that would follow. This notebook looks at
# every part of that one iteration.

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
print("the method the step calls:", type(trainer).run_iteration.__qualname__)
record = p["iteration"]
record

# %% [markdown]
# ## The loss, part by part
#
# Each output's loss is `CE + (-soft Dice)` (background excluded from Dice, smooth 1e-5). The total is the
# weighted sum over the outputs. The lowest-resolution output has weight 0: v1 does not even compute its loss.
# Because the Dice part is *negative*, the loss goes below zero as training improves.

# %%
for part in record.scale_parts:
    if part.computed:
        print(f"output {part.index}: weight {part.weight:.3f}  CE {part.ce:.4f}  Dice term {part.dice:.4f}"
              f"  -> weighted {part.weighted:.4f}")
    else:
        print(f"output {part.index}: weight {part.weight:.3f}  (not computed)")
print("total loss:", round(record.loss, 4))

# %% [markdown]
# ## Gradients and the clipping
#
# After `backward()`, V2 clips the global gradient norm to 12 (`clip_grad_norm_`). Early in training the norm is
# usually well below 12, so clipping changes nothing; it protects against rare spikes.

# %%
print("gradient norm before clipping:", record.grad_norm_before_clip, "after:", record.grad_norm_after_clip,
      "clipped:", record.clipped)
print(f"time: forward+loss {record.seconds_forward:.2f} s, backward+step {record.seconds_backward:.2f} s")

# %% [markdown]
# > **Erratum for the blog.** The `run_iteration` the blog walks through is `NetworkTrainer.run_iteration`
# > (`network_training/network_trainer.py`): forward, loss, `backward()`, `optimizer.step()` — no clipping.
# > `nnUNetTrainerV2` overrides it (`network_training/nnUNetTrainerV2.py`): after `backward()` (unscaled by the
# > `GradScaler` under fp16) it calls `torch.nn.utils.clip_grad_norm_(self.network.parameters(), 12)`; and V2's
# > `run_online_evaluation` override scores only the highest-resolution output. The record above is V2's version.

# %% [markdown]
# ## Mixed precision
#
# `nnUNet_train` trains in mixed precision unless `--fp32` is given: autocast for the forward pass and the
# loss, and a `GradScaler` that scales the loss before `backward()` (and skips a step whose gradients
# overflowed). Autocast only applies on CUDA, so on a CPU v1 trains in float32 anyway — which is what the record
# says here.
#
# So that the lesson is not lost on a CPU, the step also runs v1's fp16 branch once as a *look* (on a crop of the
# batch, with the trainer's network, loss and optimizer, nothing kept): the loss in half precision, the scaled
# loss, the unscaled gradients, and what the `GradScaler` does when a gradient overflows — it skips the step
# (the weights stay as they were) and halves its scale.

# %%
print("fp16 requested:", p["parsed_arguments"].run_mixed_precision, "| used:", record.fp16_used,
      "| device:", record.device)
print(record.fp16_text())

# %%
mp = record.mixed_precision
assert mp.overflow.found_inf and not mp.overflow.weights_changed
assert mp.overflow.scale_after == mp.overflow.scale / 2  # an overflow halves the scale and skips the step

# %% [markdown]
# ## What each output predicts
#
# A forward pass of the (untrained) network on the batch: each output's argmax next to the target downsampled for
# it. Untrained, the predictions are noise — the point is the shapes: each output is smaller than the previous one
# by that level's pooling kernel (`pool_op_kernel_sizes`; here [1, 2, 2] first, so 16×40×40 -> 16×20×20 -> 8×10×10),
# and so is its target.

# %%
import torch
net = p["network"]; batch = p["batch"]
net.eval()
with torch.no_grad():
    outputs = net(torch.as_tensor(batch.data))
print("output shapes:", [tuple(o.shape[2:]) for o in outputs], "| pooling kernels:",
      [list(k) for k in trainer.net_num_pool_op_kernel_sizes])
from nnunet_explorer.views.browsers import DeepSupervisionView
ds_view = DeepSupervisionView(outputs, batch.target, weights=p["deep_supervision"].weights)
ds_view

# %% [markdown]
# ## Exercise: uniform deep-supervision weights
#
# v1 weights output `i` with `1 / 2**i`, sets the lowest-resolution output's weight to 0 and normalises the
# rest to sum 1 (`ds_loss_weights`). Suppose you made all weights equal (`1/n` each, as `MultipleOutputLoss2`
# does with `weight_factors=None`, up to the factor n). **Before running the cell, answer:** (a) do the CE and
# Dice values of an output change? (b) which output is computed now that was skipped before? (c) what is the
# uniform total in terms of the per-output losses? The cell computes both losses on the same outputs (the
# forward pass above) and the asserts check the answers: (a) no, the weights only scale each output's
# `CE + (-Dice)`; (b) the lowest-resolution one; (c) their plain mean.

# %%
import numpy as np
from nnunet_explorer.training.loss import MultipleOutputLoss2
targets = [torch.as_tensor(t) for t in batch.target]
v1_weights = np.asarray(p["deep_supervision"].weights, dtype=float)
uniform = np.full(len(outputs), 1.0 / len(outputs))
with torch.no_grad():
    v1_total, v1_parts = MultipleOutputLoss2(p["loss"].loss, v1_weights).forward_with_parts(list(outputs), targets)
    uni_total, uni_parts = MultipleOutputLoss2(p["loss"].loss, uniform).forward_with_parts(list(outputs), targets)
print(" output | v1 weight  CE      Dice    | uniform weight  CE      Dice")
for a, b in zip(v1_parts, uni_parts):
    left = f"{a.weight:.3f}  {a.ce:.4f}  {a.dice:.4f}" if a.computed else f"{a.weight:.3f}  (not computed) "
    print(f" {a.index:6d} | {left} | {b.weight:.3f}           {b.ce:.4f}  {b.dice:.4f}")
share_v1 = v1_parts[0].weighted / float(v1_total)
share_uni = uni_parts[0].weighted / float(uni_total)
print(f"total: v1 {float(v1_total):.4f}, uniform {float(uni_total):.4f}; the full-resolution output's share of "
      f"the loss: v1 {100 * share_v1:.0f} %, uniform {100 * share_uni:.0f} %")

# %%
computed_v1 = [a for a in v1_parts if a.computed]
assert all(np.isclose(a.ce, b.ce) and np.isclose(a.dice, b.dice) for a, b in zip(computed_v1, uni_parts))  # (a)
assert not v1_parts[-1].computed and uni_parts[-1].computed  # (b)
assert np.isclose(float(uni_total), np.mean([b.total for b in uni_parts]), rtol=1e-5)  # (c)
print("right: the weights only decide how much each output's CE + (-Dice) counts; uniform weights also train "
      "the coarsest head and give the full-resolution output less say")

# %% [markdown]
# ### Checks

# %%
import math
computed = [part for part in record.scale_parts if part.computed]
assert math.isclose(record.loss, sum(part.weighted for part in record.scale_parts), rel_tol=1e-4, abs_tol=1e-5)
assert len(record.scale_parts) == len(p["deep_supervision"].weights) and not record.scale_parts[-1].computed
assert all(part.dice <= 0 for part in computed)
assert record.grad_norm_before_clip is not None and record.grad_norm_after_clip <= 12.0 + 1e-3
assert record.fp16_used == (record.device.startswith("cuda") and trainer.fp16)  # autocast: CUDA only
assert record.learning_rate == trainer.optimizer.param_groups[0]["lr"] == 1e-2
assert not trainer.optimizer.state_dict()["state"]  # a look: no momentum buffer was kept
assert [tuple(o.shape[2:]) for o in outputs] == [tuple(t.shape[2:]) for t in batch.target]
assert uni_parts[-1].computed and np.isclose(float(uni_total), np.mean([b.total for b in uni_parts]), rtol=1e-5)
print("04 ok")
