"""A real training subprocess killed (SIGKILL) or interrupted (SIGINT): checkpoints survive, -c resumes, no leftovers."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import psutil
import pytest

from nnunet_explorer.training.hooks import EpochEnd, IterationEnd
from nnunet_explorer.training.lr_schedule import poly_lr
from nnunet_explorer.training.pretrained import read_checkpoint

from nnunet_explorer.run.run_training import check_fold_folder

from .conftest import copy_workspace, fold_folder, log_text, subprocess_env, tiny_trainer, wait_for

LOOP = [sys.executable, "-m", "nnunet_explorer.commands.run_training", "3d_fullres", "nnUNetTrainerV2", "901", "0"]


@pytest.mark.slow
def test_sigkill_mid_epoch_leaves_the_previous_checkpoint_and_c_resumes_from_it(v1_ct_task, tmp_path):
    ws = copy_workspace(v1_ct_task.workspace, tmp_path / "ws")
    folder = fold_folder(ws)
    proc = subprocess.Popen(LOOP + ["--max_num_epochs", "2", "--num_batches_per_epoch", "2",
                                    "--num_val_batches_per_epoch", "1", "--save_every", "1", "--deterministic",
                                    "--disable_validation_inference", "--quiet"],
                            env=subprocess_env(ws), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # epoch 0 finished and saved; epoch 1 has started: kill at a random moment inside it
        wait_for(lambda: (folder / "model_latest.model").is_file() and "epoch:  1" in log_text(folder), proc, 400)
        time.sleep(random.uniform(0.0, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    ckpt = read_checkpoint(folder / "model_latest.model")  # intact: written atomically before the kill
    assert ckpt["epoch"] == 1 and [len(x) for x in ckpt["plot_stuff"]] == [1, 1, 0, 1]
    assert not (folder / "model_final_checkpoint.model").exists()

    run, request = tiny_trainer(ws, epochs=2, batches=1, continue_training=True, deterministic=True, save_every=1,
                                plot_progress=False)
    check_fold_folder(run, request)
    run.load_latest_checkpoint()  # -c, as v1's main does after initialize
    s = run
    assert s.epoch == 1
    assert [float(v) for v in s.all_tr_losses] == [float(v) for v in ckpt["plot_stuff"][0]]
    assert [float(v) for v in s.all_val_eval_metrics] == [float(v) for v in ckpt["plot_stuff"][3]]
    assert (s.best_epoch_based_on_MA_tr_loss, s.best_MA_tr_loss_for_patience,
            s.best_val_eval_criterion_MA) == tuple(ckpt["best_stuff"])
    for key, value in ckpt["state_dict"].items():
        assert run.network.state_dict()[key].equal(value), key

    class Rec:
        def __init__(self):
            self.its, self.ends = [], []

        def on_iteration_end(self, e: IterationEnd):
            self.its.append(e)

        def on_epoch_end(self, e: EpochEnd):
            self.ends.append(e)

    rec = Rec()
    run.explorer.attach(rec)
    run.run_training()
    # the resumed epoch trains with poly_lr(1), as v1's run_training sets maybe_update_lr(self.epoch)
    assert rec.its[0].epoch == 1 and rec.its[0].lr == pytest.approx(poly_lr(1, 2, 1e-2))
    assert len(rec.ends) == 1 and rec.ends[0].epoch == 1
    tr = [float(v) for v in run.all_tr_losses]
    assert len(tr) == 2 and tr[0] == float(ckpt["plot_stuff"][0][0])  # logged history kept
    # moving averages are not stored in v1 checkpoints: after -c v1 restarts them from the next epoch
    assert rec.ends[0].train_loss_MA == pytest.approx(tr[1])
    assert rec.ends[0].val_eval_criterion_MA == pytest.approx(float(run.all_val_eval_metrics[1]))
    final = read_checkpoint(folder / "model_final_checkpoint.model")
    assert final["epoch"] == 2 and not (folder / "model_latest.model").exists()


@pytest.mark.slow
def test_sigint_saves_latest_stops_workers_and_exits_130(v1_ct_task, tmp_path):
    ws = copy_workspace(v1_ct_task.workspace, tmp_path / "ws")
    folder = fold_folder(ws)
    # no --deterministic: augmentation runs in worker processes (1 training + 1 validation worker)
    proc = subprocess.Popen(LOOP + ["--max_num_epochs", "2", "--num_batches_per_epoch", "50",
                                    "--num_val_batches_per_epoch", "1", "--disable_validation_inference", "--quiet"],
                            env=subprocess_env(ws), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        wait_for(lambda: "epoch:  0" in log_text(folder), proc, 400)
        parent = psutil.Process(proc.pid)
        wait_for(lambda: len(parent.children(recursive=True)) >= 2, proc, 60)
        workers = parent.children(recursive=True)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, out[-3000:]
    assert "model_latest.model was saved" in out
    ckpt = read_checkpoint(folder / "model_latest.model")
    assert ckpt["epoch"] == 0 and ckpt["plot_stuff"][0] == []
    assert "KeyboardInterrupt: saving model_latest.model" in log_text(folder)
    time.sleep(0.5)
    alive = [w.pid for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], f"augmentation workers left running: {alive}"
