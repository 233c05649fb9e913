"""The formatting transforms of v1's chain on the device: channel selection, mask, -1 -> 0, rename, deep-supervision
targets, tensors.

None of them draws a random number; none does arithmetic that could round differently: they select, compare,
overwrite with a constant, or pick voxels (the deep-supervision targets are order-0 resizes: each target voxel is
one input voxel, chosen by scipy's nearest-neighbour rule, see :func:`~.scipy_zoom.axis_taps`). So each is exact
on any device by construction; the parity tests check the rules (which voxel, which channel) against
batchgenerators and the explorer's CPU transforms.

The device chain carries one image tensor and one segmentation slot; ``RenameTransform('seg', 'target')`` is
bookkeeping for the slot's name (``renames``), and after ``DownsampleSegForDSTransform2`` the slot holds a *list*
of targets, one per deep-supervision output, as the batch dict does on the CPU.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from batchgenerators.transforms.channel_selection_transforms import (DataChannelSelectionTransform,
                                                                     SegChannelSelectionTransform)
from batchgenerators.transforms.utility_transforms import NumpyToTensor, RemoveLabelTransform, RenameTransform

from ..augmentation import ConvertSegmentationToRegionsTransform, DownsampleSegForDSTransform2, MaskTransform
from .base import DeviceTransform, replaces
from . import host_checks
from .numpy_sums import host_tensor
from .scipy_zoom import axis_taps, zoom_output_shape


def select_channels(t: torch.Tensor, channels: Sequence[int]) -> torch.Tensor:
    """``t[:, channels]`` without a host sync: a view for a plain range, else ``index_select`` (non-blocking index)."""
    channels = [int(c) % t.shape[1] for c in channels]
    start = channels[0] if channels else 0
    if channels == list(range(start, start + len(channels))):
        return t.narrow(1, start, len(channels))
    return t.index_select(1, host_tensor(channels, torch.long, t.device))


class _Deterministic(DeviceTransform):
    """A transform that draws nothing."""

    def draw(self, batch_size: int, data_shape: tuple[int, ...], seg_shape: tuple[int, ...] | None) -> None:
        return None


@replaces(DataChannelSelectionTransform)
class DeviceDataChannelSelection(_Deterministic):
    """``DataChannelSelectionTransform``: ``data[:, channels]``."""

    rearranges_only = True

    def output_shapes(self, data_shape: tuple[int, ...], seg_shape: Any, draws: None) -> tuple:
        return (data_shape[0], len(self.transform.channels), *data_shape[2:]), seg_shape

    def apply(self, data: torch.Tensor, seg: Any, draws: None) -> tuple:
        return select_channels(data, self.transform.channels), seg


@replaces(SegChannelSelectionTransform)
class DeviceSegChannelSelection(_Deterministic):
    """``SegChannelSelectionTransform``: ``seg[:, channels]`` (``keep_discarded_seg`` is not kept on the device)."""

    rearranges_only = True

    @classmethod
    def unsupported(cls, transform: SegChannelSelectionTransform) -> str | None:
        """``keep_discarded_seg=True`` adds a ``discarded_seg`` array the device chain does not carry (v1 never
        sets it)."""
        return "keep_discarded_seg=True: the device chain carries no 'discarded_seg'" if transform.keep_discarded \
            else None

    def output_shapes(self, data_shape: tuple[int, ...], seg_shape: Any, draws: None) -> tuple:
        if seg_shape is None:
            return data_shape, None
        return data_shape, (seg_shape[0], len(self.transform.channels), *seg_shape[2:])

    def apply(self, data: torch.Tensor, seg: Any, draws: None) -> tuple:
        return data, (None if seg is None else select_channels(seg, self.transform.channels))


@replaces(MaskTransform)
class DeviceMask(_Deterministic):
    """v1's ``MaskTransform``: image channels normalised inside the nonzero mask are set to ``set_outside_to``
    where ``seg[:, mask_idx_in_seg] < 0`` (outside the mask)."""

    def apply(self, data: torch.Tensor, seg: torch.Tensor, draws: None) -> tuple:
        t = self.transform
        outside = seg[:, t.mask_idx_in_seg] < 0
        value = float(np.asarray(t.set_outside_to).astype(np.float32))  # numpy stores it into float32 data
        for c in range(data.shape[1]):
            if t.dct_for_where_it_was_used[c]:
                data[:, c] = torch.where(outside, value, data[:, c])
        return data, seg


@replaces(RemoveLabelTransform)
class DeviceRemoveLabel(_Deterministic):
    """``RemoveLabelTransform``: segmentation voxels equal to ``remove_label`` become ``replace_with``."""

    rearranges_only = True

    def apply(self, data: torch.Tensor, seg: torch.Tensor, draws: None) -> tuple:
        t = self.transform
        return data, seg.masked_fill(seg == t.remove_label, t.replace_with)


@replaces(RenameTransform)
class DeviceRename(_Deterministic):
    """``RenameTransform``: the tensors stay; the chain's segmentation slot is now called ``out_key``.

    The chain follows the slot's name itself (:func:`~.chain.label_key_after`), wherever the rename runs.
    """

    rearranges_only = True

    @classmethod
    def unsupported(cls, transform: RenameTransform) -> str | None:
        """``delete_old=False`` would leave the array under two keys; the device chain carries one (v1 deletes)."""
        return None if transform.delete_old else "delete_old=False: the device chain carries one segmentation slot"

    def apply(self, data: torch.Tensor, seg: Any, draws: None) -> tuple:
        return data, seg


@replaces(ConvertSegmentationToRegionsTransform)
class DeviceConvertSegmentationToRegions(_Deterministic):
    """v1's ``ConvertSegmentationToRegionsTransform``: one binary channel per region (a union of labels)."""

    def output_shapes(self, data_shape: tuple[int, ...], seg_shape: Any, draws: None) -> tuple:
        if seg_shape is None:
            return data_shape, None
        return data_shape, (seg_shape[0], len(self.transform.regions), *seg_shape[2:])

    def apply(self, data: torch.Tensor, seg: torch.Tensor | None, draws: None) -> tuple:
        if seg is None:
            return data, seg
        t = self.transform
        labels = seg[:, t.seg_channel]
        regions = []
        for name in t.regions.keys():
            hit = torch.zeros_like(labels, dtype=torch.bool)
            for label in t.regions[name]:
                hit = hit | (labels == label)
            regions.append(hit.to(seg.dtype))
        return data, torch.stack(regions, dim=1)


_DS_INDICES: dict[tuple, list[torch.Tensor] | None] = {}


def _ds_indices(in_shape: tuple[int, ...], out_shape: tuple[int, ...], device: torch.device
                ) -> list[torch.Tensor] | None:
    """Per spatial axis, the input voxels an order-0 resize picks (None: scipy copies); cached per device."""
    key = (in_shape, out_shape, str(device))
    if key not in _DS_INDICES:
        shape, copy = zoom_output_shape(in_shape, out_shape)
        _DS_INDICES[key] = None if copy else [host_tensor(axis_taps(i, o, 0)[0][0], torch.long, device)
                                               for i, o in zip(in_shape, shape)]
    return _DS_INDICES[key]


@replaces(DownsampleSegForDSTransform2)
class DeviceDownsampleSegForDS2(_Deterministic):
    """v1's ``DownsampleSegForDSTransform2`` (order 0): the segmentation becomes a list, one target per output.

    Each target voxel is the input voxel batchgenerators' ``resize_segmentation(order=0)`` picks (scikit-image's
    resize → scipy's zoom, nearest): the same index arrays for every sample and channel, one gather per axis.
    """

    @classmethod
    def unsupported(cls, transform: DownsampleSegForDSTransform2) -> str | None:
        """Order 0 only (v1's; higher orders resize each label and take an argmax, not reproduced here), where
        this host's scikit-image resizes as reproduced (host check ``skimage_resize``)."""
        if transform.order != 0:
            return f"order {transform.order} (order > 0 resizes each label and takes an argmax): not reproduced"
        return host_checks.failure("skimage_resize")

    def _target_shapes(self, seg_shape: tuple[int, ...]) -> list[tuple[int, ...] | None]:
        """Per deep-supervision output, the target's shape (None: the input itself, scale 1), as
        ``downsample_seg_for_ds`` computes it."""
        t = self.transform
        axes = list(range(2, len(seg_shape))) if t.axes is None else list(t.axes)
        out: list[tuple[int, ...] | None] = []
        for scale in t.ds_scales:
            if all(v == 1 for v in scale):
                out.append(None)
                continue
            new_shape = np.array(seg_shape).astype(float)
            for i, a in enumerate(axes):
                new_shape[a] *= scale[i]
            out.append(tuple(int(v) for v in np.round(new_shape).astype(int)))
        return out

    def output_shapes(self, data_shape: tuple[int, ...], seg_shape: Any, draws: None) -> tuple:
        """A list: one shape per deep-supervision output (scipy's zoom may round a requested size, see
        :func:`~.scipy_zoom.zoom_output_shape`)."""
        shapes = []
        for target in self._target_shapes(tuple(seg_shape)):
            if target is None:
                shapes.append(tuple(seg_shape))
            else:
                spatial, _ = zoom_output_shape(tuple(seg_shape[2:]), target[2:])
                shapes.append((*target[:2], *spatial))
        return data_shape, shapes

    def apply(self, data: torch.Tensor, seg: torch.Tensor, draws: None) -> tuple:
        out = []
        for new_shape in self._target_shapes(tuple(seg.shape)):
            if new_shape is None:
                out.append(seg)
                continue
            indices = _ds_indices(tuple(seg.shape[2:]), tuple(new_shape[2:]), seg.device)
            target = seg.clone() if indices is None else seg
            for axis, idx in enumerate(indices or []):
                target = target.index_select(axis + 2, idx)
            out.append(target)
        return data, out


_CASTS = {"half": torch.Tensor.half, "float": torch.Tensor.float, "long": torch.Tensor.long,
          "bool": torch.Tensor.bool}


@replaces(NumpyToTensor)
class DeviceNumpyToTensor(_Deterministic):
    """``NumpyToTensor``: the tensors already are; only the cast (``'float'`` in v1) and contiguity remain.

    ``keys`` naming ``'data'`` cast the image; any other key (v1: ``'target'``) names the segmentation slot (the
    chain checks that the keys are the image's and the slot's before it hands the transform to the device).
    """

    rearranges_only = True

    def _cast(self, t: torch.Tensor) -> torch.Tensor:
        cast_to = self.transform.cast_to
        if cast_to is not None:
            if cast_to not in _CASTS:
                raise ValueError(f"Unknown value for cast_to: {cast_to}")
            t = _CASTS[cast_to](t)
        return t.contiguous()

    def apply(self, data: torch.Tensor, seg: Any, draws: None) -> tuple:
        keys = self.transform.keys
        if keys is None or "data" in keys:
            data = self._cast(data)
        if seg is not None and (keys is None or any(k != "data" for k in keys)):
            seg = [self._cast(s) for s in seg] if isinstance(seg, (list, tuple)) else self._cast(seg)
        return data, seg


__all__ = ["DeviceConvertSegmentationToRegions", "DeviceDataChannelSelection", "DeviceDownsampleSegForDS2",
           "DeviceMask", "DeviceNumpyToTensor", "DeviceRemoveLabel", "DeviceRename", "DeviceSegChannelSelection",
           "select_channels"]
