"""Every v1 transform list the explorer builds, as a whole device chain, equals batchgenerators' Compose bit for bit.

For each list and 20 seeds: a loader-like batch cut from the Colin27 sample at the loader's patch size (real
intensities: contrast and gamma depend on the statistics; labels 0-4 with a band of -1 "outside the case"),
``Compose(list)`` on numpy arrays, and :class:`DeviceChain` — ``draw_all`` (the worker), the draws pickled,
``apply_all`` on the CPU device — from the same numpy and Python ``random`` seeds. Required: every output key equal
(the image's float32 bits, every deep-supervision target voxel for voxel, dtypes), both random streams in the same
end state, and every random transform on the device having changed at least one batch (so the parity is not
vacuous). Which transforms run where is printed with ``-s`` (``describe()``) and checked against what this host's
checks allow (:mod:`~nnunet_explorer.training.device_augmentation.host_checks`).

The lists: moreDA (``nnUNetTrainerV2``) 3D, dummy 2D and 2D, with the nonzero mask on two channels, with regions,
the cascade's (``nnUNetTrainerV2CascadeFullRes``), DA2's parameters (``nnUNetTrainerV2_DA2`` uses moreDA), insaneDA,
insaneDA2 (``nnUNetTrainerV2_DA3``: ``SpatialTransform_2`` has no device version, a named fallback in the
worker), the original ``nnUNetTrainer``'s default augmentation (elastic, no deep supervision), noDA (training and
validation) and moreDA's validation lists (plain and cascade). DA5 builds its own list inside v1's trainer
(``Rot90Transform``, ``MedianFilterTransform``, local transforms ...), which the explorer does not build.
"""
from __future__ import annotations

import numpy as np
import pytest
from batchgenerators.transforms.spatial_transforms import SpatialTransform, SpatialTransform_2

from nnunet_explorer.training.augmentation import build_train_transforms, build_val_transforms
from nnunet_explorer.training.augmentation_variants import (build_default_train_transforms,
                                                            build_insaneDA2_train_transforms,
                                                            build_insaneDA_train_transforms,
                                                            build_noDA_train_transforms, build_noDA_val_transforms)
from nnunet_explorer.training.cascade_augmentation import cascade_da_params
from nnunet_explorer.training.data_augmentation_params import setup_DA_params
from nnunet_explorer.training.device_augmentation import host_checks
from nnunet_explorer.training.device_augmentation.spatial import SpatialDraws

from .conftest import chain_problems
from .transform_parity import real_batch

SEEDS = range(20)
POOLS_3D = [[1, 2, 2], [2, 2, 2], [2, 2, 2]]
POOLS_2D = [[2, 2], [2, 2], [2, 2]]
REGIONS = {"whole": (1, 2, 3, 4), "core": (2, 3), "enhancing": (3,)}

# v1's trainers change these after nnUNetTrainerV2.setup_DA_params (values copied from nnunet 1.7.1)
DA2 = dict(independent_scale_factor_for_each_axis=True, rotation_p_per_axis=0.5, do_additive_brightness=True)
INSANE = dict(scale_range=(0.65, 1.6), do_elastic=True, elastic_deform_alpha=(0., 1300.),
              elastic_deform_sigma=(9., 15.), p_eldef=0.2, gamma_range=(0.6, 2))
DA3 = dict(p_rot=0.3, scale_range=(0.65, 1.6), p_scale=0.3, independent_scale_factor_for_each_axis=True,
           p_independent_scale_per_axis=0.3, do_elastic=True, p_eldef=0.3, eldef_deformation_scale=(0, 0.25),
           do_additive_brightness=True, additive_brightness_mu=0, additive_brightness_sigma=0.2,
           additive_brightness_p_per_sample=0.3, additive_brightness_p_per_channel=1, gamma_range=(0.5, 1.6))
ADDITIVE = dict(additive_brightness_mu=0.0, additive_brightness_sigma=0.1, additive_brightness_p_per_sample=0.15,
                additive_brightness_p_per_channel=0.5)  # v1's default dict's values


def _setup(patch, *, dummy_2d=False, mask=None, v2=True):
    return setup_DA_params(patch, do_dummy_2D_aug=dummy_2d, use_mask_for_norm=mask or {0: False},
                           pool_op_kernel_sizes=POOLS_3D if len(patch) == 3 else POOLS_2D, v2=v2)


def _lists() -> dict:
    """name -> (builder returning (transforms, loader patch size), batch size, image channels, seg channels)."""

    def moreda(patch, updates=None, **kwargs):
        def build():
            setup = _setup(patch, **kwargs)
            params = {**setup.data_aug_params, **(updates or {})}
            extra = {"regions": REGIONS} if (updates or {}).get("regions") else {}
            params.pop("regions", None)
            return (build_train_transforms(setup.patch_size, params, setup.deep_supervision_scales, **extra),
                    setup.basic_generator_patch_size)
        return build

    def variant(builder, patch, updates, v2=True):
        def build():
            setup = _setup(patch, v2=v2)
            params = {**setup.data_aug_params, **updates}
            if builder is build_default_train_transforms:
                return builder(setup.patch_size, params), setup.basic_generator_patch_size
            return builder(setup.patch_size, params, setup.deep_supervision_scales), setup.basic_generator_patch_size
        return build

    def validation(builder, patch, updates=None):
        def build():
            setup = _setup(patch)
            params = {**setup.data_aug_params, **(updates or {})}
            return builder(params, setup.deep_supervision_scales), setup.patch_size
        return build

    p3, p2 = (16, 40, 40), (40, 40)
    cascade = cascade_da_params(5)
    return {
        "moreDA-3d": (moreda(p3), 2, 1, 1),
        "moreDA-dummy-2d": (moreda(p3, dummy_2d=True), 2, 1, 1),
        "moreDA-2d": (moreda(p2), 4, 1, 1),
        "moreDA-mask-2ch": (moreda(p3, mask={0: True, 1: False}), 2, 2, 1),
        "moreDA-regions": (moreda(p3, {"regions": True}), 2, 1, 1),
        "moreDA-cascade": (moreda(p3, cascade), 2, 1, 2),
        "moreDA-DA2": (moreda(p3, {**DA2, **ADDITIVE}), 2, 1, 1),
        "insaneDA": (variant(build_insaneDA_train_transforms, p3, INSANE), 2, 1, 1),
        "insaneDA2-DA3": (variant(build_insaneDA2_train_transforms, p3, DA3), 2, 1, 1),
        "default-nnUNetTrainer": (variant(build_default_train_transforms, p3, {}, v2=False), 2, 1, 1),
        "noDA-train": (validation(build_noDA_train_transforms, p3), 2, 1, 1),
        "noDA-val": (validation(build_noDA_val_transforms, p3), 2, 1, 1),
        "moreDA-val": (validation(build_val_transforms, p3), 2, 1, 1),
        "moreDA-val-cascade": (validation(build_val_transforms, p3, cascade), 2, 1, 2),
    }


LISTS = _lists()


def _batch(shape, channels: int, seg_channels: int, seed: int) -> dict:
    data, seg = real_batch(shape, seed, channels=channels)
    if seg_channels == 2:  # the cascade: ground truth and the previous stage's prediction (labels 0-4)
        rng = np.random.default_rng(seed)
        prior = np.where(seg[:, 0] > 0, seg[:, 0], 0)
        prior[rng.random(prior.shape) < 0.02] = 0
        seg = np.concatenate([seg, prior[:, None].astype(np.float32)], axis=1)
    b = shape[0]
    return {"data": data, "seg": seg, "keys": np.array([f"case_{seed}_{i}" for i in range(b)]),
            "properties": [{"case": i} for i in range(b)]}


def _fired(step, draws) -> bool:
    """Whether a device step changed anything in this batch (its draws say so)."""
    if isinstance(draws, SpatialDraws):
        return any(s.resampled for s in draws.samples)
    return bool(draws) if isinstance(draws, list) else False


def _expected_device_steps(chain) -> None:
    """What must run on the device here: everything registered, unless a host check that failed says otherwise,
    or it comes before a CPU fallback in the worker; the fallbacks named."""
    failed = host_checks.failed()
    for step in chain.steps:
        if step.where == "device":
            continue
        assert step.reason, step.name
        if step.name == "SpatialTransform_2":
            assert "no device version" in step.reason
        elif step.where == "cpu":
            assert any(f"host check {name!r} failed" in step.reason for name in failed), (step.name, step.reason)


@pytest.mark.parametrize("name", list(LISTS))
def test_whole_chain_equals_compose(name, capsys):
    build, batch_size, channels, seg_channels = LISTS[name]
    transforms, loader_patch = build()
    fired: dict[str, int] = {}
    chain = None
    for seed in SEEDS:
        batch = _batch((batch_size, channels, *loader_patch), channels, seg_channels, seed)
        problems, chain, draws = chain_problems(transforms, batch, seed)
        assert not problems, f"{name}, seed {seed}: {problems}"
        for step, d in chain.steps_with_draws(draws):
            if step.where == "device" and isinstance(d, (list, SpatialDraws)):  # random (None: draws nothing)
                label = f"{step.index} {step.name}"
                fired[label] = fired.get(label, 0) + _fired(step, d)
    _expected_device_steps(chain)
    with capsys.disabled():
        print(f"\n{name}:\n{chain.describe()}\nfired (batches of {len(SEEDS)}): {fired}")
    never = [label for label, n in fired.items() if n == 0]
    assert not never, f"{name}: these random transforms never acted in {len(SEEDS)} batches: {never}"


def test_insaneDA2_keeps_its_spatial_transform_in_the_worker():
    transforms, _ = LISTS["insaneDA2-DA3"][0]()
    from nnunet_explorer.training.device_augmentation.chain import DeviceChain

    chain = DeviceChain(transforms)
    where = {s.name: s.where for s in chain.steps}
    assert where["SpatialTransform_2"] == "worker" and where["SegChannelSelectionTransform"] == "worker"
    assert "no device version of SpatialTransform_2" in dict(chain.fallbacks)["SpatialTransform_2"]
    assert any(isinstance(s.transform, SpatialTransform_2) for s in chain.steps)
    assert not any(isinstance(s.transform, SpatialTransform) and s.where != "device" for s in chain.steps)
