"""``nnunet.training.data_augmentation.pyramid_augmentations``: the cascade's prior as input, and its corruptions."""
from nnunet_explorer.training.cascade_augmentation import (ApplyRandomBinaryOperatorTransform, MoveSegAsOneHotToData,
                                                           RemoveRandomConnectedComponentFromOneHotEncodingTransform)

__all__ = ["ApplyRandomBinaryOperatorTransform", "MoveSegAsOneHotToData",
           "RemoveRandomConnectedComponentFromOneHotEncodingTransform"]
