"""The Triton kernels of numpy's pairwise float32 sum (the per-channel means and standard deviations of gamma and
contrast on a GPU) equal numpy and the eager path bit for bit.

Run in Triton's interpreter here (``TRITON_INTERPRET=1``), which checks the kernels' algorithm; on a GPU the
family's check (:func:`triton_gate.status`, family ``"sums"``) compares the compiled kernels with the eager path
before first use; the last test compiles them for A100 and H100/H200 and reads the machine code.
"""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from nnunet_explorer.training.device_augmentation import numpy_sums

from .conftest import decision_after_tampering, launches_after_check
from .triton_machine_code import machine_code


launches = launches_after_check(numpy_sums.FAMILY)


@pytest.mark.parametrize("n", [8, 15, 128, 129, 136, 1000, 4099, 65_541, 80 * 160 * 160])
def test_the_kernels_equal_numpys_sum(launches, n):
    """Lengths with one leaf (with and without a tail of n % 8), two leaves, deep trees, the blog's patch; values of
    every magnitude and sign, and a row of -0.0 (numpy's start value +0.0 makes its sum +0.0)."""
    rng = np.random.default_rng(n)
    x = (rng.standard_normal((3, n)) * np.exp(rng.uniform(-10, 10, (3, n)))).astype(np.float32)
    x[2] = -0.0
    got = numpy_sums.numpy_sum_f32(torch.from_numpy(x)).numpy()
    expected = np.array([row.sum() for row in x], dtype=np.float32)
    assert np.array_equal(got.view(np.uint32), expected.view(np.uint32))
    assert launches == (["leaves", "tree"] if n > numpy_sums.PW_BLOCKSIZE else ["leaves"])


def test_mean_and_std_through_the_kernels_equal_numpy(launches):
    x = (np.random.default_rng(2).random((4, 30_011)) * 300 - 100).astype(np.float32)
    t = torch.from_numpy(x)
    assert np.array_equal(numpy_sums.numpy_mean_f32(t).numpy(), np.array([row.mean() for row in x]))
    assert np.array_equal(numpy_sums.numpy_std_f32(t).numpy(), np.array([row.std() for row in x]))
    assert launches.count("leaves") == 3  # the mean; the std's own mean and its squared deviations' sum


def test_the_device_check_catches_a_sum_one_unit_off(triton_interpreter, monkeypatch):
    """A tree kernel that rounds one node differently is refused, and the eager path runs."""
    def one_ulp_off(name, args):
        if name == "tree":
            buffer = args[0]
            buffer[:, -1] = torch.nextafter(buffer[:, -1], torch.tensor(float("inf")))

    why, line = decision_after_tampering(triton_interpreter, monkeypatch, numpy_sums.FAMILY, one_ulp_off)
    assert why is not None and why.startswith("the Triton float32 pairwise sum (n=129) differs from the eager "
                                              "path in 3 of 3 values"), why
    assert "eager torch for float32 sums (the Triton float32 pairwise sum" in line


@pytest.mark.parametrize("capability", [80, 90], ids=["A100", "H100-H200"])
def test_compiled_for_a_gpu_the_sum_kernels_only_add(capability):
    """Compiled for a GPU, the kernels' float arithmetic is float32 additions and nothing else: no multiply to fuse,
    no other rounding (the machine code's float32 instructions are ``FADD``s)."""
    pytest.importorskip("triton.backends.nvidia")
    from nnunet_explorer.training.device_augmentation import triton_gate

    for name in ("leaves", "tree"):
        ptx, sass = machine_code("triton_sums", name, {"BLOCK": numpy_sums.BLOCK}, triton_gate.COMPILE_OPTIONS,
                                 capability)
        ops = set(re.findall(r"\b((?:fma|mul|add|sub|div)\.[a-z0-9.]*f(?:32|64))\b", ptx))
        assert ops and all(op.startswith("add.") and op.endswith("f32") for op in ops), (name, ops)
        float_sass = set(re.findall(r"\b(F(?:FMA|MUL|ADD)\w*)", sass))
        assert float_sass and all(i.startswith("FADD") for i in float_sass), (name, float_sass)
