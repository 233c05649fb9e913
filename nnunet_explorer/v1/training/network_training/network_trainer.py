"""``nnunet.training.network_training.network_trainer``."""
from nnunet_explorer.network_training.network_trainer import NetworkTrainer

__all__ = ["NetworkTrainer"]
