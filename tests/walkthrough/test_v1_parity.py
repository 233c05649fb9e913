"""Parity with the real nnU-Net v1 (one subprocess collects v1's facts): parser, augmentation parameters,
get_patch_size, process_plans and trainer hyperparameters."""
from __future__ import annotations

import argparse
import copy
import json
import pickle
import runpy
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np
import pytest

from nnunet_explorer.cli import build_parser
from nnunet_explorer.parity import run_v1_python
from types import SimpleNamespace

from nnunet_explorer import network_training as tr
from nnunet_explorer.training.processed_plans import processed_from_trainer
from nnunet_explorer.commands.run_training import build_run_training_parser, parse_run_training_args
from nnunet_explorer.training.configuration import RunArgs
from nnunet_explorer.training.data_augmentation_params import (deg, default_2D_augmentation_params,
                                                               default_3D_augmentation_params, get_patch_size)

# loaded by path: the test folders are not packages (pytest's importlib import mode)
_V1_FACTS = runpy.run_path(str(Path(__file__).with_name("v1_facts.py")))
V1_FACTS_SCRIPT = _V1_FACTS["V1_FACTS_SCRIPT"]
safe = _V1_FACTS["safe"]  # the same conversion the v1 script applies

ALL_FLAGS = ["2d", "MyTrainer", "Task004_Hippocampus", "all", "-val", "-c", "-p", "custom", "--use_compressed_data",
             "--deterministic", "--npz", "--find_lr", "--valbest", "--fp32", "--val_folder", "vf",
             "--disable_saving", "--disable_postprocessing_on_folds", "--disable_validation_inference",
             "--val_disable_overwrite", "--disable_next_stage_pred", "-pretrained_weights", "w.model"]
ARGVS = [["3d_fullres", "nnUNetTrainerV2", "4", "0"], ALL_FLAGS,
         ["3d_lowres", "T", "12", "3", "--validation_only", "--continue_training"]]
R15, R30, R180 = [deg(-15.0), deg(15.0)], [deg(-30.0), deg(30.0)], [deg(-180.0), deg(180.0)]
ZERO = [deg(-0.0), deg(0.0)]
PATCH_GRID = [
    (patch, rx, ry, rz, scale)
    for patch in ([40, 48, 48], [128, 128, 128], [16, 40, 40], [20, 192, 160], [64, 64, 64])
    for rx, ry, rz in ((R15, R15, R15), (R30, R30, R30), (R180, R30, R30), (0.3, 0.0, 1.2))
    for scale in ((0.85, 1.25), (0.7, 1.4))
] + [
    (patch, rx, ZERO, ZERO, scale)
    for patch in ([256, 256], [48, 48], [80, 64], [40, 96], [512, 160])
    for rx in (R15, R30, R180)
    for scale in ((0.85, 1.25), (0.7, 1.4))
]




@pytest.fixture(scope="module")
def v1_facts(v1_ct_task, tmp_path_factory):
    pre = v1_ct_task.preprocessed_dir
    inputs = dict(PLANS_3D=str(pre / "nnUNetPlansv2.1_plans_3D.pkl"), PLANS_2D=str(pre / "nnUNetPlansv2.1_plans_2D.pkl"),
                  DATASET_DIRECTORY=str(pre), OUTPUT_FOLDER=str(tmp_path_factory.mktemp("v1_out")),
                  ARGVS=ARGVS, PATCH_GRID=PATCH_GRID)
    code = "".join(f"{k} = {v!r}\n" for k, v in inputs.items()) + V1_FACTS_SCRIPT
    out = run_v1_python(code, v1_ct_task.workspace, timeout=600).stdout
    return json.loads(out.split("@@JSON@@", 1)[1])


def _actions(parser: argparse.ArgumentParser) -> list[dict]:
    return [dict(option_strings=a.option_strings, dest=a.dest, default=a.default, action=type(a).__name__,
                 type=getattr(a.type, "__name__", None), required=a.required, nargs=a.nargs, const=a.const)
            for a in parser._actions if a.dest != "help"]


@pytest.mark.parity
def test_run_training_parser_matches_v1(v1_facts):
    ours = _actions(build_run_training_parser())
    assert ours == v1_facts["actions"]  # every option: flags, dest, default, action, type, required, nargs
    assert [f.name for f in fields(RunArgs)] == [a["dest"] for a in v1_facts["actions"]]
    for argv, v1_parsed in zip(ARGVS, v1_facts["parsed"]):
        assert asdict(parse_run_training_args(argv)) == v1_parsed
    # v1's inverted flag: giving --val_disable_overwrite stores False
    assert v1_facts["parsed"][1]["val_disable_overwrite"] is False
    assert parse_run_training_args(ALL_FLAGS).validation_overwrite is False


@pytest.mark.parity
def test_train_command_accepts_v1_flags_unchanged(v1_facts):
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["train"]
    by_dest = {a["dest"]: a for a in _actions(sub)}
    for action in v1_facts["actions"]:
        assert by_dest[action["dest"]] == action
    for argv, v1_parsed in zip(ARGVS, v1_facts["parsed"]):
        namespace = vars(parser.parse_args(["train", *argv]))
        assert {k: namespace[k] for k in v1_parsed} == v1_parsed


@pytest.mark.parity
def test_default_augmentation_dicts_match_v1(v1_facts):
    assert safe(default_3D_augmentation_params()) == v1_facts["default_3D"]
    assert safe(default_2D_augmentation_params()) == v1_facts["default_2D"]
    # fresh dicts: changing one never changes the next
    first = default_3D_augmentation_params()
    first["scale_range"] = (0.7, 1.4)
    assert default_3D_augmentation_params()["scale_range"] == (0.85, 1.25)


@pytest.mark.parity
def test_get_patch_size_matches_v1_on_a_grid(v1_facts):
    ours = [safe(get_patch_size(np.array(p), rx, ry, rz, sc)) for p, rx, ry, rz, sc in PATCH_GRID]
    assert len(ours) == len(v1_facts["patch_grid"]) == 70
    assert ours == v1_facts["patch_grid"]


def test_get_patch_size_documented_values():
    # values verified against v1 in the fact sheet (section 7.3)
    assert list(get_patch_size([40, 48, 48], R30, R30, R30, (0.85, 1.25))) == [68, 77, 72]
    assert list(get_patch_size([128, 128, 128], R30, R30, R30, (0.85, 1.25))) == [205, 205, 205]
    assert list(get_patch_size([256, 256], R180, ZERO, ZERO, (0.85, 1.25))) == [301, 301]
    assert list(get_patch_size([256, 256], R15, ZERO, ZERO, (0.85, 1.25))) == [368, 301]
    assert list(get_patch_size([80, 64], R180, ZERO, ZERO, (0.85, 1.25))) == [94, 94]


def _variants(v1_ct_task) -> dict:
    pre = v1_ct_task.preprocessed_dir
    with open(pre / "nnUNetPlansv2.1_plans_3D.pkl", "rb") as f:
        plans_3d = pickle.load(f)
    with open(pre / "nnUNetPlansv2.1_plans_2D.pkl", "rb") as f:
        plans_2d = pickle.load(f)

    def variant(plans, **changes):
        p = copy.deepcopy(plans)
        p["plans_per_stage"][0].update(changes)
        return p

    return {"3d": plans_3d, "3d_dummy2d": variant(plans_3d, do_dummy_2D_data_aug=True),
            "3d_big": variant(plans_3d, patch_size=np.array([40, 48, 48]),
                              pool_op_kernel_sizes=[[2, 2, 2], [2, 2, 2], [2, 2, 2]]),
            "2d": plans_2d, "2d_elongated": variant(plans_2d, patch_size=np.array([40, 96]))}


def _processed(trainer, plans):
    """The trainer's v1 process_plans, its attributes as a record."""
    trainer.stage = 0
    trainer.process_plans(plans)
    return processed_from_trainer(trainer)


def _setup(trainer, processed=None):
    """The trainer's v1 setup_DA_params, what it set as a record."""
    trainer.setup_DA_params()
    return SimpleNamespace(data_aug_params=trainer.data_aug_params,
                           basic_generator_patch_size=[int(v) for v in trainer.basic_generator_patch_size],
                           deep_supervision_scales=getattr(trainer, "deep_supervision_scales", None))


@pytest.mark.parity
def test_process_plans_and_setup_DA_params_match_v1(v1_facts, v1_ct_task):
    variants = _variants(v1_ct_task)
    assert set(variants) == set(v1_facts["setups"])
    trainer = tr.nnUNetTrainerV2("unused.pkl", 0, stage=0)
    for name, plans in variants.items():
        v1 = v1_facts["setups"][name]
        processed = _processed(trainer, plans)
        ours = {key: safe(getattr(processed, key)) for key in v1["processed"]}
        assert ours == v1["processed"], name
        setup = _setup(trainer, processed)
        assert safe(setup.data_aug_params) == v1["data_aug_params"], name
        assert list(setup.basic_generator_patch_size) == v1["basic_generator_patch_size"], name
        assert safe(setup.deep_supervision_scales) == v1["deep_supervision_scales"], name
        assert repr(setup.deep_supervision_scales) == v1["deep_supervision_scales_repr"], name  # ints, numpy floats
    # the cases exercise the branches: dummy 2D keeps the first axis, the elongated 2D patch narrows rotation
    assert v1_facts["setups"]["3d_dummy2d"]["data_aug_params"]["dummy_2D"] is True
    assert v1_facts["setups"]["2d_elongated"]["data_aug_params"]["rotation_x"] == R15


@pytest.mark.parity
def test_base_trainer_setup_DA_params_matches_v1(v1_facts, v1_ct_task):
    variants = _variants(v1_ct_task)
    trainer = tr.nnUNetTrainer("unused.pkl", 0, stage=0)
    for name, v1 in v1_facts["base_setups"].items():
        setup = _setup(trainer, _processed(trainer, variants[name]))
        assert safe(setup.data_aug_params) == v1["data_aug_params"], name
        assert list(setup.basic_generator_patch_size) == v1["basic_generator_patch_size"], name
        assert setup.deep_supervision_scales is None


@pytest.mark.parity
def test_v1_mutates_its_module_dict_and_we_do_not(v1_facts, v1_ct_task):
    first, second = v1_facts["two_trainers_basic_generator_patch_size"]
    assert first != second  # v1: the second trainer sized its patch with scale (0.7, 1.4)
    plans = _variants(v1_ct_task)["3d"]
    trainer = tr.nnUNetTrainerV2("unused.pkl", 0, stage=0)
    sizes = [list(_setup(trainer, _processed(trainer, plans)).basic_generator_patch_size) for _ in range(2)]
    assert sizes == [first, first]  # differs from v1 on purpose: every trainer gets v1's first-trainer value


@pytest.mark.parity
def test_trainer_hyperparameters_match_v1(v1_facts):
    v1 = v1_facts["hyperparameters"]
    classes = {"nnUNetTrainer": tr.nnUNetTrainer, "nnUNetTrainerV2": tr.nnUNetTrainerV2,
               "nnUNetTrainerV2_2epochs": tr.nnUNetTrainerV2_2epochs,
               "nnUNetTrainerV2_5epochs": tr.nnUNetTrainerV2_5epochs}
    compared = 0
    for name, cls in classes.items():
        ours = cls("unused.pkl", 0).hyperparameters()
        shared = sorted(set(ours) & set(v1[name]))
        for key in shared:
            assert safe(ours[key]) == v1[name][key], (name, key)
        compared += len(shared)
        # every hyperparameter v1 stores on the instance that we also model is compared
        assert {"max_num_epochs", "num_batches_per_epoch", "initial_lr", "weight_decay", "patience",
                "oversample_foreground_percent", "save_every"} <= set(shared)
    assert compared >= 4 * 18
