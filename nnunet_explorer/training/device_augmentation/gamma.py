"""``GammaTransform`` on the device (inverted and not), equal to batchgenerators 0.25.5 bit for bit.

batchgenerators' ``augment_gamma`` on a float32 sample, per channel (moreDA: ``per_channel=True``,
``retain_stats=True``), in float32 throughout:

.. code-block:: python

    x = -x                                  # invert_image: the dark end becomes the bright one
    mn, sd = x.mean(), x.std()              # retain_stats: numpy's float32 pairwise sums
    minm, rnge = x.min(), x.max() - x.min()
    x = np.power((x - minm) / float(rnge + 1e-7), gamma) * float(rnge + 1e-7) + minm
    x = x - x.mean(); x = x / (x.std() + 1e-8) * sd; x = x + mn
    x = -x

Every step is one correctly rounded float32 operation except two: the statistics, reproduced with numpy's
summation order (:mod:`.numpy_sums`), and ``np.power``, which is not correctly rounded in numpy and is reproduced
by running numpy's own algorithm (:mod:`.numpy_power`). ``1e-7`` and ``1e-8`` are Python floats meeting float32
numbers, so numpy 2 rounds them to float32 first. Without ``per_channel`` the statistics and the range are those of
the whole sample and the result is multiplied back by ``rnge`` (not ``rnge + 1e-7``), as batchgenerators does.

Draws: ``uniform() < p_per_sample`` per sample, then per channel (or once per sample) ``retain_stats()`` if it is
callable, ``np.random.random() < 0.5`` (to pick the side of 1) and ``np.random.uniform`` for gamma.

Where numpy's power is not the algorithm :mod:`.numpy_power` runs (host check ``numpy_float32_power``, once per
process, see :mod:`.host_checks`), :class:`DeviceGamma` declines (:class:`~.base.UnsupportedOnDevice`, naming the
check) and the transform chain keeps batchgenerators' CPU transform: exact, on the CPU.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from batchgenerators.transforms.color_transforms import GammaTransform

from .base import DeviceTransform, replaces
from .intensity import below_or_above_one
from . import host_checks
from .numpy_power import numpy_power_rows_f32
from .numpy_sums import numpy_mean_f32, numpy_std_f32

EPSILON = float(np.float32(1e-7))
"""``augment_gamma``'s ``epsilon=1e-7`` as numpy 2 adds it to a float32 number."""
STD_EPSILON = float(np.float32(1e-8))
"""The ``+ 1e-8`` under the standard deviation, as float32."""


@dataclass(frozen=True)
class GammaDraw:
    """One gamma for one channel (``channel`` None: the whole sample, ``per_channel=False``)."""

    sample: int
    channel: int | None
    gamma: float
    retain_stats: bool


@replaces(GammaTransform)
class DeviceGamma(DeviceTransform):
    """``GammaTransform``: ``x ** gamma`` on the range-normalised channel, with numpy's power and statistics."""

    @classmethod
    def unsupported(cls, transform: GammaTransform) -> str | None:
        """Declines where numpy's float32 power or statistics on this host are not the ones reproduced here (host
        checks ``numpy_float32_power``, ``numpy_float32_sums``)."""
        return host_checks.failure("numpy_float32_power", "numpy_float32_sums")

    def _retain(self) -> bool:
        retain = self.transform.retain_stats
        return bool(retain() if callable(retain) else retain)

    def draw(self, batch_size: int, data_shape: tuple[int, ...], seg_shape: tuple[int, ...] | None) -> list:
        t = self.transform
        out: list[GammaDraw] = []
        for b in range(batch_size):
            if np.random.uniform() < t.p_per_sample:
                if not t.per_channel:
                    retain = self._retain()
                    out.append(GammaDraw(b, None, below_or_above_one(t.gamma_range), retain))
                else:
                    for c in range(data_shape[1]):
                        retain = self._retain()
                        out.append(GammaDraw(b, c, below_or_above_one(t.gamma_range), retain))
        return out

    def apply(self, data: torch.Tensor, seg: torch.Tensor | None, draws: list) -> tuple:
        # every channel (or sample) has its own gamma and statistics, but the arithmetic is per row: the drawn
        # channels go through together, one row each (a few hundred device operations per batch, not per channel)
        for retain in (False, True):
            group = [d for d in draws if d.retain_stats == retain]
            if not group:
                continue
            indices = [(d.sample,) if d.channel is None else (d.sample, d.channel) for d in group]
            rows = torch.stack([data[index].reshape(-1) for index in indices])
            rows = self._rows(rows, [d.gamma for d in group], retain)
            for k, index in enumerate(indices):
                data[index] = rows[k].reshape(data[index].shape)
        return data, seg

    def _rows(self, x: torch.Tensor, gammas: list[float], retain_stats: bool) -> torch.Tensor:
        """``augment_gamma`` for each row of the float32 ``(K, n)`` tensor ``x``, with the row's own gamma."""
        if self.transform.invert_image:
            x = -x
        if retain_stats:
            mn = numpy_mean_f32(x)
            sd = numpy_std_f32(x, mn)
        minm = x.amin(dim=1)
        rnge = x.amax(dim=1) - minm
        denom = rnge + EPSILON  # float32 + float32(1e-7)
        base = (x - minm[:, None]) / denom[:, None]
        scale = denom if self.transform.per_channel else rnge  # per sample, batchgenerators multiplies by rnge
        x = numpy_power_rows_f32(base, gammas) * scale[:, None] + minm[:, None]
        if retain_stats:
            x = x - numpy_mean_f32(x)[:, None]
            x = x / (numpy_std_f32(x) + STD_EPSILON)[:, None] * sd[:, None]
            x = x + mn[:, None]
        if self.transform.invert_image:
            x = -x
        return x


__all__ = ["DeviceGamma", "GammaDraw"]
