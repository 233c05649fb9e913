"""show_in_napari / inline_screenshot: what a notebook calls, and a screenshot that really shows the labels."""
from __future__ import annotations

import numpy as np
import pytest

from nnunet_explorer.views import layers as L
from nnunet_explorer.views.napari import inline_screenshot, show_in_napari

TASK = "Task951_NapariCT"  # the task tests/napari/conftest.py builds


def _colours(array: np.ndarray) -> np.ndarray:
    return np.unique(array.reshape(-1, array.shape[-1]), axis=0).astype(int)


def test_screenshot_is_not_blank_and_shows_the_label_colours(make_napari_viewer):
    viewer = make_napari_viewer(show=True)
    show_in_napari(L.synthetic_sample_layers("ct"), viewer)
    labels = viewer.layers["synthetic ct label"]
    labels.opacity = 1.0
    viewer.layers["synthetic ct CT"].visible = False
    shot = inline_screenshot(viewer=viewer, close=False)
    assert shot.array.ndim == 3 and shot.array.shape[-1] == 4
    assert shot.array[..., :3].std() > 5, "the screenshot is blank"
    colours = _colours(shot.array)
    # the middle slice holds organ (1) and lesion (2); each must appear in napari's colour for it, exactly
    middle = labels.data[labels.data.shape[0] // 2]
    assert {1, 2} <= set(np.unique(middle))
    for value in (1, 2):
        rgba = np.round(np.asarray(labels.colormap.map(value)).ravel() * 255).astype(int)
        assert np.abs(colours - rgba).sum(axis=1).min() <= 3, f"label {value}'s colour {rgba} is not on screen"
    assert shot.to_png().startswith(b"\x89PNG")


def test_show_in_napari_takes_a_step_result_batch(artefacts, make_napari_viewer):
    from nnunet_explorer.explore.step import StepResult

    ws, _model = artefacts
    source = L.batch_source(ws.preprocessed_task_dir(TASK) / "nnUNetData_plans_v2.1_stage0")
    batch = L.draw_batch(source, seed=0, enabled=[])
    result = StepResult(name="batch", inputs={}, params={}, output=batch)
    viewer = make_napari_viewer()
    show_in_napari(result, viewer, spacing=source.spacing)
    assert viewer.layers["batch seg"].data.shape[0] == source.batch_size
    np.testing.assert_allclose(viewer.layers["batch seg"].scale[1:], source.spacing)
    failed = StepResult(name="batch", inputs={}, params={}, error=RuntimeError("boom"))
    with pytest.raises(Exception, match="failed"):
        show_in_napari(failed, viewer)


def test_inline_screenshot_of_a_prediction_makes_and_closes_its_own_viewer(make_napari_viewer):
    make_napari_viewer()  # the fixture's leak check also covers the viewer inline_screenshot makes and closes
    truth = np.zeros((4, 32, 32), np.uint8)
    truth[:, 8:24, 8:24] = 1
    prediction = np.roll(truth, 3, axis=2)
    shot = inline_screenshot({"prediction": prediction, "reference": truth})
    assert shot.array[..., :3].std() > 5
    rgba = np.array([255, 0, 0, 255])  # false positives are drawn red
    assert np.abs(_colours(shot.array) - rgba).sum(axis=1).min() <= 60
