"""The dock widgets, driven through their methods in a real (Xvfb) napari viewer."""
from __future__ import annotations

import re

import numpy as np
import pytest

from nnunet_explorer.training.deep_supervision import ds_target_shapes
from nnunet_explorer.views import layers as L
from nnunet_explorer.views.napari._widgets import (BatchWidget, DeepSupervisionWidget, PredictionWidget,
                                                   SlidingWindowWidget)

TASK = "Task951_NapariCT"  # the task tests/napari/conftest.py builds
STAGE = "nnUNetData_plans_v2.1_stage0"


@pytest.fixture
def stage(artefacts):
    ws, _model = artefacts
    return ws.preprocessed_task_dir(TASK) / STAGE


PLUGIN = "nnunet-explorer"


@pytest.fixture
def registered(npe2pm):
    """The plugin registered with npe2's (test) plugin manager, as the package's entry point will do."""
    from pathlib import Path

    import nnunet_explorer.views.napari as plugin

    if PLUGIN not in npe2pm:
        npe2pm.register(str(Path(plugin.__file__).parent / "napari.yaml"))
    return npe2pm


def _docked(viewer, widget):
    viewer.window.add_dock_widget(widget, name=type(widget).__name__)
    return widget


def _from_plugins_menu(viewer, name):
    """Open a widget as napari's Plugins menu does: napari builds it and passes (a proxy of) the viewer."""
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    return widget


def test_batch_widget_resamples_reproducibly_and_shows_provenance(stage, registered, make_napari_viewer):
    viewer = make_napari_viewer()
    widget = _from_plugins_menu(viewer, "Training batches")
    assert isinstance(widget, BatchWidget)
    source = widget.load(stage)
    first = widget.draw(seed=3)
    again = widget.draw(seed=3)
    np.testing.assert_array_equal(first["data"], again["data"])
    b = source.batch_size
    assert viewer.layers["batch seg"].data.shape == (b, *source.patch_size)
    assert viewer.layers["batch CT"].data.shape == (b, *source.patch_size)
    lines = widget.provenance.value.splitlines()
    for j, prov in enumerate(first["provenance"]):
        assert lines[j].startswith(f"sample {j}: {prov.case_id}")
    # v1's oversampling rule: the last sample(s) of a batch are forced foreground
    assert [p.forced for p in first["provenance"]] == [not j < round(b * (1 - 0.33)) for j in range(b)]
    nxt = widget.next_batch()
    assert widget.seed.value == 4
    assert not np.array_equal(nxt["data"], first["data"])


def test_batch_widget_with_augmentation_off_shows_the_loader_patch(stage, make_napari_viewer):
    viewer = make_napari_viewer()
    widget = BatchWidget(viewer)
    source = widget.load(stage)
    widget.augment.value = False  # switches every augmentation off
    assert widget.enabled_transforms == []
    batch = widget.draw(seed=5)
    # nothing crops: the loader's larger box arrives unchanged (CT: no mask, -1 padding becomes 0)
    assert batch["data"].shape[2:] == tuple(source.basic_generator_patch_size)
    np.testing.assert_array_equal(batch["data"], batch["loaded"]["data"])
    np.testing.assert_array_equal(batch["target"][0], np.maximum(batch["loaded"]["seg"], 0))
    assert "switched off: 01 SpatialTransform" in widget.provenance.value
    widget.set_enabled(["MirrorTransform"])
    mirrored = widget.draw(seed=5)
    assert "09 MirrorTransform" in mirrored["applied"] and "01 SpatialTransform" not in mirrored["applied"]
    flips = [np.flip(batch["data"], axes) for axes in [(2,), (3,), (4,), (2, 3), (2, 4), (3, 4), (2, 3, 4)]]
    # each sample is the loader patch, flipped along some axes (mirroring is all this leaves on)
    for j in range(source.batch_size):
        assert any(np.array_equal(mirrored["data"][j], f[j]) for f in flips + [batch["data"]])


def test_deep_supervision_widget_aligns_every_scale_with_the_patch(stage, make_napari_viewer):
    viewer = make_napari_viewer()
    widget = _docked(viewer, DeepSupervisionWidget(viewer))
    widget.folder.value = str(stage)
    specs = widget.run()
    source = L.batch_source(stage)
    predictions = [s for s in specs if " prediction " in s.name]
    targets = [s for s in specs if " target " in s.name]
    expected = ds_target_shapes(source.patch_size, source.pool_op_kernel_sizes)
    assert [p.data.shape for p in predictions] == expected
    assert [t.data.shape for t in targets] == expected
    spacing = np.asarray(source.spacing)
    for spec in predictions + targets:
        layer = viewer.layers[spec.name]
        low = np.asarray(layer.translate) - np.asarray(layer.scale) / 2
        high = low + np.asarray(layer.scale) * np.asarray(layer.data.shape)
        # every output covers exactly the patch's extent in world space
        np.testing.assert_allclose(low, -spacing / 2)
        np.testing.assert_allclose(high, spacing * (np.asarray(source.patch_size) - 0.5))
    assert len(widget.outputs) == len(source.pool_op_kernel_sizes)


def test_prediction_widget_reports_dice_and_errors(artefacts, registered, make_napari_viewer):
    _ws, model = artefacts
    viewer = make_napari_viewer()
    widget = _from_plugins_menu(viewer, "Prediction vs ground truth")
    assert isinstance(widget, PredictionWidget)
    widget.folder.value = str(model / "fold_0" / "validation_raw")
    assert widget.case.choices == ("case_000", "case_001", "case_002")
    specs = widget.show("case_001")
    # the widget shows what the reader and show_case show: validation_case_layers, placed with the ITK affine
    from nnunet_explorer.views.validation_case import validation_case_layers

    same = validation_case_layers(model / "fold_0" / "validation_raw", "case_001")
    assert [s.name for s in specs] == [s.name for s in same] and all("affine" in s.meta for s in specs)
    truth, pred = viewer.layers["case_001 ground truth"].data, viewer.layers["case_001 prediction"].data
    dice = next(s for s in specs if " errors (" in s.name).metadata["dice"]
    # the fixture's prediction has no lesion (2): its Dice is 0; the organ's follows 2TP/(2TP+FP+FN)
    assert dice[2] == 0.0
    tp = np.sum((pred == 1) & (truth == 1))
    assert dice[1] == pytest.approx(2 * tp / (np.sum(pred == 1) + np.sum(truth == 1)))
    assert "class 2" in widget.dice.value and "Dice 0.0000" in widget.dice.value
    # comparing two labels layers of the viewer gives the same Dice
    widget._refresh_layers()
    compared = widget.compare("case_001 prediction", "case_001 ground truth")
    assert compared[0].metadata["dice"] == dice
    # the compared error layer sits where the prediction does
    np.testing.assert_allclose(viewer.layers[compared[0].name].affine.affine_matrix,
                               viewer.layers["case_001 prediction"].affine.affine_matrix)


def test_sliding_window_widget_draws_tiles_over_a_case(stage, registered, make_napari_viewer):
    viewer = make_napari_viewer()
    for spec in L.case_layers(stage / "case_000.npz"):
        if spec.kind == "image":
            viewer.add_image(spec.data, name="case", scale=spec.meta["scale"], translate=spec.meta["translate"])
    widget = _from_plugins_menu(viewer, "Sliding window")
    assert isinstance(widget, SlidingWindowWidget)
    widget.plans.value = str(stage.parent / "nnUNetPlansv2.1_plans_3D.pkl")
    specs = widget.show("case")
    patch = widget.patch_size()
    image = viewer.layers["case"].data
    padded = tuple(max(s, p) for s, p in zip(image.shape, patch))
    steps = L.sliding_window_steps(patch, padded, 0.5)
    tiles = specs[-1]
    assert tiles.metadata["num_tiles"] == int(np.prod([len(s) for s in steps]))
    assert viewer.layers["tiles"].nshapes == tiles.metadata["num_tiles"] * patch[0]
    weight = viewer.layers["summed weight"].data
    assert weight.shape == padded and weight.min() > 0  # every voxel is covered by some tile


def test_the_dock_widgets_speak_chinese_under_zh(stage, make_napari_viewer, monkeypatch):
    """Under ``zh`` every label and button of the four dock widgets, and the batch widget's status, is Chinese
    (names that are identifiers, such as ``trainer``, stay)."""
    from ..zh_share_rule import CJK

    monkeypatch.setenv("NNUNET_EXPLORER_LANG", "zh")
    viewer = make_napari_viewer()
    for kind in (BatchWidget, DeepSupervisionWidget, PredictionWidget, SlidingWindowWidget):
        widget = kind(viewer)
        words = [getattr(w, "label", "") for w in widget if getattr(w, "label", "")] + \
            [w.text for w in widget if type(w).__name__ in ("PushButton", "CheckBox")]
        english = [w for w in words if not CJK.search(w) and w != "trainer"]
        assert words and not english, (kind.__name__, english)
    batch = BatchWidget(viewer)
    batch.load(stage)
    assert CJK.search(batch.status.value), batch.status.value
    batch.draw(seed=1)
    assert all(CJK.search(line) for line in batch.provenance.value.splitlines()), batch.provenance.value


def test_under_zh_the_layers_have_chinese_names_and_the_widgets_still_find_their_own(artefacts, stage,
                                                                                   make_napari_viewer, monkeypatch):
    """Layer names follow the language; the widgets find their layers by metadata, so showing a case twice,
    comparing twice or redrawing the tiles replaces the previous layers instead of piling them up."""
    from ..zh_share_rule import CJK

    _ws, model = artefacts
    monkeypatch.setenv("NNUNET_EXPLORER_LANG", "zh")
    viewer = make_napari_viewer()
    prediction = _docked(viewer, PredictionWidget(viewer))
    prediction.folder.value = str(model / "fold_0" / "validation_raw")
    specs = prediction.show("case_001")
    error_name = next(s.name for s in specs if "error_names" in s.metadata)
    assert [s.name for s in specs if s.kind == "labels"] == ["case_001 参考标注", "case_001 预测", error_name]
    errors = [lay for lay in viewer.layers if "error_names" in lay.metadata]
    assert len(errors) == 1 and errors[0].name.startswith("case_001 错误 (Dice ")
    prediction.show("case_001")
    prediction.compare("case_001 预测", "case_001 参考标注")
    prediction.compare("case_001 预测", "case_001 参考标注")
    cases = sorted(lay.metadata["case_id"] for lay in viewer.layers if "error_names" in lay.metadata)
    assert cases == ["case_001", "case_001 预测"]  # one error layer per case shown, one per comparison
    assert "类别 2" in prediction.dice.value

    ds = _docked(viewer, DeepSupervisionWidget(viewer))
    ds.folder.value = str(stage)
    ds_specs = ds.run()
    heads = [s for s in ds_specs if s.metadata.get("role") == "ds prediction"]
    # the shape stays in ASCII brackets, the weight follows a full-width comma: "ds1 预测 (20, 20, 20)，损失权重 0.333"
    assert [s.name.split(" (")[0] for s in heads] == [f"ds{i} 预测" for i in range(len(heads))]
    assert all(re.fullmatch(r"ds\d 预测 \([\d, ]+\)\uff0c损失权重 \d\.\d{3}", s.name) for s in heads)
    assert "ds 输入" in viewer.layers
    assert len(ds.summary.value.splitlines()) == len(heads) == len(ds.outputs)

    for spec in L.case_layers(stage / "case_000.npz"):
        if spec.kind == "image":
            viewer.add_image(spec.data, name="case", scale=spec.meta["scale"], translate=spec.meta["translate"])
    window = _docked(viewer, SlidingWindowWidget(viewer))
    window.plans.value = str(stage.parent / "nnUNetPlansv2.1_plans_3D.pkl")
    window.show("case")
    window.show("case", step_size=0.75)
    roles = [lay.metadata.get("role") for lay in viewer.layers if lay.metadata.get("role") in
             ("tiles", "gaussian", "summed weight")]
    assert sorted(roles) == ["gaussian", "summed weight", "tiles"]
    assert all(CJK.search(lay.name) for lay in viewer.layers if lay.metadata.get("role") in roles)
    assert viewer.layers["窗口"].metadata["step_size"] == 0.75
