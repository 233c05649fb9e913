"""nnU-Net v1's training loss: cross-entropy plus (negative) soft Dice, summed over deep-supervision outputs.

For one output with logits ``x`` of shape ``(b, C, z, y, x)`` and a label map ``y`` of shape
``(b, 1, z, y, x)``::

    loss = CE(x, y) + SoftDice(x, y)        # SoftDice = -mean foreground soft Dice, in [-1, 0]

so the total goes *negative* once the Dice term outweighs the cross-entropy (how far below zero depends on
the task). With deep supervision the per-output losses are weighted by
:func:`~nnunet_explorer.training.deep_supervision.ds_loss_weights` and summed.

Besides the total, every loss here can report its parts (CE, Dice, weight, weighted contribution) as plain
Python floats, so a learner can see which term and which scale drives training.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import ConfigurationError
from ..language import tr
from ..provenance import mirrors
from .generic_unet import softmax_helper


@mirrors("nnunet.utilities.tensor_utilities:sum_tensor")
def sum_over_axes(t: torch.Tensor, axes: Sequence[int]) -> torch.Tensor:
    """Sum ``t`` over each axis in ``axes`` (duplicates dropped), one axis at a time, the highest first.

    Summing axis by axis (instead of ``t.sum(axes)`` in one reduction) is v1's order of additions, which fixes
    the float rounding: the losses below use it so that their values equal v1's bit for bit.
    """
    for ax in sorted({int(a) for a in axes}, reverse=True):
        t = t.sum(ax)
    return t


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
        tp, fp, fn, tn = (sum_over_axes(t, axes) for t in (tp, fp, fn, tn))
    return tp, fp, fn, tn


@mirrors("nnunet.training.loss_functions.dice_loss:SoftDiceLoss")
class SoftDiceLoss(nn.Module):
    """Negative mean soft Dice over foreground classes.

    Per class ``dc = (2 tp + smooth) / (2 tp + fp + fn + smooth + 1e-8)`` on softmax probabilities.
    *Batch Dice* (``batch_dice=True``) sums tp/fp/fn over the whole batch before dividing — one Dice per
    class; *sample Dice* computes one Dice per sample and class and averages. v1 uses batch Dice for 2d,
    3d_cascade_fullres, and 3d_fullres when the plans have two stages; sample Dice otherwise.
    With ``do_bg=False`` the background class is dropped before averaging.

    Arguments and defaults are v1's (no non-linearity, background included, ``smooth=1``); the trainers pass
    ``apply_nonlin=softmax_helper, batch_dice=..., do_bg=False, smooth=1e-5`` (through :class:`DC_and_CE_loss`).
    """

    def __init__(self, apply_nonlin: Callable[[torch.Tensor], torch.Tensor] | None = None, batch_dice: bool = False,
                 do_bg: bool = True, smooth: float = 1.) -> None:
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


def onehot_like(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The label map ``y`` one-hot encoded to ``x``'s shape ``(b, C, ...)``, as float32 on ``x``'s device.

    ``y`` may be ``(b, 1, ...)`` or ``(b, ...)``; a ``y`` that already has ``x``'s shape is taken to be one-hot
    and returned as it is (v1's rule in every Dice loss). Computed without gradient.
    """
    with torch.no_grad():
        if x.ndim != y.ndim:
            y = y.view((y.shape[0], 1, *y.shape[1:]))
        if tuple(x.shape) == tuple(y.shape):
            return y
        # float32 whatever x's dtype: v1 builds it with torch.zeros(shape), the default dtype
        # differs from v1: SoftDiceLossSquared's and GDL's one-hot target is made on x's device (v1 makes it on
        # the CPU and moves it to CUDA only, so those two losses fail on other accelerators such as MPS)
        onehot = torch.zeros(x.shape, device=x.device)
        onehot.scatter_(1, y.long(), 1)
        return onehot


@mirrors("nnunet.training.loss_functions.dice_loss:SoftDiceLossSquared")
class SoftDiceLossSquared(nn.Module):
    """Negative mean soft Dice with squared terms in the denominator (Milletari et al.'s V-Net Dice).

    Per class ``dc = 2 (sum(p * g) + smooth) / (sum(p**2 + g**2) + smooth)`` with ``p`` the probabilities and
    ``g`` the one-hot target; summed over ``(b, z, y, x)`` with ``batch_dice``, else over ``(z, y, x)`` per
    sample. Unlike :class:`SoftDiceLoss`, ``smooth`` is added to the intersection *before* doubling and there
    is no ``1e-8`` in the denominator. Arguments and defaults are v1's (no non-linearity, background included,
    ``smooth=1``).
    """

    def __init__(self, apply_nonlin: Callable[[torch.Tensor], torch.Tensor] | None = None, batch_dice: bool = False,
                 do_bg: bool = True, smooth: float = 1.) -> None:
        super().__init__()
        self.apply_nonlin = apply_nonlin
        self.batch_dice = batch_dice
        self.do_bg = do_bg
        self.smooth = smooth

    def forward(self, x: torch.Tensor, y: torch.Tensor, loss_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Loss of logits ``x`` ``(b, C, ...)`` against a label map ``y``; ``loss_mask`` is ignored (as in v1)."""
        axes = ([0] if self.batch_dice else []) + list(range(2, x.ndim))
        if self.apply_nonlin is not None:
            x = self.apply_nonlin(x)
        onehot = onehot_like(x, y)
        intersect = sum_over_axes(x * onehot, axes) + self.smooth
        denominator = sum_over_axes(x ** 2 + onehot ** 2, axes) + self.smooth
        dc = 2 * intersect / denominator
        if not self.do_bg:
            dc = dc[1:] if self.batch_dice else dc[:, 1:]
        return -dc.mean()


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
    """The two terms of :class:`DC_and_CE_loss` for one output, as plain floats."""

    ce: float
    dice: float  # the soft Dice *loss* term: minus the mean foreground soft Dice
    total: float


@mirrors("nnunet.training.loss_functions.dice_loss:DC_and_CE_loss")
class DC_and_CE_loss(nn.Module):  # noqa: N801 - v1's name: it is what print(trainer.loss) shows
    """``weight_ce * CE + weight_dice * SoftDice`` on one output, with v1's arguments in v1's order.

    The trainers build ``DC_and_CE_loss({'batch_dice': self.batch_dice, 'smooth': 1e-5, 'do_bg': False}, {})``
    (:func:`trainer_dc_and_ce_loss`): weights 1 and 1, ``aggregate='sum'``. v1's other options are here too:

    * ``soft_dice_kwargs`` go to the Dice term (``batch_dice``, ``do_bg``, ``smooth``; keys left out take
      :class:`SoftDiceLoss`'s defaults, ``False``, ``True``, ``1``; an unknown key is a ``TypeError``, as in v1);
      ``ce_kwargs`` to :class:`RobustCrossEntropyLoss` (e.g. ``weight``, ``ignore_index``).
    * ``weight_ce`` / ``weight_dice`` are read at every call, so changing them on the object during training
      takes effect at once (v1's ``graduallyTransitionFromCEToDice`` changes them every epoch by rebuilding
      the loss). A term whose weight is 0
      is not computed at all (v1's rule; it then counts as the number 0).
    * ``square_dice``: :class:`SoftDiceLossSquared` instead of :class:`SoftDiceLoss`.
    * ``log_dice``: the Dice term becomes ``-log(-dice_loss)`` = ``-log(mean Dice)``.
    * ``ignore_label``: voxels with that label count in neither term (CE is averaged over the others).

    ``forward`` returns the total (a differentiable scalar tensor); :meth:`compute` also returns the CE and
    Dice tensors; :meth:`parts` returns them as plain floats.
    """

    def __init__(self, soft_dice_kwargs: Mapping[str, Any], ce_kwargs: dict[str, Any], aggregate: str = "sum",
                 square_dice: bool = False, weight_ce: float = 1, weight_dice: float = 1, log_dice: bool = False,
                 ignore_label: int | None = None) -> None:
        super().__init__()
        if ignore_label is not None:
            if square_dice:
                raise ConfigurationError(tr("DC_and_CE_loss: ignore_label with square_dice=True is not implemented "
                                            "(v1 asserts the same)",
                                            "DC_and_CE_loss：ignore_label 与 square_dice=True 的组合没有实现"
                                            "（v1 也用 assert 拒绝它）"),
                                         fix=tr("use square_dice=False with ignore_label",
                                                "使用 ignore_label 时请设 square_dice=False"))
            # the CE map is masked, then averaged over the counted voxels; v1 quirk, reproduced: v1 writes this
            # into the caller's dict
            ce_kwargs["reduction"] = "none"
        self.weight_ce = weight_ce
        self.weight_dice = weight_dice
        self.log_dice = log_dice
        self.aggregate = aggregate
        self.ignore_label = ignore_label
        self.ce = RobustCrossEntropyLoss(**ce_kwargs)
        dice = SoftDiceLossSquared if square_dice else SoftDiceLoss
        self.dc = dice(apply_nonlin=softmax_helper, **soft_dice_kwargs)

    def compute(self, net_output: torch.Tensor, target: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(total, ce, dice)`` as tensors; ``target`` is the ``(b, 1, ...)`` label map.

        A term whose weight is 0 is skipped (as in v1) and reported as a 0-d zero tensor.
        """
        if self.weight_ce == 0 and self.weight_dice == 0:
            raise ConfigurationError(tr("DC_and_CE_loss with weight_ce=0 and weight_dice=0 has nothing to compute "
                                        "(v1 returns the number 0, which cannot be backpropagated)",
                                        "weight_ce=0 且 weight_dice=0 时 DC_and_CE_loss 没有可计算的项"
                                        "（v1 返回数字 0，无法反向传播）"),
                                     fix=tr("give at least one of the two terms a non-zero weight",
                                            "请至少给两项中的一项非零权重"))
        if self.aggregate != "sum":
            raise NotImplementedError(f"DC_and_CE_loss(aggregate={self.aggregate!r}): v1 only implements 'sum'")
        mask = None
        if self.ignore_label is not None:
            if target.shape[1] != 1:
                raise ValueError("ignore_label needs a (b, 1, ...) label map, not a one-hot target")
            keep = target != self.ignore_label
            # v1 quirk, reproduced: the caller's target is changed in place (ignored voxels become label 0),
            # so whatever reads the target after the loss (v1: the online evaluation) sees label 0 there
            target[~keep] = 0
            mask = keep.float()
        # v1's order: Dice first, then CE; a term with weight 0 is the number 0
        dc_loss: torch.Tensor | int = 0
        if self.weight_dice != 0:
            dc_loss = self.dc(net_output, target, loss_mask=mask)
            if self.log_dice:
                dc_loss = -torch.log(-dc_loss)
        elif self.log_dice:
            raise ConfigurationError(tr("DC_and_CE_loss(log_dice=True) with weight_dice=0: v1 takes the log of the "
                                        "number 0 here and fails",
                                        "DC_and_CE_loss(log_dice=True) 配 weight_dice=0：v1 在这里对数字 0 取对数，"
                                        "于是失败"),
                                     fix=tr("use log_dice=False while weight_dice is 0",
                                            "weight_dice 为 0 时请使用 log_dice=False"))
        ce_loss: torch.Tensor | int = 0
        if self.weight_ce != 0:
            ce_loss = self.ce(net_output, target[:, 0].long())
        if mask is not None:  # also when CE was skipped, as in v1 (0 * mask, averaged: 0, or NaN if all ignored)
            ce_loss = (ce_loss * mask[:, 0]).sum() / mask.sum()
        total = self.weight_ce * ce_loss + self.weight_dice * dc_loss
        zero = net_output.new_zeros(())
        return (total, ce_loss if isinstance(ce_loss, torch.Tensor) else zero,
                dc_loss if isinstance(dc_loss, torch.Tensor) else zero)

    def forward(self, net_output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.compute(net_output, target)[0]

    def parts(self, net_output: torch.Tensor, target: torch.Tensor) -> LossParts:
        """The loss and its CE and Dice terms as floats (computed without gradients)."""
        with torch.no_grad():
            total, ce, dc = self.compute(net_output, target)
        return LossParts(ce=float(ce), dice=float(dc), total=float(total))


def trainer_dc_and_ce_loss(batch_dice: bool) -> DC_and_CE_loss:
    """The loss both v1 trainers build in ``__init__`` (V2's ``initialize`` then wraps it for deep supervision):
    ``DC_and_CE_loss({'batch_dice': batch_dice, 'smooth': 1e-5, 'do_bg': False}, {})``."""
    return DC_and_CE_loss({"batch_dice": batch_dice, "smooth": 1e-5, "do_bg": False}, {})


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

    def __repr__(self) -> str:
        if not self.computed:
            return tr(f"output {self.index}: weight {self.weight:.4g}, loss not computed",
                      f"输出 {self.index}:权重 {self.weight:.4g},不计算它的损失")
        return tr(f"output {self.index}: weight {self.weight:.4g}, CE {self.ce:.4f}, Dice term {self.dice:.4f}, "
                  f"weighted {self.weighted:.4f}",
                  f"输出 {self.index}:权重 {self.weight:.4g},CE {self.ce:.4f},Dice 项 {self.dice:.4f},"
                  f"加权后 {self.weighted:.4f}")


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

    v1 always evaluates output 0 (even with weight 0) and skips every other output whose weight is 0 — so
    with V2's weights the lowest-resolution output never costs a loss evaluation.
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
            if with_parts and isinstance(self.loss, DC_and_CE_loss):
                term, ce, dc = self.loss.compute(x[i], y[i])
            else:
                term, ce, dc = self.loss(x[i], y[i]), None, None
                if with_parts and not (isinstance(term, torch.Tensor) and term.ndim == 0):
                    shape = tuple(term.shape) if isinstance(term, torch.Tensor) else type(term).__name__
                    name = type(self.loss).__name__
                    raise ConfigurationError(
                        tr(f"the loss {name} returned {shape} for output {i}, not a scalar tensor; "
                           "training needs one (v1's backward fails on it too)",
                           f"损失 {name} 对输出 {i} 返回了 {shape}, 而不是标量张量；训练需要标量"
                           "（v1 的 backward 遇到它也会失败）"),
                        fix=tr("reduce the loss to a scalar (e.g. reduction='mean') before returning it",
                               "返回之前先把损失归约为标量（例如 reduction='mean'）"))
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
