"""Cropping each training case to its nonzero region, as nnU-Net v1's ``ImageCropper`` does.

For a case with modalities stacked as ``data (c, z, y, x)`` and its label map ``seg (1, z, y, x)``:

1. nonzero mask = voxels that are nonzero in *any* modality, with enclosed holes filled
   (``scipy.ndimage.binary_fill_holes``);
2. bounding box of that mask (``[[z0, z1], [y0, y1], [x0, x1]]``, end exclusive);
3. crop data and seg to the box; background voxels (label 0) *outside* the mask get label **-1**, so later
   steps know "outside the body" from "background tissue".

Outputs per case (in ``nnUNet_cropped_data/TaskXXX/``): ``CASE.npz`` with key ``data`` = data channels + seg as
the last channel (float32), and ``CASE.pkl`` with the properties below in v1's order.
"""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import DatasetError
from ..language import tr
from ..provenance import mirrors

# v1's keys of a cropped case pkl, in v1's order (the planner adds use_nonzero_mask_for_norm afterwards)
CROPPED_PROPERTY_KEYS = ("original_size_of_raw_data", "original_spacing", "list_of_data_files", "seg_file",
                         "itk_origin", "itk_spacing", "itk_direction", "crop_bbox", "classes", "size_after_cropping")


@mirrors("nnunet.preprocessing.cropping:create_nonzero_mask")
def create_nonzero_mask(data: np.ndarray) -> np.ndarray:
    """Union over channels of ``data != 0`` (c, z, y, x) -> (z, y, x), holes filled."""
    from scipy.ndimage import binary_fill_holes

    assert data.ndim in (3, 4), "data must have shape (C, X, Y, Z) or shape (C, X, Y)"
    mask = np.zeros(data.shape[1:], dtype=bool)
    for c in range(data.shape[0]):
        mask |= data[c] != 0
    return binary_fill_holes(mask)


@mirrors("nnunet.preprocessing.cropping:get_bbox_from_mask")
def get_bbox_from_mask(mask: np.ndarray, outside_value: int = 0, *, case: str | None = None) -> list[list[int]]:
    """``[[z0, z1], [y0, y1], [x0, x1]]`` of the voxels ``!= outside_value`` (ends exclusive).

    Raises:
        DatasetError: the mask is empty (an all-zero image); v1 fails here with a bare numpy ValueError.
    """
    coords = np.where(mask != outside_value)
    if coords[0].size == 0:
        raise DatasetError(tr(f"case {case or '?'}: every voxel of every modality is 0, so there is no nonzero "
                              "region to crop to (nnU-Net v1 fails here with 'zero-size array to reduction "
                              "operation')",
                              f"病例 {case or '?'}: 所有模态的所有体素都是 0, 所以没有可以裁剪到的非零区域"
                              "(nnU-Net v1 在这里失败, 报错 'zero-size array to reduction operation')"),
                           fix=tr("remove this case from dataset.json 'training' or replace its image files",
                                  "请把这个病例从 dataset.json 的 'training' 中删除, 或替换它的图像文件"))
    return [[int(np.min(c)), int(np.max(c)) + 1] for c in coords[:3]]


@mirrors("nnunet.preprocessing.cropping:crop_to_bbox")
def crop_to_bbox(image: np.ndarray, bbox: Sequence[Sequence[int]]) -> np.ndarray:
    """``image[z0:z1, y0:y1, x0:x1]`` for a 3D ``image``."""
    assert image.ndim == 3, "only supports 3d images"
    return image[tuple(slice(lo, hi) for lo, hi in bbox)]


@mirrors("nnunet.preprocessing.cropping:crop_to_nonzero")
def crop_to_nonzero(data: np.ndarray, seg: np.ndarray | None = None, nonzero_label: int = -1, *,
                    case: str | None = None) -> tuple[np.ndarray, np.ndarray, list[list[int]]]:
    """Crop ``data`` (c, z, y, x) and ``seg`` (1, z, y, x) to the nonzero box; mark outside background -1.

    Without ``seg`` a seg of 0 (inside) / -1 (outside) is returned, as in v1.
    """
    nonzero_mask = create_nonzero_mask(data)
    bbox = get_bbox_from_mask(nonzero_mask, 0, case=case)
    data = np.vstack([crop_to_bbox(data[c], bbox)[None] for c in range(data.shape[0])])
    if seg is not None:
        seg = np.vstack([crop_to_bbox(seg[c], bbox)[None] for c in range(seg.shape[0])])
    nonzero_mask = crop_to_bbox(nonzero_mask, bbox)[None]
    if seg is not None:
        seg[(seg == 0) & (nonzero_mask == 0)] = nonzero_label
    else:
        mask = nonzero_mask.astype(int)
        mask[mask == 0] = nonzero_label
        mask[mask > 0] = 0
        seg = mask
    return data, seg, bbox


@mirrors("nnunet.preprocessing.cropping:get_case_identifier")
def get_case_identifier(case: Sequence[str]) -> str:
    """``.../imagesTr/liver_003_0000.nii.gz`` -> ``liver_003`` (file name minus ``.nii.gz`` and ``_XXXX``)."""
    return str(case[0]).split("/")[-1].split(".nii.gz")[0][:-5]


@mirrors("nnunet.preprocessing.cropping:load_case_from_list_of_files")
def load_case_from_list_of_files(data_files: Sequence[str], seg_file: str | None = None, *,
                                 case: str | None = None) -> tuple[np.ndarray, np.ndarray | None, OrderedDict]:
    """Read the modalities (and label) of one case with SimpleITK; arrays come out (z, y, x).

    Properties (v1's keys and order): ``original_size_of_raw_data`` and ``original_spacing`` (z, y, x),
    ``list_of_data_files``, ``seg_file``, ``itk_origin``/``itk_spacing``/``itk_direction`` (x, y, z as ITK has
    them). Data are float32 ``(c, z, y, x)``, seg float32 ``(1, z, y, x)``.

    Raises:
        DatasetError: a modality or the label has a different size or spacing than modality 0, or contains
            NaN (checked here because these files are read anyway).
    """
    import SimpleITK as sitk

    assert isinstance(data_files, (list, tuple)), "case must be either a list or a tuple"
    properties: OrderedDict = OrderedDict()
    images = [sitk.ReadImage(str(f)) for f in data_files]
    ref = images[0]
    properties["original_size_of_raw_data"] = np.array(ref.GetSize())[[2, 1, 0]]
    properties["original_spacing"] = np.array(ref.GetSpacing())[[2, 1, 0]]
    properties["list_of_data_files"] = data_files
    properties["seg_file"] = seg_file
    properties["itk_origin"] = ref.GetOrigin()
    properties["itk_spacing"] = ref.GetSpacing()
    properties["itk_direction"] = ref.GetDirection()
    seg_itk = sitk.ReadImage(str(seg_file)) if seg_file is not None else None
    _check_geometry(case, data_files, images, seg_file, seg_itk)
    data = np.vstack([sitk.GetArrayFromImage(d)[None] for d in images]).astype(np.float32)
    nan_count = int(np.isnan(data).sum())
    if nan_count:
        # differs from v1: v1 crops NaN voxels as "nonzero", gives CT datasets NaN intensity statistics and
        # writes all-NaN 2D channels; the explorer stops with the case name instead.
        raise DatasetError(tr(f"case {case}: {nan_count} NaN voxel(s) in "
                              f"{', '.join(Path(f).name for f in data_files)}",
                              f"病例 {case}: {', '.join(Path(f).name for f in data_files)} 中有 {nan_count} 个 NaN "
                              "体素"),
                           fix=tr("replace NaN voxels (e.g. by 0 or the background value) in the image files",
                                  "请替换图像文件中的 NaN 体素(例如换成 0 或背景值)"))
    seg = sitk.GetArrayFromImage(seg_itk)[None].astype(np.float32) if seg_itk is not None else None
    return data, seg, properties


def _check_geometry(case, data_files, images, seg_file, seg_itk) -> None:
    ref = images[0]
    problems = []
    others = list(zip(data_files[1:], images[1:]))
    if seg_itk is not None:
        others.append((seg_file, seg_itk))
    for name, img in others:
        if img.GetSize() != ref.GetSize():
            problems.append(tr(f"{Path(name).name} has size {img.GetSize()} but {Path(data_files[0]).name} has "
                               f"{ref.GetSize()}",
                               f"{Path(name).name} 的大小是 {img.GetSize()}, 而 {Path(data_files[0]).name} 的是 "
                               f"{ref.GetSize()}"))
        elif not np.allclose(img.GetSpacing(), ref.GetSpacing(), rtol=0, atol=1e-4):
            problems.append(tr(f"{Path(name).name} has spacing {img.GetSpacing()} but {Path(data_files[0]).name} "
                               f"has {ref.GetSpacing()}",
                               f"{Path(name).name} 的 spacing 是 {img.GetSpacing()}, 而 {Path(data_files[0]).name} "
                               f"的是 {ref.GetSpacing()}"))
    if problems:
        raise DatasetError(tr(f"case {case}: images and labels differ in geometry: ",
                              f"病例 {case}: 图像与标注的几何信息不一致: ") + "; ".join(problems),
                           fix=tr("resample/re-export the files so that all modalities and the label share one grid",
                                  "请重采样/重新导出这些文件, 使所有模态和标注位于同一个网格上"))


@mirrors("nnunet.preprocessing.cropping:ImageCropper.crop")
def crop(data: np.ndarray, properties: OrderedDict, seg: np.ndarray | None = None, *,
         case: str | None = None) -> tuple[np.ndarray, np.ndarray, OrderedDict]:
    """Crop to nonzero and add ``crop_bbox``, ``classes`` (labels incl. -1) and ``size_after_cropping``."""
    data, seg, bbox = crop_to_nonzero(data, seg, nonzero_label=-1, case=case)
    properties["crop_bbox"] = bbox
    properties["classes"] = np.unique(seg)
    seg[seg < -1] = 0
    properties["size_after_cropping"] = data[0].shape
    return data, seg, properties


def check_labels(case: str, seg_classes: np.ndarray, declared: Sequence[int], seg_file: str | None) -> None:
    """Refuse labels not declared in dataset.json (v1 would silently ignore them when sampling classes)."""
    present = {int(c) for c in seg_classes if c >= 0}
    extra = sorted(present - {int(d) for d in declared})
    if extra:
        label_file = Path(seg_file).name if seg_file else "?"
        listed = sorted(int(d) for d in declared)
        raise DatasetError(tr(f"case {case}: label file {label_file} contains label(s) {extra} not declared in "
                              f"dataset.json 'labels' (declared: {listed})",
                              f"病例 {case}: 标注文件 {label_file} 中含有 dataset.json 的 'labels' 没有声明的标签 "
                              f"{extra}(已声明的: {listed})"),
                           fix=tr("add the labels to dataset.json or correct the label file",
                                  "请把这些标签加到 dataset.json 中, 或修正标注文件"))


def crop_case(data_files: Sequence[str], seg_file: str | None, case: str,
              declared_labels: Sequence[int] | None = None) -> tuple[np.ndarray, OrderedDict]:
    """Load and crop one case; returns ``(all_data, properties)`` with ``all_data = vstack(data, seg)``."""
    data, seg, properties = load_case_from_list_of_files(list(data_files), seg_file, case=case)
    data, seg, properties = crop(data, properties, seg, case=case)
    if declared_labels is not None:
        check_labels(case, properties["classes"], declared_labels, seg_file)
    return np.vstack((data, seg)), properties
