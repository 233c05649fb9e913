"""The device transforms check once that this host's libraries compute what they reproduce, else stay on the CPU.

On this project's machines (AMD Zen 4, numpy 2 / scipy 1.17 / scikit-image as pinned) every check holds. On
another machine a check may fail (numpy's float32 power is the AVX-512 SVML one with Zen 4's reciprocal steps;
``np.dot`` rounds as the BLAS kernel of the processor does): then the transforms that depend on it decline with a
reason naming the check, and the chain still equals batchgenerators, through the CPU fallback. These tests hold on
any machine; the checks that fail here are reported as a warning, so that a CI log says what ran where.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from batchgenerators.transforms.spatial_transforms import SpatialTransform

from nnunet_explorer.training.device_augmentation import host_checks
from nnunet_explorer.training.device_augmentation.catalog import device_or_fallback
from nnunet_explorer.training.device_augmentation.chain import DeviceChain

from .conftest import chain_problems, dependents, moreda, synthetic_batch

DEPENDENTS = {check: dependents(check) for check in host_checks.CHECKS}


def test_every_check_has_its_dependents_listed():
    assert set(DEPENDENTS) == set(host_checks.CHECKS) and all(DEPENDENTS.values())


def test_report_what_this_host_reproduces():
    report = host_checks.report()
    assert set(report) == set(host_checks.CHECKS) and all(isinstance(v, bool) for v in report.values())
    failed = [name for name, holds in report.items() if not holds]
    assert failed == host_checks.failed()
    if failed:
        warnings.warn(f"host checks failed on this machine (these transforms run on the CPU here): {failed}")


@pytest.mark.parametrize("check", sorted(DEPENDENTS))
def test_a_failing_check_is_a_named_cpu_fallback_and_a_passing_one_is_not(check):
    for transform in DEPENDENTS[check]:
        with host_checks.forced(**{name: name != check for name in host_checks.CHECKS}):
            device, why = device_or_fallback(transform)
        assert device is None and f"host check {check!r} failed" in why and "CPU" in why, why
        with host_checks.forced(**{name: True for name in host_checks.CHECKS}):
            device, why = device_or_fallback(transform)
        assert device is not None, why


@pytest.mark.parametrize("check", sorted(DEPENDENTS))
def test_on_this_machine_each_check_decides_what_runs_where(check):
    """Where the check holds, its transforms run on the device (if the others hold too); where it fails, they are
    named fallbacks."""
    for transform in DEPENDENTS[check]:
        device, why = device_or_fallback(transform)
        if not host_checks.passes(check):
            assert device is None and any(f"host check {c!r} failed" in why for c in host_checks.failed()), why
        elif device is None:
            assert any(f"host check {c!r} failed" in why for c in host_checks.failed()), why


def test_forced_restores_the_check():
    before = host_checks.CHECKS["numpy_float32_power"]
    with host_checks.forced(numpy_float32_power=False):
        assert not host_checks.passes("numpy_float32_power")
    assert host_checks.CHECKS["numpy_float32_power"] is before


def test_with_every_check_failing_the_chain_still_equals_compose():
    """The machine where nothing is reproduced: the chain keeps those transforms on the CPU and stays exact."""
    transforms, setup = moreda((16, 40, 40), mask=True)
    for t in transforms:
        if isinstance(t, SpatialTransform):
            t.p_rot_per_sample = t.p_scale_per_sample = 0.5
    with host_checks.forced(**{name: False for name in host_checks.CHECKS}):
        chain = DeviceChain(transforms)
    where = {s.name: s.where for s in chain.steps}
    assert where["GammaTransform"] == "cpu" and where["GaussianNoiseTransform"] == "device"
    for name, reason in chain.fallbacks:
        assert reason, name
    for seed in range(3):
        batch = synthetic_batch(np.random.default_rng(seed), 2, setup.basic_generator_patch_size)
        problems, _, _ = chain_problems(transforms, batch, seed, chain=chain)
        assert not problems, f"seed {seed}: {problems}"
