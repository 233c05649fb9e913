"""``skimage.transform.resize(..., mode='edge', anti_aliasing=False)`` of a float64 array, reproduced in torch.

batchgenerators resizes with scikit-image (``SimulateLowResolutionTransform``; ``resize_segmentation`` at order 0),
which hands the work to ``scipy.ndimage.zoom(order, mode='nearest', grid_mode=True)`` and then clips the result to
the input's ``[min, max]``. What scipy 1.17 computes, step by step (``_interpolation.zoom`` and the C function
``NI_ZoomShift``), all in float64:

1. **The grid.** skimage passes ``1 / (in / out)`` as the zoom; scipy rounds ``in * zoom`` back to the output
   size and uses ``in / out`` per axis. Output voxel ``k`` samples the input at ``cc = ((k + 0.5) * zoom) - 0.5``
   (voxel centres aligned, ``grid_mode``), computed in exactly that order. If every axis keeps its size, scipy
   returns a copy of the input.
2. **Order 0** (nearest): the input voxel ``floor(cc + 0.5)``, clamped to the line.
3. **Order 1**: taps ``floor(cc)`` and the next, weights ``1 - x`` and ``1 - (1 - x)`` with ``x = cc - floor(cc)``.
4. **Order 3** (cubic B-spline): the input is first padded by 12 voxels with its edge values (``np.pad(...,
   'edge')``), then *prefiltered* into B-spline coefficients, axis after axis: each line is multiplied by the gain
   ``(1 - z)(1 - 1/z)`` (``z = sqrt(3) - 2``), run through a causal recursion ``c[i] += z * c[i - 1]`` started
   from scipy's ``reflect`` initial value (for ``mode='nearest'`` scipy 1.17 uses the reflect boundary), and an
   anti-causal one ``c[i] = z * (c[i + 1] - c[i])``. These recursions are sequential along the line, so here
   they are too (one device kernel per step, all lines of the volume at once). The coordinates move by the 12
   of padding; the 4 taps per axis start at ``floor(cc) - 1`` with scipy's cubic weights
   (``get_spline_interpolation_weights``), and the output voxel is the sum over the ``4**ndim`` taps, in scipy's
   order (last axis fastest), of ``coefficient * w_axis0 * w_axis1 * w_axis2``.
5. **Clip** to the ``[min, max]`` of the array that was resized (skimage's ``_clip_warp_output``).

The per-axis taps and weights depend only on the shapes, so they are computed on the host with the same float64
operations as the C code (numpy's elementwise float64 arithmetic is IEEE, as C's is) and cached. On the device
only additions and multiplications of float64 numbers remain, each its own kernel (no fused multiply-add), so
the float64 result is the same bits everywhere, and so is its rounding to float32.

On a GPU with Triton the tap sum of step 2-4 is one kernel launch (:mod:`.triton_zoom`, the family ``"resize"``
of :mod:`.triton_gate`, checked bit for bit against the eager path on the device before first use) instead of
one operation per tap and factor: at order 3 in 3D, 64 taps, about 400 launches and as many float64 temporaries
of the output's size.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from . import triton_gate
from .numpy_sums import host_tensor
from .spline_recursions import POLES, gain, reflect_filter_lines

SPLINE_POLE_3 = POLES[3][0]
"""scipy's pole for the cubic B-spline prefilter, ``sqrt(3) - 2``."""
NPAD_CUBIC = 12
"""scipy pads by 12 edge voxels before prefiltering for ``mode='nearest'`` (``_prepad_for_spline_filter``)."""
FAMILY = "resize"
"""The kernel family of :mod:`.triton_gate` this module's kernel belongs to."""
BLOCK = 256
"""Output voxels per program of the kernel on a GPU."""


def zoom_output_shape(in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> tuple[tuple[int, ...], bool]:
    """The output shape scipy actually makes for skimage's request, and whether scipy just copies the input.

    skimage: ``factors = in / out``, ``zoom = 1 / factors``; scipy: ``round(in * zoom)``, early copy when every
    zoom is exactly 1.
    """
    factors = np.divide(in_shape, out_shape)
    zooms = [1 / f for f in factors]
    shape = tuple(int(round(i * z)) for i, z in zip(in_shape, zooms))
    return shape, all(z == 1 for z in zooms)


def _spline_weights(cc: np.ndarray, order: int) -> np.ndarray:
    """``get_spline_interpolation_weights`` for an array of coordinates: ``(order + 1, n)`` float64."""
    x = cc - np.floor(cc if order & 1 else cc + 0.5)
    w = np.empty((order + 1, len(cc)), dtype=np.float64)
    if order == 1:
        w[0] = 1.0 - x
    elif order == 3:
        y, z = x, 1.0 - x
        w[1] = (y * y * (y - 2.0) * 3.0 + 4.0) / 6.0
        w[2] = (z * z * (z - 2.0) * 3.0 + 4.0) / 6.0
        w[0] = z * z * z / 6.0
    else:
        raise NotImplementedError(f"spline order {order} is not reproduced on the device")
    w[order] = 1.0
    for i in range(order):
        w[order] -= w[i]
    return w


@lru_cache(maxsize=512)
def axis_taps(in_len: int, out_len: int, order: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Indices ``(order + 1, out_len)`` into the (padded, for order 3) input line and weights (None for order 0).

    ``in_len`` is the unpadded length; for order 3 the indices refer to the line padded by :data:`NPAD_CUBIC`.
    """
    npad = NPAD_CUBIC if order > 1 else 0
    length = in_len + 2 * npad
    zoom = np.divide(np.array([in_len]), np.array([out_len]))[0]
    cc = np.arange(out_len, dtype=np.float64)
    cc += 0.5
    cc *= zoom
    cc -= 0.5
    cc += float(npad)
    start = (np.floor(cc) if order & 1 else np.floor(cc + 0.5)).astype(np.int64) - order // 2
    idx = start[None, :] + np.arange(order + 1)[:, None]
    edge = (start < 0) | (start + order >= length)
    idx = np.where(edge[None, :], np.clip(idx, 0, length - 1), idx)  # 'nearest': clamp at the borders
    return idx, (_spline_weights(cc, order) if order > 0 else None)


def _edge_pad(x: torch.Tensor, npad: int) -> torch.Tensor:
    """``np.pad(x, npad, 'edge')``: per axis a gather of the clamped positions (on the device once per length)."""
    for axis in range(x.dim()):
        n = x.shape[axis]
        idx = triton_gate.table(("edge-pad", n, npad), lambda n=n: np.clip(np.arange(-npad, n + npad), 0, n - 1),
                                x.device, torch.long)
        x = x.index_select(axis, idx)
    return x


def spline_prefilter_reflect(x: torch.Tensor) -> torch.Tensor:
    """scipy's order-3 ``spline_filter`` with the reflect boundary (``mode='nearest'``), float64, axis by axis: on
    a GPU one Triton kernel per axis (:mod:`.spline_recursions`, the same operations), else eagerly."""
    z = SPLINE_POLE_3
    g = gain([z])
    for axis in range(x.dim()):
        n = x.shape[axis]
        if n <= 1:
            continue
        c = x.movedim(axis, 0).contiguous()
        shape = c.shape
        c = c.reshape(n, -1) * g
        reflect_filter_lines(c, z)
        x = c.reshape(shape).movedim(0, axis)
    return x


def _interpolate(coeffs: torch.Tensor, taps: list, order: int) -> torch.Tensor:
    """Sum over the ``(order + 1) ** ndim`` taps, last axis fastest, ``coeff * w0 * w1 * ...`` as scipy's loop:
    one Triton kernel where the family's check held on this device (2 or 3 axes), else eagerly."""
    if coeffs.dim() in (2, 3) and math.prod(len(i[0]) for i, _ in taps) < 2 ** 31 \
            and triton_gate.usable(coeffs, FAMILY):
        return _interpolate_kernel(coeffs, taps, order)
    return _interpolate_eager(coeffs, taps, order)


def _interpolate_eager(coeffs: torch.Tensor, taps: list, order: int) -> torch.Tensor:
    """:func:`_interpolate` as torch operations: per tap ``index_select`` along each axis, the weights' products,
    the running sum."""
    ndim = coeffs.dim()
    device = coeffs.device
    idx = [host_tensor(i, torch.long, device) for i, _ in taps]
    weights = [None if w is None else host_tensor(w, torch.float64, device) for _, w in taps]
    out_shape = tuple(i.shape[1] for i, _ in taps)
    total = torch.zeros(out_shape, dtype=torch.float64, device=device)

    def view(w: torch.Tensor, axis: int) -> torch.Tensor:
        return w.reshape([-1 if a == axis else 1 for a in range(ndim)])

    def walk(axis: int, sub: torch.Tensor, hs: tuple) -> None:
        nonlocal total
        if axis == ndim:
            coeff = sub
            if order > 0:
                for a, h in enumerate(hs):
                    coeff = coeff * view(weights[a][h], a)
            total = total + coeff
            return
        for h in range(order + 1):
            walk(axis + 1, sub.index_select(axis, idx[axis][h]), hs + (h,))

    walk(0, coeffs, ())
    return total


def _interpolate_kernel(coeffs: torch.Tensor, taps: list, order: int) -> torch.Tensor:
    """:func:`_interpolate` as one launch of :func:`.triton_zoom.zoom`: per axis (z, y, x) the tap indices and the
    weights, ``(order + 1, out_len)`` row-major, on the device once per axis length pair (the strides are
    arguments: keyed by them, the tables would grow with every combination of the other axes' lengths)."""
    from . import triton_zoom  # imported on first use: importing Triton costs a second

    coeffs = coeffs.contiguous()
    device = coeffs.device
    indices, weights = [], []
    for (idx, w), n in zip(taps, coeffs.shape):
        key = (n, idx.shape[1], order)
        indices.append(triton_gate.table(("zoom-taps",) + key, idx.ravel, device, torch.int64))
        weights.append(triton_gate.table(("zoom-weights",) + key, lambda w=w: [] if w is None else w.ravel(),
                                         device))
    out_shape = tuple(idx.shape[1] for idx, _ in taps)
    strides = coeffs.stride()[:-1]  # the last axis is contiguous
    if coeffs.dim() == 2:  # the kernel's z arguments are not read
        indices.insert(0, indices[0])
        weights.insert(0, weights[0])
        strides = (0, *strides)
    sizes = (1,) * (3 - len(out_shape)) + out_shape
    out = torch.empty(out_shape, dtype=torch.float64, device=device)
    block = triton_gate.block_size(device, BLOCK)
    triton_gate.launch(triton_zoom.zoom, (triton_gate.cdiv(out.numel(), block),), device, coeffs, out, *indices,
                       *weights, *sizes, *strides, TAPS=order + 1, NDIM=coeffs.dim(), BLOCK=block)
    return out


def _self_check(device: torch.device) -> str | None:
    """The kernel on small random coefficients on ``device`` against the eager path on the CPU, bit for bit:
    orders 0, 1 and 3, 2D and 3D, zooms down, up and mixed (taps clamped at the borders), signed zeros and NaN.
    None when all are equal, else the first difference."""
    rng = np.random.default_rng(20261206)
    for shape, out_shape in (((5, 6, 7), (3, 11, 7)), ((9, 4), (4, 10))):
        for order in (0, 1, 3):
            npad = NPAD_CUBIC if order > 1 else 0
            coeffs = torch.from_numpy(rng.standard_normal([n + 2 * npad for n in shape]) * 30.0)
            coeffs.view(-1)[::13] = -0.0
            coeffs.view(-1)[7] = float("nan")
            taps = [axis_taps(i, o, order) for i, o in zip(shape, out_shape)]
            why = triton_gate.difference(f"resize order {order} {len(shape)}D",
                                         _interpolate_kernel(coeffs.to(device), taps, order),
                                         _interpolate_eager(coeffs, taps, order), device)
            if why is not None:
                return why
    return None


triton_gate.register(FAMILY, _self_check, "scikit-image's resize", "scikit-image 缩放")


def _coefficients(x: torch.Tensor, order: int) -> torch.Tensor:
    """What the taps read: at order 3 the input padded by :data:`NPAD_CUBIC` edge voxels and prefiltered, below
    the input itself."""
    return spline_prefilter_reflect(_edge_pad(x, NPAD_CUBIC)) if order > 1 else x


def skimage_resize(x: torch.Tensor, out_shape: tuple[int, ...], order: int) -> torch.Tensor:
    """``skimage.transform.resize(x, out_shape, order, mode='edge', anti_aliasing=False)`` for float64 ``x``."""
    if x.dtype != torch.float64:
        raise TypeError("skimage_resize reproduces the float64 path; pass a float64 tensor")
    in_shape = tuple(x.shape)
    shape, copy = zoom_output_shape(in_shape, tuple(out_shape))
    if copy:
        out = x.clone()
    else:
        taps = [axis_taps(i, o, order) for i, o in zip(in_shape, shape)]
        out = _interpolate(_coefficients(x, order), taps, order)
    return torch.clamp(out, min=x.amin(), max=x.amax())


__all__ = ["axis_taps", "skimage_resize", "spline_prefilter_reflect", "zoom_output_shape"]
