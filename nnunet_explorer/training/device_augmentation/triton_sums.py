"""numpy's pairwise float32 sum as two Triton kernels (imported only where they run: a GPU with Triton, or the
tests, in Triton's interpreter). How they are called and checked: :mod:`.numpy_sums`.

The tree of numpy's pairwise summation depends only on the length (:func:`.numpy_sums._plan`); the kernels replay
it with the eager path's float32 additions in the same order:

* ``leaves``: each lane takes one leaf of one row: eight running sums over the leaf's full rows of eight, combined
  ``((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))``, then the leaf's last ``n % 8`` elements one by one;
  the plan's padding reads as ``-0.0``, which leaves any float32 unchanged;
* ``tree``: one program per row walks the tree level by level, every node the sum of its two children; a barrier
  between levels makes a level's sums visible to the next (the program's threads share them through memory).

Only additions: nothing can be fused, and float32 addition rounds the same on every IEEE device.
"""
import triton
import triton.language as tl

from .triton_gate import jit

KERNEL_SIGNATURES = {
    "leaves": {"x_ptr": "*fp32", "main_ptr": "*i64", "tail_ptr": "*i64", "buf_ptr": "*fp32", "n": "i32",
               "leaves": "i32", "rows": "i32", "tails": "i32", "width": "i32"},
    "tree": {"buf_ptr": "*fp32", "out_ptr": "*i64", "left_ptr": "*i64", "right_ptr": "*i64", "starts_ptr": "*i64",
             "levels": "i32", "width": "i32"},
}
"""The kernels' arguments (besides ``BLOCK``) as Triton types, for compiling them ahead of time without a GPU."""


@triton.jit
def _element(x_ptr, row_base, index_ptr, at, n, mask):
    # x[row, index[at]]; the plan's padding index n reads as -0.0
    i = tl.load(index_ptr + at, mask=mask, other=0)
    return tl.load(x_ptr + row_base + i, mask=mask & (i < n), other=-0.0)


@jit
def leaves(x_ptr, main_ptr, tail_ptr, buf_ptr, n, leaves, rows, tails, width, BLOCK: tl.constexpr):
    row = tl.program_id(1)
    leaf = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = leaf < leaves
    row_base = row.to(tl.int64) * n
    first = leaf.to(tl.int64) * rows * 8
    r0 = _element(x_ptr, row_base, main_ptr, first + 0, n, mask)
    r1 = _element(x_ptr, row_base, main_ptr, first + 1, n, mask)
    r2 = _element(x_ptr, row_base, main_ptr, first + 2, n, mask)
    r3 = _element(x_ptr, row_base, main_ptr, first + 3, n, mask)
    r4 = _element(x_ptr, row_base, main_ptr, first + 4, n, mask)
    r5 = _element(x_ptr, row_base, main_ptr, first + 5, n, mask)
    r6 = _element(x_ptr, row_base, main_ptr, first + 6, n, mask)
    r7 = _element(x_ptr, row_base, main_ptr, first + 7, n, mask)
    for k in range(1, rows):
        at = first + k * 8
        r0 = r0 + _element(x_ptr, row_base, main_ptr, at + 0, n, mask)
        r1 = r1 + _element(x_ptr, row_base, main_ptr, at + 1, n, mask)
        r2 = r2 + _element(x_ptr, row_base, main_ptr, at + 2, n, mask)
        r3 = r3 + _element(x_ptr, row_base, main_ptr, at + 3, n, mask)
        r4 = r4 + _element(x_ptr, row_base, main_ptr, at + 4, n, mask)
        r5 = r5 + _element(x_ptr, row_base, main_ptr, at + 5, n, mask)
        r6 = r6 + _element(x_ptr, row_base, main_ptr, at + 6, n, mask)
        r7 = r7 + _element(x_ptr, row_base, main_ptr, at + 7, n, mask)
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for t in range(tails):
        res = res + _element(x_ptr, row_base, tail_ptr, leaf.to(tl.int64) * tails + t, n, mask)
    tl.store(buf_ptr + row.to(tl.int64) * width + leaf, res, mask=mask)


@jit
def tree(buf_ptr, out_ptr, left_ptr, right_ptr, starts_ptr, levels, width, BLOCK: tl.constexpr):
    base = tl.program_id(0).to(tl.int64) * width
    for level in range(levels):
        start = tl.load(starts_ptr + level)
        stop = tl.load(starts_ptr + level + 1)
        for first in range(start, stop, BLOCK):
            at = first + tl.arange(0, BLOCK)
            mask = at < stop
            left = tl.load(buf_ptr + base + tl.load(left_ptr + at, mask=mask, other=0), mask=mask, other=0.0)
            right = tl.load(buf_ptr + base + tl.load(right_ptr + at, mask=mask, other=0), mask=mask, other=0.0)
            tl.store(buf_ptr + base + tl.load(out_ptr + at, mask=mask, other=0), left + right, mask=mask)
        tl.debug_barrier()  # this level's sums are in memory before the next level reads them
