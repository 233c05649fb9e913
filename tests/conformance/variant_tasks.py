"""The synthetic tasks the v1 conformance data is measured on, built by the real nnU-Net v1 (no pytest needed).

Imported by ``tests/conftest.py`` (the ``v1_ct_task`` / ``v1_cascade_task`` fixtures), by the conformance tests
and by ``scripts/v1_variant_reference.py``, so that all of them train on byte-for-byte the same preprocessed data:

* :func:`build_ct_task` — synthetic CT task 901 ``Task901_SynthCT`` (10 training + 2 test cases, seed 0), cropped,
  planned and preprocessed by v1's ``nnUNet_plan_and_preprocess -t 901 -tl 1 -tf 1``.
* :func:`build_two_stage_task` — a copy of it whose 3D plans are made two-stage by hand (stage 0 = the planned
  full-resolution stage at twice the in-plane spacing, stage 1 = the planned stage), both stages preprocessed by
  v1's ``GenericPreprocessor``.
* :func:`write_prev_stage_segmentations` — the ``3d_lowres`` ``pred_next_stage/CASE_segFromPrevStage.npz`` files
  the cascade's full-resolution stage reads, made without training (see there).
* :func:`build_cascade_task` — the two together: a task on which v1's ``3d_cascade_fullres`` trainers run.
* :func:`add_residual_unet_plans` — the plans v1's ``nnUNetTrainerV2_ResencUNet*`` trainers need
  (``nnUNetPlans_FabiansResUNet_v2.1``, from v1's ``ExperimentPlanner3DFabiansResUNet_v21``, which reuses the
  standard preprocessed data).
"""
from __future__ import annotations

import copy
import pickle
import shutil
from pathlib import Path

import numpy as np

from nnunet_explorer.paths import Workspace, resolve_workspace

CT_TASK_ID = 901
CT_TASK_NAME = "Task901_SynthCT"
PLANS_IDENTIFIER = "nnUNetPlansv2.1"
# v1's 3d_fullres cascade reads the previous stage from this trainer's 3d_lowres output by default
PREVIOUS_TRAINER = "nnUNetTrainerV2"
# v1's residual-encoder planner: its plans hold 'num_blocks_encoder' / 'num_blocks_decoder' per stage
RESUNET_PLANNER = "ExperimentPlanner3DFabiansResUNet_v21"
RESUNET_PLANS_IDENTIFIER = "nnUNetPlans_FabiansResUNet_v2.1"


def make_workspace(root: str | Path) -> Workspace:
    """A workspace with all three folders under ``root`` (nothing created yet): raw/, pre/, results/."""
    root = Path(root)
    return resolve_workspace({"nnUNet_raw_data_base": str(root / "raw"), "nnUNet_preprocessed": str(root / "pre"),
                              "RESULTS_FOLDER": str(root / "results")})


def build_synthetic_task(root: str | Path, kind: str = "ct", task_id: int = CT_TASK_ID,
                         name: str = "SynthCT") -> tuple[Workspace, str]:
    """Write a synthetic task under ``root`` and let v1 crop, plan and preprocess it (one process each step).

    Returns ``(workspace, task_name)``.
    """
    from nnunet_explorer.parity import run_v1_cli
    from nnunet_explorer.samples.synthetic import write_synthetic_task

    ws = make_workspace(root).ensure()
    task_name = f"Task{task_id:03d}_{name}"
    write_synthetic_task(ws.raw_task_dir(task_name), kind, num_training=10, num_test=2, seed=0)
    run_v1_cli("nnUNet_plan_and_preprocess", ["-t", str(task_id), "-tl", "1", "-tf", "1"], ws, timeout=600)
    return ws, task_name


def build_ct_task(root: str | Path) -> tuple[Workspace, str]:
    """The synthetic CT task 901 exactly as the ``v1_ct_task`` fixture builds it."""
    return build_synthetic_task(root, "ct", CT_TASK_ID, "SynthCT")


def copy_workspace_tree(src: Workspace, dst_root: str | Path) -> Workspace:
    """Copy a whole workspace made by :func:`make_workspace` (its three folders share one parent)."""
    shutil.copytree(src.raw_data_base.parent, dst_root, dirs_exist_ok=True)
    return make_workspace(dst_root)


def build_two_stage_task(ct_workspace: Workspace, root: str | Path, task_name: str = CT_TASK_NAME) -> Workspace:
    """A copy of the CT task under ``root`` with a hand-made two-stage 3D plan, exactly as ``v1_cascade_task``.

    v1 plans a low-resolution stage only for images of more than ~10 M voxels; here stage 0 is a copy of the
    planned stage at twice the in-plane spacing (same patch, pooling and batch size) and stage 1 the planned
    stage. v1's ``GenericPreprocessor`` then writes ``nnUNetData_plans_v2.1_stage0`` / ``_stage1``.
    """
    from nnunet_explorer.parity import run_v1_generic_preprocessor

    ws = copy_workspace_tree(ct_workspace, root)
    pre = ws.preprocessed_task_dir(task_name)
    plans_file = pre / "nnUNetPlansv2.1_plans_3D.pkl"
    with open(plans_file, "rb") as f:
        plans = pickle.load(f)
    full = plans["plans_per_stage"][0]
    low = copy.deepcopy(full)
    low["current_spacing"] = np.asarray(full["current_spacing"]) * np.array([1.0, 2.0, 2.0])
    plans["plans_per_stage"] = {0: low, 1: full}
    plans["num_stages"] = 2
    with open(plans_file, "wb") as f:
        pickle.dump(plans, f)
    shutil.rmtree(pre / "nnUNetData_plans_v2.1_stage0")
    run_v1_generic_preprocessor(plans_file, ws.cropped_task_dir(task_name), pre, ws)
    return ws


def prev_stage_folder(ws: Workspace, task_name: str = CT_TASK_NAME, trainer: str = PREVIOUS_TRAINER,
                      plans_identifier: str = PLANS_IDENTIFIER) -> Path:
    """Where v1's ``nnUNetTrainerV2CascadeFullRes`` looks for the previous stage's segmentations."""
    return ws.results_folder / "nnUNet" / "3d_lowres" / task_name / f"{trainer}__{plans_identifier}" / \
        "pred_next_stage"


def write_prev_stage_segmentations(ws: Workspace, task_name: str = CT_TASK_NAME) -> list[Path]:
    """Write ``pred_next_stage/CASE_segFromPrevStage.npz`` for every case of stage 1, without training.

    v1's ``predict_next_stage.resample_and_save`` stores ``argmax`` of the low-resolution softmax resampled to
    the stage-1 grid: key ``data``, ``uint8``, shape = the stage-1 case's spatial shape (``data.shape[1:]``),
    ``np.savez_compressed``. ``DataLoader3D`` reads exactly that (``np.load(f)['data'][None]``) and asserts the
    shape. The stand-in here is the perfect previous stage: the case's own ground truth (the last channel of the
    stage-1 ``CASE.npz``) with v1's ``-1`` (outside the nonzero mask) set to background.
    """
    pre = ws.preprocessed_task_dir(task_name)
    with open(pre / "nnUNetPlansv2.1_plans_3D.pkl", "rb") as f:
        plans = pickle.load(f)
    last_stage = max(plans["plans_per_stage"])
    stage_dir = pre / f"{plans['data_identifier']}_stage{last_stage}"
    out = prev_stage_folder(ws, task_name)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for npz in sorted(stage_dir.glob("*.npz")):
        with np.load(npz) as f:
            seg = f["data"][-1]
        seg = np.where(seg < 0, 0, seg).astype(np.uint8)
        target = out / f"{npz.stem}_segFromPrevStage.npz"
        np.savez_compressed(target, data=seg)
        written.append(target)
    if not written:
        raise RuntimeError(f"no preprocessed cases in {stage_dir}")
    return written


def build_cascade_task(ct_workspace: Workspace, root: str | Path, task_name: str = CT_TASK_NAME) -> Workspace:
    """The two-stage task plus the previous stage's segmentations: v1's ``3d_cascade_fullres`` trains on it."""
    ws = build_two_stage_task(ct_workspace, root, task_name)
    write_prev_stage_segmentations(ws, task_name)
    return ws


def add_residual_unet_plans(ws: Workspace, task_name: str = CT_TASK_NAME) -> Path:
    """Plan the task with v1's residual-encoder planner too, as a v1 user would for ``nnUNetTrainerV2_ResencUNet``.

    What ``nnUNet_plan_and_preprocess -t 901 -pl3d ExperimentPlanner3DFabiansResUNet_v21 -pl2d None`` does once
    cropping and fingerprint exist: ``planner(cropped_dir, preprocessed_dir).plan_experiment()`` writes
    ``nnUNetPlans_FabiansResUNet_v2.1_plans_3D.pkl`` (``data_identifier`` ``nnUNetData_plans_v2.1``); the
    planner's ``run_preprocessing`` does nothing, it reuses the standard preprocessed data. Called directly (not
    through the CLI, which would re-pickle ``dataset_properties.pkl``) so every existing file stays byte-identical.
    Returns the plans file.
    """
    from nnunet_explorer.parity import run_v1_python

    cropped, pre = ws.cropped_task_dir(task_name), ws.preprocessed_task_dir(task_name)
    run_v1_python("import warnings; warnings.filterwarnings('ignore')\n"
                  "from nnunet.experiment_planning.alternative_experiment_planning."
                  f"experiment_planner_residual_3DUNet_v21 import {RESUNET_PLANNER}\n"
                  f"{RESUNET_PLANNER}({str(cropped)!r}, {str(pre)!r}).plan_experiment()\n", ws, timeout=600)
    plans = pre / f"{RESUNET_PLANS_IDENTIFIER}_plans_3D.pkl"
    if not plans.is_file():
        raise RuntimeError(f"v1's {RESUNET_PLANNER} wrote no {plans}")
    return plans


def build_all(root: str | Path) -> dict[str, Workspace]:
    """Both tasks under ``root``: ``{'ct': root/ct, 'cascade': root/cascade}``; the CT one also has the
    residual-encoder plans (:func:`add_residual_unet_plans`, added after the cascade copy was made)."""
    root = Path(root)
    ct, _ = build_ct_task(root / "ct")
    cascade = build_cascade_task(ct, root / "cascade")
    add_residual_unet_plans(ct)
    return {"ct": ct, "cascade": cascade}


def workspaces_in(root: str | Path) -> dict[str, Workspace]:
    """The workspaces :func:`build_all` wrote under ``root`` (not checked)."""
    root = Path(root)
    return {"ct": make_workspace(root / "ct"), "cascade": make_workspace(root / "cascade")}
