"""nnU-Net v1's "moreDA" augmentation (its chain of transforms), and a transform-by-transform view of it.

``nnUNetTrainerV2`` augments every training batch with the same fixed list of batchgenerators transforms
(``get_moreDA_augmentation``). The list is built here from the *same* batchgenerators classes
(``batchgenerators==0.25.5`` is pinned on both sides), in the same order, with the same probabilities:

==  ===========================================  ==============================================================
 1  SegChannelSelectionTransform([0])            keep the segmentation channel
 1b Convert3DTo2DTransform (dummy 2D only)       ``(b, c, z, y, x) -> (b, c*z, y, x)``: augment slice-wise
 2  SpatialTransform                             rotation (p 0.2), scaling (p 0.2), centre crop to patch_size
 2b Convert2DTo3DTransform (dummy 2D only)       back to 3D
 3  GaussianNoiseTransform (p 0.1)               sigma ~ U(0, 0.1)
 4  GaussianBlurTransform (p 0.2, 0.5/channel)   sigma ~ U(0.5, 1)
 5  BrightnessMultiplicativeTransform (p 0.15)   x *= U(0.75, 1.25)
 6  ContrastAugmentationTransform (p 0.15)       around the mean, clipped to the old range
 7  SimulateLowResolutionTransform (p 0.25)      down (nearest) and up (cubic) by U(0.5, 1)
 8  GammaTransform inverted (p 0.1)
 9  GammaTransform (p 0.3)
10  MirrorTransform(mirror_axes)                 each axis flipped with p 0.5
11  MaskTransform                                zero image outside the nonzero mask (where normalisation used it)
12  RemoveLabelTransform(-1, 0)                  -1 (outside the nonzero mask, padding) becomes background
12a MoveSegAsOneHotToData (cascade only)         seg channel 1 (3d_lowres prediction) -> one-hot image channels
12b ApplyRandomBinaryOperatorTransform (casc.)   p 0.4: dilate/erode/close/open the prior, ball r ~ U(1, 8)
12c RemoveRandomConnectedComponent... (casc.)    p 0.2: a no-op in v1 (its arguments are passed swapped)
13  RenameTransform('seg', 'target')
14  DownsampleSegForDSTransform2                 one target per deep-supervision output
15  NumpyToTensor
==  ===========================================  ==============================================================

For the cascade (``3d_cascade_fullres``) the parameters carry ``move_last_seg_chanel_to_data`` and
``selected_seg_channels=[0, 1]``: the loader's ``seg (b, 2, …)`` holds the ground truth and the 3d_lowres
prediction, both go through the spatial transform and the mirroring as label maps, and 12a–12c (see
:mod:`~nnunet_explorer.training.cascade_augmentation`) turn the prediction into corrupted one-hot input channels.
Validation gets 12a too, without the corruptions.

The transforms nnU-Net itself defines (here the dummy-2D converters, the mask, the deep-supervision downsampling
and the regions conversion; the three cascade transforms in :mod:`~nnunet_explorer.training.cascade_augmentation`)
are re-written with v1's class names and attributes, so the lists compare one to one.

:func:`trace_augmentation` runs a one-sample batch through the list and records, for every transform, the
patch before and after, whether it fired and with which sampled parameters. batchgenerators does not return
what it drew, so the trace *observes the random number generators*: while one transform runs, the sampling
functions of ``numpy.random`` and Python's ``random`` module are temporarily replaced by thin wrappers that
call the original and log (function, arguments, result). The draws happen in the same order with the same
values as without the wrappers, so the output is identical to an untraced run (a test checks this). The
named parameters (angles, scale, sigma, gamma, mirrored axes …) are then read off that log, knowing the order
in which each transform draws. This is done only in :func:`trace_augmentation`, single-threaded, and the
originals are always restored.
"""
from __future__ import annotations

import contextlib
import math
import random as _pyrandom
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
from batchgenerators.augmentations.utils import resize_segmentation
from batchgenerators.transforms.abstract_transforms import AbstractTransform, Compose
from batchgenerators.transforms.channel_selection_transforms import (DataChannelSelectionTransform,
                                                                     SegChannelSelectionTransform)
from batchgenerators.transforms.color_transforms import (BrightnessMultiplicativeTransform, BrightnessTransform,
                                                         ContrastAugmentationTransform, GammaTransform)
from batchgenerators.transforms.noise_transforms import GaussianBlurTransform, GaussianNoiseTransform
from batchgenerators.transforms.resample_transforms import SimulateLowResolutionTransform
from batchgenerators.transforms.spatial_transforms import MirrorTransform, SpatialTransform
from batchgenerators.transforms.utility_transforms import NumpyToTensor, RemoveLabelTransform, RenameTransform

from ..errors import ConfigurationError
from ..language import tr
from ..provenance import mirrors
from .cascade_augmentation import cascade_transforms

# --- nnU-Net's own transforms (re-written; same class names and attributes as v1) ----------------------


@mirrors("nnunet.training.data_augmentation.custom_transforms:Convert3DTo2DTransform")
class Convert3DTo2DTransform(AbstractTransform):
    """Fold the first spatial axis into the channels: ``(b, c, z, y, x) -> (b, c*z, y, x)`` ("dummy 2D").

    The original shapes are remembered in ``orig_shape_data`` / ``orig_shape_seg`` for the way back.
    """

    def __call__(self, **data_dict: Any) -> dict:
        for key, remember in (("data", "orig_shape_data"), ("seg", "orig_shape_seg")):
            shp = data_dict[key].shape
            data_dict[key] = data_dict[key].reshape((shp[0], shp[1] * shp[2], shp[3], shp[4]))
            data_dict[remember] = shp
        return data_dict


@mirrors("nnunet.training.data_augmentation.custom_transforms:Convert2DTo3DTransform")
class Convert2DTo3DTransform(AbstractTransform):
    """Undo :class:`Convert3DTo2DTransform`, keeping the (possibly new) in-plane size."""

    def __call__(self, **data_dict: Any) -> dict:
        for key, remember in (("data", "orig_shape_data"), ("seg", "orig_shape_seg")):
            shp = data_dict[remember]
            cur = data_dict[key].shape
            data_dict[key] = data_dict[key].reshape((shp[0], shp[1], shp[2], cur[-2], cur[-1]))
        return data_dict


@mirrors("nnunet.training.data_augmentation.custom_transforms:MaskTransform")
class MaskTransform(AbstractTransform):
    """Set image channels to ``set_outside_to`` where ``seg[:, mask_idx_in_seg] < 0`` (outside the nonzero mask).

    Only channels whose flag in ``dct_for_where_it_was_used`` (the plans' ``use_mask_for_norm``) is True are
    touched: those were normalised inside the mask only, so their outside values carry no meaning.
    """

    def __init__(self, dct_for_where_it_was_used: Mapping[int, bool], mask_idx_in_seg: int = 1,
                 set_outside_to: float = 0, data_key: str = "data", seg_key: str = "seg") -> None:
        self.dct_for_where_it_was_used = dct_for_where_it_was_used
        self.seg_key = seg_key
        self.data_key = data_key
        self.set_outside_to = set_outside_to
        self.mask_idx_in_seg = mask_idx_in_seg

    def __call__(self, **data_dict: Any) -> dict:
        seg = data_dict.get(self.seg_key)
        if seg is None or seg.shape[1] < self.mask_idx_in_seg:
            raise ConfigurationError(tr("MaskTransform found no segmentation channel to use as mask",
                                        "MaskTransform 找不到可用作掩膜的分割通道"),
                                     fix=tr("keep the segmentation in the batch ('seg') before the MaskTransform",
                                            "在 MaskTransform 之前，请把分割保留在 batch 中('seg')"))
        data = data_dict[self.data_key]
        for b in range(data.shape[0]):
            outside = seg[b, self.mask_idx_in_seg] < 0
            for c in range(data.shape[1]):
                if self.dct_for_where_it_was_used[c]:
                    data[b, c][outside] = self.set_outside_to
        data_dict[self.data_key] = data
        return data_dict


def downsample_seg_for_ds(seg: np.ndarray, ds_scales: Sequence[Sequence[float]], order: int = 0,
                          axes: Sequence[int] | None = None) -> list[np.ndarray]:
    """One segmentation per deep-supervision output: ``seg (b, c, *spatial)`` resized by each scale.

    A scale of all ones keeps the array itself; otherwise the new shape is ``round(shape * scale)`` and each
    ``(b, c)`` map is resized with batchgenerators' ``resize_segmentation`` (order 0 = nearest).
    """
    if axes is None:
        axes = list(range(2, seg.ndim))
    out = []
    for s in ds_scales:
        if all(v == 1 for v in s):
            out.append(seg)
            continue
        new_shape = np.array(seg.shape).astype(float)
        for i, a in enumerate(axes):
            new_shape[a] *= s[i]
        new_shape = np.round(new_shape).astype(int)
        resized = np.zeros(new_shape, dtype=seg.dtype)
        for b in range(seg.shape[0]):
            for c in range(seg.shape[1]):
                resized[b, c] = resize_segmentation(seg[b, c], new_shape[2:], order)
        out.append(resized)
    return out


@mirrors("nnunet.training.data_augmentation.downsampling:DownsampleSegForDSTransform2")
class DownsampleSegForDSTransform2(AbstractTransform):
    """Replace ``data_dict[input_key]`` by the list :func:`downsample_seg_for_ds` makes (deep supervision)."""

    def __init__(self, ds_scales: Sequence[Sequence[float]] = (1, 0.5, 0.25), order: int = 0,
                 input_key: str = "seg", output_key: str = "seg", axes: Sequence[int] | None = None) -> None:
        self.axes = axes
        self.output_key = output_key
        self.input_key = input_key
        self.order = order
        self.ds_scales = ds_scales

    def __call__(self, **data_dict: Any) -> dict:
        data_dict[self.output_key] = downsample_seg_for_ds(data_dict[self.input_key], self.ds_scales, self.order,
                                                           self.axes)
        return data_dict


@mirrors("nnunet.training.data_augmentation.custom_transforms:ConvertSegmentationToRegionsTransform")
class ConvertSegmentationToRegionsTransform(AbstractTransform):
    """Replace a label map by one binary channel per *region*, a region being a union of labels.

    ``regions`` is a dict ``{name: (label, label, ...)}`` (v1's BraTS trainers: whole tumour (1, 2, 3), tumour
    core (2, 3), enhancing tumour (3,)). Channel ``r`` of the output is 1 wherever
    ``seg[:, seg_channel]`` holds one of the labels of the ``r``-th region, in the dict's order: regions may
    overlap, which a single label map cannot express. ``(b, c, *spatial) -> (b, len(regions), *spatial)``, in
    the segmentation's dtype. A batch without ``seg_key`` passes unchanged.
    """

    def __init__(self, regions: Mapping[Any, Sequence[int]], seg_key: str = "seg", output_key: str = "seg",
                 seg_channel: int = 0) -> None:
        self.seg_channel = seg_channel
        self.output_key = output_key
        self.seg_key = seg_key
        self.regions = regions

    def __call__(self, **data_dict: Any) -> dict:
        seg = data_dict.get(self.seg_key)
        if seg is not None:
            out = np.zeros((seg.shape[0], len(self.regions), *seg.shape[2:]), dtype=seg.dtype)
            for b in range(seg.shape[0]):
                for r, name in enumerate(self.regions.keys()):
                    for label in self.regions[name]:
                        out[b, r][seg[b, self.seg_channel] == label] = 1
            data_dict[self.output_key] = out
        return data_dict


@mirrors("nnunet.training.data_augmentation.custom_transforms:RemoveKeyTransform")
class RemoveKeyTransform(AbstractTransform):
    """Drop ``key_to_remove`` from the batch dict (nothing happens if it is not there)."""

    def __init__(self, key_to_remove: str) -> None:
        self.key_to_remove = key_to_remove

    def __call__(self, **data_dict: Any) -> dict:
        data_dict.pop(self.key_to_remove, None)
        return data_dict


@mirrors("nnunet.training.data_augmentation.downsampling:downsample_seg_for_ds_transform3")
def downsample_seg_for_ds_soft(seg: np.ndarray, ds_scales: Sequence[Sequence[float]],
                               classes: Sequence[int] | None = None) -> list:
    """"Soft" deep-supervision targets: class *fractions* per low-resolution voxel instead of nearest labels.

    ``seg`` is ``(b, *spatial)`` (one channel, already taken out). It is one-hot encoded over ``classes``
    (``(b, len(classes), *spatial)``) and, for every scale other than all ones, average-pooled with a kernel
    and stride of ``1 / scale`` per axis (padding ``(k - 1) // 2``, padded voxels not counted): a voxel of the
    0.5-scale target holding ``[0.75, 0.25]`` was three quarters background. Returns torch tensors.

    v1 quirk, kept: the full-resolution entry is ``seg`` itself as a tensor, ``(b, *spatial)`` label values -
    not one-hot and without the channel axis - while the others are ``(b, C, *spatial)`` fractions.
    """
    import torch
    from torch.nn.functional import avg_pool2d, avg_pool3d

    labels = list(classes) if classes is not None else list(np.unique(seg))
    one_hot = np.zeros((seg.shape[0], len(labels), *seg.shape[1:]), dtype=seg.dtype)
    for b in range(seg.shape[0]):
        for i, label in enumerate(labels):
            one_hot[b, i][seg[b] == label] = 1
    one_hot_t = torch.from_numpy(one_hot)
    out: list = []
    for s in ds_scales:
        if all(v == 1 for v in s):
            out.append(torch.from_numpy(seg))
            continue
        kernel = tuple(int(1 / v) for v in s)
        padding = tuple((k - 1) // 2 for k in kernel)
        if len(s) not in (2, 3):
            raise ConfigurationError(tr(f"deep-supervision scale {list(s)} is neither 2D nor 3D",
                                        f"深度监督的缩放比例 {list(s)} 既不是 2D 也不是 3D"),
                                     fix=tr("give one factor per spatial axis", "请为每个空间轴给出一个因子"))
        pool = avg_pool2d if len(s) == 2 else avg_pool3d
        out.append(pool(one_hot_t, kernel, kernel, padding, count_include_pad=False, ceil_mode=False))
    return out


@mirrors("nnunet.training.data_augmentation.downsampling:DownsampleSegForDSTransform3")
class DownsampleSegForDSTransform3(AbstractTransform):
    """Soft deep-supervision targets (see :func:`downsample_seg_for_ds_soft`); always uses seg channel 0.

    v1's ``get_*_augmentation(soft_ds=True, classes=...)`` uses it in place of
    :class:`DownsampleSegForDSTransform2`; ``classes`` should always be given (v1's own advice).
    """

    def __init__(self, ds_scales: Sequence[Sequence[float]] = (1, 0.5, 0.25), input_key: str = "seg",
                 output_key: str = "seg", classes: Sequence[int] | None = None) -> None:
        self.classes = classes
        self.output_key = output_key
        self.input_key = input_key
        self.ds_scales = ds_scales

    def __call__(self, **data_dict: Any) -> dict:
        data_dict[self.output_key] = downsample_seg_for_ds_soft(data_dict[self.input_key][:, 0], self.ds_scales,
                                                                self.classes)
        return data_dict


# --- the transform chain ----------------------------------------------------------------------------

def _check_supported(params: Mapping[str, Any]) -> None:
    if params.get("mirror") is not None:
        raise ConfigurationError(tr("augmentation params use the old key 'mirror'",
                                    "数据增强参数用的是旧的键 'mirror'"),
                                 fix=tr("use 'do_mirror' instead", "请改用 'do_mirror'"))
    if params.get("move_last_seg_chanel_to_data"):
        labels = params.get("all_segmentation_labels")
        if not labels:
            # differs from v1: v1 fails later with a TypeError (len(None)); say what is missing instead
            raise ConfigurationError(tr("the cascade augmentations (move_last_seg_chanel_to_data) need "
                                        "'all_segmentation_labels' (the foreground labels 1 .. num_classes - 1)",
                                        "级联的数据增强(move_last_seg_chanel_to_data)需要 "
                                        "'all_segmentation_labels'（前景标签 1 .. num_classes - 1）"),
                                     fix=tr("add cascade_augmentation.cascade_da_params(num_classes) to the params",
                                            "请把 cascade_augmentation.cascade_da_params(num_classes) 加进参数"))
        if params.get("cascade_do_cascade_augmentations"):
            missing = [k for k in ("cascade_random_binary_transform_p", "cascade_remove_conn_comp_p")
                       if params.get(k) is None]
            if missing:
                raise ConfigurationError(tr(f"the cascade augmentations need {missing}",
                                            f"级联的数据增强需要 {missing}"),
                                         fix=tr("add cascade_augmentation.cascade_da_params(num_classes) to the params",
                                                "请把 cascade_augmentation.cascade_da_params(num_classes) 加进参数"))


def target_transforms(deep_supervision_scales: Sequence[Sequence[float]] | None = None, *,
                      regions: Mapping[Any, Sequence[int]] | None = None, soft_ds: bool = False,
                      classes: Sequence[int] | None = None) -> list:
    """The end every v1 transform chain shares: ``seg`` becomes ``target``, in the form the loss wants, as tensors.

    ``RenameTransform('seg', 'target')`` → (``regions``: :class:`ConvertSegmentationToRegionsTransform`) →
    (deep supervision: :class:`DownsampleSegForDSTransform2`, or with ``soft_ds``
    :class:`DownsampleSegForDSTransform3` over ``classes``) → ``NumpyToTensor(['data', 'target'], 'float')``.

    Raises:
        ConfigurationError: ``soft_ds`` without ``classes`` (v1 asserts).
    """
    out: list = [RenameTransform("seg", "target", True)]
    if regions is not None:
        out.append(ConvertSegmentationToRegionsTransform(regions, "target", "target"))
    if deep_supervision_scales is not None:
        if soft_ds:
            if classes is None:
                raise ConfigurationError(tr("soft deep supervision (soft_ds=True) needs the classes to one-hot encode",
                                            "软深度监督(soft_ds=True)需要知道要做 one-hot 编码的类别"),
                                         fix=tr("pass classes=[0, 1, ..., num_classes - 1]",
                                                "请传入 classes=[0, 1, ..., num_classes - 1]"))
            out.append(DownsampleSegForDSTransform3(deep_supervision_scales, "target", "target", classes))
        else:
            out.append(DownsampleSegForDSTransform2(deep_supervision_scales, 0, input_key="target",
                                                    output_key="target"))
    out.append(NumpyToTensor(["data", "target"], "float"))
    return out


@mirrors("nnunet.training.data_augmentation.data_augmentation_moreDA:get_moreDA_augmentation")
def build_train_transforms(patch_size: Sequence[int], params: Mapping[str, Any],
                           deep_supervision_scales: Sequence[Sequence[float]] | None = None, *,
                           border_val_seg: int = -1, order_seg: int = 1, order_data: int = 3,
                           regions: Mapping[Any, Sequence[int]] | None = None, soft_ds: bool = False,
                           classes: Sequence[int] | None = None) -> list:
    """The training transforms of ``get_moreDA_augmentation``, in v1's order (see the module table).

    Args:
        patch_size: the network patch size (``params['patch_size_for_spatialtransform']``), (z, y, x) or (y, x).
            The loader delivers the larger ``basic_generator_patch_size``; SpatialTransform crops to this.
        params: the augmentation dict from ``setup_DA_params`` (``data_aug_params``).
        deep_supervision_scales: one scale per network output, or None (no deep supervision).
        border_val_seg, order_seg, order_data: v1's defaults (-1, 1, 3).
        regions, soft_ds, classes: the target's form, see :func:`target_transforms` (v1's defaults: labels,
            nearest-neighbour deep supervision).

    Returns:
        A plain list of transform objects; ``Compose(list)`` applies them.
    """
    _check_supported(params)
    tr: list = []
    if params.get("selected_data_channels") is not None:
        tr.append(DataChannelSelectionTransform(params.get("selected_data_channels")))
    if params.get("selected_seg_channels") is not None:
        tr.append(SegChannelSelectionTransform(params.get("selected_seg_channels")))
    # dummy 2D: rotate/scale slice by slice; intensity transforms come after the conversion back, because the
    # folded channel axis would otherwise be mistaken for image channels
    dummy_2d = bool(params.get("dummy_2D"))
    if dummy_2d:
        ignore_axes: tuple[int, ...] | None = (0,)
        tr.append(Convert3DTo2DTransform())
        patch_size_spatial = patch_size[1:]
    else:
        ignore_axes = None
        patch_size_spatial = patch_size
    tr.append(SpatialTransform(
        patch_size_spatial, patch_center_dist_from_border=None,
        do_elastic_deform=params.get("do_elastic"), alpha=params.get("elastic_deform_alpha"),
        sigma=params.get("elastic_deform_sigma"),
        do_rotation=params.get("do_rotation"), angle_x=params.get("rotation_x"), angle_y=params.get("rotation_y"),
        angle_z=params.get("rotation_z"), p_rot_per_axis=params.get("rotation_p_per_axis"),
        do_scale=params.get("do_scaling"), scale=params.get("scale_range"),
        border_mode_data=params.get("border_mode_data"), border_cval_data=0, order_data=order_data,
        border_mode_seg="constant", border_cval_seg=border_val_seg, order_seg=order_seg,
        random_crop=params.get("random_crop"), p_el_per_sample=params.get("p_eldef"),
        p_scale_per_sample=params.get("p_scale"), p_rot_per_sample=params.get("p_rot"),
        independent_scale_for_each_axis=params.get("independent_scale_factor_for_each_axis")))
    if dummy_2d:
        tr.append(Convert2DTo3DTransform())
    tr.append(GaussianNoiseTransform(p_per_sample=0.1))
    tr.append(GaussianBlurTransform((0.5, 1.), different_sigma_per_channel=True, p_per_sample=0.2,
                                    p_per_channel=0.5))
    tr.append(BrightnessMultiplicativeTransform(multiplier_range=(0.75, 1.25), p_per_sample=0.15))
    if params.get("do_additive_brightness"):
        tr.append(BrightnessTransform(params.get("additive_brightness_mu"), params.get("additive_brightness_sigma"),
                                      True, p_per_sample=params.get("additive_brightness_p_per_sample"),
                                      p_per_channel=params.get("additive_brightness_p_per_channel")))
    tr.append(ContrastAugmentationTransform(p_per_sample=0.15))
    tr.append(SimulateLowResolutionTransform(zoom_range=(0.5, 1), per_channel=True, p_per_channel=0.5,
                                             order_downsample=0, order_upsample=3, p_per_sample=0.25,
                                             ignore_axes=ignore_axes))
    # inverted gamma (always, p 0.1), then the regular one (if do_gamma, p_gamma)
    tr.append(GammaTransform(params.get("gamma_range"), True, True, retain_stats=params.get("gamma_retain_stats"),
                             p_per_sample=0.1))
    if params.get("do_gamma"):
        tr.append(GammaTransform(params.get("gamma_range"), False, True,
                                 retain_stats=params.get("gamma_retain_stats"), p_per_sample=params["p_gamma"]))
    if params.get("do_mirror") or params.get("mirror"):
        tr.append(MirrorTransform(params.get("mirror_axes")))
    if params.get("mask_was_used_for_normalization") is not None:
        tr.append(MaskTransform(params.get("mask_was_used_for_normalization"), mask_idx_in_seg=0, set_outside_to=0))
    tr.append(RemoveLabelTransform(-1, 0))
    # the cascade: the previous stage's segmentation (seg channel 1) becomes one-hot image channels, corrupted
    tr.extend(cascade_transforms(params, train=True))
    tr.extend(target_transforms(deep_supervision_scales, regions=regions, soft_ds=soft_ds, classes=classes))
    return tr


@mirrors("nnunet.training.data_augmentation.data_augmentation_moreDA:get_moreDA_augmentation")
def build_val_transforms(params: Mapping[str, Any],
                         deep_supervision_scales: Sequence[Sequence[float]] | None = None, *,
                         regions: Mapping[Any, Sequence[int]] | None = None, soft_ds: bool = False,
                         classes: Sequence[int] | None = None) -> list:
    """The validation transforms of ``get_moreDA_augmentation``: no augmentation, only formatting.

    ``RemoveLabelTransform(-1, 0)`` → channel selections → (cascade: ``MoveSegAsOneHotToData``) →
    ``RenameTransform('seg', 'target')`` →
    deep-supervision downsampling → ``NumpyToTensor``. The validation loader already cuts the network's patch
    size, so there is no spatial transform. ``regions`` / ``soft_ds`` / ``classes``: see
    :func:`target_transforms`.
    """
    _check_supported(params)
    val: list = [RemoveLabelTransform(-1, 0)]
    if params.get("selected_data_channels") is not None:
        val.append(DataChannelSelectionTransform(params.get("selected_data_channels")))
    if params.get("selected_seg_channels") is not None:
        val.append(SegChannelSelectionTransform(params.get("selected_seg_channels")))
    val.extend(cascade_transforms(params, train=False))  # cascade: the prior as one-hot channels, uncorrupted
    val.extend(target_transforms(deep_supervision_scales, regions=regions, soft_ds=soft_ds, classes=classes))
    return val


def describe_transform(transform: Any) -> str:
    """One line naming a transform and its main knobs (for cards and tables)."""
    name = type(transform).__name__
    keys = ("p_per_sample", "p_rot_per_sample", "p_scale_per_sample", "axes", "scale", "gamma_range",
            "invert_image", "ds_scales", "patch_size", "zoom_range", "multiplier_range", "channels",
            # the cascade's transforms
            "channel_id", "all_seg_labels", "channel_idx", "p_per_label", "strel_size", "any_of_these",
            "fill_with_other_class_p", "dont_do_if_covers_more_than_X_percent")
    parts = []
    for key in keys:
        if key in vars(transform):
            value = vars(transform)[key]
            if isinstance(value, np.ndarray):
                value = value.tolist()
            if key == "any_of_these":
                value = [getattr(op, "__name__", str(op)) for op in value]
            parts.append(f"{key}={value}")
    text = f"{name}({', '.join(parts)})"
    if name == "RemoveRandomConnectedComponentFromOneHotEncodingTransform" and \
            not vars(transform).get("dont_do_if_covers_more_than_X_percent", 1) > 0:
        text += " [no-op: v1 passes its size threshold and fill probability swapped; threshold 0 allows nothing]"
    return text


# --- the transform-by-transform trace ------------------------------------------------------------------

@dataclass(frozen=True)
class RngDraw:
    """One call to a random function made while a transform ran.

    Attributes:
        source: ``'numpy'`` (``np.random``) or ``'random'`` (Python's module).
        function: e.g. ``'uniform'``.
        args: the positional arguments (ranges), or ``()`` for a bare coin flip ``uniform()``.
        value: the result if it was a single number, else None (arrays, e.g. a noise field).
        shape: the result's shape for array results.
    """

    source: str
    function: str
    args: tuple
    value: float | None
    shape: tuple[int, ...] | None = None

    @property
    def is_coin(self) -> bool:
        """A bare ``uniform()`` / ``random()``: a probability check, not a parameter."""
        return not self.args and self.value is not None


_NUMPY_FUNCS = ("uniform", "normal", "random", "random_sample", "rand", "randn", "randint", "choice",
                "shuffle", "permutation", "random_integers", "binomial", "beta", "gamma", "poisson")
_PY_FUNCS = ("uniform", "random", "gauss", "normalvariate", "randint", "choice", "shuffle", "sample",
             "lognormvariate", "betavariate")


def _as_draw(source: str, function: str, args: tuple, kwargs: dict, result: Any) -> RngDraw:
    value, shape = None, None
    if isinstance(result, np.ndarray) and result.ndim > 0:
        shape = tuple(result.shape)
    elif isinstance(result, (int, float, np.integer, np.floating, np.ndarray)) and not isinstance(result, bool):
        value = float(result)
    plain_args = tuple(a if not isinstance(a, np.ndarray) else tuple(a.shape) for a in args)
    if kwargs:
        plain_args = plain_args + tuple(f"{k}={v if not isinstance(v, np.ndarray) else v.shape}"
                                        for k, v in kwargs.items())
    return RngDraw(source, function, plain_args, value, shape)


@contextlib.contextmanager
def _recording_rng(log: list[RngDraw]) -> Iterator[None]:
    """Log every draw from ``numpy.random`` and ``random`` made inside the block (values unchanged).

    The module attributes are replaced by wrappers and restored in ``finally``; this is the one place the
    explorer does that, because batchgenerators offers no other way to learn what it sampled.
    """
    originals: list[tuple[Any, str, Callable]] = []

    def wrap(module: Any, source: str, name: str) -> None:
        original = getattr(module, name, None)
        if original is None:
            return

        def recorded(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            log.append(_as_draw(source, name, args, kwargs, result))
            return result

        originals.append((module, name, original))
        setattr(module, name, recorded)

    try:
        for name in _NUMPY_FUNCS:
            wrap(np.random, "numpy", name)
        for name in _PY_FUNCS:
            wrap(_pyrandom, "random", name)
        yield
    finally:
        for module, name, original in reversed(originals):
            setattr(module, name, original)


def _values(draws: Sequence[RngDraw]) -> list[float]:
    """Sampled parameter values: scalar draws made with a range (not the bare coin flips)."""
    return [d.value for d in draws if d.args and d.value is not None]


def _coins(draws: Sequence[RngDraw]) -> list[float]:
    return [d.value for d in draws if d.is_coin]


def _interpret_spatial(t: Any, draws: Sequence[RngDraw], ndim: int) -> tuple[bool, dict]:
    """Walk augment_spatial's draw order: [elastic coin, α, σ], rotation coin, per axis coin + angle, scale."""
    scalars = iter([d.value for d in draws if d.value is not None])
    params: dict[str, Any] = {}
    fired = False
    if t.do_elastic_deform and next(scalars) < t.p_el_per_sample:
        params["elastic_alpha"], params["elastic_sigma"] = next(scalars), next(scalars)
        fired = True
    if t.do_rotation and next(scalars) < t.p_rot_per_sample:
        for axis in ("x", "y", "z")[: 1 if ndim == 2 else 3]:
            if next(scalars) <= t.p_rot_per_axis:
                angle = next(scalars)
                params[f"angle_{axis}"] = angle
                params[f"angle_{axis}_deg"] = math.degrees(angle)
                fired = True
    if t.do_scale and next(scalars) < t.p_scale_per_sample:
        if t.independent_scale_for_each_axis and next(scalars) < t.p_independent_scale_per_axis:
            scales = []
            for _ in range(ndim):
                next(scalars)
                scales.append(next(scalars))
            params["scale"] = scales
        else:
            next(scalars)  # the coin choosing "zoom in" (< 1) or "zoom out" (> 1)
            params["scale"] = next(scalars)
        fired = True
    return fired, params


def _interpret_mirror(t: Any, draws: Sequence[RngDraw], ndim: int) -> tuple[bool, dict]:
    coins = iter(_coins(draws))
    flipped: list[int] = []
    if next(coins, 1.0) < t.p_per_sample:
        for axis in (0, 1, 2):
            if axis in t.axes and (axis < 2 or ndim == 3):
                if next(coins) < 0.5:
                    flipped.append(axis)
    return bool(flipped), {"mirrored_axes": tuple(flipped)}


def _interpret_by_values(name: str, drop_first: bool = False) -> Callable:
    def interpret(t: Any, draws: Sequence[RngDraw], ndim: int) -> tuple[bool, dict]:
        coins = _coins(draws)
        fired = bool(coins) and coins[0] < getattr(t, "p_per_sample", 1)
        values = _values(draws)
        if drop_first:
            values = values[1:]
        if not fired:
            return False, {}
        return bool(values), {name: values[0] if len(values) == 1 else values}
    return interpret


def _interpret_binary_operator(t: Any, draws: Sequence[RngDraw], ndim: int) -> tuple[bool, dict]:
    """ApplyRandomBinaryOperatorTransform: coin, shuffle(channels), per channel [coin, op index, radius]."""
    it = iter(draws)
    if not next(it).value < t.p_per_sample:
        return False, {}
    shuffle = next(it)
    # np.random.shuffle works in place: the logged argument *is* the list, in the order the channels were visited
    order = list(shuffle.args[0]) if shuffle.args and isinstance(shuffle.args[0], list) else list(t.channel_idx)
    operations = []
    for channel in order:
        if next(it).value < t.p_per_label:
            op, radius = next(it), next(it)
            operations.append({"channel": int(channel), "operation": t.any_of_these[int(op.value)].__name__,
                               "radius": float(radius.value)})
    return bool(operations), {"operations": operations}


def _interpret_remove_component(t: Any, draws: Sequence[RngDraw], ndim: int) -> tuple[bool, dict]:
    """RemoveRandomConnectedComponent...: coin, per channel [coin, (component choice, fill coin, (other))]."""
    items = list(draws)
    if not items or not items[0].value < t.p_per_sample:
        return False, {}
    i, removed = 1, []
    for channel in t.channel_idx:
        coin = items[i]
        i += 1
        if not coin.value < t.p_per_label:
            continue
        if i < len(items) and items[i].function == "choice":  # an eligible component was drawn and removed
            component, fill = int(items[i].value), items[i + 1].value
            i += 2
            filled_into = None
            if fill < t.fill_with_other_class_p and [c for c in t.channel_idx if c != channel]:
                filled_into = int(items[i].value)
                i += 1
            removed.append({"channel": int(channel), "component": component, "filled_into": filled_into})
    params: dict[str, Any] = {"removed": removed}
    if not t.dont_do_if_covers_more_than_X_percent > 0:
        params["note"] = tr("v1 quirk: size threshold 0 (arguments swapped), nothing can be removed",
                            "v1 的特殊行为:大小阈值为 0(两个参数传反了),没有连通域能被删除")
    return bool(removed), params


_INTERPRETERS: dict[str, Callable] = {
    "SpatialTransform": _interpret_spatial,
    "MirrorTransform": _interpret_mirror,
    "GaussianNoiseTransform": _interpret_by_values("noise_sigma"),
    "GaussianBlurTransform": _interpret_by_values("blur_sigma"),
    # augment_brightness_multiplicative draws one multiplier, then (per_channel) one per channel
    "BrightnessMultiplicativeTransform": _interpret_by_values("multiplier", drop_first=True),
    "BrightnessTransform": _interpret_by_values("added"),
    "ContrastAugmentationTransform": _interpret_by_values("contrast_factor"),
    "SimulateLowResolutionTransform": _interpret_by_values("zoom"),
    "GammaTransform": _interpret_by_values("gamma"),
    # the cascade's corruptions of the previous stage's segmentation
    "ApplyRandomBinaryOperatorTransform": _interpret_binary_operator,
    "RemoveRandomConnectedComponentFromOneHotEncodingTransform": _interpret_remove_component,
}


@dataclass(frozen=True)
class TransformStep:
    """One transform of a traced transform chain.

    Attributes:
        index: position in the list (0-based).
        name: class name, with ``(inverted)`` for the inverted gamma.
        description: :func:`describe_transform` of the transform.
        random: whether the transform draws random numbers at all.
        fired: for random transforms, whether it changed this sample (drew parameters); None for deterministic.
        params: the sampled parameters read off the draws (empty if it did not fire).
        draws: every random draw it made, in order.
        data, seg: the sample after the transform, ``(C, *spatial)`` and ``(*spatial)`` (the full-resolution
            target after deep-supervision downsampling), numpy.
        seconds: time the transform took.
        prior: cascade only: the previous stage's segmentation ``(*spatial)`` after the transform (seg channel 1
            before ``MoveSegAsOneHotToData``, decoded from the one-hot image channels after it); else None.
    """

    index: int
    name: str
    description: str
    random: bool
    fired: bool | None
    params: Mapping[str, Any]
    draws: tuple[RngDraw, ...]
    data: np.ndarray
    seg: np.ndarray | None
    seconds: float
    prior: np.ndarray | None = None

    @property
    def changed(self) -> bool | None:
        return self.fired


@dataclass(frozen=True)
class AugmentationTrace:
    """A sample followed through the augmentation, transform by transform (see :func:`trace_augmentation`).

    Attributes:
        seed: the seed both ``np.random`` and ``random`` were set to.
        case_id: the case the sample came from (if the batch carried it).
        provenance: the loader's :class:`~nnunet_explorer.training.dataloading.SampleProvenance`, if any.
        input_data, input_seg: the sample before the first transform.
        steps: one :class:`TransformStep` per transform.
        output: the final batch dict (tensors after NumpyToTensor), one sample.
        input_prior: cascade only: the previous stage's segmentation before the first transform.
    """

    seed: int
    case_id: str | None
    provenance: Any
    input_data: np.ndarray
    input_seg: np.ndarray | None
    steps: tuple[TransformStep, ...]
    output: Mapping[str, Any] = field(repr=False)
    input_prior: np.ndarray | None = None

    @property
    def fired(self) -> list[str]:
        """Names of the random transforms that changed this sample."""
        return [s.name for s in self.steps if s.fired]

    def table(self) -> list[dict[str, Any]]:
        """One row per transform: index, name, fired, params, seconds (for tables and cards)."""
        return [{"index": s.index, "name": s.name, "random": s.random,
                 "fired": "always" if s.fired is None else s.fired, "params": dict(s.params),
                 "seconds": s.seconds} for s in self.steps]

    def layers(self) -> list[tuple[str, np.ndarray, str]]:
        """Arrays a viewer (napari) can show: ``(name, array, 'image' | 'labels')`` before and after each step.

        Images are the first channel ``(*spatial)`` float32; labels are int32 (-1 marks padding before
        RemoveLabelTransform). Cascade traces add the previous stage's segmentation (``prior``) per step.
        """
        out = [("input image", self.input_data[0].astype(np.float32), "image")]
        if self.input_seg is not None:
            out.append(("input seg", self.input_seg.astype(np.int32), "labels"))
        if self.input_prior is not None:
            out.append(("input prior", self.input_prior.astype(np.int32), "labels"))
        for s in self.steps:
            tag = f"{s.index:02d} {s.name}"
            out.append((f"{tag} image", s.data[0].astype(np.float32), "image"))
            if s.seg is not None:
                out.append((f"{tag} seg", s.seg.astype(np.int32), "labels"))
            if s.prior is not None:
                out.append((f"{tag} prior", s.prior.astype(np.int32), "labels"))
        return out

    def summary(self) -> str:
        """Text: one line per transform, fired ones with their sampled parameters."""
        head = f"seed {self.seed}" + (f", case {self.case_id}" if self.case_id else "")
        if self.provenance is not None:
            head += f", box {list(self.provenance.box)}" + (" (forced foreground)" if self.provenance.forced else "")
        lines = [head]
        for s in self.steps:
            state = "always" if s.fired is None else ("FIRED" if s.fired else "-")
            params = ", ".join(f"{k}={_fmt(v)}" for k, v in s.params.items() if not k.endswith("_deg"))
            lines.append(f"{s.index:2d} {s.name:34s} {state:6s} {params}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from html import escape

        rows = "".join(
            f"<tr><td>{s.index}</td><td>{escape(s.name)}</td>"
            f"<td>{'always' if s.fired is None else ('<b>fired</b>' if s.fired else '')}</td>"
            f"<td>{escape(', '.join(f'{k}={_fmt(v)}' for k, v in s.params.items() if not k.endswith('_deg')))}</td>"
            f"<td>{1000 * s.seconds:.1f} ms</td></tr>" for s in self.steps)
        return (f"<details open><summary>augmentation trace: {escape(self.summary().splitlines()[0])}</summary>"
                "<table><tr><th>#</th><th>transform</th><th>fired</th><th>sampled parameters</th><th>time</th></tr>"
                f"{rows}</table></details>")

    def __repr__(self) -> str:
        return (f"AugmentationTrace(seed={self.seed}, case={self.case_id}, {len(self.steps)} transforms, "
                f"fired={self.fired})")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + " ".join(f"{k}={_fmt(v)}" for k, v in value.items()) + "}"
    return str(value)


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _snapshot(batch: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray | None]:
    """The sample's image ``(C, *spatial)`` and segmentation ``(*spatial)``, in 3D even mid dummy-2D."""
    data = _to_numpy(batch["data"]).copy()
    seg_value = batch.get("seg", batch.get("target"))
    if isinstance(seg_value, (list, tuple)):
        seg_value = seg_value[0]
    seg = None if seg_value is None else _to_numpy(seg_value).copy()
    if "orig_shape_data" in batch and data.ndim == 4:  # between Convert3DTo2D and Convert2DTo3D
        shp = batch["orig_shape_data"]
        data = data.reshape((shp[0], shp[1], shp[2], data.shape[-2], data.shape[-1]))
        if seg is not None and seg.ndim == 4:
            sshp = batch["orig_shape_seg"]
            seg = seg.reshape((sshp[0], sshp[1], sshp[2], seg.shape[-2], seg.shape[-1]))
    return data[0], (None if seg is None else seg[0, 0])


def _prior_snapshot(batch: Mapping[str, Any], labels: Sequence[int] | None, moved: bool) -> np.ndarray | None:
    """The cascade's previous-stage segmentation of the sample ``(*spatial)``, or None (not a cascade batch).

    Before ``MoveSegAsOneHotToData`` it is seg channel 1; after, it is decoded from the last ``len(labels)``
    image channels (channel i set -> label ``labels[i]``; the one-hot channels never overlap).
    """
    if labels is None:
        return None
    if not moved:
        seg = batch.get("seg")
        if seg is None or isinstance(seg, (list, tuple)):
            return None
        seg = _to_numpy(seg)
        if "orig_shape_seg" in batch and seg.ndim == 4:
            sshp = batch["orig_shape_seg"]
            seg = seg.reshape((sshp[0], sshp[1], sshp[2], seg.shape[-2], seg.shape[-1]))
        return seg[0, 1].copy() if seg.shape[1] > 1 else None
    one_hot = _to_numpy(batch["data"])[0, -len(labels):]
    prior = np.zeros(one_hot.shape[1:], dtype=np.int32)
    for i, value in enumerate(labels):
        prior[one_hot[i] > 0] = value
    return prior


def _is_random(transform: Any) -> bool:
    return type(transform).__name__ in _INTERPRETERS


def _step_name(transform: Any) -> str:
    name = type(transform).__name__
    if name == "GammaTransform" and getattr(transform, "invert_image", False):
        return "GammaTransform (inverted)"
    return name


def _one_sample(batch: Mapping[str, Any], index: int) -> dict:
    """A copy of ``batch`` holding only sample ``index`` (batch dimension kept)."""
    out: dict[str, Any] = {}
    for key, value in batch.items():
        if isinstance(value, np.ndarray) and value.ndim > 0 and key in ("data", "seg"):
            out[key] = value[index:index + 1].copy()
        elif key in ("properties", "keys", "provenance") and value is not None:
            out[key] = [value[index]] if not isinstance(value, np.ndarray) else value[index:index + 1]
        else:
            out[key] = value
    return out


def trace_augmentation(batch_or_case: Mapping[str, Any], transforms: Sequence[Any] | Compose, seed: int = 0, *,
                       sample_index: int = 0) -> AugmentationTrace:
    """Run one sample through ``transforms`` and record every step (patch, fired, sampled parameters).

    Args:
        batch_or_case: a loader batch (``data (b, C, …)``, ``seg (b, 1, …)``, optionally ``keys`` and
            ``provenance``); for one chosen case use :func:`~nnunet_explorer.training.dataloading.case_batch`.
        transforms: a list from :func:`build_train_transforms` (or a ``Compose``).
        seed: ``np.random.seed(seed)`` and ``random.seed(seed)`` are set before the first transform, so the same
            seed reproduces the same augmentation. The caller's random states are restored afterwards.
        sample_index: which sample of the batch to follow (the trace always runs a batch of one).

    Returns:
        An :class:`AugmentationTrace`. Its final arrays equal what ``Compose(transforms)`` gives for the same
        one-sample batch and seeds; the parameters are read from the observed draws (see the module docstring).
    """
    transform_list = list(transforms.transforms if isinstance(transforms, Compose) else transforms)
    if not isinstance(batch_or_case, Mapping) or "data" not in batch_or_case:
        raise ConfigurationError(tr("trace_augmentation needs a batch dict with 'data' and 'seg'",
                                    "trace_augmentation 需要一个含 'data' 和 'seg' 的 batch 字典"),
                                 fix=tr("pass a loader batch, or dataloading.case_batch(dataset, case_id, ...)",
                                        "请传入数据加载器的一个 batch，或 dataloading.case_batch(dataset, case_id, ...)"))
    batch = _one_sample(batch_or_case, sample_index)
    case_id = None
    if batch.get("keys") is not None and len(batch["keys"]):
        case_id = str(batch["keys"][0])
    provenance = batch["provenance"][0] if batch.get("provenance") else None
    input_data, input_seg = _snapshot(batch)
    move = next((t for t in transform_list if type(t).__name__ == "MoveSegAsOneHotToData"), None)
    prior_labels = list(move.all_seg_labels) if move is not None else None
    moved = False
    input_prior = _prior_snapshot(batch, prior_labels, moved)

    np_state, py_state = np.random.get_state(), _pyrandom.getstate()
    np.random.seed(seed)
    _pyrandom.seed(seed)
    steps = []
    try:
        for i, transform in enumerate(transform_list):
            ndim = batch["data"].ndim - 2
            draws: list[RngDraw] = []
            start = time.perf_counter()
            with _recording_rng(draws):
                batch = transform(**batch)
            seconds = time.perf_counter() - start
            interpreter = _INTERPRETERS.get(type(transform).__name__)
            if interpreter is not None:
                try:
                    fired, params = interpreter(transform, draws, ndim)
                except (StopIteration, IndexError):  # a batchgenerators version drawing in another order
                    fired, params = bool(_values(draws)), {"values": _values(draws)}
            else:
                fired, params = None, {}
            data, seg = _snapshot(batch)
            moved = moved or transform is move
            steps.append(TransformStep(i, _step_name(transform), describe_transform(transform),
                                       interpreter is not None, fired, params, tuple(draws), data, seg, seconds,
                                       _prior_snapshot(batch, prior_labels, moved)))
    finally:
        np.random.set_state(np_state)
        _pyrandom.setstate(py_state)
    return AugmentationTrace(seed, case_id, provenance, input_data, input_seg, tuple(steps), batch, input_prior)

