"""Observer hooks of the training loop: what a live view, a logger or a test can attach to.

The training loop (``NetworkTrainer.run_training`` in v1) is long-running, so it is not a step. Instead it
calls observers at fixed points, Lightning-style::

    on_train_start(TrainStart)
      on_epoch_start(epoch)
        on_iteration_end(IterationEnd)        x num_batches_per_epoch
      on_validation_end(ValidationEnd)
      on_epoch_end(EpochEnd)
    on_train_end(TrainEnd)

Rules every observer can rely on, and every observer must keep:

* payloads carry plain Python scalars that the loop computed anyway (no extra GPU synchronisation);
* an observer never changes the trainer; the only thing it may do is ask it to stop, through
  :meth:`LoopControl.request_stop` (the loop ends after the current iteration and saves a checkpoint);
* the loop measures the time spent in observers (``EpochEnd.hook_seconds``) so their cost is visible;
* live views throttle their own redraws: the loop calls them every iteration.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Mapping, Protocol, Sequence, runtime_checkable


@dataclass(frozen=True)
class TrainStart:
    """Sent once before the first epoch (also after a resume with ``-c``)."""

    start_epoch: int
    max_num_epochs: int
    num_batches_per_epoch: int
    num_val_batches_per_epoch: int
    initial_lr: float
    output_folder: str
    num_classes: int
    resumed: bool = False


@dataclass(frozen=True)
class IterationEnd:
    """Sent after every training iteration."""

    epoch: int
    iteration: int  # 0-based within the epoch
    loss: float
    ce: float | None
    dice: float | None  # the (negative) soft Dice part; the total loss is ce + dice
    lr: float
    grad_norm: float | None
    data_seconds: float  # waiting for the batch
    compute_seconds: float  # forward + loss + backward + step


@dataclass(frozen=True)
class ValidationEnd:
    """Sent after the ``num_val_batches_per_epoch`` validation iterations of an epoch."""

    epoch: int
    val_loss: float
    global_dice_per_class: Sequence[float]  # v1's "Average global foreground Dice" (pooled tp/fp/fn)
    mean_global_dice: float


@dataclass(frozen=True)
class EpochEnd:
    """Sent after v1's ``on_epoch_end`` bookkeeping (moving averages, LR update, checkpoints)."""

    epoch: int
    train_loss: float
    val_loss: float
    mean_global_dice: float
    val_eval_criterion_MA: float | None
    train_loss_MA: float | None
    lr_next: float
    epoch_seconds: float
    data_seconds: float
    compute_seconds: float
    hook_seconds: float
    saved: Sequence[str] = field(default_factory=tuple)  # checkpoint file names written this epoch
    is_new_best: bool = False
    on_epoch_end_returned: bool | None = None  # continue_training, as the trainer's on_epoch_end returned it


@dataclass(frozen=True)
class TrainEnd:
    """Sent once when the loop ends, normally or because a stop was requested."""

    last_epoch: int  # the last epoch finished (0-based; -1 when none was)
    stopped_early: bool
    reason: str
    final_checkpoint: str | None
    summary: Mapping[str, float] = field(default_factory=dict)


@runtime_checkable
class TrainingObserver(Protocol):
    """Anything with some of these methods; missing ones are simply not called."""

    def on_train_start(self, event: TrainStart) -> None: ...
    def on_epoch_start(self, epoch: int) -> None: ...
    def on_iteration_end(self, event: IterationEnd) -> None: ...
    def on_validation_end(self, event: ValidationEnd) -> None: ...
    def on_epoch_end(self, event: EpochEnd) -> None: ...
    def on_train_end(self, event: TrainEnd) -> None: ...


class LoopControl:
    """The one handle an observer (or a Stop button, from another thread) gets: ask the loop to stop."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self.reason = ""

    def request_stop(self, reason: str = "stop requested") -> None:
        """Ask the loop to end after the current iteration; it saves a checkpoint first. Thread-safe."""
        self.reason = reason
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def reset(self) -> None:
        """Forget a past stop request (the loop calls this when it starts, so a stopped run can be continued)."""
        self.reason = ""
        self._stop.clear()
