"""``nnunet.training.network_training.network_trainer``."""
from nnunet_explorer.training.trainers import NetworkTrainer

__all__ = ["NetworkTrainer"]
