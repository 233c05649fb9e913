"""nnU-Net v1's other augmentation functions, and the call form of all five ``get_*_augmentation`` functions.

v1 ships five functions that turn two data loaders into two background augmenters (training, validation).
They differ only in the training transform list; validation never augments:

=========================================  ===============================  ==========================================
v1 function (module)                       used by (e.g.)                   training transforms, compared with moreDA
=========================================  ===============================  ==========================================
``get_default_augmentation``               ``nnUNetTrainer`` (v1's first    spatial (no per-axis rotation p), gamma,
(default_data_augmentation)                trainer), its cascade trainer    mirror; no noise, blur, brightness,
                                                                            contrast, low-res, inverted gamma; no
                                                                            deep supervision
``get_moreDA_augmentation``                ``nnUNetTrainerV2`` and most     see :mod:`~nnunet_explorer.training.
(data_augmentation_moreDA)                 variants                         augmentation`
``get_insaneDA_augmentation``              ``nnUNetTrainerV2_insaneDA``     stronger intensity transforms (noise p
(data_augmentation_insaneDA)                                                0.15, blur sigma up to 1.5, brightness
                                                                            0.7-1.3, contrast 0.65-1.5, inverted
                                                                            gamma p 0.15), additive brightness after
                                                                            the inverted gamma, per-axis scaling p
``get_insaneDA_augmentation2``             ``nnUNetTrainerV2_DA3``,         as insaneDA, with batchgenerators'
(data_augmentation_insaneDA2)              the BraTS regions moreDA one     ``SpatialTransform_2`` (elastic
                                                                            deformation by ``eldef_deformation_scale``)
``get_no_augmentation``                    ``nnUNetTrainerNoDA``,           none: channel selection, -1 -> 0, target
(data_augmentation_noDA)                   ``nnUNetTrainerV2_noDA`` (*)     formatting only; fixed worker seeds
=========================================  ===============================  ==========================================

(*) the file's name; the class in it is ``nnUNetTrainerV2_noDataAugmentation``.

The ``build_*`` functions return the transform lists (batchgenerators' classes where v1 uses them, the
explorer's re-written nnU-Net transforms otherwise), so that they can be compared with v1's one to one. The
``get_*`` functions have v1's exact signatures (positional order and every keyword) and return the explorer's
augmenters (:class:`~nnunet_explorer.training.augmenter.MultiProcessAugmenter`, whose ``.data_loader`` and
``.transform`` a caller can re-wrap in a :class:`~nnunet_explorer.training.augmenter.SingleThreadedAugmenter`).

The explorer's own trainers call these functions too (``nnUNetTrainerV2.initialize`` calls
:func:`get_moreDA_augmentation` as v1's does), and ``nnunet_explorer.v1`` exposes them under v1's module names.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from batchgenerators.transforms.abstract_transforms import Compose
from batchgenerators.transforms.channel_selection_transforms import (DataChannelSelectionTransform,
                                                                     SegChannelSelectionTransform)
from batchgenerators.transforms.color_transforms import (BrightnessMultiplicativeTransform, BrightnessTransform,
                                                         ContrastAugmentationTransform, GammaTransform)
from batchgenerators.transforms.noise_transforms import GaussianBlurTransform, GaussianNoiseTransform
from batchgenerators.transforms.resample_transforms import SimulateLowResolutionTransform
from batchgenerators.transforms.spatial_transforms import MirrorTransform, SpatialTransform, SpatialTransform_2
from batchgenerators.transforms.utility_transforms import RemoveLabelTransform

from ..provenance import mirrors
from .augmentation import (Convert2DTo3DTransform, Convert3DTo2DTransform, MaskTransform, _check_supported,
                           build_train_transforms, build_val_transforms, target_transforms)
from .cascade_augmentation import cascade_transforms
from .data_augmentation_params import default_3D_augmentation_params

Regions = Mapping[Any, Sequence[int]]
Scales = Sequence[Sequence[float]]


# --- pieces the functions share -----------------------------------------------------------------------

def _channel_selection(params: Mapping[str, Any]) -> list:
    """Data and segmentation channel selection, when the params name channels (the cascade keeps seg 0 and 1)."""
    out: list = []
    if params.get("selected_data_channels") is not None:
        out.append(DataChannelSelectionTransform(params.get("selected_data_channels")))
    if params.get("selected_seg_channels") is not None:
        out.append(SegChannelSelectionTransform(params.get("selected_seg_channels")))
    return out


def _spatial_kwargs(params: Mapping[str, Any], border_val_seg: int, order_seg: int, order_data: int) -> dict:
    """The spatial-transform arguments every v1 augmentation function reads from the params the same way."""
    return dict(patch_center_dist_from_border=None, do_elastic_deform=params.get("do_elastic"),
                do_rotation=params.get("do_rotation"), angle_x=params.get("rotation_x"),
                angle_y=params.get("rotation_y"), angle_z=params.get("rotation_z"),
                do_scale=params.get("do_scaling"), scale=params.get("scale_range"),
                border_mode_data=params.get("border_mode_data"), border_cval_data=0, order_data=order_data,
                border_mode_seg="constant", border_cval_seg=border_val_seg, order_seg=order_seg,
                random_crop=params.get("random_crop"), p_el_per_sample=params.get("p_eldef"),
                p_scale_per_sample=params.get("p_scale"), p_rot_per_sample=params.get("p_rot"),
                independent_scale_for_each_axis=params.get("independent_scale_factor_for_each_axis"))


def _with_dummy_2d(params: Mapping[str, Any], patch_size: Sequence[int], make_spatial: Any) -> tuple[list, Any]:
    """``[Convert3DTo2D, spatial, Convert2DTo3D]`` for dummy 2D, else ``[spatial]``; plus the low-res ignore axes.

    ``make_spatial(patch_size_spatial)`` builds the spatial transform for the (in-plane) patch size.
    """
    if params.get("dummy_2D"):
        return [Convert3DTo2DTransform(), make_spatial(patch_size[1:]), Convert2DTo3DTransform()], (0,)
    return [make_spatial(patch_size)], None


def _mirror_mask_remove_label(params: Mapping[str, Any]) -> list:
    """Mirroring, the nonzero mask, and -1 ("outside the case") -> 0, in v1's order.

    v1's default augmentation checks ``do_mirror`` only, the others also the old key ``mirror``; the old key is
    refused beforehand (``_check_supported``), so one test serves all.
    """
    out: list = []
    if params.get("do_mirror") or params.get("mirror"):
        out.append(MirrorTransform(params.get("mirror_axes")))
    if params.get("mask_was_used_for_normalization") is not None:
        out.append(MaskTransform(params.get("mask_was_used_for_normalization"), mask_idx_in_seg=0,
                                 set_outside_to=0))
    out.append(RemoveLabelTransform(-1, 0))
    return out


# --- default (nnUNetTrainer) ---------------------------------------------------------------------------

@mirrors("nnunet.training.data_augmentation.default_data_augmentation:get_default_augmentation")
def build_default_train_transforms(patch_size: Sequence[int], params: Mapping[str, Any], *,
                                   border_val_seg: int = -1, regions: Regions | None = None) -> list:
    """The training transforms of v1's ``get_default_augmentation`` (the original ``nnUNetTrainer``).

    Channel selection → (dummy 2D: fold) → ``SpatialTransform`` (order 3 / 1, no per-axis rotation
    probability) → (unfold) → ``GammaTransform`` (if ``do_gamma``) → ``MirrorTransform`` (if ``do_mirror``) →
    ``MaskTransform`` → ``RemoveLabelTransform(-1, 0)`` → cascade (both corruptions whenever
    ``cascade_do_cascade_augmentations``, even at probability 0) → target formatting, no deep supervision.
    """
    _check_supported(params)
    spatial, _ = _with_dummy_2d(params, patch_size, lambda size: SpatialTransform(
        size, alpha=params.get("elastic_deform_alpha"), sigma=params.get("elastic_deform_sigma"),
        **_spatial_kwargs(params, border_val_seg, 1, 3)))
    tr = _channel_selection(params) + spatial
    if params.get("do_gamma"):
        tr.append(GammaTransform(params.get("gamma_range"), False, True, retain_stats=params.get("gamma_retain_stats"),
                                 p_per_sample=params["p_gamma"]))
    tr.extend(_mirror_mask_remove_label(params))
    tr.extend(cascade_transforms(dict(params), train=True, use_p_per_label=False, skip_zero_p=False))
    tr.extend(target_transforms(None, regions=regions))
    return tr


# --- insaneDA / insaneDA2 ------------------------------------------------------------------------------

def _insane_train_transforms(spatial: list, ignore_axes: Any, params: Mapping[str, Any],
                             deep_supervision_scales: Scales | None, regions: Regions | None, soft_ds: bool,
                             classes: Sequence[int] | None) -> list:
    """Everything of insaneDA / insaneDA2 after channel selection, given their spatial part."""
    tr = _channel_selection(params) + spatial
    tr.append(GaussianNoiseTransform(p_per_sample=0.15))
    tr.append(GaussianBlurTransform((0.5, 1.5), different_sigma_per_channel=True, p_per_sample=0.2,
                                    p_per_channel=0.5))
    tr.append(BrightnessMultiplicativeTransform(multiplier_range=(0.70, 1.3), p_per_sample=0.15))
    tr.append(ContrastAugmentationTransform(contrast_range=(0.65, 1.5), p_per_sample=0.15))
    tr.append(SimulateLowResolutionTransform(zoom_range=(0.5, 1), per_channel=True, p_per_channel=0.5,
                                             order_downsample=0, order_upsample=3, p_per_sample=0.25,
                                             ignore_axes=ignore_axes))
    tr.append(GammaTransform(params.get("gamma_range"), True, True, retain_stats=params.get("gamma_retain_stats"),
                             p_per_sample=0.15))  # inverted
    # unlike moreDA, the additive brightness comes after the inverted gamma
    if params.get("do_additive_brightness"):
        tr.append(BrightnessTransform(params.get("additive_brightness_mu"), params.get("additive_brightness_sigma"),
                                      True, p_per_sample=params.get("additive_brightness_p_per_sample"),
                                      p_per_channel=params.get("additive_brightness_p_per_channel")))
    if params.get("do_gamma"):
        tr.append(GammaTransform(params.get("gamma_range"), False, True, retain_stats=params.get("gamma_retain_stats"),
                                 p_per_sample=params["p_gamma"]))
    tr.extend(_mirror_mask_remove_label(params))
    tr.extend(cascade_transforms(dict(params), train=True, use_p_per_label=False))
    tr.extend(target_transforms(deep_supervision_scales, regions=regions, soft_ds=soft_ds, classes=classes))
    return tr


@mirrors("nnunet.training.data_augmentation.data_augmentation_insaneDA:get_insaneDA_augmentation")
def build_insaneDA_train_transforms(patch_size: Sequence[int], params: Mapping[str, Any],
                                    deep_supervision_scales: Scales | None = None, *, border_val_seg: int = -1,
                                    order_seg: int = 1, order_data: int = 3, regions: Regions | None = None,
                                    soft_ds: bool = False, classes: Sequence[int] | None = None) -> list:
    """The training transforms of v1's ``get_insaneDA_augmentation`` (``nnUNetTrainerV2_insaneDA``).

    ``SpatialTransform`` as in moreDA but with ``p_independent_scale_per_axis`` from the params (and the
    default per-axis rotation probability 1), then the stronger intensity transforms of the module table.
    """
    _check_supported(params)
    spatial, ignore_axes = _with_dummy_2d(params, patch_size, lambda size: SpatialTransform(
        size, alpha=params.get("elastic_deform_alpha"), sigma=params.get("elastic_deform_sigma"),
        p_independent_scale_per_axis=params.get("p_independent_scale_per_axis"),
        **_spatial_kwargs(params, border_val_seg, order_seg, order_data)))
    return _insane_train_transforms(spatial, ignore_axes, params, deep_supervision_scales, regions, soft_ds, classes)


@mirrors("nnunet.training.data_augmentation.data_augmentation_insaneDA2:get_insaneDA_augmentation2")
def build_insaneDA2_train_transforms(patch_size: Sequence[int], params: Mapping[str, Any],
                                     deep_supervision_scales: Scales | None = None, *, border_val_seg: int = -1,
                                     order_seg: int = 1, order_data: int = 3, regions: Regions | None = None,
                                     soft_ds: bool = False, classes: Sequence[int] | None = None) -> list:
    """The training transforms of v1's ``get_insaneDA_augmentation2`` (``nnUNetTrainerV2_DA3``).

    insaneDA with batchgenerators' ``SpatialTransform_2``: the elastic deformation is sized by
    ``params['eldef_deformation_scale']`` (a fraction of the patch) instead of alpha / sigma.
    """
    _check_supported(params)
    spatial, ignore_axes = _with_dummy_2d(params, patch_size, lambda size: SpatialTransform_2(
        size, deformation_scale=params.get("eldef_deformation_scale"),
        p_independent_scale_per_axis=params.get("p_independent_scale_per_axis"),
        **_spatial_kwargs(params, border_val_seg, order_seg, order_data)))
    return _insane_train_transforms(spatial, ignore_axes, params, deep_supervision_scales, regions, soft_ds, classes)


# --- noDA ----------------------------------------------------------------------------------------------

@mirrors("nnunet.training.data_augmentation.data_augmentation_noDA:get_no_augmentation")
def build_noDA_train_transforms(params: Mapping[str, Any], deep_supervision_scales: Scales | None = None, *,
                                regions: Regions | None = None, soft_ds: bool = False,
                                classes: Sequence[int] | None = None) -> list:
    """The training transforms of v1's ``get_no_augmentation``: channel selection, -1 -> 0, target formatting.

    No spatial transform, so the loader must already cut the network's patch size (noDA trainers do). No
    cascade transforms either: a cascade with noDA would keep the prior in the segmentation (as in v1).
    """
    return _channel_selection(params) + [RemoveLabelTransform(-1, 0)] + target_transforms(
        deep_supervision_scales, regions=regions, soft_ds=soft_ds, classes=classes)


@mirrors("nnunet.training.data_augmentation.data_augmentation_noDA:get_no_augmentation")
def build_noDA_val_transforms(params: Mapping[str, Any], deep_supervision_scales: Scales | None = None, *,
                              regions: Regions | None = None, soft_ds: bool = False,
                              classes: Sequence[int] | None = None) -> list:
    """The validation transforms of ``get_no_augmentation``: -1 -> 0 first, then channel selection (v1's order)."""
    return [RemoveLabelTransform(-1, 0)] + _channel_selection(params) + target_transforms(
        deep_supervision_scales, regions=regions, soft_ds=soft_ds, classes=classes)


# --- v1's call forms: loaders in, augmenters out --------------------------------------------------------

def _augmenters(dataloader_train: Any, dataloader_val: Any, train: list, val: list, params: Mapping[str, Any], *,
                seeds_train: Sequence[int] | None, seeds_val: Sequence[int] | None, pin_memory: bool,
                fixed_seeds: bool = False) -> tuple[Any, Any]:
    """The explorer's background augmenters around ``Compose(train)`` / ``Compose(val)``, as v1 sizes them.

    Training gets ``n`` workers, validation ``max(n // 2, 1)``, each ``params['num_cached_per_thread']`` batches
    deep. ``fixed_seeds`` gives worker ``i`` the seed ``i`` (v1's noDA).
    """
    from .augmenter import MultiProcessAugmenter, default_num_processes

    # differs from v1: the worker count is default_num_processes() (nnUNet_n_proc_DA if set, else the cores
    # shared among local training processes, at most 12), not params['num_threads'] (12 whenever
    # nnUNet_n_proc_DA is unset and the host is not in v1's DKFZ hostname table).
    threads = default_num_processes()
    val_threads = max(threads // 2, 1)
    cached = int(params.get("num_cached_per_thread") or 1)
    if fixed_seeds:
        seeds_train, seeds_val = list(range(threads)), list(range(val_threads))
    return (MultiProcessAugmenter(dataloader_train, Compose(train), threads, cached,
                                  seeds=None if seeds_train is None else list(seeds_train), pin_memory=pin_memory),
            MultiProcessAugmenter(dataloader_val, Compose(val), val_threads, cached,
                                  seeds=None if seeds_val is None else list(seeds_val), pin_memory=pin_memory))


def _params(params: Mapping[str, Any] | None) -> Mapping[str, Any]:
    # differs from v1: v1's default argument is its shared module dict; here a fresh copy of the same defaults
    return default_3D_augmentation_params() if params is None else params


@mirrors("nnunet.training.data_augmentation.default_data_augmentation:get_default_augmentation")
def get_default_augmentation(dataloader_train: Any, dataloader_val: Any, patch_size: Sequence[int],
                             params: Mapping[str, Any] | None = None, border_val_seg: int = -1,
                             pin_memory: bool = True, seeds_train: Sequence[int] | None = None,
                             seeds_val: Sequence[int] | None = None,
                             regions: Regions | None = None) -> tuple[Any, Any]:
    """v1's ``get_default_augmentation``: (training, validation) augmenters of ``nnUNetTrainer``.

    See :func:`build_default_train_transforms`; validation is :func:`~nnunet_explorer.training.augmentation.
    build_val_transforms` without deep supervision.
    """
    params = _params(params)
    train = build_default_train_transforms(patch_size, params, border_val_seg=border_val_seg, regions=regions)
    val = build_val_transforms(params, None, regions=regions)
    return _augmenters(dataloader_train, dataloader_val, train, val, params, seeds_train=seeds_train,
                       seeds_val=seeds_val, pin_memory=pin_memory)


@mirrors("nnunet.training.data_augmentation.data_augmentation_moreDA:get_moreDA_augmentation")
def get_moreDA_augmentation(dataloader_train: Any, dataloader_val: Any, patch_size: Sequence[int],
                            params: Mapping[str, Any] | None = None, border_val_seg: int = -1,
                            seeds_train: Sequence[int] | None = None, seeds_val: Sequence[int] | None = None,
                            order_seg: int = 1, order_data: int = 3, deep_supervision_scales: Scales | None = None,
                            soft_ds: bool = False, classes: Sequence[int] | None = None, pin_memory: bool = True,
                            regions: Regions | None = None,
                            use_nondetMultiThreadedAugmenter: bool = False) -> tuple[Any, Any]:
    """v1's ``get_moreDA_augmentation`` with v1's signature (``nnUNetTrainerV2``'s augmentation).

    The transform lists are :func:`~nnunet_explorer.training.augmentation.build_train_transforms` /
    ``build_val_transforms`` with every option passed through.

    ``use_nondetMultiThreadedAugmenter``: v1 then uses batchgenerators' ``NonDetMultiThreadedAugmenter``, which
    hands out batches in whatever order the workers finish them.
    """
    # differs from v1: use_nondetMultiThreadedAugmenter=True is accepted but the batches still come
    # round-robin from the workers (each worker's batches are the same; only their interleaving is fixed).
    del use_nondetMultiThreadedAugmenter
    params = _params(params)
    train = build_train_transforms(patch_size, params, deep_supervision_scales, border_val_seg=border_val_seg,
                                   order_seg=order_seg, order_data=order_data, regions=regions, soft_ds=soft_ds,
                                   classes=classes)
    val = build_val_transforms(params, deep_supervision_scales, regions=regions, soft_ds=soft_ds, classes=classes)
    return _augmenters(dataloader_train, dataloader_val, train, val, params, seeds_train=seeds_train,
                       seeds_val=seeds_val, pin_memory=pin_memory)


@mirrors("nnunet.training.data_augmentation.data_augmentation_insaneDA:get_insaneDA_augmentation")
def get_insaneDA_augmentation(dataloader_train: Any, dataloader_val: Any, patch_size: Sequence[int],
                              params: Mapping[str, Any] | None = None, border_val_seg: int = -1,
                              seeds_train: Sequence[int] | None = None, seeds_val: Sequence[int] | None = None,
                              order_seg: int = 1, order_data: int = 3,
                              deep_supervision_scales: Scales | None = None, soft_ds: bool = False,
                              classes: Sequence[int] | None = None, pin_memory: bool = True,
                              regions: Regions | None = None) -> tuple[Any, Any]:
    """v1's ``get_insaneDA_augmentation`` (``nnUNetTrainerV2_insaneDA``); validation as moreDA's."""
    params = _params(params)
    train = build_insaneDA_train_transforms(patch_size, params, deep_supervision_scales, border_val_seg=border_val_seg,
                                            order_seg=order_seg, order_data=order_data, regions=regions,
                                            soft_ds=soft_ds, classes=classes)
    val = build_val_transforms(params, deep_supervision_scales, regions=regions, soft_ds=soft_ds, classes=classes)
    return _augmenters(dataloader_train, dataloader_val, train, val, params, seeds_train=seeds_train,
                       seeds_val=seeds_val, pin_memory=pin_memory)


@mirrors("nnunet.training.data_augmentation.data_augmentation_insaneDA2:get_insaneDA_augmentation2")
def get_insaneDA_augmentation2(dataloader_train: Any, dataloader_val: Any, patch_size: Sequence[int],
                               params: Mapping[str, Any] | None = None, border_val_seg: int = -1,
                               seeds_train: Sequence[int] | None = None, seeds_val: Sequence[int] | None = None,
                               order_seg: int = 1, order_data: int = 3,
                               deep_supervision_scales: Scales | None = None, soft_ds: bool = False,
                               classes: Sequence[int] | None = None, pin_memory: bool = True,
                               regions: Regions | None = None) -> tuple[Any, Any]:
    """v1's ``get_insaneDA_augmentation2`` (``nnUNetTrainerV2_DA3``); validation as moreDA's."""
    params = _params(params)
    train = build_insaneDA2_train_transforms(patch_size, params, deep_supervision_scales,
                                             border_val_seg=border_val_seg, order_seg=order_seg,
                                             order_data=order_data, regions=regions, soft_ds=soft_ds, classes=classes)
    val = build_val_transforms(params, deep_supervision_scales, regions=regions, soft_ds=soft_ds, classes=classes)
    return _augmenters(dataloader_train, dataloader_val, train, val, params, seeds_train=seeds_train,
                       seeds_val=seeds_val, pin_memory=pin_memory)


@mirrors("nnunet.training.data_augmentation.data_augmentation_noDA:get_no_augmentation")
def get_no_augmentation(dataloader_train: Any, dataloader_val: Any, params: Mapping[str, Any] | None = None,
                        deep_supervision_scales: Scales | None = None, soft_ds: bool = False,
                        classes: Sequence[int] | None = None, pin_memory: bool = True,
                        regions: Regions | None = None) -> tuple[Any, Any]:
    """v1's ``get_no_augmentation``: no augmentation at all; note there is no ``patch_size`` argument.

    v1 quirk, kept: the workers are seeded ``0, 1, ..., n - 1`` (not from OS entropy as in the other
    functions), so a noDA run draws the same batches every time for the same worker count.
    """
    # differs from v1: v1's get_no_augmentation starts the workers right away (restart()); the explorer's start on
    # the first next() (v1's default moreDA function starts them lazily too)
    params = _params(params)
    train = build_noDA_train_transforms(params, deep_supervision_scales, regions=regions, soft_ds=soft_ds,
                                        classes=classes)
    val = build_noDA_val_transforms(params, deep_supervision_scales, regions=regions, soft_ds=soft_ds,
                                    classes=classes)
    return _augmenters(dataloader_train, dataloader_val, train, val, params, seeds_train=None, seeds_val=None,
                       pin_memory=pin_memory, fixed_seeds=True)
