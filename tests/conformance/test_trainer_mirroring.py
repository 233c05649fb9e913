"""Test-time mirroring as v1's ``nnUNet_predict`` reads it off the trainer it rebuilds from a ``.model.pkl``.

For every trainer class of v1 1.7.1 (the base ones and those of its 72 variant files, ported by the one import
rule), :func:`nnunet_explorer.network_training.trainer_mirroring` gives v1's ``data_aug_params['do_mirror']`` and
``['mirror_axes']`` after v1's own restore steps (``initialize(False)`` included) for the same ``init`` and
plans, 3D and 2D; v1's side runs in this process with its module-level augmentation dicts restored after each
class (v1 changes them in place, see ``v1_harness``).
"""
from __future__ import annotations

import copy
import importlib
import pickle
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # ported_variants, v1_harness (tests use --import-mode=importlib)

import ported_variants  # noqa: E402
import v1_harness  # noqa: E402

pytestmark = pytest.mark.parity

BASE = ["nnUNetTrainer", "nnUNetTrainerV2", "nnUNetTrainerV2CascadeFullRes"]


def _v1_mirroring(cls, init, plans, model_folder):
    """What v1's predict reads: ``restore_model`` (the trainer made from ``init``, ``process_plans``), then
    ``load_model_and_checkpoint_files`` (the model folder as output folder, ``update_fold(0)``,
    ``initialize(False)``), then ``data_aug_params``."""
    import nnunet.training.data_augmentation.default_data_augmentation as defaults

    saved = copy.deepcopy((defaults.default_3D_augmentation_params, defaults.default_2D_augmentation_params))
    try:
        trainer = cls(*init)
        trainer.process_plans(plans)
        trainer.output_folder = trainer.output_folder_base = str(model_folder)
        trainer.update_fold(0)
        trainer.initialize(False)
        params = trainer.data_aug_params
        return bool(params.get("do_mirror", True)), tuple(int(a) for a in params.get("mirror_axes", ()))
    finally:
        defaults.default_3D_augmentation_params.clear()
        defaults.default_3D_augmentation_params.update(saved[0])
        defaults.default_2D_augmentation_params.clear()
        defaults.default_2D_augmentation_params.update(saved[1])


def test_every_v1_trainer_mirrors_at_test_time_as_in_v1(v1_variant_workspaces, tmp_path, capsys):
    from nnunet_explorer.network_training import trainer_mirroring

    ws = v1_variant_workspaces["ct"]
    pre = ws.preprocessed_task_dir(v1_harness.TASK_NAME)
    plans = {kind: pickle.loads((pre / f"nnUNetPlansv2.1_plans_{kind}.pkl").read_bytes()) for kind in ("2D", "3D")}
    resenc = pickle.loads((pre / f"{v1_harness.SPECIAL_PLANS['num_blocks_encoder']}_plans_3D.pkl").read_bytes())
    classes = [(None, name) for name in BASE]
    loaded: dict = {}
    for rel in ported_variants.all_files():
        ported_variants.load(rel, tmp_path / "ported", loaded)  # registers the explorer's port of each class
        classes += [(rel, name) for name in v1_harness.classes_in(rel)]
    compared, v1_refused, differing = {}, [], []
    for rel, name in classes:
        cls = getattr(importlib.import_module(v1_harness.module_name(rel, name)), name)
        # the residual-encoder classes read the residual planner's plans (num_blocks_encoder), 3D only
        special = "ResencUNet" in name
        for kind in ("3D",) if special else ("3D", "2D"):
            task_plans = resenc if special else plans[kind]
            # the init fields of a .model.pkl (the output folder of the training machine: v1 only keeps it as a
            # string here, and trainer_mirroring leaves it out)
            init = (str(pre / f"nnUNetPlansv2.1_plans_{kind}.pkl"), 0, str(tmp_path / "results" / name), str(pre),
                    True, None, True, False, name in v1_harness.FP16_ONLY)
            try:
                expected = _v1_mirroring(cls, init, task_plans, tmp_path / "v1_model" / name / kind)
            except Exception as exc:  # noqa: BLE001 - v1 itself cannot make it from these fields (see below)
                v1_refused.append((name, kind, type(exc).__name__))
                continue
            got = trainer_mirroring({"name": name, "init": init, "plans": task_plans})
            compared[(name, kind)] = expected
            if got != expected:
                differing.append((name, kind, expected, got))
    capsys.readouterr()  # v1's and the ports' prints while the trainers were made
    assert not differing, differing
    assert len(compared) >= 140, (len(compared), v1_refused)
    # the classes that change mirroring were among them, both ways
    assert compared[("nnUNetTrainerV2_noMirroring", "3D")][0] is False
    assert compared[("nnUNetTrainerV2_noDataAugmentation", "3D")] == (False, ())
    assert compared[("nnUNetTrainerNoDA", "3D")] == (True, ())  # emptied in initialize: no mirroring at all
    assert compared[("nnUNetTrainerV2", "3D")] == (True, (0, 1, 2))
    assert compared[("nnUNetTrainerV2", "2D")] == (True, (0, 1))
    # what v1 itself cannot restore so is not compared: the cascade and DDP classes take other init fields
    # (previous_trainer before fp16; local_rank third), and a few fail in v1's own initialize here (its
    # ReduceLROnPlateau(verbose=...) under this torch, the dummy loaders' CUDA assertion, FRN and the residual
    # encoder in 2D, soft deep supervision)
    assert len(v1_refused) <= 60, v1_refused


def test_reading_a_trainer_changes_nothing_here_and_an_unknown_one_gives_none(v1_variant_workspaces, tmp_path):
    """A trainer's ``__init__`` seeds numpy and torch and sets cudnn's flags (v1's, for a deterministic run), and
    its log lines go to its output folder: reading its mirroring leaves all of that as it was and writes no file."""
    import numpy as np
    import torch

    from nnunet_explorer.network_training import trainer_mirroring

    pre = v1_variant_workspaces["ct"].preprocessed_task_dir(v1_harness.TASK_NAME)
    plans = pickle.loads((pre / "nnUNetPlansv2.1_plans_3D.pkl").read_bytes())
    out = tmp_path / "results" / "fold_0"
    init = (str(pre / "nnUNetPlansv2.1_plans_3D.pkl"), 0, str(out), str(pre), True, None, True, True, False)
    np.random.seed(7)
    torch.manual_seed(7)
    flags = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    # the opposite of what a deterministic trainer's __init__ sets, so that a missing restore shows
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = False, True
    assert trainer_mirroring({"name": "nnUNetTrainerV2", "init": init, "plans": plans}) == (True, (0, 1, 2))
    restored = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = flags
    assert restored == (False, True)
    assert np.random.randint(1 << 30) == np.random.RandomState(7).randint(1 << 30)
    after = torch.rand(3)
    torch.manual_seed(7)
    assert torch.equal(after, torch.rand(3))
    assert not (tmp_path / "results").exists()
    assert trainer_mirroring({"name": "nnUNetTrainerV2_NotLoadedHere", "init": init, "plans": plans}) is None
