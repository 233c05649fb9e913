"""Benchmark: moreDA's SpatialTransform (and the whole transform chain) — batchgenerators vs the device path.

For the blog's plans (patch 80x160x160, batch 3; the loader patch ``setup_DA_params`` derives for V2, 3D
rotations of +-30 degrees) this prints milliseconds per batch of

* batchgenerators' ``SpatialTransform`` (v1's object, one CPU thread, as one augmentation worker runs it);
* the device version: ``draw`` on the CPU, ``apply`` on the CPU device (one thread, and all threads) and, where
  CUDA is available, on the GPU (timed with ``torch.cuda.synchronize``);
* the whole moreDA list: ``Compose`` vs :class:`~nnunet_explorer.training.device_augmentation.chain.DeviceChain`
  with what is registered (the rest as named CPU fallbacks),

each for "every sample resampled" (rotation and scaling forced, the expensive path) and for moreDA's own
probabilities, and checks that the outputs are equal. Not a test: numbers depend on the machine and its load.

    .venv/bin/python benchmarks/bench_device_augmentation.py --quick     # < 2 min on a CPU
    .venv/bin/python benchmarks/bench_device_augmentation.py --device cuda --batches 10
    .venv/bin/python benchmarks/bench_device_augmentation.py --ops        # operations per batch, per transform

``--ops`` counts the torch operations ``apply_all`` dispatches for one batch, transform by transform, as a GPU run
dispatches them (interpolation in one piece, not in the CPU's cache-sized chunks): on a GPU each one costs the
launching thread microseconds whatever its size, which is why the device augmenter applies in its feeder
thread, ahead of the training thread (``training/device_augmenter.py``).
"""
from __future__ import annotations

import argparse
import copy
import random
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from batchgenerators.transforms.abstract_transforms import Compose  # noqa: E402
from batchgenerators.transforms.spatial_transforms import SpatialTransform  # noqa: E402

from nnunet_explorer.training.augmentation import build_train_transforms  # noqa: E402
from nnunet_explorer.training.data_augmentation_params import setup_DA_params  # noqa: E402
from nnunet_explorer.training.device_augmentation.chain import DeviceChain  # noqa: E402
from nnunet_explorer.training.device_augmentation.spatial import DeviceSpatialTransform  # noqa: E402

BLOG_PATCH = (80, 160, 160)
BLOG_POOL = [[1, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 2], [1, 2, 2]]


def _batch(rng: np.random.Generator, batch_size: int, shape) -> dict:
    """A loader-like batch: a smooth image and label blobs (-1 outside a nonzero region)."""
    grids = np.meshgrid(*[np.linspace(-1, 1, n, dtype=np.float32) for n in shape], indexing="ij")
    radius = np.sqrt(sum(g * g for g in grids))
    seg = np.where(radius < 0.35, 1.0, 0.0).astype(np.float32)
    seg[radius < 0.15] = 2.0
    seg[radius > 0.95] = -1.0
    data = (seg * 2.0 + rng.standard_normal(shape).astype(np.float32)).astype(np.float32)
    return {"data": np.stack([data[None]] * batch_size), "seg": np.stack([seg[None]] * batch_size),
            "keys": [f"case_{b}" for b in range(batch_size)], "properties": [{}] * batch_size}


def _seed(seed: int) -> None:
    np.random.seed(seed)
    random.seed(seed)


def _time(fn, repeats: int, *, seed: int, sync=None) -> float:
    """Median milliseconds of ``fn()``, the random streams reseeded before each call (same draws every time)."""
    times = []
    for _ in range(repeats):
        _seed(seed)
        if sync:
            sync()
        start = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times))


@contextmanager
def _threads(n: int):
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _sync(device: torch.device):
    return torch.cuda.synchronize if device.type == "cuda" else None


def _spatial_rows(spatial, batch, devices, repeats, seed):
    """batchgenerators vs draw + apply, with the parity of the outputs on each device."""
    device = DeviceSpatialTransform(spatial)
    shape, seg_shape = batch["data"].shape, batch["seg"].shape
    with _threads(1):
        rows = [("batchgenerators SpatialTransform (1 CPU thread)",
                 _time(lambda: spatial(data=batch["data"].copy(), seg=batch["seg"].copy()), repeats, seed=seed)),
                ("device: draw (CPU, the worker's part)",
                 _time(lambda: device.draw(shape[0], shape, seg_shape), repeats, seed=seed))]
    _seed(seed)
    expected = spatial(data=batch["data"].copy(), seg=batch["seg"].copy())
    _seed(seed)
    draws = device.draw(shape[0], shape, seg_shape)
    fired = sum(s.resampled for s in draws.samples)
    for name, dev in devices:
        data = torch.from_numpy(batch["data"]).to(dev)
        seg = torch.from_numpy(batch["seg"]).to(dev)
        with _threads(1 if dev.type == "cpu" else torch.get_num_threads()):
            out = device.apply(data, seg, draws)  # warm-up, and the parity check
            diff = float(np.abs(out[0].cpu().numpy() - expected["data"]).max())
            seg_diff = int((out[1].cpu().numpy() != expected["seg"]).sum())
            ms = _time(lambda: device.apply(data, seg, draws), repeats, seed=seed, sync=_sync(dev))
        rows.append((f"device: apply on {name}", ms, f"max |diff| {diff:g}, seg mismatches {seg_diff}"))
    return rows, fired


def _chain_rows(transforms, batch, devices, repeats, seed):
    chain = DeviceChain(transforms)
    with _threads(1):
        rows = [("batchgenerators Compose (1 CPU thread)",
                 _time(lambda: Compose(transforms)(**copy.deepcopy(batch)), repeats, seed=seed)),
                ("chain: draw_all (CPU, incl. dry runs of the CPU fallbacks)",
                 _time(lambda: chain.draw_all(copy.deepcopy(batch)), repeats, seed=seed))]
    work = copy.deepcopy(batch)
    _seed(seed)
    draws = chain.draw_all(work)
    for name, dev in devices:
        with _threads(1 if dev.type == "cpu" else torch.get_num_threads()):
            rows.append((f"chain: apply_all on {name}",
                         _time(lambda: chain.apply_all(work["data"], work["seg"], draws, dev), repeats, seed=seed,
                               sync=_sync(dev))))
    return rows, chain


def _op_rows(transforms, batch, seeds, kernels: bool = False) -> list[tuple[str, list[int]]]:
    """Operations dispatched per transform (and in total) for each seed's batch, counted with a dispatch mode.

    ``kernels``: as a CUDA run with Triton dispatches them: the spline prefilters' recursions, the interpolation,
    scikit-image's resize, the float32 power and sums as Triton kernels (``triton_gate``), each launch counted as
    one operation. The launches are counted, not run (a CPU has no compiled kernels and the interpreter is far too
    slow at this size), so the values are wrong; the counts depend only on the draws and the shapes."""
    from collections import Counter

    from torch.utils._python_dispatch import TorchDispatchMode

    import nnunet_explorer.training.device_augmentation.spatial as spatial_module
    from nnunet_explorer.training.device_augmentation import triton_gate

    class Count(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.n = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.n += 1
            return func(*args, **(kwargs or {}))

    chain = DeviceChain(transforms)
    counts: dict[str, list[int]] = {}
    chunk = spatial_module._chunk
    spatial_module._chunk = lambda *args: None  # one piece, as on a GPU (the CPU works in cache-sized chunks)
    active: list = []
    usable, launch = triton_gate.usable, triton_gate.launch
    if kernels:
        triton_gate.usable = lambda t, family: True

        def counted_launch(*args, **kwargs) -> None:
            active[-1].n += 1

        triton_gate.launch = counted_launch
    try:
        for seed in seeds:
            work = copy.deepcopy(batch)
            _seed(seed)
            draws = chain.draw_all(work)
            data, seg = torch.from_numpy(work["data"]), torch.from_numpy(work[draws.label_key])
            per = Counter()
            for step, d in chain.steps_with_draws(draws):
                if step.where != "device":
                    continue
                with Count() as counter:
                    active.append(counter)
                    data, seg = step.device.apply(data, seg, d)
                    active.pop()
                per[f"{step.index:2d} {step.name}"] += counter.n
            for name in per:
                counts.setdefault(name, []).append(per[name])
            counts.setdefault("all", []).append(sum(per.values()))
    finally:
        spatial_module._chunk = chunk
        triton_gate.usable, triton_gate.launch = usable, launch
    return sorted(counts.items(), key=lambda kv: (kv[0] == "all", kv[0]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller patch (40x80x80, batch 2), 2 repeats")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                        help="auto: the CPU, and CUDA where available")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-chain", action="store_true", help="skip the whole-list comparison")
    parser.add_argument("--ops", action="store_true",
                        help="only count the operations apply_all dispatches per batch (seeds 0-9), per transform")
    args = parser.parse_args(argv)
    patch, batch_size = ((40, 80, 80), 2) if args.quick else (BLOG_PATCH, 3)
    repeats = args.repeats or (2 if args.quick else 3)
    pool = BLOG_POOL[:3] if args.quick else BLOG_POOL
    setup = setup_DA_params(patch, do_dummy_2D_aug=False, use_mask_for_norm={0: False}, pool_op_kernel_sizes=pool)
    transforms = build_train_transforms(setup.patch_size, setup.data_aug_params, setup.deep_supervision_scales)
    spatial = next(t for t in transforms if isinstance(t, SpatialTransform))
    batch = _batch(np.random.default_rng(0), batch_size, setup.basic_generator_patch_size)
    devices = []
    if args.device in ("auto", "cpu"):
        devices.append(("CPU (1 thread)", torch.device("cpu")))
    if args.device in ("auto", "cuda"):
        if torch.cuda.is_available():
            devices.append((f"CUDA ({torch.cuda.get_device_name()})", torch.device("cuda")))
        elif args.device == "cuda":
            parser.error("CUDA is not available")
    print(f"patch {patch}, batch {batch_size}, loader patch {tuple(setup.basic_generator_patch_size)}; "
          f"torch {torch.__version__}")
    if args.ops:
        for kernels, how in ((False, "eager torch everywhere (a CUDA run without Triton)"),
                             (True, "the Triton kernels (prefilters, interpolation, resize, power, sums: a CUDA run "
                                      "with Triton)")):
            print(f"\noperations apply_all dispatches per batch (seeds 0-9; min / median / max), {how}:")
            for name, values in _op_rows(transforms, batch, range(10), kernels):
                print(f"  {name:<40s} {min(values):7d} {int(np.median(values)):7d} {max(values):7d}")
        return 0
    for label, p in (("rotation and scaling forced (every sample resampled)", 1.0),
                     ("moreDA's probabilities", None)):
        trial = copy.deepcopy(spatial)
        if p is not None:
            trial.p_rot_per_sample = trial.p_scale_per_sample = p
        rows, fired = _spatial_rows(trial, batch, devices, repeats, args.seed)
        print(f"\nSpatialTransform, {label}, seed {args.seed}: {fired} of {batch_size} samples resampled; "
              "ms per batch")
        for row in rows:
            print("  " + "  ".join([f"{row[0]:<58s}", f"{row[1]:9.1f}"] + list(row[2:])))
    if not args.no_chain:
        rows, chain = _chain_rows(transforms, batch, devices, repeats, args.seed)
        print(f"\nthe whole moreDA list, moreDA's probabilities, seed {args.seed}: ms per batch")
        for row in rows:
            print(f"  {row[0]:<58s} {row[1]:9.1f}")
        print("  on the device: " + ", ".join(s.name for s in chain.steps if s.where == "device"))
        print("  on the CPU:    " + ", ".join(name for name, _ in chain.fallbacks))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
