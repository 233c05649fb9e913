"""Writing nnU-Net v1 checkpoints: ``<name>.model`` (torch) and its companion ``<name>.model.pkl``.

v1 saves a checkpoint in two files (``NetworkTrainer.save_checkpoint`` then ``nnUNetTrainer.save_checkpoint``):

* ``model_*.model`` is ``torch.save`` of a dict with exactly these keys, in this order: ``epoch`` (the
  number of *finished* epochs, ``self.epoch + 1`` while training; ``max_num_epochs`` for the final
  checkpoint), ``state_dict`` (every tensor moved to the CPU), ``optimizer_state_dict``,
  ``lr_scheduler_state_dict`` (None for V2, which has no scheduler object), ``plot_stuff`` = the four loss
  / metric lists ``(all_tr_losses, all_val_losses, all_val_losses_tr_mode, all_val_eval_metrics)``,
  ``best_stuff`` = ``(best_epoch_based_on_MA_tr_loss, best_MA_tr_loss_for_patience,
  best_val_eval_criterion_MA)`` and, only when the trainer has a GradScaler (``fp16``, the default),
  ``amp_grad_scaler`` (its ``state_dict()``; ``{}`` on a CPU, where v1's scaler disables itself);
* ``model_*.model.pkl`` is an ``OrderedDict`` with ``init`` (the trainer's positional constructor
  arguments), ``name`` (class name), ``class`` (``str(class)``) and ``plans`` (the full plans dict):
  everything ``nnunet.training.model_restore.restore_model`` needs to rebuild the trainer for inference.

Neither file stores the moving averages ``train_loss_MA`` / ``val_eval_criterion_MA``: after ``-c`` v1
restarts them from the next epoch's values (the explorer does the same, see :mod:`.loop`).

Both files are written atomically (temporary file + rename): killing the process at any moment leaves the
previous checkpoint intact, never half of a new one. (v1 writes in place, so a crash while saving can
corrupt ``model_latest.model``.)
"""
from __future__ import annotations

import os
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from ..fileio import atomic_open, write_pickle
from ..provenance import mirrors

CHECKPOINT_KEYS: tuple[str, ...] = ("epoch", "state_dict", "optimizer_state_dict", "lr_scheduler_state_dict",
                                    "plot_stuff", "best_stuff", "amp_grad_scaler")
MODEL_PKL_KEYS: tuple[str, ...] = ("init", "name", "class", "plans")

LATEST = "model_latest.model"
BEST = "model_best.model"
FINAL = "model_final_checkpoint.model"


@mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer.save_checkpoint")
def checkpoint_dict(network: torch.nn.Module, optimizer: torch.optim.Optimizer | None, epoch: int,
                    plot_stuff: Sequence[list], best_stuff: Sequence[Any], *,
                    grad_scaler_state: Mapping[str, Any] | None = None, has_grad_scaler: bool = False,
                    lr_scheduler: Any = None) -> dict[str, Any]:
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
    """
    state_dict = OrderedDict((k, v.detach().cpu()) for k, v in network.state_dict().items())
    scheduler_state = lr_scheduler.state_dict() if lr_scheduler is not None and hasattr(lr_scheduler, "state_dict") \
        else None
    out: dict[str, Any] = {
        "epoch": int(epoch),
        "state_dict": state_dict,
        "optimizer_state_dict": optimizer.state_dict() if optimizer is not None else None,
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


__all__ = ["BEST", "CHECKPOINT_KEYS", "FINAL", "LATEST", "MODEL_PKL_KEYS", "checkpoint_dict", "model_pkl_info",
           "remove_latest", "save_checkpoint_files"]
