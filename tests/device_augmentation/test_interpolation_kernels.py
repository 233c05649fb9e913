"""The Triton interpolation kernels (``map_coordinates`` and the segmentations' argmax on a GPU) equal scipy,
batchgenerators and the eager path bit for bit.

As for the prefilter kernels (``test_spline_recursions.py``), a machine without a GPU runs them in Triton's
interpreter (``TRITON_INTERPRET=1``), which checks their algorithm operation by operation; a GPU runs the compiled
code, which the family's check on the device (:func:`triton_gate.status`) compares with the eager path before first
use, and which the last test here compiles for A100 and H100/H200 to read its machine code.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from batchgenerators.augmentations.utils import interpolate_img
from scipy import ndimage

from nnunet_explorer.training.device_augmentation import interpolation as interp
from nnunet_explorer.training.device_augmentation import triton_gate

from .conftest import launches_after_check
from .triton_machine_code import float64_ptx_ops, float64_sass_ops, machine_code

pytest.importorskip("triton", reason="Triton is a test dependency on Linux x86-64 (pyproject's test extra)")


launches = launches_after_check(interp.FAMILY)


@pytest.fixture
def fresh_decision(triton_interpreter):
    """The decision taken again in the test (after it patched something) and forgotten after it."""
    triton_gate.reset()
    yield
    triton_gate.reset()


def _coords(rng, shape, out, half_grid):
    if half_grid:  # exactly on voxels, halfway between, on the borders 0 and n - 1, and just outside
        return np.stack([rng.integers(-2, 2 * n + 2, out) / 2.0 for n in shape])
    return np.stack([rng.uniform(-2, n + 1, out) for n in shape])


@pytest.mark.parametrize("order", interp.KERNEL_ORDERS)
@pytest.mark.parametrize("shape,out", [((9, 12, 10), (5, 7, 8)), ((13, 11), (17, 9)), ((1, 6, 5), (3, 4, 5))])
@pytest.mark.parametrize("half_grid", [False, True])
def test_map_coordinates_kernel_equals_scipy(launches, order, shape, out, half_grid):
    """scipy's ``map_coordinates(mode='constant')`` on the prefiltered image, through one kernel launch: inside,
    outside, on the borders, on whole and half voxels, an axis of length 1, a NaN coordinate."""
    rng = np.random.default_rng(order + len(shape))
    img = (rng.standard_normal(shape) * 100).astype(np.float32)
    coords = _coords(rng, shape, out, half_grid)
    coords[0].flat[3] = np.nan
    expected = ndimage.map_coordinates(img.astype(float), coords, order=order, mode="constant", cval=-3.5)
    coef = torch.from_numpy(img.astype(float))[None, None]
    if order > 1:
        coef = interp.spline_prefilter(coef, len(shape), order)
    got = interp.map_coordinates(coef, [torch.from_numpy(c)[None] for c in coords], order, -3.5)
    assert launches.count("map_coordinates") == 1
    assert np.array_equal(got[0, 0].numpy(), expected, equal_nan=True)


def test_a_batch_of_samples_and_channels_in_one_launch(launches):
    """Several samples (their own coordinates) and channels (shared coordinates): one launch, each result the
    eager path's."""
    rng = np.random.default_rng(11)
    coef = torch.from_numpy(rng.standard_normal((3, 2, 8, 9, 7)) * 10)
    coords = [torch.from_numpy(rng.uniform(-1, n, (3, 6, 5, 4))) for n in (8, 9, 7)]
    got = interp.map_coordinates(coef, coords, 3, 0.0)
    assert launches == ["map_coordinates"]
    assert torch.equal(got, interp._map_coordinates_eager(coef, coords, 3, 0.0))


@pytest.mark.parametrize("tiebreak", interp.SEG_TIEBREAKS)
@pytest.mark.parametrize("shape,out", [((12, 14, 11), (6, 7, 8)), ((15, 13), (11, 12))])
@pytest.mark.parametrize("half_grid", [False, True])
def test_label_kernel_equals_interpolate_img(launches, tiebreak, shape, out, half_grid):
    """batchgenerators' ``interpolate_img(..., is_seg=True)`` (per-label order-1 argmax and its tie-break), through
    one kernel launch; on the half grid labels tie often, and the three rules give different maps."""
    rng = np.random.default_rng(3)
    seg = rng.integers(-1, 4, shape).astype(np.float32)
    coords = _coords(rng, shape, out, half_grid)
    expected = interpolate_img(seg, coords, 1, "constant", cval=-1, is_seg=True, seg_tiebreak=tiebreak)
    got = interp.resample_labels(torch.from_numpy(seg)[None, None], [torch.from_numpy(c)[None] for c in coords],
                                 -1.0, tiebreak)
    assert launches == ["resample_labels"]
    assert got.dtype == torch.float32 and np.array_equal(got[0, 0].numpy(), expected)


def test_cases_the_kernels_do_not_know_take_the_eager_path(launches):
    """Order 2, half-precision segmentations and one spatial axis stay eager."""
    rng = np.random.default_rng(5)
    coef = torch.from_numpy(rng.standard_normal((1, 1, 6, 7)))
    coords = [torch.from_numpy(rng.uniform(0, 5, (1, 4, 4))) for _ in range(2)]
    interp.map_coordinates(coef, coords, 2, 0.0)
    seg = torch.from_numpy(rng.integers(0, 3, (1, 1, 6, 7)).astype(np.float16))
    interp.resample_labels(seg, coords, 0.0)
    interp.map_coordinates(coef[0, :, 0][None], coords[:1], 1, 0.0)
    assert launches == []


def test_the_device_check_catches_a_kernel_one_unit_off(fresh_decision, monkeypatch):
    """A kernel that rounds one value differently (as a fused multiply-add would) is refused, and the eager path
    runs; the check names what differed."""
    launch = interp._launch

    def one_ulp_off(name, values, out, *args, **kwargs):
        launch(name, values, out, *args, **kwargs)
        if name == "map_coordinates" and kwargs["ORDER"] == 3:
            flat = out.view(-1)
            flat[7] = torch.nextafter(flat[7], torch.tensor(float("inf"), dtype=flat.dtype))

    monkeypatch.setattr(interp, "_launch", one_ulp_off)
    why = triton_gate.status("cpu", interp.FAMILY)
    assert why is not None and why.startswith("the Triton map_coordinates order 3 3D differs from the eager path "
                                              "in 1 of"), why
    assert "eager torch for interpolation (the Triton map_coordinates order 3 3D differs" in triton_gate.describe("cpu")
    assert not triton_gate.usable(torch.zeros(2, 2, dtype=torch.float64), interp.FAMILY)


def test_the_device_check_has_ties_that_tell_the_rules_apart(fresh_decision, monkeypatch):
    """The check's label cases contain ties where 'nearest' and 'lowest' differ: a kernel that applied the wrong
    tie-break would be refused."""
    launch = interp._launch

    def lowest_instead_of_nearest(name, *args, **kwargs):
        if name == "resample_labels" and kwargs["TIEBREAK"] == 0:
            kwargs["TIEBREAK"] = 1
        launch(name, *args, **kwargs)

    monkeypatch.setattr(interp, "_launch", lowest_instead_of_nearest)
    why = triton_gate.status("cpu", interp.FAMILY)
    assert why is not None and why.startswith("the Triton label argmax (nearest) 3D differs"), why


def test_the_families_are_decided_separately(fresh_decision, monkeypatch):
    """A failing interpolation kernel leaves the prefilter kernels in use, and the log line says which is which."""
    from nnunet_explorer.training.device_augmentation import spline_recursions

    def broken(*args, **kwargs):
        raise RuntimeError("out of resources: shared memory")

    monkeypatch.setattr(interp, "_launch", broken)
    line = triton_gate.describe("cpu")
    assert spline_recursions.status("cpu") is None
    kernels, eager = line.split("; ")
    assert kernels.startswith("exact Triton kernels for ") and "spline prefilters" in kernels, line
    assert eager.startswith("eager torch for interpolation (the Triton kernels failed on cpu: RuntimeError: out of "
                            "resources"), line


@pytest.mark.parametrize("capability", [80, 90], ids=["A100", "H100-H200"])
def test_compiled_for_a_gpu_the_interpolation_kernels_fuse_no_multiply_add(capability):
    """Compiled as the explorer launches them (3D order 3 and 2D order 1 for images, the label kernel with each
    tie-break), the PTX's float64 arithmetic is ``mul``/``add``/``sub``/``div`` with an explicit ``.rn``, never
    ``fma``: PTX promises that ptxas does not contract instructions with an explicit rounding mode. In the machine
    code the kernels without a division have ``DMUL``/``DADD`` and no ``DFMA``; order 3 divides by 6, and the GPU's
    correctly rounded float64 division is itself a sequence of ``DFMA`` refinements, so there the check is that
    fusion off leaves fewer ``DFMA`` than Triton's default (fusion on), which contracts the weighted sums."""
    pytest.importorskip("triton.backends.nvidia")
    kernels = "triton_interpolation"
    builds = [("map_coordinates", {"ORDER": 3, "NDIM": 3, "BLOCK": interp.BLOCK}),
              ("map_coordinates", {"ORDER": 1, "NDIM": 2, "BLOCK": interp.BLOCK})]
    builds += [("resample_labels", {"TIEBREAK": t, "NDIM": 3, "BLOCK": interp.BLOCK}) for t in range(3)]
    for name, constexprs in builds:
        ptx, sass = machine_code(kernels, name, constexprs, triton_gate.COMPILE_OPTIONS, capability)
        ops = float64_ptx_ops(ptx)
        assert ops and all(op.endswith(".rn.f64") and not op.startswith("fma") for op in ops), (name, ops)
        instructions = float64_sass_ops(sass)
        assert {"DMUL", "DADD"} <= instructions, (name, constexprs, instructions)
        if not any(op.startswith("div") for op in ops):
            assert not any(i.startswith("DFMA") for i in instructions), (name, constexprs, instructions)
        else:
            _, fused = machine_code(kernels, name, constexprs, {"enable_fp_fusion": True}, capability)
            assert sass.count("DFMA") < fused.count("DFMA"), (sass.count("DFMA"), fused.count("DFMA"))
    _, fused = machine_code(kernels, "map_coordinates", builds[1][1], {"enable_fp_fusion": True}, capability)
    assert "DFMA" in fused  # the order-1 kernel, too, would fuse under Triton's default: the check above can fail
