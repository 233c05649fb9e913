"""The device transforms check once that this host's libraries compute what they reproduce, else stay on the CPU."""
from __future__ import annotations

import pytest
from batchgenerators.transforms.color_transforms import ContrastAugmentationTransform
from batchgenerators.transforms.noise_transforms import GaussianBlurTransform
from batchgenerators.transforms.resample_transforms import SimulateLowResolutionTransform

from nnunet_explorer.training.augmentation import DownsampleSegForDSTransform2
from nnunet_explorer.training.device_augmentation import host_checks, intensity, low_resolution, utility
from nnunet_explorer.training.device_augmentation.catalog import device_or_fallback


def test_this_hosts_libraries_are_the_reproduced_ones():
    assert host_checks.statistics_match_numpy()
    assert host_checks.blur_matches_scipy()
    assert host_checks.resize_matches_skimage()


@pytest.mark.parametrize("module, check, transform, words", [
    (intensity, "statistics_match_numpy", ContrastAugmentationTransform(), "mean"),
    (intensity, "blur_matches_scipy", GaussianBlurTransform(), "gaussian_filter"),
    (low_resolution, "resize_matches_skimage", SimulateLowResolutionTransform(order_downsample=0, order_upsample=3),
     "resize"),
    (utility, "resize_matches_skimage", DownsampleSegForDSTransform2(((1, 1, 1), (0.5, 0.5, 0.5))), "resize"),
])
def test_a_failed_check_is_a_named_cpu_fallback(monkeypatch, module, check, transform, words):
    assert device_or_fallback(transform)[0] is not None
    monkeypatch.setattr(module, check, lambda: False)
    device, why = device_or_fallback(transform)
    assert device is None and words in why and "CPU" in why
