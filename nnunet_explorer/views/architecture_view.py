"""The Generic_UNet as a collapsible tree and as a U-shaped diagram, both from ``describe_network``.

Both views read an :class:`~nnunet_explorer.training.architecture.ArchitectureSummary` (the walkthrough's
``architecture`` step), so they show the network that was actually built, with the shapes of one forward pass:

* :func:`architecture_tree` — an ipywidgets ``Accordion`` per group (encoder, bottleneck, decoder,
  deep-supervision heads); inside, one collapsible section per stage listing its conv units with kernel,
  stride, output shape ``(b, c, *spatial)`` (spatial axes in ``transpose_forward`` order) and parameter count.
* :func:`unet_diagram_svg` — the classic U: encoder levels down the left, the bottleneck at the bottom, decoder levels
  up the right, a skip connection across each level, and the deep-supervision head of every decoder level with its
  loss weight (v1: output ``i`` gets ``1/2**i``, the lowest-resolution output is set to 0, then the weights are
  normalised to sum to 1; the unused output is drawn greyed out). :class:`UNetDiagram` wraps the SVG so Jupyter
  displays it.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from ..language import tr
from ..training.architecture import group_label, layer_text, stage_label
from .widgets_common import require_ipywidgets


def _shape(shape: Any) -> str:
    return "?" if shape is None else "×".join(str(int(v)) for v in shape)


def _spatial(shape: Any) -> str:
    return "?" if shape is None or len(shape) < 3 else "×".join(str(int(v)) for v in shape[2:])


def _channels(shape: Any) -> str:
    return "?" if shape is None or len(shape) < 2 else str(int(shape[1]))


def stage_table_html(stage: Any) -> str:
    """The conv units of one stage as an HTML table (module, what it does, output shape, parameters)."""
    esc = html.escape
    rows = "".join(f"<tr><td><code>{esc(l.name)}</code></td><td>{esc(layer_text(l.description))}</td>"
                   f"<td><code>{esc(_shape(l.output_shape))}</code></td><td style='text-align:right'>{l.params:,}"
                   f"</td></tr>" for l in stage.layers)
    head = (f"<tr><th>{tr('module', '模块')}</th><th>{tr('what', '内容')}</th>"
            f"<th>{tr('output (b, c, spatial)', '输出(b, c, 空间)')}</th><th>{tr('params', '参数')}</th></tr>")
    return f"<table>{head}{rows}</table>"


def _stage_title(stage: Any) -> str:
    extra = ""
    if stage.ds_index is not None:
        weight = "?" if stage.ds_weight is None else f"{stage.ds_weight:.4f}"
        extra = tr(f" · output {stage.ds_index}, loss weight {weight}", f" · 输出 {stage.ds_index},损失权重 {weight}")
    params = tr(f"{stage.params:,} params", f"{stage.params:,} 个参数")
    return f"{stage_label(stage)} → {_shape(stage.output_shape)} · {params}{extra}"


def architecture_tree(summary: Any):
    """An ipywidgets tree: one ``Accordion`` section per group, nested sections per stage (all collapsed)."""
    widgets = require_ipywidgets()
    groups: dict[str, list[Any]] = {}
    for stage in summary.stages:
        groups.setdefault(stage.group, []).append(stage)
    by_group = summary.params_by_group()
    sections, titles = [], []
    for group, stages in groups.items():
        inner = widgets.Accordion(children=[widgets.HTML(stage_table_html(s)) for s in stages],
                                  titles=tuple(_stage_title(s) for s in stages))
        sections.append(inner)
        titles.append(tr(f"{group}: {len(stages)} stage(s), {by_group.get(group, 0):,} params",
                         f"{group_label(group)}:{len(stages)} 个阶段,{by_group.get(group, 0):,} 个参数"))
    tree = widgets.Accordion(children=sections, titles=tuple(titles))
    size = f"<code>{_shape(summary.input_size)}</code>"
    head = widgets.HTML(tr(f"<b>Generic_UNet</b> on input {size}: {summary.total_params:,} parameters; outputs "
                           "(highest resolution first): ",
                           f"<b>Generic_UNet</b>，输入 {size}：{summary.total_params:,} 个参数;输出(最高分辨率在前):")
                        + ", ".join(f"<code>{_shape(o)}</code>" for o in summary.output_shapes))
    return widgets.VBox([head, tree])


@dataclass(frozen=True)
class UNetDiagram:
    """An SVG drawing of the U-Net; Jupyter displays it, ``.svg`` is the text."""

    svg: str

    def _repr_svg_(self) -> str:
        return self.svg

    def save(self, path: str) -> None:
        from ..fileio import write_text_atomic

        write_text_atomic(path, self.svg)


def _label_width(text: str, *, bold: bool = False) -> float:
    """A generous width in pixels of ``text`` at font-size 11 sans-serif (DejaVu Sans, the widest common one)."""
    wide = sum(1 for ch in text if "\u2e80" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef")  # CJK: a full em
    return (len(text) - wide) * (7.2 if bold else 6.6) + wide * 11.5


SKIP_LABEL = "skip (concat)"


def unet_diagram_svg(summary: Any, *, box_width: int = 170, box_height: int = 46, level_gap: int = 64) -> str:
    """The U-shaped diagram as an SVG string (no JavaScript, no external fonts).

    Encoder level ``k`` sits on row ``k`` on the left, decoder level ``k`` on row ``k`` on the right, the
    bottleneck in the middle of the bottom row. Arrows: down (strided conv) on the left, up (transposed conv)
    on the right, a dashed skip from encoder ``k`` to decoder ``k``. Heads hang off the decoder boxes on the
    far right, labelled ``output i`` with the loss weight.

    Each row steps inwards by ``shift`` pixels, so the gap between encoder ``k`` and decoder ``k`` narrows with
    depth; the columns are set far enough apart that the deepest skip's label still fits between its boxes,
    centred in the gap.
    """
    enc = sorted((s for s in summary.stages if s.group == "encoder"), key=lambda s: s.level or 0)
    dec = sorted((s for s in summary.stages if s.group == "decoder"), key=lambda s: s.level or 0)
    bottleneck = next((s for s in summary.stages if s.group == "bottleneck"), None)
    heads = {}
    for h in summary.heads:
        heads[h.ds_index] = h
    levels = max([s.level or 0 for s in enc + dec] + ([bottleneck.level] if bottleneck and bottleneck.level else [0]))
    depth = levels + 1
    margin, shift, pad = 20, 18, 14
    skips = sorted({s.level or 0 for s in enc} & {s.level or 0 for s in dec})
    deepest_skip = skips[-1] if skips else 0
    # between encoder k and decoder k: gap(k) = gap(0) - 2 * shift * k; the deepest skip's label needs
    # its width plus some room on either side (the arrowhead sits at the decoder's edge)
    skip_label = tr(SKIP_LABEL, "跳跃连接(拼接)")
    gap = max(box_width + 160, int(2 * shift * deepest_skip + _label_width(skip_label) + 2 * pad))
    x_enc = margin
    x_dec = x_enc + box_width + gap
    x_mid = (x_enc + x_dec + box_width) // 2  # the centre of the U
    x_head = x_dec + box_width + 40
    head_texts = [f"{tr('weight', '权重')} {'?' if h.ds_weight is None else f'{h.ds_weight:.3f}'}"
                  f"{tr(' (unused)', '(未使用)')}" for h in heads.values()]
    title = tr(f"Generic_UNet, input {_shape(summary.input_size)}, {summary.total_params:,} params",
               f"Generic_UNet，输入 {_shape(summary.input_size)}，{summary.total_params:,} 个参数")
    width = int(max(x_head + 4 + max([_label_width(t) for t in head_texts] + [_label_width("output 00", bold=True)]),
                    margin + _label_width(title, bold=True)) + margin)
    height = margin * 2 + depth * level_gap + box_height + 30
    esc = html.escape
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
             f"font-family='sans-serif' font-size='11' class='nnx-unet-diagram'>",
             "<defs><marker id='arr' markerWidth='8' markerHeight='8' refX='7' refY='4' orient='auto'>"
             "<path d='M0,0 L8,4 L0,8 z' fill='#555'/></marker></defs>",
             f"<text x='{margin}' y='14' font-weight='bold'>{esc(title)}</text>"]

    def y_of(level: int) -> int:
        return margin + 10 + level * level_gap

    def box(x: int, y: int, stage: Any, fill: str, kind: str) -> None:
        params = tr(f"{stage.params:,} params", f"{stage.params:,} 个参数")
        title = esc(f"{stage_label(stage)}: {_shape(stage.output_shape)}, {params}")
        parts.append(f"<g class='nnx-stage nnx-{kind}'><title>{title}</title>"
                     f"<rect x='{x}' y='{y}' width='{box_width}' height='{box_height}' rx='6' fill='{fill}' "
                     f"stroke='#333'/>"
                     f"<text x='{x + 6}' y='{y + 15}' font-weight='bold'>{esc(stage_label(stage))}</text>"
                     f"<text x='{x + 6}' y='{y + 29}'>{esc(_channels(stage.output_shape))} {tr('ch', '通道')} · "
                     f"{esc(_spatial(stage.output_shape))}</text>"
                     f"<text x='{x + 6}' y='{y + 42}' fill='#444'>{esc(params)}</text></g>")

    def arrow(x1: float, y1: float, x2: float, y2: float, dashed: bool = False) -> None:
        dash = " stroke-dasharray='5,4'" if dashed else ""
        parts.append(f"<line x1='{x1}' y1='{y1}' x2='{x2}' y2='{y2}' stroke='#555'{dash} marker-end='url(#arr)'/>")

    for s in enc:
        box(x_enc + (s.level or 0) * shift, y_of(s.level or 0), s, "#dbe9f6", "encoder")
    for s in dec:
        box(x_dec - (s.level or 0) * shift, y_of(s.level or 0), s, "#f6e3d1", "decoder")
    if bottleneck is not None:
        box(x_mid - box_width // 2, y_of(levels), bottleneck, "#e2d8ef", "bottleneck")
    # down arrows (encoder k -> k+1, last -> bottleneck), up arrows (bottleneck -> decoder last, k+1 -> k)
    enc_by_level = {s.level: s for s in enc}
    dec_by_level = {s.level: s for s in dec}
    for k in range(levels):
        if k in enc_by_level:
            x1 = x_enc + k * shift + box_width // 2
            if k + 1 in enc_by_level:
                arrow(x1, y_of(k) + box_height, x1 + shift, y_of(k + 1) - 2)
            elif bottleneck is not None:
                arrow(x1, y_of(k) + box_height, x_mid - box_width // 2, y_of(levels) + box_height // 2)
        if k in dec_by_level:
            x2 = x_dec - k * shift + box_width // 2
            if k + 1 in dec_by_level:
                arrow(x2 - shift, y_of(k + 1), x2, y_of(k) + box_height + 2)
            elif bottleneck is not None:
                arrow(x_mid + box_width // 2, y_of(levels) + box_height // 2, x2, y_of(k) + box_height + 2)
        if k in enc_by_level and k in dec_by_level:  # skip connection across, its label centred in the gap
            left, right = x_enc + k * shift + box_width, x_dec - k * shift
            arrow(left, y_of(k) + box_height // 2, right - 2, y_of(k) + box_height // 2, dashed=True)
            parts.append(f"<text class='nnx-skip-label' x='{(left + right) // 2}' y='{y_of(k) + box_height // 2 - 4}' "
                         f"text-anchor='middle' fill='#555'>{esc(skip_label)}</text>")
    # deep-supervision heads: output i belongs to decoder level i (output 0 = full resolution)
    for index, head in sorted(heads.items()):
        level = index if index in dec_by_level else None
        if level is None:
            continue
        weight = head.ds_weight
        used = weight is not None and weight > 0
        colour = "#2a7" if used else "#aaa"
        y = y_of(level) + box_height // 2
        x_from = x_dec - level * shift + box_width
        parts.append(f"<g class='nnx-ds-head'><title>{esc(stage_label(head))}: {esc(_shape(head.output_shape))}"
                     "</title>"
                     f"<line x1='{x_from}' y1='{y}' x2='{x_head}' y2='{y}' stroke='{colour}' "
                     f"marker-end='url(#arr)'/>"
                     f"<text x='{x_head + 4}' y='{y - 2}' fill='{colour}' font-weight='bold'>"
                     f"{tr('output', '输出')} {index}</text>"
                     f"<text x='{x_head + 4}' y='{y + 12}' fill='{colour}'>{tr('weight', '权重')} "
                     f"{'?' if weight is None else f'{weight:.3f}'}{'' if used else tr(' (unused)', '(未使用)')}"
                     "</text></g>")
    parts.append("</svg>")
    return "".join(parts)


def unet_diagram(summary: Any, **kwargs: Any) -> UNetDiagram:
    """:func:`unet_diagram_svg` wrapped for display in Jupyter."""
    return UNetDiagram(unet_diagram_svg(summary, **kwargs))


__all__ = ["UNetDiagram", "architecture_tree", "stage_table_html", "unet_diagram", "unet_diagram_svg"]
