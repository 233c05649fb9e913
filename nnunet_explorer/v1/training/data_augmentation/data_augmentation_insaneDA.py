"""``nnunet.training.data_augmentation.data_augmentation_insaneDA`` (``nnUNetTrainerV2_insaneDA``)."""
from nnunet_explorer.training.augmentation_variants import get_insaneDA_augmentation

__all__ = ["get_insaneDA_augmentation"]
