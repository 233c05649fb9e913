"""The cascade's transforms on the device: the prior as one-hot channels and its corruptions, as v1 draws them."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from nnunet_explorer.training.cascade_augmentation import (ApplyRandomBinaryOperatorTransform, BINARY_OPERATIONS,
                                                            RemoveRandomConnectedComponentFromOneHotEncodingTransform,
                                                            cascade_da_params, cascade_transforms)
from nnunet_explorer.training.data_augmentation_params import default_3D_augmentation_params
from nnunet_explorer.training.device_augmentation.catalog import device_or_fallback

from .transform_parity import SEEDS, real_batch


def _batch(seed: int, num_classes: int = 3):
    data, seg = real_batch((2, 1, 16, 40, 40), seed)
    rng = np.random.default_rng(seed)
    blobs = ndimage.gaussian_filter(rng.standard_normal((2, 16, 40, 40)), 3)
    prior = np.digitize(blobs, np.linspace(0.02, 0.06, num_classes - 1)).astype(np.float32)
    return data, np.concatenate([seg, prior[:, None]], axis=1)


def _run_cpu(transforms, data, seg, seed):
    np.random.seed(seed)
    batch = {"data": data.copy(), "seg": seg.copy()}
    for t in transforms:
        batch = t(**batch)
    return batch, np.random.get_state()[1].copy()


def _run_device(transforms, data, seg, seed):
    np.random.seed(seed)
    x, s = torch.from_numpy(data.copy()), torch.from_numpy(seg.copy())
    fired = 0
    for t in transforms:
        device, why = device_or_fallback(t)
        assert device is not None, why
        draws = device.draw(x.shape[0], tuple(x.shape), tuple(s.shape))
        fired += bool(draws) if isinstance(draws, list) else 0
        x, s = device.apply(x, s, draws)
    return x, s, np.random.get_state()[1].copy(), fired


@pytest.mark.parametrize("variant", ["moreDA", "always", "default-augmentation"])
def test_cascade_transforms_equal_v1s(variant):
    params = {**default_3D_augmentation_params(), **cascade_da_params(3)}
    if variant == "always":
        params["cascade_random_binary_transform_p"] = 1.0
        params["cascade_remove_conn_comp_p"] = 1.0
    transforms = cascade_transforms(params, train=True, use_p_per_label=variant != "default-augmentation",
                                    skip_zero_p=variant != "default-augmentation")
    fired = 0
    for seed in SEEDS:
        data, seg = _batch(seed)
        cpu, state = _run_cpu(transforms, data, seg, seed)
        x, s, device_state, f = _run_device(transforms, data, seg, seed)
        fired += f
        assert np.array_equal(x.numpy(), cpu["data"]) and np.array_equal(s.numpy(), cpu["seg"])
        assert np.array_equal(device_state, state)
    assert fired > 0


@pytest.mark.parametrize("operation", range(4))
def test_each_binary_operation(operation):
    # one operation at a time, big radii at the volume's border included
    transform = ApplyRandomBinaryOperatorTransform([-2, -1], p_per_sample=1, strel_size=(1, 8),
                                                   any_of_these=(BINARY_OPERATIONS[operation],))
    for seed in SEEDS:
        data, seg = _batch(seed)
        one_hot = np.stack([(seg[:, 1] == v) for v in (1, 2)], axis=1).astype(np.float32)
        data = np.concatenate([data, one_hot], axis=1)
        cpu, state = _run_cpu([transform], data, seg, seed)
        x, _, device_state, _ = _run_device([transform], data, seg, seed)
        assert np.array_equal(x.numpy(), cpu["data"]) and np.array_equal(device_state, state)


def test_connected_component_removal_with_a_threshold_is_a_named_cpu_fallback():
    transform = RemoveRandomConnectedComponentFromOneHotEncodingTransform([-1], p_per_sample=0.2,
                                                                           dont_do_if_covers_more_than_X_percent=0.25)
    device, why = device_or_fallback(transform)
    assert device is None and "data-dependent" in why
