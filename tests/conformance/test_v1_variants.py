"""Conformance: v1's own trainer variants, ported by the one import rule, train as in nnU-Net v1 1.7.1.

Every class of every file of v1's ``nnunet/training/network_training/nnUNet_variants/`` that trains in v1 itself
(``v1_reference.json``, written by ``scripts/v1_variant_reference.py`` with the real v1; a rotating sample is
re-derived with v1 by ``test_v1_reference_data.py``) is read from the installed ``nnunet`` package, ported by the
single textual rule ``from nnunet.`` -> ``from nnunet_explorer.v1.`` (and ``import nnunet.`` likewise) — nothing
is copied into this repository — and trained by the explorer exactly as v1 was (``v1_harness.py``): fold 0,
``deterministic=True``, ``random.seed(12345)``, one thread, deterministic algorithms, fp32, 3 epochs of 2 training +
1 validation iterations set after construction, ``initialize(True)``, the augmenters replaced by in-process ones over
the same loaders and transforms, ``run_training()``. The per-epoch train and validation losses, as v1's log prints
them (``%.4f``), must equal v1's.
"""
from __future__ import annotations

import contextlib
import json
import random
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))  # ported_variants, v1_harness (tests use --import-mode=importlib)

import ported_variants  # noqa: E402
import v1_harness  # noqa: E402

pytestmark = [pytest.mark.parity, pytest.mark.slow]

REFERENCE = json.loads((Path(__file__).parent / "v1_reference.json").read_text())


def _entries() -> list[tuple[str | None, str, dict]]:
    """``(file relative to nnUNet_variants/ or None for v1's own trainers, class key, entry)`` that train in v1."""
    out = [(None, key, entry) for key, entry in REFERENCE["plain"].items() if entry["status"] == "trains"]
    out += [(rel, key, entry) for rel, classes in REFERENCE["files"].items() for key, entry in classes.items()
            if entry["status"] == "trains"]
    return out


ENTRIES = _entries()


@pytest.fixture(scope="module")
def loaded_files(tmp_path_factory) -> dict:
    return {"folder": tmp_path_factory.mktemp("ported"), "modules": {}}


@contextlib.contextmanager
def _v1_torch_settings():
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
    """The explorer training ``cls`` exactly as ``v1_harness`` trains v1's class."""
    from nnunet_explorer.run.default_configuration import get_default_configuration
    from nnunet_explorer.run.run_training import use_single_threaded_augmentation

    config = get_default_configuration(network, v1_harness.TASK_NAME, "nnUNetTrainerV2", plans_identifier, ws)
    output_folder = Path(config.output_folder_name).parent / f"{class_name}__{plans_identifier}"
    with _v1_torch_settings():
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


@pytest.mark.timeout(900)
@pytest.mark.parametrize("rel, key, entry", ENTRIES, ids=[key for _, key, _ in ENTRIES])
def test_variant_trains_like_v1(rel, key, entry, v1_variant_workspaces, loaded_files):
    from nnunet_explorer.network_training import find_trainer_class

    class_name = key.split("@")[0]
    if rel is None:
        cls = find_trainer_class(class_name)
    else:
        namespace = ported_variants.load(rel, loaded_files["folder"], loaded_files["modules"])
        cls = namespace[class_name]
    mine = explorer_losses(cls, class_name, entry["network"], v1_variant_workspaces[entry["task"]],
                           entry.get("plans", v1_harness.PLANS_IDENTIFIER))
    assert mine["train"] == entry["train"], key
    assert mine["val"] == entry["val"], key
    for train, val in zip(mine["train"], mine["val"]):  # the training log shows them as v1's does
        assert f"train loss : {train}" in mine["log"] and f"validation loss: {val}" in mine["log"]


def test_the_suite_covers_at_least_50_of_v1s_72_variant_files():
    files = {rel for rel, _, _ in ENTRIES if rel is not None}
    assert len(REFERENCE["files"]) == 72 and len(files) >= 50, sorted(files)
