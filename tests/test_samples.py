"""Synthetic samples (determinism, geometry, labels, modalities) and `nnunet-explorer sample` (in process)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from nnunet_explorer import cli
from nnunet_explorer.samples import synthetic
from nnunet_explorer.samples.synthetic import SPECS, write_synthetic_task
from nnunet_explorer.tasks import load_dataset_json, training_cases, verify_dataset_integrity


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("kind", ["ct", "mr"])
def test_same_seed_writes_byte_identical_files(tmp_path, kind):
    a = write_synthetic_task(tmp_path / "a" / "Task001_X", kind, num_training=2, num_test=1, seed=7)
    b = write_synthetic_task(tmp_path / "b" / "Task001_X", kind, num_training=2, num_test=1, seed=7)
    assert _digest(a) == _digest(b)


@pytest.mark.parametrize("kind", ["ct", "mr"])
def test_another_seed_changes_every_image(tmp_path, kind):
    a = _digest(write_synthetic_task(tmp_path / "a" / "Task001_X", kind, num_training=2, num_test=1, seed=7))
    b = _digest(write_synthetic_task(tmp_path / "b" / "Task001_X", kind, num_training=2, num_test=1, seed=8))
    images = [k for k in a if k.endswith(".nii.gz")]
    assert images and all(a[k] != b[k] for k in images)


@pytest.mark.parametrize("kind", ["ct", "mr"])
def test_geometry_modalities_and_labels(tmp_path, kind):
    spec = SPECS[kind]
    task = write_synthetic_task(tmp_path / "Task001_X", kind, num_training=3, num_test=1, seed=0)
    dataset = load_dataset_json(task)
    assert len(dataset["modality"]) == len(spec.modalities)
    assert sorted(int(k) for k in dataset["labels"]) == [0, 1, 2]
    seen: set[int] = set()
    for index, (case, images, label) in enumerate(training_cases(task, dataset)):
        assert len(images) == len(spec.modalities) and all(p.is_file() for p in images)
        label_image = sitk.ReadImage(str(label))
        # the spec is z-y-x (numpy order); ITK reports x-y-z
        assert label_image.GetSpacing() == pytest.approx(spec.spacing_zyx[::-1])
        assert label_image.GetOrigin() == pytest.approx((-10.0 * index, 5.0, 2.5 * index))
        array = sitk.GetArrayFromImage(label_image)
        assert array.shape == sitk.GetArrayFromImage(sitk.ReadImage(str(images[0]))).shape
        for axis, (base, jitter) in enumerate(zip(spec.base_shape_zyx, spec.shape_jitter_zyx)):
            assert base - jitter <= array.shape[axis] <= base + jitter
        values = set(np.unique(array).tolist())
        assert values <= {0, 1, 2}
        assert {0, 1} <= values
        seen |= values
    assert seen == {0, 1, 2}
    assert len(list((task / "imagesTs").glob("*.nii.gz"))) == len(spec.modalities)
    verify_dataset_integrity(task)


def test_ct_intensities_are_hounsfield_like_and_mr_background_is_zero(tmp_path):
    ct = write_synthetic_task(tmp_path / "Task001_CT", "ct", num_training=1, num_test=0, seed=0)
    mr = write_synthetic_task(tmp_path / "Task002_MR", "mr", num_training=1, num_test=0, seed=0)
    ct_image = sitk.GetArrayFromImage(sitk.ReadImage(str(ct / "imagesTr/case_000_0000.nii.gz")))
    assert ct_image.min() < -900 and -100 < np.median(ct_image[ct_image > -500]) < 150
    assert load_dataset_json(ct)["modality"] == {"0": "CT"}  # exact value v1 tests to switch on CT normalization
    mr_image = sitk.GetArrayFromImage(sitk.ReadImage(str(mr / "imagesTr/case_000_0000.nii.gz")))
    assert (mr_image == 0).mean() > 0.2 and mr_image.max() > 100


# --- the sample command, in process ---------------------------------------------------------------------------

def _run(*argv: str) -> int:
    return cli.main(["sample", *argv])


def test_defaults_and_next_steps(workspace, capsys):
    assert _run("synthetic-ct", "--num_training", "2", "--num_test", "0") == 0
    task = workspace.raw_task_dir("Task901_SyntheticCT")
    assert load_dataset_json(task)["numTraining"] == 2
    out = capsys.readouterr().out
    assert str(task) in out and "plan_and_preprocess -t 901" in out
    assert _run("synthetic-mr", "--num_training", "1", "--num_test", "0") == 0
    assert len(load_dataset_json(workspace.raw_task_dir("Task902_SyntheticMR"))["modality"]) == 2
    assert sorted(p.name for p in workspace.nnUNet_raw_data.iterdir()) == ["Task901_SyntheticCT",
                                                                           "Task902_SyntheticMR"]


def test_custom_id_name_and_seed(workspace):
    assert _run("synthetic-mr", "--task_id", "42", "--task_name", "Mine", "--num_training", "1", "--num_test", "0",
                "--seed", "3") == 0
    dataset = load_dataset_json(workspace.raw_task_dir("Task042_Mine"))
    assert dataset["explorer_sample"]["seed"] == 3 and dataset["name"] == "Task042_Mine"


def test_existing_task_exist_ok_error_and_overwrite(workspace, capsys):
    assert _run("synthetic-ct", "--num_training", "2", "--num_test", "0") == 0
    task = workspace.raw_task_dir("Task901_SyntheticCT")
    before = _digest(task)
    capsys.readouterr()
    assert _run("synthetic-ct", "--exist_ok", "--num_training", "3") == 0
    assert "already exists" in capsys.readouterr().out and _digest(task) == before
    assert _run("synthetic-ct", "--num_training", "3") == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--overwrite" in err and "Traceback" not in err
    assert _digest(task) == before
    assert _run("synthetic-ct", "--overwrite", "--num_training", "3", "--num_test", "0") == 0
    assert load_dataset_json(task)["numTraining"] == 3
    assert [p.name for p in workspace.nnUNet_raw_data.iterdir()] == ["Task901_SyntheticCT"]  # no temp left


def test_id_used_by_another_name_is_refused(workspace, capsys):
    (workspace.preprocessed / "Task901_Other").mkdir()
    assert _run("synthetic-ct", "--exist_ok") == 2
    assert "Task901_Other" in capsys.readouterr().err
    assert list(workspace.nnUNet_raw_data.iterdir()) == []


@pytest.mark.parametrize("argv, words", [
    (("synthetic-ct", "--task_name", "Task902_X"), "does not match"),
    (("synthetic-ct", "--task_name", "a b"), "folder name"),
    (("synthetic-ct", "--num_training", "0"), "at least 1"),
    (("synthetic-ct", "--from_debian", "/x"), "only applies to the real sample"),
    (("real", "--num_test", "3"), "does not apply to the real sample"),
])
def test_bad_arguments(workspace, capsys, argv, words):
    assert _run(*argv) == 2
    assert words in capsys.readouterr().err
    assert list(workspace.nnUNet_raw_data.iterdir()) == []


def test_a_failure_while_writing_leaves_nothing_behind(workspace, monkeypatch, capsys):
    def half_then_crash(task_dir, *args, **kwargs):
        Path(task_dir, "imagesTr").mkdir(parents=True)
        Path(task_dir, "imagesTr", "case_000_0000.nii.gz").write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(synthetic, "write_synthetic_task", half_then_crash)
    with pytest.raises(OSError, match="disk full"):
        _run("synthetic-ct")
    assert list(workspace.nnUNet_raw_data.iterdir()) == []


def test_overwrite_failure_keeps_the_old_task(workspace, monkeypatch):
    assert _run("synthetic-ct", "--num_training", "1", "--num_test", "0") == 0
    task = workspace.raw_task_dir("Task901_SyntheticCT")
    before = _digest(task)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(synthetic, "write_synthetic_task", crash)
    with pytest.raises(OSError):
        _run("synthetic-ct", "--overwrite")
    assert _digest(task) == before
    assert [p.name for p in workspace.nnUNet_raw_data.iterdir()] == ["Task901_SyntheticCT"]


def test_overwrite_warns_about_stale_cropped_data(workspace, capsys):
    assert _run("synthetic-ct", "--num_training", "1", "--num_test", "0") == 0
    (workspace.cropped_task_dir("Task901_SyntheticCT")).mkdir()
    capsys.readouterr()
    assert _run("synthetic-ct", "--overwrite", "--num_training", "1", "--num_test", "0") == 0
    err = capsys.readouterr().err
    assert "stale" in err and str(workspace.cropped_task_dir("Task901_SyntheticCT")) in err
    assert json.loads((workspace.raw_task_dir("Task901_SyntheticCT") / "dataset.json").read_text())
