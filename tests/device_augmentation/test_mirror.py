"""MirrorTransform on the device: the same flips of image and segmentation, the same draws."""
from __future__ import annotations

import pytest
from batchgenerators.transforms.spatial_transforms import MirrorTransform

from .transform_parity import SEEDS, SHAPE_2D, SHAPE_3D, assert_same, real_batch


@pytest.mark.parametrize("axes, shape", [((0, 1, 2), SHAPE_3D), ((0, 1, 2), (2, 2, 16, 40, 40)),
                                         ((1, 2), SHAPE_3D), ((0, 1), SHAPE_2D), ((0, 1, 2), SHAPE_2D)],
                         ids=["3d", "3d-2ch", "3d-inplane", "2d", "2d-axes012"])
def test_equal_to_batchgenerators(axes, shape):
    transform = MirrorTransform(axes)
    flips = set()
    for seed in SEEDS:
        data, seg = real_batch(shape, seed)
        for d in assert_same(transform, data, seg, seed):
            flips.add(d.axes)
    assert len(flips) > 2  # several flip patterns were exercised
