"""From class probabilities in the network's space back to a label map on the original image grid.

v1's ``save_segmentation_nifti_from_softmax``, step by step, for probabilities ``(C, z, y, x)`` that are
already transposed back to the original axis order but still at the stage's target spacing:

1. **Resample** to the cropped original size (``properties['size_after_cropping']``) with order 1 (linear) —
   the *probabilities* are interpolated, not the labels, which gives smoother borders. When the case is
   anisotropic (spacing ratio > 3 in ``original_spacing``, else in ``spacing_after_resampling``) and exactly one
   axis is the coarsest, each slice is resampled in 2D and the coarse axis separately with nearest neighbour
   (``order_z = 0``); with two equally coarse axes v1 resamples in 3D.
2. Optionally save those probabilities as ``float16`` in ``CASE.npz`` (key ``softmax``) plus ``CASE.pkl`` (the
   properties): what ensembling (``nnUNet_ensemble``, ``find_best_configuration``) averages later.
3. **Argmax** over classes.
4. **Un-crop**: paste into a zero ``uint8`` volume of ``original_size_of_raw_data`` at ``crop_bbox``.
5. Write a NIfTI with the original ITK spacing, origin and direction.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import time
from copy import copy, deepcopy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..fileio import save_npz_atomic, write_pickle
from ..planning.resampling import resample_data_or_seg, separate_z_decision
from ..provenance import mirrors


@dataclass(frozen=True)
class ExportRecord:
    """What one export did (for inspection): resampling decision, shapes and time."""

    out_file: str
    resampled: bool
    do_separate_z: bool
    lowres_axis: tuple[int, ...] | None
    shape_in: tuple[int, ...]
    shape_after_cropping: tuple[int, ...]
    shape_original: tuple[int, ...]
    npz_file: str | None
    seconds: float


def write_nifti_atomic(array: np.ndarray, out_file: str | os.PathLike, spacing, origin, direction) -> None:
    """Write ``array`` (z, y, x) as NIfTI with the given ITK geometry, atomically (temp file + rename)."""
    import SimpleITK as sitk

    out_file = Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(tuple(float(s) for s in spacing))
    image.SetOrigin(tuple(float(o) for o in origin))
    image.SetDirection(tuple(float(d) for d in direction))
    fd, tmp = tempfile.mkstemp(prefix=f".{out_file.name[:-7]}.", suffix=".tmp.nii.gz", dir=out_file.parent)
    os.close(fd)
    try:
        sitk.WriteImage(image, tmp)
        os.replace(tmp, out_file)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _load_softmax_file(path: str) -> np.ndarray:
    # v1 accepts a .npy/.npz path (used when the array is too large to send to a worker) and deletes it after
    if path.endswith(".npy"):
        array = np.load(path)
    elif path.endswith(".npz"):
        with np.load(path) as npz:
            array = npz["softmax"]
    else:
        raise ValueError(f"softmax file must end with .npy or .npz: {path}")
    os.remove(path)
    return array


@mirrors("nnunet.inference.segmentation_export:save_segmentation_nifti_from_softmax")
def save_segmentation_nifti_from_softmax(probabilities: np.ndarray | str, out_file: str | os.PathLike,
                                         properties: Mapping[str, Any], order: int = 1, *,
                                         npz_file: str | os.PathLike | None = None,
                                         force_separate_z: bool | None = None, order_z: int = 0,
                                         region_class_order: Sequence[int] | None = None,
                                         postprocess: Callable[..., np.ndarray] | None = None,
                                         postprocess_args: Sequence[Any] = (),
                                         non_postprocessed_file: str | os.PathLike | None = None,
                                         ) -> ExportRecord:
    """Resample probabilities to the original grid, argmax, un-crop and write ``out_file`` (``.nii.gz``).

    Args:
        probabilities: ``(C, z, y, x)`` class probabilities in the *original* axis order (transpose back with
            ``transpose_backward`` first) at the stage spacing, or a ``.npy``/``.npz`` file holding them
            (deleted after reading, as v1 does).
        out_file: the NIfTI to write (atomically).
        properties: the case's properties from preprocessing (``size_after_cropping``,
            ``original_size_of_raw_data``, ``crop_bbox``, ``original_spacing``, ``spacing_after_resampling``,
            ``itk_spacing``/``itk_origin``/``itk_direction``).
        order: in-plane (or 3D) interpolation order of the probabilities (v1: 1).
        npz_file: also save the resampled probabilities (float16, key ``softmax``) and a ``.pkl`` of the
            properties next to it.
        force_separate_z: None = decide from the spacings (see module docstring); True/False forces it.
        order_z: interpolation order along the coarse axis when resampling it separately (v1: 0).
        region_class_order: for networks trained on *regions* (sigmoid outputs, one channel per region, e.g.
            BraTS): instead of the argmax, channel ``i`` above 0.5 paints label ``region_class_order[i]``, later
            channels over earlier ones. Also stored as ``regions_class_order`` in the ``.pkl`` next to
            ``npz_file`` (ensembling needs it).
        postprocess: ``postprocess(segmentation, *postprocess_args)`` on the un-cropped label map before
            writing (v1's ``seg_postprogess_fn``); with ``non_postprocessed_file`` the map before it is
            written there too.

    Returns:
        An :class:`ExportRecord`.
    """
    t0 = time.perf_counter()
    if isinstance(probabilities, (str, os.PathLike)):
        probabilities = _load_softmax_file(str(probabilities))
    shape_in = tuple(int(s) for s in probabilities.shape[1:])
    size_after_cropping = tuple(int(s) for s in properties["size_after_cropping"])
    original_size = tuple(int(s) for s in properties["original_size_of_raw_data"])
    resampled = shape_in != size_after_cropping
    do_separate_z, axis = False, None
    if resampled:
        # v1 quirk kept: 'original_spacing' is in the original axis order while 'spacing_after_resampling' is
        # in the transposed order; both are consulted as v1 does.
        do_separate_z, axis = separate_z_decision(properties["original_spacing"],
                                                  properties["spacing_after_resampling"], force_separate_z)
        on_cropped_grid = resample_data_or_seg(probabilities, size_after_cropping, is_seg=False, axis=axis,
                                               order=order, do_separate_z=do_separate_z, order_z=order_z)
    else:
        on_cropped_grid = probabilities
    if npz_file is not None:
        npz_file = str(npz_file)
        save_npz_atomic(npz_file, softmax=on_cropped_grid.astype(np.float16))
        if region_class_order is not None:
            # differs from v1: v1 adds 'regions_class_order' to the caller's properties dict; we pickle a copy
            properties = copy(properties)
            properties["regions_class_order"] = region_class_order
        write_pickle(properties, npz_file[:-4] + ".pkl")
    if region_class_order is None:
        segmentation = on_cropped_grid.argmax(0)
    else:
        segmentation = np.zeros(on_cropped_grid.shape[1:])
        for i, label in enumerate(region_class_order):
            segmentation[on_cropped_grid[i] > 0.5] = label
    bbox = properties.get("crop_bbox")
    if bbox is not None:
        bbox = deepcopy([list(b) for b in bbox])  # differs from v1: v1 clips the caller's crop_bbox in place
        full = np.zeros(original_size, dtype=np.uint8)
        for c in range(3):
            bbox[c][1] = min(bbox[c][0] + segmentation.shape[c], original_size[c])
        full[bbox[0][0]:bbox[0][1], bbox[1][0]:bbox[1][1], bbox[2][0]:bbox[2][1]] = segmentation
    else:
        full = segmentation
    geometry = (properties["itk_spacing"], properties["itk_origin"], properties["itk_direction"])
    if postprocess is not None:
        if non_postprocessed_file is not None:
            write_nifti_atomic(full.astype(np.uint8), non_postprocessed_file, *geometry)
        full = postprocess(np.copy(full), *postprocess_args)
    write_nifti_atomic(full.astype(np.uint8), out_file, *geometry)
    return ExportRecord(str(out_file), resampled, bool(do_separate_z),
                        None if axis is None else tuple(int(a) for a in axis), shape_in, size_after_cropping,
                        original_size, npz_file, time.perf_counter() - t0)
