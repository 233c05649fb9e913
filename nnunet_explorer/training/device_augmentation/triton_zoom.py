"""scikit-image's resize (scipy's ``zoom`` with ``mode='nearest'``) as one Triton kernel (imported only where it
runs: a GPU with Triton, or the tests, in Triton's interpreter). How it is called and checked: :mod:`.scipy_zoom`.

A zoom is separable: along each axis, output position ``k`` reads the same ``TAPS`` input positions with the same
weights whatever the other axes' positions are. So the host computes per axis a table of tap indices and one of
weights, ``(TAPS, out_len)`` each, row-major, exactly as scipy's C code does (the strides come as arguments),
and each program here takes ``BLOCK`` output voxels and, for each, sums the ``TAPS ** NDIM`` terms in scipy's
order (the last axis fastest), each term ``((c * w_z) * w_y) * w_x``, starting from ``0.0``: the eager path's
operations in the same order. Compiled with ``enable_fp_fusion=False``, every float64 ``*`` and ``+`` rounds on
its own, as the eager path's separate kernels do. Order 0 (``TAPS == 1``) has no weights: the term is the
coefficient itself.
"""
import triton
import triton.language as tl

from .triton_gate import jit

KERNEL_SIGNATURES = {
    "zoom": {"coef_ptr": "*fp64", "out_ptr": "*fp64", "iz_ptr": "*i64", "iy_ptr": "*i64", "ix_ptr": "*i64",
             "wz_ptr": "*fp64", "wy_ptr": "*fp64", "wx_ptr": "*fp64", "oz": "i32", "oy": "i32", "ox": "i32",
             "sz": "i32", "sy": "i32"},
}
"""The kernel's arguments (besides the constexprs) as Triton types, for compiling it ahead of time without a GPU."""


@triton.jit
def _tap(i_ptr, w_ptr, position, length, mask, K: tl.constexpr, TAPS: tl.constexpr):
    # tap K of one axis for a block of output positions: the input offset and the weight (1.0 at order 0, unused)
    index = tl.load(i_ptr + K * length + position, mask=mask, other=0)
    if TAPS > 1:
        weight = tl.load(w_ptr + K * length + position, mask=mask, other=0.0)
    else:
        weight = 1.0
    return index, weight


@jit
def zoom(coef_ptr, out_ptr, iz_ptr, iy_ptr, ix_ptr, wz_ptr, wy_ptr, wx_ptr, oz, oy, ox, sz, sy,
         TAPS: tl.constexpr, NDIM: tl.constexpr, BLOCK: tl.constexpr):
    # out[z, y, x] = sum over taps (kz, ky, kx) of coef[iz * sz + iy * sy + ix] * wz * wy * wx, the tap indices
    # int64 (for 2D: no z, oz == 1)
    p = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = p < oz * oy * ox
    x = p % ox
    y = (p // ox) % oy
    total = tl.full([BLOCK], 0.0, tl.float64)
    if NDIM == 3:
        z = p // (ox * oy)
        for kz in tl.static_range(TAPS):
            iz, wz = _tap(iz_ptr, wz_ptr, z, oz, mask, kz, TAPS)
            for ky in tl.static_range(TAPS):
                iy, wy = _tap(iy_ptr, wy_ptr, y, oy, mask, ky, TAPS)
                for kx in tl.static_range(TAPS):
                    ix, wx = _tap(ix_ptr, wx_ptr, x, ox, mask, kx, TAPS)
                    value = tl.load(coef_ptr + (iz * sz + iy * sy + ix), mask=mask, other=0.0)
                    if TAPS > 1:
                        value = value * wz * wy * wx
                    total = total + value
    else:
        for ky in tl.static_range(TAPS):
            iy, wy = _tap(iy_ptr, wy_ptr, y, oy, mask, ky, TAPS)
            for kx in tl.static_range(TAPS):
                ix, wx = _tap(ix_ptr, wx_ptr, x, ox, mask, kx, TAPS)
                value = tl.load(coef_ptr + (iy * sy + ix), mask=mask, other=0.0)
                if TAPS > 1:
                    value = value * wy * wx
                total = total + value
    tl.store(out_ptr + p, total, mask=mask)
