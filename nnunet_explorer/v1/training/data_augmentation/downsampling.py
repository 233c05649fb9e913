"""``nnunet.training.data_augmentation.downsampling``: one target per deep-supervision output."""
from nnunet_explorer.training.augmentation import (DownsampleSegForDSTransform2, DownsampleSegForDSTransform3,
                                                   downsample_seg_for_ds, downsample_seg_for_ds_soft)

# v1's names of the two functions
downsample_seg_for_ds_transform2 = downsample_seg_for_ds
downsample_seg_for_ds_transform3 = downsample_seg_for_ds_soft

__all__ = ["DownsampleSegForDSTransform2", "DownsampleSegForDSTransform3", "downsample_seg_for_ds_transform2",
           "downsample_seg_for_ds_transform3"]
