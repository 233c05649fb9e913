"""Seeding the random number generators nnU-Net v1 draws from (Python's ``random``, numpy, torch)."""
from __future__ import annotations

import random


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, numpy's global RNG and (if installed) torch, the RNGs nnU-Net v1 draws from."""
    random.seed(seed)
    import numpy as np

    np.random.seed(seed % (2 ** 32))
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency, but the step machinery does not need it
        return
    torch.manual_seed(seed)


__all__ = ["seed_everything"]
