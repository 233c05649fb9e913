"""``nnunet.training.data_augmentation.data_augmentation_insaneDA2`` (``nnUNetTrainerV2_DA3``)."""
from nnunet_explorer.training.augmentation_variants import get_insaneDA_augmentation2

__all__ = ["get_insaneDA_augmentation2"]
