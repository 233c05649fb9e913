"""How deep the U-Net goes along each axis, and which kernels it uses: v1's ``get_pool_and_conv_props``.

The v2.1 planners (3D and 2D) derive the network topology from the voxel spacing of the patch:

* an axis is pooled (stride 2) only while its spacing is less than twice the finest current spacing, so a
  coarse axis (5 mm slices next to 0.8 mm pixels) waits until the fine axes have been pooled to a similar
  spacing;
* an axis is pooled only while its feature map still has at least ``2 * min_feature_map_size`` (8) voxels, so
  where this rule stops it, it is left with 4 to 7 (an 8-voxel axis is pooled once more, to 4; an axis that
  starts below 8 is never pooled);
* the convolution kernel is 3 on the largest group of axes whose spacings lie within a factor of 2 of one
  anchor axis (every axis is tried as the anchor; the group's own extremes may differ by more than 2x) and 1
  elsewhere (so ``[1, 3, 3]`` in the first stages of anisotropic data);
* finally the patch is padded up so that every axis is divisible by ``2 ** num_pool_per_axis``.

The older 3D planner (``ExperimentPlanner``, plans ``nnUNetPlansfixed_plans_3D.pkl``) and six alternatives
derived from it use :func:`get_pool_and_conv_props_poolLateV2` instead: the number of poolings per axis from the
patch alone, and an axis with fewer of them pooled in the last stages. :func:`planner_topology` picks by the
plans file.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import PurePath
from typing import Sequence

import numpy as np

from ..provenance import mirrors


@dataclass(frozen=True)
class Topology:
    """What :func:`get_pool_and_conv_props` returns, with v1's names (values keep v1's types)."""

    num_pool_per_axis: list
    pool_op_kernel_sizes: list
    conv_kernel_sizes: list
    patch_size: np.ndarray
    must_be_divisible_by: np.ndarray

    def as_tuple(self) -> tuple:
        """v1's return order: (num_pool_per_axis, pool_op_kernel_sizes, conv_kernel_sizes, patch_size,
        must_be_divisible_by)."""
        return (self.num_pool_per_axis, self.pool_op_kernel_sizes, self.conv_kernel_sizes, self.patch_size,
                self.must_be_divisible_by)


@mirrors("nnunet.experiment_planning.common_utils:get_shape_must_be_divisible_by")
def get_shape_must_be_divisible_by(num_pool_per_axis: Sequence[int]) -> np.ndarray:
    """``2 ** num_pool_per_axis``: each pooling halves an axis, so the patch must divide by this."""
    return 2 ** np.array(num_pool_per_axis)


def pooling_product(pool_op_kernel_sizes: Sequence[Sequence[int]]) -> tuple[int, ...]:
    """What each patch axis must divide by for a network pooling with these kernels: their product per axis.

    The planner's :func:`get_shape_must_be_divisible_by` for kernels of 1 and 2 (``[1, 2, 2]`` pools only the two
    in-plane axes). A patch of edited plans that breaks it makes Generic_UNet's forward fail: a strided
    convolution halves an odd size, rounding up, and the transposed convolution doubles it back to one voxel more
    than the skip connection it is joined with.
    """
    return tuple(int(v) for v in np.prod(np.asarray(pool_op_kernel_sizes, dtype=int), axis=0))


@mirrors("nnunet.experiment_planning.common_utils:pad_shape")
def pad_shape(shape: Sequence[int], must_be_divisible_by: Sequence[int] | int) -> np.ndarray:
    """Round every axis of ``shape`` *up* to the next multiple of its divisor (unchanged if divisible)."""
    if not isinstance(must_be_divisible_by, (tuple, list, np.ndarray)):
        must_be_divisible_by = [must_be_divisible_by] * len(shape)
    out = []
    for size, div in zip(shape, must_be_divisible_by):
        remainder = size % div
        out.append(size if remainder == 0 else size + div - remainder)
    return np.array(out).astype(int)


def conv_kernel_for(spacing: Sequence[float]) -> list[int]:
    """Kernel 3 on the largest group of axes whose spacings are within a factor 2 of one anchor axis, else 1.

    v1 tries every axis as the group's anchor and keeps the first largest group.
    """
    dim = len(spacing)
    best: list[int] = []
    for anchor in range(dim):
        group = [i for i in range(dim)
                 if spacing[i] / spacing[anchor] < 2 and spacing[anchor] / spacing[i] < 2]
        if len(group) > len(best):
            best = group
    return [3 if i in best else 1 for i in range(dim)]


@mirrors("nnunet.experiment_planning.common_utils:get_pool_and_conv_props")
def get_pool_and_conv_props(spacing: Sequence[float], patch_size: Sequence[int], min_feature_map_size: int = 4,
                            max_numpool: int = 999) -> Topology:
    """Plan the pooling and convolution kernels of a U-Net for a patch at ``spacing``.

    Args:
        spacing: voxel spacing of the patch in mm, e.g. ``(z, y, x)`` (already transposed).
        patch_size: candidate patch in voxels, same axis order.
        min_feature_map_size: smallest bottleneck edge (4); an axis pools only while ``>= 2 * 4`` voxels.
        max_numpool: cap on poolings per axis (999, i.e. none).

    Returns:
        A :class:`Topology`; ``len(conv_kernel_sizes) == len(pool_op_kernel_sizes) + 1`` (the last conv kernel
        is the bottleneck's ``[3] * dim``) and ``patch_size`` is padded to ``must_be_divisible_by``.
    """
    dim = len(spacing)
    current_spacing = list(spacing)
    current_size = list(patch_size)
    pool_op_kernel_sizes: list[list[int]] = []
    conv_kernel_sizes: list[list[int]] = []
    num_pool_per_axis = [0] * dim
    while True:
        finest = min(current_spacing)
        # only axes within a factor 2 of the finest spacing may be pooled in this stage
        poolable = [i for i in range(dim) if current_spacing[i] / finest < 2]
        conv_kernel = conv_kernel_for(current_spacing)
        poolable = [i for i in poolable if current_size[i] >= 2 * min_feature_map_size]
        poolable = [i for i in poolable if num_pool_per_axis[i] < max_numpool]
        if not poolable:
            break  # the kernel computed in this round is discarded, as in v1
        pool_kernel = [1] * dim
        for axis in poolable:
            pool_kernel[axis] = 2
            num_pool_per_axis[axis] += 1
            current_spacing[axis] *= 2
            current_size[axis] = np.ceil(current_size[axis] / 2)
        pool_op_kernel_sizes.append(pool_kernel)
        conv_kernel_sizes.append(conv_kernel)
    must_be_divisible_by = get_shape_must_be_divisible_by(num_pool_per_axis)
    padded = pad_shape(patch_size, must_be_divisible_by)
    conv_kernel_sizes.append([3] * dim)
    return Topology(num_pool_per_axis, pool_op_kernel_sizes, conv_kernel_sizes, padded, must_be_divisible_by)


@mirrors("nnunet.experiment_planning.common_utils:get_network_numpool")
def get_network_numpool(patch_size: Sequence[int], maxpool_cap: int = 999, min_feature_map_size: int = 4) -> list:
    """How often each axis of ``patch_size`` can be halved before it falls under ``min_feature_map_size``:
    ``floor(log2(size / min_feature_map_size))``, capped at ``maxpool_cap`` (the older planner's rule; spacing
    plays no part; negative for an axis under ``min_feature_map_size``)."""
    per_axis = np.floor([np.log(s / min_feature_map_size) / np.log(2) for s in patch_size]).astype(int)
    return [min(n, maxpool_cap) for n in per_axis]


@mirrors("nnunet.experiment_planning.common_utils:get_pool_and_conv_props_poolLateV2")
def get_pool_and_conv_props_poolLateV2(patch_size: Sequence[int], min_feature_map_size: int,
                                       max_numpool: int, spacing: Sequence[float]) -> Topology:
    """The older 3D planner's topology (v1's ``ExperimentPlanner``, plans ``nnUNetPlansfixed_plans_3D.pkl``, and
    the alternatives of :data:`POOL_LATE_PLANS`).

    Each axis pools :func:`get_network_numpool` times, all of them in the *last* stages (an axis with fewer
    poolings starts late, so the deepest stages pool every axis that pools at all); the convolution is 3 on every
    axis once all spacings are more than half the coarsest original spacing, before that 3 only on the finer axes
    and 1 on the coarse ones. Note the argument order (patch first, spacing last), unlike
    :func:`get_pool_and_conv_props`.
    """
    dim = len(patch_size)
    reach = max(spacing)
    num_pool_per_axis = get_network_numpool(patch_size, max_numpool, min_feature_map_size)
    net_numpool = max(num_pool_per_axis)
    current_spacing = list(spacing)
    pool_op_kernel_sizes: list[list[int]] = []
    conv_kernel_sizes: list[list[int]] = []
    for stage in range(net_numpool):
        reached = [current_spacing[i] / reach > 0.5 for i in range(dim)]
        pool_op_kernel_sizes.append([2 if num_pool_per_axis[i] + stage >= net_numpool else 1 for i in range(dim)])
        conv_kernel_sizes.append([3] * dim if all(reached) else [1 if reached[i] else 3 for i in range(dim)])
        current_spacing = [s * k for s, k in zip(current_spacing, pool_op_kernel_sizes[-1])]
    conv_kernel_sizes.append([3] * dim)  # the bottleneck's
    must_be_divisible_by = get_shape_must_be_divisible_by(num_pool_per_axis)
    return Topology(num_pool_per_axis, pool_op_kernel_sizes, conv_kernel_sizes,
                    pad_shape(patch_size, must_be_divisible_by), must_be_divisible_by)



#: the plans files of v1's 3D planners that pool late: ``ExperimentPlanner`` (the older default) and the
#: alternatives under ``alternative_experiment_planning/`` that keep its rule (CT2, nonCT, targetSpacingForAnisoAxis,
#: the two isotropic-patch planners, allConv3x3). A copy saved under another identifier is not recognised.
POOL_LATE_PLANS = frozenset({
    "nnUNetPlansfixed_plans_3D.pkl", "nnUNetPlansCT2_plans_3D.pkl", "nnUNetPlansnonCT_plans_3D.pkl",
    "nnUNetPlanstargetSpacingForAnisoAxis_plans_3D.pkl", "nnUNetPlansfixedisoPatchesInmm_plans_3D.pkl",
    "nnUNetPlansfixedisoPatchesInVoxels_plans_3D.pkl", "nnUNetPlansallConv3x3_plans_3D.pkl"})
#: ``ExperimentPlannerAllConv3x3`` pools late, then sets every convolution kernel to 3
ALL_CONV3_PLANS = "nnUNetPlansallConv3x3_plans_3D.pkl"


def pools_late(plans_file: str | None) -> bool:
    """Whether the plans file (a path or a name) is one of :data:`POOL_LATE_PLANS`."""
    return plans_file is not None and PurePath(plans_file).name in POOL_LATE_PLANS


def planner_topology(spacing: Sequence[float], patch_size: Sequence[int],
                     plans_file: str | None = None) -> Topology | None:
    """The topology v1's planner derives for ``patch_size`` at ``spacing``: the pooling-late rule for the plans
    of :data:`POOL_LATE_PLANS`, :func:`get_pool_and_conv_props` (v2.1's 3D planners', every 2D planner's)
    otherwise. ``plans_file`` is the plans' path or name, None for v2.1's. None when the late rule cannot plan the
    patch: an axis under ``min_feature_map_size`` (4) voxels gets a negative number of poolings there, and v1's
    ``2 ** num_pool_per_axis`` fails (its planner never proposes such a patch; only a hand edit makes one)."""
    if not pools_late(plans_file):
        return get_pool_and_conv_props(spacing, patch_size)
    if min(patch_size) < 4:
        return None
    topology = get_pool_and_conv_props_poolLateV2(patch_size, 4, 999, spacing)
    if PurePath(plans_file).name == ALL_CONV3_PLANS:
        topology = replace(topology, conv_kernel_sizes=[[3] * len(k) for k in topology.conv_kernel_sizes])
    return topology
