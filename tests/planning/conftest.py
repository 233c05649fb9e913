"""Fixtures for the planning tests: explorer runs on copies of the v1-preprocessed synthetic tasks."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # planning_parity_helpers (tests use --import-mode=importlib)

from nnunet_explorer.paths import resolve_workspace  # noqa: E402


def _explorer_copy(tmp_path_factory, v1_task, name: str):
    """Copy only the *raw* task of a v1 fixture into a fresh workspace and run the explorer there."""
    from nnunet_explorer.planning.run import plan_and_preprocess

    root = tmp_path_factory.mktemp(f"explorer_{name}")
    ws = resolve_workspace({"nnUNet_raw_data_base": str(root / "raw"), "nnUNet_preprocessed": str(root / "pre"),
                            "RESULTS_FOLDER": str(root / "results")}).ensure()
    shutil.copytree(v1_task.raw_dir, ws.raw_task_dir(v1_task.task_name))
    results = plan_and_preprocess([v1_task.task_id], workspace=ws, tl=1, tf=1, progress=False, log=lambda m: None)
    return ws, results[0]


@pytest.fixture(scope="session")
def explorer_ct(tmp_path_factory, v1_ct_task):
    return _explorer_copy(tmp_path_factory, v1_ct_task, "ct")


@pytest.fixture(scope="session")
def explorer_mr(tmp_path_factory, v1_mr_task):
    return _explorer_copy(tmp_path_factory, v1_mr_task, "mr")
