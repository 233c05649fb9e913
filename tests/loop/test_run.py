"""The trainer's run_training end to end on the v1-preprocessed CT task: files, checkpoints, hooks, stop, NaN."""
from __future__ import annotations

import subprocess
import sys
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from nnunet_explorer.fileio import load_pickle
from nnunet_explorer.training.checkpoint_saving import CHECKPOINT_KEYS, MODEL_PKL_KEYS
from nnunet_explorer.training.hooks import EpochEnd, IterationEnd, TrainEnd, TrainStart, ValidationEnd
from nnunet_explorer.network_training import run_in_background
from nnunet_explorer.run.run_training import train_or_load
from nnunet_explorer.training.lr_schedule import poly_lr
from nnunet_explorer.training.nonfinite import NonFiniteError
from nnunet_explorer.training.pretrained import read_checkpoint

from .conftest import copy_workspace, fold_folder, subprocess_env, tiny_trainer


@pytest.mark.slow
def test_run_writes_v1_files_and_removes_latest(trained):
    ws, run, result, _ = trained
    folder = fold_folder(ws)
    assert result.output_folder == folder and not result.stopped_early
    names = {p.name for p in folder.iterdir()}
    assert {"model_final_checkpoint.model", "model_final_checkpoint.model.pkl", "progress.png", "debug.json"} <= names
    assert "model_latest.model" not in names and "model_latest.model.pkl" not in names  # deleted after final
    assert not [n for n in names if n.endswith(".tmp")]  # no leftovers of atomic writes
    assert (folder.parent / "plans.pkl").read_bytes() == \
        (ws.preprocessed_task_dir("Task901_SynthCT") / "nnUNetPlansv2.1_plans_3D.pkl").read_bytes()
    log = result.log_file
    assert log is not None and log.name.startswith("training_log_") and log.parent == folder
    text = log.read_text()
    assert text.startswith("Starting... \n")
    for line in ("epoch:  0", "epoch:  1", "train loss : ", "validation loss: ", "Average global foreground Dice:",
                 "lr: 0.005359", "This epoch took", "saving checkpoint...", "Desired fold for training: 0",
                 "Creating new 5-fold cross-validation split...",
                 "This split has 8 training and 2 validation cases."):  # 10 cases, 5 folds
        assert line in text, line
    # the final checkpoint: v1's keys in v1's order, epoch = max_num_epochs, one value per epoch
    ckpt = read_checkpoint(folder / "model_final_checkpoint.model")
    assert tuple(ckpt) == CHECKPOINT_KEYS  # fp16 requested (v1 default) -> amp_grad_scaler present ({} on CPU)
    assert ckpt["epoch"] == 2 and ckpt["amp_grad_scaler"] == {} and ckpt["lr_scheduler_state_dict"] is None
    tr, val, tr_mode, metrics = ckpt["plot_stuff"]
    assert len(tr) == len(val) == len(metrics) == 2 and tr_mode == []
    assert all(isinstance(v, np.float32) for v in tr + val)  # v1: np.mean of float32 losses
    assert set(ckpt["state_dict"]) == set(run.network.state_dict())  # run: the trainer
    info = load_pickle(folder / "model_final_checkpoint.model.pkl")
    assert isinstance(info, OrderedDict) and tuple(info) == MODEL_PKL_KEYS
    assert info["name"] == "nnUNetTrainerV2" and info["init"][1] == 0 and info["init"][-1] is True  # fold, fp16
    assert info["plans"]["plans_per_stage"][0]["patch_size"].tolist() == list(run.patch_size)


@pytest.mark.slow
def test_hooks_carry_the_loop_scalars_and_their_cost_is_measured(trained):
    _, run, result, rec = trained
    starts, its, vals, ends = rec.of(TrainStart), rec.of(IterationEnd), rec.of(ValidationEnd), rec.of(EpochEnd)
    assert len(starts) == 1 and starts[0].max_num_epochs == 2 and starts[0].num_classes == 3
    assert len(its) == 2 and len(vals) == 2 and len(ends) == 2 and len(rec.of(TrainEnd)) == 1
    assert rec.of(TrainEnd)[0].last_epoch == 1 and not rec.of(TrainEnd)[0].stopped_early
    # epoch e trains with poly_lr(e); the epoch end announces the next epoch's rate
    assert [i.lr for i in its] == pytest.approx([poly_lr(0, 2, 1e-2), poly_lr(1, 2, 1e-2)])
    assert [e.lr_next for e in ends] == pytest.approx([poly_lr(1, 2, 1e-2), poly_lr(2, 2, 1e-2)])
    for it in its:
        assert it.ce is not None and it.dice is not None and it.ce + it.dice == pytest.approx(it.loss, rel=1e-4)
        assert it.grad_norm is not None and it.grad_norm > 0 and it.compute_seconds > 0 and it.data_seconds >= 0
    # the epoch's values are those stored in the checkpoint lists
    tr, metrics = run.all_tr_losses, run.all_val_eval_metrics
    assert [e.train_loss for e in ends] == pytest.approx([float(v) for v in tr])
    assert [e.mean_global_dice for e in ends] == pytest.approx([float(v) for v in metrics])
    assert [v.mean_global_dice for v in vals] == pytest.approx([float(v) for v in metrics])
    assert len(vals[0].global_dice_per_class) <= 2
    # train_loss_MA: first value, then 0.93 MA + 0.07 loss
    assert ends[0].train_loss_MA == pytest.approx(float(tr[0]))
    assert ends[1].train_loss_MA == pytest.approx(0.93 * float(tr[0]) + 0.07 * float(tr[1]), rel=1e-6)
    assert "model_latest.model" in ends[0].saved
    # hook cost: measured, and tiny next to the compute of an iteration
    compute = sum(e.compute_seconds for e in ends)
    assert 0 < result.hook_seconds < 0.02 * compute, (result.hook_seconds, compute)
    print(f"\nno-op recording observer: {result.hook_seconds * 1e3:.3f} ms over {result.iterations} iterations "
          f"({100 * result.hook_seconds / compute:.4f} % of compute)")


@pytest.mark.slow
def test_deterministic_cpu_runs_reproduce_the_same_losses(trained, v1_ct_task, tmp_path):
    _, _, first, _ = trained
    ws = copy_workspace(v1_ct_task.workspace, tmp_path / "again")
    # --disable_saving changes nothing but which checkpoints are written (here: none at all, as in v1: no final,
    # no best, model_latest only every 50 epochs)
    again = train_or_load(*tiny_trainer(ws, epochs=1, deterministic=True, plot_progress=False, disable_saving=True))
    assert again.final_checkpoint is None and not list(fold_folder(ws).glob("model_*"))
    # epoch 0 of both runs: same seed, same LR (poly_lr(0) = initial_lr), single-threaded augmentation
    assert again.all_tr_losses[0] == first.all_tr_losses[0]
    assert again.all_val_losses[0] == first.all_val_losses[0]
    assert again.all_val_eval_metrics[0] == first.all_val_eval_metrics[0]


@pytest.mark.slow
def test_stop_from_another_thread_ends_after_the_iteration_and_saves_latest(loop_ws):
    run, _ = tiny_trainer(loop_ws, epochs=3, batches=50, single_threaded=True, plot_progress=False)
    first_iteration = threading.Event()

    class Signal:
        def on_iteration_end(self, e):
            first_iteration.set()

    class Broken:
        def on_iteration_end(self, e):
            raise ValueError("a buggy live view")

    handle = run_in_background(run, [Broken(), Signal()])
    assert first_iteration.wait(300)
    handle.stop("test asked")
    result = handle.result(timeout=120)
    assert result.stopped_early and result.reason == "test asked" and result.iterations < 50
    latest = fold_folder(loop_ws) / "model_latest.model"
    ckpt = read_checkpoint(latest)
    assert ckpt["epoch"] == 0 and ckpt["plot_stuff"][0] == []  # no finished epoch: the partial one is dropped
    assert not (fold_folder(loop_ws) / "model_final_checkpoint.model").exists()
    # the broken observer was detached (and named in the log); training went on to the stop
    assert "observer Broken.on_iteration_end raised ValueError: a buggy live view; it is detached" in \
        result.log_file.read_text()


EXIT_MID_RUN = """
import importlib.util
import sys
import threading

spec = importlib.util.spec_from_file_location("loop_conftest", sys.argv[1])
loop = importlib.util.module_from_spec(spec)
spec.loader.exec_module(loop)
from nnunet_explorer.network_training import run_in_background
from nnunet_explorer.paths import resolve_workspace

ws = resolve_workspace()
run, _ = loop.tiny_trainer(ws, epochs=3, batches=50, single_threaded=True, plot_progress=False)
first_iteration = threading.Event()


class Signal:
    def on_iteration_end(self, e):
        first_iteration.set()


handle = run_in_background(run, [Signal()])
assert first_iteration.wait(300)
print("leaving with the run going", flush=True)
"""


@pytest.mark.slow
def test_a_background_run_still_going_at_interpreter_exit_stops_and_saves_latest(loop_ws, tmp_path):
    """A script (or a notebook kernel) ends while ``run_in_background`` trains: the exit handler stops the run
    after its iteration, as the Stop button does, so ``model_latest.model`` is there to resume from."""
    script = tmp_path / "exit_mid_run.py"
    script.write_text(EXIT_MID_RUN)
    out = subprocess.run([sys.executable, str(script), str(Path(__file__).with_name("conftest.py"))],
                         capture_output=True, text=True, timeout=600, env=subprocess_env(loop_ws))
    assert out.returncode == 0, out.stderr
    assert "leaving with the run going" in out.stdout
    folder = fold_folder(loop_ws)
    ckpt = read_checkpoint(folder / "model_latest.model")
    assert ckpt["epoch"] == 0  # stopped inside the first epoch of 3 x 50 iterations
    assert not (folder / "model_final_checkpoint.model").exists()
    log = next(folder.glob("training_log_*.txt")).read_text()
    assert "the Python process is exiting" in log


class _NaNInput:
    """Wraps the training augmenter: the first batch's data gets a NaN."""

    def __init__(self, inner):
        self.inner, self.shutdown = inner, inner.shutdown

    def __iter__(self):
        return self

    def __next__(self):
        batch = next(self.inner)
        data = batch["data"]
        data = data.clone() if isinstance(data, torch.Tensor) else np.array(data, copy=True)
        data[0, 0, 0, 0, 0] = float("nan")
        return dict(batch, data=data)


@pytest.mark.slow
def test_nan_guard_stops_and_says_input(loop_ws):
    trainer, request = tiny_trainer(loop_ws, epochs=1, batches=2, single_threaded=True, plot_progress=False)
    trainer.tr_gen = _NaNInput(trainer.tr_gen)  # after initialize, as v1's own tests swap generators
    ends = []

    class Ends:
        def on_train_end(self, e):
            ends.append(e)

    trainer.explorer.attach(Ends())
    with pytest.raises(NonFiniteError) as info:
        train_or_load(trainer, request)
    assert len(ends) == 1 and ends[0].stopped_early and "non-finite" in ends[0].reason  # live views are told
    assert ends[0].last_epoch == -1  # stopped in epoch 0: none finished
    report = info.value.report
    assert report.where == "input" and report.phase == "training" and report.epoch == 0 and report.iteration == 0
    assert "input" in str(info.value) and "fix:" in str(info.value)
    assert not (fold_folder(loop_ws) / "model_latest.model").exists()  # nothing saved from a poisoned state


@pytest.mark.slow
def test_pretrained_weights_flag_loads_a_checkpoint_and_reports(trained, v1_ct_task, tmp_path):
    ws, first_run, _, _ = trained
    source = fold_folder(ws) / "model_final_checkpoint.model"
    other = copy_workspace(v1_ct_task.workspace, tmp_path / "pre")
    trainer, request = tiny_trainer(other, pretrained_weights=str(source), plot_progress=False)
    at_start = {}

    class Start:  # the weights as training starts (after -pretrained_weights, before the first iteration)
        def on_train_start(self, e):
            at_start.update(epoch=e.start_epoch, weights={k: v.clone() for k, v in trainer.network.state_dict().items()})

    trainer.explorer.attach(Start())
    train_or_load(trainer, request)
    assert set(at_start["weights"]) == set(first_run.network.state_dict())
    for key, value in read_checkpoint(source)["state_dict"].items():
        assert at_start["weights"][key].equal(value), key
    assert at_start["epoch"] == 0  # weights only: training starts at epoch 0 (v1 ignores the rest of the file)
    assert "pretrained weights from" in Path(trainer.log_file).read_text()


@pytest.mark.slow
def test_val_flag_loads_the_final_checkpoint_and_passes_v1_validate_arguments(trained, tmp_path, monkeypatch):
    import nnunet_explorer.inference.validation as validation
    from nnunet_explorer.paths import environment_for
    from nnunet_explorer.cli import main

    ws, run, _, _ = trained
    copy = copy_workspace(ws, tmp_path / "val")  # includes the trained fold folder
    for key, value in environment_for(copy).items():
        monkeypatch.setenv(key, value)
    calls = []

    def fake_validate(network, plans, stage, fold_folder, stage_folder, val_keys, gt_folder, **kw):
        calls.append(dict(network=network, fold_folder=Path(fold_folder), val_keys=list(val_keys),
                          gt=Path(gt_folder), training=network.training, **kw))

    monkeypatch.setattr(validation, "validate", fake_validate)
    argv = ["train", "3d_fullres", "nnUNetTrainerV2", "901", "0", "-val", "--npz", "--val_disable_overwrite",
            "--disable_postprocessing_on_folds", "--val_folder", "my_val", "--quiet"]
    assert main(argv) == 0
    (call,) = calls
    assert call["fold_folder"] == fold_folder(copy) and call["val_keys"] == list(run.dataset_val)
    assert call["gt"].name == "gt_segmentations" and not call["training"]
    # v1: save_softmax=--npz, validation_folder_name=--val_folder, overwrite=--val_disable_overwrite (store_false),
    # run_postprocessing_on_folds=not --disable_postprocessing_on_folds
    assert call["save_softmax"] is True and call["overwrite"] is False and call["validation_folder_name"] == "my_val"
    assert call["run_postprocessing_on_folds"] is False
    final = read_checkpoint(fold_folder(copy) / "model_final_checkpoint.model")["state_dict"]
    assert all(call["network"].state_dict()[k].equal(v) for k, v in final.items())


def test_momentum_rescue_at_epoch_100_only_when_dice_is_zero(loop_ws):
    """V2's on_epoch_end, called as the loop calls it: at epoch 100 a global Dice of exactly 0 lowers momentum."""
    trainer, _ = tiny_trainer(loop_ws, plot_progress=False)
    before = {k: v.clone() for k, v in trainer.network.state_dict().items()}

    def epoch_end(epoch, dice_zero):
        trainer.epoch = epoch
        trainer.all_tr_losses, trainer.all_val_losses, trainer.train_loss_MA = [1.0], [1.0], 1.0
        # one validation batch's counts: no true positive at all -> Dice 0; else some overlap
        trainer.online_eval_tp, trainer.online_eval_fp, trainer.online_eval_fn = \
            ([[0.0, 0.0]], [[3.0, 1.0]], [[2.0, 5.0]]) if dice_zero else ([[4.0, 1.0]], [[3.0, 1.0]], [[2.0, 5.0]])
        return trainer.on_epoch_end()

    assert epoch_end(100, dice_zero=False) is False  # V2: continue while epoch < max_num_epochs (here 1)
    assert trainer.optimizer.param_groups[0]["momentum"] == 0.99
    epoch_end(99, dice_zero=True)
    assert trainer.optimizer.param_groups[0]["momentum"] == 0.99
    epoch_end(100, dice_zero=True)  # v1 (nnUNetTrainerV2.on_epoch_end): momentum 0.95 and He re-initialisation
    assert trainer.all_val_eval_metrics[-1] == 0
    assert trainer.optimizer.param_groups[0]["momentum"] == 0.95
    changed = [k for k, v in trainer.network.state_dict().items() if k.endswith("weight") and not v.equal(before[k])]
    assert any("conv_blocks" in k for k in changed)
    assert "Momentum has now been reduced to 0.95" in Path(trainer.log_file).read_text()


def test_c_warns_when_a_later_runs_model_latest_would_be_skipped_for_the_final_checkpoint(trained, tmp_path, capsys):
    """v1's ``-c`` takes ``model_final_checkpoint`` before a newer ``model_latest`` (left by a later run in the
    same folder): the explorer does the same, and says so first, in the log and (``--quiet``) on stderr."""
    import os
    import shutil

    from nnunet_explorer.run.run_training import stale_final_checkpoint

    ws, _, _, _ = trained
    copy = copy_workspace(ws, tmp_path / "stale")
    folder = fold_folder(copy)
    final, latest = folder / "model_final_checkpoint.model", folder / "model_latest.model"
    assert stale_final_checkpoint(folder) is None  # a finished run: v1 deleted model_latest
    shutil.copy(final, latest)
    shutil.copy(f"{final}.pkl", f"{latest}.pkl")
    os.utime(latest, (final.stat().st_mtime - 60,) * 2)
    assert stale_final_checkpoint(folder) is None  # an older model_latest is no loss
    os.utime(latest, (final.stat().st_mtime + 60,) * 2)
    trainer, request = tiny_trainer(copy, epochs=2, continue_training=True, plot_progress=False)
    capsys.readouterr()
    train_or_load(trainer, request)
    err = capsys.readouterr().err
    assert "-c loads model_final_checkpoint.model, as v1 does, but model_latest.model" in err
    log = Path(trainer.log_file).read_text()
    assert "WARNING: -c loads model_final_checkpoint.model" in log
    assert log.index("WARNING: -c loads") < log.index(f"loading checkpoint {final}")  # said first, then v1's choice
    # notebooks' `%run train_one_epoch.py ... -c` goes through the same function, so it warns too
    shutil.copy(final, latest)
    os.utime(latest, (final.stat().st_mtime + 60,) * 2)
    script = Path(__file__).resolve().parents[2] / "notebooks" / "train_one_epoch.py"
    done = subprocess.run([sys.executable, str(script), "3d_fullres", "nnUNetTrainerV2", "901", "0", "-c", "--quiet",
                           "--single_threaded", "--device", "cpu", "--max_num_epochs", "3", "--num_batches_per_epoch",
                           "1", "--num_val_batches_per_epoch", "1"], env=subprocess_env(copy), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "-c loads model_final_checkpoint.model, as v1 does, but model_latest.model" in done.stderr
