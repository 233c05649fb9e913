"""The steps after `iteration`: training_epochs, epoch_end, validate, prediction (tiny synthetic CT task)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from nnunet_explorer.cli import main
from nnunet_explorer.paths import environment_for
from nnunet_explorer.training.lr_schedule import poly_lr
from nnunet_explorer.walkthrough import TRAINING_STEP_NAMES, WALKTHROUGH_STEP_NAMES, training_walkthrough
from nnunet_explorer.walkthrough_run import RUN_STEP_NAMES
from nnunet_explorer.views import report_figures  # noqa: F401 - registers the cards' pictures, as the CLI and views do


def _copy_workspace(src, dst):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("walkthrough_conftest", Path(__file__).with_name("conftest.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.copy_workspace(src, dst)


def test_run_steps_follow_iteration_in_v1s_order():
    assert WALKTHROUGH_STEP_NAMES == TRAINING_STEP_NAMES + ("training_epochs", "epoch_end", "validate", "prediction")
    assert RUN_STEP_NAMES == WALKTHROUGH_STEP_NAMES[-4:]


@pytest.fixture(scope="module")
def run_ws(v1_ct_task, tmp_path_factory):
    return _copy_workspace(v1_ct_task.workspace, tmp_path_factory.mktemp("run_steps"))


@pytest.mark.slow
def test_training_epoch_end_validate_and_prediction_run_on_the_same_trainer_and_give_cards(run_ws):
    pipeline = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0, workspace=run_ws, max_num_epochs=2,
                                    num_batches_per_epoch=1, num_val_batches_per_epoch=1)
    pipeline.run(until="epoch_end")
    trainer, trained, end = pipeline["trainer"], pipeline["training_epochs"], pipeline["epoch_end"]
    assert len(trained.all_tr_losses) == 2 and "model_final_checkpoint.model" in trained.files
    assert "progress.png" in trained.files and trained.network is trainer.network
    assert list(trained.all_tr_losses) == [float(v) for v in trainer.all_tr_losses]
    # the last epoch's end, as it ran: v1's order of calls
    assert end.epoch == 1 and end.order[:8] == ("update_train_loss_MA", "on_epoch_end", "finish_online_evaluation",
                                                "plot_progress", "maybe_update_lr", "maybe_save_checkpoint",
                                                "update_eval_criterion_MA", "manage_patience")
    assert set(end.order[8:]) <= {"save_checkpoint"}  # manage_patience writes model_best when the Dice MA improved
    assert end.lr_next == pytest.approx(poly_lr(2, 2, 1e-2)) and not end.another_epoch
    # V2's on_epoch_end returns epoch < max_num_epochs before the loop's epoch += 1: True after the last epoch
    # too; the while loop ends the run
    assert end.continue_training is True and "epoch + 1 reached max_num_epochs" in end.summary()
    assert end.train_loss_MA == pytest.approx(0.93 * trained.all_tr_losses[0] + 0.07 * trained.all_tr_losses[1],
                                              rel=1e-6)
    finish = next(c for top in end.calls for c in top.walk() if c.name == "finish_online_evaluation")
    assert "all_val_eval_metrics" not in finish.set_attributes  # appended in place, the list object is the same
    pipeline.run(until="prediction")
    report = pipeline["validate"]
    summary = json.loads(report.summary_file.read_text())
    assert len(summary["results"]["all"]) == len(pipeline["split"].val)
    pred = pipeline["prediction"]
    assert pred.output_file.is_file() and set(pred.labels) <= {0, 1, 2}
    page = pipeline.report_html()
    for name in RUN_STEP_NAMES:
        assert f"<b>{name}</b>" in page
    assert page.count("class='nnx-card nnx-ok'") == len(WALKTHROUGH_STEP_NAMES)
    loss_card = page[page.index("<b>training_epochs</b>"):page.index("<b>epoch_end</b>")]
    assert loss_card.count('<img src="data:image/png;base64,') == 1
    assert np.isfinite(trained.all_tr_losses).all()


@pytest.mark.slow
def test_until_validate_from_the_cli(v1_ct_task, tmp_path, monkeypatch, capsys):
    ws = _copy_workspace(v1_ct_task.workspace, tmp_path / "cli")
    for key, value in environment_for(ws).items():
        monkeypatch.setenv(key, value)
    assert main(["train", "3d_fullres", "nnUNetTrainerV2", "901", "0", "--until", "validate", "--max_num_epochs", "1",
                 "--num_batches_per_epoch", "1", "--num_val_batches_per_epoch", "1", "--deterministic"]) == 0
    out = capsys.readouterr().out
    n = WALKTHROUGH_STEP_NAMES.index("validate") + 1
    assert f"[{n}/{n}] validate" in out
    folder = ws.results_folder / "nnUNet" / "3d_fullres" / "Task901_SynthCT" / "nnUNetTrainerV2__nnUNetPlansv2.1" / \
        "fold_0"
    log = next(folder.glob("training_log_*.txt")).read_text()
    # --max_num_epochs 1 trains one epoch (the step has no defaults of its own)
    assert log.count("train loss : ") == 1 and "epoch:  1" not in log
    walked_loss = log.split("train loss : ")[1].split()[0]
    # the same command without --until trains the very same epoch: the walkthrough's looks changed nothing
    ws2 = _copy_workspace(v1_ct_task.workspace, tmp_path / "cli2")
    for key, value in environment_for(ws2).items():
        monkeypatch.setenv(key, value)
    assert main(["train", "3d_fullres", "nnUNetTrainerV2", "901", "0", "--max_num_epochs", "1",
                 "--num_batches_per_epoch", "1", "--num_val_batches_per_epoch", "1", "--deterministic",
                 "--disable_validation_inference"]) == 0
    folder2 = ws2.results_folder / folder.relative_to(ws.results_folder)
    log2 = next(folder2.glob("training_log_*.txt")).read_text()
    assert log2.split("train loss : ")[1].split()[0] == walked_loss
