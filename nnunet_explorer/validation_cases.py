"""Per-case validation results: one row per validation case with Dice, voxel counts and volumes per class.

v1's ``validate`` writes ``validation_raw/CASE.nii.gz`` (the sliding-window segmentation in the original
geometry) and ``validation_raw/summary.json``, whose ``results.all`` holds one entry per case with the metrics
per class and the ``reference`` (``nnUNet_preprocessed/TaskXXX/gt_segmentations/CASE.nii.gz``) and ``test``
paths. :func:`validation_table` reads the NIfTIs again and computes, per case and class, the Dice, the reference
and predicted voxel counts and the volumes in ml (voxel count × spacing product / 1000), and flags an empty
reference (with an empty prediction too the Dice is undefined: v1 reports NaN and its mean leaves it out; any
false positive makes it 0, which counts) or an empty prediction. The counts and the Dice are those of
:mod:`nnunet_explorer.inference.evaluation` (:func:`~nnunet_explorer.inference.evaluation.label_counts`,
:func:`~nnunet_explorer.inference.evaluation.dice`), with v1's NaN shown as None.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ExplorerError
from .fileio import load_json
from .inference.evaluation import dice, label_counts
from .language import tr


@dataclass
class ClassResult:
    """One class of one case."""

    label: int
    dice: float | None  # None when reference and prediction are both empty (v1: NaN)
    n_ref: int
    n_pred: int
    volume_ref_ml: float
    volume_pred_ml: float
    empty_reference: bool
    empty_prediction: bool


@dataclass
class CaseResult:
    """One validation case: its files, spacing and per-class results."""

    case: str
    prediction: str
    reference: str
    spacing: tuple[float, ...]
    classes: list[ClassResult] = field(default_factory=list)
    summary_dice: dict[int, float | None] = field(default_factory=dict)

    @property
    def mean_dice(self) -> float | None:
        values = [c.dice for c in self.classes if c.dice is not None]
        return float(np.mean(values)) if values else None

    @property
    def flags(self) -> list[str]:
        out = []
        for c in self.classes:
            if c.empty_reference:
                out.append(tr(f"class {c.label}: empty reference", f"类别 {c.label}：参考标注为空"))
            if c.empty_prediction and not c.empty_reference:
                out.append(tr(f"class {c.label}: empty prediction", f"类别 {c.label}：预测为空"))
        return out

    def row(self) -> dict[str, Any]:
        """A flat dict for a table: case, mean Dice, then per class dice/n_ref/n_pred/volumes, flags."""
        row: dict[str, Any] = {"case": self.case, "mean_dice": self.mean_dice}
        for c in self.classes:
            row[f"dice_{c.label}"] = c.dice
            row[f"n_ref_{c.label}"] = c.n_ref
            row[f"n_pred_{c.label}"] = c.n_pred
            row[f"vol_ref_ml_{c.label}"] = c.volume_ref_ml
            row[f"vol_pred_ml_{c.label}"] = c.volume_pred_ml
        row["flags"] = "; ".join(self.flags)
        return row


def _read(path: Path):
    import SimpleITK as sitk

    if not path.is_file():
        raise ExplorerError(tr(f"{path} does not exist", f"{path} 不存在"),
                            fix=tr("run the validation again (nnunet-explorer train -val) "
                                   "or pass gt_folder= where gt_segmentations now lives",
                                   "重新运行验证(nnunet-explorer train -val),"
                                   "或用 gt_folder= 指明 gt_segmentations 现在所在的位置"))
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise ExplorerError(tr(f"{path} is not a readable image ({exc})", f"{path} 不是可读的图像({exc})"),
                            fix=tr("re-run the validation", "重新运行验证")) from None
    return sitk.GetArrayFromImage(image), tuple(float(s) for s in image.GetSpacing())


def case_result(case: str, prediction: Path, reference: Path, labels: list[int]) -> CaseResult:
    """Dice, voxel counts and volumes per class of one case from its two NIfTIs."""
    pred, spacing = _read(prediction)
    ref, _ = _read(reference)
    if pred.shape != ref.shape:
        raise ExplorerError(tr(f"{prediction} has shape {pred.shape} but its reference {reference} {ref.shape}",
                               f"{prediction} 的形状是 {pred.shape},而它的参考标注 {reference} 是 {ref.shape}"),
                            fix=tr("the prediction and reference must be in the same (original) geometry",
                                   "预测和参考标注必须处于同一(原始)几何空间"))
    voxel_ml = float(np.prod(spacing)) / 1000.0
    result = CaseResult(case, str(prediction), str(reference), spacing)
    for label in labels:
        counts = label_counts(pred, ref, label)
        n_ref, n_pred = counts.tp + counts.fn, counts.tp + counts.fp
        value = dice(counts)
        result.classes.append(ClassResult(label, None if math.isnan(value) else value, n_ref, n_pred,
                                          n_ref * voxel_ml, n_pred * voxel_ml, n_ref == 0, n_pred == 0))
    return result


def validation_table(validation_folder: str | os.PathLike, *, gt_folder: str | os.PathLike | None = None
                     ) -> list[CaseResult]:
    """One :class:`CaseResult` per case of ``validation_folder`` (e.g. ``fold_0/validation_raw``).

    Cases come from ``summary.json`` (``results.all``); its ``reference`` paths are used unless ``gt_folder``
    is given or they no longer exist (then ``gt_folder/CASE.nii.gz``, default: the ``gt_segmentations``
    folder the summary names). Without a summary, every ``*.nii.gz`` in the folder with ``gt_folder``.

    Raises:
        ExplorerError: no such folder, no summary and no ``gt_folder``, or an unreadable NIfTI.
    """
    folder = Path(validation_folder)
    if not folder.is_dir():
        raise ExplorerError(tr(f"validation folder {folder} does not exist", f"验证文件夹 {folder} 不存在"),
                            fix=tr("pass fold_X/validation_raw after validation (nnUNet_train ... -val)",
                                   "验证(nnUNet_train ... -val)完成后,传入 fold_X/validation_raw"))
    summary_path = folder / "summary.json"
    entries: list[tuple[str, Path, Path | None, dict]] = []
    labels: set[int] = set()
    if summary_path.is_file():
        summary = load_json(summary_path)
        for entry in summary.get("results", {}).get("all", []):
            test = Path(entry.get("test", ""))
            case = test.name[:-7] if test.name.endswith(".nii.gz") else test.stem
            pred = folder / test.name if not test.is_file() else test
            ref = Path(entry["reference"]) if entry.get("reference") else None
            if gt_folder is not None or ref is None or not ref.is_file():
                ref = Path(gt_folder) / f"{case}.nii.gz" if gt_folder is not None else ref
            metrics = {int(k): v for k, v in entry.items() if k.isdigit()}
            labels.update(metrics)
            entries.append((case, pred, ref, metrics))
    elif gt_folder is not None:
        for pred in sorted(folder.glob("*.nii.gz")):
            case = pred.name[:-7]
            entries.append((case, pred, Path(gt_folder) / pred.name, {}))
    else:
        raise ExplorerError(tr(f"{folder} has no summary.json, so the references are unknown",
                               f"{folder} 中没有 summary.json,因此不知道参考标注在哪里"),
                            fix=tr("pass gt_folder= (nnUNet_preprocessed/TaskXXX/gt_segmentations)",
                                   "传入 gt_folder=(即 nnUNet_preprocessed/TaskXXX/gt_segmentations)"))
    rows = []
    for case, pred, ref, metrics in entries:
        if ref is None:
            raise ExplorerError(tr(f"no reference known for case {case}", f"病例 {case} 没有已知的参考标注"),
                                fix=tr("pass gt_folder=", "传入 gt_folder="))
        if not labels:
            ref_arr, _ = _read(ref)
            labels.update(int(v) for v in np.unique(ref_arr) if v != 0)
        result = case_result(case, pred, ref, sorted(lab for lab in labels if lab != 0))
        result.summary_dice = {k: (float(v["Dice"]) if v.get("Dice") is not None and not np.isnan(v["Dice"])
                                   else None) for k, v in metrics.items() if isinstance(v, dict) and "Dice" in v}
        rows.append(result)
    return rows
