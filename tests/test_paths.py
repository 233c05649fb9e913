"""paths.py: v1's three folder variables, the derived folder names, and the default workspace fallback."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nnunet_explorer import paths
from nnunet_explorer.errors import PathsError
from nnunet_explorer.paths import (ENV_PREPROCESSED, ENV_RAW, ENV_RESULTS, ENV_WORKSPACE, environment_for,
                                   get_workspace, resolve_workspace)


def _env(root: Path) -> dict[str, str]:
    return {ENV_RAW: str(root / "r"), ENV_PREPROCESSED: str(root / "p"), ENV_RESULTS: str(root / "res")}


def test_variables_from_environment_and_derived_folders(tmp_path):
    ws = resolve_workspace(_env(tmp_path))
    assert ws.raw_data_base == tmp_path / "r"
    assert ws.nnUNet_raw_data == tmp_path / "r" / "nnUNet_raw_data"
    assert ws.nnUNet_cropped_data == tmp_path / "r" / "nnUNet_cropped_data"
    assert ws.preprocessed == ws.preprocessing_output_dir == tmp_path / "p"
    assert ws.network_training_output_dir == tmp_path / "res" / "nnUNet"
    assert ws.training_output_folder("3d_fullres", "Task004_Hippocampus", "nnUNetTrainerV2") == \
        tmp_path / "res" / "nnUNet" / "3d_fullres" / "Task004_Hippocampus" / "nnUNetTrainerV2__nnUNetPlansv2.1"
    assert set(ws.origin.values()) == {"environment"}
    assert not ws.uses_defaults


@pytest.mark.parity
def test_folder_names_match_v1_paths_module(tmp_path):
    """v1 computes its folders in nnunet/paths.py at import; ask the real package with the same variables."""
    pytest.importorskip("nnunet")
    env = _env(tmp_path)
    code = ("import json, nnunet.paths as p; print(json.dumps({k: getattr(p, k) for k in ('nnUNet_raw_data', "
            "'nnUNet_cropped_data', 'preprocessing_output_dir', 'network_training_output_dir', "
            "'default_plans_identifier', 'default_data_identifier', 'default_trainer', "
            "'default_cascade_trainer', 'my_output_identifier')}))")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True,
                         timeout=120, check=True).stdout.strip().splitlines()[-1]
    v1 = json.loads(out)
    ws = resolve_workspace(env)
    assert Path(v1["nnUNet_raw_data"]) == ws.nnUNet_raw_data
    assert Path(v1["nnUNet_cropped_data"]) == ws.nnUNet_cropped_data
    assert Path(v1["preprocessing_output_dir"]) == ws.preprocessed
    assert Path(v1["network_training_output_dir"]) == ws.network_training_output_dir
    for name in ("default_plans_identifier", "default_data_identifier", "default_trainer",
                 "default_cascade_trainer", "my_output_identifier"):
        assert getattr(paths, name) == v1[name], name


def test_default_workspace_in_cwd_when_nothing_is_set(tmp_path):
    ws = resolve_workspace({}, cwd=tmp_path)
    root = tmp_path / "nnunet_workspace"
    assert (ws.raw_data_base, ws.preprocessed, ws.results_folder) == (root / "raw", root / "preprocessed",
                                                                      root / "results")
    assert ws.uses_defaults
    assert not root.exists(), "resolving must not create anything"


def test_workspace_variable_moves_the_default(tmp_path):
    ws = resolve_workspace({ENV_WORKSPACE: str(tmp_path / "w")}, cwd=tmp_path / "elsewhere")
    assert ws.raw_data_base == tmp_path / "w" / "raw"
    assert ws.origin[ENV_RAW] == f"default: {ENV_WORKSPACE}"


def test_a_set_variable_wins_over_the_default_for_that_folder_only(tmp_path):
    ws = resolve_workspace({ENV_WORKSPACE: str(tmp_path / "w"), ENV_RESULTS: str(tmp_path / "mine")})
    assert ws.results_folder == tmp_path / "mine" and ws.origin[ENV_RESULTS] == "environment"
    assert ws.preprocessed == tmp_path / "w" / "preprocessed" and ws.origin[ENV_PREPROCESSED] != "environment"


@pytest.mark.parametrize("value, words", [("", "empty"), ("   ", "empty"), ('"/data/raw"', "quote"),
                                          ("'/data/raw'", "quote")])
def test_bad_values_name_the_variable_and_the_fix(value, words):
    with pytest.raises(PathsError) as info:
        resolve_workspace({ENV_RAW: value})
    assert ENV_RAW in str(info.value) and words in str(info.value) and info.value.fix


def test_a_variable_naming_a_file_is_refused(tmp_path):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(PathsError, match="is a file"):
        resolve_workspace({ENV_PREPROCESSED: str(a_file)})


def test_ensure_creates_the_folders_v1_creates(tmp_path):
    ws = resolve_workspace(_env(tmp_path)).ensure()
    for folder in (ws.nnUNet_raw_data, ws.nnUNet_cropped_data, ws.preprocessed, ws.network_training_output_dir):
        assert folder.is_dir()


def test_ensure_fails_clearly_under_a_regular_file(tmp_path):
    # Tests run as root, so permissions cannot block mkdir; a path below a regular file always fails.
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    env = _env(tmp_path)
    env[ENV_RESULTS] = str(blocker / "results")
    with pytest.raises(PathsError) as info:
        resolve_workspace(env).ensure()
    assert ENV_RESULTS in str(info.value) and "cannot be created" in str(info.value)
    assert blocker.read_text() == "x"
    assert not (tmp_path / "r").exists(), "no folder may be created when one of them cannot be"


def test_environment_for_round_trips(tmp_path):
    ws = resolve_workspace(_env(tmp_path))
    again = resolve_workspace(environment_for(ws))
    assert (again.raw_data_base, again.preprocessed, again.results_folder) == \
        (ws.raw_data_base, ws.preprocessed, ws.results_folder)


def test_default_is_announced_once_on_stderr(tmp_path, capsys):
    env = {ENV_WORKSPACE: str(tmp_path / "announce")}
    get_workspace(env)
    first = capsys.readouterr().err
    get_workspace(env)
    second = capsys.readouterr().err
    assert ENV_RAW in first and str(tmp_path / "announce" / "raw") in first
    assert second == ""


def test_no_announcement_when_all_variables_are_set(tmp_path, capsys):
    get_workspace(_env(tmp_path))
    assert capsys.readouterr().err == ""


def test_importing_with_nothing_set_never_fails_and_creates_nothing(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in (ENV_RAW, ENV_PREPROCESSED, ENV_RESULTS, ENV_WORKSPACE)}
    code = ("import nnunet_explorer, nnunet_explorer.paths, nnunet_explorer.tasks, nnunet_explorer.doctor; "
            "print('ok')")
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert list(tmp_path.iterdir()) == []
