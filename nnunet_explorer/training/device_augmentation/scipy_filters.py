"""``scipy.ndimage.correlate1d`` / ``gaussian_filter`` of float32 data, reproduced on torch tensors bit for bit.

scipy's C loop (``NI_Correlate1D``) reads each line of the float32 input into a float64 buffer extended at both
ends by the boundary mode, and for a symmetric kernel (the Gaussian always is) computes
``out = x[i] * w[0]`` and then, from the outermost tap inwards, ``out += (x[i - d] + x[i + d]) * w[d]``, all in
float64, and stores the result as float32. ``gaussian_filter`` does that axis after axis, each pass reading the
previous pass's float32 output. Here the same float64 multiplications and additions run as separate device
kernels (no fused multiply-add), so the float32 results are the same bits on the CPU and on CUDA. The weights are
made on the host with scipy's own numpy expressions (``np.exp`` is not recomputed on the device).
"""
from __future__ import annotations

import numpy as np
import torch

from .numpy_sums import host_tensor


def gaussian_weights(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """scipy's ``gaussian_filter1d`` weights for ``sigma`` (order 0), made with scipy's own numpy expressions.

    ``radius = int(truncate * sigma + 0.5)``; ``phi = exp(-0.5 / sigma**2 * x**2)`` over ``x = -radius..radius``,
    divided by its sum, reversed (scipy correlates). Float64, length ``2 * radius + 1``.
    """
    radius = int(truncate * float(sigma) + 0.5)
    sigma2 = sigma * sigma
    x = np.arange(-radius, radius + 1)
    phi_x = np.exp(-0.5 / sigma2 * x ** 2)
    phi_x = phi_x / phi_x.sum()
    return phi_x[::-1].copy()


def reflect_index(n: int, radius: int) -> np.ndarray:
    """Indices of a line of ``n`` extended by ``radius`` on both sides, scipy's ``mode='reflect'`` (any radius)."""
    i = np.arange(-radius, n + radius)
    j = np.mod(i, 2 * n)
    return np.where(j >= n, 2 * n - 1 - j, j)


def _is_symmetric(weights: np.ndarray) -> bool:
    # NI_Correlate1D's own test (odd length, mirror pairs equal to within DBL_EPSILON)
    size1 = len(weights) // 2
    return len(weights) % 2 == 1 and all(abs(weights[size1 + i] - weights[size1 - i]) <= np.finfo(float).eps
                                         for i in range(1, size1 + 1))


def correlate1d_reflect(x: torch.Tensor, weights: np.ndarray, axis: int) -> torch.Tensor:
    """``scipy.ndimage.correlate1d(x, weights, axis, mode='reflect')`` for float32 ``x``, as scipy's C loop sums.

    The line is read as float64, the taps summed in scipy's order, the result rounded to float32.
    """
    n = x.shape[axis]
    size1 = len(weights) // 2
    xp = x.double().index_select(axis, host_tensor(reflect_index(n, size1), torch.long, x.device))
    center = lambda offset: xp.narrow(axis, size1 + offset, n)  # noqa: E731 - x[i + offset] for every i
    if _is_symmetric(weights):
        out = center(0) * float(weights[size1])
        for jj in range(-size1, 0):  # outermost tap first, as the C loop
            out = out + (center(jj) + center(-jj)) * float(weights[size1 + jj])
    else:  # not used by the Gaussian kernel (always symmetric); scipy's general loop
        size2 = len(weights) - size1 - 1
        out = center(size2) * float(weights[size1 + size2])
        for jj in range(-size1, size2):
            out = out + center(jj) * float(weights[size1 + jj])
    return out.float()


__all__ = ["correlate1d_reflect", "gaussian_weights", "reflect_index"]
