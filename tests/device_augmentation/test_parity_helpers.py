"""The comparison helpers every device-augmentation check reports with (parity.py, gpu_check's augmentation section,
device_transforms_check.py): bits of float32 images, voxels of every deep-supervision target."""
from __future__ import annotations

import math

import numpy as np
import torch
from batchgenerators.transforms.spatial_transforms import MirrorTransform

from nnunet_explorer.training.device_augmentation.parity import compare_transform, data_difference, seg_mismatches


def test_data_difference_counts_bits_not_only_values():
    a = np.array([0.0, 1.0, 2.0], np.float32)
    b = np.array([-0.0, 1.0, 2.5], np.float32)  # -0.0 == 0.0 as a value, not as bits
    assert data_difference(torch.from_numpy(b), a) == (0.5, 2)
    assert data_difference(a, a) == (0.0, 0)
    assert data_difference(a, a[:2]) == (math.inf, 3)


def test_seg_mismatches_over_every_target_and_whole_targets_of_another_shape():
    t = [np.zeros((1, 1, 4, 4), np.float32), np.zeros((1, 1, 2, 2), np.float32)]
    u = [t[0].copy(), t[1].copy()]
    u[0][0, 0, 0, :3] = 1
    assert seg_mismatches(u, t) == 3
    assert seg_mismatches([torch.from_numpy(u[0]), np.zeros((1, 1, 3, 3), np.float32)], t) == 3 + 4
    assert seg_mismatches(u[:1], t) == 16 + 4  # a target missing: every expected voxel counts


def test_compare_transform_runs_both_sides_from_one_seed():
    data = np.random.default_rng(0).standard_normal((2, 1, 6, 8, 8)).astype(np.float32)
    seg = (data > 0).astype(np.float32)
    result = compare_transform(MirrorTransform((0, 1, 2)), data, seg, seed=4, device="cpu")
    assert result["fired"] and result["streams_equal"]
    assert result["max_abs_diff_data"] == 0.0 and result["differing_data_values"] == 0
    assert result["mismatched_seg_voxels"] == 0 and result["worst_at"] is None
