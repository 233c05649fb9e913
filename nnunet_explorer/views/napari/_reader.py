"""napari reader: nnU-Net v1 (and explorer) artefacts as layers (see :func:`nnunet_explorer.views.layers.read_path`)."""
from __future__ import annotations

from typing import Any, Callable

from ..layers import classify_path, read_path


def get_reader(path: str | list[str]) -> Callable[[Any], list[tuple]] | None:
    """Return a reader if ``path`` is an artefact the explorer opens, else None (napari then asks other plugins).

    Opened: a raw task folder (its first case), a NIfTI of a raw task (the whole case: every modality and the
    label), ``CASE.npz`` / ``CASE.npy`` / ``CASE.pkl`` of a cropped or preprocessed folder, a stage folder (its
    first case) and a validation/prediction folder with ground truth nearby: its first case alone (image, truth,
    prediction, errors with the Dice, ``CASE.npz`` probabilities), placed with the ITK direction.
    """
    if isinstance(path, (list, tuple)):
        if not path or any(classify_path(p) is None for p in path):
            return None
    elif classify_path(path) is None:
        return None
    return read_layers


def read_layers(path: str | list[str]) -> list[tuple]:
    """napari ``LayerDataTuple`` s for one path or several."""
    paths = path if isinstance(path, (list, tuple)) else [path]
    # a validation folder opens ONE case (its first; validation_case_layers): the image under ground truth,
    # prediction and errors, placed with the ITK direction; the other cases one at a time via show_case, the
    # "Prediction vs ground truth" widget or the validation table
    return [spec.as_tuple() for p in paths for spec in read_path(p)]
