"""Sliding-window prediction of a whole case, as nnU-Net v1's ``SegmentationNetwork.predict_3D`` does it.

A network trained on patches sees a whole (preprocessed) case through a window of the training
``patch_size``. v1's rule, step by step, for an input ``(c, x, y, z)`` (the preprocessed, transposed axes):

1. **Pad** axes smaller than the patch to the patch size with zeros (``pad_nd_image``): ``diff // 2`` before,
   the rest after. Padding is removed again at the end.
2. **Steps**: per axis, ``ceil((image - patch) / (patch * step_size)) + 1`` window positions, spread evenly
   from 0 to ``image - patch`` (:func:`compute_steps_for_sliding_window`). With ``step_size = 0.5``
   neighbouring windows overlap by at least half a patch (more where the image does not fit whole half-patch steps).
3. **Per tile**: softmax of the network output, averaged over test-time mirroring (the unflipped tile plus
   every flip whose axes are all in ``mirror_axes``: 8 predictions in 3D, 4 in 2D), then multiplied by a
   **Gaussian importance map** (σ = patch / 8, peak 1; :func:`get_gaussian`) so that tile centres count more
   than tile borders — only when there is more than one tile.
4. **Aggregate**: add each weighted tile prediction into a ``(C, ...)`` sum and the Gaussian itself into a
   weight map; probabilities = sum / weights; segmentation = ``argmax`` over classes. Where the sums live is
   ``sums_on`` (:data:`SUMS_ON`): float32 in CPU memory (``"cpu"``, v1's default), float16 on the GPU
   (``"device_fp16"``, v1's ``all_in_gpu`` option, ``--all_in_gpu True``; v1 has it for 3D networks only, 2D
   raises ``NotImplementedError``), or float32 on the GPU (``"device_fp32"``, the explorer's default on CUDA: no
   copy per tile, and the same numbers as v1's default).

2D networks predict a 3D case slice by slice along the first axis (``_internal_predict_3D_2Dconv_tiled``),
each slice with the same 2D tiling; probabilities are stacked to ``(C, slices, y, x)``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import ConfigurationError, ExplorerError
from ..language import tr
from ..provenance import mirrors

#: v1's mirror order in 3D: index m of ``_internal_maybe_mirror_and_pred_3D`` -> (mirror axes needed, tensor dims)
_MIRRORS_3D: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...] = (
    ((), ()),
    ((2,), (4,)),
    ((1,), (3,)),
    ((1, 2), (4, 3)),
    ((0,), (2,)),
    ((0, 2), (4, 2)),
    ((0, 1), (3, 2)),
    ((0, 1, 2), (4, 3, 2)),
)
#: the same for 2D tiles ``(b, c, x, y)``: ``_internal_maybe_mirror_and_pred_2D``
_MIRRORS_2D: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...] = (
    ((), ()),
    ((1,), (3,)),
    ((0,), (2,)),
    ((0, 1), (3, 2)),
)


@dataclass(frozen=True)
class TileRecord:
    """One window position: its box in the padded image (``(lower, upper)`` per spatial axis) and its cost.

    For 2D networks predicting a 3D case, ``slice_index`` says which slice the 2D tile belongs to.
    """

    box: tuple[tuple[int, int], ...]
    seconds: float
    slice_index: int | None = None


@dataclass(frozen=True)
class MirrorContribution:
    """How much one test-time flip changed the tile predictions, compared with the unflipped prediction.

    Attributes:
        flipped_axes: the mirror axes of this prediction (``()`` = unflipped); axis k is spatial axis k.
        weight: its weight in the average (``1 / 2**len(mirror_axes)``).
        mean_abs_prob_diff: mean over tiles and voxels of ``|softmax(flipped) - softmax(unflipped)|``.
        argmax_disagreement: fraction of voxels whose argmax differs from the unflipped prediction's.
    """

    flipped_axes: tuple[int, ...]
    weight: float
    mean_abs_prob_diff: float
    argmax_disagreement: float


@dataclass(frozen=True)
class SlidingWindowResult:
    """The outcome of :func:`predict_sliding_window`, with what a learner needs to look inside.

    Attributes:
        segmentation: ``argmax`` of ``probabilities`` over classes, shape ``(x, y, z)`` of the input.
        probabilities: float32 ``(C, x, y, z)``: Gaussian-weighted mean of the tile softmaxes.
        patch_size: the window.
        step_size: fraction of the patch between neighbouring windows.
        padded_shape: the spatial shape after padding to at least the patch (3D) or of one padded slice (2D).
        steps: window start positions per (tiled) axis.
        tiles: every window that was predicted, in v1's order, with its seconds.
        mirror_axes: the axes flipped for test-time augmentation (``()`` without mirroring).
        mirror_contributions: one :class:`MirrorContribution` per prediction averaged into each tile.
        gaussian: the importance map (``None`` when a single tile or ``use_gaussian=False``: weights of one).
        seconds: wall time of the whole prediction.
        network_dim: 3 for a 3D network, 2 for a 2D network applied slice by slice.
        sums_on: where the whole-case sums lived (``"cpu"``, ``"device_fp32"`` or ``"device_fp16"``).
        tile_batch_size: tiles per forward pass.
    """

    segmentation: np.ndarray
    probabilities: np.ndarray
    patch_size: tuple[int, ...]
    step_size: float
    padded_shape: tuple[int, ...]
    steps: tuple[tuple[int, ...], ...]
    tiles: tuple[TileRecord, ...] = field(repr=False)
    mirror_axes: tuple[int, ...]
    mirror_contributions: tuple[MirrorContribution, ...] = field(repr=False)
    gaussian: np.ndarray | None = field(repr=False)
    seconds: float
    network_dim: int
    sums_on: str = "cpu"
    tile_batch_size: int = 1

    @property
    def num_tiles(self) -> int:
        return len(self.tiles)

    @property
    def softmax_megabytes(self) -> float:
        """Size of ``probabilities`` in MB (v1 moves it to disk above ~1.7 GB)."""
        return self.probabilities.nbytes / 1e6

    def summary(self) -> str:
        """One paragraph: tiles, steps, mirroring and time."""
        flips = len(self.mirror_contributions)
        worst = max((m.argmax_disagreement for m in self.mirror_contributions), default=0.0)
        return (f"{self.num_tiles} tile(s) of {list(self.patch_size)} (step_size {self.step_size}, steps "
                f"{[list(s) for s in self.steps]}) over padded {list(self.padded_shape)}; {flips} prediction(s) per "
                f"tile (mirror_axes {list(self.mirror_axes)}; largest argmax disagreement of a flip {worst:.3f}); "
                f"gaussian {'on' if self.gaussian is not None else 'off'}; sums {self.sums_on}, "
                f"{self.tile_batch_size} tile(s) per forward pass; probabilities "
                f"{list(self.probabilities.shape)} ({self.softmax_megabytes:.1f} MB); {self.seconds:.2f} s")

    def __repr__(self) -> str:
        return f"SlidingWindowResult({self.summary()})"

    def _repr_html_(self) -> str:
        from html import escape

        flips = "".join(f"<tr><td>{list(m.flipped_axes) or 'none'}</td><td>{m.weight:.3f}</td>"
                        f"<td>{m.mean_abs_prob_diff:.4f}</td><td>{m.argmax_disagreement:.3f}</td></tr>"
                        for m in self.mirror_contributions)
        shown = self.tiles[:50]
        tiles = "".join(f"<tr><td>{i}</td><td>{escape(str([list(b) for b in t.box]))}</td>"
                        f"<td>{'' if t.slice_index is None else t.slice_index}</td><td>{t.seconds:.3f}</td></tr>"
                        for i, t in enumerate(shown))
        more = f"<p>... {self.num_tiles - len(shown)} more</p>" if self.num_tiles > len(shown) else ""
        return (f"<div><p><b>sliding window</b>: {escape(self.summary())}</p>"
                "<details><summary>test-time mirroring: each flip against the unflipped prediction</summary>"
                "<table><tr><th>flipped axes</th><th>weight</th><th>mean |&Delta;p|</th><th>argmax differs</th>"
                f"</tr>{flips}</table></details>"
                "<details><summary>tiles (box per axis in the padded image, slice, seconds)</summary><table>"
                f"<tr><th>#</th><th>box</th><th>slice</th><th>s</th></tr>{tiles}</table>{more}</details></div>")


@mirrors("nnunet.network_architecture.neural_network:SegmentationNetwork._compute_steps_for_sliding_window")
def compute_steps_for_sliding_window(patch_size: Sequence[int], image_size: Sequence[int],
                                     step_size: float) -> list[list[int]]:
    """Window start positions per axis, v1's rule.

    ``num_steps = ceil((image - patch) / (patch * step_size)) + 1``; the positions are spread evenly between
    0 and ``image - patch`` and rounded: ``round(i * (image - patch) / (num_steps - 1))``. So the step is
    *at most* ``patch * step_size`` — windows always reach the far border exactly. Example: patch 128,
    image 300, step 0.5 -> 4 steps [0, 57, 115, 172].

    Raises:
        ValueError: ``step_size`` outside (0, 1], or an image axis smaller than the patch (pad first).
    """
    if not 0 < step_size <= 1:
        raise ValueError(f"step_size must be in (0, 1], got {step_size} (above 1 would leave gaps between windows)")
    if any(i < p for i, p in zip(image_size, patch_size)):
        raise ValueError(f"image size {list(image_size)} is smaller than the patch {list(patch_size)}; pad it first")
    steps = []
    for patch, image in zip(patch_size, image_size):
        target = patch * step_size
        num = int(np.ceil((image - patch) / target)) + 1
        actual = (image - patch) / (num - 1) if num > 1 else 99999999999  # one step: the value is never used
        steps.append([int(np.round(actual * i)) for i in range(num)])
    return steps


@lru_cache(maxsize=8)
def _gaussian_cached(patch_size: tuple[int, ...], sigma_scale: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    tmp = np.zeros(patch_size)
    tmp[tuple(p // 2 for p in patch_size)] = 1
    g = gaussian_filter(tmp, [p * sigma_scale for p in patch_size], 0, mode="constant", cval=0)
    g = (g / np.max(g) * 1).astype(np.float32)
    # a weight of exactly 0 would divide by zero at the borders, so zeros get the smallest positive value
    g[g == 0] = np.min(g[g != 0])
    g.flags.writeable = False
    return g


@mirrors("nnunet.network_architecture.neural_network:SegmentationNetwork._get_gaussian")
def get_gaussian(patch_size: Sequence[int], sigma_scale: float = 1.0 / 8) -> np.ndarray:
    """The Gaussian importance map v1 weights each tile with: float32, shape ``patch_size``, peak 1 at the centre.

    A single 1 at ``patch // 2`` smoothed with ``scipy.ndimage.gaussian_filter`` (σ = ``patch * sigma_scale``
    per axis, constant 0 outside, truncate 4), divided by its maximum; zeros replaced by the smallest
    non-zero value. Cached per patch size, as v1 caches it on the network (read-only array).
    """
    return _gaussian_cached(tuple(int(p) for p in patch_size), float(sigma_scale))


def _pad_to_patch(x: np.ndarray, patch_size: Sequence[int], mode: str,
                  kwargs: Mapping[str, Any]) -> tuple[np.ndarray, tuple[slice, ...]]:
    """``pad_nd_image(x, patch_size, mode, kwargs, return_slicer=True)``: pad the last axes up to the patch."""
    n = len(patch_size)
    old = np.array(x.shape[-n:])
    new = np.maximum(np.array(patch_size), old)
    diff = new - old
    below, above = diff // 2, diff // 2 + diff % 2
    pads = [(0, 0)] * (x.ndim - n) + [(int(b), int(a)) for b, a in zip(below, above)]
    padded = np.pad(x, pads, mode, **kwargs) if diff.any() else x
    slicer = tuple(slice(b, s - a) for (b, a), s in zip(pads, padded.shape))
    return padded, slicer


def _network_dim(network: nn.Module) -> int:
    conv_op = getattr(network, "conv_op", None)
    if conv_op is nn.Conv3d:
        return 3
    if conv_op is nn.Conv2d:
        return 2
    raise ValueError("cannot tell whether the network is 2D or 3D: it needs a conv_op of nn.Conv2d or nn.Conv3d")


class PredictionOutOfMemoryError(ExplorerError):
    """The sliding window ran out of (GPU) memory; the message says which setting to change."""


def _is_out_of_memory(exc: BaseException) -> bool:
    """``torch.cuda.OutOfMemoryError`` (a ``RuntimeError``) or the allocators' "out of memory" messages."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


#: where the whole-case sums of the sliding window live (``sums_on``):
#: ``"cpu"`` — v1's default: float32 in CPU memory, each tile's prediction copied to the host;
#: ``"device_fp32"`` — float32 on the prediction device: no copy per tile, the same numbers as ``"cpu"``;
#: ``"device_fp16"`` — v1's ``all_in_gpu`` (3D networks only in v1): float16 on the device (inexact where the
#: Gaussian weights are tiny);
#: ``"auto"`` — ``"device_fp32"`` on CUDA (when the sums fit in half the free GPU memory), else ``"cpu"``.
SUMS_ON = ("auto", "cpu", "device_fp32", "device_fp16")

#: tiles per forward pass on CUDA when ``tile_batch_size`` is not given (1 everywhere else). On the H200 a batch of
#: 4 tiles took the explorer's sliding window from 0.89x to 0.65x of v1's time (fp32 sums in CPU memory): one tile
#: of a v1 patch (e.g. 128^3) does not keep a large GPU busy, 4 mostly do, and 4 tiles' activations (no gradients)
#: still fit in a few GB next to the network. On a CPU it stays v1's 1, so that a CPU run is v1's computation
#: number for number (batched convolutions round the last bits differently, ~1e-6); batching helps there too
#: (bench_inference.py, the README's benchmark table: 4 tiles per pass several times faster than v1), so pass
#: ``tile_batch_size`` to use it.
DEFAULT_CUDA_TILE_BATCH = 4


def resolve_sums_on(sums_on: str | None, device: str | torch.device, *, all_in_gpu: bool = False,
                    sums_bytes: int | None = None, free_bytes: int | None = None) -> str:
    """The sum mode a sliding window uses: one of ``"cpu"``, ``"device_fp32"``, ``"device_fp16"``.

    ``sums_on=None`` keeps v1's two-way choice: ``all_in_gpu=True`` -> ``"device_fp16"``, else ``"cpu"`` (so
    v1-named callers such as ``predict_3D(all_in_gpu=...)`` keep v1's meaning). ``"auto"`` is
    ``"device_fp32"`` on a CUDA device and ``"cpu"`` elsewhere; ``all_in_gpu=True`` with ``"auto"`` is v1's
    ``"device_fp16"``. When ``sums_bytes`` and ``free_bytes`` are known (GPU memory the sums need / has free),
    ``"auto"`` keeps the sums on the CPU if they would take more than half of the free memory.

    Raises:
        ConfigurationError: an unknown mode, or ``all_in_gpu=True`` with a mode other than fp16 on the device.
    """
    if sums_on is not None and sums_on not in SUMS_ON:
        raise ConfigurationError(tr(f"unknown sums_on {sums_on!r}", f"未知的 sums_on {sums_on!r}"),
                                 fix=tr(f"use one of {', '.join(SUMS_ON)}", f"请使用以下之一: {', '.join(SUMS_ON)}"))
    if all_in_gpu:
        if sums_on not in (None, "auto", "device_fp16"):
            raise ConfigurationError(tr(f"all_in_gpu=True (v1's float16 sums on the GPU) contradicts "
                                        f"sums_on={sums_on!r}",
                                        f"all_in_gpu=True(v1 在 GPU 上用 float16 累加)与 sums_on={sums_on!r} 相矛盾"),
                                     fix=tr("drop all_in_gpu, or use sums_on='device_fp16' alone",
                                            "请去掉 all_in_gpu, 或者只用 sums_on='device_fp16'"))
        return "device_fp16"
    if sums_on is None:
        return "cpu"
    if sums_on != "auto":
        return sums_on
    if torch.device(device).type != "cuda":
        return "cpu"
    if sums_bytes is not None and free_bytes is not None and sums_bytes > free_bytes // 2:
        return "cpu"
    # differs from v1: on CUDA the whole-case sums default to float32 on the GPU ("device_fp32"): no copy to the
    # host per tile, the same numbers as v1's float32 sums in CPU memory (v1 sums on the CPU unless all_in_gpu, and
    # then in float16 on the GPU). Float16 sums cost accuracy at the image border: on the CPU (bench_inference.py
    # --shape 1 24 80 80 --mirror: patch 16x40x40, 18 tiles) v1's all_in_gpu and sums_on="device_fp16" both differ
    # from the float32 sums by up to 0.50 in probability where the summed Gaussian weight is below 1e-3 (30 % of
    # that small case's voxels), by 2e-3 elsewhere, and the argmax differs at 1 % of the voxels. Float32 sums of a
    # 512x512x600 case with 3 classes take 2.5 GB (an H200 has 141 GB); auto keeps them in CPU memory when they
    # would take more than half of the free GPU memory
    return "device_fp32"


def resolve_tile_batch_size(tile_batch_size: int | None, device: str | torch.device, sums_on: str) -> int:
    """Tiles per forward pass: the given number, or (``None``) :data:`DEFAULT_CUDA_TILE_BATCH` on CUDA, else 1.

    With v1's float16 sums (``"device_fp16"``) the default stays v1's 1: there a batched convolution's
    different last-bit rounding is amplified where the float16 weights are tiny (measured on an H200: up to 1.0
    in probability against v1's all_in_gpu with 4 tiles per pass).
    """
    if tile_batch_size is not None:
        if int(tile_batch_size) < 1:
            raise ConfigurationError(tr(f"tile_batch_size must be at least 1, got {tile_batch_size}",
                                        f"tile_batch_size 至少为 1, 得到的是 {tile_batch_size}"),
                                     fix=tr("use 1 (v1's one tile at a time) or more, or leave it unset (auto)",
                                            "请使用 1(v1 的做法: 一次一个 tile)或更大的值, 或者不设置它(auto)"))
        return int(tile_batch_size)
    if torch.device(device).type == "cuda" and sums_on != "device_fp16":
        # differs from v1: on CUDA 4 tiles share one forward pass by default (v1 predicts one at a time)
        return DEFAULT_CUDA_TILE_BATCH
    return 1


class _TiledPredictor:
    """Predicts tiles of one dimensionality and accumulates them (one instance per call).

    Where the whole-case sums live is ``sums_on`` (:func:`resolve_sums_on`):

    * ``"cpu"`` (v1's default, ``all_in_gpu=False``): the input and both sums stay in CPU memory as float32; each
      tile batch is copied to the device, predicted, and its result copied back and added on the CPU. GPU memory
      holds only the network and one tile batch, so any case size fits; but every tile waits for its copy back.
    * ``"device_fp32"`` (the explorer's default on CUDA): the input and the sums are on the device in float32.
      Nothing is copied per tile (the GPU queue never drains until the end); the division and the argmax run on
      the device, and the host reads the probabilities and the segmentation once per case. The additions are the
      same float32 additions in the same order as ``"cpu"``, so the probabilities are the same numbers.
    * ``"device_fp16"`` (v1's ``all_in_gpu=True``, which v1 offers for 3D networks only): the input and the sums on
      the device, the sums (and the Gaussian) in float16, as v1 does it. Float16 keeps about 3 digits, and near the
      image border, where only the far edges of tiles reach (Gaussian below ~1e-3), weight x probability falls below
      float16's normal range, so probabilities there can be off by 0.1 or more, in v1 as here (v1 calls the option
      experimental). Measured on the CPU (``bench_inference.py --shape 1 24 80 80 --mirror``: patch 16x40x40, 18
      tiles): up to 0.50 from the float32 sums where the summed weight is below 1e-3, 2e-3 elsewhere; the argmax
      differs at 1 % of the voxels (v1's own all_in_gpu: the same numbers).
    """

    def __init__(self, network: nn.Module, dim: int, mirror_axes: tuple[int, ...], do_mirroring: bool,
                 device: torch.device, mixed_precision: bool, tile_batch_size: int, all_in_gpu: bool = False,
                 sums_on: str | None = None) -> None:
        self.network, self.dim, self.device = network, dim, device
        self.mixed_precision = mixed_precision
        self.sums_on = resolve_sums_on(sums_on, device, all_in_gpu=all_in_gpu)
        self.tile_batch_size = max(1, int(tile_batch_size))
        table = _MIRRORS_3D if dim == 3 else _MIRRORS_2D
        if do_mirroring:
            self.num_results = 2 ** len(mirror_axes)
            self.flips = [(axes, dims) for axes, dims in table if all(a in mirror_axes for a in axes)]
        else:
            self.num_results = 1
            self.flips = [table[0]]
        self.apply_nonlin = getattr(network, "inference_apply_nonlin", None) or (lambda t: torch.softmax(t, 1))
        # per flip: running sums of |p - p0| and of argmax disagreements (on the device: read once, at the end,
        # so that the statistics add no host-device sync per tile), and the voxel count
        self.diff_sums = [torch.zeros((), dtype=torch.float64, device=device) for _ in self.flips]
        self.disagree_sums = [torch.zeros((), dtype=torch.float64, device=device) for _ in self.flips]
        self.voxels = 0

    @property
    def all_in_gpu(self) -> bool:
        """v1's name for the float16 sums on the device."""
        return self.sums_on == "device_fp16"

    @property
    def sums_on_device(self) -> bool:
        return self.sums_on != "cpu"

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mixed_precision and self.device.type == "cuda":
            with torch.autocast("cuda"):
                return self.network(x)
        return self.network(x)

    def predict_batch(self, tiles: torch.Tensor, mult: torch.Tensor | None) -> torch.Tensor:
        """``(b, c, *patch)`` tiles -> ``(b, C, *patch)`` float32 mirrored-and-averaged softmax, times ``mult``."""
        result = None
        first = None
        for i, (_, dims) in enumerate(self.flips):
            xin = torch.flip(tiles, dims) if dims else tiles
            # the softmax in float32, whatever the output's dtype: v1 applies it inside autocast, which runs
            # softmax in float32 (fp16 probabilities would be off by ~5e-4)
            pred = self.apply_nonlin(self._forward(xin).float())
            if dims:
                pred = torch.flip(pred, dims)
            # v1: result_torch += 1 / num_results * pred (same operation order for equal rounding)
            contrib = 1 / self.num_results * pred
            result = contrib if result is None else result + contrib
            if i == 0:
                first = pred
            else:
                self.diff_sums[i] += (pred - first).abs().mean(dim=1).sum()
                self.disagree_sums[i] += (pred.argmax(1) != first.argmax(1)).sum()
        self.voxels += int(np.prod(tiles.shape[2:])) * tiles.shape[0]
        if mult is not None:
            result = result * mult
        return result

    def contributions(self) -> tuple[MirrorContribution, ...]:
        weight = 1.0 / self.num_results
        denom = max(self.voxels, 1)
        # one read of all the running sums (not two per flip)
        sums = torch.stack(self.diff_sums + self.disagree_sums).cpu().tolist()
        n = len(self.flips)
        return tuple(MirrorContribution(tuple(axes), weight, sums[i] / denom, sums[n + i] / denom)
                     for i, (axes, _) in enumerate(self.flips))

    def _accumulators(self, gaussian: np.ndarray | None, patch_size: tuple[int, ...], num_classes: int,
                      spatial: tuple[int, ...]):
        """``(aggregated, weights, mult, add)``: the two sums, the tile multiplier and what a tile adds to weights.

        The weight map has one channel: every class gets the same weight at a voxel, so v1's ``(C, ...)`` copy
        of it holds C equal numbers and the division gives the same result.
        """
        if self.sums_on == "device_fp16":
            # v1's all_in_gpu: float16 sums and a float16 Gaussian on the device (zeros after rounding replaced
            # by the smallest non-zero value, so that no weight is 0)
            where, dtype = self.device, torch.float16
            if gaussian is not None:
                half = torch.from_numpy(np.array(gaussian)).half()
                half[half == 0] = half[half != 0].min()
                mult = add = half.to(self.device)
            else:
                mult, add = None, torch.ones(patch_size, dtype=torch.float32, device=self.device)
        elif self.sums_on == "device_fp32":
            # float32 sums on the device: v1's default numbers, without v1's copy to the host per tile
            where, dtype = self.device, torch.float32
            if gaussian is not None:
                mult = add = torch.from_numpy(np.array(gaussian)).to(self.device)
            else:
                mult, add = None, torch.ones(patch_size, dtype=torch.float32, device=self.device)
        else:
            # v1's default: float32 sums in CPU memory; only the multiplier lives on the device
            where, dtype = torch.device("cpu"), torch.float32
            if gaussian is not None:
                add = torch.from_numpy(np.array(gaussian))
                mult = add.to(self.device)
            else:
                mult, add = None, torch.ones(patch_size, dtype=torch.float32)
        # differs from v1: the weight map has one channel instead of one per class (the same numbers, C times
        # less memory); the division is done in place in the sums, as v1's 3D path does (its 2D path makes a
        # new array)
        aggregated = torch.zeros((num_classes, *spatial), dtype=dtype, device=where)
        weights = torch.zeros((1, *spatial), dtype=dtype, device=where)
        return aggregated, weights, mult, add

    def predict_tiled(self, x: np.ndarray, patch_size: tuple[int, ...], step_size: float, use_gaussian: bool,
                      pad_border_mode: str, pad_kwargs: Mapping[str, Any], slice_index: int | None = None):
        """One ``(c, *spatial)`` image -> probabilities, segmentation, tiles, steps, gaussian, padded shape.

        ``probabilities`` (float32) and ``segmentation`` (their argmax, int64) are numpy arrays: with the sums on
        the device they are computed there and read back once, at the end.
        """
        data, slicer = _pad_to_patch(x, patch_size, pad_border_mode, pad_kwargs)
        steps = compute_steps_for_sliding_window(patch_size, data.shape[1:], step_size)
        boxes = [tuple((s, s + p) for s, p in zip(starts, patch_size))
                 for starts in np.array(np.meshgrid(*steps, indexing="ij")).reshape(len(steps), -1).T.tolist()]
        gaussian = get_gaussian(patch_size) if use_gaussian and len(boxes) > 1 else None
        num_classes = int(self.network.num_classes)
        spatial = tuple(int(s) for s in data.shape[1:])
        aggregated, weights, mult, add = self._accumulators(gaussian, patch_size, num_classes, spatial)
        data_t = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32))
        if self.sums_on_device:
            data_t = data_t.to(self.device)
        # per-chunk seconds: on CUDA from events read after the last tile (a synchronize per tile would stall the
        # queue); elsewhere from the wall clock
        events = [] if self.device.type == "cuda" else None
        chunks = [boxes[i:i + self.tile_batch_size] for i in range(0, len(boxes), self.tile_batch_size)]
        seconds: list[float] = []
        for chunk in chunks:
            t0 = time.perf_counter()
            if events is not None:
                events.append(torch.cuda.Event(enable_timing=True))
                events[-1].record()
            batch = torch.stack([data_t[(slice(None), *[slice(lo, hi) for lo, hi in box])] for box in chunk])
            # differs from v1: several tiles may share one forward pass (tile_batch_size > 1); per-tile numbers
            # agree with one-at-a-time prediction to float rounding
            preds = self.predict_batch(batch.to(self.device), mult)
            # v1: predicted_patch.half() on the GPU (all_in_gpu), else predicted_patch.cpu().numpy();
            # device_fp32 adds the float32 prediction where it is
            if self.sums_on == "device_fp16":
                preds = preds.half()
            elif self.sums_on == "cpu":
                preds = preds.cpu()
            for box, pred in zip(chunk, preds):
                sl = (slice(None), *[slice(lo, hi) for lo, hi in box])
                aggregated[sl] += pred
                weights[sl] += add
            seconds.append(time.perf_counter() - t0)
        if events is not None:
            events.append(torch.cuda.Event(enable_timing=True))
            events[-1].record()
        crop = (slice(None), *slicer[1:])
        probabilities = aggregated[crop]
        probabilities /= weights[crop]
        del weights
        # v1 takes the argmax where the sums are (on the GPU with all_in_gpu), in their dtype
        segmentation = probabilities.argmax(0)
        # differs from v1: with all_in_gpu, v1 returns the float16 probabilities; they are handed on as float32
        # (the same values, exactly), so that everything downstream sees one dtype
        probabilities = probabilities.cpu().float().contiguous().numpy()  # the one read (it waits for the queue)
        segmentation = segmentation.cpu().numpy()
        if events is not None:
            events[-1].synchronize()  # done already, unless the sums were in CPU memory (then nothing waited)
            seconds = [start.elapsed_time(stop) / 1e3 for start, stop in zip(events[:-1], events[1:])]
        records = [TileRecord(tuple(box), sec / len(chunk), slice_index)
                   for chunk, sec in zip(chunks, seconds) for box in chunk]
        return probabilities, segmentation, records, steps, gaussian, spatial


def _out_of_memory_fix(predictor: _TiledPredictor) -> str:
    """What to change after running out of memory, the cheapest change first."""
    fixes = []
    if predictor.sums_on == "device_fp16":
        fixes.append(tr("predict without --all_in_gpu (all_in_gpu=False: the whole-case sums then live in CPU "
                        "memory, v1's default)",
                        "预测时不加 --all_in_gpu(all_in_gpu=False: 整个病例的累加和就放在 CPU 内存中, 这是 v1 的默认做法)"))
    if predictor.sums_on == "device_fp32":
        fixes.append(tr("predict with --sums_on cpu (sums_on='cpu': the whole-case sums then live in CPU memory, "
                        "v1's default)",
                        "预测时加上 --sums_on cpu(sums_on='cpu': 整个病例的累加和就放在 CPU 内存中, 这是 v1 的默认做法)"))
    if predictor.tile_batch_size > 1:
        fixes.append(tr(f"use a smaller --tile_batch_size (now {predictor.tile_batch_size}; 1 is v1's one tile at a "
                        "time)",
                        f"使用更小的 --tile_batch_size(现在是 {predictor.tile_batch_size}; 1 即 v1 的一次一个 tile)"))
    if predictor.sums_on == "cpu" and predictor.device.type == "cuda":
        fixes.append(tr("free GPU memory (other processes: nvidia-smi), keep mixed precision on, or predict on "
                        "--device cpu",
                        "释放 GPU 显存(其他进程: nvidia-smi), 保持混合精度开启, 或者用 --device cpu 预测"))
    if predictor.device.type == "cpu":
        fixes.append(tr("free RAM, or predict fewer cases at once (--num_parts)",
                        "释放内存, 或者一次预测更少的病例(--num_parts)"))
    return tr("; or ", "; 也可以").join(fixes)


@mirrors("nnunet.network_architecture.neural_network:SegmentationNetwork.predict_3D")
def predict_sliding_window(network: nn.Module, data: np.ndarray | torch.Tensor, patch_size: Sequence[int], *,
                           do_mirroring: bool = True, mirror_axes: Sequence[int] = (0, 1, 2),
                           step_size: float = 0.5, use_gaussian: bool = True, pad_border_mode: str = "constant",
                           pad_kwargs: Mapping[str, Any] | None = None, mixed_precision: bool = False,
                           device: str | torch.device | None = None, tile_batch_size: int | None = None,
                           all_in_gpu: bool = False, sums_on: str | None = "auto") -> SlidingWindowResult:
    """Predict a whole preprocessed case ``(c, x, y, z)`` with a sliding window, as v1's ``predict_3D`` does.

    3D networks tile the volume with 3D windows (``_internal_predict_3D_3Dconv_tiled``); 2D networks predict
    every slice along axis 0 with 2D windows (``_internal_predict_3D_2Dconv_tiled``). See the module docstring
    for the rule. The network is put in eval mode and deep supervision is switched off for the call (as
    ``nnUNetTrainerV2`` does around its prediction), then both are restored.

    Args:
        network: a ``Generic_UNet`` (or any module with ``conv_op``, ``num_classes``, ``inference_apply_nonlin``).
        data: float ``(c, x, y, z)`` in the preprocessed (transposed, resampled, normalized) space.
        patch_size: the training patch, 3 entries (3D net) or 2 (2D net).
        do_mirroring: test-time augmentation by flipping (v1 default True).
        mirror_axes: spatial axes that may be flipped; v1 takes them from the training augmentation,
            ``(0, 1, 2)`` in 3D and ``(0, 1)`` for 2D networks.
        step_size: window step as a fraction of the patch, in (0, 1] (v1 default 0.5).
        use_gaussian: weight tiles with :func:`get_gaussian` (only used with more than one tile).
        pad_border_mode, pad_kwargs: how axes smaller than the patch are padded (``np.pad``; v1 default
            constant 0).
        mixed_precision: autocast on CUDA (ignored on the CPU, where v1's autocast disables itself); the
            softmax is taken in float32 either way, so ``probabilities`` are float32.
        device: where the network computes; default: the network's device (the network must be there).
        tile_batch_size: tiles per forward pass (1 = v1's one-at-a-time); None (default): 4 on CUDA, 1
            elsewhere (:func:`resolve_tile_batch_size`).
        all_in_gpu: v1's option: keep the input and the whole-case sums on ``device`` in float16 (fewer
            copies, much more GPU memory); the same as ``sums_on="device_fp16"``. v1 has it for 3D networks
            only (2D: ``NotImplementedError``); here 2D networks accept it too.
        sums_on: where the whole-case sums live (:data:`SUMS_ON`, :func:`resolve_sums_on`): ``"auto"``
            (default: float32 on the device on CUDA, v1's float32 in CPU memory elsewhere), ``"cpu"``,
            ``"device_fp32"``, ``"device_fp16"``; None: v1's choice by ``all_in_gpu`` alone.

    Returns:
        A :class:`SlidingWindowResult`.

    Raises:
        ValueError: bad input rank, step size, or mirror axes that do not exist for the network.
        PredictionOutOfMemoryError: the device ran out of memory; the message names the setting to change.
    """
    t_start = time.perf_counter()
    dim = _network_dim(network)
    if isinstance(data, torch.Tensor):
        data = data.detach().cpu().numpy()
    data = np.asarray(data)
    if data.ndim != 4:
        raise ValueError(f"data must have shape (c, x, y, z), got {data.shape}")
    if not step_size <= 1:
        raise ValueError(f"step_size must be <= 1 (got {step_size}): larger steps leave gaps between windows")
    patch_size = tuple(int(p) for p in patch_size)
    if len(patch_size) != dim:
        raise ValueError(f"a {dim}D network needs a {dim}-entry patch_size, got {list(patch_size)}")
    mirror_axes = tuple(int(a) for a in mirror_axes)
    if mirror_axes and max(mirror_axes) > dim - 1:
        raise ValueError(f"mirror axes {list(mirror_axes)} do not exist for a {dim}D network (axes 0..{dim - 1})")
    pad_kwargs = {"constant_values": 0} if pad_kwargs is None else dict(pad_kwargs)
    if device is None:
        device = next(network.parameters()).device
    device = torch.device(device)
    was_training = network.training
    ds = getattr(network, "do_ds", None)
    network.eval()
    if ds is not None:
        network.do_ds = False
    sums_bytes = free_bytes = None
    if sums_on == "auto" and not all_in_gpu and device.type == "cuda":
        # the case's input and float32 sums (padding aside), against the GPU's free memory: one query per case
        spatial = np.prod(data.shape[1:]) if dim == 3 else np.prod(data.shape[2:])
        sums_bytes = int(spatial) * (data.shape[0] + int(network.num_classes) + 1) * 4
        free_bytes = int(torch.cuda.mem_get_info(device)[0])
    sums_on = resolve_sums_on(sums_on, device, all_in_gpu=all_in_gpu, sums_bytes=sums_bytes, free_bytes=free_bytes)
    tile_batch_size = resolve_tile_batch_size(tile_batch_size, device, sums_on)
    predictor = _TiledPredictor(network, dim, mirror_axes, do_mirroring, device, mixed_precision, tile_batch_size,
                                sums_on=sums_on)
    out_of_memory = None
    try:
        with torch.no_grad():
            if dim == 3:
                probabilities, segmentation, tiles, steps, gaussian, padded = predictor.predict_tiled(
                    data, patch_size, step_size, use_gaussian, pad_border_mode, pad_kwargs)
            else:
                # differs from v1: all_in_gpu (float16 sums on the device) works for 2D networks too; v1's
                # _internal_predict_3D_2Dconv_tiled raises NotImplementedError for it
                per_slice, seg_per_slice, tiles = [], [], []
                steps, gaussian, padded = [], None, ()
                for s in range(data.shape[1]):
                    probs_s, seg_s, tiles_s, steps, gaussian, padded = predictor.predict_tiled(
                        data[:, s], patch_size, step_size, use_gaussian, pad_border_mode, pad_kwargs, slice_index=s)
                    per_slice.append(probs_s[None])
                    seg_per_slice.append(seg_s)
                    tiles.extend(tiles_s)
                probabilities = np.vstack(per_slice).transpose((1, 0, 2, 3))
                segmentation = np.stack(seg_per_slice)
    except RuntimeError as exc:  # torch.cuda.OutOfMemoryError is a RuntimeError
        if not _is_out_of_memory(exc):
            raise
        out_of_memory = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    finally:
        network.train(was_training)
        if ds is not None:
            network.do_ds = ds
    if out_of_memory is not None:
        # raised outside the except block, so that the failed call's tensors (held by the traceback) are freed
        if device.type == "cuda":
            torch.cuda.empty_cache()
        raise PredictionOutOfMemoryError(
            tr(f"out of memory on {device} predicting a case of shape {list(data.shape)} with patch "
               f"{list(patch_size)} (tile_batch_size {predictor.tile_batch_size}, sums_on {predictor.sums_on}): "
               f"{out_of_memory}",
               f"在 {device} 上预测形状为 {list(data.shape)} 的病例(patch {list(patch_size)}, tile_batch_size "
               f"{predictor.tile_batch_size}, sums_on {predictor.sums_on})时内存不足: {out_of_memory}"),
            fix=_out_of_memory_fix(predictor))
    return SlidingWindowResult(
        segmentation=segmentation, probabilities=probabilities, patch_size=patch_size, step_size=float(step_size),
        padded_shape=padded, steps=tuple(tuple(s) for s in steps), tiles=tuple(tiles),
        mirror_axes=mirror_axes if do_mirroring else (), mirror_contributions=predictor.contributions(),
        gaussian=gaussian, seconds=time.perf_counter() - t_start, network_dim=dim, sums_on=predictor.sums_on,
        tile_batch_size=predictor.tile_batch_size)
