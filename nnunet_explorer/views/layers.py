"""Viewer layers for nnU-Net v1 artefacts, built without napari: data, display options and kind.

Every function here returns :class:`LayerSpec` records (plain numpy data plus the keyword arguments a viewer
needs), so the layer building is testable without a display, and the napari plugin
(:mod:`nnunet_explorer.views.napari`) only turns each record into ``viewer.add_<kind>(data, **meta)``.

World space. All layers of one case share napari's world coordinates, in millimetres, z-y-x order (numpy
order, the reverse of ITK's x-y-z): ``scale`` is the voxel spacing, ``translate`` the position of voxel
``(0, 0, 0)``'s centre. The ITK direction matrix is not applied (napari has no rotation per layer here), so this
is exact for axis-aligned inputs (up to axis flips). v1 itself works in voxel space and copies each input's
direction onto its outputs, which can be oblique: for such cases use the views that place layers with the ITK
direction (:mod:`~nnunet_explorer.views.validation_case`).

* A raw case (``imagesTr/CASE_XXXX.nii.gz`` + ``labelsTr/CASE.nii.gz``) sits at its ITK origin.
* A cropped case (``nnUNet_cropped_data/Task/CASE.npz`` + ``CASE.pkl``) is the raw case cut to the nonzero
  bounding box ``crop_bbox``: voxel ``(0, 0, 0)`` is raw voxel ``crop_bbox[:, 0]``, so it lands on the raw case.
* A preprocessed case (``nnUNet_preprocessed/Task/<data_identifier>_stage<k>/CASE.npz``) is the crop resampled to
  ``spacing_after_resampling``. v1 resizes (the image with skimage's ``resize``, the label with batchgenerators'
  ``resize_segmentation``; for anisotropic cases in-plane slice by slice, then along the coarse axis with
  ``map_coordinates``, order 0 by default) so that the *outer edges* of the crop stay put; the exact voxel size is
  therefore ``original_spacing * size_after_cropping / size_after_resampling`` (close to, but not always equal to, the
  target spacing, because the shape was rounded).
* A deep-supervision output ``i`` has been pooled by ``1 / ds_scales[i]`` per axis; its voxel ``j`` covers input
  voxels ``f*j .. f*j + f - 1``, so its centre is shifted by ``(f - 1) / 2`` input voxels.

The segmentation channel of a cropped or preprocessed case holds ``-1`` outside the nonzero mask (v1's
convention); it is shown as is, so a learner sees where normalisation and padding treat voxels differently.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..errors import DatasetError, ExplorerError
from ..fileio import load_json, load_pickle
from ..language import tr
# the one Dice and error map (re-exported: the layers' numbers are the evaluation module's)
from ..inference.evaluation import (ERROR_NAMES, FALSE_NEGATIVE, FALSE_POSITIVE, WRONG_CLASS, dice_per_class,
                                    error_map)
from .layer_spec import (ERROR_COLORS, GROUND_TRUTH_NAMES, LAYER_KINDS, NIFTI_SUFFIX, LayerSpec, _image, _labels,
                         _error_colormap, find_ground_truth_folder, prediction_folder_cases, prediction_layers)
from .validation_case import validation_case_layers

TILE_COLORS = ("yellow", "cyan", "magenta", "lime", "orange", "deepskyblue", "red", "white")


def _label_names(dataset: Mapping | None) -> dict[int, str]:
    if not dataset or "labels" not in dataset:
        return {}
    return {int(k): str(v) for k, v in dataset["labels"].items()}


def _modality_names(dataset: Mapping | None, count: int) -> list[str]:
    names = {int(k): str(v) for k, v in (dataset or {}).get("modality", {}).items()}
    return [names.get(c, tr(f"channel {c}", f"通道 {c}")) for c in range(count)]


# --- NIfTI --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Volume:
    """A NIfTI image as numpy: ``array`` (z, y, x), ``spacing`` and ``origin`` in z-y-x order (mm)."""

    array: np.ndarray
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    path: str = ""


def read_volume(path: str | os.PathLike) -> Volume:
    """Read a NIfTI file with SimpleITK into z-y-x numpy order (spacing and origin reversed from ITK's x-y-z).

    Raises:
        DatasetError: the file does not exist or SimpleITK cannot read it.
    """
    import SimpleITK as sitk  # imported lazily: only the NIfTI readers need it

    path = Path(path)
    if not path.is_file():
        raise DatasetError(tr(f"{path} does not exist", f"{path} 不存在"),
                           fix=tr("check the path (v1 images end in _XXXX.nii.gz)",
                                  "请检查路径（v1 的图像文件名以 _XXXX.nii.gz 结尾）"))
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise DatasetError(tr(f"{path} could not be read as an image: {exc}", f"{path} 无法作为图像读取：{exc}").strip(),
                           fix=tr("check that the file is a complete NIfTI file",
                                  "请检查该文件是否是完整的 NIfTI 文件")) from exc
    return Volume(sitk.GetArrayFromImage(image), tuple(image.GetSpacing())[::-1], tuple(image.GetOrigin())[::-1],
                  str(path))


def _find_task_dir(path: Path) -> Path | None:
    for folder in (path.parent.parent, path.parent):
        if (folder / "dataset.json").is_file():
            return folder
    return None


def raw_case_layers(task_dir: str | os.PathLike, case_id: str | None = None) -> list[LayerSpec]:
    """Layers of one raw v1 case: every modality as an image, the label (if any) as labels, in mm at the origin.

    ``case_id`` defaults to the first training case of ``dataset.json``. Test cases (``imagesTs/``) are found
    too; their label is taken from ``labelsTs/`` when present (the real sample ships one).

    Raises:
        DatasetError: no ``dataset.json`` in ``task_dir``, or the case has no image files.
    """
    from ..tasks import listed_test_cases, load_dataset_json, training_cases

    task_dir = Path(task_dir)
    dataset = load_dataset_json(task_dir)
    train = {c.case_id: (c.images, c.label) for c in training_cases(task_dir, dataset)}
    test = {case: (images, task_dir / "labelsTs" / f"{case}{NIFTI_SUFFIX}")
            for case, images in listed_test_cases(task_dir, dataset)}
    if case_id is None:
        if not train and not test:
            raise DatasetError(tr(f"{task_dir / 'dataset.json'} lists no case",
                                  f"{task_dir / 'dataset.json'} 中没有列出任何病例"),
                               fix=tr("list the cases in 'training'", "请在 'training' 中列出病例"))
        case_id = next(iter(train or test))
    if case_id not in train and case_id not in test:
        known = ", ".join(list(train)[:5] + list(test)[:3])
        raise DatasetError(tr(f"case {case_id!r} is not listed in {task_dir / 'dataset.json'}",
                              f"病例 {case_id!r} 没有列在 {task_dir / 'dataset.json'} 中"),
                           fix=tr(f"choose one of {known} ...", f"请从 {known} ... 中选择一个"))
    images, label = train.get(case_id) or test[case_id]
    names = _modality_names(dataset, len(images))
    layers: list[LayerSpec] = []
    for index, (image_path, modality) in enumerate(zip(images, names)):
        vol = read_volume(image_path)
        layers.append(_image(f"{case_id} {modality}", vol.array.astype(np.float32), scale=vol.spacing,
                             translate=vol.origin, colormap="gray", blending="additive" if index else "translucent",
                             visible=index == 0,
                             metadata={"source": str(image_path), "case_id": case_id, "stage": "raw",
                                       "modality": modality}))
    if label.is_file():
        vol = read_volume(label)
        layers.append(_labels(tr(f"{case_id} label", f"{case_id} 标注"), vol.array, scale=vol.spacing,
                              translate=vol.origin, opacity=0.5,
                              metadata={"source": str(label), "case_id": case_id, "stage": "raw",
                                        "label_names": _label_names(dataset)}))
    return layers


def raw_file_layers(path: str | os.PathLike) -> list[LayerSpec]:
    """Layers for a NIfTI file: its whole v1 case if it lies in a task's ``imagesTr/imagesTs/labelsTr/labelsTs``.

    ``imagesTr/la_003_0001.nii.gz`` → all modalities and the label of ``la_003``; any other NIfTI is shown
    alone (labels if it holds few integer values, else an image).
    """
    path = Path(path)
    task_dir = _find_task_dir(path)
    name = path.name[:-len(NIFTI_SUFFIX)] if path.name.endswith(NIFTI_SUFFIX) else path.stem
    if task_dir is not None and path.parent.name in ("imagesTr", "imagesTs", "labelsTr", "labelsTs"):
        case = name[:-5] if path.parent.name.startswith("images") and name[-5:-4] == "_" else name
        try:
            return raw_case_layers(task_dir, case)
        except DatasetError:
            pass  # not listed in dataset.json: fall back to the file alone
    vol = read_volume(path)
    meta = {"source": str(path), "case_id": name}
    if _looks_like_labels(vol.array):
        return [_labels(name, vol.array, scale=vol.spacing, translate=vol.origin, metadata=meta, opacity=0.5)]
    return [_image(name, vol.array.astype(np.float32), scale=vol.spacing, translate=vol.origin, metadata=meta)]


def _looks_like_labels(array: np.ndarray) -> bool:
    if not np.issubdtype(array.dtype, np.integer) and not np.all(np.mod(array, 1) == 0):
        return False
    return np.unique(array).size <= 32


# --- cropped and preprocessed cases ---------------------------------------------------------------------

@dataclass(frozen=True)
class CaseGeometry:
    """Where a cropped or preprocessed case sits in the raw case's world (mm, z-y-x; see the module docstring).

    ``axes`` lists, for each array axis, the raw axis it came from (``transpose_forward``; identity unless the
    plans transposed the data so that the lowest-resolution axis comes first).
    """

    stage: str
    scale: tuple[float, ...]
    translate: tuple[float, ...]
    axes: tuple[int, ...]


def case_geometry(properties: Mapping[str, Any], array_shape: Sequence[int],
                  transpose_forward: Sequence[int] | None = None) -> CaseGeometry:
    """Voxel size and position of a ``CASE.npz`` array from its ``CASE.pkl`` (cropped or preprocessed).

    Cropped (no ``spacing_after_resampling``): scale = ``original_spacing``; voxel 0 = raw voxel
    ``crop_bbox[:, 0]``. Preprocessed: the crop's extent is resampled to ``array_shape``, so the voxel size is
    ``original_spacing * size_after_cropping / shape`` and voxel 0's centre sits half a new voxel inside the
    crop's outer edge. ``array_shape`` is the spatial shape (z, y, x) of the stored array (transposed by
    ``transpose_forward`` for preprocessed data).
    """
    spacing = np.asarray(properties.get("original_spacing", np.ones(len(array_shape))), dtype=float)
    origin = np.asarray(properties.get("itk_origin", np.zeros(len(spacing))), dtype=float)[::-1]
    bbox = properties.get("crop_bbox")
    lower = np.array([b[0] for b in bbox], dtype=float) if bbox is not None else np.zeros(len(spacing))
    crop_edge = origin + (lower - 0.5) * spacing  # outer edge of the crop, in raw order
    if "spacing_after_resampling" not in properties:
        axes = tuple(range(len(spacing)))
        return CaseGeometry("cropped", tuple(float(v) for v in spacing),
                            tuple(float(v) for v in origin + lower * spacing), axes)
    axes = tuple(int(a) for a in (transpose_forward if transpose_forward is not None else range(len(spacing))))
    cropped = np.asarray(properties.get("size_after_cropping", array_shape), dtype=float)[list(axes)]
    voxel = spacing[list(axes)] * cropped / np.asarray(array_shape, dtype=float)
    return CaseGeometry("preprocessed", tuple(float(v) for v in voxel),
                        tuple(float(v) for v in crop_edge[list(axes)] + voxel / 2), axes)


def _plans_transpose(folder: Path) -> tuple[int, ...] | None:
    """``transpose_forward`` from a plans file next to a stage folder (preprocessed layout), if any."""
    for name in ("nnUNetPlansv2.1_plans_3D.pkl", "nnUNetPlansv2.1_plans_2D.pkl"):
        for candidate in (folder.parent / name, folder / name):
            if candidate.is_file():
                try:
                    return tuple(int(v) for v in load_pickle(candidate)["transpose_forward"])
                except (ExplorerError, KeyError, TypeError):
                    return None
    return None


def _dataset_json_near(folder: Path) -> dict | None:
    for candidate in (folder / "dataset.json", folder.parent / "dataset.json"):
        if candidate.is_file():
            try:
                return load_json(candidate)
            except (ExplorerError, ValueError):
                return None
    return None


def load_case_array(path: str | os.PathLike) -> tuple[np.ndarray, dict, Path]:
    """Read ``CASE.npz`` (key ``data``), ``CASE.npy`` or the array next to ``CASE.pkl``, and the properties.

    Returns ``(array (C + 1, z, y, x) float32, properties, case_npz_or_npy_path)``.

    Raises:
        DatasetError: the array or the ``.pkl`` is missing, or the ``.npz`` has no ``data`` key.
    """
    path = Path(path)
    stem = path.with_suffix("")
    candidates = [path] if path.suffix in (".npz", ".npy") else [stem.with_suffix(".npy"), stem.with_suffix(".npz")]
    array_path = next((c for c in candidates if c.is_file()), None)
    if array_path is None:
        raise DatasetError(tr(f"no CASE.npz / CASE.npy for {path}", f"找不到 {path} 的 CASE.npz / CASE.npy"),
                           fix=tr("open the .npz (or .npy) of a cropped or preprocessed case; its .pkl must lie "
                                  "next to it", "请打开一个裁剪后或预处理后病例的 .npz（或 .npy）；它的 .pkl "
                                  "必须放在同一个文件夹中"))
    pkl = stem.with_suffix(".pkl")
    if not pkl.is_file():
        raise DatasetError(tr(f"{pkl} is missing (the properties of {array_path.name})",
                              f"缺少 {pkl}（{array_path.name} 的属性）"),
                           fix=tr("v1 writes CASE.pkl next to CASE.npz; run cropping/preprocessing again",
                                  "v1 会把 CASE.pkl 写在 CASE.npz 旁边；请重新运行裁剪/预处理"))
    properties = load_pickle(pkl)
    if array_path.suffix == ".npz":
        with np.load(array_path) as archive:
            if "data" not in archive:
                raise DatasetError(tr(f"{array_path} has no 'data' array (keys: {list(archive.keys())})",
                                      f"{array_path} 中没有 'data' 数组（键：{list(archive.keys())}）"),
                                   fix=tr("v1 stores cases with np.savez_compressed(file, data=...)",
                                          "v1 用 np.savez_compressed(file, data=...) 保存病例"))
            array = archive["data"]
    else:
        array = np.load(array_path, mmap_mode="r")
    return np.asarray(array), properties, array_path


def case_layers(path: str | os.PathLike, *, transpose_forward: Sequence[int] | None = None,
                show_class_locations: bool = True) -> list[LayerSpec]:
    """Layers of a cropped or preprocessed case: each data channel an image, the seg channel labels, in mm.

    Args:
        path: ``CASE.npz``, ``CASE.npy`` or ``CASE.pkl``.
        transpose_forward: the plans' axis order; default: read from a plans file next to the stage folder.
        show_class_locations: add the stored foreground voxels (``class_locations``: up to 10 000 per class, all
            of them when the class has fewer, but at least 1 % of the class's voxels; what forced-foreground
            sampling centres on) as a points layer.
    """
    array, properties, array_path = load_case_array(path)
    case_id = array_path.stem
    folder = array_path.parent
    if transpose_forward is None and "spacing_after_resampling" in properties:
        transpose_forward = _plans_transpose(folder)
    geometry = case_geometry(properties, array.shape[1:], transpose_forward)
    dataset = _dataset_json_near(folder)
    names = _modality_names(dataset, array.shape[0] - 1)
    common = {"case_id": case_id, "stage": geometry.stage, "source": str(array_path), "axes": geometry.axes}
    layers = []
    for c in range(array.shape[0] - 1):
        layers.append(_image(f"{case_id} {names[c]} ({geometry.stage})", np.asarray(array[c], dtype=np.float32),
                             scale=geometry.scale, translate=geometry.translate, colormap="gray",
                             blending="additive" if c else "translucent", visible=c == 0,
                             metadata={**common, "modality": names[c], "channel": c}))
    layers.append(_labels(f"{case_id} seg ({geometry.stage})", np.asarray(array[-1]), scale=geometry.scale,
                          translate=geometry.translate, opacity=0.5,
                          metadata={**common, "label_names": _label_names(dataset),
                                    "note": "-1 marks voxels inside the crop box but outside the nonzero mask (v1)"}))
    locations = properties.get("class_locations") if show_class_locations else None
    if locations:
        points, classes = [], []
        for cls, voxels in locations.items():
            voxels = np.asarray(voxels)
            if voxels.size:
                points.append(voxels[:, :array.ndim - 1].astype(float))
                classes.extend([int(cls)] * len(voxels))
        if points:
            layers.append(LayerSpec(f"{case_id} class_locations", "points", np.concatenate(points), {
                "scale": geometry.scale, "translate": geometry.translate, "size": 1.0, "visible": False,
                "features": {"class": np.array(classes)}, "face_color": "white", "border_width": 0,
                "metadata": {**common, "note": "stored voxels per foreground class; forced-foreground patches "
                                               "are centred on one of them (shifted when it lies near an axis's lower "
                                               "border)"}}))
    return layers


# --- batches --------------------------------------------------------------------------------------------

def _numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def describe_provenance(provenance: Any) -> str:
    """One line for a :class:`~nnunet_explorer.training.dataloading.SampleProvenance`."""
    if provenance is None:
        return "no provenance"
    box = " x ".join(f"{lb}:{ub}" for lb, ub in provenance.box)
    forced = (f"forced foreground, class {provenance.forced_class} at {list(provenance.center_voxel)}"
              if provenance.forced and provenance.forced_class is not None else
              "forced foreground (no foreground: random box)" if provenance.forced else "random box")
    pad = ", padded" if provenance.padded else ""
    return f"{provenance.case_id} {list(provenance.case_shape)}: box {box}, {forced}{pad}"


def batch_layers(batch: Any, *, spacing: Sequence[float] | None = None, label_names: Mapping[int, str] | None = None,
                 modality_names: Sequence[str] | None = None) -> list[LayerSpec]:
    """Every sample of a batch: one image layer per channel and one labels layer, the sample as first axis.

    Args:
        batch: a loader or augmented batch dict (``data (b, C, *spatial)``, ``seg`` or ``target``: an array
            ``(b, 1, *spatial)`` or, with deep supervision, a list whose first entry is full resolution;
            optional ``keys`` and ``provenance``) or the walkthrough's ``Batch`` record.
        spacing: voxel size of the patch (the stage's target spacing), z-y-x; 1 if unknown.

    The first axis of each layer is the sample index (the slider "sample"); ``metadata['provenance']`` holds
    one line per sample (case, box, forced foreground, padding).
    """
    data, seg, keys, provenance = _batch_parts(batch)
    spatial = data.shape[2:]
    scale = (1.0,) + tuple(float(s) for s in (spacing if spacing is not None else [1.0] * len(spatial)))
    lines = [describe_provenance(p) for p in provenance] if provenance else [str(k) for k in keys]
    meta = {"keys": [str(k) for k in keys], "provenance": lines, "axis_0": "sample"}
    names = list(modality_names) if modality_names else [tr(f"channel {c}", f"通道 {c}") for c in range(data.shape[1])]
    layers = [_image(f"batch {names[c]}", data[:, c].astype(np.float32), scale=scale, colormap="gray",
                     blending="additive" if c else "translucent", visible=c == 0, metadata=meta)
              for c in range(data.shape[1])]
    if seg is not None:
        layers.append(_labels("batch seg", seg[:, 0], scale=scale, opacity=0.5,
                              metadata={**meta, "label_names": dict(label_names or {})}))
    return layers


def _batch_parts(batch: Any) -> tuple[np.ndarray, np.ndarray | None, list, list]:
    if isinstance(batch, Mapping):
        data = _numpy(batch["data"])
        seg = batch.get("target", batch.get("seg"))
        keys = list(batch.get("keys") if batch.get("keys") is not None else [])
        provenance = list(batch.get("provenance") or [])
    elif hasattr(batch, "data") and hasattr(batch, "target"):
        data, seg = _numpy(batch.data), batch.target
        keys, provenance = list(getattr(batch, "keys", ())), list(getattr(batch, "provenance", ()) or ())
    else:
        raise TypeError(f"cannot show {type(batch).__name__} as a batch: expected a dict with 'data' or a Batch")
    if isinstance(seg, (list, tuple)):
        seg = seg[0] if seg else None
    return data, (None if seg is None else _numpy(seg)), keys, provenance


def trace_layers(trace: Any, *, spacing: Sequence[float] | None = None) -> list[LayerSpec]:
    """An :class:`~nnunet_explorer.training.augmentation.AugmentationTrace` as layers (input, then each step).

    Only the last step is visible; layers of random transforms that did not fire this time are marked
    ``(did not fire)`` (SpatialTransform still crops then). Cropped patches sit at the centre of the input.
    """
    fired = {f"{s.index:02d} {s.name}": s.fired for s in trace.steps}
    out = []
    entries = trace.layers()
    first = np.asarray(entries[0][1].shape, dtype=float)
    spacing_arr = np.asarray(spacing if spacing is not None else np.ones(len(first)), dtype=float)
    for i, (name, array, kind) in enumerate(entries):
        tag, what = name.rsplit(" ", 1)
        not_fired = tr(" (did not fire)", " (未触发)") if fired.get(tag) is False else ""
        make = _labels if kind == "labels" else _image
        # SpatialTransform cuts the network patch out of the centre of the loader's larger patch
        translate = (first - np.asarray(array.shape, dtype=float)) / 2 * spacing_arr
        shown = f"{tr('input', '输入') if tag == 'input' else tag} {tr('image', '图像') if what == 'image' else what}"
        out.append(make(f"{shown}{not_fired}", array, scale=spacing_arr, translate=translate,
                        visible=i >= len(entries) - 2,
                        metadata={"seed": trace.seed, "case_id": trace.case_id,
                                  "provenance": describe_provenance(trace.provenance)}))
    return out


# --- drawing batches with transforms toggled ------------------------------------------------------------

FORMAT_TRANSFORMS = ("SegChannelSelectionTransform", "DataChannelSelectionTransform", "Convert3DTo2DTransform",
                     "Convert2DTo3DTransform", "RemoveLabelTransform", "RenameTransform",
                     "DownsampleSegForDSTransform2", "NumpyToTensor", "MaskTransform", "MoveSegAsOneHotToData")


@dataclass(frozen=True)
class BatchSource:
    """What is needed to draw v1 training batches from a preprocessed stage folder.

    Build it with :func:`batch_source`; draw with :func:`draw_batch`.
    """

    folder: Path
    dataset: Mapping[str, dict] = field(repr=False)
    patch_size: tuple[int, ...]
    basic_generator_patch_size: tuple[int, ...]
    batch_size: int
    spacing: tuple[float, ...]
    transforms: tuple[Any, ...] = field(repr=False)
    deep_supervision_scales: tuple[tuple[float, ...], ...] | None
    pool_op_kernel_sizes: tuple[tuple[int, ...], ...]
    label_names: Mapping[int, str] = field(default_factory=dict)
    modality_names: tuple[str, ...] = ()
    processed: Any = field(default=None, repr=False)
    loader: Any = field(default=None, repr=False)  # the trainer's get_basic_generators training loader

    @property
    def transform_names(self) -> list[str]:
        from ..training.augmentation import _step_name

        return [f"{i:02d} {_step_name(t)}" for i, t in enumerate(self.transforms)]

    def is_toggleable(self, index: int) -> bool:
        """Whether transform ``index`` is an augmentation (may be switched off) rather than formatting."""
        return type(self.transforms[index]).__name__ not in FORMAT_TRANSFORMS


def batch_source(stage_folder: str | os.PathLike, *, plans_file: str | os.PathLike | None = None,
                 stage: int | None = None, batch_size: int | None = None,
                 trainer: str | type = "nnUNetTrainerV2") -> BatchSource:
    """Everything :func:`draw_batch` needs, read from a preprocessed stage folder and its plans, as ``trainer``
    sets it up (a registered trainer name or class: its v1 ``process_plans`` and ``setup_DA_params`` are called,
    so a user's overrides show in the batch).

    The plans default to ``nnUNetPlansv2.1_plans_3D.pkl`` (``_2D`` for a ``*_2D_stage0`` folder) one level up;
    the stage defaults to the folder name's ``stage<k>``. Patch sizes, deep-supervision scales and the moreDA
    transform list come from the trainer's own ``process_plans``, ``setup_DA_params`` and
    ``get_basic_generators`` (fold ``'all'``: every case of the folder) and
    :func:`~nnunet_explorer.training.augmentation.build_train_transforms`.
    """
    from ..network_training import find_trainer_class
    from ..training.augmentation import build_train_transforms
    from ..training.processed_plans import processed_from_trainer

    folder = Path(stage_folder)
    if plans_file is None:
        name = "nnUNetPlansv2.1_plans_2D.pkl" if "_2D_stage" in folder.name else "nnUNetPlansv2.1_plans_3D.pkl"
        plans_file = folder.parent / name
    plans_file = Path(plans_file)
    if not plans_file.is_file():
        raise DatasetError(tr(f"plans file {plans_file} not found for {folder}",
                              f"找不到 {folder} 的 plans 文件 {plans_file}"),
                           fix=tr("pass plans_file=... (the nnUNetPlans*.pkl that made this stage folder)",
                                  "请传入 plans_file=...（生成这个 stage 文件夹的 nnUNetPlans*.pkl）"))
    plans = load_pickle(plans_file)
    if stage is None:
        stage = int(folder.name.rsplit("stage", 1)[-1]) if "stage" in folder.name else 0
    cls = find_trainer_class(trainer) if isinstance(trainer, str) else trainer
    # the trainer's own v1 methods, as initialize calls them; fold 'all' (every case, no splits_final.pkl)
    instance = cls(str(plans_file), "all", dataset_directory=str(folder.parent),
                   stage=stage if len(plans["plans_per_stage"]) > 1 else None)
    with instance.explorer.muted_log():
        instance.process_plans(plans)
        instance.setup_DA_params()
        if batch_size:
            instance.batch_size = int(batch_size)
        instance.folder_with_preprocessed_data = str(folder)
        loader, _ = instance.get_basic_generators()  # the one place loaders are built
    processed = processed_from_trainer(instance)
    params = instance.data_aug_params
    scales = tuple(tuple(float(v) for v in s) for s in instance.deep_supervision_scales)
    transforms = build_train_transforms(params["patch_size_for_spatialtransform"], params, [list(s) for s in scales])
    spacing = tuple(float(s) for s in plans["plans_per_stage"][stage]["current_spacing"])
    dataset_json = _dataset_json_near(folder)
    return BatchSource(folder, instance.dataset_tr, tuple(processed.patch_size),
                       tuple(int(v) for v in instance.basic_generator_patch_size), int(instance.batch_size),
                       spacing[-len(processed.patch_size):], tuple(transforms), scales,
                       processed.net_num_pool_op_kernel_sizes, _label_names(dataset_json),
                       tuple(_modality_names(dataset_json, processed.num_input_channels)), processed, loader)


def source_network(source: BatchSource, *, seed: int = 0) -> Any:
    """A freshly initialised Generic_UNet for the stage's plans (deep supervision on), seeded with ``seed``.

    Untrained, its outputs are noise, but their number, shapes and alignment are those of the trained network.
    """
    import torch

    from ..training.generic_unet import build_network

    p = source.processed
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        return build_network(p.num_input_channels, p.base_num_features, p.num_classes,
                             p.net_num_pool_op_kernel_sizes, p.net_conv_kernel_sizes,
                             conv_per_stage=p.conv_per_stage, threeD=p.threeD)
    finally:
        torch.random.set_rng_state(state)


def draw_batch(source: BatchSource, *, seed: int = 0, enabled: Iterable[int] | None = None) -> dict:
    """Draw one batch from the loader and augment it with the chosen transforms, reproducibly from ``seed``.

    ``np.random`` and Python's ``random`` are seeded with ``seed`` before the loader draws (the caller's random
    states are restored afterwards), so the same seed gives the same cases, boxes and augmentation.
    ``enabled`` lists the indices of the transforms to run (default all); formatting transforms (channel
    selection, dummy-2D conversions, RemoveLabel, Rename, deep-supervision downsampling, NumpyToTensor, Mask)
    always run, because later transforms rely on them. Without ``SpatialTransform`` the patch keeps the
    loader's larger ``basic_generator_patch_size`` (nothing crops it to the network's patch).

    Returns:
        ``{'data' (b, C, *spatial), 'target': [one (b, 1, ...) per output], 'keys', 'provenance', 'loaded':
        the loader's batch before augmentation, 'applied': names of the transforms that ran}``.
    """
    import random as pyrandom

    from batchgenerators.transforms.abstract_transforms import Compose

    wanted = set(range(len(source.transforms))) if enabled is None else set(enabled)
    chosen = [t for i, t in enumerate(source.transforms) if i in wanted or not source.is_toggleable(i)]
    np_state, py_state = np.random.get_state(), pyrandom.getstate()
    try:
        np.random.seed(seed)
        pyrandom.seed(seed)
        raw = next(source.loader)
        loaded = {"data": raw["data"].copy(), "seg": raw["seg"].copy()}
        out = Compose(chosen)(**raw)
    finally:
        np.random.set_state(np_state)
        pyrandom.setstate(py_state)
    target = out["target"]
    targets = [_numpy(t) for t in (target if isinstance(target, (list, tuple)) else [target])]
    names = [n for i, n in enumerate(source.transform_names) if i in wanted or not source.is_toggleable(i)]
    return {"data": _numpy(out["data"]), "target": targets, "keys": [str(k) for k in raw["keys"]],
            "provenance": list(raw["provenance"]), "loaded": loaded, "applied": names}


# --- deep supervision -----------------------------------------------------------------------------------

def network_outputs(network: Any, data: Any) -> list[np.ndarray]:
    """Run ``network`` on ``data (b, C, *spatial)`` with deep supervision on and return every output as numpy.

    The network is put in eval mode and ``do_ds = True`` for the call (both are restored), under
    ``torch.no_grad()``. Outputs are logits ``(b, num_classes, *spatial_i)``, highest resolution first.
    """
    import torch

    was_training = network.training
    old_ds = getattr(network, "do_ds", None)
    try:
        network.eval()
        if old_ds is not None:
            network.do_ds = True
        param = next(network.parameters(), None)
        tensor = torch.as_tensor(np.asarray(_numpy(data), dtype=np.float32))
        if param is not None:
            tensor = tensor.to(param.device)
        with torch.no_grad():
            outputs = network(tensor)
    finally:
        network.train(was_training)
        if old_ds is not None:
            network.do_ds = old_ds
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    return [_numpy(o) for o in outputs]


def deep_supervision_layers(outputs: Sequence[Any], targets: Sequence[Any] | None = None, *, sample: int = 0,
                            spacing: Sequence[float] | None = None,
                            weights: Sequence[float] | None = None) -> list[LayerSpec]:
    """Each deep-supervision output (argmax) next to its downsampled target, aligned in world space.

    Output ``i`` of shape ``(b, K, *s_i)`` covers the same patch as output 0 with fewer voxels: per axis the
    factor ``f = s_0 / s_i``, so its layer gets ``scale = spacing * f`` and ``translate = spacing * (f - 1) / 2``
    (the centre of the ``f`` input voxels it summarises). Targets are the ``DownsampleSegForDSTransform2``
    maps (``(b, 1, *s_i)``), placed the same way, so prediction and target of a scale overlap exactly, and all
    scales overlap the full-resolution patch.
    """
    outs = [_numpy(o) for o in outputs]
    base = np.asarray(outs[0].shape[2:], dtype=float)
    spacing = np.asarray(spacing if spacing is not None else np.ones(len(base)), dtype=float)[-len(base):]
    layers = []
    for i, logits in enumerate(outs):
        factor = base / np.asarray(logits.shape[2:], dtype=float)
        scale, translate = spacing * factor, spacing * (factor - 1) / 2
        meta = {"output": i, "factor": tuple(float(f) for f in factor), "shape": tuple(logits.shape[2:]),
                "sample": sample}
        visible = i == 0
        shape = tuple(logits.shape[2:])
        # one tr() for the whole name: the shape stays ASCII, the comma before the weight becomes full-width
        if weights is not None and i < len(weights):
            name = tr(f"ds{i} prediction {shape}, loss weight {weights[i]:.3f}",
                      f"ds{i} 预测 {shape}, 损失权重 {weights[i]:.3f}")
        else:
            name = tr(f"ds{i} prediction {shape}", f"ds{i} 预测 {shape}")
        layers.append(_labels(name,
                              logits[sample].argmax(0), scale=scale, translate=translate, opacity=0.6,
                              visible=visible, metadata={**meta, "role": "ds prediction"}))
        if targets is not None and i < len(targets):
            target = _numpy(targets[i])[sample, 0]
            if tuple(target.shape) != tuple(logits.shape[2:]):
                raise DatasetError(
                    tr(f"deep-supervision target {i} has shape {target.shape} but output {i} has "
                       f"{logits.shape[2:]}",
                       f"深度监督目标 {i} 的形状是 {target.shape}, 而输出 {i} 的形状是 {logits.shape[2:]}"),
                    fix=tr("use the targets made for this network's pooling (DownsampleSegForDSTransform2 with "
                           "ds_scales of its pool_op_kernel_sizes)",
                           "请使用按这个网络的池化生成的目标（DownsampleSegForDSTransform2，ds_scales 取自它的 "
                           "pool_op_kernel_sizes）"))
            layers.append(_labels(tr(f"ds{i} target {tuple(target.shape)}", f"ds{i} 目标 {tuple(target.shape)}"),
                                  target, scale=scale, translate=translate, opacity=0.4, visible=visible,
                                  metadata={**meta, "role": "ds target"}))
    return layers


# --- sliding window -------------------------------------------------------------------------------------

def sliding_window_steps(patch_size: Sequence[int], image_size: Sequence[int], step_size: float = 0.5
                         ) -> list[list[int]]:
    """Tile start positions per axis, v1's rule (network_architecture.sliding_window.compute_steps_for_sliding_window).

    ``num_steps = ceil((image - patch) / (patch * step_size)) + 1`` tiles, spread evenly so the first starts at 0
    and the last ends at the border. The image must be at least as large as the patch (v1 pads it first).

    Raises:
        ExplorerError: the image is smaller than the patch, or ``step_size`` is outside (0, 1].
    """
    from ..network_architecture.sliding_window import compute_steps_for_sliding_window

    try:
        return compute_steps_for_sliding_window(patch_size, image_size, step_size)
    except ValueError as exc:
        raise ExplorerError(str(exc), fix=tr("pad the image to at least the patch size and use a step_size in "
                                             "(0, 1] (v1's default 0.5)",
                                             "请把图像填充到至少 patch 大小，并使用 (0, 1] 之间的 step_size"
                                             "（v1 默认为 0.5）")) from None


def gaussian_importance_map(patch_size: Sequence[int], sigma_scale: float = 1.0 / 8) -> np.ndarray:
    """v1's Gaussian tile weight (:func:`~nnunet_explorer.network_architecture.sliding_window.get_gaussian`), a writable copy.

    Peak 1 at the patch centre, sigma = patch * 1/8, zeros lifted to the smallest positive value. Tiles are
    weighted with it before they are summed, so voxels near a tile's border (where the network sees little
    context) count less than voxels near its centre.
    """
    from ..network_architecture.sliding_window import get_gaussian

    return np.array(get_gaussian(patch_size, sigma_scale), copy=True)


def _tiles(patch_size: Sequence[int], image_size: Sequence[int], step_size: float) -> list[tuple[int, ...]]:
    steps = sliding_window_steps(patch_size, image_size, step_size)
    grid = np.meshgrid(*steps, indexing="ij")
    return [tuple(int(g.flat[k]) for g in grid) for k in range(grid[0].size)]


def sliding_window_layers(image_shape: Sequence[int], patch_size: Sequence[int], *, step_size: float = 0.5,
                          spacing: Sequence[float] | None = None, translate: Sequence[float] | None = None,
                          image: np.ndarray | None = None, use_gaussian: bool = True) -> list[LayerSpec]:
    """The sliding-window tiles over a case as rectangles, the Gaussian weight of one tile and their sum.

    Args:
        image_shape: spatial shape (z, y, x) of the preprocessed case (after v1's padding to the patch size).
        patch_size: the network patch, 3D (z, y, x) or 2D (y, x); a 2D patch tiles every z slice.
        step_size: v1's default 0.5 (neighbouring tiles overlap by at least half a patch).

    Layers: the image (if given); ``tiles``: one rectangle per tile on every slice it covers (shapes, colour
    per tile, feature ``tile``); ``gaussian (tile 0)`` at the first tile; ``summed weight``: the sum of all
    tiles' weights per voxel, what v1 divides the summed predictions by (ones instead of the Gaussian when
    ``use_gaussian`` is off or there is a single tile, as in v1).
    """
    original = tuple(int(s) for s in image_shape)
    patch = tuple(int(p) for p in patch_size)
    spacing = tuple(float(s) for s in (spacing if spacing is not None else [1.0] * len(original)))
    translate = tuple(float(t) for t in (translate if translate is not None else [0.0] * len(original)))
    # v1 pads the image to at least the patch (pad_nd_image: half the difference below, the rest above) and
    # tiles the padded image; the tiles are drawn where they fall relative to the unpadded image
    patch_full = patch if len(patch) == len(original) else original[:len(original) - len(patch)] + patch
    shape = tuple(max(s, p) for s, p in zip(original, patch_full))
    below = tuple((s - o) // 2 for s, o in zip(shape, original))
    translate = tuple(t - b * sp for t, b, sp in zip(translate, below, spacing))
    plane_only = len(patch) == 2 and len(shape) == 3
    in_plane = shape[1:] if plane_only else shape
    tiles = _tiles(patch, in_plane, step_size)
    # v1 chooses the Gaussian or ones per call of its tiled prediction: for a 2D network on a 3D case, per slice
    use_gaussian = use_gaussian and len(tiles) > 1
    if plane_only:
        tiles = [(z,) + t for z in range(shape[0]) for t in tiles]
        patch3 = (1,) + patch
    else:
        patch3 = patch
    gaussian = gaussian_importance_map(patch) if use_gaussian else np.ones(patch, np.float32)
    weight = np.zeros(shape, np.float32)
    rectangles, tile_ids, colors = [], [], []
    for k, start in enumerate(tiles):
        region = tuple(slice(s, s + p) for s, p in zip(start, patch3))
        weight[region] += gaussian.reshape(patch3)
        if len(shape) == 3:
            (z0, y0, x0), (pz, py, px) = start, patch3
            for z in range(z0, z0 + pz):
                rectangles.append(np.array([[z, y0, x0], [z, y0, x0 + px - 1], [z, y0 + py - 1, x0 + px - 1],
                                            [z, y0 + py - 1, x0]], dtype=float))
                tile_ids.append(k)
                colors.append(TILE_COLORS[k % len(TILE_COLORS)])
        else:
            (y0, x0), (py, px) = start, patch3
            rectangles.append(np.array([[y0, x0], [y0, x0 + px - 1], [y0 + py - 1, x0 + px - 1], [y0 + py - 1, x0]],
                                       dtype=float))
            tile_ids.append(k)
            colors.append(TILE_COLORS[k % len(TILE_COLORS)])
    meta = {"num_tiles": len(tiles) if not plane_only else len(tiles) // shape[0], "step_size": step_size,
            "patch_size": patch, "tile_starts": tiles, "padded_shape": shape, "pad_below": below}
    layers = []
    if image is not None:
        layers.append(_image(tr("image", "图像"), np.asarray(image, dtype=np.float32), scale=spacing,
                             translate=tuple(t + b * sp for t, b, sp in zip(translate, below, spacing)),
                             colormap="gray", metadata={**meta, "role": "image"}))
    first = tuple(t * s for t, s in zip(tiles[0], spacing))
    # the widgets find these layers again by metadata['role'], not by their name (which follows the language)
    layers.append(_image(tr("gaussian (tile 0)", "高斯权重 (窗口 0)"), gaussian.reshape(patch3), scale=spacing,
                         translate=tuple(a + b for a, b in zip(translate, first)), colormap="inferno",
                         blending="additive", opacity=0.5, visible=False, metadata={**meta, "role": "gaussian"}))
    layers.append(_image(tr("summed weight", "权重之和"), weight, scale=spacing, translate=translate,
                         colormap="viridis", blending="additive", opacity=0.5, visible=False,
                         metadata={**meta, "role": "summed weight"}))
    layers.append(LayerSpec(tr("tiles", "窗口"), "shapes", rectangles, {
        "shape_type": "rectangle", "edge_color": colors, "face_color": "transparent", "edge_width": 0.5,
        "scale": spacing, "translate": translate, "features": {"tile": np.array(tile_ids, dtype=int)},
        "metadata": {**meta, "role": "tiles"}}))
    return layers


def sliding_window_result_layers(result: Any, *, image: np.ndarray | None = None,
                                 spacing: Sequence[float] | None = None,
                                 translate: Sequence[float] | None = None) -> list[LayerSpec]:
    """A :class:`~nnunet_explorer.network_architecture.sliding_window.SlidingWindowResult`: its segmentation, the tiles it
    predicted, the Gaussian and the summed weights (:func:`sliding_window_layers`), and the foreground
    probability (``1 - p(background)``)."""
    seg = np.asarray(result.segmentation)
    layers = sliding_window_layers(seg.shape, result.patch_size, step_size=result.step_size, spacing=spacing,
                                   translate=translate, image=image, use_gaussian=result.gaussian is not None)
    tiles = layers[-1]
    if tiles.metadata["num_tiles"] != (result.num_tiles if result.network_dim == 3 or seg.ndim == 2
                                       else result.num_tiles // seg.shape[0]):
        raise ExplorerError(tr(f"the result holds {result.num_tiles} tiles, the v1 rule gives "
                               f"{tiles.metadata['num_tiles']}",
                               f"结果中有 {result.num_tiles} 个窗口，而 v1 的规则给出 {tiles.metadata['num_tiles']} 个"),
                            fix=tr("report this: the tiling rule and the result disagree",
                                   "请报告这个问题：窗口划分规则与结果不一致"))
    meta = {"summary": result.summary()}
    probabilities = np.asarray(result.probabilities)
    head = layers[:-1]
    head.append(_image(tr("foreground probability", "前景概率"), 1.0 - probabilities[0], scale=spacing, translate=translate,
                       colormap="magma", blending="additive", visible=False, metadata=meta))
    head.append(_labels(tr("segmentation", "分割结果"), seg, scale=spacing, translate=translate, opacity=0.5,
                        metadata=meta))
    return head + [tiles]


# --- dispatch ---------------------------------------------------------------------------------------------

def layers_for(x: Any, **kwargs: Any) -> list[LayerSpec]:
    """Layers for whatever a learner holds: a step result, a batch, a trace, a case path, a prediction, an array.

    * ``StepResult``: its output (a failed step raises its error).
    * a batch (dict with ``data``, or the walkthrough's ``Batch``): :func:`batch_layers`.
    * an ``AugmentationTrace``: :func:`trace_layers`.
    * a ``SlidingWindowResult`` (inference): :func:`sliding_window_result_layers`.
    * a path: :func:`read_path` (raw task, case file, ``CASE.npz/.npy/.pkl``, prediction folder).
    * ``{'prediction': ..., 'reference': ...}`` (optionally ``image``, ``labels``): :func:`prediction_layers`.
    * a list of :class:`LayerSpec`: itself. A numpy array or tensor: one image layer.
    """
    if isinstance(x, LayerSpec):
        return [x]
    if isinstance(x, (list, tuple)) and x and all(isinstance(v, LayerSpec) for v in x):
        return list(x)
    if hasattr(x, "output") and hasattr(x, "error") and hasattr(x, "ok"):  # explore.StepResult
        if not x.ok:
            raise ExplorerError(tr(f"step {x.name!r} failed: {x.error}", f"步骤 {x.name!r} 失败：{x.error}"),
                                fix=tr("fix the step and run it again", "请修正这个步骤后再运行一次"))
        return layers_for(x.output, **kwargs)
    if isinstance(x, (str, os.PathLike)):
        return read_path(x, **kwargs)
    if type(x).__name__ == "AugmentationTrace":
        return trace_layers(x, **kwargs)
    if type(x).__name__ == "SlidingWindowResult":
        return sliding_window_result_layers(x, **kwargs)
    if isinstance(x, Mapping) and "prediction" in x and ("reference" in x or "ground_truth" in x):
        return prediction_layers(_numpy(x["prediction"]), _numpy(x.get("reference", x.get("ground_truth"))),
                                 image=x.get("image"), labels=x.get("labels"), **kwargs)
    if isinstance(x, Mapping) and "data" in x or hasattr(x, "data") and hasattr(x, "target"):
        return batch_layers(x, **kwargs)
    if isinstance(x, np.ndarray) or hasattr(x, "detach"):
        return [_image(tr("array", "数组"), _numpy(x), **kwargs)]
    raise TypeError(f"no layers for a {type(x).__name__}: pass a step result, a batch, an AugmentationTrace, "
                    "a path, {'prediction': ..., 'reference': ...} or an array")


def classify_path(path: str | os.PathLike) -> str | None:
    """What a path holds, for the reader: ``'raw_task'``, ``'nifti'``, ``'case'``, ``'stage_folder'``,
    ``'prediction_folder'``, ``'nifti_folder'`` (e.g. ``nnUNet_predict`` output without ground truth), or None
    (not an nnU-Net artefact the explorer opens)."""
    path = Path(path)
    if path.is_dir():
        if (path / "dataset.json").is_file() and (path / "imagesTr").is_dir():
            return "raw_task"
        if path.name in GROUND_TRUTH_NAMES + ("imagesTr", "imagesTs"):
            # a raw task's or v1's own image/label folder, not predictions: open its first file (whole case)
            return "nifti_folder" if any(path.glob(f"*{NIFTI_SUFFIX}")) else None
        if any(path.glob(f"*{NIFTI_SUFFIX}")) and find_ground_truth_folder(path) is not None:
            return "prediction_folder"
        if any(path.glob("*.npz")) and any(path.glob("*.pkl")):
            return "stage_folder"
        if any(path.glob(f"*{NIFTI_SUFFIX}")):
            return "nifti_folder"
        return None
    name = path.name
    if name.endswith(NIFTI_SUFFIX) or name.endswith(".nii"):
        return "nifti"
    if path.suffix in (".npz", ".npy", ".pkl") and path.with_suffix(".pkl").is_file() and (
            path.with_suffix(".npz").is_file() or path.with_suffix(".npy").is_file()):
        return "case"
    return None


def read_path(path: str | os.PathLike, **kwargs: Any) -> list[LayerSpec]:
    """Layers for an nnU-Net v1 (or explorer) artefact on disk, chosen by :func:`classify_path`.

    * a raw task folder: its first training case (:func:`raw_case_layers`);
    * a NIfTI in a task: the whole case (:func:`raw_file_layers`);
    * ``CASE.npz`` / ``.npy`` / ``.pkl``: the cropped or preprocessed case (:func:`case_layers`);
    * a stage or cropped folder: its first case;
    * a prediction/validation folder with ground truth nearby: ONE case of it (keyword arguments ``case_id``,
      ``gt_folder``, ``images_folder``), by
      :func:`~nnunet_explorer.views.validation_case.validation_case_layers`;
    * any other folder of NIfTI files (predictions without ground truth): its first file.

    Raises:
        DatasetError: the path is none of these.
    """
    kind = classify_path(path)
    path = Path(path)
    if kind == "raw_task":
        return raw_case_layers(path, **kwargs)
    if kind == "nifti":
        return raw_file_layers(path)
    if kind == "case":
        return case_layers(path, **kwargs)
    if kind == "stage_folder":
        from ..training.dataloading import get_case_identifiers

        return case_layers(path / f"{get_case_identifiers(path)[0]}.npz", **kwargs)
    if kind == "prediction_folder":
        return validation_case_layers(path, **kwargs)
    if kind == "nifti_folder":
        return raw_file_layers(sorted(path.glob(f"*{NIFTI_SUFFIX}"))[0])
    raise DatasetError(tr(f"{path} is not an nnU-Net artefact the explorer can show",
                          f"{path} 不是 explorer 能显示的 nnU-Net 产物"),
                       fix=tr("open a raw task folder, a CASE.nii.gz, a CASE.npz/.npy/.pkl, a preprocessed stage "
                              "folder or a validation folder next to gt_niftis",
                              "请打开一个原始任务文件夹、一个 CASE.nii.gz、一个 CASE.npz/.npy/.pkl、一个预处理后的 "
                              "stage 文件夹，或一个旁边有 gt_niftis 的验证文件夹"))


# --- sample data ----------------------------------------------------------------------------------------

def synthetic_sample_layers(kind: str = "ct", *, seed: int = 0, case_index: int = 0) -> list[LayerSpec]:
    """One case of the synthetic task, made in memory (no files): its modalities and its label."""
    from ..samples.synthetic import SPECS, make_case

    images, label, spacing = make_case(kind, seed, case_index)
    spec = SPECS[kind]
    meta = {"case_id": f"case_{case_index:03d}", "stage": "raw", "sample": f"synthetic {kind}", "seed": seed}
    layers = [_image(tr(f"synthetic {kind} {m}", f"合成 {kind} {m}"), image, scale=spacing, colormap="gray",
                     visible=i == 0, blending="additive" if i else "translucent", metadata={**meta, "modality": m})
              for i, (m, image) in enumerate(zip(spec.modalities, images))]
    layers.append(_labels(tr(f"synthetic {kind} label", f"合成 {kind} 标注"), label, scale=spacing, opacity=0.5,
                          metadata={**meta, "label_names": dict(enumerate(spec.labels))}))
    return layers


def real_sample_layers(sample_dir: str | os.PathLike | None = None) -> list[LayerSpec]:
    """The real sample (Colin27 T1 crop with AAL deep grey nuclei, labels 1-4) in MNI millimetres."""
    from ..samples.real import IMAGE_FILE, LABEL_FILE, LABELS, default_sample_dir

    folder = Path(sample_dir) if sample_dir is not None else default_sample_dir()
    t1, label = read_volume(folder / IMAGE_FILE), read_volume(folder / LABEL_FILE)
    names = {0: "background", **{k: name for k, (name, _ids) in LABELS.items()}}
    meta = {"sample": "real (Colin27 + AAL)", "source": str(folder)}
    return [_image(tr("colin27 T1", "colin27 T1 图像"), t1.array.astype(np.float32), scale=t1.spacing,
                   translate=t1.origin, colormap="gray", metadata=meta),
            _labels(tr("colin27 deep grey nuclei", "colin27 深部灰质核团"), label.array, scale=label.spacing,
                    translate=label.origin, opacity=0.5, metadata={**meta, "label_names": names})]
