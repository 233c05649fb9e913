"""numpy's float32 power (the AVX-512 SVML algorithm of :mod:`.numpy_power`) as one Triton kernel (imported only
where it runs: a GPU with Triton, or the tests, in Triton's interpreter). How it is called and checked:
:mod:`.numpy_power`.

The eager path is some 200 torch operations per call, each over the whole tensor; here each program takes
``BLOCK`` values of one row (grid: ``(cdiv(n, BLOCK), rows)``, every row with its own exponent) and runs the same
steps on them, in the same order: float32 operations carried exactly on float64 numbers (Knuth's TwoSum), then
rounded to float32 to nearest, toward zero or down, with the same tie and direction tests. ``torch.nextafter``
on float32 becomes a step of the bit pattern, with its edge cases (zero, infinity) spelled out. Compiled with
``enable_fp_fusion=False``: every float64 ``*``, ``+`` and ``-`` rounds on its own.

Lanes that SVML hands to its scalar rare-case routine (``x > 0``, ``|Z| > 125.5``) are flagged, not computed:
the caller fills them from the float64 power, as the eager path does (a GPU's ``pow`` need not round as the CPU's).
"""
import triton
import triton.language as tl

from .triton_gate import jit

KERNEL_SIGNATURES = {
    "svml_powf": {"x_ptr": "*fp32", "y_ptr": "*fp64", "out_ptr": "*fp32", "rare_ptr": "*i8", "tables_ptr": "*fp64",
                  "steps_ptr": "*i32", "n": "i32"},
}
"""The kernel's arguments (besides ``BLOCK``) as Triton types, for compiling it ahead of time without a GPU."""

# tables_ptr holds the algorithm's float32 numbers as float64 (numpy_power.kernel_tables): Th at 0, Tl at 32, The at
# 64, the log polynomial c4 c3 c2 c1 c0 at 80, c1h at 85, the exp polynomial e2 e1 e0 at 86, the shifter at 89;
# steps_ptr the 32 step positions of r (RCP_STEPS)
TH, TL, THE = tl.constexpr(0), tl.constexpr(32), tl.constexpr(64)
LOG_POLY, C1H, EXP_POLY, SHIFTER = tl.constexpr(80), tl.constexpr(85), tl.constexpr(86), tl.constexpr(89)


@triton.jit
def _step(r, up):
    # torch.nextafter(r, +inf if up else -inf) for float32 r: the neighbouring float32 value
    b = r.to(tl.int32, bitcast=True)
    away = (r > 0) == up  # away from zero the bit pattern grows by one, for either sign (the sign bit is a constant)
    stepped = tl.where(away, b + 1, b - 1).to(tl.float32, bitcast=True)
    tiny = tl.where(up, 1, -2147483647).to(tl.float32, bitcast=True)  # +-smallest subnormal
    stepped = tl.where(r == 0.0, tiny, stepped)
    return tl.where((r == float("inf")) & up, r, tl.where((r == float("-inf")) & (up == 0), r, stepped))


@triton.jit
def _toward_zero(r):
    # torch.nextafter(r, 0.0) for float32 r (from a zero it returns the target, +0)
    # the sign bit only adds a constant to the bit pattern: one less is one step nearer zero, for either sign
    stepped = (r.to(tl.int32, bitcast=True) - 1).to(tl.float32, bitcast=True)
    return tl.where(r == 0.0, 0.0, stepped)


@triton.jit
def _two_sum(a, b):
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@triton.jit
def _round(s, e, MODE: tl.constexpr):
    # the float32 rounding (as float64) of the exact s + e; MODE 0 to nearest, 1 toward zero, 2 down
    r = s.to(tl.float32)
    r64 = r.to(tl.float64)
    if MODE == 0:
        other = _step(r, s > r64)
        tie = (s != r64) & (s == (r64 + other.to(tl.float64)) * 0.5)
        r = tl.where(tie & (e > 0), tl.maximum(r, other), r)
        r = tl.where(tie & (e < 0), tl.minimum(r, other), r)
    elif MODE == 1:
        above = ((r64 - s) - e) > 0
        below = ((r64 - s) - e) < 0
        positive = (s > 0) | ((s == 0) & (e > 0))
        r = tl.where(positive & above, _toward_zero(r), r)
        r = tl.where((positive == 0) & below, _toward_zero(r), r)
    else:
        above = ((r64 - s) - e) > 0
        r = tl.where(above, _step(r, s < s), r)  # s < s: False (also for NaN), the shape of s: the step down
    return r.to(tl.float64)


@triton.jit
def _fma(a, b, c, MODE: tl.constexpr):
    # float32 a * b + c rounded once (the product of two float32 numbers is exact in float64)
    s, e = _two_sum(a * b, c)
    return _round(s, e, MODE)


@triton.jit
def _add(a, b, MODE: tl.constexpr):
    if MODE == 0:
        out = (a + b).to(tl.float32).to(tl.float64)
    else:
        s, e = _two_sum(a, b)
        out = _round(s, e, MODE)
    return out


@triton.jit
def _mul(a, b, zero, MODE: tl.constexpr):
    # float32 a * b (exact in float64), rounded; zero: the exact product has no error term
    if MODE == 0:
        out = (a * b).to(tl.float32).to(tl.float64)
    else:
        out = _round(a * b, zero, MODE)
    return out


@triton.jit
def _bits(v):
    return v.to(tl.float32).to(tl.int32, bitcast=True)


@jit
def svml_powf(x_ptr, y_ptr, out_ptr, rare_ptr, tables_ptr, steps_ptr, n, BLOCK: tl.constexpr):
    row = tl.program_id(1)
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = i < n
    at = row.to(tl.int64) * n + i
    x = tl.load(x_ptr + at, mask=mask, other=1.0)
    xd = x.to(tl.float64)
    yy = tl.load(y_ptr + row)
    zero = tl.full([BLOCK], 0.0, tl.float64)  # constants are added to it to make full blocks
    # 1. frexp (float32 values are normal float64 numbers, subnormals included): m in [0.5, 1), the exponent;
    # zeros, infinities and NaN come back as they are, with exponent 0 (as the C library's frexp)
    bits = xd.to(tl.int64, bitcast=True)
    biased = (bits >> 52) & 2047
    special = (xd == 0.0) | (biased == 2047)
    mant = tl.where(special, xd, ((bits & -9218868437227405313) | (1022 << 52)).to(tl.float64, bitcast=True))
    expo = tl.where(special, 0, biased - 1022).to(tl.float64) - 1.0
    m_bits = mant.to(tl.float32).to(tl.int32, bitcast=True)
    steps = tl.full([BLOCK], 0, tl.int32)
    for k in tl.static_range(32):
        steps += (m_bits >= tl.load(steps_ptr + k)).to(tl.int32)
    # / 32 and / 16 as products with 2^-5 and 2^-4: the same exact results (no division in the machine code)
    rcp = 2.0 - steps.to(tl.float64) * 0.03125
    big_r = _fma(rcp, mant, zero - 1.0, 0)
    # 2. log2(x) in a high and a low part
    poly = _fma(big_r, zero + tl.load(tables_ptr + LOG_POLY), zero + tl.load(tables_ptr + LOG_POLY + 1), 0)
    poly = _fma(big_r, poly, zero + tl.load(tables_ptr + LOG_POLY + 2), 0)
    index = (_bits(rcp) >> 18) & 31
    th = tl.load(tables_ptr + TH + index)
    tlow = tl.load(tables_ptr + TL + index)
    expo = tl.where(rcp < 1.5, _add(expo, zero + 1.0, 0), expo)
    th_e = _add(expo, th, 0)
    poly = _fma(big_r, poly, zero + tl.load(tables_ptr + LOG_POLY + 3), 0)
    poly_low = _fma(big_r, poly, zero + tl.load(tables_ptr + LOG_POLY + 4), 0)
    c1h = zero + tl.load(tables_ptr + C1H)
    high1 = _fma(big_r, c1h, th_e, 0)
    tl2 = _fma(big_r, poly_low, tlow, 0)
    rc1h_high = _add(high1, -th_e, 0)
    high = _add(high1, tl2, 0)
    rc1h_low = _fma(c1h, big_r, -rc1h_high, 0)
    # 3. Z = y * log2(x), high and low, rounded toward zero where SVML does
    y_high = _mul(yy + zero, high, zero, 1)
    tlh = _add(high, -high1, 0)
    y_high_low = _fma(yy + zero, high, -y_high, 1)
    tll = _add(tl2, -tlh, 0)
    z_low = _fma(yy + zero, _add(tll, rc1h_low, 0), y_high_low, 1)
    z = _add(z_low, y_high, 1)
    z_diff = _add(z, -y_high, 0)
    # 4. 2**Z: table index and exponent from the shifted sum, the rest rounded down
    shifted = _add(z, zero + tl.load(tables_ptr + SHIFTER), 2)
    reduced = _round(z - tl.floor(z * 16.0) * 0.0625, zero, 2)
    low = _add(z_low, -z_diff, 0)
    shifted_bits = _bits(shifted)
    the = tl.load(tables_ptr + THE + (shifted_bits & 15))
    rest = _add(reduced, low, 0)
    rest = (_bits(rest) & -1073741825).to(tl.float32, bitcast=True).to(tl.float64)  # & 0xBFFFFFFF
    scale = ((shifted_bits.to(tl.int64) << 19) & 2139095040).to(tl.int32).to(tl.float32, bitcast=True)
    r_the = _mul(rest, the, zero, 0)
    q = _fma(rest, zero + tl.load(tables_ptr + EXP_POLY), zero + tl.load(tables_ptr + EXP_POLY + 1), 0)
    q = _fma(rest, q, zero + tl.load(tables_ptr + EXP_POLY + 2), 0)
    q = _fma(r_the, q, the, 0)
    result = _mul(scale.to(tl.float64), q, zero, 0).to(tl.float32)
    # 5. the lanes SVML hands to its scalar rare-case routine: zeros here, the rest flagged for the caller
    at_zero = tl.where(yy > 0, 0.0, tl.where(yy == 0, 1.0, float("inf"))).to(tl.float32)
    result = tl.where(xd == 0.0, at_zero, result)
    finite = (xd == xd) & (tl.abs(xd) != float("inf"))
    rare = (xd > 0) & ((tl.abs(z) <= 125.5) == 0) & finite
    tl.store(out_ptr + at, result, mask=mask)
    tl.store(rare_ptr + at, rare.to(tl.int8), mask=mask)
