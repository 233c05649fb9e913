"""The contract every device transform follows, and the registry from batchgenerators classes to them."""
from __future__ import annotations

from typing import Any, Callable

import torch

_REGISTRY: dict[type, type["DeviceTransform"]] = {}


class DeviceTransform:
    """One batchgenerators transform, split into its random draws (CPU, v1's order) and its arithmetic (device).

    Subclasses are registered with :func:`replaces` and built from the batchgenerators transform object itself:
    ``DeviceX(bg_transform)``; they read every parameter from it.

    The contract, checked by the parity tests: for any seed, with numpy's and Python's random streams in the same
    state, ``apply(data, seg, draw(b, data.shape, seg.shape))`` on the CPU device returns float32 data equal **bit
    for bit** and segmentations equal voxel for voxel to ``bg_transform(data=data, seg=seg)``, and leaves both
    random streams in the state the batchgenerators call leaves them.
    """

    def __init__(self, transform: Any) -> None:
        self.transform = transform

    def draw(self, batch_size: int, data_shape: tuple[int, ...], seg_shape: tuple[int, ...] | None) -> Any:
        raise NotImplementedError

    def apply(self, data: torch.Tensor, seg: torch.Tensor | None, draws: Any) -> tuple[torch.Tensor,
                                                                                        torch.Tensor | None]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({type(self.transform).__name__})"


def replaces(*bg_classes: type) -> Callable[[type[DeviceTransform]], type[DeviceTransform]]:
    """Class decorator: the device transform that stands for these batchgenerators transform classes."""

    def register(cls: type[DeviceTransform]) -> type[DeviceTransform]:
        for bg_class in bg_classes:
            _REGISTRY[bg_class] = cls
        return cls

    return register


def device_transform_for(transform: Any) -> DeviceTransform | None:
    """The device transform for a batchgenerators transform object (exact class match), or None (CPU fallback)."""
    cls = _REGISTRY.get(type(transform))
    return None if cls is None else cls(transform)


__all__ = ["DeviceTransform", "device_transform_for", "replaces"]
