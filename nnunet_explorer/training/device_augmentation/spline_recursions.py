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
missing or fails, the eager path runs and :func:`describe` says why.

Which path runs: ``NNUNET_EXPLORER_SPLINE_KERNELS`` = ``auto`` (default: the kernels on CUDA where Triton is
installed and the check holds; the eager path elsewhere), ``eager`` (never the kernels) or ``triton`` (also on the
CPU, which needs ``TRITON_INTERPRET=1``: how the tests run the kernels on a machine without a GPU).
"""
from __future__ import annotations

import contextlib
import importlib.util
import math
import os
import threading
from typing import Any, Sequence

import numpy as np
import torch

from ...language import tr
from .exact import ieee_div

# scipy's poles (get_filter_poles), as the same decimal literals the C source uses
POLES: dict[int, tuple[float, ...]] = {
    2: (-0.171572875253809902396622551580603843,),
    3: (-0.267949192431122706472553658494127633,),
    4: (-0.361341225900220177092212841325675255, -0.013725429297339121360331226939128204),
    5: (-0.430575347099973791851434783493520110, -0.043096288203264653822712376822550182),
}

ENV = "NNUNET_EXPLORER_SPLINE_KERNELS"
MODES = ("auto", "eager", "triton")
BLOCK = 128  # lines per program: float64 loads of 1 KB per step, coalesced (the lines are the fastest axis)
COMPILE_OPTIONS = {"enable_fp_fusion": False}
"""How every kernel is compiled: no multiply and add contracted into a fused multiply-add (the PTX then holds
``mul.rn.f64`` / ``add.rn.f64``, which ptxas may not fuse either; a test compiles the kernels for Hopper and reads
the machine code)."""

_kernels_cache: dict[str, Any] = {}
_device_status: dict[str, str | None] = {}  # device -> None (kernels hold) or why the eager path runs
_tables: dict[tuple, torch.Tensor] = {}
_lock = threading.Lock()


def mode() -> str:
    """The requested path (the environment variable, checked)."""
    value = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if value not in MODES:
        raise ValueError(f"{ENV}={value!r}: use one of {', '.join(MODES)}")
    return value


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
            zp = _table(("zpow", z, n), _powers(z, n - 2), c.device).view((n - 2,) + (1,) * (c.dim() - 1))
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
        terms = (c[1:n - 1] + z_n * c[1:n - 1].flip(0)) * _table(("zp", z, n), z_i, c.device)[:, None]
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

def _kernels() -> dict[str, Any]:
    """The Triton kernels (:mod:`.triton_prefilters`), imported on first use: importing Triton costs a second, and
    only the GPU path needs it."""
    if not _kernels_cache:
        import triton

        from . import triton_prefilters as tp

        _kernels_cache.update(mirror_start=tp.mirror_start, causal=tp.causal, anticausal=tp.anticausal,
                              reflect=tp.reflect, cdiv=triton.cdiv)
    return _kernels_cache


def _table(key: tuple, values: Sequence[float], device: torch.device) -> torch.Tensor:
    """Float64 scalars known on the host, on ``device`` once per key (pinned copy: no host sync)."""
    full_key = key + (str(device),)
    table = _tables.get(full_key)
    if table is None:
        host = torch.tensor(list(values) or [0.0], dtype=torch.float64)
        if device.type == "cuda":
            host = host.pin_memory()
        table = _tables[full_key] = host.to(device, non_blocking=True)
    return table


def _launch(name: str, c: torch.Tensor, *args: Any) -> None:
    k = _kernels()
    n, m = c.shape
    grid = (k["cdiv"](m, BLOCK),)
    # the feeder thread's current CUDA device is not the training thread's (it is per thread): name it
    with torch.cuda.device(c.device) if c.device.type == "cuda" else contextlib.nullcontext():
        k[name][grid](c, *args, n, m, BLOCK=BLOCK, **COMPILE_OPTIONS)


def _mirror_filter_lines_kernels(c: torch.Tensor, poles: Sequence[float]) -> None:
    """:func:`mirror_filter_lines_eager` (gain, then per pole the start value, the causal and the
    anti-causal recursion) on ``c (n, m)``, contiguous float64, n > 1, in place: three kernel launches and two
    torch divisions per pole."""
    n, m = c.shape
    c.mul_(gain(poles))
    buffer = torch.empty(m, dtype=torch.float64, device=c.device)
    for z in poles:
        z_n_1 = z ** (n - 1)  # C's pow(), as in the eager path
        zp = _table(("zpow", z, n), _powers(z, n - 2), c.device)
        _launch("mirror_start", c, zp, _table(("z", z_n_1), [z_n_1], c.device), buffer)
        c[0] = ieee_div(buffer, 1 - z_n_1 * z_n_1)
        _launch("causal", c, _table(("z", z), [z], c.device), buffer)
        c[n - 1] = ieee_div(buffer, z * z - 1)
        _launch("anticausal", c, _table(("z", z), [z], c.device))


def _reflect_filter_lines_kernels(c: torch.Tensor, z: float) -> None:
    """:func:`reflect_filter_lines_eager` on ``c (n, m)`` (gain applied), contiguous float64, n > 1,
    in place: one kernel launch."""
    n = c.shape[0]
    z_n = math.pow(z, n)  # as the eager path
    z_i = _powers(z, max(n - 2, 0))
    z_last = z_i[-1] * z if n > 2 else z
    params = [z, z_n, z_last, z / (1 - z_n * z_n), z / (z - 1)]
    _launch("reflect", c, _table(("zp", z, n), z_i, c.device), _table(("reflect", z, n), params, c.device))


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


def status(device: torch.device | str) -> str | None:
    """None when the kernels run for tensors on ``device``; otherwise why the eager path runs."""
    device = torch.device(device)
    requested = mode()
    if requested == "eager":
        return f"{ENV}=eager"
    if device.type != "cuda" and requested != "triton":
        return tr("on the CPU an operation per step costs no kernel launch", "在 CPU 上每一步一个运算不需要启动内核")
    key = str(device)
    if key in _device_status:  # decided (the feeder asks once per axis): no lock
        return _device_status[key]
    with _lock:
        if key not in _device_status:
            _device_status[key] = _check(device)
        return _device_status[key]


def _check(device: torch.device) -> str | None:
    if importlib.util.find_spec("triton") is None:
        return tr("Triton is not installed", "没有安装 Triton")
    if device.type != "cuda" and os.environ.get("TRITON_INTERPRET", "0") != "1":
        return tr(f"{ENV}=triton on {device} needs TRITON_INTERPRET=1",
                  f"{device} 上的 {ENV}=triton 需要 TRITON_INTERPRET=1")
    try:
        return _self_check(device)
    except Exception as exc:  # a Triton without some feature, a compiler error: the eager path is always right
        first_line = str(exc).splitlines()[0][:200] if str(exc) else ""
        return tr(f"the Triton kernels failed on {device}: {type(exc).__name__}: {first_line}",
                  f"Triton 内核在 {device} 上失败:{type(exc).__name__}: {first_line}")


def use_kernels(c: torch.Tensor) -> bool:
    """Whether the prefilters of ``c`` (float64, on its device) run as kernels."""
    return c.numel() < 2 ** 31 and status(c.device) is None


def describe(device: torch.device | str) -> str:
    """One line for logs and ``gpu_check``: which prefilter path runs on ``device`` and why."""
    why = status(device)
    if why is None:
        return tr("spline prefilters: Triton kernels (checked bit for bit against the eager path on this device)",
                  "样条预滤波:Triton 内核(已在此设备上与逐步 torch 实现逐位比对一致)")
    return tr(f"spline prefilters: eager torch ({why})", f"样条预滤波:逐步 torch 实现({why})")


def reset() -> None:
    """Forget the per-device decisions (tests change the environment)."""
    with _lock:
        _device_status.clear()


__all__ = ["COMPILE_OPTIONS", "ENV", "MODES", "POLES", "describe", "gain", "mirror_filter_lines",
           "mirror_filter_lines_eager", "mode", "reflect_filter_lines", "reflect_filter_lines_eager", "reset",
           "status", "use_kernels"]
