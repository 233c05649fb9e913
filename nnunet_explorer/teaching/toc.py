"""The report's table of contents: the steps in ``run_training.py``'s order, mapped to the seed blog's headings.

The seed blog walks through ``python nnunet/run/run_training.py 3d_fullres nnUNetTrainerV2 40 1`` in sections
3 to 7; :data:`BLOG_SECTIONS` names them and every :class:`~nnunet_explorer.teaching.why.WhyEntry` says which
section its step belongs to, so a reader of the blog finds their section's steps.
"""
from __future__ import annotations

import html
from typing import Any

from .language import get_language, pick
from .why import WHY

BLOG_SECTIONS: dict[str, dict[str, str]] = {
    "3": {"en": "3 设置训练参数 (the training arguments)", "zh": "3 设置训练参数"},
    "4": {"en": "4 get_default_configuration", "zh": "4 get_default_configuration"},
    "5": {"en": "5 trainer / initialize", "zh": "5 trainer / initialize"},
    "6": {"en": "6 Generic_UNet", "zh": "6 Generic_UNet"},
    "7": {"en": "7 训练过程 (the training process)", "zh": "7 训练过程"},
    "beyond": {"en": "beyond the blog (nnUNet_predict)", "zh": "原博客之外(nnUNet_predict)"},
}
_HEAD = {"en": ("Contents (in run_training.py's order)", "step", "title", "v1 call", "blog section", "not run"),
         "zh": ("目录（按 run_training.py 的执行顺序）", "步骤", "标题", "v1 调用", "原博客章节", "未运行")}


def toc_rows(step_names: list[str] | tuple[str, ...], language: str | None = None) -> list[tuple[str, str, str, str]]:
    """(step, title, v1 call, blog section) for every step, in the given (pipeline) order."""
    lang = language or get_language()
    rows = []
    for name in step_names:
        entry = WHY.get(name)
        if entry is None:
            rows.append((name, "", "", ""))
            continue
        section = BLOG_SECTIONS.get(entry.blog)
        rows.append((name, pick(entry.title, lang), entry.v1_call, pick(section, lang) if section else ""))
    return rows


def toc_html(pipeline: Any, language: str | None = None) -> str:
    """The table of contents of a pipeline's report: every step linked to its card (``#step-<name>``)."""
    lang = language or get_language()
    caption, c_step, c_title, c_v1, c_blog, c_pending = _HEAD[lang]
    ran = set(getattr(pipeline, "results", {}))
    body = []
    previous = None
    for i, (name, title, v1_call, blog) in enumerate(toc_rows(pipeline.step_names, lang), 1):
        blog_cell = html.escape(blog) if blog != previous else ""  # the heading once per run of steps
        previous = blog
        pending = "" if name in ran else f" <span class='nnx-meta'>({c_pending})</span>"
        body.append(f"<tr><td>{blog_cell}</td><td>{i}</td><td><a href='#step-{html.escape(name)}'>"
                    f"<code>{html.escape(name)}</code></a>{pending}</td><td>{html.escape(title)}</td>"
                    f"<td><code>{html.escape(v1_call)}</code></td></tr>")
    head = f"<tr><th>{c_blog}</th><th>#</th><th>{c_step}</th><th>{c_title}</th><th>{c_v1}</th></tr>"
    return (f"<nav class='toc'><h2>{html.escape(caption)}</h2><table class='nnx-toc'>{head}{''.join(body)}"
            f"</table></nav>")


__all__ = ["BLOG_SECTIONS", "toc_html", "toc_rows"]
