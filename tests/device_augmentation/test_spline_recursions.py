"""The Triton prefilter kernels (the GPU path of the spline prefilters) equal scipy and the eager path bit for bit.

A machine without a GPU runs Triton kernels in Triton's interpreter (``TRITON_INTERPRET=1``: every program of the
grid executed with numpy, float64 operations rounded once each, as the compiled kernel does with
``enable_fp_fusion=False``). So these tests check the kernels' *algorithm*, operation by operation, against scipy
itself; on CUDA, the kernels' own check on the device (:func:`spline_recursions.status`) and ``gpu_check``'s
augmentation section measure the compiled code.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage.transform import resize

from nnunet_explorer.training.device_augmentation import interpolation as interp
from nnunet_explorer.training.device_augmentation import spline_recursions, triton_gate
from nnunet_explorer.training.device_augmentation.scipy_zoom import skimage_resize

from .triton_machine_code import float64_ptx_ops, float64_sass_ops, machine_code

pytest.importorskip("triton", reason="Triton is a test dependency on Linux x86-64 (pyproject's test extra)")


@pytest.fixture
def kernels(monkeypatch):
    """The kernels on the CPU, in Triton's interpreter; the per-device decision forgotten before and after."""
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    monkeypatch.setenv(triton_gate.ENV, "triton")
    triton_gate.reset()
    assert spline_recursions.status("cpu") is None, triton_gate.describe("cpu")
    yield spline_recursions
    triton_gate.reset()


@pytest.fixture
def counted(kernels, kernel_launches):
    """The names of the kernels a test launches (the kernels still run)."""
    return kernel_launches


@pytest.mark.parametrize("shape", [(7, 9, 11), (2, 5, 3), (1, 6, 4), (3, 2, 40)])
def test_mirror_kernels_equal_scipys_spline_filter(counted, shape):
    a = np.random.default_rng(sum(shape)).standard_normal(shape) * 40.0
    expected = ndimage.spline_filter(a, 3, output=np.float64, mode="constant")
    got = interp.spline_prefilter(torch.from_numpy(a)[None, None], 3)[0, 0].numpy()
    assert np.array_equal(got, expected)
    # three launches per axis longer than 1 (start value, causal, anti-causal), not one per slab
    assert counted.count("mirror_start") == sum(n > 1 for n in shape)
    assert len(counted) == 3 * sum(n > 1 for n in shape)


@pytest.mark.parametrize("order", [2, 4, 5])
def test_mirror_kernels_other_orders(kernels, order):
    """Orders 4 and 5 have two poles: the kernels run once per pole, in scipy's order."""
    a = np.random.default_rng(order).standard_normal((9, 12))
    expected = ndimage.spline_filter(a, order, output=np.float64, mode="constant")
    assert np.array_equal(interp.spline_prefilter(torch.from_numpy(a)[None, None], 2, order)[0, 0].numpy(), expected)


def test_lines_wider_than_one_program_and_a_batch_of_lines(kernels):
    """More lines than one program holds (the mask at the end of the last block) and several samples at once."""
    a = np.random.default_rng(3).standard_normal((3, 2, 6, 5, 19)) * 7.0
    got = interp.spline_prefilter(torch.from_numpy(a), 3).numpy()
    for b in range(3):
        for c in range(2):
            assert np.array_equal(got[b, c], ndimage.spline_filter(a[b, c], 3, output=np.float64, mode="constant"))


@pytest.mark.parametrize("in_shape,out_shape", [((5, 7), (9, 14)), ((4, 6, 5), (7, 11, 9)), ((2, 3, 9), (4, 5, 9))])
def test_reflect_kernel_equals_scikit_images_resize(counted, in_shape, out_shape):
    """SimulateLowResolution's order-3 upsampling (``skimage.transform.resize``, scipy's reflect-boundary
    prefilter) through the one-launch-per-axis kernel."""
    x = np.random.default_rng(5).standard_normal(in_shape)
    expected = resize(x, out_shape, order=3, mode="edge", anti_aliasing=False)
    assert np.array_equal(skimage_resize(torch.from_numpy(x), out_shape, 3).numpy(), expected)
    # one launch per axis (padded by 12 on each side, every axis is long enough); the resize's own kernel
    # (test_zoom_kernel.py) and its family's check launch "zoom"
    assert counted.count("reflect") == len(in_shape) and set(counted) <= {"reflect", "zoom"}


def test_the_device_check_catches_a_kernel_that_rounds_differently(kernels, monkeypatch):
    """The check before first use is what keeps the GPU path exact: kernels whose result is one unit in the last
    place off in a single value (as a contracted multiply-add would make them) are refused, and the eager path
    runs."""
    launch = spline_recursions._launch

    def one_ulp_off(name, c, *args):
        launch(name, c, *args)
        if name == "anticausal":
            c[0, 0] = torch.nextafter(c[0, 0], torch.tensor(float("inf"), dtype=c.dtype))

    monkeypatch.setattr(spline_recursions, "_launch", one_ulp_off)
    triton_gate.reset()
    why = spline_recursions.status("cpu")
    assert why is not None and "mirror prefilter differs from the eager path in 1 of" in why, why
    assert not spline_recursions.use_kernels(torch.zeros(4, 4, dtype=torch.float64))
    assert "eager torch" in triton_gate.describe("cpu")


def test_a_failing_triton_falls_back_to_the_eager_path_and_says_why(kernels, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no such option: enable_fp_fusion\nmore lines")

    monkeypatch.setattr(spline_recursions, "_launch", broken)
    triton_gate.reset()
    why = spline_recursions.status("cpu")
    assert why.startswith("the Triton kernels failed on cpu: RuntimeError: no such option") and "more" not in why


def test_the_cpu_default_is_the_eager_path(monkeypatch):
    monkeypatch.delenv(triton_gate.ENV, raising=False)
    triton_gate.reset()
    assert spline_recursions.status("cpu") is not None
    assert not spline_recursions.use_kernels(torch.zeros(3, 3, dtype=torch.float64))
    monkeypatch.setenv(triton_gate.ENV, "eager")
    assert spline_recursions.status("cuda") == f"{triton_gate.ENV}=eager"
    monkeypatch.setenv(triton_gate.ENV, "fast")
    with pytest.raises(ValueError, match="use one of auto, eager, triton"):
        triton_gate.mode()
    triton_gate.reset()


def test_the_kernels_need_the_interpreter_on_a_cpu(monkeypatch):
    monkeypatch.setenv(triton_gate.ENV, "triton")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    triton_gate.reset()
    assert spline_recursions.status("cpu") == f"{triton_gate.ENV}=triton on cpu needs TRITON_INTERPRET=1"
    triton_gate.reset()


@pytest.mark.slow  # ~1 min: Triton's interpreter runs every program of the grid in Python
def test_moreda_through_the_kernels_equals_batchgenerators(counted):
    """The whole moreDA list, with every sample rotated and scaled and every sample's resolution lowered (both
    prefilters), through every kernel family (prefilters, interpolation, resize, float32 power and sums): equal to
    batchgenerators' ``Compose`` bit for bit, 4 seeds."""
    from batchgenerators.transforms.resample_transforms import SimulateLowResolutionTransform
    from batchgenerators.transforms.spatial_transforms import SpatialTransform

    from .conftest import chain_problems, moreda, synthetic_batch

    transforms, setup = moreda((16, 40, 40))
    for t in transforms:
        if isinstance(t, SpatialTransform):
            t.p_rot_per_sample = t.p_scale_per_sample = 1.0
        if isinstance(t, SimulateLowResolutionTransform):
            t.p_per_sample = 1.0
    for seed in range(4):
        batch = synthetic_batch(np.random.default_rng(seed), 2, setup.basic_generator_patch_size)
        problems, chain, _ = chain_problems(transforms, batch, seed)
        assert not problems, (seed, problems)
    assert {"mirror_start", "causal", "anticausal", "reflect", "map_coordinates", "resample_labels", "zoom",
            "svml_powf", "leaves", "tree"} <= set(counted)


@pytest.mark.parametrize("capability", [80, 90], ids=["A100", "H100-H200"])
def test_compiled_for_a_gpu_the_kernels_hold_no_fused_multiply_add(capability):
    """What the interpreter cannot show: the compiled kernels round every multiply and every add on their own.
    Compiled as the explorer launches them, the PTX has only round-to-nearest ``mul``/``add``/``sub`` on float64
    and the GPU's machine code only ``DMUL``/``DADD``, no ``DFMA``; compiled with Triton's default (fusion on),
    the same kernels do contain fused multiply-adds, so this check can tell the two apart."""
    pytest.importorskip("triton.backends.nvidia")
    triton_prefilters = "triton_prefilters"
    constexprs = {"BLOCK": spline_recursions.BLOCK}
    fused_by_default = []
    for name in ("mirror_start", "causal", "anticausal", "reflect"):
        ptx, sass = machine_code(triton_prefilters, name, constexprs, triton_gate.COMPILE_OPTIONS, capability)
        float64_ops = float64_ptx_ops(ptx)
        assert float64_ops and all(op.endswith(".rn.f64") and not op.startswith("fma") for op in float64_ops), \
            (name, float64_ops)
        instructions = float64_sass_ops(sass)
        assert "DMUL" in instructions and not any(i.startswith("DFMA") for i in instructions), (name, instructions)
        _, sass_fused = machine_code(triton_prefilters, name, constexprs, {"enable_fp_fusion": True}, capability)
        if "DFMA" in sass_fused:
            fused_by_default.append(name)
    assert {"mirror_start", "causal", "reflect"} <= set(fused_by_default), fused_by_default
