"""``nnunet.training.loss_functions.dice_loss``: v1's Dice-based losses under v1's names and signatures.

Each name is the explorer's own loss (:mod:`nnunet_explorer.training.loss`,
:mod:`nnunet_explorer.training.loss_variants`), which already carries v1's name, v1's constructor and v1's
defaults, so ``isinstance`` checks, ``self.loss.weight_ce = ...`` and ``print(self.loss)`` work on what a ported
trainer builds as they do in v1.
"""
from __future__ import annotations

from nnunet_explorer.training.generic_unet import softmax_helper
from nnunet_explorer.training.loss import (DC_and_CE_loss, RobustCrossEntropyLoss, SoftDiceLoss,
                                           SoftDiceLossSquared, get_tp_fp_fn_tn)
from nnunet_explorer.training.loss import sum_over_axes as sum_tensor
from nnunet_explorer.training.loss_variants import (GDL, DC_and_BCE_loss, DC_and_topk_loss, GDL_and_CE_loss,
                                                    MCCLoss, TopKLoss)

__all__ = ["DC_and_BCE_loss", "DC_and_CE_loss", "DC_and_topk_loss", "GDL", "GDL_and_CE_loss", "MCCLoss",
           "RobustCrossEntropyLoss", "SoftDiceLoss", "SoftDiceLossSquared", "TopKLoss", "get_tp_fp_fn_tn",
           "softmax_helper", "sum_tensor"]
