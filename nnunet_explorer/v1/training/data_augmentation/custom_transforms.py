"""``nnunet.training.data_augmentation.custom_transforms``: nnU-Net's own small transforms."""
from nnunet_explorer.training.augmentation import (Convert2DTo3DTransform, Convert3DTo2DTransform,
                                                   ConvertSegmentationToRegionsTransform, MaskTransform,
                                                   RemoveKeyTransform)

__all__ = ["Convert2DTo3DTransform", "Convert3DTo2DTransform", "ConvertSegmentationToRegionsTransform",
           "MaskTransform", "RemoveKeyTransform"]
