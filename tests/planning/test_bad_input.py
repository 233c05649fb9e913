"""Bad input: every problem is reported per case, with the fix, before long work; nothing is half-written."""
from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from nnunet_explorer.cli import main as cli_main
from nnunet_explorer.errors import DatasetError
from nnunet_explorer.fileio import load_pickle, write_json
from nnunet_explorer.planning.run import plan_and_preprocess
from nnunet_explorer.samples.synthetic import write_synthetic_task


def _run(ws, task_id, **kw):
    return plan_and_preprocess([task_id], workspace=ws, tl=1, tf=1, progress=False, log=lambda m: None, **kw)


def _task(ws, kind="mr", n=3, task_id=911, name="Bad"):
    task = f"Task{task_id}_{name}"
    write_synthetic_task(ws.raw_task_dir(task), kind, num_training=n, num_test=0, seed=3)
    return task


def _rewrite(path, fn):
    img = sitk.ReadImage(str(path))
    arr = fn(sitk.GetArrayFromImage(img))
    out = sitk.GetImageFromArray(arr)
    out.CopyInformation(img)
    sitk.WriteImage(out, str(path))


def _cropped_cases(ws, task):
    folder = ws.cropped_task_dir(task)
    return sorted(p.name for p in folder.glob("*.npz")) if folder.exists() else []


def test_geometry_mismatch_is_reported_before_cropping(workspace):
    task = _task(workspace)
    label = workspace.raw_task_dir(task) / "labelsTr" / "case_001.nii.gz"
    img = sitk.ReadImage(str(label))
    img.SetSpacing((1.0, 1.0, 2.0))
    sitk.WriteImage(img, str(label))
    with pytest.raises(DatasetError) as info:
        _run(workspace, 911)
    assert "case_001" in str(info.value) and "spacing" in str(info.value)
    assert _cropped_cases(workspace, task) == []
    assert not workspace.preprocessed_task_dir(task).exists()


def test_missing_modality_is_reported_before_cropping(workspace):
    task = _task(workspace)
    (workspace.raw_task_dir(task) / "imagesTr" / "case_002_0001.nii.gz").unlink()
    with pytest.raises(DatasetError) as info:
        _run(workspace, 911)
    assert "case_002" in str(info.value) and "case_002_0001.nii.gz" in str(info.value)
    assert _cropped_cases(workspace, task) == []


def test_undeclared_label_names_the_case(workspace):
    task = _task(workspace)
    _rewrite(workspace.raw_task_dir(task) / "labelsTr" / "case_000.nii.gz", lambda a: np.where(a == 2, 7, a))
    # header-only integrity passes; cropping reads the label and refuses it
    with pytest.raises(DatasetError) as info:
        _run(workspace, 911)
    assert "case_000" in str(info.value) and "[7]" in str(info.value) and "fix:" in str(info.value)
    # the good cases were written (atomically) and the bad one was not; no plans, no preprocessed data
    assert _cropped_cases(workspace, task) == ["case_001.npz", "case_002.npz"]
    assert not (workspace.preprocessed_task_dir(task) / "nnUNetPlansv2.1_plans_3D.pkl").exists()
    # with --verify_dataset_integrity the voxel check catches it before any cropping
    with pytest.raises(DatasetError) as info:
        _run(workspace, 911, verify_dataset_integrity=True)
    assert "case_000" in str(info.value) and "7" in str(info.value)


def test_all_zero_case_gets_a_clear_message(workspace):
    task = _task(workspace)
    for m in (0, 1):
        _rewrite(workspace.raw_task_dir(task) / "imagesTr" / f"case_001_000{m}.nii.gz", np.zeros_like)
    _rewrite(workspace.raw_task_dir(task) / "labelsTr" / "case_001.nii.gz", np.zeros_like)
    with pytest.raises(DatasetError) as info:
        _run(workspace, 911)
    assert "case_001" in str(info.value) and "every voxel" in str(info.value)
    assert "case_001.npz" not in _cropped_cases(workspace, task)


def test_cli_prints_the_error_without_traceback(workspace, capsys):
    task = _task(workspace)
    (workspace.raw_task_dir(task) / "imagesTr" / "case_000_0000.nii.gz").unlink()
    code = cli_main(["plan_and_preprocess", "-t", "911", "-tl", "1", "-tf", "1", "--no_progress"])
    err = capsys.readouterr().err
    assert code == 2 and "case_000" in err and "Traceback" not in err


def test_single_case_task(workspace):
    task = _task(workspace, n=1)
    result = _run(workspace, 911)[0]
    plans = load_pickle(result.plans_3d)
    assert plans["list_of_npz_files"] and len(plans["list_of_npz_files"]) == 1
    assert plans["plans_per_stage"][0]["batch_size"] == 2  # 5 % of one case is < 2 patches: floor of 2
    assert (workspace.preprocessed_task_dir(task) / "nnUNetData_plans_v2.1_stage0" / "case_000.npz").is_file()


def test_2d_task_with_one_slice(workspace):
    task = "Task912_Flat"
    raw = workspace.raw_task_dir(task)
    rng = np.random.RandomState(0)
    training = []
    for i in range(3):
        img = np.zeros((1, 40, 44), np.float32)
        img[0, 5:35, 6:40] = rng.normal(100, 10, (30, 34))
        lab = np.zeros((1, 40, 44), np.uint8)
        lab[0, 10:20, 10:25] = 1
        for arr, path in ((img, raw / "imagesTr" / f"flat_{i}_0000.nii.gz"), (lab, raw / "labelsTr" / f"flat_{i}.nii.gz")):
            path.parent.mkdir(parents=True, exist_ok=True)
            im = sitk.GetImageFromArray(arr)
            im.SetSpacing((0.5, 0.5, 1.0))
            sitk.WriteImage(im, str(path))
        training.append({"image": f"./imagesTr/flat_{i}.nii.gz", "label": f"./labelsTr/flat_{i}.nii.gz"})
    write_json({"name": "Flat", "modality": {"0": "MRI"}, "labels": {"0": "background", "1": "thing"},
                "numTraining": 3, "training": training, "test": []}, raw / "dataset.json")
    result = _run(workspace, 912)[0]
    p3 = load_pickle(result.plans_3d)["plans_per_stage"][0]
    p2 = load_pickle(result.plans_2d)["plans_per_stage"][0]
    assert p3["patch_size"][0] == 1 and p3["num_pool_per_axis"][0] == 0  # one slice: never pooled
    assert len(p2["patch_size"]) == 2
    data = np.load(workspace.preprocessed_task_dir(task) / "nnUNetData_plans_v2.1_2D_stage0" / "flat_0.npz")["data"]
    assert data.shape[1] == 1 and np.isfinite(data).all()


def test_nan_voxels_become_zero_like_v1(workspace):
    """SimpleITK (v1's reader too) reads NaN voxels of a NIfTI as 0, so the outputs stay finite."""
    task = _task(workspace, kind="ct", n=2)
    _rewrite(workspace.raw_task_dir(task) / "imagesTr" / "case_000_0000.nii.gz",
             lambda a: np.where(np.arange(a.size).reshape(a.shape) % 97 == 0, np.nan, a).astype(np.float32))
    result = _run(workspace, 911)[0]
    cropped = np.load(result.cropped_dir / "case_000.npz")["data"]
    assert np.isfinite(cropped).all()
    for stage in ("nnUNetData_plans_v2.1_stage0", "nnUNetData_plans_v2.1_2D_stage0"):
        assert np.isfinite(np.load(result.preprocessed_dir / stage / "case_000.npz")["data"]).all()


def test_rerun_skips_cropped_cases(workspace):
    _task(workspace, n=2)
    first = _run(workspace, 911)[0]
    assert sorted(first.cropped_now) == ["case_000", "case_001"]
    npz = first.cropped_dir / "case_000.npz"
    before = npz.stat().st_mtime_ns
    second = _run(workspace, 911)[0]
    assert second.cropped_now == () and sorted(second.cropped_skipped) == ["case_000", "case_001"]
    assert npz.stat().st_mtime_ns == before
    assert load_pickle(second.plans_3d)["plans_per_stage"][0]["patch_size"].tolist() == \
        load_pickle(first.plans_3d)["plans_per_stage"][0]["patch_size"].tolist()


@pytest.mark.parametrize("edit, said", [
    (lambda plans, stage: stage.__setitem__("batch_size", 0), "batch_size 0 is no positive whole number"),
    (lambda plans, stage: stage.__setitem__("patch_size", np.array([80, 0, 160])),
     "patch_size [80, 0, 160] holds a value that is no positive whole number"),
    (lambda plans, stage: stage.__setitem__("conv_kernel_sizes", [[3, 3, 2.5]] + stage["conv_kernel_sizes"][1:]),
     "conv_kernel_sizes [[3, 3, 2.5], "),
    (lambda plans, stage: plans.pop("base_num_features"), "lacks plans keys: base_num_features"),
])
def test_hand_edited_plans_are_refused_naming_the_value_not_with_a_traceback(workspace, capsys, edit, said):
    """Users edit plans files by hand (where batch or patch size live): a value no network or loader can use stops
    `train` with the value named (v1 reads them unchecked and fails deep inside), and the plans' own values pass."""
    import pickle

    assert cli_main(["sample", "kits19"]) == 0
    task = workspace.preprocessed_task_dir("Task040_KiTS")
    plans = load_pickle(task / "nnUNetPlansv2.1_plans_3D.pkl")
    edit(plans, plans["plans_per_stage"][0])
    (task / "nnUNetPlansEdited_plans_3D.pkl").write_bytes(pickle.dumps(plans))
    capsys.readouterr()
    argv = ["train", "3d_fullres", "nnUNetTrainerV2", "40", "0", "--until", "initialize"]
    assert cli_main([*argv, "-p", "nnUNetPlansEdited"]) == 2  # bad input, as for every plans error
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err
    assert cli_main(argv) == 0
