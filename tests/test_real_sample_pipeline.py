"""The real sample through the whole command line: sample -> plan -> train + validate -> predict -> evaluate.

This is the end-to-end proof of the path a user walks with the Colin27 task: every stage runs for real (no
stubs), through ``nnunet_explorer.cli.main`` exactly as ``nnunet-explorer <command>`` runs it. In particular,
``tests/loop/test_train_cli.py::test_train_command_trains_then_validates_with_v1_flags`` replaces
``validate()`` with a fake to stay fast; *this* test is the one that proves the real validation (sliding
window over the fold's validation cases, export, ``summary.json``, postprocessing on the fold, ``gt_niftis``)
runs from ``nnunet-explorer train``. The training is as short as the loop allows (2 epochs x 2 iterations), so
the assertions are about files, structure and geometry, not about segmentation quality
(``benchmarks/real_sample_learning.py`` measures that).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from nnunet_explorer import cli
from nnunet_explorer.fileio import load_pickle
from nnunet_explorer.inference.evaluation import DEFAULT_METRICS, aggregate_scores, evaluate_pair, mean_foreground_dice
from nnunet_explorer.training.pretrained import read_checkpoint

TASK_ID = "903"
TASK = "Task903_ColinDeepGrey"
LABELS = (0, 1, 2, 3, 4)  # background + caudate, putamen, pallidum, thalamus (samples/real.py)
NUM_TRAINING = 5  # the fewest cases for which v1's 5-fold split gives every fold a validation case


def _assert_same_geometry(a: sitk.Image, b: sitk.Image, what: str) -> None:
    assert a.GetSize() == b.GetSize(), what
    np.testing.assert_allclose(a.GetSpacing(), b.GetSpacing(), rtol=0, atol=1e-5, err_msg=what)
    np.testing.assert_allclose(a.GetOrigin(), b.GetOrigin(), rtol=0, atol=1e-4, err_msg=what)
    np.testing.assert_allclose(a.GetDirection(), b.GetDirection(), rtol=0, atol=1e-6, err_msg=what)


def _assert_case_scores(case: dict, labels=LABELS) -> None:
    """One per-case entry of v1's ``summary.json``: one dict per label with every default metric, + the paths."""
    assert set(case) == {str(label) for label in labels} | {"test", "reference"}
    for label in labels:
        scores = case[str(label)]
        assert set(scores) == set(DEFAULT_METRICS), label
        dice = scores["Dice"]
        assert np.isnan(dice) or 0.0 <= dice <= 1.0, (label, dice)


@pytest.fixture
def one_torch_thread():
    """One intra-op thread while the test runs: on the shared 2-core machine this halved the runtime."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
def test_real_sample_sample_plan_train_validate_predict_evaluate(workspace, monkeypatch, tmp_path,
                                                                 one_torch_thread):
    monkeypatch.setenv("nnUNet_n_proc_DA", "1")
    monkeypatch.setenv("nnUNet_def_n_proc", "1")

    # ---- sample real: a v1 raw task derived from the Colin27 crop, plus the untransformed crop as test case
    assert cli.main(["sample", "real", "--num_training", str(NUM_TRAINING)]) == 0
    raw = workspace.raw_task_dir(TASK)
    test_image = raw / "imagesTs" / "colin_original_0000.nii.gz"
    test_label = raw / "labelsTs" / "colin_original.nii.gz"
    assert test_image.is_file() and test_label.is_file()

    # ---- plan_and_preprocess -t 903 -tl 1 -tf 1
    assert cli.main(["plan_and_preprocess", "-t", TASK_ID, "-tl", "1", "-tf", "1", "--no_progress"]) == 0
    assert (workspace.preprocessed_task_dir(TASK) / "nnUNetPlansv2.1_plans_3D.pkl").is_file()

    # ---- train 3d_fullres nnUNetTrainerV2 903 0, a very short schedule, WITH the real validation afterwards
    assert cli.main(["train", "3d_fullres", "nnUNetTrainerV2", TASK_ID, "0", "--max_num_epochs", "2",
                     "--num_batches_per_epoch", "2", "--num_val_batches_per_epoch", "1", "--quiet"]) == 0
    model = workspace.training_output_folder("3d_fullres", TASK, "nnUNetTrainerV2", "nnUNetPlansv2.1")
    fold = model / "fold_0"
    for name in ("model_final_checkpoint.model", "model_final_checkpoint.model.pkl", "progress.png", "debug.json"):
        assert (fold / name).is_file(), name
    assert not (fold / "model_latest.model").exists()  # v1 deletes it after the final save
    assert read_checkpoint(fold / "model_final_checkpoint.model")["epoch"] == 2

    # the fold's validation cases are the ones of splits_final.pkl (v1's 5-fold split of the 5 training cases)
    splits = load_pickle(workspace.preprocessed_task_dir(TASK) / "splits_final.pkl")
    val_cases = sorted(str(c) for c in splits[0]["val"])
    train_cases = sorted(str(c) for c in splits[0]["train"])
    assert len(val_cases) == 1 and len(train_cases) == NUM_TRAINING - 1 and not set(val_cases) & set(train_cases)

    summary = json.loads((fold / "validation_raw" / "summary.json").read_text())
    assert {"author", "description", "id", "name", "results", "task", "timestamp"} <= set(summary)
    assert summary["task"] == TASK and summary["name"] == "nnUNetTrainerV2 val tiled True"
    per_case = summary["results"]["all"]
    assert sorted(Path(c["test"]).name for c in per_case) == [f"{c}.nii.gz" for c in val_cases]
    for case in per_case:
        _assert_case_scores(case)
        # the summary scores the exported prediction against the copied reference: recompute one pair
        again = evaluate_pair(case["test"], case["reference"], LABELS)
        for label in LABELS:
            np.testing.assert_allclose(case[str(label)]["Dice"], again[str(label)]["Dice"], equal_nan=True)
    assert set(summary["results"]["mean"]) == {str(label) for label in LABELS}
    for label in LABELS:
        assert "Dice" in summary["results"]["mean"][str(label)]

    # the exported validation prediction lies on the raw case's own grid (v1 exports to the original geometry)
    for case in val_cases:
        exported = sitk.ReadImage(str(fold / "validation_raw" / f"{case}.nii.gz"))
        _assert_same_geometry(exported, sitk.ReadImage(str(raw / "imagesTr" / f"{case}_0000.nii.gz")), case)
        assert set(np.unique(sitk.GetArrayFromImage(exported)).tolist()) <= set(LABELS)

    postprocessing = json.loads((fold / "postprocessing.json").read_text())
    assert {"for_which_classes", "dc_per_class_raw", "validation_raw", "validation_final", "num_samples"} \
        <= set(postprocessing)
    assert postprocessing["num_samples"] == len(val_cases)
    assert set(postprocessing["dc_per_class_raw"]) == {str(label) for label in LABELS[1:]}
    assert postprocessing["validation_final"] == "validation_raw_postprocessed"
    assert sorted(p.name for p in (fold / "validation_raw_postprocessed").glob("*.nii.gz")) == \
        [f"{c}.nii.gz" for c in val_cases]
    # gt_niftis: v1 copies every training case's reference segmentation next to the folds
    assert sorted(p.name for p in (model / "gt_niftis").glob("*.nii.gz")) == \
        sorted(f"{c}.nii.gz" for c in val_cases + train_cases)

    # ---- predict -i imagesTs -o OUT -t 903 -m 3d_fullres -f 0 (the untransformed Colin27 crop)
    predictions = tmp_path / "predictions"
    assert cli.main(["predict", "-i", str(raw / "imagesTs"), "-o", str(predictions), "-t", TASK_ID,
                     "-m", "3d_fullres", "-f", "0"]) == 0
    predicted_file = predictions / "colin_original.nii.gz"
    predicted, image = sitk.ReadImage(str(predicted_file)), sitk.ReadImage(str(test_image))
    _assert_same_geometry(predicted, image, "prediction vs input image")
    array = sitk.GetArrayFromImage(predicted)
    assert np.issubdtype(array.dtype, np.integer)
    assert set(np.unique(array).tolist()) <= set(LABELS)
    assert (predictions / "plans.pkl").is_file()
    assert float(json.loads((predictions / "prediction_time.txt").read_text())) > 0

    # ---- evaluate the prediction against labelsTs with the explorer's evaluation (v1's aggregate_scores)
    summary_file = tmp_path / "test_summary.json"
    results = aggregate_scores([(predicted_file, test_label)], LABELS, json_output_file=summary_file,
                               json_task=TASK)
    (case,) = results["all"]
    _assert_case_scores(case)
    reference = sitk.GetArrayFromImage(sitk.ReadImage(str(test_label)))
    for label in LABELS:
        # the counts come from these very arrays (a structural check that the right files were compared)
        assert case[str(label)]["Total Positives Test"] == int((array == label).sum())
        assert case[str(label)]["Total Positives Reference"] == int((reference == label).sum())
        assert results["mean"][str(label)]["Dice"] == pytest.approx(case[str(label)]["Dice"], nan_ok=True)
    assert json.loads(summary_file.read_text())["results"]["all"][0]["test"] == str(predicted_file)
    assert 0.0 <= mean_foreground_dice(results) <= 1.0
