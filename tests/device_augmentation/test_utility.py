"""The formatting transforms on the device: channel selection, mask, -1 -> 0, rename, DS targets, tensors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from batchgenerators.transforms.channel_selection_transforms import (DataChannelSelectionTransform,
                                                                     SegChannelSelectionTransform)
from batchgenerators.transforms.utility_transforms import NumpyToTensor, RemoveLabelTransform, RenameTransform

from nnunet_explorer.training.augmentation import (ConvertSegmentationToRegionsTransform,
                                                   DownsampleSegForDSTransform2, MaskTransform)
from nnunet_explorer.training.deep_supervision import ds_scales
from nnunet_explorer.training.device_augmentation.catalog import device_or_fallback
from nnunet_explorer.training.device_augmentation.chain import label_key_after
from nnunet_explorer.training.device_augmentation.utility import DeviceRename

from .transform_parity import SEEDS, SHAPE_2D, SHAPE_3D, assert_same, real_batch


@pytest.mark.parametrize("transform", [
    RemoveLabelTransform(-1, 0),
    MaskTransform({0: True, 1: True}, mask_idx_in_seg=0, set_outside_to=0),
    MaskTransform({0: False, 1: True}, mask_idx_in_seg=0, set_outside_to=0),
    DataChannelSelectionTransform([1]),
    DataChannelSelectionTransform([1, 0]),
    SegChannelSelectionTransform([0]),
    ConvertSegmentationToRegionsTransform({"whole": (1, 2, 3), "core": (2, 3), "enhancing": (3,)}),
], ids=["remove-label", "mask", "mask-second-channel", "data-channel", "data-channels-swapped", "seg-channel",
        "regions"])
@pytest.mark.parametrize("shape", [(2, 2, 16, 40, 40), (6, 2, 40, 40)], ids=["3d", "2d"])
def test_equal_to_the_cpu_transform(transform, shape):
    for seed in SEEDS:
        data, seg = real_batch(shape, seed)
        assert_same(transform, data, seg, seed)


POOLS = {"3d-fullres": ([[1, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 2]], SHAPE_3D),
         "3d-odd": ([[2, 2, 2], [2, 2, 2]], (2, 1, 15, 41, 39)),
         "3d-anisotropic": ([[1, 2, 2], [1, 2, 2], [2, 2, 2]], (2, 1, 17, 33, 35)),
         "2d": ([[2, 2], [2, 2], [2, 2]], SHAPE_2D)}


@pytest.mark.parametrize("case", sorted(POOLS))
def test_deep_supervision_targets(case):
    pools, shape = POOLS[case]
    transform = DownsampleSegForDSTransform2(ds_scales(pools), 0, input_key="target", output_key="target")
    for seed in SEEDS:
        data, seg = real_batch(shape, seed)
        assert_same(transform, data, seg, seed, seg_key="target", out_key="target")


def test_rename_and_numpy_to_tensor():
    data, seg = real_batch(SHAPE_3D, 0)
    rename = device_or_fallback(RenameTransform("seg", "target", True))[0]
    assert isinstance(rename, DeviceRename) and label_key_after(rename.transform, "seg") == "target"
    assert device_or_fallback(RenameTransform("seg", "target", False))[0] is None  # two keys: not carried
    to_tensor = device_or_fallback(NumpyToTensor(["data", "target"], "float"))[0]
    d, s = to_tensor.apply(torch.from_numpy(data), [torch.from_numpy(seg).double(), torch.from_numpy(seg)], None)
    cpu = NumpyToTensor(["data", "target"], "float")(data=data, target=[seg.astype(np.float64), seg])
    assert torch.equal(d, cpu["data"]) and d.dtype == cpu["data"].dtype
    assert all(torch.equal(a, b) and a.dtype == b.dtype for a, b in zip(s, cpu["target"]))


def test_declined_parametrisations_are_named():
    for transform, words in ((DownsampleSegForDSTransform2(((1, 1, 1), (0.5, 0.5, 0.5)), 1), "order > 0"),
                             (SegChannelSelectionTransform([0], keep_discarded_seg=True), "keep_discarded")):
        device, why = device_or_fallback(transform)
        assert device is None and words in why
