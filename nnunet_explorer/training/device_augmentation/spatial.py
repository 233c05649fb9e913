"""batchgenerators' ``SpatialTransform`` (0.25.5, ``augment_spatial``) on the device: draws on the CPU, grid and
interpolation on the device, bit for bit.

What one sample goes through in ``augment_spatial``, and where it happens here:

==========================================  =================================  ==================================
batchgenerators                              draws (CPU, :meth:`draw`)          arithmetic (device, :meth:`apply`)
==========================================  =================================  ==================================
elastic: ``uniform() < p_el_per_sample``      coin, alpha, sigma, and the        Gaussian filter of the fields,
                                              ``np.random.random`` fields       offsets added to the mesh
rotation: ``uniform() < p_rot_per_sample``    coin, one coin + angle per axis    rotation of the grid (FMA-exact)
                                              (``<= p_rot_per_axis``); the
                                              3x3 matrix (numpy, 9 numbers)
scaling: ``uniform() < p_scale_per_sample``   coin, [axis coin], per factor a    ``coords *= scale``
                                              ``random() < 0.5`` and a value
centre: ``random_crop`` ? uniform : middle     the centre                         ``coords += centre``
data: ``map_coordinates(order_data)``                                            float64 B-spline prefilter and
                                                                                 interpolation, then float32
seg: ``interpolate_img(is_seg=True)``                                            per-label order-1 argmax with the
                                                                                 nearest-label tie-break
no draw fired: centre (or random) crop        (random crop: the corner)          a copy, zero padding if needed
==========================================  =================================  ==================================

The draws never look at the voxels, so they are exact by construction: :meth:`draw` follows ``augment_spatial``'s
control flow call for call (the same ``np.random`` functions with the same arguments, short-circuits included).
The arithmetic follows scipy's (:mod:`.interpolation`) and numpy's (:mod:`.coordinates`).

Supported (everything ``get_moreDA_augmentation`` and its variants pass to ``SpatialTransform``): 2D and 3D,
``border_mode_data='constant'``, any ``order_data`` from 0 to 5, ``border_mode_seg='constant'`` with
``order_seg`` 0 or 1 and any ``seg_tiebreak``. Anything else raises :class:`~.base.UnsupportedOnDevice` (the
transform chain then runs batchgenerators' own transform on the CPU).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from batchgenerators.augmentations.crop_and_pad_augmentations import (get_lbs_for_center_crop,
                                                                        get_lbs_for_random_crop)
from batchgenerators.augmentations.utils import (create_matrix_rotation_2d, create_matrix_rotation_x_3d,
                                                 create_matrix_rotation_y_3d, create_matrix_rotation_z_3d)
from batchgenerators.transforms.spatial_transforms import SpatialTransform

from . import host_checks
from .base import DeviceTransform, replaces, to_device
from .coordinates import elastic_deform, rotate, scale, translate, zero_centered_mesh
from .interpolation import SEG_TIEBREAKS, map_coordinates, resample_labels, spline_prefilter


@dataclass(frozen=True)
class ElasticDraw:
    """The elastic deformation of one sample: magnitude, smoothness, and the raw ``np.random.random`` fields."""

    alpha: float
    sigma: float
    fields: np.ndarray  # (dim, *patch) float64 in [0, 1): all the randomness there is; the filtering is arithmetic


@dataclass(frozen=True)
class SpatialSampleDraw:
    """What ``augment_spatial`` drew for one sample.

    ``centre`` is set exactly when some deformation fired (batchgenerators' ``modified_coords``): the sample is then
    resampled. Otherwise ``crop_lower`` holds the lower corner of the plain crop (negative: zero padding).
    """

    elastic: ElasticDraw | None = None
    angles: tuple[float, ...] | None = None
    rotation: tuple[tuple[float, ...], ...] | None = None  # the matrix batchgenerators multiplies by, row-major
    scale: float | tuple[float, ...] | None = None
    centre: tuple[float, ...] | None = None
    crop_lower: tuple[int, ...] | None = None

    @property
    def resampled(self) -> bool:
        return self.centre is not None


@dataclass(frozen=True)
class SpatialDraws:
    """The draws of one ``SpatialTransform`` call on a batch: one record per sample, and the output patch size."""

    samples: tuple[SpatialSampleDraw, ...]
    patch_size: tuple[int, ...]


def _uniform(low_high: Sequence[float]) -> float:
    return np.random.uniform(low_high[0], low_high[1])


@replaces(SpatialTransform)
class DeviceSpatialTransform(DeviceTransform):
    """``SpatialTransform`` (batchgenerators 0.25.5) with its arithmetic on the device; see the module docstring."""

    @classmethod
    def unsupported(cls, transform: SpatialTransform) -> str | None:
        """What is not reproduced: other border modes, data orders above 5, segmentation orders above 1, keys
        other than 'data'/'seg'; and rotations where this host's ``np.dot`` rounds otherwise (host check
        ``numpy_dot_rotation``)."""
        t = transform
        if t.border_mode_data != "constant":
            return f"border_mode_data={t.border_mode_data!r}: only 'constant' (moreDA's) is reproduced on the device"
        if not 0 <= int(t.order_data) <= 5:
            return f"order_data={t.order_data}: scipy supports spline orders 0 to 5"
        if t.label_key is not None and t.border_mode_seg != "constant":
            return f"border_mode_seg={t.border_mode_seg!r}: only 'constant' is reproduced"
        if int(t.order_seg) not in (0, 1):
            return f"order_seg={t.order_seg}: the per-label argmax is reproduced for orders 0 and 1 (moreDA uses 1)"
        if t.seg_tiebreak not in SEG_TIEBREAKS:
            return f"seg_tiebreak={t.seg_tiebreak!r} is unknown"
        if (t.data_key, t.label_key) != ("data", "seg"):
            return f"keys {t.data_key!r}/{t.label_key!r}: the device chain passes 'data' and 'seg'"
        if t.do_rotation:
            return host_checks.failure("numpy_dot_rotation")
        return None

    # --- the CPU side ------------------------------------------------------------------------------------------

    def _patch_size(self, data_shape: Sequence[int]) -> tuple[int, ...]:
        if self.transform.patch_size is None:
            return tuple(int(s) for s in data_shape[2:])
        return tuple(int(s) for s in self.transform.patch_size)

    def draw(self, batch_size: int, data_shape: tuple[int, ...], seg_shape: tuple[int, ...] | None) -> SpatialDraws:
        """Consume ``np.random`` exactly as ``augment_spatial`` does for this batch, and record what it drew."""
        t = self.transform
        patch = self._patch_size(data_shape)
        dim = len(patch)
        border = t.patch_center_dist_from_border
        if not isinstance(border, (list, tuple, np.ndarray)):
            border = dim * [border]
        samples = []
        for _ in range(batch_size):
            elastic = angles = rotation = factor = None
            if t.do_elastic_deform and np.random.uniform() < t.p_el_per_sample:
                a = _uniform(t.alpha)
                s = _uniform(t.sigma)
                elastic = ElasticDraw(a, s, np.stack([np.random.random(patch) for _ in range(dim)]))
            if t.do_rotation and np.random.uniform() < t.p_rot_per_sample:
                a_x = _uniform(t.angle_x) if np.random.uniform() <= t.p_rot_per_axis else 0
                if dim == 3:
                    a_y = _uniform(t.angle_y) if np.random.uniform() <= t.p_rot_per_axis else 0
                    a_z = _uniform(t.angle_z) if np.random.uniform() <= t.p_rot_per_axis else 0
                    # rotate_coords_3d's matrix, by its own functions
                    matrix = create_matrix_rotation_z_3d(a_z, create_matrix_rotation_y_3d(
                        a_y, create_matrix_rotation_x_3d(a_x, np.identity(3))))
                    angles = (float(a_x), float(a_y), float(a_z))
                else:
                    matrix = create_matrix_rotation_2d(a_x)
                    angles = (float(a_x),)
                rotation = tuple(tuple(float(v) for v in row) for row in matrix)
            if t.do_scale and np.random.uniform() < t.p_scale_per_sample:
                factor = self._draw_scale(dim)
            resampled = elastic is not None or rotation is not None or factor is not None
            centre = crop_lower = None
            if resampled:
                if t.random_crop:
                    centre = tuple(float(np.random.uniform(border[d], data_shape[d + 2] - border[d]))
                                   for d in range(dim))
                else:
                    centre = tuple(data_shape[d + 2] / 2. - 0.5 for d in range(dim))
            else:
                shape_here = [1] + list(data_shape[1:])
                if t.random_crop:
                    margin = [border[d] - patch[d] // 2 for d in range(dim)]
                    crop_lower = tuple(int(v) for v in get_lbs_for_random_crop(patch, shape_here, margin))
                else:
                    crop_lower = tuple(int(v) for v in get_lbs_for_center_crop(patch, shape_here))
            samples.append(SpatialSampleDraw(elastic, angles, rotation, factor, centre, crop_lower))
        return SpatialDraws(tuple(samples), patch)

    def _draw_scale(self, dim: int) -> float | tuple[float, ...]:
        t = self.transform
        low, high = t.scale[0], t.scale[1]

        def one() -> float:
            if np.random.random() < 0.5 and low < 1:
                return float(np.random.uniform(low, 1))
            return float(np.random.uniform(max(low, 1), high))

        if t.independent_scale_for_each_axis and np.random.uniform() < t.p_independent_scale_per_axis:
            return tuple(one() for _ in range(dim))
        return one()

    def output_shapes(self, data_shape: tuple[int, ...], seg_shape: Any, draws: SpatialDraws) -> tuple[Any, Any]:
        data_out = (data_shape[0], data_shape[1], *draws.patch_size)
        seg_out = None if seg_shape is None else (seg_shape[0], seg_shape[1], *draws.patch_size)
        return data_out, seg_out

    # --- the device side ---------------------------------------------------------------------------------------

    def apply(self, data: torch.Tensor, seg: torch.Tensor | None,
              draws: SpatialDraws) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Crop or resample each sample of ``data (b, c, *S)`` / ``seg (b, cs, *S)`` to ``(b, ·, *patch)`` float32."""
        t = self.transform
        patch = draws.patch_size
        b = data.shape[0]
        device = data.device
        data_out = torch.zeros((b, data.shape[1], *patch), dtype=torch.float32, device=device)
        seg_out = None if seg is None else torch.zeros((b, seg.shape[1], *patch), dtype=torch.float32,
                                                       device=device)
        resampled = [i for i, s in enumerate(draws.samples) if s.resampled]
        for i, s in enumerate(draws.samples):
            if not s.resampled:
                _crop_into(data_out[i], data[i], s.crop_lower)
                if seg is not None:
                    _crop_into(seg_out[i], seg[i], s.crop_lower)
        if not resampled:
            return data_out, seg_out
        grid = [torch.stack(axis) for axis in zip(*(self._grid(draws.samples[i], patch, device)
                                                      for i in resampled))]
        picked = torch.cat([data[i:i + 1] for i in resampled])
        order = int(t.order_data)
        coef = spline_prefilter(picked, len(patch), order) if order > 1 else picked.to(torch.float64)
        values = map_coordinates(coef, grid, order, float(t.border_cval_data),
                                 chunk=_chunk(device, len(resampled), data.shape[1]))
        values = values.to(data.dtype).to(torch.float32)  # interpolate_img casts to the image dtype
        seg_values = None
        if seg is not None:
            seg_picked = torch.cat([seg[i:i + 1] for i in resampled])
            if int(t.order_seg) == 0:  # interpolate_img skips the argmax at order 0: plain nearest neighbour
                seg_values = map_coordinates(seg_picked.to(torch.float64), grid, 0, float(t.border_cval_seg),
                                             chunk=_chunk(device, len(resampled), seg.shape[1]))
                seg_values = seg_values.to(seg.dtype)
            else:
                # batchgenerators writes cval converted to the segmentation's dtype (empty_value)
                cval = float(np.array(t.border_cval_seg, dtype=float).astype(_numpy_dtype(seg.dtype)))
                seg_values = resample_labels(seg_picked, grid, cval, t.seg_tiebreak,
                                             chunk=_chunk(device, len(resampled), seg.shape[1]))
        for j, i in enumerate(resampled):
            data_out[i] = values[j]
            if seg_values is not None:
                seg_out[i] = seg_values[j]
        return data_out, seg_out

    def _grid(self, s: SpatialSampleDraw, patch: Sequence[int], device: torch.device) -> list[torch.Tensor]:
        """The sample's input coordinates, one float64 tensor of shape ``patch`` per axis."""
        coords = zero_centered_mesh(patch, device)
        if s.elastic is not None:
            coords = elastic_deform(coords, to_device(s.elastic.fields, device, pin=True), s.elastic.alpha, s.elastic.sigma)
        if s.rotation is not None:
            coords = rotate(coords, s.rotation)
        if s.scale is not None:
            coords = scale(coords, s.scale)
        coords = translate(coords, s.centre)
        return [c.expand(*patch) for c in coords]


def _chunk(device: torch.device, samples: int, channels: int) -> int | None:
    """Output voxels per piece: on a CPU, temporaries of ~64k values stay in cache; a GPU takes the whole grid."""
    if device.type != "cpu":
        return None
    return max(1024, 65536 // max(1, samples * channels))


def _numpy_dtype(dtype: torch.dtype) -> np.dtype:
    return torch.empty((), dtype=dtype).numpy().dtype


def _crop_into(out: torch.Tensor, src: torch.Tensor, lower: Sequence[int]) -> None:
    """batchgenerators' ``crop``: ``src (c, *S)`` from ``lower`` on, the part outside ``src`` left at zero."""
    dst_slices, src_slices = [slice(None)], [slice(None)]
    for axis, lo in enumerate(lower):
        n_out, n_src = out.shape[axis + 1], src.shape[axis + 1]
        start, stop = max(lo, 0), min(lo + n_out, n_src)
        if stop <= start:
            return
        src_slices.append(slice(start, stop))
        dst_slices.append(slice(start - lo, stop - lo))
    out[tuple(dst_slices)] = src[tuple(src_slices)].to(out.dtype)


__all__ = ["DeviceSpatialTransform", "ElasticDraw", "SpatialDraws", "SpatialSampleDraw"]
