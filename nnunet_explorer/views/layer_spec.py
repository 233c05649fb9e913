"""The layer record and the prediction-vs-ground-truth layers (shared by :mod:`.layers` and :mod:`.validation_case`).

A :class:`LayerSpec` is plain numpy data plus the keyword arguments a viewer needs; napari turns each into
``viewer.add_<kind>(data, **meta)``. No napari import here.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

# the one Dice and error map (the layers' numbers are the evaluation module's)
from ..inference.evaluation import (ERROR_NAMES, FALSE_NEGATIVE, FALSE_POSITIVE, WRONG_CLASS, dice_per_class,
                                    error_map)
from ..language import tr

LAYER_KINDS = ("image", "labels", "shapes", "points")
NIFTI_SUFFIX = ".nii.gz"
# error layer values (prediction vs ground truth) are error_map's, from the evaluation module
ERROR_COLORS = {0: "transparent", FALSE_POSITIVE: "red", FALSE_NEGATIVE: "cyan", WRONG_CLASS: "yellow"}
GROUND_TRUTH_NAMES = ("gt_niftis", "gt_segmentations", "labelsTs", "labelsTr")

@dataclass(frozen=True)
class LayerSpec:
    """One viewer layer: what to show (``data``), how (``meta``) and as what (``kind``).

    Attributes:
        name: the layer's name (also ``meta['name']`` in :meth:`as_tuple`).
        kind: ``'image'``, ``'labels'``, ``'shapes'`` or ``'points'``.
        data: a numpy array (image/labels: ``(*spatial)`` or ``(n, *spatial)``; points: ``(n, ndim)``), or for
            shapes a list of ``(4, ndim)`` vertex arrays (rectangles).
        meta: keyword arguments for napari's ``add_<kind>`` (``scale``, ``translate``, ``colormap``,
            ``opacity``, ``visible`` ...); ``meta['metadata']`` carries what the explorer knows about the layer
            (source file, case id, provenance, per-class Dice ...).
    """

    name: str
    kind: str
    data: Any
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in LAYER_KINDS:
            raise ValueError(f"layer kind must be one of {LAYER_KINDS}, not {self.kind!r}")

    @property
    def metadata(self) -> Mapping[str, Any]:
        return self.meta.get("metadata", {})

    def as_tuple(self) -> tuple[Any, dict, str]:
        """napari's ``LayerDataTuple``: ``(data, {'name': ..., **meta}, kind)`` (what readers return)."""
        return self.data, {"name": self.name, **self.meta}, self.kind

    def __repr__(self) -> str:
        shape = getattr(self.data, "shape", None)
        what = f"shape {tuple(shape)}" if shape is not None else f"{len(self.data)} items"
        return f"LayerSpec({self.name!r}, {self.kind}, {what})"


def _image(name: str, data: np.ndarray, *, scale=None, translate=None, metadata=None, **kwargs) -> LayerSpec:
    meta: dict[str, Any] = {"metadata": dict(metadata or {})}
    if scale is not None:
        meta["scale"] = tuple(float(s) for s in scale)
    if translate is not None:
        meta["translate"] = tuple(float(t) for t in translate)
    meta.update(kwargs)
    return LayerSpec(name, "image", np.asarray(data), meta)


def _labels(name: str, data: np.ndarray, *, scale=None, translate=None, metadata=None, **kwargs) -> LayerSpec:
    # napari wants integer labels; v1 stores segmentations as float32 (with -1 inside the crop box but outside the nonzero mask)
    spec = _image(name, np.asarray(data).astype(np.int32), scale=scale, translate=translate, metadata=metadata,
                  **kwargs)
    return LayerSpec(name, "labels", spec.data, spec.meta)


# --- predictions vs ground truth ------------------------------------------------------------------------

def prediction_layers(prediction: np.ndarray, reference: np.ndarray, *, labels: Sequence[int] | None = None,
                      case_id: str = "case", scale: Sequence[float] | None = None,
                      translate: Sequence[float] | None = None, image: np.ndarray | None = None,
                      label_names: Mapping[int, str] | None = None, visible: bool = True) -> list[LayerSpec]:
    """Prediction, ground truth and an error layer (FP red, FN cyan, wrong class yellow), Dice per class.

    The Dice and the error layer are :func:`~nnunet_explorer.inference.evaluation.dice_per_class` and
    :func:`~nnunet_explorer.inference.evaluation.error_map` (NaN: the label is in neither map). ``labels`` defaults to every foreground label present in either map. The Dice values are in each layer's
    ``metadata['dice']`` and in the error layer's name.
    """
    prediction, reference = np.asarray(prediction), np.asarray(reference)
    errors = error_map(prediction, reference)
    if labels is None:
        labels = sorted(int(v) for v in np.union1d(np.unique(prediction), np.unique(reference)) if v > 0)
    dice = dice_per_class(prediction, reference, labels)
    meta = {"case_id": case_id, "dice": dice, "label_names": dict(label_names or {}),
            "counts": {ERROR_NAMES[k]: int(np.sum(errors == k)) for k in ERROR_NAMES}}
    layers = []
    if image is not None:
        layers.append(_image(tr(f"{case_id} image", f"{case_id} 图像"), np.asarray(image, dtype=np.float32),
                             scale=scale, translate=translate, colormap="gray", visible=visible, metadata=meta))
    text = ", ".join(f"{c}: {'nan' if math.isnan(d) else f'{d:.3f}'}" for c, d in dice.items())
    layers += [
        _labels(tr(f"{case_id} ground truth", f"{case_id} 参考标注"), reference, scale=scale, translate=translate,
                opacity=0.4, visible=visible, metadata=meta),
        _labels(tr(f"{case_id} prediction", f"{case_id} 预测"), prediction, scale=scale, translate=translate,
                opacity=0.5, visible=visible, metadata=meta),
        # the error layer is found again by its metadata ('error_names', 'case_id'), not by its name
        _labels(tr(f"{case_id} errors (Dice {text})", f"{case_id} 错误 (Dice {text})"), errors, scale=scale,
                translate=translate, opacity=0.8, visible=visible, metadata={**meta, "error_names": ERROR_NAMES},
                colormap=_error_colormap()),
    ]
    return layers


def _error_colormap() -> dict:
    # napari >= 0.5 accepts a {label: colour} dict as the labels colormap (a DirectLabelColormap)
    return {None: "transparent", **{k: v for k, v in ERROR_COLORS.items()}}


def find_ground_truth_folder(folder: str | os.PathLike) -> Path | None:
    """The ground-truth folder for a v1 validation or prediction folder, if one can be found.

    v1's layout: ``<model>/fold_k/validation_raw/CASE.nii.gz`` is evaluated against
    ``nnUNet_preprocessed/Task/gt_segmentations``, which v1 then copies to ``<model>/gt_niftis``. Also accepted: a
    ``gt_niftis``, ``gt_segmentations`` or ``labelsTr``/``labelsTs`` folder next to the folder or one level up.
    """
    folder = Path(folder)
    for base in (folder.parent, folder.parent.parent, folder):
        for name in GROUND_TRUTH_NAMES:
            if (base / name).is_dir() and (base / name) != folder:
                return base / name
    return None


def prediction_folder_cases(folder: str | os.PathLike) -> list[str]:
    """Case ids of a prediction folder: every ``CASE.nii.gz`` (sorted)."""
    return sorted(p.name[:-len(NIFTI_SUFFIX)] for p in Path(folder).glob(f"*{NIFTI_SUFFIX}"))
