"""The device moreDA: v1's transform list, split into draws (loader worker) and arithmetic (training device).

batchgenerators' ``Compose`` applies transform 1 to the whole batch, then transform 2, and so on; every transform
draws its random numbers (numpy's global stream, Python's ``random`` for the noise variance) while it runs.
:class:`DeviceChain` keeps that order and those streams, and moves the arithmetic:

* :meth:`DeviceChain.draw_all` runs in the loader worker, on the batch the ``DataLoader3D/2D`` made. Transform by
  transform, in v1's order, it draws what each device transform would draw (``draw_in_context``), so the streams
  advance exactly as under ``Compose``. It returns the draws (small, picklable; the elastic deformation's random
  fields are the only large part) and leaves in ``batch`` the arrays the device needs.
* :meth:`DeviceChain.apply_all` runs in the training process: the device transforms' arithmetic, batched, on
  the training device, in the same order, from the same draws.

Every transform is one of three kinds (:attr:`DeviceChain.steps`, printed by :meth:`DeviceChain.describe`):

``worker``
    before the first device transform (the channel selection, usually): run as v1 runs it, in the worker, on the
    real arrays. Nothing is gained by moving it and nothing is lost by leaving it.
``device``
    a registered device transform (``@replaces``) that accepts this configuration.
``cpu``
    a **named fallback**: no device version is registered (its module is missing, or none exists), or the device
    version refused this configuration (:class:`~.base.UnsupportedOnDevice`); the reason is kept. Its draws
    cannot be taken apart from its arithmetic, so the worker runs it once on zero arrays of the right shapes,
    only to advance the random streams past it, and records the stream states before and after;
    :meth:`~DeviceChain.apply_all` copies the arrays to the host, runs the batchgenerators transform itself from
    the recorded states, checks that the streams end where the worker's did (a transform whose number of draws
    depends on the data could not be a fallback in mid-chain: that is an error, not a silent difference) and
    copies the result back. Exact, but it costs the transform's CPU time twice and a device round trip: the
    fallbacks are there so that the chain is always complete, not to be fast.

Built from the transform list of :func:`~nnunet_explorer.training.augmentation.build_train_transforms` (or of any
``get_*_augmentation``), or from the ``Compose`` a training augmenter holds: ``DeviceChain(tr_gen.transform)``.

The device transforms are registered by importing their modules; :func:`load_device_modules` imports the
package's modules that exist (``spatial``, ``dummy_2d``, and the intensity, mirror, utility and cascade modules as
they arrive) and remembers why the others did not load.
"""
from __future__ import annotations

import importlib
import random
from dataclasses import dataclass, field
from typing import Any, Collection, Mapping, Sequence

import numpy as np
import torch
from batchgenerators.transforms.abstract_transforms import Compose
from batchgenerators.transforms.utility_transforms import RenameTransform

from ...errors import TrainingError
from .base import DeviceTransform, device_transform_or_reason

DEVICE_MODULES = ("spatial", "dummy_2d", "intensity", "mirror", "utility", "cascade")

_LOADED: dict[str, str | None] = {}


class DeviceAugmentationError(TrainingError):
    """The device moreDA cannot reproduce batchgenerators for this transform list."""


def load_device_modules() -> dict[str, str | None]:
    """Import the device-transform modules of this package that exist; ``{module: None or why it did not load}``."""
    if not _LOADED:
        for name in DEVICE_MODULES:
            full = f"{__package__}.{name}"
            try:
                importlib.import_module(full)
                _LOADED[name] = None
            except ModuleNotFoundError as exc:
                _LOADED[name] = "not present" if exc.name == full else f"failed to import: {exc}"
            except Exception as exc:  # a broken module must not break training: it becomes a named fallback
                _LOADED[name] = f"failed to import: {type(exc).__name__}: {exc}"
    return dict(_LOADED)


@dataclass(frozen=True)
class ChainStep:
    """One transform of the list: where it runs (``worker``, ``device`` or ``cpu``) and, for ``cpu``, why."""

    index: int
    name: str
    transform: Any
    device: DeviceTransform | None
    where: str
    reason: str | None = None


@dataclass(frozen=True)
class FallbackDraw:
    """What the worker recorded for a CPU fallback: the random streams around its dry run, and the batch keys."""

    numpy_before: tuple
    python_before: tuple
    numpy_after: tuple
    python_after: tuple
    context: dict
    label_key: str


@dataclass
class ChainDraws:
    """Everything :meth:`DeviceChain.apply_all` needs besides the arrays: one entry per device or CPU step."""

    steps: list
    label_key: str
    final_context: dict = field(default_factory=dict)


def _transform_list(transforms: Sequence[Any] | Compose) -> list:
    return list(transforms.transforms if isinstance(transforms, Compose) else transforms)


def _renamed(transform: Any, label_key: str) -> str:
    if isinstance(transform, RenameTransform) and transform.in_key == label_key:
        return transform.out_key
    return label_key


def _shape_of(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [_shape_of(v) for v in value]
    return tuple(value.shape)


def _zeros(shape: Any) -> Any:
    if shape is None:
        return None
    if isinstance(shape, list):
        return [_zeros(s) for s in shape]
    return np.zeros(shape, dtype=np.float32)


def _to_host(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, (list, tuple)):
        return [_to_host(v) for v in value]
    return value


def _to_device(value: Any, device: torch.device) -> Any:
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value)).to(device)
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, (list, tuple)):
        return [_to_device(v, device) for v in value]
    return value


def _same_numpy_state(a: tuple, b: tuple) -> bool:
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and tuple(a[2:]) == tuple(b[2:])


class DeviceChain:
    """v1's training transforms as a device chain; see the module docstring.

    Args:
        transforms: the list from :func:`~nnunet_explorer.training.augmentation.build_train_transforms` (or any
            ``get_*_augmentation`` list, or a ``Compose``).
        only: if given, only transforms of these batchgenerators classes go to the device (the others become CPU
            fallbacks, reason "excluded"); for debugging and for tests of one device transform at a time.
        data_key, label_key: the batch keys of image and segmentation (v1's 'data' and 'seg').
    """

    def __init__(self, transforms: Sequence[Any] | Compose, *, only: Collection[type] | None = None,
                 data_key: str = "data", label_key: str = "seg") -> None:
        modules = load_device_modules()
        missing = sorted(name for name, why in modules.items() if why is not None)
        self.data_key = data_key
        self.label_key = label_key
        steps: list[ChainStep] = []
        seen_device = False
        for index, transform in enumerate(_transform_list(transforms)):
            name = type(transform).__name__
            if only is not None and type(transform) not in set(only):
                device, reason = None, "excluded (only= names the classes that go to the device)"
            else:
                device, reason = device_transform_or_reason(transform)
                if device is None and reason and reason.startswith("no device version") and missing:
                    reason += f" (device modules not loaded: {', '.join(missing)})"
            seen_device = seen_device or device is not None
            where = "device" if device is not None else ("cpu" if seen_device else "worker")
            steps.append(ChainStep(index, name, transform, device, where, None if device else reason))
        self.steps: tuple[ChainStep, ...] = tuple(steps)

    # --- what runs where ---------------------------------------------------------------------------------------

    @property
    def fallbacks(self) -> list[tuple[str, str]]:
        """``(transform name, reason)`` for every transform that runs on the CPU (``worker`` or ``cpu``)."""
        return [(s.name, s.reason or "") for s in self.steps if s.where != "device"]

    def describe(self) -> str:
        """One line per transform: index, name, where it runs, and why not on the device where it does not."""
        lines = []
        for s in self.steps:
            note = f" — {s.reason}" if s.where != "device" else ""
            lines.append(f"{s.index:2d} {s.name:<40s} {s.where}{note}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        counts = {w: sum(s.where == w for s in self.steps) for w in ("worker", "device", "cpu")}
        return f"DeviceChain({len(self.steps)} transforms: {counts['worker']} worker, {counts['device']} device, " \
               f"{counts['cpu']} cpu fallback)"

    # --- the worker side ---------------------------------------------------------------------------------------

    def draw_all(self, batch: dict) -> ChainDraws:
        """Draw for the whole chain, transform by transform in v1's order, from the global random streams.

        Runs the ``worker`` transforms on ``batch`` for real and updates ``batch`` in place with their result, so
        that afterwards ``batch[data_key]`` / ``batch[label_key]`` are the arrays :meth:`apply_all` takes.
        Returns the draws for the rest.
        """
        label_key = self.label_key
        for step in self.steps:
            if step.where != "worker":
                break
            result = step.transform(**batch)
            batch.clear()
            batch.update(result)
            label_key = _renamed(step.transform, label_key)
        context = {k: v for k, v in batch.items() if k not in (self.data_key, label_key)}
        data_shape = _shape_of(batch[self.data_key])
        seg_shape = _shape_of(batch.get(label_key))
        draws = ChainDraws([], label_key)
        for step in self.steps:
            if step.where == "worker":
                continue
            if step.where == "device":
                d = step.device.draw_in_context(data_shape[0], data_shape, seg_shape, context)
                data_shape, seg_shape = step.device.output_shapes(data_shape, seg_shape, d)
                draws.steps.append(d)
                label_key = _renamed(step.transform, label_key)
                continue
            numpy_before, python_before = np.random.get_state(), random.getstate()
            dry = {self.data_key: _zeros(data_shape), **context}
            if seg_shape is not None:
                dry[label_key] = _zeros(seg_shape)
            snapshot = dict(context)
            result = step.transform(**dry)
            draws.steps.append(FallbackDraw(numpy_before, python_before, np.random.get_state(), random.getstate(),
                                            snapshot, label_key))
            label_key = _renamed(step.transform, label_key)
            data_shape = _shape_of(result[self.data_key])
            seg_shape = _shape_of(result.get(label_key))
            context = {k: v for k, v in result.items() if k not in (self.data_key, label_key)}
        draws.final_context = context
        return draws

    # --- the training side -------------------------------------------------------------------------------------

    def apply_all(self, data: Any, seg: Any, draws: ChainDraws, device: torch.device | str) -> dict:
        """The chain's arithmetic on ``device``, from :meth:`draw_all`'s draws; returns the batch dict
        ``Compose`` would return (arrays as tensors on ``device``)."""
        device = torch.device(device)
        data = _to_device(data, device)
        seg = _to_device(seg, device)
        label_key = draws.label_key
        active = [s for s in self.steps if s.where != "worker"]
        for step, d in zip(active, draws.steps):
            if step.where == "device":
                data, seg = step.device.apply(data, seg, d)
            else:
                data, seg = self._run_fallback(step, d, data, seg, device)
            label_key = _renamed(step.transform, label_key)
        out = dict(draws.final_context)
        out[self.data_key] = data
        if seg is not None:
            out[label_key] = seg
        return out

    def run(self, batch: dict, device: torch.device | str) -> dict:
        """:meth:`draw_all` then :meth:`apply_all` in one process (debugging, tracing, tests): what ``Compose``
        returns for ``batch``, computed on ``device``."""
        draws = self.draw_all(batch)
        return self.apply_all(batch[self.data_key], batch.get(draws.label_key), draws, device)

    def _run_fallback(self, step: ChainStep, d: FallbackDraw, data: Any, seg: Any,
                      device: torch.device) -> tuple[Any, Any]:
        host = {self.data_key: _to_host(data), **d.context}
        if seg is not None:
            host[d.label_key] = _to_host(seg)
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
                f"{step.name} (transform {step.index}) drew a different number of random values on the real batch "
                "than on the dry run: its draws depend on the data, so it cannot run as a CPU fallback after device "
                "transforms", fix="give it a device version, or run the whole list with batchgenerators")
        label_key = _renamed(step.transform, d.label_key)
        return _to_device(result[self.data_key], device), _to_device(result.get(label_key), device)


def summary(chain: DeviceChain) -> Mapping[str, Any]:
    """Plain-data description of a chain: the transforms on each side and the named fallbacks."""
    return {"device": [s.name for s in chain.steps if s.where == "device"],
            "worker": [s.name for s in chain.steps if s.where == "worker"],
            "cpu_fallbacks": chain.fallbacks,
            "modules": load_device_modules()}


__all__ = ["ChainDraws", "ChainStep", "DeviceAugmentationError", "DeviceChain", "FallbackDraw",
           "load_device_modules", "summary"]
