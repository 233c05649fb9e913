"""The Triton kernel of numpy's float32 power (gamma's ``np.power`` on a GPU) equals the eager path and numpy bit
for bit.

Run in Triton's interpreter here (``TRITON_INTERPRET=1``), which checks the kernel's algorithm operation by
operation; on a GPU the family's check (:func:`triton_gate.status`, family ``"power"``) compares the compiled
kernel with the eager path before first use; the last test compiles it for A100 and H100/H200 and reads the
machine code.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from batchgenerators.transforms.color_transforms import GammaTransform

from nnunet_explorer.training.device_augmentation import numpy_power

from .conftest import decision_after_tampering, host_check_holds, launches_after_check
from .transform_parity import SHAPE_3D, assert_same, real_batch
from .triton_machine_code import float64_ptx_ops, float64_sass_ops, machine_code


launches = launches_after_check(numpy_power.FAMILY)


def _inputs(seed: int) -> np.ndarray:
    """Range-normalised intensities as gamma sees them, tiny and subnormal values, 0, 1, and numpy_power's probe
    inputs (both sides of every step of the reciprocal's table)."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.random(20_000), rng.random(2_000) * 1e-4, np.ldexp(rng.random(50), -140),
                           [0.0, 1.0], numpy_power.probe_inputs()]).astype(np.float32)


@pytest.mark.parametrize("gamma", [0.7, 0.8312, 0.9999, 1.0001, 1.2345, 1.4999, 3.0, -0.75])
def test_the_kernel_equals_the_eager_path_and_numpy(launches, gamma):
    x = _inputs(int(abs(gamma) * 1000))
    y = float(np.float32(gamma))
    got = numpy_power.svml_powf(torch.from_numpy(x), y)
    assert launches == ["svml_powf"]
    assert torch.equal(got, numpy_power._svml_powf_eager(torch.from_numpy(x), y))
    if host_check_holds("numpy_float32_power"):  # numpy on this host computes the power this way
        assert np.array_equal(got.numpy(), np.power(x, np.float32(gamma)))


def test_rows_each_with_its_own_exponent_in_one_launch(launches):
    """Gamma's drawn channels, one row each with its own exponent: one launch for the general exponents, the
    special ones (1, 2, 0.5 after the float32 rounding) numpy's way; equal to numpy row by row."""
    x = np.stack([_inputs(k)[:8000] for k in range(6)])
    gammas = [0.8312, 0.99999999, 1.2345, 2.0, 0.7, 0.5]
    got = numpy_power.numpy_power_rows_f32(torch.from_numpy(x), gammas).numpy()
    assert launches == ["svml_powf"]
    if host_check_holds("numpy_float32_power"):
        expected = np.stack([np.power(x[k], np.float32(g)) for k, g in enumerate(gammas)])
        assert np.array_equal(got, expected)


@pytest.mark.parametrize("case", ["always", "always-inverted", "whole-sample"])
def test_gamma_through_the_kernel_equals_batchgenerators(launches, case):
    """GammaTransform on the device, its power through the kernel: batchgenerators' result bit for bit."""
    from .test_gamma import CASES

    transform = GammaTransform(**CASES[case])
    for seed in range(3):
        data, seg = real_batch(SHAPE_3D, seed)
        assert_same(transform, data, seg, seed)
    if host_check_holds("numpy_float32_power"):  # else the transform stays on the CPU (named fallback)
        assert "svml_powf" in launches


def test_the_device_check_catches_a_kernel_one_unit_off(triton_interpreter, monkeypatch):
    """A kernel whose result is one float32 unit off in one value is refused, and the eager path runs."""
    def one_ulp_off(name, args):
        flat = args[2].view(-1)  # (x, y, out, ...)
        flat[11] = torch.nextafter(flat[11], torch.tensor(float("inf")))

    why, line = decision_after_tampering(triton_interpreter, monkeypatch, numpy_power.FAMILY, one_ulp_off)
    assert why is not None and why.startswith("the Triton float32 power (one exponent per row) differs from the "
                                              "eager path in 1 of"), why
    assert "eager torch for float32 power (the Triton float32 power" in line


@pytest.mark.parametrize("capability", [80, 90], ids=["A100", "H100-H200"])
def test_compiled_for_a_gpu_the_power_kernel_fuses_no_multiply_add(capability):
    """Compiled as launched, the kernel's float64 arithmetic is ``mul``/``add``/``sub`` with an explicit ``.rn`` and
    its machine code has ``DMUL``/``DADD`` but no ``DFMA`` (its divisions by 32 and 16 are products with 2^-5 and
    2^-4); with Triton's default (fusion on) it does contain ``DFMA``: the check can fail."""
    pytest.importorskip("triton.backends.nvidia")
    constexprs = {"BLOCK": numpy_power.BLOCK}
    from nnunet_explorer.training.device_augmentation import triton_gate

    ptx, sass = machine_code("triton_power", "svml_powf", constexprs, triton_gate.COMPILE_OPTIONS, capability)
    ops = float64_ptx_ops(ptx)
    assert ops and all(op.endswith(".rn.f64") and op.split(".")[0] in ("mul", "add", "sub") for op in ops), ops
    instructions = float64_sass_ops(sass)
    assert {"DMUL", "DADD"} <= instructions and not any(i.startswith("DFMA") for i in instructions), instructions
    _, fused = machine_code("triton_power", "svml_powf", constexprs, {"enable_fp_fusion": True}, capability)
    assert "DFMA" in fused
