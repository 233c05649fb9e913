"""Export, summary.json and connected-component postprocessing against the real nnU-Net v1 on the same files.

v1's export, evaluator and postprocessing modules do not import ``nnunet.paths``, so they run in-process.
"""
from __future__ import annotations

import json
import shutil
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from nnunet_explorer.inference.evaluation import aggregate_scores, summary_id
from nnunet_explorer.inference.export import save_segmentation_nifti_from_softmax
from nnunet_explorer.inference.postprocessing import (determine_postprocessing,
                                                       remove_all_but_the_largest_connected_component)


def _read(path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def _properties(original_spacing, spacing_after_resampling, size_after_cropping, original_size, bbox):
    return OrderedDict(
        original_size_of_raw_data=np.array(original_size), original_spacing=np.array(original_spacing),
        list_of_data_files=["/x/case_000_0000.nii.gz"], seg_file=None,
        itk_origin=(1.5, -2.0, 3.25), itk_spacing=tuple(float(s) for s in original_spacing[::-1]),
        itk_direction=(1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0), crop_bbox=[list(b) for b in bbox],
        classes=np.array([-1., 0., 1., 2.]), size_after_cropping=tuple(size_after_cropping),
        size_after_resampling=None, spacing_after_resampling=np.array(spacing_after_resampling))


EXPORT_CASES = {
    # anisotropic original spacing -> separate z (order 1 in-plane, nearest along z)
    "separate_z": ((3.0, 0.8, 0.8), (3.0, 1.6, 1.6), (12, 20, 22), (14, 26, 24), [[1, 13], [3, 23], [0, 22]],
                   (12, 10, 11)),
    # isotropic: one 3D order-1 resampling
    "isotropic": ((1.0, 1.0, 1.0), (1.5, 1.5, 1.5), (15, 18, 12), (20, 18, 16), [[2, 17], [0, 18], [4, 16]],
                  (10, 12, 8)),
    # no resampling needed: only argmax and un-crop
    "same_grid": ((1.0, 1.0, 1.0), (1.0, 1.0, 1.0), (9, 10, 11), (12, 10, 15), [[3, 12], [0, 10], [1, 12]],
                  (9, 10, 11)),
}


@pytest.mark.parity
@pytest.mark.parametrize("name", sorted(EXPORT_CASES))
def test_export_equals_v1(tmp_path, name):
    from nnunet.inference.segmentation_export import save_segmentation_nifti_from_softmax as v1_export

    osp, tsp, crop_size, orig_size, bbox, net_shape = EXPORT_CASES[name]
    rng = np.random.RandomState(3)
    logits = rng.randn(3, *net_shape).astype(np.float32) * 3
    probs = np.exp(logits) / np.exp(logits).sum(0, keepdims=True)
    props = _properties(osp, tsp, crop_size, orig_size, bbox)
    record = save_segmentation_nifti_from_softmax(probs.copy(), tmp_path / "ours.nii.gz", props,
                                                  npz_file=tmp_path / "ours.npz")
    v1_export(probs.copy(), str(tmp_path / "v1.nii.gz"), _properties(osp, tsp, crop_size, orig_size, bbox), 1,
              None, None, None, str(tmp_path / "v1.npz"), None, None, 0, verbose=False)
    ours, theirs = sitk.ReadImage(str(tmp_path / "ours.nii.gz")), sitk.ReadImage(str(tmp_path / "v1.nii.gz"))
    assert np.array_equal(sitk.GetArrayFromImage(ours), sitk.GetArrayFromImage(theirs))
    assert sitk.GetArrayFromImage(ours).shape == tuple(orig_size)
    assert ours.GetSpacing() == theirs.GetSpacing() and ours.GetOrigin() == theirs.GetOrigin()
    assert ours.GetDirection() == theirs.GetDirection()
    with np.load(tmp_path / "ours.npz") as a, np.load(tmp_path / "v1.npz") as b:
        assert a["softmax"].dtype == np.float16 and np.array_equal(a["softmax"], b["softmax"])
    assert (tmp_path / "ours.pkl").is_file()
    assert record.do_separate_z == (name == "separate_z")
    assert record.resampled == (name != "same_grid")
    # the caller's crop_bbox is left alone (v1 clips it in place)
    assert props["crop_bbox"] == [list(b) for b in bbox]


def _write_label(path: Path, array: np.ndarray, spacing=(1.0, 1.0, 2.0)) -> None:
    img = sitk.GetImageFromArray(array.astype(np.uint8))
    img.SetSpacing(spacing)
    sitk.WriteImage(img, str(path))


def _crafted_validation_folder(root: Path) -> tuple[Path, Path]:
    """Three cases, labels 1 and 2, where stray blobs of label 2 (and of the foreground) hurt Dice.

    Case c: reference = a big block of 1 with a block of 2 inside. Prediction = the same plus an isolated blob of
    2 (and in one case of 1) far away — removed by the all-foreground step — and a blob of 2 inside the block of
    1, which only the per-class step removes.
    """
    raw, gt = root / "fold_0" / "validation_raw", root / "gt"
    raw.mkdir(parents=True)
    gt.mkdir()
    for i in range(3):
        ref = np.zeros((12, 16, 16), np.uint8)
        ref[2:9, 2:10, 2:10] = 1
        ref[4:7, 4:7, 4:7 + i] = 2
        pred = ref.copy()
        pred[8, 8, 8] = 0
        pred[10:12, 13:15, 13:15] = 2  # stray label-2 blob, not touching the rest
        pred[2:4, 2:4, 8:10] = 2  # stray label-2 blob inside the label-1 block: only per-class removal helps
        if i == 1:
            pred[0:2, 13:16, 0:2] = 1  # stray label-1 blob
        _write_label(gt / f"case_{i:03d}.nii.gz", ref)
        _write_label(raw / f"case_{i:03d}.nii.gz", pred)
    return raw, gt


def _strip_volatile(summary: dict) -> dict:
    summary = dict(summary)
    for key in ("timestamp", "id"):
        summary.pop(key)
    return summary


@pytest.mark.parity
def test_summary_json_equals_v1(tmp_path):
    from nnunet.evaluation.evaluator import aggregate_scores as v1_aggregate

    raw, gt = _crafted_validation_folder(tmp_path)
    # an extra label (3) absent from both prediction and reference -> NaN metrics, nanmean
    pairs = [(str(raw / f.name), str(gt / f.name)) for f in sorted(raw.iterdir())]
    aggregate_scores(pairs, labels=[0, 1, 2, 3], json_output_file=tmp_path / "ours.json", json_name="n",
                     json_task="Task1")
    v1_aggregate(pairs, labels=[0, 1, 2, 3], json_output_file=str(tmp_path / "v1.json"), json_name="n",
                 json_task="Task1", num_threads=1)
    ours_text, v1_text = (tmp_path / "ours.json").read_text(), (tmp_path / "v1.json").read_text()
    ours, theirs = json.loads(ours_text), json.loads(v1_text)
    # compared as JSON text: NaN != NaN in dict equality
    assert json.dumps(_strip_volatile(ours), sort_keys=True) == json.dumps(_strip_volatile(theirs), sort_keys=True)
    assert list(ours["results"]["mean"]["1"]) == list(theirs["results"]["mean"]["1"])  # metric order
    assert np.isnan(ours["results"]["mean"]["3"]["Dice"])
    assert len(ours["results"]["mean"]["1"]) == 13
    # the id is the MD5 rule applied to the file's own content (timestamp included)
    ordered = json.loads(ours_text, object_pairs_hook=OrderedDict)
    # keys are sorted in the file; v1 hashes insertion order, so rebuild that order to check the id
    assert ordered["id"] == summary_id(_insertion_order(ordered))


def _insertion_order(summary: OrderedDict) -> OrderedDict:
    out = OrderedDict((k, summary[k]) for k in ("name", "description", "timestamp", "task", "author"))
    results = summary["results"]
    cases = []
    for case in results["all"]:
        labels = [k for k in case if k not in ("test", "reference")]
        entry = OrderedDict((k, case[k]) for k in labels)
        entry["test"], entry["reference"] = case["test"], case["reference"]
        cases.append(entry)
    out["results"] = OrderedDict((("all", cases), ("mean", results["mean"])))
    return out


def test_largest_component_rule():
    image = np.zeros((5, 9, 9), np.uint8)
    image[0:2, 0:3, 0:3] = 1  # 18 voxels
    image[3:5, 5:8, 5:8] = 1  # 18 voxels: a tie for the largest -> both stay
    image[2, 8, 0] = 1  # 1 voxel: removed
    image[4, 0, 8] = 2  # only touches label 1 diagonally? it is alone -> largest of label 2, stays
    out, removed, kept = remove_all_but_the_largest_connected_component(image.copy(), [1, 2], 2.0)
    assert out[2, 8, 0] == 0 and (out == 1).sum() == 36 and out[4, 0, 8] == 2
    assert removed[1] == 2.0 and kept[1] == 36.0 and removed[2] is None
    # diagonal neighbours are separate components (face connectivity)
    diag = np.zeros((3, 3, 3), np.uint8)
    diag[0, 0, 0] = diag[1, 1, 1] = diag[2, 2, 2] = 3
    diag[1, 1, 2] = 3
    out, _, _ = remove_all_but_the_largest_connected_component(diag.copy(), [3], 1.0)
    assert out.sum() == 6  # only the 2-voxel component survives
    # a group: labels 1 and 2 as one region
    grp = np.zeros((1, 1, 6), np.uint8)
    grp[0, 0, :] = [1, 2, 0, 2, 0, 0]
    out, _, _ = remove_all_but_the_largest_connected_component(grp.copy(), [(1, 2)], 1.0)
    assert out.tolist() == [[[1, 2, 0, 0, 0, 0]]]
    with pytest.raises(ValueError):
        remove_all_but_the_largest_connected_component(grp.copy(), [0], 1.0)


@pytest.mark.parity
def test_determine_postprocessing_equals_v1(tmp_path):
    from nnunet.postprocessing.connected_components import determine_postprocessing as v1_determine

    raw, gt = _crafted_validation_folder(tmp_path / "ours")
    pairs = [(str(raw / f.name), str(gt / f.name)) for f in sorted(raw.iterdir())]
    aggregate_scores(pairs, labels=[0, 1, 2], json_output_file=raw / "summary.json")
    shutil.copytree(tmp_path / "ours", tmp_path / "v1")
    base_ours, base_v1 = tmp_path / "ours" / "fold_0", tmp_path / "v1" / "fold_0"
    ours = determine_postprocessing(base_ours, tmp_path / "ours" / "gt", final_subf_name="validation_final")
    v1_determine(str(base_v1), str(tmp_path / "v1" / "gt"), final_subf_name="validation_final", processes=1)
    ours_json = json.loads((base_ours / "postprocessing.json").read_text())
    v1_json = json.loads((base_v1 / "postprocessing.json").read_text())
    assert ours_json == v1_json
    assert ours == ours_json
    # the crafted data must exercise both steps: all-foreground region and label 2 on its own
    assert ours_json["for_which_classes"] == [[1, 2], 2]
    for f in sorted((base_v1 / "validation_final").glob("*.nii.gz")):
        assert np.array_equal(_read(f), _read(base_ours / "validation_final" / f.name))
    ours_final = json.loads((base_ours / "validation_final" / "summary.json").read_text())["results"]
    v1_final = json.loads((base_v1 / "validation_final" / "summary.json").read_text())["results"]
    assert ours_final["mean"] == v1_final["mean"]
    strip = [{k: v for k, v in case.items() if k not in ("test", "reference")} for case in ours_final["all"]]
    assert strip == [{k: v for k, v in case.items() if k not in ("test", "reference")} for case in v1_final["all"]]
    assert not (base_ours / "temp_allClasses").exists() and not (base_ours / "temp_perClass").exists()


@pytest.mark.parity
def test_consolidate_folds_equals_v1(tmp_path):
    from nnunet.postprocessing.consolidate_postprocessing import consolidate_folds as v1_consolidate

    from nnunet_explorer.errors import ExplorerError
    from nnunet_explorer.inference.postprocessing import consolidate_folds

    # five folds of one validation case each (cases from the crafted folder, plus two shifted copies)
    raw, gt = _crafted_validation_folder(tmp_path / "src")
    base = tmp_path / "ours"
    names = sorted(p.name for p in raw.iterdir())
    cases = names + [f"x_{n}" for n in names[:2]]
    (base / "gt_niftis").mkdir(parents=True)
    for fold, case in enumerate(cases):
        source = case[2:] if case.startswith("x_") else case
        folder = base / f"fold_{fold}" / "validation_raw"
        folder.mkdir(parents=True)
        shutil.copyfile(raw / source, folder / case)
        shutil.copyfile(gt / source, base / "gt_niftis" / case)
        aggregate_scores([(str(folder / case), str(base / "gt_niftis" / case))], labels=[0, 1, 2],
                         json_output_file=folder / "summary.json")
    shutil.copytree(base, tmp_path / "v1")
    ours = consolidate_folds(base)
    v1_consolidate(str(tmp_path / "v1"))
    assert json.loads((base / "postprocessing.json").read_text()) == \
        json.loads((tmp_path / "v1" / "postprocessing.json").read_text()) == ours
    assert ours["num_samples"] == 5 and ours["validation_raw"] == "cv_niftis_raw"
    for case in cases:
        assert np.array_equal(_read(base / "cv_niftis_postprocessed" / case),
                              _read(tmp_path / "v1" / "cv_niftis_postprocessed" / case))
    shutil.rmtree(base / "fold_4")
    with pytest.raises(ExplorerError, match=r"fold\(s\) \[4\]"):
        consolidate_folds(base)
