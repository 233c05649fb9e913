"""A checkpoint written by the real nnU-Net v1 is validated and used for prediction by the explorer.

The v1 side (subprocess): build ``nnUNetTrainerV2`` for 3d_fullres on the shared synthetic CT task, initialize it
(random weights), save ``model_final_checkpoint.model`` (+ ``.model.pkl``, with numpy scalars in the loss
curves, as a real run leaves them), run v1's own ``validate`` and ``nnUNet_predict``. The explorer loads the same
checkpoint with its safe loader and must produce identical label maps, the same ``summary.json`` numbers and
the same ``postprocessing.json``. Test-time mirroring is off on both sides to keep the CPU time small (its
parity is proven on small networks in ``test_sliding_window.py``).
"""
from __future__ import annotations

import json
import shutil
import types
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

import torch

from nnunet_explorer.cli import main as cli_main
from nnunet_explorer.parity import run_v1_cli, run_v1_python
from nnunet_explorer.paths import resolve_workspace

pytestmark = [pytest.mark.parity, pytest.mark.slow]

TASK = "Task901_SynthCT"
MODEL_SUBPATH = Path("nnUNet") / "3d_fullres" / TASK / "nnUNetTrainerV2__nnUNetPlansv2.1"
# applied by both sides' predict: all foreground as one region, then label 1 alone
CRAFTED_PP = {"for_which_classes": [[1, 2], 1], "min_valid_object_sizes": "None"}

V1_SCRIPT = """
import shutil
import numpy as np, torch
from batchgenerators.utilities.file_and_folder_operations import join
from nnunet.run.default_configuration import get_default_configuration
plans_file, out, dataset_directory, batch_dice, stage, trainer_class = get_default_configuration(
    "3d_fullres", "%s", "nnUNetTrainerV2", "nnUNetPlansv2.1")
trainer = trainer_class(plans_file, 0, output_folder=out, dataset_directory=dataset_directory,
                        batch_dice=batch_dice, stage=stage, unpack_data=False, deterministic=False, fp16=False)
torch.manual_seed(7)
trainer.initialize(False)
trainer.all_tr_losses = [np.float32(0.9), np.float32(0.8)]
trainer.all_val_losses = [np.float32(0.95), np.float32(0.85)]
trainer.all_val_eval_metrics = [np.float64(0.1), np.float64(0.2)]
trainer.best_MA_tr_loss_for_patience = np.float32(0.8)
trainer.best_epoch_based_on_MA_tr_loss = 1
trainer.best_val_eval_criterion_MA = np.float64(0.2)
trainer.epoch = 1
shutil.copy(plans_file, join(trainer.output_folder_base, "plans.pkl"))
trainer.save_checkpoint(join(trainer.output_folder, "model_final_checkpoint.model"))
trainer.network.eval()
trainer.validate(do_mirroring=False, save_softmax=False, validation_folder_name="validation_raw")
""" % TASK


def _read(path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


@pytest.fixture(scope="module")
def v1_model(v1_ct_task, tmp_path_factory):
    """A copy of the shared v1 task with a v1 checkpoint, v1's validation and v1's predictions in it."""
    root = tmp_path_factory.mktemp("v1_model")
    src_root = v1_ct_task.workspace.raw_data_base.parent
    shutil.copytree(src_root, root, dirs_exist_ok=True)
    ws = resolve_workspace({"nnUNet_raw_data_base": str(root / "raw"), "nnUNet_preprocessed": str(root / "pre"),
                            "RESULTS_FOLDER": str(root / "results")})
    single_thread = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    run_v1_python(V1_SCRIPT, ws, timeout=900, extra_env=single_thread)
    model_folder = ws.results_folder / MODEL_SUBPATH
    (model_folder / "postprocessing.json").write_text(json.dumps(CRAFTED_PP))
    # a second fold with other weights, so that prediction ensembles two folds (mean of the probabilities)
    from nnunet_explorer.training.checkpoints import load_checkpoint_file

    checkpoint = load_checkpoint_file(model_folder / "fold_0" / "model_final_checkpoint.model")
    generator = torch.Generator().manual_seed(3)
    checkpoint["state_dict"] = {k: v + 0.05 * torch.randn(v.shape, generator=generator) if v.is_floating_point()
                                else v for k, v in checkpoint["state_dict"].items()}
    (model_folder / "fold_1").mkdir()
    torch.save(checkpoint, model_folder / "fold_1" / "model_final_checkpoint.model")
    shutil.copy(model_folder / "fold_0" / "model_final_checkpoint.model.pkl", model_folder / "fold_1")
    images = ws.raw_task_dir(TASK) / "imagesTs"
    run_v1_cli("nnUNet_predict", ["-i", images, "-o", root / "v1_pred", "-t", TASK, "-m", "3d_fullres", "-f", "0",
                                  "1", "--disable_tta", "--disable_mixed_precision", "--num_threads_preprocessing", "1",
                                  "--num_threads_nifti_save", "1"], ws, timeout=900, extra_env=single_thread)
    return types.SimpleNamespace(ws=ws, root=root, model_folder=model_folder, images=images,
                                 pre=ws.preprocessed_task_dir(TASK))


def test_v1_checkpoint_loads_safely(v1_model):
    from nnunet_explorer.training.checkpoints import load_checkpoint_file, load_model_pkl

    fold = v1_model.model_folder / "fold_0"
    checkpoint = load_checkpoint_file(fold / "model_final_checkpoint.model")
    assert checkpoint["epoch"] == 2 and len(checkpoint["plot_stuff"][0]) == 2
    assert isinstance(checkpoint["plot_stuff"][0][0], np.floating)
    info = load_model_pkl(fold / "model_final_checkpoint.model.pkl")
    assert info["name"] == "nnUNetTrainerV2" and info["init"][1] == 0


def test_validation_equals_v1(v1_model, tmp_path):
    from nnunet_explorer.inference.predict import load_model_and_checkpoint_files
    from nnunet_explorer.inference.validation import validate
    from nnunet_explorer.training.splits import load_splits

    torch.set_num_threads(1)
    model = load_model_and_checkpoint_files(v1_model.model_folder, [0])
    val_keys = load_splits(v1_model.pre / "splits_final.pkl")[0]["val"]
    stage_folder = v1_model.pre / "nnUNetData_plans_v2.1_stage0"
    ours_fold = tmp_path / "nnUNetTrainerV2__nnUNetPlansv2.1" / "fold_0"
    report = validate(model.network, model.plans, model.stage, ours_fold, stage_folder, val_keys,
                      v1_model.pre / "gt_segmentations", do_mirroring=False)
    v1_fold = v1_model.model_folder / "fold_0"
    v1_files = sorted((v1_fold / "validation_raw").glob("*.nii.gz"))
    assert len(v1_files) == len(val_keys) == len(report.cases) >= 1
    for f in v1_files:
        assert np.array_equal(_read(f), _read(ours_fold / "validation_raw" / f.name)), f.name
    for sub in ("validation_raw", "validation_raw_postprocessed"):
        ours = json.loads((ours_fold / sub / "summary.json").read_text())
        theirs = json.loads((v1_fold / sub / "summary.json").read_text())
        assert json.dumps(ours["results"]["mean"], sort_keys=True) == json.dumps(theirs["results"]["mean"],
                                                                                 sort_keys=True)
        assert ours["name"] == theirs["name"] and ours["task"] == theirs["task"]
    assert json.loads((ours_fold / "postprocessing.json").read_text()) == \
        json.loads((v1_fold / "postprocessing.json").read_text())
    assert json.loads((ours_fold / "validation_raw" / "validation_args.json").read_text()) == \
        json.loads((v1_fold / "validation_raw" / "validation_args.json").read_text())
    assert sorted(p.name for p in (ours_fold.parent / "gt_niftis").iterdir()) == \
        sorted(p.name for p in (v1_fold.parent / "gt_niftis").iterdir())
    assert all(c.num_tiles >= 1 and not c.skipped for c in report.cases)


def test_predict_command_equals_v1(v1_model, tmp_path, monkeypatch, capsys):
    for key, value in {"nnUNet_raw_data_base": v1_model.ws.raw_data_base, "nnUNet_preprocessed":
                       v1_model.ws.preprocessed, "RESULTS_FOLDER": v1_model.ws.results_folder}.items():
        monkeypatch.setenv(key, str(value))
    torch.set_num_threads(1)
    out = tmp_path / "ours_pred"
    args = ["predict", "-i", str(v1_model.images), "-o", str(out), "-t", "901", "-f", "0", "1", "--disable_tta"]
    assert cli_main(args) == 0
    v1_files = sorted((v1_model.root / "v1_pred").glob("*.nii.gz"))
    assert len(v1_files) == 2
    for f in v1_files:
        ours = _read(out / f.name)
        assert np.array_equal(_read(f), ours), f.name
        assert ours.shape == _read(v1_model.images / f"{f.name[:-7]}_0000.nii.gz").shape
    assert json.loads((out / "postprocessing.json").read_text()) == CRAFTED_PP
    assert (out / "plans.pkl").is_file()
    assert json.loads((out / "prediction_time.txt").read_text()) > 0
    # without --overwrite_existing nothing is predicted again
    before = {f.name: f.stat().st_mtime_ns for f in out.glob("*.nii.gz")}
    capsys.readouterr()
    assert cli_main(args) == 0
    assert "skipped 2" in capsys.readouterr().out
    assert {f.name: f.stat().st_mtime_ns for f in out.glob("*.nii.gz")} == before
    # the postprocessing.json was applied: without it the label maps differ
    raw = tmp_path / "raw_pred"
    assert cli_main(args[:4] + [str(raw)] + args[5:] + ["--disable_postprocessing"]) == 0
    assert any(not np.array_equal(_read(raw / f.name), _read(out / f.name)) for f in v1_files)


def test_predict_command_errors(v1_model, tmp_path, monkeypatch, capsys):
    for key, value in {"nnUNet_raw_data_base": v1_model.ws.raw_data_base, "nnUNet_preprocessed":
                       v1_model.ws.preprocessed, "RESULTS_FOLDER": v1_model.ws.results_folder}.items():
        monkeypatch.setenv(key, str(value))
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli_main(["predict", "-i", str(empty), "-o", str(tmp_path / "o"), "-t", "901", "-f", "0"]) == 2
    assert "no .nii.gz" in capsys.readouterr().err
    assert cli_main(["predict", "-i", str(v1_model.images), "-o", str(tmp_path / "o"), "-t", "901", "-f", "3"]) == 2
    assert "fold_3" in capsys.readouterr().err
    assert cli_main(["predict", "-i", str(v1_model.images), "-o", str(tmp_path / "o"), "-t", "901",
                     "-chk", "model_best"]) == 2
    assert "model_best.model" in capsys.readouterr().err
    assert cli_main(["predict", "-i", str(v1_model.images), "-o", str(tmp_path / "o"), "-t", "901",
                     "-tr", "nnUNetTrainerV2_5epochs"]) == 2
    assert "nnUNetTrainerV2_5epochs__nnUNetPlansv2.1 does not exist" in capsys.readouterr().err


def test_validation_skips_existing_and_saves_softmax(v1_model, tmp_path):
    from nnunet_explorer.inference.predict import load_model_and_checkpoint_files
    from nnunet_explorer.inference.validation import validate
    from nnunet_explorer.training.splits import load_splits

    torch.set_num_threads(1)
    model = load_model_and_checkpoint_files(v1_model.model_folder, [0])
    val_keys = load_splits(v1_model.pre / "splits_final.pkl")[0]["val"][:1]
    stage_folder = v1_model.pre / "nnUNetData_plans_v2.1_stage0"
    fold = tmp_path / "fold_0"
    kwargs = dict(do_mirroring=False, run_postprocessing_on_folds=False)
    first = validate(model.network, model.plans, model.stage, fold, stage_folder, val_keys,
                     v1_model.pre / "gt_segmentations", save_softmax=True, **kwargs)
    case = first.cases[0]
    with np.load(fold / "validation_raw" / f"{case.fname}.npz") as npz:
        softmax = npz["softmax"]
    assert softmax.dtype == np.float16 and softmax.shape[0] == model.num_classes
    assert np.allclose(softmax.astype(np.float32).sum(0), 1, atol=1e-2)
    assert (fold / "validation_raw" / f"{case.fname}.pkl").is_file()
    before = (fold / "validation_raw" / f"{case.fname}.nii.gz").stat().st_mtime_ns
    second = validate(model.network, model.plans, model.stage, fold, stage_folder, val_keys,
                      v1_model.pre / "gt_segmentations", save_softmax=True, overwrite=False, **kwargs)
    assert second.cases[0].skipped and not first.cases[0].skipped
    assert (fold / "validation_raw" / f"{case.fname}.nii.gz").stat().st_mtime_ns == before
    assert (fold / "validation_raw" / "summary.json").is_file() and first.postprocessing is None


def test_predict_case_ensembles_folds_by_mean(v1_model):
    from nnunet_explorer.inference.predict import load_model_and_checkpoint_files, predict_case

    torch.set_num_threads(1)
    model = load_model_and_checkpoint_files(v1_model.model_folder, None)  # None: every fold_* folder
    assert [f.name for f in model.fold_folders] == ["fold_0", "fold_1"]
    files = sorted(v1_model.images.glob("*_0000.nii.gz"))[:1]
    inference = predict_case(model, files, do_tta=False)
    p0, p1 = (r.probabilities for r in inference.per_fold)
    assert not np.allclose(p0, p1)  # the folds really differ
    backward = [int(i) for i in model.plans["transpose_backward"]]
    expected = ((p0 + p1) / 2).transpose([0] + [i + 1 for i in backward])
    assert np.allclose(inference.probabilities, expected, atol=1e-6)
    assert inference.data.shape[1:] == p0.shape[1:]
