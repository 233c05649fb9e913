"""v1's transform list as a device chain: the draws in the loader worker, the arithmetic on the training device.

batchgenerators' ``Compose`` applies transform 1 to the whole batch, then transform 2, and so on; every transform
draws its random numbers (numpy's global stream; Python's ``random`` for the noise variance and the blur's
sigma) while it runs.
:class:`DeviceChain` keeps that order and those streams, and moves the arithmetic:

* :meth:`DeviceChain.draw_all` runs in the loader worker, on the batch the ``DataLoader3D/2D`` made. Transform by
  transform, in v1's order, it draws what each transform would draw, so the streams advance exactly as under
  ``Compose``. It needs only the *shapes* for that (each device transform says what shapes it returns,
  :meth:`~.base.DeviceTransform.output_shapes`), so no arithmetic runs here. It returns the draws (small and
  picklable; the elastic fields and the Gaussian noise fields, which batchgenerators itself draws voxel by voxel,
  are the large parts).
* :meth:`DeviceChain.apply_all` runs in the training process: the arithmetic of the same transforms, batched, on
  the training device, in the same order, from those draws. It never waits for the device unless a CPU fallback
  needs the arrays on the host.

Every transform is one of three kinds (:attr:`DeviceChain.steps`; :meth:`DeviceChain.describe` prints them):

``device``
    its device transform (found by :func:`~.catalog.device_or_fallback`, the one lookup) runs in
    :meth:`~DeviceChain.apply_all`.
``worker``
    runs in the loader worker, as v1 runs it, on the real arrays, before anything else. These are the leading
    transforms up to the last CPU fallback that only *rearranging* device transforms precede (channel selection,
    the dummy-2D fold, renames: :attr:`~.base.DeviceTransform.rearranges_only`). Example: insaneDA2's
    ``SpatialTransform_2`` has no device version; the channel selection before it runs with it in the worker,
    and everything after it goes to the device.
``cpu``
    a **named fallback** after the first device transform: batchgenerators' own transform, because no device
    version exists or the device version declined (the reason is kept, see :mod:`.base`). Its draws cannot be
    taken apart from its arithmetic, so the worker runs it once on zero arrays of the right shapes, only to
    advance the random streams past it, and records the stream states before and after; :meth:`apply_all` copies
    the arrays to the host, runs the transform from the recorded states, checks that the streams end where the
    worker's did (a transform whose number of draws depends on the data cannot be a fallback in mid-chain: that is
    an error, not a silent difference), and copies the result back. Exact, but it costs the transform's CPU time
    twice and a round trip through the host, which waits for the device: fallbacks are there so that the chain is
    always complete, not to be fast.

The segmentation travels in one *slot* whose name follows the renames (``seg``, then ``target`` after v1's
``RenameTransform``); after ``DownsampleSegForDSTransform2`` the slot holds a list, one target per
deep-supervision output, as the batch dict does on the CPU. A device transform that names other keys than the
image's and the slot's (``data_key``, ``label_key``, ``input_key`` ...) stays on the CPU with that reason.

Built from the transform list of :func:`~nnunet_explorer.training.augmentation.build_train_transforms` (or of any
``get_*_augmentation`` or ``build_*_transforms``), or from the ``Compose`` a training augmenter holds:
``DeviceChain(augmenter.transform)``.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Collection, Mapping, Sequence

import numpy as np
import torch
from batchgenerators.transforms.abstract_transforms import Compose
from batchgenerators.transforms.utility_transforms import NumpyToTensor, RenameTransform

from ...errors import TrainingError
from ...language import tr
from . import host_checks
from .base import DeviceTransform, Shape, shape_of, to_device, to_host
from .catalog import device_or_fallback

WHERE = ("worker", "device", "cpu")


class DeviceAugmentationError(TrainingError):
    """The device chain cannot reproduce batchgenerators for this transform list (the message says where)."""


@dataclass(frozen=True)
class ChainStep:
    """One transform of the list: where it runs (``worker``, ``device`` or ``cpu``) and, if not on the device, why.

    ``label_key`` is the name of the segmentation slot when the transform runs.
    """

    index: int
    name: str
    transform: Any
    device: DeviceTransform | None
    where: str
    reason: str | None
    label_key: str


@dataclass(frozen=True)
class FallbackDraw:
    """What the worker recorded for a CPU fallback: the random streams around its dry run, and the batch's other
    keys as the transform saw them."""

    numpy_before: tuple
    python_before: tuple
    numpy_after: tuple
    python_after: tuple
    context: dict


@dataclass
class ChainDraws:
    """Everything :meth:`DeviceChain.apply_all` needs besides the arrays.

    ``steps``: one entry per ``device`` or ``cpu`` step (the device transform's draws, or a :class:`FallbackDraw`);
    ``shapes``: the ``(data, seg)`` shapes each of those steps returns; ``label_key``: the slot's name when the
    arrays are handed over; ``final_context``: the batch dict's other keys at the end (``keys``, ``properties``
    ...), as ``Compose`` returns them.
    """

    steps: list
    shapes: list
    label_key: str
    final_context: dict = field(default_factory=dict)


def label_key_after(transform: Any, label_key: str) -> str:
    """The segmentation slot's name after ``transform`` (only ``RenameTransform`` changes it)."""
    if isinstance(transform, RenameTransform) and transform.in_key == label_key:
        return transform.out_key
    return label_key


_DATA_KEYS = ("data_key", "key_target", "key")
_SLOT_KEYS = ("label_key", "seg_key", "input_key", "output_key", "key_origin")


def key_mismatch(transform: Any, data_key: str, label_key: str) -> str | None:
    """Why a device transform cannot take the chain's two tensors (it names other batch keys), or None.

    Reads the key attributes batchgenerators' and nnU-Net's transforms have (``data_key``, ``label_key``,
    ``seg_key``, ``input_key``/``output_key``, the cascade's ``key``/``key_origin``/``key_target``,
    ``NumpyToTensor.keys``, ``RenameTransform.in_key``).
    """
    if isinstance(transform, RenameTransform):
        return None if transform.in_key == label_key else \
            f"renames {transform.in_key!r}, but the segmentation is called {label_key!r} here"
    if isinstance(transform, NumpyToTensor):
        keys = transform.keys if transform.keys is not None else []
        keys = [keys] if isinstance(keys, str) else list(keys)
        others = [k for k in keys if k not in (data_key, label_key)]
        return f"converts keys {others} the device chain does not carry" if others else None
    for attribute in _DATA_KEYS:
        value = getattr(transform, attribute, None)
        if isinstance(value, str) and value != data_key:
            return f"{attribute}={value!r}: the image is {data_key!r} in the device chain"
    for attribute in _SLOT_KEYS:
        value = getattr(transform, attribute, None)
        if isinstance(value, str) and value != label_key:
            return f"{attribute}={value!r}: the segmentation is called {label_key!r} at this point of the chain"
    return None


def _transform_list(transforms: Sequence[Any] | Compose) -> list:
    return list(transforms.transforms if isinstance(transforms, Compose) else transforms)


def _zeros(shape: Shape | None) -> Any:
    if shape is None:
        return None
    if isinstance(shape, list):
        return [_zeros(s) for s in shape]
    return np.zeros(shape, dtype=np.float32)


def _is_array(value: Any) -> bool:
    return isinstance(value, (np.ndarray, torch.Tensor))


def _same_numpy_state(a: tuple, b: tuple) -> bool:
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and tuple(a[2:]) == tuple(b[2:])


class DeviceChain:
    """v1's training (or validation) transforms as a device chain; see the module docstring.

    Args:
        transforms: a transform list (``build_train_transforms``, ``build_val_transforms``, the variants'
            ``build_*``) or a ``Compose``.
        only: if given, only transforms of these batchgenerators classes may go to the device (the others become
            CPU fallbacks, reason "excluded"); for debugging and for tests of one device transform at a time.
        data_key, label_key: the batch keys of image and segmentation when the chain starts (v1: 'data', 'seg').
    """

    def __init__(self, transforms: Sequence[Any] | Compose, *, only: Collection[type] | None = None,
                 data_key: str = "data", label_key: str = "seg") -> None:
        self.data_key = data_key
        self.label_key = label_key
        only = None if only is None else set(only)
        found: list[tuple[Any, DeviceTransform | None, str | None, str]] = []
        label = label_key
        for transform in _transform_list(transforms):
            if only is not None and type(transform) not in only:
                device, reason = None, "excluded (only= names the classes that go to the device)"
            else:
                device, reason = device_or_fallback(transform)
                mismatch = None if device is None else key_mismatch(transform, data_key, label)
                if mismatch is not None:
                    device, reason = None, mismatch
            found.append((transform, device, reason, label))
            label = label_key_after(transform, label)
        self.final_label_key = label
        # the worker prefix: through the last CPU fallback that only rearranging device transforms precede
        prefix = 0
        for i, (_, device, _, _) in enumerate(found):
            if device is None:
                prefix = i + 1
            elif not device.rearranges_only:
                break
        steps = []
        for i, (transform, device, reason, label) in enumerate(found):
            name = type(transform).__name__
            if i < prefix:
                if device is not None:
                    last = type(found[prefix - 1][0]).__name__
                    reason = f"in the worker, before {last} (a CPU fallback): nothing to move"
                steps.append(ChainStep(i, name, transform, None, "worker", reason, label))
            else:
                steps.append(ChainStep(i, name, transform, device, "device" if device else "cpu", reason, label))
        self.steps: tuple[ChainStep, ...] = tuple(steps)

    # --- what runs where ---------------------------------------------------------------------------------------

    @property
    def fallbacks(self) -> list[tuple[str, str]]:
        """``(transform name, reason)`` for every transform that does not run on the device (``worker``, ``cpu``)."""
        return [(s.name, s.reason or "") for s in self.steps if s.where != "device"]

    @property
    def device_steps(self) -> list[str]:
        """The names of the transforms whose arithmetic runs on the device."""
        return [s.name for s in self.steps if s.where == "device"]

    def describe(self) -> str:
        """A table: one line per transform (index, name, where it runs, and why not on the device where it does
        not), then the host checks that failed on this machine, if any."""
        names = [s.name + (" (inverted)" if getattr(s.transform, "invert_image", False) else "") for s in self.steps]
        width = max([len(n) for n in names] + [9])
        lines = [f" #  {'transform':<{width}}  where   why not on the device"]
        for s, name in zip(self.steps, names):
            lines.append(f"{s.index:2d}  {name:<{width}}  {s.where:<6}  {s.reason or ''}".rstrip())
        counts = {w: sum(s.where == w for s in self.steps) for w in WHERE}
        lines.append(f"{counts['device']} on the device, {counts['worker']} in the loader worker, {counts['cpu']} "
                     "CPU fallback(s) in mid-chain")
        failed = host_checks.failed()
        if failed:
            lines.append(f"host checks failed on this machine: {', '.join(failed)}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        counts = {w: sum(s.where == w for s in self.steps) for w in WHERE}
        return f"DeviceChain({len(self.steps)} transforms: {counts['worker']} worker, {counts['device']} device, " \
               f"{counts['cpu']} cpu fallback)"

    # --- the worker side ---------------------------------------------------------------------------------------

    def draw_all(self, batch: dict) -> ChainDraws:
        """Draw for the whole chain, transform by transform in v1's order, from the global random streams.

        Runs the ``worker`` transforms on ``batch`` for real and updates ``batch`` in place with their result, so
        that afterwards ``batch[data_key]`` and ``batch[draws.label_key]`` are the arrays :meth:`apply_all` takes.
        Returns the draws for the rest.
        """
        label_key = self.label_key
        active = []
        for step in self.steps:
            if step.where == "worker":
                result = step.transform(**batch)
                batch.clear()
                batch.update(result)
                label_key = label_key_after(step.transform, label_key)
            else:
                active.append(step)
        context = {k: v for k, v in batch.items() if k not in (self.data_key, label_key)}
        data_shape = shape_of(batch[self.data_key])
        seg_shape = shape_of(batch.get(label_key))
        draws = ChainDraws([], [], label_key)
        for step in active:
            if step.where == "device":
                d = step.device.draw_in_context(data_shape[0], data_shape, seg_shape, context)
                data_shape, seg_shape = step.device.output_shapes(data_shape, seg_shape, d)
                draws.steps.append(d)
            else:
                d, result = self._dry_run(step, data_shape, seg_shape, context)
                draws.steps.append(d)
                out_key = label_key_after(step.transform, step.label_key)
                data_shape = shape_of(result[self.data_key])
                seg_shape = shape_of(result.get(out_key))
                context = {k: v for k, v in result.items() if k not in (self.data_key, out_key)}
            draws.shapes.append((data_shape, seg_shape))
        draws.final_context = context
        return draws

    def _dry_run(self, step: ChainStep, data_shape: Shape, seg_shape: Shape | None,
                 context: dict) -> tuple[FallbackDraw, dict]:
        numpy_before, python_before = np.random.get_state(), random.getstate()
        dry = {**context, self.data_key: _zeros(data_shape)}
        if seg_shape is not None:
            dry[step.label_key] = _zeros(seg_shape)
        snapshot = dict(context)
        result = step.transform(**dry)
        return FallbackDraw(numpy_before, python_before, np.random.get_state(), random.getstate(), snapshot), result

    # --- the training side -------------------------------------------------------------------------------------

    def steps_with_draws(self, draws: ChainDraws) -> list[tuple[ChainStep, Any]]:
        """``(step, its draws)`` for every step that runs after the workers (on the device, or a CPU fallback), in
        order: what :meth:`apply_all` walks, and what traces and benchmarks walk step by step.

        Raises:
            DeviceAugmentationError: the draws come from another chain (another number of steps).
        """
        active = [s for s in self.steps if s.where != "worker"]
        if len(active) != len(draws.steps):
            raise DeviceAugmentationError(tr(f"{len(draws.steps)} draws for {len(active)} steps: the draws come from "
                                             "another chain",
                                             f"{len(draws.steps)} 组随机抽取对应 {len(active)} 个步骤："
                                             "这些抽取来自另一条变换链"),
                                          fix=tr("draw and apply with the same DeviceChain",
                                                 "请用同一个 DeviceChain 抽取并应用"))
        return list(zip(active, draws.steps))

    def apply_all(self, data: Any, seg: Any, draws: ChainDraws, device: torch.device | str) -> dict:
        """The chain's arithmetic on ``device``, from :meth:`draw_all`'s draws; returns the batch dict ``Compose``
        would return (the image and the segmentation slot as tensors on ``device``).

        ``data`` / ``seg``: the arrays :meth:`draw_all` left in the batch (numpy arrays, or tensors: pinned host
        tensors are copied without waiting). Works in place on tensors already on ``device``.

        Raises:
            DeviceAugmentationError: a device transform returned other shapes than it declared, or a CPU fallback
                drew a different number of random values than on the dry run.
        """
        device = torch.device(device)
        data = to_device(data, device)
        seg = to_device(seg, device)
        arrays: dict = {}  # array-valued keys a fallback's real run added (its dry run only had zeros for them)
        for (step, d), shapes in zip(self.steps_with_draws(draws), draws.shapes):
            if step.where == "device":
                data, seg = step.device.apply(data, seg, d)
                if (shape_of(data), shape_of(seg)) != tuple(shapes):
                    raise DeviceAugmentationError(
                        tr(f"{step.name} (transform {step.index}) returned shapes {shape_of(data)} / {shape_of(seg)}, "
                           f"but declared {shapes[0]} / {shapes[1]} when the draws were made",
                           f"{step.name}（变换 {step.index}）返回的形状是 {shape_of(data)} / {shape_of(seg)}, "
                           f"但做随机抽取时声明的是 {shapes[0]} / {shapes[1]}"),
                        fix=tr(f"correct {type(step.device).__name__}.output_shapes",
                               f"请修正 {type(step.device).__name__}.output_shapes"))
            else:
                data, seg, arrays = self._run_fallback(step, d, data, seg, device, arrays)
        out = {**draws.final_context, **arrays}
        out[self.data_key] = data
        if seg is not None:
            out[self.final_label_key] = seg
        return out

    def run(self, batch: dict, device: torch.device | str) -> dict:
        """:meth:`draw_all` then :meth:`apply_all` in one process (debugging, tracing, tests): what ``Compose``
        returns for ``batch``, computed on ``device``. Works on ``batch`` in place, as ``Compose`` does."""
        draws = self.draw_all(batch)
        return self.apply_all(batch[self.data_key], batch.get(draws.label_key), draws, device)

    def _run_fallback(self, step: ChainStep, d: FallbackDraw, data: Any, seg: Any, device: torch.device,
                      arrays: dict) -> tuple[Any, Any, dict]:
        host = {**d.context, **arrays, self.data_key: to_host(data)}
        if seg is not None:
            host[step.label_key] = to_host(seg)
        saved = np.random.get_state(), random.getstate()
        np.random.set_state(d.numpy_before)
        random.setstate(d.python_before)
        try:
            result = step.transform(**host)
            in_step = _same_numpy_state(np.random.get_state(), d.numpy_after) and random.getstate() == d.python_after
        finally:
            np.random.set_state(saved[0])
            random.setstate(saved[1])
        if not in_step:
            raise DeviceAugmentationError(
                tr(f"{step.name} (transform {step.index}) drew a different number of random values on the real batch "
                   "than on the dry run: its draws depend on the data, so it cannot run as a CPU fallback after "
                   "device transforms",
                   f"{step.name}（变换 {step.index}）在真实 batch 上抽取的随机数个数与试运行时不同："
                   "它的抽取依赖于数据，所以不能在设备变换之后作为 CPU 回退运行"),
                fix=tr("give it a device version, or run the whole list with batchgenerators",
                       "请为它写一个设备版本，或者用 batchgenerators 运行整个变换列表"))
        out_key = label_key_after(step.transform, step.label_key)
        arrays = {k: v for k, v in result.items() if k not in (self.data_key, out_key) and _is_array(v)}
        return to_device(result[self.data_key], device), to_device(result.get(out_key), device), arrays


def summary(chain: DeviceChain) -> Mapping[str, Any]:
    """Plain-data description of a chain: the transforms on each side, the named fallbacks, the host checks."""
    return {"device": chain.device_steps,
            "worker": [s.name for s in chain.steps if s.where == "worker"],
            "cpu": [s.name for s in chain.steps if s.where == "cpu"],
            "fallbacks": chain.fallbacks,
            "host_checks": host_checks.report()}


__all__ = ["ChainDraws", "ChainStep", "DeviceAugmentationError", "DeviceChain", "FallbackDraw", "key_mismatch",
           "label_key_after", "summary"]
