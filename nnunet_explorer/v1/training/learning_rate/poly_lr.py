"""``nnunet.training.learning_rate.poly_lr``."""
from nnunet_explorer.training.lr_schedule import poly_lr

__all__ = ["poly_lr"]
