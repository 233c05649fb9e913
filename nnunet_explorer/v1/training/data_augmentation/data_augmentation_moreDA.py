"""``nnunet.training.data_augmentation.data_augmentation_moreDA``: nnUNetTrainerV2's augmentation, v1's call form."""
from nnunet_explorer.training.augmentation_variants import get_moreDA_augmentation

__all__ = ["get_moreDA_augmentation"]
