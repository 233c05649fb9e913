"""``nnunet.training.network_training.nnUNetTrainer``."""
from nnunet_explorer.network_training.nnUNetTrainer import nnUNetTrainer

__all__ = ["nnUNetTrainer"]
