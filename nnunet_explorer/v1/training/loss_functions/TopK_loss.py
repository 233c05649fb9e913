"""``nnunet.training.loss_functions.TopK_loss``: cross-entropy over the k % hardest voxels."""
from nnunet_explorer.training.loss import RobustCrossEntropyLoss
from nnunet_explorer.training.loss_variants import TopKLoss

__all__ = ["RobustCrossEntropyLoss", "TopKLoss"]
