"""``inspect``: a fold folder trained by the real nnU-Net v1, an explorer run resumed with -c and a changed
max_num_epochs, and each diagnosis rule on synthetic v1-format logs (each test fails if its rule is removed)."""
from __future__ import annotations

import html
import json
import textwrap
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from nnunet_explorer.cli import main
from nnunet_explorer.inspection import InspectionError, implied_max_num_epochs, inspect_fold

T0 = datetime(2026, 3, 4, 9, 5, 7)


def poly(epoch: int, max_epochs: int) -> float:
    return 0.01 * (1 - epoch / max_epochs) ** 0.9


def write_log(folder: Path, epochs, *, start: datetime = T0, max_epochs: int = 1000, resumed: bool = False,
              train=None, val=None, dice=None) -> Path:
    """A training log exactly in v1's format (``print_to_log_file`` lines)."""
    folder.mkdir(parents=True, exist_ok=True)
    name = "training_log_%d_%d_%d_%02.0d_%02.0d_%02.0d.txt" % (start.year, start.month, start.day, start.hour,
                                                                start.minute, start.second)
    stamp = lambda: "%s:" % start  # noqa: E731
    lines = ["Starting... "]
    if resumed:
        lines.append(f"{stamp()} loading checkpoint {folder}/model_latest.model train= True ")
    lines.append(f"{stamp()} lr: {np.round(poly(epochs[0], max_epochs), 6)} ")
    for i, e in enumerate(epochs):
        lines += ["", f"{stamp()} ", f"epoch:  {e} ", f"{stamp()} train loss : {train(e):.4f} ",
                  f"{stamp()} validation loss: {val(e):.4f} ",
                  f"{stamp()} Average global foreground Dice: {[np.float32(np.round(d, 4)) for d in dice(e)]} ",
                  f"{stamp()} (interpret this as an estimate for the Dice of the different classes. This is not "
                  "exact.) ", f"{stamp()} lr: {np.round(poly(e + 1, max_epochs), 6)} ",
                  f"{stamp()} This epoch took 12.500000 s", " "]
    (folder / name).write_text("\n".join(lines) + "\n")
    (folder / "debug.json").write_text(json.dumps({"max_num_epochs": str(max_epochs), "initial_lr": "0.01"}))
    return folder / name


def rules(result) -> set[str]:
    return {f.rule for f in result.findings}


# ------------------------------------------------------------------ rules on synthetic logs


def test_rising_moving_average_is_still_learning(tmp_path):
    write_log(tmp_path, list(range(40)), train=lambda e: 1 - e / 50, val=lambda e: 1 - e / 60,
              dice=lambda e: [0.2 + e / 50, 0.1 + e / 60])
    result = inspect_fold(tmp_path, window=20)
    assert "still_learning" in rules(result) and "plateau" not in rules(result)
    f = result.by_rule("still_learning")[0]
    assert f.numbers["epochs_remaining"] == 1000 - 40
    assert f.numbers["ma_change_over_window"] > 0.005
    assert result.epochs == list(range(40))
    assert result.learning_rates[0] == pytest.approx(poly(0, 1000), abs=1e-6)
    assert result.learning_rates[10] == pytest.approx(poly(10, 1000), abs=1e-6)
    assert result.pseudo_dice[5] == pytest.approx([0.3, 0.1 + 5 / 60], abs=1e-4)


def test_flat_moving_average_with_lr_left_is_a_plateau(tmp_path):
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.01, 200)
    write_log(tmp_path, list(range(200)), train=lambda e: 0.5, val=lambda e: 0.6,
              dice=lambda e: [min(0.8, 0.3 + e / 40) + noise[e]])
    result = inspect_fold(tmp_path, window=50)
    assert "plateau" in rules(result) and "still_learning" not in rules(result)
    f = result.by_rule("plateau")[0]
    assert abs(f.numbers["ma_change_over_window"]) <= 0.005
    assert f.numbers["lr_now"] == pytest.approx(poly(200, 1000))
    assert "#604" in f.message


def test_a_class_at_zero_is_flagged_with_the_nosmooth_trainer(tmp_path):
    write_log(tmp_path, list(range(30)), train=lambda e: 0.5, val=lambda e: 0.6,
              dice=lambda e: [0.8, 0.3 if e < 10 else 0.0])
    result = inspect_fold(tmp_path, window=10)
    found = result.by_rule("collapsed_class")
    assert [f.numbers["class"] for f in found] == [2]
    assert found[0].numbers["best_pseudo_dice"] == pytest.approx(0.3)
    assert "nnUNetTrainerV2_Loss_DiceCE_noSmooth" in found[0].message


def test_train_falling_while_validation_rises_is_overfitting(tmp_path):
    write_log(tmp_path, list(range(60)), train=lambda e: 1 - e / 80, val=lambda e: 0.6 + max(0, e - 30) / 100,
              dice=lambda e: [0.7])
    result = inspect_fold(tmp_path, window=20)
    f = result.by_rule("overfitting")
    assert f and f[0].numbers["val_loss_change"] > 0.02 and f[0].numbers["train_loss_change"] < 0
    # the same train curve with a falling validation loss is not overfitting
    other = tmp_path / "ok"
    write_log(other, list(range(60)), train=lambda e: 1 - e / 80, val=lambda e: 0.9 - e / 200, dice=lambda e: [0.7])
    assert not inspect_fold(other, window=20).by_rule("overfitting")


def test_resume_with_more_epochs_shows_the_lr_jump(tmp_path):
    write_log(tmp_path, list(range(0, 50)), max_epochs=100, train=lambda e: 0.5, val=lambda e: 0.6,
              dice=lambda e: [0.7])
    write_log(tmp_path, list(range(50, 60)), start=T0 + timedelta(hours=3), max_epochs=1000, resumed=True,
              train=lambda e: 0.5, val=lambda e: 0.6, dice=lambda e: [0.7])
    result = inspect_fold(tmp_path)
    jump = result.by_rule("lr_jump")
    assert len(jump) == 1
    assert jump[0].numbers["epoch"] == 50
    assert jump[0].numbers["lr_before"] == pytest.approx(poly(50, 100), abs=1e-6)
    assert jump[0].numbers["lr_after"] == pytest.approx(poly(50, 1000), abs=1e-6)
    assert jump[0].numbers["max_num_epochs_before"] == pytest.approx(100, abs=1)
    assert jump[0].numbers["max_num_epochs_after"] == pytest.approx(1000, abs=5)
    assert [r.resumed for r in result.logs] == [False, True]


def test_resume_with_the_same_epochs_has_no_lr_jump(tmp_path):
    write_log(tmp_path, list(range(0, 50)), max_epochs=100, train=lambda e: 0.5, val=lambda e: 0.6,
              dice=lambda e: [0.7])
    write_log(tmp_path, list(range(50, 60)), start=T0 + timedelta(hours=3), max_epochs=100, resumed=True,
              train=lambda e: 0.5, val=lambda e: 0.6, dice=lambda e: [0.7])
    assert not inspect_fold(tmp_path).by_rule("lr_jump")


def test_logs_are_read_in_time_order_not_name_order(tmp_path):
    # 9 o'clock sorts after 10 o'clock by name ("_9_" > "_10_"), but v1's names are not zero-padded for the day
    write_log(tmp_path, list(range(0, 5)), start=datetime(2026, 3, 9, 9, 0, 0), max_epochs=100,
              train=lambda e: 0.5, val=lambda e: 0.6, dice=lambda e: [0.7])
    write_log(tmp_path, list(range(5, 10)), start=datetime(2026, 3, 10, 9, 0, 0), max_epochs=100,
              train=lambda e: 0.4, val=lambda e: 0.6, dice=lambda e: [0.7])
    result = inspect_fold(tmp_path)
    assert [r.first_epoch for r in result.logs] == [0, 5]


def test_implied_max_num_epochs_inverts_poly_lr():
    for m in (100, 250, 1000):
        assert implied_max_num_epochs(37, poly(37, m)) == m


def test_pseudo_vs_real_gap_from_summary_json(tmp_path):
    write_log(tmp_path, list(range(10)), train=lambda e: 0.5, val=lambda e: 0.6, dice=lambda e: [0.9, 0.8])
    (tmp_path / "validation_raw").mkdir()
    (tmp_path / "validation_raw" / "summary.json").write_text(json.dumps(
        {"results": {"mean": {"0": {"Dice": 0.99}, "1": {"Dice": 0.7}, "2": {"Dice": 0.5}}, "all": []}}))
    f = inspect_fold(tmp_path).by_rule("pseudo_vs_real_dice")[0]
    assert f.numbers["real_mean"] == pytest.approx(0.6)
    assert f.numbers["gap"] == pytest.approx(0.85 - 0.6, abs=1e-4)


# ------------------------------------------------------------------ bad input and the command


def test_bad_folders_give_clear_errors(tmp_path, capsys):
    with pytest.raises(InspectionError, match="holds no training_log"):
        inspect_fold(tmp_path)
    with pytest.raises(InspectionError, match="does not exist"):
        inspect_fold(tmp_path / "nope")
    f = tmp_path / "a.txt"
    f.write_text("x")
    with pytest.raises(InspectionError, match="is not a folder"):
        inspect_fold(f)
    out = tmp_path / "r.json"
    assert main(["inspect", str(tmp_path), "--json", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path) in err and "fix:" in err and "Traceback" not in err
    assert not out.exists()


def test_command_writes_json_and_report_and_refuses_overwrite(tmp_path, capsys):
    fold = tmp_path / "fold_0"
    write_log(fold, list(range(12)), train=lambda e: 1 - e / 50, val=lambda e: 1 - e / 60, dice=lambda e: [0.5])
    js, rep = tmp_path / "i.json", tmp_path / "i.html"
    assert main(["inspect", str(fold), "--json", str(js), "--report", str(rep)]) == 0
    data = json.loads(js.read_text())
    for key in ("epochs", "train_losses", "val_losses", "pseudo_dice", "learning_rates", "findings"):
        assert key in data
    assert data["epochs"] == list(range(12))
    assert all({"rule", "severity", "message", "numbers"} <= set(f) for f in data["findings"])
    assert "data:image/png;base64," in rep.read_text()
    before = js.read_text()
    assert main(["inspect", str(fold), "--json", str(js)]) == 2
    assert js.read_text() == before
    assert main(["inspect", str(fold), "--json", str(js), "--overwrite"]) == 0


# ------------------------------------------------------------------ real runs

def _v1_training(epochs: int, *, trainer: str = "trainer_class", preamble: str = "", validate: bool = True) -> str:
    """A script that trains fold 0 of Task901 with real v1 for ``epochs`` epochs of 1 + 1 batches (optionally with
    a trainer class defined in ``preamble``), then validates and prints the fold folder."""
    script = textwrap.dedent("""
        import sys
        from nnunet.run.default_configuration import get_default_configuration
        from nnunet.training.network_training.nnUNetTrainerV2 import nnUNetTrainerV2
        PREAMBLE
        plans_file, output_folder, dataset_directory, batch_dice, stage, trainer_class = get_default_configuration(
            "3d_fullres", "Task901_SynthCT", "nnUNetTrainerV2", "nnUNetPlansv2.1")
        trainer = TRAINER(plans_file, 0, output_folder=output_folder, dataset_directory=dataset_directory,
                          batch_dice=batch_dice, stage=stage, unpack_data=True, deterministic=False, fp16=False)
        trainer.max_num_epochs, trainer.num_batches_per_epoch, trainer.num_val_batches_per_epoch = EPOCHS, 1, 1
        trainer.initialize(True)
        trainer.run_training()
    """).replace("PREAMBLE", textwrap.dedent(preamble)).replace("TRAINER", trainer).replace("EPOCHS", str(epochs))
    if validate:
        # no mirroring, no postprocessing search: the same validation_raw files, 10x faster on a CPU
        script += textwrap.dedent("""
            trainer.network.eval()
            trainer.validate(do_mirroring=False, save_softmax=True, validation_folder_name="validation_raw",
                             run_postprocessing_on_folds=False)
            print(output_folder)
        """)
    return script


V1_TRAIN = _v1_training(3)
# as the base trainers' patience does: on_epoch_end says stop (at epoch 1 of 5)
V1_TRAIN_STOPPING_EARLY = _v1_training(5, trainer="StopsAtEpochOne", validate=False, preamble="""
    class StopsAtEpochOne(nnUNetTrainerV2):
        def on_epoch_end(self):
            super().on_epoch_end()
            return self.epoch < 1
""")


@pytest.mark.slow
@pytest.mark.parity
def test_a_run_that_stopped_early_is_read_as_v1_saved_it(v1_ct_task, tmp_path):
    """v1 leaves the loop before counting the last epoch and still takes one off: the final checkpoint holds the
    log's last epoch, after one more completed epoch."""
    from nnunet_explorer.commands.inspect import text_summary
    from nnunet_explorer.parity import run_v1_python

    from .loop.conftest import copy_workspace, fold_folder

    ws = copy_workspace(v1_ct_task.workspace, tmp_path / "ws")
    run_v1_python(V1_TRAIN_STOPPING_EARLY, ws, timeout=400)
    result = inspect_fold(fold_folder(ws))
    assert result.epochs == [0, 1] and result.checkpoints["model_final_checkpoint"]["epoch"] == 1
    assert "model_final_checkpoint: saved after 2 epochs: the run stopped early at log epoch 1" in \
        text_summary(result)


@pytest.mark.slow
@pytest.mark.parity
def test_inspect_reads_a_fold_folder_trained_by_real_v1(v1_ct_task, tmp_path):
    from nnunet_explorer.parity import run_v1_python

    from .loop.conftest import copy_workspace, fold_folder

    ws = copy_workspace(v1_ct_task.workspace, tmp_path / "ws")
    run_v1_python(V1_TRAIN, ws, timeout=400)
    folder = fold_folder(ws)
    result = inspect_fold(folder)
    assert result.epochs == [0, 1, 2]
    assert result.max_num_epochs == 3
    ckpt = result.checkpoints["model_final_checkpoint"]
    assert ckpt["epoch"] == 3  # v1 stores self.epoch + 1: the epochs completed, one more than the log's last
    from nnunet_explorer.commands.inspect import text_summary

    assert f"model_final_checkpoint: saved after 3 epochs (log epoch {result.epochs[-1]})" in text_summary(result)
    assert "-c would load: model_final_checkpoint.model (v1's order" in text_summary(result)
    # the log's 4-decimal losses are v1's float32 curves from the checkpoint, rounded
    assert result.train_losses == pytest.approx(ckpt["train_losses"], abs=6e-5)
    assert result.val_losses == pytest.approx(ckpt["val_losses"], abs=6e-5)
    assert [float(np.mean(d)) for d in result.pseudo_dice] == pytest.approx(ckpt["val_eval_metrics"], abs=1e-4)
    assert result.learning_rates == pytest.approx([0.01 * (1 - e / 3) ** 0.9 for e in range(3)], abs=1e-6)
    assert result.summary_dice and set(result.summary_dice) == {"1", "2"}
    assert {"finished", "pseudo_vs_real_dice", "best_vs_final", "epoch_time"} <= rules(result)
    # the per-case table recomputes v1's own per-case Dice from the NIfTIs
    from nnunet_explorer.validation_cases import validation_table

    cases = validation_table(folder / "validation_raw")
    assert len(cases) == 2
    for case in cases:
        for c in case.classes:
            assert c.dice == pytest.approx(case.summary_dice[c.label], abs=1e-9)
    # v1's --npz probabilities (cropped box) come back at the NIfTI's size
    from nnunet_explorer.views.validation_case import softmax_in_full_volume, read_itk

    seg, _ = read_itk(folder / "validation_raw" / f"{cases[0].case}.nii.gz")
    probs = softmax_in_full_volume(folder / "validation_raw" / f"{cases[0].case}.npz", seg.shape)
    assert probs.shape == (3, *seg.shape)
    # v1's label is the argmax of the float32 probabilities; the npz holds float16, so compare up to ties
    at_label = np.take_along_axis(probs, seg[None].astype(np.int64), 0)[0]
    assert np.array_equal(at_label, probs.max(0))


@pytest.mark.slow
def test_inspect_a_resumed_explorer_run_with_more_epochs_shows_the_lr_jump(v1_ct_task, tmp_path):
    from nnunet_explorer.run.run_training import train_or_load

    from .loop.conftest import copy_workspace, fold_folder, tiny_trainer

    ws = copy_workspace(v1_ct_task.workspace, tmp_path / "ws")
    for epochs, flags in ((2, {}), (6, {"continue_training": True})):  # nnUNet_train ... then again with -c
        train_or_load(*tiny_trainer(ws, epochs=epochs, plot_progress=False, **flags))
    result = inspect_fold(fold_folder(ws))
    assert result.epochs == list(range(6))
    assert len(result.logs) == 2 and result.logs[1].resumed
    jump = result.by_rule("lr_jump")
    assert len(jump) == 1 and jump[0].numbers["epoch"] == 2
    assert jump[0].numbers["lr_before"] == 0.0  # poly_lr(2, 2): the end of the first schedule
    assert jump[0].numbers["lr_after"] == pytest.approx(0.01 * (1 - 2 / 6) ** 0.9, abs=1e-6)
    assert jump[0].numbers["max_num_epochs_after"] == 6


def test_best_vs_final_explains_a_missing_model_best(tmp_path):
    import torch

    write_log(tmp_path, list(range(5)), max_epochs=5, train=lambda e: 0.5, val=lambda e: 0.6,
              dice=lambda e: [0.5 - e / 100])
    for name, epoch in (("model_final_checkpoint", 5),):
        torch.save({"epoch": epoch, "state_dict": {}, "plot_stuff": ([0.5] * 5, [0.6] * 5, [], [0.5] * 5),
                    "best_stuff": (0, 0.5, 0.5)}, tmp_path / f"{name}.model")
    f = inspect_fold(tmp_path).by_rule("best_vs_final")
    assert f and f[0].numbers == {"best_epoch": None, "final_epoch": 5}
    torch.save({"epoch": 3, "state_dict": {}, "best_stuff": (0, 0.5, 0.51)}, tmp_path / "model_best.model")
    f = inspect_fold(tmp_path).by_rule("best_vs_final")
    assert f[0].numbers["best_epoch"] == 3 and f[0].numbers["best_val_eval_criterion_MA"] == pytest.approx(0.51)


def test_a_model_latest_ahead_of_the_final_checkpoint_is_flagged_as_skipped_by_c(tmp_path):
    import torch

    write_log(tmp_path, list(range(7)), max_epochs=8, train=lambda e: 0.5, val=lambda e: 0.6, dice=lambda e: [0.5])
    torch.save({"epoch": 6, "state_dict": {}}, tmp_path / "model_final_checkpoint.model")
    torch.save({"epoch": 7, "state_dict": {}}, tmp_path / "model_latest.model")
    result = inspect_fold(tmp_path)
    (f,) = result.by_rule("resume_skips_latest")
    assert f.severity == "warning" and f.numbers == {"final_epoch": 6, "latest_epoch": 7}
    assert result.resume_from == "model_final_checkpoint" and result.to_json()["resume_from"] == result.resume_from
    assert "go on from epoch 6 and the 1 later epoch(s) would be lost" in f.message
    torch.save({"epoch": 6, "state_dict": {}}, tmp_path / "model_latest.model")  # no later epochs: nothing lost
    assert not inspect_fold(tmp_path).by_rule("resume_skips_latest")
    (tmp_path / "model_final_checkpoint.model").unlink()
    assert inspect_fold(tmp_path).resume_from == "model_latest"
    (tmp_path / "model_latest.model").unlink()
    assert inspect_fold(tmp_path).resume_from is None


def test_a_log_without_epochs_says_so(tmp_path):
    """A walkthrough stopped before training (``--until iteration``) leaves a log with no epoch in the fold."""
    from nnunet_explorer.commands.inspect import text_summary

    write_log(tmp_path, [0, 1], max_epochs=2, train=lambda e: 1.0, val=lambda e: 1.0, dice=lambda e: [0.1])
    (tmp_path / "training_log_2026_1_1_00_00_00.txt").write_text("Starting... \n")  # older than write_log's T0
    text = text_summary(inspect_fold(tmp_path))
    assert "training_log_2026_1_1_00_00_00.txt: no epoch logged" in text and "None" not in text.split("findings")[0]
    assert "epochs 0-1" in text


def test_a_class_left_out_as_nan_does_not_shift_the_collapsed_class(tmp_path):
    """v1 leaves NaN classes out of the logged list; an epoch whose class 1 was NaN logs [0.0] for class 2 alone,
    which must not read as class 1 at zero."""
    write_log(tmp_path, list(range(30)), train=lambda e: 0.5, val=lambda e: 0.6,
              dice=lambda e: [0.0] if e >= 20 else [0.8, 0.3 if e < 10 else 0.0])
    found = inspect_fold(tmp_path, window=10).by_rule("collapsed_class")
    assert [f.numbers["class"] for f in found] == [2]


def test_a_nan_train_loss_is_found_where_it_began_and_whether_it_stayed(tmp_path, monkeypatch):
    """v1 logs a NaN train loss and trains on: a NaN that stays is an error (NaN weights), one NaN epoch followed by
    numbers is a warning (one overflowed fp16 iteration in the epoch's mean); a clean run has neither."""
    from .zh_share_rule import CJK

    dice = lambda e: [0.5]  # noqa: E731
    write_log(tmp_path / "stayed", list(range(12)), train=lambda e: float("nan") if e >= 5 else 1 - e / 50,
              val=lambda e: 0.6, dice=dice)
    (stayed,) = inspect_fold(tmp_path / "stayed").by_rule("nonfinite_loss")
    assert stayed.severity == "error" and stayed.numbers["stayed"] is True
    assert stayed.numbers["epoch"] == 5 and stayed.numbers["later_epochs"] == 6
    assert stayed.numbers["loss_before"] == pytest.approx(1 - 4 / 50)
    assert stayed.numbers["learning_rate"] == pytest.approx(poly(5, 1000), abs=1e-6)
    assert stayed.message.startswith("the train loss is first nan at epoch 5 (the epoch before: 0.9200)")
    write_log(tmp_path / "once", list(range(12)), train=lambda e: float("nan") if e == 5 else 1 - e / 50,
              val=lambda e: 0.6, dice=dice)
    (once,) = inspect_fold(tmp_path / "once").by_rule("nonfinite_loss")
    assert once.severity == "warning" and once.numbers["later_finite"] == 6 and "harmless" in once.message
    write_log(tmp_path / "clean", list(range(12)), train=lambda e: 1 - e / 50, val=lambda e: 0.6, dice=dice)
    assert inspect_fold(tmp_path / "clean").by_rule("nonfinite_loss") == []
    monkeypatch.setenv("NNUNET_EXPLORER_LANG", "zh")
    (zh,) = inspect_fold(tmp_path / "stayed").by_rule("nonfinite_loss")
    assert CJK.search(zh.message) and zh.numbers == stayed.numbers


# ------------------------------------------------------------------ in Chinese


def _a_fold_every_rule_speaks_of(folder: Path) -> Path:
    """One fold where every rule has something to say: a -c resume with a larger max_num_epochs (LR jump), a class
    collapsing, train loss falling while validation rises, data wait lines, a CPU run, summary.json, and a
    model_latest ahead of the final checkpoint."""
    import torch

    train, val = (lambda e: 1 - e / 80), (lambda e: 0.6 + max(0, e - 30) / 100)
    dice = lambda e: [0.8, 0.3 if e < 10 else 0.0]  # noqa: E731
    write_log(folder, list(range(0, 40)), max_epochs=100, train=train, val=val, dice=dice)
    log = write_log(folder, list(range(40, 60)), start=T0 + timedelta(hours=3), max_epochs=1000, resumed=True,
                    train=train, val=val, dice=dice)
    lines = log.read_text().splitlines()
    lines.insert(1, f"{T0}: WARNING!!! You are attempting to run training on a CPU (torch.cuda.is_available() is False)")
    lines = [line + (f"\n{T0}: data wait 9.00 s / compute 3.00 s" if "This epoch took" in line else "")
             for line in lines]
    log.write_text("\n".join(lines) + "\n")
    (folder / "validation_raw").mkdir()
    (folder / "validation_raw" / "summary.json").write_text(json.dumps(
        {"results": {"mean": {"1": {"Dice": 0.7}, "2": {"Dice": 0.1}}, "all": []}}))
    for name, epoch in (("model_final_checkpoint", 60), ("model_latest", 62), ("model_best", 20)):
        torch.save({"epoch": epoch, "state_dict": {}, "best_stuff": (0, 0.5, 0.51)}, folder / f"{name}.model")
    return folder


def test_inspect_speaks_chinese_under_zh_and_english_otherwise(tmp_path, monkeypatch, capsys):
    """Under ``zh`` every finding, the printed summary and the HTML report are Chinese prose (the rules' names,
    file names and v1's quoted words stay as they are); in English nothing Chinese shows."""
    from .zh_share_rule import CJK, english_blocks, zh_share

    from nnunet_explorer.commands.inspect import text_summary

    fold = _a_fold_every_rule_speaks_of(tmp_path / "fold_0")
    expected = {"still_learning", "plateau", "overfitting", "collapsed_class", "lr_jump", "pseudo_vs_real_dice",
                "best_vs_final", "resume_skips_latest", "epoch_time", "data_wait", "cpu_training"}
    english = inspect_fold(fold, window=20)
    monkeypatch.setenv("NNUNET_EXPLORER_LANG", "zh")
    chinese = inspect_fold(fold, window=20)
    found = rules(chinese)
    assert len(found & expected) == len(expected) - 1, found  # all but one of still_learning / plateau
    assert [(f.rule, f.numbers) for f in chinese.findings] == [(f.rule, f.numbers) for f in english.findings]
    for f in chinese.findings:
        assert CJK.search(f.message), f.message
    assert not any(CJK.search(f.message) for f in english.findings)
    lines = text_summary(chinese).splitlines()
    assert english_blocks("".join(f"<p>{html.escape(line)}</p>" for line in lines)) == []  # Chinese, or no prose
    report = tmp_path / "zh.html"
    assert main(["inspect", str(fold), "--window", "20", "--report", str(report)]) == 0
    capsys.readouterr()
    page = report.read_text(encoding="utf-8")
    assert english_blocks(page) == [] and zh_share(page) == 1.0
    monkeypatch.setenv("NNUNET_EXPLORER_LANG", "en")
    assert main(["inspect", str(fold), "--window", "20", "--report", str(tmp_path / "en.html")]) == 0
    assert not CJK.search((tmp_path / "en.html").read_text(encoding="utf-8")) and not CJK.search(capsys.readouterr().out)


def test_a_fold_beyond_the_split_file_is_flagged_as_v1s_random_split(tmp_path, monkeypatch):
    """nnUNetTrainerV2 trains a fold the split file lacks on a random 80:20 split and only says so in the log."""
    pytest.importorskip("nnunet")
    from .test_error_explainer import _literal

    source = "training/network_training/nnUNetTrainerV2.py"
    curves = {"train": lambda e: 1 - e / 50, "val": lambda e: 1 - e / 60, "dice": lambda e: [0.2 + e / 50]}
    log = write_log(tmp_path / "fold_5", list(range(5)), **curves)
    lines = log.read_text().splitlines()
    lines[1:1] = [f"{T0}: {_literal('nnunet', source, 'You requested fold') % (5, 5)} ",
                  f"{T0}: {_literal('nnunet', source, 'This random 80:20 split has') % (8, 2)} "]
    log.write_text("\n".join(lines) + "\n")
    (found,) = inspect_fold(tmp_path / "fold_5").by_rule("random_split")
    assert found.severity == "warning" and found.numbers == {"fold": 5, "splits": 5, "cases": [8, 2]}
    assert found.message.startswith("fold 5 trained on v1's random 80:20 split (8 training, 2 validation cases), "
                                    "none of splits_final.pkl's: the file held only 5 split(s) (folds 0 to 4)")
    write_log(tmp_path / "fold_0", list(range(5)), **curves)
    assert inspect_fold(tmp_path / "fold_0").by_rule("random_split") == []
    # resumed later with fold 5 added to splits_final.pkl: v1 splits again, and that split is a real one
    later = write_log(tmp_path / "fold_5", list(range(5, 8)), start=T0 + timedelta(hours=2), resumed=True, **curves)
    lines = later.read_text().splitlines()
    lines[1:1] = [f"{T0}: Desired fold for training: 5 ", f"{T0}: This split has 8 training and 2 validation cases. "]
    later.write_text("\n".join(lines) + "\n")
    assert inspect_fold(tmp_path / "fold_5").by_rule("random_split") == []
    later.unlink()
    monkeypatch.setenv("NNUNET_EXPLORER_LANG", "zh")
    (zh,) = inspect_fold(tmp_path / "fold_5").by_rule("random_split")
    assert zh.message.startswith("fold 5 是用 v1 的随机 80:20 划分训练的（8 个训练病例、2 个验证病例）")
    assert zh.numbers == found.numbers
