"""v1's ``nnUNetTrainerV2_DDP`` name: V2 trained with one process per GPU (DistributedDataParallel).

v1's DDP trainer re-implements ``initialize``, ``run_iteration``, ``run_training``, the loss (``compute_loss``: the
Dice terms all-gathered across GPUs, so batch Dice spans the global batch), the online evaluation, validation and
checkpoint loading; logging, plots and checkpoints are rank 0's; it starts the process group in its constructor.
The explorer trains every trainer under ``torchrun`` through one loop and a DDP *strategy*
(:class:`~nnunet_explorer.training.distributed.DistributedStrategy`: per-rank batch share and seeds, the
DistributedDataParallel wrapper, one all-reduce per iteration, rank 0 writes the files). This class keeps v1's
name and constructor, so a v1 file that derives from it ports by the one import rule, and attaches that strategy
when a process group is running.
"""
from __future__ import annotations

from typing import Any

from ..provenance import mirrors
from .nnUNetTrainerV2 import nnUNetTrainerV2


@mirrors("nnunet.training.network_training.nnUNetTrainerV2_DDP:nnUNetTrainerV2_DDP")
class nnUNetTrainerV2_DDP(nnUNetTrainerV2):
    """V2 under DDP, with v1's constructor (``local_rank`` and ``distribute_batch_size`` added)."""

    def __init__(self, plans_file: Any, fold: Any, local_rank: int, output_folder: Any = None,
                 dataset_directory: Any = None, batch_dice: bool = True, stage: int | None = None,
                 unpack_data: bool = True, deterministic: bool = True, distribute_batch_size: bool = False,
                 fp16: bool = False) -> None:
        super().__init__(plans_file, fold, output_folder, dataset_directory, batch_dice, stage, unpack_data,
                         deterministic, fp16)
        self.init_args = (self.plans_file, fold, local_rank, self.output_folder_base, self.dataset_directory,
                          batch_dice, stage, unpack_data, deterministic, distribute_batch_size, fp16)
        self.distribute_batch_size = distribute_batch_size
        self.local_rank = local_rank
        # differs from v1: v1 starts the NCCL process group here; the explorer's command starts it (torchrun,
        # gloo on a CPU) and attaches the strategy, so constructing this class does no I/O
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            from ..training.distributed import DistributedStrategy, resolve_dist_info

            self.strategy = DistributedStrategy(resolve_dist_info(), distribute_batch_size=distribute_batch_size)


__all__ = ["nnUNetTrainerV2_DDP"]
