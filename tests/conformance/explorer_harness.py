"""How the explorer trains one v1 variant class for the conformance suite, exactly as ``v1_harness`` trains v1's.

Shared by ``test_v1_variants.py`` (in the test process) and ``explorer_worker.py`` (a second process that trains
every other selected class at the same time, so both cores of a CI machine work: each training is single-threaded
by the harness). The explorer's trainers do not share state across trainers in one process (its
``default_3D_augmentation_params`` are reset for every new trainer, as in v1's one trainer per process), so which
process trains which class, and in which order, does not change the losses.
"""
from __future__ import annotations

import contextlib
import random
from pathlib import Path

import torch

import ported_variants
import v1_harness


@contextlib.contextmanager
def v1_torch_settings():
    """One thread and deterministic algorithms for the block (v1's harness sets both), then as before."""
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(deterministic)
        torch.set_num_threads(threads)


def explorer_losses(cls: type, class_name: str, network: str, ws,
                    plans_identifier: str = v1_harness.PLANS_IDENTIFIER) -> dict:
    """The explorer training ``cls`` exactly as ``v1_harness`` trains v1's class: ``{'train', 'val', 'log'}``."""
    from nnunet_explorer.run.default_configuration import get_default_configuration
    from nnunet_explorer.run.run_training import use_single_threaded_augmentation

    config = get_default_configuration(network, v1_harness.TASK_NAME, "nnUNetTrainerV2", plans_identifier, ws)
    output_folder = Path(config.output_folder_name).parent / f"{class_name}__{plans_identifier}"
    with v1_torch_settings():
        random.seed(v1_harness.SEED)
        trainer = cls(str(config.plans_file), 0, output_folder=str(output_folder),
                      dataset_directory=str(config.dataset_directory), batch_dice=config.batch_dice,
                      stage=config.stage, unpack_data=True, deterministic=True,
                      fp16=class_name in v1_harness.FP16_ONLY)
        trainer.max_num_epochs, trainer.num_batches_per_epoch, trainer.num_val_batches_per_epoch = \
            v1_harness.EPOCHS, v1_harness.BATCHES, v1_harness.VAL_BATCHES
        trainer.device, trainer.echo = torch.device("cpu"), False
        trainer.initialize(True)
        trainer.explorer.plot_progress = False  # v1's harness: plot_progress a no-op (no effect on the losses)
        use_single_threaded_augmentation(trainer)  # v1's harness: SingleThreadedAugmenter(generator, transform)
        trainer.run_training()
    return {"train": ["%.4f" % v for v in trainer.all_tr_losses], "val": ["%.4f" % v for v in trainer.all_val_losses],
            "log": Path(trainer.log_file).read_text()}


def train_entry(rel: str | None, key: str, entry: dict, workspaces: dict, folder: Path, modules: dict) -> dict:
    """Find (v1's own trainers) or port and load (a variant file, into ``folder``) the class of ``key`` and train
    it with :func:`explorer_losses` on the workspace of its task."""
    from nnunet_explorer.network_training import find_trainer_class

    class_name = key.split("@")[0]
    if rel is None:
        cls = find_trainer_class(class_name)
    else:
        cls = ported_variants.load(rel, folder, modules)[class_name]
    return explorer_losses(cls, class_name, entry["network"], workspaces[entry["task"]],
                           entry.get("plans", v1_harness.PLANS_IDENTIFIER))
