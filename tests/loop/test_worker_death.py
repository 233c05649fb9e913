"""SIGKILL of a real ``nnunet-explorer train`` run (what the OOM killer or a scheduler's hard kill does) leaves none
of its augmentation workers behind."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import psutil
import pytest

from ..processes import wait_until_gone
from .conftest import copy_workspace, fold_folder, log_text, subprocess_env, wait_for

TRAIN = [sys.executable, "-m", "nnunet_explorer.cli", "train", "3d_fullres", "nnUNetTrainerV2", "901", "0"]


@pytest.mark.slow
def test_sigkill_of_a_training_run_leaves_no_process_behind(v1_ct_task, tmp_path):
    ws = copy_workspace(v1_ct_task.workspace, tmp_path / "ws")
    folder = fold_folder(ws)
    env = subprocess_env(ws)
    env["nnUNet_n_proc_DA"] = "2"  # 2 training + 1 validation worker
    # no --deterministic: augmentation runs in worker processes
    proc = subprocess.Popen(TRAIN + ["--max_num_epochs", "2", "--num_batches_per_epoch", "200",
                                     "--num_val_batches_per_epoch", "1", "--disable_validation_inference", "--quiet",
                                     "--device", "cpu"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    children = []
    try:
        wait_for(lambda: "epoch:  0" in log_text(folder), proc, 400)
        parent = psutil.Process(proc.pid)
        wait_for(lambda: len(parent.children(recursive=True)) >= 2, proc, 60)
        time.sleep(0.5)
        children = parent.children(recursive=True)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        left = wait_until_gone(children, timeout=5, interval=0.1)
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in children:  # never leave orphans behind, even when the assertion below fails
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
    assert proc.returncode == -signal.SIGKILL
    assert len(children) >= 2
    assert not left, f"processes of the killed run still alive: {left}"
