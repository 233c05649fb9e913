"""The batch picture frames the samples the loader forced to contain foreground, and its caption says why."""
from __future__ import annotations

import numpy as np
import pytest

from nnunet_explorer.teaching import set_language
from nnunet_explorer.views.report_figures import batch_caption, batch_figure, batch_figures
from nnunet_explorer.walkthrough import Batch


pytestmark = pytest.mark.usefixtures("english")  # the cards in English (tests/conftest.py)


def _batch(forced: tuple[bool, ...]) -> Batch:
    rng = np.random.default_rng(0)
    n = 3
    data = rng.random((n, 1, 6, 10, 10)).astype(np.float32)
    targets = (rng.integers(0, 3, (n, 1, 6, 10, 10)).astype(np.float32), np.zeros((n, 1, 3, 5, 5), np.float32))
    return Batch(data, targets, ("case_000", "case_001", "case_002"), (n, 1, 8, 14, 14), ("SpatialTransform",),
                 forced)


def _framed(fig) -> list[int]:
    return [i for i, ax in enumerate(fig.axes) if any(p.get_gid() == "forced-foreground" for p in ax.patches)]


def test_the_forced_samples_are_framed_and_named_in_the_legend_and_caption():
    batch = _batch((False, False, True))  # batch 3, p = 0.33: round(3 * 0.67) = 2, so sample 2 is forced
    fig = batch_figure(batch)
    assert _framed(fig) == [2]
    frame = next(p for p in fig.axes[2].patches if p.get_gid() == "forced-foreground")
    assert frame.get_edgecolor()[:3] == (1.0, 0.0, 0.0)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["get_do_oversample(j) = True"]
    caption = batch_caption(batch)
    assert "red frame: forced to contain foreground, sample(s) 2" in caption and "get_do_oversample" in caption
    set_language("zh")
    assert "红框" in batch_caption(batch) and "被强制包含前景的样本 2" in batch_caption(batch)
    html = batch_figures(batch)[0]
    assert "<code>get_do_oversample(j)</code>" in html and "``" not in html


def test_a_batch_without_forced_samples_has_no_frame_and_no_legend():
    batch = _batch((False, False, False))
    fig = batch_figure(batch)
    assert _framed(fig) == [] and not fig.legends
    assert "red frame" not in batch_caption(batch)
