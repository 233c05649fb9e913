"""check_dataset flags exactly the defective cases of tasks built with known defects, one kind per case.

Also: the JSON schema, exit codes through the CLI (0 clean, 1 errors, 2 bad usage), no traceback without
``--debug``, atomic / no-overwrite output, the HTML thumbnails, and plan_and_preprocess refusing a cut-short
file before writing anything.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from nnunet_explorer import cli
from nnunet_explorer.dataset_check import check_dataset, robust_z
from nnunet_explorer.errors import DatasetError, TaskError
from nnunet_explorer.samples.synthetic import write_synthetic_task


def _rewrite(path: Path, *, array_change=None, spacing=None, origin=None, direction=None) -> None:
    image = sitk.ReadImage(str(path))
    array = sitk.GetArrayFromImage(image)
    if array_change is not None:
        array = array_change(array)
    new = sitk.GetImageFromArray(array)
    if array.shape == sitk.GetArrayFromImage(image).shape:
        new.CopyInformation(image)
    else:
        new.SetSpacing(image.GetSpacing())
        new.SetOrigin(image.GetOrigin())
        new.SetDirection(image.GetDirection())
    if spacing is not None:
        new.SetSpacing(spacing)
    if origin is not None:
        new.SetOrigin(origin)
    if direction is not None:
        new.SetDirection(direction)
    sitk.WriteImage(new, str(path), True)


def _set(value, index=(0, 0, 0)):
    def change(a):
        a = a.copy()
        a[index] = value
        return a
    return change


def _truncate(path: Path, fraction: float = 0.6) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


def _with_nan(path: Path) -> None:
    image = sitk.ReadImage(str(path))
    array = sitk.GetArrayFromImage(image).astype(np.float32)
    array[3, 10, 10] = np.nan
    array[4, 11, 11] = np.inf
    new = sitk.GetImageFromArray(array)
    new.CopyInformation(image)
    sitk.WriteImage(new, str(path), True)


def _shift_origin(path: Path, delta: float) -> None:
    origin = sitk.ReadImage(str(path)).GetOrigin()
    _rewrite(path, origin=(origin[0] + delta, *origin[1:]))


# case -> (defect, the checks it must raise on that case, nothing else)
CT_DEFECTS = {
    "case_001": (lambda t: _rewrite(t / "labelsTr/case_001.nii.gz", spacing=(0.8, 0.8, 3.5)), {"image_vs_label"}),
    "case_002": (lambda t: _shift_origin(t / "labelsTr/case_002.nii.gz", 1e-3), {"image_vs_label"}),
    "case_003": (lambda t: _rewrite(t / "imagesTr/case_003_0000.nii.gz", direction=(-1, 0, 0, 0, -1, 0, 0, 0, 1)),
                 {"image_vs_label", "orientation"}),
    "case_004": (lambda t: _rewrite(t / "labelsTr/case_004.nii.gz", array_change=lambda a: a[:-1]),
                 {"image_vs_label"}),
    "case_005": (lambda t: _rewrite(t / "labelsTr/case_005.nii.gz", array_change=_set(5)), {"undeclared_label"}),
    "case_006": (lambda t: _rewrite(t / "labelsTr/case_006.nii.gz", array_change=lambda a: np.zeros_like(a)),
                 {"empty_label"}),
    "case_007": (lambda t: _with_nan(t / "imagesTr/case_007_0000.nii.gz"), {"nan_inf"}),
    "case_008": (lambda t: _truncate(t / "imagesTr/case_008_0000.nii.gz"), {"truncated"}),
    # CT stored without its rescale intercept: every value 1024 too high
    "case_009": (lambda t: _rewrite(t / "imagesTr/case_009_0000.nii.gz", array_change=lambda a: a + 1024),
                 {"intensity_outlier"}),
    "case_010": (lambda t: (t / "labelsTr/case_010.nii.gz").write_bytes(b"\x89PNG\r\n\x1a\n not a NIfTI"),
                 {"unreadable"}),
}
CT_CASES = 14  # case_000 and case_011 ... case_013 stay clean
MR_DEFECTS = {
    "case_001": (lambda t: _shift_origin(t / "imagesTr/case_001_0001.nii.gz", 0.5),
                 {"modality_vs_modality", "image_vs_label"}),
}
EXPECTED_FIELD = {"case_001": "spacing", "case_002": "origin", "case_003": "direction", "case_004": "size"}


def _task(root: Path, task_id: int, kind: str, cases: int, defects: dict, seed: int = 0) -> Path:
    task = write_synthetic_task(root / f"Task{task_id}_{kind.upper()}Defects", kind, num_training=cases, num_test=0,
                                seed=seed)
    for breaker, _checks in defects.values():
        breaker(task)
    return task


@pytest.fixture(scope="module")
def defect_tasks(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("check_dataset")
    ct = _task(root, 991, "ct", CT_CASES, CT_DEFECTS)
    mr = _task(root, 992, "mr", 5, MR_DEFECTS)
    (mr / "labelsTr" / "readme.txt").write_text("not an image")
    return {"ct": ct, "mr": mr}


@pytest.fixture(scope="module")
def ct_check(defect_tasks):
    return check_dataset(None, task_dir=defect_tasks["ct"], num_processes=2, progress=False)


def test_flags_exactly_the_defective_ct_cases_with_the_right_checks(ct_check):
    assert len(ct_check.cases) == CT_CASES
    flagged = {case: {f.check for f in findings} for case, findings in ct_check.cases.items() if findings}
    assert flagged == {case: checks for case, (_b, checks) in CT_DEFECTS.items()}
    for case in ("case_000", "case_011", "case_012", "case_013"):
        assert ct_check.cases[case] == []


def test_geometry_findings_name_the_field_and_the_numbers(ct_check):
    for case, field_name in EXPECTED_FIELD.items():
        geometry = [f for f in ct_check.cases[case] if f.check == "image_vs_label"]
        assert [f.extra["field"] for f in geometry] == [field_name], case
        f = geometry[0]
        assert f.severity == "error" and "imagesTr/" in f.message and "labelsTr/" in f.message
        assert "fix:" in f.message
    spacing = next(f for f in ct_check.cases["case_001"] if f.check == "image_vs_label")
    assert spacing.extra["max_difference"] == pytest.approx(0.5)
    origin = next(f for f in ct_check.cases["case_002"] if f.check == "image_vs_label")
    assert origin.extra["max_difference"] == pytest.approx(1e-3, rel=1e-3)  # beyond isclose's atol 1e-8 + rtol


def test_voxel_findings_carry_their_numbers(ct_check):
    undeclared = ct_check.cases["case_005"][0]
    assert undeclared.extra["values"] == [5] and undeclared.extra["voxels"] == [1]
    nan = ct_check.cases["case_007"][0]
    assert (nan.extra["nan"], nan.extra["inf"]) == (1, 1)
    truncated = ct_check.cases["case_008"][0]
    assert truncated.extra["bytes_read"] < truncated.extra["bytes_expected"]
    assert "re-copy / re-download" in truncated.message
    outlier = ct_check.cases["case_009"][0]
    assert outlier.severity == "warning" and outlier.extra["statistic"].startswith("foreground_")
    assert outlier.extra["value"] - outlier.extra["dataset_median"] > 900
    # the case drags v1's pooled clip range up (it is 1 of 10 cases with foreground); without it the range
    # would end far below its values
    lo, hi = outlier.extra["v1_clip_range"]
    lo_without, hi_without = outlier.extra["v1_clip_range_without_this_case"]
    assert hi > outlier.extra["dataset_median"] + 500 and hi_without < outlier.extra["dataset_median"] + 200
    assert 0 < outlier.extra["fraction_clipped"] < 0.5
    assert "rescale intercept" in outlier.message
    unreadable = ct_check.cases["case_010"][0]
    assert "labelsTr/case_010.nii.gz" in unreadable.message and "not gzip" in unreadable.message


def test_intensity_outlier_uses_v1s_pooled_ct_statistics(ct_check, defect_tasks):
    # the clip range reported is v1's: 0.5/99.5 percentiles of every 10th foreground voxel, pooled
    from nnunet_explorer.planning.fingerprint import intensity_properties

    outlier = ct_check.cases["case_009"][0]
    task = defect_tasks["ct"]
    samples, ids = [], []
    for case in ["case_000", *[f"case_{i:03d}" for i in range(1, CT_CASES)]]:
        if case in ("case_004", "case_006", "case_008", "case_010"):  # no usable foreground / image
            continue
        image = sitk.GetArrayFromImage(sitk.ReadImage(str(task / f"imagesTr/{case}_0000.nii.gz"))).astype(np.float32)
        label = sitk.GetArrayFromImage(sitk.ReadImage(str(task / f"labelsTr/{case}.nii.gz")))
        samples.append({0: image[label > 0][::10]})
        ids.append(case)
    pooled = intensity_properties(samples, ids, 1)[0]
    assert outlier.extra["v1_clip_range"] == pytest.approx([pooled["percentile_00_5"], pooled["percentile_99_5"]])
    assert outlier.extra["v1_mean"] == pytest.approx(pooled["mean"])


def test_dataset_findings_reuse_the_planner(ct_check):
    by_check = {f.check: f for f in ct_check.dataset}
    assert {"normalization", "spacing_spread", "target_spacing", "transpose", "lowres_stage", "anisotropy",
            "plans", "orientation"} <= set(by_check)
    assert by_check["orientation"].severity == "warning"
    assert by_check["anisotropy"].extra["lowres_axis"] == [0]  # 3 mm z vs 0.8 mm in-plane
    assert by_check["plans"].extra["num_stages"] == 1


def test_mr_modality_mismatch_and_stray_file(defect_tasks):
    check = check_dataset(None, task_dir=defect_tasks["mr"], num_processes=1, progress=False)
    flagged = {case: {f.check for f in findings} for case, findings in check.cases.items() if findings}
    assert flagged == {case: checks for case, (_b, checks) in MR_DEFECTS.items()}
    modality = next(f for f in check.cases["case_001"] if f.check == "modality_vs_modality")
    assert modality.extra["field"] == "origin" and modality.extra["max_difference"] == pytest.approx(0.5)
    stray = [f for f in check.dataset if f.check == "not_nifti_file"]
    assert len(stray) == 1 and "labelsTr/readme.txt" in stray[0].message


def test_robust_z():
    z, median, mad = robust_z([10, 11, 12, 13, 100])
    assert median == 12 and mad == 1 and z[-1] == pytest.approx(0.6745 * 88)
    z, _, mad = robust_z([5, 5, 5, 5, 9])  # MAD 0: mean absolute deviation takes over
    assert mad == 0 and abs(z[-1]) > 3.5 and np.all(z[:4] == 0)


# --- the command ----------------------------------------------------------------------------------------------

def _put(workspace, src: Path, name: str) -> Path:
    import shutil

    dst = workspace.raw_task_dir(name)
    shutil.copytree(src, dst)
    return dst


def test_cli_json_schema_report_and_exit_1(workspace, defect_tasks, tmp_path, capsys):
    _put(workspace, defect_tasks["ct"], "Task991_CTDefects")
    out_json, out_html = tmp_path / "out/check.json", tmp_path / "out/check.html"
    code = cli.main(["check_dataset", "-t", "991", "--json", str(out_json), "--report", str(out_html), "-tl", "2",
                     "--no_progress"])
    printed = capsys.readouterr()
    assert code == 1
    assert "Traceback" not in printed.err and "case_008: error" in printed.out
    data = json.loads(out_json.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert data["task"] == "Task991_CTDefects"
    assert sorted(data["cases"]) == [f"case_{i:03d}" for i in range(CT_CASES)]
    for findings in [*data["cases"].values(), data["dataset"]]:
        for f in findings:
            assert {"check", "severity", "message"} <= set(f) and f["severity"] in ("error", "warning", "info")
            assert isinstance(f["message"], str) and f["message"]
    assert {c for c, fs in data["cases"].items() if fs} == set(CT_DEFECTS)
    assert data["summary"]["cases_flagged"] == len(CT_DEFECTS)
    # per-case statistics, computed from the voxels (the clean case_000 checked against numpy here)
    image = sitk.GetArrayFromImage(sitk.ReadImage(str(defect_tasks["ct"] / "imagesTr/case_000_0000.nii.gz")))
    label = sitk.GetArrayFromImage(sitk.ReadImage(str(defect_tasks["ct"] / "labelsTr/case_000.nii.gz")))
    stats = data["statistics"]["case_000"]["0"]
    assert stats["foreground_mean"] == pytest.approx(float(image[label > 0].mean()), rel=1e-5)
    assert stats["image_sd"] == pytest.approx(float(image.std()), rel=1e-4)
    assert stats["foreground_n"] == int((label > 0).sum())
    page = out_html.read_text()
    # a picture for every flagged case whose image can be read at all (case_010's label is not an image,
    # but its image is: it gets one too)
    assert page.count("data:image/png;base64,") == len(CT_DEFECTS)
    for case in CT_DEFECTS:
        assert f"id='{case}'" in page
    # refuses to overwrite, leaving the files as they were
    before = out_json.read_bytes()
    code = cli.main(["check_dataset", "-t", "991", "--json", str(out_json), "--no_progress"])
    err = capsys.readouterr().err
    assert code == 2 and "exists" in err and "--overwrite" in err and out_json.read_bytes() == before
    assert cli.main(["check_dataset", "-t", "991", "--json", str(out_json), "--overwrite", "--no_progress",
                     "--quiet", "-tl", "1"]) == 1
    capsys.readouterr()


def test_cli_clean_task_exits_0(workspace, tmp_path, capsys):
    write_synthetic_task(workspace.raw_task_dir("Task993_Clean"), "ct", num_training=5, num_test=0, seed=4)
    out = tmp_path / "clean.json"
    assert cli.main(["check_dataset", "-t", "Task993_Clean", "--json", str(out), "--no_progress"]) == 0
    data = json.loads(out.read_text())
    assert all(findings == [] for findings in data["cases"].values()) and len(data["cases"]) == 5
    assert all(f["severity"] != "error" for f in data["dataset"])
    capsys.readouterr()


def test_bad_usage_exits_2_without_traceback_and_writes_nothing(workspace, tmp_path, capsys):
    out = tmp_path / "never.json"
    assert cli.main(["check_dataset", "-t", "999", "--json", str(out), "--no_progress"]) == 2
    err = capsys.readouterr().err
    assert "could not find a task with the ID 999" in err and "Traceback" not in err and not out.exists()
    # missing dataset.json
    task = write_synthetic_task(workspace.raw_task_dir("Task994_NoJson"), "ct", num_training=2, num_test=0)
    (task / "dataset.json").unlink()
    assert cli.main(["check_dataset", "-t", "994", "--json", str(out), "--no_progress"]) == 2
    err = capsys.readouterr().err
    assert "dataset.json does not exist" in err and "Traceback" not in err and not out.exists()
    # malformed dataset.json (a JSON syntax error): names file, line and column
    (task / "dataset.json").write_text('{"name": "x", "modality": {"0": "CT"},\n "labels": }')
    assert cli.main(["check_dataset", "-t", "994", "--json", str(out), "--no_progress"]) == 2
    err = capsys.readouterr().err
    assert "dataset.json is not valid JSON" in err and "line 2" in err and not out.exists()
    # --debug shows the traceback
    assert cli.main(["check_dataset", "--debug", "-t", "994", "--no_progress"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_fixable_dataset_json_problem_is_a_finding_and_all_cases_are_checked(workspace, capsys):
    task = write_synthetic_task(workspace.raw_task_dir("Task995_Count"), "ct", num_training=4, num_test=0, seed=5)
    data = json.loads((task / "dataset.json").read_text())
    data["numTraining"] = 7
    (task / "dataset.json").write_text(json.dumps(data))
    check = check_dataset(995, num_processes=1, progress=False)
    assert [f.check for f in check.dataset if f.severity == "error"] == ["dataset_json"]
    assert "numTraining" in check.dataset[0].message and len(check.cases) == 4
    with pytest.raises(TaskError):
        check_dataset(996, progress=False)


def test_console_script_exit_code_and_no_traceback(workspace, defect_tasks, tmp_path):
    _put(workspace, defect_tasks["mr"], "Task992_MRDefects")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run([sys.executable, "-m", "nnunet_explorer.cli", "check_dataset", "-t", "992", "-tl", "1",
                           "--no_progress"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "case_001: error" in proc.stdout and "Traceback" not in proc.stderr


# --- plan_and_preprocess refuses a cut-short file before writing anything ---------------------------------------

def test_plan_and_preprocess_refuses_a_truncated_case_and_writes_nothing(workspace, capsys):
    task = write_synthetic_task(workspace.raw_task_dir("Task997_Cut"), "ct", num_training=3, num_test=0, seed=6)
    _truncate(task / "imagesTr/case_001_0000.nii.gz", 0.5)
    # the danger: SimpleITK reads it without a word
    assert sitk.GetArrayFromImage(sitk.ReadImage(str(task / "imagesTr/case_001_0000.nii.gz"))).size > 0
    code = cli.main(["plan_and_preprocess", "-t", "997", "-tl", "1", "-tf", "1", "--no_progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert "case_001_0000.nii.gz is incomplete" in err and "re-copy / re-download" in err
    assert "Traceback" not in err
    assert not workspace.cropped_task_dir("Task997_Cut").exists()
    assert not workspace.preprocessed_task_dir("Task997_Cut").exists()


def test_verify_raw_files_lists_every_bad_file(workspace):
    from nnunet_explorer.planning.run import verify_raw_files

    task = write_synthetic_task(workspace.raw_task_dir("Task998_Two"), "ct", num_training=3, num_test=0, seed=7)
    assert verify_raw_files("Task998_Two", workspace, 1, progress=False) == 6
    _truncate(task / "labelsTr/case_000.nii.gz", 0.7)
    (task / "imagesTr/case_002_0000.nii.gz").write_bytes(b"plain text")
    with pytest.raises(DatasetError) as info:
        verify_raw_files("Task998_Two", workspace, 2, progress=False)
    text = str(info.value)
    assert "2 of 6 raw files" in text and "labelsTr/case_000.nii.gz" in text and "case_002_0000.nii.gz" in text


# --- parity: what check_dataset says v1 will do is what the real v1 did on the same raw task ------------------

@pytest.mark.slow
@pytest.mark.parametrize("fixture", ["v1_ct_task", "v1_mr_task"])
def test_plan_and_normalisation_preview_matches_real_v1(request, fixture):
    import pickle

    v1 = request.getfixturevalue(fixture)
    check = check_dataset(None, task_dir=v1.raw_dir, num_processes=2, progress=False)
    assert all(findings == [] for findings in check.cases.values())  # the synthetic tasks are clean
    assert len(check.test_cases) == 2 and all(findings == [] for findings in check.test_cases.values())
    with open(v1.preprocessed_dir / "nnUNetPlansv2.1_plans_3D.pkl", "rb") as handle:
        plans = pickle.load(handle)  # written by the real v1 in the fixture: trusted
    found = {f.check: f for f in check.dataset}
    preview = found["plans"].extra
    assert preview["num_stages"] == plans["num_stages"]
    assert preview["transpose_forward"] == [int(i) for i in plans["transpose_forward"]]
    for index, stage in plans["plans_per_stage"].items():
        mine = preview["stages"][index]
        assert mine["patch_size"] == [int(v) for v in stage["patch_size"]]
        assert mine["current_spacing"] == pytest.approx([float(v) for v in stage["current_spacing"]])
        assert mine["conv_kernel_sizes"] == [[int(v) for v in k] for k in stage["conv_kernel_sizes"]]
    norm = [f for f in check.dataset if f.check == "normalization"]
    assert {f.extra["modality"]: f.extra["scheme"] for f in norm} == dict(plans["normalization_schemes"])
    assert {f.extra["modality"]: f.extra["use_nonzero_mask"] for f in norm} == \
        {int(k): bool(v) for k, v in plans["use_mask_for_norm"].items()}
    if fixture == "v1_ct_task":  # the numbers v1's CT normalisation uses, from v1's intensityproperties.pkl
        with open(v1.cropped_dir / "intensityproperties.pkl", "rb") as handle:
            v1_props = pickle.load(handle)[0]
        for key in ("percentile_00_5", "percentile_99_5", "mean", "sd"):
            assert norm[0].extra[key] == pytest.approx(float(v1_props[key]), rel=1e-6), key


def test_nonct_scale_outlier_is_info_because_v1_z_scores_each_case(tmp_path):
    task = write_synthetic_task(tmp_path / "Task989_MRScale", "mr", num_training=6, num_test=0, seed=8)
    _rewrite(task / "imagesTr/case_002_0000.nii.gz", array_change=lambda a: a * 10)
    check = check_dataset(None, task_dir=task, num_processes=1, progress=False)
    flagged = {case: [(f.check, f.severity, f.extra.get("modality")) for f in fs]
               for case, fs in check.cases.items() if fs}
    assert flagged == {"case_002": [("intensity_outlier", "info", 0)]}
    assert "z-scores each case with its own mean and sd" in check.cases["case_002"][0].message


def test_test_cases_are_checked_too(tmp_path):
    task = write_synthetic_task(tmp_path / "Task988_Test", "mr", num_training=4, num_test=3, seed=9)
    _truncate(task / "imagesTs/test_001_0000.nii.gz", 0.5)
    _shift_origin(task / "imagesTs/test_002_0001.nii.gz", 2.0)
    check = check_dataset(None, task_dir=task, num_processes=2, progress=False)
    assert all(fs == [] for fs in check.cases.values())
    flagged = {case: {f.check for f in fs} for case, fs in check.test_cases.items() if fs}
    assert flagged == {"test_001": {"truncated"}, "test_002": {"modality_vs_modality"}}
    assert check.has_errors
    data = check.to_json()
    assert sorted(data["test_cases"]) == ["test_000", "test_001", "test_002"]
    from nnunet_explorer.views.dataset_report import render_dataset_report

    page = render_dataset_report(check)
    assert "id='test_001'" in page and page.count("data:image/png;base64,") == 2


def test_shifted_ct_test_case_is_flagged_against_the_training_cases(tmp_path):
    task = write_synthetic_task(tmp_path / "Task987_Shift", "ct", num_training=6, num_test=3, seed=10)
    _rewrite(task / "imagesTs/test_001_0000.nii.gz", array_change=lambda a: a + 1024)
    check = check_dataset(None, task_dir=task, num_processes=1, progress=False)
    assert all(fs == [] for fs in check.cases.values())
    flagged = {case: [(f.check, f.severity) for f in fs] for case, fs in check.test_cases.items() if fs}
    assert flagged == {"test_001": [("intensity_shift", "warning")]}
    finding = check.test_cases["test_001"][0]
    low, high = finding.extra["training_range"]
    assert finding.extra["value"] > high + 500 and "never saw" in finding.message


def test_the_report_page_is_chinese_under_zh(tmp_path, monkeypatch):
    """Under ``zh`` every prose block of the HTML page (headings, counts, findings with their fixes, the
    pictures' note) is Chinese; the same task in English has none."""
    from nnunet_explorer.views.dataset_report import render_dataset_report

    from .zh_share_rule import CJK, english_blocks

    task = write_synthetic_task(tmp_path / "Task986_Zh", "mr", num_training=4, num_test=2, seed=9)
    _truncate(task / "imagesTs/test_001_0000.nii.gz", 0.5)
    _shift_origin(task / "imagesTr/case_001_0001.nii.gz", 2.0)
    english = render_dataset_report(check_dataset(None, task_dir=task, num_processes=1, progress=False))
    monkeypatch.setenv("NNUNET_EXPLORER_LANG", "zh")
    page = render_dataset_report(check_dataset(None, task_dir=task, num_processes=1, progress=False))
    assert english_blocks(page) == [] and page.count("data:image/png;base64,") == 2
    assert not CJK.search(english)
