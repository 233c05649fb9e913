"""SpatialTransform on the device equals batchgenerators 0.25.5 bit for bit, on every path moreDA takes.

For each path, 20 seeds: numpy's and Python's streams seeded alike, the batchgenerators transform (v1's own object
from ``build_train_transforms``) on a copy of the batch, then ``draw`` + ``apply`` on the CPU device. Data must be
equal as float32 (``np.array_equal``, not allclose), the segmentation voxel for voxel, and the random streams must
end in the same state.
"""
from __future__ import annotations

import copy
import importlib.util

import numpy as np
import pytest
import torch
from batchgenerators.transforms.spatial_transforms import SpatialTransform

from nnunet_explorer.training.device_augmentation import host_checks, interpolation, spline_recursions, triton_gate
from nnunet_explorer.training.device_augmentation.base import UnsupportedOnDevice
from nnunet_explorer.training.device_augmentation.catalog import device_or_fallback
from nnunet_explorer.training.device_augmentation.dummy_2d import DeviceConvert2DTo3D, DeviceConvert3DTo2D
from nnunet_explorer.training.device_augmentation.spatial import DeviceSpatialTransform

from .conftest import (chain_problems, device_or_named_fallback, moreda, same_streams, seed_all, streams,
                       synthetic_batch)

SEEDS = range(20)


def _spatial(patch, *, dummy_2d=False, v2=True, **attributes):
    transforms, setup = moreda(patch, dummy_2d=dummy_2d, v2=v2)
    spatial = next(t for t in transforms if isinstance(t, SpatialTransform))
    for name, value in attributes.items():
        assert hasattr(spatial, name), name
        setattr(spatial, name, value)
    return spatial, transforms, setup


def _compare(transform, batch, seed):
    """Run batchgenerators and the device version from the same seed; return what differs (empty: nothing) and
    the draws. Where a failed host check keeps the transform on the CPU (rotation: ``numpy_dot_rotation``), the
    chain's CPU fallback is compared instead, and the draws are those the device class would make."""
    if device_or_named_fallback(transform) is None:
        problems, _, _ = chain_problems([transform], batch, seed)
        with host_checks.forced(numpy_dot_rotation=True):
            device = DeviceSpatialTransform(transform)
        seed_all(seed)
        return problems, device.draw(batch["data"].shape[0], batch["data"].shape, batch["seg"].shape)
    seed_all(seed)
    expected = transform(data=batch["data"].copy(), seg=batch["seg"].copy())
    after_bg = streams()
    seed_all(seed)
    device = DeviceSpatialTransform(transform)
    draws = device.draw(batch["data"].shape[0], batch["data"].shape, batch["seg"].shape)
    after_draw = streams()
    data, seg = device.apply(torch.from_numpy(batch["data"]), torch.from_numpy(batch["seg"]), draws)
    problems = []
    if data.dtype != torch.float32 or not np.array_equal(data.numpy(), expected["data"]):
        problems.append(f"data: max abs diff {np.abs(data.numpy() - expected['data']).max()}")
    mismatched = int((seg.numpy() != expected["seg"]).sum())
    if mismatched:
        problems.append(f"seg: {mismatched} voxels")
    if not same_streams(after_bg, after_draw):
        problems.append("random streams end in different states")
    return problems, draws


def _device_object(transform):
    """The device class even where this host's BLAS rounds the rotation otherwise (for tests of draws, shapes and
    syncs, which do not depend on the rounding)."""
    with host_checks.forced(numpy_dot_rotation=True):
        return DeviceSpatialTransform(transform)


PATHS = {
    # name: (network patch, setup kwargs, attribute overrides, batch size)
    "3d-rotation-scale": ((16, 40, 40), {}, dict(p_rot_per_sample=1.0, p_scale_per_sample=1.0), 2),
    "3d-moreDA-defaults": ((16, 40, 40), {}, {}, 3),
    "3d-elastic": ((16, 40, 40), dict(v2=False), dict(p_el_per_sample=1.0), 2),
    "3d-axis-rotation-independent-scale": ((16, 40, 40), {}, dict(p_rot_per_sample=1.0, p_rot_per_axis=0.5,
                                                                  p_scale_per_sample=1.0,
                                                                  independent_scale_for_each_axis=True,
                                                                  p_independent_scale_per_axis=0.7), 2),
    "3d-crop-only": ((16, 40, 40), {}, dict(p_rot_per_sample=0.0, p_scale_per_sample=0.0), 2),
    "2d": ((40, 48), {}, dict(p_rot_per_sample=0.7, p_scale_per_sample=0.7), 3),
    "2d-elastic": ((40, 48), dict(v2=False), dict(p_el_per_sample=1.0, p_rot_per_sample=0.5), 2),
}


@pytest.mark.parametrize("path", sorted(PATHS))
def test_spatial_equals_batchgenerators(path):
    patch, setup_kwargs, attributes, batch_size = PATHS[path]
    transform, _, setup = _spatial(patch, **setup_kwargs, **attributes)
    fired = not_fired = 0
    for seed in SEEDS:
        batch = synthetic_batch(np.random.default_rng(1000 + seed), batch_size, setup.basic_generator_patch_size)
        problems, draws = _compare(transform, batch, seed)
        assert not problems, f"{path}, seed {seed}: {problems}"
        fired += sum(s.resampled for s in draws.samples)
        not_fired += sum(not s.resampled for s in draws.samples)
    if path == "3d-crop-only":
        assert fired == 0
    else:
        assert fired > 0  # the path was taken
    if path == "3d-moreDA-defaults":
        assert not_fired > 0  # both branches, in one batch


def test_elastic_path_draws_the_fields():
    transform, _, setup = _spatial((16, 40, 40), v2=False, p_el_per_sample=1.0)
    batch = synthetic_batch(np.random.default_rng(0), 1, setup.basic_generator_patch_size)
    _, draws = _compare(transform, batch, 3)
    elastic = draws.samples[0].elastic
    assert elastic is not None and elastic.fields.shape == (3, 16, 40, 40) and elastic.fields.dtype == np.float64


def test_dummy_2d_path():
    """moreDA with do_dummy_2D_aug: fold z into channels, 2D spatial transform per slice, unfold."""
    transforms, setup = moreda((16, 40, 40), dummy_2d=True)
    names = [type(t).__name__ for t in transforms]
    start = names.index("Convert3DTo2DTransform")
    fold, spatial, unfold = transforms[start:start + 3]
    assert type(spatial) is SpatialTransform and len(spatial.patch_size) == 2
    spatial.p_rot_per_sample = spatial.p_scale_per_sample = 0.6
    devices = [device_or_named_fallback(t) for t in (fold, spatial, unfold)]
    if devices[1] is None:  # rotation stays on the CPU on this machine: the chain with its fallback is exact
        for seed in SEEDS:
            batch = synthetic_batch(np.random.default_rng(2000 + seed), 2, setup.basic_generator_patch_size, 2)
            problems, _, _ = chain_problems([fold, spatial, unfold], batch, seed)
            assert not problems, f"seed {seed}: {problems}"
        return
    assert [type(d) for d in devices] == [DeviceConvert3DTo2D, DeviceSpatialTransform, DeviceConvert2DTo3D]
    for seed in SEEDS:
        batch = synthetic_batch(np.random.default_rng(2000 + seed), 2, setup.basic_generator_patch_size, channels=2)
        seed_all(seed)
        expected = {"data": batch["data"].copy(), "seg": batch["seg"].copy()}
        for t in (fold, spatial, unfold):
            expected = t(**expected)
        after_bg = streams()
        seed_all(seed)
        context: dict = {}
        data, seg = torch.from_numpy(batch["data"]), torch.from_numpy(batch["seg"])
        for device in devices:
            draws = device.draw_in_context(data.shape[0], tuple(data.shape), tuple(seg.shape), context)
            shapes = device.output_shapes(tuple(data.shape), tuple(seg.shape), draws)
            data, seg = device.apply(data, seg, draws)
            assert (tuple(data.shape), tuple(seg.shape)) == shapes
        assert same_streams(after_bg, streams())
        assert np.array_equal(data.numpy(), expected["data"]), f"seed {seed}"
        assert np.array_equal(seg.numpy(), expected["seg"]), f"seed {seed}"
        assert context["orig_shape_data"] == expected["orig_shape_data"]


@pytest.mark.parametrize("order_data,order_seg", [(1, 0), (0, 1), (5, 1)])
def test_other_orders(order_data, order_seg):
    transform, _, setup = _spatial((12, 30, 30), p_rot_per_sample=1.0, order_data=order_data, order_seg=order_seg)
    for seed in range(3):
        batch = synthetic_batch(np.random.default_rng(seed), 2, setup.basic_generator_patch_size)
        problems, _ = _compare(transform, batch, seed)
        assert not problems, f"seed {seed}: {problems}"


def test_seg_tiebreaks_on_half_voxel_grid():
    """Scaling by exactly 2 puts sample points halfway between voxels: exact 0.5/0.5 ties at every boundary."""
    for tiebreak in ("nearest", "lowest", "highest"):
        transform, _, _ = _spatial((8, 16, 16), do_rotation=False, p_scale_per_sample=1.0, scale=(2.0, 2.0),
                                   seg_tiebreak=tiebreak)
        rng = np.random.default_rng(7)
        batch = {"data": rng.standard_normal((2, 1, 12, 20, 20)).astype(np.float32),
                 "seg": rng.integers(-1, 4, (2, 1, 12, 20, 20)).astype(np.float32)}
        problems, _ = _compare(transform, batch, 11)
        assert not problems, f"{tiebreak}: {problems}"


def test_random_crop_paths():
    """``random_crop=True`` (not moreDA's, but SpatialTransform's): random centres and random crops."""
    transform, _, setup = _spatial((12, 30, 30), random_crop=True, patch_center_dist_from_border=[8, 16, 16],
                                   p_rot_per_sample=0.5, p_scale_per_sample=0.0)
    for seed in range(6):
        batch = synthetic_batch(np.random.default_rng(seed), 2, setup.basic_generator_patch_size)
        problems, _ = _compare(transform, batch, seed)
        assert not problems, f"seed {seed}: {problems}"


def test_crop_pads_with_zeros_when_the_patch_is_larger():
    transform, _, _ = _spatial((8, 24, 24), p_rot_per_sample=0.0, p_scale_per_sample=0.0)
    batch = synthetic_batch(np.random.default_rng(0), 2, (6, 20, 30))
    problems, _ = _compare(transform, batch, 0)
    assert not problems


@pytest.mark.parametrize("attribute,value", [("border_mode_data", "nearest"), ("order_seg", 3),
                                             ("border_mode_seg", "reflect")])
def test_unsupported_configurations_are_refused_with_a_reason(attribute, value):
    transform, _, _ = _spatial((8, 16, 16))
    setattr(transform, attribute, value)
    with pytest.raises(UnsupportedOnDevice, match=attribute):
        DeviceSpatialTransform(transform)
    device, why = device_or_fallback(transform)
    assert device is None and attribute in why


def test_apply_does_not_touch_the_random_streams():
    transform, _, setup = _spatial((16, 40, 40), p_rot_per_sample=1.0)
    batch = synthetic_batch(np.random.default_rng(0), 2, setup.basic_generator_patch_size)
    device = _device_object(transform)
    seed_all(0)
    draws = device.draw(2, batch["data"].shape, batch["seg"].shape)
    before = streams()
    device.apply(torch.from_numpy(batch["data"]), torch.from_numpy(batch["seg"]), copy.deepcopy(draws))
    assert same_streams(before, streams())


def test_output_shapes_and_meta_tensors():
    transform, _, setup = _spatial((16, 40, 40), p_rot_per_sample=1.0)
    device = _device_object(transform)
    shape = (2, 1, *setup.basic_generator_patch_size)
    seed_all(1)
    draws = device.draw(2, shape, shape)
    assert device.output_shapes(shape, shape, draws) == ((2, 1, 16, 40, 40), (2, 1, 16, 40, 40))


@pytest.mark.parametrize("path", ["3d-rotation-scale", "3d-elastic"])
def test_apply_never_reads_tensor_values_on_the_host(path):
    """``apply`` runs on ``meta`` tensors, which have shapes but no values: no ``.item()``, no branching on data,
    hence no host synchronisation on a GPU."""
    patch, setup_kwargs, attributes, _ = PATHS[path]
    transform, _, setup = _spatial(patch, **setup_kwargs, **attributes)
    device = _device_object(transform)
    shape = (2, 1, *setup.basic_generator_patch_size)
    seed_all(0)
    draws = device.draw(2, shape, shape)
    data, seg = device.apply(torch.empty(shape, device="meta"), torch.empty(shape, device="meta"), draws)
    assert data.device.type == "meta" and tuple(data.shape) == (2, 1, *patch) and tuple(seg.shape) == (2, 1, *patch)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("path", ["3d-rotation-scale", "3d-elastic", "2d"])
def test_cuda_parity_without_host_syncs(path):
    """On CUDA: no synchronising call inside ``apply``, and the differences from batchgenerators (expected: none)."""
    patch, setup_kwargs, attributes, batch_size = PATHS[path]
    transform, _, setup = _spatial(patch, **setup_kwargs, **attributes)
    device = device_or_named_fallback(transform)
    if device is None:  # this host's BLAS rounds the rotation otherwise: the chain keeps it on the CPU
        return
    # each kernel family's check on the device reads back once: before sync-debug mode, as DeviceAugmenter.start
    for family in (spline_recursions.FAMILY, interpolation.FAMILY):
        why = triton_gate.status("cuda", family)
        if importlib.util.find_spec("triton") is not None:
            assert why is None, why  # with Triton, the kernels hold on this GPU (bit for bit against the eager path)
    for seed in range(5):
        batch = synthetic_batch(np.random.default_rng(seed), batch_size, setup.basic_generator_patch_size)
        seed_all(seed)
        expected = transform(data=batch["data"].copy(), seg=batch["seg"].copy())
        seed_all(seed)
        draws = device.draw(batch_size, batch["data"].shape, batch["seg"].shape)
        data, seg = torch.from_numpy(batch["data"]).cuda(), torch.from_numpy(batch["seg"]).cuda()
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            out_data, out_seg = device.apply(data, seg, draws)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        assert np.array_equal(out_data.cpu().numpy(), expected["data"]), \
            f"seed {seed}: max abs diff {np.abs(out_data.cpu().numpy() - expected['data']).max()}"
        assert np.array_equal(out_seg.cpu().numpy(), expected["seg"]), f"seed {seed}"
