"""Why each planned value is what it is: the planners' decision trace, rendered as text.

The planners in :mod:`planner3d` and :mod:`planner2d` accept ``trace=`` (a plain list). While they run they
append one :class:`Decision` per rule they apply: which plans key it fills, which rule of nnU-Net v1 produced
it, from which fingerprint numbers. Nothing is re-derived afterwards, so the explanation cannot drift from
what the planner actually did. :func:`explain_trace` turns the records into sentences such as

    patch_size (3d_fullres) = [96, 160, 160] — ...: started at [512, 1018, 1018] voxels at [3.22, 1.62, 1.62] mm
    (512 along the coarsest axis, 1649 mm on every axis; ...), clipped to the median shape [128, 247, 247] ...;
    shrunk 8 times (axis 0 2 times, axis 1 3 times, ...) ... because the VRAM proxy ... exceeded the reference
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..language import in_every_language, pick, tr


@dataclass(frozen=True)
class Decision:
    """One rule applied by a planner.

    Attributes:
        planner: ``"3d"`` or ``"2d"``.
        stage: ``"3d_fullres"``, ``"3d_lowres"``, ``"2d"`` or None for values shared by all stages.
        key: the plans key (or intermediate quantity) the rule produced, e.g. ``"patch_size"``.
        rule: short name of the v1 rule, e.g. ``"anisotropy rule"``.
        value: the value produced.
        texts: the explanation, naming the numbers that went in, in each language (``{"en": ..., "zh": ...}``;
            a plain string is one text shown as it is); :attr:`text` is the one in the language in effect when it
            is read.
        inputs: those numbers, for programmatic inspection.
    """

    planner: str
    stage: str | None
    key: str
    rule: str
    value: Any
    texts: Mapping[str, str]
    inputs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.texts, str):  # one text, in whatever language it was written: shown as it is
            object.__setattr__(self, "texts", {"en": self.texts})

    @property
    def text(self) -> str:
        """The explanation in the language in effect now (a trace made in English reads in Chinese after
        ``set_language("zh")``)."""
        return pick(dict(self.texts))


def record(trace: list | None, planner: str, stage: str | None, key: str, rule: str, value: Any,
           text: Callable[[], str], **inputs: Any) -> None:
    """Append a :class:`Decision` to ``trace`` (no-op when ``trace`` is None).

    ``text`` makes the explanation (with ``tr``); it is called once per language, so the decision can be read
    in either later, and not at all when nothing is recorded.
    """
    if trace is not None:
        trace.append(Decision(planner, stage, key, rule, value, in_every_language(text), dict(inputs)))


def fmt(value: Any) -> str:
    """Short human text for numbers and arrays: ints plain, floats with 4 significant digits, lists in []."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
            return f"{v:.3g}"
        return f"{v:.4g}"
    return str(value)


#: the planners' rule names as a reader sees them; ``Decision.rule`` itself stays English (code and tests match
#: on it), and names that are code (``get_pool_and_conv_props``, ``max(patch) / patch[0] > 3``) stay as they are
RULE_NAMES = (
    {"en": "anisotropy rule (10th percentile)", "zh": "各向异性规则(第 10 百分位)"},
    {"en": "median spacing", "zh": "spacing 中位数"},
    {"en": "coarsest axis first", "zh": "最粗的轴排在最前"},
    {"en": "median shape at this spacing", "zh": "该 spacing 下的中位形状"},
    {"en": "512-voxel start, clip, pad, VRAM shrink loop", "zh": "从 512 体素起步、裁剪、填充、按显存代理量缩小"},
    {"en": "in-plane median shape, pad, VRAM shrink loop", "zh": "平面内中位形状、填充、按显存代理量缩小"},
    {"en": "VRAM headroom, 5% cap", "zh": "显存余量与 5% 上限"},
    {"en": "VRAM headroom, 5% cap (no floor)", "zh": "显存余量与 5% 上限(无下限)"},
    {"en": "low-res rule", "zh": "低分辨率规则"},
    {"en": "modality name", "zh": "按模态名称"},
    {"en": "median size reduction < 3/4", "zh": "中位尺寸缩减 < 3/4"},
)
_RULE_NAMES = {names["en"]: names for names in RULE_NAMES}


def rule_name(rule: str) -> str:
    """A decision's ``rule`` in the language in effect (unknown names, and names that are code, unchanged)."""
    names = _RULE_NAMES.get(rule)
    return pick(names) if names is not None else rule


def explain_trace(trace: Sequence[Decision], *, stage: str | None = None) -> str:
    """Render the decisions (optionally only those of one ``stage``) as one line per decision."""
    lines = []
    colon = tr(": ", "\uff1a")
    for d in trace:
        if stage is not None and d.stage not in (stage, None):
            continue
        where = f" ({d.stage})" if d.stage else ""
        lines.append(f"{d.key}{where} = {fmt(d.value)} — {rule_name(d.rule)}{colon}{d.text}")
    return "\n".join(lines)


def decisions_for(trace: Sequence[Decision], key: str, stage: str | None = None) -> list[Decision]:
    """All decisions that produced ``key`` (in ``stage`` if given)."""
    return [d for d in trace if d.key == key and (stage is None or d.stage == stage)]
