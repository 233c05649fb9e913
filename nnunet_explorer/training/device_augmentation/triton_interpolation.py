"""``map_coordinates`` and the segmentations' argmax as Triton kernels (imported only where they run: a GPU with
Triton, or the tests, in Triton's interpreter). How they are called and checked: :mod:`.interpolation`.

Each program takes ``BLOCK`` output voxels of one sample (grid: ``(cdiv(P, BLOCK), samples)``) and does for each
of them what the eager path does with whole tensors, in the same order: per axis the inside test, the floor, the
taps (a mirrored index times the axis stride, read from a per-axis table) and scipy's weights; then the taps
summed one by one, the last axis fastest, each term ``((c * w_z) * w_y) * w_x``. Compiled with
``enable_fp_fusion=False``, every float64 ``*``, ``+``, ``-`` and ``/`` rounds on its own, as the eager path's
separate kernels do. Nothing is held in a list: the weights of a tap are recomputed where they are needed (the
same operations give the same bits, and the compiler shares them).

Coordinates come as one contiguous float64 ``(samples, P)`` array per axis (for 2D the first axis' arguments
are not read), scalars (``cval``) as one-element tensors: Triton would pass a Python float as float32.
"""
import triton
import triton.language as tl

from .triton_gate import jit

KERNEL_SIGNATURES = {
    "map_coordinates": {"coef_ptr": "*fp64", "out_ptr": "*fp64", "cz_ptr": "*fp64", "cy_ptr": "*fp64",
                        "cx_ptr": "*fp64", "tz_ptr": "*i64", "ty_ptr": "*i64", "tx_ptr": "*i64",
                        "cval_ptr": "*fp64", "channels": "i32", "volume": "i64", "points": "i32", "nz": "i32",
                        "ny": "i32", "nx": "i32"},
    "resample_labels": {"seg_ptr": "*fp32", "out_ptr": "*fp32", "cz_ptr": "*fp64", "cy_ptr": "*fp64",
                        "cx_ptr": "*fp64", "tz_ptr": "*i64", "ty_ptr": "*i64", "tx_ptr": "*i64",
                        "cval_ptr": "*fp32", "channels": "i32", "volume": "i64", "points": "i32", "nz": "i32",
                        "ny": "i32", "nx": "i32"},
}
"""The kernels' arguments (besides the constexprs) as Triton types, for compiling them ahead of time without a
GPU (the label kernel shown for float32 segmentations, nnU-Net's)."""


@triton.jit
def _weight(x, K: tl.constexpr, ORDER: tl.constexpr):
    # scipy's get_spline_interpolation_weights(x, ORDER)[K]; the last weight is 1 minus the others, in order
    if ORDER == 1:
        if K == 0:
            w = 1.0 - x
        else:
            w = 1.0 - (1.0 - x)
    else:  # ORDER == 3
        z = 1.0 - x
        w0 = z * z * z / 6.0
        w1 = (x * x * (x - 2.0) * 3.0 + 4.0) / 6.0
        w2 = (z * z * (z - 2.0) * 3.0 + 4.0) / 6.0
        if K == 0:
            w = w0
        elif K == 1:
            w = w1
        elif K == 2:
            w = w2
        else:
            w = 1.0 - w0 - w1 - w2
    return w


@triton.jit
def _axis(c_ptr, points_offset, mask, n, ORDER: tl.constexpr):
    # one axis of a block of sample points: inside [0, n - 1]?, the first tap's index into the axis table, and the
    # fractional offset (the points outside take coordinate 0, as the eager path's where)
    cc = tl.load(c_ptr + points_offset, mask=mask, other=0.0)
    ok = (cc >= 0.0) & (cc <= n - 1)  # NaN fails both
    cc = tl.where(ok, cc, 0.0)
    if ORDER % 2 == 1:
        f = tl.floor(cc)
    else:
        f = tl.floor(cc + 0.5)
    # the table starts at index -(ORDER + 1): the first tap floor(cc) - ORDER // 2 sits at this position
    first = f.to(tl.int32) + (ORDER + 1 - ORDER // 2)
    return ok, first, cc - f


@triton.jit
def _block_of_points(points, BLOCK: tl.constexpr):
    # this program's sample and output voxels (p, in range where mask), and their positions in the (samples,
    # points) coordinate arrays
    sample = tl.program_id(1)
    p = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    return sample, p, p < points, sample.to(tl.int64) * points + p


@triton.jit
def _footprint(at, mask, cz_ptr, cy_ptr, cx_ptr, nz, ny, nx, ORDER: tl.constexpr, NDIM: tl.constexpr):
    # every axis of a block of points (for 2D the z values repeat y's and are not used): inside the image on all
    # axes?, the first taps' table positions, the fractional offsets
    oky, fy, xy = _axis(cy_ptr, at, mask, ny, ORDER)
    okx, fx, xx = _axis(cx_ptr, at, mask, nx, ORDER)
    inside = oky & okx
    fz = fy
    xz = xy
    if NDIM == 3:
        okz, fz, xz = _axis(cz_ptr, at, mask, nz, ORDER)
        inside = okz & inside
    return inside, fz, fy, fx, xz, xy, xx


@jit
def map_coordinates(coef_ptr, out_ptr, cz_ptr, cy_ptr, cx_ptr, tz_ptr, ty_ptr, tx_ptr, cval_ptr, channels, volume,
                    points, nz, ny, nx, ORDER: tl.constexpr, NDIM: tl.constexpr, BLOCK: tl.constexpr):
    # scipy's map_coordinates(mode='constant', prefilter=False) of coef (samples, channels, volume) at the points
    sample, p, mask, at = _block_of_points(points, BLOCK)
    inside, fz, fy, fx, xz, xy, xx = _footprint(at, mask, cz_ptr, cy_ptr, cx_ptr, nz, ny, nx, ORDER, NDIM)
    cval = tl.load(cval_ptr)
    for ch in range(channels):
        row = sample.to(tl.int64) * channels + ch
        base = row * volume
        total = tl.full([BLOCK], 0.0, tl.float64)
        if NDIM == 3:
            for kz in tl.static_range(ORDER + 1):
                iz = tl.load(tz_ptr + fz + kz, mask=mask, other=0)
                for ky in tl.static_range(ORDER + 1):
                    iy = tl.load(ty_ptr + fy + ky, mask=mask, other=0)
                    for kx in tl.static_range(ORDER + 1):
                        ix = tl.load(tx_ptr + fx + kx, mask=mask, other=0)
                        value = tl.load(coef_ptr + base + (iz + iy + ix), mask=mask, other=0.0)
                        if ORDER > 0:
                            value = value * _weight(xz, kz, ORDER) * _weight(xy, ky, ORDER) * _weight(xx, kx, ORDER)
                        total = total + value
        else:
            for ky in tl.static_range(ORDER + 1):
                iy = tl.load(ty_ptr + fy + ky, mask=mask, other=0)
                for kx in tl.static_range(ORDER + 1):
                    ix = tl.load(tx_ptr + fx + kx, mask=mask, other=0)
                    value = tl.load(coef_ptr + base + (iy + ix), mask=mask, other=0.0)
                    if ORDER > 0:
                        value = value * _weight(xy, ky, ORDER) * _weight(xx, kx, ORDER)
                    total = total + value
        tl.store(out_ptr + row * points + p, tl.where(inside, total, cval), mask=mask)


@triton.jit
def _corner(seg_ptr, base, tz_ptr, ty_ptr, tx_ptr, fz, fy, fx, xz, xy, xx, mask, J: tl.constexpr,
            NDIM: tl.constexpr):
    # corner J of the order-1 footprint (tap order: the last axis fastest): its label and its weight w_z * w_y * w_x
    if NDIM == 3:
        jz: tl.constexpr = J // 4
        jy: tl.constexpr = (J // 2) % 2
        jx: tl.constexpr = J % 2
        index = tl.load(tz_ptr + fz + jz, mask=mask, other=0) + tl.load(ty_ptr + fy + jy, mask=mask, other=0) \
            + tl.load(tx_ptr + fx + jx, mask=mask, other=0)
        w = _weight(xz, jz, 1) * _weight(xy, jy, 1) * _weight(xx, jx, 1)
    else:
        jy: tl.constexpr = J // 2
        jx: tl.constexpr = J % 2
        index = tl.load(ty_ptr + fy + jy, mask=mask, other=0) + tl.load(tx_ptr + fx + jx, mask=mask, other=0)
        w = _weight(xy, jy, 1) * _weight(xx, jx, 1)
    return tl.load(seg_ptr + base + index, mask=mask, other=0.0), w


@triton.jit
def _score(label, seg_ptr, base, tz_ptr, ty_ptr, tx_ptr, fz, fy, fx, xz, xy, xx, mask, NDIM: tl.constexpr):
    # the order-1 interpolation of the indicator (seg == label): the weights of the corners that carry the label,
    # added in tap order (scipy adds the others' zero terms too; they change nothing, all terms being >= 0)
    v, w = _corner(seg_ptr, base, tz_ptr, ty_ptr, tx_ptr, fz, fy, fx, xz, xy, xx, mask, 0, NDIM)
    total = tl.where(v == label, w, 0.0)
    for j in tl.static_range(1, 2 ** NDIM):
        v, w = _corner(seg_ptr, base, tz_ptr, ty_ptr, tx_ptr, fz, fy, fx, xz, xy, xx, mask, j, NDIM)
        total = total + tl.where(v == label, w, 0.0)
    return total


@jit
def resample_labels(seg_ptr, out_ptr, cz_ptr, cy_ptr, cx_ptr, tz_ptr, ty_ptr, tx_ptr, cval_ptr, channels, volume,
                    points, nz, ny, nx, TIEBREAK: tl.constexpr, NDIM: tl.constexpr, BLOCK: tl.constexpr):
    # batchgenerators' _resample_seg_by_argmax at order 1 over the labels found at the corners; TIEBREAK:
    # 0 nearest (the nearest neighbour's label if it is among the tied, else the lowest), 1 lowest, 2 highest
    sample, p, mask, at = _block_of_points(points, BLOCK)
    inside, fz, fy, fx, xz, xy, xx = _footprint(at, mask, cz_ptr, cy_ptr, cx_ptr, nz, ny, nx, 1, NDIM)
    # the nearest neighbour's positions (order 0: floor(cc + 0.5)), read below through the order-1 tables
    _, gz, gy, gx, _, _, _ = _footprint(at, mask, cz_ptr, cy_ptr, cx_ptr, nz, ny, nx, 0, NDIM)
    cval = tl.load(cval_ptr)
    for ch in range(channels):
        row = sample.to(tl.int64) * channels + ch
        base = row * volume
        best = tl.full([BLOCK], 0.0, tl.float64)
        for k in tl.static_range(2 ** NDIM):
            v, _ = _corner(seg_ptr, base, tz_ptr, ty_ptr, tx_ptr, fz, fy, fx, xz, xy, xx, mask, k, NDIM)
            s = _score(v, seg_ptr, base, tz_ptr, ty_ptr, tx_ptr, fz, fy, fx, xz, xy, xx, mask, NDIM)
            if k == 0:
                best = s
            else:
                best = tl.maximum(best, s)
        v0, _ = _corner(seg_ptr, base, tz_ptr, ty_ptr, tx_ptr, fz, fy, fx, xz, xy, xx, mask, 0, NDIM)
        if TIEBREAK == 2:
            pick = tl.full([BLOCK], float("-inf"), v0.dtype)
        else:
            pick = tl.full([BLOCK], float("inf"), v0.dtype)
        for k in tl.static_range(2 ** NDIM):
            v, _ = _corner(seg_ptr, base, tz_ptr, ty_ptr, tx_ptr, fz, fy, fx, xz, xy, xx, mask, k, NDIM)
            s = _score(v, seg_ptr, base, tz_ptr, ty_ptr, tx_ptr, fz, fy, fx, xz, xy, xx, mask, NDIM)
            if TIEBREAK == 2:
                pick = tl.where(s == best, tl.maximum(pick, v), pick)
            else:
                pick = tl.where(s == best, tl.minimum(pick, v), pick)
        if TIEBREAK == 0:
            # the order-0 table would start at -1, the order-1 table starts at -2: one further
            if NDIM == 3:
                index = tl.load(tz_ptr + gz + 1, mask=mask, other=0) + tl.load(ty_ptr + gy + 1, mask=mask, other=0) \
                    + tl.load(tx_ptr + gx + 1, mask=mask, other=0)
            else:
                index = tl.load(ty_ptr + gy + 1, mask=mask, other=0) + tl.load(tx_ptr + gx + 1, mask=mask, other=0)
            nn = tl.load(seg_ptr + base + index, mask=mask, other=0.0)
            s = _score(nn, seg_ptr, base, tz_ptr, ty_ptr, tx_ptr, fz, fy, fx, xz, xy, xx, mask, NDIM)
            pick = tl.where(s == best, nn, pick)
        tl.store(out_ptr + row * points + p, tl.where(inside, pick, cval), mask=mask)
