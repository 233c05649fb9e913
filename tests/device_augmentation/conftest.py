"""Shared helpers for the device-augmentation parity tests: realistic synthetic batches and v1's moreDA objects."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from nnunet_explorer.training.augmentation import build_train_transforms
from nnunet_explorer.training.data_augmentation_params import setup_DA_params

POOL_3D = [[1, 2, 2], [2, 2, 2]]
POOL_2D = [[2, 2], [2, 2]]


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The parity does not depend on threads; two shared cores run faster without oversubscription."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def moreda(patch, *, dummy_2d=False, v2=True, mask=False):
    """v1's moreDA transform list for a patch (``setup_DA_params`` + ``build_train_transforms``) and the setup."""
    setup = setup_DA_params(patch, do_dummy_2D_aug=dummy_2d, use_mask_for_norm={0: mask},
                            pool_op_kernel_sizes=POOL_3D if len(patch) == 3 else POOL_2D, v2=v2)
    return build_train_transforms(setup.patch_size, setup.data_aug_params, setup.deep_supervision_scales), setup


def synthetic_batch(rng: np.random.Generator, batch_size: int, shape, channels: int = 1) -> dict:
    """A loader-like batch: smooth image data, label blobs (0, 1, 2) inside a nonzero region (-1 outside).

    Drawn from ``rng`` only (numpy's global stream stays untouched). The labels have the boundaries real cases
    have, plus a sprinkle of isolated voxels, so that ties of the order-1 label scores occur.
    """
    grids = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    data = np.empty((batch_size, channels, *shape), dtype=np.float32)
    seg = np.empty((batch_size, 1, *shape), dtype=np.float32)
    for b in range(batch_size):
        centre = rng.uniform(-0.3, 0.3, len(shape))
        radius = np.sqrt(sum((g - c) ** 2 for g, c in zip(grids, centre)))
        labels = np.where(radius < rng.uniform(0.25, 0.4), 1.0, 0.0)
        labels[radius < rng.uniform(0.08, 0.2)] = 2.0
        labels[rng.random(shape) < 0.01] = rng.integers(0, 3)
        labels[radius > rng.uniform(0.85, 1.0)] = -1.0
        seg[b, 0] = labels
        for c in range(channels):
            image = 100.0 * labels + 20.0 * np.sin(5 * grids[0] + c) + rng.standard_normal(shape) * 15.0
            data[b, c] = ((image - image.mean()) / image.std()).astype(np.float32)
    return {"data": data, "seg": seg, "keys": [f"case_{b}" for b in range(batch_size)],
            "properties": [{"case": b} for b in range(batch_size)]}


def seed_all(seed: int) -> None:
    np.random.seed(seed)
    random.seed(seed)


def streams():
    return np.random.get_state(), random.getstate()


def same_streams(a, b) -> bool:
    (na, pa), (nb, pb) = a, b
    return na[0] == nb[0] and np.array_equal(na[1], nb[1]) and tuple(na[2:]) == tuple(nb[2:]) and pa == pb
