"""One validation case in napari: its image under the reference and prediction labels, errors, probabilities.

Every layer carries the case's ITK geometry as a napari ``affine`` in napari's (z, y, x) axis order, so the
layers sit where SimpleITK (and so ITK-SNAP, Slicer) puts them, axis flips and oblique directions included.

ITK maps a voxel index ``i = (x, y, z)`` to the physical point ``origin + D @ diag(spacing) @ i``. napari's
arrays are ``(z, y, x)`` (``sitk.GetArrayFromImage``): with ``P`` the axis reversal, the (z, y, x) index maps
to ``P @ origin + (P D diag(spacing) P) @ index``; :func:`itk_affine` returns that as a 4 × 4 matrix.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import DatasetError, ExplorerError
from ..fileio import load_json, load_pickle
from ..language import tr
from .layer_spec import (NIFTI_SUFFIX, LayerSpec, find_ground_truth_folder, prediction_folder_cases,
                         prediction_layers)


def itk_affine(spacing: Sequence[float], origin: Sequence[float], direction: Sequence[float]) -> np.ndarray:
    """The 4 × 4 (z, y, x) napari affine of an ITK image (``spacing``, ``origin``: x-y-z; ``direction``: flat)."""
    ndim = len(spacing)
    d = np.asarray(direction, dtype=float).reshape(ndim, ndim)
    p = np.eye(ndim)[::-1]
    linear = p @ d @ np.diag(np.asarray(spacing, dtype=float)) @ p
    affine = np.eye(ndim + 1)
    affine[:ndim, :ndim] = linear
    affine[:ndim, ndim] = np.asarray(origin, dtype=float)[::-1]
    return affine


def read_itk(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """``(array (z, y, x), affine)`` of a NIfTI file."""
    import SimpleITK as sitk

    path = Path(path)
    if not path.is_file():
        raise DatasetError(tr(f"{path} does not exist", f"{path} 不存在"), fix=tr("check the path", "请检查路径"))
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        why = str(exc).strip()
        raise DatasetError(tr(f"{path} could not be read as an image: {why}", f"{path} 无法作为图像读取：{why}"),
                           fix=tr("check that the file is a complete NIfTI file", "请确认这是一个完整的 NIfTI 文件")) \
            from None
    return sitk.GetArrayFromImage(image), itk_affine(image.GetSpacing(), image.GetOrigin(), image.GetDirection())


def _task_name(folder: Path) -> str | None:
    for part in reversed(folder.resolve().parts):
        if re.match(r"Task\d{3}_", part):
            return part
    return None


def find_case_images(validation_folder: str | os.PathLike, case_id: str,
                     images_folder: str | os.PathLike | None = None) -> list[Path]:
    """The raw images ``CASE_XXXX.nii.gz`` of a validation case: ``images_folder`` or the raw task's imagesTr.

    The task is the ``TaskXXX_Name`` part of the folder's path, looked up under ``nnUNet_raw_data_base``
    (``nnUNet_raw_data/TaskXXX_Name/imagesTr``). Empty when none is found.
    """
    folders = [Path(images_folder)] if images_folder is not None else []
    task = _task_name(Path(validation_folder))
    if images_folder is None and task:
        try:
            from ..paths import resolve_workspace

            ws = resolve_workspace()
            folders += [ws.raw_task_dir(task) / "imagesTr", ws.raw_task_dir(task) / "imagesTs"]
        except ExplorerError:
            pass
    for folder in folders:
        found = sorted(folder.glob(f"{case_id}_[0-9][0-9][0-9][0-9]{NIFTI_SUFFIX}"))
        if found:
            return found
    return []


def softmax_in_full_volume(npz: Path, shape: Sequence[int]) -> np.ndarray | None:
    """v1's ``CASE.npz`` ``softmax`` (classes, *cropped box*) placed into the full image of ``shape``.

    v1 saves the probabilities after resampling to the original spacing but *before* undoing the crop
    (MIC-DKFZ/nnUNet#1032); ``CASE.pkl`` next to it has the ``crop_bbox`` that puts them back.
    """
    softmax = np.load(npz)["softmax"].astype(np.float32)
    if tuple(softmax.shape[1:]) == tuple(shape):
        return softmax
    pkl = npz.with_suffix(".pkl")
    bbox = load_pickle(pkl).get("crop_bbox") if pkl.is_file() else None
    if bbox is None:
        return None
    full = np.zeros((softmax.shape[0], *shape), dtype=np.float32)
    full[0] = 1.0  # outside the crop v1 predicts background
    box = tuple(slice(int(b[0]), min(int(b[0]) + softmax.shape[i + 1], int(shape[i]))) for i, b in enumerate(bbox))
    full[(slice(None), *box)] = softmax[(slice(None), *(slice(0, s.stop - s.start) for s in box))]
    return full


def _with_affine(spec: LayerSpec, affine: np.ndarray) -> LayerSpec:
    meta = {k: v for k, v in spec.meta.items() if k not in ("scale", "translate")}
    meta["affine"] = affine
    return LayerSpec(spec.name, spec.kind, spec.data, meta)


def _labels_of(folder: Path) -> list[int] | None:
    summary = folder / "summary.json"
    if not summary.is_file():
        return None
    try:
        mean = load_json(summary)["results"]["mean"]
        return sorted(int(k) for k in mean if str(k).isdigit() and int(k) > 0)
    except (ExplorerError, KeyError, TypeError, ValueError):
        return None


def validation_case_layers(validation_folder: str | os.PathLike, case_id: str | None = None, *,
                           gt_folder: str | os.PathLike | None = None,
                           images_folder: str | os.PathLike | None = None) -> list[LayerSpec]:
    """Layers of ONE case of a v1 validation (or prediction) folder, all placed with the case's ITK affine.

    The one builder of these layers: the napari reader and :func:`~nnunet_explorer.views.layers.read_path`,
    ``show_case`` and the "Prediction vs ground truth" widget all call it.

    In order: each image modality (grey; from ``images_folder`` or the raw task's ``imagesTr``), the ground truth, the
    prediction and the error layer (FP red, FN cyan, wrong class yellow) with the Dice per class, then one probability
    image per class from ``CASE.npz`` (``nnUNet_train --npz`` / ``nnUNet_predict -z``) when present (hidden but the
    foreground ones). ``case_id`` defaults to the first case.

    Raises:
        DatasetError: no prediction in the folder, no such case, or no ground truth for it.
    """
    folder = Path(validation_folder)
    cases = prediction_folder_cases(folder)
    if not cases:
        raise DatasetError(tr(f"{folder} holds no CASE.nii.gz prediction", f"{folder} 中没有 CASE.nii.gz 预测"),
                           fix=tr("open a validation_raw or output folder", "请打开一个 validation_raw 或输出文件夹"))
    case = case_id or cases[0]
    if case not in cases:
        raise DatasetError(tr(f"{folder} has no prediction for case {case}", f"{folder} 中没有病例 {case} 的预测"),
                           fix=tr(f"pick one of {cases[:10]}", f"请从 {cases[:10]} 中选一个"))
    gt = Path(gt_folder) if gt_folder is not None else find_ground_truth_folder(folder)
    if gt is None or not (gt / f"{case}{NIFTI_SUFFIX}").is_file():
        raise DatasetError(tr(f"no ground truth {case}{NIFTI_SUFFIX} found for {folder}",
                              f"找不到 {folder} 对应的参考标注 {case}{NIFTI_SUFFIX}"),
                           fix=tr("pass gt_folder, or keep v1's layout (<model>/gt_niftis next to fold_k/)",
                                  "请传入 gt_folder，或保持 v1 的目录结构（<model>/gt_niftis 与 fold_k/ 并列）"))
    pred, affine = read_itk(folder / f"{case}{NIFTI_SUFFIX}")
    ref, _ = read_itk(gt / f"{case}{NIFTI_SUFFIX}")
    images = []
    for index, path in enumerate(find_case_images(folder, case, images_folder)):
        array, image_affine = read_itk(path)
        if array.shape == pred.shape:
            images.append((tr(f"{case} image {index:04d}", f"{case} 图像 {index:04d}"), array, image_affine, str(path)))
    layers: list[LayerSpec] = []
    for name, array, image_affine, source in images:
        lo, hi = np.percentile(array, [0.5, 99.5]) if array.size else (0.0, 1.0)
        layers.append(LayerSpec(name, "image", array.astype(np.float32),
                                {"affine": image_affine, "colormap": "gray", "contrast_limits": (float(lo),
                                 float(hi) if hi > lo else float(lo) + 1.0),
                                 "metadata": {"case_id": case, "source": source}}))
    for spec in prediction_layers(pred, ref, labels=_labels_of(folder), case_id=case):
        layers.append(_with_affine(spec, affine))
    npz = folder / f"{case}.npz"
    if npz.is_file():
        softmax = softmax_in_full_volume(npz, pred.shape)
        if softmax is not None:
            for c in range(softmax.shape[0]):
                layers.append(LayerSpec(tr(f"{case} probability class {c}", f"{case} 类别 {c} 的概率"), "image", softmax[c],
                                        {"affine": affine, "colormap": "magma", "blending": "additive",
                                         "opacity": 0.5, "contrast_limits": (0.0, 1.0), "visible": c > 0,
                                         "metadata": {"case_id": case, "class": c, "source": str(npz)}}))
    return layers


def index_to_world(affine: np.ndarray, index_zyx: Sequence[float]) -> np.ndarray:
    """Where napari puts voxel ``index_zyx`` of a layer with ``affine`` (world (z, y, x) coordinates)."""
    return (np.asarray(affine) @ np.append(np.asarray(index_zyx, dtype=float), 1.0))[:-1]


def case_ids(validation_folder: str | os.PathLike) -> list[str]:
    """The case ids of a validation folder."""
    return prediction_folder_cases(validation_folder)


__all__: list[Any] = ["itk_affine", "read_itk", "find_case_images", "softmax_in_full_volume",
                      "validation_case_layers", "index_to_world", "case_ids"]
