"""Helpers for the device-transform parity tests: real intensities, and one transform run both ways.

``real_batch`` cuts patches from the Colin27 T1 sample (``data_samples/``), z-scored as v1 normalises MRI, so
means, ranges and standard deviations are those of a real image (contrast and gamma depend on them); a second
channel is a different monotone map of the same image, and the segmentation is the sample's labels with a band
of -1 ("outside the case") as v1's loader pads.

``assert_same`` runs a batchgenerators transform on numpy arrays and its device transform (``draw`` then
``apply`` on the CPU device), both from the same numpy and Python ``random`` seeds, and requires equal bits, equal
segmentations and both random streams left in the same state. Where a host check failed on this machine and the
transform declines the device (the reason must name the check), it checks the CPU fallback through the chain.
"""
from __future__ import annotations

import random
from functools import lru_cache

import numpy as np
import torch

from .conftest import chain_problems, device_or_named_fallback

SHAPE_3D = (2, 1, 16, 40, 40)
SHAPE_2D = (6, 1, 40, 40)
SEEDS = range(20)


@lru_cache(maxsize=1)
def _colin() -> tuple[np.ndarray, np.ndarray]:
    import SimpleITK as sitk

    from nnunet_explorer.samples.real import IMAGE_FILE, LABEL_FILE, default_sample_dir

    folder = default_sample_dir()
    image = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / IMAGE_FILE))).astype(np.float32)
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / LABEL_FILE))).astype(np.float32)
    image = (image - image.mean()) / image.std()
    return image.astype(np.float32), labels


def real_batch(shape: tuple[int, ...], seed: int, channels: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(data, seg)`` float32 with ``shape`` (3D ``(b, c, z, y, x)`` or 2D ``(b, c, y, x)``) from the real sample."""
    image, labels = _colin()
    rng = np.random.default_rng(seed)
    b, c = shape[0], channels or shape[1]
    spatial = shape[2:]
    data = np.zeros((b, c, *spatial), dtype=np.float32)
    seg = np.zeros((b, 1, *spatial), dtype=np.float32)
    for i in range(b):
        if len(spatial) == 3:
            corner = [rng.integers(0, image.shape[a] - spatial[a] + 1) for a in range(3)]
            window = tuple(slice(corner[a], corner[a] + spatial[a]) for a in range(3))
        else:
            z = rng.integers(0, image.shape[0])
            corner = [rng.integers(0, image.shape[a + 1] - spatial[a] + 1) for a in range(2)]
            window = (z,) + tuple(slice(corner[a], corner[a] + spatial[a]) for a in range(2))
        patch = image[window]
        for ch in range(c):
            data[i, ch] = patch if ch == 0 else np.sign(patch) * np.abs(patch) ** (1 + 0.3 * ch)
        seg[i, 0] = labels[window]
        seg[i, 0, ..., :2] = -1  # a band outside the case, as the loader pads
    return data, seg


def run_both(transform, data: np.ndarray, seg: np.ndarray | None, seed: int, *, seg_key: str = "seg",
             out_key: str = "seg"):
    """``(cpu_dict, device_data, device_seg, streams_equal)`` for one transform and one seed."""
    device = device_or_named_fallback(transform)
    assert device is not None, f"{type(transform).__name__} runs on the CPU on this machine"
    np.random.seed(seed)
    random.seed(seed)
    batch = {"data": data.copy()}
    if seg is not None:
        batch[seg_key] = seg.copy()
    cpu = transform(**batch)
    numpy_state, python_state = np.random.get_state()[1].copy(), random.getstate()
    np.random.seed(seed)
    random.seed(seed)
    draws = device.draw(data.shape[0], tuple(data.shape), None if seg is None else tuple(seg.shape))
    streams_equal = np.array_equal(np.random.get_state()[1], numpy_state) and random.getstate() == python_state
    seg_tensor = None if seg is None else torch.from_numpy(seg.copy())
    out_data, out_seg = device.apply(torch.from_numpy(data.copy()), seg_tensor, draws)
    return cpu, out_data, out_seg, streams_equal, draws


def _as_numpy(value):
    return value.numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def assert_same(transform, data: np.ndarray, seg: np.ndarray | None, seed: int, *, seg_key: str = "seg",
                out_key: str = "seg"):
    """Device and batchgenerators agree bit for bit (data), voxel for voxel (seg), and in the random streams.

    Returns the device transform's draws; None where a failed host check keeps the transform on the CPU (then the
    chain's CPU fallback is what is checked against batchgenerators).
    """
    if device_or_named_fallback(transform) is None:
        batch = {"data": data.copy()}
        if seg is not None:
            batch[seg_key] = seg.copy()
        problems, chain, _ = chain_problems([transform], batch, seed, label_key=seg_key)
        assert not problems, f"seed {seed}, through the CPU fallback: {problems}"
        assert [s.where for s in chain.steps] == ["worker"]
        return None
    cpu, out_data, out_seg, streams_equal, draws = run_both(transform, data, seg, seed, seg_key=seg_key,
                                                             out_key=out_key)
    assert streams_equal, f"seed {seed}: the random streams differ after the draw"
    expected = _as_numpy(cpu["data"])
    got = _as_numpy(out_data)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert np.array_equal(got.view(np.uint32) if got.dtype == np.float32 else got,
                          expected.view(np.uint32) if expected.dtype == np.float32 else expected), \
        f"seed {seed}: max |diff| {np.abs(got.astype(np.float64) - expected).max()}, draws {draws}"
    if seg is not None:
        ref = cpu[out_key]
        if isinstance(ref, (list, tuple)):
            assert len(out_seg) == len(ref)
            for a, b in zip(out_seg, ref):
                assert _as_numpy(a).shape == _as_numpy(b).shape and np.array_equal(_as_numpy(a), _as_numpy(b))
        else:
            assert np.array_equal(_as_numpy(out_seg), _as_numpy(ref)), f"seed {seed}: segmentations differ"
    return draws
