"""v1's trainer classes (``nnunet.training.network_training``), in v1's shape: they own the training run.

::

    NetworkTrainer            the loop and its bookkeeping: run_training, run_iteration, on_epoch_end, checkpoints
      nnUNetTrainer           plans -> network inputs, loaders (get_basic_generators), online Dice, validate
        nnUNetTrainerV2       the default: SGD 0.99 + poly LR, deep supervision, moreDA, gradient clip 12
          nnUNetTrainerV2CascadeFullRes   the cascade's full-resolution stage
          nnUNetTrainerV2_DDP             v1's DDP trainer name (the explorer's DDP is a strategy, any trainer)

A run is ``trainer = Cls(plans_file, fold, output_folder, dataset_directory, batch_dice, stage, unpack_data,
deterministic, fp16)``; ``trainer.initialize(True)``; ``trainer.run_training()``; ``trainer.validate(...)`` —
exactly v1's ``run_training.py``. Override any v1 method in a subclass and the run calls yours. What the explorer
adds (observers, stop, NaN guard, Ctrl-C saving, DDP) is in :mod:`.explorer_hooks` and
:mod:`nnunet_explorer.training.strategy`.
"""
from __future__ import annotations

from .builtin_variants import nnUNetTrainerV2_2epochs, nnUNetTrainerV2_5epochs, nnUNetTrainerV2_explore
from .explorer_hooks import ExplorerHooks, TrainingHandle, TrainingResult, run_in_background
from .network_trainer import NetworkTrainer
from .nnUNetTrainer import nnUNetTrainer
from .nnUNetTrainerV2 import nnUNetTrainerV2
from .nnUNetTrainerV2_CascadeFullRes import nnUNetTrainerV2CascadeFullRes, has_prev_stage
from .nnUNetTrainerV2_DDP import nnUNetTrainerV2_DDP
from .model_restore import data_aug_mirroring, trainer_mirroring
from .provenance import V1IgnoresWarning, attribute_provenance, override
from .registry import (find_trainer_class, known_trainers, load_trainers_from_file, register_trainer,
                       registry_restored, unregister_trainer, v1_class_repr)

__all__ = ["ExplorerHooks", "NetworkTrainer", "TrainingHandle", "TrainingResult", "V1IgnoresWarning",
           "attribute_provenance", "data_aug_mirroring", "find_trainer_class", "has_prev_stage", "known_trainers",
           "load_trainers_from_file", "nnUNetTrainer", "nnUNetTrainerV2", "nnUNetTrainerV2CascadeFullRes",
           "nnUNetTrainerV2_2epochs", "nnUNetTrainerV2_5epochs", "nnUNetTrainerV2_DDP", "nnUNetTrainerV2_explore",
           "override", "register_trainer", "registry_restored", "run_in_background", "trainer_mirroring",
           "unregister_trainer", "v1_class_repr"]
