"""``nnunet.training.network_training.nnUNetTrainerV2_DDP``."""
from nnunet_explorer.network_training.nnUNetTrainerV2_DDP import nnUNetTrainerV2_DDP

__all__ = ["nnUNetTrainerV2_DDP"]
