"""Batch, augmentation, deep-supervision and inference browsers: figures and redraws on control changes."""
from __future__ import annotations

import base64
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("ipywidgets")

from nnunet_explorer.training.dataloading import is_forced_foreground
from nnunet_explorer.views.browsers import (AugmentationBrowser, BatchBrowser, DeepSupervisionView, InferenceView,
                                            _scaled_index, error_map, plot_deep_supervision)


def _png(output) -> bytes:
    assert len(output.outputs) == 1
    return base64.b64decode(output.outputs[0]["data"]["image/png"])


def test_error_map_separates_false_positives_negatives_and_wrong_classes():
    truth = np.array([[0, 0, 1, 1, 2]])
    pred = np.array([[0, 1, 0, 1, 1]])
    assert error_map(pred, truth).tolist() == [[0, 1, 2, 0, 3]]


def test_slice_of_a_downsampled_volume_matches_the_full_resolution_slice():
    # 16 slices downsampled by 2: full slices 0,1 -> 0; 14,15 -> 7 (voxel centres)
    assert [_scaled_index(i, 16, 8) for i in (0, 1, 2, 14, 15)] == [0, 0, 1, 7, 7]
    assert _scaled_index(5, 16, 16) == 5 and _scaled_index(None, 16, 8) is None


def test_batch_browser_redraws_when_sample_or_slice_changes():
    rng = np.random.default_rng(0)
    data = rng.normal(size=(3, 2, 6, 8, 8)).astype(np.float32)
    seg = rng.integers(-1, 3, size=(3, 1, 6, 8, 8))
    browser = BatchBrowser(data=data, seg=seg, keys=["case_a", "case_b", "case_c"])
    assert browser.draw_count == 1 and _png(browser.output)[:4] == b"\x89PNG"
    assert browser.slice.max == 5 and browser.slice.value == 3
    browser.sample.value = 2
    browser.slice.value = 0
    assert browser.draw_count == 3
    fig = browser.figure()
    titles = [ax.get_title() for ax in fig.axes]
    assert len(titles) == 2 and "case_c" in titles[0]
    forced = "forced foreground" if is_forced_foreground(2, 3, 0.33) else "random"
    assert forced in titles[0]


def test_batch_browser_titles_follow_the_loaders_record():
    """A trainer may change oversample_foreground_percent: the titles follow the batch's ``forced`` record."""
    from types import SimpleNamespace

    rng = np.random.default_rng(0)
    data = rng.normal(size=(3, 1, 4, 8, 8)).astype(np.float32)
    seg = rng.integers(0, 3, size=(3, 1, 4, 8, 8))
    batch = SimpleNamespace(data=data, target=(seg,), keys=("a", "b", "c"), forced=(True, False, False))
    browser = BatchBrowser(batch)
    titles = [[ax.get_title() for ax in browser.figure().axes][0]]
    browser.sample.value = 2  # V2's rule would call sample 2 forced
    titles.append([ax.get_title() for ax in browser.figure().axes][0])
    assert "forced foreground" in titles[0] and "random" in titles[1]


def test_deep_supervision_figure_has_an_output_and_a_target_per_level():
    outputs = [np.zeros((2, 3, 8, 16, 16)), np.zeros((2, 3, 8, 8, 8)), np.zeros((2, 3, 4, 4, 4))]
    targets = [np.zeros((2, 1, 8, 16, 16)), np.zeros((2, 1, 8, 8, 8)), np.zeros((2, 1, 4, 4, 4))]
    fig = plot_deep_supervision(outputs, targets, weights=[4 / 7, 2 / 7, 0.0])
    titles = [ax.get_title() for ax in fig.axes]
    assert len(titles) == 6 and "weight 0.000" in titles[2] and titles[3] == "target 0"
    view = DeepSupervisionView(outputs, targets)
    view.slice.value = 7
    assert view.draw_count == 2


def test_augmentation_browser_shows_before_and_after_each_transform():
    base = np.zeros((1, 6, 8, 8), np.float32)
    steps = tuple(SimpleNamespace(index=i, name=name, fired=fired, params=params, data=base + i,
                                  seg=np.zeros((6, 8, 8)))
                  for i, (name, fired, params) in enumerate([("SpatialTransform", True, {"angle_x": 0.2}),
                                                             ("GammaTransform", False, {}),
                                                             ("RemoveLabelTransform", None, {})]))
    trace = SimpleNamespace(input_data=base, input_seg=np.zeros((6, 8, 8)), steps=steps)
    browser = AugmentationBrowser(trace)
    labels = [label for label, _ in browser.step.options]
    assert labels == ["00 SpatialTransform ✓ fired", "01 GammaTransform · skipped", "02 RemoveLabelTransform"]
    browser.step.value = 1
    titles = [ax.get_title() for ax in browser.figure().axes]
    assert titles[0] == "after 00 SpatialTransform" and "did not fire" in titles[1]
    browser.step.value = 0
    assert browser.figure().axes[0].get_title() == "input" and "angle_x=0.2" in browser.figure().axes[1].get_title()


def test_inference_view_draws_the_tiles_that_cover_the_slice():
    from matplotlib.patches import Rectangle

    seg = np.zeros((8, 16, 16), np.int64)
    seg[2:6, 4:12, 4:12] = 1
    tiles = (SimpleNamespace(box=((0, 4), (0, 8), (0, 8)), slice_index=None),
             SimpleNamespace(box=((4, 8), (0, 8), (8, 16)), slice_index=None),
             SimpleNamespace(box=((0, 4), (8, 16), (8, 16)), slice_index=None))
    result = SimpleNamespace(segmentation=seg, num_tiles=3, step_size=0.5, tiles=tiles, network_dim=3,
                             gaussian=np.ones((4, 8, 8)))
    image = np.zeros((1, 8, 16, 16), np.float32)
    truth = seg.copy()
    truth[3, 4, 4] = 0
    view = InferenceView(result, image, truth)
    view.slice.value = 1
    fig = view.figure()
    rectangles = [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]
    assert len(rectangles) == 2  # the tiles with z in [0, 4) cover slice 1
    assert len(fig.axes) == 4 and "FP red" in fig.axes[3].get_title()
    assert view.draw_count == 2


@pytest.mark.parametrize("font", [None, "DejaVu Sans"])
def test_browsers_speak_chinese_under_zh(font, monkeypatch):
    """Under ``zh`` the controls are Chinese; the words in the pictures are Chinese only where a Chinese font is
    installed (here: pretended), English otherwise rather than empty boxes."""
    from nnunet_explorer.views import report_figures

    from ..zh_share_rule import CJK

    monkeypatch.setenv("NNUNET_EXPLORER_LANG", "zh")
    monkeypatch.setattr(report_figures, "cjk_font", lambda: font)
    rng = np.random.default_rng(0)
    browser = BatchBrowser(data=rng.normal(size=(2, 1, 4, 6, 6)).astype(np.float32),
                           seg=rng.integers(0, 2, size=(2, 1, 4, 6, 6)), keys=["case_a", "case_b"])
    assert CJK.search(browser.sample.description) and CJK.search(browser.slice.description)
    title = browser.figure().axes[0].get_title()
    assert bool(CJK.search(title)) == (font is not None), title
    outputs = [rng.normal(size=(1, 3, 4, 6, 6)), rng.normal(size=(1, 3, 2, 3, 3))]
    targets = [rng.integers(0, 3, size=(1, 1, 4, 6, 6)), rng.integers(0, 3, size=(1, 1, 2, 3, 3))]
    titles = [ax.get_title() for ax in plot_deep_supervision(outputs, targets, weights=[0.6, 0.4]).axes]
    assert all(bool(CJK.search(t)) == (font is not None) for t in titles), titles
    # a picture in a report drawn in English for a Chinese reader says why, and what gives it Chinese words
    figure = report_figures._img(report_figures.PNG_PREFIX + "AAAA", "深度监督的目标")
    assert ("这台机器上 matplotlib 找不到中文字体" in figure) == (font is None)
    assert "fonts-noto-cjk" not in report_figures._img(report_figures.SVG_PREFIX + "AAAA", "U 形结构")


def test_augmentation_figures_keep_their_chinese_font_when_drawn_later(monkeypatch):
    """The trace and sampling-map figures made under ``zh`` (with a Chinese font) carry that font in their texts,
    so they draw right wherever the notebook renders them."""
    from nnunet_explorer.views import report_figures
    from nnunet_explorer.views.augmentation_plots import plot_augmentation_trace, plot_sampling_map

    from ..zh_share_rule import CJK

    monkeypatch.setenv("NNUNET_EXPLORER_LANG", "zh")
    monkeypatch.setattr(report_figures, "cjk_font", lambda: "DejaVu Serif")  # stands in for a Chinese font
    base = np.zeros((1, 4, 6, 6), np.float32)
    step = SimpleNamespace(index=0, name="GammaTransform", fired=True, params={"gamma": 0.8}, data=base,
                           seg=np.zeros((4, 6, 6)))
    trace = SimpleNamespace(case_id="case_a", seed=3, fired=("GammaTransform",), input_data=base,
                            input_seg=np.zeros((4, 6, 6)), steps=(step,))
    case_map = SimpleNamespace(case_id="case_a", shape=(4, 6, 6), n_random=2, n_forced=1, centers=[(1, 2, 3)],
                               random=np.ones((4, 6, 6)), forced=np.zeros((4, 6, 6)))
    for fig in (plot_augmentation_trace(trace), plot_sampling_map(case_map)):
        texts = [fig.get_suptitle()] + [ax.get_title() for ax in fig.axes if ax.get_title()]
        assert all(CJK.search(t) for t in texts if "Transform" not in t), texts
        assert fig.axes[0].title.get_fontfamily()[0] == "DejaVu Serif"
