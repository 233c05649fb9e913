"""The B-spline prefilters' recursions as Triton kernels (imported only where they run: a GPU with Triton, or
the tests, in Triton's interpreter). How they are called, why they are exact and how they are checked:
:mod:`.spline_recursions`.

Every kernel gives each program ``BLOCK`` lines (columns of the ``(n, m)`` line array, contiguous, so the loads of
one step are coalesced) and walks along them in scipy's order, one float64 operation per step as the eager path
does; launched with ``enable_fp_fusion=False`` so that no ``a * b + c`` becomes a fused multiply-add. Scalars come
as float64 tensors: Triton would pass a Python float as float32.
"""
import triton.language as tl

from .triton_gate import jit

KERNEL_SIGNATURES = {
    "mirror_start": {"c_ptr": "*fp64", "zp_ptr": "*fp64", "p_ptr": "*fp64", "out_ptr": "*fp64", "n": "i32",
                     "m": "i32"},
    "causal": {"c_ptr": "*fp64", "p_ptr": "*fp64", "num_ptr": "*fp64", "n": "i32", "m": "i32"},
    "anticausal": {"c_ptr": "*fp64", "p_ptr": "*fp64", "n": "i32", "m": "i32"},
    "reflect": {"c_ptr": "*fp64", "zp_ptr": "*fp64", "p_ptr": "*fp64", "n": "i32", "m": "i32"},
}
"""The kernels' arguments (besides ``BLOCK``) as Triton types, for compiling them ahead of time without a GPU."""


@jit
def mirror_start(c_ptr, zp_ptr, p_ptr, out_ptr, n, m, BLOCK: tl.constexpr):
    # scipy's _init_causal_mirror: c0 + z^(n-1) c[n-1] + sum_{i=1}^{n-2} z^i (c[i] + z^(n-1) c[n-1-i])
    cols = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = cols < m
    z_n_1 = tl.load(p_ptr)
    acc = tl.load(c_ptr + cols, mask=mask, other=0.0) + tl.load(c_ptr + (n - 1) * m + cols, mask=mask,
                                                                 other=0.0) * z_n_1
    for i in range(1, n - 1):
        a = tl.load(c_ptr + i * m + cols, mask=mask, other=0.0)
        b = tl.load(c_ptr + (n - 1 - i) * m + cols, mask=mask, other=0.0)
        acc = acc + (a + b * z_n_1) * tl.load(zp_ptr + (i - 1))
    tl.store(out_ptr + cols, acc, mask=mask)


@jit
def causal(c_ptr, p_ptr, num_ptr, n, m, BLOCK: tl.constexpr):
    # c[i] += z c[i-1] for i = 1..n-1; then the anti-causal start's numerator (c[n-2] z + c[n-1]) z
    cols = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = cols < m
    z = tl.load(p_ptr)
    prev = tl.load(c_ptr + cols, mask=mask, other=0.0)
    before = prev
    for i in range(1, n):
        cur = tl.load(c_ptr + i * m + cols, mask=mask, other=0.0) + prev * z
        tl.store(c_ptr + i * m + cols, cur, mask=mask)
        before = prev
        prev = cur
    tl.store(num_ptr + cols, (before * z + prev) * z, mask=mask)


@jit
def anticausal(c_ptr, p_ptr, n, m, BLOCK: tl.constexpr):
    # c[i] = z (c[i+1] - c[i]) for i = n-2..0
    cols = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = cols < m
    z = tl.load(p_ptr)
    nxt = tl.load(c_ptr + (n - 1) * m + cols, mask=mask, other=0.0)
    for k in range(0, n - 1):
        i = n - 2 - k
        cur = (nxt - tl.load(c_ptr + i * m + cols, mask=mask, other=0.0)) * z
        tl.store(c_ptr + i * m + cols, cur, mask=mask)
        nxt = cur


@jit
def reflect(c_ptr, zp_ptr, p_ptr, n, m, BLOCK: tl.constexpr):
    # scipy's reflect-boundary filter (mode 'nearest'), start values included; p = z, z^n, z_last,
    # z / (1 - z^2n), z / (z - 1): the scalars the eager path computes on the host
    cols = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = cols < m
    z = tl.load(p_ptr)
    z_n = tl.load(p_ptr + 1)
    z_last = tl.load(p_ptr + 2)
    k_start = tl.load(p_ptr + 3)
    k_end = tl.load(p_ptr + 4)
    c0 = tl.load(c_ptr + cols, mask=mask, other=0.0)
    c_last = tl.load(c_ptr + (n - 1) * m + cols, mask=mask, other=0.0)
    acc = c0 + z_n * c_last
    for i in range(1, n - 1):
        a = tl.load(c_ptr + i * m + cols, mask=mask, other=0.0)
        b = tl.load(c_ptr + (n - 1 - i) * m + cols, mask=mask, other=0.0)
        acc = acc + (a + z_n * b) * tl.load(zp_ptr + (i - 1))
    acc = acc + z_last * (c_last + z_n * acc)
    prev = acc * k_start + c0
    tl.store(c_ptr + cols, prev, mask=mask)
    for i in range(1, n):
        prev = tl.load(c_ptr + i * m + cols, mask=mask, other=0.0) + prev * z
        tl.store(c_ptr + i * m + cols, prev, mask=mask)
    nxt = prev * k_end
    tl.store(c_ptr + (n - 1) * m + cols, nxt, mask=mask)
    for k in range(0, n - 1):
        i = n - 2 - k
        nxt = (nxt - tl.load(c_ptr + i * m + cols, mask=mask, other=0.0)) * z
        tl.store(c_ptr + i * m + cols, nxt, mask=mask)
