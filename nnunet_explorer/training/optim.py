"""The optimizers of nnU-Net v1's trainers.

* ``nnUNetTrainerV2`` (the default): SGD, lr 0.01, Nesterov momentum 0.99, weight decay 3e-5, no scheduler
  object (the learning rate follows :func:`~nnunet_explorer.training.lr_schedule.poly_lr`, set per epoch).
* the original ``nnUNetTrainer``: Adam(3e-4, weight decay 3e-5, amsgrad) with ``ReduceLROnPlateau`` on the
  moving average of the training loss.
"""
from __future__ import annotations

from typing import Iterable

import torch

from ..provenance import mirrors


@mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.initialize_optimizer_and_scheduler")
def v2_optimizer(params: Iterable[torch.nn.Parameter], initial_lr: float = 1e-2,
                 weight_decay: float = 3e-5) -> torch.optim.SGD:
    """SGD with Nesterov momentum 0.99, as nnUNetTrainerV2 builds it (its ``lr_scheduler`` is None).

    Momentum 0.99 is unusually high; v1 lowers it to 0.95 (and re-initializes the weights) if the online
    Dice is still exactly 0 at epoch 100.
    """
    return torch.optim.SGD(params, initial_lr, weight_decay=weight_decay, momentum=0.99, nesterov=True)


@mirrors("nnunet.training.network_training.nnUNetTrainer:nnUNetTrainer.initialize_optimizer_and_scheduler")
def v1_adam_optimizer_and_scheduler(params: Iterable[torch.nn.Parameter], initial_lr: float = 3e-4,
                                    weight_decay: float = 3e-5, lr_scheduler_patience: int = 30,
                                    lr_scheduler_eps: float = 1e-3
                                    ) -> tuple[torch.optim.Adam, torch.optim.lr_scheduler.ReduceLROnPlateau]:
    """Adam(amsgrad) + ReduceLROnPlateau(mode 'min', factor 0.2, patience 30, threshold 1e-3 absolute).

    The old trainer steps the scheduler with the moving average of the training loss once per epoch: when
    it has not improved by more than 1e-3 for more than 30 epochs, the learning rate is multiplied by 0.2.
    """
    optimizer = torch.optim.Adam(params, initial_lr, weight_decay=weight_decay, amsgrad=True)
    # differs from v1: v1 also passes verbose=True, which current torch (2.13) rejects with a TypeError (the v1
    # nnUNetTrainer cannot be initialized on current torch); the schedule itself is unchanged
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.2,
                                                           patience=lr_scheduler_patience,
                                                           threshold=lr_scheduler_eps, threshold_mode="abs")
    return optimizer, scheduler
