"""``MirrorTransform`` on the device: the same flips of image and segmentation, drawn in batchgenerators' order.

batchgenerators (``augment_mirroring``) flips each sample along each of ``axes`` with probability 0.5, drawing one
``np.random.uniform()`` per listed axis in the order 0, 1, 2 (axis 2 only for 3D samples), after the sample's own
coin ``uniform() < p_per_sample`` (moreDA: p 1, but the coin is still drawn). A flip moves values without
arithmetic, so the device result is exact by construction.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from batchgenerators.transforms.spatial_transforms import MirrorTransform

from .base import DeviceTransform, replaces


@dataclass(frozen=True)
class MirrorDraw:
    """The spatial axes (0 = first spatial axis) along which one sample is flipped."""

    sample: int
    axes: tuple[int, ...]


@replaces(MirrorTransform)
class DeviceMirror(DeviceTransform):
    """``MirrorTransform``: per-sample flips of data and segmentation (``torch.flip``)."""

    def draw(self, batch_size: int, data_shape: tuple[int, ...], seg_shape: tuple[int, ...] | None) -> list:
        t = self.transform
        ndim = len(data_shape) - 2
        out: list[MirrorDraw] = []
        for b in range(batch_size):
            if np.random.uniform() < t.p_per_sample:
                flipped = []
                if 0 in t.axes and np.random.uniform() < 0.5:
                    flipped.append(0)
                if 1 in t.axes and np.random.uniform() < 0.5:
                    flipped.append(1)
                if 2 in t.axes and ndim == 3:
                    if np.random.uniform() < 0.5:
                        flipped.append(2)
                if flipped:
                    out.append(MirrorDraw(b, tuple(flipped)))
        return out

    def apply(self, data: torch.Tensor, seg: torch.Tensor | None, draws: list) -> tuple:
        for d in draws:
            dims = [a + 1 for a in d.axes]  # the sample tensor is (c, *spatial)
            data[d.sample] = torch.flip(data[d.sample], dims)
            if seg is not None:
                seg[d.sample] = torch.flip(seg[d.sample], dims)
        return data, seg


__all__ = ["DeviceMirror", "MirrorDraw"]
