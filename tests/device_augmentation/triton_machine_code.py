"""Compile the device augmentation's Triton kernels ahead of time for an NVIDIA GPU, without one, and read the
result: Triton ships ``ptxas`` and ``nvdisasm``, so a CPU-only machine can see the PTX and the machine code (SASS)
a GPU would run. The tests use it to show that no multiply and add is fused into one rounding."""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import tempfile
from pathlib import Path


PACKAGE = "nnunet_explorer.training.device_augmentation"


def compilable(module: str) -> object:
    """A fresh copy of the kernels' module ``module`` (e.g. ``"triton_prefilters"``), decorated without the
    interpreter, and without importing the package's own copy (whichever of the two a test imports first under
    ``TRITON_INTERPRET=1`` holds interpreted functions, which do not compile; the other way round, compiled ones,
    which the interpreter cannot run)."""
    interpret = os.environ.pop("TRITON_INTERPRET", None)
    try:
        origin = importlib.util.find_spec(f"{PACKAGE}.{module}").origin
        # named inside the package, so that its relative import of triton_gate (the jit decorator) resolves
        spec = importlib.util.spec_from_file_location(f"{PACKAGE}.{module}_for_a_gpu", origin)
        fresh = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(fresh)
    finally:
        if interpret is not None:
            os.environ["TRITON_INTERPRET"] = interpret
    return fresh


def machine_code(module: str, name: str, constexprs: dict, options: dict, capability: int) -> tuple[str, str]:
    """PTX and disassembled SASS of kernel ``name`` of ``module`` (its ``KERNEL_SIGNATURES``), compiled for a GPU
    of that compute capability."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    kernels = compilable(module)
    signature = dict(kernels.KERNEL_SIGNATURES[name], **{k: "constexpr" for k in constexprs})
    source = ASTSource(getattr(kernels, name), signature, constexprs=constexprs)
    kernel = triton.compile(source, target=GPUTarget("cuda", capability, 32), options=options)
    nvdisasm = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "nvdisasm")
    cubin = Path(tempfile.mkdtemp()) / f"{name}.cubin"
    cubin.write_bytes(kernel.asm["cubin"])
    sass = subprocess.run([nvdisasm, "-c", str(cubin)], capture_output=True, text=True, check=True).stdout
    return kernel.asm["ptx"], sass


def float64_ptx_ops(ptx: str) -> set[str]:
    """The float64 arithmetic instructions of a PTX listing (``mul.rn.f64``, ``fma.rn.f64``, ``div.rn.f64``...)."""
    return set(re.findall(r"\b((?:fma|mul|add|sub|div)\.[a-z0-9.]*f64)\b", ptx))


def float64_sass_ops(sass: str) -> set[str]:
    """The float64 multiply / add / fused multiply-add instructions of a SASS listing."""
    return set(re.findall(r"\b(D(?:FMA|MUL|ADD)\w*)", sass))
