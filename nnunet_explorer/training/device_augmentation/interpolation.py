"""scipy.ndimage's interpolation, as batchgenerators 0.25.5 calls it, in torch: the same float64 operations in the same order.

batchgenerators' ``interpolate_img`` resamples an image with ``scipy.ndimage.map_coordinates(img.astype(float),
coords, order, mode='constant', cval)`` and casts the result back to the image's dtype (float32). To equal it bit
for bit after that cast it is not enough to be close: a float64 result one unit in the last place off rounds to a
different float32 about once in 2**29 voxels, and a float32 result is wrong far more often. So this module repeats
scipy's arithmetic (``scipy/ndimage/src/ni_splines.c``, ``ni_interpolation.c``, ``ni_filters.c``, scipy 1.17),
operation by operation, in float64, on tensors of any device:

**Order 3 needs a prefilter.** A cubic B-spline does not pass through its control points, so scipy first turns the
image into B-spline *coefficients* (``spline_filter``, always float64): along each axis in turn, multiply by the
gain ``(1 - z)(1 - 1/z)`` and run a causal and an anti-causal first-order recursion with the pole ``z = sqrt(3) -
2``. With ``mode='constant'`` scipy prefilters with the *mirror* boundary (``apply_filter`` gives
``NI_EXTEND_CONSTANT`` the mirror initialisers; ``_prepad_for_spline_filter`` pads only for ``'nearest'`` and
``'grid-constant'``): the causal start value is a sum over the *whole* line, term by term in index order, and the
anti-causal one a closed form. A recursion is sequential by nature; the eager path here runs it one slab at a
time (all lines of the batch at once), so the additions happen in scipy's order. A parallel scan or a truncated
sum would change the last bits. On CUDA with Triton the same steps run as three kernels per axis, each GPU thread
walking its own lines in that order (:mod:`.spline_recursions`): a few launches instead of one per slab and step.

**Interpolation is a fixed sum.** For each output voxel and axis, ``cc`` outside ``[0, n - 1]`` gives ``cval`` (no
interpolation at all: that is what ``'constant'`` means, unlike ``'grid-constant'``); otherwise the ``order + 1``
taps from ``floor(cc) - order // 2`` (odd orders) are read with mirrored indices past the edges
(``_get_spline_boundary_mode``), weighted by scipy's ``get_spline_interpolation_weights`` (the last weight is
``1 - the others``, not its own polynomial), and summed tap by tap, the last axis fastest, each term
``((c * w_z) * w_y) * w_x``. Nothing is reassociated.

**Segmentations** go through batchgenerators' ``_resample_seg_by_argmax``: every label's indicator is interpolated
with order 1, the label with the highest score wins, exact ties go to the nearest-neighbour label if it is among
the tied (``seg_tiebreak='nearest'``), else to the smallest; voxels outside the image get ``cval``.
:func:`resample_labels` computes the same result without knowing the label set: at order 1 only the ``2 ** d``
corner voxels of a sample point have a weight, so a label's score is the sum, in tap order, of the weights of the
corners that carry it (the zero terms scipy adds for the other corners change nothing), and any label not at a
corner scores 0 and cannot win. No ``torch.unique``, hence no host synchronisation.

**Division** goes through :func:`_div`: on CUDA, ``tensor / python_float`` is computed as a multiplication by the
reciprocal (a long-standing PyTorch optimisation, noted in its CUDA kernel source), which is not the IEEE
quotient; dividing by a 0-d tensor on the device is.

**On a GPU** with Triton, :func:`map_coordinates` (orders 0, 1, 3) and :func:`resample_labels` (float label
maps) run as one kernel each (:mod:`.triton_interpolation`): each GPU thread takes output voxels and does for them
what the eager path does with whole tensors, the same float64 operations in the same order, compiled with fused
multiply-adds disabled; the family ``"interpolation"`` of :mod:`.triton_gate` checks them on the device against
the eager path before their first use, as the prefilter kernels are checked. At order 3 in 3D that is one launch
instead of ~350 (64 taps, each a gather, three products and a sum over the whole output) and no float64
temporaries of the output's size. Elsewhere (no Triton, a failed check, other orders) every step is a separate
eager kernel doing one IEEE-rounded ``+``, ``-``, ``*`` or ``/`` (or a gather, a comparison, a ``where``), so
nothing can be contracted into a fused multiply-add behind our back and the result should be the CPU's, bit for
bit. That is the expectation, not yet a measurement on a GPU:
``tests/device_augmentation/test_spatial.py::test_cuda_parity_without_host_syncs`` checks it where CUDA exists.
Do not ``torch.compile`` these functions: a compiler may fuse ``a * b + c``.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from . import triton_gate
from .exact import ieee_div
from .spline_recursions import POLES, mirror_filter_lines

SEG_TIEBREAKS = ("nearest", "lowest", "highest")
FAMILY = "interpolation"
KERNEL_ORDERS = (0, 1, 3)  # the orders the kernels know (moreDA: 3 for images, 1 for segmentations); others: eager
BLOCK = 128  # output voxels per program on a GPU

_div = ieee_div  # x / divisor rounded as IEEE division on every device (see the module docstring)


# --- the prefilter -------------------------------------------------------------------------------------------

def spline_prefilter(values: torch.Tensor, ndim: int, order: int = 3) -> torch.Tensor:
    """B-spline coefficients of the last ``ndim`` axes of ``values``, as ``scipy.ndimage.spline_filter(..., mode=
    'constant')`` computes them for every leading index: float64, axes filtered in order, mirror boundary.

    Args:
        values: ``(..., *spatial)``, any float dtype (converted to float64 first, as scipy does).
        ndim: how many trailing axes are spatial.
        order: spline order, 2 to 5 (moreDA uses 3).
    """
    if order not in POLES:
        raise ValueError(f"spline prefilter is defined for orders 2 to 5, not {order}")
    c = values.to(torch.float64, copy=True)
    for axis in range(c.dim() - ndim, c.dim()):
        if c.shape[axis] <= 1:  # scipy leaves axes of length 1 untouched
            continue
        lines = c.movedim(axis, 0).contiguous()
        mirror_filter_lines(lines, POLES[order])
        c = lines.movedim(0, axis)
    return c.contiguous()


# --- weights and taps ----------------------------------------------------------------------------------------

def spline_weights(x: torch.Tensor, order: int) -> list[torch.Tensor]:
    """scipy's ``get_spline_interpolation_weights(x, order)`` for the fractional offsets ``x`` (float64).

    The expressions are scipy's, with its association; the last weight is ``1 - sum(others)`` subtracted in order.
    """
    if order == 0:
        return [torch.ones_like(x)]
    if order == 1:
        w = [1.0 - x]
    elif order == 2:
        y = 0.5 - x
        w = [0.5 * y * y, 0.75 - x * x]
    elif order == 3:
        z = 1.0 - x
        w = [_div(z * z * z, 6.0), _div(x * x * (x - 2.0) * 3.0 + 4.0, 6.0), _div(z * z * (z - 2.0) * 3.0 + 4.0, 6.0)]
    elif order == 4:
        t = x * x
        w2 = t * (t * 0.25 - 0.625) + 115.0 / 192.0
        y = 1.0 + x
        w1 = y * (y * (_div(y * (5.0 - y), 6.0) - 1.25) + 5.0 / 24.0) + 55.0 / 96.0
        z = 1.0 - x
        w3 = z * (z * (_div(z * (5.0 - z), 6.0) - 1.25) + 5.0 / 24.0) + 55.0 / 96.0
        y0 = 0.5 - x
        t0 = y0 * y0
        w = [_div(t0 * t0, 24.0), w1, w2, w3]
    elif order == 5:
        t = x * x
        w2 = t * (t * (0.25 - _div(x, 12.0)) - 0.5) + 0.55
        z = 1.0 - x
        t = z * z
        w3 = t * (t * (0.25 - _div(z, 12.0)) - 0.5) + 0.55
        y = x + 1.0
        w1 = y * (y * (y * (y * (_div(y, 24.0) - 0.375) + 1.25) - 1.75) + 0.625) + 0.425
        z = z + 1.0
        w4 = z * (z * (z * (z * (_div(z, 24.0) - 0.375) + 1.25) - 1.75) + 0.625) + 0.425
        y0 = 1.0 - x
        t0 = y0 * y0
        w = [_div(y0 * t0 * t0, 120.0), w1, w2, w3, w4]
    else:
        raise ValueError(f"spline order {order} is not supported (0 to 5)")
    last = 1.0 - w[0]
    for wi in w[1:]:
        last = last - wi
    return w + [last]


def mirror_index(idx: torch.Tensor, n: int) -> torch.Tensor:
    """scipy's ``map_coordinate(idx, n, NI_EXTEND_MIRROR)`` for integer indices: whole-sample symmetric extension."""
    if n <= 1:
        return torch.zeros_like(idx)
    sz2 = 2 * n - 2
    low = sz2 * torch.div(-idx, sz2, rounding_mode="trunc") + idx
    low = torch.where(low <= 1 - n, low + sz2, -low)
    high = idx - sz2 * torch.div(idx, sz2, rounding_mode="trunc")
    high = torch.where(high >= n, sz2 - high, high)
    return torch.where(idx < 0, low, torch.where(idx > n - 1, high, idx))


def _mirror_table(n: int, order: int, device: torch.device) -> tuple[torch.Tensor, int]:
    """:func:`mirror_index` of every tap index a point inside ``[0, n - 1]`` can need, as a lookup table."""
    offset = order + 1
    return mirror_index(torch.arange(-offset, n + offset, device=device), n), offset


class _Footprint:
    """Per axis: which sample points lie inside, the taps (mirrored indices) and their weights."""

    def __init__(self, coords: Sequence[torch.Tensor], shape: Sequence[int], order: int) -> None:
        self.order = order
        self.shape = tuple(shape)
        self.inside: torch.Tensor | None = None
        self.taps: list[list[torch.Tensor]] = []
        self.weights: list[list[torch.Tensor]] = []
        stride = 1
        strides = []
        for n in reversed(self.shape):
            strides.insert(0, stride)
            stride *= n
        for cc, n, axis_stride in zip(coords, shape, strides):
            ok = (cc >= 0) & (cc <= n - 1)  # NaN fails both, as in scipy
            self.inside = ok if self.inside is None else self.inside & ok
            cc = torch.where(ok, cc, torch.zeros_like(cc))
            f = torch.floor(cc) if order & 1 else torch.floor(cc + 0.5)
            table, offset = _mirror_table(n, order, cc.device)
            table = table * axis_stride  # taps as offsets into the flattened volume
            first = f.to(torch.int64) + (offset - order // 2)
            self.taps.append([table[first + k] for k in range(order + 1)])
            self.weights.append(spline_weights(cc - f, order))

    def tap_order(self) -> list[tuple[int, ...]]:
        """All tap combinations in scipy's order (the last axis fastest)."""
        combos: list[tuple[int, ...]] = [()]
        for _ in self.shape:
            combos = [c + (k,) for c in combos for k in range(self.order + 1)]
        return combos

    def flat_indices(self) -> list[torch.Tensor]:
        """The flattened input index of every tap, in :meth:`tap_order`; partial sums shared along the way."""
        partial = self.taps[0]
        for axis in range(1, len(self.shape)):
            partial = [p + t for p in partial for t in self.taps[axis]]
        return partial


def _broadcast_shape(tensors: Sequence[torch.Tensor]) -> tuple[int, ...]:
    """The shape the tensors broadcast to (``torch.broadcast_shapes`` imports sympy on first use: ~1 s)."""
    dims = max(t.dim() for t in tensors)
    shape = [1] * dims
    for t in tensors:
        for i, n in enumerate(t.shape, start=dims - t.dim()):
            if n != 1:
                shape[i] = n
    return tuple(shape)


def _gather(flat: torch.Tensor, idx: torch.Tensor, out_shape: Sequence[int]) -> torch.Tensor:
    """``flat (m, c, V)`` read at ``idx`` (broadcastable to ``(m, *P)``): ``(m, c, *P)``."""
    m, ch = flat.shape[:2]
    full = idx.expand(m, *out_shape).reshape(m, 1, -1).expand(m, ch, -1)
    return torch.gather(flat, 2, full).view(m, ch, *out_shape)


def _in_chunks(fn, coords: Sequence[torch.Tensor], chunk: int) -> torch.Tensor:
    """``fn`` on consecutive pieces of the flattened output grid, concatenated: every voxel gets the same arithmetic,
    the temporaries stay small (on a CPU they then stay in cache: 2-3x faster at the blog's patch size)."""
    out_shape = _broadcast_shape(coords)
    m, total = out_shape[0], math.prod(out_shape[1:])
    flat = [c.expand(out_shape).reshape(m, total) for c in coords]
    pieces = [fn([f[:, i:i + chunk] for f in flat]) for i in range(0, total, chunk)]
    result = torch.cat(pieces, dim=2)
    return result.view(*result.shape[:2], *out_shape[1:])


def map_coordinates(coef: torch.Tensor, coords: Sequence[torch.Tensor], order: int, cval: float, *,
                    chunk: int | None = None) -> torch.Tensor:
    """``scipy.ndimage.map_coordinates(img, coords, order, mode='constant', cval, prefilter=False)``, batched.

    Args:
        coef: ``(m, c, *S)`` float64: the image (orders 0, 1) or its :func:`spline_prefilter` coefficients.
        coords: one float64 tensor per spatial axis, each broadcastable to ``(m, *P)``; all channels of a sample
            share them.
        order: spline order, 0 to 5.
        cval: the value outside ``[0, n - 1]`` on any axis.
        chunk: if given, work through the output in pieces of this many voxels per sample (same result).

    Returns:
        ``(m, c, *P)`` float64, equal to scipy's float64 result.
    """
    if _kernels_apply(coef, coords, order in KERNEL_ORDERS and coef.dtype == torch.float64):
        return _map_coordinates_kernel(coef, coords, order, cval)
    return _map_coordinates_eager(coef, coords, order, cval, chunk)


def _map_coordinates_eager(coef: torch.Tensor, coords: Sequence[torch.Tensor], order: int, cval: float,
                           chunk: int | None = None) -> torch.Tensor:
    """:func:`map_coordinates` as eager torch operations, one per tap and step, on whole (or chunked) tensors."""
    if chunk is not None and math.prod(_broadcast_shape(coords)[1:]) > chunk:
        return _in_chunks(lambda part: _map_coordinates_eager(coef, part, order, cval), coords, chunk)
    m, ch = coef.shape[:2]
    shape = coef.shape[2:]
    out_shape = _broadcast_shape(coords)[1:]
    fp = _Footprint(coords, shape, order)
    flat = coef.reshape(m, ch, -1)
    total = torch.zeros((m, ch, *out_shape), dtype=torch.float64, device=coef.device)
    for combo, index in zip(fp.tap_order(), fp.flat_indices()):
        value = _gather(flat, index, out_shape)
        if order > 0:
            for axis, k in enumerate(combo):
                value = value * fp.weights[axis][k].unsqueeze(1)
        total = total + value
    return torch.where(fp.inside.unsqueeze(1), total, torch.full_like(total, cval))


def resample_labels(seg: torch.Tensor, coords: Sequence[torch.Tensor], cval: float,
                    tiebreak: str = "nearest", *, chunk: int | None = None) -> torch.Tensor:
    """batchgenerators' ``interpolate_img(seg, coords, order=1, mode='constant', cval, is_seg=True)``, batched.

    Args:
        seg: ``(m, c, *S)`` label maps (any dtype; compared by value, as ``img == label``).
        coords: as for :func:`map_coordinates`.
        cval: the label written outside the image (batchgenerators' ``empty_value``).
        tiebreak: ``seg_tiebreak`` of the transform: 'nearest' (default), 'lowest' or 'highest'.
        chunk: as for :func:`map_coordinates`.

    Returns:
        ``(m, c, *P)`` in ``seg``'s dtype.
    """
    if tiebreak not in SEG_TIEBREAKS:
        raise ValueError(f"unknown seg_tiebreak {tiebreak!r}; one of {SEG_TIEBREAKS}")
    if _kernels_apply(seg, coords, seg.dtype in (torch.float32, torch.float64)):
        return _resample_labels_kernel(seg, coords, cval, tiebreak)
    return _resample_labels_eager(seg, coords, cval, tiebreak, chunk)


def _resample_labels_eager(seg: torch.Tensor, coords: Sequence[torch.Tensor], cval: float, tiebreak: str,
                           chunk: int | None = None) -> torch.Tensor:
    """:func:`resample_labels` as eager torch operations on whole (or chunked) tensors."""
    if chunk is not None and math.prod(_broadcast_shape(coords)[1:]) > chunk:
        return _in_chunks(lambda part: _resample_labels_eager(seg, part, cval, tiebreak), coords, chunk)
    m, ch = seg.shape[:2]
    shape = seg.shape[2:]
    out_shape = _broadcast_shape(coords)[1:]
    fp = _Footprint(coords, shape, 1)
    flat = seg.reshape(m, ch, -1)
    values, weights = [], []
    for combo, index in zip(fp.tap_order(), fp.flat_indices()):
        values.append(_gather(flat, index, out_shape))
        w = fp.weights[0][combo[0]]  # the indicator 1.0 times w_z ... times w_x, in scipy's order
        for axis in range(1, len(combo)):
            w = w * fp.weights[axis][combo[axis]]
        weights.append(w.unsqueeze(1))
    same = {}  # corner k carries corner j's label; symmetric, so compared once per pair
    for k, vk in enumerate(values):
        for j in range(k):
            same[k, j] = same[j, k] = values[j] == vk

    def score(matches: Sequence[torch.Tensor | None]) -> torch.Tensor:
        # scipy adds every corner's weight times the 0/1 indicator, in tap order, from 0.0: the zero terms leave
        # the sum unchanged (all terms are >= 0), and w * True == w, w * False == 0.0
        total = weights[0] if matches[0] is None else weights[0] * matches[0]
        for w, match in zip(weights[1:], matches[1:]):
            total = total + (w if match is None else w * match)
        return total

    scores = [score([same.get((k, j)) for j in range(len(values))]) for k in range(len(values))]
    best = scores[0]
    for s in scores[1:]:
        best = torch.maximum(best, s)
    if tiebreak == "highest":
        pick = torch.full_like(values[0], float("-inf"))
        for v, s in zip(values, scores):
            pick = torch.where(s == best, torch.maximum(pick, v), pick)
    else:
        pick = torch.full_like(values[0], float("inf"))
        for v, s in zip(values, scores):
            pick = torch.where(s == best, torch.minimum(pick, v), pick)
    if tiebreak == "nearest":
        nearest = _Footprint(coords, shape, 0)
        nn = _gather(flat, nearest.flat_indices()[0], out_shape)
        pick = torch.where(score([v == nn for v in values]) == best, nn, pick)
    # inside the image the order-1 weights sum to about 1, so the best score is > 0 and no voxel is empty
    return torch.where(fp.inside.unsqueeze(1), pick, torch.full_like(pick, cval))


# --- the same as Triton kernels -------------------------------------------------------------------------------
# One launch instead of one eager operation per tap and step (map_coordinates at order 3 in 3D: 64 taps, ~350
# launches and as many float64 temporaries of the whole output; the label argmax ~250): each program takes BLOCK
# output voxels and runs the eager path's operations on them in the same order (:mod:`.triton_interpolation`).

def _kernels_apply(values: torch.Tensor, coords: Sequence[torch.Tensor], supported: bool) -> bool:
    """Whether the kernels compute this call: a case they know (2 or 3 spatial axes, ``supported``), offsets that
    fit 32 bits per sample, and the family's check held on the device (:func:`.triton_gate.usable`)."""
    if not supported or values.dim() - 2 not in (2, 3):
        return False
    out_points = math.prod(_broadcast_shape(coords))
    return out_points * values.shape[1] < 2 ** 31 and triton_gate.usable(values, FAMILY)


def _kernel_arguments(values: torch.Tensor, coords: Sequence[torch.Tensor], order: int) -> tuple[list, tuple]:
    """The arguments both kernels share: per axis (z, y, x; for 2D the first repeated) the coordinates as
    contiguous ``(m, P)`` float64 and the table of mirrored tap indices times the axis stride; the sizes."""
    m, ch = values.shape[:2]
    shape = tuple(values.shape[2:])
    out_shape = _broadcast_shape(coords)[1:]
    points = math.prod(out_shape)
    flat_coords, tables = [], []
    stride = math.prod(shape)
    for cc, n in zip(coords, shape):
        stride //= n
        flat_coords.append(cc.to(torch.float64).expand(m, *out_shape).reshape(m, points).contiguous())
        tables.append(triton_gate.table(
            ("mirror", n, order, stride),
            lambda n=n, stride=stride: (_mirror_table(n, order, torch.device("cpu"))[0] * stride).tolist(),
            values.device, torch.int64))
    if len(shape) == 2:
        flat_coords.insert(0, flat_coords[0])
        tables.insert(0, tables[0])
        shape = (1, *shape)
    return [*flat_coords, *tables], (ch, math.prod(shape), points, *shape), out_shape


def _launch(name: str, values: torch.Tensor, out: torch.Tensor, cval: torch.Tensor, arguments: list,
            sizes: tuple, **constexprs) -> None:
    from . import triton_interpolation  # imported on first use: importing Triton costs a second

    block = triton_gate.block_size(values.device, BLOCK)
    grid = (triton_gate.cdiv(sizes[2], block), values.shape[0])
    triton_gate.launch(getattr(triton_interpolation, name), grid, values.device, values, out, *arguments, cval,
                       *sizes, BLOCK=block, NDIM=values.dim() - 2, **constexprs)


def _map_coordinates_kernel(coef: torch.Tensor, coords: Sequence[torch.Tensor], order: int,
                            cval: float) -> torch.Tensor:
    """:func:`map_coordinates` (orders 0, 1, 3; 2 or 3 spatial axes) as one kernel launch."""
    arguments, sizes, out_shape = _kernel_arguments(coef, coords, order)
    coef = coef.contiguous()
    out = torch.empty((*coef.shape[:2], *out_shape), dtype=torch.float64, device=coef.device)
    _launch("map_coordinates", coef, out, triton_gate.table(("cval", cval), [cval], coef.device), arguments, sizes,
            ORDER=order)
    return out


def _resample_labels_kernel(seg: torch.Tensor, coords: Sequence[torch.Tensor], cval: float,
                            tiebreak: str) -> torch.Tensor:
    """:func:`resample_labels` (float segmentations, 2 or 3 spatial axes) as one kernel launch."""
    arguments, sizes, out_shape = _kernel_arguments(seg, coords, 1)
    seg = seg.contiguous()
    out = torch.empty((*seg.shape[:2], *out_shape), dtype=seg.dtype, device=seg.device)
    _launch("resample_labels", seg, out, triton_gate.table(("cval", cval), [cval], seg.device, seg.dtype),
            arguments, sizes, TIEBREAK=SEG_TIEBREAKS.index(tiebreak))
    return out


def _self_check(device: torch.device) -> str | None:
    """Both kernels on small random cases on ``device`` against the eager path on the CPU, bit for bit: orders 0,
    1 and 3, 2D and 3D, points inside, outside, on the border, on exact and half voxels, NaN; labels with ties
    under the three tie-breaks. None when all are equal, else the first difference."""
    rng = np.random.default_rng(20261206)
    for shape in ((5, 6, 7), (6, 9)):
        dim = len(shape)
        out_shape = (4, 5, 6)[:dim]
        coords = []
        for n in shape:
            cc = rng.uniform(-1.5, n + 0.5, (2, *out_shape))
            cc.flat[::7] = np.round(cc.flat[::7] * 2) / 2  # exact and half voxels: ties for the labels
            cc.flat[::11] = n - 1  # the last voxel exactly
            coords.append(cc)
        coords[0].flat[5] = np.nan
        coef = torch.from_numpy(rng.standard_normal((2, 2, *shape)) * 30.0)
        labels = torch.from_numpy(rng.integers(0, 3, (2, 2, *shape)).astype(np.float32))
        cpu = [torch.from_numpy(c) for c in coords]
        dev = [c.to(device) for c in cpu]
        cases = [(f"map_coordinates order {order} {dim}D", _map_coordinates_eager(coef, cpu, order, -1.25),
                  lambda order=order: _map_coordinates_kernel(coef.to(device), dev, order, -1.25))
                 for order in KERNEL_ORDERS]
        cases += [(f"label argmax ({tiebreak}) {dim}D", _resample_labels_eager(labels, cpu, 7.0, tiebreak),
                   lambda tiebreak=tiebreak: _resample_labels_kernel(labels.to(device), dev, 7.0, tiebreak))
                  for tiebreak in SEG_TIEBREAKS]
        for name, expected, kernel_path in cases:
            why = triton_gate.difference(name, kernel_path(), expected, device)
            if why is not None:
                return why
    return None


triton_gate.register(FAMILY, _self_check, "interpolation", "插值")


# --- the Gaussian filter of the elastic deformation ------------------------------------------------------------

def gaussian_kernel(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """scipy's ``_gaussian_kernel1d(sigma, 0, int(truncate * sigma + 0.5))[::-1]``: the correlation weights."""
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1)
    phi = np.exp(-0.5 / (sigma * sigma) * x ** 2)
    phi = phi / phi.sum()
    return phi[::-1]


def gaussian_filter(values: torch.Tensor, sigma: float, ndim: int) -> torch.Tensor:
    """``scipy.ndimage.gaussian_filter(values, sigma, mode='constant', cval=0)`` over the last ``ndim`` axes.

    scipy correlates each axis in turn with the symmetric kernel, per output sample
    ``x[i] * w[0] + sum_{j = r .. 1} (x[i - j] + x[i + j]) * w[j]`` from the outermost pair inwards
    (``NI_Correlate1D``'s symmetric branch), the line padded with zeros. Same here, one whole shifted slab per
    term, in float64.
    """
    weights = gaussian_kernel(sigma)
    radius = len(weights) // 2
    out = values.to(torch.float64)
    for axis in range(out.dim() - ndim, out.dim()):
        n = out.shape[axis]
        pad_shape = list(out.shape)
        pad_shape[axis] = radius
        zeros = torch.zeros(pad_shape, dtype=torch.float64, device=out.device)
        padded = torch.cat([zeros, out, zeros], dim=axis)
        result = padded.narrow(axis, radius, n) * float(weights[radius])
        for j in range(radius, 0, -1):
            pair = padded.narrow(axis, radius - j, n) + padded.narrow(axis, radius + j, n)
            result = result + pair * float(weights[radius - j])
        out = result
    return out


__all__ = ["SEG_TIEBREAKS", "gaussian_filter", "gaussian_kernel", "map_coordinates", "mirror_index",
           "resample_labels", "spline_prefilter", "spline_weights"]
