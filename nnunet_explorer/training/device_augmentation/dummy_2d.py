"""nnU-Net's dummy-2D fold (``Convert3DTo2DTransform`` / ``Convert2DTo3DTransform``) on the device.

With ``do_dummy_2D_aug`` (data too anisotropic for 3D rotations) moreDA folds the first spatial axis into the
channels, ``(b, c, z, y, x) -> (b, c*z, y, x)``, so that the 2D ``SpatialTransform`` between the two converters
rotates and scales every slice in-plane with the same draws per sample, and unfolds afterwards. Pure reshapes:
no draws, no arithmetic. The shapes travel as in batchgenerators, through the batch dict's ``orig_shape_data`` /
``orig_shape_seg`` keys (the transform chain's ``context``).
"""
from __future__ import annotations

from typing import Any

import torch

from ..augmentation import Convert2DTo3DTransform, Convert3DTo2DTransform
from .base import DeviceTransform, replaces


def _fold(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (shape[0], shape[1] * shape[2], shape[3], shape[4])


@replaces(Convert3DTo2DTransform)
class DeviceConvert3DTo2D(DeviceTransform):
    """``(b, c, z, y, x) -> (b, c*z, y, x)`` for data and segmentation; remembers the 3D shapes in the context."""

    rearranges_only = True

    def draw(self, batch_size: int, data_shape: tuple[int, ...], seg_shape: tuple[int, ...] | None) -> Any:
        return None

    def draw_in_context(self, batch_size: int, data_shape: tuple[int, ...], seg_shape: tuple[int, ...] | None,
                        context: dict) -> Any:
        context["orig_shape_data"] = tuple(data_shape)
        context["orig_shape_seg"] = None if seg_shape is None else tuple(seg_shape)
        return None

    def output_shapes(self, data_shape: tuple[int, ...], seg_shape: Any, draws: Any) -> tuple[Any, Any]:
        return _fold(data_shape), None if seg_shape is None else _fold(seg_shape)

    def apply(self, data: torch.Tensor, seg: torch.Tensor | None, draws: Any) -> tuple[torch.Tensor,
                                                                                        torch.Tensor | None]:
        return data.reshape(_fold(tuple(data.shape))), None if seg is None else seg.reshape(_fold(tuple(seg.shape)))


@replaces(Convert2DTo3DTransform)
class DeviceConvert2DTo3D(DeviceTransform):
    """``(b, c*z, y', x') -> (b, c, z, y', x')`` with the shapes :class:`DeviceConvert3DTo2D` remembered."""

    rearranges_only = True

    def draw(self, batch_size: int, data_shape: tuple[int, ...], seg_shape: tuple[int, ...] | None) -> Any:
        raise TypeError("Convert2DTo3DTransform needs the shapes its Convert3DTo2DTransform saw: use draw_in_context")

    def draw_in_context(self, batch_size: int, data_shape: tuple[int, ...], seg_shape: tuple[int, ...] | None,
                        context: dict) -> Any:
        return context["orig_shape_data"], context["orig_shape_seg"]

    @staticmethod
    def _unfold(shape: tuple[int, ...], orig: tuple[int, ...]) -> tuple[int, ...]:
        return (orig[0], orig[1], orig[2], shape[-2], shape[-1])

    def output_shapes(self, data_shape: tuple[int, ...], seg_shape: Any, draws: Any) -> tuple[Any, Any]:
        orig_data, orig_seg = draws
        return (self._unfold(data_shape, orig_data),
                None if seg_shape is None else self._unfold(seg_shape, orig_seg))

    def apply(self, data: torch.Tensor, seg: torch.Tensor | None, draws: Any) -> tuple[torch.Tensor,
                                                                                        torch.Tensor | None]:
        orig_data, orig_seg = draws
        data = data.reshape(self._unfold(tuple(data.shape), orig_data))
        return data, None if seg is None else seg.reshape(self._unfold(tuple(seg.shape), orig_seg))


__all__ = ["DeviceConvert2DTo3D", "DeviceConvert3DTo2D"]
