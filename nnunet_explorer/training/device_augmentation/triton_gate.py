"""Whether the device augmentation's Triton kernels run, per device and kernel family, and why not.

Five families of exact kernels replace long chains of small torch operations on a GPU: the spline prefilters'
recursions (:mod:`.spline_recursions`, kernels in :mod:`.triton_prefilters`), the interpolation itself,
``map_coordinates`` and the segmentations' argmax (:mod:`.interpolation`, kernels in :mod:`.triton_interpolation`),
scikit-image's resize behind SimulateLowResolution (:mod:`.scipy_zoom`, kernel in :mod:`.triton_zoom`),
gamma's float32 power as numpy computes it (:mod:`.numpy_power`, kernel in :mod:`.triton_power`) and numpy's
pairwise float32 sums behind the per-channel means and deviations (:mod:`.numpy_sums`, kernels in
:mod:`.triton_sums`).
Each family registers a *self-check* here: run its kernels on a small random input on the device and compare them
with the eager torch path on the CPU, bit for bit; ``None`` when they are equal, else why not. A family's kernels
run on a device only after its check held there, once per process (Triton's disk cache keeps the compiled kernels
across processes). Where Triton is missing, fails to compile, or differs, the eager path runs and :func:`describe`
says why: the eager path is always right, only slower.

Every kernel is declared with :func:`jit` (one compiled binary per set of constexprs, so the binary the check ran
is the binary every later batch runs), compiled with :data:`COMPILE_OPTIONS` (no fused multiply-add) and gets its
float64 scalars as tensors (:func:`table`; Triton would pass a Python float as float32).

Which path runs: ``NNUNET_EXPLORER_SPLINE_KERNELS`` = ``auto`` (default: the kernels on CUDA where Triton is
installed and the check holds; the eager path elsewhere), ``eager`` (never the kernels) or ``triton`` (also on the
CPU, which needs ``TRITON_INTERPRET=1``: how the tests run the kernels on a machine without a GPU).
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import threading
from typing import Any, Callable, Sequence

import torch

from ...language import tr

ENV = "NNUNET_EXPLORER_SPLINE_KERNELS"
MODES = ("auto", "eager", "triton")
COMPILE_OPTIONS = {"enable_fp_fusion": False}
"""How every kernel is compiled: no multiply and add contracted into a fused multiply-add (the PTX then holds
``mul.rn.f64`` / ``add.rn.f64``, which ptxas may not fuse either; the tests compile the kernels for Ampere and
Hopper and read the machine code)."""

INTERPRETER_BLOCK = 4096
"""Items per program in Triton's interpreter (the tests, on a CPU), for the kernels whose items are independent
(interpolation, resize, power, sums): there a program is one numpy step per operation over its block, so larger blocks
mean fewer Python steps. Every item's arithmetic is its own: the values do not depend on the block size."""

_families: dict[str, tuple[Callable[[torch.device], str | None], str, str]] = {}
_decided: dict[tuple[str, str], str | None] = {}  # (family, device) -> None (kernels hold) or why the eager path runs
_tables: dict[tuple, torch.Tensor] = {}
_lock = threading.RLock()  # re-entrant: a family's check may ask about another family


def register(family: str, check: Callable[[torch.device], str | None], title_en: str, title_zh: str) -> None:
    """Declare a kernel family: ``check(device)`` compares its kernels on ``device`` with the eager path on the CPU
    (None when equal bit for bit, else why not); the titles name it in :func:`describe`."""
    _families[family] = (check, title_en, title_zh)


def mode() -> str:
    """The requested path (the environment variable, checked)."""
    value = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if value not in MODES:
        raise ValueError(f"{ENV}={value!r}: use one of {', '.join(MODES)}")
    return value


def status(device: torch.device | str, family: str) -> str | None:
    """None when ``family``'s kernels run for tensors on ``device``; otherwise why the eager path runs."""
    device = torch.device(device)
    requested = mode()
    if requested == "eager":
        return f"{ENV}=eager"
    if device.type != "cuda" and requested != "triton":
        return tr("on the CPU an operation per step costs no kernel launch",
                  "在 CPU 上每一步一个运算不需要启动内核")
    key = (family, str(device))
    if key in _decided:  # decided (the feeder asks many times per batch): no lock
        return _decided[key]
    with _lock:
        if key not in _decided:
            _decided[key] = _check(device, family)
        return _decided[key]


def _check(device: torch.device, family: str) -> str | None:
    if importlib.util.find_spec("triton") is None:
        return tr("Triton is not installed", "没有安装 Triton")
    if device.type != "cuda" and os.environ.get("TRITON_INTERPRET", "0") != "1":
        return tr(f"{ENV}=triton on {device} needs TRITON_INTERPRET=1",
                  f"{device} 上的 {ENV}=triton 需要 TRITON_INTERPRET=1")
    try:
        return _families[family][0](device)
    except Exception as exc:  # a Triton without some feature, a compiler error: the eager path is always right
        first_line = str(exc).splitlines()[0][:200] if str(exc) else ""
        return tr(f"the Triton kernels failed on {device}: {type(exc).__name__}: {first_line}",
                  f"Triton 内核在 {device} 上失败:{type(exc).__name__}: {first_line}")


def usable(t: torch.Tensor, family: str) -> bool:
    """Whether ``family``'s kernels may work on ``t``: checked on its device, and small enough for the kernels'
    32-bit offsets (larger tensors take the eager path)."""
    return t.numel() < 2 ** 31 and status(t.device, family) is None


def describe(device: torch.device | str) -> str:
    """One line for logs and ``gpu_check``: which registered kernel families run as Triton kernels on ``device``
    and which eagerly, and why (families with the same reason grouped)."""
    groups: dict[str | None, list[tuple[str, str]]] = {}
    for family, (_, title_en, title_zh) in sorted(_families.items(), key=lambda item: item[1][1]):
        groups.setdefault(status(device, family), []).append((title_en, title_zh))
    parts = []
    for why, titles in sorted(groups.items(), key=lambda item: item[0] is not None):
        en, zh = ", ".join(t for t, _ in titles), "、".join(t for _, t in titles)
        if why is None:
            parts.append(tr(f"exact Triton kernels for {en} (each checked bit for bit against the eager path on this "
                            "device)", f"精确 Triton 内核:{zh}(均已在此设备上与逐步 torch 实现逐位比对一致)"))
        else:
            parts.append(tr(f"eager torch for {en} ({why})", f"逐步 torch 实现:{zh}({why})"))
    return "; ".join(parts)


def difference(what: str, got: torch.Tensor, expected: torch.Tensor, device: torch.device) -> str | None:
    """For a family's check: None when the kernels' result ``got`` (any device) equals the eager path's
    ``expected`` (on the CPU) bit for bit (signed zeros told apart; any NaN equals any NaN, as devices write NaN
    with different payloads), else a sentence saying how many values differ. Reads ``got`` back: call it before
    training, never in the loop."""
    got = got.cpu()
    if got.shape != expected.shape or got.dtype != expected.dtype:
        differing = expected.numel()
    else:
        if got.is_floating_point():
            bits = {2: torch.int16, 4: torch.int32, 8: torch.int64}[got.element_size()]
            same = (got.view(bits) == expected.view(bits)) | (torch.isnan(got) & torch.isnan(expected))
        else:
            same = got == expected
        differing = int((~same).sum())
    if differing == 0:
        return None
    return tr(f"the Triton {what} differs from the eager path in {differing} of {expected.numel()} values on {device}",
              f"Triton {what} 在 {device} 上与逐步 torch 实现不同:{expected.numel()} 个值中有 {differing} 个")


def reset() -> None:
    """Forget the per-device decisions (tests change the environment)."""
    with _lock:
        _decided.clear()


def table(key: tuple, values: Sequence[float | int] | Callable[[], Sequence[float | int]], device: torch.device,
          dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Scalars known on the host, on ``device`` once per key (through a pinned copy: no host sync); ``values`` may
    be a function, called only the first time."""
    full_key = key + (str(device), dtype)
    found = _tables.get(full_key)
    if found is None:
        host = torch.tensor(list(values() if callable(values) else values) or [0], dtype=dtype)
        if device.type == "cuda":
            host = host.pin_memory()
        found = _tables[full_key] = host.to(device, non_blocking=True)
    return found


def block_size(device: torch.device, on_gpu: int) -> int:
    """Items per program: ``on_gpu`` on a GPU, :data:`INTERPRETER_BLOCK` in the interpreter."""
    return on_gpu if device.type == "cuda" else INTERPRETER_BLOCK


def cdiv(count: int, block: int) -> int:
    """How many programs of ``block`` items cover ``count`` items (Triton's ``cdiv``, without importing Triton)."""
    return -(-count // block)


def jit(fn: Callable) -> Any:
    """``triton.jit`` for the families' kernels, with no specialisation on argument values.

    By default Triton compiles a separate binary for each combination of argument properties it sees: an integer
    equal to 1 or divisible by 16, a pointer aligned to 16 bytes. The family's check runs small shapes, a batch
    runs the patch's shapes (80 x 160 x 160: all divisible by 16), so without this the check would compile and
    compare one binary and training would compile and run another, unchecked (and pay a second compilation on a
    machine's first run). Here every argument that is not a ``tl.constexpr`` is neither specialised on its value
    nor on its alignment: one binary per set of constexprs, checked before it runs. The arithmetic is the same
    either way; such hints only let the compiler read memory in wider pieces, which matters little for kernels
    bound by gathers and by recursions along lines.
    """
    import inspect

    import triton

    names = [name for name, p in inspect.signature(fn).parameters.items() if "constexpr" not in str(p.annotation)]
    return triton.jit(fn, do_not_specialize=names, do_not_specialize_on_alignment=names)


def launch(kernel: Any, grid: tuple[int, ...], device: torch.device, *args: Any, **constexprs: Any) -> None:
    """``kernel[grid](*args, **constexprs)`` compiled with :data:`COMPILE_OPTIONS`, on ``device``.

    The feeder thread's current CUDA device is not the training thread's (it is per thread): the launch names it."""
    with torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext():
        kernel[grid](*args, **constexprs, **COMPILE_OPTIONS)


__all__ = ["COMPILE_OPTIONS", "ENV", "INTERPRETER_BLOCK", "MODES", "block_size", "cdiv", "describe", "difference",
           "jit", "launch", "mode", "register", "reset", "status", "table", "usable"]
