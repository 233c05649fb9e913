"""The planners' memory proxy: a number roughly proportional to the GPU memory one U-Net forward needs.

nnU-Net v1 never measures memory. Its planners compare a *proxy* (a weighted count of feature-map voxels)
for a candidate patch with a reference proxy (v1's comment elsewhere: the default 3D plans use about 8.6 GB;
separate planners target 11, 16 and 32 GB GPUs), and shrink the patch
until the candidate is below the reference. The proxy comes from ``Generic_UNet.compute_approx_vram_consumption``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..provenance import mirrors

# Class constants of v1's Generic_UNet (nnunet/network_architecture/generic_UNet.py), same names and values.
DEFAULT_BATCH_SIZE_3D = 2
DEFAULT_PATCH_SIZE_3D = (64, 192, 160)
SPACING_FACTOR_BETWEEN_STAGES = 2
BASE_NUM_FEATURES_3D = 30
MAX_NUMPOOL_3D = 999
MAX_NUM_FILTERS_3D = 320
DEFAULT_PATCH_SIZE_2D = (256, 256)
BASE_NUM_FEATURES_2D = 30
DEFAULT_BATCH_SIZE_2D = 50
MAX_NUMPOOL_2D = 999
MAX_FILTERS_2D = 480
use_this_for_batch_size_computation_2D = 19739648
use_this_for_batch_size_computation_3D = 520000000


@mirrors("nnunet.network_architecture.generic_UNet:Generic_UNet.compute_approx_vram_consumption")
def compute_approx_vram_consumption(patch_size: Sequence[int] | np.ndarray,
                                    num_pool_per_axis: Sequence[int] | np.ndarray,
                                    base_num_features: int, max_num_features: int, num_modalities: int,
                                    num_classes: int, pool_op_kernel_sizes: Sequence[Sequence[int]],
                                    deep_supervision: bool = False, conv_per_stage: int = 2) -> int:
    """Count feature-map voxels of a U-Net on ``patch_size``: v1's proxy for its GPU memory.

    The count walks the resolution levels of the network:

    * full resolution: ``2 * conv_per_stage + 1`` maps of ``base_num_features`` channels (encoder convs,
      decoder convs, one transposed-conv output), plus the input (``num_modalities`` channels) and the
      output (``num_classes`` channels);
    * each pooling ``p``: the map shrinks by ``pool_op_kernel_sizes[p]`` per axis, the channels double (capped
      at ``max_num_features``), and the level holds ``2 * conv_per_stage + 1`` maps, except the bottleneck,
      which holds only ``conv_per_stage``.

    As in v1, the shrunk map size is written back into an array of ``patch_size``'s dtype, so an integer
    patch truncates (``7 / 2 -> 3``) at each pooling. Arithmetic is int64.

    Args:
        patch_size: spatial patch, e.g. ``(z, y, x)``.
        num_pool_per_axis: poolings per axis (only its length is used, as in v1).
        base_num_features: channels at full resolution (the planners pass 32; 2D's first estimate 30).
        max_num_features: channel cap (320 in 3D, 512 in the 2D planner's estimate).
        num_modalities: input channels.
        num_classes: output channels including background.
        pool_op_kernel_sizes: one pooling kernel per level, e.g. ``[[1, 2, 2], [2, 2, 2], ...]``.
        deep_supervision: add one ``num_classes`` map per level except the two lowest (unused by planners).
        conv_per_stage: convolutions per stage (2).

    Returns:
        The proxy as a Python int (v1 returns a numpy int64 of the same value).
    """
    num_pool_axes = len(num_pool_per_axis)
    npool = len(pool_op_kernel_sizes)
    map_size = np.array(patch_size)
    voxels = np.prod(map_size, dtype=np.int64)
    total = np.int64((conv_per_stage * 2 + 1) * voxels * base_num_features + num_modalities * voxels
                     + num_classes * voxels)
    num_feat = base_num_features
    for p in range(npool):
        for axis in range(num_pool_axes):
            # item assignment casts back to map_size's dtype: integer patches truncate here, as in v1
            map_size[axis] = map_size[axis] / pool_op_kernel_sizes[p][axis]
        num_feat = min(num_feat * 2, max_num_features)
        num_blocks = (conv_per_stage * 2 + 1) if p < (npool - 1) else conv_per_stage
        total += num_blocks * np.prod(map_size, dtype=np.int64) * num_feat
        if deep_supervision and p < (npool - 2):
            total += np.prod(map_size, dtype=np.int64) * num_classes
    return int(total)
