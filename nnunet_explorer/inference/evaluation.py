"""Scoring predicted label maps against the reference: v1's ``summary.json`` (``aggregate_scores``).

For every (prediction, reference) pair of NIfTI files and every label ``l``, the two masks ``test == l`` and
``reference == l`` give a confusion matrix (TP, FP, TN, FN voxel counts), and from it 13 metrics
(:data:`DEFAULT_METRICS`), for example ``Dice = 2TP / (2TP + FP + FN)``. Metrics that are undefined for a
case are NaN — e.g. Dice when the label is absent from both test and reference — and the ``mean`` over cases
ignores NaN (``np.nanmean``). Validation scores labels ``0..C-1`` (background included); postprocessing
scores only the foreground labels.

``summary.json`` keys: ``author``, ``description``, ``id`` (first 12 hex characters of the MD5 of the JSON
without ``id``), ``name``, ``results`` (``all``: one dict per case, ``mean``: per label), ``task``,
``timestamp``; written with sorted keys and indent 4.

This module is the one place that scores label maps: :func:`dice_per_class` (the Dice the napari layers and
the per-case validation table show) and :func:`error_map` (false positive / false negative / wrong class per
voxel) are computed here and nowhere else.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from datetime import datetime
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from ..errors import DatasetError
from ..fileio import write_json
from ..language import tr
from ..provenance import mirrors

#: v1's ``Evaluator.default_metrics`` (evaluated in sorted-name order)
DEFAULT_METRICS: tuple[str, ...] = (
    "False Positive Rate", "Dice", "Jaccard", "Precision", "Recall", "Accuracy", "False Omission Rate",
    "Negative Predictive Value", "False Negative Rate", "True Negative Rate", "False Discovery Rate",
    "Total Positives Test", "Total Positives Reference",
)

_NAN = float("nan")



@dataclass(frozen=True)
class ConfusionCounts:
    """Voxel counts of one label in one case, and whether either mask is empty or full (v1's ConfusionMatrix)."""

    tp: int
    fp: int
    tn: int
    fn: int
    test_empty: bool
    test_full: bool
    reference_empty: bool
    reference_full: bool

    @classmethod
    def from_masks(cls, test: np.ndarray, reference: np.ndarray) -> "ConfusionCounts":
        if test.shape != reference.shape:
            raise ValueError(f"Shape mismatch: {test.shape} and {reference.shape}")
        t, r = test != 0, reference != 0
        return cls(int((t & r).sum()), int((t & ~r).sum()), int((~t & ~r).sum()), int((~t & r).sum()),
                   not bool(t.any()), bool(t.all()), not bool(r.any()), bool(r.all()))


@mirrors("nnunet.evaluation.metrics:dice")
def dice(c: ConfusionCounts) -> float:
    """``2 TP / (2 TP + FP + FN)``; NaN when the label is in neither map (v1's ``nan_for_nonexisting=True``).

    A label absent from the reference but predicted scores 0.0, as does one in the reference but not predicted.
    """
    return _NAN if c.test_empty and c.reference_empty else float(2. * c.tp / (2 * c.tp + c.fp + c.fn))


def _precision(c: ConfusionCounts) -> float:
    return _NAN if c.test_empty else float(c.tp / (c.tp + c.fp))


def _recall(c: ConfusionCounts) -> float:
    return _NAN if c.reference_empty else float(c.tp / (c.tp + c.fn))


def _specificity(c: ConfusionCounts) -> float:
    return _NAN if c.reference_full else float(c.tn / (c.tn + c.fp))


def _false_omission_rate(c: ConfusionCounts) -> float:
    return _NAN if c.test_full else float(c.fn / (c.fn + c.tn))


#: metric name -> function of the counts (v1's ``ALL_METRICS`` with ``nan_for_nonexisting=True``)
METRICS: dict[str, Callable[[ConfusionCounts], float | int]] = {
    "Dice": dice,
    "Jaccard": lambda c: _NAN if c.test_empty and c.reference_empty else float(c.tp / (c.tp + c.fp + c.fn)),
    "Precision": _precision,
    "Recall": _recall,
    "Accuracy": lambda c: float((c.tp + c.tn) / (c.tp + c.fp + c.tn + c.fn)),
    "False Positive Rate": lambda c: 1 - _specificity(c),
    "True Negative Rate": _specificity,
    "False Omission Rate": _false_omission_rate,
    "Negative Predictive Value": lambda c: 1 - _false_omission_rate(c),
    "False Negative Rate": lambda c: 1 - _recall(c),
    "False Discovery Rate": lambda c: 1 - _precision(c),
    "Total Positives Test": lambda c: c.tp + c.fp,
    "Total Positives Reference": lambda c: c.tp + c.fn,
}


def _label_mask(array: np.ndarray, label: int | Sequence[int]) -> np.ndarray:
    if isinstance(label, (list, tuple)):
        return np.isin(array, list(label))
    return array == label


def label_counts(test: np.ndarray, reference: np.ndarray, label: int | Sequence[int]) -> ConfusionCounts:
    """The confusion counts of one label (or a region: a tuple of labels) in a predicted and a reference map."""
    return ConfusionCounts.from_masks(_label_mask(np.asarray(test), label), _label_mask(np.asarray(reference), label))


def _label_key(label: int | Sequence[int]) -> int | tuple[int, ...]:
    return tuple(int(v) for v in label) if isinstance(label, (list, tuple)) else int(label)


def dice_per_class(test: np.ndarray, reference: np.ndarray, labels: Iterable[int | Sequence[int]]
                   ) -> dict[int | tuple[int, ...], float]:
    """The Dice of every label between two label maps, as ``summary.json`` has it (NaN: in neither map)."""
    return {_label_key(label): dice(label_counts(test, reference, label)) for label in labels}


#: the values of :func:`error_map`
FALSE_POSITIVE, FALSE_NEGATIVE, WRONG_CLASS = 1, 2, 3
ERROR_NAMES = {FALSE_POSITIVE: "false positive (predicted foreground, truth background)",
               FALSE_NEGATIVE: "false negative (truth foreground, predicted background)",
               WRONG_CLASS: "wrong class (both foreground, different labels)"}


def error_map(prediction: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Voxel-wise errors (uint8): 0 agreement, 1 false positive (predicted foreground where the reference is
    background), 2 false negative (reference foreground predicted as background), 3 wrong foreground class.

    Foreground is a label > 0; a negative reference value (v1's -1 outside the nonzero mask) is neither
    foreground nor background, so it counts as no error.

    Raises:
        DatasetError: the two maps differ in shape.
    """
    prediction, reference = np.asarray(prediction), np.asarray(reference)
    if prediction.shape != reference.shape:
        raise DatasetError(tr(f"prediction shape {prediction.shape} differs from the ground truth's "
                              f"{reference.shape}",
                              f"预测的形状 {prediction.shape} 与参考标注的形状 {reference.shape} 不同"),
                           fix=tr("compare a prediction with the ground truth of the same case (v1 exports "
                                  "predictions at the raw image's size)",
                                  "请把预测与同一个病例的参考标注比较(v1 按原始图像的大小导出预测)"))
    predicted, truth = prediction > 0, reference > 0
    out = np.zeros(prediction.shape, np.uint8)
    out[predicted & (reference == 0)] = FALSE_POSITIVE
    out[(prediction == 0) & truth] = FALSE_NEGATIVE
    out[predicted & truth & (prediction != reference)] = WRONG_CLASS
    return out


@mirrors("nnunet.evaluation.evaluator:Evaluator.evaluate")
def evaluate_arrays(test: np.ndarray, reference: np.ndarray, labels: Sequence[int],
                    metrics: Sequence[str] = DEFAULT_METRICS) -> "OrderedDict[str, OrderedDict[str, Any]]":
    """Per label (key ``str(label)``, in the given order): every metric, in sorted-name order (as v1)."""
    result: OrderedDict = OrderedDict()
    names = sorted(metrics)
    for label in labels:
        counts = label_counts(test, reference, label)
        result[str(label)] = OrderedDict((m, METRICS[m](counts)) for m in names)
    return result


def _read_labels(path: str | os.PathLike) -> np.ndarray:
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


@mirrors("nnunet.evaluation.evaluator:run_evaluation")
def evaluate_pair(test_file: str | os.PathLike, reference_file: str | os.PathLike, labels: Sequence[int],
                  metrics: Sequence[str] = DEFAULT_METRICS) -> "OrderedDict[str, Any]":
    """Score one prediction file against its reference file; adds ``test`` and ``reference`` (the paths)."""
    scores = evaluate_arrays(_read_labels(test_file), _read_labels(reference_file), labels, metrics)
    scores["test"] = str(test_file)
    scores["reference"] = str(reference_file)
    return scores


def summary_id(json_dict: Mapping[str, Any]) -> str:
    """v1's ``id``: MD5 of ``json.dumps`` of the summary (without ``id``, keys in insertion order), 12 hex chars."""
    return hashlib.md5(json.dumps(json_dict).encode("utf-8")).hexdigest()[:12]


@mirrors("nnunet.evaluation.evaluator:aggregate_scores")
def aggregate_scores(pairs: Sequence[Sequence[str | os.PathLike]], labels: Sequence[int],
                     json_output_file: str | os.PathLike | None = None, json_name: str = "",
                     json_task: str = "", *, json_description: str = "", json_author: str = "Fabian",
                     nanmean: bool = True, metrics: Sequence[str] = DEFAULT_METRICS) -> "OrderedDict[str, Any]":
    """Score every (prediction, reference) pair and write v1's ``summary.json``; returns ``results``.

    Args:
        pairs: ``[(prediction.nii.gz, reference.nii.gz), ...]``.
        labels: the labels to score, e.g. ``range(num_classes)`` in validation (background included).
        json_output_file: where to write ``summary.json`` (atomically); None writes nothing.
        json_name, json_task, json_description, json_author: the descriptive keys (v1's validation uses
            ``"<trainer> val tiled True"``, the task folder name, ``""`` and ``"Fabian"``).
        nanmean: average with ``np.nanmean`` (v1 default) rather than ``np.mean``.

    Returns:
        ``{"all": [per-case dicts], "mean": {label: {metric: value}}}``.
    """
    # differs from v1: cases are scored in this process one after another (v1 uses a Pool of workers)
    labels = [int(l) if not isinstance(l, (list, tuple)) else tuple(l) for l in labels]
    all_scores: OrderedDict = OrderedDict()
    all_scores["all"] = [evaluate_pair(t, r, labels, metrics) for t, r in pairs]
    collected: OrderedDict = OrderedDict()
    for case in all_scores["all"]:
        for label, score_dict in case.items():
            if label in ("test", "reference"):
                continue
            per_label = collected.setdefault(label, OrderedDict())
            for metric, value in score_dict.items():
                per_label.setdefault(metric, []).append(value)
    mean: OrderedDict = OrderedDict()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of all-NaN: NaN, as in v1
        for label, per_label in collected.items():
            average = np.nanmean if nanmean else np.mean
            mean[label] = OrderedDict((m, float(average(v))) for m, v in per_label.items())
    all_scores["mean"] = mean
    if json_output_file is not None:
        json_dict: OrderedDict = OrderedDict()
        json_dict["name"] = json_name
        json_dict["description"] = json_description
        json_dict["timestamp"] = str(datetime.today())
        json_dict["task"] = json_task
        json_dict["author"] = json_author
        json_dict["results"] = all_scores
        json_dict["id"] = summary_id(json_dict)
        write_json(json_dict, json_output_file)
    return all_scores


def mean_foreground_dice(summary: Mapping[str, Any]) -> float:
    """Mean of the per-label mean Dice over foreground labels (what ``find_best_configuration`` ranks by)."""
    mean = summary["results"]["mean"] if "results" in summary else summary["mean"]
    return float(np.mean([v["Dice"] for k, v in mean.items() if k != "0"]))
