"""GammaTransform on the device equals batchgenerators bit for bit, numpy's float32 power included.

numpy's ``np.power`` on float32 is not correctly rounded (up to 4 ulp on AVX-512 hosts) and depends on the
machine; the device runs numpy's own algorithm. Where the host's numpy is not that algorithm (host check
``numpy_float32_power``: another processor than AMD Zen 4, or no AVX-512) the device class declines, naming the
check, and the chain keeps batchgenerators' transform on the CPU: every test here holds on such a machine too, by
checking the decline and the parity through the fallback.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from batchgenerators.transforms.color_transforms import GammaTransform

from batchgenerators.transforms.spatial_transforms import SpatialTransform

from nnunet_explorer.training.device_augmentation import host_checks
from nnunet_explorer.training.device_augmentation.base import UnsupportedOnDevice
from nnunet_explorer.training.device_augmentation.chain import DeviceChain
from nnunet_explorer.training.device_augmentation.gamma import DeviceGamma
from nnunet_explorer.training.device_augmentation.numpy_power import (PROBE_EXPONENTS, numpy_power_f32,
                                                                      numpy_power_rows_f32, probe_inputs)

from .conftest import chain_problems, host_check_holds, moreda, simulated, synthetic_batch
from .transform_parity import SEEDS, SHAPE_2D, SHAPE_3D, assert_same, real_batch


def _power_reproduced_here() -> bool:
    """True where the host check holds; where it fails, first checks that the decline is named (GammaTransform
    declines naming the check) and correct: numpy's power here differs from the reproduced one on the probe
    inputs (unless the failure is simulated with NNUNET_EXPLORER_FAIL_HOST_CHECKS)."""
    if host_check_holds("numpy_float32_power"):
        return True
    if not simulated("numpy_float32_power"):
        x = probe_inputs()
        with np.errstate(all="ignore"):
            assert any(not np.array_equal(numpy_power_f32(torch.from_numpy(x), y).numpy(), np.power(x, y),
                                          equal_nan=True) for y in PROBE_EXPONENTS + (1.0, 2.0, 0.5))
    return False


@pytest.mark.parametrize("gamma", [0.7, 0.75, 0.8312, 0.9999, 1.0, 1.0001, 1.2345, 1.4999, 1.5, 2.0, 0.5, 3.0])
def test_power_equals_numpy(gamma):
    if not _power_reproduced_here():
        return  # the decline was checked; the power is not expected to equal this host's numpy
    rng = np.random.default_rng(int(gamma * 1000))
    x = np.concatenate([rng.random(60_000), rng.random(5_000) * 1e-4, rng.random(5_000) * 50, [0.0, 1.0],
                        probe_inputs()]).astype(np.float32)
    assert np.array_equal(numpy_power_f32(torch.from_numpy(x), gamma).numpy(), np.power(x, gamma))


def test_rows_each_with_its_own_exponent_equal_numpy():
    """The batch's drawn channels go through the power together, each row with its own gamma; exponents numpy
    treats specially (1 after the float32 rounding of 0.99999999, 2, 0.5) among general ones, and all special."""
    if not _power_reproduced_here():
        return
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.random((6, 3000)), probe_inputs()[None, :3000].repeat(6, 0)], axis=1).astype(np.float32)
    for gammas in ([0.8312, 0.99999999, 1.2345, 2.0, 0.7, 0.5], [1.0, 2.0, 0.5, 1.0, -1.0, 2.0]):
        got = numpy_power_rows_f32(torch.from_numpy(x), gammas).numpy()
        with np.errstate(all="ignore"):
            expected = np.stack([np.power(x[k], gammas[k]) for k in range(len(gammas))])
        assert np.array_equal(got, expected, equal_nan=True), gammas


def test_numpy_power_is_far_from_correctly_rounded():
    # why the algorithm is needed: the correctly rounded power differs from numpy's SVML power in many voxels
    if not _power_reproduced_here():
        return  # numpy here computes powers otherwise (the C library's powf, or another SVML)
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
        if "always" in case and draws is not None:  # None: through the CPU fallback on this machine
            assert draws


def test_declines_where_numpy_computes_powers_otherwise():
    transform = GammaTransform((0.7, 1.5), True, True, retain_stats=True, p_per_sample=0.1)
    with host_checks.forced(numpy_float32_power=False):
        assert not DeviceGamma.supports(transform)
        with pytest.raises(UnsupportedOnDevice, match="host check 'numpy_float32_power' failed.*runs on the CPU"):
            DeviceGamma(transform)


@pytest.mark.parametrize("dummy_2d", [False, True], ids=["3d", "dummy-2d"])
def test_chain_with_gamma_on_the_cpu_equals_compose(dummy_2d):
    """A machine whose numpy computes float32 powers otherwise (the host check forced to fail): both gammas are
    named CPU fallbacks in mid-chain, everything else stays on the device, and the chain equals Compose."""
    transforms, setup = moreda((16, 40, 40), dummy_2d=dummy_2d, mask=True)
    for t in transforms:
        if isinstance(t, GammaTransform):
            t.p_per_sample = 0.5  # so that the fallbacks change many samples
        if isinstance(t, SpatialTransform):
            t.p_rot_per_sample = t.p_scale_per_sample = 0.5
    with host_checks.forced(numpy_float32_power=False):
        chain = DeviceChain(transforms)
    steps = [s for s in chain.steps if s.name == "GammaTransform"]
    assert len(steps) == 2 and all(s.where == "cpu" for s in steps)
    assert all("host check 'numpy_float32_power' failed" in s.reason for s in steps)
    assert "numpy_float32_power" in chain.describe()
    assert {s.where for s in chain.steps if s.name != "GammaTransform"} <= {"device"} or \
        host_checks.failed()  # on a machine where other checks fail, those transforms are fallbacks too
    for seed in range(20):
        batch = synthetic_batch(np.random.default_rng(700 + seed), 2, setup.basic_generator_patch_size)
        problems, _, _ = chain_problems(transforms, batch, seed, chain=chain)
        assert not problems, f"seed {seed}: {problems}"


def test_power_of_denormal_inputs_in_the_main_path():
    if not _power_reproduced_here():
        return
    # x below the smallest normal float32 (vgetmantps/vgetexpps normalise them) with results that stay normal
    x = np.ldexp(np.random.default_rng(5).uniform(1, 2, 20_000), -(np.arange(20_000) % 23) - 127).astype(np.float32)
    assert (x <= np.finfo(np.float32).tiny).all() and (x > 0).all()
    assert np.array_equal(numpy_power_f32(torch.from_numpy(x), 0.7).numpy(), np.power(x, 0.7))
