"""The numerics under the spatial transform, each against the scipy / numpy function it reproduces, bit for bit."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch
from batchgenerators.augmentations.utils import interpolate_img
from scipy import ndimage

from nnunet_explorer.training.device_augmentation import interpolation as interp
from nnunet_explorer.training.device_augmentation.coordinates import blas_rotation_matches
from nnunet_explorer.training.device_augmentation.exact import fma


@pytest.mark.parametrize("shape", [(7, 9, 11), (2, 5, 3), (1, 6, 4), (30, 41, 37)])
def test_prefilter_equals_spline_filter(shape):
    a = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    expected = ndimage.spline_filter(a.astype(float), 3, output=np.float64, mode="constant")
    got = interp.spline_prefilter(torch.from_numpy(a)[None, None], 3)[0, 0].numpy()
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("order", [2, 4, 5])
def test_prefilter_other_orders(order):
    a = np.random.default_rng(order).standard_normal((9, 12))
    expected = ndimage.spline_filter(a, order, output=np.float64, mode="constant")
    assert np.array_equal(interp.spline_prefilter(torch.from_numpy(a)[None, None], 2, order)[0, 0].numpy(), expected)


def _coords(rng, shape, out, half_grid):
    if half_grid:  # exactly on voxels, halfway between, on the borders 0 and n - 1, and just outside
        return np.stack([rng.integers(-2, 2 * n + 2, out) / 2.0 for n in shape])
    return np.stack([rng.uniform(-2, n + 1, out) for n in shape])


@pytest.mark.parametrize("order", range(6))
@pytest.mark.parametrize("half_grid", [False, True])
@pytest.mark.parametrize("chunk", [None, 500])
def test_map_coordinates_equals_scipy(order, half_grid, chunk):
    rng = np.random.default_rng(order)
    shape = (20, 25, 22)
    img = (rng.standard_normal(shape) * 100).astype(np.float32)
    coords = _coords(rng, shape, (10, 12, 14), half_grid)
    expected = ndimage.map_coordinates(img.astype(float), coords, order=order, mode="constant", cval=0.0)
    coef = torch.from_numpy(img.astype(float))[None, None]
    if order > 1:
        coef = interp.spline_prefilter(coef, 3, order)
    got = interp.map_coordinates(coef, [torch.from_numpy(c)[None] for c in coords], order, 0.0, chunk=chunk)
    assert np.array_equal(got[0, 0].numpy(), expected)


@pytest.mark.parametrize("tiebreak", ["nearest", "lowest", "highest"])
@pytest.mark.parametrize("half_grid", [False, True])
@pytest.mark.parametrize("chunk", [None, 700])
def test_resample_labels_equals_interpolate_img(tiebreak, half_grid, chunk):
    rng = np.random.default_rng(3)
    shape = (20, 25, 22)
    seg = rng.integers(-1, 4, shape).astype(np.float32)
    coords = _coords(rng, shape, (10, 12, 14), half_grid)
    expected = interpolate_img(seg, coords, 1, "constant", cval=-1, is_seg=True, seg_tiebreak=tiebreak)
    got = interp.resample_labels(torch.from_numpy(seg)[None, None], [torch.from_numpy(c)[None] for c in coords],
                                 -1.0, tiebreak, chunk=chunk)
    assert got.dtype == torch.float32 and np.array_equal(got[0, 0].numpy(), expected)


def test_tiebreaks_differ_on_the_half_grid():
    """The tie-break test above means something: on the half grid the three rules give different maps."""
    rng = np.random.default_rng(3)
    seg = rng.integers(-1, 4, (20, 25, 22)).astype(np.float32)
    coords = [torch.from_numpy(c)[None] for c in _coords(rng, seg.shape, (10, 12, 14), True)]
    maps = [interp.resample_labels(torch.from_numpy(seg)[None, None], coords, -1.0, tb) for tb in interp.SEG_TIEBREAKS]
    assert not torch.equal(maps[0], maps[1]) and not torch.equal(maps[1], maps[2])


@pytest.mark.parametrize("sigma", [2.2, 9.3, 12.7])
def test_gaussian_filter_equals_scipy(sigma):
    field = np.random.default_rng(0).random((16, 40, 40)) * 2 - 1
    expected = ndimage.gaussian_filter(field, sigma, mode="constant", cval=0)
    assert np.array_equal(interp.gaussian_filter(torch.from_numpy(field)[None], sigma, 3)[0].numpy(), expected)


def test_mirror_index_equals_scipys_mirror():
    for n in (1, 2, 3, 7):
        idx = torch.arange(-6, n + 6)
        # scipy's map_coordinates with mode='mirror' at integer points reads exactly the mirrored voxel
        line = np.arange(n, dtype=float) * 10
        expected = ndimage.map_coordinates(line, [idx.numpy().astype(float)], order=0, mode="mirror") / 10
        assert np.array_equal(interp.mirror_index(idx, n).numpy(), expected.astype(np.int64)), n


def test_emulated_fma_rounds_once():
    rng = np.random.default_rng(1)
    a = np.concatenate([rng.integers(-200, 200, 3000) / 2.0, rng.standard_normal(3000) * 10])
    b = rng.standard_normal(a.size)
    c = np.concatenate([rng.uniform(-100, 100, 3000), -(a[3000:] * b[3000:]) * (1 + 2.0 ** -50)])
    for i in range(a.size):
        got = fma(torch.tensor([a[i]], dtype=torch.float64), float(b[i]), torch.tensor([c[i]], dtype=torch.float64))
        exact = float(Fraction(a[i]) * Fraction(b[i]) + Fraction(c[i]))
        assert got.item() == exact, (a[i], b[i], c[i])


@pytest.mark.parametrize("dim", [2, 3])
def test_numpy_dot_rounds_as_an_fma_chain_or_rotations_stay_on_the_cpu(dim):
    """The premise of the device rotation on this machine's BLAS; where it does not hold, a SpatialTransform with
    rotations declines the device, naming the host check (the chain then runs batchgenerators' transform)."""
    from batchgenerators.transforms.spatial_transforms import SpatialTransform

    from nnunet_explorer.training.device_augmentation.catalog import device_or_fallback

    from nnunet_explorer.training.device_augmentation import host_checks

    from .conftest import simulated

    device, why = device_or_fallback(SpatialTransform((8, 16, 16)[-dim:], do_rotation=True, border_mode_data="constant"))
    if host_checks.passes("numpy_dot_rotation"):
        assert blas_rotation_matches(dim) and device is not None, why
    else:
        assert simulated("numpy_dot_rotation") or not blas_rotation_matches(2) or not blas_rotation_matches(3)
        assert device is None and "host check 'numpy_dot_rotation' failed" in why
