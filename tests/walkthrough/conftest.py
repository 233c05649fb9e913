"""Fixtures for the training walkthrough tests: writable copies of the v1-preprocessed synthetic CT task."""
from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import pytest

from nnunet_explorer.paths import Workspace, resolve_workspace


def workspace_at(root: Path) -> Workspace:
    return resolve_workspace({"nnUNet_raw_data_base": str(root / "raw"), "nnUNet_preprocessed": str(root / "pre"),
                              "RESULTS_FOLDER": str(root / "results")})


def copy_workspace(src: Workspace, dst: Path) -> Workspace:
    """Copy a workspace whose three folders share one parent (as the lead's fixtures make them)."""
    root = src.raw_data_base.parent
    assert src.preprocessed.parent == root and src.results_folder.parent == root
    shutil.copytree(root, dst, dirs_exist_ok=True)
    return resolve_workspace({"nnUNet_raw_data_base": str(dst / src.raw_data_base.name),
                              "nnUNet_preprocessed": str(dst / src.preprocessed.name),
                              "RESULTS_FOLDER": str(dst / src.results_folder.name)}).ensure()


@pytest.fixture(scope="session")
def ct_workspace(v1_ct_task, tmp_path_factory) -> Workspace:
    """A writable copy of the v1-preprocessed CT task, shared by the end-to-end tests of this folder."""
    return copy_workspace(v1_ct_task.workspace, tmp_path_factory.mktemp("ct_copy"))


@pytest.fixture
def two_stage_workspace(v1_ct_task, tmp_path) -> Workspace:
    """A copy whose 3D plans gain a second (full-resolution) stage, to exercise the cascade rules."""
    ws = copy_workspace(v1_ct_task.workspace, tmp_path / "two_stage")
    plans_file = ws.preprocessed_task_dir(v1_ct_task.task_name) / "nnUNetPlansv2.1_plans_3D.pkl"
    with open(plans_file, "rb") as f:
        plans = pickle.load(f)
    stage0 = plans["plans_per_stage"][0]
    stage1 = dict(stage0)
    stage1["patch_size"] = stage0["patch_size"] * 2
    stage1["batch_size"] = 3
    plans["plans_per_stage"] = {0: stage0, 1: stage1}
    plans["num_stages"] = 2
    with open(plans_file, "wb") as f:
        pickle.dump(plans, f)
    return ws
