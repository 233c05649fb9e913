"""`nnunet-explorer train NETWORK TRAINER TASK FOLD` without --until: the loop, then validation (v1's run_training.main)."""
from __future__ import annotations

from pathlib import Path

import pytest

from nnunet_explorer.cli import main

from .conftest import fold_folder


@pytest.mark.slow
def test_train_command_trains_then_validates_with_v1_flags(loop_ws, monkeypatch, capsys, tmp_path):
    import nnunet_explorer.inference.validation as validation

    calls = []

    def fake_validate(network, plans, stage, fold, stage_folder, val_keys, gt_folder, **kw):
        # real validation (sliding window over every validation case) is tested in tests/inference
        calls.append(dict(fold=Path(fold), training=network.training, **kw))

    monkeypatch.setattr(validation, "validate", fake_validate)
    report = tmp_path / "run.html"
    argv = ["train", "3d_fullres", "nnUNetTrainerV2", "901", "0", "--max_num_epochs", "1", "--num_batches_per_epoch",
            "1", "--num_val_batches_per_epoch", "1", "--deterministic", "--npz", "--report", str(report)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "I am running the following nnUNet: 3d_fullres" in out  # v1's configuration block first
    assert "epoch:  0" in out and "train loss : " in out  # v1's log lines, echoed
    folder = fold_folder(loop_ws)
    assert (folder / "model_final_checkpoint.model").is_file() and (folder / "progress.png").is_file()
    assert not (folder / "model_latest.model").exists()
    (call,) = calls
    assert call["fold"] == folder and not call["training"] and call["save_softmax"] is True
    assert call["overwrite"] is True and call["run_postprocessing_on_folds"] is True
    assert call["validation_folder_name"] == "validation_raw"
    assert report.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    # training again into the same folder without -c is refused (v1 would overwrite the checkpoints)
    assert main(argv[:-2] + ["--disable_validation_inference"]) == 2
    assert "already holds checkpoints" in capsys.readouterr().err
