"""The cascade end to end, against the real nnU-Net v1 on the same checkpoints and data.

On the two-stage synthetic CT task (``v1_cascade_task``, both stages preprocessed by v1):

1. ``train 3d_lowres nnUNetTrainerV2 901 all`` (explorer) ends with ``predict_next_stage``: one
   ``pred_next_stage/CASE_segFromPrevStage.npz`` per case, on the stage-1 grid. v1's own ``predict_next_stage``,
   run on the explorer's checkpoint, writes the identical label maps.
2. ``train 3d_cascade_fullres nnUNetTrainerV2CascadeFullRes 901 all`` (explorer) reads them (input channels =
   modalities + classes - 1), trains and validates. v1's ``nnUNetTrainerV2CascadeFullRes.validate`` on the
   explorer's checkpoint gives identical segmentations and summary.
3. ``predict -m 3d_cascade_fullres`` (no ``-l``: 3d_lowres is predicted first) equals v1's ``nnUNet_predict`` on
   the same model folders, for the low-resolution predictions and the final ones.

Fold ``all`` keeps it small: its validation cases are all cases, so one 3d_lowres run covers every case.
"""
from __future__ import annotations

import json
import pickle
import shutil
import types
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from nnunet_explorer.cli import main as cli_main
from nnunet_explorer.parity import run_v1_cli, run_v1_python
from nnunet_explorer.paths import Workspace, environment_for, resolve_workspace

pytestmark = [pytest.mark.parity, pytest.mark.slow]

TASK = "Task901_SynthCT"
PLANS = "nnUNetPlansv2.1"
SHORT = ["--max_num_epochs", "1", "--num_batches_per_epoch", "1", "--num_val_batches_per_epoch", "1",
         "--save_every", "1", "--single_threaded"]
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _read(path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def copy_task_tree(src: Workspace, dst_root: Path) -> Workspace:
    """A writable copy of a whole workspace (its three folders share one parent)."""
    shutil.copytree(src.raw_data_base.parent, dst_root, dirs_exist_ok=True)
    return resolve_workspace({"nnUNet_raw_data_base": str(dst_root / src.raw_data_base.name),
                              "nnUNet_preprocessed": str(dst_root / src.preprocessed.name),
                              "RESULTS_FOLDER": str(dst_root / src.results_folder.name)})


def _cli(ws, argv) -> int:
    with pytest.MonkeyPatch.context() as mp:
        for key, value in environment_for(ws).items():
            mp.setenv(key, value)
        mp.setenv("nnUNet_n_proc_DA", "1")
        return cli_main(argv)


@pytest.fixture(scope="module")
def cascade(v1_cascade_task, tmp_path_factory):
    """A writable copy of the two-stage task after the explorer trained 3d_lowres (fold all)."""
    root = tmp_path_factory.mktemp("cascade")
    ws = copy_task_tree(v1_cascade_task.workspace, root).ensure()
    torch.set_num_threads(1)
    assert _cli(ws, ["train", "3d_lowres", "nnUNetTrainerV2", "901", "all", *SHORT, "--quiet",
                     "--disable_validation_inference"]) == 0
    lowres = ws.results_folder / "nnUNet" / "3d_lowres" / TASK / f"nnUNetTrainerV2__{PLANS}"
    return types.SimpleNamespace(ws=ws, root=root, lowres=lowres, pre=ws.preprocessed_task_dir(TASK),
                                 images=ws.raw_task_dir(TASK) / "imagesTs")


def test_lowres_training_predicts_every_case_for_the_next_stage(cascade):
    folder = cascade.lowres / "pred_next_stage"
    cases = sorted(p.name[:-4] for p in (cascade.pre / "nnUNetData_plans_v2.1_stage1").glob("*.npz"))
    written = sorted(p.name for p in folder.glob("*_segFromPrevStage.npz"))
    assert written == [f"{c}_segFromPrevStage.npz" for c in cases] and len(cases) == 10
    for case in cases:
        with np.load(folder / f"{case}_segFromPrevStage.npz") as f:
            seg = f["data"]
        with np.load(cascade.pre / "nnUNetData_plans_v2.1_stage1" / f"{case}.npz") as f:
            stage1_shape = f["data"].shape[1:]
        with np.load(cascade.pre / "nnUNetData_plans_v2.1_stage0" / f"{case}.npz") as f:
            stage0_shape = f["data"].shape[1:]
        assert seg.dtype == np.uint8 and seg.shape == stage1_shape != stage0_shape  # resampled to stage 1
        assert set(np.unique(seg)) <= {0, 1, 2}


V1_NEXT_STAGE = """
import shutil
from batchgenerators.utilities.file_and_folder_operations import join
from nnunet.run.default_configuration import get_default_configuration
from nnunet.training.cascade_stuff.predict_next_stage import predict_next_stage
plans_file, out, dataset_directory, batch_dice, stage, trainer_class = get_default_configuration(
    "3d_lowres", "%s", "nnUNetTrainerV2", "nnUNetPlansv2.1")
trainer = trainer_class(plans_file, "all", output_folder=out, dataset_directory=dataset_directory,
                        batch_dice=batch_dice, stage=stage, unpack_data=False, deterministic=False, fp16=False)
trainer.initialize(False)
trainer.load_dataset()
trainer.do_split()
trainer.load_final_checkpoint(train=False)
trainer.network.eval()
predict_next_stage(trainer, join(dataset_directory, trainer.plans['data_identifier'] + "_stage1"))
""" % TASK


def test_predict_next_stage_equals_v1_on_the_same_checkpoint(cascade, tmp_path):
    ws = cascade.ws
    ours = tmp_path / "ours"
    shutil.copytree(cascade.lowres / "pred_next_stage", ours)
    # v1 writes into the same folder: run it on a copy of the workspace
    v1_ws = copy_task_tree(ws, tmp_path / "v1").ensure()
    v1_lowres = v1_ws.results_folder / cascade.lowres.relative_to(ws.results_folder)
    shutil.rmtree(v1_lowres / "pred_next_stage")
    run_v1_python(V1_NEXT_STAGE, v1_ws, timeout=900, extra_env=ONE_THREAD)
    theirs = sorted((v1_lowres / "pred_next_stage").glob("*.npz"))
    assert len(theirs) == 10
    for f in theirs:
        with np.load(f) as a, np.load(ours / f.name) as b:
            assert a["data"].dtype == b["data"].dtype and np.array_equal(a["data"], b["data"]), f.name


@pytest.fixture(scope="module")
def cascade_trained(cascade):
    """The explorer's 3d_cascade_fullres (fold all) on the 3d_lowres segmentations, with validation."""
    torch.set_num_threads(1)
    assert _cli(cascade.ws, ["train", "3d_cascade_fullres", "nnUNetTrainerV2CascadeFullRes", "901", "all",
                             *SHORT, "--quiet"]) == 0
    cascade.full = (cascade.ws.results_folder / "nnUNet" / "3d_cascade_fullres" / TASK /
                    f"nnUNetTrainerV2CascadeFullRes__{PLANS}")
    return cascade


def test_cascade_training_uses_the_previous_stage_and_validates(cascade_trained):
    from nnunet_explorer.training.checkpoints import load_checkpoint_file, load_model_pkl

    fold = cascade_trained.full / "all"
    info = load_model_pkl(fold / "model_final_checkpoint.model.pkl")
    assert info["name"] == "nnUNetTrainerV2CascadeFullRes"
    assert info["init"][8] == "nnUNetTrainerV2" and len(info["init"]) == 10  # previous_trainer before fp16
    weights = load_checkpoint_file(fold / "model_final_checkpoint.model")["state_dict"]
    first_conv = weights["conv_blocks_context.0.blocks.0.conv.weight"]
    assert first_conv.shape[1] == 1 + 2  # one CT channel + one-hot of the two foreground classes
    summary = json.loads((fold / "validation_raw" / "summary.json").read_text())
    assert len(summary["results"]["all"]) == 10 and set(summary["results"]["mean"]) == {"0", "1", "2"}
    assert (fold / "postprocessing.json").is_file()
    assert (fold / "debug.json").is_file() and (cascade_trained.full / "plans.pkl").is_file()


V1_CASCADE_VALIDATE = """
from nnunet.run.default_configuration import get_default_configuration
plans_file, out, dataset_directory, batch_dice, stage, trainer_class = get_default_configuration(
    "3d_cascade_fullres", "%s", "nnUNetTrainerV2CascadeFullRes", "nnUNetPlansv2.1")
trainer = trainer_class(plans_file, "all", output_folder=out, dataset_directory=dataset_directory,
                        batch_dice=batch_dice, stage=stage, unpack_data=False, deterministic=False, fp16=False)
trainer.initialize(False)
trainer.load_final_checkpoint(train=False)
trainer.network.eval()
trainer.validate(save_softmax=False, validation_folder_name="v1_validation", run_postprocessing_on_folds=False)
""" % TASK


def test_cascade_validation_equals_v1_on_the_same_checkpoint(cascade_trained, tmp_path):
    v1_ws = copy_task_tree(cascade_trained.ws, tmp_path / "v1").ensure()
    run_v1_python(V1_CASCADE_VALIDATE, v1_ws, timeout=900, extra_env=ONE_THREAD)
    v1_fold = v1_ws.results_folder / cascade_trained.full.relative_to(cascade_trained.ws.results_folder) / "all"
    ours_fold = cascade_trained.full / "all"
    theirs = sorted((v1_fold / "v1_validation").glob("*.nii.gz"))
    assert len(theirs) == 10
    for f in theirs:
        assert np.array_equal(_read(f), _read(ours_fold / "validation_raw" / f.name)), f.name
    ours = json.loads((ours_fold / "validation_raw" / "summary.json").read_text())["results"]["mean"]
    v1 = json.loads((v1_fold / "v1_validation" / "summary.json").read_text())["results"]["mean"]
    assert json.dumps(ours, sort_keys=True) == json.dumps(v1, sort_keys=True)
    # validation_args.json: v1's keys, the cascade's "step" (not "step_size") among them
    ours_args, v1_args = (json.loads((folder / "validation_args.json").read_text())
                          for folder in (ours_fold / "validation_raw", v1_fold / "v1_validation"))
    assert list(ours_args) == list(v1_args) and "step" in v1_args
    assert {k: ours_args[k] for k in ("step", "all_in_gpu", "use_gaussian")} == \
        {k: v1_args[k] for k in ("step", "all_in_gpu", "use_gaussian")}


def test_cascade_predict_equals_v1(cascade_trained, tmp_path):
    ws = cascade_trained.ws
    out = tmp_path / "ours"
    torch.set_num_threads(1)
    assert _cli(ws, ["predict", "-i", str(cascade_trained.images), "-o", str(out), "-t", "901", "-m",
                     "3d_cascade_fullres", "-f", "all"]) == 0
    run_v1_cli("nnUNet_predict", ["-i", cascade_trained.images, "-o", tmp_path / "v1", "-t", TASK, "-m",
                                  "3d_cascade_fullres", "-f", "all", "--disable_mixed_precision",
                                  "--num_threads_preprocessing", "1", "--num_threads_nifti_save", "1"],
               ws, timeout=900, extra_env=ONE_THREAD)
    for sub in ("3d_lowres_predictions", "."):
        theirs = sorted((tmp_path / "v1" / sub).glob("*.nii.gz"))
        assert len(theirs) == 2, sub
        for f in theirs:
            ours = _read(out / sub / f.name)
            assert np.array_equal(_read(f), ours), f"{sub}/{f.name}"
            assert ours.shape == _read(cascade_trained.images / f"{f.name[:-7]}_0000.nii.gz").shape


def test_cascade_predict_with_l_reuses_lowres_predictions_and_checks_them(cascade_trained, tmp_path, capsys):
    ws = cascade_trained.ws
    first = tmp_path / "first"
    torch.set_num_threads(1)
    assert _cli(ws, ["predict", "-i", str(cascade_trained.images), "-o", str(first), "-t", "901", "-m",
                     "3d_cascade_fullres", "-f", "all", "--disable_tta"]) == 0
    second = tmp_path / "second"
    assert _cli(ws, ["predict", "-i", str(cascade_trained.images), "-o", str(second), "-t", "901", "-m",
                     "3d_cascade_fullres", "-f", "all", "--disable_tta", "-l",
                     str(first / "3d_lowres_predictions")]) == 0
    assert not (second / "3d_lowres_predictions").exists()
    for f in sorted(first.glob("*.nii.gz")):
        assert np.array_equal(_read(f), _read(second / f.name))
    # a lowres folder that lacks a case is refused before anything is predicted
    partial = tmp_path / "partial"
    partial.mkdir()
    shutil.copy(sorted((first / "3d_lowres_predictions").glob("*.nii.gz"))[0], partial)
    capsys.readouterr()
    assert _cli(ws, ["predict", "-i", str(cascade_trained.images), "-o", str(tmp_path / "x"), "-t", "901", "-m",
                     "3d_cascade_fullres", "-f", "all", "-l", str(partial)]) == 2
    assert "not all lowres_segmentations files are present" in capsys.readouterr().err
    # -l with a model that is not the cascade is refused
    assert _cli(ws, ["predict", "-i", str(cascade_trained.images), "-o", str(tmp_path / "y"), "-t", "901", "-m",
                     "3d_lowres", "-f", "all", "-l", str(partial)]) == 2
    assert "only used with -m 3d_cascade_fullres" in capsys.readouterr().err


def test_cascade_without_lowres_segmentations_names_the_missing_step(cascade, tmp_path, capsys):
    ws = copy_task_tree(cascade.ws, tmp_path / "ws").ensure()
    shutil.rmtree(ws.results_folder / cascade.lowres.relative_to(cascade.ws.results_folder) / "pred_next_stage")
    capsys.readouterr()
    assert _cli(ws, ["train", "3d_cascade_fullres", "nnUNetTrainerV2CascadeFullRes", "901", "0", *SHORT]) != 0
    err = capsys.readouterr().err
    assert "Cannot run final stage of cascade" in err and "3d_lowres" in err
    # the plain V2 trainer is refused for the cascade network, as v1 asserts
    assert _cli(ws, ["train", "3d_cascade_fullres", "nnUNetTrainerV2", "901", "0", *SHORT]) != 0
    assert "must be derived from nnUNetTrainerCascadeFullRes" in capsys.readouterr().err


def test_cascade_plans_processing_and_augmentation_parameters(cascade):
    from nnunet_explorer.planning.plans import load_plans
    from nnunet_explorer.network_training import nnUNetTrainerV2, nnUNetTrainerV2CascadeFullRes

    plans_file = cascade.pre / "nnUNetPlansv2.1_plans_3D.pkl"
    plans = load_plans(plans_file)
    out = cascade.ws.results_folder / "nnUNet" / "3d_cascade_fullres" / TASK / f"nnUNetTrainerV2CascadeFullRes__{PLANS}"
    cascade_trainer = nnUNetTrainerV2CascadeFullRes(plans_file, 0, out, cascade.pre, True, 1)
    v2 = nnUNetTrainerV2(plans_file, 0, out, cascade.pre, True, 1)
    cascade_trainer.process_plans(plans)
    v2.process_plans(plans)
    assert cascade_trainer.num_input_channels == v2.num_input_channels + v2.num_classes - 1
    cascade_trainer.setup_DA_params()
    params = cascade_trainer.data_aug_params
    assert params["selected_seg_channels"] == [0, 1] and params["all_segmentation_labels"] == [1, 2]
    assert params["move_last_seg_chanel_to_data"] and params["cascade_do_cascade_augmentations"]
    assert Path(cascade_trainer.folder_with_segs_from_prev_stage) == cascade.lowres / "pred_next_stage"
    with open(plans_file, "rb") as f:
        assert pickle.load(f)["num_stages"] == 2
