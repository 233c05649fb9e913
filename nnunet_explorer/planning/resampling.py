"""Resampling a case to the target spacing, as nnU-Net v1 does it (``resample_patient``).

* Image data: cubic spline (order 3, ``skimage.transform.resize``, ``mode="edge"``, no anti-aliasing).
* Segmentations: order 1 per label (``batchgenerators.augmentations.utils.resize_segmentation``; its rule
  changed in batchgenerators 0.25.4, which is why the version is pinned on both sides of parity tests).
* Anisotropic cases (spacing ratio > 3, in the original *or* the target spacing): each slice is resampled in
  2D with the orders above, then the coarse axis alone with nearest neighbour (order 0), so that thick slices
  are not smeared into each other.

Arrays are ``(c, z, y, x)`` (after ``transpose_forward``, so the coarse axis is usually first).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..provenance import mirrors

RESAMPLING_SEPARATE_Z_ANISO_THRESHOLD = 3


@mirrors("nnunet.preprocessing.preprocessing:get_do_separate_z")
def get_do_separate_z(spacing: Sequence[float], anisotropy_threshold: float = RESAMPLING_SEPARATE_Z_ANISO_THRESHOLD) -> bool:
    """True when the coarsest spacing is more than ``anisotropy_threshold`` times the finest."""
    return bool((np.max(spacing) / np.min(spacing)) > anisotropy_threshold)


@mirrors("nnunet.preprocessing.preprocessing:get_lowres_axis")
def get_lowres_axis(spacing: Sequence[float]) -> np.ndarray:
    """Indices of the axes with the largest spacing (one axis, or several when they tie)."""
    return np.where(max(spacing) / np.array(spacing) == 1)[0]


def separate_z_decision(original_spacing: Sequence[float], target_spacing: Sequence[float],
                        force_separate_z: bool | None = None,
                        threshold: float = RESAMPLING_SEPARATE_Z_ANISO_THRESHOLD) -> tuple[bool, np.ndarray | None]:
    """v1's rule for resampling the coarse axis separately; returns ``(do_separate_z, axis)``.

    With ``force_separate_z=None``: anisotropic original spacing -> its coarse axis; else anisotropic target
    spacing -> its coarse axis; else no. When two or three axes tie for coarsest, no separate z.
    """
    if force_separate_z is not None:
        do_separate_z = force_separate_z
        axis = get_lowres_axis(original_spacing) if force_separate_z else None
    elif get_do_separate_z(original_spacing, threshold):
        do_separate_z, axis = True, get_lowres_axis(original_spacing)
    elif get_do_separate_z(target_spacing, threshold):
        do_separate_z, axis = True, get_lowres_axis(target_spacing)
    else:
        do_separate_z, axis = False, None
    if axis is not None and len(axis) != 1:
        do_separate_z = False  # e.g. (0.24, 1.25, 1.25): two coarse axes, resample everything together
    return do_separate_z, axis


@mirrors("nnunet.preprocessing.preprocessing:resample_patient")
def resample_patient(data: np.ndarray | None, seg: np.ndarray | None, original_spacing: Sequence[float],
                     target_spacing: Sequence[float], order_data: int = 3, order_seg: int = 0,
                     force_separate_z: bool | None = False, order_z_data: int = 0, order_z_seg: int = 0,
                     separate_z_anisotropy_threshold: float = RESAMPLING_SEPARATE_Z_ANISO_THRESHOLD
                     ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Resample ``data`` (c, z, y, x) and ``seg`` (1, z, y, x) from ``original_spacing`` to ``target_spacing``.

    ``new_shape = round(original_spacing / target_spacing * shape)``. Defaults are v1's signature defaults; the
    preprocessors call it with ``order_seg=1, force_separate_z=None``.
    """
    assert not (data is None and seg is None)
    shape = np.array((data if data is not None else seg)[0].shape)
    new_shape = np.round((np.array(original_spacing) / np.array(target_spacing)).astype(float) * shape).astype(int)
    do_separate_z, axis = separate_z_decision(original_spacing, target_spacing, force_separate_z,
                                              separate_z_anisotropy_threshold)
    data_out = None if data is None else resample_data_or_seg(data, new_shape, False, axis, order_data,
                                                               do_separate_z, order_z=order_z_data)
    seg_out = None if seg is None else resample_data_or_seg(seg, new_shape, True, axis, order_seg, do_separate_z,
                                                            order_z=order_z_seg)
    return data_out, seg_out


def _resize_fn(is_seg: bool):
    if is_seg:
        from batchgenerators.augmentations.utils import resize_segmentation

        return lambda img, shape, order: resize_segmentation(img, shape, order)
    from skimage.transform import resize

    return lambda img, shape, order: resize(img, shape, order, mode="edge", anti_aliasing=False)


@mirrors("nnunet.preprocessing.preprocessing:resample_data_or_seg")
def resample_data_or_seg(data: np.ndarray, new_shape: Sequence[int], is_seg: bool, axis=None, order: int = 3,
                         do_separate_z: bool = False, order_z: int = 0) -> np.ndarray:
    """Resample every channel of ``data`` (c, z, y, x) to ``new_shape``; returns the input if already that shape.

    Computation is float64 (as in v1); results are cast back to the input dtype after each slice/channel.
    """
    assert data.ndim == 4, "data must be (c, x, y, z)"
    dtype = data.dtype
    shape = np.array(data[0].shape)
    new_shape = np.array(new_shape)
    if not np.any(shape != new_shape):
        return data  # v1: "no resampling necessary"
    resize = _resize_fn(is_seg)
    data = data.astype(float)
    channels = []
    if do_separate_z:
        assert len(axis) == 1, "only one anisotropic axis supported"
        ax = int(axis[0])
        shape_2d = np.delete(new_shape, ax)
        for c in range(data.shape[0]):
            slices = [resize(np.take(data[c], i, axis=ax), shape_2d, order).astype(dtype) for i in range(shape[ax])]
            stacked = np.stack(slices, ax)
            if shape[ax] != new_shape[ax]:
                channels.append(_resample_along_axis(stacked, new_shape, is_seg, order_z).astype(dtype)[None])
            else:
                channels.append(stacked[None].astype(dtype))
    else:
        for c in range(data.shape[0]):
            channels.append(resize(data[c], new_shape, order)[None].astype(dtype))
    return np.vstack(channels).astype(dtype)


def _resample_along_axis(volume: np.ndarray, new_shape: np.ndarray, is_seg: bool, order_z: int) -> np.ndarray:
    """Second half of separate-z: ``map_coordinates`` on skimage's pixel-centre grid, ``mode="nearest"``."""
    from scipy.ndimage import map_coordinates

    rows, cols, dim = (int(n) for n in new_shape)
    scale = [float(o) / n for o, n in zip(volume.shape, (rows, cols, dim))]
    grid = np.mgrid[:rows, :cols, :dim]
    coords = np.array([s * (g + 0.5) - 0.5 for s, g in zip(scale, grid)])
    if not is_seg or order_z == 0:
        return map_coordinates(volume, coords, order=order_z, mode="nearest")
    # seg with order_z > 0 (unused by the default preprocessors): per-label rounded indicator
    out = np.zeros(new_shape, dtype=volume.dtype)
    for label in np.unique(volume):
        hot = np.round(map_coordinates((volume == label).astype(float), coords, order=order_z, mode="nearest"))
        out[hot > 0.5] = label
    return out
