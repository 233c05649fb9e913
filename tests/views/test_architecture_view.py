"""The architecture views: a tree grouped by U-Net stage and the U-shaped SVG diagram."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

pytest.importorskip("ipywidgets")

from nnunet_explorer.training.architecture import ArchitectureSummary, LayerSummary, StageSummary, layer_text
from nnunet_explorer.training.deep_supervision import ds_loss_weights
from nnunet_explorer.views.architecture_view import architecture_tree, unet_diagram, unet_diagram_svg

POOLS = [[1, 2, 2], [2, 2, 2], [2, 2, 2]]


def _summary() -> ArchitectureSummary:
    """A 3-pooling U-Net summary shaped like describe_network's output for patch 16x40x40."""
    weights = list(ds_loss_weights(POOLS))
    shapes = [(2, 32, 16, 40, 40), (2, 64, 16, 20, 20), (2, 128, 8, 10, 10), (2, 256, 4, 5, 5)]
    stages = []
    for d in range(3):
        layer = LayerSummary(f"conv_blocks_context.{d}.blocks.0", "Conv3d", None, None, shapes[d], 10 + d)
        stages.append(StageSummary("encoder", f"encoder level {d}", (f"conv_blocks_context.{d}",), d, shapes[d],
                                   100 + d, (layer,)))
    stages.append(StageSummary("bottleneck", "bottleneck (level 3)", ("conv_blocks_context.3",), 3, shapes[3], 999,
                               ()))
    for level in (2, 1, 0):
        stages.append(StageSummary("decoder", f"decoder level {level}", (f"tu.{2 - level}",), level, shapes[level],
                                   200 + level, ()))
    for i in range(3):
        out = (2, 3, *shapes[i][2:])
        stages.append(StageSummary("deep-supervision head", f"output {i} head (level {i})", (f"seg_outputs.{2 - i}",),
                                   i, out, 5, (), i, weights[i]))
    total = sum(s.params for s in stages)
    return ArchitectureSummary((2, 1, 16, 40, 40), tuple(stages), total, total,
                               tuple((2, 3, *shapes[i][2:]) for i in range(3)), None, None, None, "n/a")


def test_diagram_draws_every_stage_the_skips_and_the_weighted_heads():
    summary = _summary()
    svg = unet_diagram_svg(summary)
    root = ET.fromstring(svg)  # well-formed SVG
    ns = {"s": "http://www.w3.org/2000/svg"}
    groups = root.findall(".//s:g", ns)
    kinds = [g.get("class") for g in groups]
    assert kinds.count("nnx-stage nnx-encoder") == 3 and kinds.count("nnx-stage nnx-decoder") == 3
    assert kinds.count("nnx-stage nnx-bottleneck") == 1 and kinds.count("nnx-ds-head") == 3
    dashed = [l for l in root.findall(".//s:line", ns) if l.get("stroke-dasharray")]
    assert len(dashed) == 3  # one skip per level that has an encoder and a decoder
    weights = ds_loss_weights(POOLS)
    texts = "".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    for i, w in enumerate(weights):
        assert f"output {i}" in texts and f"weight {w:.3f}" in texts
    assert weights[-1] == 0 and "(unused)" in texts  # v1: the lowest-resolution output is not trained
    assert "16×40×40" in texts and "256 ch" in texts
    assert unet_diagram(summary)._repr_svg_() == svg


def test_tree_groups_stages_with_shapes_and_parameters():
    summary = _summary()
    tree = architecture_tree(summary)
    head, accordion = tree.children
    assert "(2, 1, 16, 40, 40)" not in head.value and "2×1×16×40×40" in head.value
    titles = accordion.titles
    assert [t.split(":")[0] for t in titles] == ["encoder", "bottleneck", "decoder", "deep-supervision head"]
    assert titles[0] == f"encoder: 3 stage(s), {100 + 101 + 102:,} params"
    encoder_titles = accordion.children[0].titles
    assert encoder_titles[1] == "encoder level 1 → 2×64×16×20×20 · 101 params"
    head_titles = accordion.children[3].titles
    assert "loss weight 0.0000" in head_titles[2]
    assert "conv_blocks_context.0.blocks.0" in accordion.children[0].children[0].value


def _deep_summary(pools: list[list[int]], patch: tuple[int, ...]) -> ArchitectureSummary:
    """A summary shaped like describe_network's for a U-Net with ``len(pools)`` poolings (KiTS19: 5)."""
    n = len(pools)
    shapes, spatial = [], list(patch)
    for d in range(n + 1):
        shapes.append((2, min(32 * 2 ** d, 320), *spatial))
        if d < n:
            spatial = [s // p for s, p in zip(spatial, pools[d])]
    weights = list(ds_loss_weights(pools))
    stages = [StageSummary("encoder", f"encoder level {d}", (f"conv_blocks_context.{d}",), d, shapes[d], 1_234_567, ())
              for d in range(n)]
    stages.append(StageSummary("bottleneck", f"bottleneck (level {n})", (f"conv_blocks_context.{n}",), n, shapes[n],
                               5_531_520, ()))
    stages += [StageSummary("decoder", f"decoder level {k}", (f"tu.{n - 1 - k}",), k, shapes[k], 12_345_678, ())
               for k in reversed(range(n))]
    stages += [StageSummary("deep-supervision head", f"output {i} head (level {i})", (f"seg_outputs.{n - 1 - i}",), i,
                            (2, 3, *shapes[i][2:]), 99, (), i, weights[i]) for i in range(n)]
    total = sum(s.params for s in stages)
    return ArchitectureSummary((2, 1, *patch), tuple(stages), total, total,
                               tuple((2, 3, *shapes[i][2:]) for i in range(n)), None, None, None, "n/a")


def _text_box(element, size: float = 11.0) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of an SVG <text>, measured with matplotlib's DejaVu Sans metrics (wider than most)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath

    bold = element.get("font-weight") == "bold"
    width = TextPath((0, 0), element.text, prop=FontProperties(family="DejaVu Sans", size=size,
                                                               weight="bold" if bold else "normal")).get_extents().width
    x, y = float(element.get("x")), float(element.get("y"))
    x0 = x - width / 2 if element.get("text-anchor") == "middle" else x
    return x0, y - 0.8 * size, x0 + width, y + 0.25 * size


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize("pools, patch", [
    ([[1, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 2], [1, 2, 2]], (80, 160, 160)),  # KiTS19's five poolings
    ([[2, 2]] * 7, (512, 512)),                                                   # a deep 2D U-Net
])
def test_diagram_labels_stay_inside_their_boxes_and_off_the_others(pools, patch):
    root = ET.fromstring(unet_diagram_svg(_deep_summary(pools, patch)))
    s = "{http://www.w3.org/2000/svg}"
    rects, inside = [], []
    for group in root.iter(f"{s}g"):
        rect = group.find(f"{s}rect")
        if rect is None:
            continue
        x, y, w, h = (float(rect.get(k)) for k in ("x", "y", "width", "height"))
        rects.append((x, y, x + w, y + h))
        inside += [(t, rects[-1]) for t in group.findall(f"{s}text")]
    assert len(rects) == 2 * len(pools) + 1
    for text, (x0, y0, x1, y1) in inside:  # every line of a box fits in the box
        t = _text_box(text)
        assert x0 < t[0] and t[2] < x1 and y0 < t[1] and t[3] < y1, (text.text, t, (x0, y0, x1, y1))
    owned = {id(t) for t, _ in inside}
    free = [t for t in root.iter(f"{s}text") if id(t) not in owned]
    skips = [t for t in free if t.text == "skip (concat)"]
    assert len(skips) == len(pools)  # one per level that has a skip
    width = float(root.get("width"))
    for text in free:  # skip labels, head labels and the title touch no box and stay on the canvas
        t = _text_box(text)
        assert not any(_overlap(t, r) for r in rects), (text.text, t)
        assert 0 <= t[0] and t[2] <= width, (text.text, t, width)


def test_tree_cells_use_the_same_chinese_as_the_text_view(monkeypatch):
    """Under zh the layer cells say 步长 / 上采样 / 无 bias, as ``ArchitectureSummary.to_text`` does."""
    summary = _summary()
    layers = (LayerSummary("tu.0", "ConvTranspose3d 2x2x2 stride 2x2x2 (upsampling, no bias)", 64, 32, None, 1),
              LayerSummary("seg_outputs.0", "Conv3d 1x1x1, no bias", 32, 3, None, 1),
              LayerSummary("conv_blocks_context.1.blocks.0",
                           "Conv3d 3x3x3 stride 2x2x2 -> InstanceNorm3d -> LeakyReLU", 32, 64, None, 1))
    stage = StageSummary("other", "other", ("x",), None, None, 3, layers)
    summary = ArchitectureSummary(summary.input_size, summary.stages + (stage,), summary.total_params,
                                  summary.trainable_params, summary.output_shapes, None, None, None, "n/a")
    monkeypatch.delenv("NNUNET_EXPLORER_LANG", raising=False)
    cells = architecture_tree(summary).children[1].children[-1].children[0].value
    assert "stride 2x2x2 (upsampling, no bias)" in cells and "Conv3d 1x1x1, no bias" in cells
    monkeypatch.setenv("NNUNET_EXPLORER_LANG", "zh")
    cells = architecture_tree(summary).children[1].children[-1].children[0].value
    assert "ConvTranspose3d 2x2x2 步长 2x2x2（上采样，无 bias）" in cells
    assert "Conv3d 1x1x1，无 bias" in cells and "Conv3d 3x3x3 步长 2x2x2 -&gt; InstanceNorm3d" in cells
    assert "stride" not in cells and "no bias" not in cells and "upsampling" not in cells
    for layer in layers:
        assert summary.to_text().count(layer_text(layer.description)) == 1
