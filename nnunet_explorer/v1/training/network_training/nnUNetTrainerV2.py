"""``nnunet.training.network_training.nnUNetTrainerV2``."""
from nnunet_explorer.network_training.nnUNetTrainerV2 import nnUNetTrainerV2

__all__ = ["nnUNetTrainerV2"]
