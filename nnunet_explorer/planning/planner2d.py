"""The 2D experiment planner of nnU-Net v1 (``ExperimentPlanner2D_v21``): one stage of 2D slices.

Differences from the 3D planner that a learner should know (all taken from v1's code):

* target spacing is the plain per-axis median (no anisotropy rule);
* the patch starts as the in-plane median shape (no 512-voxel start);
* the first memory estimate uses 30 base features and a cap of 512 filters, the re-estimates inside the
  shrink loop use 32 (the network itself later uses 32 and a cap of 480);
* batch size is ``floor(ref / here) * 2`` with ``ref = 19739648 * 50 / 2`` and a 5 % cap with no floor of 2.
"""
from __future__ import annotations

from copy import deepcopy
from typing import Any, Mapping

import numpy as np

from ..errors import PlansError
from ..language import tr
from ..provenance import mirrors
from .explain import fmt, record
from .planner3d import assemble_plans, get_transpose, median_shape_at
from .topology import get_pool_and_conv_props
from .vram import DEFAULT_BATCH_SIZE_2D, compute_approx_vram_consumption, use_this_for_batch_size_computation_2D

PLANS_FILENAME_2D = "nnUNetPlansv2.1_plans_2D.pkl"
DATA_IDENTIFIER_2D = "nnUNetData_plans_v2.1_2D"
PREPROCESSOR_NAME_2D = "PreprocessorFor2D"

unet_base_num_features = 32
unet_first_estimate_base_num_features = 30  # hard-coded in v1's first estimate
unet_max_num_filters = 512
unet_max_numpool = 999
unet_min_batch_size = 2
unet_featuremap_min_edge_length = 4
target_spacing_percentile = 50
batch_size_covers_max_percent_of_dataset = 0.05
conv_per_stage = 2


@mirrors("nnunet.experiment_planning.experiment_planner_baseline_3DUNet:ExperimentPlanner.get_target_spacing")
def get_target_spacing(all_spacings, *, trace: list | None = None) -> np.ndarray:
    """Per-axis median spacing (the 2D v2.1 planner keeps the base class rule: no anisotropy rule)."""
    target = np.percentile(np.vstack(all_spacings), target_spacing_percentile, 0)
    record(trace, "2d", None, "target_spacing", "median spacing", target.copy(),
           lambda: tr("per-axis median of the cropped cases' spacings (the 2D planner has no anisotropy rule)",
                      "各轴取裁剪后病例 spacing 的中位数(2D 规划器没有各向异性规则)"))
    return target


@mirrors("nnunet.experiment_planning.experiment_planner_baseline_2DUNet_v21:ExperimentPlanner2D_v21.get_properties_for_stage")
def get_properties_for_stage(current_spacing: np.ndarray, original_spacing: np.ndarray, original_shape: np.ndarray,
                             num_cases: int, num_modalities: int, num_classes: int, *,
                             trace: list | None = None) -> dict:
    """Plan the single 2D stage: in-plane patch, topology, batch size.

    Arguments as in :func:`.planner3d.get_properties_for_stage` (spacings/shapes transposed, 3 axes); the
    first (out-of-plane) axis is the slicing axis and is not part of the patch.

    Raises:
        PlansError: when the batch size before the cap is < 2 (v1: ``RuntimeError("This should not happen")``).
    """
    new_median_shape = np.round(original_spacing / current_spacing * original_shape).astype(int)
    dataset_num_voxels = np.prod(new_median_shape, dtype=np.int64) * num_cases
    patch = new_median_shape[1:]
    num_pool, pools, convs, new_shp, divisor = get_pool_and_conv_props(
        current_spacing[1:], patch, unet_featuremap_min_edge_length, unet_max_numpool).as_tuple()
    ref = use_this_for_batch_size_computation_2D * DEFAULT_BATCH_SIZE_2D / 2
    here = compute_approx_vram_consumption(new_shp, num_pool, unet_first_estimate_base_num_features,
                                           unet_max_num_filters, num_modalities, num_classes, pools,
                                           conv_per_stage=conv_per_stage)
    first_here, first_shape = here, new_shp.copy()
    shrinks: list[int] = []
    while here > ref:
        axis = np.argsort(new_shp / new_median_shape[1:])[-1]
        tmp = deepcopy(new_shp)
        tmp[axis] -= divisor[axis]
        new_divisor = get_pool_and_conv_props(current_spacing[1:], tmp, unet_featuremap_min_edge_length,
                                              unet_max_numpool).must_be_divisible_by
        new_shp[axis] -= new_divisor[axis]
        num_pool, pools, convs, new_shp, divisor = get_pool_and_conv_props(
            current_spacing[1:], new_shp, unet_featuremap_min_edge_length, unet_max_numpool).as_tuple()
        # v1 re-estimates with 32 base features inside the loop (30 only for the first estimate)
        here = compute_approx_vram_consumption(new_shp, num_pool, unet_base_num_features, unet_max_num_filters,
                                               num_modalities, num_classes, pools, conv_per_stage=conv_per_stage)
        shrinks.append(int(axis))
    batch_size = int(np.floor(ref / here) * 2)
    vram_batch = batch_size
    patch_size = new_shp
    if batch_size < unet_min_batch_size:
        raise PlansError(tr(f"2D planning: the memory proxy of the smallest patch {fmt(patch_size)} allows a batch "
                            f"of {batch_size} < 2 (v1 stops here with 'This should not happen')",
                            f"2D 规划:最小的 patch {fmt(patch_size)} 的显存代理量只允许 batch 为 {batch_size} < 2"
                            f"(v1 在这里停止,报错 'This should not happen')"),
                         fix=tr("the in-plane median shape is extremely large; skip 2D planning with -pl2d None",
                                "平面内的中位形状太大;用 -pl2d None 跳过 2D 规划"))
    max_batch_size = np.round(batch_size_covers_max_percent_of_dataset * dataset_num_voxels /
                              np.prod(patch_size, dtype=np.int64)).astype(int)
    batch_size = max(1, min(batch_size, max_batch_size))

    if trace is not None:
        record(trace, "2d", "2d", "median_patient_size_in_voxels", "median shape at this spacing", new_median_shape,
               lambda: tr(f"median shape {fmt(original_shape)} at {fmt(current_spacing)} mm, rounded",
                          f"spacing {fmt(current_spacing)} mm 下的中位形状 {fmt(original_shape)},取整"))

        def shrink_text() -> str:
            if shrinks:
                return tr(f"; shrunk {len(shrinks)} times (axes {fmt(shrinks)}) because the VRAM proxy "
                          f"{fmt(float(first_here))} (base 30) exceeded the reference {fmt(ref)} (= 19739648 * 50/2)",
                          f";缩小了 {len(shrinks)} 次(依次沿轴 {fmt(shrinks)}),因为显存代理量 "
                          f"{fmt(float(first_here))}(基础特征数 30)超过了参考值 {fmt(ref)}（= 19739648 * 50/2）")
            return tr(f"; VRAM proxy {fmt(float(here))} (base 30) below the reference {fmt(ref)}",
                      f";显存代理量 {fmt(float(here))}(基础特征数 30)低于参考值 {fmt(ref)}")

        record(trace, "2d", "2d", "patch_size", "in-plane median shape, pad, VRAM shrink loop", patch_size.copy(),
               lambda: tr(f"started at the in-plane median shape {fmt(patch)}, padded to multiples of 2^pools -> "
                          f"{fmt(first_shape)}",
                          f"从平面内的中位形状 {fmt(patch)} 起步,填充到 2^pools 的倍数 -> {fmt(first_shape)}")
                       + shrink_text(), vram_first=first_here, vram_final=here, vram_reference=ref)
        record(trace, "2d", "2d", "pool_op_kernel_sizes", "get_pool_and_conv_props", pools,
               lambda: tr(f"in-plane spacing {fmt(current_spacing[1:])}; num_pool_per_axis {fmt(num_pool)}; "
                          f"conv kernels "
                          f"{fmt(convs)}",
                          f"平面内 spacing {fmt(current_spacing[1:])};num_pool_per_axis {fmt(num_pool)};卷积核 "
                          f"{fmt(convs)}"))
        record(trace, "2d", "2d", "batch_size", "VRAM headroom, 5% cap (no floor)", batch_size,
               lambda: tr(f"floor(ref/here) * 2 = floor({fmt(ref / here)}) * 2 = {vram_batch}; cap: 5% of the "
                          f"dataset's "
                          f"voxels ({fmt(int(dataset_num_voxels))}) / patch pixels ({fmt(int(np.prod(patch_size)))}) "
                          f"rounded = {fmt(max_batch_size)}",
                          f"floor(ref/here) * 2 = floor({fmt(ref / here)}) * 2 = {vram_batch};上限:数据集体素数"
                          f"({fmt(int(dataset_num_voxels))})的 5% / patch 像素数({fmt(int(np.prod(patch_size)))}),"
                          f"四舍五入 = {fmt(max_batch_size)}")
                       + ("" if batch_size == vram_batch else tr(f"; the cap wins -> {fmt(batch_size)}",
                                                                 f";上限起作用 -> {fmt(batch_size)}")))
    return {
        "batch_size": batch_size,
        "num_pool_per_axis": num_pool,
        "patch_size": patch_size,
        "median_patient_size_in_voxels": new_median_shape,
        "current_spacing": current_spacing,
        "original_spacing": original_spacing,
        "pool_op_kernel_sizes": pools,
        "conv_kernel_sizes": convs,
        "do_dummy_2D_data_aug": False,
    }


@mirrors("nnunet.experiment_planning.experiment_planner_baseline_2DUNet:ExperimentPlanner2D.plan_experiment")
def plan_experiment_2d(dataset_properties: Mapping[str, Any], *, list_of_npz_files: list[str],
                       preprocessed_output_folder: str, normalization_schemes: Mapping,
                       use_mask_for_norm: Mapping, trace: list | None = None) -> dict:
    """The whole 2D plans dict (``nnUNetPlansv2.1_plans_2D.pkl``; no ``conv_per_stage`` key, as in v1)."""
    spacings = dataset_properties["all_spacings"]
    sizes = dataset_properties["all_sizes"]
    num_modalities = len(list(dataset_properties["modalities"].keys()))
    target_spacing = get_target_spacing(spacings, trace=trace)
    median_shape = median_shape_at(spacings, sizes, target_spacing)
    forward, backward = get_transpose(target_spacing, planner="2d", trace=trace)
    target_t = np.array(target_spacing)[forward]
    median_t = np.array(median_shape)[forward]
    stage = get_properties_for_stage(target_t, target_t, median_t, len(list_of_npz_files), num_modalities,
                                     len(dataset_properties["all_classes"]) + 1, trace=trace)
    return assemble_plans(plans_per_stage={0: stage}, dataset_properties=dataset_properties,
                          list_of_npz_files=list_of_npz_files, preprocessed_output_folder=preprocessed_output_folder,
                          normalization_schemes=normalization_schemes, use_mask_for_norm=use_mask_for_norm,
                          transpose_forward=forward, transpose_backward=backward, data_identifier=DATA_IDENTIFIER_2D,
                          base_num_features=unet_base_num_features, preprocessor_name=PREPROCESSOR_NAME_2D,
                          with_conv_per_stage=False)
