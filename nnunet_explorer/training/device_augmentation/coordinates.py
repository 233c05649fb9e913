"""The sampling grid of batchgenerators' spatial transform, built on the device with numpy's exact rounding.

``augment_spatial`` maps each output voxel to a point of the input patch:

1. ``create_zero_centered_coordinate_mesh(patch)``: ``i - (n - 1) / 2`` along each axis (exact in float64);
2. elastic deformation (if drawn): per axis a field of ``np.random.random`` values, ``* 2 - 1``, Gaussian-filtered
   (``mode='constant'``), ``* alpha``, added to the mesh;
3. rotation (if drawn): ``np.dot(coords.T, R)`` — OpenBLAS accumulates it with fused multiply-adds, which
   :func:`~.exact.fma` reproduces (see :mod:`.exact`);
4. scaling (if drawn): ``coords *= scale`` (one factor, or one per axis);
5. ``coords[d] += centre[d]``: the patch centre in input voxel coordinates.

The mesh is kept as one broadcastable vector per axis (``(P0, 1, 1)``, ``(1, P1, 1)``, ``(1, 1, P2)``) for as
long as the operations allow: the rotation's first products then cost a vector, the second a plane, and only the
last one the whole volume. The values are the same as on the full grid, element by element.

Whether numpy's ``dot`` really rounds as an FMA chain depends on the BLAS kernel of the machine;
:func:`blas_rotation_matches` checks it once per process against batchgenerators' own ``rotate_coords_*``.
"""
from __future__ import annotations

import functools
from typing import Sequence

import numpy as np
import torch

from .exact import fma
from .interpolation import gaussian_filter


def zero_centered_mesh(patch: Sequence[int], device: torch.device) -> list[torch.Tensor]:
    """batchgenerators' ``create_zero_centered_coordinate_mesh(patch)``, one broadcastable float64 vector per axis."""
    dim = len(patch)
    out = []
    for axis, n in enumerate(patch):
        shape = [1] * dim
        shape[axis] = int(n)
        out.append((torch.arange(int(n), dtype=torch.float64, device=device) - (float(n) - 1.0) / 2.0).view(shape))
    return out


def elastic_deform(mesh: Sequence[torch.Tensor], fields: torch.Tensor, alpha: float, sigma: float) -> list[torch.Tensor]:
    """``elastic_deform_coordinates(coords, alpha, sigma)`` from its random fields ``(dim, *patch)`` (float64)."""
    dim = len(mesh)
    out = []
    for axis in range(dim):
        offsets = gaussian_filter(fields[axis] * 2.0 - 1.0, sigma, dim) * alpha
        out.append(offsets + mesh[axis])
    return out


def rotate(coords: Sequence[torch.Tensor], rotation: Sequence[Sequence[float]]) -> list[torch.Tensor]:
    """``np.dot(coords.reshape(dim, -1).T, R).T`` as OpenBLAS computes it: ``fma(c2, R2j, fma(c1, R1j, c0 * R0j))``."""
    out = []
    for j in range(len(coords)):
        acc = coords[0] * float(rotation[0][j])
        for k in range(1, len(coords)):
            acc = fma(coords[k], float(rotation[k][j]), acc)
        out.append(acc)
    return out


def scale(coords: Sequence[torch.Tensor], factor: float | Sequence[float]) -> list[torch.Tensor]:
    """``scale_coords(coords, factor)``: one factor for all axes, or one per axis."""
    if isinstance(factor, (tuple, list)):
        return [c * float(f) for c, f in zip(coords, factor)]
    return [c * float(factor) for c in coords]


def translate(coords: Sequence[torch.Tensor], centre: Sequence[float]) -> list[torch.Tensor]:
    """``coords[d] += centre[d]``."""
    return [c + float(ctr) for c, ctr in zip(coords, centre)]


@functools.lru_cache(maxsize=None)
def blas_rotation_matches(dim: int) -> bool:
    """True if numpy's ``dot``, as batchgenerators' ``rotate_coords_{2d,3d}`` calls it, rounds like :func:`rotate`.

    Checked once per process on a mesh with elastic-like noise (drawn from a private generator, so the global
    random streams are untouched), with batchgenerators' own functions.
    """
    from batchgenerators.augmentations.utils import (create_matrix_rotation_2d, create_matrix_rotation_x_3d,
                                                     create_matrix_rotation_y_3d, create_matrix_rotation_z_3d,
                                                     create_zero_centered_coordinate_mesh, rotate_coords_2d,
                                                     rotate_coords_3d)

    rng = np.random.RandomState(20261201)
    patch = (17, 23, 29) if dim == 3 else (37, 41)
    mesh = create_zero_centered_coordinate_mesh(patch) + rng.standard_normal((dim,) + patch) * 7.0
    if dim == 3:
        angles = rng.uniform(-np.pi, np.pi, 3)
        expected = rotate_coords_3d(mesh.copy(), *angles)
        matrix = create_matrix_rotation_z_3d(angles[2], create_matrix_rotation_y_3d(
            angles[1], create_matrix_rotation_x_3d(angles[0], np.identity(3))))
    else:
        angle = rng.uniform(-np.pi, np.pi)
        expected = rotate_coords_2d(mesh.copy(), angle)
        matrix = create_matrix_rotation_2d(angle)
    got = rotate([torch.from_numpy(m) for m in mesh], matrix.tolist())
    return all(np.array_equal(g.numpy(), e) for g, e in zip(got, expected))


__all__ = ["blas_rotation_matches", "elastic_deform", "rotate", "scale", "translate", "zero_centered_mesh"]
