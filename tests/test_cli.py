"""The `nnunet-explorer` console script, run as a subprocess: exit codes, messages, --debug tracebacks."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nnunet_explorer.paths import ENV_PREPROCESSED, ENV_RAW, ENV_RESULTS, ENV_WORKSPACE
from nnunet_explorer.samples.synthetic import write_synthetic_task

SCRIPT = Path(sys.executable).with_name("nnunet-explorer")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (ENV_RAW, ENV_PREPROCESSED, ENV_RESULTS, ENV_WORKSPACE)}
    env.update({ENV_RAW: str(tmp_path / "raw"), ENV_PREPROCESSED: str(tmp_path / "pre"),
                ENV_RESULTS: str(tmp_path / "res"), "nnUNet_n_proc_DA": "1", "nnUNet_def_n_proc": "1",
                "PYTHONWARNINGS": "ignore"})
    env.update(extra)
    return env


def run(args: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "nnunet_explorer.cli"]
    return subprocess.run(command + args, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_help_lists_subcommands(tmp_path):
    result = run(["--help"], _env(tmp_path))
    assert result.returncode == 0
    for name in ("doctor", "sample"):
        assert name in result.stdout
    assert run([], _env(tmp_path)).returncode == 2


def test_doctor_exit_codes(tmp_path):
    fresh = {k: v for k, v in _env(tmp_path).items() if k not in (ENV_RAW, ENV_PREPROCESSED, ENV_RESULTS)}
    fresh[ENV_WORKSPACE] = str(tmp_path / "brand_new")
    ok = run(["doctor"], fresh)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "no problems found" in ok.stdout and "nnUNet_raw_data_base" in ok.stdout
    assert not (tmp_path / "brand_new").exists()
    bad = run(["doctor"], _env(tmp_path, nnUNet_n_proc_DA="100000"))
    assert bad.returncode == 1
    assert "nnUNet_n_proc_DA=100000 is larger than" in bad.stdout and "fix: export nnUNet_n_proc_DA=" in bad.stdout


def test_sample_then_exists_then_exist_ok_then_debug(tmp_path):
    env = _env(tmp_path)
    first = run(["sample", "synthetic-ct", "--num_training", "2", "--num_test", "0"], env)
    assert first.returncode == 0, first.stderr
    task = tmp_path / "raw" / "nnUNet_raw_data" / "Task901_SyntheticCT"
    assert (task / "dataset.json").is_file() and str(task) in first.stdout
    assert "note: 2 training case(s) are too few for v1's five folds" in first.stderr
    again = run(["sample", "synthetic-ct"], env)
    assert again.returncode == 2
    assert "already exists" in again.stderr and "fix:" in again.stderr and "Traceback" not in again.stderr
    assert run(["sample", "synthetic-ct", "--exist_ok"], env).returncode == 0
    debug = run(["sample", "synthetic-ct", "--debug"], env)
    assert debug.returncode == 2 and "Traceback" in debug.stderr and "TaskError" in debug.stderr


def test_unset_variables_use_the_default_workspace_and_say_so(tmp_path):
    env = {k: v for k, v in _env(tmp_path).items() if k not in (ENV_RAW, ENV_PREPROCESSED, ENV_RESULTS)}
    result = run(["sample", "synthetic-mr", "--num_training", "1", "--num_test", "0"], env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    raw = tmp_path / "nnunet_workspace" / "raw" / "nnUNet_raw_data"
    assert (raw / "Task902_SyntheticMR" / "dataset.json").is_file()
    assert result.stderr.count("not set; using these folders") == 1


def test_folder_under_a_regular_file(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    result = run(["sample", "synthetic-ct"], _env(tmp_path, RESULTS_FOLDER=str(blocker / "results")))
    assert result.returncode == 2
    assert "RESULTS_FOLDER" in result.stderr and "is a file" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "raw").exists() and blocker.read_text() == "x"


def test_quoted_variable(tmp_path):
    result = run(["sample", "synthetic-ct"], _env(tmp_path, nnUNet_raw_data_base=f'"{tmp_path / "raw"}"'))
    assert result.returncode == 2 and "quote" in result.stderr and "Traceback" not in result.stderr


def test_unknown_and_ambiguous_task(tmp_path):
    env = _env(tmp_path)
    missing = run(["plan_and_preprocess", "-t", "999"], env)
    assert missing.returncode == 2, missing.stdout + missing.stderr
    assert "999" in missing.stderr and "Traceback" not in missing.stderr
    (tmp_path / "raw" / "nnUNet_raw_data" / "Task005_A").mkdir(parents=True)
    (tmp_path / "pre" / "Task005_B").mkdir(parents=True)
    ambiguous = run(["plan_and_preprocess", "-t", "5"], env)
    assert ambiguous.returncode == 2
    assert "Task005_A" in ambiguous.stderr and "Task005_B" in ambiguous.stderr


@pytest.mark.parametrize("breakage, words", [
    ("json", "dataset.json"),
    ("image", "case_001_0000.nii.gz is missing"),
    ("geometry", "does not match its label"),
])
def test_broken_raw_task_stops_before_anything_is_written(tmp_path, breakage, words):
    env = _env(tmp_path)
    task = write_synthetic_task(tmp_path / "raw" / "nnUNet_raw_data" / "Task006_Broken", "ct", num_training=2,
                                num_test=0)
    if breakage == "json":
        (task / "dataset.json").write_text('{"name": 1,,}')
    elif breakage == "image":
        (task / "imagesTr" / "case_001_0000.nii.gz").unlink()
    else:
        shutil.copy(write_synthetic_task(tmp_path / "other", "ct", num_training=2, num_test=0)
                    / "labelsTr" / "case_000.nii.gz", task / "labelsTr" / "case_001.nii.gz")
    result = run(["plan_and_preprocess", "-t", "6"], env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert words in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "raw" / "nnUNet_cropped_data" / "Task006_Broken").exists()
    assert not (tmp_path / "pre" / "Task006_Broken").exists()


@pytest.mark.parametrize("extra", [[], ["--until", "architecture"]])
def test_the_blogs_command_in_an_empty_workspace_points_to_sample_kits19(tmp_path, extra):
    """``run_training.py 3d_fullres nnUNetTrainerV2 40 1`` (the blog's command) before ``sample kits19``."""
    result = run(["train", "3d_fullres", "nnUNetTrainerV2", "40", "1", *extra], _env(tmp_path))
    assert result.returncode != 0
    assert "nnunet-explorer sample kits19" in result.stderr and "Task040_KiTS" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    other = run(["train", "3d_fullres", "nnUNetTrainerV2", "41", "1"], _env(tmp_path))
    assert other.returncode != 0 and "kits19" not in other.stderr  # only the ids a sample writes get the hint


def test_an_error_that_is_none_of_v1s_known_messages_keeps_its_traceback_and_a_known_one_is_explained(
        monkeypatch, capsys):
    """The command line explains a torch/numpy error deep in a step only when it is one of v1's known messages;
    anything else (a bug) is raised as it is, and --debug always shows the traceback."""
    from nnunet_explorer import cli
    from nnunet_explorer.commands import sample

    def fails(message):
        def run(args):
            raise RuntimeError(message)
        return run

    monkeypatch.setattr(sample, "run", fails("something no one has seen"))
    with pytest.raises(RuntimeError, match="something no one has seen"):
        cli.main(["sample", "kits19"])
    known = "PytorchStreamReader failed reading zip archive: failed finding central directory"
    monkeypatch.setattr(sample, "run", fails(known))
    assert cli.main(["sample", "kits19"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"nnunet-explorer sample: error: RuntimeError: {known}\n") and "recognised: " in err
    with pytest.raises(RuntimeError):
        cli.main(["sample", "kits19", "--debug"])
    # a check of the explanation that fails on a bug of its own: the error is still explained, the check says so
    import dataclasses

    from nnunet_explorer import error_explainer

    def broken(match, ctx):
        raise KeyError("a check's own bug")

    index = next(i for i, k in enumerate(error_explainer.KNOWN) if k.name == "damaged_checkpoint")
    monkeypatch.setattr(error_explainer, "KNOWN", (*error_explainer.KNOWN[:index], dataclasses.replace(
        error_explainer.KNOWN[index], check=broken), *error_explainer.KNOWN[index + 1:]))
    assert cli.main(["sample", "kits19"]) == 1
    err = capsys.readouterr().err
    assert "recognised: " in err and "this check stopped on an error of nnunet-explorer's own (KeyError: " in err
    monkeypatch.undo()
    monkeypatch.setattr(sample, "run", fails(known))

    # an error raised while another was handled is its own error: the known words of the one before do not explain it
    def fails_while_handling(args):
        try:
            raise RuntimeError(known)
        except RuntimeError:
            raise KeyError("a bug of its own") from None

    monkeypatch.setattr(sample, "run", fails_while_handling)
    with pytest.raises(KeyError, match="a bug of its own"):
        cli.main(["sample", "kits19"])

    def fails_in_handling(args):  # the same without `from None`: Python prints the first as its context
        try:
            raise RuntimeError(known)
        except RuntimeError:
            raise KeyError("another bug of its own")

    monkeypatch.setattr(sample, "run", fails_in_handling)
    with pytest.raises(KeyError, match="another bug of its own"):
        cli.main(["sample", "kits19"])


def test_words_said_in_many_places_are_explained_only_where_they_are_the_known_problem(monkeypatch, capsys):
    """Each known message says where a command's own failure is its problem: numpy's empty reduction and torch's
    cat size check are raised as they are (a bug of one's own says them too); an index beyond a dimension is a
    label beyond num_classes only when a loss raised it."""
    from nnunet_explorer import cli
    from nnunet_explorer.commands import sample

    def raises(error):
        def run(args):
            raise error
        return run

    for general in (ValueError("zero-size array to reduction operation maximum which has no identity"),
                    RuntimeError("Sizes of tensors must match except in dimension 1. Expected size 5 but got size 4")):
        monkeypatch.setattr(sample, "run", raises(general))
        with pytest.raises(type(general)):
            cli.main(["sample", "kits19"])
    beyond = "index 3 is out of bounds for dimension 1 with size 3"
    monkeypatch.setattr(sample, "run", raises(IndexError(beyond)))
    with pytest.raises(IndexError):
        cli.main(["sample", "kits19"])

    def soft_dice_loss(args):  # a loss function's frame in the traceback: the known problem
        raise IndexError(beyond)

    monkeypatch.setattr(sample, "run", soft_dice_loss)
    assert cli.main(["sample", "kits19"]) == 1
    err = capsys.readouterr().err
    assert f"IndexError: {beyond}" in err and "recognised: " in err and "num_classes" in err


def test_a_reader_that_goes_away_ends_the_command_quietly(monkeypatch, capsys):
    """`nnunet-explorer doctor --explain LOG | head -3`: head closes the pipe; the command stops with the shell's
    SIGPIPE status (141) and no traceback."""
    from nnunet_explorer import cli

    class ClosedPipe:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

    with monkeypatch.context() as patch:
        patch.setattr(sys, "stdout", ClosedPipe())
        assert cli.main(["doctor", "--explain", "all went well"]) == 141
    assert capsys.readouterr().err == ""
    # another pipe of the command broke (a dead worker's): that is an error of its own, raised as it is
    from nnunet_explorer.commands import sample

    def worker_pipe(args):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sample, "run", worker_pipe)
    with pytest.raises(BrokenPipeError):
        cli.main(["sample", "kits19"])


def test_a_real_closed_pipe_ends_quietly(tmp_path):
    """The same with a real pipe whose reader closed before the command wrote: exit 141, no traceback."""
    import subprocess

    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # a pipe's stdout, as in a shell
    for flags in ([], ["-u"]):  # block-buffered (the write fails at the flush), unbuffered (at the write)
        proc = subprocess.Popen([sys.executable, *flags, "-m", "nnunet_explorer.cli", "doctor", "--explain",
                                 "all went well"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=buffered)
        proc.stdout.close()
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=120) == 141 and "Traceback" not in err and "Broken pipe" not in err, (flags, err)
