"""``nnunet.training.network_training.nnUNetTrainerV2_CascadeFullRes``."""
from nnunet_explorer.network_training.nnUNetTrainerV2_CascadeFullRes import nnUNetTrainerV2CascadeFullRes

__all__ = ["nnUNetTrainerV2CascadeFullRes"]
