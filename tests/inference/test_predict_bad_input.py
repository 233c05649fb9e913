"""Bad input for ``predict`` (issue 16): every input checked from its header before anything is written."""
from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest
import SimpleITK as sitk

from nnunet_explorer.cli import main as cli_main
from nnunet_explorer.errors import DatasetError
from nnunet_explorer.inference.predict import check_input_files, check_input_folder_and_return_case_ids


def _image(path, shape=(4, 5, 6), spacing=(1.0, 1.0, 2.0)):
    image = sitk.GetImageFromArray(np.random.RandomState(0).rand(*shape).astype(np.float32))
    image.SetSpacing(spacing)
    sitk.WriteImage(image, str(path))
    return path


def _use_workspace_of(small_model, monkeypatch) -> None:
    for key, value in {"nnUNet_raw_data_base": small_model.ws.raw_data_base,
                       "nnUNet_preprocessed": small_model.ws.preprocessed,
                       "RESULTS_FOLDER": small_model.ws.results_folder}.items():
        monkeypatch.setenv(key, str(value))


def test_not_an_image_is_named_and_nothing_is_written(small_model, tmp_path, monkeypatch, capsys):
    _use_workspace_of(small_model, monkeypatch)
    inputs = tmp_path / "in"
    inputs.mkdir()
    good = sorted(small_model.images.glob("*_0000.nii.gz"))[0]
    shutil.copy(good, inputs / good.name)
    (inputs / "zz_broken_0000.nii.gz").write_text("this is a text file, not an image\n")
    out = tmp_path / "out"
    assert cli_main(["predict", "-i", str(inputs), "-o", str(out), "-t", "901", "-f", "0", "--disable_tta"]) == 2
    err = capsys.readouterr().err
    assert "zz_broken_0000.nii.gz" in err and "not an image SimpleITK can read" in err and "fix:" in err
    assert good.name not in err  # the good case is not blamed
    assert "Traceback" not in err
    assert not out.exists()  # no plans.pkl, no folder


def test_every_problem_of_every_case_is_reported(tmp_path):
    a0 = _image(tmp_path / "a_0000.nii.gz")
    a1 = _image(tmp_path / "a_0001.nii.gz", spacing=(1.0, 1.0, 3.0))  # other spacing than a_0000
    b0 = _image(tmp_path / "b_0000.nii.gz")
    b1 = _image(tmp_path / "b_0001.nii.gz", shape=(4, 5, 7))  # other size
    c0 = tmp_path / "c_0000.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((5, 6), np.float32)), str(c0))  # a 2D image
    c1 = _image(tmp_path / "c_0001.nii.gz")
    check_input_files([[a0, a0]], 2)  # one geometry: fine
    with pytest.raises(DatasetError) as info:
        check_input_files([[a0, a1], [b0, b1], [c0, c1], [a0]], 2)
    message = str(info.value)
    assert "4 problem(s)" in message and "nothing was written" in message
    assert "a_0001.nii.gz: geometry differs from a_0000.nii.gz (spacing" in message
    assert "b_0001.nii.gz: geometry differs from b_0000.nii.gz (size (7, 5, 4) vs (6, 5, 4))" in message
    assert "c_0000.nii.gz: a 2D image" in message
    assert "1 file(s), but the model expects 2 modalities" in message


def test_file_names_are_checked(tmp_path):
    _image(tmp_path / "case_0000.nii.gz")
    _image(tmp_path / "case_0001.nii.gz")
    logged = []
    assert check_input_folder_and_return_case_ids(tmp_path, 1, log=logged.append) == ["case"]
    assert "case_0001.nii.gz" in logged[0] and "ignored" in logged[0]  # v1 warns about it too
    _image(tmp_path / "scan.nii.gz")
    with pytest.raises(DatasetError, match="scan.nii.gz") as info:
        check_input_folder_and_return_case_ids(tmp_path, 1)
    assert "CASE_XXXX.nii.gz" in str(info.value)
    (tmp_path / "scan.nii.gz").unlink()
    (tmp_path / "._case_0000.nii.gz").write_bytes(b"\x00\x05\x16\x07")  # macOS's copy: v1 takes it for a case
    with pytest.raises(DatasetError, match="macOS resource copies: ._case_0000.nii.gz") as copies:
        check_input_folder_and_return_case_ids(tmp_path, 1)
    assert f"find {tmp_path} -name '._*' -delete" in copies.value.fix


def test_a_truncated_image_is_refused_before_anything_is_written(small_model, tmp_path, monkeypatch, capsys):
    """SimpleITK reads a .nii.gz cut short without error (zeros); predict names it and writes nothing."""
    _use_workspace_of(small_model, monkeypatch)
    inputs = tmp_path / "in"
    inputs.mkdir()
    good = sorted(small_model.images.glob("*_0000.nii.gz"))[0]
    data = good.read_bytes()
    (inputs / good.name).write_bytes(data[: len(data) // 2])  # an interrupted copy
    sitk.ReadImage(str(inputs / good.name))  # SimpleITK does not notice
    out = tmp_path / "out"
    assert cli_main(["predict", "-i", str(inputs), "-o", str(out), "-t", "901", "-f", "0", "--disable_tta"]) == 2
    err = capsys.readouterr().err
    assert good.name in err and "cut short" in err and "Traceback" not in err
    assert not out.exists()


NO_MIRRORING = '''
from nnunet_explorer.network_training import nnUNetTrainerV2


class nnUNetTrainerV2_noMirroring(nnUNetTrainerV2):
    def setup_DA_params(self):
        super().setup_DA_params()
        self.data_aug_params["do_mirror"] = False


class nnUNetTrainerV2_inPlaneMirroring(nnUNetTrainerV2):
    def setup_DA_params(self):
        super().setup_DA_params()
        self.data_aug_params["mirror_axes"] = (1, 2)
'''


def _model_of_trainer(small_model, results, name):
    """The small model's folder under another trainer's name (its .model.pkl names that trainer)."""
    import pickle

    model = results / "nnUNet" / "3d_fullres" / small_model.task / f"{name}__nnUNetPlansv2.1"
    shutil.copytree(small_model.model_folder, model)
    for pkl in model.glob("fold_*/model_final_checkpoint.model.pkl"):
        info = pickle.loads(pkl.read_bytes())
        info["name"] = name
        pkl.write_bytes(pickle.dumps(info))


def test_test_time_mirroring_is_the_trainers_own(small_model, tmp_path, monkeypatch, capsys):
    """v1 rebuilds the trainer named in the ``.model.pkl`` and mirrors as it says: a trainer trained without
    mirroring refuses test-time mirroring (here before anything is written); a trainer not known here mirrors
    as nnUNetTrainerV2, and the log says so."""
    import nnunet_explorer.inference.predict as predict_module
    from nnunet_explorer.network_training import registry_restored

    _use_workspace_of(small_model, monkeypatch)
    name = "nnUNetTrainerV2_noMirroring"
    results = tmp_path / "results"
    _model_of_trainer(small_model, results, name)
    _model_of_trainer(small_model, results, "nnUNetTrainerV2_inPlaneMirroring")
    monkeypatch.setenv("RESULTS_FOLDER", str(results))
    axes_used = []
    sliding_window = predict_module.predict_sliding_window

    def spy(*args, **kwargs):
        axes_used.append(kwargs["mirror_axes"])
        return sliding_window(*args, **kwargs)

    monkeypatch.setattr(predict_module, "predict_sliding_window", spy)
    inputs = tmp_path / "in"
    inputs.mkdir()
    case = sorted(small_model.images.glob("*_0000.nii.gz"))[0]
    shutil.copy(case, inputs / case.name)
    trainer_file = tmp_path / "no_mirroring.py"
    trainer_file.write_text(NO_MIRRORING)
    def command(trainer):
        return ["predict", "-i", str(inputs), "-t", "901", "-tr", trainer, "-f", "0", "--device", "cpu"]

    args = command(name)
    with registry_restored():
        assert cli_main([*args, "-o", str(tmp_path / "refused"), "--trainer_file", str(trainer_file)]) != 0
        err = capsys.readouterr().err
        assert f"{name} trained without mirroring" in err and "--disable_tta" in err
        assert not (tmp_path / "refused").exists()
        assert cli_main([*args, "-o", str(tmp_path / "plain"), "--trainer_file", str(trainer_file),
                         "--disable_tta"]) == 0
        assert (tmp_path / "plain" / case.name.replace("_0000", "")).is_file()
        # a trainer with other axes: the sliding window flips those
        axes_used.clear()
        assert cli_main([*command("nnUNetTrainerV2_inPlaneMirroring"), "-o", str(tmp_path / "own"),
                         "--trainer_file", str(trainer_file)]) == 0
        assert axes_used == [(1, 2)]
    capsys.readouterr()
    axes_used.clear()
    assert cli_main([*args, "-o", str(tmp_path / "unknown")]) == 0
    out = capsys.readouterr().out
    assert f"{name} is not a trainer known here: test-time mirroring along nnUNetTrainerV2's axes (0, 1, 2)" in out
    assert axes_used == [(0, 1, 2)]
    # the Python API without trainer_mirroring reads no trainer either: a warning names the trainer and the fix
    from nnunet_explorer.inference import Predictor
    from nnunet_explorer.network_training import trainer_mirroring
    from nnunet_explorer.network_training.registry import load_trainers_from_file

    folder = results / "nnUNet" / "3d_fullres" / small_model.task / f"{name}__nnUNetPlansv2.1"
    with pytest.warns(UserWarning, match=f"{name}'s own setting was not read") as warned:
        Predictor.from_folder(folder, folds=[0], device="cpu")
    assert "trainer_mirroring=nnunet_explorer.network_training.trainer_mirroring" in str(warned[0].message)
    assert warned[0].filename == __file__  # it points at the caller's line
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Predictor.from_folder(folder, folds=[0], device="cpu", do_tta=False)  # no mirroring: nothing to say
        Predictor.from_folder(small_model.model_folder, folds=[0], device="cpu")  # nnUNetTrainerV2: its own axes
    with registry_restored():  # the faithful form reads the trainer: no mirroring, so predict() refuses it
        load_trainers_from_file(trainer_file)
        faithful = Predictor.from_folder(folder, folds=[0], device="cpu", trainer_mirroring=trainer_mirroring)
    assert faithful.model.do_mirror is False and faithful.model.mirroring_note is None
