"""A training iteration reads from the device once (v1: once, its loss); fp16 adds the GradScaler's own read.

Issue 13 counted 36 float() and 32 bool() calls per 4 iterations before this was fixed (17 per iteration).
"""
from __future__ import annotations

import numpy as np
import torch

from nnunet_explorer.training.iteration import make_grad_scaler, run_iteration

from .sync_counter import SyncCounter
from .test_iteration import _batch, _setup


def _count(**kwargs) -> tuple[SyncCounter, object]:
    net, loss, opt = _setup(seed=4)
    data, target = _batch(seed=4)
    run_iteration(net, loss, opt, data, target, **kwargs)  # warm-up outside the count (lazy inits)
    with SyncCounter() as counter:
        record = run_iteration(net, loss, opt, data, target, **kwargs)
    return counter, record


def test_a_training_iteration_reads_once():
    counter, record = _count()
    assert counter.total == 1, dict(counter.calls)
    # and still records everything: loss parts per output, gradient norms, finiteness
    assert record.grad_norm_before_clip > 0 and record.nonfinite is None
    assert [p.computed for p in record.scale_parts] == [True, True, False]  # the coarsest head has weight 0
    assert all(np.isfinite(p.ce) and np.isfinite(p.dice) for p in record.scale_parts if p.computed)


def test_a_validation_iteration_with_online_evaluation_reads_once():
    counter, record = _count(do_backprop=False, run_online_evaluation=True)
    assert counter.total == 1, dict(counter.calls)
    assert record.online_evaluation is not None and len(record.online_evaluation.tp) == 2


def test_mixed_precision_adds_only_the_grad_scalers_read():
    net, loss, opt = _setup(seed=4)
    data, target = _batch(seed=4)
    scaler = make_grad_scaler(True, "cpu", cpu_amp=True)
    run_iteration(net, loss, opt, data, target, fp16=True, grad_scaler=scaler)
    with SyncCounter() as counter:
        record = run_iteration(net, loss, opt, data, target, fp16=True, grad_scaler=scaler)
    assert record.fp16_used
    assert counter.total <= 2, dict(counter.calls)


def test_the_counter_sees_what_the_old_iteration_did():
    """The budget test is only as good as its counter: float(), bool() and item() on tensors are all seen."""
    t = torch.ones(3)
    with SyncCounter() as counter:
        float(t.sum()), bool(t.all()), t.sum().item(), t.nonzero()
    assert counter.total == 4, dict(counter.calls)
