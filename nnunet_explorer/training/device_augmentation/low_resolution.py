"""``SimulateLowResolutionTransform`` on the device: down (nearest) and back up (cubic), equal to batchgenerators.

batchgenerators' ``augment_linear_downsampling_scipy`` takes a channel, casts it to float64, resizes it with
scikit-image to ``round(shape * zoom)`` (``order_downsample``, moreDA: 0) and back to its shape
(``order_upsample``, moreDA: 3), and stores the float64 result into the float32 channel (one rounding). Axes in
``ignore_axes`` keep their size (dummy 2D: the slice axis) but are still part of the resize: scipy prefilters and
interpolates along them too, at integer positions: mathematically the identity (a cubic B-spline with scipy's
prefilter passes through its samples), but not bit for bit in float64, where the prefilter and the tap sums round,
so that axis must still be computed the same way. Only when *every* axis keeps its size does scipy copy, and the
channel comes back unchanged.

The resizes are :func:`~.scipy_zoom.skimage_resize` (scipy's arithmetic in float64, see there). The zoom is drawn
with ``np.random.uniform`` (batchgenerators' ``uniform``: no draw when the range is a single value), after the
channel's coin when ``per_channel``, once per sample before the coins otherwise.

Cost on the device: the cubic prefilter is a recursion along each line (eagerly one kernel per step for all lines
at once; with Triton one kernel per axis), then ``4**ndim`` gathers and multiply-adds over the output (eagerly
about 400 kernels; with Triton one, :mod:`.triton_zoom`): for the blog's batch (80 x 160 x 160, batch 3), when it
fires, up to ~10,650 launches eagerly and ~100 with Triton (``benchmarks/bench_device_augmentation.py --ops``);
batchgenerators takes ~130 ms of one CPU core per channel.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from batchgenerators.augmentations.utils import uniform
from batchgenerators.transforms.resample_transforms import SimulateLowResolutionTransform

from .base import DeviceTransform, replaces
from . import host_checks
from .scipy_zoom import skimage_resize

SUPPORTED_ORDERS = (0, 1, 3)


@dataclass(frozen=True)
class LowResDraw:
    """One channel resized to ``target_shape`` and back (the zoom that gave it is kept for traces)."""

    sample: int
    channel: int
    zoom: object
    target_shape: tuple[int, ...]


@replaces(SimulateLowResolutionTransform)
class DeviceSimulateLowResolution(DeviceTransform):
    """``SimulateLowResolutionTransform``: per channel, skimage resize down and up, reproduced in float64."""

    @classmethod
    def unsupported(cls, transform: SimulateLowResolutionTransform) -> str | None:
        """Spline orders 0, 1 and 3 only (moreDA: 0 down, 3 up), where this host's scikit-image resizes as
        reproduced (host check ``skimage_resize``)."""
        if transform.order_downsample not in SUPPORTED_ORDERS or transform.order_upsample not in SUPPORTED_ORDERS:
            return (f"orders {transform.order_downsample}/{transform.order_upsample}: only {SUPPORTED_ORDERS} are "
                    "reproduced on the device")
        return host_checks.failure("skimage_resize")

    def _zoom(self, dim: int):
        zoom_range = self.transform.zoom_range
        if not isinstance(zoom_range, (list, tuple, np.ndarray)):
            zoom_range = [zoom_range]
        if isinstance(zoom_range[0], (tuple, list, np.ndarray)):
            assert len(zoom_range) == dim
            return np.array([uniform(i[0], i[1]) for i in zoom_range])
        return uniform(zoom_range[0], zoom_range[1])

    def _target(self, shp: np.ndarray, zoom) -> tuple[int, ...]:
        target_shape = np.round(shp * zoom).astype(int)
        if self.transform.ignore_axes is not None:
            for i in self.transform.ignore_axes:
                target_shape[i] = shp[i]
        return tuple(int(v) for v in target_shape)

    def draw(self, batch_size: int, data_shape: tuple[int, ...], seg_shape: tuple[int, ...] | None) -> list:
        t = self.transform
        shp = np.array(data_shape[2:])
        channels = list(range(data_shape[1])) if t.channels is None else t.channels
        out: list[LowResDraw] = []
        for b in range(batch_size):
            if np.random.uniform() < t.p_per_sample:
                zoom = None if t.per_channel else self._zoom(len(shp))
                target = None if t.per_channel else self._target(shp, zoom)
                for c in channels:
                    if np.random.uniform() < t.p_per_channel:
                        if t.per_channel:
                            zoom = self._zoom(len(shp))
                            target = self._target(shp, zoom)
                        out.append(LowResDraw(b, c, zoom, target))
        return out

    def apply(self, data: torch.Tensor, seg: torch.Tensor | None, draws: list) -> tuple:
        t = self.transform
        for d in draws:
            x = data[d.sample, d.channel].double()
            low = skimage_resize(x, d.target_shape, t.order_downsample)
            data[d.sample, d.channel] = skimage_resize(low, tuple(x.shape), t.order_upsample).float()
        return data, seg


__all__ = ["DeviceSimulateLowResolution", "LowResDraw"]
