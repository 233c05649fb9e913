"""Short text summaries of step outputs: arrays and tensors as dtype, shape, range and label set.

A learner debugging a pipeline mostly wants to know *what came out*: is the batch ``(2, 1, 40, 48, 48)``
float32 with a sensible range, does the target hold the labels ``{0, 1, 2}``, is the loss finite. These
functions answer that for numpy arrays, torch tensors, containers of them, dataclasses, and objects that
summarise themselves (a ``summary()`` method). They never modify the value and stay cheap on large arrays.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

from ..language import tr
from ..provenance import declared_v1_reference

# Integer-valued arrays with at most this many distinct values are shown with their label set.
MAX_LABELS = 12
# Label sets are only computed for arrays up to this many elements (np.unique sorts a copy).
MAX_ELEMENTS_FOR_LABELS = 20_000_000
MAX_ITEMS = 8
MAX_DEPTH = 3
MAX_SUMMARY_LINES = 40


@dataclasses.dataclass(frozen=True)
class ArrayStats:
    """What a learner needs to know about an array or tensor without looking at the voxels."""

    kind: str  # "ndarray" or "Tensor"
    dtype: str
    shape: tuple[int, ...]
    minimum: float | None
    maximum: float | None
    mean: float | None
    labels: tuple[int, ...] | None
    non_finite: int
    device: str | None = None
    requires_grad: bool = False

    def text(self) -> str:
        parts = [f"{self.kind} {self.dtype} {self.shape}"]
        if self.device and self.device != "cpu":
            parts.append(tr(f"on {self.device}", f"位于 {self.device}"))
        if self.minimum is not None:
            parts.append(tr(f"range [{_num(self.minimum)}, {_num(self.maximum)}] mean {_num(self.mean)}",
                            f"范围 [{_num(self.minimum)}, {_num(self.maximum)}] 均值 {_num(self.mean)}"))
        if self.labels is not None:
            parts.append(tr("labels", "标签") + " {" + ", ".join(str(v) for v in self.labels) + "}")
        if self.non_finite:
            parts.append(tr(f"{self.non_finite} non-finite values!", f"{self.non_finite} 个非有限值!"))
        if self.requires_grad:
            parts.append("requires_grad")
        return ", ".join(parts)


def _num(value: float | None) -> str:
    if value is None:
        return "?"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"


def _is_tensor(value: Any) -> bool:
    cls = type(value)
    return cls.__module__.startswith("torch") and cls.__name__ in ("Tensor", "Parameter")


def _is_ndarray(value: Any) -> bool:
    return type(value).__module__ == "numpy" and type(value).__name__ in ("ndarray", "memmap")


def array_stats(value: Any) -> ArrayStats:
    """Summarise a numpy array or torch tensor: dtype, shape, min/max/mean, label set, non-finite count.

    The label set is reported for integer (or boolean) arrays, and for float arrays whose values are all
    whole numbers (nnU-Net's targets arrive as float32 tensors), when there are at most ``MAX_LABELS`` of them.
    """
    import numpy as np

    kind, device, requires_grad = "ndarray", None, False
    if _is_tensor(value):
        kind, device, requires_grad = "Tensor", str(value.device), bool(value.requires_grad)
        dtype = str(value.dtype).replace("torch.", "")
        array = value.detach().cpu()
        if array.dtype.is_floating_point and array.dtype not in (np.float32, np.float64):
            array = array.float()
        array = array.numpy()
    else:
        array = np.asarray(value)
        dtype = str(array.dtype)
    shape = tuple(int(s) for s in array.shape)
    if array.size == 0 or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        return ArrayStats(kind, dtype, shape, None, None, None, None, 0, device, requires_grad)
    numeric = array.astype(np.float64, copy=False) if array.dtype == bool else array
    finite_mask = np.isfinite(numeric) if np.issubdtype(numeric.dtype, np.floating) else None
    non_finite = int(numeric.size - finite_mask.sum()) if finite_mask is not None else 0
    finite = numeric[finite_mask] if finite_mask is not None and non_finite else numeric
    if finite.size == 0:
        return ArrayStats(kind, dtype, shape, None, None, None, None, non_finite, device, requires_grad)
    minimum, maximum = float(finite.min()), float(finite.max())
    mean = float(finite.mean(dtype=np.float64))
    labels = None
    if array.size <= MAX_ELEMENTS_FOR_LABELS:
        integral = not np.issubdtype(numeric.dtype, np.floating) or (
            maximum - minimum <= 10 * MAX_LABELS and bool(np.all(finite == np.round(finite))))
        if integral:
            unique = np.unique(finite)
            if unique.size <= MAX_LABELS:
                labels = tuple(int(v) for v in unique)
    return ArrayStats(kind, dtype, shape, minimum, maximum, mean, labels, non_finite, device, requires_grad)


def _module_text(module: Any) -> str:
    params = sum(int(p.numel()) for p in module.parameters())
    trainable = sum(int(p.numel()) for p in module.parameters() if p.requires_grad)
    name = type(module).__name__
    # a class that re-implements a v1 class under another name (``@mirrors``) is named with v1's name too, so that a
    # learner who compares with v1's printout finds it (the explorer's own modules already carry v1's names:
    # ``Generic_UNet``, ``DC_and_CE_loss``); only the class's own mark counts (a user's subclass of Generic_UNet is
    # not v1's Generic_UNet)
    reference = declared_v1_reference(type(module))
    if reference is not None and reference.qualname != name:
        name = f"{name} = v1's {reference.qualname}"
    return tr(f"{name} (torch module, {params:,} parameters, {trainable:,} trainable)",
              f"{name}(torch 模块,{params:,} 个参数,其中 {trainable:,} 个可训练)")


def _is_torch_module(value: Any) -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return False
    return isinstance(value, torch.nn.Module)


def own_summary(value: Any) -> str | None:
    """The text of ``value.summary()`` (or ``value.to_text()``) if the object summarises itself."""
    if isinstance(value, type):
        return None
    for name in ("summary", "to_text"):
        method = getattr(value, name, None)
        if method is None or not callable(method):
            continue
        try:
            text = method()
        except Exception:  # a summary that fails must not break rendering; fall back to the generic text
            continue
        if text is not None:
            return str(text)
    return None


def has_own_repr(value: Any) -> bool:
    """True if the class wrote its own ``__repr__`` (not object's, not the one @dataclass generates)."""
    method = type(value).__repr__
    if method is object.__repr__:
        return False
    # @dataclass wraps its generated __repr__ with reprlib's recursion guard, which sets __wrapped__
    return not (dataclasses.is_dataclass(value) and hasattr(method, "__wrapped__"))


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def summarize_text(value: Any, *, depth: int = 0) -> str:
    """A short, mostly one-line description of any step output (containers are summarised item by item)."""
    if value is None:
        return "None"
    if _is_tensor(value) or _is_ndarray(value):
        return array_stats(value).text()
    if isinstance(value, (bool, int, str)) or type(value).__module__ == "numpy" and hasattr(value, "dtype"):
        text = repr(value)
        return text if len(text) <= 200 else text[:197] + "..."
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else f"{value!r} (non-finite!)"
    if isinstance(value, type):
        return f"class {value.__module__}.{value.__qualname__}"
    if _is_torch_module(value):
        return _module_text(value)
    own = own_summary(value)
    if own is not None:
        first = own.strip().splitlines()[0] if own.strip() else type(value).__name__
        return first if len(first) <= 200 else first[:197] + "..."
    if _is_torch_optimizer(value):
        return _optimizer_text(value)
    if dataclasses.is_dataclass(value) and has_own_repr(value):
        return _one_line(repr(value))
    if depth >= MAX_DEPTH:
        return f"{type(value).__name__}(...)"
    if isinstance(value, dict) or (hasattr(value, "keys") and hasattr(value, "__getitem__")):
        keys = list(value.keys())
        shown = ", ".join(f"{k}: {summarize_text(value[k], depth=depth + 1)}" for k in keys[:MAX_ITEMS])
        more = f", ... ({len(keys)} keys)" if len(keys) > MAX_ITEMS else ""
        return "{" + shown + more + "}"
    if isinstance(value, (list, tuple)):
        open_, close = ("[", "]") if isinstance(value, list) else ("(", ")")
        if value and all(_is_tensor(v) or _is_ndarray(v) for v in value):
            return f"{len(value)} arrays: " + "; ".join(summarize_text(v, depth=depth + 1) for v in value[:MAX_ITEMS])
        shown = ", ".join(summarize_text(v, depth=depth + 1) for v in value[:MAX_ITEMS])
        more = f", ... ({len(value)} items)" if len(value) > MAX_ITEMS else ""
        return open_ + shown + more + close
    if dataclasses.is_dataclass(value):
        fields = [f.name for f in dataclasses.fields(value)]
        shown = ", ".join(f"{n}={summarize_text(getattr(value, n), depth=depth + 1)}" for n in fields[:MAX_ITEMS])
        more = ", ..." if len(fields) > MAX_ITEMS else ""
        return f"{type(value).__name__}({shown}{more})"
    if type(value).__repr__ is object.__repr__:
        return _attributes_text(value)
    return _one_line(repr(value))


def _is_torch_optimizer(value: Any) -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return False
    return isinstance(value, torch.optim.Optimizer)


def _optimizer_text(optimizer: Any) -> str:
    groups = optimizer.param_groups
    keys = ("lr", "momentum", "nesterov", "weight_decay", "betas", "amsgrad")
    settings = ", ".join(f"{k} {groups[0][k]}" for k in keys if k in groups[0])
    params = sum(int(p.numel()) for g in groups for p in g["params"])
    return tr(f"{type(optimizer).__name__} ({len(groups)} param group(s): {settings}; {params:,} parameters)",
              f"{type(optimizer).__name__}({len(groups)} 个参数组:{settings};{params:,} 个参数)")


def _attributes_text(value: Any) -> str:
    """``Class(attr=..., ...)`` from the simple public attributes of an object without its own repr."""
    simple = []
    for name, item in vars(value).items() if hasattr(value, "__dict__") else ():
        if name.startswith("_"):
            continue
        if isinstance(item, (bool, int, float, str)) or (_is_ndarray(item) and item.size <= 8):
            simple.append(f"{name}={item.tolist() if _is_ndarray(item) else item!r}")
        if len(simple) >= MAX_ITEMS:
            break
    return _one_line(f"{type(value).__name__}({', '.join(simple)})")


def summary_rows(value: Any, prefix: str = "", *, depth: int = 0) -> list[tuple[str, str]]:
    """(path, description) rows that walk into containers: the pipeline summary prints one row per leaf."""
    leaf = (_is_tensor(value) or _is_ndarray(value) or value is None or isinstance(value, (bool, int, float, str, type))
            or _is_torch_module(value) or own_summary(value) is not None
            or (dataclasses.is_dataclass(value) and has_own_repr(value)))
    own = own_summary(value) if not (_is_tensor(value) or _is_ndarray(value)) else None
    if own is not None and "\n" in own.strip():
        # a multi-line self-summary (a batch, a trainer's provenance) is shown line by line, capped
        lines = [line.rstrip() for line in own.strip().splitlines()]
        shown = [(prefix if i == 0 else "", line) for i, line in enumerate(lines[:MAX_SUMMARY_LINES])]
        if len(lines) > MAX_SUMMARY_LINES:
            shown.append(("", f"... ({len(lines) - MAX_SUMMARY_LINES} more lines)"))
        return shown
    if leaf or depth >= 2:
        return [(prefix, summarize_text(value))]
    items: list[tuple[str, Any]]
    if isinstance(value, dict):
        items = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, (list, tuple)):
        items = [(f"[{i}]", v) for i, v in enumerate(value)]
    elif dataclasses.is_dataclass(value):
        items = [(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)]
    else:
        return [(prefix, summarize_text(value))]
    if not items or len(items) > 2 * MAX_ITEMS:
        return [(prefix, summarize_text(value))]
    rows: list[tuple[str, str]] = []
    for key, item in items:
        path = f"{prefix}{key}" if key.startswith("[") or not prefix else f"{prefix}.{key}"
        rows += summary_rows(item, path, depth=depth + 1)
    return rows
