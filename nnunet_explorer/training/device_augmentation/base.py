"""The contract every device transform follows, and the registry from batchgenerators classes to them."""
from __future__ import annotations

from typing import Any, Callable

import torch

_REGISTRY: dict[type, type["DeviceTransform"]] = {}

Shape = Any  # a tuple of ints, or a list of them where batchgenerators makes a list (deep-supervision targets)


class UnsupportedOnDevice(Exception):
    """Raised by a device transform's constructor when this configuration of its batchgenerators transform has no
    exact device version; the message says why, and the transform chain runs the transform on the CPU instead."""


class DeviceTransform:
    """One batchgenerators transform, split into its random draws (CPU, v1's order) and its arithmetic (device).

    Subclasses are registered with :func:`replaces` and built from the batchgenerators transform object itself:
    ``DeviceX(bg_transform)``; they read every parameter from it. A configuration they cannot reproduce exactly
    raises :class:`UnsupportedOnDevice` in the constructor.

    The contract, checked by the parity tests: for any seed, with numpy's and Python's random streams in the same
    state, ``apply(data, seg, draw(b, data.shape, seg.shape))`` on the CPU device returns float32 data equal **bit
    for bit** and segmentations equal voxel for voxel to ``bg_transform(data=data, seg=seg)``, and leaves both
    random streams in the state the batchgenerators call leaves them.

    ``apply`` must not synchronise with the device: no ``.item()``, no Python branching on tensor values (branching
    on the draws, which are host values, is fine), no host-to-device copies from pageable memory.
    """

    def __init__(self, transform: Any) -> None:
        self.transform = transform

    def draw(self, batch_size: int, data_shape: tuple[int, ...], seg_shape: tuple[int, ...] | None) -> Any:
        raise NotImplementedError

    def draw_in_context(self, batch_size: int, data_shape: tuple[int, ...], seg_shape: tuple[int, ...] | None,
                        context: dict) -> Any:
        """:meth:`draw`, for transforms that read or leave non-array keys in batchgenerators' batch dict.

        ``context`` holds those keys (e.g. ``orig_shape_data``, which nnU-Net's ``Convert3DTo2DTransform`` leaves
        for ``Convert2DTo3DTransform``); a transform that writes such a key writes it here. Default: :meth:`draw`.
        """
        return self.draw(batch_size, data_shape, seg_shape)

    def output_shapes(self, data_shape: tuple[int, ...], seg_shape: Shape | None, draws: Any) -> tuple[Shape, Shape]:
        """The shapes :meth:`apply` returns for these input shapes and draws (the transform chain needs them to draw
        for the next transform). Default: run :meth:`apply` on ``meta`` tensors, which computes shapes only."""
        data = torch.empty(data_shape, device="meta")
        seg = None if seg_shape is None else torch.empty(seg_shape, device="meta")
        data_out, seg_out = self.apply(data, seg, draws)
        return _shape_of(data_out), _shape_of(seg_out)

    def apply(self, data: torch.Tensor, seg: torch.Tensor | None, draws: Any) -> tuple[torch.Tensor,
                                                                                        torch.Tensor | None]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({type(self.transform).__name__})"


def _shape_of(value: Any) -> Shape | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)) and not isinstance(value, torch.Size):
        return [_shape_of(v) for v in value]
    return tuple(value.shape)


def replaces(*bg_classes: type) -> Callable[[type[DeviceTransform]], type[DeviceTransform]]:
    """Class decorator: the device transform that stands for these batchgenerators transform classes."""

    def register(cls: type[DeviceTransform]) -> type[DeviceTransform]:
        for bg_class in bg_classes:
            _REGISTRY[bg_class] = cls
        return cls

    return register


def device_transform_or_reason(transform: Any) -> tuple[DeviceTransform | None, str | None]:
    """The device transform for a batchgenerators transform object, or ``(None, why not)``."""
    cls = _REGISTRY.get(type(transform))
    if cls is None:
        return None, f"no device version of {type(transform).__name__} is registered"
    try:
        return cls(transform), None
    except UnsupportedOnDevice as exc:
        return None, str(exc)


def device_transform_for(transform: Any) -> DeviceTransform | None:
    """The device transform for a batchgenerators transform object (exact class match), or None (CPU fallback)."""
    return device_transform_or_reason(transform)[0]


__all__ = ["DeviceTransform", "UnsupportedOnDevice", "device_transform_for", "device_transform_or_reason",
           "replaces"]
