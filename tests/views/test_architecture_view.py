"""The architecture views: a tree grouped by U-Net stage and the U-shaped SVG diagram."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

pytest.importorskip("ipywidgets")

from nnunet_explorer.training.architecture import ArchitectureSummary, LayerSummary, StageSummary
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
