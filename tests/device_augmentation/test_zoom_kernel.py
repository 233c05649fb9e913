"""The Triton kernel of scikit-image's resize (SimulateLowResolution's zooms down and up on a GPU) equals
scikit-image, batchgenerators and the eager path bit for bit.

Run in Triton's interpreter here (``TRITON_INTERPRET=1``), which checks the kernel's algorithm operation by
operation; on a GPU the family's check (:func:`triton_gate.status`, family ``"resize"``) compares the compiled
kernel with the eager path before first use; the last test compiles it for A100 and H100/H200 and reads the
machine code.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from batchgenerators.transforms.resample_transforms import SimulateLowResolutionTransform
from skimage.transform import resize

from nnunet_explorer.training.device_augmentation import scipy_zoom

from .conftest import decision_after_tampering, host_check_holds, launches_after_check
from .test_low_resolution import MOREDA, SHAPES
from .transform_parity import SEEDS, SHAPE_2D, SHAPE_3D, assert_same, real_batch
from .triton_machine_code import float64_ptx_ops, float64_sass_ops, machine_code

pytest.importorskip("triton", reason="Triton is a test dependency on Linux x86-64 (pyproject's test extra)")


launches = launches_after_check(scipy_zoom.FAMILY)


CASES = [(shapes, order) for order in (0, 1, 3) for shapes in SHAPES
         if order < 3 or max(np.prod(shapes[0]), np.prod(shapes[1])) < 20_000]  # cubic at 16x40x40: the next tests


@pytest.mark.parametrize("shapes,order", CASES, ids=[f"{a}->{b}-order{o}" for (a, b), o in CASES])
def test_the_kernel_equals_skimage_and_the_eager_path(launches, shapes, order):
    """Zooms down, up, mixed, one axis kept (dummy 2D's slice axis, still interpolated), lines of length 1 and 2,
    and the same shape (scipy's copy: no launch); a few signed zeros among the values."""
    in_shape, out_shape = shapes
    x = np.random.default_rng(len(in_shape) + order).standard_normal(in_shape) * 3
    x.flat[::17] = -0.0
    got = scipy_zoom.skimage_resize(torch.from_numpy(x), out_shape, order)
    copies = scipy_zoom.zoom_output_shape(in_shape, out_shape)[1]
    assert [name for name in launches if name == "zoom"] == ([] if copies else ["zoom"])  # (and the prefilters')
    if not copies:
        taps = [scipy_zoom.axis_taps(i, o, order) for i, o in zip(in_shape, got.shape)]
        coeffs = scipy_zoom._coefficients(torch.from_numpy(x), order)
        kernel = scipy_zoom._interpolate_kernel(coeffs, taps, order)
        eager = scipy_zoom._interpolate_eager(coeffs, taps, order)
        assert np.array_equal(kernel.numpy().view(np.int64), eager.numpy().view(np.int64))  # -0.0 told apart
    if host_check_holds("skimage_resize"):
        expected = resize(x, out_shape, order=order, mode="edge", anti_aliasing=False)
        assert got.shape == expected.shape and np.array_equal(got.numpy(), expected)


def test_the_tables_on_the_device_grow_with_axis_lengths_not_with_shapes(launches, triton_interpreter,
                                                                          monkeypatch):
    """A table per axis and (length in, length out, order): the strides are kernel arguments, so a run's ever new
    low-resolution shapes (each axis' length drawn) add tables per new axis length, not per combination."""
    monkeypatch.setattr(triton_interpreter, "_tables", {})  # the tables this test makes, and only those

    def zoom_tables():
        return {key[:4] for key in triton_interpreter._tables if key[0] in ("zoom-taps", "zoom-weights")}

    before = zoom_tables()
    rng = np.random.default_rng(9)
    pairs = set()
    for shape in [(4, 5, 6), (4, 7, 6), (4, 5, 9), (4, 7, 9), (4, 9, 5)]:  # one z length among many shapes
        out = (3, 8, 8)
        scipy_zoom.skimage_resize(torch.from_numpy(rng.standard_normal(shape)), out, 1)
        pairs.update((n, o) for n, o in zip(shape, out))
    added = zoom_tables() - before
    assert {(name, n, o, 1) for name in ("zoom-taps", "zoom-weights") for n, o in pairs} >= added
    assert len([key for key in triton_interpreter._tables if key[0] == "zoom-taps"]) == len(pairs) == 5
    assert launches.count("zoom") == 5


def test_other_dimensions_take_the_eager_path(launches):
    """One axis or four: the kernel knows 2 and 3; the eager path is the same arithmetic."""
    rng = np.random.default_rng(4)
    for in_shape, out_shape in (((9,), (14,)), ((3, 4, 5, 6), (5, 4, 3, 7))):
        x = rng.standard_normal(in_shape)
        got = scipy_zoom.skimage_resize(torch.from_numpy(x), out_shape, 1).numpy()
        if host_check_holds("skimage_resize"):
            assert np.array_equal(got, resize(x, out_shape, order=1, mode="edge", anti_aliasing=False))
    assert launches == []


@pytest.mark.parametrize("case", ["moreDA-3d", "dummy2d", "always-2ch-2d"])
def test_low_resolution_through_the_kernel_equals_batchgenerators(launches, case):
    """SimulateLowResolution on the device, both zooms through the kernel: batchgenerators bit for bit."""
    shape, kwargs = {
        "moreDA-3d": (SHAPE_3D, dict(MOREDA, p_per_sample=0.5)),
        "dummy2d": (SHAPE_3D, dict(MOREDA, p_per_sample=1, ignore_axes=(0,))),
        "always-2ch-2d": ((SHAPE_2D[0], 2, *SHAPE_2D[2:]), dict(MOREDA, p_per_sample=1, p_per_channel=1)),
    }[case]
    transform = SimulateLowResolutionTransform(**kwargs)
    resized = 0
    for seed in SEEDS[:4]:
        data, seg = real_batch(shape, seed)
        draws = assert_same(transform, data, seg, seed)
        if draws is None:  # a named CPU fallback on this host (scikit-image resizes otherwise): nothing launched
            assert launches == []
            return
        resized += sum(d.target_shape != shape[2:] for d in draws)  # the others are scipy's copies
    assert resized > 0 and launches.count("zoom") == 2 * resized


def test_the_device_check_catches_a_kernel_one_unit_off(triton_interpreter, monkeypatch):
    """A kernel whose result is one unit off in one value is refused, and the eager path runs; the check names
    what differed (its first case, order 0 in 3D)."""
    def tamper(name, args):
        flat = args[1].view(-1)  # (coef, out, ...)
        flat[5] = torch.nextafter(flat[5], torch.tensor(float("inf"), dtype=flat.dtype))

    why, line = decision_after_tampering(triton_interpreter, monkeypatch, scipy_zoom.FAMILY, tamper)
    assert why is not None and why.startswith("the Triton resize order 0 3D differs from the eager path in 1 of"), why
    assert "eager torch for scikit-image's resize (the Triton resize order 0 3D differs" in line


@pytest.mark.parametrize("capability", [80, 90], ids=["A100", "H100-H200"])
def test_compiled_for_a_gpu_the_zoom_kernel_fuses_no_multiply_add(capability):
    """Compiled as SimulateLowResolution launches it (3D at orders 3 and 1, 2D at order 3), the PTX's float64
    arithmetic is ``mul.rn``/``add.rn`` only, and the machine code has ``DMUL``/``DADD`` and no ``DFMA``; under
    Triton's default (fusion on) the same kernel would fuse, so the check can fail."""
    pytest.importorskip("triton.backends.nvidia")
    from nnunet_explorer.training.device_augmentation import triton_gate

    builds = [{"TAPS": 4, "NDIM": 3, "BLOCK": scipy_zoom.BLOCK}, {"TAPS": 2, "NDIM": 3, "BLOCK": scipy_zoom.BLOCK},
              {"TAPS": 4, "NDIM": 2, "BLOCK": scipy_zoom.BLOCK}]
    for constexprs in builds:
        ptx, sass = machine_code("triton_zoom", "zoom", constexprs, triton_gate.COMPILE_OPTIONS, capability)
        ops = float64_ptx_ops(ptx)
        assert ops == {"mul.rn.f64", "add.rn.f64"}, (constexprs, ops)
        instructions = float64_sass_ops(sass)
        assert {"DMUL", "DADD"} <= instructions and not any(i.startswith("DFMA") for i in instructions), \
            (constexprs, instructions)
    _, fused = machine_code("triton_zoom", "zoom", builds[0], {"enable_fp_fusion": True}, capability)
    assert "DFMA" in fused
