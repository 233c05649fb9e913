"""Writing nnU-Net v1 checkpoints: ``<name>.model`` (torch) and its companion ``<name>.model.pkl``.

v1 saves a checkpoint in two files (``NetworkTrainer.save_checkpoint`` then ``nnUNetTrainer.save_checkpoint``):

* ``model_*.model`` is ``torch.save`` of a dict with exactly these keys, in this order: ``epoch`` (the
  number of *finished* epochs, ``self.epoch + 1`` while training; ``max_num_epochs`` for the final
  checkpoint of a run that trains to the end, as V2's always does; after the base trainer's early stop, one less
  than the epochs finished), ``state_dict`` (every tensor moved to the CPU), ``optimizer_state_dict``,
  ``lr_scheduler_state_dict`` (None for V2, which has no scheduler object), ``plot_stuff`` = the four loss
  / metric lists ``(all_tr_losses, all_val_losses, all_val_losses_tr_mode, all_val_eval_metrics)``,
  ``best_stuff`` = ``(best_epoch_based_on_MA_tr_loss, best_MA_tr_loss_for_patience,
  best_val_eval_criterion_MA)`` and, only when the trainer has a GradScaler (``fp16``, the default),
  ``amp_grad_scaler`` (its ``state_dict()``; ``{}`` on a CPU, where v1's scaler disables itself);
* ``model_*.model.pkl`` is an ``OrderedDict`` with ``init`` (the trainer's positional constructor
  arguments), ``name`` (class name), ``class`` (``str(class)``) and ``plans`` (the full plans dict):
  everything ``nnunet.training.model_restore.restore_model`` needs to rebuild the trainer for inference.

Neither file stores the moving averages ``train_loss_MA`` / ``val_eval_criterion_MA``: after ``-c`` v1
restarts them from the next epoch's values (the explorer does the same).

Both files are written atomically (temporary file + rename): killing the process at any moment leaves the
previous checkpoint intact, never half of a new one. (v1 writes in place, so a crash while saving can
corrupt ``model_latest.model``.)

While ``run_training`` runs, :class:`CheckpointWriter` writes them in a background thread: the training thread
only copies the tensors into new CPU memory (:func:`snapshot_to_cpu`) and goes on with the next epoch while the
copy is serialised and flushed to disk. v1 writes in the training thread, so the GPU waits for the disk each
time ``model_best.model`` improves.
"""
from __future__ import annotations

import os
import time
from collections import OrderedDict, deque
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch

from ..errors import TrainingError
from ..fileio import atomic_open, write_pickle
from ..language import tr
from ..provenance import mirrors
from .background import BackgroundWorker

CHECKPOINT_KEYS: tuple[str, ...] = ("epoch", "state_dict", "optimizer_state_dict", "lr_scheduler_state_dict",
                                    "plot_stuff", "best_stuff", "amp_grad_scaler")
MODEL_PKL_KEYS: tuple[str, ...] = ("init", "name", "class", "plans")

LATEST = "model_latest.model"
BEST = "model_best.model"
FINAL = "model_final_checkpoint.model"
RESUME_ORDER: tuple[str, ...] = (FINAL, LATEST, BEST)
"""What ``-c`` (v1's ``load_latest_checkpoint``) loads: the first of these in the fold folder, whatever the
files' epochs."""


@mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer.save_checkpoint")
def checkpoint_dict(network: torch.nn.Module, optimizer: torch.optim.Optimizer | None, epoch: int,
                    plot_stuff: Sequence[list], best_stuff: Sequence[Any], *,
                    grad_scaler_state: Mapping[str, Any] | None = None, has_grad_scaler: bool = False,
                    lr_scheduler: Any = None, snapshot: bool = False) -> dict[str, Any]:
    """The dict v1 passes to ``torch.save``, keys in v1's order.

    Args:
        network: its ``state_dict()`` is stored with every tensor on the CPU.
        optimizer: its ``state_dict()``; None stores None (v1's ``save_optimizer=False``).
        epoch: finished epochs (v1: ``self.epoch + 1``).
        plot_stuff: ``(all_tr_losses, all_val_losses, all_val_losses_tr_mode, all_val_eval_metrics)``.
        best_stuff: ``(best_epoch_based_on_MA_tr_loss, best_MA_tr_loss_for_patience, best_val_eval_criterion_MA)``.
        grad_scaler_state: the GradScaler's ``state_dict()`` (``{}`` when fp16 is requested on a CPU).
        has_grad_scaler: whether v1 would have a scaler (``fp16``): only then is ``amp_grad_scaler`` written.
        lr_scheduler: an object with ``state_dict()`` (v1's base trainer), else None.
        snapshot: copy every tensor into new CPU memory (for :class:`CheckpointWriter`, which writes while
            training goes on). Otherwise, as in v1, the optimizer's state stays where it lives (on the GPU).
    """
    state_dict = OrderedDict((k, v.detach().to("cpu", copy=snapshot)) for k, v in network.state_dict().items())
    scheduler_state = lr_scheduler.state_dict() if lr_scheduler is not None and hasattr(lr_scheduler, "state_dict") \
        else None
    optimizer_state = optimizer.state_dict() if optimizer is not None else None
    if snapshot:
        # differs from v1: a checkpoint written in the background holds the optimizer's momentum on the CPU
        # (v1's file keeps it on the GPU); loading moves it to the parameters' device either way
        optimizer_state, scheduler_state = snapshot_to_cpu(optimizer_state), snapshot_to_cpu(scheduler_state)
    out: dict[str, Any] = {
        "epoch": int(epoch),
        "state_dict": state_dict,
        "optimizer_state_dict": optimizer_state,
        "lr_scheduler_state_dict": scheduler_state,
        "plot_stuff": tuple(list(x) for x in plot_stuff),
        "best_stuff": tuple(best_stuff),
    }
    if has_grad_scaler:
        out["amp_grad_scaler"] = dict(grad_scaler_state or {})
    return out


@mirrors("nnunet.training.network_training.nnUNetTrainer:nnUNetTrainer.save_checkpoint")
def model_pkl_info(init_args: Sequence[Any], trainer_class: type, plans: Mapping[str, Any]) -> "OrderedDict[str, Any]":
    """The ``.model.pkl`` companion: ``OrderedDict(init=..., name=..., class=..., plans=...)``.

    ``init`` is the positional argument tuple of the trainer's constructor (plans_file, fold, output_folder,
    dataset_directory, batch_dice, stage, unpack_data, deterministic, fp16). v1's ``restore_model`` finds the
    trainer class by ``name`` and calls it with ``*init``; ``class`` is informational.
    """
    info: OrderedDict[str, Any] = OrderedDict()
    info["init"] = tuple(init_args)
    info["name"] = trainer_class.__name__
    info["class"] = str(trainer_class)
    info["plans"] = plans
    return info


def save_checkpoint_files(path: str | os.PathLike, checkpoint: Mapping[str, Any],
                          info: Mapping[str, Any] | None) -> float:
    """Write ``path`` (``torch.save``) and ``path + '.pkl'``, each atomically; returns the seconds taken.

    The ``.model`` file is written first, as in v1. The companion only changes when the plans or the
    trainer change, so a kill between the two writes leaves a consistent pair.
    """
    start = time.perf_counter()
    path = Path(path)
    with atomic_open(path, "wb") as handle:
        torch.save(dict(checkpoint), handle)
    if info is not None:
        write_pickle(info, str(path) + ".pkl")
    return time.perf_counter() - start


def snapshot_to_cpu(value: Any) -> Any:
    """A copy of ``value`` (a checkpoint dict, an optimizer's ``state_dict()``) that training cannot change.

    Every tensor is copied into new CPU memory (on a CPU, ``tensor.cpu()`` would return the same tensor, which
    the next optimizer step changes in place); dicts, lists and tuples are rebuilt with their type and order;
    other values (numbers, strings, None) are immutable and kept.
    """
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        copied = type(value)() if isinstance(value, OrderedDict) else {}
        for key, item in value.items():
            copied[key] = snapshot_to_cpu(item)
        return copied
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a namedtuple
        return type(value)(*(snapshot_to_cpu(v) for v in value))
    if isinstance(value, (list, tuple)):
        return type(value)(snapshot_to_cpu(v) for v in value)
    return value


class CheckpointWriter(BackgroundWorker):
    """Writes checkpoints in a background thread, one after the other, in the order they were handed over.

    :meth:`submit` takes a checkpoint whose tensors are already copies (:func:`snapshot_to_cpu`) and returns at
    once; the thread writes it with :func:`save_checkpoint_files` (atomically, flushed to disk) and then calls
    ``on_done()``. At most ``max_pending`` checkpoints wait (each holds a copy of the weights and the
    optimizer in CPU memory): a further :meth:`submit` waits for a place. A write that fails is raised by the
    next :meth:`submit` or :meth:`raise_if_failed` (the training loop calls it at every epoch's start) as a
    :class:`~nnunet_explorer.errors.TrainingError` naming the file, and returned by :meth:`flush` /
    :meth:`close`. :meth:`close` waits for every queued write: when ``run_training`` returns, every checkpoint
    it saved is on disk, as in v1.
    """

    thread_name = "nnunet-explorer-checkpoints"

    def __init__(self, max_pending: int = 2, write: Callable[..., Any] | None = None) -> None:
        super().__init__()
        self.max_pending = max(1, int(max_pending))
        self._write = write or save_checkpoint_files  # (path, checkpoint, info); the tests pass a gate
        self._queue: deque = deque()
        self._writing = False

    def submit(self, path: str | os.PathLike, checkpoint: Mapping[str, Any], info: Mapping[str, Any] | None,
               on_done: Callable[[], None] | None = None) -> None:
        """Queue ``checkpoint`` (and its ``.pkl`` companion ``info``) for ``path``; raises an earlier failure."""
        with self._changed:
            self._start()
            self._changed.wait_for(lambda: len(self._queue) + self._writing < self.max_pending or
                                   self._error is not None)
            error = self._take_error()
            if error is not None:
                raise error
            self._queue.append((str(path), checkpoint, info, on_done))
            self._changed.notify_all()

    @property
    def pending(self) -> int:
        """Checkpoints handed over and not yet written (the one being written included)."""
        with self._changed:
            return len(self._queue) + self._writing

    def raise_if_failed(self) -> None:
        """Raise the error of a write that failed, if any (once)."""
        with self._changed:
            error = self._take_error()
        if error is not None:
            raise error

    def wait_until_written(self) -> None:
        """Wait for every queued checkpoint; raise the error of a write that failed, if any."""
        error = self.flush()
        if error is not None:
            raise error

    def _idle(self) -> bool:
        return not self._queue and not self._writing

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: bool(self._queue) or self._closed)
                if not self._queue:  # closed, nothing left to write
                    return
                path, checkpoint, info, on_done = self._queue.popleft()
                self._writing = True
            try:
                self._write(path, checkpoint, info)
                if on_done is not None:
                    on_done()
            except BaseException as exc:  # noqa: BLE001 - raised in the training thread by the next call
                reason = f"{type(exc).__name__}: {exc}"
                failure = TrainingError(
                    tr(f"writing {path} failed in the background: {reason}", f"在后台写入 {path} 失败：{reason}"),
                    fix=tr("free disk space in the output folder (or make it writable), then continue the run with -c",
                           "请在输出文件夹中腾出磁盘空间（或让它可写），然后用 -c 继续这次运行"))
                failure.__cause__ = exc
                with self._changed:
                    self._error = failure
                    self._queue.clear()  # the run stops at the next epoch: what was queued behind is dropped
            finally:
                del checkpoint  # the copy of the weights is freed before the thread waits for the next one
                with self._changed:
                    self._writing = False
                    self._changed.notify_all()


@mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer.run_training")
def remove_latest(folder: str | os.PathLike) -> list[str]:
    """Delete ``model_latest.model`` and its ``.pkl`` (v1 does so after writing the final checkpoint)."""
    removed = []
    for name in (LATEST, LATEST + ".pkl"):
        try:  # no exists() check first: under DDP two ranks may race to delete the same file
            (Path(folder) / name).unlink()
        except FileNotFoundError:
            continue
        removed.append(name)
    return removed


__all__ = ["BEST", "CHECKPOINT_KEYS", "CheckpointWriter", "FINAL", "LATEST", "MODEL_PKL_KEYS", "checkpoint_dict",
           "model_pkl_info", "remove_latest", "save_checkpoint_files", "snapshot_to_cpu"]
