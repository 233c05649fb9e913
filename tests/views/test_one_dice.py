"""One Dice and one error map: the napari layers, the notebook browsers and the per-case validation table all
take their numbers from :mod:`nnunet_explorer.inference.evaluation` (v1's evaluator, NaN conventions included)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import SimpleITK as sitk

from nnunet_explorer import validation_cases
from nnunet_explorer.inference import evaluation as E
from nnunet_explorer.views import layers as L

LABELS = [1, 2, 3]


def _pairs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(prediction, reference) pairs: overlap, an empty reference, an empty prediction, both empty, random."""
    rng = np.random.default_rng(7)
    ref = np.zeros((4, 5, 6), np.uint8)
    ref[1:3, 1:4, 1:5] = 1
    ref[3, 0:2, 0:2] = 2
    pred = np.roll(ref, 1, axis=2)
    return {
        "overlap": (pred, ref),
        "empty reference": (pred, np.zeros_like(ref)),  # every predicted class: Dice 0.0
        "empty prediction": (np.zeros_like(ref), ref),  # every reference class: Dice 0.0
        "both empty": (np.zeros_like(ref), np.zeros_like(ref)),  # every class: NaN (v1 nan_for_nonexisting)
        "random": (rng.integers(0, 4, (3, 7, 9)).astype(np.uint8), rng.integers(0, 3, (3, 7, 9)).astype(np.uint8)),
    }


def _same(a: float | None, b: float | None) -> bool:
    nan_a = a is None or math.isnan(a)
    nan_b = b is None or math.isnan(b)
    return nan_a == nan_b and (nan_a or a == b)


def _old_dice(pred: np.ndarray, ref: np.ndarray, c: int) -> float:
    """The rule the views used before they shared the evaluator's (2TP / (2TP + FP + FN), NaN if absent in both)."""
    t, r = pred == c, ref == c
    tp, fp, fn = int(np.sum(t & r)), int(np.sum(t & ~r)), int(np.sum(~t & r))
    return float("nan") if not t.any() and not r.any() else 2.0 * tp / (2 * tp + fp + fn)


def test_the_views_use_the_evaluation_modules_functions():
    from nnunet_explorer.views import browsers

    assert L.dice_per_class is E.dice_per_class and L.error_map is E.error_map
    assert browsers.error_map is E.error_map
    assert (L.FALSE_POSITIVE, L.FALSE_NEGATIVE, L.WRONG_CLASS, L.ERROR_NAMES) == (
        E.FALSE_POSITIVE, E.FALSE_NEGATIVE, E.WRONG_CLASS, E.ERROR_NAMES)
    assert E.METRICS["Dice"] is E.dice  # summary.json's Dice is the same function


@pytest.mark.parametrize("case", list(_pairs()))
def test_layers_table_and_summary_give_the_same_dice(case, tmp_path):
    pred, ref = _pairs()[case]
    summary = E.evaluate_arrays(pred, ref, LABELS)  # what summary.json holds
    layers = L.prediction_layers(pred, ref, labels=LABELS, case_id=case)
    layer_dice = layers[-1].metadata["dice"]
    for path, array in (("pred.nii.gz", pred), ("ref.nii.gz", ref)):
        sitk.WriteImage(sitk.GetImageFromArray(array), str(tmp_path / path))
    row = validation_cases.case_result(case, tmp_path / "pred.nii.gz", tmp_path / "ref.nii.gz", LABELS)
    table_dice = {c.label: c.dice for c in row.classes}
    for c in LABELS:
        expected = summary[str(c)]["Dice"]
        assert _same(layer_dice[c], expected), (case, c)
        assert _same(table_dice[c], expected), (case, c)
        assert _same(E.dice_per_class(pred, ref, [c])[c], _old_dice(pred, ref, c)), (case, c)
        in_either = bool((pred == c).any() or (ref == c).any())
        assert math.isnan(layer_dice[c]) != in_either  # NaN exactly when the class is in neither map
        assert (table_dice[c] is None) != in_either  # the table shows v1's NaN as None
        counts = next(k for k in row.classes if k.label == c)
        assert (counts.n_ref, counts.n_pred) == (int((ref == c).sum()), int((pred == c).sum()))
    if case == "empty reference":
        assert layer_dice[1] == 0.0 and table_dice[1] == 0.0 and math.isnan(layer_dice[3])
    # the error layer is the one error map; its counts are that map's
    errors = layers[-1]
    np.testing.assert_array_equal(errors.data, E.error_map(pred, ref))
    assert errors.metadata["counts"] == {E.ERROR_NAMES[k]: int(np.sum(E.error_map(pred, ref) == k))
                                         for k in E.ERROR_NAMES}


def test_error_map_keeps_what_both_views_computed():
    truth = np.array([0, 0, 1, 1, 2, 2, 0])
    pred = np.array([0, 1, 0, 1, 1, 2, 3])
    assert E.error_map(pred, truth).tolist() == [0, E.FALSE_POSITIVE, E.FALSE_NEGATIVE, 0, E.WRONG_CLASS, 0,
                                                 E.FALSE_POSITIVE]
    assert E.error_map(pred, truth).dtype == np.uint8
    # v1's -1 (outside the nonzero mask) in the reference is not background: no error whatever is predicted
    assert E.error_map(np.array([0, 1]), np.array([-1, -1])).tolist() == [0, 0]
