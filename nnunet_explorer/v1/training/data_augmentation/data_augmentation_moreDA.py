"""``nnunet.training.data_augmentation.data_augmentation_moreDA``."""
from nnunet_explorer.training.augmentation import get_moreDA_augmentation

__all__ = ["get_moreDA_augmentation"]
