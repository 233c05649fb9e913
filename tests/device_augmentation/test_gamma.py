"""GammaTransform on the device equals batchgenerators bit for bit, numpy's float32 power included.

numpy's ``np.power`` on float32 is not correctly rounded (up to 4 ulp on AVX-512 hosts) and depends on the
machine; the device runs numpy's own algorithm. Where the host's numpy is not that algorithm the device class
declines (checked here too).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from batchgenerators.transforms.color_transforms import GammaTransform

from nnunet_explorer.training.device_augmentation.gamma import DeviceGamma
from nnunet_explorer.training.device_augmentation.numpy_power import (host_power_is_reproduced, numpy_power_f32,
                                                                      probe_inputs)

from .transform_parity import SEEDS, SHAPE_2D, SHAPE_3D, assert_same, real_batch

pytestmark = pytest.mark.skipif(not host_power_is_reproduced(),
                                reason="numpy's float32 power on this machine is not the AVX-512 SVML one "
                                       "(GammaTransform stays on the CPU here)")


@pytest.mark.parametrize("gamma", [0.7, 0.75, 0.8312, 0.9999, 1.0, 1.0001, 1.2345, 1.4999, 1.5, 2.0, 0.5, 3.0])
def test_power_equals_numpy(gamma):
    rng = np.random.default_rng(int(gamma * 1000))
    x = np.concatenate([rng.random(60_000), rng.random(5_000) * 1e-4, rng.random(5_000) * 50, [0.0, 1.0],
                        probe_inputs()]).astype(np.float32)
    assert np.array_equal(numpy_power_f32(torch.from_numpy(x), gamma).numpy(), np.power(x, gamma))


def test_numpy_power_is_far_from_correctly_rounded():
    # why the algorithm is needed: the correctly rounded power differs from numpy's in many voxels
    x = np.random.default_rng(0).random(100_000).astype(np.float32)
    correctly_rounded = np.power(x.astype(np.float64), np.float32(0.83)).astype(np.float32)
    assert (correctly_rounded != np.power(x, 0.83)).mean() > 0.05


CASES = {
    "moreDA-inverted": dict(gamma_range=(0.7, 1.5), invert_image=True, per_channel=True, retain_stats=True,
                            p_per_sample=0.1),
    "moreDA": dict(gamma_range=(0.7, 1.5), invert_image=False, per_channel=True, retain_stats=True,
                   p_per_sample=0.3),
    "always-inverted": dict(gamma_range=(0.7, 1.5), invert_image=True, per_channel=True, retain_stats=True,
                            p_per_sample=1),
    "always": dict(gamma_range=(0.7, 1.5), invert_image=False, per_channel=True, retain_stats=True,
                   p_per_sample=1),
    "no-retain": dict(gamma_range=(0.7, 1.5), invert_image=False, per_channel=True, retain_stats=False,
                      p_per_sample=1),
    "whole-sample": dict(gamma_range=(0.7, 1.5), invert_image=True, per_channel=False, retain_stats=True,
                         p_per_sample=1),
    "whole-sample-no-retain": dict(gamma_range=(0.5, 2), invert_image=False, per_channel=False,
                                   retain_stats=False, p_per_sample=1),
    "callable-retain": dict(gamma_range=(0.7, 1.5), invert_image=False, per_channel=True,
                            retain_stats=lambda: np.random.uniform() < 0.5, p_per_sample=1),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("shape", [SHAPE_3D, (2, 2, 16, 40, 40), SHAPE_2D], ids=["3d", "3d-2ch", "2d"])
def test_equal_to_batchgenerators(case, shape):
    transform = GammaTransform(**CASES[case])
    seeds = SEEDS
    for seed in seeds:
        data, seg = real_batch(shape, seed)
        draws = assert_same(transform, data, seg, seed)
        if "always" in case:
            assert draws


def test_declines_where_numpy_computes_powers_otherwise(monkeypatch):
    import nnunet_explorer.training.device_augmentation.gamma as gamma_module

    monkeypatch.setattr(gamma_module, "host_power_is_reproduced", lambda: False)
    transform = GammaTransform((0.7, 1.5), True, True, retain_stats=True, p_per_sample=0.1)
    assert not DeviceGamma.supports(transform)
    with pytest.raises(NotImplementedError, match="stays on the CPU"):
        DeviceGamma(transform)


def test_power_of_denormal_inputs_in_the_main_path():
    # x below the smallest normal float32 (vgetmantps/vgetexpps normalise them) with results that stay normal
    x = np.ldexp(np.random.default_rng(5).uniform(1, 2, 20_000), -(np.arange(20_000) % 23) - 127).astype(np.float32)
    assert (x <= np.finfo(np.float32).tiny).all() and (x > 0).all()
    assert np.array_equal(numpy_power_f32(torch.from_numpy(x), 0.7).numpy(), np.power(x, 0.7))
