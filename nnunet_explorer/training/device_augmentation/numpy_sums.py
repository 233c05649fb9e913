"""numpy's float32 ``sum``, ``mean``, ``std``, ``min`` and ``max``, reproduced on torch tensors bit for bit.

Contrast and gamma augmentation compute per-channel statistics (``data_sample[c].mean()``, ``.std()``) of float32
arrays, and every output voxel depends on them: one unit in the last place (ulp) in a mean moves the whole
channel. So the device must reach *the same float32 number* numpy reaches, not merely a close one.

How numpy sums float32 (numpy 2.x, ``np.add.reduce`` on a contiguous array, which is what ``.mean()`` and
``.std()`` call): the accumulator is float32 (not float64), and the order is **pairwise**
(``FLOAT_pairwise_sum`` in ``numpy/_core/src/umath/loops_utils.h.src``):

* ``n < 8``: a plain loop, ``res = 0; res += a[i]``;
* ``8 <= n <= 128`` (a *leaf*): eight running sums ``r[0..7] = a[0..7]``, then ``r[k] += a[i + k]`` for each
  further full row of eight, then ``res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))``, then the last
  ``n % 8`` elements one by one: ``res += a[i]``;
* ``n > 128``: split at ``n2 = n // 2`` rounded down to a multiple of 8 and return
  ``pairwise(a[:n2]) + pairwise(a[n2:])``;
* for ``n >= 8`` the reduction adds that pairwise result to its start value ``+0.0`` (which changes only a sum
  of ``-0.0`` values: it becomes ``+0.0``).

An n-dimensional contiguous array is reduced as one flat run of ``n`` elements (checked for the shapes used here,
up to 80 x 160 x 160). The tree of splits depends only on ``n``, never on the values, so it is planned once per
``n`` (:func:`_plan`) and then replayed on the device with the same float32 additions in the same order: every
leaf at once (gathers into ``(K, leaves, 16, 8)`` rows, padded with ``-0.0``, which leaves any float32 unchanged
when added), then the tree level by level. Float32 additions are correctly rounded on every IEEE device, so the
result is the same bits on the CPU and on CUDA; no fused multiply-add can creep in, as there are only additions.
On CUDA with Triton the same additions run as two kernels, the leaves and then the tree (:mod:`.triton_sums`,
family ``"sums"`` of :mod:`.triton_gate`, checked on the device against the eager path before first use), instead
of some 150 operations per sum.

``mean``: ``np.float32(sum / n)`` where ``sum`` is the float32 sum and ``n`` a numpy integer, so the division is
done in **float64** and rounded once to float32 (``_methods._mean``). ``std``: the mean as above, then
``d = x - mean`` and ``d * d`` in float32, their float32 pairwise sum, divided by ``n`` in float64 and rounded to
float32, then a float32 square root (``_methods._var`` / ``_std``). ``min``/``max`` are exact in any order.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from . import triton_gate
from .exact import ieee_div

FAMILY = "sums"
BLOCK = 128  # leaves (or tree nodes) per program on a GPU

PW_BLOCKSIZE = 128
"""numpy's leaf size for pairwise summation."""


@dataclass(frozen=True)
class _SumPlan:
    """The pairwise tree of one length ``n``: leaf gathers and the levels of the tree (all data-independent)."""

    n: int
    main_index: np.ndarray  # (leaves, rows, 8): element indices; n = the -0.0 sentinel
    tail_index: np.ndarray  # (leaves, tails): the n % 8 elements added one by one after a leaf's eight sums
    levels: tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]  # (out, left, right) node ids per tree level
    root: int


@lru_cache(maxsize=64)
def _plan(n: int) -> _SumPlan:
    leaves: list[tuple[int, int]] = []
    nodes: list[tuple[int, int, int]] = []  # (height, left id, right id); ids of internal nodes follow the leaves

    def split(start: int, length: int) -> tuple[str, int, int]:
        if length <= PW_BLOCKSIZE:
            leaves.append((start, length))
            return ("leaf", len(leaves) - 1, 0)
        n2 = length // 2
        n2 -= n2 % 8
        left = split(start, n2)
        right = split(start + n2, length - n2)
        nodes.append((max(left[2], right[2]) + 1, _ref(left), _ref(right)))
        return ("node", len(nodes) - 1, nodes[-1][0])

    def _ref(item: tuple[str, int, int]) -> int:
        kind, idx, _ = item
        return idx if kind == "leaf" else -(idx + 1)  # internal nodes numbered after the leaves, resolved below

    root = split(0, n)
    n_leaves = len(leaves)
    rows = max(length // 8 for _, length in leaves)
    tails = max(length % 8 for _, length in leaves)
    main = np.full((n_leaves, rows, 8), n, dtype=np.int64)
    tail = np.full((n_leaves, max(tails, 1)), n, dtype=np.int64)
    for i, (start, length) in enumerate(leaves):
        m = length - length % 8
        main[i, : m // 8] = (start + np.arange(m)).reshape(m // 8, 8)
        tail[i, : length % 8] = start + m + np.arange(length % 8)

    def node_id(ref: int) -> int:
        return ref if ref >= 0 else n_leaves + (-ref - 1)

    levels = []
    for height in range(1, (max((h for h, _, _ in nodes), default=0)) + 1):
        members = [(n_leaves + k, node_id(left), node_id(right)) for k, (h, left, right) in enumerate(nodes)
                   if h == height]
        out, left, right = (np.array(col, dtype=np.int64) for col in zip(*members))
        levels.append((out, left, right))
    root_id = root[1] if root[0] == "leaf" else n_leaves + root[1]
    return _SumPlan(n, main, tail[:, :tails] if tails else tail[:, :0], tuple(levels), root_id)


_DEVICE_PLANS: dict[tuple[int, str], tuple] = {}


def _device_plan(n: int, device: torch.device) -> tuple:
    key = (n, str(device))
    cached = _DEVICE_PLANS.get(key)
    if cached is None:
        plan = _plan(n)
        to = lambda a: torch.from_numpy(a).to(device, non_blocking=True)  # noqa: E731 - one-time copies
        cached = (plan, to(plan.main_index), to(plan.tail_index),
                  tuple((to(o), to(l), to(r)) for o, l, r in plan.levels))
        if len(_DEVICE_PLANS) > 128:
            _DEVICE_PLANS.clear()
        _DEVICE_PLANS[key] = cached
    return cached


def numpy_sum_f32(x: torch.Tensor) -> torch.Tensor:
    """``np.add.reduce`` of each row of a float32 ``(K, n)`` tensor, as numpy computes it: a ``(K,)`` float32 tensor.

    Equal bit for bit to ``np.sum(row)`` of the same contiguous float32 values, on any device (see the module
    docstring for the order of the additions).
    """
    if x.dtype != torch.float32 or x.dim() != 2:
        raise TypeError("numpy_sum_f32 takes a float32 (K, n) tensor")
    if x.shape[1] >= 8 and triton_gate.usable(x, FAMILY):
        return _numpy_sum_kernels(x)
    return _numpy_sum_eager(x)


def _numpy_sum_eager(x: torch.Tensor) -> torch.Tensor:
    """:func:`numpy_sum_f32` as eager torch operations: the leaves all at once, then the tree level by level."""
    k, n = x.shape
    if n < 8:
        res = torch.zeros(k, dtype=torch.float32, device=x.device)
        for i in range(n):
            res = res + x[:, i]
        return res
    plan, main_index, tail_index, levels = _device_plan(n, x.device)
    padded = torch.cat([x, torch.full((k, 1), -0.0, dtype=torch.float32, device=x.device)], dim=1)
    main = padded[:, main_index]  # (K, leaves, rows, 8)
    r = main[:, :, 0, :]
    for row in range(1, main.shape[2]):
        r = r + main[:, :, row, :]
    res = ((r[..., 0] + r[..., 1]) + (r[..., 2] + r[..., 3])) + ((r[..., 4] + r[..., 5]) + (r[..., 6] + r[..., 7]))
    if tail_index.shape[1]:
        tail = padded[:, tail_index]  # (K, leaves, tails)
        for t in range(tail.shape[2]):
            res = res + tail[:, :, t]
    if not levels:
        return res[:, 0] + 0.0  # numpy adds the pairwise sum to its start value +0.0: -0.0 becomes +0.0
    buffer = torch.empty((k, res.shape[1] + sum(len(o) for o, _, _ in plan.levels)), dtype=torch.float32,
                         device=x.device)
    buffer[:, : res.shape[1]] = res
    for out, left, right in levels:
        buffer.index_copy_(1, out, buffer.index_select(1, left) + buffer.index_select(1, right))
    return buffer[:, plan.root] + 0.0  # numpy's start value +0.0, as above


_KERNEL_PLANS: dict[tuple[int, str], tuple] = {}


def _kernel_plan(n: int, device: torch.device) -> tuple:
    """The plan of length ``n`` as the kernels read it (on ``device``, once per length): leaf and tail indices, the
    levels' node ids concatenated and where each level starts."""
    key = (n, str(device))
    cached = _KERNEL_PLANS.get(key)
    if cached is None:
        plan = _plan(n)

        def to(a: np.ndarray) -> torch.Tensor:  # one-time copies
            return torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64)).to(device, non_blocking=True)

        levels = plan.levels or ((np.zeros(0, np.int64),) * 3,)
        starts = np.cumsum([0] + [len(o) for o, _, _ in plan.levels])
        cached = (plan, to(plan.main_index.reshape(-1)), to(plan.tail_index.reshape(-1)),
                  *(to(np.concatenate([level[i] for level in levels])) for i in range(3)), to(starts))
        if len(_KERNEL_PLANS) > 128:
            _KERNEL_PLANS.clear()
        _KERNEL_PLANS[key] = cached
    return cached


def _numpy_sum_kernels(x: torch.Tensor) -> torch.Tensor:
    """:func:`numpy_sum_f32` (n >= 8) as two kernel launches: every leaf, then the tree, row by row."""
    k, n = x.shape
    plan, main_index, tail_index, out, left, right, starts = _kernel_plan(n, x.device)
    leaves, rows = plan.main_index.shape[:2]
    width = leaves + sum(len(o) for o, _, _ in plan.levels)
    buffer = torch.empty((k, width), dtype=torch.float32, device=x.device)
    from . import triton_sums  # imported on first use: importing Triton costs a second

    block = triton_gate.block_size(x.device, BLOCK)
    triton_gate.launch(triton_sums.leaves, (triton_gate.cdiv(leaves, block), k), x.device, x.contiguous(),
                       main_index, tail_index, buffer, n, leaves, rows, plan.tail_index.shape[1], width, BLOCK=block)
    if plan.levels:
        triton_gate.launch(triton_sums.tree, (k,), x.device, buffer, out, left, right, starts, len(plan.levels),
                           width, BLOCK=block)
    return buffer[:, plan.root] + 0.0  # numpy's start value +0.0: -0.0 becomes +0.0


def _self_check(device: torch.device) -> str | None:
    """The kernels on rows of several lengths (one leaf, with and without a tail, deep trees), values of mixed
    magnitude and sign and rows of -0.0, on ``device``, against the eager path on the CPU, bit for bit."""
    rng = np.random.default_rng(20261207)
    for n in (8, 13, 128, 129, 1000, 40_003):
        rows = rng.standard_normal((3, n)) * np.exp(rng.uniform(-8, 8, (3, n)))
        rows[2] = -0.0
        x = torch.from_numpy(rows.astype(np.float32))
        why = triton_gate.difference(f"float32 pairwise sum (n={n})", _numpy_sum_kernels(x.to(device)),
                                     _numpy_sum_eager(x), device)
        if why is not None:
            return why
    return None


triton_gate.register(FAMILY, _self_check, "float32 sums", "float32 求和")


def numpy_mean_f32(x: torch.Tensor) -> torch.Tensor:
    """``row.mean()`` for each row of a float32 ``(K, n)`` tensor, as numpy: float32 sum, float64 division."""
    # ieee_div: on CUDA, tensor / python number is a multiplication by the reciprocal, not numpy's division
    return ieee_div(numpy_sum_f32(x).double(), x.shape[1]).float()


def numpy_std_f32(x: torch.Tensor, mean: torch.Tensor | None = None) -> torch.Tensor:
    """``row.std()`` (ddof 0) for each row of a float32 ``(K, n)`` tensor, as numpy computes it (float32)."""
    if mean is None:
        mean = numpy_mean_f32(x)
    d = x - mean[:, None]
    var = ieee_div(numpy_sum_f32(d * d).double(), x.shape[1]).float()
    return sqrt_f32(var)


def sqrt_f32(x: torch.Tensor) -> torch.Tensor:
    """The correctly rounded float32 square root (numpy's ``np.sqrt`` on float32, IEEE 754), on any device.

    ``torch.sqrt`` on the CPU is *not* correctly rounded (it differs from numpy in ~20 % of float32 and ~1 % of
    float64 inputs on an AVX-512 machine). Here: a float64 square root rounded to float32, then checked against
    the exact midpoints to its float32 neighbours (a float32 ``r`` has 24 bits, so ``r * r`` and the square of a
    midpoint, 25 bits, are exact in float64) and moved one step where it was rounded the wrong way.
    """
    x64 = x.double()
    r = torch.sqrt(x64).float()
    up = torch.nextafter(r, torch.full_like(r, float("inf")))
    down = torch.nextafter(r, torch.full_like(r, float("-inf")))
    mid_up = (r.double() + up.double()) * 0.5
    mid_down = (r.double() + down.double()) * 0.5
    r = torch.where(mid_up * mid_up < x64, up, r)
    return torch.where((mid_down > 0) & (mid_down * mid_down > x64), down, r)


def host_tensor(values, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A small tensor of values known on the host, sent to ``device`` without waiting for it (no host sync)."""
    t = values if isinstance(values, torch.Tensor) else torch.as_tensor(np.asarray(values))
    return t.to(dtype=dtype).to(device, non_blocking=True)


__all__ = ["host_tensor", "numpy_mean_f32", "numpy_std_f32", "numpy_sum_f32", "sqrt_f32"]
