"""The shipped real sample (Colin27 + AAL crop), its notices, and the task derived from it."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from nnunet_explorer import cli
from nnunet_explorer.samples.real import (CROP_FILE, IMAGE_FILE, LABEL_FILE, LABELS, build_real_task,
                                          crop_real_sample, default_sample_dir)
from nnunet_explorer.tasks import load_dataset_json, verify_dataset_integrity

SAMPLE = default_sample_dir()
# Where Debian's mricron-data puts the source volumes (a copy is unpacked under /work/ref on the dev machine).
SOURCE_DIRS = [Path("/usr/share/mricron/templates"), Path("/work/ref/mricron/usr/share/mricron/templates")]
SOURCE = next((d for d in SOURCE_DIRS if (d / "ch2.nii.gz").is_file() and (d / "aal.nii.gz").is_file()), None)
needs_source = pytest.mark.skipif(SOURCE is None, reason="Debian mricron-data (ch2.nii.gz, aal.nii.gz) not present")


@pytest.fixture(scope="module")
def crop() -> dict:
    return json.loads((SAMPLE / CROP_FILE).read_text())


def test_files_notices_and_size():
    for name in (IMAGE_FILE, LABEL_FILE, CROP_FILE, "README.md", "NOTICE.md"):
        assert (SAMPLE / name).is_file(), name
    assert sum(p.stat().st_size for p in SAMPLE.iterdir()) < 1_000_000
    notice = (SAMPLE / "NOTICE.md").read_text()
    for words in ("Louis Collins", "Montreal Neurological Institute", "Tzourio-Mazoyer", "15(1):273-289",
                  "GNU General Public License", "BSD-3-clause"):
        assert words in notice, words
    readme = (SAMPLE / "README.md").read_text()
    assert "real" in readme and "derived" in readme and "not real" in readme.lower()


def test_geometry_is_the_source_crops(crop):
    image = sitk.ReadImage(str(SAMPLE / IMAGE_FILE))
    label = sitk.ReadImage(str(SAMPLE / LABEL_FILE))
    spacing = np.asarray(crop["source_spacing_xyz"])
    direction = np.asarray(crop["source_direction"]).reshape(3, 3)
    # the first kept voxel sits where it sat in the source: origin + D @ (index * spacing)
    expected_origin = np.asarray(crop["source_origin_xyz"]) + direction @ (np.asarray(crop["crop_start_index_xyz"])
                                                                           * spacing)
    for img in (image, label):
        assert img.GetSize() == tuple(crop["crop_size_xyz"])
        assert img.GetSpacing() == pytest.approx(tuple(spacing))
        assert img.GetDirection() == pytest.approx(tuple(direction.ravel()))
        assert img.GetOrigin() == pytest.approx(tuple(expected_origin))
    size = np.asarray(image.GetSize())
    assert 80 <= size[0] <= 120 and 70 <= size[1] <= 110 and 60 <= size[2] <= 90


def test_labels_are_the_four_structures(crop):
    label = sitk.GetArrayFromImage(sitk.ReadImage(str(SAMPLE / LABEL_FILE)))
    assert label.dtype == np.uint8
    assert set(np.unique(label).tolist()) == {0, 1, 2, 3, 4}
    assert {int(k): (v["name"], tuple(v["aal_ids"])) for k, v in crop["labels"].items()} == LABELS
    # every structure lies inside the block, not cut by its border
    for axis in range(3):
        assert not np.isin(np.take(label, [0, -1], axis=axis), [1, 2, 3, 4]).any()


@needs_source
def test_voxels_are_the_real_source_voxels(crop):
    assert hashlib.sha256((SOURCE / "ch2.nii.gz").read_bytes()).hexdigest() == crop["source_image_sha256"]
    source = sitk.ReadImage(str(SOURCE / "ch2.nii.gz"))
    aal = sitk.GetArrayFromImage(sitk.ReadImage(str(SOURCE / "aal.nii.gz")))
    x0, y0, z0 = crop["crop_start_index_xyz"]
    nx, ny, nz = crop["crop_size_xyz"]
    image = sitk.ReadImage(str(SAMPLE / IMAGE_FILE))
    expected = sitk.GetArrayFromImage(source)[z0:z0 + nz, y0:y0 + ny, x0:x0 + nx]
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), expected)
    # physical position of a voxel is the same in crop and source
    probe = (7, 11, 13)
    assert image.TransformIndexToPhysicalPoint(probe) == pytest.approx(
        source.TransformIndexToPhysicalPoint((x0 + probe[0], y0 + probe[1], z0 + probe[2])))
    label = sitk.GetArrayFromImage(sitk.ReadImage(str(SAMPLE / LABEL_FILE)))
    aal_crop = aal[z0:z0 + nz, y0:y0 + ny, x0:x0 + nx]
    for value, (_name, ids) in LABELS.items():
        np.testing.assert_array_equal(label == value, np.isin(aal_crop, ids))
        assert (label == value).sum() == np.isin(aal, ids).sum()  # the whole structure is inside


@needs_source
def test_crop_script_reproduces_the_shipped_files(tmp_path):
    out = crop_real_sample(SOURCE / "ch2.nii.gz", SOURCE / "aal.nii.gz", tmp_path)
    for name in (IMAGE_FILE, LABEL_FILE):
        a, b = sitk.ReadImage(str(out / name)), sitk.ReadImage(str(SAMPLE / name))
        np.testing.assert_array_equal(sitk.GetArrayFromImage(a), sitk.GetArrayFromImage(b))
        assert (a.GetOrigin(), a.GetSpacing(), a.GetDirection()) == (b.GetOrigin(), b.GetSpacing(), b.GetDirection())
    assert json.loads((out / CROP_FILE).read_text()) == json.loads((SAMPLE / CROP_FILE).read_text())


# --- derived task -----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_task(tmp_path_factory) -> Path:
    return build_real_task(tmp_path_factory.mktemp("real") / "Task903_ColinDeepGrey", num_training=3, seed=0)


def test_derived_task_is_a_valid_v1_task(real_task):
    report = verify_dataset_integrity(real_task)
    assert report.num_training == 3 and report.labels == (0, 1, 2, 3, 4)
    dataset = load_dataset_json(real_task)
    assert [e["image"] for e in dataset["training"]] == [f"./imagesTr/colin_derived_{i:03d}.nii.gz" for i in range(3)]
    assert dataset["labels"] == {"0": "background", "1": "caudate", "2": "putamen", "3": "pallidum", "4": "thalamus"}
    derivations = dataset["explorer_derivation"]
    assert [d["case"] for d in derivations] == [f"colin_derived_{i:03d}" for i in range(3)]
    assert all(d["seed"] == 0 for d in derivations)


def test_derived_cases_are_small_resampled_and_keep_all_labels(real_task):
    dataset = load_dataset_json(real_task)
    for derivation in dataset["explorer_derivation"]:
        case = derivation["case"]
        image = sitk.ReadImage(str(real_task / "imagesTr" / f"{case}_0000.nii.gz"))
        label = sitk.ReadImage(str(real_task / "labelsTr" / f"{case}.nii.gz"))
        assert image.GetSpacing() == pytest.approx(tuple(derivation["spacing_mm_xyz"]), abs=1e-6)
        assert image.GetSize() == tuple(derivation["size_xyz"])
        assert all(1.7 <= s <= 2.1 for s in image.GetSpacing())
        assert np.prod(image.GetSize()) <= 60 * 55 * 45  # small enough for a 2-core CPU
        assert set(np.unique(sitk.GetArrayFromImage(label)).tolist()) == {0, 1, 2, 3, 4}
        assert max(abs(a) for a in derivation["rotation_deg_xyz"]) <= 8


def test_derived_labels_stay_on_the_anatomy(real_task):
    """Each structure's centre moves no more than the recorded rotation + scale + shift can move it."""
    original = sitk.ReadImage(str(real_task / "labelsTs" / "colin_original.nii.gz"))

    def centres(image):
        array = sitk.GetArrayFromImage(image)
        out = {}
        for value in LABELS:
            z, y, x = np.argwhere(array == value).mean(0)
            out[value] = np.asarray(image.TransformContinuousIndexToPhysicalPoint((float(x), float(y), float(z))))
        return out

    reference = centres(original)
    for case in ("colin_derived_000", "colin_derived_001", "colin_derived_002"):
        moved = centres(sitk.ReadImage(str(real_task / "labelsTr" / f"{case}.nii.gz")))
        for value in LABELS:
            # 8 degrees about the block centre (< 30 mm away) + 8 % scale + 4 mm per axis shift
            assert np.linalg.norm(moved[value] - reference[value]) < 15, (case, value)


def test_original_case_is_the_untransformed_crop(real_task):
    for task_file, sample_file in (("imagesTs/colin_original_0000.nii.gz", IMAGE_FILE),
                                   ("labelsTs/colin_original.nii.gz", LABEL_FILE)):
        a, b = sitk.ReadImage(str(real_task / task_file)), sitk.ReadImage(str(SAMPLE / sample_file))
        np.testing.assert_array_equal(sitk.GetArrayFromImage(a), sitk.GetArrayFromImage(b))
        assert a.GetOrigin() == b.GetOrigin() and a.GetSpacing() == b.GetSpacing()


def test_same_seed_same_task_other_seed_other_task(real_task, tmp_path):
    again = build_real_task(tmp_path / "a" / "Task903_ColinDeepGrey", num_training=3, seed=0)
    other = build_real_task(tmp_path / "b" / "Task903_ColinDeepGrey", num_training=3, seed=1)
    for case in ("colin_derived_000", "colin_derived_002"):
        name = f"imagesTr/{case}_0000.nii.gz"
        assert (again / name).read_bytes() == (real_task / name).read_bytes()
        assert (other / name).read_bytes() != (real_task / name).read_bytes()
    assert load_dataset_json(again)["explorer_derivation"] == load_dataset_json(real_task)["explorer_derivation"]


def test_sample_real_command(workspace, capsys):
    assert cli.main(["sample", "real", "--num_training", "2"]) == 0
    task = workspace.raw_task_dir("Task903_ColinDeepGrey")
    assert load_dataset_json(task)["numTraining"] == 2
    assert "Task903_ColinDeepGrey" in capsys.readouterr().out


def test_missing_sample_gives_a_clear_error(workspace, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("NNUNET_EXPLORER_DATA_SAMPLES", str(tmp_path / "nowhere"))
    assert cli.main(["sample", "real"]) == 2
    err = capsys.readouterr().err
    assert "real sample is missing" in err and "--from_debian" in err
    assert list(workspace.nnUNet_raw_data.iterdir()) == []


@needs_source
def test_from_debian_builds_the_same_task(workspace, tmp_path):
    assert cli.main(["sample", "real", "--num_training", "1", "--from_debian", str(SOURCE)]) == 0
    from_debian = workspace.raw_task_dir("Task903_ColinDeepGrey")
    shipped = build_real_task(tmp_path / "Task903_ColinDeepGrey", num_training=1)
    name = "imagesTr/colin_derived_000_0000.nii.gz"
    assert (from_debian / name).read_bytes() == (shipped / name).read_bytes()
