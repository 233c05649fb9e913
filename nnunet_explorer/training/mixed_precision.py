"""Mixed precision you can see: one fp16 step of v1's ``run_iteration``, phase by phase, then the same step overflowing.

``nnUNet_train`` trains in mixed precision unless ``--fp32`` is given. On a GPU, ``nnUNetTrainerV2.run_iteration``
does::

    with autocast():                                   # forward + loss: convolutions in float16
        output = self.network(data)
        l = self.loss(output, target)
    self.amp_grad_scaler.scale(l).backward()           # the gradients of S * l: all S times too big
    self.amp_grad_scaler.unscale_(self.optimizer)      # divide by S, note any inf/nan: the true gradients
    torch.nn.utils.clip_grad_norm_(self.network.parameters(), 12)
    self.amp_grad_scaler.step(self.optimizer)          # optimizer.step(), unless unscale_ found inf/nan
    self.amp_grad_scaler.update()                      # after a skip S *= 0.5; after 2000 clean steps S *= 2

``amp_grad_scaler`` is ``GradScaler()`` with torch's defaults (v1's ``_maybe_init_amp``): S starts at 2**16.

Why the scaling: float16 has 10 significand bits and 5 exponent bits. Its smallest normal number is 2**-14
(6.1e-5), its smallest subnormal 2**-24 (6.0e-8), its largest 65504. Gradients of a segmentation network are
mostly far below 6.1e-5 (:func:`fp16_step_lesson` measures it): computed in float16 they would lose their
significant bits or become 0. Multiplying the loss by S multiplies every gradient by S (the chain rule is linear),
which moves them into float16's range; ``unscale_`` divides by S again in float32 before anything uses them.
Clipping comes after ``unscale_`` because it compares the gradients' norm with 12: on scaled gradients it would
see a norm S times too big and cut every step down to a norm of 12 / S.

:func:`fp16_step_lesson` runs exactly that sequence on a network, loss, optimizer and batch, records every
number, then puts the weights and the optimizer state back. It needs no GPU: torch's CPU autocast computes in
float16 too (``torch.autocast("cpu", dtype=torch.float16)``, ``torch.amp.GradScaler("cpu")``), but slowly —
CPUs without float16 arithmetic run float16 convolutions tens of times slower than float32 — so on a CPU the
caller may pass ``max_voxels`` to run the lesson on a centre crop of one sample. This module is a look, not part
of the training run: the run's own iteration is :func:`~nnunet_explorer.training.iteration.run_iteration`.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..provenance import mirrors
from .loss import MultipleOutputLoss2

FP16_SMALLEST_NORMAL = float(torch.finfo(torch.float16).smallest_normal)  # 2**-14 = 6.1e-5
FP16_SMALLEST_SUBNORMAL = 2.0 ** -24  # 6.0e-8; anything below half of it rounds to 0
FP16_MAX = float(torch.finfo(torch.float16).max)  # 65504; anything from 65520 on becomes inf


@dataclass(frozen=True)
class GradientSizes:
    """How big this network's gradients are, against float16's range, without and with the loss scale.

    Measured on the float32 gradients of the same weights and input (a plain float32 backward), over every
    entry of every parameter that received a gradient; shares are of the entries that are not 0 in float32.

    Attributes:
        entries: gradient entries counted.
        median / p01 / largest: median, 1st percentile and maximum of ``|g|`` in float32.
        below_normal / to_zero: share below float16's smallest normal (2**-14: kept with fewer significant bits,
            or lost) and share that rounds to 0 in float16 (below 2**-25).
        below_normal_scaled / to_zero_scaled / overflow_scaled: the same for ``S * g``, and the share that would
            exceed 65504 (inf in float16).
        zeros_unscaled / zeros_scaled: share of the entries, non-zero in float32, that came out exactly 0 from
            that float16 backward.
    """

    entries: int
    median: float
    p01: float
    largest: float
    below_normal: float
    to_zero: float
    below_normal_scaled: float
    to_zero_scaled: float
    overflow_scaled: float
    zeros_unscaled: float
    zeros_scaled: float


@dataclass(frozen=True)
class ScalerStep:
    """One pass through ``scale(l).backward()``, ``unscale_``, ``clip_grad_norm_``, ``step``, ``update``.

    Attributes:
        scale: the scale S the gradients were multiplied by (``get_scale()`` before the step).
        norm_scaled: global L2 norm of the gradients after ``scale(l).backward()`` (S times the true norm).
        norm_unscaled: after ``unscale_`` (the true norm; inf or nan when a gradient overflowed).
        norm_clipped: after ``clip_grad_norm_(parameters, clip_norm)``.
        found_inf: ``unscale_`` found an inf or nan, so ``step`` skipped ``optimizer.step()``.
        weights_changed: ``scaler.step(optimizer)`` changed the weights (an optimizer step happened).
        scale_after: ``get_scale()`` after ``update()``.
        growth_tracker: clean steps in a row the scaler has counted after ``update()`` (it grows S at
            ``growth_interval``).
        injected: the parameter whose gradient got an inf on purpose, or None.
    """

    scale: float
    norm_scaled: float
    norm_unscaled: float
    norm_clipped: float
    found_inf: bool
    weights_changed: bool
    scale_after: float
    growth_tracker: int
    injected: str | None = None


@dataclass(frozen=True)
class Fp16Lesson:
    """v1's mixed-precision iteration run phase by phase on one batch, with the numbers of every phase.

    Attributes:
        device: where it ran.
        scaler_from_trainer: the scaler started from the trainer's own ``amp_grad_scaler`` (its current scale);
            False: a fresh ``GradScaler`` with torch's defaults, as v1 creates it.
        growth_factor / backoff_factor / growth_interval: the scaler's settings (the scale it started from is
            ``clean.scale``).
        batch_shape / input_shape: the batch's ``(b, c, ...)`` and what the lesson ran on (a crop of one sample
            when ``max_voxels`` asked for one).
        sample: the sample of the batch the crop was cut from (None: the whole batch).
        output_dtype / loss_dtype: what autocast produced for the network's (first) output and for the loss.
        clip_norm: the clipping threshold (None: the trainer does not clip).
        loss_fp32 / loss_fp16: the loss in float32 and under autocast.
        norm_fp32: the float32 gradient's global norm.
        clean: the fp16 step as v1 runs it.
        norm_if_clipped_first: the true gradient norm had ``clip_grad_norm_`` run *before* ``unscale_``: the
            scaled gradients cut to the clip norm, then divided by S.
        overflow: the same step with an inf put into one scaled gradient: skipped, and S halved.
        sizes: the gradients' sizes against float16's range (:class:`GradientSizes`).
        seconds: time the lesson took.
    """

    device: str
    scaler_from_trainer: bool
    growth_factor: float
    backoff_factor: float
    growth_interval: int
    batch_shape: tuple[int, ...]
    input_shape: tuple[int, ...]
    sample: int | None
    output_dtype: str
    loss_dtype: str
    clip_norm: float | None
    loss_fp32: float
    loss_fp16: float
    norm_fp32: float
    clean: ScalerStep
    norm_if_clipped_first: float | None
    overflow: ScalerStep
    sizes: GradientSizes
    seconds: float

    def __repr__(self) -> str:
        return (f"Fp16Lesson(scale {self.clean.scale:g}, grad norm {self.clean.norm_scaled:.4g} scaled -> "
                f"{self.clean.norm_unscaled:.4g} after unscale_, overflow: step skipped "
                f"{self.overflow.found_inf and not self.overflow.weights_changed}, scale {self.overflow.scale:g} -> "
                f"{self.overflow.scale_after:g}, on {self.device})")


def pool_factors(pool_op_kernel_sizes: Sequence[Sequence[int]]) -> tuple[int, ...]:
    """Per spatial axis, the product of the pooling kernels: a network input must be a multiple of it."""
    return tuple(int(v) for v in np.prod(np.asarray(pool_op_kernel_sizes, dtype=np.int64), axis=0))


def centre_crop(spatial: Sequence[int], factors: Sequence[int], max_voxels: int) -> tuple[tuple[int, int], ...]:
    """``(start, size)`` per axis of a centre crop of at most ``max_voxels`` voxels where the floors below allow
    (they win: the crop can be larger), aligned to ``factors``.

    The crop keeps every size and start a multiple of the axis' pooling factor (so the deep-supervision targets,
    downsampled by divisors of it, crop exactly along); the axis with the most multiples of its factor loses one
    factor at a time, never below one factor, and never down to a lowest resolution of a single voxel (instance
    normalisation in training needs more than one).
    """
    size = [max(f, s // f * f) for s, f in zip(spatial, factors)]
    while math.prod(size) > max_voxels:
        steps = [c // f for c, f in zip(size, factors)]  # voxels per axis at the lowest resolution
        lowest = math.prod(steps)
        axes = [a for a in range(len(size)) if steps[a] >= 2 and lowest // steps[a] * (steps[a] - 1) >= 2]
        if not axes:
            break
        a = max(axes, key=lambda i: (steps[i], size[i]))  # the axis with the most pooling steps to spare
        size[a] -= factors[a]
    return tuple(((s - c) // 2 // f * f, c) for s, c, f in zip(spatial, size, factors))


def _crop(t: torch.Tensor, crop: Sequence[tuple[int, int]], reference: Sequence[int], sample: int) -> torch.Tensor:
    """Sample ``sample`` of ``t`` ``(b, c, ...)``, cropped where ``crop`` lies in a tensor of ``reference`` size."""
    index: list[Any] = [slice(sample, sample + 1), slice(None)]
    for (start, size), full, here in zip(crop, reference, t.shape[2:]):
        ratio = full // here
        index.append(slice(start // ratio, (start + size) // ratio))
    return t[tuple(index)]


def _gradients(params: Sequence[nn.Parameter]) -> list[torch.Tensor]:
    return [p.grad for p in params if p.grad is not None]


def _norm(grads: Sequence[torch.Tensor]) -> float:
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads])))


def _flat(grads: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([g.detach().reshape(-1).float() for g in grads])


def _share(mask: torch.Tensor, of: torch.Tensor) -> float:
    n = int(of.sum())
    return float((mask & of).sum()) / n if n else 0.0


def _sizes(g32: torch.Tensor, g16_unscaled: torch.Tensor, g16_scaled: torch.Tensor, scale: float) -> GradientSizes:
    nonzero = g32 != 0
    magnitude = g32.abs()
    scaled = g32 * scale
    as_fp16, scaled_fp16 = g32.to(torch.float16), scaled.to(torch.float16)
    values = magnitude[nonzero].cpu().numpy()
    p01, median = (np.percentile(values, [1, 50]) if values.size else (0.0, 0.0))
    return GradientSizes(
        entries=int(g32.numel()), median=float(median), p01=float(p01),
        largest=float(values.max()) if values.size else 0.0,
        below_normal=_share(magnitude < FP16_SMALLEST_NORMAL, nonzero), to_zero=_share(as_fp16 == 0, nonzero),
        below_normal_scaled=_share(scaled.abs() < FP16_SMALLEST_NORMAL, nonzero),
        to_zero_scaled=_share(scaled_fp16 == 0, nonzero), overflow_scaled=_share(torch.isinf(scaled_fp16), nonzero),
        zeros_unscaled=_share(g16_unscaled == 0, nonzero), zeros_scaled=_share(g16_scaled == 0, nonzero))


def _scaler_like(grad_scaler: torch.amp.GradScaler | None, device: torch.device) -> torch.amp.GradScaler:
    """A new GradScaler on ``device``: torch's (= v1's) defaults, or a copy of ``grad_scaler``'s state."""
    scaler = torch.amp.GradScaler(device.type)
    if grad_scaler is not None and grad_scaler.is_enabled():
        scaler.load_state_dict(grad_scaler.state_dict())
    return scaler


def _loss(loss: nn.Module, output: Any, targets: list[torch.Tensor]) -> torch.Tensor:
    """The trainer's loss on the network's output, with the target as v1's ``run_iteration`` passes it."""
    if isinstance(loss, MultipleOutputLoss2) or isinstance(output, (list, tuple)):
        return loss(output, targets)
    return loss(output, targets[0])


@mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.run_iteration")
def fp16_step_lesson(network: nn.Module, loss: nn.Module, optimizer: torch.optim.Optimizer, data: Any,
                     target: Any, *, grad_scaler: torch.amp.GradScaler | None = None, clip_norm: float | None = 12.0,
                     max_voxels: int | None = None, factors: Sequence[int] | None = None,
                     sample: int = 0) -> Fp16Lesson:
    """Run v1's fp16 iteration phase by phase on ``data``/``target``, then put the weights and optimizer back.

    In order: a float32 forward and backward (the reference gradients); the forward and loss under
    ``torch.autocast(device, dtype=torch.float16)``; a float16 backward *without* loss scaling (what the scaler
    prevents); v1's sequence ``scale(l).backward()``, ``unscale_``, ``clip_grad_norm_``, ``step``, ``update``
    (the clean step); the same scaled gradients clipped *before* ``unscale_`` (the wrong order); and the clean
    step's scaled gradients again with one entry set to inf (the overflow step: ``step`` skips, ``update``
    halves the scale). Everything runs on the network's device.

    Args:
        network / loss / optimizer: the trainer's (the network in the mode it trains in: ``train()``, ``do_ds``).
        data: ``(b, c, z, y, x)`` or ``(b, c, y, x)``; target: one ``(b, 1, ...)`` map per network output (a
            list) or one map.
        grad_scaler: start from this scaler's state (the trainer's ``amp_grad_scaler``; it is not changed);
            None: a fresh ``GradScaler`` as v1's ``_maybe_init_amp`` makes it (scale 2**16).
        clip_norm: the trainer's clipping threshold (V2: 12; None: no clipping, as ``NetworkTrainer``).
        max_voxels: run on a centre crop of sample ``sample`` of about this many voxels (None: the whole batch;
            :func:`centre_crop`); ``factors`` (see :func:`pool_factors`) keeps the crop a size the network accepts.

    Returns:
        The :class:`Fp16Lesson`. The weights, the optimizer's state and ``grad_scaler`` are as before; the
        gradients are cleared (v1 clears them at the start of every iteration anyway).
    """
    started = time.perf_counter()
    device = next(network.parameters()).device
    data_t = torch.as_tensor(data)
    targets = [torch.as_tensor(t) for t in (target if isinstance(target, (list, tuple)) else [target])]
    batch_shape = tuple(int(v) for v in data_t.shape)
    spatial = batch_shape[2:]
    chosen: int | None = None
    if max_voxels is not None and math.prod(spatial) > max_voxels:
        chosen = min(sample, batch_shape[0] - 1)
        crop = centre_crop(spatial, factors or (1,) * len(spatial), max_voxels)
        data_t = _crop(data_t, crop, spatial, chosen)
        targets = [_crop(t, crop, spatial, chosen) for t in targets]
    data_t = data_t.to(device).float()
    targets = [t.to(device) for t in targets]
    named = [(n, p) for n, p in network.named_parameters() if p.requires_grad]
    params = [p for _, p in named]
    weights = {k: v.detach().clone() for k, v in network.state_dict().items()}
    opt_state = copy.deepcopy(optimizer.state_dict())
    scaler = _scaler_like(grad_scaler, device)
    settings = (float(scaler.get_growth_factor()), float(scaler.get_backoff_factor()),
                int(scaler.get_growth_interval()))

    def changed() -> bool:
        now = network.state_dict()
        return any(not torch.equal(now[k], v) for k, v in weights.items())

    def restore() -> None:
        network.load_state_dict(weights)
        optimizer.load_state_dict(opt_state)

    def clip(grads: list[torch.Tensor]) -> float:
        if clip_norm is None:
            return _norm(grads)
        torch.nn.utils.clip_grad_norm_([p for p in params if p.grad is not None], clip_norm)
        return _norm(_gradients(params))

    def set_gradients(values: list[torch.Tensor]) -> None:
        for g, v in zip(_gradients(params), values):
            g.copy_(v)

    try:
        # the reference: float32 forward and backward
        optimizer.zero_grad(set_to_none=True)
        l32 = _loss(loss, network(data_t), targets)
        l32.backward()
        g32 = _flat(_gradients(params))
        norm_fp32 = _norm(_gradients(params))

        # under autocast, as v1's ``with autocast():`` on a GPU
        optimizer.zero_grad(set_to_none=True)
        # differs from v1: torch.autocast(device, float16) for v1's deprecated torch.cuda.amp.autocast() (the same on
        # CUDA), and on a CPU too, where v1 trains in float32: the iteration card's fp16 lesson, never the run
        with torch.autocast(device.type, dtype=torch.float16):
            output = network(data_t)
            l16 = _loss(loss, output, targets)
        first = output[0] if isinstance(output, (list, tuple)) else output
        l16.backward(retain_graph=True)  # without loss scaling: what float16 alone does to the gradients
        g16_unscaled = _flat(_gradients(params))

        # v1's sequence
        optimizer.zero_grad(set_to_none=True)
        scale = float(scaler.get_scale())
        scaler.scale(l16).backward()
        scaled_grads = [g.detach().clone() for g in _gradients(params)]
        norm_scaled = _norm(scaled_grads)
        scaler.unscale_(optimizer)
        unscaled = _gradients(params)
        g16_scaled = _flat(unscaled)
        norm_unscaled = _norm(unscaled)
        found_inf = not bool(torch.isfinite(g16_scaled).all())
        norm_clipped = clip(unscaled)
        scaler.step(optimizer)
        stepped = changed()
        scaler.update()
        clean = ScalerStep(scale, norm_scaled, norm_unscaled, norm_clipped, found_inf, stepped,
                           float(scaler.get_scale()), int(scaler.state_dict()["_growth_tracker"]))
        restore()

        # the wrong order: clip the scaled gradients, then divide by S
        clipped_first = None
        if clip_norm is not None:
            set_gradients(scaled_grads)
            torch.nn.utils.clip_grad_norm_([p for p in params if p.grad is not None], clip_norm)
            clipped_first = _norm([g / scale for g in _gradients(params)])

        # the overflow: the same scaled gradients, one entry inf
        set_gradients(scaled_grads)
        victim = next(n for n, p in named if p.grad is not None)
        dict(named)[victim].grad.view(-1)[0] = float("inf")
        scale_before = float(scaler.get_scale())
        norm_scaled_inf = _norm(_gradients(params))
        scaler.unscale_(optimizer)
        inf_found = not bool(torch.isfinite(_flat(_gradients(params))).all())
        norm_unscaled_inf = _norm(_gradients(params))
        norm_clipped_inf = clip(_gradients(params))
        scaler.step(optimizer)
        stepped_inf = changed()
        scaler.update()
        overflow = ScalerStep(scale_before, norm_scaled_inf, norm_unscaled_inf, norm_clipped_inf, inf_found,
                              stepped_inf, float(scaler.get_scale()), int(scaler.state_dict()["_growth_tracker"]),
                              injected=victim)
        sizes = _sizes(g32, g16_unscaled, g16_scaled, scale)
    finally:
        restore()
        optimizer.zero_grad(set_to_none=True)
    return Fp16Lesson(
        device=str(device), scaler_from_trainer=grad_scaler is not None and grad_scaler.is_enabled(),
        growth_factor=settings[0], backoff_factor=settings[1], growth_interval=settings[2],
        batch_shape=batch_shape, input_shape=tuple(int(v) for v in data_t.shape), sample=chosen,
        output_dtype=str(first.dtype).replace("torch.", ""), loss_dtype=str(l16.dtype).replace("torch.", ""),
        clip_norm=clip_norm, loss_fp32=float(l32.detach()), loss_fp16=float(l16.detach()), norm_fp32=norm_fp32,
        clean=clean,
        norm_if_clipped_first=clipped_first, overflow=overflow, sizes=sizes,
        seconds=time.perf_counter() - started)


__all__ = ["FP16_MAX", "FP16_SMALLEST_NORMAL", "FP16_SMALLEST_SUBNORMAL", "Fp16Lesson", "GradientSizes",
           "ScalerStep", "centre_crop", "fp16_step_lesson", "pool_factors"]
