"""nnU-Net v1's training loss: cross-entropy plus (negative) soft Dice, summed over deep-supervision outputs.

For one output with logits ``x`` of shape ``(b, C, z, y, x)`` and a label map ``y`` of shape
``(b, 1, z, y, x)``::

    loss = CE(x, y) + SoftDice(x, y)        # SoftDice = -mean foreground soft Dice, in [-1, 0]

so the total goes *negative* once the Dice term outweighs the cross-entropy (a well trained v1 run logs
losses around -0.8). With deep supervision the per-output losses are weighted by
:func:`~nnunet_explorer.training.deep_supervision.ds_loss_weights` and summed.

Besides the total, every loss here can report its parts (CE, Dice, weight, weighted contribution) as plain
Python floats, so a learner can see which term and which scale drives training.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..provenance import mirrors
from .generic_unet import softmax_helper


@mirrors("nnunet.training.loss_functions.dice_loss:get_tp_fp_fn_tn")
def get_tp_fp_fn_tn(net_output: torch.Tensor, gt: torch.Tensor, axes: Sequence[int] | None = None,
                    mask: torch.Tensor | None = None, square: bool = False
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Soft true/false positives/negatives of probabilities against a label map, summed over ``axes``.

    Args:
        net_output: probabilities ``(b, C, ...)``.
        gt: label map ``(b, 1, ...)`` or ``(b, ...)``, or an already one-hot ``(b, C, ...)`` tensor.
        axes: axes to sum over (``[0, 2, 3, 4]`` = batch Dice, ``[2, 3, 4]`` = per-sample Dice).
        mask: optional ``(b, 1, ...)`` with 1 for voxels that count.
        square: square the terms before summing.

    Returns:
        ``tp, fp, fn, tn``: ``tp = sum(p * onehot)``, ``fp = sum(p * (1 - onehot))``,
        ``fn = sum((1 - p) * onehot)``, ``tn = sum((1 - p) * (1 - onehot))``.
    """
    if axes is None:
        axes = tuple(range(2, net_output.ndim))
    with torch.no_grad():  # the target is not differentiated
        if net_output.ndim != gt.ndim:
            gt = gt.view((gt.shape[0], 1, *gt.shape[1:]))
        if tuple(net_output.shape) == tuple(gt.shape):
            onehot = gt  # already one-hot
        else:
            onehot = torch.zeros(net_output.shape, device=net_output.device)
            onehot.scatter_(1, gt.long(), 1)
    tp = net_output * onehot
    fp = net_output * (1 - onehot)
    fn = (1 - net_output) * onehot
    tn = (1 - net_output) * (1 - onehot)
    if mask is not None:
        tp, fp, fn, tn = (t * mask[:, 0:1] for t in (tp, fp, fn, tn))
    if square:
        tp, fp, fn, tn = tp ** 2, fp ** 2, fn ** 2, tn ** 2
    if len(axes) > 0:
        # v1's sum_tensor sums one axis at a time, highest first; same order here for identical rounding
        for ax in sorted({int(a) for a in axes}, reverse=True):
            tp, fp, fn, tn = tp.sum(ax), fp.sum(ax), fn.sum(ax), tn.sum(ax)
    return tp, fp, fn, tn


@mirrors("nnunet.training.loss_functions.dice_loss:SoftDiceLoss")
class SoftDiceLoss(nn.Module):
    """Negative mean soft Dice over foreground classes.

    Per class ``dc = (2 tp + smooth) / (2 tp + fp + fn + smooth + 1e-8)`` on softmax probabilities.
    *Batch Dice* (``batch_dice=True``) sums tp/fp/fn over the whole batch before dividing — one Dice per
    class; *sample Dice* computes one Dice per sample and class and averages. v1 uses batch Dice for 2d,
    3d_cascade_fullres, and 3d_fullres when the plans have two stages; sample Dice otherwise.
    With ``do_bg=False`` the background class is dropped before averaging.
    """

    def __init__(self, apply_nonlin: Callable[[torch.Tensor], torch.Tensor] | None = softmax_helper,
                 batch_dice: bool = False, do_bg: bool = False, smooth: float = 1e-5) -> None:
        super().__init__()
        self.apply_nonlin = apply_nonlin
        self.batch_dice = batch_dice
        self.do_bg = do_bg
        self.smooth = smooth

    def per_class_dice(self, x: torch.Tensor, y: torch.Tensor, loss_mask: torch.Tensor | None = None
                       ) -> torch.Tensor:
        """Soft Dice per class ``(C,)`` (batch Dice) or per sample and class ``(b, C)``, background dropped
        when ``do_bg`` is False."""
        axes = ([0] if self.batch_dice else []) + list(range(2, x.ndim))
        if self.apply_nonlin is not None:
            x = self.apply_nonlin(x)
        tp, fp, fn, _ = get_tp_fp_fn_tn(x, y, axes, loss_mask, False)
        dc = (2 * tp + self.smooth) / (2 * tp + fp + fn + self.smooth + 1e-8)
        if not self.do_bg:
            dc = dc[1:] if self.batch_dice else dc[:, 1:]
        return dc

    def forward(self, x: torch.Tensor, y: torch.Tensor, loss_mask: torch.Tensor | None = None) -> torch.Tensor:
        return -self.per_class_dice(x, y, loss_mask).mean()


@mirrors("nnunet.training.loss_functions.crossentropy:RobustCrossEntropyLoss")
class RobustCrossEntropyLoss(nn.CrossEntropyLoss):
    """``nn.CrossEntropyLoss`` that accepts a float ``(b, 1, ...)`` label map (the loader's format)."""

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:  # noqa: A002 (torch's name)
        if target.ndim == input.ndim:
            if target.shape[1] != 1:
                raise ValueError(f"target must have one channel, got shape {tuple(target.shape)}")
            target = target[:, 0]
        return super().forward(input, target.long())


@dataclass(frozen=True)
class LossParts:
    """The two terms of :class:`DCAndCELoss` for one output, as plain floats."""

    ce: float
    dice: float  # the soft Dice *loss* term: minus the mean foreground soft Dice
    total: float


@mirrors("nnunet.training.loss_functions.dice_loss:DC_and_CE_loss")
class DCAndCELoss(nn.Module):
    """``CE + SoftDice`` on one output: v1's ``DC_and_CE_loss({'batch_dice': ..., 'smooth': 1e-5,
    'do_bg': False}, {})`` with ``aggregate='sum'``, weights 1 and 1.

    ``forward`` returns the total (a differentiable scalar tensor); :meth:`compute` also returns the CE and
    Dice tensors; :meth:`parts` returns them as plain floats.
    """

    def __init__(self, batch_dice: bool, *, smooth: float = 1e-5, do_bg: bool = False, weight_ce: float = 1,
                 weight_dice: float = 1) -> None:
        super().__init__()
        self.batch_dice = batch_dice
        self.weight_ce = weight_ce
        self.weight_dice = weight_dice
        self.ce = RobustCrossEntropyLoss()
        self.dc = SoftDiceLoss(apply_nonlin=softmax_helper, batch_dice=batch_dice, do_bg=do_bg, smooth=smooth)

    def compute(self, net_output: torch.Tensor, target: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(total, ce, dice)`` as tensors; ``target`` is the ``(b, 1, ...)`` label map."""
        # same order of evaluation as v1 (Dice first, then CE) and the same expression for the sum
        dc_loss = self.dc(net_output, target)
        ce_loss = self.ce(net_output, target[:, 0].long())
        return self.weight_ce * ce_loss + self.weight_dice * dc_loss, ce_loss, dc_loss

    def forward(self, net_output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.compute(net_output, target)[0]

    def parts(self, net_output: torch.Tensor, target: torch.Tensor) -> LossParts:
        """The loss and its CE and Dice terms as floats (computed without gradients)."""
        with torch.no_grad():
            total, ce, dc = self.compute(net_output, target)
        return LossParts(ce=float(ce), dice=float(dc), total=float(total))


@dataclass(frozen=True)
class ScaleLossPart:
    """One deep-supervision output's share of the loss.

    ``computed`` is False for outputs whose weight is 0 (v1 skips them entirely, except output 0); their
    ``ce``/``dice``/``total`` are then None.
    """

    index: int  # 0 = full resolution
    weight: float
    ce: float | None
    dice: float | None
    total: float | None
    weighted: float  # weight * total (0.0 when skipped)
    computed: bool


@dataclass(frozen=True)
class TensorLossPart:
    """A :class:`ScaleLossPart` whose values are still 0-d tensors on the device (``term`` None: not computed)."""

    index: int
    weight: float
    ce: torch.Tensor | None
    dice: torch.Tensor | None
    term: torch.Tensor | None

    def tensors(self) -> list[torch.Tensor]:
        """The values to read, in the order :meth:`from_values` takes them back."""
        return [v for v in (self.ce, self.dice, self.term) if v is not None]

    def from_values(self, values: Sequence[float]) -> ScaleLossPart:
        """The plain-float part, from the values of :meth:`tensors` read from the device."""
        if self.term is None:
            return ScaleLossPart(self.index, self.weight, None, None, None, 0.0, False)
        it = iter(values)
        ce = next(it) if self.ce is not None else None
        dice = next(it) if self.dice is not None else None
        term = next(it)
        return ScaleLossPart(self.index, self.weight, ce, dice, term, self.weight * term, True)

    def to_floats(self) -> ScaleLossPart:
        return self.from_values([float(v) for v in self.tensors()])


@mirrors("nnunet.training.loss_functions.deep_supervision:MultipleOutputLoss2")
class MultipleOutputLoss2(nn.Module):
    """Weighted sum of ``loss(x[i], y[i])`` over deep-supervision outputs (highest resolution first).

    v1 always evaluates output 0 (even with weight 0) and skips every other output whose weight is 0 — the
    lowest-resolution output never costs a loss evaluation.
    """

    def __init__(self, loss: nn.Module, weight_factors: Sequence[float] | np.ndarray | None = None) -> None:
        super().__init__()
        self.loss = loss
        self.weight_factors = weight_factors

    def _weights(self, n: int) -> Sequence[float]:
        return [1] * n if self.weight_factors is None else self.weight_factors

    def forward(self, x: Sequence[torch.Tensor], y: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.forward_with_parts(x, y, with_parts=False)[0]

    def forward_with_parts(self, x: Sequence[torch.Tensor], y: Sequence[torch.Tensor], *,
                           with_parts: bool = True) -> tuple[torch.Tensor, tuple[ScaleLossPart, ...]]:
        """The total loss (differentiable) and, per output, its weight, CE, Dice and weighted contribution.

        Reading the parts as floats synchronizes with the GPU once per value; the training iteration uses
        :meth:`forward_with_tensor_parts` instead and reads everything it records in one transfer.
        """
        total, tensor_parts = self.forward_with_tensor_parts(x, y, with_parts=with_parts)
        return total, tuple(part.to_floats() for part in tensor_parts) if with_parts else ()

    def forward_with_tensor_parts(self, x: Sequence[torch.Tensor], y: Sequence[torch.Tensor], *,
                                  with_parts: bool = True) -> tuple[torch.Tensor, tuple["TensorLossPart", ...]]:
        """Like :meth:`forward_with_parts`, with the parts left as 0-d device tensors (no host-device sync)."""
        if not isinstance(x, (tuple, list)) or not isinstance(y, (tuple, list)):
            raise TypeError("MultipleOutputLoss2 needs a tuple/list of outputs and one of targets "
                            f"(got {type(x).__name__} and {type(y).__name__}); is the network's do_ds on?")
        weights = self._weights(len(x))
        parts: list[TensorLossPart] = []
        total: torch.Tensor | None = None
        for i in range(len(x)):
            w = weights[i]
            if i > 0 and w == 0:
                parts.append(TensorLossPart(i, float(w), None, None, None))
                continue
            if with_parts and isinstance(self.loss, DCAndCELoss):
                term, ce, dc = self.loss.compute(x[i], y[i])
            else:
                term, ce, dc = self.loss(x[i], y[i]), None, None
            # v1: ``l = w[0] * loss0`` then ``l += w[i] * loss_i`` — same expressions, same rounding
            if total is None:
                total = w * term
            else:
                total += w * term
            if with_parts:
                parts.append(TensorLossPart(i, float(w), None if ce is None else ce.detach(),
                                            None if dc is None else dc.detach(), term.detach()))
        assert total is not None
        return total, tuple(parts)
