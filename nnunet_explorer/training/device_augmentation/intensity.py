"""moreDA's intensity transforms on the device: Gaussian noise, Gaussian blur, brightness, contrast.

Each class stands for one batchgenerators 0.25.5 transform (registered with :func:`~.base.replaces`) and reads its
parameters from the very object v1 builds. ``draw`` walks through the batch exactly as batchgenerators' ``__call__``
does, making the same calls to ``np.random`` and Python's ``random`` in the same order (coins included, even when
a probability is 1), and keeps what they returned. ``apply`` then does the arithmetic on the device, with the
same floating-point operations numpy does, so the float32 results are the same bits.

What numpy computes, and how it is reproduced:

* **Gaussian noise** (``augment_gaussian_noise``): ``data[c] + np.random.normal(0, sigma, shape)`` adds a *float64*
  field to float32 data, so the sum is float64 and is rounded to float32 when stored. The field is part of the
  draw (numpy makes it on the CPU, a variable number of raw draws per value); the device adds it in float64 and
  rounds once, as numpy does. The standard deviation comes from Python's ``random.uniform``, not numpy.
* **Gaussian blur** (``scipy.ndimage.gaussian_filter`` per channel, see :mod:`.scipy_filters`): one 1-D
  correlation per axis, each reading float32, summing in float64 and rounding to float32 before the next axis.
  scipy's kernel is symmetric, so its C loop (``NI_Correlate1D``) computes ``out = x[i] * w[0]`` then, from the
  outermost tap inwards, ``out += (x[i - d] + x[i + d]) * w[d]``, with the line extended by ``mode='reflect'``
  (``d c b a | a b c d``).
  The weights are made on the CPU by the same numpy expressions as scipy's ``_gaussian_kernel1d``
  (``np.exp`` may differ between numpy builds, so it is not recomputed on the device).
* **Brightness** (``augment_brightness_multiplicative``): ``data[c] *= m`` with a Python float: numpy 2 treats
  it as a weak scalar, so the product is float32 × ``float32(m)``. One correctly rounded multiplication. The
  additive brightness (``augment_brightness_additive``, insaneDA and ``do_additive_brightness``) likewise adds
  ``float32(np.random.normal(mu, sigma))``.
* **Contrast** (``augment_contrast``): ``(x - mean) * factor + mean``, all float32 (``mean`` is a numpy float32,
  ``factor`` a weak Python float), then clipped to the channel's old ``[min, max]``. The mean is numpy's float32
  pairwise sum divided in float64 (:mod:`.numpy_sums`); each operation is a separate device kernel, so no fused
  multiply-add can change the rounding.

``apply`` works in place on the tensors it is given (as batchgenerators works on its arrays) and returns them. It
never reads a tensor value back to the host: the draws decide which samples and channels are touched.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from batchgenerators.augmentations.utils import get_range_val
from batchgenerators.transforms.color_transforms import (BrightnessMultiplicativeTransform, BrightnessTransform,
                                                         ContrastAugmentationTransform)
from batchgenerators.transforms.noise_transforms import GaussianBlurTransform, GaussianNoiseTransform

from .base import DeviceTransform, replaces
from . import host_checks
from .numpy_sums import host_tensor, numpy_mean_f32
from .scipy_filters import correlate1d_reflect, gaussian_weights

# --- Gaussian noise -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoiseDraw:
    """Noise added to one channel: ``field`` is numpy's float64 ``normal(0, sigma, spatial shape)``."""

    sample: int
    channel: int
    sigma: float
    field: np.ndarray


@replaces(GaussianNoiseTransform)
class DeviceGaussianNoise(DeviceTransform):
    """``GaussianNoiseTransform``: additive Gaussian noise, the field drawn by numpy, added on the device."""

    def draw(self, batch_size: int, data_shape: tuple[int, ...], seg_shape: tuple[int, ...] | None) -> list:
        t = self.transform
        low, high = t.noise_variance
        out: list[NoiseDraw] = []
        for b in range(batch_size):
            if np.random.uniform() < t.p_per_sample:
                # augment_gaussian_noise: one variance for the sample (Python's random), or one per channel
                variance = None if t.per_channel else (low if low == high else random.uniform(low, high))
                for c in range(data_shape[1]):
                    if np.random.uniform() < t.p_per_channel:
                        here = variance if variance is not None else \
                            (low if low == high else random.uniform(low, high))
                        out.append(NoiseDraw(b, c, here, np.random.normal(0.0, here, size=data_shape[2:])))
        return out

    def apply(self, data: torch.Tensor, seg: torch.Tensor | None, draws: list) -> tuple:
        for d in draws:
            field = torch.as_tensor(d.field).to(data.device, non_blocking=True)
            data[d.sample, d.channel] = (data[d.sample, d.channel].double() + field).float()
        return data, seg


# --- Gaussian blur ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlurDraw:
    """One blurred channel: ``sigma`` (a number or one per axis) and scipy's weights for each blurred axis."""

    sample: int
    channel: int
    sigma: Any
    weights: tuple  # per spatial axis: float64 weights, or None where scipy skips the axis (sigma <= 1e-15)


@replaces(GaussianBlurTransform)
class DeviceGaussianBlur(DeviceTransform):
    """``GaussianBlurTransform``: ``scipy.ndimage.gaussian_filter`` per channel, reproduced axis by axis."""

    @classmethod
    def unsupported(cls, transform: GaussianBlurTransform) -> str | None:
        """Declines where this host's scipy filters otherwise (host check ``scipy_gaussian_filter``)."""
        return host_checks.failure("scipy_gaussian_filter")

    def _sigma(self, ndim: int) -> Any:
        t = self.transform
        # augment_gaussian_blur's expression: the isotropy coin is only drawn with different_sigma_per_axis
        if (not t.different_sigma_per_axis) or ((np.random.uniform() < t.p_isotropic) and
                                                t.different_sigma_per_axis):
            return get_range_val(t.blur_sigma)
        return [get_range_val(t.blur_sigma) for _ in range(ndim)]

    def draw(self, batch_size: int, data_shape: tuple[int, ...], seg_shape: tuple[int, ...] | None) -> list:
        t = self.transform
        ndim = len(data_shape) - 2
        out: list[BlurDraw] = []
        for b in range(batch_size):
            if np.random.uniform() < t.p_per_sample:
                sigma = None if t.different_sigma_per_channel else self._sigma(ndim)
                for c in range(data_shape[1]):
                    if np.random.uniform() <= t.p_per_channel:
                        if t.different_sigma_per_channel:
                            sigma = self._sigma(ndim)
                        out.append(BlurDraw(b, c, sigma, self._weights(sigma, ndim)))
        return out

    @staticmethod
    def _weights(sigma: Any, ndim: int) -> tuple:
        sigmas = list(sigma) if isinstance(sigma, (list, tuple, np.ndarray)) else [sigma] * ndim
        return tuple(gaussian_weights(s) if s > 1e-15 else None for s in sigmas)

    def apply(self, data: torch.Tensor, seg: torch.Tensor | None, draws: list) -> tuple:
        for d in draws:
            x = data[d.sample, d.channel]
            for axis, weights in enumerate(d.weights):
                if weights is not None:
                    x = correlate1d_reflect(x, weights, axis)
            data[d.sample, d.channel] = x
        return data, seg


# --- brightness ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScaleDraw:
    """One multiplier for one sample: ``channel`` None means the whole sample (``per_channel=False``)."""

    sample: int
    channel: int | None
    multiplier: float


@replaces(BrightnessMultiplicativeTransform)
class DeviceBrightnessMultiplicative(DeviceTransform):
    """``BrightnessMultiplicativeTransform``: ``x *= U(range)`` per sample or channel, float32 × float32(m)."""

    def draw(self, batch_size: int, data_shape: tuple[int, ...], seg_shape: tuple[int, ...] | None) -> list:
        t = self.transform
        low, high = t.multiplier_range[0], t.multiplier_range[1]
        out: list[ScaleDraw] = []
        for b in range(batch_size):
            if np.random.uniform() < t.p_per_sample:
                multiplier = np.random.uniform(low, high)  # drawn even when per_channel replaces it (v1's order)
                if not t.per_channel:
                    out.append(ScaleDraw(b, None, multiplier))
                else:
                    for c in range(data_shape[1]):
                        out.append(ScaleDraw(b, c, np.random.uniform(low, high)))
        return out

    def apply(self, data: torch.Tensor, seg: torch.Tensor | None, draws: list) -> tuple:
        for d in draws:
            m = float(np.float32(d.multiplier))  # numpy 2: a Python float meets float32 data as float32
            if d.channel is None:
                data[d.sample] = data[d.sample] * m
            else:
                data[d.sample, d.channel] = data[d.sample, d.channel] * m
        return data, seg


@dataclass(frozen=True)
class ShiftDraw:
    """One additive brightness value for one channel of one sample."""

    sample: int
    channel: int
    shift: float


@replaces(BrightnessTransform)
class DeviceBrightnessAdditive(DeviceTransform):
    """``BrightnessTransform``: ``x += N(mu, sigma)`` per channel (or one value per sample), float32 + float32(v)."""

    def draw(self, batch_size: int, data_shape: tuple[int, ...], seg_shape: tuple[int, ...] | None) -> list:
        t = self.transform
        out: list[ShiftDraw] = []
        for b in range(batch_size):
            if np.random.uniform() < t.p_per_sample:
                shared = None if t.per_channel else np.random.normal(t.mu, t.sigma)
                for c in range(data_shape[1]):
                    if np.random.uniform() <= t.p_per_channel:
                        out.append(ShiftDraw(b, c, np.random.normal(t.mu, t.sigma) if t.per_channel else shared))
        return out

    def apply(self, data: torch.Tensor, seg: torch.Tensor | None, draws: list) -> tuple:
        for d in draws:
            data[d.sample, d.channel] = data[d.sample, d.channel] + float(np.float32(d.shift))
        return data, seg


# --- contrast -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContrastDraw:
    """One channel whose contrast changes by ``factor`` (around its mean, clipped to its old range if asked)."""

    sample: int
    channel: int
    factor: float


def below_or_above_one(value_range: Any) -> float:
    """batchgenerators' draw of a contrast factor or a gamma: with probability 0.5 (when the range reaches below 1)
    uniform in ``[low, 1)``, else uniform in ``[max(low, 1), high)`` — always two numbers from numpy's stream
    (``np.random.random()`` is evaluated first in the ``and``)."""
    if np.random.random() < 0.5 and value_range[0] < 1:
        return np.random.uniform(value_range[0], 1)
    return np.random.uniform(max(value_range[0], 1), value_range[1])


def _contrast_factor(contrast_range: Any) -> float:
    return contrast_range() if callable(contrast_range) else below_or_above_one(contrast_range)


@replaces(ContrastAugmentationTransform)
class DeviceContrast(DeviceTransform):
    """``ContrastAugmentationTransform``: ``(x - mean) * f + mean`` in float32 with numpy's exact mean, clipped."""

    @classmethod
    def unsupported(cls, transform: ContrastAugmentationTransform) -> str | None:
        """Declines where this host's numpy sums float32 otherwise (host check ``numpy_float32_sums``)."""
        return host_checks.failure("numpy_float32_sums")

    def draw(self, batch_size: int, data_shape: tuple[int, ...], seg_shape: tuple[int, ...] | None) -> list:
        t = self.transform
        out: list[ContrastDraw] = []
        for b in range(batch_size):
            if np.random.uniform() < t.p_per_sample:
                factor = None if t.per_channel else _contrast_factor(t.contrast_range)
                for c in range(data_shape[1]):
                    if np.random.uniform() < t.p_per_channel:
                        out.append(ContrastDraw(b, c, _contrast_factor(t.contrast_range) if t.per_channel
                                                else factor))
        return out

    def apply(self, data: torch.Tensor, seg: torch.Tensor | None, draws: list) -> tuple:
        if not draws:
            return data, seg
        spatial = data.shape[2:]
        x = torch.stack([data[d.sample, d.channel] for d in draws]).reshape(len(draws), -1)
        mean = numpy_mean_f32(x)[:, None]
        factor = host_tensor([np.float32(d.factor) for d in draws], torch.float32, data.device)[:, None]
        y = (x - mean) * factor + mean
        if self.transform.preserve_range:
            y = torch.clamp(y, min=x.amin(dim=1, keepdim=True), max=x.amax(dim=1, keepdim=True))
        for i, d in enumerate(draws):
            data[d.sample, d.channel] = y[i].reshape(spatial)
        return data, seg


__all__ = ["DeviceBrightnessAdditive", "DeviceBrightnessMultiplicative", "DeviceContrast", "DeviceGaussianBlur",
           "DeviceGaussianNoise"]
