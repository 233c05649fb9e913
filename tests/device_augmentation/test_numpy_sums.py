"""numpy's float32 sum, mean and std, and the correctly rounded square root, replayed on torch (bit for bit)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from nnunet_explorer.training.device_augmentation.numpy_sums import (numpy_mean_f32, numpy_std_f32,
                                                                     numpy_sum_f32, sqrt_f32)

from .conftest import host_check_holds

LENGTHS = [1, 2, 7, 8, 9, 15, 16, 17, 100, 127, 128, 129, 130, 255, 256, 257, 1000, 8191, 8192, 8193, 25600,
           16 * 40 * 40, 2 * 16 * 40 * 40, 100003]


@pytest.mark.parametrize("n", LENGTHS)
def test_sum_mean_std_equal_numpy(n):
    if not host_check_holds("numpy_float32_sums"):
        return
    rng = np.random.default_rng(n)
    rows = np.stack([(rng.standard_normal(n) * scale + offset).astype(np.float32)
                     for scale, offset in ((1, 0), (300, -4), (1e-3, 2), (1e4, 1e3))]
                    + [np.full(n, -0.0, np.float32)])  # numpy's start value +0.0 turns a sum of -0.0 into +0.0
    t = torch.from_numpy(rows)
    sums, means, stds = numpy_sum_f32(t).numpy(), numpy_mean_f32(t).numpy(), numpy_std_f32(t).numpy()
    for i, row in enumerate(rows):
        assert sums[i].view(np.uint32) == row.sum().view(np.uint32)
        assert means[i].view(np.uint32) == row.mean().view(np.uint32)
        assert stds[i].view(np.uint32) == row.std().view(np.uint32)


def test_statistics_of_a_3d_channel_are_those_of_the_flat_run():
    if not host_check_holds("numpy_float32_sums"):
        return
    # numpy reduces a contiguous (z, y, x) array as one run of z*y*x elements; the device sums that run
    rng = np.random.default_rng(0)
    channel = rng.standard_normal((80, 160, 160)).astype(np.float32) * 7 + 1
    t = torch.from_numpy(channel.reshape(1, -1))
    assert numpy_mean_f32(t).numpy()[0] == channel.mean()
    assert numpy_std_f32(t).numpy()[0] == channel.std()


def test_sqrt_is_correctly_rounded_where_torch_sqrt_is_not():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.random(200_000) * 1e6, rng.random(10_000) * 1e-30, [0.0, 1.0, 2.0, 1e-45]])
    x = x.astype(np.float32)
    assert np.array_equal(sqrt_f32(torch.from_numpy(x)).numpy(), np.sqrt(x))
