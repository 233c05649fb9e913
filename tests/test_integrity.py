"""verify_dataset_integrity: every problem v1's sanity check finds, found here too, named per case and file.

The parity test builds a set of raw tasks, each broken in one way, and runs both v1's
``nnunet.preprocessing.sanity_checks.verify_dataset_integrity`` and ours on each: they must agree on
pass/fail for every one (v1 fails by AssertionError, RuntimeError or Warning; we by DatasetError).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import SimpleITK as sitk

from nnunet_explorer.errors import DatasetError
from nnunet_explorer.samples.synthetic import write_synthetic_task
from nnunet_explorer.tasks import Geometry, read_geometry, verify_dataset_integrity


def _rewrite(path: Path, *, array_change: Callable | None = None, **geometry) -> None:
    image = sitk.ReadImage(str(path))
    array = sitk.GetArrayFromImage(image)
    if array_change is not None:
        array = array_change(array)
    new = sitk.GetImageFromArray(array)
    new.CopyInformation(image)
    if "spacing" in geometry:
        new.SetSpacing(geometry["spacing"])
    if "origin" in geometry:
        new.SetOrigin(geometry["origin"])
    if "direction" in geometry:
        new.SetDirection(geometry["direction"])
    sitk.WriteImage(new, str(path), True)


def _edit_json(task: Path, change) -> None:
    data = json.loads((task / "dataset.json").read_text())
    change(data)
    (task / "dataset.json").write_text(json.dumps(data))


def _shift_origin(path: Path, delta: float) -> None:
    origin = sitk.ReadImage(str(path)).GetOrigin()
    _rewrite(path, origin=(origin[0] + delta, *origin[1:]))


def _set_label_value(value: int):
    def change(a):
        a = a.copy()
        a[0, 0, 0] = value
        return a
    return change


# name -> (kind, how to break the task, does a header-only check catch it?, words our message must contain)
SCENARIOS: dict[str, tuple[str, Callable[[Path], None] | None, bool, tuple[str, ...]]] = {
    "ok_ct": ("ct", None, False, ()),
    "ok_mr": ("mr", None, False, ()),
    "missing_modality": ("mr", lambda t: (t / "imagesTr/case_001_0001.nii.gz").unlink(), True,
                         ("case case_001", "imagesTr/case_001_0001.nii.gz is missing")),
    "missing_label": ("ct", lambda t: (t / "labelsTr/case_002.nii.gz").unlink(), True,
                      ("case case_002", "labelsTr/case_002.nii.gz is missing")),
    "no_modality_suffix": ("ct", lambda t: (t / "imagesTr/case_000_0000.nii.gz").rename(
        t / "imagesTr/case_000.nii.gz"), True, ("rename it to case_000_0000.nii.gz",)),
    "unlisted_image": ("ct", lambda t: shutil.copy(t / "imagesTr/case_000_0000.nii.gz",
                                                   t / "imagesTr/extra_0000.nii.gz"), True,
                       ("imagesTr/extra_0000.nii.gz is not listed",)),
    "unlisted_label": ("ct", lambda t: shutil.copy(t / "labelsTr/case_000.nii.gz", t / "labelsTr/extra.nii.gz"),
                       True, ("labelsTr/extra.nii.gz is not listed",)),
    "undeclared_label": ("ct", lambda t: _rewrite(t / "labelsTr/case_001.nii.gz", array_change=_set_label_value(5)),
                         False, ("case case_001", "labelsTr/case_001.nii.gz", "[5]")),
    "spacing_mismatch": ("mr", lambda t: _rewrite(t / "labelsTr/case_000.nii.gz", spacing=(1.0, 1.0, 1.5)), True,
                         ("case case_000", "does not match its label", "spacing")),
    "direction_mismatch": ("ct", lambda t: _rewrite(t / "imagesTr/case_001_0000.nii.gz",
                                                    direction=(-1, 0, 0, 0, -1, 0, 0, 0, 1)), True,
                           ("case case_001", "direction")),
    "origin_off_1e-3": ("ct", lambda t: _shift_origin(t / "labelsTr/case_000.nii.gz", 1e-3), True, ("origin",)),
    "origin_off_within_tolerance": ("ct", lambda t: _shift_origin(t / "labelsTr/case_001.nii.gz", 2e-5), False, ()),
    "non_consecutive_labels": ("ct", lambda t: _edit_json(t, lambda d: d.update(labels={"0": "b", "1": "o",
                                                                                        "3": "l"})), True,
                               ("consecutive",)),
    "duplicate_case": ("ct", lambda t: _edit_json(t, lambda d: (d["training"].append(d["training"][0]),
                                                                d.update(numTraining=4))), True,
                       ("listed twice",)),
    "missing_test_image": ("mr", lambda t: (t / "imagesTs/test_000_0001.nii.gz").unlink(), True,
                           ("test case test_000", "imagesTs/test_000_0001.nii.gz is missing")),
    "unlisted_test_image": ("ct", lambda t: shutil.copy(t / "imagesTs/test_000_0000.nii.gz",
                                                        t / "imagesTs/other_0000.nii.gz"), True,
                            ("imagesTs/other_0000.nii.gz is not listed",)),
    "test_modalities_not_aligned": ("mr", lambda t: _rewrite(t / "imagesTs/test_000_0001.nii.gz",
                                                             spacing=(2.0, 1.0, 1.0)), True,
                                    ("test case test_000", "co-register")),
}


def _make(root: Path, name: str) -> Path:
    kind, breaker, _header, _words = SCENARIOS[name]
    task = write_synthetic_task(root / name / f"Task{900 + list(SCENARIOS).index(name)}_{name}", kind,
                                num_training=3, num_test=1, seed=1)
    if breaker is not None:
        breaker(task)
    return task


@pytest.fixture(scope="module")
def scenario_tasks(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("integrity")
    return {name: _make(root, name) for name in SCENARIOS}


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_full_check_finds_each_problem_and_names_it(scenario_tasks, name):
    task = scenario_tasks[name]
    before = _digest(task)
    words = SCENARIOS[name][3]
    if name.startswith("ok") or name == "origin_off_within_tolerance":
        report = verify_dataset_integrity(task)
        assert report.read_voxels and report.num_training == 3 and report.num_test == 1
    else:
        with pytest.raises(DatasetError) as info:
            verify_dataset_integrity(task)
        for word in words:
            assert word in str(info.value), (word, str(info.value))
        assert "fix" in str(info.value)
    assert _digest(task) == before, "the check must not write or delete anything"


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_header_only_check_catches_file_and_geometry_problems(scenario_tasks, name):
    catches = SCENARIOS[name][2]
    task = scenario_tasks[name]
    if catches:
        with pytest.raises(DatasetError):
            verify_dataset_integrity(task, read_voxels=False)
    else:
        assert not verify_dataset_integrity(task, read_voxels=False).read_voxels


def test_all_problems_reported_together(tmp_path):
    task = write_synthetic_task(tmp_path / "Task950_Many", "mr", num_training=4, num_test=0, seed=2)
    (task / "imagesTr/case_000_0001.nii.gz").unlink()
    (task / "labelsTr/case_001.nii.gz").unlink()
    _rewrite(task / "labelsTr/case_002.nii.gz", spacing=(1.0, 2.0, 1.0))
    _rewrite(task / "labelsTr/case_003.nii.gz", array_change=_set_label_value(7))
    with pytest.raises(DatasetError) as info:
        verify_dataset_integrity(task)
    text = str(info.value)
    # one line per problem: case_002 has two (each modality vs the label)
    assert "5 problem(s)" in text
    for case in ("case_000", "case_001", "case_002", "case_003"):
        assert f"case {case}:" in text


def test_nan_in_image_is_reported(tmp_path, monkeypatch):
    # SimpleITK 2.5 reads NaN voxels of a NIfTI as 0, so NaN cannot reach the check through a file written
    # here; feed an in-memory image with NaN through the reader the check uses instead.
    task = write_synthetic_task(tmp_path / "Task951_NaN", "ct", num_training=2, num_test=0, seed=3)
    real_read = sitk.ReadImage

    def read_with_nan(path, *args, **kwargs):
        image = real_read(path, *args, **kwargs)
        if str(path).endswith("case_001_0000.nii.gz"):
            array = sitk.GetArrayFromImage(image)
            array[1, 2, 3] = np.nan
            nan_image = sitk.GetImageFromArray(array)
            nan_image.CopyInformation(image)
            return nan_image
        return image

    monkeypatch.setattr(sitk, "ReadImage", read_with_nan)
    with pytest.raises(DatasetError, match=r"case case_001: imagesTr/case_001_0000.nii.gz contains 1 NaN"):
        verify_dataset_integrity(task)


def test_missing_folders_and_task(tmp_path):
    with pytest.raises(DatasetError, match="is not a folder"):
        verify_dataset_integrity(tmp_path / "nope")
    task = write_synthetic_task(tmp_path / "Task952_X", "ct", num_training=1, num_test=0, seed=0)
    for p in (task / "labelsTr").iterdir():
        p.unlink()
    (task / "labelsTr").rmdir()
    with pytest.raises(DatasetError, match="labelsTr/ is missing"):
        verify_dataset_integrity(task)


def test_geometry_tolerance_is_numpy_isclose():
    base = Geometry((10, 10, 10), (1.0, 1.0, 3.0), (100.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    within = Geometry((10, 10, 10), (1.0, 1.0, 3.0), (100.0 + 9e-4, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    beyond = Geometry((10, 10, 10), (1.0, 1.0, 3.0), (100.0 + 2e-3, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    # np.isclose: |a - b| <= 1e-8 + 1e-5 * |b|, i.e. 1e-3 at 100 mm
    assert base.mismatches(within) == [] and bool(np.isclose(100.0 + 9e-4, 100.0))
    assert [m.split()[0] for m in base.mismatches(beyond)] == ["origin"]
    assert not np.isclose(100.0 + 2e-3, 100.0)


def test_read_geometry_reads_header_like_the_image(tmp_path):
    task = write_synthetic_task(tmp_path / "Task953_G", "ct", num_training=1, num_test=0, seed=0)
    path = task / "imagesTr/case_000_0000.nii.gz"
    image = sitk.ReadImage(str(path))
    geometry = read_geometry(path)
    assert geometry.size == image.GetSize() and geometry.spacing == image.GetSpacing()
    assert geometry.origin == image.GetOrigin() and geometry.direction == image.GetDirection()
    assert geometry.axis_codes == "LPS"  # identity direction in ITK's LPS world


@pytest.mark.parity
def test_pass_fail_agrees_with_v1_on_every_scenario(scenario_tasks):
    pytest.importorskip("nnunet")
    folders = {name: str(path) for name, path in scenario_tasks.items()}
    code = (
        "import json, sys, io, contextlib\n"
        "from nnunet.preprocessing.sanity_checks import verify_dataset_integrity as v\n"
        f"folders = {folders!r}\nout = {{}}\n"
        "for name, folder in folders.items():\n"
        "    try:\n"
        "        with contextlib.redirect_stdout(io.StringIO()):\n"
        "            v(folder)\n"
        "        out[name] = 'ok'\n"
        "    except BaseException as e:\n"
        "        out[name] = 'fail:' + type(e).__name__\n"
        "print('RESULT' + json.dumps(out))\n")
    env = {**os.environ, "nnUNet_def_n_proc": "1"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith("RESULT")]
    assert lines, result.stdout[-2000:] + result.stderr[-2000:]
    v1 = json.loads(lines[-1][len("RESULT"):])
    ours = {}
    for name, path in scenario_tasks.items():
        try:
            verify_dataset_integrity(path)
            ours[name] = "ok"
        except DatasetError:
            ours[name] = "fail"
    assert {n: r.split(":")[0] for n, r in v1.items()} == ours, v1
    print(v1)


def test_report_holds_the_label_audit(tmp_path):
    task = write_synthetic_task(tmp_path / "Task954_Audit", "ct", num_training=2, num_test=0, seed=0)
    report = verify_dataset_integrity(task)
    for case in ("case_000", "case_001"):
        expected = tuple(np.unique(sitk.GetArrayFromImage(sitk.ReadImage(str(task / f"labelsTr/{case}.nii.gz")))))
        assert report.label_values[case] == expected
    header_only = verify_dataset_integrity(task, read_voxels=False)
    assert header_only.label_values == {}
    assert header_only.geometries["case_001"] == read_geometry(task / "labelsTr/case_001.nii.gz")
    assert "case_000 [0, 1, 2]" in report.summary()


def test_hint_for_0_255_masks_and_images_in_labelstr(tmp_path):
    task = write_synthetic_task(tmp_path / "Task955_Hints", "ct", num_training=2, num_test=0, seed=0)
    _rewrite(task / "labelsTr/case_000.nii.gz", array_change=lambda a: (a > 0).astype(np.uint8) * 255)
    shutil.copy(task / "imagesTr/case_001_0000.nii.gz", task / "labelsTr/case_001.nii.gz")
    with pytest.raises(DatasetError) as info:
        verify_dataset_integrity(task)
    lines = str(info.value).splitlines()
    assert any("case_000" in ln and "0/255 mask" in ln for ln in lines)
    assert any("case_001" in ln and "looks like an image" in ln for ln in lines)


def test_decathlon_4d_images_get_the_conversion_hint(tmp_path):
    task = write_synthetic_task(tmp_path / "Task956_MSD", "mr", num_training=1, num_test=0, seed=0)
    t1, t2 = (sitk.ReadImage(str(task / f"imagesTr/case_000_000{i}.nii.gz")) for i in (0, 1))
    four_d = sitk.JoinSeries([t1, t2])
    for i in (0, 1):
        (task / f"imagesTr/case_000_000{i}.nii.gz").unlink()
    sitk.WriteImage(four_d, str(task / "imagesTr/case_000.nii.gz"))
    with pytest.raises(DatasetError) as info:
        verify_dataset_integrity(task, read_voxels=False)
    assert "nnUNet_convert_decathlon_task" in str(info.value) and "rename it" not in str(info.value)


@pytest.mark.parity
@pytest.mark.parametrize("direction", [(1, 0, 0, 0, 1, 0, 0, 0, 1), (-1, 0, 0, 0, -1, 0, 0, 0, 1),
                                       (0, 0, 1, 1, 0, 0, 0, 1, 0), (1, 0, 0, 0, 0, -1, 0, 1, 0)])
def test_axis_codes_match_nibabel_as_v1_uses_it(tmp_path, direction):
    nibabel = pytest.importorskip("nibabel")  # v1's orientation warning uses nibabel.aff2axcodes
    image = sitk.GetImageFromArray(np.zeros((4, 5, 6), np.float32))
    image.SetDirection(direction)
    path = tmp_path / "x.nii.gz"
    sitk.WriteImage(image, str(path))
    assert read_geometry(path).axis_codes == "".join(nibabel.aff2axcodes(nibabel.load(str(path)).affine))


def test_geometry_messages_say_what_v1_does_for_each_pair():
    """v1's cropping cuts the label with the image's nonzero box (a smaller label fails, a larger one is cut to
    fit), stacks the modalities (sizes must agree), and its integrity check asserts at once on a test case's
    modalities but stops only after the last case on a training case's image vs label."""
    from nnunet_explorer.dataset_check import geometry_findings

    a = Geometry((10, 10, 10), (1.0, 1.0, 3.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    other_size = Geometry((10, 10, 11), (1.0, 1.0, 3.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    other_origin = Geometry((10, 10, 10), (1.0, 1.0, 3.0), (5.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    label_size = geometry_findings("image_vs_label", a, other_size, "img", "lbl")[0].message
    assert "nonzero box" in label_size and "does not line up" in label_size and "GEOMETRY MISMATCH" in label_size
    modality_size = geometry_findings("modality_vs_modality", a, other_size, "m1", "m0")[0].message
    assert "np.vstack" in modality_size
    train = geometry_findings("modality_vs_modality", a, other_origin, "m1", "m0")[0].message
    test = geometry_findings("modality_vs_modality", a, other_origin, "m1", "m0", test_case=True)[0].message
    assert "GEOMETRY MISMATCH" in train and "do not seem to be registered" in test
    # a modality-vs-modality finding speaks of the modalities, not of an image and its label
    for field, other in (("origin", other_origin),
                         ("spacing", dataclasses.replace(a, spacing=(1.0, 1.0, 2.0))),
                         ("direction", dataclasses.replace(a, direction=(-1, 0, 0, 0, 1, 0, 0, 0, 1)))):
        (finding,) = geometry_findings("modality_vs_modality", a, other, "m1", "m0")
        assert finding.extra["field"] == field
        assert "label" not in finding.message.split("--verify_dataset_integrity")[0], finding.message
        assert "modalities" in finding.message and "m1 onto m0" in finding.message
        (finding,) = geometry_findings("image_vs_label", a, other, "img", "lbl")
        assert "label.CopyInformation(image)" in finding.message


@pytest.mark.parametrize("name", [n for n in SCENARIOS if not n.startswith("ok") and n != "origin_off_within_tolerance"])
def test_each_problem_and_its_fix_are_chinese_under_zh(scenario_tasks, name, monkeypatch):
    """Under ``zh`` the error, every problem line (with its fix) and the fix are Chinese; file names stay."""
    from .zh_share_rule import CJK

    monkeypatch.setenv("NNUNET_EXPLORER_LANG", "zh")
    with pytest.raises(DatasetError) as info:
        verify_dataset_integrity(scenario_tasks[name])
    error = info.value
    lines = [line for line in error.cause.splitlines() if line.strip()]
    assert lines and all(CJK.search(line) for line in lines), lines
    assert CJK.search(error.fix or ""), error.fix


def test_the_report_of_a_sound_task_is_chinese_under_zh(scenario_tasks, monkeypatch):
    from .zh_share_rule import CJK

    monkeypatch.setenv("NNUNET_EXPLORER_LANG", "zh")
    summary = verify_dataset_integrity(scenario_tasks["ok_mr"]).summary().splitlines()
    assert all(CJK.search(line) for line in summary[:2] + summary[3:]), summary  # line 1: "TaskX: OK — ..."


def test_macos_resource_copies_fail_v1s_check_and_are_named_as_such(tmp_path):
    """v1 lists raw files by their ending, so a '._' copy from a Mac is a straggler to it; check_dataset too."""
    from nnunet_explorer.dataset_check import check_dataset

    task = write_synthetic_task(tmp_path / "Task953_Mac", "ct", num_training=2, num_test=0, seed=0)
    (task / "imagesTr" / "._case_000_0000.nii.gz").write_bytes(b"\x00\x05\x16\x07")  # AppleDouble magic
    (task / "imagesTr" / ".DS_Store").write_bytes(b"mac")  # not .nii.gz: v1 never looks at it
    with pytest.raises(DatasetError) as info:
        verify_dataset_integrity(task)
    said = "imagesTr/._case_000_0000.nii.gz is not listed in dataset.json (fix: a macOS resource copy"
    assert said in str(info.value)
    check = check_dataset(None, task_dir=task, num_processes=1, progress=False)
    (copy,) = [f for f in check.dataset if f.check == "unlisted_file"]
    assert copy.severity == "error" and "._case_000_0000.nii.gz" in copy.message and "-delete" in copy.message
    assert not any(".DS_Store" in f.message for f in check.dataset)
