"""Record which nnU-Net v1 object a piece of the explorer mirrors.

Every function or class that re-implements a v1 object carries ``@mirrors("module:qualname")``. Steps show
that reference, with a link to the line of the v1.7.1 source, in their cards, so a learner can read both side
by side. The line numbers come from ``v1_lines.json`` (next to this module), generated from v1.7.1's sdist by
``scripts/v1_lines.py`` — nnU-Net itself is not needed at run time.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, TypeVar

V1_SOURCE_ROOT = "https://github.com/MIC-DKFZ/nnUNet/blob/v1.7.1/"

T = TypeVar("T")


@dataclass(frozen=True)
class V1Reference:
    """A pointer into nnU-Net v1.7.1, e.g. ``nnunet.run.default_configuration:get_default_configuration``."""

    module: str
    qualname: str

    @property
    def dotted(self) -> str:
        return f"{self.module}.{self.qualname}"

    @property
    def line(self) -> int | None:
        """Line of the object's ``def`` / ``class`` (or first assignment) in v1.7.1's source, if known."""
        return v1_line_table()["lines"].get(f"{self.module}:{self.qualname}")

    @property
    def url(self) -> str:
        """Link to the mirrored object in the v1.7.1 tag: its file, and ``#L<line>`` where the line is known."""
        files = v1_line_table()["files"]
        path = files.get(self.module, self.module.replace(".", "/") + ".py")
        line = self.line
        return V1_SOURCE_ROOT + path + (f"#L{line}" if line else "")

    def __str__(self) -> str:
        return self.dotted


@lru_cache(maxsize=1)
def v1_line_table() -> dict:
    """``{"nnunet_version", "files": {module: path}, "lines": {"module:qualname": line}}`` (see module doc)."""
    path = Path(__file__).with_name("v1_lines.json")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:  # a source checkout without the generated file: links go to files only
        return {"nnunet_version": None, "files": {}, "lines": {}}


def parse_reference(ref: str) -> V1Reference:
    """Split ``"package.module:Qual.name"`` into a :class:`V1Reference`."""
    if ":" not in ref:
        raise ValueError(f"v1 reference {ref!r} must look like 'nnunet.module:Name'")
    module, qualname = ref.split(":", 1)
    return V1Reference(module, qualname)


def mirrors(ref: str) -> Callable[[T], T]:
    """Decorator: mark a function or class as the explorer's version of the v1 object ``ref``."""
    reference = parse_reference(ref)

    def mark(obj: T) -> T:
        obj.__nnunet_v1__ = reference  # type: ignore[attr-defined]
        return obj

    return mark


def v1_reference_of(obj: object) -> V1Reference | None:
    """The v1 object ``obj`` mirrors, or None."""
    return getattr(obj, "__nnunet_v1__", None)


def declared_v1_reference(cls: type) -> V1Reference | None:
    """The v1 class ``cls`` itself mirrors, or None: a subclass inherits the mark but not the v1 identity.

    (A user's ``MyNet(SegmentationNetwork)`` is not v1's ``SegmentationNetwork``.)
    """
    return cls.__dict__.get("__nnunet_v1__")
