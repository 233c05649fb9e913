"""The NaN/Inf guard: when a non-finite value is routine (a skipped fp16 step) and when it ends training.

v1 trains on through anything: a NaN loss is logged and the run goes on, often for days, producing nothing.
The explorer stops and says where the first NaN/Inf appeared — but under fp16 a non-finite value is *normal*:

* With mixed precision, the loss is multiplied by the GradScaler's scale (2**16 at the start) before backward,
  so that small fp16 gradients do not underflow. When that overflows (Inf/NaN in a gradient, or an fp16
  output or loss overflowing), ``GradScaler.step`` skips the optimizer step and ``update`` halves the scale.
  That is how the scale finds its level; v1 relies on it, and so does every AMP training run.
* Only if non-finite values **persist** is the run broken: after ``patience`` consecutive bad iterations the
  scale has been halved that many times (2**16 reaches 1 after 16), so the values are non-finite even
  unscaled. The default, 20, is that number with a margin.
* In float32 there is no scaler to absorb anything: the first NaN/Inf stops training.
* A NaN/Inf in the *input* or a *target* is bad data, never a scaling effect: it stops at once.

Under DDP every rank must take the same decision, or the ranks that stop leave the others waiting in the
next collective until the NCCL timeout kills them: :func:`agree_to_stop` all-reduces the decision.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..errors import TrainingError
from ..language import tr

# consecutive non-finite fp16 iterations before the guard stops training (see the module docstring)
DEFAULT_FP16_PATIENCE = 20


@dataclass(frozen=True)
class NonFiniteReport:
    """Where the NaN/Inf guard stopped training."""

    where: str  # IterationRecord.nonfinite: "input", "target[i]", "output[i]", "loss part: ...", "gradient: ..."
    phase: str  # "training" or "validation"
    epoch: int
    iteration: int
    loss: float
    learning_rate: float
    consecutive: int = 1  # non-finite iterations in a row (fp16: the guard's patience ran out)

    def summary(self) -> str:
        again = tr(f", {self.consecutive} iterations in a row", f",连续 {self.consecutive} 次迭代"
                   ) if self.consecutive > 1 else ""
        phase = tr(self.phase, {"training": "训练", "validation": "验证"}.get(self.phase, self.phase))
        return tr(f"non-finite value (NaN/Inf) first seen at {self.where} in {self.phase} iteration {self.iteration} "
                  f"of epoch {self.epoch} (loss {self.loss}, lr {self.learning_rate:.3g}{again})",
                  f"非有限值(NaN/Inf)首次出现在 epoch {self.epoch} 的第 {self.iteration} 次{phase}迭代的 "
                  f"{self.where}(loss {self.loss},lr {self.learning_rate:.3g}{again})")


class NonFiniteError(TrainingError):
    """Training stopped because a NaN/Inf appeared; ``report`` says where."""

    def __init__(self, report: NonFiniteReport) -> None:
        fixes = {
            "input": tr("a preprocessed case contains NaN/Inf: check the raw images (nnunet-explorer check_dataset) "
                        "and re-run preprocessing", "某个预处理后的病例含有 NaN/Inf:检查原始图像"
                        "(nnunet-explorer check_dataset),然后重新预处理"),
            "target": tr("a label map contains NaN/Inf: check the raw labels and re-run preprocessing",
                         "某个标签图含有 NaN/Inf:检查原始标签,然后重新预处理"),
        }
        key = report.where.split("[")[0]
        fix = fixes.get(key, tr("the network diverged: lower the learning rate (initial_lr), keep gradient clipping, "
                                "train with --fp32, or resume from the last checkpoint with -c",
                                "网络发散了:降低学习率(initial_lr),保留梯度裁剪,用 --fp32 训练,或用 -c 从最后一个"
                                "检查点继续"))
        super().__init__(report.summary(), fix=fix)
        self.report = report


class NonFiniteGuard:
    """Decides, once per iteration, whether a NaN/Inf is routine (fp16 skip) or ends training.

    Args:
        fp16: the run uses mixed precision with a GradScaler.
        patience: fp16 only — consecutive non-finite iterations tolerated before stopping.
        enabled: False turns the guard off (v1's behaviour: train on through anything).

    Attributes:
        skipped_steps: optimizer steps the GradScaler skipped so far (fp16).
        skipped_this_epoch: the same, since :meth:`start_epoch`.
        consecutive: non-finite iterations in a row right now.
    """

    def __init__(self, *, fp16: bool, patience: int = DEFAULT_FP16_PATIENCE, enabled: bool = True) -> None:
        self.fp16 = fp16
        self.patience = int(patience)
        self.enabled = enabled
        self.skipped_steps = 0
        self.skipped_this_epoch = 0
        self.consecutive = 0

    def start_epoch(self) -> None:
        self.skipped_this_epoch = 0

    def verdict(self, record: Any, phase: str, epoch: int, iteration: int) -> NonFiniteReport | None:
        """Count the iteration; the report to stop with, or None to go on. Reads only plain Python values."""
        if record.step_skipped:
            self.skipped_steps += 1
            self.skipped_this_epoch += 1
        if record.nonfinite is None:
            self.consecutive = 0
            return None
        self.consecutive += 1
        if not self.enabled:
            return None
        bad_data = record.nonfinite.startswith(("input", "target"))
        if self.fp16 and not bad_data and self.consecutive < self.patience:
            return None  # the scaler skips the step and lowers its scale: routine under fp16
        return NonFiniteReport(record.nonfinite, phase, epoch, iteration, record.loss, record.learning_rate,
                               self.consecutive)

    def check(self, record: Any, phase: str, epoch: int, iteration: int) -> None:
        """:meth:`verdict`, raising :class:`NonFiniteError` when training must stop (single process)."""
        report = self.verdict(record, phase, epoch, iteration)
        if report is not None:
            raise NonFiniteError(report)


def agree_to_stop(stop: bool, device: torch.device | str = "cpu") -> bool:
    """True on every rank if any rank wants to stop (one all-reduce under DDP; no communication otherwise)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return stop
    flag = torch.tensor([1.0 if stop else 0.0], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())
