"""The 3D experiment planner of nnU-Net v1 (``ExperimentPlanner3D_v21``): target spacing, patch, batch, stages.

Input is the dataset *fingerprint* (``dataset_properties.pkl``: the size and spacing of every cropped case,
the class list, the modalities); output is the plans dictionary that ``nnUNet_train 3d_fullres`` (and
``3d_lowres`` / the cascade when there are two stages) reads. Every rule is a small function; each records
what it decided into an optional ``trace`` list (see :mod:`.explain`).

Axis order: spacings and sizes in the fingerprint are ``(z, y, x)`` as SimpleITK arrays come; the plan is made
in the *transposed* order where the coarsest axis comes first (``transpose_forward``).
"""
from __future__ import annotations

from copy import deepcopy
from typing import Any, Mapping, Sequence

import numpy as np

from ..language import tr
from ..provenance import mirrors
from .explain import fmt, record
from .topology import get_pool_and_conv_props
from .vram import DEFAULT_BATCH_SIZE_3D, BASE_NUM_FEATURES_3D, compute_approx_vram_consumption, \
    use_this_for_batch_size_computation_3D

PLANS_FILENAME_3D = "nnUNetPlansv2.1_plans_3D.pkl"
DATA_IDENTIFIER_3D = "nnUNetData_plans_v2.1"
PREPROCESSOR_NAME_3D = "GenericPreprocessor"

# ExperimentPlanner / ExperimentPlanner3D_v21 attributes, same values
unet_base_num_features = 32
unet_max_num_filters = 320
unet_max_numpool = 999
unet_min_batch_size = 2
unet_featuremap_min_edge_length = 4
target_spacing_percentile = 50
anisotropy_threshold = 3
how_much_of_a_patient_must_the_network_see_at_stage0 = 4
batch_size_covers_max_percent_of_dataset = 0.05
conv_per_stage = 2


@mirrors("nnunet.experiment_planning.experiment_planner_baseline_3DUNet_v21:ExperimentPlanner3D_v21.get_target_spacing")
def get_target_spacing(all_spacings: Sequence[Sequence[float]], all_sizes: Sequence[Sequence[int]], *,
                       trace: list | None = None) -> np.ndarray:
    """Median spacing per axis, except that a strongly anisotropic coarse axis gets its 10th percentile.

    The *anisotropy rule*: with ``worst = argmax(median spacing)``, if the worst axis is coarser than 3x every
    other axis **and** has fewer than a third of the voxels of every other axis (median sizes of the cropped
    cases, in original voxels), its target spacing becomes the 10th percentile of that axis's spacings
    (if that is below the largest other spacing, it becomes that spacing + 1e-5). This keeps thin-slice cases from
    being down-sampled to a few slices.
    """
    spacings = np.vstack(all_spacings)
    target = np.percentile(spacings, target_spacing_percentile, 0)
    target_size = np.percentile(np.vstack(all_sizes), target_spacing_percentile, 0)
    worst = int(np.argmax(target))
    others = [i for i in range(len(target)) if i != worst]
    other_spacings = [target[i] for i in others]
    other_sizes = [target_size[i] for i in others]
    aniso_spacing = target[worst] > anisotropy_threshold * max(other_spacings)
    aniso_voxels = target_size[worst] * anisotropy_threshold < min(other_sizes)
    median = target.copy()
    if aniso_spacing and aniso_voxels:
        t = np.percentile(spacings[:, worst], 10)
        if t < max(other_spacings):
            t = max(max(other_spacings), t) + 1e-5
        target[worst] = t
        rule = "anisotropy rule (10th percentile)"
    else:
        rule = "median spacing"

    def text() -> str:
        if rule != "median spacing":
            return tr(f"median spacing {fmt(median)}; axis {worst} ({fmt(median[worst])} mm) is > 3x the other axes "
                      f"({fmt(other_spacings)}) and its median size {fmt(target_size[worst])} voxels is < 1/3 of the "
                      f"others ({fmt(other_sizes)}), so it gets the 10th percentile of its spacings: "
                      f"{fmt(target[worst])} mm",
                      f"spacing 的中位数 {fmt(median)};轴 {worst}（{fmt(median[worst])} mm）> 其他轴"
                      f"({fmt(other_spacings)})的 3 倍,且它的中位大小 {fmt(target_size[worst])} 个体素 < 其他轴"
                      f"({fmt(other_sizes)})的 1/3,所以取它各 spacing 的第 10 百分位:{fmt(target[worst])} mm")
        why = []
        if not aniso_spacing:
            why.append(tr(f"coarsest axis {worst} ({fmt(median[worst])} mm) is not > 3x the others "
                          f"({fmt(other_spacings)})",
                          f"最粗的轴 {worst}({fmt(median[worst])} mm)不 > 其他轴({fmt(other_spacings)})的 3 倍"))
        if not aniso_voxels:
            why.append(tr(f"its median size {fmt(target_size[worst])} voxels is not < 1/3 of the others "
                          f"({fmt(other_sizes)})",
                          f"它的中位大小 {fmt(target_size[worst])} 个体素不 < 其他轴({fmt(other_sizes)})的 1/3"))
        return (tr("per-axis median of the cropped cases' spacings; anisotropy rule not applied: ",
                   "各轴取裁剪后病例 spacing 的中位数;不适用各向异性规则:") + tr("; ", ";").join(why))

    record(trace, "3d", None, "target_spacing", rule, target.copy(), text, median_spacing=median,
           median_size=target_size, worst_axis=worst)
    return target


@mirrors("nnunet.experiment_planning.experiment_planner_baseline_3DUNet:ExperimentPlanner.plan_experiment")
def get_transpose(target_spacing: Sequence[float], *, planner: str = "3d",
                  trace: list | None = None) -> tuple[list, list]:
    """``transpose_forward`` puts the coarsest axis first; ``transpose_backward`` undoes it.

    Entries are numpy ints where v1 has numpy ints (the argmax and the argwhere results).
    """
    worst = np.argmax(target_spacing)
    forward = [worst] + [i for i in range(3) if i != worst]
    backward = [np.argwhere(np.array(forward) == i)[0][0] for i in range(3)]
    record(trace, planner, None, "transpose_forward", "coarsest axis first", [int(i) for i in forward],
           lambda: tr(f"target spacing {fmt(target_spacing)}: axis {int(worst)} is the coarsest, so it goes first "
                      f"(transpose_backward {[int(i) for i in backward]})",
                      f"目标 spacing {fmt(target_spacing)}:轴 {int(worst)} 最粗,所以排在最前"
                      f"(transpose_backward {[int(i) for i in backward]})"))
    return forward, backward


def initial_patch_3d(current_spacing: np.ndarray, new_median_shape: np.ndarray) -> list:
    """The start patch, clipped to the median shape: 512 voxels along the coarsest axis, the same mm on every axis.

    v1's comment calls it "an isotropic patch of size 512x512x512mm"; the code makes it 512 *voxels* along the
    axis with the largest spacing, so its side is ``512 * max(spacing)`` mm (512 mm only at 1 mm spacing).
    """
    v = 1 / np.array(current_spacing)
    v /= v.mean()
    v *= 1 / min(v) * 512
    v = np.round(v).astype(int)
    return [min(i, j) for i, j in zip(v, new_median_shape)], v


def vram_reference_3d() -> float:
    """The planner's memory budget for a batch of 2: ``520,000,000 * 32 / 30`` (the proxy of a known-good net)."""
    return use_this_for_batch_size_computation_3D * unet_base_num_features / BASE_NUM_FEATURES_3D


def batch_size_rule(vram_here: float, vram_reference: float, dataset_num_voxels: Any,
                    patch_size: Sequence[int] | np.ndarray) -> tuple[int, Any, Any]:
    """v1's 3D batch size for a patch whose memory proxy is ``vram_here``: ``(by memory, the 5 % cap, batch)``.

    By memory: ``floor(max(reference / here, 1) * 2)``, so at least 2 and more only when the patch leaves
    room. The cap: the batch's voxels may cover at most 5 % of the dataset's voxels (median case at this
    spacing times the number of cases), but the cap is never below 2. The batch is the smaller of the two.
    """
    by_vram = int(np.floor(max(vram_reference / vram_here, 1) * DEFAULT_BATCH_SIZE_3D))
    cap = np.round(batch_size_covers_max_percent_of_dataset * dataset_num_voxels /
                   np.prod(patch_size, dtype=np.int64)).astype(int)
    cap = max(cap, unet_min_batch_size)
    return by_vram, cap, max(1, min(by_vram, cap))


def dummy_2d_rule(patch_size: Sequence[int] | np.ndarray) -> bool:
    """``do_dummy_2D_data_aug``: the patch's largest edge is more than 3x its first (coarsest) edge."""
    return (max(patch_size) / patch_size[0]) > anisotropy_threshold


@mirrors("nnunet.experiment_planning.experiment_planner_baseline_3DUNet_v21:ExperimentPlanner3D_v21.get_properties_for_stage")
def get_properties_for_stage(current_spacing: np.ndarray, original_spacing: np.ndarray, original_shape: np.ndarray,
                             num_cases: int, num_modalities: int, num_classes: int, *, stage: str = "3d_fullres",
                             trace: list | None = None, record_decisions: bool = True) -> dict:
    """Plan one 3D stage: patch size, topology, batch size, dummy-2D flag.

    Args:
        current_spacing: this stage's spacing (transposed).
        original_spacing: the full-resolution target spacing (transposed).
        original_shape: the dataset's median shape at ``original_spacing`` (transposed, float).
        num_cases: number of cropped cases.
        num_modalities: input channels.
        num_classes: foreground classes + 1.
        stage: name used in the trace.
        trace: list to record decisions into.
        record_decisions: False for the intermediate candidates of the low-res search.

    Returns:
        v1's stage dict (keys ``batch_size, num_pool_per_axis, patch_size, median_patient_size_in_voxels,
        current_spacing, original_spacing, do_dummy_2D_data_aug, pool_op_kernel_sizes, conv_kernel_sizes``).
    """
    recording = trace if record_decisions else None
    new_median_shape = np.round(original_spacing / current_spacing * original_shape).astype(int)
    dataset_num_voxels = np.prod(new_median_shape) * num_cases
    patch, cube = initial_patch_3d(current_spacing, new_median_shape)
    topo = get_pool_and_conv_props(current_spacing, patch, unet_featuremap_min_edge_length, unet_max_numpool)
    num_pool, pools, convs, new_shp, divisor = topo.as_tuple()
    ref = vram_reference_3d()
    here = compute_approx_vram_consumption(new_shp, num_pool, unet_base_num_features, unet_max_num_filters,
                                           num_modalities, num_classes, pools, conv_per_stage=conv_per_stage)
    first_here, first_shape = here, new_shp.copy()
    shrinks: list[int] = []
    while here > ref:
        # shrink the axis where the patch covers the largest fraction of the median case
        axis = np.argsort(new_shp / new_median_shape)[-1]
        tmp = deepcopy(new_shp)
        tmp[axis] -= divisor[axis]
        new_divisor = get_pool_and_conv_props(current_spacing, tmp, unet_featuremap_min_edge_length,
                                              unet_max_numpool).must_be_divisible_by
        new_shp[axis] -= new_divisor[axis]
        num_pool, pools, convs, new_shp, divisor = get_pool_and_conv_props(
            current_spacing, new_shp, unet_featuremap_min_edge_length, unet_max_numpool).as_tuple()
        here = compute_approx_vram_consumption(new_shp, num_pool, unet_base_num_features, unet_max_num_filters,
                                               num_modalities, num_classes, pools, conv_per_stage=conv_per_stage)
        shrinks.append(int(axis))
    patch_size = new_shp
    vram_batch, max_batch_size, batch_size = batch_size_rule(here, ref, dataset_num_voxels, patch_size)
    do_dummy_2D_data_aug = dummy_2d_rule(patch_size)

    if recording is not None:
        record(recording, "3d", stage, "median_patient_size_in_voxels", "median shape at this spacing",
               new_median_shape,
               lambda: tr(f"median shape {fmt(original_shape)} at {fmt(original_spacing)} mm, resampled to "
                          f"{fmt(current_spacing)} mm and rounded",
                          f"spacing {fmt(original_spacing)} mm 下的中位形状 {fmt(original_shape)},重采样到 "
                          f"{fmt(current_spacing)} mm 后取整"), original_shape=original_shape)
        counts = {a: shrinks.count(a) for a in sorted(set(shrinks))}

        def shrink_text() -> str:
            if not shrinks:
                return tr(f"; the VRAM proxy {fmt(float(here))} is below the reference {fmt(ref)}, so no shrinking",
                          f";显存代理量 {fmt(float(here))} 低于参考值 {fmt(ref)},所以不用缩小")
            parts = tr(", ", "、").join(tr(f"axis {a} {n} time{'s' if n > 1 else ''}", f"轴 {a} {n} 次")
                                        for a, n in counts.items())
            return tr(f"; shrunk {len(shrinks)} time{'s' if len(shrinks) > 1 else ''} ({parts}), each time "
                      f"along the axis with the largest patch/median-shape ratio, because the VRAM proxy "
                      f"{fmt(float(first_here))} of {fmt(first_shape)} exceeded the reference {fmt(ref)} "
                      f"(= 520e6 * 32/30); it is now {fmt(float(here))}",
                      f";缩小了 {len(shrinks)} 次({parts}),每次沿 patch 与中位形状之比最大的轴缩小,因为 "
                      f"{fmt(first_shape)} 的显存代理量 {fmt(float(first_here))} 超过了参考值 {fmt(ref)}"
                      f"（= 520e6 * 32/30）;现在是 {fmt(float(here))}")

        record(recording, "3d", stage, "patch_size", "512-voxel start, clip, pad, VRAM shrink loop", patch_size.copy(),
               lambda: tr(f"started at {fmt(cube)} voxels at {fmt(current_spacing)} mm (512 along the coarsest axis, "
                          f"{fmt(float(512 * max(current_spacing)))} mm on every axis; v1's comment says 512 mm), "
                          f"clipped to the median shape {fmt(new_median_shape)} -> {fmt(patch)}, "
                          f"padded to multiples of 2^pools -> {fmt(first_shape)}",
                          f"起点是 spacing {fmt(current_spacing)} mm 下的 {fmt(cube)} 个体素(最粗的轴上 512 个,每个轴都是 "
                          f"{fmt(float(512 * max(current_spacing)))} mm;v1 的注释说的是 512 mm),裁剪到中位形状 "
                          f"{fmt(new_median_shape)} -> {fmt(patch)},再填充到 2^pools 的倍数 -> {fmt(first_shape)}")
                       + shrink_text(), vram_first=first_here, vram_final=here, vram_reference=ref, shrink_axes=shrinks)
        record(recording, "3d", stage, "pool_op_kernel_sizes", "get_pool_and_conv_props", pools,
               lambda: tr(f"pool an axis while its spacing is < 2x the finest and its size >= 8; num_pool_per_axis "
                          f"{fmt(num_pool)}; conv kernels {fmt(convs)}",
                          f"只要一个轴的 spacing 小于最细 spacing 的 2 倍且大小 >= 8,就继续在这个轴上池化;num_pool_per_axis "
                          f"{fmt(num_pool)};卷积核 {fmt(convs)}"))
        record(recording, "3d", stage, "batch_size", "VRAM headroom, 5% cap", batch_size,
               lambda: tr(f"floor(max(ref/here, 1) * 2) = floor({fmt(ref / here)} * 2) = {vram_batch}; cap: 5% of the "
                          f"dataset's voxels ({fmt(int(dataset_num_voxels))}) / patch voxels "
                          f"({fmt(int(np.prod(patch_size)))}) "
                          f"rounded, at least 2 = {fmt(max_batch_size)}",
                          f"floor(max(ref/here, 1) * 2) = floor({fmt(ref / here)} * 2) = {vram_batch};上限:数据集体素数"
                          f"({fmt(int(dataset_num_voxels))})的 5% / patch 体素数({fmt(int(np.prod(patch_size)))}),"
                          f"四舍五入,至少为 2 = {fmt(max_batch_size)}")
                       + ("" if batch_size == vram_batch else tr(f"; the cap wins -> {fmt(batch_size)}",
                                                                 f";上限起作用 -> {fmt(batch_size)}")),
               vram_batch=vram_batch, max_batch_size=max_batch_size, dataset_num_voxels=dataset_num_voxels)
        ratio = (f"max(patch) / patch[0] = {fmt(max(patch_size))} / {fmt(patch_size[0])} = "
                 f"{fmt(max(patch_size) / patch_size[0])}")
        record(recording, "3d", stage, "do_dummy_2D_data_aug", "max(patch) / patch[0] > 3", do_dummy_2D_data_aug,
               lambda: tr(f"{ratio} > 3: augment in 2D slices along the first (coarse) axis",
                          f"{ratio} > 3:空间增强在 2D 切片中进行,切片沿第一个(粗)轴排列") if do_dummy_2D_data_aug
                       else tr(f"{ratio} <= 3", f"{ratio} <= 3,所以 do_dummy_2D_data_aug 为 False"))

    return {
        "batch_size": batch_size,
        "num_pool_per_axis": num_pool,
        "patch_size": patch_size,
        "median_patient_size_in_voxels": new_median_shape,
        "current_spacing": current_spacing,
        "original_spacing": original_spacing,
        "do_dummy_2D_data_aug": do_dummy_2D_data_aug,
        "pool_op_kernel_sizes": pools,
        "conv_kernel_sizes": convs,
    }


def median_shape_at(all_spacings: Sequence, all_sizes: Sequence, target_spacing: np.ndarray) -> np.ndarray:
    """Per-axis median of every case's shape resampled to ``target_spacing`` (float, not rounded)."""
    new_shapes = [np.array(i) / target_spacing * np.array(j) for i, j in zip(all_spacings, all_sizes)]
    return np.median(np.vstack(new_shapes), 0)


@mirrors("nnunet.experiment_planning.experiment_planner_baseline_3DUNet:ExperimentPlanner.plan_experiment")
def plan_stages_3d(dataset_properties: Mapping[str, Any], num_cases: int, *,
                   trace: list | None = None) -> tuple[dict, list, list]:
    """Plan the full-resolution stage and, when the data are large, a low-resolution stage.

    Low-res rule: a second stage is tried iff the median case has at least 4x the voxels of the full-res
    patch. Its spacing grows by 1 % per step (only the axes more than 2x finer than the coarsest, or all
    axes when none is) until the median case is at most 4x the (re-planned) patch; it is kept only if its
    median case has fewer than half the voxels of the full-res median case.

    Returns:
        ``(plans_per_stage, transpose_forward, transpose_backward)`` with ``plans_per_stage = {0: lowres, 1:
        fullres}`` or ``{0: fullres}``.
    """
    spacings = dataset_properties["all_spacings"]
    sizes = dataset_properties["all_sizes"]
    all_classes = dataset_properties["all_classes"]
    num_modalities = len(list(dataset_properties["modalities"].keys()))
    target_spacing = get_target_spacing(spacings, sizes, trace=trace)
    median_shape = median_shape_at(spacings, sizes, target_spacing)
    forward, backward = get_transpose(target_spacing, trace=trace)
    target_t = np.array(target_spacing)[forward]
    median_t = np.array(median_shape)[forward]
    stages = [get_properties_for_stage(target_t, target_t, median_t, num_cases, num_modalities,
                                       len(all_classes) + 1, stage="3d_fullres", trace=trace)]
    arch_voxels = np.prod(stages[-1]["patch_size"], dtype=np.int64)
    ratio = np.prod(median_shape) / arch_voxels
    more = not (ratio < how_much_of_a_patient_must_the_network_see_at_stage0)
    if more:
        lowres = deepcopy(target_spacing)
        num_voxels = np.prod(median_shape, dtype=np.float64)
        steps = 0
        new = None
        while num_voxels > how_much_of_a_patient_must_the_network_see_at_stage0 * arch_voxels:
            max_spacing = max(lowres)
            if np.any((max_spacing / lowres) > 2):
                lowres[(max_spacing / lowres) > 2] *= 1.01
            else:
                lowres *= 1.01
            num_voxels = np.prod(target_spacing / lowres * median_shape, dtype=np.float64)
            new = get_properties_for_stage(np.array(lowres)[forward], target_t, median_t, num_cases, num_modalities,
                                           len(all_classes) + 1, stage="3d_lowres", trace=trace,
                                           record_decisions=False)
            arch_voxels = np.prod(new["patch_size"], dtype=np.int64)
            steps += 1
        # differs from v1: v1 raises UnboundLocalError when the loop body never runs (ratio exactly 4)
        if new is None:
            more = False
        else:
            kept = 2 * np.prod(new["median_patient_size_in_voxels"], dtype=np.int64) < np.prod(
                stages[0]["median_patient_size_in_voxels"], dtype=np.int64)
            if kept:
                # replay the kept candidate with recording on, so its patch/batch are explained
                new = get_properties_for_stage(np.array(lowres)[forward], target_t, median_t, num_cases,
                                               num_modalities, len(all_classes) + 1, stage="3d_lowres", trace=trace)
                stages.append(new)
            record(trace, "3d", "3d_lowres", "num_stages", "low-res rule", 2 if kept else 1,
                   lambda: tr(f"median case {fmt(float(np.prod(median_shape)))} voxels / full-res patch "
                              f"{fmt(int(np.prod(stages[0]['patch_size'])))} voxels = {fmt(float(ratio))} >= 4, so the "
                              f"spacing grew by 1 % per step ({steps} steps) to {fmt(lowres)} mm; the low-res median "
                              f"case has "
                              f"{fmt(int(np.prod(new['median_patient_size_in_voxels'])))} voxels, ",
                              f"中位病例 {fmt(float(np.prod(median_shape)))} 个体素 / 全分辨率 patch "
                              f"{fmt(int(np.prod(stages[0]['patch_size'])))} 个体素 = {fmt(float(ratio))} >= 4,所以 spacing "
                              f"每步增大 1 %(共 {steps} 步),直到 {fmt(lowres)} mm;低分辨率的中位病例有 "
                              f"{fmt(int(np.prod(new['median_patient_size_in_voxels'])))} 个体素,")
                           + (tr("less than half of the full-res one: stage kept (stage 0 = 3d_lowres, "
                                 "stage 1 = 3d_fullres)",
                                 "不到全分辨率的一半:保留这个 stage（stage 0 = 3d_lowres,stage 1 = 3d_fullres）")
                              if kept else tr("not less than half of the full-res one: stage dropped",
                                              "不少于全分辨率的一半:舍弃这个 stage")),
                   ratio=ratio, steps=steps, lowres_spacing=lowres)
    if not more and ratio >= how_much_of_a_patient_must_the_network_see_at_stage0:  # exactly 4: see above
        record(trace, "3d", None, "num_stages", "low-res rule", 1,
               lambda: tr(f"median case {fmt(float(np.prod(median_shape)))} voxels / full-res patch "
                          f"{fmt(int(arch_voxels))} "
                          "voxels = 4 exactly: v1 would try a low-res stage, but its loop never runs and it crashes "
                          "(UnboundLocalError); the explorer plans one stage",
                          f"中位病例 {fmt(float(np.prod(median_shape)))} 个体素 / 全分辨率 patch {fmt(int(arch_voxels))} "
                          "个体素 = 恰好 4:v1 会尝试低分辨率 stage,但它的循环一次也不执行,于是崩溃(UnboundLocalError);"
                          "explorer 规划一个 stage"))
    elif not more:
        record(trace, "3d", None, "num_stages", "low-res rule", 1,
               lambda: tr(f"median case {fmt(float(np.prod(median_shape)))} voxels / full-res patch "
                          f"{fmt(int(arch_voxels))} "
                          f"voxels = {fmt(float(ratio))} < 4: the network sees enough of a case, no 3d_lowres stage",
                          f"中位病例 {fmt(float(np.prod(median_shape)))} 个体素 / 全分辨率 patch {fmt(int(arch_voxels))} "
                          f"个体素 = {fmt(float(ratio))} < 4:网络能看到病例的足够部分,不需要 3d_lowres stage"))
    stages = stages[::-1]
    return {i: stages[i] for i in range(len(stages))}, forward, backward


def assemble_plans(*, plans_per_stage: dict, dataset_properties: Mapping[str, Any], list_of_npz_files: list,
                   preprocessed_output_folder: str, normalization_schemes: Mapping, use_mask_for_norm: Mapping,
                   transpose_forward: list, transpose_backward: list, data_identifier: str, base_num_features: int,
                   preprocessor_name: str, with_conv_per_stage: bool) -> dict:
    """v1's plans dictionary, keys in v1's order (the 2D plans lack ``conv_per_stage``)."""
    all_classes = dataset_properties["all_classes"]
    modalities = dataset_properties["modalities"]
    plans = {
        "num_stages": len(list(plans_per_stage.keys())),
        "num_modalities": len(list(modalities.keys())),
        "modalities": modalities,
        "normalization_schemes": normalization_schemes,
        "dataset_properties": dataset_properties,
        "list_of_npz_files": list_of_npz_files,
        "original_spacings": dataset_properties["all_spacings"],
        "original_sizes": dataset_properties["all_sizes"],
        "preprocessed_data_folder": preprocessed_output_folder,
        "num_classes": len(all_classes),
        "all_classes": all_classes,
        "base_num_features": base_num_features,
        "use_mask_for_norm": use_mask_for_norm,
        "keep_only_largest_region": None,
        "min_region_size_per_class": None,
        "min_size_per_class": None,
        "transpose_forward": transpose_forward,
        "transpose_backward": transpose_backward,
        "data_identifier": data_identifier,
        "plans_per_stage": plans_per_stage,
        "preprocessor_name": preprocessor_name,
    }
    if with_conv_per_stage:
        plans["conv_per_stage"] = conv_per_stage
    return plans


def plan_experiment_3d(dataset_properties: Mapping[str, Any], *, list_of_npz_files: list[str],
                       preprocessed_output_folder: str, normalization_schemes: Mapping,
                       use_mask_for_norm: Mapping, trace: list | None = None) -> dict:
    """The whole 3D plans dict (``nnUNetPlansv2.1_plans_3D.pkl``) from a fingerprint.

    ``list_of_npz_files`` are the cropped cases (sorted full paths, as v1 stores them); the number of cases in
    the batch-size cap is their count.
    """
    per_stage, forward, backward = plan_stages_3d(dataset_properties, len(list_of_npz_files), trace=trace)
    return assemble_plans(plans_per_stage=per_stage, dataset_properties=dataset_properties,
                          list_of_npz_files=list_of_npz_files, preprocessed_output_folder=preprocessed_output_folder,
                          normalization_schemes=normalization_schemes, use_mask_for_norm=use_mask_for_norm,
                          transpose_forward=forward, transpose_backward=backward, data_identifier=DATA_IDENTIFIER_3D,
                          base_num_features=unet_base_num_features, preprocessor_name=PREPROCESSOR_NAME_3D,
                          with_conv_per_stage=True)
