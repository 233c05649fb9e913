"""The steps after `iteration`: epoch_end, training_epochs, validate, prediction (tiny synthetic CT task)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from nnunet_explorer.cli import main
from nnunet_explorer.paths import environment_for
from nnunet_explorer.training.loop import global_dice
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
    assert WALKTHROUGH_STEP_NAMES == TRAINING_STEP_NAMES + ("epoch_end", "training_epochs", "validate", "prediction")
    assert RUN_STEP_NAMES == WALKTHROUGH_STEP_NAMES[-4:]


@pytest.fixture(scope="module")
def run_ws(v1_ct_task, tmp_path_factory):
    return _copy_workspace(v1_ct_task.workspace, tmp_path_factory.mktemp("run_steps"))


@pytest.mark.slow
def test_epoch_end_training_validate_and_prediction_run_and_give_cards(run_ws):
    pipeline = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0, workspace=run_ws)
    pipeline.run(until="epoch_end")
    end, record, trainer = pipeline["epoch_end"], pipeline["iteration"], pipeline["trainer"]
    counts = record.online_evaluation
    per_class, mean = global_dice([counts.tp], [counts.fp], [counts.fn])
    assert end.mean_global_dice == pytest.approx(float(mean), nan_ok=True)
    assert end.train_loss_MA == pytest.approx(record.loss)  # first epoch: MA = the loss
    assert end.lr_next == pytest.approx(trainer.learning_rate(1))
    assert end.checkpoints == () and not end.new_best  # epoch 0: no scheduled save, first value is no "best"

    pipeline.set_params("training_epochs", max_num_epochs=2, num_batches_per_epoch=1, num_val_batches_per_epoch=1)
    pipeline.run(until="prediction")
    trained = pipeline["training_epochs"]
    assert len(trained.all_tr_losses) == 2 and "model_final_checkpoint.model" in trained.files
    assert "progress.png" in trained.files
    report = pipeline["validate"]
    summary = json.loads(report.summary_file.read_text())
    assert len(summary["results"]["all"]) == len(pipeline["split"].val)
    pred = pipeline["prediction"]
    assert pred.output_file.is_file() and set(pred.labels) <= {0, 1, 2}
    page = pipeline.report_html()
    for name in RUN_STEP_NAMES:
        assert f"<b>{name}</b>" in page
    assert page.count("class='nnx-card nnx-ok'") == len(WALKTHROUGH_STEP_NAMES)
    loss_card = page[page.index("<b>training_epochs</b>"):page.index("<b>validate</b>")]
    assert loss_card.count('<img src="data:image/png;base64,') == 1
    assert np.isfinite(trained.all_tr_losses).all()


@pytest.mark.slow
def test_until_validate_from_the_cli(v1_ct_task, tmp_path, monkeypatch, capsys):
    ws = _copy_workspace(v1_ct_task.workspace, tmp_path / "cli")
    for key, value in environment_for(ws).items():
        monkeypatch.setenv(key, value)
    assert main(["train", "3d_fullres", "nnUNetTrainerV2", "901", "0", "--until", "validate"]) == 0
    out = capsys.readouterr().out
    n = WALKTHROUGH_STEP_NAMES.index("validate") + 1
    assert f"[{n}/{n}] validate" in out
    assert (ws.results_folder / "nnUNet" / "3d_fullres").is_dir()
