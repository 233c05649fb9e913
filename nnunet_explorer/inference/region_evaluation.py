"""Dice of *regions* (unions of labels), v1's ``region_based_evaluation`` for BraTS-like tasks.

Some tasks are scored on nested regions rather than on their labels. In v1's BraTS data, labels 1, 2, 3 are
edema, non-enhancing and enhancing tumour; the challenge scores "whole tumour" (1, 2, 3), "tumour core" (2, 3)
and "enhancing tumour" (3,). For every case and region, both label maps become binary masks (voxel in any of
the region's labels) and

    Dice = 2 |P ∩ G| / (|P| + |G|),  NaN when the region is absent from both prediction and reference.

:func:`evaluate_regions` writes v1's ``summary.csv`` into the prediction folder: a header
``casename,<region>,...``, one row per case (its file name without ``.nii.gz``), then four summary rows:
``mean`` and ``median`` (ignoring NaN), ``mean (nan is 1)`` and ``median (nan is 1)`` (an empty region that
was correctly predicted empty counts as perfect). Values are written as ``%02.4f`` (``nan`` for NaN).
``nnUNetTrainerV2_fullEvals`` reads its ``mean`` row (the fourth line from the end) after every epoch.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..errors import DatasetError
from ..fileio import write_text_atomic
from ..language import tr
from ..provenance import mirrors


@mirrors("nnunet.evaluation.region_based_evaluation:get_brats_regions")
def get_brats_regions() -> dict[str, tuple[int, ...]]:
    """The BraTS regions for v1's relabelled BraTS tasks (labels 1, 2, 3; not the challenge's 1, 2, 4)."""
    return {"whole tumor": (1, 2, 3), "tumor core": (2, 3), "enhancing tumor": (3,)}


@mirrors("nnunet.evaluation.region_based_evaluation:get_KiTS_regions")
def get_KiTS_regions() -> dict[str, tuple[int, ...]]:  # noqa: N802 - v1's name
    """The KiTS19 regions: kidney including tumour (1, 2) and tumour (2,)."""
    return {"kidney incl tumor": (1, 2), "tumor": (2,)}


@mirrors("nnunet.evaluation.region_based_evaluation:create_region_from_mask")
def create_region_from_mask(mask: np.ndarray, join_labels: Sequence[int]) -> np.ndarray:
    """A uint8 mask: 1 where ``mask`` holds any of ``join_labels``, else 0."""
    region = np.zeros_like(mask, dtype=np.uint8)
    for label in join_labels:
        region[mask == label] = 1
    return region


def _dice(prediction: np.ndarray, reference: np.ndarray) -> float:
    """``2 |P ∩ G| / (|P| + |G|)`` of two binary masks (medpy's ``dc``, which v1 calls)."""
    p, g = prediction.astype(bool), reference.astype(bool)
    total = int(np.count_nonzero(p)) + int(np.count_nonzero(g))
    return 2.0 * int(np.count_nonzero(p & g)) / float(total) if total else 0.0


def _read_labels(path: str | os.PathLike) -> np.ndarray:
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


@mirrors("nnunet.evaluation.region_based_evaluation:evaluate_case")
def evaluate_case(file_pred: str | os.PathLike, file_gt: str | os.PathLike,
                  regions: Sequence[Sequence[int]]) -> list[float]:
    """Dice of every region (a tuple of labels) of one predicted NIfTI against its reference; NaN if both empty."""
    reference, prediction = _read_labels(file_gt), _read_labels(file_pred)
    out = []
    for region in regions:
        pred_mask = create_region_from_mask(prediction, region)
        gt_mask = create_region_from_mask(reference, region)
        empty = np.sum(gt_mask) == 0 and np.sum(pred_mask) == 0
        out.append(np.nan if empty else _dice(pred_mask, gt_mask))
    return out


def _nii_files(folder: str | os.PathLike) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.endswith(".nii.gz") and os.path.isfile(os.path.join(folder, n)))


@mirrors("nnunet.evaluation.region_based_evaluation:evaluate_regions")
def evaluate_regions(folder_predicted: str | os.PathLike, folder_gt: str | os.PathLike,
                     regions: Mapping[str, Sequence[int]], processes: int | None = None) -> Path:
    """Score every ``*.nii.gz`` of ``folder_predicted`` on ``regions``; write and return ``summary.csv`` there.

    Args:
        folder_predicted: predictions, one NIfTI per case.
        folder_gt: references with the same file names (extra references are allowed, with a warning).
        regions: ``{name: (label, ...)}``, e.g. :func:`get_brats_regions`; columns follow the dict's order.
        processes: v1's worker count (``nnUNet_def_n_proc``); accepted, the explorer scores in this process.

    Raises:
        DatasetError: a prediction has no reference of the same name (v1 asserts).
    """
    # differs from v1: cases are scored one after another in this process (v1 uses a Pool of `processes`)
    del processes  # accepted for v1's signature
    region_names = list(regions.keys())
    predicted, references = _nii_files(folder_predicted), _nii_files(folder_gt)
    no_reference = [f for f in predicted if f not in references]
    if no_reference:
        raise DatasetError(tr(f"predictions without a reference in {folder_gt}: {no_reference[:5]}",
                              f"{folder_gt} 中没有参考标注的预测: {no_reference[:5]}"),
                           fix=tr("predict only cases that have a ground truth, or point folder_gt at the right folder",
                                  "请只预测有参考标注的病例, 或让 folder_gt 指向正确的文件夹"))
    if any(f not in predicted for f in references):
        print("WARNING! Some files in folder_gt were not predicted (not present in folder_predicted)!")
    scores = [evaluate_case(os.path.join(folder_predicted, f), os.path.join(folder_gt, f), list(regions.values()))
              for f in predicted]
    per_region = {name: [s[k] for s in scores] for k, name in enumerate(region_names)}

    def row(label: str, values: Sequence[float]) -> str:
        return label + "".join(",%02.4f" % v for v in values)

    def nan_is_one(name: str) -> np.ndarray:
        values = np.array(per_region[name], dtype=float)
        values[np.isnan(values)] = 1
        return values

    lines = ["casename" + "".join(f",{name}" for name in region_names)]
    lines += [row(f[:-7], s) for f, s in zip(predicted, scores)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a region NaN in every case: its mean is NaN, as in v1
        lines.append(row("mean", [np.nanmean(per_region[n]) for n in region_names]))
        lines.append(row("median", [np.nanmedian(per_region[n]) for n in region_names]))
        lines.append(row("mean (nan is 1)", [np.mean(nan_is_one(n)) for n in region_names]))
        lines.append(row("median (nan is 1)", [np.median(nan_is_one(n)) for n in region_names]))
    out = Path(folder_predicted) / "summary.csv"
    write_text_atomic(out, "\n".join(lines) + "\n")
    return out


__all__ = ["create_region_from_mask", "evaluate_case", "evaluate_regions",
           "get_KiTS_regions", "get_brats_regions"]
