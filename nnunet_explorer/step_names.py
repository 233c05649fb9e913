"""The walkthrough's step names, importable without torch (the command line's ``--until`` choices).

:mod:`nnunet_explorer.walkthrough` checks at import that its steps carry exactly these names, in this order.
"""
from __future__ import annotations

TRAINING_STEP_NAMES: tuple[str, ...] = (
    "parsed_arguments", "task_name", "configuration", "trainer_class", "trainer", "initialize", "plans_processed",
    "augmentation_parameters", "deep_supervision", "loss", "dataset", "split", "dataloader", "network",
    "architecture", "optimizer", "lr_schedule", "batch", "iteration")
RUN_STEP_NAMES: tuple[str, ...] = ("training_epochs", "epoch_end", "validate", "prediction")
WALKTHROUGH_STEP_NAMES: tuple[str, ...] = TRAINING_STEP_NAMES + RUN_STEP_NAMES

__all__ = ["RUN_STEP_NAMES", "TRAINING_STEP_NAMES", "WALKTHROUGH_STEP_NAMES"]
