"""Where tensors live: the one place that turns "auto", "cuda", "cuda:1" or "cpu" into a ``torch.device``.

nnU-Net v1 is written for a GPU: it moves the network and the batches to CUDA whenever
``torch.cuda.is_available()`` and otherwise runs, slowly, on the CPU (``nnUNet_train`` logs a warning; the
benchmarking dummyLoad trainers call ``.cuda()`` unconditionally). The explorer runs on both, so the device is
chosen **once**, at the start of a command, a notebook or a widget, and every network and tensor is placed there:

* ``None`` or ``"auto"`` — CUDA where ``torch.cuda.is_available()``, else the CPU (what a v1 user expects on a
  GPU machine, and what still works on a laptop);
* ``"cuda"``/``"cuda:N"``/``"cpu"`` — exactly that; asking for CUDA where there is none is an error with a fix,
  never a silent fallback to the CPU.

:func:`runs_on` says whether a torch build has kernels for a GPU (``doctor`` and ``doctor --explain`` ask it: torch
only warns, and the first convolution on such a GPU fails far from the cause).
"""
from __future__ import annotations

import torch

import re

from .errors import ConfigurationError
from .language import tr

AUTO = "auto"


def resolve_device(requested: str | torch.device | None = AUTO) -> torch.device:
    """The ``torch.device`` to use for ``requested`` (``None``/``"auto"``: CUDA when available, else CPU).

    Raises:
        ConfigurationError: an unknown device string, or CUDA requested on a machine without it.
    """
    if requested is None or (isinstance(requested, str) and requested.strip().lower() == AUTO):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(requested)
    except (RuntimeError, TypeError) as exc:
        raise ConfigurationError(tr(f"unknown device {requested!r}", f"未知的设备 {requested!r}"),
                                 fix=tr("use 'auto', 'cpu', 'cuda' or 'cuda:N'",
                                        "使用 'auto'、'cpu'、'cuda' 或 'cuda:N'")) from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigurationError(tr(f"device {requested!r} asked for, but torch.cuda.is_available() is False",
                                        f"要求使用设备 {requested!r},但 torch.cuda.is_available() 为 False"),
                                     fix=tr("use --device cpu (or 'auto'), or install a CUDA build of torch on a GPU "
                                            "machine", "使用 --device cpu(或 'auto'),或在 GPU 机器上安装 CUDA 版的 torch"))
        if device.index is not None and device.index >= torch.cuda.device_count():
            count = torch.cuda.device_count()
            raise ConfigurationError(tr(f"device {requested!r} asked for, but only {count} GPU(s) are visible",
                                        f"要求使用设备 {requested!r},但只能看到 {count} 个 GPU"),
                                     fix=tr("pick an index below that, or check CUDA_VISIBLE_DEVICES",
                                            "选一个比它小的编号,或检查 CUDA_VISIBLE_DEVICES"))
    elif device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ConfigurationError(tr(f"device {requested!r} asked for, but torch.backends.mps.is_available() is "
                                        "False", f"要求使用设备 {requested!r},但 torch.backends.mps.is_available() 为 False"),
                                     fix=tr("use --device cpu (Apple's GPU needs a macOS build of torch on Apple "
                                            "silicon)", "使用 --device cpu(Apple 的 GPU 需要在 Apple 芯片上安装 macOS 版的 torch)"))
    elif device.type not in ("cpu", "meta"):
        # xpu and others are not tested here, so they are refused rather than guessed
        raise ConfigurationError(tr(f"device type {device.type!r} is not supported",
                                    f"不支持设备类型 {device.type!r}"),
                                 fix=tr("use 'auto', 'cpu', 'cuda', 'cuda:N' or (on Apple silicon) 'mps'",
                                        "使用 'auto'、'cpu'、'cuda'、'cuda:N' 或(在 Apple 芯片上)'mps'"))
    return device


def default_device_name() -> str:
    """``"cuda"`` where CUDA is available, else ``"cpu"`` (for help texts and log lines)."""
    return resolve_device(AUTO).type


#: the first CUDA release with kernels for each GPU generation's compute capability
FIRST_CUDA = {(8, 0): "11.0", (8, 6): "11.1", (8, 7): "11.4", (8, 9): "11.8", (9, 0): "11.8", (10, 0): "12.8",
              (12, 0): "12.8"}


def runs_on(arches: list[str], capability: tuple[int, int]) -> bool:
    """Whether a torch build with these kernels (``torch.cuda.get_arch_list()``) runs on a GPU of this compute
    capability, by CUDA's rules: ``sm_86`` binaries run on 8.6 and later 8.x GPUs (``sm_90a``, arch-specific, only
    on 9.0), ``compute_90`` PTX is compiled by the driver for any GPU from 9.0 on."""
    for arch in arches:
        kind, _, number = arch.partition("_")
        digits = re.match(r"\d\d+", number)
        if digits is None:
            continue
        built = (int(digits.group(0)[:-1]), int(digits.group(0)[-1]))
        if kind == "compute" and built <= capability:
            return True
        if kind == "sm" and (built == capability if number.endswith("a") else
                             built[0] == capability[0] and built[1] <= capability[1]):
            return True
    return False
