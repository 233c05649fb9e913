"""Once per process: does this host's numpy / scipy / scikit-image compute what the device transforms reproduce?

The device transforms reproduce *algorithms*: numpy 2's pairwise float32 sums, scipy 1.17's Gaussian correlation
and B-spline zoom, numpy's AVX-512 SVML float32 power (whose reciprocal steps were measured on AMD Zen 4), and
OpenBLAS's fused multiply-adds in ``np.dot``. Another numpy, scipy or BLAS kernel, another processor may compute
batchgenerators' CPU transforms differently; then the device result would equal *an* algorithm, not what
batchgenerators gives on this machine. Each check below runs the library itself and the device code (on the CPU)
on a few small inputs and compares the bits, once per process (a few milliseconds).

A device transform that depends on a check asks :func:`failure` in its ``unsupported``; if the check fails, the
transform declines with a reason that names the check (``host check 'numpy_float32_power' failed: ...``) and the
transform chain keeps batchgenerators' transform on the CPU: the result stays exact, only slower. Nothing is
skipped silently: :meth:`~.chain.DeviceChain.describe` shows the reason, and :func:`report` lists every check.

=========================  ========================================================  ===========================
check                      premise                                                   device transforms
=========================  ========================================================  ===========================
``numpy_float32_sums``     numpy's float32 ``mean``/``std`` sum pairwise            contrast, gamma
                           (:mod:`.numpy_sums`)
``scipy_gaussian_filter``  scipy's ``gaussian_filter`` correlates as                 Gaussian blur
                           :mod:`.scipy_filters`
``skimage_resize``         scikit-image's ``resize`` zooms as :mod:`.scipy_zoom`     low resolution, DS targets
``numpy_float32_power``    numpy's float32 ``np.power`` is the AVX-512 SVML one     gamma
                           with Zen 4's reciprocal steps (:mod:`.numpy_power`)
``numpy_dot_rotation``     ``np.dot`` rotates batchgenerators' grid as a chain of   spatial (with rotation)
                           FMAs (:func:`~.coordinates.blas_rotation_matches`)
=========================  ========================================================  ===========================

Tests make a check fail (or hold) with :func:`forced`: ``with forced(numpy_float32_power=False): ...``.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Callable, Iterator

import numpy as np
import torch


@lru_cache(maxsize=1)
def statistics_match_numpy() -> bool:
    """numpy's float32 ``mean`` / ``std`` equal :mod:`.numpy_sums` (lengths below, at and far above the leaf)."""
    from .numpy_sums import numpy_mean_f32, numpy_std_f32

    rng = np.random.default_rng(0)
    for n in (7, 128, 129, 1000, 16 * 40 * 40):
        row = (rng.standard_normal(n) * 37 + 3).astype(np.float32)
        t = torch.from_numpy(row[None])
        if numpy_mean_f32(t).numpy()[0] != row.mean() or numpy_std_f32(t).numpy()[0] != row.std():
            return False
    return True


@lru_cache(maxsize=1)
def blur_matches_scipy() -> bool:
    """``scipy.ndimage.gaussian_filter`` of a float32 volume equals the device's axis-by-axis correlation."""
    from scipy.ndimage import gaussian_filter

    from .scipy_filters import correlate1d_reflect, gaussian_weights

    x = np.random.default_rng(1).standard_normal((5, 9, 12)).astype(np.float32)
    for sigma in (0.6, 1.4):
        out = torch.from_numpy(x)
        for axis in range(3):
            out = correlate1d_reflect(out, gaussian_weights(sigma), axis)
        if not np.array_equal(out.numpy(), gaussian_filter(x, sigma, order=0)):
            return False
    return True


@lru_cache(maxsize=1)
def resize_matches_skimage() -> bool:
    """``skimage.transform.resize(mode='edge', anti_aliasing=False)`` equals :func:`~.scipy_zoom.skimage_resize`."""
    from skimage.transform import resize

    from .scipy_zoom import skimage_resize

    rng = np.random.default_rng(2)
    for in_shape, out_shape in (((5, 7), (9, 14)), ((4, 6, 5), (7, 11, 9)), ((9, 8, 7), (5, 4, 7))):
        x = rng.standard_normal(in_shape)
        for order in (0, 1, 3):
            expected = resize(x, out_shape, order=order, mode="edge", anti_aliasing=False)
            if not np.array_equal(skimage_resize(torch.from_numpy(x), out_shape, order).numpy(), expected):
                return False
    return True


def _power_matches_numpy() -> bool:
    from .numpy_power import host_power_is_reproduced

    return host_power_is_reproduced()


def _dot_matches_numpy() -> bool:
    from .coordinates import blas_rotation_matches

    return blas_rotation_matches(2) and blas_rotation_matches(3)


@dataclass(frozen=True)
class HostCheck:
    """One premise of the device transforms about this host, and the function that tests it (cached)."""

    name: str
    premise: str
    run: Callable[[], bool]


CHECKS: dict[str, HostCheck] = {check.name: check for check in (
    HostCheck("numpy_float32_sums", "numpy's float32 mean/std are the pairwise sums numpy_sums reproduces",
              statistics_match_numpy),
    HostCheck("scipy_gaussian_filter", "scipy's gaussian_filter is the correlation scipy_filters reproduces",
              blur_matches_scipy),
    HostCheck("skimage_resize", "scikit-image's resize is the zoom scipy_zoom reproduces", resize_matches_skimage),
    HostCheck("numpy_float32_power", "numpy's float32 np.power is the AVX-512 SVML power numpy_power reproduces "
              "(reciprocal steps of AMD Zen 4)", _power_matches_numpy),
    HostCheck("numpy_dot_rotation", "numpy's dot (BLAS) rounds the grid rotation as the chain of fused "
              "multiply-adds coordinates.rotate computes", _dot_matches_numpy),
)}
"""Every host check by name (the order is the table's)."""


def passes(name: str) -> bool:
    """Whether the host check ``name`` holds on this machine (run once, then cached)."""
    return bool(CHECKS[name].run())


def failure(*names: str) -> str | None:
    """None if every named check holds here; else the reason a device transform declines with, naming the first
    failed check and its premise (``"host check 'skimage_resize' failed: ..."``)."""
    for name in names:
        if not passes(name):
            return (f"host check {name!r} failed: on this machine it is not true that {CHECKS[name].premise}; "
                    "batchgenerators' transform runs on the CPU")
    return None


def failed() -> list[str]:
    """The names of the checks that fail on this machine."""
    return [name for name in CHECKS if not passes(name)]


def report() -> dict[str, bool]:
    """``{check: holds here}`` for every check (for ``describe``, benchmarks and test reports)."""
    return {name: passes(name) for name in CHECKS}


@contextlib.contextmanager
def forced(**results: bool) -> Iterator[None]:
    """Within the block, the named checks answer as given: ``with forced(numpy_float32_power=False): ...`` (tests:
    what happens on a machine where a check fails, or holds).

    Device transforms built inside the block keep the decision they were built with.
    """
    unknown = sorted(set(results) - set(CHECKS))
    if unknown:
        raise KeyError(f"no host checks named {unknown}; known: {sorted(CHECKS)}")
    saved = {name: CHECKS[name] for name in results}
    for name, result in results.items():
        CHECKS[name] = replace(saved[name], run=lambda result=result: result)
    try:
        yield
    finally:
        CHECKS.update(saved)


__all__ = ["CHECKS", "HostCheck", "blur_matches_scipy", "failed", "failure", "forced", "passes", "report",
           "resize_matches_skimage", "statistics_match_numpy"]
