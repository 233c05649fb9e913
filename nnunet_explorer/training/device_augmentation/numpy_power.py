"""numpy's float32 ``np.power(x, y)`` (scalar ``y``), reproduced on torch tensors bit for bit.

GammaTransform raises every voxel of a channel to a random power with ``np.power(float32 array, python float)``.
numpy 2.x does not compute that power correctly rounded, and not the same way on every machine:

* with a scalar exponent of exactly ``1``, ``2``, ``0.5`` or ``-1`` it copies, squares, takes the square root or
  the reciprocal (correctly rounded);
* otherwise, on an x86-64 CPU with AVX-512 (numpy's ``AVX512_SKX`` feature: Intel Skylake-SP and later, AMD Zen 4
  and later) it calls ``__svml_powf16``, the "low accuracy" float32 power of Intel's SVML that numpy bundles. Its
  results are up to 4 units in the last place (ulp) away from the correctly rounded power; on this project's
  machines about one voxel in five differs from ``float32(float64 power)``, by one ulp (measured on gammas 0.7-1.5
  over uniform, normal and CT-like intensities);
* on other CPUs it calls the C library's ``powf``.

So no formula gives numpy's numbers; only numpy's own algorithm does. This module runs that algorithm (the
AVX-512 SVML one) step by step on torch tensors. It is a table-driven ``2 ** (y * log2(x))`` in float32:

1. ``x = m * 2**e`` with ``m`` in ``[0.5, 1)`` (``vgetmantps`` / ``vgetexpps``); ``r``, an approximate ``1 / m``
   rounded to 5 fractional bits (``vrcp14ps``, then ``vrndscaleps``); ``R = r * m - 1``, small.
2. ``log2(x) = e (+1) + Th[r] + Tl[r] + log2(1 + R)``, the tables giving ``-log2(r)`` in two parts and a degree-5
   polynomial ``log2(1 + R)``, carried as a float32 high part plus a low part (``High``, ``Tll``...).
3. ``Z = y * log2(x)``, again as high and low parts, with the multiplication and the final additions rounded
   *toward zero* (``{rz-sae}``).
4. ``2**Z = 2**floor(Z) * The[j] * (1 + R' * poly(R'))`` with ``j`` the first four fractional bits of ``Z``
   (``vaddps {rd-sae}`` of a shifter, ``vreduceps`` for the rest, rounded *down*).
5. Lanes with ``x <= 0``, a non-finite ``x`` or ``y``, or ``|Z| > 125.5`` go to a scalar "rare case" routine.

Every step is a float32 operation with one rounding (fused multiply-adds round once, some steps round toward zero
or down). torch has neither float32 FMA with a single rounding nor directed rounding, so each float32 operation is
carried out here on float64 numbers *exactly*: the product of two float32 numbers is exact in float64, a sum is
split into its float64 value and its exact error (Knuth's TwoSum), and the exact result is then rounded to float32
in the wanted direction (round to nearest, then at most one step with ``nextafter``, decided from the exact
error). Only float64 additions, subtractions and multiplications, each its own kernel, and float32 bit operations
are used, so CPU and CUDA give the same bits. On CUDA with Triton the same steps run as one kernel
(:mod:`.triton_power`, family ``"power"`` of :mod:`.triton_gate`: checked on the device against this eager path
before first use) instead of some 200 operations over the whole tensor.

``vrcp14ps`` is approximate, and its exact bits are the processor's. What matters is only ``r`` (its rounding to
1/32), which is a step function of ``m`` with 32 steps; the step positions (:data:`RCP_STEPS`) were measured on the
machine this was written on (AMD EPYC, Zen 4) over all 2**23 mantissas. :func:`host_power_is_reproduced` checks
on the running host, once, that numpy's own ``np.power`` gives the same bits as this module on inputs chosen
around every step and across exponents; if it does not (another processor family, another numpy, no AVX-512), the
gamma transform does not run on the device and the transform chain keeps batchgenerators' CPU transform.

Not reproduced: the rare-case routine for ``x > 0`` with ``|y * log2(x)| > 125.5`` (results near or below the
smallest normal float32, ``x < 2**(-125.5 / y)``; for gamma that means a voxel less than ~1e-25 of the channel's
range above its minimum). Those lanes get ``float32(float64 power)``, which equals numpy in ~98 % of such cases.
``x == 0`` (the minimum of every channel in gamma) is exact: ``+0`` for ``y > 0``.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np
import torch

from . import triton_gate
from .numpy_sums import host_tensor

FAMILY = "power"
BLOCK = 256  # values per program on a GPU

# --- the constants of the algorithm (float32 bit patterns, as in numpy 2.x's bundled SVML powf) -------------------

TH_BITS = (0, 3174420480, 3182632960, 3187958784, 3190685696, 3193338880, 3195920384, 3197247488, 3198473216,
           3199668736, 3200835072, 3201974272, 3203086848, 3204174848, 3204843520, 3205364224, 1054113792,
           1053115392, 1052137472, 1051179008, 1050238976, 1049316864, 1048248320, 1046471680, 1044726784,
           1043013632, 1041329152, 1039161344, 1035907072, 1032706048, 1027317760, 1018830848)
"""``Th[i]``: high part of ``-log2(r)`` for ``r = 1 + i/32`` (i < 16) or of ``1 - log2(r)`` (i >= 16)."""
TL_BITS = (0, 3067311503, 890262383, 916311190, 3058814943, 914835756, 3056977939, 3052757441, 905348701,
           921801496, 900652061, 916473404, 3063873943, 3048020321, 3055557319, 921573027, 3050426335, 918574590,
           913737309, 3045697063, 3029223305, 866568163, 3063765991, 3057827840, 910185982, 3062847489, 917965485,
           903301016, 882039287, 910858241, 3059117133, 3029061382)
"""``Tl[i]``: the low part (the rest of the logarithm beyond ``Th[i]``)."""
THE_BITS = (1065353216, 1065724611, 1066112450, 1066517459, 1066940400, 1067382066, 1067843287, 1068324927,
            1068827891, 1069353124, 1069901610, 1070474380, 1071072509, 1071697119, 1072349383, 1073030525)
"""``The[j] = 2 ** (j / 16)`` in float32."""
LOG_POLY_BITS = (0x3E93C705, 0xBEB8B3ED, 0x3EF6384F, 0xBF38AA3B, 0x32A570CC)
"""``log2(1 + R) = c1h * R + R * poly``: the polynomial's coefficients, highest first, and its tiny constant."""
C1H_BITS = 0x3FB8AA3B
"""``log2(e)`` rounded to float32, the linear coefficient (its rounding error is carried separately)."""
EXP_POLY_BITS = (0x3D6854CB, 0x3E75F16C, 0x3F317222)
"""``2**R' = 1 + R' * poly(R')``: coefficients, highest first."""
SHIFTER_BITS = 0x494007F0
"""``1.5 * 2**19 + 127``: added with rounding down, it leaves ``floor(16 Z)`` and the biased exponent in the bits."""
Z_LIMIT = 125.5
"""``|Z|`` above this goes to the rare-case routine."""
RCP_STEPS = (0x3F010300, 0x3F031380, 0x3F053500, 0x3F076800, 0x3F09AE80, 0x3F0C0780, 0x3F0E7900, 0x3F10FE80,
             0x3F139B00, 0x3F164F80, 0x3F192000, 0x3F1C0900, 0x3F1F1280, 0x3F223700, 0x3F257F00, 0x3F28E900,
             0x3F2C7780, 0x3F302B80, 0x3F340B80, 0x3F381680, 0x3F3C5280, 0x3F40C100, 0x3F456680, 0x3F4A4500,
             0x3F4F6580, 0x3F54C780, 0x3F5A7480, 0x3F607000, 0x3F66C400, 0x3F6D7300, 0x3F748A80, 0x3F7C1180)
"""float32 bits of the mantissas ``m`` at which ``round(vrcp14ps(m) * 32) / 32`` steps down by 1/32 (from 2 at
``m = 0.5`` to 1 below ``m = 1``), measured with ``vrcp14ps`` + ``vrndscaleps`` over all mantissas (AMD Zen 4)."""

_INF = float("inf")


def _f32(bits: int) -> float:
    return float(np.array([bits], dtype=np.uint32).view(np.float32)[0])


# --- exact float32 arithmetic on float64 carriers ---------------------------------------------------------------


def _two_sum(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``s + e == a + b`` exactly, ``s`` the float64 sum (Knuth)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _round(s: torch.Tensor, e: torch.Tensor | None, mode: str) -> torch.Tensor:
    """The float32 rounding (as float64) of the exact value ``s + e`` (``|e| <= ulp(s) / 2``), ``mode`` rn/rz/rd.

    Rounding ``s`` to nearest float32 is right unless ``s`` lies exactly halfway between two float32 numbers and
    ``e`` says on which side the exact value is; a directed rounding is the nearest one, moved one step when it
    lies on the wrong side of the exact value (the sign of ``(r - s) - e`` is that of ``r - (s + e)``).
    """
    r = s.float()
    if e is None:
        if mode == "rn":
            return r.double()
        e = torch.zeros_like(s)
    r64 = r.double()
    if mode == "rn":
        other = torch.nextafter(r, torch.where(s > r64, _INF, -_INF).to(torch.float32))
        tie = (s != r64) & (s == (r64 + other.double()) * 0.5)
        r = torch.where(tie & (e > 0), torch.maximum(r, other), r)
        r = torch.where(tie & (e < 0), torch.minimum(r, other), r)
        return r.double()
    above = ((r64 - s) - e) > 0  # r > exact value
    below = ((r64 - s) - e) < 0
    if mode == "rz":
        positive = (s > 0) | ((s == 0) & (e > 0))
        r = torch.where(positive & above, torch.nextafter(r, torch.zeros_like(r)), r)
        r = torch.where(~positive & below, torch.nextafter(r, torch.zeros_like(r)), r)
        return r.double()
    if mode == "rd":
        return torch.where(above, torch.nextafter(r, torch.full_like(r, -_INF)), r).double()
    raise ValueError(mode)


def _fma(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, mode: str = "rn") -> torch.Tensor:
    """float32 ``a * b + c`` rounded once (``a * b`` of two float32 numbers is exact in float64)."""
    s, e = _two_sum(a * b, c)
    return _round(s, e, mode)


def _add(a: torch.Tensor, b: torch.Tensor, mode: str = "rn") -> torch.Tensor:
    """float32 ``a + b``. To nearest, the float64 sum rounded to float32 is already right: float64 carries more than
    twice float32's 24 bits plus two, which makes the double rounding of a sum of two float32 numbers innocuous."""
    if mode == "rn":
        return (a + b).float().double()
    s, e = _two_sum(a, b)
    return _round(s, e, mode)


def _mul(a: torch.Tensor, b: torch.Tensor, mode: str = "rn") -> torch.Tensor:
    return _round(a * b, None, mode)


def _bits(v64: torch.Tensor) -> torch.Tensor:
    return v64.float().view(torch.int32)


def _from_bits(i32: torch.Tensor) -> torch.Tensor:
    return i32.to(torch.int32).view(torch.float32).double()


@lru_cache(maxsize=8)
def _tables(device: str) -> dict[str, torch.Tensor]:
    """The tables on ``device`` (copied once per process and device, without waiting for the device)."""
    def t(values, dtype):
        return torch.tensor(values, dtype=dtype).to(device, non_blocking=True)

    return {"th": t([_f32(b) for b in TH_BITS], torch.float64), "tl": t([_f32(b) for b in TL_BITS], torch.float64),
            "the": t([_f32(b) for b in THE_BITS], torch.float64), "steps": t(RCP_STEPS, torch.int32)}


# --- the power -----------------------------------------------------------------------------------------------


def svml_powf(x: torch.Tensor, y: torch.Tensor | float) -> torch.Tensor:
    """The AVX-512 SVML float32 power of numpy 2.x (see the module docstring), for float32 ``x``, ``y``.

    ``y`` may be a number (exactly a float32 value) or a tensor broadcastable to ``x``. Returns float32. On CUDA
    with Triton one kernel launch (:mod:`.triton_power`) where ``y`` is a number or one exponent per row of a 2-D
    ``x`` (``(K, 1)``); otherwise some 200 eager torch operations.
    """
    rows = _kernel_rows(x, y)
    if rows is not None:
        return _svml_powf_kernel(x, y, rows)
    return _svml_powf_eager(x, y)


def _svml_powf_eager(x: torch.Tensor, y: torch.Tensor | float) -> torch.Tensor:
    """:func:`svml_powf` as eager torch operations on whole tensors."""
    device = x.device
    tab = _tables(str(device))
    xd = x.double()
    yy = torch.as_tensor(y, dtype=torch.float64, device=device).expand_as(xd)
    full = lambda bits: torch.full_like(xd, _f32(bits))  # noqa: E731

    # 1. mantissa, exponent, r ~ 1/m on 5 fractional bits, R = r * m - 1
    mant, expo = torch.frexp(xd)  # float64 frexp is exact for float32 inputs, denormals included
    expo = (expo - 1).double()
    steps = torch.bucketize(mant.float().view(torch.int32), tab["steps"], right=True)
    rcp = 2.0 - steps.double() / 32.0
    big_r = _fma(rcp, mant, torch.full_like(xd, -1.0))
    # 2. log2(x) in a high and a low part
    c4, c3, c2, c1, c0 = (full(b) for b in LOG_POLY_BITS)
    poly = _fma(big_r, c4, c3)
    poly = _fma(big_r, poly, c2)
    index = ((_bits(rcp) >> 18) & 31).long()
    th, tl = tab["th"][index], tab["tl"][index]
    expo = torch.where(rcp < 1.5, _add(expo, torch.ones_like(xd)), expo)
    th_e = _add(expo, th)
    poly = _fma(big_r, poly, c1)
    poly_low = _fma(big_r, poly, c0)
    c1h = full(C1H_BITS)
    high1 = _fma(big_r, c1h, th_e)
    tl2 = _fma(big_r, poly_low, tl)
    rc1h_high = _add(high1, -th_e)
    high = _add(high1, tl2)
    rc1h_low = _fma(c1h, big_r, -rc1h_high)
    # 3. Z = y * log2(x), high and low, rounded toward zero where SVML does
    y_high = _mul(yy, high, "rz")
    tlh = _add(high, -high1)
    y_high_low = _fma(yy, high, -y_high, "rz")
    tll = _add(tl2, -tlh)
    z_low = _fma(yy, _add(tll, rc1h_low), y_high_low, "rz")
    z = _add(z_low, y_high, "rz")
    z_diff = _add(z, -y_high)
    # 4. 2**Z: table index and exponent from the shifted sum, the rest from vreduceps (rounded down)
    shifted = _add(z, full(SHIFTER_BITS), "rd")
    reduced = _round(z - torch.floor(z * 16.0) / 16.0, None, "rd")
    low = _add(z_low, -z_diff)
    shifted_bits = _bits(shifted)
    the = tab["the"][(shifted_bits & 15).long()]
    rest = _add(reduced, low)
    rest = _from_bits(_bits(rest) & -1073741825)  # & 0xBFFFFFFF: keeps |R'| < 2 whatever happened
    scale = _from_bits(((shifted_bits.long() << 19) & 0x7F800000))
    r_the = _mul(rest, the)
    e2, e1, e0 = (full(b) for b in EXP_POLY_BITS)
    q = _fma(rest, e2, e1)
    q = _fma(rest, q, e0)
    q = _fma(r_the, q, the)
    result = _mul(scale, q).float()
    # 5. the lanes SVML hands to its scalar rare-case routine
    rare_zero = xd == 0
    result = torch.where(rare_zero, torch.where(yy > 0, 0.0, torch.where(yy == 0, 1.0, _INF)).float(), result)
    rare_range = (xd > 0) & ~(z.abs() <= Z_LIMIT) & torch.isfinite(xd)
    # differs from v1: numpy's scalar rare-case routine (float32 powers near or below the smallest normal number,
    # in gamma a voxel < ~1e-25 of the channel range above its minimum) is replaced by float32(float64 power),
    # which equals numpy's in ~98 % of such lanes; every other lane is numpy's bits
    return torch.where(rare_range, torch.pow(xd, yy).float(), result)


# --- the same as one Triton kernel -----------------------------------------------------------------------------

def kernel_tables() -> list[float]:
    """The algorithm's float32 numbers as the kernel reads them (:mod:`.triton_power`'s layout): Th, Tl, The, the
    log polynomial, ``c1h``, the exp polynomial, the shifter."""
    bits = TH_BITS + TL_BITS + THE_BITS + LOG_POLY_BITS + (C1H_BITS,) + EXP_POLY_BITS + (SHIFTER_BITS,)
    return [_f32(b) for b in bits]


def _kernel_rows(x: torch.Tensor, y: torch.Tensor | float) -> int | None:
    """The number of rows the kernel sees ``x`` as (one exponent each), or None where the eager path runs: ``y``
    neither a number nor one value per row of a 2-D ``x``, or the family's check not held on ``x``'s device."""
    if x.dtype != torch.float32 or x.numel() == 0:
        return None
    if isinstance(y, torch.Tensor):
        if x.dim() != 2 or tuple(y.shape) != (x.shape[0], 1):
            return None
        rows = x.shape[0]
    else:
        rows = 1
    return rows if triton_gate.usable(x, FAMILY) else None


def _svml_powf_kernel(x: torch.Tensor, y: torch.Tensor | float, rows: int) -> torch.Tensor:
    """:func:`svml_powf` as one kernel launch; the flagged rare-case lanes from the float64 power, as eagerly."""
    device = x.device
    flat = x.contiguous().view(rows, -1)
    n = flat.shape[1]
    if isinstance(y, torch.Tensor):
        ys = y.to(device=device, dtype=torch.float64).reshape(rows).contiguous()
        yy = y.to(device=device, dtype=torch.float64)
    else:
        ys = yy = host_tensor([float(y)], torch.float64, device)  # not cached: gamma draws a new one per batch
    out = torch.empty_like(flat)
    rare = torch.empty(flat.shape, dtype=torch.int8, device=device)
    from . import triton_power  # imported on first use: importing Triton costs a second

    block = triton_gate.block_size(device, BLOCK)
    triton_gate.launch(triton_power.svml_powf, (triton_gate.cdiv(n, block), rows), device, flat, ys, out, rare,
                       triton_gate.table(("svml_powf",), kernel_tables, device),
                       triton_gate.table(("rcp_steps",), RCP_STEPS, device, torch.int32), n, BLOCK=block)
    out = out.view(x.shape)
    # the rare-case lanes as the eager path fills them (float32 of the float64 power; the difference from numpy is
    # marked there)
    return torch.where(rare.view(x.shape).bool(), torch.pow(x.double(), yy).float(), out)


def _self_check(device: torch.device) -> str | None:
    """The kernel on :func:`probe_inputs` (every step of ``r``, powers of 2, tiny values, 0), negative and
    non-finite values, one exponent per row and a single exponent, on ``device``, against the eager path on the
    CPU, bit for bit. None when equal, else the difference."""
    x = torch.from_numpy(np.concatenate([probe_inputs(), np.array([-0.0, -2.5, np.inf, np.nan, 1e-38, 3e38],
                                                                  dtype=np.float32)]))
    exponents = PROBE_EXPONENTS + (0.25, 3.0, -0.75, 0.0)
    rows = x.expand(len(exponents), -1).contiguous()
    ys = torch.tensor([[y] for y in exponents], dtype=torch.float64)
    cases = [("one exponent per row", _svml_powf_eager(rows, ys), lambda: _svml_powf_kernel(
        rows.to(device), ys.to(device), len(exponents)))]
    cases += [(f"exponent {exponents[1]}", _svml_powf_eager(x, exponents[1]),
               lambda: _svml_powf_kernel(x.to(device), exponents[1], 1))]
    for name, expected, kernel_path in cases:
        why = triton_gate.difference(f"float32 power ({name})", kernel_path(), expected, device)
        if why is not None:
            return why
    return None


triton_gate.register(FAMILY, _self_check, "float32 power", "float32 幂")


_SPECIAL_EXPONENTS = (1.0, 2.0, -1.0, 0.5)
"""Exponents for which numpy's float32 power does not run its general algorithm (below)."""


def numpy_power_f32(x: torch.Tensor, y: float) -> torch.Tensor:
    """``np.power(x, y)`` for a float32 tensor ``x`` and a Python float ``y`` (numpy 2 makes it float32(y))."""
    y32 = float(np.float32(y))
    if y32 == 1.0:
        return x.clone()
    if y32 == 2.0:
        return x * x
    if y32 == -1.0:
        return 1.0 / x
    if y32 == 0.5:
        from .numpy_sums import sqrt_f32

        return sqrt_f32(x)
    return svml_powf(x, y32)


def numpy_power_rows_f32(x: torch.Tensor, ys: Sequence[float]) -> torch.Tensor:
    """``np.power(x[k], ys[k])`` for each row of a float32 ``(K, n)`` tensor: the rows whose exponent numpy treats
    as a special case (1, 2, -1, 0.5 after the float32 rounding) one by one, all others in one pass."""
    y32 = [float(np.float32(y)) for y in ys]
    special = [k for k, y in enumerate(y32) if y in _SPECIAL_EXPONENTS]
    if len(special) == len(y32):
        return torch.stack([numpy_power_f32(x[k], y32[k]) for k in range(len(y32))])
    out = svml_powf(x, host_tensor([[y] for y in y32], torch.float64, x.device))
    for k in special:
        out[k] = numpy_power_f32(x[k], y32[k])
    return out


# --- does numpy on this host compute powers this way? ----------------------------------------------------------


def probe_inputs() -> np.ndarray:
    """float32 inputs that exercise every ``r`` step (both sides), several powers of 2, tiny values and 0."""
    steps = np.array(RCP_STEPS, dtype=np.int64)
    near = (steps[:, None] + np.arange(-3, 3)[None, :]).ravel()
    mantissas = np.concatenate([near, np.linspace(0x3F000000, 0x3F7FFFFF, 257).astype(np.int64)])
    m = mantissas.astype(np.uint32).view(np.float32).astype(np.float64)
    values = np.concatenate([np.ldexp(m, k) for k in (-20, -5, -1, 0, 1, 3)]).astype(np.float32)
    rng = np.random.default_rng(0)
    # 0 and tiny values whose powers stay normal (the rare-case range is not reproduced, see above)
    extra = np.concatenate([rng.random(2000), rng.random(200) * 1e-3, [0.0, 1e-20]]).astype(np.float32)
    return np.concatenate([values, extra])


PROBE_EXPONENTS = (0.7000000476837158, 0.8344125747680664, 1.2345678806304932, 1.4999998807907104)


@lru_cache(maxsize=1)
def host_power_is_reproduced() -> bool:
    """Whether numpy's ``np.power(float32, scalar)`` on this machine equals :func:`numpy_power_f32` (checked once).

    Compares on :func:`probe_inputs` for :data:`PROBE_EXPONENTS` (and the special exponents 1, 2, 0.5), on the CPU.
    """
    x = probe_inputs()
    t = torch.from_numpy(x)
    for y in PROBE_EXPONENTS + (1.0, 2.0, 0.5):
        with np.errstate(all="ignore"):
            expected = np.power(x, y)
        if not np.array_equal(numpy_power_f32(t, y).numpy(), expected, equal_nan=True):
            return False
    return True


__all__ = ["host_power_is_reproduced", "numpy_power_f32", "numpy_power_rows_f32", "probe_inputs", "svml_powf"]
