"""Which methods of one object ran, nested and in order, and which attributes each one set — like a debugger.

People learn a framework by stepping through it: ``initialize`` calls ``process_plans``, which sets
``patch_size``... :func:`trace_calls` records exactly that while ordinary code runs, without changing the
object or its class (``sys.setprofile``, the hook debuggers and profilers use)::

    with trace_calls(trainer, names={"initialize", "process_plans", ...}) as trace:
        trainer.initialize()
    print(trace.text())
    initialize  (sets: was_initialized, loss, ...)
      process_plans  (sets: batch_size, patch_size, ...)

This module knows nothing of nnU-Net: it traces any object.
"""
from __future__ import annotations

import html
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from ..language import tr


@dataclass
class Call:
    """One traced method call: its name, the class that defined the code, what it set, what it called."""

    name: str
    defined_in: str
    depth: int
    set_attributes: tuple[str, ...] = ()
    seconds: float = 0.0
    calls: list["Call"] = field(default_factory=list)

    def walk(self) -> Iterator["Call"]:
        yield self
        for child in self.calls:
            yield from child.walk()


@dataclass
class CallTrace:
    """The calls recorded by :func:`trace_calls` (top-level calls in ``calls``, nested below them)."""

    owner: str
    calls: list[Call] = field(default_factory=list)

    def flat(self) -> list[Call]:
        """Every call in the order it started."""
        return [c for top in self.calls for c in top.walk()]

    def names(self) -> list[str]:
        return [c.name for c in self.flat()]

    def find(self, name: str) -> list[Call]:
        return [c for c in self.flat() if c.name == name]

    def text(self, limit: int = 12) -> str:
        lines = []
        for c in self.flat():
            sets = list(c.set_attributes)
            shown = ", ".join(sets[:limit]) + (tr(f", ... ({len(sets)} in all)", f", ...(共 {len(sets)} 个)")
                                               if len(sets) > limit else "")
            lines.append("  " * c.depth + f"{c.name}  [{c.defined_in}]"
                         + (f"  {tr('sets: ', '设置：')}{shown}" if sets else ""))
        return "\n".join(lines)

    def summary(self) -> str:
        return tr(f"{len(self.flat())} method calls on {self.owner}",
                  f"{self.owner} 上的 {len(self.flat())} 次方法调用") + "\n" + self.text()

    def _repr_html_(self) -> str:
        rows = []
        for c in self.flat():
            sets = ", ".join(f"<code>{html.escape(a)}</code>" for a in c.set_attributes)
            rows.append(f"<tr><td style='padding-left:{1 + 1.5 * c.depth}em'><code>{html.escape(c.name)}</code></td>"
                        f"<td>{html.escape(c.defined_in)}</td><td>{sets}</td><td>{c.seconds:.3f} s</td></tr>")
        return (f"<table><tr><th>{tr('call', '调用')}</th><th>{tr('defined in', '定义于')}</th>"
                f"<th>{tr('attributes it set', '它设置的属性')}</th><th>{tr('time', '时间')}</th></tr>"
                + "".join(rows) + "</table>")


def _snapshot(obj: Any) -> dict[str, int]:
    return {k: id(v) for k, v in vars(obj).items()}


@contextmanager
def trace_calls(obj: Any, names: Iterable[str], *, max_depth: int = 8) -> Iterator[CallTrace]:
    """Record calls of ``obj``'s methods named in ``names`` made in this thread while the block runs.

    A call counts when a Python frame runs a function of one of those names with ``self`` being ``obj``. For
    each call the attributes of ``obj`` that are new or rebound when it returns are listed (an attribute set by
    a nested traced call is listed there, not again in its caller). The hook runs for every Python call in the
    block, so keep traced blocks short (initialization, not a long training).
    """
    wanted = frozenset(names)
    trace = CallTrace(type(obj).__name__)
    stack: list[tuple[Any, Call, dict[str, int], float]] = []
    previous = sys.getprofile()
    me = threading.get_ident()
    owners: dict[Any, str | None] = {}  # code object -> the class of obj's MRO that defines it (None: not a method)

    def profiler(frame: Any, event: str, arg: Any) -> None:
        if event not in ("call", "return"):
            return
        code = frame.f_code
        if code.co_name not in wanted or threading.get_ident() != me:
            return
        if not code.co_varnames or frame.f_locals.get(code.co_varnames[0]) is not obj:
            return
        if code not in owners:
            owners[code] = _defining_class(obj, code)
        owner = owners[code]
        if owner is None:  # a function that merely takes obj as its first argument
            return
        if event == "call":
            if len(stack) >= max_depth:
                return
            call = Call(code.co_name, owner, len(stack))
            (stack[-1][1].calls if stack else trace.calls).append(call)
            stack.append((frame, call, _snapshot(obj), time.perf_counter()))
        elif stack and stack[-1][0] is frame:
            _, call, before, start = stack.pop()
            after = _snapshot(obj)
            changed = [k for k, v in after.items() if before.get(k) != v and not k.startswith("_")]
            nested = {a for child in call.calls for c in child.walk() for a in c.set_attributes}
            call.set_attributes = tuple(k for k in changed if k not in nested)
            call.seconds = time.perf_counter() - start

    sys.setprofile(profiler)
    try:
        yield trace
    finally:
        sys.setprofile(previous)


def _defining_class(obj: Any, code: Any) -> str | None:
    for cls in type(obj).__mro__:
        fn = vars(cls).get(code.co_name)
        if getattr(fn, "__code__", None) is code:
            return cls.__name__
    return None


__all__ = ["Call", "CallTrace", "trace_calls"]
