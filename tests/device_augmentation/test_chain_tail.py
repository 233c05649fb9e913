"""v1's whole transform lists: everything after the spatial transform on the device equals batchgenerators.

The spatial transform (and the dummy-2D folding around it) runs on the CPU here, as batchgenerators does it; it is
the other half of the device chain and tested with it. Every later transform of moreDA (3D, 2D, dummy 2D, with the
nonzero mask, cascade), insaneDA, the default augmentation, noDA and validation goes through its device transform,
one after the other on the same tensors, and the final data and deep-supervision targets must equal
``Compose(list)`` on numpy arrays from the same seeds, bit for bit.
"""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from batchgenerators.transforms.abstract_transforms import Compose
from batchgenerators.transforms.spatial_transforms import SpatialTransform, SpatialTransform_2

from nnunet_explorer.training.augmentation import (Convert2DTo3DTransform, build_train_transforms,
                                                   build_val_transforms)
from nnunet_explorer.training.augmentation_variants import (build_default_train_transforms,
                                                            build_insaneDA_train_transforms,
                                                            build_noDA_train_transforms)
from nnunet_explorer.training.cascade_augmentation import cascade_da_params
from nnunet_explorer.training.data_augmentation_params import (default_2D_augmentation_params,
                                                               default_3D_augmentation_params)
from nnunet_explorer.training.deep_supervision import ds_scales
from nnunet_explorer.training.device_augmentation.catalog import device_or_fallback

from .transform_parity import real_batch

SEEDS = range(20)
PATCH_3D = (16, 40, 40)
POOLS_3D = [[1, 2, 2], [2, 2, 2], [2, 2, 2]]
PATCH_2D = (40, 40)
POOLS_2D = [[2, 2], [2, 2], [2, 2]]


def _v2_params(params: dict) -> dict:
    # nnUNetTrainerV2.setup_DA_params' changes to the defaults
    params.update(rotation_x=(-30. / 360 * 2. * np.pi, 30. / 360 * 2. * np.pi), scale_range=(0.7, 1.4),
                  do_elastic=False, selected_seg_channels=[0], num_cached_per_thread=2)
    return params


def _configs() -> dict:
    p3 = _v2_params(default_3D_augmentation_params())
    p2 = _v2_params(default_2D_augmentation_params())
    dummy = _v2_params(default_3D_augmentation_params())
    dummy.update(dummy_2D=True, mirror_axes=(1, 2))
    masked = _v2_params(default_3D_augmentation_params())
    masked["mask_was_used_for_normalization"] = {0: True, 1: False}
    cascade = {**_v2_params(default_3D_augmentation_params()), **cascade_da_params(3)}
    insane = _v2_params(default_3D_augmentation_params())
    insane.update(do_additive_brightness=True, p_independent_scale_per_axis=0.3)
    ds3, ds2 = ds_scales(POOLS_3D), ds_scales(POOLS_2D)
    return {
        "moreDA-3d": (lambda: build_train_transforms(PATCH_3D, p3, ds3), (2, 1, 24, 56, 56), 1),
        "moreDA-2d": (lambda: build_train_transforms(PATCH_2D, p2, ds2), (6, 1, 56, 56), 1),
        "moreDA-dummy2d": (lambda: build_train_transforms(PATCH_3D, dummy, ds3), (2, 1, 16, 56, 56), 1),
        "moreDA-mask-2ch": (lambda: build_train_transforms(PATCH_3D, masked, ds3), (2, 2, 24, 56, 56), 1),
        "moreDA-cascade": (lambda: build_train_transforms(PATCH_3D, cascade, ds3), (2, 1, 24, 56, 56), 2),
        "insaneDA": (lambda: build_insaneDA_train_transforms(PATCH_3D, insane, ds3), (2, 1, 24, 56, 56), 1),
        "default": (lambda: build_default_train_transforms(PATCH_3D, default_3D_augmentation_params()),
                    (2, 1, 24, 56, 56), 1),
        "noDA": (lambda: build_noDA_train_transforms(p3, ds3), (2, 1, 16, 40, 40), 1),
        "validation": (lambda: build_val_transforms(p3, ds3), (2, 1, 16, 40, 40), 1),
    }


CONFIGS = _configs()


def _batch(shape, seg_channels, seed):
    data, seg = real_batch(shape, seed)
    if seg_channels == 2:  # the cascade: ground truth and the low-resolution prediction
        prior = np.where(seg[:, 0] > 0, np.minimum(seg[:, 0], 2), 0).astype(np.float32)
        seg = np.concatenate([seg, prior[:, None]], axis=1)
    return data, seg


def _cpu_prefix_length(transforms) -> int:
    ends = [i + 1 for i, t in enumerate(transforms)
            if isinstance(t, (SpatialTransform, SpatialTransform_2, Convert2DTo3DTransform))]
    return max(ends, default=0)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_tail_of_the_chain_equals_batchgenerators(name):
    build, shape, seg_channels = CONFIGS[name]
    transforms = build()
    prefix = _cpu_prefix_length(transforms)
    devices = []
    for t in transforms[prefix:]:
        device, why = device_or_fallback(t)
        assert device is not None, why
        devices.append(device)
    fired = {}
    for seed in SEEDS:
        data, seg = _batch(shape, seg_channels, seed)
        np.random.seed(seed)
        random.seed(seed)
        cpu = Compose(transforms)(data=data.copy(), seg=seg.copy())
        state, py_state = np.random.get_state()[1].copy(), random.getstate()

        np.random.seed(seed)
        random.seed(seed)
        batch = {"data": data.copy(), "seg": seg.copy()}
        for t in transforms[:prefix]:
            batch = t(**batch)
        x, s = torch.from_numpy(batch["data"]), torch.from_numpy(batch["seg"])
        for device in devices:
            draws = device.draw(x.shape[0], tuple(x.shape), tuple(s.shape) if isinstance(s, torch.Tensor) else None)
            if isinstance(draws, list):  # a transform with random draws: count the batches it changed
                fired[type(device).__name__] = fired.get(type(device).__name__, 0) + bool(draws)
            x, s = device.apply(x, s, draws)
        assert np.array_equal(np.random.get_state()[1], state) and random.getstate() == py_state
        assert torch.equal(x, cpu["data"]) and x.dtype == cpu["data"].dtype, f"{name} seed {seed}"
        targets = cpu["target"] if isinstance(cpu["target"], list) else [cpu["target"]]
        s = s if isinstance(s, list) else [s]
        assert len(s) == len(targets)
        for a, b in zip(s, targets):
            assert torch.equal(a, b), f"{name} seed {seed}: targets differ"
    assert all(count > 0 for count in fired.values()), fired  # every random transform fired at least once
