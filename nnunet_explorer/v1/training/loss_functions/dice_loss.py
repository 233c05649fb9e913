"""``nnunet.training.loss_functions.dice_loss``: v1's Dice-based losses under v1's names and signatures.

Each name is the explorer's own loss (:mod:`nnunet_explorer.training.loss`,
:mod:`nnunet_explorer.training.loss_variants`); where v1's constructor differs from the explorer's (v1's dict
arguments, v1's defaults) a small subclass translates, so ``isinstance`` checks and ``self.loss.weight_ce = ...``
work on what a ported trainer builds.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import torch

from nnunet_explorer.provenance import mirrors
from nnunet_explorer.training import loss as _loss
from nnunet_explorer.training.generic_unet import softmax_helper
from nnunet_explorer.training.loss import RobustCrossEntropyLoss, SoftDiceLossSquared, get_tp_fp_fn_tn
from nnunet_explorer.training.loss import sum_over_axes as sum_tensor
from nnunet_explorer.training.loss_variants import GDL, MCCLoss, TopKLoss
from nnunet_explorer.training.loss_variants import DCAndBCELoss as DC_and_BCE_loss
from nnunet_explorer.training.loss_variants import DCAndTopKLoss as DC_and_topk_loss
from nnunet_explorer.training.loss_variants import GDLAndCELoss as GDL_and_CE_loss
from nnunet_explorer.training.loss_variants import v1_soft_dice_kwargs

__all__ = ["DC_and_BCE_loss", "DC_and_CE_loss", "DC_and_topk_loss", "GDL", "GDL_and_CE_loss", "MCCLoss",
           "RobustCrossEntropyLoss", "SoftDiceLoss", "SoftDiceLossSquared", "TopKLoss", "get_tp_fp_fn_tn",
           "softmax_helper", "sum_tensor"]


@mirrors("nnunet.training.loss_functions.dice_loss:SoftDiceLoss")
class SoftDiceLoss(_loss.SoftDiceLoss):
    """The explorer's :class:`~nnunet_explorer.training.loss.SoftDiceLoss` with v1's defaults: no
    non-linearity, background included, ``smooth=1``."""

    def __init__(self, apply_nonlin: Callable[[torch.Tensor], torch.Tensor] | None = None, batch_dice: bool = False,
                 do_bg: bool = True, smooth: float = 1.) -> None:
        super().__init__(apply_nonlin=apply_nonlin, batch_dice=batch_dice, do_bg=do_bg, smooth=smooth)


@mirrors("nnunet.training.loss_functions.dice_loss:DC_and_CE_loss")
class DC_and_CE_loss(_loss.DCAndCELoss):
    """v1's constructor over :class:`~nnunet_explorer.training.loss.DCAndCELoss` (see there for the options).

    ``soft_dice_kwargs`` holds the Dice's ``batch_dice``, ``smooth``, ``do_bg`` (v1's defaults ``False``, ``1``,
    ``True`` for keys left out); ``ce_kwargs`` goes to the cross-entropy.
    """

    def __init__(self, soft_dice_kwargs: Mapping[str, Any], ce_kwargs: dict[str, Any], aggregate: str = "sum",
                 square_dice: bool = False, weight_ce: float = 1, weight_dice: float = 1, log_dice: bool = False,
                 ignore_label: int | None = None) -> None:
        if ignore_label is not None and not square_dice:
            ce_kwargs['reduction'] = 'none'  # v1 quirk, reproduced: v1 writes this into the caller's dict
        dice = v1_soft_dice_kwargs(soft_dice_kwargs)  # v1's defaults, and its TypeError on unknown keys
        super().__init__(dice["batch_dice"], smooth=dice["smooth"], do_bg=dice["do_bg"], weight_ce=weight_ce,
                         weight_dice=weight_dice, square_dice=square_dice, log_dice=log_dice,
                         ignore_label=ignore_label, ce_kwargs=ce_kwargs, aggregate=aggregate)
