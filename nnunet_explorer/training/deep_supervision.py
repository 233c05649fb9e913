"""Deep supervision: which network outputs the loss looks at, how much each counts, at which scale.

The U-Net returns one logit map per decoder level (``len(pool_op_kernel_sizes)`` maps, highest resolution
first). nnU-Net v1 trains on all of them but the lowest resolution: the segmentation target is downsampled
(nearest neighbour, ``DownsampleSegForDSTransform2``) once per output, and the loss is a weighted sum over
outputs in which the lowest-resolution output has weight 0 (the loss skips it).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..provenance import mirrors


@mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.initialize")
def ds_loss_weights(pool_op_kernel_sizes: Sequence[Sequence[int]]) -> np.ndarray:
    """Loss weight of each deep-supervision output, highest resolution first.

    v1's rule (in ``nnUNetTrainerV2.initialize``): output ``i`` gets ``1 / 2**i``; the lowest-resolution
    output gets 0 (it is computed by the network but never enters the loss); the weights are normalized to
    sum to 1. For 5 poolings: ``[0.5333, 0.2667, 0.1333, 0.0667, 0]``.

    Returns:
        float64 array of length ``len(pool_op_kernel_sizes)``.
    """
    net_numpool = len(pool_op_kernel_sizes)
    weights = np.array([1 / (2 ** i) for i in range(net_numpool)])
    # keep output 0 always (so that one pooling still trains on something), drop the last one
    keep = np.array([True] + [i < net_numpool - 1 for i in range(1, net_numpool)])
    weights[~keep] = 0
    return weights / weights.sum()


@mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.setup_DA_params")
def ds_scales(pool_op_kernel_sizes: Sequence[Sequence[int]]) -> list[list[float]]:
    """Per-axis scale of each deep-supervision target relative to the patch, highest resolution first.

    ``[[1, 1, 1]] + 1 / cumprod(pool_op_kernel_sizes)`` without its last row: output ``i`` has been pooled by
    the first ``i`` pooling kernels. Pools ``[[1,2,2],[1,2,2],[2,2,2],[2,2,2]]`` give ``[1,1,1], [1,.5,.5],
    [1,.25,.25], [.5,.125,.125]``. As in v1 the first entry has three elements even for 2D plans (only
    "all ones" is ever tested on it, so it means "no downsampling").
    """
    # v1's exact object (V2's setup_DA_params): ints in the first entry, numpy floats in the others, so that
    # the trainer's attribute, debug.json and the DownsampleSegForDSTransform2 printout read as v1's
    return [[1, 1, 1]] + [list(row) for row in 1 / np.cumprod(np.vstack(pool_op_kernel_sizes), axis=0)][:-1]


@mirrors("nnunet.training.data_augmentation.downsampling:downsample_seg_for_ds_transform2")
def ds_target_shapes(patch_size: Sequence[int], pool_op_kernel_sizes: Sequence[Sequence[int]]
                     ) -> list[tuple[int, ...]]:
    """Spatial shape of each deep-supervision target for a patch: ``round(patch * scale)`` per axis.

    This is the shape ``DownsampleSegForDSTransform2`` gives the downsampled segmentations, hence the shape
    each network output must have for the loss to compare them.
    """
    shapes = []
    for scale in ds_scales(pool_op_kernel_sizes):
        if all(s == 1 for s in scale):
            shapes.append(tuple(int(p) for p in patch_size))
        else:
            shapes.append(tuple(int(v) for v in np.round(np.array(patch_size, dtype=float)
                                                         * np.array(scale[:len(patch_size)]))))
    return shapes
