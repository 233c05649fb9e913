"""Teaching notes a step's card carries besides its docstring: the *why*, warnings, links to a glossary.

A card explains *how* a step works through its docstring. :class:`StepNotes` adds what a docstring is bad at:
the reasoning behind the rule (split into what the code does and why its authors chose it), pitfalls and
corrections of other material, and links to the terms a learner may not know. This module knows nothing of
what the notes say; it only holds and renders them.

A step's ``why`` is either a :class:`StepNotes` or a function returning one (see :data:`Why`). A function is
called every time a card is drawn, so notes can follow a setting chosen later (a language, for instance); a
function with a parameter receives the step's result, so notes can cite the numbers of the run they describe.

Inline markup: notes, like docstrings, may quote code RST-style as ````x````; :func:`inline_html` turns that
into ``<code>x</code>`` and :func:`inline_text` into plain ``x``.
"""
from __future__ import annotations

import html
import inspect
import re
import textwrap
from dataclasses import dataclass
from typing import Any, Callable, Union

from ..language import display_width


@dataclass(frozen=True)
class Note:
    """One paragraph of a card's notes.

    Attributes:
        kind: what the paragraph is (``"fact"``, ``"rationale"``, ``"pitfall"``, ``"erratum"`` ...); it is the
            HTML class of the element that holds it, so pages and tests can find it.
        heading: the label shown before the text (``"fact"``, ``"事实"`` ...).
        text: the paragraph; may quote code as ````x````.
    """

    kind: str
    heading: str
    text: str


@dataclass(frozen=True)
class GlossaryLink:
    """A term of the card linked to its glossary entry: shown as ``label``, pointing at ``href``."""

    label: str
    href: str
    tooltip: str = ""


@dataclass(frozen=True)
class NoteTable:
    """A table among a card's notes: one row per thing explained (a printed line, a file entry ...).

    Attributes:
        kind: what the table is; the HTML class of the element that holds it.
        heading: shown above the table (the table folds under it).
        columns: the column headers.
        rows: the cells, row by row (as many as ``columns``); the first column is shown as code.
    """

    kind: str
    heading: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class StepNotes:
    """What a card says beyond the docstring.

    Attributes:
        title: the step's title in the reader's language (shown next to the step's name).
        why: the paragraphs of the reasoning, rendered together in one element of class ``why``.
        boxes: separate boxes (pitfalls, errata), each rendered in an element of its own ``kind``.
        links: glossary terms the card uses.
        tables: tables of explanations (e.g. a printed block line by line), after the boxes.
        why_heading / links_heading: labels of the reasoning block and of the links line.
        doc: the step's explanation in the reader's language, shown instead of the function's docstring (empty:
            the docstring is shown).
    """

    title: str = ""
    why: tuple[Note, ...] = ()
    boxes: tuple[Note, ...] = ()
    links: tuple[GlossaryLink, ...] = ()
    why_heading: str = "why"
    links_heading: str = "terms"
    tables: tuple[NoteTable, ...] = ()
    doc: str = ""

    @property
    def why_text(self) -> str:
        """The reasoning as one plain-text paragraph (code quotes unwrapped)."""
        return " ".join(f"{n.heading}{_colon(n.heading)}{inline_text(n.text)}" for n in self.why)

    def text_lines(self, width: int = 110, indent: str = "") -> list[str]:
        """The notes as wrapped text lines (for text summaries)."""
        lines: list[str] = []
        for note in (*self.why, *self.boxes):
            lines += wrap(inline_text(note.text), width, f"{indent}{note.heading}{_colon(note.heading)}",
                          indent + "  ")
        for table in self.tables:
            lines.append(f"{indent}{table.heading}{_colon(table.heading).rstrip()}")
            for first, *rest in table.rows:
                lines += wrap(inline_text(" — ".join(c for c in rest if c)), width, f"{indent}  {first}: ",
                              indent + "    ")
        return lines

    def text(self) -> str:
        return "\n".join(self.text_lines())


_CJK_TEXT = re.compile("[\u3400-\u9fff]")


def _colon(heading: str) -> str:
    """The colon after a heading, in the heading's script: ``fact: `` / ``事实：``."""
    return "\uff1a" if _CJK_TEXT.search(heading) else ": "


_TOKENS = re.compile(r" +%|[\u2e80-\u9fff\uff00-\uffef\u3000-\u303f]|[^\s\u2e80-\u9fff\uff00-\uffef\u3000-\u303f]+|\s+")


_NO_LINE_START = set(",.;:!?)\u3001\u3002\uff0c\uff1b\uff1a\uff09\uff01\uff1f\u300d\u300f\u201d\u2019\u300b\u3011")


def wrap(text: str, width: int, first: str = "", rest: str = "") -> list[str]:
    """Wrap ``text`` to ``width`` display columns, for English and Chinese alike.

    :func:`textwrap.wrap` breaks only at spaces and counts characters, so a Chinese paragraph (no spaces,
    double-width characters) would be one over-long line or be cut inside an English word. Here every CJK
    character may end a line, English words are never split, and widths are display columns.
    """
    if not any("\u2e80" <= ch <= "\u9fff" for ch in text):
        return textwrap.wrap(text, width=width, initial_indent=first, subsequent_indent=rest, break_on_hyphens=False)
    lines, line = [], first
    for token in _TOKENS.findall(text):
        if token.isspace():
            token = " "
        prefix = first if not lines else rest
        mark = token.strip()[:1]
        closing = bool(mark) and (mark in _NO_LINE_START or mark == "%")  # no line starts with these
        if (display_width(line) + display_width(token) > width and line.strip() != prefix.strip()
                and not closing):
            lines.append(line.rstrip())
            line = rest + token.lstrip()
        else:
            line += token
    if line.strip():
        lines.append(line.rstrip())
    return lines


Why = Union[StepNotes, Callable[..., "StepNotes | None"], None]


def resolve_why(why: Why, result: Any = None) -> StepNotes | None:
    """The notes a step's ``why`` stands for now: the value itself, or what its function returns.

    A function that takes a parameter is given the step's ``result`` when there is one (a recorded run), so
    its notes can cite the run's own numbers; without a result (a step not run yet) it is called without.
    """
    if why is None or isinstance(why, StepNotes):
        return why
    if result is not None and _takes_an_argument(why):
        return why(result)
    return why()


def _takes_an_argument(func: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in params)


_CODE = re.compile(r"``(.+?)``", re.S)  # a quote may wrap over lines in a docstring
_ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|obj|exc):`(~?)([^`]+)`")


def _role_target(match: re.Match) -> str:
    """The shown name of a Sphinx role: ``~a.b.C`` shows ``C`` (Sphinx's convention), ``a.b.C`` all of it."""
    return match.group(2).split(".")[-1] if match.group(1) else match.group(2)


def inline_text(text: str) -> str:
    """``text`` with RST code quotes and roles unwrapped: ````x```` and ``:func:`x``` become ``x``."""
    text = _ROLE.sub(_role_target, text)
    return _CODE.sub(lambda m: m.group(1), text)


def inline_html(text: str) -> str:
    """``text`` escaped for HTML, with ````x```` (and ``:func:`x``` roles) shown as ``<code>x</code>``."""
    text = _ROLE.sub(lambda m: f"``{_role_target(m)}``", str(text))
    parts = _CODE.split(text)  # odd items are the quoted code
    return "".join(f"<code>{html.escape(p, quote=True)}</code>" if i % 2 else html.escape(p, quote=True)
                   for i, p in enumerate(parts))


def notes_html(notes: StepNotes | None) -> str:
    """The notes as HTML: one ``<div class="why">`` with the reasoning, one ``<div>`` per box, the links."""
    if notes is None:
        return ""
    esc = html.escape
    parts = []
    if notes.why:
        paragraphs = "".join(f"<p class=\"{esc(n.kind)}\"><b>{esc(n.heading)}</b>{_colon(n.heading)}"
                             f"{inline_html(n.text)}</p>" for n in notes.why)
        parts.append(f"<div class=\"why\"><b>{esc(notes.why_heading)}</b>{paragraphs}</div>")
    for box in notes.boxes:
        parts.append(f"<div class=\"{esc(box.kind)}\"><b>{esc(box.heading)}</b>{_colon(box.heading)}"
                     f"{inline_html(box.text)}</div>")
    for table in notes.tables:
        head = "".join(f"<th>{esc(c)}</th>" for c in table.columns)
        body = "".join("<tr>" + "".join(f"<td><code>{esc(c)}</code></td>" if i == 0 else f"<td>{inline_html(c)}</td>"
                                        for i, c in enumerate(row)) + "</tr>" for row in table.rows)
        parts.append(f"<details class=\"{esc(table.kind)}\" open><summary><b>{esc(table.heading)}</b></summary>"
                     f"<table><tr>{head}</tr>{body}</table></details>")
    if notes.links:
        comma = "\u3001" if _CJK_TEXT.search(notes.links_heading) else ", "
        links = comma.join(f"<a class=\"glossary\" href=\"{esc(link.href, quote=True)}\" "
                           f"title=\"{esc(link.tooltip, quote=True)}\">{esc(link.label)}</a>" for link in notes.links)
        parts.append(f"<div class=\"terms nnx-meta\">{esc(notes.links_heading)}{_colon(notes.links_heading)}"
                     f"{links}</div>")
    return "".join(parts)


__all__ = ["GlossaryLink", "Note", "NoteTable", "StepNotes", "Why", "inline_html", "inline_text", "notes_html",
           "resolve_why", "wrap"]
