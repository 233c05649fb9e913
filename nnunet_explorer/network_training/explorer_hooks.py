"""Everything the explorer adds to v1's training loop, in one place.

v1's ``NetworkTrainer.run_training`` trains, logs, draws ``progress.png`` and writes checkpoints; it offers no
hook to observe or stop it. The explorer keeps that loop as v1 wrote it
(:meth:`~nnunet_explorer.network_training.network_trainer.NetworkTrainer.run_training`) and adds, at four
named points the loop calls, what a live notebook, a cluster job and a debugging session need::

    with trainer.explorer.training(trainer):      # start: observers; end: TrainEnd, workers shut down;
        ...                                       #   a stop request or Ctrl-C/SIGTERM: model_latest.model
        trainer.explorer.epoch_start(trainer)
            trainer.explorer.iteration_end(trainer, phase, b, loss)   # NaN guard, observers, stop request
        trainer.explorer.epoch_end(trainer, seconds, continue_training)  # EpochEnd for observers

* **observers** (:mod:`nnunet_explorer.training.hooks`) receive plain scalars after every iteration, validation
  and epoch; a failing observer is detached, not fatal; the time they take is measured;
* **stop**: :meth:`ExplorerHooks.stop` (a Stop button, another thread, an observer) ends the run after the
  current iteration and writes ``model_latest.model`` with the finished epochs;
* **NaN guard** (:mod:`nnunet_explorer.training.nonfinite`): stops at the first non-finite value that is not a
  routine fp16 skip, and says where it appeared;
* **Ctrl-C / SIGTERM** (the command installs one handler, :func:`~nnunet_explorer.training.signals.
  sigterm_as_interrupt`): ``model_latest.model`` is written, the augmentation workers are stopped, the
  interrupt propagates;
* **the one device read**: the trainer's default ``run_iteration`` hands its :class:`~nnunet_explorer.
  training.iteration.IterationRecord` (everything read from the device in one transfer) to
  :meth:`ExplorerHooks.record_iteration`; an overridden ``run_iteration`` that returns only the loss still runs
  (the record is then the loss alone);
* **the epoch's end off the training thread**: ``progress.png`` and the checkpoints are drawn and written by
  background threads while the run lasts (:class:`~nnunet_explorer.training.progress_plot.ProgressPlotter`,
  :class:`~nnunet_explorer.training.checkpoint_saving.CheckpointWriter`; see
  :func:`writes_checkpoints_in_background` for the trainers that keep v1's synchronous writes), and both are
  finished before ``run_training`` returns.

None of this changes what v1 computes: every iteration's numbers are v1's. What the explorer adds can only
end a run early: the Stop button, Ctrl-C/SIGTERM, and the NaN guard, which stops at the first non-finite value
where v1 trains on (``guard_nonfinite=False`` trains on, as v1).
"""
from __future__ import annotations

import atexit
import math
import threading
import time
import weakref
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ..language import tr
from ..training import augmenter as _augmenter  # noqa: F401 - its exit handler first (see _stop_background_runs)
from ..training.checkpoint_saving import BEST, FINAL, LATEST
from ..training.hooks import EpochEnd, IterationEnd, LoopControl, TrainEnd, TrainStart, ValidationEnd
from ..training.nonfinite import NonFiniteError, NonFiniteGuard, NonFiniteReport

DATA_WAIT_LINE = "data wait %.2f s / compute %.2f s"
"""The epoch's log line: seconds the iterations waited for their batches, seconds they computed (machine-read by
:mod:`nnunet_explorer.inspection`, so in one language, as v1's own log lines)."""


class StopTraining(Exception):
    """A stop was requested (an observer, :meth:`ExplorerHooks.stop`, a Stop button); caught by the run."""


@dataclass(frozen=True)
class LossRecord:
    """What the loop knows of an iteration whose ``run_iteration`` was overridden: the returned loss only."""

    loss: float
    nonfinite: str | None
    learning_rate: float
    step_skipped: bool = False
    seconds_total: float = 0.0
    scale_parts: tuple = ()
    grad_norm_before_clip: float | None = None
    online_evaluation: Any = None


@dataclass(frozen=True)
class TrainingResult:
    """What a finished (or stopped) ``run_training`` leaves for the caller: curves, files, why it ended."""

    output_folder: Path
    epochs: tuple[EpochEnd, ...]
    stopped_early: bool
    reason: str
    final_checkpoint: Path | None
    log_file: Path | None
    hook_seconds: float
    iterations: int
    all_tr_losses: tuple[float, ...] = ()
    all_val_losses: tuple[float, ...] = ()
    all_val_eval_metrics: tuple[float, ...] = ()

    def summary(self) -> str:
        last = self.epochs[-1] if self.epochs else None
        tail = tr(f"; last epoch {last.epoch}: train loss {last.train_loss:.4f}, val loss {last.val_loss:.4f}, "
                  f"global Dice {last.mean_global_dice:.4f}",
                  f";最后一个 epoch {last.epoch}:训练损失 {last.train_loss:.4f},验证损失 {last.val_loss:.4f},"
                  f"全局 Dice {last.mean_global_dice:.4f}") if last else ""
        end = (tr("stopped early: ", "提前停止:") + self.reason if self.stopped_early else tr("finished", "已完成"))
        return tr(f"{len(self.epochs)} epoch(s) in {self.output_folder}", f"{len(self.epochs)} 个 epoch,位于 "
                  f"{self.output_folder}") + tail + tr("; ", ";") + end


class ExplorerHooks:
    """The explorer's additions to one trainer's training loop (see the module docstring).

    Attributes:
        observers: objects with some of ``on_train_start``, ``on_epoch_start``, ``on_iteration_end``,
            ``on_validation_end``, ``on_epoch_end``, ``on_train_end`` (attach with :meth:`attach`).
        control: the stop handle (thread-safe).
        guard_nonfinite: stop on NaN/Inf (default True; False trains on through anything, as v1).
        result: the :class:`TrainingResult` of the last ``run_training``.
    """

    def __init__(self) -> None:
        self.observers: list[Any] = []
        self.control = LoopControl()
        self.guard_nonfinite = True
        self.plot_progress = True  # progress.png every epoch (off: saves ~0.5 s per epoch in tests)
        self.progress_plotter: Any = None  # the background ProgressPlotter while run_training runs
        self.checkpoint_writer: Any = None  # the background CheckpointWriter while run_training runs (or None)
        self.log_muted = False
        self.hook_seconds = 0.0
        self.result: TrainingResult | None = None
        # (fold, splits in splits_final.pkl, validation keys) when nnUNetTrainerV2.do_split drew its random 80:20
        # split, else None; set by do_split itself, so a trainer whose own do_split makes another split (or replaces
        # the one super() drew) is not called random
        self.random_split: tuple[int, int, tuple[str, ...]] | None = None
        self.epochs: list[EpochEnd] = []
        self.iterations = 0
        self.guard: NonFiniteGuard | None = None
        self._record: Any = None
        self._data_seconds = 0.0
        self._epoch: dict[str, Any] = {}
        self._saved: list[str] = []

    # ------------------------------------------------------------------------------------- public
    def attach(self, *observers: Any) -> "ExplorerHooks":
        """Add observers (live plots, loggers, tests); they are called at every named point of the loop."""
        self.observers.extend(observers)
        return self

    def stop(self, reason: str = "stop() called") -> None:
        """Ask the loop to end after the current iteration (it writes ``model_latest.model``). Thread-safe."""
        self.control.request_stop(reason)

    def checkpoint_saved(self, fname: str) -> None:
        """Called by ``save_checkpoint``: the epoch's event lists the files written."""
        self._saved.append(Path(fname).name)

    def take_record(self) -> Any:
        """The record of the last iteration (None if ``run_iteration`` was overridden), forgotten afterwards."""
        record, self._record = self._record, None
        return record

    @contextmanager
    def muted_log(self) -> Iterator[None]:
        """A look at the trainer (the walkthrough's) writes nothing into the training log."""
        before, self.log_muted = self.log_muted, True
        try:
            yield
        finally:
            self.log_muted = before

    def record_iteration(self, record: Any, data_seconds: float = 0.0) -> None:
        """Called by the trainer's own ``run_iteration`` with its one-read record (and the batch wait)."""
        self._record = record
        self._data_seconds = data_seconds

    # --------------------------------------------------------------------------- the named points
    def choose_augmentation(self, trainer: Any, *, single_threaded: bool = False) -> Any:
        """After ``initialize``: where the augmentation computes (``trainer.augment_on``, ``--augment_on``).

        ``workers`` keeps the trainer's augmenters (v1: batchgenerators in the worker processes); ``device``
        replaces ``tr_gen`` / ``val_gen`` by :class:`~nnunet_explorer.training.device_augmenter.DeviceAugmenter`
        versions of them (same loaders, seeds and transforms; the draws in the workers, the arithmetic on the
        training device); ``auto`` chooses device on CUDA, unless the run is deterministic or single-threaded or
        the trainer brings its own generator. One line in the training log says which path runs and why; for
        the device path, where each transform runs. Returns the
        :class:`~nnunet_explorer.training.device_augmenter.AugmentationChoice`.
        """
        from ..training.augmenter import MultiProcessAugmenter
        from ..training.device_augmenter import DeviceAugmenter, choose_augmentation

        params = list(trainer.network.parameters()) if trainer.network is not None else []
        device = params[0].device if params else trainer.device
        choice = choose_augmentation(str(getattr(trainer, "augment_on", "auto")), device=device,
                                     deterministic=bool(getattr(trainer, "deterministic", False)),
                                     single_threaded=single_threaded, tr_gen=trainer.tr_gen)
        flag = f"--augment_on {choice.requested}" + (f": {choice.reason}" if choice.reason else "")
        if choice.path != "device":
            n = getattr(trainer.tr_gen, "num_processes", None)
            where = tr("in the training process", "在训练进程中") if choice.path == "in-process" or n is None \
                else tr(f"in {n} worker process(es)", f"在 {n} 个工作进程中")
            trainer.print_to_log_file(tr(f"augmentation: batchgenerators {where} ({flag})",
                                         f"数据增强:batchgenerators {where}({flag})"))
            return choice
        # differs from v1: v1 augments with batchgenerators in its worker processes; here the workers only load
        # and draw, and the transforms' arithmetic runs on the training device (the same batches on the CPU)
        for name in ("tr_gen", "val_gen"):
            old = getattr(trainer, name)
            if not isinstance(old, MultiProcessAugmenter):
                continue  # a validation generator of the trainer's own stays as it is
            new = DeviceAugmenter.from_augmenter(old, device)
            old.shutdown()  # before the new workers start: none of the old ones is left behind
            setattr(trainer, name, new)
        trainer.print_to_log_file(tr(f"augmentation: random draws in {trainer.tr_gen.num_processes} worker "
                                     f"process(es), arithmetic on {device} ({flag})",
                                     f"数据增强:随机数在 {trainer.tr_gen.num_processes} 个工作进程中抽取,运算在 {device} "
                                     f"上({flag})") + "\n" + trainer.tr_gen.describe())
        return choice

    @contextmanager
    def training(self, trainer: Any) -> Iterator[None]:
        """Around the epochs of ``run_training``: start/end events, stop requests, interrupts, worker shutdown.

        A stop request ends the block quietly (the loop's remaining lines are skipped; ``model_latest.model``
        holds the finished epochs); Ctrl-C/SIGTERM saves the same and re-raises; any other error tells the
        observers that the run ended and propagates.
        """
        from ..training.checkpoint_saving import CheckpointWriter
        from ..training.iteration import uses_grad_scaler
        from ..training.progress_plot import ProgressPlotter

        self.control.reset()  # a run stopped earlier continues where it stopped
        self.epochs, self.iterations, self.hook_seconds, self._saved = [], 0, 0.0, []
        self.guard = NonFiniteGuard(fp16=uses_grad_scaler(trainer), enabled=self.guard_nonfinite)
        if not trainer.strategy.is_global_zero:
            observers, self.observers = self.observers, []  # only rank 0 feeds live views
        self._emit("on_train_start", TrainStart(
            int(trainer.epoch), int(trainer.max_num_epochs), int(trainer.num_batches_per_epoch),
            int(trainer.num_val_batches_per_epoch), float(trainer.optimizer.param_groups[0]["lr"]),
            str(trainer.output_folder), int(trainer.num_classes or 0), int(trainer.epoch) > 0), trainer)
        stopped, reason = False, "finished"
        self.progress_plotter = ProgressPlotter()  # progress.png off the training thread; closed in `finally`
        if trainer.strategy.is_global_zero and writes_checkpoints_in_background(type(trainer)):
            self.checkpoint_writer = CheckpointWriter()  # checkpoints off the training thread; closed in `finally`
        raising = True  # whether an error leaves this block (sys.exc_info() cannot tell inside a generator)
        try:
            yield
            raising = False
        except StopTraining as stop:
            # differs from v1: v1 has no stop request; the explorer ends after the iteration, saves model_latest
            stopped, reason = True, str(stop)
            try:
                self._save_latest_after_stop(trainer, f"stopping: {reason}; saving {{latest}} (epoch {{epoch}}: "
                                                      "the finished epochs)")
            except Exception as exc:  # model_latest could not be written (or an earlier checkpoint could not)
                self._end(trainer, True, _reason(exc))
                raise
            raising = False
        except KeyboardInterrupt as interrupt:
            # differs from v1: v1 dies on Ctrl-C/SIGTERM without saving (and may leave workers behind)
            from ..training.signals import TerminationRequested

            reason = "SIGTERM" if isinstance(interrupt, TerminationRequested) else "KeyboardInterrupt"
            try:
                self._save_latest_after_stop(trainer, f"{reason}: saving {{latest}} (epoch {{epoch}}: the finished "
                                                      "epochs) before exiting")
            finally:
                self._end(trainer, True, reason)
            raise
        except Exception as exc:
            self._end(trainer, True, _reason(exc))
            raise
        finally:
            if not trainer.strategy.is_global_zero:
                self.observers = observers
            plotter, self.progress_plotter = self.progress_plotter, None
            # the last epoch's progress.png is written before run_training returns
            failed = plotter.close(timeout=120.0)
            if failed is not None:
                trainer.print_to_log_file("failed to plot: ", repr(failed))
            writer, self.checkpoint_writer = self.checkpoint_writer, None
            unwritten = writer.close() if writer is not None else None  # every checkpoint saved is on disk now
            trainer.strategy.finish(trainer)
            if unwritten is not None and raising:
                trainer.print_to_log_file(str(unwritten))  # the error already on its way matters more
                unwritten = None
        if unwritten is not None:  # the loop ended, but a checkpoint it saved did not reach the disk
            self._end(trainer, True, _reason(unwritten))
            raise unwritten
        self._end(trainer, stopped, reason)

    def epoch_start(self, trainer: Any) -> None:
        """Before an epoch's first iteration."""
        assert self.guard is not None
        if self.checkpoint_writer is not None:
            self.checkpoint_writer.raise_if_failed()  # a checkpoint of the last epoch could not be written
        if not trainer.strategy.is_distributed and self.control.stop_requested:
            # a stop asked for at the end of the previous epoch (an observer's on_epoch_end, a click between
            # epochs) ends the run here, before the next epoch's first iteration changes the weights
            raise StopTraining(self.control.reason or "stop requested")
        self.guard.start_epoch()
        self._epoch = {"hooks": self.hook_seconds, "data": 0.0, "compute": 0.0, "tp": [], "fp": [], "fn": []}
        self._emit("on_epoch_start", int(trainer.epoch), trainer)

    def iteration_end(self, trainer: Any, phase: str, iteration: int, loss: Any) -> None:
        """After every ``run_iteration``: the NaN guard, the observers, a pending stop request."""
        record = self._record if self._record is not None else _loss_record(trainer, loss)
        self._record = None
        epoch = int(trainer.epoch)
        waited, self._data_seconds = self._data_seconds, 0.0
        self._epoch["data"] += waited
        self._epoch["compute"] += float(getattr(record, "seconds_total", 0.0))
        assert self.guard is not None
        report = self.guard.verdict(record, phase, epoch, iteration)
        if record.nonfinite is not None and trainer.strategy.any_rank(report is not None):
            # differs from v1: v1 trains on through NaN; see training/nonfinite.py
            raise NonFiniteError(report or NonFiniteReport(record.nonfinite, phase, epoch, iteration, record.loss,
                                                           record.learning_rate))
        if phase == "training":
            self.iterations += 1
            if self.observers:
                parts = [p for p in getattr(record, "scale_parts", ()) if p.computed]
                ce = sum(p.weight * p.ce for p in parts if p.ce is not None) if parts else None
                dc = sum(p.weight * p.dice for p in parts if p.dice is not None) if parts else None
                self._emit("on_iteration_end", IterationEnd(
                    epoch, iteration, float(record.loss), None if ce is None else float(ce),
                    None if dc is None else float(dc), float(record.learning_rate), record.grad_norm_before_clip,
                    waited, float(getattr(record, "seconds_total", 0.0))), trainer)
        else:
            counts = getattr(record, "online_evaluation", None)
            if counts is not None:
                self._epoch["tp"].append(list(counts.tp))
                self._epoch["fp"].append(list(counts.fp))
                self._epoch["fn"].append(list(counts.fn))
        trainer.strategy.observe_iteration(record, phase == "training")
        # under DDP the request travelled with the iteration's one read, so every rank stops at the same point
        stop = getattr(record, "stop_anywhere", False) if trainer.strategy.is_distributed \
            else self.control.stop_requested
        if stop:
            raise StopTraining(self.control.reason or "stop requested on another process")

    def epoch_end(self, trainer: Any, seconds: float, continue_training: bool | None = None) -> None:
        """After ``on_epoch_end`` (which returned ``continue_training``): the epoch's summary event (observers),
        fp16 skips logged."""
        assert self.guard is not None
        if self.guard.skipped_this_epoch:
            # differs from v1: v1 says nothing when its GradScaler skips a step
            trainer.print_to_log_file(f"fp16: the GradScaler skipped {self.guard.skipped_this_epoch} optimizer "
                                      "step(s) this epoch (Inf/NaN in the scaled gradients; routine: it lowered its "
                                      "scale)")
        # differs from v1: v1 logs no split of the epoch's time; one line per epoch, read back by `inspect`
        trainer.print_to_log_file(DATA_WAIT_LINE % (self._epoch.get("data", 0.0), self._epoch.get("compute", 0.0)))
        from ..training.online_evaluation import global_dice

        per_class = global_dice(self._epoch["tp"], self._epoch["fp"], self._epoch["fn"])[0] if self._epoch.get("tp") \
            else []
        mean_dice = float(trainer.all_val_eval_metrics[-1]) if trainer.all_val_eval_metrics else math.nan
        val_loss = float(trainer.all_val_losses[-1]) if trainer.all_val_losses else math.nan
        self._emit("on_validation_end", ValidationEnd(int(trainer.epoch), val_loss, tuple(per_class), mean_dice),
                   trainer)
        saved = tuple(self._saved)
        self._saved = []
        event = EpochEnd(int(trainer.epoch), float(trainer.all_tr_losses[-1]), val_loss, mean_dice,
                         _f(trainer.val_eval_criterion_MA), _f(trainer.train_loss_MA),
                         float(trainer.optimizer.param_groups[0]["lr"]), float(seconds), self._epoch.get("data", 0.0),
                         self._epoch.get("compute", 0.0), self.hook_seconds - self._epoch.get("hooks", 0.0),
                         saved, BEST in saved,
                         None if continue_training is None else bool(continue_training))
        self.epochs.append(event)
        self._emit("on_epoch_end", event, trainer)

    # ------------------------------------------------------------------------------------ helpers
    def _emit(self, hook: str, payload: Any, trainer: Any) -> None:
        if not self.observers:
            return
        start = time.perf_counter()
        for observer in list(self.observers):
            method = getattr(observer, hook, None)
            if method is None:
                continue
            try:
                method(payload)
            except Exception as exc:  # noqa: BLE001 - a broken live view must not end a long training
                self.observers.remove(observer)
                trainer.print_to_log_file(f"observer {type(observer).__name__}.{hook} raised "
                                          f"{type(exc).__name__}: {exc}; it is detached, training continues")
        self.hook_seconds += time.perf_counter() - start

    def _save_latest_after_stop(self, trainer: Any, what: str) -> None:
        """Drop the interrupted epoch's partial values and write ``model_latest.model`` with the finished ones."""
        finished = int(trainer.epoch)
        for name in ("all_tr_losses", "all_val_losses", "all_val_losses_tr_mode", "all_val_eval_metrics"):
            setattr(trainer, name, list(getattr(trainer, name))[:finished])
        trainer.print_to_log_file(what.format(latest=LATEST, epoch=finished))
        if trainer.save_intermediate_checkpoints:
            # save_checkpoint stores epoch + 1 (v1): the finished epochs are `finished`
            trainer.epoch = finished - 1
            try:
                trainer.save_checkpoint(str(Path(trainer.output_folder) / LATEST))
            finally:
                trainer.epoch = finished

    def _end(self, trainer: Any, stopped: bool, reason: str) -> None:
        """However the run ends: stop the augmentation workers, keep the result, send ``TrainEnd``."""
        shutdown_augmenters(trainer)
        final = Path(trainer.output_folder) / FINAL
        final_path = final if (not stopped and final.is_file()) else None
        log = getattr(trainer, "log_file", None)
        self.result = TrainingResult(
            Path(trainer.output_folder), tuple(self.epochs), stopped, reason, final_path,
            Path(log) if log else None, self.hook_seconds, self.iterations,
            tuple(float(x) for x in trainer.all_tr_losses), tuple(float(x) for x in trainer.all_val_losses),
            tuple(float(x) for x in trainer.all_val_eval_metrics))
        summary = {"train_loss": float(trainer.all_tr_losses[-1]) if trainer.all_tr_losses else math.nan,
                   "val_loss": float(trainer.all_val_losses[-1]) if trainer.all_val_losses else math.nan,
                   "mean_global_dice": float(trainer.all_val_eval_metrics[-1]) if trainer.all_val_eval_metrics
                   else math.nan, "hook_seconds": self.hook_seconds}
        # the last finished epoch: after the loop v1 steps self.epoch back to it; a stop or an error leaves
        # self.epoch at the epoch it interrupted (or the next one, when it came between epochs)
        last = int(trainer.epoch) - 1 if stopped else int(trainer.epoch)
        self._emit("on_train_end", TrainEnd(last, stopped, reason,
                                            None if final_path is None else str(final_path), summary), trainer)


def _reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _f(value: Any) -> float | None:
    return None if value is None else float(value)


def _loss_record(trainer: Any, loss: Any) -> LossRecord:
    """The record of an iteration whose ``run_iteration`` was overridden (v1-style: it returns the loss)."""
    value = float(np.asarray(loss, dtype=np.float64).reshape(-1)[0]) if loss is not None else math.nan
    return LossRecord(value, None if math.isfinite(value) else "loss",
                      float(trainer.optimizer.param_groups[0]["lr"]))


# The methods of v1's loop that write or may look at the checkpoint files: a class of the user's that overrides
# one of them may expect the file on disk when save_checkpoint returns (v1's contract), e.g. to copy it.
CHECKPOINT_METHODS = ("save_checkpoint", "maybe_save_checkpoint", "manage_patience", "on_epoch_end", "run_training")


def writes_checkpoints_in_background(trainer_class: type) -> bool:
    """Whether ``run_training`` may hand the checkpoints to a background writer (see ``CheckpointWriter``).

    Yes when each of :data:`CHECKPOINT_METHODS` comes from the explorer's own classes (its port of v1's trainers
    and variants); no as soon as a class from elsewhere (a user's trainer file, a v1 variant file loaded as it
    is) defines one: then every checkpoint is on disk when ``save_checkpoint`` returns, as in v1.
    """
    for name in CHECKPOINT_METHODS:
        owner = next((cls for cls in trainer_class.__mro__ if name in vars(cls)), None)
        if owner is not None and not owner.__module__.startswith("nnunet_explorer."):
            return False
    return True


def shutdown_augmenters(trainer: Any) -> None:
    """Stop the augmentation workers of ``trainer.tr_gen`` / ``val_gen`` (a failure here masks nothing)."""
    for name in ("tr_gen", "val_gen"):
        gen = getattr(trainer, name, None)
        shutdown = getattr(gen, "shutdown", None) or getattr(gen, "_finish", None)
        if callable(shutdown):
            try:
                shutdown()
            except Exception:  # noqa: BLE001 - shutting down must not mask the original error
                pass


# ------------------------------------------------------------------------------------- background
class TrainingHandle:
    """``trainer.run_training()`` running in a background thread (a notebook's live view stays responsive).

    ``stop()`` asks it to end after the current iteration; ``join(timeout)`` waits; ``result()`` waits and
    returns the :class:`TrainingResult` or raises the run's exception.
    """

    def __init__(self, trainer: Any) -> None:
        self.trainer = trainer
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def _start(self) -> None:
        def target() -> None:
            try:
                self.trainer.run_training()
            except BaseException as exc:  # noqa: BLE001 - handed to the caller by result()
                self._error = exc

        self._thread = threading.Thread(target=target, name="nnunet-explorer-training", daemon=True)
        self._thread.start()

    def stop(self, reason: str = "stop() called") -> None:
        self.trainer.explorer.stop(reason)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the run to end; True when it has ended."""
        assert self._thread is not None
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def done(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()

    @property
    def error(self) -> BaseException | None:
        return self._error

    def result(self, timeout: float | None = None) -> TrainingResult:
        if not self.join(timeout):
            raise TimeoutError("the training run is still going; call stop() or wait longer")
        if self._error is not None:
            raise self._error
        assert self.trainer.explorer.result is not None
        return self.trainer.explorer.result


_BACKGROUND: "weakref.WeakSet[TrainingHandle]" = weakref.WeakSet()
EXIT_WAIT_SECONDS = 60.0
"""How long the interpreter's exit waits for a background run to reach the end of its iteration."""
EXIT_REASON = "the Python process is exiting"


def run_in_background(trainer: Any, observers: Sequence[Any] = ()) -> TrainingHandle:
    """Start ``trainer.run_training()`` in a thread with ``observers`` attached; returns its handle.

    Should the interpreter exit while the run goes on (a notebook kernel shut down, a script that never joins),
    the run is stopped as the Stop button stops it: after the current iteration, with ``model_latest.model``
    written (resume with ``-c``, which takes an older ``model_final_checkpoint.model`` first, as v1 does).
    """
    trainer.explorer.attach(*observers)
    handle = TrainingHandle(trainer)
    handle._start()
    _BACKGROUND.add(handle)
    return handle


@atexit.register
def _stop_background_runs() -> None:
    # The training thread is a daemon: left alone, the interpreter would freeze it in the middle of an iteration
    # and tear torch down under it. Registered after the augmenters' exit handler (imported above), so it runs
    # before it (atexit runs last-in first-out): the run ends its iteration with its workers still there, then
    # shuts them down itself.
    running = [handle for handle in list(_BACKGROUND) if not handle.done]
    for handle in running:
        handle.stop(EXIT_REASON)
    for handle in running:
        handle.join(EXIT_WAIT_SECONDS)


__all__ = ["CHECKPOINT_METHODS", "DATA_WAIT_LINE", "ExplorerHooks", "LossRecord", "StopTraining", "TrainingHandle",
           "TrainingResult", "run_in_background", "shutdown_augmenters", "writes_checkpoints_in_background"]
