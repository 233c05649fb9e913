"""One transform, batchgenerators on the CPU and its device transform on any device, compared and timed.

:func:`compare_transform` is what the parity tests assert and what a GPU check reports: from the same numpy and
Python ``random`` seeds it runs the batchgenerators transform on numpy arrays and ``draw`` + ``apply`` on
``device``, then says how far apart the float32 images are (max |difference|, how many values differ, where the
largest difference is), how many segmentation voxels differ, whether both random streams ended in the same state,
and how long each side took (the device side synchronised, so the time is the device's).
"""
from __future__ import annotations

import random
import time
from typing import Any

import numpy as np
import torch

from .catalog import device_or_fallback


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _as_numpy(value: Any) -> np.ndarray:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def compare_transform(transform: Any, data: np.ndarray, seg: np.ndarray | None, seed: int,
                      device: torch.device | str, *, seg_key: str = "seg") -> dict:
    """Run ``transform`` both ways from ``seed``; a dict of differences and timings (see the module docstring).

    ``seg_key`` is the key the transform reads the segmentation from (``'target'`` after the rename).
    """
    device = torch.device(device)
    device_transform, why = device_or_fallback(transform)
    if device_transform is None:
        return {"transform": type(transform).__name__, "fallback": why}
    np.random.seed(seed)
    random.seed(seed)
    batch = {"data": data.copy()}
    if seg is not None:
        batch[seg_key] = seg.copy()
    start = time.perf_counter()
    cpu = transform(**batch)
    cpu_ms = (time.perf_counter() - start) * 1000
    states = (np.random.get_state()[1].copy(), random.getstate())

    np.random.seed(seed)
    random.seed(seed)
    start = time.perf_counter()
    draws = device_transform.draw(data.shape[0], tuple(data.shape), None if seg is None else tuple(seg.shape))
    draw_ms = (time.perf_counter() - start) * 1000
    streams_equal = np.array_equal(np.random.get_state()[1], states[0]) and random.getstate() == states[1]
    x = torch.from_numpy(data.copy()).to(device)
    s = None if seg is None else torch.from_numpy(seg.copy()).to(device)
    _synchronize(device)
    start = time.perf_counter()
    x, s = device_transform.apply(x, s, draws)
    _synchronize(device)
    device_ms = (time.perf_counter() - start) * 1000

    expected, got = _as_numpy(cpu["data"]), _as_numpy(x)
    diff = np.abs(got.astype(np.float64) - expected.astype(np.float64))
    differing = got.view(np.uint32) != expected.view(np.uint32) if got.dtype == expected.dtype == np.float32 \
        else got != expected
    out_key = seg_key if seg_key in cpu else next((k for k in ("target", "seg") if k in cpu), None)
    mismatched_seg = 0
    if seg is not None and out_key is not None:
        refs = cpu[out_key] if isinstance(cpu[out_key], (list, tuple)) else [cpu[out_key]]
        outs = s if isinstance(s, (list, tuple)) else [s]
        for a, b in zip(outs, refs):
            a, b = _as_numpy(a), _as_numpy(b)
            mismatched_seg += int(a.size) if a.shape != b.shape else int((a != b).sum())
    worst = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.size and diff.max() > 0 else None
    return {
        "transform": type(transform).__name__,
        "fired": bool(draws) if isinstance(draws, list) else None,
        "max_abs_diff_data": float(diff.max()) if diff.size else 0.0,
        "differing_data_values": int(differing.sum()),
        "worst_at": None if worst is None else [int(v) for v in worst],
        "worst_values": None if worst is None else [float(expected[worst]), float(got[worst])],
        "mismatched_seg_voxels": mismatched_seg,
        "streams_equal": bool(streams_equal),
        "cpu_ms": cpu_ms,
        "draw_ms": draw_ms,
        "device_ms": device_ms,
    }


__all__ = ["compare_transform"]
