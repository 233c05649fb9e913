"""``make demo`` looks where the explorer writes: nnU-Net's own folder variables win over the workspace's."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _demo_commands(**env: str) -> str:
    """The commands ``make -n demo`` would run (nothing is run; -B so the install step is listed, not skipped)."""
    environ = {k: v for k, v in os.environ.items()
               if k not in ("nnUNet_raw_data_base", "nnUNet_preprocessed", "RESULTS_FOLDER", "DEMO_TASK")}
    environ.update(env)
    return subprocess.run(["make", "-n", "-B", "demo"], cwd=ROOT, env=environ, capture_output=True, text=True,
                          check=True).stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_demo_follows_nnunets_folder_variables_and_the_task_id(tmp_path):
    plain = _demo_commands(NNUNET_EXPLORER_WORKSPACE=str(tmp_path / "ws"))
    assert f"-i {tmp_path}/ws/raw/nnUNet_raw_data/Task901_SyntheticCT/imagesTs" in plain
    assert f"{tmp_path}/ws/results/nnUNet/3d_fullres/Task901_SyntheticCT/" in plain
    own = _demo_commands(NNUNET_EXPLORER_WORKSPACE=str(tmp_path / "ws"), nnUNet_raw_data_base=str(tmp_path / "r"),
                         nnUNet_preprocessed=str(tmp_path / "p"), RESULTS_FOLDER=str(tmp_path / "s"), DEMO_TASK="42")
    assert f"-i {tmp_path}/r/nnUNet_raw_data/Task042_SyntheticCT/imagesTs" in own
    assert f"{tmp_path}/s/nnUNet/3d_fullres/Task042_SyntheticCT/nnUNetTrainerV2__nnUNetPlansv2.1/fold_0" in own
    assert "sample synthetic-ct --task_id 42" in own and "/ws/raw/" not in own
