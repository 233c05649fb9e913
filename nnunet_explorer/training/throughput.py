"""Is training waiting for data? Timing the loader, each transform, the augmenter and the iteration.

A common nnU-Net complaint is "the GPU sits at 30 %". The cause is almost always that the CPU cannot load and
augment 250 batches per epoch as fast as the GPU trains on them. This module measures each link of the
chain separately so the bottleneck has a name:

* :func:`loader_rate` — batches/s of the DataLoader alone (reading and cropping patches);
* :func:`transform_shares` — seconds per batch of every transform and its share of the augmentation time;
* :func:`augmenter_rates` — batches/s of loader + transforms with 1 … N worker processes;
* :func:`iteration_timing` — per training iteration, the time spent *waiting* for the next batch versus the
  time spent computing (forward, loss, backward, optimizer step). ``dummy_load=True`` reuses one batch, as
  v1's ``nnUNetTrainerV2_5epochs_dummyLoad`` does (file ``benchmarking/nnUNetTrainerV2_dummyLoad.py``), which
  measures the pure compute speed;
* :func:`profile_throughput` — all of it, with a plain-language verdict.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ..language import tr
from ..provenance import mirrors
from .augmenter import MultiProcessAugmenter, SingleThreadedAugmenter, usable_cpu_count


@dataclass(frozen=True)
class TransformTiming:
    """Seconds per batch one transform took, and its share of the whole transform time (shares sum to 1)."""

    index: int
    name: str
    seconds_per_batch: float
    share: float


@dataclass(frozen=True)
class IterationTiming:
    """Per-iteration averages of a measured training loop.

    Attributes:
        iterations: how many iterations were timed (after warm-up).
        data_wait_s: mean seconds ``next(batches)`` blocked.
        compute_s: mean seconds of forward + loss + backward + step (device synchronised).
        dummy_load: True if one batch was reused (pure compute, v1's dummyLoad trainer).
        device: where the network ran.
    """

    iterations: int
    data_wait_s: float
    compute_s: float
    dummy_load: bool
    device: str

    @property
    def wait_fraction(self) -> float:
        """Share of the iteration spent waiting for data (0 … 1)."""
        total = self.data_wait_s + self.compute_s
        return self.data_wait_s / total if total > 0 else 0.0

    @property
    def iterations_per_s(self) -> float:
        total = self.data_wait_s + self.compute_s
        return 1.0 / total if total > 0 else math.inf


@dataclass(frozen=True)
class ThroughputReport:
    """Everything :func:`profile_throughput` measured, and what it means."""

    loader_batches_per_s: float
    transforms: tuple[TransformTiming, ...]
    chain_batches_per_s: float
    workers: tuple[tuple[int, float], ...]
    iteration: IterationTiming | None
    compute_only: IterationTiming | None
    verdict: str
    notes: tuple[str, ...] = field(default=())

    def table(self) -> list[dict[str, Any]]:
        rows = [{"what": "data loader alone", "batches_per_s": self.loader_batches_per_s},
                {"what": "loader + transforms, 1 process", "batches_per_s": self.chain_batches_per_s}]
        rows += [{"what": f"augmenter, {n} worker(s)", "batches_per_s": r} for n, r in self.workers]
        return rows

    def summary(self) -> str:
        return str(self)

    def __str__(self) -> str:
        loader, chain = self.loader_batches_per_s, self.chain_batches_per_s
        lines = [tr(f"data loader alone: {loader:.2f} batches/s", f"只有数据加载器：{loader:.2f} batch/秒"),
                 tr(f"loader + transforms (1 process): {chain:.2f} batches/s",
                    f"加载器 + 变换（1 个进程）：{chain:.2f} batch/秒")]
        lines += [tr(f"augmenter with {n} worker(s): {r:.2f} batches/s", f"{n} 个工作进程的增强器：{r:.2f} batch/秒")
                  for n, r in self.workers]
        lines += [tr("transform shares: ", "各变换的时间占比：")
                  + ", ".join(f"{t.name} {100 * t.share:.0f}%" for t in self.transforms if t.share >= 0.01)]
        lines.append(self.verdict)
        return "\n".join(lines)


def _rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else math.inf


def loader_rate(loader: Any, n_batches: int = 10, warmup: int = 1) -> float:
    """Batches/s of ``next(loader)`` alone (no augmentation)."""
    for _ in range(warmup):
        next(loader)
    start = time.perf_counter()
    for _ in range(n_batches):
        next(loader)
    return _rate(n_batches, time.perf_counter() - start)


def transform_shares(loader: Any, transforms: Sequence[Any], n_batches: int = 10,
                     batches: Sequence[dict] | None = None) -> tuple[tuple[TransformTiming, ...], float]:
    """Time every transform over ``n_batches`` loader batches.

    Returns:
        (timings, seconds per batch of loading + all transforms in one process).
    """
    totals = np.zeros(len(transforms))
    load_time = 0.0
    for _ in range(n_batches):
        t0 = time.perf_counter()
        batch = next(loader)
        load_time += time.perf_counter() - t0
        for i, transform in enumerate(transforms):
            t0 = time.perf_counter()
            batch = transform(**batch)
            totals[i] += time.perf_counter() - t0
    all_transforms = float(totals.sum())
    timings = tuple(TransformTiming(i, type(t).__name__ + (" (inverted)" if getattr(t, "invert_image", False) else ""),
                                    float(totals[i] / n_batches),
                                    float(totals[i] / all_transforms) if all_transforms > 0 else 1.0 / len(transforms))
                    for i, t in enumerate(transforms))
    return timings, (load_time + all_transforms) / n_batches


def augmenter_rates(loader: Any, transform: Callable, workers: Iterable[int] = (1, 2), n_batches: int = 10,
                    warmup: int = 2, num_cached_per_thread: int = 2) -> tuple[tuple[int, float], ...]:
    """Batches/s of a :class:`MultiProcessAugmenter` for each worker count (started, warmed up, shut down)."""
    rates = []
    for n in workers:
        with MultiProcessAugmenter(loader, transform, n, num_cached_per_thread) as augmenter:
            for _ in range(warmup):
                next(augmenter)
            start = time.perf_counter()
            for _ in range(n_batches):
                next(augmenter)
            rates.append((int(n), _rate(n_batches, time.perf_counter() - start)))
    return tuple(rates)


@mirrors("nnunet.training.network_training.nnUNet_variants.benchmarking.nnUNetTrainerV2_dummyLoad:"
         "nnUNetTrainerV2_5epochs_dummyLoad.run_iteration")
def iteration_timing(batches: Any, network: Any, loss: Callable, *, optimizer: Any = None, n_iterations: int = 5,
                     warmup: int = 1, dummy_load: bool = False, device: str | None = None,
                     fp16: bool | None = None) -> IterationTiming:
    """Time ``n_iterations`` training iterations: waiting for ``next(batches)`` vs computing.

    Args:
        batches: an iterator of batch dicts with ``data`` and ``target`` (an augmenter).
        network: any ``torch.nn.Module``; put in train mode.
        loss: ``loss(network(data), target) -> scalar tensor``.
        optimizer: stepped if given, after clipping the gradient norm to 12 (otherwise only backward runs).
        dummy_load: put one batch on the device once and reuse it every iteration (v1's
            ``nnUNetTrainerV2_5epochs_dummyLoad``): the data wait is then ~0 and ``compute_s`` is the network's own
            speed. # differs from v1: v1 reuses random tensors of the batch's shape; we reuse a real batch (the
            values do not change the speed, and the loss stays meaningful).
        device: ``'cuda'`` / ``'cpu'``; default: where the network's parameters live.
        fp16: mixed precision (autocast + GradScaler), as ``nnUNet_train`` trains by default; default: on CUDA
            yes, on the CPU no (v1's autocast disables itself there). An fp32 timing on a GPU would make the
            network look slower than in training and the data wait look smaller than it is.
    """
    import torch

    from .device_augmentation.base import to_device

    if device is None:
        try:
            device = str(next(network.parameters()).device)
        except StopIteration:
            device = "cpu"
    on_cuda = device.startswith("cuda")
    sync = (lambda: torch.cuda.synchronize()) if on_cuda else (lambda: None)
    use_amp = on_cuda if fp16 is None else (bool(fp16) and on_cuda)
    scaler = torch.amp.GradScaler("cuda") if use_amp and optimizer is not None else None
    network.train()
    fixed = None
    if dummy_load:
        first = next(batches)
        fixed = (to_device(first["data"], device), to_device(first["target"], device))
    waits, computes = [], []
    for it in range(warmup + n_iterations):
        t0 = time.perf_counter()
        if fixed is not None:
            data, target = fixed
        else:
            batch = next(batches)
            data = to_device(batch["data"], device)
            target = to_device(batch["target"], device)
        sync()
        t1 = time.perf_counter()
        if optimizer is not None:
            optimizer.zero_grad()
        with torch.autocast("cuda", enabled=use_amp):
            value = loss(network(data), target)
        if scaler is not None:
            scaler.scale(value).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(network.parameters(), 12)  # as nnUNetTrainerV2.run_iteration
            scaler.step(optimizer)
            scaler.update()
        else:
            value.backward()
            if optimizer is not None:
                torch.nn.utils.clip_grad_norm_(network.parameters(), 12)
                optimizer.step()
        sync()
        t2 = time.perf_counter()
        if it >= warmup:
            waits.append(t1 - t0)
            computes.append(t2 - t1)
    return IterationTiming(n_iterations, float(np.mean(waits)), float(np.mean(computes)), dummy_load, device)


def recommend_workers(compute_s: float, per_worker_batches_per_s: float, max_workers: int | None = None) -> int:
    """Workers needed so the augmenter delivers one batch per ``compute_s``: ``ceil(1 / (compute_s · rate))``."""
    if per_worker_batches_per_s <= 0 or compute_s <= 0:
        return 1
    needed = math.ceil(1.0 / (compute_s * per_worker_batches_per_s))
    cap = max_workers or max(1, usable_cpu_count() - 1)
    return int(min(max(1, needed), max(cap, 1)))


def verdict_text(iteration: IterationTiming | None, compute_only: IterationTiming | None,
                 per_worker_batches_per_s: float, workers_used: int | None = None) -> str:
    """The plain-language conclusion: how much the network waits for data, and how many workers to use."""
    on_gpu = iteration is not None and iteration.device.startswith("cuda")
    where = tr("the GPU", "GPU ") if on_gpu else tr("the network", "网络")  # "GPU 有", "网络有"
    rate = per_worker_batches_per_s
    if iteration is None:
        return tr(f"one augmentation worker delivers {rate:.2f} batches/s; give a network to see whether that keeps "
                  "it busy",
                  f"一个数据增强工作进程每秒产出 {rate:.2f} 个 batch；给出一个网络，才能看出这是否够它忙")
    compute = compute_only.compute_s if compute_only is not None else iteration.compute_s
    workers = recommend_workers(compute, per_worker_batches_per_s)
    pct = 100 * iteration.wait_fraction
    used = tr(f" with {workers_used} worker(s)", f"（{workers_used} 个工作进程时）") if workers_used else ""
    if iteration.wait_fraction < 0.1:
        return tr(f"{where} waits {pct:.0f} % of the time for data{used}: data loading keeps up (about {workers} "
                  "worker(s) would be enough)",
                  f"{where}有 {pct:.0f} % 的时间在等数据{used}：数据加载跟得上（大约 {workers} 个工作进程就够了）")
    cpus = usable_cpu_count()
    extra = "" if workers < cpus else tr(
        f" (this machine has {cpus} cores: more workers will not help; a faster disk/CPU or a smaller patch will)",
        f"（这台机器有 {cpus} 个核：更多工作进程没有用；更快的磁盘/CPU 或更小的 patch 才有用）")
    return tr(f"{where} waits {pct:.0f} % of the time for data{used}; use {workers} worker(s){extra}",
              f"{where}有 {pct:.0f} % 的时间在等数据{used}；用 {workers} 个工作进程{extra}")


def profile_throughput(loader: Any, transforms: Sequence[Any], *, workers: Iterable[int] = (1,),
                       n_batches: int = 6, network: Any = None, loss: Callable | None = None, optimizer: Any = None,
                       n_iterations: int = 4, iteration_workers: int | None = None) -> ThroughputReport:
    """Measure the loader, each transform, the augmenter with each worker count and (optionally) training.

    Args:
        loader: a DataLoader3D/2D (each call draws new batches from ``np.random``).
        transforms: the list from ``build_train_transforms``.
        workers: worker counts to try.
        network, loss, optimizer: when given, :func:`iteration_timing` runs twice: with the augmenter
            (``iteration_workers`` processes, default the largest of ``workers``) and with a dummy load.
    """
    from batchgenerators.transforms.abstract_transforms import Compose

    workers = tuple(workers)
    lrate = loader_rate(loader, n_batches)
    timings, per_batch = transform_shares(loader, transforms, n_batches)
    chain = 1.0 / per_batch if per_batch > 0 else math.inf
    compose = Compose(list(transforms))
    rates = augmenter_rates(loader, compose, workers, n_batches) if workers else ()
    iteration = compute_only = None
    used = None
    if network is not None and loss is not None:
        used = iteration_workers or (max(workers) if workers else 1)
        with MultiProcessAugmenter(loader, compose, used, 2) as augmenter:
            iteration = iteration_timing(augmenter, network, loss, optimizer=optimizer, n_iterations=n_iterations)
        compute_only = iteration_timing(SingleThreadedAugmenter(loader, compose), network, loss,
                                        optimizer=optimizer, n_iterations=n_iterations, dummy_load=True)
    per_worker = rates[0][1] / rates[0][0] if rates else chain
    notes = ("worker processes are forked copies of the loader; each draws its own batches",)
    return ThroughputReport(lrate, timings, chain, rates, iteration, compute_only,
                            verdict_text(iteration, compute_only, per_worker, used), notes)
