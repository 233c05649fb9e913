"""The B-spline prefilters' recursions along one axis, two ways: eagerly in torch, and as a few Triton kernels.

Why two: scipy's order-3 prefilter (:func:`~.interpolation.spline_prefilter`, and the reflect-boundary one in
:func:`~.scipy_zoom.spline_prefilter_reflect`) runs, along each axis, a causal and an anti-causal first-order
recursion, and its start value is a sum over the whole line, term by term. Each step depends on the one before,
so the eager path (:func:`mirror_filter_lines_eager`, :func:`reflect_filter_lines_eager`) is one small torch
operation per slab and step, about five per step: some 3,200 kernel launches for the blog's loader patch (175 +
257 + 210 steps over the three axes), each a few microseconds of the launching thread and of the GPU for a kernel
that moves a megabyte. The Triton kernels give each GPU thread its own lines and walk along them in scipy's
order: three launches per axis (mirror boundary) or one (reflect) do the same work.

Exactness: the same float64 operations in the same order as the eager path, each rounded once: the kernels are
compiled with ``enable_fp_fusion=False`` (no ``a * b + c`` contracted into a fused multiply-add), the scalars
(pole, its powers) travel as float64 tensors (Triton would make a Python float a float32 argument), and the two
divisions of the mirror boundary stay torch divisions between the kernels (:func:`~.exact.ieee_div`). Compiled
ahead of time for A100 and H100/H200 (sm_80, sm_90; no GPU needed), the kernels' PTX holds only ``mul.rn.f64``,
``add.rn.f64`` and ``sub.rn.f64`` and their machine code only ``DMUL`` and ``DADD``, no ``DFMA``
(``tests/device_augmentation/test_spline_recursions.py``). Before the first use on a device the kernels run once
on a small random block and must equal the eager path on the CPU bit for bit; if they do not, or Triton is
missing or fails, the eager path runs and :func:`.triton_gate.describe` says why (this module's family there:
``"prefilter"``; the environment variable that picks a path is described there too).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch

from ...language import tr
from . import triton_gate
from .exact import ieee_div

# scipy's poles (get_filter_poles), as the same decimal literals the C source uses
POLES: dict[int, tuple[float, ...]] = {
    2: (-0.171572875253809902396622551580603843,),
    3: (-0.267949192431122706472553658494127633,),
    4: (-0.361341225900220177092212841325675255, -0.013725429297339121360331226939128204),
    5: (-0.430575347099973791851434783493520110, -0.043096288203264653822712376822550182),
}

BLOCK = 128  # lines per program: float64 loads of 1 KB per step, coalesced (the lines are the fastest axis)
FAMILY = "prefilter"

# --- the two filters, as scipy's ni_splines.c runs them ------------------------------------------------------

def mirror_filter_lines(c: torch.Tensor, poles: Sequence[float]) -> None:
    """scipy's ``apply_filter`` with the mirror boundary (the gain, then per pole the start value, the causal and
    the anti-causal recursion), in place along dim 0 of ``c (n, ...)``, contiguous float64, n > 1: as Triton
    kernels where :func:`use_kernels` says so, else eagerly."""
    if use_kernels(c):
        _mirror_filter_lines_kernels(c.view(c.shape[0], -1), poles)
    else:
        mirror_filter_lines_eager(c, poles)


def reflect_filter_lines(c: torch.Tensor, z: float) -> None:
    """scipy's order-3 filter with the reflect boundary (``mode='nearest'``), start values included, in place along
    dim 0 of ``c (n, m)`` (the gain already applied), contiguous float64, n > 1: as one Triton kernel where
    :func:`use_kernels` says so, else eagerly."""
    if use_kernels(c):
        _reflect_filter_lines_kernels(c, z)
    else:
        reflect_filter_lines_eager(c, z)


def gain(poles: Sequence[float]) -> float:
    """The filter's gain, ``prod((1 - z)(1 - 1/z))`` over the poles, formed as scipy forms it."""
    g = 1.0
    for z in poles:
        g *= (1.0 - z) * (1.0 - 1.0 / z)
    return g


def _powers(z: float, count: int) -> list[float]:
    """z, z^2, ..., z^count by repeated multiplication, as scipy's loop forms them (not z ** k: other bits)."""
    out, z_i = [], z
    for _ in range(count):
        out.append(z_i)
        z_i *= z
    return out


def mirror_filter_lines_eager(c: torch.Tensor, poles: Sequence[float]) -> None:
    """:func:`mirror_filter_lines` with one torch operation per step (one kernel per slab on a GPU)."""
    n = c.shape[0]
    c.mul_(gain(poles))
    for z in poles:
        # _init_causal_mirror: c0 + z^(n-1) c[n-1] + sum_{i=1}^{n-2} z^i (c[i] + z^(n-1) c[n-1-i]), added in i order
        z_n_1 = z ** (n - 1)  # C's pow(); Python's float ** int calls the same libm pow
        acc = c[0] + c[n - 1] * z_n_1
        if n > 2:
            zp = triton_gate.table(("zpow", z, n), _powers(z, n - 2), c.device)
            zp = zp.view((n - 2,) + (1,) * (c.dim() - 1))
            terms = (c[1:n - 1] + torch.flip(c[1:n - 1], [0]) * z_n_1) * zp
            for i in range(n - 2):
                acc = acc + terms[i]
        c[0] = ieee_div(acc, 1 - z_n_1 * z_n_1)
        for i in range(1, n):  # causal recursion
            c[i].add_(c[i - 1] * z)
        # _init_anticausal_mirror, then the anti-causal recursion
        c[n - 1] = ieee_div((c[n - 2] * z + c[n - 1]) * z, z * z - 1)
        for i in range(n - 2, -1, -1):
            torch.mul(c[i + 1] - c[i], z, out=c[i])


def reflect_filter_lines_eager(c: torch.Tensor, z: float) -> None:
    """The reflect-boundary recursions along dim 0 of ``c (n, m)`` (gain applied), in place, one torch operation
    per step (one kernel per slab on a GPU)."""
    n = c.shape[0]
    # causal initial value (_init_causal_reflect); the loop reads c[0] while it accumulates into it
    z_n = math.pow(z, n)
    c0 = c[0]
    acc = c[0] + z_n * c[n - 1]
    if n > 2:
        z_i = _powers(z, n - 2)
        terms = (c[1:n - 1] + z_n * c[1:n - 1].flip(0)) * triton_gate.table(("zp", z, n), z_i, c.device)[:, None]
        for i in range(n - 2):
            acc.add_(terms[i])
        z_last = z_i[-1] * z
    else:
        z_last = z
    acc = acc + z_last * (c[n - 1] + z_n * acc)
    acc = acc * (z / (1 - z_n * z_n))
    c[0] = acc + c0
    # in place, one kernel per operation: the same roundings as c[i] += z * c[i - 1] and
    # c[i] = z * (c[i + 1] - c[i]) in scipy's loop
    for i in range(1, n):
        c[i].add_(c[i - 1] * z)
    c[n - 1].mul_(z / (z - 1))
    for i in range(n - 2, -1, -1):
        torch.sub(c[i + 1], c[i], out=c[i])
        c[i].mul_(z)


# --- the kernels ------------------------------------------------------------------------------------------------

def _launch(name: str, c: torch.Tensor, *args: Any) -> None:
    from . import triton_prefilters  # imported on first use: importing Triton costs a second

    n, m = c.shape
    triton_gate.launch(getattr(triton_prefilters, name), (triton_gate.cdiv(m, BLOCK),), c.device, c, *args, n, m,
                       BLOCK=BLOCK)


def _mirror_filter_lines_kernels(c: torch.Tensor, poles: Sequence[float]) -> None:
    """:func:`mirror_filter_lines_eager` (gain, then per pole the start value, the causal and the
    anti-causal recursion) on ``c (n, m)``, contiguous float64, n > 1, in place: three kernel launches and two
    torch divisions per pole."""
    n, m = c.shape
    c.mul_(gain(poles))
    buffer = torch.empty(m, dtype=torch.float64, device=c.device)
    for z in poles:
        z_n_1 = z ** (n - 1)  # C's pow(), as in the eager path
        zp = triton_gate.table(("zpow", z, n), _powers(z, n - 2), c.device)
        _launch("mirror_start", c, zp, triton_gate.table(("z", z_n_1), [z_n_1], c.device), buffer)
        c[0] = ieee_div(buffer, 1 - z_n_1 * z_n_1)
        _launch("causal", c, triton_gate.table(("z", z), [z], c.device), buffer)
        c[n - 1] = ieee_div(buffer, z * z - 1)
        _launch("anticausal", c, triton_gate.table(("z", z), [z], c.device))


def _reflect_filter_lines_kernels(c: torch.Tensor, z: float) -> None:
    """:func:`reflect_filter_lines_eager` on ``c (n, m)`` (gain applied), contiguous float64, n > 1,
    in place: one kernel launch."""
    n = c.shape[0]
    z_n = math.pow(z, n)  # as the eager path
    z_i = _powers(z, max(n - 2, 0))
    z_last = z_i[-1] * z if n > 2 else z
    params = [z, z_n, z_last, z / (1 - z_n * z_n), z / (z - 1)]
    _launch("reflect", c, triton_gate.table(("zp", z, n), z_i, c.device),
            triton_gate.table(("reflect", z, n), params, c.device))


# --- which path, per device ------------------------------------------------------------------------------------

def _self_check(device: torch.device) -> str | None:
    """Run both kernels on a small random block on ``device``; None if they equal the CPU eager path bit for
    bit, else why not."""
    rng = np.random.default_rng(20261205)
    for n in (2, 3, 41):
        block = torch.from_numpy(rng.standard_normal((n, 3 * BLOCK + 5)) * 100.0)
        for name, kernel_path, eager in (
                ("mirror", lambda t: _mirror_filter_lines_kernels(t, POLES[3]),
                 lambda t: mirror_filter_lines_eager(t, POLES[3])),
                ("reflect", lambda t: _reflect_filter_lines_kernels(t, POLES[3][0]),
                 lambda t: reflect_filter_lines_eager(t, POLES[3][0]))):
            expected = block.clone()
            eager(expected)
            got = block.to(device).contiguous()
            kernel_path(got)
            got = got.cpu()  # once per device and process, before the first batch: not in the training loop
            if not torch.equal(got, expected):
                differing = int((got != expected).sum())
                return tr(f"the Triton {name} prefilter differs from the eager path in {differing} of "
                          f"{expected.numel()} values (n={n}) on {device}",
                          f"Triton {name} 预滤波在 {device} 上与逐步 torch 实现不同:{expected.numel()} 个值中有 "
                          f"{differing} 个(n={n})")
    return None


def use_kernels(c: torch.Tensor) -> bool:
    """Whether the prefilters of ``c`` (float64, on its device) run as kernels (:func:`.triton_gate.usable`)."""
    return triton_gate.usable(c, FAMILY)


def status(device: torch.device | str) -> str | None:
    """None when the prefilter kernels run for tensors on ``device``; otherwise why the eager path runs."""
    return triton_gate.status(device, FAMILY)


triton_gate.register(FAMILY, _self_check, "spline prefilters", "样条预滤波")

__all__ = ["BLOCK", "FAMILY", "POLES", "gain", "mirror_filter_lines", "mirror_filter_lines_eager",
           "reflect_filter_lines", "reflect_filter_lines_eager", "status", "use_kernels"]
