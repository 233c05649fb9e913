"""The napari plugin under Xvfb: manifest, readers, sample data, widgets, screenshots, show_in_napari."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

import nnunet_explorer.views.napari as plugin
from nnunet_explorer.fileio import load_pickle
from nnunet_explorer.views import layers as L

TASK = "Task951_NapariCT"  # the task tests/napari/conftest.py builds

MANIFEST = Path(plugin.__file__).parent / "napari.yaml"
PLUGIN = "nnunet-explorer"


@pytest.fixture
def registered(npe2pm):
    """The plugin registered with npe2's (test) plugin manager, as the package's entry point will do."""
    if PLUGIN not in npe2pm:
        npe2pm.register(str(MANIFEST))
    return npe2pm


def test_manifest_validates_and_every_python_name_imports():
    npe2 = Path(sys.executable).parent / "npe2"
    result = subprocess.run([str(npe2), "validate", "--imports", str(MANIFEST)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    from npe2 import PluginManifest

    manifest = PluginManifest.from_file(MANIFEST)
    assert manifest.name == PLUGIN
    contributions = manifest.contributions
    assert len(contributions.readers) == 1 and contributions.readers[0].accepts_directories
    assert {s.key for s in contributions.sample_data} == {"synthetic_ct", "synthetic_mr", "real"}
    assert len(contributions.widgets) == 4
    for command in contributions.commands:
        module, _, name = command.python_name.partition(":")
        assert callable(getattr(__import__(module, fromlist=[name]), name)), command.python_name


def test_reader_declines_what_it_cannot_open(tmp_path, registered):
    from nnunet_explorer.views.napari._reader import get_reader

    (tmp_path / "notes.txt").write_text("hello")
    assert get_reader(str(tmp_path / "notes.txt")) is None
    assert get_reader(str(tmp_path)) is None


def test_reader_opens_a_raw_case_with_every_modality_and_the_label(artefacts, registered, make_napari_viewer):
    import SimpleITK as sitk

    ws, _model = artefacts
    image_file = ws.raw_task_dir(TASK) / "imagesTr" / "case_001_0000.nii.gz"
    viewer = make_napari_viewer()
    layers = viewer.open(str(image_file), plugin=PLUGIN)
    assert [type(lay).__name__ for lay in layers] == ["Image", "Labels"]
    itk = sitk.ReadImage(str(image_file))
    np.testing.assert_allclose(layers[0].scale, itk.GetSpacing()[::-1])
    np.testing.assert_allclose(layers[0].translate, itk.GetOrigin()[::-1])
    label = sitk.GetArrayFromImage(sitk.ReadImage(str(ws.raw_task_dir(TASK) / "labelsTr" / "case_001.nii.gz")))
    np.testing.assert_array_equal(layers[1].data, label)


@pytest.mark.parametrize("folder", ["cropped", "preprocessed"])
def test_reader_opens_an_explorer_case_npz(artefacts, registered, make_napari_viewer, folder):
    ws, _model = artefacts
    base = ws.cropped_task_dir(TASK) if folder == "cropped" else (
        ws.preprocessed_task_dir(TASK) / "nnUNetData_plans_v2.1_stage0")
    viewer = make_napari_viewer()
    layers = viewer.open(str(base / "case_000.npz"), plugin=PLUGIN)
    with np.load(base / "case_000.npz") as archive:
        data = archive["data"]
    images = [lay for lay in layers if type(lay).__name__ == "Image"]
    labels = [lay for lay in layers if type(lay).__name__ == "Labels"]
    assert len(images) == data.shape[0] - 1 and len(labels) == 1
    np.testing.assert_array_equal(images[0].data, data[0])
    np.testing.assert_array_equal(labels[0].data, data[-1].astype(np.int32))
    props = load_pickle(base / "case_000.pkl")
    spacing = props.get("spacing_after_resampling", props["original_spacing"])
    np.testing.assert_allclose(images[0].scale, spacing, rtol=0.05)


@pytest.mark.parity
def test_reader_opens_a_v1_preprocessed_case_and_stage_folder(v1_ct_task, registered, make_napari_viewer):
    """The same reader opens what the real nnU-Net v1 wrote (stage folder → its first case)."""
    stage = v1_ct_task.preprocessed_dir / "nnUNetData_plans_v2.1_stage0"
    viewer = make_napari_viewer()
    layers = viewer.open(str(stage), plugin=PLUGIN)
    first = sorted(p.stem for p in stage.glob("*.npz"))[0]
    with np.load(stage / f"{first}.npz") as archive:
        data = archive["data"]
    np.testing.assert_array_equal(layers[0].data, data[0])
    assert layers[0].metadata["case_id"] == first and layers[0].metadata["stage"] == "preprocessed"
    points = [lay for lay in layers if type(lay).__name__ == "Points"]
    locations = load_pickle(stage / f"{first}.pkl")["class_locations"]
    assert len(points[0].data) == sum(len(v) for v in locations.values())


def test_reader_opens_one_case_of_a_validation_folder_with_its_image(artefacts, registered, make_napari_viewer,
                                                                     monkeypatch):
    from nnunet_explorer.paths import environment_for

    ws, model = artefacts
    for key, value in environment_for(ws).items():  # the raw task's imagesTr is found through the workspace
        monkeypatch.setenv(key, value)
    viewer = make_napari_viewer()
    layers = viewer.open(str(model / "fold_0" / "validation_raw"), plugin=PLUGIN)
    assert {lay.metadata.get("case_id") for lay in layers} == {"case_000"}  # one case, not all overlaid
    kinds = [lay.name.split(" ", 1)[1].split(" (")[0] for lay in layers]
    assert kinds == ["image 0000", "ground truth", "prediction", "errors"]
    image = sitk.GetArrayFromImage(sitk.ReadImage(str(ws.raw_task_dir(TASK) / "imagesTr" / "case_000_0000.nii.gz")))
    assert np.array_equal(layers[0].data, image.astype(np.float32))
    errors = layers[-1]
    # the fixture's prediction relabels the lesion and shifts the organ: all three error kinds appear
    assert set(np.unique(errors.data)) == {0, L.FALSE_POSITIVE, L.FALSE_NEGATIVE, L.WRONG_CLASS}


def test_sample_data(registered, make_napari_viewer):
    from nnunet_explorer.samples.real import default_sample_dir

    viewer = make_napari_viewer()
    expected = {"synthetic_ct": ({0, 1, 2}, 2), "synthetic_mr": ({0, 1, 2}, 3), "real": ({0, 1, 2, 3, 4}, 2)}
    if not default_sample_dir().is_dir():
        expected.pop("real")  # data_samples/ is not in this checkout (an installed package)
    for key, (values, count) in expected.items():
        viewer.layers.clear()
        viewer.open_sample(PLUGIN, key)
        labels = [lay for lay in viewer.layers if type(lay).__name__ == "Labels"]
        assert len(labels) == 1 and set(np.unique(labels[0].data)) == values, key
        assert len(viewer.layers) == count, key


def test_the_package_registers_the_manifest_through_its_entry_point():
    """`pip install -e '.[napari]'` puts the manifest on npe2's path (pyproject's napari.manifest entry point)."""
    from importlib.metadata import entry_points

    points = [ep for ep in entry_points(group="napari.manifest") if ep.name == PLUGIN]
    assert len(points) == 1, "add [project.entry-points.\"napari.manifest\"] to pyproject.toml and reinstall"
    module, _, resource = points[0].value.partition(":")
    assert module == "nnunet_explorer.views.napari" and resource == "napari.yaml"
    from npe2 import PluginManifest

    assert PluginManifest.from_distribution("nnunet-explorer").name == PLUGIN
