"""tasks.py: task id <-> name resolution across the stages, dataset.json validation, v1's file lists."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nnunet_explorer.errors import DatasetError, TaskError
from nnunet_explorer.paths import environment_for
from nnunet_explorer.samples.synthetic import write_synthetic_task
from nnunet_explorer.tasks import (convert_id_to_task_name, convert_task_name_to_id, list_tasks, load_dataset_json,
                                   resolve_task_name, task_prefix, training_cases)


def test_task_prefix_is_v1s_format():
    # v1: "Task%03.0d" % task_id
    for task_id in (0, 4, 42, 901, 1234):
        assert task_prefix(task_id) == "Task%03.0d" % task_id


@pytest.mark.parametrize("stage", ["raw", "cropped", "preprocessed", "results"])
def test_id_found_in_any_stage(workspace, stage):
    folder = {"raw": workspace.nnUNet_raw_data, "cropped": workspace.nnUNet_cropped_data,
              "preprocessed": workspace.preprocessed,
              "results": workspace.network_training_output_dir / "3d_fullres"}[stage]
    (folder / "Task007_Pancreas").mkdir(parents=True)
    assert convert_id_to_task_name(7, workspace) == "Task007_Pancreas"
    assert list_tasks(workspace)["Task007_Pancreas"] == [stage if stage != "results" else "results/3d_fullres"]


def test_same_name_in_several_stages_is_not_ambiguous(workspace):
    for folder in (workspace.nnUNet_raw_data, workspace.preprocessed, workspace.nnUNet_cropped_data):
        (folder / "Task004_Hippocampus").mkdir()
    assert convert_id_to_task_name(4, workspace) == "Task004_Hippocampus"
    assert sorted(list_tasks(workspace)["Task004_Hippocampus"]) == ["cropped", "preprocessed", "raw"]


def test_missing_id_lists_what_exists(workspace):
    (workspace.nnUNet_raw_data / "Task004_Hippocampus").mkdir()
    with pytest.raises(TaskError) as info:
        convert_id_to_task_name(5, workspace)
    text = str(info.value)
    assert "Task005" in text and "Task004_Hippocampus" in text and str(workspace.nnUNet_raw_data) in text
    assert info.value.fix.startswith("the nearest task id here is 4 (Task004_Hippocampus), if that is the one you "
                                     "meant; or check the id")
    # a typo of a sample's id: the task there first, then the sample that would write the id
    (workspace.nnUNet_raw_data / "Task901_SyntheticCT").mkdir()
    with pytest.raises(TaskError) as typo:
        convert_id_to_task_name(902, workspace)
    assert typo.value.fix.startswith("the nearest task id here is 901 (Task901_SyntheticCT), if that is the one you "
                                     "meant; or `nnunet-explorer sample synthetic-mr` writes Task902")


def test_ambiguous_id_names_both(workspace):
    (workspace.nnUNet_raw_data / "Task004_Hippocampus").mkdir()
    (workspace.preprocessed / "Task004_Other").mkdir()
    with pytest.raises(TaskError) as info:
        convert_id_to_task_name(4, workspace)
    assert "Task004_Hippocampus" in str(info.value) and "Task004_Other" in str(info.value)


def test_id_4_does_not_match_task_0041(workspace):
    # differs from v1 on purpose (see tasks.py): v1's bare prefix match would call id 4 ambiguous here.
    (workspace.nnUNet_raw_data / "Task0041_Big").mkdir()
    (workspace.nnUNet_raw_data / "Task004_Small").mkdir()
    assert convert_id_to_task_name(4, workspace) == "Task004_Small"
    with pytest.raises(TaskError):
        convert_id_to_task_name(41, workspace)  # v1 looks for Task041*, which does not exist


def test_name_to_id_and_resolve(workspace):
    assert convert_task_name_to_id("Task004_Hippocampus") == 4
    assert convert_task_name_to_id("Task1234_Big") == 1234  # differs from v1 on purpose (v1: name[4:7] -> 123)
    with pytest.raises(TaskError):
        convert_task_name_to_id("Hippocampus")
    (workspace.nnUNet_raw_data / "Task004_Hippocampus").mkdir()
    assert resolve_task_name("4", workspace) == "Task004_Hippocampus"
    assert resolve_task_name(4, workspace) == "Task004_Hippocampus"
    assert resolve_task_name("Task009_Spleen", workspace) == "Task009_Spleen"  # a name is taken as given (v1)
    with pytest.raises(TaskError, match="neither"):
        resolve_task_name("four", workspace)


@pytest.mark.parity
def test_id_resolution_matches_v1(workspace):
    pytest.importorskip("nnunet")
    for folder, name in ((workspace.nnUNet_raw_data, "Task004_Hippocampus"),
                         (workspace.preprocessed, "Task005_Prostate"),
                         (workspace.nnUNet_cropped_data, "Task006_Lung"),
                         (workspace.network_training_output_dir / "2d", "Task008_HepaticVessel"),
                         (workspace.nnUNet_raw_data, "Task010_A"), (workspace.preprocessed, "Task010_B")):
        (folder / name).mkdir(parents=True)
    ids = [4, 5, 6, 8, 10, 11]
    code = ("import json\nfrom nnunet.utilities.task_name_id_conversion import convert_id_to_task_name as c\n"
            f"out = {{}}\nfor i in {ids}:\n    try:\n        out[i] = str(c(i))\n"
            "    except RuntimeError as e:\n        out[i] = 'ERROR'\nprint(json.dumps(out))")
    result = subprocess.run([sys.executable, "-c", code], env={**os.environ, **environment_for(workspace)},
                            capture_output=True, text=True, timeout=120, check=True)
    v1 = json.loads(result.stdout.strip().splitlines()[-1])
    for task_id in ids:
        try:
            ours = convert_id_to_task_name(task_id, workspace)
        except TaskError:
            ours = "ERROR"
        assert ours == v1[str(task_id)], task_id


# --- dataset.json --------------------------------------------------------------------------------------------

@pytest.fixture
def ct_task(tmp_path) -> Path:
    return write_synthetic_task(tmp_path / "Task901_SynthCT", "ct", num_training=3, num_test=1, seed=0)


def _edit(task: Path, change) -> None:
    path = task / "dataset.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_valid_dataset_json_is_returned_unchanged(ct_task):
    assert load_dataset_json(ct_task) == json.loads((ct_task / "dataset.json").read_text())


@pytest.mark.parametrize("change, words", [
    (lambda d: d.pop("labels"), "'labels' is missing (fix: add it)\n"),
    (lambda d: d.pop("modality"), "'modality' is missing"),
    (lambda d: d.pop("training"), "'training' is missing"),
    (lambda d: d.pop("name"), "'name' is missing (fix: add it) (v1 ignores this key; the explorer requires it)"),
    (lambda d: d.update(labels={"1": "organ", "2": "lesion"}), 'no "0"'),
    (lambda d: d.update(labels={"0": "bg", "2": "lesion"}), "consecutive"),
    (lambda d: d.update(labels={"0": "bg", "one": "organ"}), "non-integer"),
    (lambda d: d.update(modality={"1": "CT"}), "consecutive from 0"),
    (lambda d: d.update(numTraining=99), "numTraining"),
    (lambda d: d["training"].append(dict(d["training"][0])), "listed twice"),
    (lambda d: d["training"][0].update(label="./labelsTr/other.nii.gz"), "validation look for labelsTr/CASE.nii.gz"),
    (lambda d: d["training"][0].update(image="./imagesTr/case_000_0000.nii.gz",
                                       label="./labelsTr/case_000_0000.nii.gz"), "modality suffix"),
    (lambda d: d["training"][0].update(image="./imagesTr/case_000.nii"), "does not end with .nii.gz"),
    (lambda d: d.update(training=[]), "non-empty list"),
])
def test_broken_dataset_json_names_file_and_key(ct_task, change, words):
    _edit(ct_task, change)
    with pytest.raises(DatasetError) as info:
        load_dataset_json(ct_task)
    assert str(ct_task / "dataset.json") in str(info.value)
    assert words in str(info.value)
    assert info.value.fix


def test_every_problem_reported_at_once(ct_task):
    _edit(ct_task, lambda d: (d.pop("name"), d.update(labels={"1": "x"}, numTraining=7)))
    with pytest.raises(DatasetError) as info:
        load_dataset_json(ct_task)
    assert "3 problem(s)" in str(info.value)


def test_missing_and_unparsable_dataset_json(tmp_path, ct_task):
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset_json(tmp_path)
    (ct_task / "dataset.json").write_text('{"name": "x",}')
    with pytest.raises(DatasetError, match="line 1"):
        load_dataset_json(ct_task)
    (ct_task / "dataset.json").write_text("[1, 2]")
    with pytest.raises(DatasetError, match="not a JSON object"):
        load_dataset_json(ct_task)


def test_training_cases_follow_v1s_naming_rule(tmp_path):
    task = write_synthetic_task(tmp_path / "Task902_SynthMR", "mr", num_training=2, num_test=0, seed=0)
    cases = training_cases(task)
    assert [c.case_id for c in cases] == ["case_000", "case_001"]
    case_id, images, label = cases[1]  # a plain tuple as well
    assert images == [task / "imagesTr" / "case_001_0000.nii.gz", task / "imagesTr" / "case_001_0001.nii.gz"]
    assert label == task / "labelsTr" / "case_001.nii.gz"


@pytest.mark.parity
def test_training_cases_match_v1_create_lists(tmp_path):
    pytest.importorskip("nnunet")
    task = write_synthetic_task(tmp_path / "Task902_SynthMR", "mr", num_training=3, num_test=0, seed=0)
    # entries with other folder spellings: v1 keeps only the basenames
    _edit(task, lambda d: d["training"][1].update(image="imagesTr/case_001.nii.gz", label="x/y/case_001.nii.gz"))
    code = ("import json, sys\nfrom nnunet.experiment_planning.utils import create_lists_from_splitted_dataset as c\n"
            f"lists, mods = c({str(task)!r})\nprint(json.dumps(lists))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    v1 = json.loads(result.stdout.strip().splitlines()[-1])
    ours = [[str(p) for p in images] + [str(label)] for _case, images, label in training_cases(task)]
    assert ours == v1


@pytest.mark.parametrize("make, words", [
    (lambda ws: ws.nnUNet_raw_data / "Task04_Hippocampus", "not zero-padded"),
    (lambda ws: ws.nnUNet_raw_data / "Dataset004_Hippocampus", "v2's naming"),
    (lambda ws: ws.raw_data_base / "Task004_Hippocampus", "wrong level"),
    (lambda ws: ws.nnUNet_raw_data / "download" / "Task004_Hippocampus", "wrong level"),
])
def test_missing_id_explains_near_misses(workspace, make, words):
    make(workspace).mkdir(parents=True)
    with pytest.raises(TaskError) as info:
        convert_id_to_task_name(4, workspace)
    assert words in str(info.value) and "Task004_Hippocampus" in str(info.value)
