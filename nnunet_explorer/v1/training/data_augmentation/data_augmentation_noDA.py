"""``nnunet.training.data_augmentation.data_augmentation_noDA``.

Used by ``nnUNetTrainerNoDA`` and ``nnUNetTrainerV2_noDataAugmentation``."""
from nnunet_explorer.training.augmentation_variants import get_no_augmentation

__all__ = ["get_no_augmentation"]
