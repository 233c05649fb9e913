"""Benchmark (not a test): training-iteration time, explorer vs nnU-Net v1, and the cost of the loop's hooks.

1. The same network weights and the same batch go through v1's ``nnUNetTrainerV2.run_iteration`` (driven in a
   subprocess on a stand-in ``self``, as tests/network/test_iteration.py does) and through the explorer's
   :func:`~nnunet_explorer.training.iteration.run_iteration` (which also records loss parts, gradient norms
   and checks for NaN/Inf). Reported: median seconds per iteration of each, after warm-up.
2. The per-iteration overhead the explorer adds to v1's loop: ``trainer.explorer.iteration_end`` as
   ``NetworkTrainer.run_training`` calls it after every training iteration (the NaN guard's verdict, building the
   ``IterationEnd`` payload, calling the observers, the stop-request check), with no observer, a no-op one and
   a throttled printer that prints at most once a second, as a fraction of the iteration time. Goal: < 2 %.

Run: ``.venv/bin/python benchmarks/bench_training.py [--steps N] [--threads T]`` (CPU only; on a GPU machine run it
with ``CUDA_VISIBLE_DEVICES=`` (empty): v1's ``run_iteration`` moves the batch to CUDA whenever a GPU is visible, and
the network here stays on the CPU).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from nnunet_explorer.training.deep_supervision import ds_loss_weights, ds_target_shapes
from nnunet_explorer.training.generic_unet import build_network
from nnunet_explorer.training.hooks import IterationEnd
from nnunet_explorer.training.iteration import run_iteration
from nnunet_explorer.network_training.explorer_hooks import ExplorerHooks
from nnunet_explorer.training.loss import MultipleOutputLoss2, trainer_dc_and_ce_loss
from nnunet_explorer.training.nonfinite import NonFiniteGuard
from nnunet_explorer.training.optim import v2_optimizer
from nnunet_explorer.training.strategy import SingleProcess

# the synthetic CT task's 3d_fullres plans as v1 makes them (samples.synthetic "ct": patch 16x40x40, batch 2)
PATCH = (16, 40, 40)
POOLS = [[1, 2, 2], [2, 2, 2], [2, 2, 2]]
CONVS = [[1, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]]
BASE, CLASSES, BATCH = 32, 3, 2

V1_TIMING = textwrap.dedent("""
    import json, sys, time, types, torch
    from torch import nn
    from nnunet.network_architecture.generic_UNet import Generic_UNet
    from nnunet.network_architecture.initialization import InitWeights_He
    from nnunet.training.loss_functions.deep_supervision import MultipleOutputLoss2
    from nnunet.training.loss_functions.dice_loss import DC_and_CE_loss
    from nnunet.training.network_training.nnUNetTrainerV2 import nnUNetTrainerV2
    inp = torch.load(sys.argv[1], weights_only=False)
    torch.set_num_threads(inp['threads'])
    net = Generic_UNet(1, inp['base'], inp['classes'], len(inp['pools']), 2, 2, nn.Conv3d, nn.InstanceNorm3d,
                       {'eps': 1e-5, 'affine': True}, nn.Dropout3d, {'p': 0, 'inplace': True}, nn.LeakyReLU,
                       {'negative_slope': 1e-2, 'inplace': True}, True, False, lambda x: x, InitWeights_He(1e-2),
                       inp['pools'], inp['convs'], False, True, True)
    net.load_state_dict(inp['state'])
    t = types.SimpleNamespace(network=net, fp16=False, amp_grad_scaler=None, online_eval_tp=[], online_eval_fp=[],
                              online_eval_fn=[], online_eval_foreground_dc=[],
                              loss=MultipleOutputLoss2(DC_and_CE_loss({'batch_dice': False, 'smooth': 1e-5,
                                                                       'do_bg': False}, {}), inp['weights']))
    t.optimizer = torch.optim.SGD(net.parameters(), 1e-2, weight_decay=3e-5, momentum=0.99, nesterov=True)
    times, losses = [], []
    for i in range(inp['warmup'] + inp['steps']):
        gen = iter([{'data': inp['data'], 'target': inp['target']}])
        s = time.perf_counter()
        losses.append(float(nnUNetTrainerV2.run_iteration(t, gen, True, False)))
        if i >= inp['warmup']:
            times.append(time.perf_counter() - s)
    print(json.dumps({'times': times, 'losses': losses}))
""")


class NoOp:
    def on_iteration_end(self, event: IterationEnd) -> None:
        pass


class ThrottledPrinter:
    """What a live view does: keep the latest event, redraw (here: print) at most once per second."""

    def __init__(self, every: float = 1.0) -> None:
        self.every, self.last, self.latest = every, 0.0, None

    def on_iteration_end(self, event: IterationEnd) -> None:
        self.latest = event
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            print(f"  [observer] epoch {event.epoch} it {event.iteration} loss {event.loss:.4f}", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    torch.manual_seed(0)
    net = build_network(1, BASE, CLASSES, POOLS, CONVS)
    weights = ds_loss_weights(POOLS)
    rng = np.random.default_rng(0)
    data = rng.normal(size=(BATCH, 1, *PATCH)).astype(np.float32)
    target = [rng.integers(0, CLASSES, size=(BATCH, 1, *s)).astype(np.float32) for s in ds_target_shapes(PATCH, POOLS)]

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        torch.save({"state": net.state_dict(), "base": BASE, "classes": CLASSES, "pools": POOLS, "convs": CONVS,
                    "weights": weights, "data": data, "target": target, "steps": a.steps, "warmup": a.warmup,
                    "threads": a.threads}, tmp / "in.pt")
        env = dict(os.environ)
        for var in ("nnUNet_raw_data_base", "nnUNet_preprocessed", "RESULTS_FOLDER"):
            (tmp / var).mkdir()
            env[var] = str(tmp / var)
        done = subprocess.run([sys.executable, "-c", V1_TIMING, str(tmp / "in.pt")], env=env, capture_output=True,
                              text=True, timeout=3600)
        if done.returncode != 0:
            raise SystemExit(done.stderr[-3000:])
        v1 = json.loads(done.stdout.strip().splitlines()[-1])

    loss = MultipleOutputLoss2(trainer_dc_and_ce_loss(False), weights)
    opt = v2_optimizer(net.parameters())
    times, losses, records = [], [], []
    for i in range(a.warmup + a.steps):
        s = time.perf_counter()
        rec = run_iteration(net, loss, opt, data, target)
        if i >= a.warmup:
            times.append(time.perf_counter() - s)
        losses.append(rec.loss)
        records.append(rec)
    v1_med, ex_med = statistics.median(v1["times"]), statistics.median(times)
    same = max(abs(x - y) for x, y in zip(losses, v1["losses"]))
    print(f"device cpu, {a.threads} torch thread(s), patch {PATCH}, batch {BATCH}, {a.steps} timed steps")
    print(f"v1 nnUNetTrainerV2.run_iteration : median {v1_med:.3f} s/iteration")
    print(f"explorer run_iteration (recorded): median {ex_med:.3f} s/iteration ({100 * (ex_med / v1_med - 1):+.1f} %)")
    print(f"max |loss difference| over {len(losses)} steps: {same:.2e}")

    # the explorer's per-iteration overhead: what the trainer's loop calls after each training iteration
    # (run_iteration hands its record to record_iteration; the loop then calls iteration_end), on a stand-in
    # trainer that has what iteration_end reads
    rec = records[-1]
    trainer = SimpleNamespace(epoch=0, strategy=SingleProcess(), print_to_log_file=lambda *args, **kwargs: None)
    n = 20000
    for label, observers in (("no observer", []), ("no-op observer", [NoOp()]),
                             ("throttled printing observer", [ThrottledPrinter()])):
        hooks = ExplorerHooks().attach(*observers)
        hooks.guard = NonFiniteGuard(fp16=False)  # set by ExplorerHooks.training() when a run starts
        hooks.epoch_start(trainer)
        s = time.perf_counter()
        for i in range(n):
            hooks.record_iteration(rec, 0.0)
            hooks.iteration_end(trainer, "training", i, rec.loss)
        per_call = (time.perf_counter() - s) / n
        assert hooks.iterations == n
        print(f"hooks, {label:<28}: {per_call * 1e6:8.2f} us/iteration = {100 * per_call / ex_med:.5f} % of an "
              f"iteration (goal < 2 %)")


if __name__ == "__main__":
    main()
