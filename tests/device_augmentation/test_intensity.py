"""Noise, blur, brightness and contrast on the device equal batchgenerators 0.25.5 bit for bit.

Every path of each transform as v1's augmentation functions parametrise it (moreDA and insaneDA), plus the
switches they leave at their defaults (per-channel off, per-axis sigma, preserve_range off), on real MRI
intensities, 3D and 2D batches, 20 seeds each, probabilities that always fire and that never do.
"""
from __future__ import annotations

import numpy as np
import pytest
from batchgenerators.transforms.color_transforms import (BrightnessMultiplicativeTransform, BrightnessTransform,
                                                         ContrastAugmentationTransform)
from batchgenerators.transforms.noise_transforms import GaussianBlurTransform, GaussianNoiseTransform
from scipy.ndimage import correlate1d, gaussian_filter

from nnunet_explorer.training.device_augmentation.scipy_filters import (correlate1d_reflect, gaussian_weights,
                                                                        reflect_index)

from .conftest import host_check_holds
from .transform_parity import SEEDS, SHAPE_2D, SHAPE_3D, assert_same, real_batch

TWO_CHANNEL_3D = (2, 2, 16, 40, 40)

TRANSFORMS = {
    # moreDA's parameters
    "noise_moreDA": lambda: GaussianNoiseTransform(p_per_sample=0.1),
    "blur_moreDA": lambda: GaussianBlurTransform((0.5, 1.), different_sigma_per_channel=True, p_per_sample=0.2,
                                                 p_per_channel=0.5),
    "brightness_moreDA": lambda: BrightnessMultiplicativeTransform(multiplier_range=(0.75, 1.25), p_per_sample=0.15),
    "contrast_moreDA": lambda: ContrastAugmentationTransform(p_per_sample=0.15),
    # insaneDA's stronger ones, and the additive brightness
    "blur_insane": lambda: GaussianBlurTransform((0.5, 1.5), different_sigma_per_channel=True, p_per_sample=0.2,
                                                 p_per_channel=0.5),
    "contrast_insane": lambda: ContrastAugmentationTransform(contrast_range=(0.65, 1.5), p_per_sample=0.15),
    "additive": lambda: BrightnessTransform(0.0, 0.1, True, p_per_sample=0.15, p_per_channel=0.5),
    # probabilities that always fire, and the other switches
    "noise_always": lambda: GaussianNoiseTransform(p_per_sample=1),
    "noise_per_channel": lambda: GaussianNoiseTransform((0, 0.2), p_per_sample=1, p_per_channel=0.6,
                                                       per_channel=True),
    "blur_always": lambda: GaussianBlurTransform((0.5, 1.), different_sigma_per_channel=True, p_per_sample=1,
                                                 p_per_channel=1),
    "blur_shared_sigma_per_axis": lambda: GaussianBlurTransform((0.5, 1.5), different_sigma_per_channel=False,
                                                                different_sigma_per_axis=True, p_isotropic=0.3,
                                                                p_per_sample=1, p_per_channel=0.7),
    "brightness_always": lambda: BrightnessMultiplicativeTransform((0.75, 1.25), p_per_sample=1),
    "brightness_whole_sample": lambda: BrightnessMultiplicativeTransform((0.75, 1.25), per_channel=False,
                                                                         p_per_sample=1),
    "additive_shared": lambda: BrightnessTransform(0.2, 0.1, False, p_per_sample=1, p_per_channel=0.7),
    "contrast_always": lambda: ContrastAugmentationTransform(p_per_sample=1),
    "contrast_shared_factor": lambda: ContrastAugmentationTransform((0.65, 1.5), per_channel=False,
                                                                    p_per_channel=0.6, p_per_sample=1),
    "contrast_no_range": lambda: ContrastAugmentationTransform(preserve_range=False, p_per_sample=1),
    "contrast_never": lambda: ContrastAugmentationTransform(p_per_sample=0),
}


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
@pytest.mark.parametrize("shape", [SHAPE_3D, TWO_CHANNEL_3D, SHAPE_2D], ids=["3d", "3d-2ch", "2d"])
def test_equal_to_batchgenerators(name, shape):
    transform = TRANSFORMS[name]()
    fired = 0
    for seed in SEEDS:
        data, seg = real_batch(shape, seed)
        draws = assert_same(transform, data, seg, seed)
        if draws is None:  # a named CPU fallback on this machine (a host check failed): parity checked through it
            return
        fired += bool(draws)
    if "always" in name:
        assert fired == len(SEEDS)
    if "never" in name:
        assert fired == 0


@pytest.mark.parametrize("n", [1, 2, 3, 5, 40])
@pytest.mark.parametrize("sigma", [0.5, 1.0, 1.5, 3.0])
def test_reflect_correlation_on_short_lines(n, sigma):
    if not host_check_holds("scipy_gaussian_filter"):
        return
    # lines shorter than the kernel: scipy's reflect extension repeats periodically
    rng = np.random.default_rng(n)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    weights = gaussian_weights(sigma)
    expected = correlate1d(x, weights, axis=0, mode="reflect")
    import torch

    assert np.array_equal(correlate1d_reflect(torch.from_numpy(x), weights, 0).numpy(), expected)
    assert len(reflect_index(n, 5)) == n + 10


def test_blur_weights_are_scipys():
    if not host_check_holds("scipy_gaussian_filter"):
        return
    from scipy.ndimage import _filters

    for sigma in (0.5, 0.73, 1.0, 1.49):
        radius = int(4.0 * sigma + 0.5)
        assert np.array_equal(gaussian_weights(sigma), _filters._gaussian_kernel1d(sigma, 0, radius)[::-1])
    x = np.random.default_rng(0).standard_normal((16, 40, 40)).astype(np.float32)
    import torch

    out = torch.from_numpy(x)
    for axis in range(3):
        out = correlate1d_reflect(out, gaussian_weights(0.8), axis)
    assert np.array_equal(out.numpy(), gaussian_filter(x, 0.8, order=0))
