"""Where tensors live: the one place that turns "auto", "cuda", "cuda:1" or "cpu" into a ``torch.device``.

nnU-Net v1 assumes a GPU: ``nnUNet_train`` and ``nnUNet_predict`` call ``.cuda()`` everywhere and only warn when
CUDA is missing. The explorer runs on both, so the device is chosen **once**, at the start of a command, a
notebook or a widget, and every network and tensor is placed there:

* ``None`` or ``"auto"`` — CUDA where ``torch.cuda.is_available()``, else the CPU (what a v1 user expects on a
  GPU machine, and what still works on a laptop);
* ``"cuda"``/``"cuda:N"``/``"cpu"`` — exactly that; asking for CUDA where there is none is an error with a fix,
  never a silent fallback to the CPU.
"""
from __future__ import annotations

import torch

from .errors import ConfigurationError

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
        raise ConfigurationError(f"unknown device {requested!r}",
                                 fix="use 'auto', 'cpu', 'cuda' or 'cuda:N'") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigurationError(f"device {requested!r} asked for, but torch.cuda.is_available() is False",
                                     fix="use --device cpu (or 'auto'), or install a CUDA build of torch on a GPU "
                                         "machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigurationError(f"device {requested!r} asked for, but only {torch.cuda.device_count()} GPU(s) "
                                     "are visible", fix="pick an index below that, or check CUDA_VISIBLE_DEVICES")
    elif device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ConfigurationError(f"device {requested!r} asked for, but torch.backends.mps.is_available() is False",
                                     fix="use --device cpu (Apple's GPU needs a macOS build of torch on Apple silicon)")
    elif device.type not in ("cpu", "meta"):
        # xpu and others are not tested here, so they are refused rather than guessed
        raise ConfigurationError(f"device type {device.type!r} is not supported",
                                 fix="use 'auto', 'cpu', 'cuda', 'cuda:N' or (on Apple silicon) 'mps'")
    return device


def default_device_name() -> str:
    """``"cuda"`` where CUDA is available, else ``"cpu"`` (for help texts and log lines)."""
    return resolve_device(AUTO).type
