"""The training loop: ``nnUNetTrainerV2.run_training`` — epochs, online evaluation, checkpoints, logs.

What ``nnUNet_train 3d_fullres nnUNetTrainerV2 TASK FOLD`` does once the trainer is initialized (v1's
``NetworkTrainer.run_training`` wrapped by ``nnUNetTrainer.run_training`` and ``nnUNetTrainerV2.run_training``)::

    maybe_update_lr(epoch)              # poly LR of the (possibly resumed) start epoch
    network.do_ds = True
    save_debug_information()            # debug.json in the fold folder, plans.pkl next to the folds
    next(tr_gen); next(val_gen)         # one batch of each is drawn and thrown away
    while epoch < max_num_epochs:
        log "epoch: e"
        network.train(); num_batches_per_epoch x run_iteration(tr_gen)        -> all_tr_losses
        network.eval();  num_val_batches_per_epoch x run_iteration(val_gen,   -> all_val_losses,
                                           do_backprop=False, online_evaluation)   tp/fp/fn
        update_train_loss_MA()          # 0.93 * MA + 0.07 * loss
        on_epoch_end():
            finish_online_evaluation()  # global Dice per class from the summed tp/fp/fn -> all_val_eval_metrics
            plot_progress()             # progress.png
            maybe_update_lr()           # poly_lr(epoch + 1): the next epoch's rate
            maybe_save_checkpoint()     # model_latest.model every save_every epochs
            update_eval_criterion_MA()  # 0.9 * MA + 0.1 * Dice
            manage_patience()           # model_best.model when the MA beats the best so far
            (V2) at epoch 100 with Dice 0: momentum 0.99 -> 0.95 and fresh He weights
        epoch += 1
    epoch -= 1; save model_final_checkpoint.model; delete model_latest.model

:class:`TrainingRun` runs exactly that, with what the explorer adds:

* observers (:mod:`.hooks`) receive plain scalars after every iteration, validation and epoch; the time they
  take is measured; one may ask the loop to stop (``LoopControl.request_stop``), as may :meth:`TrainingRun.stop`
  from another thread — the loop ends after the current iteration and writes ``model_latest.model``;
* a NaN/Inf guard stops at the first non-finite value and says where it appeared (input, output, a loss part,
  a gradient) instead of training on garbage;
* ``KeyboardInterrupt`` (Ctrl-C) writes ``model_latest.model`` and shuts the augmentation workers down before
  it propagates;
* every file is written atomically, so a killed run leaves its previous checkpoint intact and ``-c`` resumes.

The pure bookkeeping rules (moving averages, patience and "best", the scheduled-save rule, the global Dice)
are module functions so that they can be read and tested one by one.
"""
from __future__ import annotations

import math
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch

from ..errors import ConfigurationError, ExplorerError, TrainingError
from ..provenance import mirrors
from .checkpoint_saving import BEST, FINAL, LATEST, checkpoint_dict, model_pkl_info, remove_latest, save_checkpoint_files
from .hooks import EpochEnd, IterationEnd, LoopControl, TrainEnd, TrainStart, ValidationEnd
from .iteration import IterationRecord, make_grad_scaler, run_iteration
from .nonfinite import NonFiniteError, NonFiniteGuard, NonFiniteReport, agree_to_stop
from .progress_log import TrainingLogFile, write_debug_json

DETERMINISTIC_SEED = 12345  # v1's seed with --deterministic


# ----------------------------------------------------------------------------------------- bookkeeping
@dataclass
class LoopState:
    """The trainer attributes v1's loop reads and writes (v1's names), and what a checkpoint stores of them.

    ``epoch`` is v1's ``self.epoch``: the index of the epoch being trained; after ``-c`` it is the number of
    finished epochs stored in the checkpoint. The four lists hold one value per finished epoch (numpy
    float32, as v1's ``np.mean`` of float32 losses gives). The moving averages are *not* stored in
    checkpoints; v1 restarts them after ``-c`` (so does the explorer).
    """

    epoch: int = 0
    all_tr_losses: list = field(default_factory=list)
    all_val_losses: list = field(default_factory=list)
    all_val_losses_tr_mode: list = field(default_factory=list)
    all_val_eval_metrics: list = field(default_factory=list)
    train_loss_MA: float | None = None
    val_eval_criterion_MA: float | None = None
    best_val_eval_criterion_MA: float | None = None
    best_MA_tr_loss_for_patience: float | None = None
    best_epoch_based_on_MA_tr_loss: int | None = None

    @property
    def plot_stuff(self) -> tuple[list, list, list, list]:
        return (list(self.all_tr_losses), list(self.all_val_losses), list(self.all_val_losses_tr_mode),
                list(self.all_val_eval_metrics))

    @property
    def best_stuff(self) -> tuple[Any, Any, Any]:
        return (self.best_epoch_based_on_MA_tr_loss, self.best_MA_tr_loss_for_patience,
                self.best_val_eval_criterion_MA)


@mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer.update_train_loss_MA")
def update_train_loss_MA(state: LoopState, alpha: float = 0.93) -> None:
    """First epoch: the MA is the epoch's training loss; then ``alpha * MA + (1 - alpha) * loss``."""
    if state.train_loss_MA is None:
        state.train_loss_MA = state.all_tr_losses[-1]
    else:
        state.train_loss_MA = alpha * state.train_loss_MA + (1 - alpha) * state.all_tr_losses[-1]


@mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer.update_eval_criterion_MA")
def update_eval_criterion_MA(state: LoopState, alpha: float = 0.9) -> None:
    """MA of the online Dice estimate (``-val loss`` when no metric is recorded): first value, then
    ``alpha * MA + (1 - alpha) * metric``."""
    if state.val_eval_criterion_MA is None:
        state.val_eval_criterion_MA = (-state.all_val_losses[-1] if not state.all_val_eval_metrics
                                       else state.all_val_eval_metrics[-1])
    elif not state.all_val_eval_metrics:
        state.val_eval_criterion_MA = alpha * state.val_eval_criterion_MA - (1 - alpha) * state.all_val_losses[-1]
    else:
        state.val_eval_criterion_MA = alpha * state.val_eval_criterion_MA + (1 - alpha) * state.all_val_eval_metrics[-1]


@mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer.manage_patience")
def manage_patience(state: LoopState, *, lr: float, patience: int | None = 50, train_loss_MA_eps: float = 5e-4,
                    lr_threshold: float = 1e-6) -> tuple[bool, bool]:
    """v1's patience and "best" bookkeeping; returns ``(continue_training, is_new_best)``.

    The best values are initialised with the current ones on the first call, so the first epoch is never a
    new best: ``model_best.model`` appears when the Dice MA first *strictly* improves. V2 ignores the
    ``continue_training`` answer (it always trains ``max_num_epochs`` epochs).
    """
    continue_training, new_best = True, False
    if patience is None:
        return continue_training, new_best
    if state.best_MA_tr_loss_for_patience is None:
        state.best_MA_tr_loss_for_patience = state.train_loss_MA
    if state.best_epoch_based_on_MA_tr_loss is None:
        state.best_epoch_based_on_MA_tr_loss = state.epoch
    if state.best_val_eval_criterion_MA is None:
        state.best_val_eval_criterion_MA = state.val_eval_criterion_MA
    if state.val_eval_criterion_MA > state.best_val_eval_criterion_MA:
        state.best_val_eval_criterion_MA = state.val_eval_criterion_MA
        new_best = True
    if state.train_loss_MA + train_loss_MA_eps < state.best_MA_tr_loss_for_patience:
        state.best_MA_tr_loss_for_patience = state.train_loss_MA
        state.best_epoch_based_on_MA_tr_loss = state.epoch
    if state.epoch - state.best_epoch_based_on_MA_tr_loss > patience:
        if lr > lr_threshold:
            state.best_epoch_based_on_MA_tr_loss = state.epoch - patience // 2
        else:
            continue_training = False
    return continue_training, new_best


@mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer.maybe_save_checkpoint")
def is_scheduled_save(epoch: int, save_every: int, save_intermediate_checkpoints: bool = True) -> bool:
    """``model_latest.model`` is written after epochs ``save_every - 1``, ``2 * save_every - 1``, ... (v1: 49, 99, ...)."""
    return bool(save_intermediate_checkpoints) and epoch % save_every == save_every - 1


@mirrors("nnunet.training.network_training.nnUNetTrainer:nnUNetTrainer.finish_online_evaluation")
def global_dice(tp: Sequence[Sequence[float]], fp: Sequence[Sequence[float]], fn: Sequence[Sequence[float]]
                ) -> tuple[list, Any]:
    """v1's "Average global foreground Dice": sum tp/fp/fn of all validation batches, then ``2tp/(2tp+fp+fn)``.

    Args:
        tp, fp, fn: one row per validation batch, one column per foreground class.

    Returns:
        ``(per_class, mean)``: classes whose Dice is undefined (never present, never predicted: 0/0) are
        dropped, as in v1; ``mean`` is their ``np.mean`` (NaN when every class was dropped).
    """
    tp_s = np.sum(np.asarray(tp, dtype=np.float32), 0)
    fp_s = np.sum(np.asarray(fp, dtype=np.float32), 0)
    fn_s = np.sum(np.asarray(fn, dtype=np.float32), 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_class = [d for d in [2 * i / (2 * i + j + k) for i, j, k in zip(tp_s, fp_s, fn_s)] if not np.isnan(d)]
    with np.errstate(invalid="ignore"), _quiet_mean_of_empty():
        mean = np.mean(per_class) if per_class else np.float32(np.nan)
    return per_class, mean


class _quiet_mean_of_empty:
    def __enter__(self) -> None:
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc: Any) -> None:
        self._ctx.__exit__(*exc)


@mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer.on_epoch_end")
def after_online_evaluation(state: LoopState, trainer: Any, *, set_lr: Callable[[int], float],
                            save: Callable[[str], Any], log: Callable[..., None] | None = None
                            ) -> tuple[float, list[str], bool]:
    """The rest of v1's ``on_epoch_end`` once the epoch's Dice is appended (and progress.png drawn).

    In v1's order: ``maybe_update_lr`` (``set_lr(epoch + 1)``: the next epoch's rate), ``maybe_save_checkpoint``
    (``model_latest.model`` — and ``model_ep_XXX.model`` unless ``save_latest_only`` — after epochs
    ``save_every - 1``, ``2 save_every - 1``, ...), ``update_eval_criterion_MA``, ``manage_patience`` (with the
    rate just set) and ``model_best.model`` when the Dice MA strictly improved. ``save(name)`` writes a
    checkpoint. Returns ``(lr_next, saved file names, is_new_best)``.
    """
    say = log or (lambda *a: None)
    lr_next = set_lr(state.epoch + 1)
    saved: list[str] = []
    if is_scheduled_save(state.epoch, int(trainer.save_every), bool(trainer.save_intermediate_checkpoints)):
        say("saving scheduled checkpoint file...")
        if not trainer.save_latest_only:
            name = "model_ep_%03.0d.model" % (state.epoch + 1)
            save(name)
            saved.append(name)
        save(LATEST)
        saved.append(LATEST)
        say("done")
    update_eval_criterion_MA(state, float(trainer.val_eval_criterion_alpha))
    _, new_best = manage_patience(state, lr=float(lr_next), patience=trainer.patience,
                                  train_loss_MA_eps=float(trainer.train_loss_MA_eps),
                                  lr_threshold=float(trainer.lr_threshold))
    if new_best and trainer.save_best_checkpoint:
        save(BEST)
        saved.append(BEST)
    return float(lr_next), saved, new_best


# ------------------------------------------------------------------------------------------- records
@dataclass(frozen=True)
class TrainingResult:
    """What :meth:`TrainingRun.run` returns."""

    output_folder: Path
    state: LoopState
    epochs: tuple[EpochEnd, ...]
    stopped_early: bool
    reason: str
    final_checkpoint: Path | None
    log_file: Path | None
    hook_seconds: float
    iterations: int
    pretrained_report: Any = None

    def summary(self) -> str:
        last = self.epochs[-1] if self.epochs else None
        tail = (f"; last epoch {last.epoch}: train loss {last.train_loss:.4f}, val loss {last.val_loss:.4f}, "
                f"global Dice {last.mean_global_dice:.4f}") if last else ""
        return (f"{len(self.epochs)} epoch(s) in {self.output_folder}{tail}; "
                f"{'stopped early: ' + self.reason if self.stopped_early else 'finished'}")


# -------------------------------------------------------------------------------------------- observers
_HOOKS = ("on_train_start", "on_epoch_start", "on_iteration_end", "on_validation_end", "on_epoch_end",
          "on_train_end")


class _Observers:
    """Calls observers, measures the time they take; an observer that raises is detached (and reported)."""

    def __init__(self, observers: Iterable[Any], log: Callable[..., None]) -> None:
        self.observers = list(observers)
        self.log = log
        self.seconds = 0.0
        self.calls = 0

    def emit(self, hook: str, payload: Any) -> float:
        if not self.observers:
            return 0.0
        start = time.perf_counter()
        for observer in list(self.observers):
            method = getattr(observer, hook, None)
            if method is None:
                continue
            self.calls += 1
            try:
                method(payload)
            except Exception as exc:  # noqa: BLE001 - a broken live view must not end a long training
                self.observers.remove(observer)
                self.log(f"observer {type(observer).__name__}.{hook} raised {type(exc).__name__}: {exc}; "
                         "it is detached, training continues")
        spent = time.perf_counter() - start
        self.seconds += spent
        return spent


class _StopNow(Exception):
    """Internal: a stop was requested (observer, stop(), Stop button)."""


# ----------------------------------------------------------------------------------------------- run
class TrainingRun:
    """One ``nnUNet_train`` training run: v1's loop over epochs, observable and stoppable.

    Build it from a training walkthrough (``training_walkthrough(...)``, whose steps provide the trainer,
    plans, augmentation, loss, data and network) or from ``nnUNet_train``'s arguments with
    :func:`nnunet_explorer.walkthrough.training_run_from_args`. Constructing it does no work; :meth:`run` trains.

    Args:
        pipeline: a training walkthrough pipeline (its steps up to ``network`` are run if needed).
        device: ``"cuda"`` or ``"cpu"`` (default: CUDA when available, as v1 always trains on the GPU).
        single_threaded: augment in the training process instead of worker processes (default: only with
            ``--deterministic``, because v1's unseeded workers make batches irreproducible).
        echo: print log entries to the console as v1 does.
        guard_nonfinite: stop with :class:`NonFiniteError` at the first NaN/Inf.
        save_every: override the trainer's ``save_every`` (v1: 50 epochs between ``model_latest`` writes).
        plot_progress: write ``progress.png`` after every epoch (v1 does; it takes ~0.5 s).
        overwrite: start over in a fold folder that already holds checkpoints (v1 does so silently; the
            explorer refuses unless asked, so a forgotten ``-c`` cannot destroy a long training).
    """

    def __init__(self, pipeline: Any, *, device: str | None = None, single_threaded: bool | None = None,
                 echo: bool = True, guard_nonfinite: bool = True, save_every: int | None = None,
                 plot_progress: bool = True, overwrite: bool = False) -> None:
        self.pipeline = pipeline
        self.overwrite = overwrite
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.single_threaded = single_threaded
        self.echo = echo
        self.guard_nonfinite = guard_nonfinite
        self.save_every = save_every
        self.plot_progress = plot_progress
        self.control = LoopControl()
        self.state = LoopState()
        self.log: TrainingLogFile | None = None
        self.network: torch.nn.Module | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.lr_scheduler: Any = None
        self.grad_scaler: Any = None
        self.pretrained_report: Any = None
        self._augmenters: list[Any] = []
        self._finished = False

    def __repr__(self) -> str:
        name = getattr(self.pipeline, "name", "training run")
        where = "not set up" if self.network is None else f"at epoch {self.state.epoch}"
        return f"<TrainingRun {name}, {where}, device {self.device}>"

    # ---------------------------------------------------------------------------------------- control
    def stop(self, reason: str = "stop() called") -> None:
        """Ask the loop to end after the current iteration (it writes ``model_latest.model``). Thread-safe."""
        self.control.request_stop(reason)

    def run_in_background(self, observers: Sequence[Any] = ()) -> "TrainingHandle":
        """Start :meth:`run` in a thread and return a handle (``stop()``, ``join()``, ``result()``)."""
        handle = TrainingHandle(self)
        handle._start(observers)
        return handle

    # ------------------------------------------------------------------------------------------ setup
    @property
    def trainer(self) -> Any:
        return self.pipeline["trainer"]

    @property
    def run_args(self) -> Any:
        return self.pipeline["parsed_arguments"]

    @property
    def output_folder(self) -> Path:
        folder = self.trainer.output_folder
        if folder is None:
            raise ConfigurationError("the trainer has no output folder", fix="build it through the configuration")
        return Path(folder)

    def _say(self, *args: Any, also_print_to_console: bool = True) -> None:
        if self.log is not None:
            self.log(*args, also_print_to_console=also_print_to_console)

    def _set_lr(self, epoch: int | None) -> float:
        """The trainer's v1 ``maybe_update_lr(epoch)`` (V2: ``poly_lr`` into ``param_groups[0]``, logged rounded to
        6 places); v1 passes the start epoch before training and nothing (``self.epoch + 1``) after each epoch."""
        trainer, state = self.trainer, self.state
        trainer.optimizer, trainer.lr_scheduler = self.optimizer, self.lr_scheduler
        trainer.epoch, trainer.train_loss_MA = state.epoch, state.train_loss_MA
        trainer.all_tr_losses, trainer.all_val_losses = state.all_tr_losses, state.all_val_losses
        trainer.all_val_eval_metrics = state.all_val_eval_metrics
        trainer.maybe_update_lr(epoch)
        return float(self.optimizer.param_groups[0]["lr"])

    def setup(self) -> None:
        """Everything before the first epoch: the walkthrough's steps, the log, the optimizer, checkpoints.

        Idempotent. Mirrors ``run_training.main`` from constructing the trainer to ``-c`` /
        ``-pretrained_weights``.
        """
        if self.network is not None:
            return
        if str(self.device).startswith("cuda") and not torch.cuda.is_available():
            raise ConfigurationError(f"device {self.device!r} requested but torch sees no CUDA GPU",
                                     fix="train with --device cpu (slow), or install a CUDA build of torch")
        p = self.pipeline
        args = self.run_args
        trainer = self.trainer
        if self.save_every is not None:
            if int(self.save_every) < 1:
                raise ConfigurationError(f"save_every must be at least 1, got {self.save_every}",
                                         fix="give save_every >= 1")
            trainer.override("explorer knob", save_every=int(self.save_every))
        for hook in ("initialize_optimizer_and_scheduler", "maybe_update_lr"):
            if not callable(getattr(trainer, hook, None)):
                raise ConfigurationError(f"{type(trainer).__name__} has no {hook} hook; the explorer's loop runs "
                                         "nnUNetTrainerV2-style trainers", fix="derive the trainer from nnUNetTrainerV2")
        existing = sorted(q.name for q in self.output_folder.glob("model_*.model")) if self.output_folder.is_dir() else []
        if existing and not args.continue_training and not args.validation_only and not self.overwrite:
            # differs from v1: v1 silently starts over and overwrites the checkpoints of a previous run
            raise TrainingError(f"{self.output_folder} already holds checkpoints ({', '.join(existing)})",
                                fix="continue that training with -c, move the folder away, or pass "
                                    "overwrite=True (--overwrite_training) to start over")
        self.log = TrainingLogFile(self.output_folder, echo=self.echo)
        if args.deterministic:
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
        else:
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = False, True
        # v1's initialize order: plans, DA params, loss, data (split, loaders, unpacking), network, optimizer
        p.run(until="dataset")
        splits_file = Path(p["configuration"].dataset_directory) / "splits_final.pkl"
        split_file_existed = splits_file.is_file()
        p.run(until="split")
        split = p["split"]
        self._log_split(split, splits_file, split_file_existed)
        self._say("TRAINING KEYS:\n %s" % f"odict_keys({sorted(split.train)})", also_print_to_console=False)
        self._say("VALIDATION KEYS:\n %s" % f"odict_keys({sorted(split.val)})", also_print_to_console=False)
        # the run trains its own copy: the walkthrough's cached network stays at its initial weights, so a
        # second run (or the walkthrough's iteration step) starts from the same place
        import copy

        self.network = copy.deepcopy(p["network"]).to(self.device)
        trainer.__dict__["_log_writer"] = self._say  # the trainer's print_to_log_file writes to this run's log
        trainer.network = self.network
        trainer.initialize_optimizer_and_scheduler()  # v1's method (an override is honoured)
        self.optimizer, self.lr_scheduler = trainer.optimizer, trainer.lr_scheduler
        fp16 = bool(args.run_mixed_precision)
        self.grad_scaler = make_grad_scaler(fp16, self.device)
        self._has_scaler = fp16  # v1 creates a (CPU-disabled) GradScaler whenever fp16 is on
        self.nonfinite_guard = NonFiniteGuard(fp16=self.grad_scaler is not None, enabled=self.guard_nonfinite)
        if args.continue_training:
            self.load_latest_checkpoint()
        elif args.pretrained_weights:
            from .pretrained import load_pretrained_weights

            self.pretrained_report = load_pretrained_weights(self.network, args.pretrained_weights)
            self._say(self.pretrained_report.summary())

    @mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.do_split")
    def _log_split(self, split: Any, splits_file: Path, existed: bool) -> None:
        """v1's log lines of ``do_split`` and of the unpacking in ``initialize``."""
        fold = split.fold
        if fold != "all":
            if existed:
                from .splits import load_splits

                self._say("Using splits from existing split file:", str(splits_file))
                n_splits = len(load_splits(splits_file))
                self._say("The split file contains %d splits." % n_splits)
            else:
                self._say("Creating new 5-fold cross-validation split...")
                n_splits = 5
            self._say("Desired fold for training: %d" % int(fold))
            if int(fold) < n_splits:
                self._say("This split has %d training and %d validation cases." % (len(split.train), len(split.val)))
            else:
                self._say("INFO: You requested fold %d for training but splits contain only %d folds. I am now "
                          "creating a random (but seeded) 80:20 split!" % (int(fold), n_splits))
                self._say("This random 80:20 split has %d training and %d validation cases."
                          % (len(split.train), len(split.val)))
        if getattr(self.trainer, "unpack_data", True):
            self._say("unpacking dataset")
            self._say("done")
        else:
            self._say("INFO: Not unpacking data! Training may be slow due to that. Pray you are not using 2d or you "
                      "will wait all winter for your model to finish!")

    # ------------------------------------------------------------------------------------- checkpoints
    def _checkpoint(self, epoch: int) -> dict[str, Any]:
        scaler_state = self.grad_scaler.state_dict() if self.grad_scaler is not None else {}
        return checkpoint_dict(self.network, self.optimizer, epoch, self.state.plot_stuff, self.state.best_stuff,
                               grad_scaler_state=scaler_state, has_grad_scaler=self._has_scaler)

    @mirrors("nnunet.training.network_training.nnUNetTrainer:nnUNetTrainer.save_checkpoint")
    def save_checkpoint(self, name: str, epoch: int | None = None) -> Path:
        """Write ``<fold folder>/<name>`` and ``<name>.pkl`` atomically; ``epoch`` defaults to v1's ``epoch + 1``."""
        path = self.output_folder / name
        self._say("saving checkpoint...")
        info = model_pkl_info(self.trainer.init_args, type(self.trainer), self.trainer.load_plans_file())
        seconds = save_checkpoint_files(path, self._checkpoint(self.state.epoch + 1 if epoch is None else epoch), info)
        self._say("done, saving took %.2f seconds" % seconds)
        return path

    @mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer.load_latest_checkpoint")
    def load_latest_checkpoint(self) -> Path:
        """``-c``: load ``model_final_checkpoint``, else ``model_latest``, else ``model_best`` (v1's preference)."""
        for name in (FINAL, LATEST, BEST):
            path = self.output_folder / name
            if path.is_file():
                self.load_checkpoint(path)
                return path
        raise TrainingError(f"No checkpoint found in {self.output_folder} (-c needs {FINAL}, {LATEST} or {BEST})",
                            fix="start without -c, or point the run at the folder of the interrupted training")

    @mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer.load_checkpoint_ram")
    def load_checkpoint(self, path: str | os.PathLike, train: bool = True) -> None:
        """Restore weights, optimizer, GradScaler, epoch and the loss lists from a v1 checkpoint."""
        from .pretrained import read_checkpoint

        self._say("loading checkpoint", str(path), "train=", train)
        checkpoint = read_checkpoint(path)
        current = set(self.network.state_dict())
        state_dict = {(k[7:] if k not in current and k.startswith("module.") else k): v
                      for k, v in checkpoint["state_dict"].items()}
        try:
            self.network.load_state_dict(state_dict)
        except RuntimeError as exc:
            raise TrainingError(f"{path} does not fit this network: {str(exc).splitlines()[0]}",
                                fix="resume with the same plans, configuration and trainer that wrote it") from None
        if train and self.grad_scaler is not None and "amp_grad_scaler" in checkpoint and checkpoint["amp_grad_scaler"]:
            self.grad_scaler.load_state_dict(checkpoint["amp_grad_scaler"])
        s = self.state
        s.epoch = int(checkpoint["epoch"])
        if train and checkpoint.get("optimizer_state_dict") is not None:
            self.optimizer.load_state_dict(checkpoint["optimizer_state_dict"])
        (s.all_tr_losses, s.all_val_losses, s.all_val_losses_tr_mode,
         s.all_val_eval_metrics) = (list(x) for x in checkpoint["plot_stuff"])
        if "best_stuff" in checkpoint:
            s.best_epoch_based_on_MA_tr_loss, s.best_MA_tr_loss_for_patience, s.best_val_eval_criterion_MA = \
                checkpoint["best_stuff"]
        if s.epoch != len(s.all_tr_losses):
            self._say("WARNING in loading checkpoint: self.epoch != len(self.all_tr_losses). This is due to an old "
                      "bug and should only appear when you are loading old models. New models should have this "
                      "fixed! self.epoch is now set to len(self.all_tr_losses)")
            s.epoch = len(s.all_tr_losses)
            s.all_tr_losses, s.all_val_losses = s.all_tr_losses[:s.epoch], s.all_val_losses[:s.epoch]
            s.all_val_losses_tr_mode = s.all_val_losses_tr_mode[:s.epoch]
            s.all_val_eval_metrics = s.all_val_eval_metrics[:s.epoch]

    # ------------------------------------------------------------------------------------------ helpers
    def _debug_attributes(self) -> dict[str, Any]:
        p, trainer = self.pipeline, self.trainer
        attrs: dict[str, Any] = {}
        attrs.update({k: v for k, v in vars(trainer).items() if not k.startswith("_")})
        attrs.update(trainer.hyperparameters())
        processed = p["plans_processed"]
        attrs.update({k: getattr(processed, k) for k in getattr(processed, "__dataclass_fields__", {})})
        aug = p["augmentation_parameters"]
        attrs.update(data_aug_params=dict(aug.data_aug_params), basic_generator_patch_size=aug.basic_generator_patch_size,
                     patch_size=aug.patch_size, deep_supervision_scales=aug.deep_supervision_scales,
                     ds_loss_weights=p["deep_supervision"].weights, experiment_name=trainer.experiment_name,
                     output_folder=self.output_folder, output_folder_base=trainer.output_folder_base,
                     gt_niftis_folder=trainer.gt_niftis_folder, init_args=trainer.init_args, epoch=self.state.epoch,
                     folder_with_preprocessed_data=p["configuration"].folder_with_preprocessed_data,
                     log_file=self.log.path if self.log else None, was_initialized=True, loss=p["loss"],
                     network=self.network, optimizer=self.optimizer, lr_scheduler=None,
                     amp_grad_scaler=self.grad_scaler, all_tr_losses=self.state.all_tr_losses,
                     all_val_losses=self.state.all_val_losses, all_val_eval_metrics=self.state.all_val_eval_metrics,
                     all_val_losses_tr_mode=self.state.all_val_losses_tr_mode, train_loss_MA=self.state.train_loss_MA,
                     val_eval_criterion_MA=self.state.val_eval_criterion_MA, fp16=trainer.fp16,
                     deterministic=trainer.deterministic, online_eval_tp=[], online_eval_fp=[], online_eval_fn=[],
                     online_eval_foreground_dc=[])
        return attrs

    @mirrors("nnunet.training.network_training.nnUNetTrainer:nnUNetTrainer.save_debug_information")
    def save_debug_information(self) -> None:
        """``debug.json`` in the fold folder and a copy of the plans file as ``<output_folder_base>/plans.pkl``."""
        from ..fileio import write_bytes_atomic

        write_debug_json(self.output_folder, self._debug_attributes())
        base = self.trainer.output_folder_base
        if base is not None:
            write_bytes_atomic(Path(base) / "plans.pkl", Path(self.trainer.plans_file).read_bytes())

    def _make_augmenters(self) -> tuple[Any, Any]:
        from .augmentation import get_moreDA_augmentation
        from .dataloading import make_data_loader, subset

        p, trainer = self.pipeline, self.trainer
        processed, aug, split = p["plans_processed"], p["augmentation_parameters"], p["split"]
        dl_tr = p["dataloader"]
        val_keys = list(split.val) or list(split.train)
        dl_val = make_data_loader(subset(p["dataset"].cases, val_keys), processed.patch_size, processed.patch_size,
                                  processed.batch_size,
                                  oversample_foreground_percent=float(trainer.oversample_foreground_percent),
                                  has_prev_stage=bool(getattr(trainer, "has_prev_stage", False)))
        scales = [list(s) for s in p["deep_supervision"].scales] if getattr(trainer, "deep_supervision", True) \
            else None
        single = self.run_args.deterministic if self.single_threaded is None else self.single_threaded
        tr, val = get_moreDA_augmentation(dl_tr, dl_val, aug.patch_size, aug.data_aug_params, scales,
                                          single_threaded=bool(single),
                                          pin_memory=bool(getattr(trainer, "pin_memory", True)))
        self._augmenters = [tr, val]
        return tr, val

    def _shutdown_augmenters(self) -> None:
        for augmenter in self._augmenters:
            try:
                augmenter.shutdown()
            except Exception:  # noqa: BLE001 - shutting down must not mask the original error
                pass
        self._augmenters = []

    def _targets(self, batch: Mapping[str, Any]) -> Any:
        target = batch["target"]
        return list(target) if isinstance(target, (list, tuple)) else target

    def _check(self, record: IterationRecord, phase: str, iteration: int) -> None:
        # differs from v1: v1 trains on through NaN losses; the explorer stops when one is not routine (fp32, bad
        # data, or fp16 overflows that persist) and says where — see training/nonfinite.py
        report = self.nonfinite_guard.verdict(record, phase, self.state.epoch, iteration)
        if record.nonfinite is None:
            return
        # under DDP every rank sees the flag (it is all-reduced with the loss), so all of them agree here
        if agree_to_stop(report is not None, self.device):
            raise NonFiniteError(report or NonFiniteReport(record.nonfinite, phase, self.state.epoch, iteration,
                                                           record.loss, record.learning_rate))

    def _run_iteration(self, network: torch.nn.Module, *args: Any, **kwargs: Any) -> IterationRecord:
        """:func:`.iteration.run_iteration` for the loop; the distributed run (:mod:`.distributed`) overrides it
        (forward/backward through DDP, loss and tp/fp/fn aggregated across processes)."""
        return run_iteration(network, *args, **kwargs)

    def _maybe_stop(self) -> None:
        if self.control.stop_requested:
            raise _StopNow(self.control.reason or "stop requested")

    # -------------------------------------------------------------------------------------------- run
    @mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.run_training")
    def run(self, observers: Sequence[Any] = ()) -> TrainingResult:
        """Train from the current epoch to ``max_num_epochs`` (v1's ``run_training``); returns a summary.

        Raises:
            NonFiniteError: a NaN/Inf appeared (nothing is saved: the last good checkpoint stays).
            KeyboardInterrupt: after writing ``model_latest.model`` and stopping the augmentation workers.
        """
        self.setup()
        if self._finished:
            raise TrainingError(f"this run already trained to max_num_epochs and wrote {FINAL}",
                                fix="build a new TrainingRun (with -c / continue_training to load it)")
        self.control.reset()  # a run stopped earlier continues where it stopped
        trainer, args, state = self.trainer, self.run_args, self.state
        hooks = _Observers(observers, lambda *a: self._say(*a))
        max_epochs = int(trainer.max_num_epochs)
        n_train, n_val = int(trainer.num_batches_per_epoch), int(trainer.num_val_batches_per_epoch)
        loss = self.pipeline["loss"]
        network = self.network
        clip = float(getattr(trainer, "clip_grad_norm", 12.0))
        use_ds = bool(getattr(trainer, "deep_supervision", True))

        self._set_lr(state.epoch)  # V2: the LR of the start epoch (matters after -c)
        ds_before = getattr(network, "do_ds", None)
        if ds_before is not None:
            network.do_ds = use_ds
        self.save_debug_information()
        if self.device == "cpu" or not torch.cuda.is_available():
            self._say("WARNING!!! You are attempting to run training on a CPU (torch.cuda.is_available() is False). "
                      "This can be VERY slow!")
        if args.deterministic:
            from ..seeding import seed_everything

            seed_everything(DETERMINISTIC_SEED)
        tr_gen, val_gen = self._make_augmenters()
        epochs: list[EpochEnd] = []
        stopped, reason, final_path = False, "finished", None
        iterations = 0
        resumed = state.epoch > 0
        try:
            next(tr_gen)
            next(val_gen)  # v1 draws one batch of each before training (and discards them)
            self._say("Unable to plot network architecture:")
            self._say("(the explorer draws it in the walkthrough's 'architecture' step)")
            self._say("\nprinting the network instead:\n")
            self._say(network)
            self._say("\n")
            hooks.emit("on_train_start", TrainStart(state.epoch, max_epochs, n_train, n_val,
                                                    float(self.optimizer.param_groups[0]["lr"]),
                                                    str(self.output_folder), int(self.pipeline["plans_processed"].num_classes),
                                                    resumed))
            while state.epoch < max_epochs:
                self._say("\nepoch: ", state.epoch)
                epoch_start = time.perf_counter()
                hook_before = hooks.seconds
                hooks.emit("on_epoch_start", state.epoch)
                self.nonfinite_guard.start_epoch()
                data_s = compute_s = 0.0
                # ---- training iterations
                network.train()
                losses = []
                for it in range(n_train):
                    t0 = time.perf_counter()
                    batch = next(tr_gen)
                    t1 = time.perf_counter()
                    record = self._run_iteration(network, loss, self.optimizer, batch["data"], self._targets(batch),
                                           do_backprop=True, fp16=bool(args.run_mixed_precision),
                                           grad_scaler=self.grad_scaler, clip_norm=clip)
                    data_s += t1 - t0
                    compute_s += record.seconds_total
                    iterations += 1
                    self._check(record, "training", it)
                    losses.append(np.float32(record.loss))
                    if hooks.observers:
                        ce = sum(p.weight * p.ce for p in record.scale_parts if p.computed and p.ce is not None)
                        dc = sum(p.weight * p.dice for p in record.scale_parts if p.computed and p.dice is not None)
                        hooks.emit("on_iteration_end", IterationEnd(state.epoch, it, record.loss, float(ce), float(dc),
                                                                    record.learning_rate, record.grad_norm_before_clip,
                                                                    t1 - t0, record.seconds_total))
                    self._maybe_stop()
                state.all_tr_losses.append(np.mean(np.asarray(losses, dtype=np.float32)))
                self._say("train loss : %.4f" % state.all_tr_losses[-1])
                if self.nonfinite_guard.skipped_this_epoch:
                    # differs from v1: v1 says nothing when its GradScaler skips a step
                    self._say(f"fp16: the GradScaler skipped {self.nonfinite_guard.skipped_this_epoch} optimizer "
                              "step(s) this epoch (Inf/NaN in the scaled gradients; routine: it lowered its scale)")
                # ---- validation iterations (no gradients, online evaluation)
                network.eval()
                val_losses, tps, fps, fns = [], [], [], []
                with torch.no_grad():
                    for it in range(n_val):
                        t0 = time.perf_counter()
                        batch = next(val_gen)
                        t1 = time.perf_counter()
                        record = self._run_iteration(network, loss, self.optimizer, batch["data"], self._targets(batch),
                                               do_backprop=False, fp16=bool(args.run_mixed_precision),
                                               run_online_evaluation=True)
                        data_s += t1 - t0
                        compute_s += record.seconds_total
                        self._check(record, "validation", it)
                        val_losses.append(np.float32(record.loss))
                        ev = record.online_evaluation
                        tps.append(ev.tp)
                        fps.append(ev.fp)
                        fns.append(ev.fn)
                        self._maybe_stop()
                    state.all_val_losses.append(np.mean(np.asarray(val_losses, dtype=np.float32)))
                    self._say("validation loss: %.4f" % state.all_val_losses[-1])
                    if getattr(trainer, "also_val_in_tr_mode", False):
                        network.train()
                        tr_mode = []
                        for it in range(n_val):
                            batch = next(val_gen)
                            record = self._run_iteration(network, loss, self.optimizer, batch["data"], self._targets(batch),
                                                   do_backprop=False, fp16=bool(args.run_mixed_precision))
                            tr_mode.append(np.float32(record.loss))
                        state.all_val_losses_tr_mode.append(np.mean(np.asarray(tr_mode, dtype=np.float32)))
                        self._say("validation loss (train=True): %.4f" % state.all_val_losses_tr_mode[-1])
                update_train_loss_MA(state, float(trainer.train_loss_MA_alpha))
                # ---- on_epoch_end, in v1's order
                per_class, mean_dice = global_dice(tps, fps, fns)
                state.all_val_eval_metrics.append(mean_dice)
                self._say("Average global foreground Dice:", [np.round(i, 4) for i in per_class])
                self._say("(interpret this as an estimate for the Dice of the different classes. This is not exact.)")
                hooks.emit("on_validation_end", ValidationEnd(state.epoch, float(state.all_val_losses[-1]),
                                                              tuple(float(d) for d in per_class), float(mean_dice)))
                if self.plot_progress:
                    self._plot_progress()
                lr_next, saved, new_best = after_online_evaluation(
                    state, trainer, set_lr=lambda _next_epoch: self._set_lr(None), save=lambda name: self.save_checkpoint(name),
                    log=self._say)
                self._momentum_rescue()
                epoch_seconds = time.perf_counter() - epoch_start
                event = EpochEnd(state.epoch, float(state.all_tr_losses[-1]), float(state.all_val_losses[-1]),
                                 float(mean_dice), _f(state.val_eval_criterion_MA), _f(state.train_loss_MA),
                                 float(lr_next), epoch_seconds, data_s, compute_s, hooks.seconds - hook_before,
                                 tuple(saved), bool(new_best))
                epochs.append(event)
                hooks.emit("on_epoch_end", event)
                # V2 never stops early: continue_training = epoch < max_num_epochs
                state.epoch += 1
                self._say("This epoch took %f s\n" % epoch_seconds)
                if state.epoch < max_epochs:
                    self._maybe_stop()
            state.epoch -= 1  # v1: so that the final checkpoint stores max_num_epochs
            self._finished = True
            if trainer.save_final_checkpoint:
                final_path = self.save_checkpoint(FINAL)
            remove_latest(self.output_folder)
        except _StopNow as stop:
            # differs from v1: v1 has no stop request; the explorer ends after the iteration and saves model_latest
            stopped, reason = True, str(stop)
            self._trim_to_finished_epochs()
            self._say(f"stopping: {reason}; saving {LATEST} (epoch {state.epoch}: the finished epochs)")
            if trainer.save_intermediate_checkpoints:
                self.save_checkpoint(LATEST, epoch=state.epoch)
        except KeyboardInterrupt as interrupt:
            # differs from v1: v1 dies on Ctrl-C without saving (and may leave augmentation workers behind)
            from .signals import TerminationRequested

            stopped = True
            reason = "SIGTERM" if isinstance(interrupt, TerminationRequested) else "KeyboardInterrupt"
            self._trim_to_finished_epochs()
            self._say(f"{reason}: saving {LATEST} (epoch {state.epoch}: the finished epochs) before exiting")
            try:
                if trainer.save_intermediate_checkpoints:
                    self.save_checkpoint(LATEST, epoch=state.epoch)
            finally:
                self._shutdown_augmenters()
                hooks.emit("on_train_end", TrainEnd(state.epoch, True, reason, None, {}))
            raise
        except Exception as exc:
            # live views learn that the run ended (NaN guard, a data error, ...); the error itself propagates
            self._shutdown_augmenters()
            hooks.emit("on_train_end", TrainEnd(state.epoch, True, f"{type(exc).__name__}: {exc}", None, {}))
            raise
        finally:
            self._shutdown_augmenters()
            if ds_before is not None:
                network.do_ds = ds_before
        summary = {"train_loss": float(state.all_tr_losses[-1]) if state.all_tr_losses else math.nan,
                   "val_loss": float(state.all_val_losses[-1]) if state.all_val_losses else math.nan,
                   "mean_global_dice": float(state.all_val_eval_metrics[-1]) if state.all_val_eval_metrics else math.nan,
                   "hook_seconds": hooks.seconds}
        hooks.emit("on_train_end", TrainEnd(state.epoch, stopped, reason, None if final_path is None else str(final_path),
                                            summary))
        return TrainingResult(self.output_folder, state, tuple(epochs), stopped, reason, final_path,
                              self.log.path if self.log else None, hooks.seconds, iterations, self.pretrained_report)

    def _trim_to_finished_epochs(self) -> None:
        """A stop inside an epoch drops that epoch's partial values, so the checkpoint says ``epoch`` finished epochs."""
        s = self.state
        s.all_tr_losses, s.all_val_losses = s.all_tr_losses[:s.epoch], s.all_val_losses[:s.epoch]
        s.all_val_losses_tr_mode = s.all_val_losses_tr_mode[:s.epoch]
        s.all_val_eval_metrics = s.all_val_eval_metrics[:s.epoch]

    def _plot_progress(self) -> None:
        try:
            from .progress_plot import save_progress_png

            s = self.state
            save_progress_png(self.output_folder / "progress.png", s.all_tr_losses, s.all_val_losses,
                              s.all_val_losses_tr_mode, s.all_val_eval_metrics)
        except (OSError, ImportError) as exc:
            self._say("failed to plot: ", repr(exc))

    @mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.on_epoch_end")
    def _momentum_rescue(self) -> None:
        """V2: at epoch 100, a Dice estimate of exactly 0 lowers momentum to 0.95 and re-initialises the weights."""
        if self.state.epoch == 100 and self.state.all_val_eval_metrics and self.state.all_val_eval_metrics[-1] == 0 \
                and "momentum" in self.optimizer.param_groups[0]:
            from .generic_unet import InitWeightsHe

            self.optimizer.param_groups[0]["momentum"] = 0.95
            self.network.apply(InitWeightsHe(1e-2))
            self._say("At epoch 100, the mean foreground Dice was 0. This can be caused by a too high momentum. High "
                      "momentum (0.99) is good for datasets where it works, but sometimes causes issues such as this "
                      "one. Momentum has now been reduced to 0.95 and network weights have been reinitialized")


def _f(value: Any) -> float | None:
    return None if value is None else float(value)


# --------------------------------------------------------------------------------------- background
class TrainingHandle:
    """A :class:`TrainingRun` running in a background thread.

    ``stop()`` asks it to end after the current iteration (thread-safe); ``join(timeout)`` waits;
    ``result()`` waits and returns the :class:`TrainingResult` or raises the run's exception.
    """

    def __init__(self, run: TrainingRun) -> None:
        self.run = run
        self._result: TrainingResult | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def _start(self, observers: Sequence[Any]) -> None:
        def target() -> None:
            try:
                self._result = self.run.run(observers)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller by result()
                self._error = exc

        self._thread = threading.Thread(target=target, name="nnunet-explorer-training", daemon=True)
        self._thread.start()

    def stop(self, reason: str = "stop() called") -> None:
        self.run.stop(reason)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the run to end; returns True when it has ended."""
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
        assert self._result is not None
        return self._result


# ------------------------------------------------------------------------------- after training
def validate_unless_disabled(run: TrainingRun, run_args: Any) -> None:
    """v1's ``main`` after training: ``network.eval()``, then validate unless ``--disable_validation_inference``."""
    run.network.eval()
    if run_args.disable_validation_inference:
        print("Validation inference was disabled. Not running inference on validation set.")
        return
    report = validate_after_training(run, run_args)
    summary = getattr(report, "summary", None)
    if callable(summary):
        print(summary(), flush=True)


@mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.validate")
def validate_after_training(run: TrainingRun, run_args: Any) -> Any:
    """``trainer.validate(save_softmax=--npz, validation_folder_name=--val_folder, run_postprocessing_on_folds=
    not --disable_postprocessing_on_folds, overwrite=--val_disable_overwrite)`` via :mod:`nnunet_explorer.inference`."""
    try:
        from ..inference.validation import validate
    except ImportError as exc:
        raise TrainingError(f"validation inference is not available in this build ({exc})",
                            fix="add --disable_validation_inference (training itself finished and was saved)") from None
    p, trainer = run.pipeline, run.trainer
    configuration = p["configuration"]
    return validate(run.network, trainer.load_plans_file(), configuration.stage, run.output_folder,
                    configuration.folder_with_preprocessed_data, list(p["split"].val),
                    Path(configuration.dataset_directory) / "gt_segmentations",
                    save_softmax=bool(run_args.npz), overwrite=bool(run_args.val_disable_overwrite),
                    validation_folder_name=run_args.val_folder,
                    run_postprocessing_on_folds=not run_args.disable_postprocessing_on_folds,
                    mixed_precision=bool(run_args.run_mixed_precision), experiment_name=trainer.experiment_name,
                    task_name=str(p["task_name"]), device=run.device,
                    segs_from_prev_stage_folder=trainer.folder_with_segs_from_prev_stage
                    if getattr(trainer, "has_prev_stage", False) else None)


@mirrors("nnunet.training.cascade_stuff.predict_next_stage:predict_next_stage")
def predict_next_stage_after_training(run: TrainingRun) -> Any:
    """``3d_lowres``: predict the fold's validation cases for the cascade's full-resolution stage.

    v1's ``run_training`` does this after validation unless ``--disable_next_stage_pred``, with the network as
    training (or ``-val``) left it, mirroring on the training's mirror axes. The plans must have the
    full-resolution stage 1 preprocessed.
    """
    from ..inference.cascade import predict_next_stage

    p = run.pipeline
    configuration = p["configuration"]
    plans = run.trainer.load_plans_file()
    lowres_folder = Path(configuration.folder_with_preprocessed_data)
    fullres_folder = lowres_folder.with_name(f"{plans['data_identifier']}_stage1")
    aug = p["augmentation_parameters"].data_aug_params
    return predict_next_stage(run.network, plans, configuration.stage, run.output_folder, lowres_folder,
                              fullres_folder, list(p["split"].val),
                              do_mirroring=bool(aug["do_mirror"]), mirror_axes=tuple(aug["mirror_axes"]),
                              mixed_precision=bool(run.run_args.run_mixed_precision), device=run.device,
                              log=lambda *a: run._say(*a))


__all__ = ["DETERMINISTIC_SEED", "LoopState", "NonFiniteError", "NonFiniteReport", "TrainingHandle", "TrainingResult",
           "TrainingRun", "after_online_evaluation", "global_dice", "is_scheduled_save",
           "manage_patience", "predict_next_stage_after_training", "update_eval_criterion_MA", "update_train_loss_MA",
           "validate_after_training", "validate_unless_disabled"]
