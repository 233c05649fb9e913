"""Fixtures of the conformance suite: the v1-preprocessed CT task (tests/conftest.py's ``v1_ct_task``), and
writable copies of the tasks the v1 reference data (``v1_reference.json``) was measured on."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # variant_tasks, v1_harness (tests use --import-mode=importlib)

import variant_tasks  # noqa: E402


@pytest.fixture(scope="session")
def v1_variant_workspaces(v1_ct_task, v1_cascade_task, tmp_path_factory) -> dict:
    """``{'ct': ..., 'cascade': ...}``: writable copies of the shared v1 tasks, as ``variant_tasks.build_all``
    makes them (the CT one with the residual-encoder plans, the cascade one with
    ``pred_next_stage/CASE_segFromPrevStage.npz``). v1 writes into them."""
    root = tmp_path_factory.mktemp("v1_variant_tasks")
    ct = variant_tasks.copy_workspace_tree(v1_ct_task.workspace, root / "ct")
    variant_tasks.add_residual_unet_plans(ct, v1_ct_task.task_name)
    cascade = variant_tasks.copy_workspace_tree(v1_cascade_task.workspace, root / "cascade")
    variant_tasks.write_prev_stage_segmentations(cascade, v1_cascade_task.task_name)
    return {"ct": ct, "cascade": cascade}


@pytest.fixture(autouse=True, scope="module")
def _registry_as_before():
    """The ported variant files register their classes (some under built-in names such as
    ``nnUNetTrainerV2_2epochs``); the tests after this module find the registry as it was."""
    from nnunet_explorer.network_training.registry import registry_restored

    with registry_restored():
        yield
