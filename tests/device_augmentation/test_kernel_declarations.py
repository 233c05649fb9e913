"""Every Triton kernel of the device augmentation compiles to one binary per set of constexprs, whatever the shapes
and addresses it is called with, so the binary a family's check compared with the eager path is the binary every
batch runs (:func:`~nnunet_explorer.training.device_augmentation.triton_gate.jit`).

Triton decides per call which binary to run from each argument's "specialisation" (an integer equal to 1 becomes
a constant, one divisible by 16 gets an alignment hint, so does a pointer aligned to 16 bytes); the test asks
Triton's own specialisation function, the one its launcher calls, for the kernels' parameters.
"""
from __future__ import annotations

import pytest
import torch

from .triton_machine_code import compilable

pytest.importorskip("triton", reason="Triton is a test dependency on Linux x86-64 (pyproject's test extra)")

KERNEL_MODULES = ["triton_prefilters", "triton_interpolation", "triton_zoom", "triton_power", "triton_sums"]
TORCH_TYPES = {"*fp64": torch.float64, "*fp32": torch.float32, "*i64": torch.int64, "*i32": torch.int32,
               "*i8": torch.int8}


def _values(triton_type: str) -> list:
    """Arguments of one parameter as a check and a batch pass them: integers 1, 11 and 160 (a check's small
    shapes, a patch's), a tensor at an aligned address and one at an odd offset."""
    if triton_type.startswith("*"):
        t = torch.zeros(64, dtype=TORCH_TYPES[triton_type])
        return [t, t[1:]]
    return [1, 11, 160]


def _specialisations(param, values: list, value_hints: bool, alignment_hints: bool) -> set:
    from triton.backends.compiler import BaseBackend
    from triton.runtime.jit import native_specialize_impl

    return {native_specialize_impl(BaseBackend, v, param.is_const, value_hints, alignment_hints) for v in values}


@pytest.mark.parametrize("module", KERNEL_MODULES)
def test_every_kernel_is_one_binary_per_constexprs(module):
    kernels = compilable(module)
    for name, signature in kernels.KERNEL_SIGNATURES.items():
        params = [p for p in getattr(kernels, name).params if not p.is_constexpr]
        assert [p.name for p in params] == list(signature), (module, name)
        for p in params:
            values = _values(signature[p.name])
            keys = _specialisations(p, values, not p.do_not_specialize, not p.do_not_specialize_on_alignment)
            assert len(keys) == 1 and next(iter(keys))[1] is None, (module, name, p.name, keys)
            # the default (@triton.jit) would pick a binary by value or address: this test can fail
            assert len(_specialisations(p, values, True, True)) > 1, (module, name, p.name)


def test_the_checks_compile_the_25_variants_the_readme_names(triton_interpreter, monkeypatch):
    """Each family's check launches every variant (set of constexprs) its kernels have, so after the five checks
    nothing is left to compile: 4 prefilter kernels, map_coordinates at orders 0, 1, 3 and the label argmax with
    its three tie-breaks, each in 2D and 3D, the resize at 1, 2 and 4 taps in 2D and 3D, the power, the two sums."""
    import importlib

    from .conftest import kernel_name

    importlib.import_module("nnunet_explorer.training.device_augmentation.chain")  # registers every family
    variants = set()
    launch = triton_interpreter.launch

    def recording(kernel, grid, device, *args, **constexprs):
        variants.add((kernel_name(kernel), tuple(sorted((k, v) for k, v in constexprs.items() if k != "BLOCK"))))
        return launch(kernel, grid, device, *args, **constexprs)

    monkeypatch.setattr(triton_interpreter, "launch", recording)
    triton_interpreter.reset()
    try:
        assert all(triton_interpreter.status("cpu", f) is None for f in triton_interpreter._families)
    finally:
        triton_interpreter.reset()
    expected = {(name, ()) for name in ("mirror_start", "causal", "anticausal", "reflect", "svml_powf", "leaves",
                                        "tree")}
    for ndim in (2, 3):
        expected |= {("map_coordinates", (("NDIM", ndim), ("ORDER", o))) for o in (0, 1, 3)}
        expected |= {("resample_labels", (("NDIM", ndim), ("TIEBREAK", t))) for t in (0, 1, 2)}
        expected |= {("zoom", (("NDIM", ndim), ("TAPS", t))) for t in (1, 2, 4)}
    assert variants == expected and len(expected) == 25
