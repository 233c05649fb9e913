"""``nnunet.training.loss_functions.focal_loss``: the focal loss (v1 has two identical copies)."""
from nnunet_explorer.training.generic_unet import softmax_helper
from nnunet_explorer.training.loss_variants import FocalLoss, FocalLossV2

__all__ = ["FocalLoss", "FocalLossV2", "softmax_helper"]
