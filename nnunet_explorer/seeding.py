"""Seeding the random number generators nnU-Net v1 draws from (Python's ``random``, numpy, torch)."""
from __future__ import annotations

import random
from contextlib import contextmanager
from typing import Iterator


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


@contextmanager
def preserved_rng() -> Iterator[None]:
    """Run a block without changing the random streams around it (``random``, numpy, torch).

    A walkthrough step that draws a batch to look at must not shift the numbers the real run draws next.
    """
    import numpy as np
    import torch

    states = (random.getstate(), np.random.get_state(), torch.get_rng_state(),
              torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None)
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])
        if states[3] is not None:
            torch.cuda.set_rng_state_all(states[3])


__all__ = ["preserved_rng", "seed_everything"]
