"""Small modules v1's architecture variants plug into a U-Net: no-op, group norm, Mish, FRN.

Each one is called the way ``Generic_UNet`` calls a norm op (``norm_op(channels, **norm_op_kwargs)``) or a
nonlinearity (``nonlin(**nonlin_kwargs)``), so a trainer swaps it in by passing the class:

* :class:`Identity` as ``norm_op`` is *no normalization* (``nnUNetTrainerV2_NoNormalization``) and as
  ``nonlin`` *no nonlinearity* (``nnUNetTrainerV2_FRN``, whose FRN has its own threshold);
* :class:`MyGroupNorm`: GroupNorm with 8 groups (``nnUNetTrainerV2_GN``);
* :class:`Mish`: ``x * tanh(softplus(x))`` (``nnUNetTrainerV2_Mish``);
* :class:`FRN3D`: filter response normalization with a learned threshold (``nnUNetTrainerV2_FRN``).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parameter import Parameter

from ..provenance import mirrors


@mirrors("nnunet.network_architecture.custom_modules.helperModules:Identity")
class Identity(nn.Module):
    """A module that returns its input; takes (and ignores) any arguments, so it can stand in for a norm op."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: torch.Tensor) -> torch.Tensor:  # noqa: A002 - v1's name
        return input


@mirrors("nnunet.network_architecture.custom_modules.helperModules:MyGroupNorm")
class MyGroupNorm(nn.GroupNorm):
    """``GroupNorm`` with the channel count first (a norm op's calling convention), 8 groups by default."""

    def __init__(self, num_channels: int, eps: float = 1e-5, affine: bool = True, num_groups: int = 8) -> None:
        super().__init__(num_groups, num_channels, eps, affine)


@mirrors("nnunet.network_architecture.custom_modules.mish:Mish")
class Mish(nn.Module):
    """The Mish nonlinearity ``x * tanh(softplus(x))``: smooth, unbounded above, slightly negative below 0.

    Written out as v1 writes it (not ``torch.nn.functional.mish``), so values and gradients round the same.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.tanh(F.softplus(x))


@mirrors("nnunet.network_architecture.custom_modules.feature_response_normalization:FRN3D")
class FRN3D(nn.Module):
    """Filter response normalization for 3D maps ``(b, c, z, y, x)``, with a thresholded linear unit (TLU).

    Each channel of each sample is divided by the root of its mean square over the spatial axes (no mean is
    subtracted, no batch statistics), then scaled and shifted per channel and cut off below a learned
    threshold: ``max(weight * x / sqrt(mean(x**2) + eps) + bias, tau)``. The TLU replaces the nonlinearity,
    which is why ``nnUNetTrainerV2_FRN`` passes :class:`Identity` as ``nonlin``.

    Parameters ``weight`` (ones), ``bias`` and ``tau`` (zeros), each of shape ``(1, c, 1, 1, 1)``; no random
    draws at creation. Extra keyword arguments are accepted and ignored, as in v1.
    """

    def __init__(self, num_features: int, eps: float = 1e-6, **kwargs: Any) -> None:
        super().__init__()
        self.eps = eps
        self.num_features = num_features
        self.weight = Parameter(torch.ones(1, num_features, 1, 1, 1), True)
        self.bias = Parameter(torch.zeros(1, num_features, 1, 1, 1), True)
        self.tau = Parameter(torch.zeros(1, num_features, 1, 1, 1), True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # v1's mean_tensor(..., keepdim=True) averages axis 2, then 3, then 4 (that order rounds as v1 does)
        mean_square = x * x
        for axis in (2, 3, 4):
            mean_square = mean_square.mean(axis, keepdim=True)
        x = x * torch.rsqrt(mean_square + self.eps)
        return torch.max(self.weight * x + self.bias, self.tau)
