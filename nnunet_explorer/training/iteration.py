"""One training (or validation) iteration, exactly as ``nnUNetTrainerV2.run_iteration`` does it — recorded.

v1's iteration, step by step:

1. the batch (``data`` ``(b, c, z, y, x)`` float, ``target`` a list with one ``(b, 1, ...)`` label map per
   deep-supervision output) becomes float tensors and moves to the GPU (``non_blocking``);
2. ``optimizer.zero_grad()``;
3. forward and loss — under ``autocast`` (float16) when ``fp16`` and CUDA, else float32;
4. when training: backward (through the ``GradScaler`` under fp16, unscaled before clipping), clip the
   gradient's global L2 norm to 12, optimizer step;
5. optionally the *online evaluation* on the full-resolution output: hard tp/fp/fn per foreground class;
6. return the loss (a 0-d numpy array, read from the device once).

:func:`run_iteration` does the same and returns an :class:`IterationRecord` of plain Python scalars: the
loss and its parts per output, gradient norms before/after clipping, the learning rate, where time went,
output shapes, the online-evaluation counts, and where the first NaN/Inf appeared if any.

All of it is gathered on the device and read back in **one** transfer at the end of the iteration, as v1 reads
its loss once per training iteration (under fp16 the GradScaler's own found-inf read is the only other one, in v1
too; v1's validation iterations also read the online-evaluation counts): every read of a
GPU value makes the host wait until the GPU's queue has drained.
"""
from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import ConfigurationError
from ..language import tr
from ..provenance import mirrors
from .generic_unet import softmax_helper
from .loss import DC_and_CE_loss, MultipleOutputLoss2, ScaleLossPart, TensorLossPart

ArrayLike = np.ndarray | torch.Tensor


@dataclass(frozen=True)
class OnlineEvaluation:
    """Hard counts of one batch for foreground classes 1..C-1 (v1's ``run_online_evaluation``).

    The counts are summed over the batch. ``pseudo_dice`` is ``2tp / (2tp + fp + fn + 1e-8)`` of this batch
    only; v1's logged "Average global foreground Dice" sums the counts over all validation batches of an
    epoch first (and has no epsilon).
    """

    tp: tuple[float, ...]
    fp: tuple[float, ...]
    fn: tuple[float, ...]
    pseudo_dice: tuple[float, ...]


@dataclass(frozen=True)
class IterationRecord:
    """What one :func:`run_iteration` did, as plain Python values (safe to keep, log or plot).

    Attributes:
        loss: the total loss (what v1's ``run_iteration`` returns).
        scale_parts: per deep-supervision output: weight, CE, Dice term, weighted contribution.
        did_backprop: whether gradients and an optimizer step were computed.
        grad_norm_before_clip / grad_norm_after_clip: global L2 norm of all gradients before and after
            ``clip_grad_norm_(params, clip_norm)`` (None without backprop). Under fp16 these are the
            unscaled norms.
        clipped: the norm exceeded ``clip_norm``, so the gradient was scaled down.
        learning_rate: ``optimizer.param_groups[0]['lr']`` used by this step.
        fp16_used: autocast + GradScaler were active (only on CUDA).
        step_skipped: fp16 only — the GradScaler found Inf/NaN gradients and skipped the optimizer step.
        device: where the network ran.
        seconds_transfer / seconds_forward / seconds_backward / seconds_total: host-to-device copy;
            forward + loss; backward + clipping + step, by the host's clock. On CUDA the first three are the
            time to *queue* that work (no synchronize: the iteration reads from the GPU once, at its end), and
            ``seconds_total`` includes waiting for the GPU to finish it.
        input_shape: ``(b, c, ...)`` of ``data``.
        output_shapes / target_shapes: one per output, highest resolution first.
        online_evaluation: counts on output 0 when requested, else None.
        nonfinite: None, or where a NaN/Inf first appeared: ``"input"``, ``"target[i]"``, ``"output[i]"``,
            ``"loss part: output i CE|Dice"``, ``"loss"``, ``"gradient: <parameter name>"``.
        stop_anywhere: under DDP, some rank asked to stop (the flag travels with the loss in the one read).
    """

    loss: float
    scale_parts: tuple[ScaleLossPart, ...]
    did_backprop: bool
    grad_norm_before_clip: float | None
    grad_norm_after_clip: float | None
    clipped: bool
    clip_norm: float
    learning_rate: float
    fp16_used: bool
    step_skipped: bool
    device: str
    seconds_transfer: float
    seconds_forward: float
    seconds_backward: float
    seconds_total: float
    input_shape: tuple[int, ...]
    output_shapes: tuple[tuple[int, ...], ...]
    target_shapes: tuple[tuple[int, ...], ...]
    online_evaluation: OnlineEvaluation | None
    nonfinite: str | None
    stop_anywhere: bool = False
    local_loss: float | None = None  # DDP: this rank's own loss before the mean over ranks
    local_tp: list | None = None  # DDP: this rank's own true-positive counts

    #: what each field is, in both languages (the step cards show it under the field's name)
    FIELD_LABELS: ClassVar[dict[str, tuple[str, str]]] = {
        "loss": ("the total loss run_iteration returns", "run_iteration 返回的总损失"),
        "scale_parts": ("each output's weight, CE, Dice term and share of the loss",
                        "每个输出的权重、CE、Dice 项和它在损失中的份额"),
        "did_backprop": ("backward pass and optimizer step done", "是否做了反向传播和优化器更新"),
        "grad_norm_before_clip": ("gradient norm before clip_grad_norm_", "clip_grad_norm_ 之前的梯度范数"),
        "grad_norm_after_clip": ("gradient norm after clipping", "裁剪之后的梯度范数"),
        "clipped": ("the norm was above the threshold and cut", "范数超过阈值而被截短"),
        "clip_norm": ("the clipping threshold (V2: 12)", "裁剪阈值(V2 为 12)"),
        "learning_rate": ("the learning rate of this step", "这一步的学习率"),
        "fp16_used": ("autocast and GradScaler active (CUDA only)", "是否启用了 autocast 和 GradScaler(仅 CUDA)"),
        "step_skipped": ("fp16: the scaler found inf/nan and skipped the step",
                         "fp16:scaler 发现 inf/nan,跳过了这一步"),
        "device": ("where the network ran", "网络运行的设备"),
        "seconds_transfer": ("copying the batch to the device (s; on a GPU: the time to queue it)",
                             "把 batch 复制到设备上(秒;GPU 上是把它排入队列的时间)"),
        "seconds_forward": ("forward and loss (s; on a GPU: the time to queue them)",
                            "前向和损失(秒;GPU 上是把它们排入队列的时间)"),
        "seconds_backward": ("backward, clipping and step (s; on a GPU: the time to queue them)",
                             "反向、裁剪和更新(秒;GPU 上是把它们排入队列的时间)"),
        "seconds_total": ("the whole iteration (s)", "整次迭代(秒)"),
        "input_shape": ("the batch (b, c, ...)", "batch 的形状 (b, c, ...)"),
        "output_shapes": ("one per output, highest resolution first", "每个输出一个,最高分辨率在前"),
        "target_shapes": ("the downsampled targets, one per output", "下采样后的目标,每个输出一个"),
        "online_evaluation": ("tp/fp/fn of output 0 when asked for", "要求时给出输出 0 的 tp/fp/fn"),
        "nonfinite": ("where a NaN/Inf first appeared (None: nowhere)", "NaN/Inf 最早出现的位置(None:没有)"),
        "stop_anywhere": ("DDP: some process asked to stop", "DDP:某个进程要求停止"),
        "local_loss": ("DDP: this process's loss before the mean", "DDP:本进程在取平均之前的损失"),
        "local_tp": ("DDP: this process's true positives", "DDP:本进程的真阳性计数"),
    }

    def __repr__(self) -> str:
        before, after = self.grad_norm_before_clip, self.grad_norm_after_clip
        grad = ("", "") if before is None else (
            f", grad norm {before:.3g}->{after:.3g} ({'clipped' if self.clipped else 'not clipped'})",
            f", 梯度范数 {before:.3g}->{after:.3g}({'被裁剪' if self.clipped else '未裁剪'})")
        bad = (f", NON-FINITE at {self.nonfinite}", f", 非有限值出现在 {self.nonfinite}") if self.nonfinite else ("", "")
        return tr(f"IterationRecord(loss {self.loss:.4f}, lr {self.learning_rate:.3g}{grad[0]}, "
                  f"{len(self.output_shapes)} outputs, {self.seconds_total:.3f} s on {self.device}{bad[0]})",
                  f"IterationRecord(损失 {self.loss:.4f}, 学习率 {self.learning_rate:.3g}{grad[1]}, "
                  f"{len(self.output_shapes)} 个输出, 在 {self.device} 上用时 {self.seconds_total:.3f} s{bad[1]})")


@mirrors("nnunet.utilities.to_torch:maybe_to_torch")
def _to_tensor(d: ArrayLike) -> torch.Tensor:
    return d if isinstance(d, torch.Tensor) else torch.from_numpy(np.asarray(d)).float()


def _all_finite(t: torch.Tensor) -> torch.Tensor:
    """A 0-d bool tensor on ``t``'s device: no NaN/Inf in ``t`` (nothing is read back to the host)."""
    return torch.isfinite(t).all()


def online_evaluation_counts(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """tp, fp, fn per foreground class as one ``(3, C-1)`` float32 tensor on the output's device (no sync).

    Per sample, then summed over the batch, in float32, as v1's ``run_online_evaluation``.
    """
    with torch.no_grad():
        num_classes = output.shape[1]
        seg = softmax_helper(output).argmax(1)
        t = target[:, 0]
        rows = []
        for c in range(1, num_classes):
            pred_c, true_c = seg == c, t == c
            rows.append(torch.stack([(pred_c & true_c).float().flatten(1).sum(1).sum(),
                                     (pred_c & ~true_c).float().flatten(1).sum(1).sum(),
                                     (~pred_c & true_c).float().flatten(1).sum(1).sum()]))
        if not rows:
            return torch.zeros((3, 0), device=output.device)
        return torch.stack(rows, dim=1)


def _evaluation_from_counts(tp: Sequence[float], fp: Sequence[float], fn: Sequence[float]) -> OnlineEvaluation:
    dice = tuple(2 * a / (2 * a + b + c + 1e-8) for a, b, c in zip(tp, fp, fn))
    return OnlineEvaluation(tuple(tp), tuple(fp), tuple(fn), dice)


@mirrors("nnunet.training.network_training.nnUNetTrainer:nnUNetTrainer.run_online_evaluation")
def online_evaluation(output: torch.Tensor, target: torch.Tensor) -> OnlineEvaluation:
    """Hard tp/fp/fn per foreground class of ``argmax(softmax(output))`` against ``target[:, 0]``.

    Args:
        output: full-resolution logits ``(b, C, ...)``.
        target: label map ``(b, 1, ...)``.
    """
    tp, fp, fn = online_evaluation_counts(output, target).tolist()
    return _evaluation_from_counts(tp, fp, fn)


def uses_grad_scaler(trainer: Any) -> bool:
    """Whether ``trainer`` trains with an active GradScaler (fp16 on CUDA, or the explorer's CPU AMP)."""
    scaler = getattr(trainer, "amp_grad_scaler", None)
    return scaler is not None and bool(getattr(scaler, "is_enabled", lambda: True)())


def make_grad_scaler(fp16: bool, device: torch.device | str, *, cpu_amp: bool = False
                     ) -> torch.amp.GradScaler | None:
    """The GradScaler v1 creates for fp16 training (``_maybe_init_amp``), or None when it would not be used.

    Create it once per training run and pass it to every :func:`run_iteration`: it adapts its scale over
    iterations. ``cpu_amp`` (explorer-only) gives a CPU scaler, so the mixed-precision branch can be run and
    tested on a machine without a GPU.
    """
    kind = torch.device(device).type
    if fp16 and (kind == "cuda" or (cpu_amp and kind == "cpu")):
        # differs from v1: torch.cuda.amp.GradScaler is deprecated; torch.amp.GradScaler("cuda") is the same
        return torch.amp.GradScaler(kind)
    return None


def _clip_grad_norm(grads: list[torch.Tensor], clip_norm: float
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``torch.nn.utils.clip_grad_norm_(params, clip_norm)`` (L2) that also returns what the explorer records.

    The same arithmetic as torch's: per-tensor norms (``_foreach_norm``), their L2 norm is the total norm,
    every gradient is multiplied by ``min(clip_norm / (total + 1e-6), 1)``. Doing it here reads the gradients
    once instead of three times (torch's clip, then the explorer's per-parameter and after-clipping norms).

    Returns:
        ``(norm before clipping, norm after clipping, per-parameter norms)`` as device tensors (nothing is read
        back); the norm after clipping is the norm before times the factor applied (what re-measuring would
        give, up to float rounding).
    """
    if not grads:
        zero = torch.zeros(())
        return zero, zero, torch.zeros(0)
    per_param = torch.stack(torch._foreach_norm([g.detach() for g in grads]))
    total = torch.linalg.vector_norm(per_param)
    factor = torch.clamp(clip_norm / (total + 1e-6), max=1.0)
    torch._foreach_mul_(grads, factor.to(grads[0].device))
    return total, total.double() * factor.double(), per_param


class _OneRead:
    """The iteration's device values, gathered for one transfer to the host at its end.

    Every value is added with what it is, which also says how DDP combines it over the processes: a
    finiteness ``FLAG`` (true on every rank), a ``MEAN`` (loss, its parts, gradient norms) or a ``SUM``
    (tp/fp/fn). :meth:`add` returns where the value's elements will be in what :meth:`read` returns.
    """

    FLAG, MEAN, SUM = "flag", "mean", "sum"

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._values: list[torch.Tensor] = []
        self._kinds: list[str] = []  # one per element

    def add(self, value: torch.Tensor, kind: str) -> slice:
        flat = value.detach().reshape(-1).to(device=self.device, dtype=torch.float64)
        start = len(self._kinds)
        self._values.append(flat)
        self._kinds += [kind] * flat.numel()
        return slice(start, len(self._kinds))

    def read(self, strategy: Any, stop_requested: bool) -> tuple[list[Any], list[Any], bool]:
        """``(values, this rank's own values, stop requested on any rank)``; the one host-device sync.

        Without DDP the values are this process's (flags as 0/1 floats, read as truth values) and the second
        list is empty. With DDP one all-reduce sums everything and the stop request; flags become "true on every
        rank", means are divided by the number of ranks, sums stay.
        """
        packed = torch.cat(self._values)
        if strategy is None or not strategy.is_distributed:
            return packed.tolist(), [], False
        world = int(strategy.world_size)
        stop = torch.tensor([1.0 if stop_requested else 0.0], dtype=packed.dtype, device=packed.device)
        reduced = strategy.all_reduce_sum(torch.cat([packed, stop]))
        # this rank's own values ride along in the same read
        both = torch.cat([reduced.to(packed.device), packed]).tolist()
        summed, local = both[:packed.numel() + 1], both[packed.numel() + 1:]
        stop_anywhere = summed.pop() > 0
        # differs from v1: the loss every rank logs is the mean over the ranks (v1's rank 0 logs its own loss)
        combine = {self.FLAG: lambda v: v > world - 0.5, self.MEAN: lambda v: v / world, self.SUM: lambda v: v}
        return [combine[kind](v) for kind, v in zip(self._kinds, summed)], local, stop_anywhere


@mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.run_iteration")
def run_iteration(network: nn.Module, loss: nn.Module, optimizer: torch.optim.Optimizer,
                  data: ArrayLike, target: ArrayLike | Sequence[ArrayLike], *, do_backprop: bool = True,
                  fp16: bool = False, grad_scaler: torch.amp.GradScaler | None = None, clip_norm: float | None = 12.0,
                  run_online_evaluation: bool | Callable[[Any, Any], torch.Tensor | None] = False,
                  strategy: Any = None, stop_requested: bool = False) -> IterationRecord:
    """Run one v1 training iteration (or a validation iteration with ``do_backprop=False``) and record it.

    Args:
        network: the U-Net (its device decides where everything runs). With deep supervision its ``do_ds``
            must be on and ``loss`` a :class:`MultipleOutputLoss2`.
        loss: :class:`MultipleOutputLoss2` (deep supervision) or :class:`DC_and_CE_loss` (one output).
        optimizer: e.g. :func:`~nnunet_explorer.training.optim.v2_optimizer` over ``network.parameters()``.
        data: ``(b, c, z, y, x)`` (3D) or ``(b, c, y, x)`` (2D) float array/tensor.
        target: one ``(b, 1, ...)`` label map per deep-supervision output (highest resolution first), or a
            single label map for a network without deep supervision.
        do_backprop: train (backward, clip, step); False evaluates only (no gradients are built —
            v1's caller wraps validation in ``torch.no_grad()``; here that happens inside).
        fp16: mixed precision, as ``nnUNet_train`` uses by default; active only on CUDA (v1's autocast and
            GradScaler disable themselves on a CPU, so it trains in float32 there too).
        grad_scaler: the run's GradScaler (:func:`make_grad_scaler`); created on the fly if fp16 is active
            and none is given (its adaptive scale then starts fresh each iteration).
        clip_norm: maximum global gradient L2 norm (V2: 12; None: no clipping, the base trainer's iteration).
        run_online_evaluation: also count tp/fp/fn on output 0 (v1 does this on validation batches); a
            callable ``f(output, target)`` (the trainer's ``run_online_evaluation``, called with the network's
            output and the targets as given) returns the ``(3, C-1)`` counts as a device tensor, or None.
        strategy: a DDP strategy (:mod:`.strategy`): the one packed vector is summed over ranks before it is read,
            so every rank records the mean loss and the summed tp/fp/fn; ``stop_requested`` travels with it.

    Returns:
        An :class:`IterationRecord`.
    """
    t_start = time.perf_counter()
    device = next(network.parameters()).device
    # an enabled GradScaler passed for a CPU network is the explorer's CPU mixed precision (make_grad_scaler(
    # cpu_amp=True)); a disabled one (v1's on a machine without CUDA) means float32, as in v1
    use_amp = fp16 and (device.type == "cuda" or (grad_scaler is not None and grad_scaler.is_enabled()
                                                  and device.type == "cpu"))
    if use_amp and grad_scaler is None and do_backprop:
        grad_scaler = make_grad_scaler(True, device)
    # Everything recorded is gathered here as device tensors and read in ONE transfer at the end (v1 reads its
    # loss once per iteration; each extra read would drain the GPU's queue).
    one_read = _OneRead(device)
    checks: list[tuple[str, slice]] = []  # where each finiteness flag was taken, in order

    def check(where: str, finite: torch.Tensor) -> None:
        checks.append((where, one_read.add(finite, _OneRead.FLAG)))

    # 1. to tensors, to the device (asynchronously from pinned memory), checked there
    data_t = _to_tensor(data)
    targets_given_as_list = isinstance(target, (list, tuple))
    target_list = [_to_tensor(t) for t in (target if targets_given_as_list else [target])]
    if device.type == "cuda":
        data_t = data_t.to(device, non_blocking=True)
        target_list = [t.to(device, non_blocking=True) for t in target_list]
    check("input", _all_finite(data_t))
    for i, t in enumerate(target_list):
        check(f"target[{i}]", _all_finite(t))
    t_transferred = time.perf_counter()

    # 2.-3. forward and loss
    optimizer.zero_grad()
    grad_context = torch.enable_grad() if do_backprop else torch.no_grad()
    if use_amp:
        # float16 on the CPU too (explorer-only, for tests): bfloat16 with a GradScaler gave wrong gradients here
        amp_context = torch.autocast(device.type, dtype=torch.float16)
    else:
        amp_context = nullcontext()
    with grad_context, amp_context:
        output = network(data_t)
        outputs = list(output) if isinstance(output, (tuple, list)) else [output]
        if isinstance(loss, MultipleOutputLoss2):
            if not isinstance(output, (tuple, list)):
                raise ConfigurationError(
                    tr("the loss is a MultipleOutputLoss2 (deep supervision) but the network returned a single tensor",
                       "损失是 MultipleOutputLoss2（深度监督），但网络只返回了一个张量"),
                    fix=tr("set network.do_ds = True before training iterations (v1 does so at the start of "
                           "training), or pass a DC_and_CE_loss for a network without deep supervision",
                           "在训练迭代之前设置 network.do_ds = True（v1 在训练开始时这样做），"
                           "或者为没有深度监督的网络传入 DC_and_CE_loss"))
            total, tensor_parts = loss.forward_with_tensor_parts(outputs, target_list)
        elif isinstance(loss, DC_and_CE_loss) and not isinstance(output, (tuple, list)):
            total, ce, dc = loss.compute(output, target_list[0])
            tensor_parts = (TensorLossPart(0, 1.0, ce.detach(), dc.detach(), total.detach()),)
        else:
            # any other loss gets exactly what v1's run_iteration passes: the network's output as returned and
            # the target as the batch holds it (a list with deep supervision)
            total = loss(output, target_list if targets_given_as_list else target_list[0])
            tensor_parts = (TensorLossPart(0, 1.0, None, None, total.detach()),)
    for i, o in enumerate(outputs):
        check(f"output[{i}]", _all_finite(o.detach()))
    for part in tensor_parts:
        if part.ce is not None:
            check(f"loss part: output {part.index} CE", _all_finite(part.ce))
        if part.dice is not None:
            check(f"loss part: output {part.index} Dice", _all_finite(part.dice))
    check("loss", _all_finite(total.detach()))
    t_forward = time.perf_counter()

    # 4. backward, clip, step
    lr = float(optimizer.param_groups[0]["lr"])  # a Python float: no sync
    named: list[tuple[str, torch.Tensor]] = []
    if do_backprop:
        if use_amp:
            assert grad_scaler is not None
            grad_scaler.scale(total).backward()
            grad_scaler.unscale_(optimizer)
        else:
            total.backward()
        named = [(n, p) for n, p in network.named_parameters() if p.grad is not None]
        norm_before, norm_after, per_param = _clip_grad_norm([p.grad for _, p in named],
                                                             math.inf if clip_norm is None else clip_norm)
        # per-parameter norms are finite iff every gradient entry is; read as one vector, named afterwards
        grads_finite = torch.isfinite(per_param)
        if use_amp:
            assert grad_scaler is not None
            # GradScaler.step reads its found-inf flag once (v1's iteration does the same): the one sync
            # besides ours. It skips the step exactly when an unscaled gradient is not finite, which is
            # ``grads_finite`` — so the skip is recorded without get_scale() reads.
            grad_scaler.step(optimizer)
            grad_scaler.update()
        else:
            optimizer.step()
    t_backward = time.perf_counter()

    # 5. online evaluation on the full-resolution output
    if callable(run_online_evaluation):
        target_given = target_list if targets_given_as_list else target_list[0]
        counts = run_online_evaluation(output, target_given)
    elif run_online_evaluation:
        counts = online_evaluation_counts(outputs[0].detach(), target_list[0])
    else:
        counts = None

    # ---- the one read
    at_loss = one_read.add(total, _OneRead.MEAN)
    at_parts = [[one_read.add(value, _OneRead.MEAN) for value in part.tensors()] for part in tensor_parts]
    if do_backprop:
        at_norms = one_read.add(torch.stack([norm_before.double(), norm_after.double()]), _OneRead.MEAN)
        at_grads_finite = one_read.add(grads_finite, _OneRead.FLAG)
    if counts is not None:
        at_counts = one_read.add(counts, _OneRead.SUM)
    values, local, stop_anywhere = one_read.read(strategy, stop_requested)

    def first_not_finite(flags: list[Any]) -> str | None:
        return next((where for where, at in checks if not flags[at.start]), None)

    nonfinite = first_not_finite(values)
    if nonfinite is not None and local and first_not_finite(local) is None:
        nonfinite = f"{nonfinite} (on another process)"  # DDP: finite here, so another rank's values were not
    loss_value = values[at_loss.start]
    parts = tuple(part.from_values([values[at.start] for at in ats]) for part, ats in zip(tensor_parts, at_parts))
    norm_before_f = norm_after_f = None
    step_skipped = False
    if do_backprop:
        norm_before_f, norm_after_f = values[at_norms]
        bad = next((i for i, ok in enumerate(values[at_grads_finite]) if not ok), None)
        if bad is not None:
            if nonfinite is None:
                nonfinite = f"gradient: {named[bad][0]}"
            step_skipped = use_amp
    evaluation = None
    if counts is not None:
        n = counts.shape[1]
        flat = values[at_counts]
        evaluation = _evaluation_from_counts(flat[:n], flat[n:2 * n], flat[2 * n:3 * n])

    local_loss = local[at_loss.start] if local else None
    local_tp = local[at_counts][:counts.shape[1]] if (local and counts is not None) else None
    return IterationRecord(
        loss=loss_value, local_loss=local_loss, local_tp=local_tp, scale_parts=parts, did_backprop=do_backprop,
        grad_norm_before_clip=norm_before_f, grad_norm_after_clip=norm_after_f,
        clipped=norm_before_f is not None and clip_norm is not None and norm_before_f > clip_norm,
        clip_norm=math.inf if clip_norm is None else float(clip_norm),
        learning_rate=lr, fp16_used=use_amp, step_skipped=step_skipped, device=str(device),
        seconds_transfer=t_transferred - t_start, seconds_forward=t_forward - t_transferred,
        seconds_backward=t_backward - t_forward, seconds_total=time.perf_counter() - t_start,
        input_shape=tuple(data_t.shape), output_shapes=tuple(tuple(o.shape) for o in outputs),
        target_shapes=tuple(tuple(t.shape) for t in target_list), online_evaluation=evaluation,
        nonfinite=nonfinite, stop_anywhere=stop_anywhere)
