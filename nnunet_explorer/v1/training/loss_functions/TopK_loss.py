"""``nnunet.training.loss_functions.TopK_loss``: cross-entropy over the k % hardest voxels."""
from __future__ import annotations

import numpy as np
import torch

from nnunet_explorer.provenance import mirrors
from nnunet_explorer.training.loss import RobustCrossEntropyLoss


@mirrors("nnunet.training.loss_functions.TopK_loss:TopKLoss")
class TopKLoss(RobustCrossEntropyLoss):
    """Mean cross-entropy of the ``k`` percent of voxels (of the whole batch) with the largest loss.

    ``target`` is the ``(b, 1, ...)`` label map; the per-voxel losses are flattened over batch and space and
    ``int(num_voxels * k / 100)`` of them are kept.
    """

    def __init__(self, weight: torch.Tensor | None = None, ignore_index: int = -100, k: float = 10) -> None:
        super().__init__(weight, ignore_index=ignore_index, reduction="none")
        self.k = k

    def forward(self, inp: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        target = target[:, 0].long()
        res = super().forward(inp, target)
        num_voxels = np.prod(res.shape, dtype=np.int64)
        res, _ = torch.topk(res.view((-1,)), int(num_voxels * self.k / 100), sorted=False)
        return res.mean()
