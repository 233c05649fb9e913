"""``nnunet.utilities.tensor_utilities``: sums and means over several axes, flipping one axis."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from nnunet_explorer.provenance import mirrors


@mirrors("nnunet.utilities.tensor_utilities:sum_tensor")
def sum_tensor(inp: torch.Tensor, axes: Sequence[int], keepdim: bool = False) -> torch.Tensor:
    """Sum over each axis in ``axes`` (duplicates removed), largest axis first so the indices stay valid."""
    for ax in sorted(np.unique(axes).astype(int), reverse=True):
        inp = inp.sum(int(ax), keepdim=keepdim)
    return inp


@mirrors("nnunet.utilities.tensor_utilities:mean_tensor")
def mean_tensor(inp: torch.Tensor, axes: Sequence[int], keepdim: bool = False) -> torch.Tensor:
    """Mean over each axis in ``axes``."""
    for ax in sorted(np.unique(axes).astype(int), reverse=True):
        inp = inp.mean(int(ax), keepdim=keepdim)
    return inp


@mirrors("nnunet.utilities.tensor_utilities:flip")
def flip(x: torch.Tensor, dim: int) -> torch.Tensor:
    """``x`` reversed along ``dim``."""
    return torch.flip(x, (dim,))
