"""The HTML page of ``check_dataset``: the findings, and a picture of every flagged case.

Each picture is one slice across z through the middle of the label's extent, the image in grey and the label
in colour over it (beside it when their shapes differ, since then no overlay is honest). The pictures are
PNGs built with ``matplotlib.figure.Figure`` on the Agg canvas (no pyplot) and inlined as base64, so the page
is one self-contained file.
"""
from __future__ import annotations

import base64
import html
import io

import numpy as np

from ..dataset_check import DatasetCheck, Finding, Thumbnail
from ..language import severity_word, tr
from .report_figures import drawn, picture_fonts

_COLOURS = {"error": "#c62828", "warning": "#ef6c00", "info": "#546e7a"}


def thumbnail_png(thumb: Thumbnail, title: str = "") -> bytes:
    """PNG bytes of the slice: image in grey, label overlaid (or beside it) in a qualitative colour map."""
    with picture_fonts():
        return _thumbnail_png(thumb, title)


def _thumbnail_png(thumb: Thumbnail, title: str) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = 2 if thumb.label_beside else 1
    fig = Figure(figsize=(2.6 * panels, 2.8), dpi=80)
    FigureCanvasAgg(fig)
    image = thumb.image
    finite = image[np.isfinite(image)]
    lo, hi = (np.percentile(finite, (0.5, 99.5)) if finite.size else (0.0, 1.0))
    axes = [fig.add_subplot(1, panels, i + 1) for i in range(panels)]
    axes[0].imshow(image, cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1, aspect=thumb.aspect,
                   interpolation="nearest")
    if thumb.label is not None:
        target = axes[1] if thumb.label_beside else axes[0]
        label = np.ma.masked_where(thumb.label <= 0, thumb.label)
        target.imshow(label, cmap="tab10", vmin=0, vmax=9, alpha=1.0 if thumb.label_beside else 0.45,
                      aspect=thumb.aspect, interpolation="nearest")
        if thumb.label_beside:
            target.set_title(drawn("label (other shape)", "标签（形状不同）"), fontsize=8)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].set_title(title or f"slice z={thumb.index}", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _finding_rows(findings: list[Finding]) -> str:
    rows = []
    for f in findings:
        colour = _COLOURS.get(f.severity, "#000")
        rows.append(f"<tr><td style='color:{colour};font-weight:bold'>{html.escape(severity_word(f.severity))}</td>"
                    f"<td><code>{html.escape(f.check)}</code></td><td>{html.escape(f.message)}</td></tr>")
    headers = "".join(f"<th>{h}</th>" for h in (tr("severity", "级别"), tr("check", "检查项"), tr("finding", "发现")))
    return f"<table class='findings'><tr>{headers}</tr>" + "".join(rows) + "</table>"


def render_dataset_report(check: DatasetCheck) -> str:
    """The whole page as a string (write it with :func:`nnunet_explorer.fileio.write_text_atomic`)."""
    counts = check.counts
    cases, flagged = len(check.cases), len(check.flagged_cases)
    errors, warnings, infos = counts["error"], counts["warning"], counts["info"]
    parts = [
        f"<!DOCTYPE html><html lang='{tr('en', 'zh-CN')}'><head><meta charset='utf-8'>",
        f"<title>check_dataset {html.escape(check.task_name)}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}table.findings{border-collapse:collapse;"
        "width:100%}table.findings td,table.findings th{border-bottom:1px solid #ddd;padding:3px 6px;"
        "text-align:left;vertical-align:top;font-size:13px}.case{display:flex;gap:16px;margin:14px 0;"
        "border-top:2px solid #eee;padding-top:8px}.case img{flex:none}</style></head><body>",
        f"<h1>check_dataset {html.escape(check.task_name)}</h1>",
        "<p>" + tr(f"{cases} case(s), {flagged} flagged; {errors} error(s), {warnings} warning(s), {infos} info. "
                   "Raw folder: ",
                   f"{cases} 个病例，{flagged} 个被标记；{errors} 个错误，{warnings} 个警告，{infos} 条提示。"
                   "原始数据文件夹：") + f"<code>{html.escape(str(check.raw_dir))}</code></p>",
        f"<h2>{tr('Dataset', '数据集')}</h2>",
        _finding_rows(check.dataset) if check.dataset else f"<p>{tr('nothing to report', '没有需要报告的')}</p>",
        f"<h2>{tr('Flagged cases', '被标记的病例')}</h2>",
        "<p>" + tr("Each picture is one slice across z (through the middle of the label; for a cut-short image, "
                   "where its data stop), image in grey, label in colour, drawn voxel by voxel as nnU-Net pairs "
                   "them: a header-only mismatch (origin, direction) looks aligned here, which is why v1's "
                   "preprocessing and training do not notice it (only --verify_dataset_integrity compares the "
                   "headers).",
                   "每张图是沿 z 的一层（穿过标签的中间；对被截断的图像，取数据结束处），图像为灰色，标签为彩色，"
                   "按 nnU-Net 配对的方式逐个体素绘制：只在文件头上的不一致（origin、direction）在这里看起来是对齐的，"
                   "这正是 v1 的预处理和训练察觉不到它的原因（只有 --verify_dataset_integrity 会比较文件头）。")
        + "</p>",
    ]
    if not check.flagged_cases:
        parts.append(f"<p>{tr('no case has a finding', '没有病例有发现')}</p>")
    parts += [_case_block(check, case, check.cases[case]) for case in check.flagged_cases]
    if check.flagged_test_cases:
        parts.append(f"<h2>{tr('Flagged test cases (imagesTs)', '被标记的测试病例（imagesTs）')}</h2>")
        parts += [_case_block(check, case, check.test_cases[case]) for case in check.flagged_test_cases]
    clean = [c for c, fs in check.cases.items() if not fs]
    parts.append(f"<h2>{tr(f'Clean training cases ({len(clean)})', f'没有问题的训练病例（{len(clean)}）')}</h2>"
                 f"<p>{html.escape(', '.join(clean)) or tr('(none)', '（无）')}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _case_block(check: DatasetCheck, case: str, findings: list[Finding]) -> str:
    thumb = check.thumbnails.get(case)
    if thumb is not None:
        png = base64.b64encode(thumbnail_png(thumb, f"{case} z={thumb.index}")).decode("ascii")
        picture = f"<img alt='{html.escape(case)}' src='data:image/png;base64,{png}'>"
    else:
        picture = f"<p><i>{tr('no picture: the image file cannot be read', '没有图：图像文件读不了')}</i></p>"
    return (f"<div class='case' id='{html.escape(case)}'>{picture}<div><h3>{html.escape(case)}</h3>"
            f"{_finding_rows(findings)}</div></div>")
