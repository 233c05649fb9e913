"""``nnunet.network_architecture.custom_modules.helperModules``: ``Identity`` and ``MyGroupNorm``."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from nnunet_explorer.provenance import mirrors


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
