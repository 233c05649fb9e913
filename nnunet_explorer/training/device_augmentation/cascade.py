"""The cascade's extra transforms on the device: the prior as one-hot channels, and its random corruptions.

* :class:`DeviceMoveSegAsOneHotToData` — segmentation channel 1 (the 3d_lowres prediction) becomes one binary
  image channel per foreground label; comparisons and copies, exact.
* :class:`DeviceApplyRandomBinaryOperator` — dilation, erosion, closing or opening of prior channels with a ball.
  The draws (which samples, the shuffled channel order, which operation, the ball's radius) never look at the data,
  so they are made on the CPU in v1's order and the ball is built there with scikit-image's ``ball``, as v1 does.
  On the device a binary dilation or erosion by a footprint is a count: ``conv3d`` of the 0/1 channel with the 0/1
  footprint counts, for every voxel, the foreground voxels under the footprint. Dilation: at least one (the
  footprint reflected, outside the volume counted as background, as scipy's ``binary_dilation``); erosion: all of
  them (outside counted as foreground, ``border_value=True``). The counts are small integers, so any convolution
  algorithm gets them right to far better than the ±0.5 the thresholds allow: the 0/1 result is exact.
* :class:`DeviceRemoveRandomConnectedComponent` — with v1's cascade settings (its two arguments passed swapped,
  see :class:`~nnunet_explorer.training.cascade_augmentation.RemoveRandomConnectedComponentFromOneHotEncodingTransform`)
  it never removes anything and only consumes its coins, which is what the device class does. **Named CPU
  fallback:** with a positive size threshold the transform labels connected components and the number of its
  further draws depends on them (data-dependent randomness, which cannot be drawn ahead of the data), so
  :meth:`~DeviceRemoveRandomConnectedComponent.unsupported` says so and the transform chain keeps the CPU transform.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from skimage.morphology import ball

from ..cascade_augmentation import (ApplyRandomBinaryOperatorTransform, MoveSegAsOneHotToData,
                                    RemoveRandomConnectedComponentFromOneHotEncodingTransform, _odd_footprint,
                                    binary_closing, binary_dilation, binary_erosion, binary_opening)
from .base import DeviceTransform, replaces
from .numpy_sums import host_tensor


@replaces(MoveSegAsOneHotToData)
class DeviceMoveSegAsOneHotToData(DeviceTransform):
    """v1's ``MoveSegAsOneHotToData``: ``seg[:, channel_id]`` one-hot over ``all_seg_labels``, appended to data."""

    def draw(self, batch_size: int, data_shape: tuple[int, ...], seg_shape: tuple[int, ...] | None) -> None:
        return None

    def output_shapes(self, data_shape: tuple[int, ...], seg_shape: tuple[int, ...], draws: None) -> tuple:
        t = self.transform
        data_out = (data_shape[0], data_shape[1] + len(t.all_seg_labels), *data_shape[2:])
        seg_out = (seg_shape[0], seg_shape[1] - 1, *seg_shape[2:]) if t.remove_from_origin else seg_shape
        return data_out, seg_out

    def apply(self, data: torch.Tensor, seg: torch.Tensor, draws: None) -> tuple:
        t = self.transform
        prior = seg[:, t.channel_id]
        one_hot = torch.stack([(prior == value).to(seg.dtype) for value in t.all_seg_labels], dim=1)
        data = torch.cat([data, one_hot.to(torch.promote_types(data.dtype, seg.dtype))], dim=1)
        if t.remove_from_origin:
            keep = [c for c in range(seg.shape[1]) if c != t.channel_id]
            seg = seg[:, keep[0]:keep[-1] + 1] if keep == list(range(keep[0], keep[-1] + 1)) else \
                seg.index_select(1, host_tensor(keep, torch.long, seg.device))
        return data, seg


# --- binary morphology by counting ---------------------------------------------------------------------------


def _count(x: torch.Tensor, footprint: torch.Tensor, pad_value: float) -> torch.Tensor:
    """For every voxel of the 0/1 volume ``x``, ``sum_s footprint[s] * x[p + s - centre]`` (outside = pad_value)."""
    pads = []
    for size in reversed(footprint.shape):
        pads += [size // 2, size // 2]
    xp = F.pad(x[None, None], pads, value=pad_value)
    return F.conv3d(xp, footprint[None, None])[0, 0]


def device_dilation(x: torch.Tensor, footprint: torch.Tensor) -> torch.Tensor:
    """scipy ``binary_dilation(x, footprint, border_value=False)`` for an odd-sized footprint, as 0/1 float32."""
    return (_count(x, torch.flip(footprint, dims=(0, 1, 2)), 0.0) > 0.5).to(torch.float32)


def device_erosion(x: torch.Tensor, footprint: torch.Tensor) -> torch.Tensor:
    """scipy ``binary_erosion(x, footprint, border_value=True)`` for an odd-sized footprint, as 0/1 float32."""
    return (_count(x, footprint, 1.0) > footprint.sum() - 0.5).to(torch.float32)


_DEVICE_OPERATIONS = {
    binary_dilation: lambda x, s: device_dilation(x, s),
    binary_erosion: lambda x, s: device_erosion(x, s),
    binary_closing: lambda x, s: device_erosion(device_dilation(x, s), s),
    binary_opening: lambda x, s: device_dilation(device_erosion(x, s), s),
}


@dataclass(frozen=True)
class BinaryOperatorDraw:
    """One channel of one sample changed by ``operation`` (index into ``any_of_these``) with ``footprint``."""

    sample: int
    channel: int
    order: tuple[int, ...]  # the sample's shuffled channel list (the others are cleared where this one grew)
    operation: int
    radius: float
    footprint: np.ndarray  # the ball, padded to odd sizes as skimage does


@replaces(ApplyRandomBinaryOperatorTransform)
class DeviceApplyRandomBinaryOperator(DeviceTransform):
    """v1's ``ApplyRandomBinaryOperatorTransform`` (the cascade's prior corruption) with device morphology."""

    @classmethod
    def unsupported(cls, transform: ApplyRandomBinaryOperatorTransform) -> str | None:
        """Only v1's four operations (the explorer's dilation, erosion, closing, opening) run on the device."""
        others = [getattr(op, "__name__", repr(op)) for op in transform.any_of_these if op not in _DEVICE_OPERATIONS]
        return f"operations {others} have no device version (v1's four do)" if others else None

    def draw(self, batch_size: int, data_shape: tuple[int, ...], seg_shape: tuple[int, ...] | None) -> list:
        t = self.transform
        out: list[BinaryOperatorDraw] = []
        for b in range(batch_size):
            if np.random.uniform() < t.p_per_sample:
                order = list(t.channel_idx)
                np.random.shuffle(order)
                for c in order:
                    if np.random.uniform() < t.p_per_label:
                        operation = np.random.choice(len(t.any_of_these))
                        radius = np.random.uniform(*t.strel_size)
                        out.append(BinaryOperatorDraw(b, c, tuple(order), int(operation), float(radius),
                                                      _odd_footprint(ball(radius)).astype(np.float32)))
        return out

    def apply(self, data: torch.Tensor, seg: torch.Tensor | None, draws: list) -> tuple:
        t = self.transform
        for d in draws:
            footprint = torch.as_tensor(d.footprint).to(data.device, non_blocking=True)
            before = torch.trunc(data[d.sample, d.channel])  # v1: .astype(int)
            after = _DEVICE_OPERATIONS[t.any_of_these[d.operation]]((before != 0).to(torch.float32), footprint)
            data[d.sample, d.channel] = after
            added = after > before
            for other in d.order:
                if other != d.channel:
                    data[d.sample, other] = torch.where(added, 0.0, data[d.sample, other])
        return data, seg


@replaces(RemoveRandomConnectedComponentFromOneHotEncodingTransform)
class DeviceRemoveRandomConnectedComponent(DeviceTransform):
    """v1's connected-component removal as v1's cascade builds it: the coins only (it never removes anything)."""

    @classmethod
    def unsupported(cls, transform: RemoveRandomConnectedComponentFromOneHotEncodingTransform) -> str | None:
        """Only a non-positive size threshold (v1's swapped arguments: 0.0), where nothing is eligible."""
        if transform.dont_do_if_covers_more_than_X_percent > 0:
            return ("a positive size threshold: data-dependent draws (which components are eligible, and so how "
                    "many numbers are drawn, depends on the data)")
        return None

    def draw(self, batch_size: int, data_shape: tuple[int, ...], seg_shape: tuple[int, ...] | None) -> None:
        t = self.transform
        for _ in range(batch_size):
            if np.random.uniform() < t.p_per_sample:
                for _ in t.channel_idx:
                    np.random.uniform()  # the per-channel coin; nothing is eligible, so nothing else is drawn
        return None

    def apply(self, data: torch.Tensor, seg: torch.Tensor | None, draws: None) -> tuple:
        return data, seg


__all__ = ["DeviceApplyRandomBinaryOperator", "DeviceMoveSegAsOneHotToData", "DeviceRemoveRandomConnectedComponent",
           "device_dilation", "device_erosion"]
