"""nnUNetTrainerV2's learning-rate schedule: polynomial decay from 0.01 to 0 over 1000 epochs."""
from __future__ import annotations

import torch

from ..provenance import mirrors


@mirrors("nnunet.training.learning_rate.poly_lr:poly_lr")
def poly_lr(epoch: int, max_epochs: int, initial_lr: float, exponent: float = 0.9) -> float:
    """Learning rate for ``epoch``: ``initial_lr * (1 - epoch / max_epochs) ** exponent``.

    With v1's defaults (1000 epochs, 0.01, 0.9) epoch 0 trains with 0.01, epoch 500 with ~0.00536 and the
    last epoch (999) with ~2e-5; the rate reaches 0 only at ``epoch == max_epochs``, which never trains.
    """
    return initial_lr * (1 - epoch / max_epochs) ** exponent


@mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.maybe_update_lr")
def maybe_update_lr(optimizer: torch.optim.Optimizer, epoch: int, max_num_epochs: int = 1000,
                    initial_lr: float = 1e-2) -> float:
    """Set the learning rate for ``epoch`` and return it.

    v1 calls this once before training starts (``epoch = self.epoch``) and after every epoch with
    ``epoch + 1``, so epoch ``e`` trains with ``poly_lr(e)``. Like v1, only ``param_groups[0]`` is updated
    (the trainer's optimizer has a single group).
    """
    lr = poly_lr(epoch, max_num_epochs, initial_lr, 0.9)
    optimizer.param_groups[0]["lr"] = lr
    return lr
