"""The transform chain: draws in the worker, arithmetic on the device, CPU fallbacks named — equal to Compose."""
from __future__ import annotations

import copy
import pickle
import shutil

import numpy as np
import pytest
import torch
from batchgenerators.transforms.abstract_transforms import AbstractTransform, Compose
from batchgenerators.transforms.spatial_transforms import SpatialTransform

from nnunet_explorer.training import dataloading as dl
from nnunet_explorer.training.augmentation import Convert2DTo3DTransform, Convert3DTo2DTransform
from nnunet_explorer.training.data_augmentation_params import setup_DA_params
from nnunet_explorer.training.device_augmentation.chain import DeviceAugmentationError, DeviceChain, summary

from nnunet_explorer.training.device_augmentation import host_checks

from .conftest import host_check_holds, moreda, same_streams, seed_all, streams, synthetic_batch

SPATIAL_ONLY = (SpatialTransform, Convert3DTo2DTransform, Convert2DTo3DTransform)


def _rotation_on_the_device() -> bool:
    """Whether moreDA's SpatialTransform (rotations on) runs on the device here; where not, the reason names the
    failed host check (another BLAS rounds ``np.dot`` otherwise)."""
    return host_check_holds("numpy_dot_rotation")


def _equal(a, b) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        a = a.cpu() if isinstance(a, torch.Tensor) else torch.from_numpy(np.asarray(a))
        b = b.cpu() if isinstance(b, torch.Tensor) else torch.from_numpy(np.asarray(b))
        return a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(a, b)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return a == b


def _run_both(transforms, batch, seed, *, only=SPATIAL_ONLY):
    seed_all(seed)
    expected = Compose(copy.deepcopy(transforms))(**copy.deepcopy(batch))
    after_compose = streams()
    chain = DeviceChain(transforms, only=only)
    seed_all(seed)
    work = copy.deepcopy(batch)
    draws = chain.draw_all(work)
    after_draws = streams()
    draws = pickle.loads(pickle.dumps(draws))  # they travel from the worker to the training process
    out = chain.apply_all(work["data"], work.get(draws.label_key), draws, "cpu")
    assert same_streams(after_draws, streams()), "apply_all must leave the training process's streams alone"
    return chain, expected, out, same_streams(after_compose, after_draws)


@pytest.mark.parametrize("dummy_2d,patch,mask,v2", [(False, (16, 40, 40), True, True), (True, (16, 40, 40), False, True),
                                                    (False, (40, 48), False, True), (False, (16, 40, 40), False, False)],
                         ids=["3d-mask", "dummy-2d", "2d", "3d-elastic"])
def test_chain_equals_compose_with_only_the_spatial_transform_on_the_device(dummy_2d, patch, mask, v2):
    transforms, setup = moreda(patch, dummy_2d=dummy_2d, mask=mask, v2=v2)
    for t in transforms:  # every sample resampled in some seeds, none in others
        if isinstance(t, SpatialTransform):
            t.p_rot_per_sample = t.p_scale_per_sample = 0.5
    for seed in range(20):
        batch = synthetic_batch(np.random.default_rng(500 + seed), 2, setup.basic_generator_patch_size)
        chain, expected, out, streams_equal = _run_both(transforms, batch, seed)
        assert streams_equal, f"seed {seed}: the worker's streams end elsewhere than Compose's"
        assert out.keys() == expected.keys()
        for key in expected:
            assert _equal(out[key], expected[key]), f"seed {seed}: {key}"
    wheres = {s.name: s.where for s in chain.steps}
    assert wheres["SegChannelSelectionTransform"] == "worker"
    if _rotation_on_the_device():
        assert wheres["SpatialTransform"] == "device" and wheres["GaussianNoiseTransform"] == "cpu"
    else:  # a named fallback before any device transform: the whole list runs in the worker
        assert set(wheres.values()) == {"worker"}
    if setup.deep_supervision_scales:  # V2: one target per deep-supervision output
        assert isinstance(out["target"], list) and out["target"][0].shape[2:] == tuple(setup.patch_size)


def test_chain_with_everything_registered_equals_compose():
    """Whatever is registered now (spatial, dummy 2D, and the other device modules present) is exact."""
    transforms, setup = moreda((16, 40, 40), mask=True)
    for seed in range(4):
        batch = synthetic_batch(np.random.default_rng(seed), 2, setup.basic_generator_patch_size)
        _, expected, out, streams_equal = _run_both(transforms, batch, seed, only=None)
        assert streams_equal
        for key in expected:
            assert _equal(out[key], expected[key]), f"seed {seed}: {key}"


def test_steps_with_draws_pairs_each_later_step_with_its_draws_and_refuses_another_chains():
    """What apply_all, traces and benchmarks walk: the steps after the workers, each with its own draws; draws made
    by a chain of other steps are refused with the fix."""
    transforms, setup = moreda((16, 40, 40))
    chain = DeviceChain(transforms)
    draws = chain.draw_all(synthetic_batch(np.random.default_rng(0), 2, setup.basic_generator_patch_size))
    pairs = chain.steps_with_draws(draws)
    assert [step for step, _ in pairs] == [s for s in chain.steps if s.where != "worker"]
    assert [d for _, d in pairs] == list(draws.steps)
    shorter = DeviceChain(transforms[1:])
    with pytest.raises(DeviceAugmentationError, match="the draws come from another chain"):
        shorter.steps_with_draws(draws)


def test_fallbacks_are_named_with_a_reason():
    transforms, _ = moreda((16, 40, 40))
    chain = DeviceChain(transforms, only=SPATIAL_ONLY)
    fallbacks = dict(chain.fallbacks)
    assert "GaussianNoiseTransform" in fallbacks and "excluded" in fallbacks["GaussianNoiseTransform"]
    text = chain.describe()
    if _rotation_on_the_device():
        assert "SpatialTransform" not in fallbacks
        assert "SpatialTransform" in text and "device" in text and "cpu" in text
    else:
        assert "host check 'numpy_dot_rotation' failed" in fallbacks["SpatialTransform"]
    full = DeviceChain(transforms)
    for name, reason in full.fallbacks:
        assert reason, name  # never a silent fallback
    info = summary(full)
    assert ("SpatialTransform" in info["device"]) == _rotation_on_the_device()
    assert set(info["host_checks"]) == set(host_checks.CHECKS)


def test_unsupported_spatial_configuration_falls_back_with_the_reason():
    transforms, setup = moreda((12, 30, 30))
    spatial = next(t for t in transforms if isinstance(t, SpatialTransform))
    spatial.border_mode_data = "nearest"
    chain = DeviceChain(transforms)
    assert "border_mode_data" in dict(chain.fallbacks)["SpatialTransform"]
    batch = synthetic_batch(np.random.default_rng(0), 2, setup.basic_generator_patch_size)
    chain, expected, out, streams_equal = _run_both(transforms, batch, 0, only=None)
    assert streams_equal and _equal(out["data"], expected["data"])


class _DataDependentDraws(AbstractTransform):
    """Draws once per voxel above zero: its number of draws depends on the data."""

    def __call__(self, **data_dict):
        for _ in range(int((data_dict["data"] > 0).sum()) % 5):
            np.random.uniform()
        return data_dict


def test_a_fallback_with_data_dependent_draws_is_an_error():
    transforms, setup = moreda((12, 30, 30))
    index = next(i for i, t in enumerate(transforms) if isinstance(t, SpatialTransform))
    transforms = transforms[:index + 1] + [_DataDependentDraws()] + transforms[index + 1:]
    with host_checks.forced(numpy_dot_rotation=True):  # the spatial transform on the device, before the culprit
        chain = DeviceChain(transforms, only=SPATIAL_ONLY)
    for seed in range(10):
        batch = synthetic_batch(np.random.default_rng(seed), 2, setup.basic_generator_patch_size)
        seed_all(seed)
        draws = chain.draw_all(batch)
        try:
            chain.apply_all(batch["data"], batch["seg"], draws, "cpu")
        except DeviceAugmentationError as exc:
            assert "_DataDependentDraws" in str(exc)
            return
    pytest.fail("the data-dependent draws were never noticed")


@pytest.mark.parity
def test_chain_on_real_preprocessed_cases(v1_ct_task, tmp_path):
    """The synthetic CT task as v1 1.7.1 preprocessed it, through the explorer's DataLoader3D and v1's plans."""
    stage = tmp_path / "stage"
    shutil.copytree(v1_ct_task.preprocessed_dir / "nnUNetData_plans_v2.1_stage0", stage)
    with open(v1_ct_task.preprocessed_dir / "nnUNetPlansv2.1_plans_3D.pkl", "rb") as f:
        plans = pickle.load(f)
    patch = tuple(int(v) for v in plans["plans_per_stage"][0]["patch_size"])
    transforms, setup = moreda(patch)
    for t in transforms:
        if isinstance(t, SpatialTransform):
            t.p_rot_per_sample = t.p_scale_per_sample = 0.6
    np.random.seed(0)
    loader = dl.make_data_loader(dl.load_dataset(stage), setup.basic_generator_patch_size, patch, 2)
    batches = [next(loader) for _ in range(20)]
    for seed, batch in enumerate(batches):
        _, expected, out, streams_equal = _run_both(transforms, batch, seed)
        assert streams_equal
        for key in expected:
            assert _equal(out[key], expected[key]), f"batch {seed}: {key}"


def test_run_is_draw_all_then_apply_all():
    transforms, setup = moreda((16, 40, 40))
    chain = DeviceChain(transforms)
    batch = synthetic_batch(np.random.default_rng(9), 2, setup.basic_generator_patch_size)
    seed_all(4)
    expected = Compose(copy.deepcopy(transforms))(**copy.deepcopy(batch))
    seed_all(4)
    out = chain.run(copy.deepcopy(batch), "cpu")
    for key in expected:
        assert _equal(out[key], expected[key]), key


@pytest.mark.parametrize("variant", ["default", "insaneDA", "insaneDA2"])
def test_chain_on_v1s_other_augmentation_lists(variant):
    """nnUNetTrainer's default list (elastic on), insaneDA (per-axis scaling), insaneDA2 (``SpatialTransform_2``,
    which has no device version: a named fallback before any device transform runs, so all of it stays in the
    worker) — all equal to Compose."""
    from nnunet_explorer.training import augmentation_variants as variants

    setup = setup_DA_params((16, 40, 40), do_dummy_2D_aug=False, use_mask_for_norm={0: False},
                            pool_op_kernel_sizes=[[1, 2, 2], [2, 2, 2]], v2=variant != "default")
    params = dict(setup.data_aug_params)
    params.update(p_eldef=0.5, p_rot=0.5, p_scale=0.5)
    if variant == "default":
        transforms = variants.build_default_train_transforms(setup.patch_size, params)
    else:
        build = getattr(variants, f"build_{variant}_train_transforms")
        transforms = build(setup.patch_size, params, setup.deep_supervision_scales)
    chain = DeviceChain(transforms, only=SPATIAL_ONLY)
    if variant == "insaneDA2":
        assert "SpatialTransform_2" in dict(chain.fallbacks)
    elif _rotation_on_the_device():
        assert any(s.name == "SpatialTransform" and s.where == "device" for s in chain.steps)
    for seed in range(5):
        batch = synthetic_batch(np.random.default_rng(seed), 2, setup.basic_generator_patch_size)
        _, expected, out, streams_equal = _run_both(transforms, batch, seed)
        assert streams_equal
        for key in expected:
            assert _equal(out[key], expected[key]), f"{variant}, seed {seed}: {key}"
