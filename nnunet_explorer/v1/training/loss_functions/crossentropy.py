"""``nnunet.training.loss_functions.crossentropy``."""
from nnunet_explorer.training.loss import RobustCrossEntropyLoss

__all__ = ["RobustCrossEntropyLoss"]
