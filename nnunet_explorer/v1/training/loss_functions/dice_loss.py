"""``nnunet.training.loss_functions.dice_loss``: v1's constructors over the explorer's losses.

v1 configures its losses with dicts (``DC_and_CE_loss({'batch_dice': True, 'smooth': 1e-5, 'do_bg': False},
{})``); these functions take the same arguments and return the explorer's :class:`~nnunet_explorer.training.
loss.DCAndCELoss` / :class:`~nnunet_explorer.training.loss.SoftDiceLoss`. Options the explorer does not
implement are refused by name.
"""
from __future__ import annotations

from typing import Any, Mapping

from nnunet_explorer.errors import ConfigurationError
from nnunet_explorer.provenance import mirrors
from nnunet_explorer.training.generic_unet import softmax_helper
from nnunet_explorer.training.loss import DCAndCELoss, SoftDiceLoss, get_tp_fp_fn_tn

__all__ = ["DC_and_CE_loss", "DC_and_topk_loss", "SoftDiceLoss", "get_tp_fp_fn_tn"]


def _refuse(what: str) -> None:
    raise ConfigurationError(f"nnunet_explorer.v1: {what} is not implemented by the explorer",
                             fix="use the loss without that option, or write the loss as your own nn.Module "
                                 "and assign it to self.loss in your trainer's __init__")


@mirrors("nnunet.training.loss_functions.dice_loss:DC_and_CE_loss")
def DC_and_CE_loss(soft_dice_kwargs: Mapping[str, Any], ce_kwargs: Mapping[str, Any], aggregate: str = "sum",
                   square_dice: bool = False, weight_ce: float = 1, weight_dice: float = 1, log_dice: bool = False,
                   ignore_label: int | None = None) -> DCAndCELoss:
    """``CE + SoftDice`` with v1's arguments (``soft_dice_kwargs``: batch_dice, smooth, do_bg)."""
    if aggregate != "sum":
        _refuse(f"DC_and_CE_loss(aggregate={aggregate!r})")
    if square_dice:
        _refuse("DC_and_CE_loss(square_dice=True)")
    if log_dice:
        _refuse("DC_and_CE_loss(log_dice=True)")
    if ignore_label is not None:
        _refuse("DC_and_CE_loss(ignore_label=...)")
    if ce_kwargs:
        _refuse(f"DC_and_CE_loss(ce_kwargs={dict(ce_kwargs)!r})")
    unknown = set(soft_dice_kwargs) - {"batch_dice", "smooth", "do_bg"}
    if unknown:
        _refuse(f"soft_dice_kwargs {sorted(unknown)}")
    return DCAndCELoss(bool(soft_dice_kwargs.get("batch_dice", False)), smooth=float(soft_dice_kwargs.get("smooth", 1.0)),
                       do_bg=bool(soft_dice_kwargs.get("do_bg", True)), weight_ce=weight_ce, weight_dice=weight_dice)


@mirrors("nnunet.training.loss_functions.dice_loss:DC_and_topk_loss")
def DC_and_topk_loss(soft_dice_kwargs: Mapping[str, Any], ce_kwargs: Mapping[str, Any], aggregate: str = "sum",
                     square_dice: bool = False) -> Any:
    """Refused: the Dice + top-k cross-entropy loss is not implemented."""
    _refuse("DC_and_topk_loss")
