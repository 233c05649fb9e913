"""Per-case validation results: the table's numbers, its sorting and row buttons, the one-case layers and the
ITK affine (a non-identity direction placed where SimpleITK says)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from nnunet_explorer.validation_cases import validation_table
from nnunet_explorer.views.validation_case import (index_to_world, itk_affine, softmax_in_full_volume,
                                                   validation_case_layers)

SPACING = (0.8, 0.7, 3.0)  # x, y, z
ORIGIN = (-12.0, 30.5, 7.25)
C, S = math.cos(math.radians(30)), math.sin(math.radians(30))
DIRECTION = (C, -S, 0.0, S, C, 0.0, 0.0, 0.0, -1.0)  # rotated 30 degrees about z, z flipped


def _write(array: np.ndarray, path: Path) -> None:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(SPACING)
    image.SetOrigin(ORIGIN)
    image.SetDirection(DIRECTION)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path))


def make_validation_folder(root: Path) -> tuple[Path, Path]:
    """case_a: class 1 half right, class 2 missed (empty prediction); case_b: no class 2 in the reference."""
    model = root / "nnUNet" / "3d_fullres" / "Task998_Table" / "nnUNetTrainerV2__nnUNetPlansv2.1"
    val, gt, images = model / "fold_0" / "validation_raw", model / "gt_niftis", root / "imagesTr"
    shape = (6, 10, 12)
    ref_a = np.zeros(shape, np.uint8)
    ref_a[1:5, 2:6, 2:6] = 1  # 64 voxels
    ref_a[2:4, 7:9, 8:10] = 2  # 8 voxels
    pred_a = np.zeros(shape, np.uint8)
    pred_a[1:5, 2:6, 4:8] = 1  # 64 voxels, 32 overlap
    ref_b = np.zeros(shape, np.uint8)
    ref_b[0:2, 0:3, 0:3] = 1
    pred_b = ref_b.copy()
    pred_b[5, 9, 11] = 2  # one false-positive voxel of a class absent from the reference
    entries = []
    for case, ref, pred in (("case_a", ref_a, pred_a), ("case_b", ref_b, pred_b)):
        _write(ref, gt / f"{case}.nii.gz")
        _write(pred, val / f"{case}.nii.gz")
        _write(np.random.default_rng(0).normal(size=shape).astype(np.float32), images / f"{case}_0000.nii.gz")
        entries.append({"reference": str(gt / f"{case}.nii.gz"), "test": str(val / f"{case}.nii.gz"),
                        "1": {"Dice": 0.0}, "2": {"Dice": 0.0}})
    (val / "summary.json").write_text(json.dumps({"results": {"all": entries, "mean": {
        "1": {"Dice": 0.0}, "2": {"Dice": 0.0}}}}))
    return val, images


def test_per_case_table_counts_volumes_and_flags(tmp_path):
    val, _ = make_validation_folder(tmp_path)
    rows = {c.case: c for c in validation_table(val)}
    voxel_ml = np.prod(SPACING) / 1000
    a1, a2 = rows["case_a"].classes
    assert (a1.label, a1.n_ref, a1.n_pred) == (1, 64, 64)
    assert a1.dice == pytest.approx(2 * 32 / 128)
    assert a1.volume_ref_ml == pytest.approx(64 * voxel_ml)
    assert (a2.n_ref, a2.n_pred, a2.dice) == (8, 0, 0.0) and a2.empty_prediction and not a2.empty_reference
    b1, b2 = rows["case_b"].classes
    assert b1.dice == 1.0 and b2.empty_reference and b2.n_pred == 1 and b2.dice == 0.0
    assert rows["case_a"].flags == ["class 2: empty prediction"]
    assert rows["case_b"].flags == ["class 2: empty reference"]
    assert rows["case_b"].mean_dice == pytest.approx(0.5)


def test_table_widget_sorts_and_rows_open_their_case(tmp_path):
    pytest.importorskip("ipywidgets")
    from nnunet_explorer.views.validation_table import ValidationTable

    val, _ = make_validation_folder(tmp_path)
    opened = []
    table = ValidationTable(val, opener=lambda folder, case: opened.append((folder, case)))
    table.sort("dice_1")
    assert [r["case"] for r in table.rows] == ["case_a", "case_b"]
    table.sort("dice_1")  # the same header again reverses
    assert [r["case"] for r in table.rows] == ["case_b", "case_a"]
    table.open_buttons[1].click()
    assert opened == [(str(val), "case_a")]
    assert len(table.grid.children) == (len(table.columns) + 1) * 3


def test_itk_affine_places_a_voxel_where_simpleitk_does():
    image = sitk.Image(12, 10, 6, sitk.sitkUInt8)
    image.SetSpacing(SPACING)
    image.SetOrigin(ORIGIN)
    image.SetDirection(DIRECTION)
    affine = itk_affine(image.GetSpacing(), image.GetOrigin(), image.GetDirection())
    for index_xyz in ((0, 0, 0), (3, 7, 2), (11, 9, 5)):
        expected_xyz = image.TransformIndexToPhysicalPoint(index_xyz)
        world_zyx = index_to_world(affine, index_xyz[::-1])
        assert world_zyx == pytest.approx(expected_xyz[::-1])
    # an identity direction reduces to scale + translate (what the old layers used)
    plain = itk_affine(SPACING, ORIGIN, np.eye(3).ravel())
    assert np.allclose(plain[:3, :3], np.diag(SPACING[::-1])) and np.allclose(plain[:3, 3], ORIGIN[::-1])


def test_one_case_layers_put_the_image_under_the_labels(tmp_path):
    val, images = make_validation_folder(tmp_path)
    layers = validation_case_layers(val, "case_a", images_folder=images)
    names = [s.name for s in layers]
    assert names[0] == "case_a image 0000" and layers[0].kind == "image"
    assert [n.split(" ", 1)[1].split(" (")[0] for n in names[1:]] == ["ground truth", "prediction", "errors"]
    assert all(s.metadata.get("case_id") == "case_a" for s in layers)
    reference = sitk.ReadImage(str(val.parent.parent / "gt_niftis" / "case_a.nii.gz"))
    expected = itk_affine(reference.GetSpacing(), reference.GetOrigin(), reference.GetDirection())
    for spec in layers:
        assert np.allclose(spec.meta["affine"], expected) and "scale" not in spec.meta


def test_read_path_opens_one_case_of_a_validation_folder_with_the_same_builder(tmp_path):
    from nnunet_explorer.views.layers import classify_path, read_path

    val, images = make_validation_folder(tmp_path)
    assert classify_path(val) == "prediction_folder"
    for kwargs in ({}, {"case_id": "case_b", "images_folder": images}):
        ours = read_path(val, **kwargs)
        expected = validation_case_layers(val, kwargs.get("case_id"), images_folder=kwargs.get("images_folder"))
        assert [(s.name, s.kind) for s in ours] == [(s.name, s.kind) for s in expected]
        assert {s.metadata["case_id"] for s in ours} == {kwargs.get("case_id", "case_a")}  # one case


def test_npz_probabilities_go_back_into_the_crop_box(tmp_path):
    from nnunet_explorer.fileio import write_pickle

    val, images = make_validation_folder(tmp_path)
    softmax = np.random.default_rng(1).random((3, 4, 5, 6)).astype(np.float16)
    np.savez(val / "case_a.npz", softmax=softmax)
    write_pickle({"crop_bbox": [[1, 5], [2, 7], [3, 9]]}, val / "case_a.pkl")
    full = softmax_in_full_volume(val / "case_a.npz", (6, 10, 12))
    assert full.shape == (3, 6, 10, 12)
    assert np.array_equal(full[:, 1:5, 2:7, 3:9], softmax.astype(np.float32))
    assert full[0, 0, 0, 0] == 1.0 and full[1, 0, 0, 0] == 0.0
    layers = validation_case_layers(val, "case_a", images_folder=images)
    probs = [s for s in layers if "probability" in s.name]
    assert [s.metadata["class"] for s in probs] == [0, 1, 2]
    assert np.array_equal(probs[2].data, full[2])


def test_the_table_and_its_errors_speak_chinese_under_zh(tmp_path, monkeypatch):
    """Under ``zh``: the flags, the table's heading and buttons' tips, and a missing case's error with its fix."""
    pytest.importorskip("ipywidgets")
    from nnunet_explorer.errors import DatasetError
    from nnunet_explorer.views.validation_table import ValidationTable

    from ..zh_share_rule import CJK

    val, _ = make_validation_folder(tmp_path)
    monkeypatch.setenv("NNUNET_EXPLORER_LANG", "zh")
    rows = {c.case: c for c in validation_table(val)}
    assert rows["case_a"].flags == ["类别 2：预测为空"] and rows["case_b"].flags == ["类别 2：参考标注为空"]
    table = ValidationTable(val, opener=lambda folder, case: None)
    assert CJK.search(table.widget.children[0].value)
    assert all(CJK.search(b.tooltip) for b in table.open_buttons)
    with pytest.raises(DatasetError) as info:
        validation_case_layers(val, "case_zz")
    assert CJK.search(info.value.cause) and CJK.search(info.value.fix)
