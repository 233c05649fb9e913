"""The contract every device transform follows, and the one registry from batchgenerators classes to them.

A device transform stands for one batchgenerators transform *object* (it is built from the very object v1's
``get_*_augmentation`` creates and reads every parameter from it) and splits its ``__call__`` in two:

* :meth:`DeviceTransform.draw` — on the CPU, in the loader worker: the random numbers, from numpy's global stream
  and Python's ``random``, in exactly the calls and the order batchgenerators makes them;
* :meth:`DeviceTransform.apply` — on any torch device, in the training process: the arithmetic, from those draws.

How a class says *no*: :meth:`DeviceTransform.unsupported` returns why this configuration (or this host) has no
exact device version, and the constructor raises :class:`UnsupportedOnDevice` with that reason. There is no other
way to decline. The transform chain (:mod:`.chain`) then keeps batchgenerators' own transform on the CPU and shows
the reason (:meth:`~.chain.DeviceChain.describe`).

How a class is found: :func:`replaces` registers it for its batchgenerators classes, in one registry; a class may
stand for a batchgenerators class only once (two exact versions of one transform would be one too many). The
lookup is :func:`~.catalog.device_or_fallback`, which imports every module of the package first.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

_REGISTRY: dict[type, type["DeviceTransform"]] = {}

Shape = Any
"""A tuple of ints; where batchgenerators makes a list (the deep-supervision targets), a list of such tuples."""


class UnsupportedOnDevice(NotImplementedError):
    """Raised by a device transform's constructor when this configuration of its batchgenerators transform, or this
    host's numpy / scipy / scikit-image (see :mod:`.host_checks`), has no exact device version. The message says
    why; the transform chain runs batchgenerators' transform on the CPU instead and shows the message."""


class DeviceTransform:
    """One batchgenerators transform, split into its random draws (CPU, v1's order) and its arithmetic (device).

    The contract, checked by the parity tests: for any seed, with numpy's and Python's random streams in the same
    state, ``apply(data, seg, draw(b, data.shape, seg.shape))`` on the CPU device returns float32 data equal **bit
    for bit** and segmentations equal voxel for voxel to ``transform(data=data, seg=seg)``, and ``draw`` leaves
    both random streams in the state the batchgenerators call leaves them.

    ``apply`` may work in place on the tensors it is given (batchgenerators works in place on its arrays) and
    returns the tensors that hold the result. It must not synchronise with the device: no ``.item()``, no Python
    branching on tensor values (branching on the draws, which are host values, is fine), no ``nonzero`` or boolean
    mask indexing, no host-to-device copies that wait.

    Subclasses override :meth:`draw` and :meth:`apply`; where the shapes change, :meth:`output_shapes`; where a
    configuration cannot be reproduced, :meth:`unsupported`; where the transform only rearranges values (no
    arithmetic, no draws), they set :attr:`rearranges_only`.
    """

    rearranges_only: bool = False
    """True for transforms that only select, rename, reshape or retype (no draws, no arithmetic): they cost nothing
    on the CPU either, so the chain lets a CPU fallback that follows them pull them into the loader worker rather
    than send the batch to the device and back (see :mod:`.chain`)."""

    def __init__(self, transform: Any) -> None:
        reason = self.unsupported(transform)
        if reason is not None:
            raise UnsupportedOnDevice(reason)
        self.transform = transform

    @classmethod
    def unsupported(cls, transform: Any) -> str | None:
        """Why ``transform`` (this configuration, on this host) has no exact device version; None if it has one.

        Default: every configuration is supported. Reasons that come from a failed host check are made by
        :func:`~.host_checks.failure`, so that they name the check."""
        return None

    @classmethod
    def supports(cls, transform: Any) -> bool:
        """``unsupported(transform) is None``."""
        return cls.unsupported(transform) is None

    def draw(self, batch_size: int, data_shape: tuple[int, ...], seg_shape: Shape | None) -> Any:
        """Consume the random streams exactly as the batchgenerators transform does on a batch of these shapes and
        return what was drawn (host values: plain Python, numpy, dataclasses; picklable)."""
        raise NotImplementedError

    def draw_in_context(self, batch_size: int, data_shape: tuple[int, ...], seg_shape: Shape | None,
                        context: dict) -> Any:
        """:meth:`draw`, for transforms that read or leave non-array keys in batchgenerators' batch dict.

        ``context`` holds those keys (e.g. ``orig_shape_data``, which nnU-Net's ``Convert3DTo2DTransform`` leaves
        for ``Convert2DTo3DTransform``); a transform that writes such a key writes it here. Default: :meth:`draw`.
        """
        return self.draw(batch_size, data_shape, seg_shape)

    def output_shapes(self, data_shape: tuple[int, ...], seg_shape: Shape | None, draws: Any) -> tuple[Shape, Shape]:
        """The shapes :meth:`apply` returns for these input shapes and draws (the chain draws for the next transform
        from them, before any arithmetic has run). Default: unchanged. Transforms that change a shape override it;
        the chain checks the shapes :meth:`apply` really returns against these (shapes are host values: no sync)."""
        return data_shape, seg_shape

    def apply(self, data: torch.Tensor, seg: Any, draws: Any) -> tuple[torch.Tensor, Any]:
        """The arithmetic on ``data (b, c, *spatial)`` and ``seg`` (a tensor, a list of tensors after the
        deep-supervision downsampling, or None) from :meth:`draw`'s result; returns ``(data, seg)``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({type(self.transform).__name__})"


def shape_of(value: Any) -> Shape | None:
    """The shape of a tensor or array, or the list of shapes of a list of them (None stays None)."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)) and not isinstance(value, torch.Size):
        return [shape_of(v) for v in value]
    return tuple(int(v) for v in value.shape)


def replaces(*bg_classes: type) -> Callable[[type[DeviceTransform]], type[DeviceTransform]]:
    """Class decorator: the device transform that stands for these batchgenerators transform classes.

    Raises:
        TypeError: another device class already stands for one of them (one exact implementation per class).
    """

    def register(cls: type[DeviceTransform]) -> type[DeviceTransform]:
        for bg_class in bg_classes:
            known = _REGISTRY.get(bg_class)
            if known is not None and (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
                raise TypeError(f"{bg_class.__name__} already has a device version ({known.__module__}."
                                f"{known.__qualname__}); {cls.__module__}.{cls.__qualname__} would replace it")
            _REGISTRY[bg_class] = cls
        return cls

    return register


def registered_class(transform: Any) -> type[DeviceTransform] | None:
    """The device class registered for ``type(transform)`` exactly (a subclass of a batchgenerators transform may
    change what it does, so it is not matched), or None."""
    return _REGISTRY.get(type(transform))


def registry() -> dict[type, type[DeviceTransform]]:
    """A copy of the registry: batchgenerators class -> device class (complete once :mod:`.catalog` is imported)."""
    return dict(_REGISTRY)


def to_host(value: Any) -> Any:
    """Tensors (or lists of them: the deep-supervision targets) as numpy arrays; anything else as it is."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, (list, tuple)):
        return [to_host(v) for v in value]
    return value


def to_device(value: Any, device: torch.device | str, *, pin: bool = False) -> Any:
    """Arrays (or tensors, or lists of them) on ``device``; anything else as it is.

    A page-locked ("pinned") host tensor is copied without waiting (``non_blocking``); a copy from ordinary
    memory makes the calling thread wait for it. ``pin=True`` page-locks a host array first when the target is
    CUDA: worth it for a large array the device needs right away (an elastic deformation field)."""
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, torch.Tensor):
        device = torch.device(device)
        if pin and device.type == "cuda" and value.device.type == "cpu" and not value.is_pinned():
            value = value.pin_memory()
        return value.to(device, non_blocking=value.is_pinned())
    if isinstance(value, (list, tuple)):
        return [to_device(v, device, pin=pin) for v in value]
    return value


__all__ = ["DeviceTransform", "Shape", "UnsupportedOnDevice", "registered_class", "registry", "replaces",
           "shape_of", "to_device", "to_host"]
