"""``nnunet.utilities.to_torch``: numpy arrays (or lists of them) to tensors, tensors to the GPU."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from nnunet_explorer.provenance import mirrors


@mirrors("nnunet.utilities.to_torch:maybe_to_torch")
def maybe_to_torch(d: Any) -> Any:
    """A float tensor from a numpy array; lists are converted element by element; tensors pass unchanged."""
    if isinstance(d, list):
        return [maybe_to_torch(i) if not isinstance(i, torch.Tensor) else i for i in d]
    if not isinstance(d, torch.Tensor):
        return torch.from_numpy(np.asarray(d)).float()
    return d


@mirrors("nnunet.utilities.to_torch:to_cuda")
def to_cuda(data: Any, non_blocking: bool = True, gpu_id: int = 0) -> Any:
    """Move a tensor (or each tensor of a list) to CUDA device ``gpu_id``."""
    if isinstance(data, list):
        return [i.cuda(gpu_id, non_blocking=non_blocking) for i in data]
    return data.cuda(gpu_id, non_blocking=non_blocking)
