"""The cascade's hand-over: the ``3d_lowres`` network's segmentation becomes input of ``3d_cascade_fullres``.

nnU-Net v1's cascade passes a segmentation from the low-resolution stage to the full-resolution stage in two
places, with two different recipes:

**During training** (:func:`predict_next_stage`, run by ``nnUNet_train 3d_lowres ...`` after validation unless
``--disable_next_stage_pred``): each *validation* case of the fold is predicted on its stage-0 (low-resolution)
preprocessed data, the probabilities are resampled to the shape of the case's stage-1 (full-resolution)
preprocessed data (order 1; unlike the validation export, always in 3D at once, never separately along z: v1
passes ``force_separate_z``, None by default, as ``do_separate_z`` with no axis), the argmax is taken, and the
label map is stored as
``<3d_lowres model folder>/pred_next_stage/CASE_segFromPrevStage.npz`` (key ``data``, uint8). Because every case
is validated by exactly one of the five folds, five folds together cover every case with a segmentation made by
a network that never trained on it — the full-resolution stage learns from *realistic* low-resolution errors.

**At prediction time** (:func:`seg_from_prev_stage_channels`, used by ``predict -m 3d_cascade_fullres``): the
``3d_lowres`` prediction is a NIfTI on the original image grid. It is transposed like the image
(``transpose_forward``), resized to the preprocessed image's shape with ``resize_segmentation`` (order 1) and
one-hot encoded over the foreground labels; those channels are appended to the image channels.

A v1 quirk shown here as it is: the preprocessed image has been *cropped* to its nonzero box before resampling,
but the previous-stage segmentation is resized from the *uncropped* image grid. When the crop removed anything
(images with a zero background, e.g. skull-stripped MR), the two are misaligned. :func:`seg_from_prev_stage_channels`
reports this in its ``warnings``.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import DatasetError, ExplorerError
from ..fileio import save_npz_atomic
from ..language import tr
from ..provenance import mirrors
from ..training.cascade_augmentation import to_one_hot
from ..training.dataloading import prev_stage_file
from ..network_architecture.sliding_window import predict_sliding_window
from .validation import export_params


@dataclass(frozen=True)
class NextStageCase:
    """One case predicted for the next stage."""

    case: str
    lowres_shape: tuple[int, ...]
    fullres_shape: tuple[int, ...]
    output_file: Path
    labels_found: tuple[int, ...]
    seconds: float

    def summary(self) -> str:
        low, full, labels = list(self.lowres_shape), list(self.fullres_shape), list(self.labels_found)
        return tr(f"{self.case}: predicted at {low}, resampled to {full}, labels {labels} -> {self.output_file.name} "
                  f"({self.seconds:.1f} s)",
                  f"{self.case}:在 {low} 上预测,重采样到 {full},标签 {labels} -> {self.output_file.name}"
                  f"(用时 {self.seconds:.1f} s)")


@dataclass(frozen=True)
class NextStageReport:
    """What :func:`predict_next_stage` wrote."""

    output_folder: Path
    cases: tuple[NextStageCase, ...] = field(repr=False)
    seconds: float = 0.0

    def summary(self) -> str:
        return tr(f"predicted {len(self.cases)} validation case(s) for the next stage of the cascade into "
                  f"{self.output_folder} in {self.seconds:.1f} s",
                  f"为级联的下一级预测了 {len(self.cases)} 个验证病例,写入 {self.output_folder},用时 "
                  f"{self.seconds:.1f} s")


@mirrors("nnunet.training.cascade_stuff.predict_next_stage:predict_next_stage")
def predict_next_stage(network, plans: Mapping[str, Any], stage: int, fold_folder: str | os.PathLike,
                       lowres_stage_folder: str | os.PathLike, fullres_stage_folder: str | os.PathLike,
                       val_keys: Sequence[str], *, do_mirroring: bool = True,
                       mirror_axes: Sequence[int] = (0, 1, 2), mixed_precision: bool = False, device=None,
                       tile_batch_size: int | None = None, sums_on: str = "auto", log=print) -> NextStageReport:
    """Write ``pred_next_stage/CASE_segFromPrevStage.npz`` for the fold's validation cases (see the module docstring).

    Args:
        network: the trained ``3d_lowres`` network (v1 uses the weights it has at the end of ``run_training``,
            or the checkpoint ``-val`` loaded).
        plans: the 3D plans (the export parameters, the stage-0 patch size).
        stage: the low-resolution stage (0).
        fold_folder: ``.../3d_lowres/<Task>/<Trainer>__<plans>/fold_k``; output goes to its parent's
            ``pred_next_stage``.
        lowres_stage_folder, fullres_stage_folder: ``<data_identifier>_stage0`` and ``_stage1``.
        val_keys: the fold's validation cases.
        do_mirroring, mirror_axes: v1 uses the training's ``do_mirror`` / ``mirror_axes``.
        tile_batch_size, sums_on: the sliding window's (None / ``"auto"``: 4 tiles per pass and float32 sums on
            the GPU on CUDA, v1's one tile and CPU sums elsewhere).
    """
    from ..planning.resampling import resample_data_or_seg
    from ..training.processed_plans import process_plans

    start = time.perf_counter()
    processed = process_plans(plans, stage)
    force_separate_z, order, order_z = export_params(plans)
    output_folder = Path(fold_folder).parent / "pred_next_stage"
    output_folder.mkdir(parents=True, exist_ok=True)
    lowres_stage_folder, fullres_stage_folder = Path(lowres_stage_folder), Path(fullres_stage_folder)
    records = []
    for case in val_keys:
        t0 = time.perf_counter()
        log(case)
        with np.load(lowres_stage_folder / f"{case}.npz") as f:
            data = f["data"][:-1]
        fullres_file = fullres_stage_folder / f"{case}.npz"
        if not fullres_file.is_file():
            raise ExplorerError(tr(f"{fullres_file} does not exist: the cascade needs the full-resolution stage too",
                                   f"{fullres_file} 不存在: 级联也需要全分辨率的 stage"),
                                fix=tr("preprocess both 3D stages (plan_and_preprocess with -tl/-tf covering stage 1)",
                                       "请预处理两个 3D stage(plan_and_preprocess 的 -tl/-tf 要包括 stage 1)"))
        with np.load(fullres_file) as f:
            target_shape = f["data"].shape[1:]
        result = predict_sliding_window(network, data, processed.patch_size, do_mirroring=do_mirroring,
                                        mirror_axes=tuple(mirror_axes) if do_mirroring else (), step_size=0.5,
                                        use_gaussian=True, mixed_precision=mixed_precision, device=device,
                                        tile_batch_size=tile_batch_size, sums_on=sums_on)
        # v1 passes force_separate_z as do_separate_z without an axis: None/False resample in 3D at once
        resampled = resample_data_or_seg(result.probabilities, target_shape, False, order=order,
                                         do_separate_z=bool(force_separate_z), order_z=order_z)
        seg = resampled.argmax(0).astype(np.uint8)
        out = Path(prev_stage_file(output_folder, case))
        # differs from v1: written atomically in this process (v1 uses a Pool(2) and np.savez_compressed in place)
        save_npz_atomic(out, data=seg)
        records.append(NextStageCase(case, tuple(int(s) for s in data.shape[1:]), tuple(int(s) for s in target_shape),
                                     out, tuple(int(v) for v in np.unique(seg)), time.perf_counter() - t0))
    return NextStageReport(output_folder, tuple(records), time.perf_counter() - start)


@dataclass(frozen=True)
class PrevStageInput:
    """The previous-stage segmentation turned into input channels for one case at prediction time."""

    channels: np.ndarray = field(repr=False)  # (C-1, *preprocessed shape), float32 one-hot
    source_shape: tuple[int, ...]
    warnings: tuple[str, ...] = ()


@mirrors("nnunet.inference.predict:preprocess_save_to_queue")
def seg_from_prev_stage_channels(seg_file: str | os.PathLike, image_file: str | os.PathLike,
                                 preprocessed_shape: Sequence[int], transpose_forward: Sequence[int],
                                 num_classes: int, properties: Mapping[str, Any] | None = None) -> PrevStageInput:
    """One-hot channels of a ``3d_lowres`` prediction NIfTI for the preprocessed image (v1's prediction recipe).

    The NIfTI must have the image's voxel grid; it is transposed with ``transpose_forward``, resized to the
    preprocessed shape with ``resize_segmentation(order=1)`` and one-hot encoded over labels ``1..C-1``.

    Raises:
        DatasetError: the file is missing, not a ``.nii.gz``, or its array shape differs from the image's.
    """
    import SimpleITK as sitk
    from batchgenerators.augmentations.utils import resize_segmentation

    seg_file, image_file = Path(seg_file), Path(image_file)
    if not seg_file.is_file() or not seg_file.name.endswith(".nii.gz"):
        raise DatasetError(tr(f"segs_from_prev_stage must point to a segmentation file: {seg_file} is not a .nii.gz "
                              "file",
                              f"segs_from_prev_stage 必须指向一个分割文件: {seg_file} 不是 .nii.gz 文件"),
                           fix=tr("give -l the folder of the 3d_lowres predictions (CASE.nii.gz per case)",
                                  "请给 -l 传入 3d_lowres 预测结果所在的文件夹(每个病例一个 CASE.nii.gz)"))
    seg_prev = sitk.GetArrayFromImage(sitk.ReadImage(str(seg_file)))
    image_shape = sitk.ReadImage(str(image_file)).GetSize()[::-1]
    if tuple(seg_prev.shape) != tuple(image_shape):
        raise DatasetError(tr(f"image and segmentation from previous stage don't have the same pixel array shape! "
                              f"image: {image_file} {list(image_shape)}, seg_prev: {seg_file} {list(seg_prev.shape)}",
                              f"图像与上一阶段的分割的像素数组形状不同(v1 的报错: image and segmentation from previous "
                              f"stage don't have the same pixel array shape!): 图像 {image_file} {list(image_shape)}, "
                              f"seg_prev {seg_file} {list(seg_prev.shape)}"),
                           fix=tr("use the 3d_lowres predictions of these very images",
                                  "请使用正是这些图像的 3d_lowres 预测结果"))
    warnings = []
    if properties is not None:
        box = properties.get("crop_bbox")
        if box is not None and any(lo != 0 or hi != n for (lo, hi), n in zip(box, image_shape)):
            # v1 behaves the same way; the explorer only says it out loud
            warnings.append(tr(f"the image was cropped to its nonzero box {[list(b) for b in box]} but the "
                               "previous-stage segmentation is resized from the full image grid (v1 does the same): "
                               "the two are misaligned by the crop",
                               f"图像被裁剪到了它的非零区域 {[list(b) for b in box]}, 但上一阶段的分割是从完整的图像网格"
                               "缩放过来的(v1 也是这样): 两者错开了裁剪掉的那部分"))
    seg_prev = seg_prev.transpose([int(i) for i in transpose_forward])
    resized = resize_segmentation(seg_prev, tuple(int(s) for s in preprocessed_shape), order=1)
    channels = to_one_hot(resized, range(1, int(num_classes))).astype(np.float32)
    return PrevStageInput(channels, tuple(int(s) for s in seg_prev.shape), tuple(warnings))


__all__ = ["NextStageCase", "NextStageReport", "PrevStageInput", "predict_next_stage", "seg_from_prev_stage_channels"]
