"""``Predictor`` (issue 16 item 4) gives exactly ``predict``'s segmentations, from paths, images and arrays."""
from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from nnunet_explorer.cli import main as cli_main
from nnunet_explorer.errors import ExplorerError
from nnunet_explorer.inference import Predictor


@pytest.fixture(scope="module")
def predicted(small_model, tmp_path_factory):
    """``predict -f 0 1 --disable_tta -z`` on the test images, and a Predictor with the same options."""
    out = tmp_path_factory.mktemp("predict_cli")
    env = {"nnUNet_raw_data_base": small_model.ws.raw_data_base, "nnUNet_preprocessed": small_model.ws.preprocessed,
           "RESULTS_FOLDER": small_model.ws.results_folder}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, str(value))
        assert cli_main(["predict", "-i", str(small_model.images), "-o", str(out), "-t", "901", "-f", "0", "1",
                         "--disable_tta", "-z", "--device", "cpu"]) == 0
    predictor = Predictor.from_folder(small_model.model_folder, folds=[0, 1], device="cpu", do_tta=False)
    return out, predictor


def _read(path):
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def test_predictor_equals_predict(small_model, predicted):
    out, predictor = predicted
    images = sorted(small_model.images.glob("*_0000.nii.gz"))
    assert len(images) == 2
    for path in images:
        result = predictor.predict(path)
        case = path.name[:-12]
        assert result.case == case
        expected = _read(out / f"{case}.nii.gz")
        assert result.segmentation.dtype == expected.dtype and np.array_equal(result.segmentation, expected)
        assert len(result.labels_present) > 1  # the seeded weights give a non-trivial segmentation
        # the probabilities: predict -z's npz inside the crop box, on the input's grid
        with np.load(out / f"{case}.npz") as npz:
            softmax = npz["softmax"]
        bbox = [tuple(b) for b in _props(out, case)["crop_bbox"]]
        inside = result.probabilities[(slice(None), *[slice(lo, hi) for lo, hi in bbox])]
        assert np.array_equal(inside, softmax)
        assert result.probabilities.shape[1:] == result.segmentation.shape == _read(path).shape
        assert result.postprocessed and result.tiles_per_fold >= 1 and result.folds == ("fold_0", "fold_1")
        reference = sitk.ReadImage(str(path))
        assert result.spacing == pytest.approx(reference.GetSpacing())
        assert result.origin == pytest.approx(reference.GetOrigin())


def _props(out, case):
    from nnunet_explorer.fileio import load_pickle

    return load_pickle(out / f"{case}.pkl")


def test_in_memory_inputs_and_card(small_model, predicted, tmp_path):
    out, predictor = predicted
    path = sorted(small_model.images.glob("*_0000.nii.gz"))[0]
    expected = _read(out / f"{path.name[:-12]}.nii.gz")
    image = sitk.ReadImage(str(path))
    from_image = predictor.predict(image)
    assert np.array_equal(from_image.segmentation, expected)
    array = sitk.GetArrayFromImage(image)
    from_array = predictor.predict(array, spacing=image.GetSpacing()[::-1], origin=image.GetOrigin(),
                                   direction=image.GetDirection())
    assert np.array_equal(from_array.segmentation, expected)
    saved = from_array.save(tmp_path / "seg.nii.gz")
    back = sitk.ReadImage(str(saved))
    assert np.array_equal(sitk.GetArrayFromImage(back), expected)
    assert back.GetSpacing() == pytest.approx(image.GetSpacing()) and back.GetOrigin() == pytest.approx(
        image.GetOrigin())
    text = from_array.summary()
    assert f"{from_array.tiles_per_fold} tile(s)" in text and "on cpu" in text and "no mirroring" in text
    assert all(from_array.seconds[k] >= 0 for k in ("preprocess", "predict", "export", "postprocess", "total"))
    html = from_array._repr_html_()
    assert "seconds per step" in html and "voxels per label" in html
    assert "2 fold(s)" in repr(predictor) or "fold_0, fold_1" in repr(predictor)
    with pytest.raises(ExplorerError, match="spacing"):
        predictor.predict(array)
    with pytest.raises(ExplorerError, match="expects 1 modalities"):
        predictor.predict([path, path])


def test_from_folder_with_trainer_mirroring_reads_the_checkpoints_trainer_as_the_readme_shows(small_model):
    """The README's form: ``trainer_mirroring`` rebuilds the checkpoint's trainer (here nnUNetTrainerV2) and reads
    its ``data_aug_params``; without it the axes are nnUNetTrainerV2's default and nothing is read."""
    from nnunet_explorer.network_training import trainer_mirroring

    calls = []

    def spy(info):
        calls.append(info["name"])
        return trainer_mirroring(info)

    read = Predictor.from_folder(small_model.model_folder, folds=[0], device="cpu", trainer_mirroring=spy)
    assert calls == ["nnUNetTrainerV2"] and read.model.do_mirror is True
    assert read.model.mirror_axes == (0, 1, 2) and read.model.mirroring_note is None
    default = Predictor.from_folder(small_model.model_folder, folds=[0], device="cpu")
    assert default.model.mirror_axes is None and default.model.test_time_mirror_axes == (0, 1, 2)
