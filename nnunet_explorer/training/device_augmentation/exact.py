"""Exact float64 building blocks: error-free sums and products, and a fused multiply-add that torch does not have.

Why this module exists: batchgenerators rotates its coordinate grid with ``np.dot(coords (N, 3), R (3, 3))``, and
numpy hands that to OpenBLAS's ``dgemm``, whose x86 kernels accumulate with fused multiply-adds: each rotated
coordinate is ``fma(c2, R[2, j], fma(c1, R[1, j], c0 * R[0, j]))``, rounded once per ``fma`` instead of once per
product and once per sum. The plain ``c0 * R0 + c1 * R1 + c2 * R2`` differs in the last bit for about one
coordinate in three; a last-bit difference in a coordinate decides, now and then, which side of a label boundary
or of a float32 rounding step an interpolated voxel falls. So the device must round like the FMA.

torch has no ``fma`` operator, and whether a CPU or CUDA kernel contracts ``a * b + c`` into one depends on the
compiler. The way out uses only operations that IEEE 754 rounds correctly and that torch runs one per kernel
(``+``, ``-``, ``*``, comparisons), so it gives the same bits on every device:

* :func:`two_sum` (Knuth): ``s = RN(a + b)`` and the exact error ``a + b - s``;
* :func:`two_product` (Dekker, with Veltkamp's split into 26-bit halves): ``p = RN(a * b)`` and the exact error
  ``a * b - p`` — each half-product is exact because it needs at most 53 bits;
* :func:`fma` (Boldo and Melquiond, "Emulation of FMA and correctly rounded sums: proved algorithms using
  rounding to odd", IEEE Trans. Computers 2008): ``a * b + c = ph + pl + c`` exactly; ``(th, tl) = two_sum(c,
  ph)``; the small part ``tl + pl`` is rounded *to odd* (a rounding that keeps a sticky last bit, so the final
  rounding cannot round twice); ``th + v`` rounded to nearest is then ``RN(a * b + c)``, the FMA's result.

Every function takes tensors (or Python floats for the second factor, split on the host) and works on any device
without host synchronisation.
"""
from __future__ import annotations

import torch

_SPLITTER = 134217729.0  # 2**27 + 1: Veltkamp's constant for float64 (53-bit significand)


def split_scalar(b: float) -> tuple[float, float]:
    """Veltkamp's split of a Python float into ``hi + lo == b``, each with at most 26 significant bits."""
    t = _SPLITTER * b
    hi = t - (t - b)
    return hi, b - hi


def _split(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    t = a * _SPLITTER
    hi = t - (t - a)
    return hi, a - hi


def two_sum(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(s, e)`` with ``s = RN(a + b)`` and ``s + e == a + b`` exactly (Knuth's branch-free TwoSum)."""
    s = a + b
    bb = s - a
    e = (a - (s - bb)) + (b - bb)
    return s, e


def two_product(a: torch.Tensor, b: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(p, e)`` with ``p = RN(a * b)`` and ``p + e == a * b`` exactly (Dekker; no overflow or underflow)."""
    ah, al = _split(a)
    bh, bl = split_scalar(b)
    p = a * b
    e = (((ah * bh) - p) + (ah * bl) + (al * bh)) + (al * bl)
    return p, e


def _add_round_to_odd(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a + b`` rounded to odd: exact if representable, else the neighbour whose last significand bit is 1."""
    s, e = two_sum(a, b)
    even = (s.view(torch.int64) & 1) == 0
    toward = torch.where(e > 0, torch.full_like(s, float("inf")), torch.full_like(s, float("-inf")))
    return torch.where((e != 0) & even, torch.nextafter(s, toward), s)


def fma(a: torch.Tensor, b: float, c: torch.Tensor) -> torch.Tensor:
    """``RN(a * b + c)`` — one rounding, as a hardware fused multiply-add — from correctly rounded float64 ops.

    ``b`` is a Python float (a rotation-matrix entry), split on the host. Valid for finite values away from
    overflow and from the subnormal range, which coordinates and rotation entries are.
    """
    ph, pl = two_product(a, b)
    th, tl = two_sum(c, ph)
    return th + _add_round_to_odd(tl, pl)




def ieee_div(x: torch.Tensor, divisor: float) -> torch.Tensor:
    """``x / divisor`` rounded as IEEE division on every device. On CUDA, ``tensor / python_float`` is computed as
    a multiplication by the reciprocal (a long-standing PyTorch optimisation, noted in its CUDA kernel source),
    which is not the IEEE quotient; dividing by a 0-d tensor on the device is."""
    return x / torch.full((), divisor, dtype=x.dtype, device=x.device)


__all__ = ["fma", "ieee_div", "split_scalar", "two_product", "two_sum"]
