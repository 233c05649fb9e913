"""Plain-HTML cards for step results and whole pipelines (no JavaScript: ``<details>`` folds).

Notebooks call ``_repr_html_``; ``nnunet-explorer train --report FILE.html`` writes :func:`report_page`.
Every piece of text coming from a step (docstrings, parameter values, error messages) is escaped.
"""
from __future__ import annotations

import dataclasses
import html
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ..language import tr
from .notes import inline_html, notes_html
from .summary import _is_ndarray, _is_tensor, _is_torch_module, array_stats, own_summary, summarize_text

if TYPE_CHECKING:  # pragma: no cover
    from .step import StepResult

STYLE = """
.nnx-card{border:1px solid #ccc;border-left:5px solid #3a7;border-radius:4px;margin:6px 0;padding:4px 8px;
  font-family:system-ui,sans-serif;font-size:13px;background:#fff;color:#222}
.nnx-card.nnx-failed{border-left-color:#c33;background:#fff6f6}
.nnx-card.nnx-pending{border-left-color:#aaa;color:#777}
.nnx-card summary{cursor:pointer}
.nnx-card .nnx-doc{white-space:pre-wrap;font-size:12px;color:#333;margin:4px 0 6px 0}
.nnx-card table{border-collapse:collapse;margin:4px 0}
.nnx-card td,.nnx-card th{border:1px solid #ddd;padding:1px 6px;text-align:left;vertical-align:top;font-size:12px}
.nnx-card code,.nnx-card pre{font-family:ui-monospace,monospace;font-size:12px}
.nnx-card pre{white-space:pre-wrap;margin:2px 0}
.nnx-meta{color:#666;font-size:12px}
.nnx-error{color:#a00}
.nnx-card .why{background:#f3f8f4;border-left:3px solid #3a7;padding:2px 8px;margin:4px 0}
.nnx-card .why p{margin:3px 0}
.nnx-card .pitfall,.nnx-card .erratum{background:#fff8e6;border-left:3px solid #d90;padding:3px 8px;margin:4px 0}
.nnx-card .erratum{background:#fdeeee;border-left-color:#c55}
.nnx-card div.plans-check,.nnx-card div.blog,.nnx-card div.debug-json{background:#eef4fb;border-left:3px solid #47a;
  padding:3px 8px;margin:4px 0}
"""

MAX_EMBED_CHARS = 200_000


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _embedded_html(value: Any) -> str | None:
    method = getattr(value, "_repr_html_", None)
    if method is None or isinstance(value, type) or not callable(method):
        return None
    try:
        text = method()
    except Exception:  # an object whose own HTML fails is shown by its text summary instead
        return None
    if not isinstance(text, str) or len(text) > MAX_EMBED_CHARS:
        return None
    return text


def value_html(value: Any, *, depth: int = 0) -> str:
    """HTML for one value: its own ``_repr_html_`` if it has one, a table for containers, else a summary."""
    if _is_tensor(value) or _is_ndarray(value):
        return f"<code>{esc(array_stats(value).text())}</code>"
    embedded = _embedded_html(value)
    if embedded is not None:
        return embedded
    if _is_torch_module(value):
        text = repr(value)
        return (f"<details><summary><code>{esc(summarize_text(value))}</code></summary>"
                f"<pre>{esc(text[:MAX_EMBED_CHARS])}</pre></details>")
    own = own_summary(value)
    if own is not None:
        return f"<pre>{esc(own)}</pre>"
    if depth < 2:
        rows: list[tuple[str, Any]] | None = None
        labels: dict[str, tuple[str, str]] = {}  # a dataclass's FIELD_LABELS: field -> (English, Chinese)
        if isinstance(value, dict) and 0 < len(value) <= 60:
            rows = [(str(k), v) for k, v in value.items()]
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            rows = [(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)]
            labels = getattr(type(value), "FIELD_LABELS", None) or {}
        elif isinstance(value, (list, tuple)) and 0 < len(value) <= 30 and any(
                _is_tensor(v) or _is_ndarray(v) or isinstance(v, (dict, list, tuple)) for v in value):
            rows = [(f"[{i}]", v) for i, v in enumerate(value)]
        if rows is not None:
            body = "".join(f"<tr><td><code>{esc(k)}</code>"
                           + (f"<br><span class='nnx-meta'>{esc(tr(*labels[k]))}</span>" if k in labels else "")
                           + f"</td><td>{value_html(v, depth=depth + 1)}</td></tr>" for k, v in rows)
            caption = f"<div class='nnx-meta'>{esc(type(value).__name__)}</div>"
            return f"{caption}<table>{body}</table>"
    return f"<code>{esc(summarize_text(value))}</code>"


def params_table(params: dict[str, Any] | Any) -> str:
    if not params:
        return f"<span class='nnx-meta'>{tr('no parameters', '无参数')}</span>"
    rows = "".join(f"<tr><td><code>{esc(k)}</code></td><td><code>{esc(summarize_text(v))}</code></td></tr>"
                   for k, v in params.items())
    return f"<table><tr><th>{tr('parameter', '参数')}</th><th>{tr('value', '值')}</th></tr>{rows}</table>"


def v1_link(result: "StepResult") -> str:
    if result.v1 is None:
        only = tr("explorer-only step (no v1 counterpart)", "explorer 独有的步骤(v1 中没有对应)")
        return f"<span class='nnx-meta'>{only}</span>"
    mirrors = tr("mirrors nnU-Net v1.7.1", "对应 nnU-Net v1.7.1 的")
    return (f"<span class='nnx-meta'>{mirrors} <a href='{esc(result.v1.url)}'>"
            f"<code>{esc(result.v1.dotted)}</code></a></span>")


def step_card(result: "StepResult", *, open_: bool = False) -> str:
    """One step result as a card: title line, docstring, v1 link, parameters, inputs, output or error."""
    status = "ok" if result.ok else "failed"
    mark = "&#10003;" if result.ok else "&#10007;"
    why = esc(tr("the explorer seeds before this step so that running it again repeats it; v1 itself seeds only "
                 "with --deterministic", "explorer 在这一步之前设定种子,这样重跑会得到同样的结果;v1 自己只在 "
                 "--deterministic 时设定种子"))
    seed = (f" · <span title='{why}'>{tr('explorer seed', 'explorer 种子')} {result.seed}</span>"
            if result.seed is not None else "")
    notes = result.notes
    doc = notes.doc if notes is not None and notes.doc else result.doc  # the docstring, or its translation
    first = doc.splitlines()[0] if doc else ""
    title = f" · {esc(notes.title)}" if notes is not None and notes.title else ""
    head = (f"<summary><b>{esc(result.name)}</b>{title} {mark} <span class='nnx-meta'>{result.seconds:.3f} s{seed}"
            f"</span> — {inline_html(first)}</summary>")
    body = "\n".join(doc.splitlines()[1:]).strip()  # the first line is already in the title line
    parts = [f"<div class='nnx-doc'>{inline_html(body)}</div>" if body else "", notes_html(notes), v1_link(result),
             f"<div><b>{tr('parameters', '参数')}</b>", params_table(dict(result.params)), "</div>"]
    if result.inputs:
        inputs = ", ".join(f"<code>{esc(k)}</code>" for k in result.inputs)
        parts.append(f"<div><b>{tr('inputs', '输入')}</b>{tr(': ', '：')}{inputs}</div>")
    if result.ok:
        parts.append(figures_html(result))
        if result.look is not None:
            parts.append(f"<div class='nnx-look'>{value_html(result.look)}</div>")
        parts.append(f"<div><b>{tr('output', '输出')}</b>{tr(': ', '：')}{value_html(result.output)}</div>")
    else:
        err = result.error
        parts.append(f"<div class='nnx-error'><b>{tr('error', '错误')}</b>{tr(': ', '：')}<pre>{esc(err)}</pre></div>")
        parts.append(f"<details><summary>{tr('traceback', '调用栈')}</summary>"
                     f"<pre>{esc(err.traceback)}</pre></details>")
        parts.append(f"<details><summary>{tr('inputs it received', '它收到的输入')}</summary><table>" + "".join(
            f"<tr><td><code>{esc(k)}</code></td><td>{value_html(v, depth=1)}</td></tr>"
            for k, v in result.inputs.items()) + "</table></details>")
    opened = " open" if open_ or not result.ok else ""
    return (f"<style>{STYLE}</style><div class='nnx-card nnx-{status}' id='step-{esc(result.name)}'>"
            f"<details{opened}>{head}"
            f"{''.join(parts)}</details></div>")


# Who draws pictures for a card: functions ``(StepResult) -> list of <img>/<svg> strings``. explore/ knows
# nothing of nnU-Net or of plotting; the views package registers its drawer (views/report_figures.py) when any of
# its modules is imported, which the command line, the notebooks and the widgets do.
FIGURE_PROVIDERS: list[Callable[["StepResult"], list[str]]] = []


def register_figure_provider(provider: Callable[["StepResult"], list[str]]) -> None:
    """Add ``provider`` to the functions that draw pictures into step cards (once per function)."""
    if provider not in FIGURE_PROVIDERS:
        FIGURE_PROVIDERS.append(provider)


def figures_html(result: "StepResult") -> str:
    """The step's pictures (U diagram, batch slices, curves) from the registered figure providers."""
    images: list[str] = []
    for provider in FIGURE_PROVIDERS:
        try:
            images += provider(result)
        except Exception:  # noqa: BLE001 - a picture that cannot be drawn must not cost the learner the card
            continue
    return f"<div class='nnx-figures'>{''.join(images)}</div>" if images else ""


def pending_card(name: str, doc: str, notes: Any = None) -> str:
    doc = getattr(notes, "doc", "") or doc  # the docstring, or its translation
    first = doc.splitlines()[0] if doc else ""
    title = f" · {esc(notes.title)}" if notes is not None and getattr(notes, "title", "") else ""
    return (f"<div class='nnx-card nnx-pending' id='step-{esc(name)}'><b>{esc(name)}</b>{title} "
            f"<span class='nnx-meta'>{tr('not run', '未运行')}</span> — {inline_html(first)}</div>")


def report_page(title: str, cards: Iterable[str], intro: str = "", *, before: str = "", after: str = "",
                lang: str = "en") -> str:
    """A standalone HTML page (UTF-8, inline CSS, no scripts) holding the given cards.

    ``before`` (e.g. a table of contents) and ``after`` (e.g. a glossary) are HTML placed around the cards.
    """
    body = "\n".join(cards)
    intro_html = f"<pre class='nnx-meta'>{esc(intro)}</pre>" if intro else ""
    return (f"<!DOCTYPE html>\n<html lang='{esc(lang)}'><head><meta charset='utf-8'><title>{esc(title)}</title>"
            f"<style>{STYLE} body{{max-width:1100px;margin:1em auto;font-family:system-ui,sans-serif}}</style>"
            f"</head><body><h1>{esc(title)}</h1>{intro_html}\n{before}\n{body}\n{after}\n</body></html>\n")
