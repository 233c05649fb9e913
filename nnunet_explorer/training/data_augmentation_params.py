"""Data-augmentation parameters: v1's default dicts, ``setup_DA_params`` and ``get_patch_size``.

nnU-Net v1 keeps two module-level dicts (``default_3D_augmentation_params`` and
``default_2D_augmentation_params``) and every trainer's ``setup_DA_params`` edits them *in place*. Here the
defaults are built fresh on every call, so one trainer can never change another's parameters.

The key idea a learner should take away is ``basic_generator_patch_size``: the DataLoader crops a patch
*larger* than the network's ``patch_size``, so that after rotating and scaling in the spatial transform the
network's patch comes mostly from loaded data rather than from the padding outside it (image 0, segmentation
-1). It is computed from the rotation ranges and the *smallest* scale factor, and (a v1 quirk kept faithfully)
with the default scale range (0.85, 1.25), before V2 widens that range to (0.7, 1.4). The margin is a rule of
thumb, not a guarantee: it is sized for one rotation axis at a time, in batchgenerators a scale factor above 1
zooms *out* (it samples a wider region), and rotations about several axes, or a V2 zoom-out above ~1.18 (up to 1.4)
— on its own where rotation adds little margin (2D patches, for example) or together with a rotation — can still
reach past the loaded patch into the padding.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..language import tr
from ..provenance import mirrors
from .deep_supervision import ds_scales



def deg(degrees: float) -> float:
    """Degrees to radians in v1's exact float order (``deg / 360 * 2. * np.pi``), so values match bit for bit."""
    return degrees / 360 * 2.0 * math.pi


def _default_num_threads() -> int:
    # v1: get_allowed_n_proc_DA() -> nnUNet_n_proc_DA, else a DKFZ hostname table, else 12.
    # differs from v1: no hostname lookup (the DKFZ table never matches outside the DKFZ cluster).
    value = os.environ.get("nnUNet_n_proc_DA")
    return int(value) if value else 12


@mirrors("nnunet.training.data_augmentation.default_data_augmentation:default_3D_augmentation_params")
def default_3D_augmentation_params() -> dict[str, Any]:
    """A fresh copy of v1's default 3D augmentation dict (v1's ``nnUNetTrainer`` keeps its ranges and probabilities).

    # differs from v1: v1 shares one module-level dict that trainers mutate; we return a new dict every call.
    """
    return {
        "selected_data_channels": None,
        "selected_seg_channels": None,
        "do_elastic": True,
        "elastic_deform_alpha": (0.0, 900.0),
        "elastic_deform_sigma": (9.0, 13.0),
        "p_eldef": 0.2,
        "do_scaling": True,
        "scale_range": (0.85, 1.25),
        "independent_scale_factor_for_each_axis": False,
        "p_independent_scale_per_axis": 1,
        "p_scale": 0.2,
        "do_rotation": True,
        "rotation_x": (deg(-15.0), deg(15.0)),
        "rotation_y": (deg(-15.0), deg(15.0)),
        "rotation_z": (deg(-15.0), deg(15.0)),
        "rotation_p_per_axis": 1,
        "p_rot": 0.2,
        "random_crop": False,
        "random_crop_dist_to_border": None,
        "do_gamma": True,
        "gamma_retain_stats": True,
        "gamma_range": (0.7, 1.5),
        "p_gamma": 0.3,
        "do_mirror": True,
        "mirror_axes": (0, 1, 2),
        "dummy_2D": False,
        "mask_was_used_for_normalization": None,
        "border_mode_data": "constant",
        "all_segmentation_labels": None,
        "move_last_seg_chanel_to_data": False,  # (sic) v1's spelling of the key
        "cascade_do_cascade_augmentations": False,
        "cascade_random_binary_transform_p": 0.4,
        "cascade_random_binary_transform_p_per_label": 1,
        "cascade_random_binary_transform_size": (1, 8),
        "cascade_remove_conn_comp_p": 0.2,
        "cascade_remove_conn_comp_max_size_percent_threshold": 0.15,
        "cascade_remove_conn_comp_fill_with_other_class_p": 0.0,
        "do_additive_brightness": False,
        "additive_brightness_p_per_sample": 0.15,
        "additive_brightness_p_per_channel": 0.5,
        "additive_brightness_mu": 0.0,
        "additive_brightness_sigma": 0.1,
        "num_threads": _default_num_threads(),
        "num_cached_per_thread": 1,
    }


@mirrors("nnunet.training.data_augmentation.default_data_augmentation:default_2D_augmentation_params")
def default_2D_augmentation_params() -> dict[str, Any]:
    """A fresh copy of v1's default 2D dict: the 3D one with in-plane rotation ±180° and mirroring over (0, 1).

    # differs from v1: fresh dict per call (v1's module dict can be left at ±15° by an earlier 2D trainer).
    """
    params = default_3D_augmentation_params()
    params["elastic_deform_alpha"] = (0.0, 200.0)
    params["elastic_deform_sigma"] = (9.0, 13.0)
    params["rotation_x"] = (deg(-180.0), deg(180.0))
    params["rotation_y"] = (deg(-0.0), deg(0.0))
    params["rotation_z"] = (deg(-0.0), deg(0.0))
    params["dummy_2D"] = False
    params["mirror_axes"] = (0, 1)
    return params


def _rotation_x(a: float) -> np.ndarray:
    return np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])


def _rotation_y(a: float) -> np.ndarray:
    return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])


def _rotation_z(a: float) -> np.ndarray:
    return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])


def _rotation_2d(a: float) -> np.ndarray:
    return np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])


def _rotate_row(coords: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """The point ``coords`` as a row vector times ``rotation`` (batchgenerators' convention, same call order)."""
    return np.dot(coords.reshape(len(coords), -1).transpose(), rotation).transpose().reshape(coords.shape)


def _largest_angle(rotation: float | Sequence[float]) -> float:
    if isinstance(rotation, (tuple, list)):
        rotation = max(abs(r) for r in rotation)
    return min(deg(90), float(rotation))


@mirrors("nnunet.training.data_augmentation.default_data_augmentation:get_patch_size")
def get_patch_size(final_patch_size: Sequence[int], rot_x: float | Sequence[float], rot_y: float | Sequence[float],
                   rot_z: float | Sequence[float], scale_range: Sequence[float]) -> np.ndarray:
    """How large a patch the DataLoader must crop so that rotation + scaling still fill ``final_patch_size``.

    v1's rule, step by step:

    1. Each rotation range becomes its largest absolute angle, capped at 90° (a range of ±180° counts as 90°).
    2. The patch size *vector* (e.g. ``[40, 48, 48]``, as one point in space) is rotated by that angle about
       x alone, about y alone and about z alone (3D) or once in-plane (2D); the element-wise maximum of the
       absolute coordinates, together with the original size, is kept. Only the extreme angle is tried.
    3. The result is divided by the smallest scale factor and truncated to int: a fixed margin (1/0.85 ≈ 1.18×
       for the default range). In batchgenerators a factor below 1 zooms *in* (it samples a smaller region) and
       a factor above 1 zooms out, so the margin stands for a zoom-out of about 1.18, whatever the range's top.

    Example: ``[40, 48, 48]`` with ±30° on every axis and scale (0.85, 1.25) gives ``[68, 77, 72]``.
    """
    coords = np.array(final_patch_size, dtype=float)
    final_shape = coords.copy()
    ax, ay, az = _largest_angle(rot_x), _largest_angle(rot_y), _largest_angle(rot_z)
    if len(coords) == 3:
        for rotation in (_rotation_x(ax), _rotation_y(ay), _rotation_z(az)):
            # rotating about one axis only; batchgenerators composes I @ Rx @ Ry @ Rz, where the other two are I
            final_shape = np.maximum(np.abs(_rotate_row(coords, np.dot(np.identity(3), rotation))), final_shape)
    elif len(coords) == 2:
        final_shape = np.maximum(np.abs(_rotate_row(coords, _rotation_2d(ax))), final_shape)
    final_shape = final_shape / min(scale_range)
    return final_shape.astype(int)


@dataclass(frozen=True)
class AugmentationSetup:
    """What ``setup_DA_params`` decides: the augmentation dict and the sizes the loader and transforms work with.

    Attributes:
        data_aug_params: the full parameter dict (v1's ``self.data_aug_params``).
        basic_generator_patch_size: the (larger) patch the DataLoader crops, before spatial augmentation.
        patch_size: the network's patch size (``patch_size_for_spatialtransform``), (z, y, x) or (y, x).
        do_dummy_2D_aug: whether 3D patches are augmented slice-wise ("dummy 2D", anisotropic data).
        deep_supervision_scales: one scale per network output, (z, y, x) factors (V2 only, else None).
        scale_range_for_patch_size: the scale range used to size ``basic_generator_patch_size``.
        notes: plain-language remarks on the decisions (for cards).
    """

    data_aug_params: Mapping[str, Any]
    basic_generator_patch_size: tuple[int, ...]
    patch_size: tuple[int, ...]
    do_dummy_2D_aug: bool
    deep_supervision_scales: tuple[tuple[float, ...], ...] | None
    scale_range_for_patch_size: tuple[float, float]
    notes: tuple[str, ...] = ()

    def summary(self) -> str:
        p = self.data_aug_params
        rot = ", ".join(f"{axis} ±{math.degrees(max(abs(v) for v in p['rotation_' + axis])):.0f}°"
                        for axis in "xyz")
        return (f"patch_size {list(self.patch_size)} -> basic_generator_patch_size "
                f"{list(self.basic_generator_patch_size)} ({tr('scale', '缩放')} {self.scale_range_for_patch_size}); "
                f"dummy_2D {self.do_dummy_2D_aug}; {tr('rotation', '旋转')} {rot}; scale_range {p['scale_range']}; "
                f"do_elastic {p['do_elastic']}; mirror_axes {p['mirror_axes']}")


@mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.setup_DA_params")
def setup_DA_params(patch_size: Sequence[int], *, do_dummy_2D_aug: bool, use_mask_for_norm: Any,
                    pool_op_kernel_sizes: Sequence[Sequence[int]] | None = None, v2: bool = True) -> AugmentationSetup:
    """Decide the augmentation parameters for a patch size, like ``nnUNetTrainerV2.setup_DA_params``.

    3D (``len(patch_size) == 3``): start from the default 3D dict; V2 widens rotations to ±30° about every
    axis. With ``do_dummy_2D_aug`` (the plans found the data too anisotropic for 3D rotations) the patch is
    augmented slice by slice: ``dummy_2D`` is set, rotation_x becomes the 2D range (±180°), and the elastic
    parameters come from the 2D dict. 2D: start from the 2D dict (±180° in-plane), narrowed to ±15° when the
    patch's aspect ratio exceeds 1.5; dummy 2D is switched off.

    ``basic_generator_patch_size`` = :func:`get_patch_size` of the patch (for dummy 2D: of its in-plane
    part, the first axis kept) with the rotation ranges and the scale range *at that moment*, (0.85, 1.25).
    Only afterwards V2 sets ``scale_range = (0.7, 1.4)``, ``do_elastic = False`` and
    ``num_cached_per_thread = 2``. Both versions set ``selected_seg_channels = [0]`` and
    ``patch_size_for_spatialtransform = patch_size``.

    Args:
        patch_size: the stage's patch size from the plans, (z, y, x) or (y, x).
        do_dummy_2D_aug: the stage's ``do_dummy_2D_data_aug`` flag.
        use_mask_for_norm: the plans' ``use_mask_for_norm`` (stored as ``mask_was_used_for_normalization``).
        pool_op_kernel_sizes: if given (V2), the deep-supervision scales are computed too.
        v2: False gives the base ``nnUNetTrainer`` behaviour (±15°, elastic on, scale (0.85, 1.25)).
    """
    patch = np.array(patch_size).astype(int)
    notes: list[str] = []
    three_d = len(patch) == 3
    if three_d:
        params = default_3D_augmentation_params()
        if v2:
            for axis in "xyz":
                params[f"rotation_{axis}"] = (deg(-30.0), deg(30.0))
            notes.append("V2: rotations widened from ±15° to ±30° about every axis")
        if do_dummy_2D_aug:
            two_d = default_2D_augmentation_params()
            params["dummy_2D"] = True
            params["elastic_deform_alpha"] = two_d["elastic_deform_alpha"]
            params["elastic_deform_sigma"] = two_d["elastic_deform_sigma"]
            params["rotation_x"] = two_d["rotation_x"]
            notes.append("dummy 2D: anisotropic data, so patches are augmented slice-wise (in-plane rotation ±180°)")
    else:
        do_dummy_2D_aug = False
        params = default_2D_augmentation_params()
        if max(patch) / min(patch) > 1.5:
            params["rotation_x"] = (deg(-15.0), deg(15.0))
            notes.append("2D patch with aspect ratio > 1.5: in-plane rotation narrowed to ±15°")
    params["mask_was_used_for_normalization"] = use_mask_for_norm

    scale_for_size = tuple(params["scale_range"])
    if do_dummy_2D_aug:
        in_plane = get_patch_size(patch[1:], params["rotation_x"], params["rotation_y"], params["rotation_z"],
                                  params["scale_range"])
        basic = np.array([patch[0]] + list(in_plane))
    else:
        basic = get_patch_size(patch, params["rotation_x"], params["rotation_y"], params["rotation_z"],
                               params["scale_range"])
    if v2:
        params["scale_range"] = (0.7, 1.4)
        params["do_elastic"] = False
        notes.append("V2: scale range (0.7, 1.4) and no elastic deformation, set AFTER sizing the loaded patch "
                     "with (0.85, 1.25)")
    params["selected_seg_channels"] = [0]
    params["patch_size_for_spatialtransform"] = patch
    if v2:
        params["num_cached_per_thread"] = 2
    # v1 computes them inside setup_DA_params; tuples here (the setup is frozen), v1's element types kept
    scales = (tuple(tuple(row) for row in ds_scales(pool_op_kernel_sizes))
              if (v2 and pool_op_kernel_sizes is not None) else None)
    setup = AugmentationSetup(params, tuple(int(v) for v in basic), tuple(int(v) for v in patch),
                              bool(do_dummy_2D_aug), scales, (float(scale_for_size[0]), float(scale_for_size[1])),
                              tuple(notes))
    for listener in list(_SETUP_LISTENERS):
        listener(setup)
    return setup


_SETUP_LISTENERS: list[Callable[[AugmentationSetup], None]] = []


def add_setup_listener(listener: Callable[[AugmentationSetup], None]) -> None:
    """Have ``listener(setup)`` called at the end of every :func:`setup_DA_params` (once per listener).

    The explorer's trainers never share parameter dicts; this is how ``nnunet_explorer.v1``'s copies of v1's
    module-level dicts learn what a trainer's ``setup_DA_params`` would have written into them in v1 (see
    ``nnunet_explorer/v1/training/data_augmentation/default_data_augmentation.py``). A listener must not
    change ``setup``.
    """
    if listener not in _SETUP_LISTENERS:
        _SETUP_LISTENERS.append(listener)


_NEW_TRAINER_LISTENERS: list[Callable[[], None]] = []


def add_new_trainer_listener(listener: Callable[[], None]) -> None:
    """Have ``listener()`` called whenever a trainer is constructed (see :func:`trainer_created`)."""
    if listener not in _NEW_TRAINER_LISTENERS:
        _NEW_TRAINER_LISTENERS.append(listener)


def trainer_created() -> None:
    """Called by ``nnUNetTrainer.__init__``: ``nnunet_explorer.v1`` puts its copies of v1's module-level dicts back
    to their import-time contents, so every trainer starts from the state v1's ``nnUNet_train`` starts from (one
    trainer per fresh process), however many trainers ran before it in this process."""
    for listener in list(_NEW_TRAINER_LISTENERS):
        listener()
