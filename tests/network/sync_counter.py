"""Count the calls that make the host wait for the device (what would stall a GPU), on any device.

Everything that turns a tensor into a Python value (``item``, ``float()``, ``bool()``, ``tolist``, ``numpy``),
copies it to the CPU, or gives a result whose *size* depends on the data (``nonzero``, ``unique``,
``masked_select``) has to wait until the device has computed it. On a CPU nothing waits, but the calls are the
same, so counting them here tells what a CUDA run would do.
"""
from __future__ import annotations

from collections import Counter

import torch
from torch.overrides import TorchFunctionMode

READS = {torch.Tensor.item, torch.Tensor.__float__, torch.Tensor.__bool__, torch.Tensor.__int__,
         torch.Tensor.__index__, torch.Tensor.tolist, torch.Tensor.numpy, torch.Tensor.cpu,
         torch.Tensor.nonzero, torch.nonzero, torch.Tensor.unique, torch.unique, torch.masked_select,
         torch.Tensor.masked_select}


class SyncCounter(TorchFunctionMode):
    """``with SyncCounter() as c: ...`` then ``c.total`` and ``c.calls`` (which function, how often)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter = Counter()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in READS:
            self.calls[getattr(func, "__name__", str(func))] += 1
        elif func in (torch.Tensor.to,) and _to_cpu(args, kwargs):
            self.calls["to(cpu)"] += 1
        return func(*args, **kwargs)

    @property
    def total(self) -> int:
        return sum(self.calls.values())


def _to_cpu(args, kwargs) -> bool:
    target = kwargs.get("device", args[1] if len(args) > 1 else None)
    if isinstance(target, (str, torch.device)):
        return torch.device(target).type == "cpu" and args[0].device.type != "cpu"
    return False
