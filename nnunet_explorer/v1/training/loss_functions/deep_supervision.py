"""``nnunet.training.loss_functions.deep_supervision``."""
from nnunet_explorer.training.loss import MultipleOutputLoss2

__all__ = ["MultipleOutputLoss2"]
