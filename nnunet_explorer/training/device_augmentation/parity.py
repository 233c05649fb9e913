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


def data_difference(got: Any, expected: Any) -> tuple[float, int]:
    """``(max |difference|, how many values differ)`` of two images (tensors or arrays); float32 values are
    compared by their bits. Images of different shapes: ``(inf, the larger size)``."""
    g, e = _as_numpy(got), _as_numpy(expected)
    if g.shape != e.shape:
        return float("inf"), int(max(g.size, e.size))
    differing = int((g.view(np.uint32) != e.view(np.uint32)).sum()) if g.dtype == e.dtype == np.float32 \
        else int((g != e).sum())
    return (float(np.abs(g.astype(np.float64) - e.astype(np.float64)).max()) if g.size else 0.0), differing


def seg_mismatches(got: Any, expected: Any) -> int:
    """Voxels that differ, over every deep-supervision target (lists compared element by element); a target of
    another shape counts whole, and so do the expected targets when the counts of targets differ."""
    gs = got if isinstance(got, (list, tuple)) else [got]
    es = expected if isinstance(expected, (list, tuple)) else [expected]
    if len(gs) != len(es):
        return sum(int(_as_numpy(e).size) for e in es)
    total = 0
    for g, e in zip(gs, es):
        g, e = _as_numpy(g), _as_numpy(e)
        total += int(e.size) if g.shape != e.shape else int((g != e).sum())
    return total


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
    max_abs_diff, differing = data_difference(got, expected)
    out_key = seg_key if seg_key in cpu else next((k for k in ("target", "seg") if k in cpu), None)
    mismatched_seg = seg_mismatches(s, cpu[out_key]) if seg is not None and out_key is not None else 0
    worst = None
    if 0 < max_abs_diff < float("inf"):
        diff = np.abs(got.astype(np.float64) - expected.astype(np.float64))
        worst = np.unravel_index(int(np.argmax(diff)), diff.shape)
    return {
        "transform": type(transform).__name__,
        "fired": bool(draws) if isinstance(draws, list) else None,
        "max_abs_diff_data": max_abs_diff,
        "differing_data_values": differing,
        "worst_at": None if worst is None else [int(v) for v in worst],
        "worst_values": None if worst is None else [float(expected[worst]), float(got[worst])],
        "mismatched_seg_voxels": mismatched_seg,
        "streams_equal": bool(streams_equal),
        "cpu_ms": cpu_ms,
        "draw_ms": draw_ms,
        "device_ms": device_ms,
    }


__all__ = ["compare_transform", "data_difference", "seg_mismatches"]
