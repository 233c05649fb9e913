"""`nnunet-explorer train`: v1's flags plus the explorer group, end to end on the v1-preprocessed CT task."""
from __future__ import annotations

import resource
import subprocess
import sys
import time

import pytest

from nnunet_explorer.cli import main
from nnunet_explorer.paths import environment_for
from nnunet_explorer.walkthrough import TRAINING_STEP_NAMES


@pytest.fixture
def ct_env(ct_workspace, monkeypatch):
    for key, value in environment_for(ct_workspace).items():
        monkeypatch.setenv(key, value)
    return ct_workspace


@pytest.mark.slow
def test_train_until_iteration_on_cpu_in_under_a_minute(ct_env, tmp_path):
    report = tmp_path / "walk.html"
    command = [sys.executable, "-m", "nnunet_explorer.cli", "train", "3d_fullres", "nnUNetTrainerV2", "901", "0",
               "--until", "iteration", "--report", str(report)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert done.returncode == 0, done.stderr
    # the CPU time the command needed (wall time also counts other processes sharing the machine)
    assert cpu < 60, f"used {cpu:.1f} s of CPU ({wall:.1f} s wall)"
    out = done.stdout
    assert "I am running the following nnUNet: 3d_fullres" in out  # v1's printed block
    assert f"[{len(TRAINING_STEP_NAMES)}/{len(TRAINING_STEP_NAMES)}] iteration" in out
    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.count("nnx-card nnx-ok") == len(TRAINING_STEP_NAMES)


def test_an_existing_report_is_not_overwritten_without_asking(ct_env, capsys, tmp_path):
    report = tmp_path / "old.html"
    report.write_text("keep me")
    argv = ["train", "3d_fullres", "nnUNetTrainerV2", "901", "0", "--until", "task_name", "--report", str(report)]
    assert main(argv) == 2
    assert "--overwrite_report" in capsys.readouterr().err and report.read_text() == "keep me"
    assert main([*argv, "--overwrite_report"]) == 0
    assert report.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_error_names_the_step_and_the_fix_without_traceback(ct_env, capsys):
    assert main(["train", "3d_lowres", "nnUNetTrainerV2", "901", "0"]) == 2
    err = capsys.readouterr().err
    assert "[step configuration] 3d_lowres/3d_cascade_fullres only applies" in err
    assert "fix: run `nnunet-explorer train 3d_fullres" in err and "Traceback" not in err


def test_until_stops_early_and_a_failed_run_still_writes_the_report(ct_env, capsys, tmp_path):
    assert main(["train", "3d_fullres", "nnUNetTrainerV2", "901", "0", "--until", "configuration"]) == 0
    out = capsys.readouterr().out
    assert "[ 3/3] configuration" in out and "trainer_class" not in out
    report = tmp_path / "failed.html"
    assert main(["train", "3d_fullres", "NoSuchTrainer", "901", "0", "--report", str(report)]) == 2
    page = report.read_text(encoding="utf-8")
    assert "nnx-failed" in page and "unknown trainer" in page


def test_a_fold_beyond_the_split_file_is_called_v1s_random_split(ct_env, capsys):
    argv = ["train", "3d_fullres", "nnUNetTrainerV2", "901", "5", "--until", "split"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "INFO: You requested fold 5 for training but splits contain only 5 folds" in out  # v1's own line
    assert "fold 5: 8 training cases, 2 validation cases; v1's random 80:20 split, no cross-validation" in out
    assert main([*argv[:4], "0", *argv[5:]]) == 0
    assert "fold 0: 8 training cases, 2 validation cases" in capsys.readouterr().out


def _train_a_trainer_file(tmp_path, name: str, body: str, fold: str, until: str, capsys) -> str:
    """``train 3d_fullres NAME 901 FOLD --trainer_file`` with a file defining ``NAME(nnUNetTrainerV2)``; the output."""
    from nnunet_explorer.network_training import unregister_trainer

    source = tmp_path / f"{name}.py"
    source.write_text("from nnunet_explorer.network_training import nnUNetTrainerV2\n"
                      f"class {name}(nnUNetTrainerV2):\n" + body)
    try:
        assert main(["train", "3d_fullres", name, "901", fold, "--trainer_file", str(source), "--until", until]) == 0
        return capsys.readouterr().out
    finally:
        unregister_trainer(name)


def test_a_users_own_split_beyond_the_file_is_not_called_v1s_random_split(ct_env, capsys, tmp_path):
    """The split line reads what the trainer's do_split did: one's own do_split for fold 7 is one's own split."""
    out = _train_a_trainer_file(tmp_path, "OwnSplitTrainer",
                                "    def do_split(self):\n"
                                "        super().do_split()  # v1's random split for fold 7, then replaced\n"
                                "        keys = sorted(self.dataset.keys())\n"
                                "        self._set_split(keys[2:], keys[:2])\n", "7", "split", capsys)
    assert "fold 7: 8 training cases, 2 validation cases (val: case_000, case_001)" in out
    assert "no cross-validation fold" not in out  # v1 logged its draw, but the split used is the trainer's


def test_report_must_be_html(ct_env, capsys, tmp_path):
    assert main(["train", "3d_fullres", "nnUNetTrainerV2", "901", "0", "--report", str(tmp_path / "r.txt")]) == 2
    assert "give a file name ending in .html" in capsys.readouterr().err


def test_debugpy_missing_says_how_to_install_it(ct_env, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "debugpy", None)  # makes `import debugpy` raise ImportError
    assert main(["train", "3d_fullres", "nnUNetTrainerV2", "901", "0", "--debugpy", "5678"]) == 2
    assert "pip install debugpy" in capsys.readouterr().err


def test_trainer_file_registers_a_user_trainer(ct_env, capsys, tmp_path):
    out = _train_a_trainer_file(tmp_path, "CliTrainer",
                                "    def __init__(self, *a, **k):\n"
                                "        super().__init__(*a, **k)\n        self.max_num_epochs = 2\n",
                                "0", "trainer", capsys)
    assert "registered trainer(s)" in out and "CliTrainer" in out


def test_flags_for_later_stages_are_recorded_and_flagged_as_inactive(ct_env, capsys):
    assert main(["train", "3d_fullres", "nnUNetTrainerV2", "901", "0", "-val", "--val_disable_overwrite",
                 "--until", "parsed_arguments"]) == 0
    captured = capsys.readouterr()
    assert "note: validation_only, val_disable_overwrite recorded but not acted on" in captured.err
    assert "val_disable_overwrite=False" in captured.out  # v1's inverted flag: giving it stores False


def test_until_iteration_on_cuda_without_cuda_is_an_error_naming_cuda(ct_env, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: --device cuda is valid here (the GPU session checks it runs there)")
    code = main(["train", "3d_fullres", "nnUNetTrainerV2", "901", "0", "--until", "iteration", "--device", "cuda"])
    err = capsys.readouterr().err
    assert code != 0 and "cuda" in err.lower() and "Traceback" not in err
    assert "--device cpu" in err  # the fix


MOMENTUM_09 = """from nnunet_explorer.network_training import nnUNetTrainerV2


class MyMom(nnUNetTrainerV2):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.momentum = 0.9  # v1 1.7.1 never reads self.momentum
"""


@pytest.mark.slow
def test_a_trainer_setting_momentum_in_init_trains_like_plain_v2_and_is_told_why(v1_ct_task, tmp_path, monkeypatch,
                                                                                 capsys):
    from nnunet_explorer.network_training import unregister_trainer

    from .conftest import copy_workspace

    source = tmp_path / "my_mom.py"
    source.write_text(MOMENTUM_09)
    logs = {}
    try:
        for trainer in ("nnUNetTrainerV2", "MyMom"):
            ws = copy_workspace(v1_ct_task.workspace, tmp_path / trainer)
            for key, value in environment_for(ws).items():
                monkeypatch.setenv(key, value)
            argv = ["train", "3d_fullres", trainer, "901", "0", "--deterministic", "--max_num_epochs", "2",
                    "--num_batches_per_epoch", "2", "--num_val_batches_per_epoch", "1",
                    "--disable_validation_inference", "--quiet", "--trainer_file", str(source)]
            assert main(argv) == 0
            captured = capsys.readouterr()
            if trainer == "MyMom":
                assert ("v1 1.7.1 ignores momentum: 0.99 is a literal in "
                        "nnUNetTrainerV2.initialize_optimizer_and_scheduler") in captured.err
            folder = next((ws.results_folder / "nnUNet" / "3d_fullres" / "Task901_SynthCT").glob(f"{trainer}__*"))
            text = next((folder / "fold_0").glob("training_log_*.txt")).read_text()
            logs[trainer] = [line.split(": ", 1)[1] for line in text.splitlines()
                             if "train loss :" in line or "validation loss:" in line]
    finally:
        unregister_trainer("MyMom")
    assert len(logs["MyMom"]) == 4 and logs["MyMom"] == logs["nnUNetTrainerV2"]  # as in v1: the value is ignored


@pytest.mark.slow
def test_the_report_of_a_real_train_marks_as_run_exactly_what_ran(v1_ct_task, tmp_path, monkeypatch, capsys):
    from .conftest import copy_workspace

    ws = copy_workspace(v1_ct_task.workspace, tmp_path / "ws")
    for key, value in environment_for(ws).items():
        monkeypatch.setenv(key, value)
    report = tmp_path / "train.html"
    assert main(["train", "3d_fullres", "nnUNetTrainerV2", "901", "0", "--max_num_epochs", "1",
                 "--num_batches_per_epoch", "1", "--num_val_batches_per_epoch", "1", "--deterministic", "--quiet",
                 "--disable_validation_inference", "--report", str(report)]) == 0
    page = report.read_text(encoding="utf-8")

    def status(step):
        card = page[page.index(f"id='step-{step}'") - 60:page.index(f"id='step-{step}'")]
        return "ok" if "nnx-ok" in card else ("not run" if "nnx-pending" in card else "?")

    ran = ["parsed_arguments", "task_name", "configuration", "trainer_class", "trainer", "initialize",
           "plans_processed", "augmentation_parameters", "deep_supervision", "loss", "dataset", "split",
           "dataloader", "network", "architecture", "optimizer", "lr_schedule", "training_epochs", "validate"]
    for step in ran:
        assert status(step) == "ok", step
    for step in ("batch", "iteration", "epoch_end", "prediction"):  # the run does not do these
        assert status(step) == "not run", step
    assert "initialize_optimizer_and_scheduler" in page  # the initialize card lists the call that built it
