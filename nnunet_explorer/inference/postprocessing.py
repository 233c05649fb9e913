"""Postprocessing by connected components: v1's ``determine_postprocessing`` and its one operation.

The operation (:func:`remove_all_but_the_largest_connected_component`): for a label (or a group of labels
treated as one region), find the face-connected components (6-neighbourhood in 3D, ``scipy.ndimage.label``'s
default) and set every component that is not the largest to background. Ties for the largest all survive.

The decision (:func:`determine_postprocessing`, run on each fold's validation predictions):

* **Step A** — all foreground labels as *one* region: keep only its largest component in every case and
  re-score. Adopt it (``for_which_classes`` gets the list of all foreground labels) if at least one label's
  mean Dice improves by more than ``dice_threshold`` **and** no label gets worse.
* **Step B** (only with more than one foreground label) — starting from Step A's output if adopted, else the
  raw predictions, keep the largest component of each label separately; adopt it for every label whose mean
  Dice improves by more than ``dice_threshold``.
* Apply the final ``for_which_classes`` to the raw predictions into ``<final_subf_name>/``, score them, and
  write ``postprocessing.json`` (per fold). ``nnUNet_predict`` reads only the model folder's
  ``postprocessing.json``, which :func:`consolidate_folds` decides afresh over all folds' validation
  predictions pooled (``nnUNet_determine_postprocessing``); without it prediction skips postprocessing.

A label absent everywhere has a NaN mean Dice; comparisons with NaN are False, so it never counts as improved
or worse and Step B never adopts it on its own. Step A can still include it: when another label improves and
none gets worse, ``for_which_classes`` gets the list of *all* foreground labels, the NaN one with them.
"""
from __future__ import annotations

import ast
import os
import shutil
from copy import deepcopy
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..fileio import load_json, write_json
from ..language import tr
from ..provenance import mirrors
from .evaluation import aggregate_scores
from .export import write_nifti_atomic


@mirrors("nnunet.postprocessing.connected_components:remove_all_but_the_largest_connected_component")
def remove_all_but_the_largest_connected_component(image: np.ndarray, for_which_classes: Sequence | None,
                                                   volume_per_voxel: float,
                                                   min_valid_object_size: Mapping | None = None
                                                   ) -> tuple[np.ndarray, dict, dict]:
    """Keep only the largest connected component of each entry of ``for_which_classes`` (in place).

    Args:
        image: label map (z, y, x); modified in place and returned.
        for_which_classes: entries are a label (``2``) or a group (``[1, 2]`` / ``(1, 2)``: the union is one
            region). None: every foreground label present, separately. Background (0) is not allowed.
        volume_per_voxel: voxel volume (product of the spacing); component sizes are counts times this.
        min_valid_object_size: optional ``{entry: size}``; then only non-largest components *smaller* than the
            size are removed.

    Returns:
        ``(image, largest_removed, kept_size)``: per entry the largest removed size and the kept size (None
        when nothing was removed / present).
    """
    if for_which_classes is None:
        present = np.unique(image)
        for_which_classes = present[present > 0]
    if any((not isinstance(c, (list, tuple)) and c == 0) for c in for_which_classes):
        raise ValueError("cannot remove background: 0 may not be in for_which_classes")
    from scipy.ndimage import label as connected_components

    largest_removed: dict = {}
    kept_size: dict = {}
    for c in for_which_classes:
        if isinstance(c, (list, tuple)):
            c = tuple(c)  # a group is one joint region; tuples can be dict keys
            mask = np.isin(image, list(c))
        else:
            mask = image == c
        lmap, num_objects = connected_components(mask.astype(int))
        sizes = {i: (lmap == i).sum() * volume_per_voxel for i in range(1, num_objects + 1)}
        largest_removed[c] = None
        kept_size[c] = None
        if num_objects > 0:
            maximum = max(sizes.values())
            kept_size[c] = maximum
            for object_id, size in sizes.items():
                if size == maximum:
                    continue  # every component as large as the largest survives
                if min_valid_object_size is not None and not size < min_valid_object_size[c]:
                    continue
                image[(lmap == object_id) & mask] = 0
                largest_removed[c] = size if largest_removed[c] is None else max(largest_removed[c], size)
    return image, largest_removed, kept_size


@mirrors("nnunet.postprocessing.connected_components:load_remove_save")
def load_remove_save(input_file: str | os.PathLike, output_file: str | os.PathLike, for_which_classes: Sequence,
                     min_valid_object_size: Mapping | None = None) -> tuple[dict, dict]:
    """Read a label NIfTI, apply :func:`remove_all_but_the_largest_connected_component`, write it (same geometry)."""
    import SimpleITK as sitk

    img = sitk.ReadImage(str(input_file))
    array = sitk.GetArrayFromImage(img)
    volume_per_voxel = float(np.prod(img.GetSpacing(), dtype=np.float64))
    array, largest_removed, kept_size = remove_all_but_the_largest_connected_component(
        array, for_which_classes, volume_per_voxel, min_valid_object_size)
    write_nifti_atomic(array, output_file, img.GetSpacing(), img.GetOrigin(), img.GetDirection())
    return largest_removed, kept_size


@mirrors("nnunet.postprocessing.connected_components:load_postprocessing")
def load_postprocessing(json_file: str | os.PathLike) -> tuple[list, dict | None]:
    """``(for_which_classes, min_valid_object_sizes)`` from a ``postprocessing.json``."""
    data = load_json(json_file)
    sizes = ast.literal_eval(data["min_valid_object_sizes"]) if "min_valid_object_sizes" in data else None
    return data["for_which_classes"], sizes


def _nii_files(folder: Path) -> list[str]:
    return sorted(f.name for f in folder.iterdir() if f.is_file() and f.name.endswith(".nii.gz"))


def _apply_to_folder(source: Path, target: Path, files: Sequence[str], for_which_classes: Sequence,
                     min_sizes: Mapping | None, gt_labels_folder: Path) -> list[list[str]]:
    target.mkdir(parents=True, exist_ok=True)
    pairs = []
    for f in files:
        load_remove_save(source / f, target / f, for_which_classes, min_sizes)
        pairs.append([str(target / f), str(gt_labels_folder / f)])
    return pairs


@mirrors("nnunet.postprocessing.connected_components:determine_postprocessing")
def determine_postprocessing(base: str | os.PathLike, gt_labels_folder: str | os.PathLike,
                             raw_subfolder_name: str = "validation_raw", temp_folder: str = "temp",
                             final_subf_name: str = "validation_final", *, dice_threshold: float = 0,
                             debug: bool = False, pp_filename: str = "postprocessing.json",
                             processes: int | None = None) -> dict:
    """Decide which labels benefit from keeping only their largest component; write ``postprocessing.json``.

    Needs ``base/<raw_subfolder_name>/summary.json`` (from validation) and the raw predictions next to it.
    Writes ``base/<final_subf_name>/`` (postprocessed predictions + ``summary.json``) and
    ``base/<pp_filename>`` with v1's keys: ``dc_per_class_raw``, ``dc_per_class_pp_all``,
    ``dc_per_class_pp_per_class``, ``for_which_classes``, ``min_valid_object_sizes`` (``"None"``),
    ``num_samples``, ``validation_raw``, ``validation_final``. The temporary folders
    ``<temp_folder>_allClasses`` / ``_perClass`` are removed unless ``debug``.

    ``processes`` is accepted for v1's signature and ignored (cases are processed in this process).

    Returns:
        The dict written to ``postprocessing.json``.
    """
    # differs from v1: the advanced mode (min_valid_object_sizes learned from the data) is not offered; v1's
    # default (advanced_postprocessing=False) is what its training and nnUNet_predict use.
    base, gt_labels_folder = Path(base), Path(gt_labels_folder)
    raw = base / raw_subfolder_name
    if not (raw / "summary.json").is_file():
        from ..errors import ExplorerError

        raise ExplorerError(tr(f"{raw} does not contain a summary.json", f"{raw} 中没有 summary.json"),
                            fix=tr("run validation (it scores the raw predictions) before determining postprocessing",
                                   "请先运行验证(它为原始预测打分), 再确定后处理"))
    raw_summary = load_json(raw / "summary.json")["results"]
    classes = [int(k) for k in raw_summary["mean"].keys() if int(k) != 0]
    folder_all = base / f"{temp_folder}_allClasses"
    folder_per_class = base / f"{temp_folder}_perClass"
    for folder in (folder_all, folder_per_class):
        if folder.is_dir():
            shutil.rmtree(folder)
    files = _nii_files(raw)
    (base / final_subf_name).mkdir(parents=True, exist_ok=True)

    pp: dict[str, Any] = {"dc_per_class_raw": {}, "dc_per_class_pp_all": {}, "dc_per_class_pp_per_class": {},
                          "for_which_classes": [], "min_valid_object_sizes": {},
                          "num_samples": len(raw_summary["all"])}
    raw_mean = raw_summary["mean"]

    # Step A: all foreground labels as one region
    pairs = _apply_to_folder(raw, folder_all, files, (classes,), None, gt_labels_folder)
    aggregate_scores(pairs, labels=classes, json_output_file=folder_all / "summary.json")
    pp_all_mean = load_json(folder_all / "summary.json")["results"]["mean"]
    for c in classes:
        pp["dc_per_class_raw"][str(c)] = raw_mean[str(c)]["Dice"]
        pp["dc_per_class_pp_all"][str(c)] = pp_all_mean[str(c)]["Dice"]
    improved = [pp["dc_per_class_pp_all"][str(c)] > pp["dc_per_class_raw"][str(c)] + dice_threshold for c in classes]
    do_fg_cc = False
    if any(improved):
        worse = [pp["dc_per_class_pp_all"][str(c)] < pp["dc_per_class_raw"][str(c)] for c in classes]
        if not any(worse):
            pp["for_which_classes"].append(classes)
            do_fg_cc = True

    # Step B: each label separately (only meaningful with several labels)
    if len(classes) > 1:
        source = folder_all if do_fg_cc else raw
        pairs = _apply_to_folder(source, folder_per_class, files, classes, None, gt_labels_folder)
        aggregate_scores(pairs, labels=classes, json_output_file=folder_per_class / "summary.json")
        old = deepcopy(pp_all_mean) if do_fg_cc else raw_mean
        per_class_mean = load_json(folder_per_class / "summary.json")["results"]["mean"]
        for c in classes:
            dc_before, dc_after = old[str(c)]["Dice"], per_class_mean[str(c)]["Dice"]
            pp["dc_per_class_pp_per_class"][str(c)] = dc_after
            if dc_after > dc_before + dice_threshold:
                pp["for_which_classes"].append(int(c))

    pp["min_valid_object_sizes"] = None
    pp["validation_raw"] = raw_subfolder_name
    pp["validation_final"] = final_subf_name
    final = base / final_subf_name
    pairs = _apply_to_folder(raw, final, files, pp["for_which_classes"], None, gt_labels_folder)
    aggregate_scores(pairs, labels=classes, json_output_file=final / "summary.json")
    pp["min_valid_object_sizes"] = str(pp["min_valid_object_sizes"])
    write_json(pp, base / pp_filename)
    if not debug:
        shutil.rmtree(folder_per_class, ignore_errors=True)
        shutil.rmtree(folder_all, ignore_errors=True)
    return pp


def apply_postprocessing_to_folder(input_folder: str | os.PathLike, output_folder: str | os.PathLike,
                                   for_which_classes: Sequence, min_valid_object_size: Mapping | None = None,
                                   files: Sequence[str] | None = None) -> list[str]:
    """Apply a ``for_which_classes`` decision to NIfTI files of a folder (in place when the folders match)."""
    input_folder, output_folder = Path(input_folder), Path(output_folder)
    output_folder.mkdir(parents=True, exist_ok=True)
    names = list(files) if files is not None else _nii_files(input_folder)
    for name in names:
        load_remove_save(input_folder / name, output_folder / name, for_which_classes, min_valid_object_size)
    return names


@mirrors("nnunet.postprocessing.consolidate_postprocessing:consolidate_folds")
def consolidate_folds(output_folder_base: str | os.PathLike, validation_folder_name: str = "validation_raw",
                      folds: Sequence[int] = (0, 1, 2, 3, 4)) -> dict:
    """Decide postprocessing once for the whole cross-validation; writes the model folder's ``postprocessing.json``.

    Each fold decided postprocessing on its own validation cases only, and folds may disagree. After all
    folds are trained, v1 collects every fold's raw validation predictions into ``cv_niftis_raw/``, scores them
    against ``gt_niftis/`` (labels from fold 0's ``summary.json``), and runs :func:`determine_postprocessing`
    on them (final folder ``cv_niftis_postprocessed``). The resulting ``<output_folder_base>/postprocessing.json``
    is what ``nnUNet_predict`` applies.

    Raises:
        ExplorerError: a fold's validation folder is missing, or the collected predictions do not cover every
            reference label file (not all folds were trained/validated).
    """
    from ..errors import ExplorerError

    base = Path(output_folder_base)
    folders = [base / f"fold_{int(f)}" / validation_folder_name for f in folds]
    missing = [int(f) for f, folder in zip(folds, folders) if not folder.is_dir()]
    if missing:
        raise ExplorerError(tr(f"fold(s) {missing} have no {validation_folder_name} folder in {base}",
                               f"{base} 中的 fold {missing} 没有 {validation_folder_name} 文件夹"),
                            fix=tr("train and validate every fold of the cross-validation first",
                                   "请先训练并验证交叉验证的每一折"))
    raw = base / "cv_niftis_raw"
    if raw.is_dir():
        shutil.rmtree(raw)
    raw.mkdir(parents=True)
    for folder in folders:
        for name in _nii_files(folder):
            shutil.copyfile(folder / name, raw / name)
    gt = base / "gt_niftis"
    num_gt = len(_nii_files(gt)) if gt.is_dir() else 0
    names = _nii_files(raw)
    if len(names) != num_gt:
        raise ExplorerError(tr(f"the folds' validation predictions cover {len(names)} case(s) but {gt} holds "
                               f"{num_gt}",
                               f"各折的验证预测覆盖了 {len(names)} 个病例, 但 {gt} 中有 {num_gt} 个"),
                            fix=tr("train and validate all folds first (each fold's validation copies the reference "
                                   "labels into gt_niftis)",
                                   "请先训练并验证所有折(每一折的验证都会把参考标注复制到 gt_niftis)"))
    classes = [int(k) for k in load_json(base / "fold_0" / validation_folder_name / "summary.json")
               ["results"]["mean"].keys()]
    aggregate_scores([(str(raw / n), str(gt / n)) for n in names], labels=classes,
                     json_output_file=raw / "summary.json")
    return determine_postprocessing(base, gt, "cv_niftis_raw", final_subf_name="cv_niftis_postprocessed")
