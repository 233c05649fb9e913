"""``nnunet.training.network_training.nnUNetTrainer``."""
from nnunet_explorer.training.trainers import nnUNetTrainer

__all__ = ["nnUNetTrainer"]
