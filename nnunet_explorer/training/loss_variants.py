"""The other losses of nnU-Net v1, which its ``nnUNet_variants/loss_function`` trainers swap in for CE + Dice.

v1 trains with ``CE + SoftDice`` (:class:`~nnunet_explorer.training.loss.DC_and_CE_loss`). Its loss-function
variants try alternatives; each is here with v1's constructor arguments and defaults and v1's arithmetic, in
v1's order, so that values and gradients equal v1's bit for bit:

==========================  ===========================================================================
:class:`TopKLoss`           cross-entropy of the ``k`` % hardest voxels only (``nnUNetTrainerV2_Loss_TopK10``)
:class:`DC_and_topk_loss`   soft Dice + top-k CE (``nnUNetTrainerV2_Loss_DiceTopK10``)
:class:`GDL`                generalized Dice: every class weighted by 1 / its volume
:class:`GDL_and_CE_loss`    GDL + CE (``nnUNetTrainerV2_Loss_CEGDL``)
:class:`MCCLoss`            negative Matthews correlation coefficient (``nnUNetTrainerV2_Loss_MCC``)
:class:`FocalLoss`          focal loss on probabilities (``nnUNetTrainerV2_SegLoss_Focal``)
:class:`DC_and_BCE_loss`    sigmoid soft Dice + binary CE on region targets (v1's BraTS trainers)
==========================  ===========================================================================

All take logits ``(b, C, z, y, x)`` (or ``(b, C, y, x)``) and, except :class:`DC_and_BCE_loss`, the label map
``(b, 1, z, y, x)`` as floats, the way v1's data loader delivers it.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ..provenance import mirrors
from .generic_unet import softmax_helper
from .loss import (RobustCrossEntropyLoss, SoftDiceLoss, SoftDiceLossSquared, get_tp_fp_fn_tn, onehot_like,
                   sum_over_axes)

Nonlin = Callable[[torch.Tensor], torch.Tensor]

def v1_soft_dice(apply_nonlin: Nonlin | None, soft_dice_kwargs: Mapping[str, Any], square_dice: bool = False
                 ) -> SoftDiceLoss | SoftDiceLossSquared:
    """The Dice term v1's combined losses build: ``SoftDiceLoss(apply_nonlin, **soft_dice_kwargs)`` (or the
    squared one); keys left out take v1's defaults, an unknown key is a ``TypeError`` (as in v1)."""
    dice = SoftDiceLossSquared if square_dice else SoftDiceLoss
    return dice(apply_nonlin=apply_nonlin, **soft_dice_kwargs)


def _sum_only(aggregate: str, name: str) -> None:
    if aggregate != "sum":
        raise NotImplementedError(f"{name}(aggregate={aggregate!r}): v1 only implements 'sum'")


@mirrors("nnunet.training.loss_functions.TopK_loss:TopKLoss")
class TopKLoss(RobustCrossEntropyLoss):
    """Mean cross-entropy of the ``k`` percent of voxels (of the whole batch) with the largest loss.

    The per-voxel cross-entropies of the ``(b, 1, ...)`` label map are flattened over batch and space and the
    ``int(num_voxels * k / 100)`` largest are averaged: easy voxels stop contributing once they are learned.
    Voxels labelled ``ignore_index`` have loss 0 and still count in ``num_voxels``.
    """

    def __init__(self, weight: torch.Tensor | None = None, ignore_index: int = -100, k: float = 10) -> None:
        # v1 passes the deprecated size_average=False, reduce=False, which torch maps to reduction='none'
        super().__init__(weight, ignore_index=ignore_index, reduction="none")
        self.k = k

    def forward(self, inp: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        res = super().forward(inp, target[:, 0].long())
        num_voxels = np.prod(res.shape, dtype=np.int64)
        # same expression as v1 (np.int64 * k / 100, truncated); k so small that it keeps 0 voxels gives NaN
        res, _ = torch.topk(res.view((-1,)), int(num_voxels * self.k / 100), sorted=False)
        return res.mean()


@mirrors("nnunet.training.loss_functions.dice_loss:DC_and_topk_loss")
class DC_and_topk_loss(nn.Module):  # noqa: N801 - v1's name
    """``TopK-CE + SoftDice`` (weights 1 and 1), v1's arguments.

    Args:
        soft_dice_kwargs: ``batch_dice``, ``do_bg``, ``smooth`` of the softmax Dice (v1's defaults otherwise).
        ce_kwargs: :class:`TopKLoss`'s ``weight``, ``ignore_index``, ``k``.
        aggregate: only ``"sum"`` (anything else fails when called, as in v1).
        square_dice: use :class:`~nnunet_explorer.training.loss.SoftDiceLossSquared`.
    """

    def __init__(self, soft_dice_kwargs: Mapping[str, Any], ce_kwargs: Mapping[str, Any], aggregate: str = "sum",
                 square_dice: bool = False) -> None:
        super().__init__()
        self.aggregate = aggregate
        self.ce = TopKLoss(**ce_kwargs)
        self.dc = v1_soft_dice(softmax_helper, soft_dice_kwargs, square_dice)

    def forward(self, net_output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        dc_loss = self.dc(net_output, target)
        ce_loss = self.ce(net_output, target)
        _sum_only(self.aggregate, "DC_and_topk_loss")
        return ce_loss + dc_loss


@mirrors("nnunet.training.loss_functions.dice_loss:GDL")
class GDL(nn.Module):
    """Negative generalized Dice (Sudre et al. 2017): classes weighted by the inverse of their volume.

    With ``g`` the one-hot target and ``V_c = sum(g_c) + 1e-6`` the volume of class ``c`` (over ``(b, z, y, x)``
    with ``batch_dice``, else per sample)::

        dc = (2 sum_c tp_c / V_c + smooth) / (sum_c (2 tp_c + fp_c + fn_c) / V_c + smooth)

    one number (batch Dice) or one per sample (then averaged). Small structures count as much as large ones.
    v1 quirk, reproduced: a class absent from the target has ``V_c = 1e-6``, so its false positives are
    weighted 10^6 and dominate the loss. ``square`` squares tp/fp/fn per voxel, ``square_volumes`` the
    volumes (the paper's choice; v1's default is not to).
    """

    def __init__(self, apply_nonlin: Nonlin | None = None, batch_dice: bool = False, do_bg: bool = True,
                 smooth: float = 1., square: bool = False, square_volumes: bool = False) -> None:
        super().__init__()
        self.apply_nonlin = apply_nonlin
        self.batch_dice = batch_dice
        self.do_bg = do_bg
        self.smooth = smooth
        self.square = square
        self.square_volumes = square_volumes

    def forward(self, x: torch.Tensor, y: torch.Tensor, loss_mask: torch.Tensor | None = None) -> torch.Tensor:
        axes = ([0] if self.batch_dice else []) + list(range(2, x.ndim))
        onehot = onehot_like(x, y)  # float32 even for float64 x: the volumes below are float32 sums, as in v1
        if self.apply_nonlin is not None:
            x = self.apply_nonlin(x)
        if not self.do_bg:
            x, onehot = x[:, 1:], onehot[:, 1:]
        tp, fp, fn, _ = get_tp_fp_fn_tn(x, onehot, axes, loss_mask, self.square)
        volumes = sum_over_axes(onehot, axes) + 1e-6  # 1e-6: no division by zero for absent classes
        if self.square_volumes:
            volumes = volumes ** 2
        tp, fp, fn = tp / volumes, fp / volumes, fn / volumes
        class_axis = 0 if self.batch_dice else 1
        tp, fp, fn = tp.sum(class_axis), fp.sum(class_axis), fn.sum(class_axis)
        dc = (2 * tp + self.smooth) / (2 * tp + fp + fn + self.smooth)
        return -dc.mean()


@mirrors("nnunet.training.loss_functions.dice_loss:GDL_and_CE_loss")
class GDL_and_CE_loss(nn.Module):  # noqa: N801 - v1's name
    """``CE + GDL`` (weights 1 and 1) with softmax, v1's arguments.

    Args:
        gdl_dice_kwargs: :class:`GDL`'s arguments except ``apply_nonlin`` (softmax).
        ce_kwargs: :class:`~nnunet_explorer.training.loss.RobustCrossEntropyLoss`'s arguments.
        aggregate: only ``"sum"`` (anything else fails when called, as in v1).
    """

    def __init__(self, gdl_dice_kwargs: Mapping[str, Any], ce_kwargs: Mapping[str, Any],
                 aggregate: str = "sum") -> None:
        super().__init__()
        self.aggregate = aggregate
        self.ce = RobustCrossEntropyLoss(**ce_kwargs)
        self.dc = GDL(softmax_helper, **gdl_dice_kwargs)

    def forward(self, net_output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        dc_loss = self.dc(net_output, target)
        ce_loss = self.ce(net_output, target)
        _sum_only(self.aggregate, "GDL_and_CE_loss")
        return ce_loss + dc_loss


@mirrors("nnunet.training.loss_functions.dice_loss:MCCLoss")
class MCCLoss(nn.Module):
    """Negative Matthews correlation coefficient of soft predictions, per class, averaged.

    tp/fp/fn/tn are the soft counts of :func:`~nnunet_explorer.training.loss.get_tp_fp_fn_tn` divided by the
    number of voxels per sample (``z * y * x``, also with ``batch_mcc``)::

        mcc = (tp tn - fp fn + smooth) / (sqrt((tp + fp)(tp + fn)(tn + fp)(tn + fn)) + smooth)

    v1's own verdict: unstable (the square root's gradient is infinite where a factor is 0, e.g. a class
    absent from target and prediction); kept as v1 has it.
    """

    def __init__(self, apply_nonlin: Nonlin | None = None, batch_mcc: bool = False, do_bg: bool = True,
                 smooth: float = 0.0) -> None:
        super().__init__()
        self.apply_nonlin = apply_nonlin
        self.batch_mcc = batch_mcc
        self.do_bg = do_bg
        self.smooth = smooth

    def forward(self, x: torch.Tensor, y: torch.Tensor, loss_mask: torch.Tensor | None = None) -> torch.Tensor:
        voxels = np.prod(x.shape[2:])  # an np.int64, as in v1 (only the spatial size, even for batch MCC)
        axes = ([0] if self.batch_mcc else []) + list(range(2, x.ndim))
        if self.apply_nonlin is not None:
            x = self.apply_nonlin(x)
        tp, fp, fn, tn = get_tp_fp_fn_tn(x, y, axes, loss_mask, False)
        # in-place division by the np.int64, exactly v1's operation (same rounding on every device)
        tp /= voxels
        fp /= voxels
        fn /= voxels
        tn /= voxels
        nominator = tp * tn - fp * fn + self.smooth
        denominator = ((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)) ** 0.5 + self.smooth
        mcc = nominator / denominator
        if not self.do_bg:
            mcc = mcc[1:] if self.batch_mcc else mcc[:, 1:]
        return -mcc.mean()


@mirrors("nnunet.training.loss_functions.focal_loss:FocalLoss")
class FocalLoss(nn.Module):
    """Focal loss (Lin et al. 2017) on probabilities: ``-alpha_t (1 - p_t)**gamma log(p_t)``, averaged.

    ``p_t`` is the probability of the true class, computed against a *smoothed* one-hot target (entries
    clamped to ``[smooth / (C - 1), 1 - smooth]``) plus ``smooth``. ``gamma`` > 0 down-weights voxels that are
    already right. ``alpha`` weights the classes: None = all 1; a list/array of C numbers, normalized to sum
    1; a float ``a`` = ``a`` for class ``balance_index`` and ``1 - a`` for all others (an int is refused, as
    in v1).

    ``apply_nonlin`` must turn logits into probabilities (v1's variant passes ``nn.Softmax(dim=1)``): the loss
    takes their log. Logits ``(b, C, ...)``, label map ``(b, 1, ...)``; ``size_average`` False sums instead.
    """

    def __init__(self, apply_nonlin: Nonlin | None = None, alpha: float | Sequence[float] | np.ndarray | None = None,
                 gamma: float = 2, balance_index: int = 0, smooth: float | None = 1e-5,
                 size_average: bool = True) -> None:
        super().__init__()
        self.apply_nonlin = apply_nonlin
        self.alpha = alpha
        self.gamma = gamma
        self.balance_index = balance_index
        self.smooth = smooth
        self.size_average = size_average
        if self.smooth is not None and (self.smooth < 0 or self.smooth > 1.0):
            raise ValueError("smooth value should be in [0,1]")

    def class_weights(self, num_class: int) -> torch.Tensor:
        """``alpha`` as a ``(C, 1)`` tensor (see the class docstring)."""
        alpha = self.alpha
        if alpha is None:
            return torch.ones(num_class, 1)
        if isinstance(alpha, (list, np.ndarray)):
            assert len(alpha) == num_class
            weights = torch.tensor(alpha, dtype=torch.float32).view(num_class, 1)
            return weights / weights.sum()
        if isinstance(alpha, float):
            weights = torch.ones(num_class, 1) * (1 - alpha)
            weights[self.balance_index] = alpha
            return weights
        raise TypeError('Not support alpha type')

    def forward(self, logit: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.apply_nonlin is not None:
            logit = self.apply_nonlin(logit)
        num_class = logit.shape[1]
        if logit.dim() > 2:  # (b, C, z, y, x) -> (b * z * y * x, C), voxels in the label map's order
            logit = logit.view(logit.size(0), logit.size(1), -1).permute(0, 2, 1).contiguous()
            logit = logit.view(-1, logit.size(-1))
        target = torch.squeeze(target, 1).view(-1, 1)
        alpha = self.class_weights(num_class).to(logit.device)
        # differs from v1: the one-hot target is built on the logits' device (v1 builds it on the CPU and
        # copies it over: a device round trip per call); same float32 values
        idx = target.long()
        one_hot_key = torch.zeros(target.size(0), num_class, dtype=torch.float32, device=logit.device)
        one_hot_key.scatter_(1, idx.to(logit.device), 1)
        if self.smooth:
            one_hot_key = torch.clamp(one_hot_key, self.smooth / (num_class - 1), 1.0 - self.smooth)
        pt = (one_hot_key * logit).sum(1) + self.smooth
        logpt = pt.log()
        alpha = torch.squeeze(alpha[idx.to(alpha.device)])
        loss = -1 * alpha * torch.pow((1 - pt), self.gamma) * logpt
        return loss.mean() if self.size_average else loss.sum()


@mirrors("nnunet.training.loss_functions.focal_loss:FocalLossV2")
class FocalLossV2(FocalLoss):
    """v1's second, identical copy of :class:`FocalLoss` (the one its focal-loss trainer uses)."""


@mirrors("nnunet.training.loss_functions.dice_loss:DC_and_BCE_loss")
class DC_and_BCE_loss(nn.Module):  # noqa: N801 - v1's name
    """``BCEWithLogits + sigmoid SoftDice`` for overlapping region targets (v1's BraTS trainers).

    The target is one-hot-like ``(b, R, ...)`` with one binary channel per region (regions may overlap), and
    the network's output channels are read through a sigmoid, not a softmax.

    Args:
        bce_kwargs: ``nn.BCEWithLogitsLoss``'s arguments.
        soft_dice_kwargs: ``batch_dice``, ``do_bg``, ``smooth`` (v1's defaults otherwise).
        aggregate: only ``"sum"`` (anything else fails when called, as in v1).
    """

    def __init__(self, bce_kwargs: Mapping[str, Any], soft_dice_kwargs: Mapping[str, Any],
                 aggregate: str = "sum") -> None:
        super().__init__()
        self.aggregate = aggregate
        self.ce = nn.BCEWithLogitsLoss(**bce_kwargs)
        self.dc = v1_soft_dice(torch.sigmoid, soft_dice_kwargs)

    def forward(self, net_output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        ce_loss = self.ce(net_output, target)
        dc_loss = self.dc(net_output, target)
        _sum_only(self.aggregate, "DC_and_BCE_loss")
        return ce_loss + dc_loss
