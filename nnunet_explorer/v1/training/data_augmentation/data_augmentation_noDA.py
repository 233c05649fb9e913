"""``nnunet.training.data_augmentation.data_augmentation_noDA`` (``nnUNetTrainerNoDA``, ``nnUNetTrainerV2_noDA``)."""
from nnunet_explorer.training.augmentation_variants import get_no_augmentation

__all__ = ["get_no_augmentation"]
