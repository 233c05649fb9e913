"""How many processes train: the named points where v1's loop meets the other ranks of a DDP run.

v1 ships a separate DDP trainer (``nnUNetTrainerV2_DDP``) that re-implements ``initialize``, ``run_iteration``
and ``run_training``. The explorer keeps one loop and gives every trainer a *strategy* (Lightning's
Trainer/Strategy split), which the loop calls at a few named points:

====================  ==========================================  ===========================================
named point           one process (:class:`SingleProcess`)        DDP (:class:`DistributedStrategy`)
====================  ==========================================  ===========================================
``is_global_zero``    True                                        rank 0 only: log, checkpoints, progress.png
``rank_zero_first``   runs the block                              rank 0 unpacks / writes splits, then the rest
``barrier``           nothing                                     every rank waits here
``rank_batch``        the plans' batch size and oversampling      v1's per-rank share (``--dbs``)
``augmentation_seeds``  None (v1: unseeded workers)               v1's per-rank worker seeds
``training_module``   the network                                 the DistributedDataParallel wrapper
``all_reduce_sum``    the tensor                                  summed over ranks (one collective)
``any_rank``          the local flag                              True on every rank if any rank's is
``broadcast_module``  nothing                                     rank 0's weights to every rank
====================  ==========================================  ===========================================

The one-process strategy does nothing at all, so a run without DDP is v1's loop, untouched.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import torch


class SingleProcess:
    """One process, one device: every named point is a no-op (v1's ``nnUNetTrainerV2``)."""

    is_distributed = False
    is_global_zero = True
    rank = 0
    world_size = 1

    @contextmanager
    def rank_zero_first(self) -> Iterator[None]:
        yield

    def barrier(self) -> None:
        return None

    def rank_batch(self, batch_size: int, oversample_foreground_percent: float) -> tuple[int, float]:
        return int(batch_size), float(oversample_foreground_percent)

    def augmentation_seeds(self, num_threads: int) -> tuple[Sequence[int] | None, Sequence[int] | None]:
        return None, None

    def training_module(self, network: torch.nn.Module) -> torch.nn.Module:
        return network

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor

    def any_rank(self, flag: bool) -> bool:
        return bool(flag)

    def broadcast_module(self, module: torch.nn.Module) -> None:
        return None

    def prepare(self, trainer: Any) -> None:
        """Called once when training starts (DDP wraps the network here)."""
        return None

    def observe_iteration(self, record: Any, training: bool) -> None:
        return None

    def finish(self, trainer: Any) -> None:
        """Called once when training ends (DDP writes its per-rank record)."""
        return None

    def describe(self) -> str:
        return "one process"


__all__ = ["SingleProcess"]
