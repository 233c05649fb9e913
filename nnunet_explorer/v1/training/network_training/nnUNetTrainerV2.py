"""``nnunet.training.network_training.nnUNetTrainerV2``."""
from nnunet_explorer.training.trainers import nnUNetTrainerV2

__all__ = ["nnUNetTrainerV2"]
