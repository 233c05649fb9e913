"""Fixtures of the conformance suite: a writable copy of the v1-preprocessed synthetic CT task."""
from __future__ import annotations

import shutil

import pytest

from nnunet_explorer.paths import Workspace, environment_for, resolve_workspace


def copy_v1_workspace(src: Workspace, dst) -> Workspace:
    """Copy the shared (read-only) v1 workspace; its three folders share one parent."""
    shutil.copytree(src.raw_data_base.parent, dst, dirs_exist_ok=True)
    return resolve_workspace({"nnUNet_raw_data_base": str(dst / src.raw_data_base.name),
                              "nnUNet_preprocessed": str(dst / src.preprocessed.name),
                              "RESULTS_FOLDER": str(dst / src.results_folder.name)}).ensure()


@pytest.fixture
def loop_ws(v1_ct_task, tmp_path, monkeypatch) -> Workspace:
    """A private copy of the CT task with the nnU-Net variables pointing at it."""
    ws = copy_v1_workspace(v1_ct_task.workspace, tmp_path / "ws")
    for key, value in environment_for(ws).items():
        monkeypatch.setenv(key, value)
    return ws
