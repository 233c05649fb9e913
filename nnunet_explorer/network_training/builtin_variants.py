"""Short trainers that ship with the explorer: v1's benchmarking variants and a CPU-sized teaching trainer."""
from __future__ import annotations

from typing import Any

from ..provenance import mirrors
from .nnUNetTrainerV2 import nnUNetTrainerV2


@mirrors("nnunet.training.network_training.nnUNet_variants.benchmarking.nnUNetTrainerV2_2epochs:nnUNetTrainerV2_2epochs")
class nnUNetTrainerV2_2epochs(nnUNetTrainerV2):
    """V2 for 2 epochs (v1's benchmarking variant; v1's version also skips validation and checkpoints)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_num_epochs = 2


@mirrors("nnunet.training.network_training.nnUNet_variants.benchmarking.nnUNetTrainerV2_2epochs:nnUNetTrainerV2_5epochs")
class nnUNetTrainerV2_5epochs(nnUNetTrainerV2):
    """V2 for 5 epochs (v1's benchmarking variant; v1's version also skips validation and checkpoints)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_num_epochs = 5


class nnUNetTrainerV2_explore(nnUNetTrainerV2):
    """Explorer-only teaching variant: V2 with 3 epochs of 5 training and 2 validation batches (CPU-sized).

    Everything else (optimizer, loss, augmentation, network) is V2's, so what you see is what V2 does, only for
    fewer iterations. Not part of nnU-Net v1.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_num_epochs = 3
        self.num_batches_per_epoch = 5
        self.num_val_batches_per_epoch = 2
        self.save_every = 1


__all__ = ["nnUNetTrainerV2_2epochs", "nnUNetTrainerV2_5epochs", "nnUNetTrainerV2_explore"]
