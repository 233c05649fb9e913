"""The HTML report shows pictures: the U diagram, the batch with its labels, the DS targets, the LR curve."""
from __future__ import annotations

import base64
import re

from nnunet_explorer.views.report_figures import PNG_PREFIX, SVG_PREFIX
from nnunet_explorer.walkthrough import training_walkthrough


def _card(page: str, name: str) -> str:
    start = page.index(f"<summary><b>{name}</b>")
    end = page.find("<div class='nnx-card", start)
    return page[start:end if end > 0 else len(page)]


def test_report_has_inline_images_per_step_kind(ct_workspace):
    pipeline = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0, workspace=ct_workspace)
    pipeline.run(until="batch")
    page = pipeline.report_html()
    counts = {name: _card(page, name).count(f'<img src="{PNG_PREFIX}')
              for name in ("architecture", "lr_schedule", "batch", "configuration")}
    assert counts == {"architecture": 0, "lr_schedule": 1, "batch": 2, "configuration": 0}
    assert _card(page, "architecture").count(f'<img src="{SVG_PREFIX}') == 1
    for data in re.findall(r'data:image/png;base64,([A-Za-z0-9+/=]+)', page):
        assert base64.b64decode(data).startswith(b"\x89PNG")
    svg = base64.b64decode(re.search(r'data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)', page).group(1)).decode()
    assert svg.startswith("<svg") and "output 0" in svg
    # the loader's forced-foreground samples (v1's get_do_oversample) are recorded and named in the caption
    batch, trainer = pipeline["batch"], pipeline["trainer"]
    size, percent = len(batch.keys), trainer.oversample_foreground_percent
    assert batch.forced == tuple(not j < round(size * (1 - percent)) for j in range(size)) and any(batch.forced)
    which = ", ".join(str(j) for j, forced in enumerate(batch.forced) if forced)
    assert f"red frame: forced to contain foreground, sample(s) {which}." in _card(page, "batch")


def test_a_failing_picture_does_not_break_the_card(ct_workspace, monkeypatch):
    from nnunet_explorer.views import report_figures

    def broken(_):
        raise RuntimeError("no picture")

    monkeypatch.setitem(report_figures.FIGURES, "lr_schedule", broken)
    pipeline = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0, workspace=ct_workspace)
    pipeline.run(until="lr_schedule")
    card = _card(pipeline.report_html(), "lr_schedule")
    assert PNG_PREFIX not in card and "<b>output</b>" in card


CARD_PICTURES_IN_A_FRESH_PROCESS = """
import sys
from nnunet_explorer.walkthrough import training_walkthrough
{views_import}
p = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0)
p.run(until="lr_schedule")
print("matplotlib before the card:", "matplotlib" in sys.modules)
print("pictures:", p.results["lr_schedule"]._repr_html_().count('<img src="data:image/png'))
"""


def test_importing_any_view_gives_the_cards_their_pictures(ct_workspace):
    """A notebook that imports some view (here only ``widgets_common``, as notebook 00 does) displays the cards
    with their pictures; matplotlib waits for the first picture. Without any view the explore layer, which knows
    nothing of plotting, draws none (notebook 00 showed no learning-rate curve before the views registered the
    pictures on import)."""
    import os
    import subprocess
    import sys

    from nnunet_explorer.paths import environment_for

    env = {**os.environ, **environment_for(ct_workspace), "MPLBACKEND": "Agg"}
    outputs = {}
    for views_import in ("from nnunet_explorer.views.widgets_common import prepare_sample_task", ""):
        done = subprocess.run([sys.executable, "-c", CARD_PICTURES_IN_A_FRESH_PROCESS.format(views_import=views_import)],
                              env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        outputs[bool(views_import)] = done.stdout
    assert "matplotlib before the card: False" in outputs[True] and "pictures: 1" in outputs[True], outputs[True]
    assert "pictures: 0" in outputs[False], outputs[False]
