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
# # 04 · One training iteration
#
# `run_iteration` is the heart of training: forward pass, deep-supervision loss, backward pass, gradient
# clipping to norm 12, SGD step. This notebook runs one on the batch of notebook 03 and looks at every part.

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
# After `backward()`, v1 clips the global gradient norm to 12 (`clip_grad_norm_`). Early in training the norm is
# usually well below 12, so clipping changes nothing; it protects against rare spikes.

# %%
print("gradient norm before clipping:", record.grad_norm_before_clip, "after:", record.grad_norm_after_clip,
      "clipped:", record.clipped)
print(f"time: forward+loss {record.seconds_forward:.2f} s, backward+step {record.seconds_backward:.2f} s")

# %% [markdown]
# ## Mixed precision
#
# `nnUNet_train` trains in mixed precision unless `--fp32` is given: autocast for the forward pass and a
# `GradScaler` that scales the loss before `backward()` (and skips a step whose gradients overflowed). Autocast
# only applies on CUDA, so on a CPU v1 trains in float32 anyway — which is what the record says here.

# %%
print("fp16 requested:", p["parsed_arguments"].run_mixed_precision, "| used:", record.fp16_used,
      "| device:", record.device)

# %% [markdown]
# ## What each output predicts
#
# A forward pass of the (untrained) network on the batch: each output's argmax next to the target downsampled for
# it. Untrained, the predictions are noise — the point is the shapes: each output is half the resolution of the
# previous one (per `pool_op_kernel_sizes`), and so is its target.

# %%
import torch
net = p["network"]; batch = p["batch"]
net.eval()
with torch.no_grad():
    outputs = net(torch.as_tensor(batch.data))
from nnunet_explorer.views.browsers import DeepSupervisionView
ds_view = DeepSupervisionView(outputs, batch.target, weights=p["deep_supervision"].weights)
ds_view

# %% [markdown]
# ### Checks

# %%
import math
computed = [part for part in record.scale_parts if part.computed]
assert math.isclose(record.loss, sum(part.weighted for part in record.scale_parts), rel_tol=1e-4, abs_tol=1e-5)
assert len(record.scale_parts) == len(p["deep_supervision"].weights) and not record.scale_parts[-1].computed
assert all(part.dice <= 0 for part in computed)
assert record.grad_norm_before_clip is not None and record.grad_norm_after_clip <= 12.0 + 1e-3
assert record.fp16_used is False
assert [tuple(o.shape[2:]) for o in outputs] == [tuple(t.shape[2:]) for t in batch.target]
print("04 ok")
