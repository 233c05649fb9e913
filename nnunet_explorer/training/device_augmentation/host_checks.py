"""Once per process: does this host's numpy / scipy / scikit-image compute what the device transforms reproduce?

The device transforms reproduce *algorithms*: numpy 2's pairwise float32 sums, scipy 1.17's Gaussian correlation
and B-spline zoom, numpy's AVX-512 SVML power. An older scipy (its ``mode='nearest'`` spline prefilter used the
mirror boundary before 1.6), another numpy, another processor may compute the CPU transforms differently; then the
device result would be equal to *an* algorithm but not to what batchgenerators gives on this machine. Each check
below runs the library itself and the device code (on the CPU) on a few small inputs and compares the bits; a
device transform whose check fails declines to be built (``NotImplementedError``), so the transform chain keeps
batchgenerators' transform on the CPU and says why. The checks take a few milliseconds, once.
"""
from __future__ import annotations

from functools import lru_cache

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


__all__ = ["blur_matches_scipy", "resize_matches_skimage", "statistics_match_numpy"]
