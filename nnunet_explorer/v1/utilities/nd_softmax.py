"""``nnunet.utilities.nd_softmax``."""
from nnunet_explorer.training.generic_unet import softmax_helper

__all__ = ["softmax_helper"]
