"""fp16 as v1's GradScaler: a skipped step is routine, counted and logged; the guard stops only when it must."""
from __future__ import annotations

import socket
from types import SimpleNamespace

import pytest
import torch
import torch.multiprocessing as mp

from nnunet_explorer.training.iteration import make_grad_scaler, run_iteration
from nnunet_explorer.training.nonfinite import (DEFAULT_FP16_PATIENCE, NonFiniteError, NonFiniteGuard,
                                                agree_to_stop)

from .test_iteration import _batch, _setup


def test_mixed_precision_runs_on_the_cpu_when_asked():
    net, loss, opt = _setup(seed=2)
    data, target = _batch(seed=2)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    scaler = make_grad_scaler(True, "cpu", cpu_amp=True)
    # the scaler may skip its first steps while it finds its scale (2**16 at the start): that is routine
    records = [run_iteration(net, loss, opt, data, target, fp16=True, grad_scaler=scaler) for _ in range(4)]
    assert all(r.fp16_used for r in records)
    taken = [r for r in records if not r.step_skipped]
    assert taken and all(r.nonfinite is None for r in taken)
    assert all(r.nonfinite is not None for r in records if r.step_skipped)  # a skip always has a reason
    assert any(not torch.equal(before[k], v) for k, v in net.state_dict().items())  # a step was taken
    # without a scaler, fp16 on a CPU is float32 (v1: autocast and GradScaler disable themselves there)
    assert not run_iteration(net, loss, opt, data, target, fp16=True).fp16_used
    assert make_grad_scaler(True, "cpu") is None


def test_an_overflowing_scale_skips_the_step_and_says_where():
    net, loss, opt = _setup(seed=2)
    data, target = _batch(seed=2)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 127)  # scaled gradients overflow to Inf
    before = {k: v.clone() for k, v in net.state_dict().items()}
    record = run_iteration(net, loss, opt, data, target, fp16=True, grad_scaler=scaler)
    assert record.step_skipped and record.nonfinite.startswith("gradient: ")
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # no step
    assert scaler.get_scale() == 2.0 ** 126  # halved, as the scaler does after a skip


def _record(nonfinite=None, skipped=False):
    return SimpleNamespace(nonfinite=nonfinite, step_skipped=skipped, loss=float("nan"), learning_rate=0.01)


def test_the_guard_under_fp16_counts_skips_and_stops_only_when_they_persist():
    guard = NonFiniteGuard(fp16=True, patience=3)
    guard.check(_record("gradient: conv.weight", skipped=True), "training", 0, 0)
    guard.check(_record(), "training", 0, 1)  # finite again: the count of consecutive ones restarts
    guard.check(_record("output[1]", skipped=True), "training", 0, 2)
    guard.check(_record("loss", skipped=True), "training", 0, 3)
    assert guard.skipped_steps == 3 and guard.consecutive == 2
    with pytest.raises(NonFiniteError, match="3 iterations in a row") as info:
        guard.check(_record("loss", skipped=True), "training", 0, 4)
    assert info.value.report.where == "loss"
    assert DEFAULT_FP16_PATIENCE >= 16  # a 2**16 start scale needs 16 halvings to reach 1


def test_the_guard_stops_at_once_in_fp32_and_on_bad_data():
    with pytest.raises(NonFiniteError, match="output\\[0\\]"):
        NonFiniteGuard(fp16=False).check(_record("output[0]"), "training", 2, 5)
    with pytest.raises(NonFiniteError, match="check_dataset"):
        NonFiniteGuard(fp16=True).check(_record("input"), "training", 0, 0)
    NonFiniteGuard(fp16=False, enabled=False).check(_record("loss"), "training", 0, 0)  # v1: trains on


def _agree(rank: int, port: int, out) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        out.put((rank, agree_to_stop(rank == 0, "cpu"), agree_to_stop(False, "cpu")))
    finally:
        dist.destroy_process_group()


def test_under_ddp_every_rank_stops_when_one_must():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_agree, args=(r, port, out)) for r in range(2)]
    for p in procs:
        p.start()
    try:
        results = sorted(out.get(timeout=120) for _ in procs)
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    assert results == [(0, True, False), (1, True, False)]
    assert agree_to_stop(True) is True and agree_to_stop(False) is False  # no process group: no communication
