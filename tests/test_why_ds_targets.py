"""The deep_supervision card says why the smallest target can show an empty slice; v1's downsampling agrees."""
from __future__ import annotations

import numpy as np
import pytest

from nnunet_explorer.teaching.why import step_notes
from nnunet_explorer.training.augmentation import downsample_seg_for_ds

# KiTS19-like: patch 80x160x160 cut to 80x32x32 here, targets down to 1/8 along z and 1/16 in-plane
SCALES = ((1, 1, 1), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), (0.125, 0.0625, 0.0625))


@pytest.mark.parity
def test_a_small_structure_vanishes_from_the_smallest_target_as_the_card_says():
    v1 = pytest.importorskip("nnunet.training.data_augmentation.downsampling")
    seg = np.zeros((1, 1, 80, 32, 32), np.float32)
    seg[0, 0, 38:43, 2:7, 2:7] = 1  # a 5x5x5 structure around the middle slice, away from the block centres
    for downsample in (v1.downsample_seg_for_ds_transform2, downsample_seg_for_ds):
        targets = downsample(seg, SCALES, 0)
        assert targets[0][0, 0, 40].any() and targets[1][0, 0, 20].any()  # seen at full and half resolution
        assert not targets[-1].any()  # gone from the smallest target
    np.testing.assert_array_equal(downsample_seg_for_ds(seg, SCALES, 0)[-1],
                                  v1.downsample_seg_for_ds_transform2(seg, SCALES, 0)[-1])
    # which full-resolution voxel a coarse voxel is: slice 8k + 4 along z, the middle of the 16x16 block in-plane
    planes = np.broadcast_to(np.arange(80, dtype=np.float32).reshape(1, 1, 80, 1, 1), (1, 1, 80, 16, 16))
    coarse = v1.downsample_seg_for_ds_transform2(np.ascontiguousarray(planes), SCALES[-1:], 0)[0]
    assert list(coarse[0, 0, :, 0, 0]) == [8 * k + 4 for k in range(10)]
    middle = int(coarse[0, 0, coarse.shape[2] // 2, 0, 0])
    rows = np.broadcast_to(np.arange(16, dtype=np.float32).reshape(1, 1, 1, 16, 1), (1, 1, 8, 16, 16))
    row = int(v1.downsample_seg_for_ds_transform2(np.ascontiguousarray(rows), SCALES[-1:], 0)[0].ravel()[0])

    english = " ".join(box.text for box in step_notes("deep_supervision", "en").boxes)
    assert "``downsample_seg_for_ds_transform2`` at order 0" in english and "16x16 block" in english
    assert f"slice {middle} of 80, not 40" in english and row == 16 // 2  # "the middle of its 16x16 block"
    chinese = " ".join(box.text for box in step_notes("deep_supervision", "zh").boxes)
    assert f"第 {middle} 层" in chinese and "最近邻" in chinese and "空切片" in chinese
