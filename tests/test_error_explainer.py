"""``doctor --explain``: v1's error messages recognised in v1's own words, and the checks run on this machine."""
from __future__ import annotations

import ast
import importlib.util
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from nnunet_explorer.cli import main
from nnunet_explorer.fileio import load_pickle
from nnunet_explorer.error_explainer import KNOWN, explain
from nnunet_explorer.language import ENV_VAR
from nnunet_explorer.samples.synthetic import write_synthetic_task


def _literal(module: str, relative: str, start: str) -> str:
    """The string literal (adjacent parts joined, as Python joins them) of ``module``'s file that holds ``start``."""
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.submodule_search_locations, module
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
             and start in n.value]
    assert found, f"{start!r} is not in {path}"
    return found[0]


_V1_MODEL = "/r/nnUNet/3d_fullres/Task004_X/nnUNetTrainerV2__nnUNetPlansv2.1"


# each recognised message as v1 1.7.1 (or batchgenerators 0.25.5, torch, numpy) writes it, its arguments filled in
def _messages(label_file: str = "/data/Task004_X/labelsTr/case_1.nii.gz") -> dict[str, str]:
    pytest.importorskip("nnunet")
    empty = ""
    try:
        np.max(np.array([]))
    except ValueError as exc:
        empty = str(exc)
    return {
        "task_id": _literal("nnunet", "utilities/task_name_id_conversion.py", "Could not find a task with the ID")
        % (4, "None", "/r", "None"),
        "folder_unset": _literal("nnunet", "paths.py", "RESULTS_FOLDER is not defined"),
        "one_stage": _literal("nnunet", "run/default_configuration.py", "only applies if"),
        "cascade_folder": _literal("nnunet", "training/network_training/nnUNetTrainerV2_CascadeFullRes.py",
                                   "Cannot run final stage"),
        "trainer_class": _literal("nnunet", "run/run_training.py", "Could not find trainer class"),
        "workers_died": _literal("batchgenerators", "dataloading/multi_threaded_augmenter.py", "no longer alive"),
        "unexpected_labels": _literal("nnunet", "preprocessing/sanity_checks.py", "Unexpected labels found")
        % (label_file, np.array([3])),
        "pretrained": _literal("nnunet", "run/load_pretrained_weights.py", "Pretrained weights are not compatible"),
        "no_deep_supervision": _literal("nnunet", "training/loss_functions/deep_supervision.py", "x must be"),
        "weights_only": _literal("torch", "serialization.py", "Weights only load failed"),
        "cuda_oom": "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB",
        "state_dict": _v1_state_dict_message({"inputs": 2}, {}),
        "cascade_case": _literal("nnunet", "training/network_training/nnUNetTrainerV2_CascadeFullRes.py",
                                 "seg from prev stage missing") % "/r/pred_next_stage/case_3_segFromPrevStage.npz",
        "not_segmentation_network": _v1_source_line("training/network_training/nnUNetTrainerV2.py",
                                                    "assert isinstance(self.network, (SegmentationNetwork"),
        "no_mirroring": _literal("nnunet", "training/network_training/nnUNetTrainer.py", "Cannot do mirroring as"),
        "gpu_full": "RuntimeError: CUDA error: out of memory\nCUDA kernel errors might be asynchronously reported at "
                    "some other API call, so the stacktrace below might be incorrect.",
        "device_assert": "RuntimeError: CUDA error: device-side assert triggered",
        "cudnn": "RuntimeError: cuDNN error: CUDNN_STATUS_INTERNAL_ERROR",  # torch's C++ words, as v1 users posted them
        "no_kernel_image": "RuntimeError: CUDA error: no kernel image is available for execution on the device",
        "empty_image": empty,
        "npy_incomplete": _cut_npy_message(),
        "model_folder": _literal("nnunet", "inference/predict_simple.py", "model output folder not found") % _V1_MODEL,
        "fold_folders": _literal("nnunet", "training/model_restore.py", "list of folds specified"),
        "checkpoint_missing": _missing_plans_message(f"{_V1_MODEL}/fold_0/model_final_checkpoint.model.pkl"),
        "final_checkpoint": _literal("nnunet", "training/network_training/network_trainer.py",
                                     "Final checkpoint not found") % f"{_V1_MODEL}/fold_0/model_final_checkpoint.model",
        "no_checkpoint": _literal("nnunet", "training/network_training/network_trainer.py", "No checkpoint found"),
        "input_files": _literal("nnunet", "inference/predict.py", "missing files in input_folder"),
        "raw_files": _literal("nnunet", "preprocessing/sanity_checks.py", "could not find label file")
        % ("case_1", "/data/Task004_X/labelsTr/case_1.nii.gz"),
        "geometry_mismatch": _literal("nnunet", "preprocessing/sanity_checks.py", "GEOMETRY MISMATCH FOUND"),
        "label_numbers": _literal("nnunet", "preprocessing/sanity_checks.py", "The first label must be 0"),
        "nan_values": _literal("nnunet", "preprocessing/sanity_checks.py", "Some images have nan values"),
        "duplicate_cases": _literal("nnunet", "preprocessing/sanity_checks.py", "found duplicate training cases"),
        "test_modalities": _literal("nnunet", "preprocessing/sanity_checks.py", "The modalities of the image ")
        % "/data/Task004_X/imagesTs/t_0000.nii.gz",
        "plans_missing": _missing_plans_message("/data/pre/Task004_X/nnUNetPlansv2.1_plans_3D.pkl"),
        "fold_beyond_splits": _literal("nnunet", "training/network_training/nnUNetTrainerV2.py",
                                       "You requested fold") % (5, 5),
        "target_size": _v1_target_size_message(),
        "patch_not_divisible": _v1_undivided_patch_message(),
        "one_voxel_deepest": _v1_one_voxel_message(),
        "input_channels": _v1_channels_message(),
        "label_beyond_classes": _v1_label_beyond_message(),
        "nan_loss": _literal("nnunet", "training/network_training/network_trainer.py", "train loss : ") % float("nan"),
        "too_few_cases": _v1_kfold_message(4),
        "stage_folder": _missing_plans_message("/data/pre/Task004_X/nnUNetData_plans_v2.1_stage0"),
        # SimpleITK's message is two lines; the second one names the file
        "image_missing": _v1_cropping_message("/data/Task004_X/imagesTr/case_1_0000.nii.gz").splitlines()[-1],
        "model_plans": _missing_plans_message(f"{_V1_MODEL}/plans.pkl"),
        **_damaged_file_messages(),
    }


def _v1_cropping_message(image: str) -> str:
    """What v1's cropping says when a case's image is not there (SimpleITK's reader, as v1 calls it)."""
    from nnunet.preprocessing.cropping import load_case_from_list_of_files

    return _v1_raised(lambda: load_case_from_list_of_files([image], None))


def _v1_kfold_message(cases: int) -> str:
    """scikit-learn's refusal as v1's do_split meets it: ``KFold(n_splits=5, shuffle=True, random_state=12345)``
    over ``cases`` sorted case ids."""
    from sklearn.model_selection import KFold

    return _v1_raised(lambda: list(KFold(n_splits=5, shuffle=True, random_state=12345).split(
        np.sort([f"case_{i}" for i in range(cases)]))))


def _damaged_file_messages() -> dict[str, str]:
    """What v1 1.7.1's own readers (and the numpy, pickle and torch under them) raise on damaged files, and what
    its write_pickle raises on a full disk (/dev/full answers every write with ENOSPC)."""
    import tempfile

    import torch
    from batchgenerators.utilities.file_and_folder_operations import load_pickle as v1_load_pickle
    from batchgenerators.utilities.file_and_folder_operations import write_pickle as v1_write_pickle
    from nnunet.training.dataloading.dataset_loading import convert_to_npy as v1_convert_to_npy

    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        np.savez_compressed(folder / "case_0.npz", data=np.zeros((2, 8, 8, 8), np.float32))
        (folder / "case_0.npz").write_bytes((folder / "case_0.npz").read_bytes()[:200])
        # what each worker of v1's unpack_dataset runs (its Pool re-raises the error as it is)
        npz = _v1_raised(lambda: v1_convert_to_npy((str(folder / "case_0.npz"), "data")))
        (folder / "case_1.npy").write_bytes(bytes(4096))  # zeros a crash left; v1's DataLoader3D memory-maps it
        zeros = _v1_raised(lambda: np.load(folder / "case_1.npy", mmap_mode="r"))
        (folder / "case_1.pkl").write_bytes(b"")
        pkl = _v1_raised(lambda: v1_load_pickle(str(folder / "case_1.pkl")))
        torch.save({"epoch": 50}, folder / "model_latest.model")  # v1's load_checkpoint: torch.load on the CPU
        (folder / "model_latest.model").write_bytes((folder / "model_latest.model").read_bytes()[:300])
        checkpoint = _v1_raised(lambda: torch.load(folder / "model_latest.model", map_location="cpu"))
    full = (_v1_raised(lambda: v1_write_pickle({"a": np.zeros(9000)}, "/dev/full")) if os.path.exists("/dev/full")
            else f"OSError: {OSError(28, os.strerror(28))}")
    return {"damaged_npz": npz, "not_an_array": zeros, "damaged_pickle": pkl, "damaged_checkpoint": checkpoint,
            "disk_full": full}


def _missing_plans_message(path: str) -> str:
    """What v1's load_pickle raises for a missing file (get_default_configuration's plans, restore_model's
    ``.model.pkl``)."""
    from batchgenerators.utilities.file_and_folder_operations import load_pickle as v1_load_pickle

    with pytest.raises(FileNotFoundError) as raised:
        v1_load_pickle(path)
    return f"FileNotFoundError: {raised.value}"


def _v1_source_line(relative: str, start: str) -> str:
    """A bare assert's end of traceback as Python prints it: v1's own source line (read from its file), then the
    error's name."""
    spec = importlib.util.find_spec("nnunet")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    lines = path.read_text(encoding="utf-8").splitlines()
    line = next(text.strip() for text in lines if text.strip().startswith(start))
    return f"    {line}\nAssertionError"  # Python prints the source line under its 'File "...", line N' line


def _cut_npy_message() -> str:
    """What numpy says when v1's loader memory-maps (``mmap_mode='r'``) an unpacked case cut short."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "case_0.npy"
        np.save(path, np.zeros((2, 8, 8, 8), np.float32))
        path.write_bytes(path.read_bytes()[:300])
        with pytest.raises(ValueError) as raised:
            np.load(path, mmap_mode="r")
    return f"ValueError: {raised.value}"


def _v1_generic_unet(pools, upscale_logits: bool):
    """v1 1.7.1's Generic_UNet built as nnUNetTrainerV2.initialize_network builds it (4 base features, 3 classes)."""
    import torch
    from nnunet.network_architecture.generic_UNet import Generic_UNet
    from nnunet.network_architecture.initialization import InitWeights_He
    from torch import nn

    torch.manual_seed(0)
    return Generic_UNet(1, 4, 3, len(pools), 2, 2, nn.Conv3d, nn.InstanceNorm3d, {"eps": 1e-5, "affine": True},
                        nn.Dropout3d, {"p": 0, "inplace": True}, nn.LeakyReLU,
                        {"negative_slope": 1e-2, "inplace": True}, True, False, lambda x: x, InitWeights_He(1e-2),
                        pools, [[3, 3, 3]] * (len(pools) + 1), upscale_logits, True, True)


def _v1_state_dict_message(trained: dict, built: dict) -> str:
    """What torch says when the weights of v1's Generic_UNet built with ``trained`` are loaded into one built with
    ``built`` (keyword changes to :func:`_v1_unet`'s defaults)."""
    with pytest.raises(RuntimeError) as raised:
        _v1_unet(**built).load_state_dict(_v1_unet(**trained).state_dict())
    return f"RuntimeError: {raised.value}"


def _v1_unet(inputs: int = 1, classes: int = 3, levels: int = 2, dims: int = 3, kernel: int = 3, features: int = 4):
    """v1 1.7.1's Generic_UNet as nnUNetTrainerV2 builds it, 2D or 3D."""
    import torch
    from nnunet.network_architecture.generic_UNet import Generic_UNet
    from nnunet.network_architecture.initialization import InitWeights_He
    from torch import nn

    conv, norm, dropout = ((nn.Conv3d, nn.InstanceNorm3d, nn.Dropout3d) if dims == 3 else
                           (nn.Conv2d, nn.InstanceNorm2d, nn.Dropout2d))
    torch.manual_seed(0)
    return Generic_UNet(inputs, features, classes, levels, 2, 2, conv, norm, {"eps": 1e-5, "affine": True}, dropout,
                        {"p": 0, "inplace": True}, nn.LeakyReLU, {"negative_slope": 1e-2, "inplace": True}, True, False,
                        lambda x: x, InitWeights_He(1e-2), [[2] * dims] * levels, [[kernel] * dims] * (levels + 1),
                        False, True, True)


def _v1_undivided_patch_message() -> str:
    """What v1's network raises on a patch its pooling does not divide (an edited plans file: 17 = no multiple of 4)."""
    import torch

    with pytest.raises(RuntimeError) as raised:
        _v1_generic_unet([[2, 2, 2], [2, 2, 2]], False)(torch.zeros(1, 1, 16, 17, 16))
    return f"RuntimeError: {raised.value}"


def _v1_one_voxel_message() -> str:
    """What v1's network raises on a patch made smaller without its pooling (16 = the product of two poolings of 2
    on every axis: one voxel at the deepest level)."""
    import torch

    with pytest.raises(ValueError) as raised:
        _v1_generic_unet([[2, 2, 2], [2, 2, 2]], False)(torch.zeros(2, 1, 4, 4, 4))
    return f"ValueError: {raised.value}"


def _v1_channels_message() -> str:
    """What v1's network (built for 2 modalities) raises on a batch of one channel."""
    import torch

    with pytest.raises(RuntimeError) as raised:
        _v1_unet(inputs=2)(torch.zeros(2, 1, 8, 8, 8))
    return f"RuntimeError: {raised.value}"


def _v1_label_beyond_message() -> str:
    """What v1's DC_and_CE_loss raises on a target holding label 2 for a network of two output channels."""
    import torch
    from nnunet.training.loss_functions.dice_loss import DC_and_CE_loss

    loss = DC_and_CE_loss({"batch_dice": True, "smooth": 1e-5, "do_bg": False}, {})
    target = torch.zeros(2, 1, 4, 4, 4)
    target[0, 0, 0, 0, 0] = 2
    with pytest.raises((RuntimeError, IndexError)) as raised:
        loss(torch.randn(2, 2, 4, 4, 4), target)
    return f"{type(raised.value).__name__}: {raised.value}"


def _v1_target_size_message() -> str:
    """What v1's V2 loss raises when a network returns its deep-supervision outputs upsampled to the patch
    (Generic_UNet's ``upscale_logits=True``): v1 1.7.1's own network, target downsampling and loss, on this torch."""
    import torch
    from nnunet.training.data_augmentation.downsampling import downsample_seg_for_ds_transform2
    from nnunet.training.loss_functions.deep_supervision import MultipleOutputLoss2
    from nnunet.training.loss_functions.dice_loss import DC_and_CE_loss

    pools = [[2, 2, 2], [2, 2, 2]]
    net = _v1_generic_unet(pools, True)
    scales = [[1, 1, 1]] + [list(s) for s in 1 / np.cumprod(np.vstack(pools), axis=0)][:-1]
    seg = np.random.RandomState(0).randint(0, 3, (2, 1, 16, 16, 16)).astype(np.float32)
    targets = [torch.from_numpy(t) for t in downsample_seg_for_ds_transform2(seg, scales)]
    loss = MultipleOutputLoss2(DC_and_CE_loss({"batch_dice": True, "smooth": 1e-5, "do_bg": False}, {}),
                               [4 / 7, 3 / 7])
    with pytest.raises((RuntimeError, ValueError)) as raised:
        loss(net(torch.randn(2, 1, 16, 16, 16)), targets)
    return f"{type(raised.value).__name__}: {raised.value}"


def test_every_message_is_recognised_in_its_authors_own_words(workspace):
    messages = _messages()
    assert set(messages) == {k.name for k in KNOWN}
    for name, message in messages.items():
        found = explain(f"Traceback (most recent call last):\n  ...\n{message}\n")
        assert [d.name for d in found] == [name], (name, message)
        assert found[0].cause and found[0].fix and message.splitlines()[0].strip() in found[0].quoted


def test_a_log_with_several_messages_gives_them_in_order_and_plain_text_none(workspace):
    messages = _messages()
    log = "epoch 3\n" + messages["workers_died"] + "\nlater\n" + messages["cuda_oom"] + "\n"
    assert [d.name for d in explain(log)] == ["workers_died", "cuda_oom"]
    assert explain("epoch 3: train loss -0.51, all fine") == []


def test_the_task_id_message_compares_the_folders_v1_saw_with_this_shell(workspace):
    text = _messages()["task_id"].replace("RESULTS_FOLDER=/r", f"RESULTS_FOLDER={os.environ['RESULTS_FOLDER']}")
    (found,) = explain(text)
    assert any("v1 saw nnUNet_preprocessed=None; in this shell it is " + str(workspace.preprocessed) in line
               for line in found.found)
    assert not any("v1 saw RESULTS_FOLDER" in line for line in found.found)  # the same value here: no line
    assert any("could not find a task with the ID 4" in line for line in found.found)  # the explorer's search
    (workspace.nnUNet_raw_data / "Task004_Hippocampus").mkdir(parents=True)
    (again,) = explain(text)
    assert any("here the id resolves to Task004_Hippocampus (raw)" in line for line in again.found)
    assert not any("default workspace" in line for line in again.found)
    (unset,) = explain(text, environ={"nnUNet_raw_data_base": str(workspace.raw_data_base)})
    assert any("filled the missing ones from its default workspace" in line for line in unset.found)


def test_a_folder_variable_v1_found_unset_but_set_here_points_at_the_job_that_ran_v1(workspace):
    """v1 printed "RESULTS_FOLDER is not defined"; this shell has it: the job that ran v1 lacked it."""
    message = _messages()["folder_unset"]
    (found,) = explain(message)
    assert found.found[0] == (f"RESULTS_FOLDER is set in this shell ({os.environ['RESULTS_FOLDER']}): the shell or "
                              "job that ran v1 did not have it (a job script, sudo, cron, or a notebook or IDE "
                              "started without your shell profile)")
    (unset,) = explain(message, environ={k: v for k, v in os.environ.items() if k != "RESULTS_FOLDER"})
    assert not any("is set in this shell" in line for line in unset.found)


def test_task_checks_read_the_plans_and_results_and_ask_for_the_task_when_missing(workspace, capsys):
    assert main(["sample", "kits19"]) == 0
    capsys.readouterr()
    messages = _messages()
    (stages,) = explain(messages["one_stage"], task="40")
    assert stages.found[0].startswith("nnUNetPlansv2.1_plans_3D.pkl of Task040_KiTS has 1 stage(s)")
    (oom,) = explain(messages["cuda_oom"], task="Task040_KiTS")
    assert oom.found == ("stage 0 of nnUNetPlansv2.1_plans_3D.pkl: batch 3, patch [80, 160, 160]",)
    lowres = workspace.network_training_output_dir / "3d_lowres/Task040_KiTS"
    (cascade,) = explain(messages["cascade_folder"], task="40")
    assert cascade.found == (f"no {lowres}/nnUNetTrainerV2__nnUNetPlansv2.1/pred_next_stage (the folder the cascade "
                             "reads)", "3d_lowres fold folders: none")
    # v1's layout: one pred_next_stage per experiment, next to its folds, written by predict_next_stage
    # (pardir(trainer.output_folder)); the cascade reads the nnUNetTrainerV2 experiment's
    (lowres / "nnUNetTrainerV2__nnUNetPlansv2.1/fold_0").mkdir(parents=True)
    (lowres / "nnUNetTrainerV2__nnUNetPlansv2.1/pred_next_stage").mkdir()
    (lowres / "nnUNetTrainerV2__nnUNetPlansv2.1/pred_next_stage/case_00000_segFromPrevStage.npz").write_bytes(b"")
    (lowres / "MyTrainer__nnUNetPlansv2.1/pred_next_stage").mkdir(parents=True)
    cases = len(json.loads((workspace.preprocessed_task_dir("Task040_KiTS") / "dataset.json").read_text())["training"])
    (cascade,) = explain(messages["cascade_folder"], task="40")
    assert cascade.found == (
        f"nnUNetTrainerV2__nnUNetPlansv2.1/pred_next_stage holds 1 _segFromPrevStage.npz of the {cases} the cascade "
        "needs (one per training case)",
        "MyTrainer__nnUNetPlansv2.1/pred_next_stage exists, but the cascade does not read it",
        "3d_lowres fold folders: nnUNetTrainerV2__nnUNetPlansv2.1/fold_0")
    # the explorer's cascade trainer reads the same folder
    from nnunet_explorer.network_training.nnUNetTrainerV2_CascadeFullRes import nnUNetTrainerV2CascadeFullRes

    cascade_fold = (workspace.network_training_output_dir / "3d_cascade_fullres/Task040_KiTS"
                    / "nnUNetTrainerV2CascadeFullRes__nnUNetPlansv2.1")
    plans_file = workspace.preprocessed_task_dir("Task040_KiTS") / "nnUNetPlansv2.1_plans_3D.pkl"
    trainer = nnUNetTrainerV2CascadeFullRes(str(plans_file), 0, output_folder=str(cascade_fold))
    assert Path(trainer.folder_with_segs_from_prev_stage) == lowres / "nnUNetTrainerV2__nnUNetPlansv2.1/pred_next_stage"
    (no_task,) = explain(messages["one_stage"])
    assert no_task.found == ("add -t TASK to check the task's files as well",)
    (wrong,) = explain(messages["one_stage"], task="77")
    assert wrong.found[0].startswith("could not find a task with the ID 77") and "(fix: " in wrong.found[0]


def test_the_plans_identifier_names_the_plans_file_the_checks_read(workspace, capsys):
    """``-p`` as in v1: the checks read ``<identifier>_plans_3D.pkl``; a missing one says so and names ``-p``."""
    import pickle

    assert main(["sample", "kits19"]) == 0
    task_dir = workspace.preprocessed_task_dir("Task040_KiTS")
    plans = pickle.loads((task_dir / "nnUNetPlansv2.1_plans_3D.pkl").read_bytes())
    plans["plans_per_stage"][0]["batch_size"] = 7
    (task_dir / "MyPlans_plans_3D.pkl").write_bytes(pickle.dumps(plans))
    capsys.readouterr()
    message = _messages()["cuda_oom"]
    assert main(["doctor", "--explain", message, "-t", "40", "-p", "MyPlans"]) == 0
    assert "stage 0 of MyPlans_plans_3D.pkl: batch 7, patch [80, 160, 160]" in capsys.readouterr().out
    assert main(["doctor", "--explain", message, "-t", "40"]) == 0
    assert "stage 0 of nnUNetPlansv2.1_plans_3D.pkl: batch 3," in capsys.readouterr().out
    (missing,) = explain(message, task="40", plans_identifier="Nope")
    assert "Nope_plans_3D.pkl does not exist" in missing.found[0] and "-p" in missing.found[0]


def test_incompatible_pretrained_weights_compare_the_checkpoint_with_the_task_plans(workspace, tmp_path):
    """The checkpoint named by -pretrained_weights in the log is read (its encoder) and set against the plans."""
    import torch
    from nnunet.network_architecture.generic_UNet import Generic_UNet

    assert main(["sample", "kits19"]) == 0
    # another task's network, built by v1 itself: 2 modalities, 4 levels, a (1, 3, 3) first kernel
    net = Generic_UNet(2, 32, 3, 3, 2, 2, torch.nn.Conv3d, torch.nn.InstanceNorm3d, {"eps": 1e-5, "affine": True},
                       torch.nn.Dropout3d, {"p": 0, "inplace": True}, torch.nn.LeakyReLU,
                       {"negative_slope": 1e-2, "inplace": True}, True, False, lambda x: x, None,
                       [[1, 2, 2], [2, 2, 2], [2, 2, 2]], [[1, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]], False, True,
                       True)
    checkpoint = tmp_path / "other.model"
    torch.save({"state_dict": net.state_dict()}, checkpoint)
    log = (f"nnUNet_train 3d_fullres nnUNetTrainerV2 40 0 -pretrained_weights {checkpoint}\n"
           "I am running the following nnUNet: 3d_fullres\n" + _messages()["pretrained"])
    (found,) = explain(log, task="40")
    assert found.found == (
        "nnUNetPlansv2.1_plans_3D.pkl of Task040_KiTS (3d_fullres): 1 input modality, 6 encoder levels, conv kernels "
        "[[3, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]]",
        f"{checkpoint}: 2 input channel(s), 4 encoder levels, conv kernels [[1, 3, 3], [3, 3, 3], [3, 3, 3], "
        "[3, 3, 3]], features [32, 64, 128, 256]",
        "they differ: the two networks were built from different plans")
    (alone,) = explain(_messages()["pretrained"])
    assert alone.found == ("add -t TASK to compare with the task's plans",)
    # the same encoder topology with other features: the check says what is left to compare
    narrow = Generic_UNet(1, 8, 3, 5, 2, 2, torch.nn.Conv3d, torch.nn.InstanceNorm3d, {"eps": 1e-5, "affine": True},
                          torch.nn.Dropout3d, {"p": 0, "inplace": True}, torch.nn.LeakyReLU,
                          {"negative_slope": 1e-2, "inplace": True}, True, False, lambda x: x, None,
                          [[2, 2, 2]] * 4 + [[1, 2, 2]], [[3, 3, 3]] * 6, False, True, True)
    torch.save({"state_dict": narrow.state_dict()}, checkpoint)
    (found,) = explain(log, task="40")
    assert found.found[1].endswith("features [8, 16, 32, 64, 128, 256]")
    assert found.found[2].startswith("inputs, levels and kernels match: compare the features")


def test_the_label_file_is_read_and_compared_with_dataset_json(workspace):
    from nnunet_explorer.samples.synthetic import write_synthetic_task

    task = write_synthetic_task(workspace.nnUNet_raw_data / "Task901_SynthCT", "ct", num_training=2, num_test=0)
    label = task / "labelsTr" / "case_000.nii.gz"
    array = sitk.GetArrayFromImage(sitk.ReadImage(str(label)))
    array[0, 0, 0] = 7
    sitk.WriteImage(sitk.GetImageFromArray(array), str(label))
    (found,) = explain(_messages(str(label))["unexpected_labels"])
    assert found.found[0] == f"case_000.nii.gz holds the values {sorted(np.unique(array).tolist())}"
    assert found.found[1].startswith("dataset.json declares [0, 1, 2]; not declared: [7]")
    (elsewhere,) = explain(_messages("/nowhere/labelsTr/x.nii.gz")["unexpected_labels"])
    assert elsewhere.found == ("/nowhere/labelsTr/x.nii.gz is not on this machine (or not at this path)",)


def test_dead_workers_point_at_the_first_error_above_or_at_the_oom_killer(workspace, monkeypatch):
    monkeypatch.setenv("nnUNet_n_proc_DA", "3")
    message = _messages()["workers_died"]
    above = ("Exception in background worker 2:\n cannot reshape array of size 7\nTraceback (most recent call last):\n"
             '  File "x.py", line 3, in producer\n    item = next(data_loader)\n'
             "ValueError: cannot reshape array of size 7\n")
    (found,) = explain(above + message)
    assert found.found[0] == ("the first error above it in this text (worker 2): ValueError: cannot reshape array of "
                              "size 7")
    assert any(line.startswith("nnUNet_n_proc_DA is 3; this machine has ") for line in found.found)
    (silent,) = explain("epoch 12\n" + message)
    assert "OOM killer" in silent.found[0]
    # Python 3.11 echoes the raising source line above the message; the message itself is what is quoted
    echoed = ('Traceback (most recent call last):\n  File "multi_threaded_augmenter.py", line 189, in __get_next_item\n'
              '    raise RuntimeError("One or more background workers are no longer alive. Exiting. Please check '
              'the "\n'
              f"RuntimeError: {message}\n")
    (quoted,) = explain(above + echoed)
    assert quoted.quoted == f"RuntimeError: {message}"
    assert quoted.found == found.found


def test_the_command_reads_a_log_answers_in_chinese_and_fails_on_nothing_known(workspace, tmp_path, capsys,
                                                                               monkeypatch):
    log = tmp_path / "train.log"
    log.write_text("loading\n" + _messages()["one_stage"] + "\n")
    capsys.readouterr()  # what importing v1 printed
    assert main(["doctor", "--explain", str(log)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("recognised: ") and "cause: 3d_lowres and 3d_cascade_fullres need a plans file" in out
    monkeypatch.setenv(ENV_VAR, "zh")
    assert main(["doctor", "--explain", str(log)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("识别出：") and "原因：" in out and "解决办法：" in out and "cause" not in out
    assert main(["doctor", "--explain", "all went well"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("没有找到已知的 nnU-Net v1 错误信息") and "Cannot run final stage of cascade ..." in out


def test_a_check_that_fails_on_its_own_bug_still_shows_the_cause_and_fix(workspace, capsys, monkeypatch):
    """A check's unexpected error is a line of doctor --explain's findings (the cause and the fix still print,
    exit 0); --debug and the library's default raise it, so a test never passes over such a bug."""
    import dataclasses

    index = next(i for i, known in enumerate(KNOWN) if known.name == "one_stage")

    def broken(match, ctx):
        raise RuntimeError("an unforeseen torch state")

    monkeypatch.setattr("nnunet_explorer.error_explainer.KNOWN",
                        (*KNOWN[:index], dataclasses.replace(KNOWN[index], check=broken), *KNOWN[index + 1:]))
    message = _messages()["one_stage"]
    with pytest.raises(RuntimeError, match="unforeseen"):
        explain(message)
    assert main(["doctor", "--explain", message]) == 0
    out = capsys.readouterr().out
    assert "cause: 3d_lowres and 3d_cascade_fullres need a plans file" in out and "\nfix: " in out
    assert ("this check stopped on an error of nnunet-explorer's own (RuntimeError: an unforeseen torch state); "
            "the cause above and the fix below do not depend on it") in out
    assert out.index("this check stopped") < out.index("\nfix: ")
    with pytest.raises(RuntimeError, match="unforeseen"):
        main(["doctor", "--explain", message, "--debug"])


def test_the_command_takes_the_task_from_the_log_and_calls_a_mistyped_path_one(workspace, tmp_path, capsys):
    """Without -t, the task nnUNet_train names in "I am using data from this folder:" is the one checked (said
    so); a one-word argument that looks like a path but is no file is an error, not "no known message"."""
    assert main(["sample", "kits19"]) == 0
    capsys.readouterr()
    folder = workspace.preprocessed_task_dir("Task040_KiTS") / "nnUNetData_plans_v2.1"
    log = tmp_path / "train.log"
    log.write_text(f"\nI am using data from this folder:  {folder}\n###\n{_messages()['cuda_oom']}\n")
    capsys.readouterr()  # what importing v1 printed
    assert main(["doctor", "--explain", str(log)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f'task: Task040_KiTS, from the log\'s line "I am using data from this folder:  {folder}" '
                          "(-t checks another)\n")
    assert "stage 0 of nnUNetPlansv2.1_plans_3D.pkl: batch 3, patch [80, 160, 160]" in out
    assert main(["doctor", "--explain", str(tmp_path / "trian.log")]) == 2
    assert f"{tmp_path / 'trian.log'} is no file here (and no v1 message)" in capsys.readouterr().err
    # nnUNet_predict's line, behind a prefix, with a Windows path and CRLF; the last line naming a task wins
    from nnunet_explorer.error_explainer import task_named_in

    assert task_named_in("[stdout] using model stored in  C:\\r\\nnUNet\\3d_fullres\\Task004_X\\T__P\r\n") == (
        "Task004_X", "using model stored in  C:\\r\\nnUNet\\3d_fullres\\Task004_X\\T__P")
    assert task_named_in("I am using data from this folder:  /a/Task001_A/d\nusing model stored in /r/Task002_B/x"
                         )[0] == "Task002_B"
    assert task_named_in("using model stored in /no/task/here") is None


def test_an_unreadable_log_is_a_clear_error_not_a_traceback(tmp_path, capsys, monkeypatch):
    log = tmp_path / "train.log"
    log.write_text("x")

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_text", refuse)
    assert main(["doctor", "--explain", str(log)]) == 2
    err = capsys.readouterr().err
    assert f"{log} cannot be read (Permission denied)" in err and "Traceback" not in err


def test_a_target_size_mismatch_names_the_output_and_target_from_the_message_and_the_plans(workspace, capsys):
    """torch's "Expected target size" (v1's V2 loss on a network with upsampled deep-supervision outputs): the two
    shapes are read from the message (older torch words it ``(..), got torch.Size([..])``) and, with ``-t``, placed
    among the deep-supervision targets of the task's plans."""
    from nnunet_explorer.training.deep_supervision import ds_target_shapes

    (real,) = explain(_messages()["target_size"])
    assert real.found[:2] == ("the network output has the spatial size [16, 16, 16], its target [8, 8, 8]",
                              "per axis the output is [2.0, 2.0, 2.0] times its target's size")
    assert "upscale_logits=True" in real.cause and real.found[2].startswith("add -t TASK")
    (old,) = explain("ValueError: Expected target size (1, 128, 128, 128), got torch.Size([1, 64, 64, 64])")
    assert old.found[0] == "the network output has the spatial size [128, 128, 128], its target [64, 64, 64]"
    # a 2D network: torch words it otherwise (the input with its channel axis), in torch 2.x and in 1.x
    import torch

    with pytest.raises(RuntimeError) as raised:
        torch.nn.CrossEntropyLoss()(torch.zeros(2, 3, 8, 8), torch.zeros(2, 4, 4, dtype=torch.long))
    for text in (str(raised.value), "input and target batch or spatial sizes don't match: target [2, 4, 4], "
                 "input [2, 3, 8, 8]"):
        (two_d,) = explain(f"RuntimeError: {text}")
        assert two_d.name == "target_size", text
        assert two_d.found[0] == "the network output has the spatial size [8, 8], its target [4, 4]"

    assert main(["sample", "kits19"]) == 0
    capsys.readouterr()
    plans = load_pickle(workspace.preprocessed_task_dir("Task040_KiTS") / "nnUNetPlansv2.1_plans_3D.pkl")
    stage = plans["plans_per_stage"][max(plans["plans_per_stage"])]
    shapes = [list(t) for t in ds_target_shapes(stage["patch_size"], stage["pool_op_kernel_sizes"])]
    assert len(shapes) >= 3 and shapes[0] == [80, 160, 160]  # the blog's plans

    def found(output, target):
        (d,) = explain(f"RuntimeError: Expected target size {[3, *output]}, got {[3, *target]}", task="40")
        assert d.found[2] == (f"nnUNetPlansv2.1_plans_3D.pkl of Task040_KiTS (3d_fullres): patch [80, 160, 160], "
                              f"so the loader's deep-supervision targets are {shapes} (target i is compared with "
                              "output i)")
        return d.found[3]

    assert found(shapes[0], shapes[1]) == ("the target is target 1, but the output has the size of target 0: the "
                                           "network returned output 1 at the resolution of level 0 (its "
                                           "deep-supervision outputs are upsampled to the patch: "
                                           "upscale_logits=True)")
    assert found(shapes[2], shapes[1]).endswith("the network returned output 1 at the resolution of level 2")
    odd = [s + 1 for s in shapes[1]]
    assert found(odd, shapes[1]).startswith("the target is target 1; the output's size is none of the plans' targets")
    assert found(shapes[0], [7, 7, 7]).startswith("the target's size is none of these")


def _kits19_plans(workspace, capsys) -> tuple[Path, dict, dict, list[int]]:
    """The KiTS19 sample written into the workspace: its preprocessed folder, its 3D plans (a copy to edit), the
    last stage of them and the product of that stage's poolings."""
    assert main(["sample", "kits19"]) == 0
    capsys.readouterr()
    task_dir = workspace.preprocessed_task_dir("Task040_KiTS")
    plans = load_pickle(task_dir / "nnUNetPlansv2.1_plans_3D.pkl")
    stage = plans["plans_per_stage"][max(plans["plans_per_stage"])]
    return task_dir, plans, stage, [int(v) for v in np.prod(np.asarray(stage["pool_op_kernel_sizes"]), axis=0)]


def test_a_patch_the_pooling_does_not_divide_is_found_in_the_edited_plans(workspace, capsys):
    """torch.cat's "Sizes of tensors must match" from v1's own Generic_UNet on an undivided patch: with ``-t`` (and
    the ``-p`` of the edited copy) each stage's patch is compared with the product of its poolings."""
    import pickle

    (real,) = explain(_messages()["patch_not_divisible"])
    assert "Generic_UNet's decoder" in real.cause and real.found == ("add -t TASK to check the task's files as well",)
    task_dir, plans, stage, divisor = _kits19_plans(workspace, capsys)
    (fine,) = explain(real.quoted, task="40")
    assert fine.found[0] == (f"stage 0 of nnUNetPlansv2.1_plans_3D.pkl: patch [80, 160, 160], product of the "
                             f"poolings {divisor}: divisible")
    stage["patch_size"] = np.array([80, 150, 160])  # a hand edit
    (task_dir / "nnUNetPlansEdited_plans_3D.pkl").write_bytes(pickle.dumps(plans))
    (edited,) = explain(real.quoted, task="40", plans_identifier="nnUNetPlansEdited")
    assert edited.found[0] == (f"stage 0 of nnUNetPlansEdited_plans_3D.pkl: patch [80, 150, 160], product of the "
                               f"poolings {divisor}: axis [1] is no multiple: this is the cause")


def test_a_one_voxel_deepest_level_is_found_in_the_edited_plans_with_the_pooling_v1_plans_for_the_patch(workspace,
                                                                                                      capsys):
    import pickle

    from nnunet_explorer.planning.topology import get_pool_and_conv_props

    (real,) = explain(_messages()["one_voxel_deepest"])
    assert "Generic_UNet's deepest level" in real.cause and real.found == ("add -t TASK to check the task's files "
                                                                          "as well",)
    task_dir, plans, stage, divisor = _kits19_plans(workspace, capsys)
    (fine,) = explain(real.quoted, task="40")
    assert fine.found[0] == (f"stage 0 of nnUNetPlansv2.1_plans_3D.pkl: patch [80, 160, 160], product of the "
                             f"poolings {divisor}, deepest level {[p // d for p, d in zip([80, 160, 160], divisor)]}")
    assert fine.found[1].startswith("stage 0 of nnUNetPlansv2.1_plans_2D.pkl: ")  # the task's 2d plans
    assert not [line for line in fine.found if "this is the cause" in line]
    stage["patch_size"] = np.array(divisor)  # a hand edit: a smaller patch, the pooling kept
    (task_dir / "nnUNetPlansSmall_plans_3D.pkl").write_bytes(pickle.dumps(plans))
    (edited,) = explain(real.quoted, task="40", plans_identifier="nnUNetPlansSmall")
    assert edited.found[0] == (f"stage 0 of nnUNetPlansSmall_plans_3D.pkl: patch {divisor}, product of the poolings "
                               f"{divisor}, deepest level [1, 1, 1]: one voxel, this is the cause")
    spacing = [float(v) for v in stage["current_spacing"]]
    topology = get_pool_and_conv_props(spacing, divisor)
    assert edited.found[1] == (f"v1's planner pools {divisor} at spacing {[round(v, 3) for v in spacing]} as "
                               f"{topology.pool_op_kernel_sizes} and pads the patch to "
                               f"{[int(v) for v in topology.patch_size]}")
    # the older 3D planner's plans (nnUNetPlansfixed): the pooling it derives for the patch is its late one
    from nnunet_explorer.planning.topology import get_pool_and_conv_props_poolLateV2

    (task_dir / "nnUNetPlansfixed_plans_3D.pkl").write_bytes(pickle.dumps(plans))
    (older,) = explain(real.quoted, task="40", plans_identifier="nnUNetPlansfixed")
    late = get_pool_and_conv_props_poolLateV2(divisor, 4, 999, spacing)
    assert older.found[1] == (f"v1's planner of these plans (ExperimentPlanner's rule: pooling late) pools {divisor} "
                              "at spacing "
                              f"{[round(v, 3) for v in spacing]} as {late.pool_op_kernel_sizes} and pads the patch "
                              f"to {[int(v) for v in late.patch_size]}")
    # one and a half times the product: two voxels under v1's strided convolutions, one under max pooling
    stage["patch_size"] = np.array([d * 3 // 2 if d > 1 else d for d in divisor])
    (task_dir / "nnUNetPlansPooled_plans_3D.pkl").write_bytes(pickle.dumps(plans))
    (pooled,) = explain(real.quoted, task="40", plans_identifier="nnUNetPlansPooled")
    assert pooled.found[0].endswith(f"deepest level {[2 if d > 1 else 1 for d in divisor]} ([1, 1, 1] under max "
                                    "pooling: one voxel, the cause when the network pools so)")
    assert pooled.found[1].startswith("v1's planner pools ")
    # and the explorer's own network step says so before a run, blaming the plans, not the network
    assert main(["train", "3d_fullres", "nnUNetTrainerV2", "40", "0", "-p", "nnUNetPlansSmall",
                 "--until", "network"]) != 0
    said = capsys.readouterr()
    assert "the plans' patch size is too small for the network's pooling" in said.err + said.out
    assert "network contract" not in said.err + said.out
    assert main(["train", "3d_fullres", "nnUNetTrainerV2", "40", "0", "-p", "nnUNetPlansfixed",
                 "--until", "network"]) != 0  # the older planner's plans: its late pooling is the one proposed
    said = capsys.readouterr()
    assert f"pool_op_kernel_sizes {late.pool_op_kernel_sizes}, conv_kernel_sizes {late.conv_kernel_sizes}" \
        in " ".join((said.err + said.out).split())
    # an axis under 4 voxels in plans of another pooling-late planner (CT2): its rule cannot plan it, and both
    # the explainer and the network step say the rest instead of failing on v1's negative number of poolings
    small = [3, *divisor[1:]]
    stage["patch_size"] = np.array(small)
    (task_dir / "nnUNetPlansCT2_plans_3D.pkl").write_bytes(pickle.dumps(plans))
    (under_4,) = explain(real.quoted, task="40", plans_identifier="nnUNetPlansCT2")
    assert under_4.found[0].endswith(": one voxel, this is the cause")
    assert under_4.found[1] == (f"v1's planner of these plans (ExperimentPlanner's rule: pooling late) cannot plan "
                                f"{small}: an axis under 4 voxels gets a negative number of poolings there (v1's "
                                "planner never proposes such a patch)")
    assert main(["train", "3d_fullres", "nnUNetTrainerV2", "40", "0", "-p", "nnUNetPlansCT2",
                 "--until", "network"]) == 2
    said = capsys.readouterr()
    assert "the plans' patch size is too small for the network's pooling" in said.err
    assert "Traceback" not in said.err and "at this spacing" not in said.err

def test_plans_that_do_not_describe_the_preprocessed_cases_are_found_and_train_explains_them(workspace, capsys):
    """num_modalities or num_classes edited in a copy of the plans: v1's network or loss fails deep in torch; with
    -t/-p the explainer compares the plans with the preprocessed cases, and the explorer's own train prints that
    explanation instead of a traceback."""
    import pickle

    assert main(["sample", "kits19"]) == 0
    capsys.readouterr()
    task_dir = workspace.preprocessed_task_dir("Task040_KiTS")
    plans = load_pickle(task_dir / "nnUNetPlansv2.1_plans_3D.pkl")
    (channels,) = explain(_messages()["input_channels"], task="40")
    assert channels.found[0] == ("nnUNetPlansv2.1_plans_3D.pkl stage 0: num_modalities 1; nnUNetData_plans_v2.1_stage0/"
                                 "case_00000 holds 1 image channel(s) and the segmentation")
    plans["num_modalities"] = 2
    (task_dir / "nnUNetPlansTwo_plans_3D.pkl").write_bytes(pickle.dumps(plans))
    (edited,) = explain(_messages()["input_channels"], task="40", plans_identifier="nnUNetPlansTwo")
    assert edited.found[0].endswith("holds 1 image channel(s) and the segmentation: they differ, this is the cause")
    plans["num_modalities"], plans["num_classes"] = 1, 1  # KiTS has labels 1 and 2
    (task_dir / "nnUNetPlansOne_plans_3D.pkl").write_bytes(pickle.dumps(plans))
    (bare,) = explain(_messages()["label_beyond_classes"], task="40", plans_identifier="nnUNetPlansOne")
    assert bare.found[0].startswith("the text shows no loss in a traceback above the message: any tensor indexed on "
                                    "dimension 1 gives these words")
    # with v1's traceback through its Dice loss above it, the torch words are the loss's
    frame = '  File ".../nnunet/training/loss_functions/dice_loss.py", line 129, in get_tp_fp_fn_tn\n'
    (labels,) = explain(frame + _messages()["label_beyond_classes"], task="40", plans_identifier="nnUNetPlansOne")
    assert labels.name == "label_beyond_classes"
    assert labels.found[0].startswith("nnUNetPlansOne_plans_3D.pkl stage 0: num_classes 1 (labels 0..1), but cases of "
                                      "nnUNetData_plans_v2.1_stage0 hold label(s) beyond it (2: case_00000, ")
    (fine,) = explain(frame + _messages()["label_beyond_classes"], task="40")
    assert fine.found[0].endswith("no case of nnUNetData_plans_v2.1_stage0 holds a label beyond it")
    # the explorer's train: the torch error deep in the iteration step, explained, no traceback, exit 1
    assert main(["train", "3d_fullres", "nnUNetTrainerV2", "40", "0", "-p", "nnUNetPlansTwo", "--until",
                 "iteration"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "to have 2 channels, but got 1 channels instead" in err.splitlines()[0]
    assert "This is one of nnU-Net v1's known messages" in err and "they differ, this is the cause" in err

def _v1_log(losses: list[str], lrs: list[float]) -> str:
    """A v1 training log around the given epochs' train losses, in v1 1.7.1's own line formats."""
    train = _literal("nnunet", "training/network_training/network_trainer.py", "train loss : ")
    lines = []
    for epoch, (loss, lr) in enumerate(zip(losses, lrs)):
        lines += [f"2026-12-07 10:00:{epoch:02d}.000000: ", f"2026-12-07 10:00:{epoch:02d}.000000: epoch:  {epoch} ",
                  "2026-12-07 10:00:{:02d}.000000: {} ".format(epoch, train % float(loss)),
                  f"2026-12-07 10:00:{epoch:02d}.000000: lr: {lr} ", f"2026-12-07 10:00:{epoch:02d}.000000: This "
                  "epoch took 12.0 s"]
    return "\n".join(lines) + "\n"


def test_a_nan_loss_in_a_v1_log_is_found_where_it_began_and_whether_it_stayed(workspace):
    """v1 logs a NaN loss and trains on: the explanation finds the first NaN epoch, the learning rate before it,
    and tells a NaN that stayed (broken weights) from one epoch whose mean took one overflowed fp16 iteration."""
    stayed = _v1_log(["-0.41", "-0.45", "nan", "nan", "nan"], [0.00991, 0.00982, 0.00973, 0.00964, 0.00955])
    (d,) = explain(stayed)
    assert d.name == "nan_loss" and d.quoted.endswith("train loss : nan")
    assert d.found == ("the train loss is first nan at epoch 2 (the epoch before: -0.4500)",
                       "the learning rate printed before that epoch: 0.00982",
                       "all 2 later epochs are NaN/Inf too: the weights themselves are NaN now, and v1 went on "
                       "training without result")
    once = _v1_log(["-0.41", "nan", "-0.47"], [0.00991, 0.00982, 0.00973])
    (d,) = explain(once)
    assert d.found[-1].startswith("1 of the 1 later epochs are numbers again: the weights survived")
    (alone,) = explain("2026-12-07 10:00:00.000000: train loss : nan")
    assert alone.found[0].startswith("no epoch lines")


def test_an_incomplete_npy_is_named_with_its_size_and_the_free_disk(workspace):
    stage = workspace.preprocessed / "Task077_Cut" / "nnUNetData_plans_v2.1_stage0"
    stage.mkdir(parents=True)
    for case in ("case_0", "case_1", "case_2"):
        np.save(stage / f"{case}.npy", np.zeros((2, 8, 8, 8), np.float32))
    whole = (stage / "case_1.npy").stat().st_size
    message = "Exception in background worker 3:\n " + _cut_npy_message().split(": ", 1)[1] + "\nTraceback ..."
    (before,) = explain(message, task="77")
    assert before.found[0] == f"{workspace.preprocessed / 'Task077_Cut'}: all 3 .npy files are complete"
    assert before.found[1].startswith("so no .npy is cut now: if none was mended since, the failed run read one "
                                      "while it was being written") and len(before.found) == 2
    (stage / "case_1.npy").write_bytes((stage / "case_1.npy").read_bytes()[:300])
    (stage / "case_2.npy").write_bytes(b"")
    (after,) = explain(message, task="77")
    assert after.found[0] == (f"{workspace.preprocessed / 'Task077_Cut'}: 2 of 3 .npy files are incomplete or "
                              f"unreadable: nnUNetData_plans_v2.1_stage0/case_1.npy (300 of {whole} bytes), "
                              "nnUNetData_plans_v2.1_stage0/case_2.npy (0 bytes, its header cut or not numpy's)")
    assert after.found[1].startswith("free on that disk now: ") and after.found[1].endswith(" GiB")
    assert "delete the incomplete .npy files" in after.fix and "v1 unpacks a missing .npy again" in after.fix
    (no_task,) = explain(message)
    assert no_task.found == ("add -t TASK to check the task's files as well",)
    (stage / "case_3.npy").symlink_to(stage / "gone.npy")  # a broken link: named, not a crash
    (broken,) = explain(message, task="77")
    assert broken.found[0].endswith(", nnUNetData_plans_v2.1_stage0/case_3.npy (cannot be read: No such file or "
                                    "directory)")
    (stage / "case_3.npy").unlink()
    # the explorer's training unpacks them again (and then the check finds them complete)
    from nnunet_explorer.training.dataloading import unpack_dataset

    for case in ("case_0", "case_1", "case_2"):
        np.savez_compressed(stage / f"{case}.npz", data=np.zeros((2, 8, 8, 8), np.float32))
    assert sorted(Path(f).name for f in unpack_dataset(stage)) == ["case_1.npy", "case_2.npy"]
    (repaired,) = explain(message, task="77")
    assert repaired.found == before.found


def test_a_missing_plans_file_lists_the_plans_that_are_there_and_their_identifiers(workspace, capsys):
    assert main(["sample", "kits19"]) == 0
    capsys.readouterr()
    task = workspace.preprocessed / "Task040_KiTS"
    message = _missing_plans_message(str(task / "nnUNetPlansv2.1_big_plans_3D.pkl"))
    (asked,) = explain(message)
    plans = sorted(p.name for p in task.glob("*_plans_*.pkl"))
    assert plans and asked.found == (f"{task} holds {', '.join(plans)}",
                                     "so -p can be: " + ", ".join(sorted({p.rsplit("_plans_", 1)[0] for p in plans})))
    shutil.copy(task / plans[0], task / "nnUNetPlansv2.1_big_plans_3D.pkl")  # planned since the run failed
    (there,) = explain(message)
    assert there.found[0].startswith(f"{task / 'nnUNetPlansv2.1_big_plans_3D.pkl'} exists in this shell")
    (no_task,) = explain(_missing_plans_message(str(workspace.preprocessed / "Task077_None/p_plans_3D.pkl")))
    assert no_task.found[0].startswith(f"no {workspace.preprocessed / 'Task077_None'}: the task was not preprocessed")


def test_a_fold_beyond_the_split_file_names_the_random_split_v1_trains_on(workspace):
    from nnunet_explorer.fileio import write_pickle
    from nnunet_explorer.training.splits import make_splits, random_80_20_split

    task = workspace.preprocessed / "Task078_Folds"
    stage = task / "nnUNetData_plans_v2.1_stage0"
    stage.mkdir(parents=True)
    keys = [f"case_{i:03d}" for i in range(12)]
    for key in keys:
        (stage / f"{key}.npz").write_bytes(b"")
    message = _messages()["fold_beyond_splits"]
    (before,) = explain(message, task="78")
    assert before.found[0] == f"no {task / 'splits_final.pkl'} now (v1 writes its five folds there at the first run)"
    write_pickle(make_splits(keys), task / "splits_final.pkl")
    (found,) = explain(message, task="78")
    val = random_80_20_split(keys, 5)[1]
    assert len(val) == 3 and not set(val) - set(keys)
    assert found.found == ("splits_final.pkl of Task078_Folds holds 5 split(s) (folds 0 to 4), validating on "
                           "[3, 3, 2, 2, 2] cases",
                           f"fold 5's random 80:20 split of the 12 cases validates on 3: {', '.join(val)}")
    assert "trains this fold on a random 80:20 split" in found.cause and "-f 0 to 4" in found.fix


def test_a_gpu_already_full_reads_nvidia_smi_and_the_visible_devices(workspace, tmp_path, monkeypatch):
    message = _messages()["gpu_full"]
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    (absent,) = explain(message)
    assert absent.found == ("nvidia-smi is not on this machine's PATH: run this check where the run failed",)
    smi = tmp_path / "bin" / "nvidia-smi"  # answers as nvidia-smi does to that query
    smi.parent.mkdir()
    smi.write_text("#!/bin/sh\necho '0, NVIDIA H100 80GB HBM3, 81079, 81559'\n"
                   "echo '1, NVIDIA H100 80GB HBM3, 3, 81559'\n")
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", str(smi.parent))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)
    (full,) = explain(message)
    assert full.found == ("GPU 0 (NVIDIA H100 80GB HBM3): 79.2 of 79.6 GiB in use now",
                          "GPU 1 (NVIDIA H100 80GB HBM3): 0.0 of 79.6 GiB in use now",
                          "CUDA_VISIBLE_DEVICES is unset: the process sees every GPU and uses CUDA's first, the "
                          "fastest unless CUDA_DEVICE_ORDER=PCI_BUS_ID, so not always nvidia-smi's GPU 0")
    assert "CUDA_VISIBLE_DEVICES=N" in full.fix and "usually not the cause" in full.cause
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    (oom,) = explain(_messages()["cuda_oom"])  # the allocator's own message: the same GPU lines after the plans'
    assert oom.found[0] == "add -t TASK to check the task's files as well"
    assert oom.found[-1] == "CUDA_VISIBLE_DEVICES is '1'; the process uses the first of them in PCI bus order, " \
                            "nvidia-smi's"
    (with_task,) = explain(message, task="77")  # with -t, the plans' batch and patch too
    assert with_task.found[-1].startswith("could not find a task with the ID 77")


def test_a_cudnn_error_reads_the_torch_build_and_whether_it_has_kernels_for_each_gpu(workspace, tmp_path, monkeypatch,
                                                                                      capsys):
    """cuDNN's words name a step, not a cause: the check says which torch (its CUDA, cuDNN and kernels) ran, whether
    it runs on each GPU nvidia-smi sees (an RTX 3090 under a CUDA 10.2 build: the classic case), and their memory."""
    import torch

    assert main(["sample", "kits19"]) == 0
    capsys.readouterr()
    message = _messages()["cudnn"]
    for words in (message, "RuntimeError: Unable to find a valid cuDNN algorithm to run convolution",
                  "RuntimeError: GET was unable to find an engine to execute this computation"):
        assert [d.name for d in explain(words)] == ["cudnn"]
    (alloc,) = explain("RuntimeError: cuDNN error: CUDNN_STATUS_ALLOC_FAILED")  # the one status that names memory
    assert "ALLOC_FAILED: it could not get memory" in alloc.cause
    assert "rarely the cause" in explain(message)[0].cause
    monkeypatch.setattr(torch.version, "cuda", None)  # a CPU build: said so, nothing else claimed
    (cpu,) = explain(message)
    assert cpu.found == (f"torch {torch.__version__} here is built without CUDA, so it cannot have raised this: "
                         "run the check in the environment of the failed run",)
    monkeypatch.setattr(torch.version, "cuda", "10.2")  # torch 1.7's cu102 wheel, as RTX 3090 owners had it
    monkeypatch.setattr(torch.cuda, "get_arch_list",
                        lambda: ["sm_37", "sm_50", "sm_60", "sm_61", "sm_70", "sm_75", "compute_37"])
    monkeypatch.setattr(torch.backends.cudnn, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.cudnn, "version", lambda: 7605)
    smi = tmp_path / "bin" / "nvidia-smi"  # answers as nvidia-smi does to each of the two queries
    smi.parent.mkdir()
    smi.write_text('#!/bin/sh\ncase "$1" in *compute_cap*)\n echo "0, NVIDIA GeForce RTX 3090, 8.6"\n'
                   ' echo "1, Tesla V100-SXM2-32GB, 7.0";;\n*) echo "0, NVIDIA GeForce RTX 3090, 1024, 24576"\n'
                   ' echo "1, Tesla V100-SXM2-32GB, 0, 32768";;\nesac\n')
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", str(smi.parent))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    (found,) = explain(message, task="40")
    assert found.found[:3] == (
        f"torch {torch.__version__} built for CUDA 10.2, cuDNN 7.6.5, with kernels for sm_37, sm_50, sm_60, sm_61, "
        "sm_70, sm_75, compute_37",
        "GPU 0 (NVIDIA GeForce RTX 3090): compute capability 8.6, for which this torch has no kernels: the cause if "
        "the run used this GPU (install a torch built for a CUDA release that knows this GPU (CUDA 11.1 or later); "
        "pytorch.org's selector gives the pip command, and the driver must support that CUDA release)",
        "GPU 1 (Tesla V100-SXM2-32GB): compute capability 7.0, which this torch runs on")
    assert found.found[3] == "GPU 0 (NVIDIA GeForce RTX 3090): 1.0 of 24.0 GiB in use now"
    assert found.found[-1] == "stage 0 of nnUNetPlansv2.1_plans_3D.pkl: batch 3, patch [80, 160, 160]"
    assert "memory" in found.cause and "CUDA_VISIBLE_DEVICES=N" in found.fix and "-c" in found.fix
    monkeypatch.setattr(torch.cuda, "get_arch_list", lambda: ["sm_80", "sm_86", "sm_90", "compute_90"])
    monkeypatch.setattr(torch.backends.cudnn, "version", lambda: 90100)
    (newer,) = explain(message)
    assert newer.found[0].startswith(f"torch {torch.__version__} built for CUDA 10.2, cuDNN 9.1.0, ")
    assert newer.found[1] == "GPU 0 (NVIDIA GeForce RTX 3090): compute capability 8.6, which this torch runs on"
    assert newer.found[2].startswith("GPU 1 (Tesla V100-SXM2-32GB): compute capability 7.0, for which this torch has "
                                     "no kernels: the cause if the run used this GPU (this GPU is older than every "
                                     "kernel of the build: install an older torch release")
    # torch's own warning when it first sees such a GPU (read from its source), and CUDA's error at the first kernel
    warning = _literal("torch", "cuda/__init__.py", "is not compatible with the current PyTorch installation").format(
        "Tesla V100-SXM2-32GB", 70, "sm_80 sm_86 sm_90 compute_90", "Tesla V100-SXM2-32GB")
    for words in (warning, _messages()["no_kernel_image"]):
        (kernels,) = explain(words)
        assert kernels.name == "no_kernel_image" and "pytorch.org" in kernels.fix
        assert kernels.found == newer.found
    # torch's other warning (its table check: a Jetson under a desktop build, which the major-only check passes),
    # raised by torch's own code
    warn_unsupported = getattr(torch.cuda, "_warn_unsupported_code", None)
    if warn_unsupported is not None:
        import warnings

        monkeypatch.setattr(torch.cuda, "get_device_name", lambda index: "NVIDIA Jetson AGX Orin")
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            warn_unsupported(0, 87, [80, 86, 90])
        (table,) = explain(str(said[0].message))
        assert table.name == "no_kernel_image" and table.quoted.startswith("Found GPU0 NVIDIA Jetson AGX Orin which")
    # a log holding both messages of the one problem: the checks are shown once
    both = explain(f"{warning}\nepoch:  0\n{message}\n")
    assert [d.name for d in both] == ["no_kernel_image", "cudnn"] and both[0].found == newer.found
    assert both[1].found == (f"the same as checked for '{both[0].quoted}' above",)
    smi.write_text('#!/bin/sh\ncase "$1" in *compute_cap*) echo \'Field "compute_cap" is not a valid field to '
                   'query.\' >&2; exit 2;;\n*) echo "0, Tesla K80, 100, 11441";;\nesac\n')
    (old_driver,) = explain(message)  # a driver before 510: no CUDA here to ask instead; the memory lines still come
    assert old_driver.found[1:] == ('nvidia-smi failed: Field "compute_cap" is not a valid field to query.',
                                    "GPU 0 (Tesla K80): 0.1 of 11.2 GiB in use now",
                                    "CUDA_VISIBLE_DEVICES is '0'; the process uses CUDA's first, the fastest unless "
                                    "CUDA_DEVICE_ORDER=PCI_BUS_ID, so not always nvidia-smi's GPU 0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # where torch sees the GPU, it answers instead
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: "Tesla K80")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda i: (3, 7))
    (asked,) = explain(message)
    assert asked.found[2].startswith("GPU 0 (Tesla K80): compute capability 3.7, for which this torch has no kernels: "
                                     "this is the cause (this GPU is older than every kernel of the build")


def test_torch_refusing_its_cudnn_or_a_gpu_cuda_cannot_start_on_is_said_not_raised(workspace, tmp_path, monkeypatch):
    """torch.backends.cudnn.version() raises torch's own RuntimeError for a cuDNN of another major version on
    LD_LIBRARY_PATH or one too new for the GPU; torch.cuda.get_device_capability raises for a GPU CUDA cannot start
    on. The check quotes them instead of failing, and torch's refusal is itself a known message."""
    import torch

    def refuses():
        raise RuntimeError("cuDNN version incompatibility: PyTorch was compiled  against (9, 1, 0) but found runtime "
                           "version (8, 9, 2). PyTorch already comes bundled with cuDNN.")

    monkeypatch.setattr(torch.version, "cuda", "12.1")
    monkeypatch.setattr(torch.cuda, "get_arch_list", lambda: ["sm_80", "sm_86", "sm_90"])
    monkeypatch.setattr(torch.backends.cudnn, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.cudnn, "version", refuses)
    monkeypatch.setenv("PATH", str(tmp_path / "no-nvidia-smi"))
    message = "RuntimeError: cuDNN error: CUDNN_STATUS_EXECUTION_FAILED"
    (found,) = explain(message)
    assert found.found[:2] == (
        f"torch {torch.__version__} built for CUDA 12.1, cuDNN unusable, with kernels for sm_80, sm_86, sm_90",
        "torch cannot use the cuDNN it finds: cuDNN version incompatibility: PyTorch was compiled  against (9, 1, 0) "
        "but found runtime version (8, 9, 2). PyTorch already comes bundled with cuDNN.: this is the cause")
    (refusal,) = explain("RuntimeError: cuDNN version incompatibility: PyTorch was compiled  against (9, 1, 0)")
    assert refusal.name == "cudnn" and "torch refused the cuDNN it found" in refusal.cause
    (arch,) = explain("RuntimeError: cuDNN error: CUDNN_STATUS_ARCH_MISMATCH")
    assert "lacks a feature or the architecture of this GPU, which is too old for it" in arch.cause
    smi = tmp_path / "bin" / "nvidia-smi"  # a driver before 510: torch is asked for the capability instead
    smi.parent.mkdir()
    smi.write_text('#!/bin/sh\ncase "$1" in *compute_cap*) echo \'Field "compute_cap" is not a valid field\' >&2; '
                   'exit 2;;\n*) echo "0, Tesla V100, 100, 16384";;\nesac\n')
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", str(smi.parent))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)

    def cannot_start(index):
        raise RuntimeError("CUDA error: unknown error\nCompile with TORCH_USE_CUDA_DSA")

    monkeypatch.setattr(torch.cuda, "get_device_name", cannot_start)
    monkeypatch.setattr(torch.cuda, "get_device_capability", cannot_start)
    (old_driver,) = explain(message)
    assert "GPU 0: CUDA cannot start on it (CUDA error: unknown error)" in old_driver.found


def test_the_kernel_rule_agrees_with_torchs_own_table():
    """Every code generation torch knows (``DEVICE_REQUIREMENT``) against every device it names and the common
    ones: runs_on says what torch's own check says."""
    import torch

    table = getattr(torch.cuda, "DEVICE_REQUIREMENT", None)
    compatible = getattr(torch.cuda, "_code_compatible_with_device", None)
    if table is None or compatible is None:
        pytest.skip("this torch has no table of which code runs on which GPU")
    from nnunet_explorer.device import runs_on

    devices = {37, 50, 52, 53, 60, 61, 62, 70, 72, 75, 80, 86, 87, 89, 90, 100, 101, 103, 110, 120, 121} | set(table)
    for code in table:
        for device in sorted(devices):
            expected = compatible(device, code)
            for kind in ("sm", "compute"):
                assert runs_on([f"{kind}_{code}"], (device // 10, device % 10)) is expected, (kind, code, device)


@pytest.mark.parametrize("arches, capability, runs", [
    (["sm_37", "sm_50", "sm_60", "sm_61", "sm_70", "sm_75", "compute_37"], (8, 6), False),  # cu102 on an RTX 3090
    (["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"], (8, 9), True),  # cu121 on an RTX 4090 (sm_86)
    (["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"], (8, 7), False),  # ... but not on a Jetson Orin
    (["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"], (12, 0), False),  # nor on an RTX 5090
    (["sm_80", "sm_90", "sm_100", "sm_120", "compute_120"], (12, 0), True),  # cu128 on an RTX 5090
    (["sm_80", "sm_86"], (8, 0), True), (["sm_86"], (8, 0), False),  # code of a later minor: not on an older GPU
    (["sm_90a"], (9, 0), True), (["sm_90a"], (10, 0), False), (["compute_90a"], (10, 0), False),  # arch-specific
    (["sm_100f"], (10, 3), True), (["sm_100"], (10, 1), False), (["sm_87"], (8, 7), True),
    (["sm_50", "sm_60", "sm_70", "sm_80", "sm_90"], (3, 7), False),  # a Kepler GPU under a recent build
    (["gfx90a", "sm_x"], (9, 0), False),  # entries that are no CUDA architecture
    (["sm_101"], (11, 0), True),  # Thor's code, on Thor as CUDA 13 numbers it
])
def test_kernels_run_on_a_gpu_by_the_rule_torch_checks(arches, capability, runs):
    from nnunet_explorer.device import missing_kernels, runs_on

    assert runs_on(arches, capability) is runs
    assert (missing_kernels(arches, capability) is None) is runs


def test_what_to_install_follows_the_gpu():
    """A newer GPU: the first CUDA release that knows it; one older than every kernel: an older torch; a Jetson,
    even one older than the build's oldest kernel: NVIDIA's JetPack wheel, never pytorch.org's."""
    from nnunet_explorer.device import missing_kernels

    cu126 = ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"]
    assert missing_kernels(cu126, (12, 0)).startswith("install a torch built for a CUDA release that knows this GPU "
                                                      "(CUDA 12.8 or later)")
    assert missing_kernels(["sm_75", "sm_80", "sm_90"], (7, 0)).startswith("this GPU is older than every kernel")
    for jetson in ((7, 2), (8, 7)):
        assert missing_kernels(["sm_75", "sm_80", "sm_90"], jetson).startswith(
            "install the torch wheel NVIDIA builds for this Jetson's JetPack release")


def test_a_state_dict_mismatch_is_read_off_the_shapes_torch_lists(workspace):
    """v1's own Generic_UNet, trained with one setting and built with another: what differs is named."""
    def found(trained, built):
        (diagnosis,) = explain(_v1_state_dict_message(trained, built))
        return diagnosis.found

    assert found({"inputs": 2}, {}) == (
        "1 size mismatch(es); the first: conv_blocks_context.0.blocks.0.conv.weight [4, 2, 3, 3, 3] in the checkpoint, "
        "[4, 1, 3, 3, 3] in the network now",
        "the first convolution takes 2 input channel(s) in the checkpoint, 1 in the network now: the number of input "
        "modalities differs (a 3d_cascade_fullres network also takes one channel per foreground class of the 3d_lowres "
        "prediction)")
    two_d = found({"dims": 2}, {})
    assert ": 2D kernels in the checkpoint, 3D in the network built now: a 2D network's weights loaded into a 3D one" \
        in two_d[1]
    assert len(two_d) == 2  # one reading, not one per layer
    assert found({"classes": 4}, {})[1].startswith("the checkpoint predicts 4 classes (background included), the "
                                                   "network now 3")
    decoder = "conv_blocks_localization.0.0.blocks.0.conv.weight"  # torch lists the decoder's layers first
    assert found({"kernel": 1}, {})[1].startswith(f"{decoder}: kernel [1, 1, 1] in the checkpoint, [3, 3, 3] now: the "
                                                  "plans' conv_kernel_sizes")
    assert found({"features": 5}, {})[1].startswith(f"{decoder}: 10 feature maps in the checkpoint, 8 now: the network "
                                                    "was built with other feature")
    deeper = found({"levels": 3}, {})
    assert deeper[1:] == ("8 weight(s) of the network built now are not in the checkpoint, 26 of the checkpoint are "
                          "not in the network: a different number of resolution levels (the plans' "
                          "pool_op_kernel_sizes) or another architecture",)  # the shifted layers' shapes follow


def test_both_of_v1s_refusals_to_mirror_are_one_diagnosis():
    """nnUNet_predict's assertion and validate's RuntimeError (a trainer of one's own without mirroring)."""
    pytest.importorskip("nnunet")
    in_validate = _literal("nnunet", "training/network_training/nnUNetTrainer.py", "We did not train with mirroring")
    (found,) = explain(f"RuntimeError: {in_validate}")
    assert found.name == "no_mirroring" and "override validate" in found.fix and "--disable_tta" in found.fix


def test_a_missing_lowres_prediction_names_the_fold_that_validates_the_case(workspace, tmp_path):
    from nnunet_explorer.fileio import write_pickle
    from nnunet_explorer.training.splits import make_splits

    task = workspace.preprocessed / "Task079_Cascade"
    task.mkdir(parents=True)
    keys = [f"case_{i}" for i in range(10)]
    splits = make_splits(keys)
    # a results folder with a space in its path (Colab's "My Drive"), read from the message itself
    experiment = tmp_path / "My Drive" / "3d_lowres" / "Task079_Cascade" / "nnUNetTrainerV2__nnUNetPlansv2.1"
    (experiment / "pred_next_stage").mkdir(parents=True)
    (experiment / "fold_0").mkdir()
    fold = next(i for i, s in enumerate(splits) if "case_3" in s["val"])
    message = _messages()["cascade_case"].replace("/r/pred_next_stage", str(experiment / "pred_next_stage"))
    (before,) = explain(message, task="79")
    assert before.name == "cascade_case"
    assert before.found == (f"{experiment / 'pred_next_stage'} holds 0 _segFromPrevStage.npz; "
                            "case_3_segFromPrevStage.npz is not there",
                            f"no {task / 'splits_final.pkl'}: the cascade's do_split writes it before this check "
                            "unless its fold is 'all', so the run used other folders (or fold 'all')")
    write_pickle(splits, task / "splits_final.pkl")
    (found,) = explain(message, task="79")
    assert found.found[-1] == (f"case_3 is a validation case of fold {fold}: 3d_lowres fold {fold} writes its "
                               f"prediction after its validation (nnUNetTrainerV2__nnUNetPlansv2.1/fold_{fold} "
                               + ("exists" if fold == 0 else "does not exist") + ")")


def test_a_bare_assert_on_the_network_type_is_read_from_the_traceback_echo():
    """v1's assert has no message: the traceback's echo of its source line is what there is to recognise."""
    pytest.importorskip("nnunet")
    tail = _messages()["not_segmentation_network"]
    log = ('Traceback (most recent call last):\n  File "run_training.py", line 150, in main\n    trainer.initialize()\n'
           '  File "nnUNetTrainerV2.py", line 124, in initialize\n' + tail + "\n")
    (found,) = explain(log)
    assert found.name == "not_segmentation_network"
    assert found.quoted == "assert isinstance(self.network, (SegmentationNetwork, nn.DataParallel))"
    assert "SegmentationNetwork" in found.fix and "check_network_contract" in found.fix
    # the same check where v1 predicts (nnUNetTrainer.predict_preprocessed_data_return_seg_and_softmax)
    (again,) = explain(_v1_source_line("training/network_training/nnUNetTrainer.py",
                                       "assert isinstance(self.network, tuple(valid))"))
    assert again.name == "not_segmentation_network"


def test_every_message_is_explained_in_chinese_under_zh(workspace, monkeypatch):
    """Cause, checks and fix of each recognised message speak Chinese under ``zh`` (v1's quoted words stay)."""
    from .zh_share_rule import CJK

    messages = _messages()
    monkeypatch.setenv(ENV_VAR, "zh")
    for name, message in messages.items():
        (found,) = explain(message, task="77")  # no such task: the checks answer with their (Chinese) reason
        assert CJK.search(found.cause) and CJK.search(found.fix), name
        assert all(CJK.search(line) for line in found.found), (name, found.found)
        assert not found.v2 or CJK.search(found.v2), name


def _v1_experiment(workspace, folds: dict[str, tuple[str, ...]], *, task: str = "Task004_X",
                   configuration: str = "3d_fullres", experiment: str = "nnUNetTrainerV2__nnUNetPlansv2.1") -> Path:
    """A model folder under RESULTS_FOLDER whose fold folders hold the named v1 checkpoint files (empty files)."""
    folder = workspace.network_training_output_dir / configuration / task / experiment
    for fold, files in folds.items():
        (folder / fold).mkdir(parents=True)
        for name in files:
            (folder / fold / name).write_bytes(b"")
    return folder


def _v1_raised(call) -> str:
    """The last line of the traceback v1's own code ends with: ``Name: message``."""
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - v1 raises AssertionError, FileNotFoundError, RuntimeError
        return f"{type(exc).__name__}: {exc}"
    raise AssertionError("v1 did not fail")


def test_a_model_folder_v1_does_not_find_lists_the_models_that_were_trained(workspace, monkeypatch):
    _v1_experiment(workspace, {"fold_0": ()}, experiment="MyTrainer__nnUNetPlansv2.1")
    _v1_experiment(workspace, {"fold_0": ()}, configuration="2d")
    _v1_experiment(workspace, {"fold_0": ()}, configuration="3d_cascade_fullres",
                   experiment="nnUNetTrainerV2CascadeFullRes__nnUNetPlansv2.1")
    results = workspace.network_training_output_dir
    expected = results / "3d_fullres" / "Task004_X" / "nnUNetTrainerV2__nnUNetPlansv2.1"
    said = _literal("nnunet", "inference/predict_simple.py", "model output folder not found")
    message = said % expected
    (found,) = explain(f"using model stored in  {expected}\nTraceback ...\nAssertionError: {message}\n")
    assert found.name == "model_folder" and "-tr, default nnUNetTrainerV2" in found.cause
    assert found.found == (f"models of Task004_X under {results}: "
                           "2d/nnUNetTrainerV2__nnUNetPlansv2.1 (-m 2d -tr nnUNetTrainerV2 -p nnUNetPlansv2.1); "
                           "3d_cascade_fullres/nnUNetTrainerV2CascadeFullRes__nnUNetPlansv2.1 (-m 3d_cascade_fullres "
                           "-ctr nnUNetTrainerV2CascadeFullRes -p nnUNetPlansv2.1); "
                           "3d_fullres/MyTrainer__nnUNetPlansv2.1 (-m 3d_fullres -tr MyTrainer -p nnUNetPlansv2.1)",)
    monkeypatch.setenv("RESULTS_FOLDER", "/elsewhere")
    (elsewhere,) = explain(message)
    assert elsewhere.found[-1] == f"RESULTS_FOLDER here is /elsewhere; the folder v1 expected is under {results}"
    # the cascade without -l: v1 checks the 3d_lowres model's folder first, named by -tr
    lowres = "lowres_segmentations is None. Attempting to predict 3d_lowres first...\n"
    (cascade,) = explain(lowres + said % (results / "3d_lowres" / "Task004_X" / "nnUNetTrainerV2__nnUNetPlansv2.1"))
    assert cascade.found[0].startswith("the output shows the cascade predicting with 3d_lowres first")
    # 3d_lowres done, then the cascade's own folder is the missing one
    done = lowres + "3d_lowres done\n" + said % (results / "3d_cascade_fullres" / "Task004_X" / "Mine__p")
    (full,) = explain(done)
    assert not any("3d_lowres first" in line for line in full.found)
    (echo,) = explain('assert isdir(model_folder_name), "model output folder not found. Expected: %s" % x')
    assert echo.found[0].endswith("is not a model folder as v1 builds it (RESULTS_FOLDER/nnUNet/CONFIGURATION/"
                                  "TaskXXX_Name/TRAINER__PLANS): nothing to check")
    windows = "model output folder not found. Expected: C:\\r\\nnUNet\\2d\\Task004_X\\nnUNetTrainerV2__nnUNetPlansv2.1"
    (pasted,) = explain(windows)
    assert pasted.found[0].startswith("C:") and pasted.found[0].endswith("nnUNet is not on this machine (or not at "
                                                                          "this path)")
    expected.mkdir()
    (there,) = explain(message)
    assert there.found[0].startswith(f"{expected} exists in this shell")


def test_the_prediction_checks_say_what_they_cannot_read_instead_of_failing(workspace, monkeypatch):
    folder = _v1_experiment(workspace, {"fold_0": ("model_best.model",)})
    (folder / "fold_0" / "training_log_2026_12_7_10_00_00.txt").write_text("x: epoch: nan\nx: epoch: inf\n")
    message = _missing_plans_message(f"{folder}/fold_0/model_final_checkpoint.model.pkl")
    (found,) = explain(message)
    assert found.found == (f"{folder / 'fold_0'}: checkpoints: model_best (without its .model.pkl)",)

    def refused(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "iterdir", refused)
    (denied,) = explain(message)
    assert denied.found == (f"{folder} cannot be read here: Permission denied",)


def test_a_checkpoint_v1_cannot_load_names_what_each_fold_holds(workspace):
    pytest.importorskip("nnunet")
    from nnunet.training.model_restore import load_model_and_checkpoint_files

    folder = _v1_experiment(workspace, {"fold_0": ("model_latest.model", "model_latest.model.pkl",
                                                   "model_best.model", "model_best.model.pkl"),
                                        "fold_1": ("model_final_checkpoint.model", "model_best.model")})
    (folder / "fold_0" / "training_log_2026_12_7_10_00_00.txt").write_text(
        "2026-12-07 10:00:00.000000: \nepoch:  0 \n2026-12-07 10:01:00.000000: \nepoch:  1 \n")
    # v1's own nnUNet_predict path with its default -chk, on the folds given by -f 0 1
    message = _v1_raised(lambda: load_model_and_checkpoint_files(str(folder), [0, 1],
                                                                 checkpoint_name="model_final_checkpoint"))
    assert message.startswith("FileNotFoundError") and "fold_0/model_final_checkpoint.model.pkl" in message
    (found,) = explain(message)
    assert found.name == "checkpoint_missing" and "model_final_checkpoint here" in found.cause and "-chk" in found.fix
    assert found.found == (f"{folder / 'fold_0'}: checkpoints: model_latest, model_best; its training log's last "
                           "epoch: 1",
                           f"{folder / 'fold_1'}: checkpoints: model_final_checkpoint (without its .model.pkl), "
                           "model_best (without its .model.pkl)")
    # -f 0 3: fold 3 was never trained
    message = _v1_raised(lambda: load_model_and_checkpoint_files(str(folder), [0, 3]))
    (folds,) = explain(f"using model stored in  {folder}\n{message}")
    assert folds.name == "fold_folders" and folds.found[1].startswith(f"{folder / 'fold_1'}: checkpoints: ")
    (alone,) = explain(message)
    assert alone.found[0].startswith('no "using model stored in" line above it')
    # how Python prints a Windows path in FileNotFoundError (a repr: doubled backslashes)
    windows = str(FileNotFoundError(2, "No such file or directory", "C:\\r\\nnUNet\\2d\\Task004_X\\T__P\\"
                                                                    "fold_1\\model_best.model.pkl"))
    assert "\\\\fold_1\\\\" in windows
    (pasted,) = explain(windows)
    assert pasted.name == "checkpoint_missing" and "(model_best here;" in pasted.cause
    assert explain("No such file or directory: '/data/small/foo.model'") == []  # 'small/' is no fold folder
    # nnUNet_train -pretrained_weights with a checkpoint that is not there: torch.load's message, v1's loader above it
    pretrained = ('  File ".../nnunet/run/load_pretrained_weights.py", line 21, in load_pretrained_weights\n'
                  + _missing_plans_message("/w/fold_0/model_final_checkpoint.model"))
    (weights,) = explain(pretrained)
    assert weights.cause.startswith("nnUNet_train -pretrained_weights names a checkpoint file that is not there")
    assert weights.found == ("/w/fold_0/model_final_checkpoint.model is not on this machine (or not at this path)",)


def test_an_image_v1_cropping_cannot_find_is_named_with_the_file_that_would_fit(workspace):
    """nnUNet_plan_and_preprocess without --verify_dataset_integrity: SimpleITK's "does not exist" from v1's
    cropping; the check finds the image saved without its modality suffix and names the task's full check."""
    pytest.importorskip("nnunet")
    task = write_synthetic_task(workspace.raw_task_dir("Task905_Crop"), "ct", num_training=2, num_test=0)
    image = task / "imagesTr" / "case_001_0000.nii.gz"
    image.rename(task / "imagesTr" / "case_001.nii.gz")
    message = _v1_cropping_message(str(image))
    assert f'sitk::ERROR: The file "{image}" does not exist.' in message
    (found,) = explain(message)
    assert found.name == "image_missing" and "without --verify_dataset_integrity" in found.cause
    assert found.found == (f"{image} is not on this machine (or not at this path) (fix: found "
                           "imagesTr/case_001.nii.gz without the modality suffix; rename it to case_001_0000.nii.gz: "
                           "v1 needs _0000, _0001 ... per modality)",
                           "`nnunet-explorer check_dataset -t Task905_Crop` lists every file problem of the task")


def test_a_stage_folder_that_was_never_preprocessed_is_found_before_and_after_v1_fails(workspace, capsys):
    """Plans written without their data (-no_pp, or the folder deleted): v1's load_dataset fails listing the stage
    folder; the explainer names the stage folders there and which plans want the missing one, and plain doctor finds
    it before a run."""
    pytest.importorskip("nnunet")
    from nnunet.training.dataloading.dataset_loading import load_dataset as v1_load_dataset

    from nnunet_explorer.doctor import run_doctor

    task_dir, *_ = _kits19_plans(workspace, capsys)
    stage = task_dir / "nnUNetData_plans_v2.1_stage0"
    assert "Task040_KiTS: the data folder" not in " ".join(p.what for p in run_doctor().problems)
    stage.rename(task_dir / "elsewhere")
    message = _v1_raised(lambda: v1_load_dataset(str(stage)))
    assert message == f"FileNotFoundError: [Errno 2] No such file or directory: '{stage}'"
    (found,) = explain(f"loading dataset\n{message}")
    assert found.name == "stage_folder" and "(nnUNetData_plans_v2.1_stage0: the plans' data_identifier" in found.cause
    assert found.found == (f"{task_dir} holds the stage folders: nnUNetData_plans_v2.1_2D_stage0",
                           "nnUNetPlansv2.1_asPlanned_plans_3D.pkl plans stage 0 from nnUNetData_plans_v2.1_stage0, "
                           "which is not there",
                           "nnUNetPlansv2.1_plans_3D.pkl plans stage 0 from nnUNetData_plans_v2.1_stage0, which is not "
                           "there")
    (problem,) = [p for p in run_doctor().problems if "Task040_KiTS: the data folder" in p.what]
    assert problem.what.startswith("preprocessed task Task040_KiTS: the data folder of 2 planned stage(s) is not "
                                   "there (nnUNetPlansv2.1_asPlanned_plans_3D.pkl stage 0: "
                                   "nnUNetData_plans_v2.1_stage0")
    assert problem.fix.startswith("preprocess the task: `nnUNet_plan_and_preprocess -t 40` without -no_pp")


def test_a_model_folder_without_plans_pkl_names_the_plans_v1_copied_there(workspace, tmp_path):
    """Only the fold folders copied off a cluster: v1's nnUNet_predict stops on shutil.copy of the model folder's
    plans.pkl; the check lists the folds and names the preprocessed plans file v1's trainer had copied there."""
    pytest.importorskip("nnunet")
    from nnunet.inference.predict import predict_from_folder

    folder = _v1_experiment(workspace, {"fold_0": ("model_final_checkpoint.model", "model_final_checkpoint.model.pkl")})
    message = _v1_raised(lambda: predict_from_folder(str(folder), str(tmp_path / "in"), str(tmp_path / "out"), [0],
                                                     False, 1, 1, None, 0, 1, True))
    assert message == f"FileNotFoundError: [Errno 2] No such file or directory: '{folder / 'plans.pkl'}'"
    (found,) = explain(message)
    plans = workspace.preprocessed / "Task004_X" / "nnUNetPlansv2.1_plans_3D.pkl"
    assert found.name == "model_plans" and "save_debug_information" in found.cause
    assert found.found == (f"{folder / 'fold_0'}: checkpoints: model_final_checkpoint",
                           f"the plans v1 copied: {plans} (not on this machine)")
    plans.parent.mkdir(parents=True)
    plans.write_bytes(b"plans")
    assert explain(message)[0].found[-1] == f"the plans v1 copied: {plans}"
    # a 2d model reads the _plans_2D.pkl
    flat = _v1_experiment(workspace, {"fold_1": ()}, configuration="2d")
    (flat_found,) = explain(f"FileNotFoundError: [Errno 2] No such file or directory: '{flat / 'plans.pkl'}'")
    assert flat_found.found[-1].endswith("nnUNetPlansv2.1_plans_2D.pkl (not on this machine)")


def test_validation_only_and_continue_say_which_checkpoints_the_fold_has(workspace):
    pytest.importorskip("nnunet")
    folder = _v1_experiment(workspace, {"fold_2": ("model_latest.model", "model_latest.model.pkl")})
    final = _literal("nnunet", "training/network_training/network_trainer.py", "Final checkpoint not found") % (
        folder / "fold_2" / "model_final_checkpoint.model")
    (found,) = explain(f"RuntimeError: {final}")
    assert found.name == "final_checkpoint" and "--valbest" in found.fix and "hands off" in found.fix
    assert found.found == (f"{folder / 'fold_2'}: checkpoints: model_latest",)
    # a fold with no checkpoint at all: -c would fail as well; the other folds of the model folder are listed
    (folder / "fold_1").mkdir()
    (bare,) = explain(f"RuntimeError: {final.replace('fold_2', 'fold_1')}")
    assert bare.found == (f"{folder / 'fold_1'}: checkpoints: none",
                          "fold_1 holds no checkpoint, so -c cannot continue it either (v1: \"No checkpoint found\"): "
                          "train this fold from the start, without -c",
                          f"{folder / 'fold_2'}: checkpoints: model_latest")
    assert "where it has none, train it from the start without -c" in bare.fix
    nothing = "RuntimeError: " + _literal("nnunet", "training/network_training/network_trainer.py",
                                          "No checkpoint found")
    (asked,) = explain(nothing)
    assert asked.name == "no_checkpoint" and asked.found == ("add -t TASK to check the task's files as well",)
    (workspace.raw_task_dir("Task004_X")).mkdir(parents=True)
    (checked,) = explain(nothing, task="4")
    assert checked.found == (f"{folder / 'fold_1'}: checkpoints: none",
                             f"{folder / 'fold_2'}: checkpoints: model_latest")


def test_fewer_cases_than_v1s_five_folds_are_counted_and_fold_all_is_the_fix(workspace):
    """scikit-learn's KFold refuses 4 cases for v1's 5-fold split: with -t the check counts the stage's cases and says
    whether a splits_final.pkl would have been used instead."""
    pytest.importorskip("nnunet")
    message = _v1_kfold_message(4)
    assert message == ("ValueError: Cannot have number of splits n_splits=5 greater than the number of samples: "
                       "n_samples=4.")
    (found,) = explain(f"Creating new 5-fold cross-validation split...\n{message}")
    assert found.name == "too_few_cases" and found.cause.startswith("the task has 4 training case(s), fewer than 5")
    assert found.fix.startswith("train fold all (-f all") and found.found == ("add -t TASK to check the task's files "
                                                                             "as well",)
    stage = workspace.preprocessed / "Task014_Few" / "nnUNetData_plans_v2.1_stage0"
    stage.mkdir(parents=True)
    for i in range(4):
        np.savez_compressed(stage / f"case_{i}.npz", data=np.zeros((2, 4, 4, 4), np.float32))
    np.savez_compressed(stage / "case_0_segFromPrevStage.npz", data=np.zeros((1, 4, 4, 4), np.float32))
    (counted,) = explain(message, task="14")
    assert counted.found == ("nnUNetData_plans_v2.1_stage0: 4 training case(s)",
                             f"no {stage.parent / 'splits_final.pkl'} now")
    # plain doctor says so before a run (a note: fold all still trains)
    from nnunet_explorer import file_damage
    from nnunet_explorer.doctor import run_doctor

    (note,) = [n for n in run_doctor().notes if "Task014_Few" in n.what]
    assert note.what.startswith("preprocessed task Task014_Few: 4 training case(s) and no splits_final.pkl")
    # v1 counts the cases of the stage it trains: a second stage with 3 (its preprocessing stopped) is the one told
    other = stage.with_name("nnUNetData_plans_v2.1_stage1")
    other.mkdir()
    for i in range(3):
        np.savez_compressed(other / f"case_{i}.npz", data=np.zeros((2, 4, 4, 4), np.float32))
    (fewest,) = [n for n in run_doctor().notes if "Task014_Few" in n.what]
    assert fewest.what.startswith("preprocessed task Task014_Few: 3 training case(s)")
    assert note.fix.startswith("train fold all")
    # a damaged splits file of such a task: deleting it would leave v1 nothing it can make in its place
    splits = stage.parent / "splits_final.pkl"
    splits.write_bytes(b"")
    assert not [n for n in run_doctor().notes if "Task014_Few" in n.what]
    assert file_damage.remedy(splits, "Task014_Few", {splits}, workspace).startswith(
        "splits_final.pkl: write it again by hand (the task has 3 training case(s), too few for the five folds")


def test_input_files_v1_cannot_pair_are_named_with_the_rename_that_fixes_them(tmp_path, capsys):
    pytest.importorskip("nnunet")
    from nnunet.inference.predict import check_input_folder_and_return_caseIDs

    capsys.readouterr()  # what importing v1 printed
    images = tmp_path / "imagesTs"
    images.mkdir()
    for name in ("liver_1_0000.nii.gz", "liver_1_0001.nii.gz", "liver_2_0000.nii.gz", "liver_3.nii.gz"):
        (images / name).write_bytes(b"")
    message = _v1_raised(lambda: check_input_folder_and_return_caseIDs(str(images), 2))
    printed = capsys.readouterr().out  # v1 prints what it found before it raises
    (found,) = explain(printed + "Traceback (most recent call last):\n  ...\n" + message)
    assert found.name == "input_files" and "last 12 characters" in found.cause
    assert found.found[0] == "the model expects 2 channel file(s) per case: CASE_0000.nii.gz to CASE_0001.nii.gz"
    assert found.found[1] == ("v1 looked for 3 file(s) it did not find: li_0000.nii.gz, li_0001.nii.gz, "
                              "liver_2_0001.nii.gz")
    assert found.found[2:] == ("liver_3.nii.gz has no channel number: v1 read it as case 'li' (the name without its "
                               "last 12 characters) and looked for li_0000.nii.gz; rename it liver_3_0000.nii.gz",)
    many = tmp_path / "many"  # more files left over than v1 prints (10, drawn at random with repeats)
    many.mkdir()
    for i in range(12):
        (many / f"scan{i:02d}.nii.gz").write_bytes(b"")
    message = _v1_raised(lambda: check_input_folder_and_return_caseIDs(str(many), 1))
    (sampled,) = explain(capsys.readouterr().out + message)
    (line,) = [line for line in sampled.found if line.startswith("v1 could not place 12 file(s) and printed ")]
    printed = int(line.split("printed ")[1].split()[0])
    assert 1 <= printed <= 10 and len([x for x in sampled.found if "has no channel number" in x]) == printed
    third = tmp_path / "third"  # a third channel for a two-channel model, and a case without its second
    third.mkdir()
    for name in ("liver_1_0000.nii.gz", "liver_1_0001.nii.gz", "liver_1_0002.nii.gz", "liver_2_0000.nii.gz"):
        (third / name).write_bytes(b"")
    message = _v1_raised(lambda: check_input_folder_and_return_caseIDs(str(third), 2))
    (extra,) = explain(capsys.readouterr().out + message)
    assert extra.found[1:] == ("v1 looked for 1 file(s) it did not find: liver_2_0001.nii.gz",
                               "liver_1_0002.nii.gz is channel 2, beyond the model's 2 (0 to 1): v1 would give it to "
                               "its case as an extra input channel, whose preprocessing then fails, so that case "
                               "gets no prediction; move it out")
    empty = tmp_path / "empty"
    empty.mkdir()
    (none,) = explain(_v1_raised(lambda: check_input_folder_and_return_caseIDs(str(empty), 1)))
    assert none.name == "input_files" and "only files ending in .nii.gz" in none.cause
    assert "SimpleITK" in none.fix


def _v1_verify(task: Path, capsys) -> str:
    """What v1's own ``nnUNet_plan_and_preprocess --verify_dataset_integrity`` prints and raises on ``task``."""
    pytest.importorskip("nnunet")
    from nnunet.preprocessing.sanity_checks import verify_dataset_integrity as v1_verify

    capsys.readouterr()
    message = _v1_raised(lambda: v1_verify(str(task)))
    return capsys.readouterr().out + "Traceback (most recent call last):\n  ...\n" + message


def test_v1s_dataset_checks_name_the_file_and_the_name_that_would_fit(workspace, capsys, monkeypatch):
    from nnunet_explorer.samples.synthetic import write_synthetic_task

    monkeypatch.setenv("nnUNet_def_n_proc", "1")
    task = write_synthetic_task(workspace.raw_task_dir("Task060_Raw"), "ct", num_training=3, num_test=0, seed=1)
    label = task / "labelsTr" / "case_001.nii.gz"
    label.rename(task / "labelsTr" / "case_001_0000.nii.gz")  # named like an image
    (found,) = explain(_v1_verify(task, capsys))
    assert found.name == "raw_files" and "labelsTr/CASE.nii.gz" in found.cause
    assert found.found == (f"{label} is not on this machine (or not at this path); named like it there: "
                           "case_001_0000.nii.gz",)
    (task / "labelsTr" / "case_001_0000.nii.gz").rename(label)
    image = task / "imagesTr" / "case_002_0000.nii.gz"
    kept = image.read_bytes()
    image.unlink()
    (missing,) = explain(_v1_verify(task, capsys))
    assert missing.name == "raw_files" and missing.found[0].startswith(f"{image} is not on this machine")
    image.write_bytes(kept)
    (task / "imagesTr" / "._case_000_0000.nii.gz").write_bytes(b"mac")  # copied from a Mac
    shutil.copy(image, task / "imagesTr" / "case_009.nii.gz")
    (stray,) = explain(_v1_verify(task, capsys))
    assert stray.found[0] == "2 file(s) in imagesTr belong to no training case of dataset.json"
    assert set(stray.found[1:]) == {
        "._case_000_0000.nii.gz is not listed in dataset.json (fix: a macOS resource copy (made when copying from a "
        "Mac): delete it (find TASK_FOLDER -name '._*' -delete))",
        "case_009.nii.gz is not listed in dataset.json and has no modality suffix (fix: rename it to "
        "case_009_0000.nii.gz, and list the case in 'training')"}


def test_a_geometry_mismatch_names_the_field_and_tells_header_rounding_apart(workspace, capsys, monkeypatch):
    from nnunet_explorer.samples.synthetic import write_synthetic_task

    monkeypatch.setenv("nnUNet_def_n_proc", "1")
    # a folder with a space in its name: v1 prints the path as it is
    task = write_synthetic_task(workspace.raw_data_base / "my data" / "Task061_Geo", "ct", num_training=3, num_test=0,
                                seed=2)

    def shift(case: str, by: float) -> None:
        path = task / "labelsTr" / f"{case}.nii.gz"
        label = sitk.ReadImage(str(path))
        label.SetOrigin(tuple(o + by for o in label.GetOrigin()))
        sitk.WriteImage(label, str(path))

    shift("case_000", 5.0)
    shift("case_002", 2e-4)
    text = _v1_verify(task, capsys)
    assert "GEOMETRY MISMATCH FOUND" in text  # v1's own words, after one line per case
    (found,) = explain(text)
    assert found.name == "geometry_mismatch"
    origin = sitk.ReadImage(str(task / "imagesTr" / "case_000_0000.nii.gz")).GetOrigin()
    assert found.found[0] == (f"case_000_0000.nii.gz vs case_000.nii.gz: origin {[round(o, 6) for o in origin]} vs "
                              f"{[round(o + 5.0, 6) for o in origin]}, largest difference 5")
    assert found.found[-1].startswith("case_002: the two grids lie within 0.00025 voxel of each other everywhere "
                                      "(header rounding")
    assert not any(line.startswith("case_000: the two grids") for line in found.found)


def test_label_numbers_without_0_or_with_a_gap_say_what_v1_needs(workspace, capsys, monkeypatch):
    from nnunet_explorer.samples.synthetic import write_synthetic_task

    monkeypatch.setenv("nnUNet_def_n_proc", "1")
    task = write_synthetic_task(workspace.raw_task_dir("Task062_Gap"), "ct", num_training=2, num_test=0, seed=3)
    dataset = json.loads((task / "dataset.json").read_text())
    dataset["labels"] = {"0": "background", "1": "organ", "3": "tumour"}
    (task / "dataset.json").write_text(json.dumps(dataset))
    text = _v1_verify(task, capsys)
    (asked,) = explain(text)
    assert asked.name == "label_numbers" and asked.found == ("add -t TASK to check the task's files as well",)
    (found,) = explain(text, task="62")
    assert found.found == ("key 'labels' has values [0, 1, 3]; v1 needs consecutive values 0, 1, 2, ... (renumber "
                           "the label files and this key)",)
    dataset["labels"] = {"1": "liver", "2": "tumour"}  # no background: declare it, do not renumber the organs
    (task / "dataset.json").write_text(json.dumps(dataset))
    (first,) = explain(_v1_verify(task, capsys), task="62")
    assert first.name == "label_numbers" and first.found == ("key 'labels' has no \"0\"; v1 needs label 0 = "
                                                             "background",)


def test_nan_values_read_the_named_files_to_their_end(tmp_path):
    import SimpleITK

    image = tmp_path / "imagesTr" / "case_000_0000.nii.gz"
    image.parent.mkdir()
    SimpleITK.WriteImage(SimpleITK.GetImageFromArray(np.zeros((8, 8, 8), np.float32)), str(image))
    whole = image.read_bytes()
    image.write_bytes(whole[: len(whole) // 2])  # a download cut short
    said = _literal("nnunet", "preprocessing/sanity_checks.py", "There are NAN values in image") % image
    message = _literal("nnunet", "preprocessing/sanity_checks.py", "Some images have nan values")
    (found,) = explain(f"{said}\nRuntimeError: {message}")
    assert found.name == "nan_values" and found.found[0].startswith("SimpleITK here: ")
    assert found.found[1].startswith(f"case_000_0000.nii.gz: {image} cannot be read: its gzip stream ends early")
    image.write_bytes(whole)
    (again,) = explain(f"{said}\nRuntimeError: {message}")
    assert again.found[1] == "case_000_0000.nii.gz: whole, no NaN in the file now"


def test_header_rounding_is_judged_by_how_far_the_grids_drift_not_by_the_field_difference():
    from nnunet_explorer.error_explainer import _grid_shift
    from nnunet_explorer.tasks import Geometry

    eye = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    image = Geometry((512, 512, 100), (0.7, 0.7, 3.0), (0.0, 0.0, 0.0), eye)
    # 0.0009 mm more per voxel: below 0.001, yet the far edge is 511 * 0.0009 = 0.46 mm (0.66 voxel) away
    drifting = Geometry((512, 512, 100), (0.7009, 0.7009, 3.0), (0.0, 0.0, 0.0), eye)
    assert _grid_shift(image, drifting) == pytest.approx(511 * 0.0009 / 0.7)
    rounded = Geometry((512, 512, 100), (0.7, 0.7, 3.0), (0.0002, 0.0, 0.0), eye)
    assert _grid_shift(image, rounded) == pytest.approx(0.0002 / 0.7)
    assert _grid_shift(image, Geometry((512, 512, 99), (0.7, 0.7, 3.0), (0.0, 0.0, 0.0), eye)) is None


def test_test_case_modalities_name_the_modality_that_differs_not_the_one_v1_prints(workspace, capsys, monkeypatch):
    from nnunet_explorer.samples.synthetic import write_synthetic_task

    monkeypatch.setenv("nnUNet_def_n_proc", "1")
    task = write_synthetic_task(workspace.raw_task_dir("Task063_Mr"), "mr", num_training=2, num_test=1, seed=4)
    moved = task / "imagesTs" / "test_000_0001.nii.gz"
    image = sitk.ReadImage(str(moved))
    image.SetOrigin(tuple(o + 3.0 for o in image.GetOrigin()))
    sitk.WriteImage(image, str(moved))
    text = _v1_verify(task, capsys)
    assert "The modalities of the image" in text and "test_000_0000.nii.gz" in text  # v1 prints the one before
    (found,) = explain(text)
    assert found.name == "test_modalities"
    assert found.found[0].startswith("v1 names test_000_0000.nii.gz, but compares each later modality with "
                                     "test_000_0000.nii.gz")
    assert found.found[1].startswith("test_000_0001.nii.gz vs test_000_0000.nii.gz: origin ")


def test_damaged_files_of_the_task_are_named_with_what_mends_each_and_v1_fails_on_them(workspace):
    pytest.importorskip("nnunet")
    import torch
    from batchgenerators.utilities.file_and_folder_operations import load_pickle as v1_load_pickle
    from nnunet.training.dataloading.dataset_loading import load_dataset as v1_load_dataset

    from nnunet_explorer.fileio import write_pickle

    name = "Task078_Dmg"
    stage = workspace.preprocessed / name / "nnUNetData_plans_v2.1_stage0"
    cropped = workspace.cropped_task_dir(name)
    for folder in (stage, cropped):
        folder.mkdir(parents=True)
        for case in ("case_0", "case_1", "case_2"):
            np.savez_compressed(folder / f"{case}.npz", data=np.zeros((2, 4, 8, 8), np.float32))
            write_pickle({"classes": np.array([0, 1]), "size_after_cropping": (4, 8, 8)}, folder / f"{case}.pkl")
    for case in ("case_0", "case_1"):
        np.save(stage / f"{case}.npy", np.zeros((2, 4, 8, 8), np.float32))
    write_pickle([{"train": np.array(["case_0", "case_1"]), "val": np.array(["case_2"])}],
                 workspace.preprocessed / name / "splits_final.pkl")
    fold = _v1_experiment(workspace, {"fold_0": ()}, task=name) / "fold_0"
    results = fold.parent.parent
    for checkpoint in ("model_latest", "model_best"):
        torch.save({"epoch": 50, "state_dict": {"w": torch.ones(256)}}, fold / f"{checkpoint}.model")
        write_pickle({"name": "nnUNetTrainerV2", "init": (None, 0)}, fold / f"{checkpoint}.model.pkl")
    (whole,) = explain("EOFError: Ran out of input", task="78")
    assert whole.found == (f"{cropped}: all 6 .npz/.npy/.pkl/.model files are whole",
                           f"{workspace.preprocessed / name}: all 9 .npz/.npy/.pkl/.model files are whole",
                           f"{results}: all 4 .npz/.npy/.pkl/.model files are whole")

    (stage / "case_1.pkl").write_bytes(b"")
    (stage / "case_0.npy").write_bytes(bytes(640))  # zeros a crash left
    (stage / "case_2.npz").write_bytes((stage / "case_2.npz").read_bytes()[:150])
    (cropped / "case_2.npz").write_bytes(b"")
    latest = (fold / "model_latest.model").read_bytes()
    (fold / "model_latest.model").write_bytes(latest[:len(latest) // 2])
    (fold / "model_best.model.pkl").write_bytes((fold / "model_best.model.pkl").read_bytes()[:20])
    # v1's own initialize: load_dataset reads every case's properties
    message = _v1_raised(lambda: v1_load_dataset(str(stage)))
    assert message == "EOFError: Ran out of input"
    (found,) = explain(f"loading all case properties\nTraceback ...\n{message}", task="78")
    assert found.name == "damaged_pickle"
    assert found.found[0] == f"{cropped}: 1 of 6 files damaged: case_2.npz (empty (0 bytes))"
    assert found.found[1].startswith(
        f"{workspace.preprocessed / name}: 3 of 9 files damaged: nnUNetData_plans_v2.1_stage0/case_0.npy (640 bytes, "
        "its header cut or not numpy's), nnUNetData_plans_v2.1_stage0/case_1.pkl (empty (0 bytes)), "
        "nnUNetData_plans_v2.1_stage0/case_2.npz (not a whole zip archive (")
    assert found.found[2].startswith(f"{results}: 2 of 4 files damaged: nnUNetTrainerV2__nnUNetPlans"
                                     "v2.1/fold_0/model_best.model.pkl (not a whole pickle (")
    assert "fold_0/model_latest.model (not a torch checkpoint" in found.found[2]
    remedies = found.found[3:]
    assert [r.split(":")[0].split(" (")[0] for r in remedies] == ["a cropped case", "an unpacked case",
                                                                  "a preprocessed case",
                                                                  "a checkpoint's .model.pkl", "a checkpoint"]
    assert "`nnUNet_plan_and_preprocess -t 78` crops it again" in remedies[0]  # v1's -t takes the number
    assert remedies[1].startswith("an unpacked case: delete the .npy")  # the .npz is whole: no planning again
    assert "copy over it another .model.pkl of this fold, or of another fold of the same trainer" in remedies[3]
    assert remedies[4] == (f"a checkpoint: move model_latest.model out of {fold}; -c then loads model_best.model (v1's "
                           "order: model_final_checkpoint, model_latest, model_best) and nnUNet_predict takes it with "
                           "-chk model_best")
    # every file named is one v1's readers refuse, and the others they read
    readers = {".npz": lambda f: np.load(f)["data"], ".npy": lambda f: np.load(f, mmap_mode="r"),
               ".pkl": lambda f: v1_load_pickle(str(f)), ".model": lambda f: torch.load(f, map_location="cpu")}
    said = "\n".join(found.found)
    for folder in (cropped, workspace.preprocessed / name, results):
        for f in sorted(p for p in folder.rglob("*") if p.suffix in readers):
            refused = _v1_raised_or_none(lambda: readers[f.suffix](f)) is not None
            assert refused == (f" {f.relative_to(folder)} (" in said), f

    # -c: the checkpoint v1 was loading is named in its log; without -t only that file is checked
    log = f"loading checkpoint {fold / 'model_latest.model'} train= True\n" + _v1_raised(
        lambda: torch.load(fold / "model_latest.model", map_location="cpu"))
    (resumed,) = explain(log)
    assert resumed.name == "damaged_checkpoint"
    assert resumed.found[0].startswith(f"{fold / 'model_latest.model'} (named in the text): not a torch checkpoint")
    assert resumed.found[1] == remedies[4]
    assert resumed.found[2] == "add -t TASK to check the task's files as well"
    # with model_best cut too, the fold has nothing -c could load
    (fold / "model_best.model").write_bytes(b"")
    (none_left,) = explain(log, task="78")
    assert none_left.found[-2:] == (
        f"a checkpoint: {fold} holds no other whole one (v1's -c order: model_final_checkpoint, model_latest, "
        "model_best), so move model_best.model, model_latest.model aside and train this fold again without -c",
        "a checkpoint's .model.pkl (the trainer's arguments and plans; only nnUNet_predict reads it, from the first "
        "fold given with -f; -c and -val read only the .model): copy over it another .model.pkl of this fold, or of "
        "another fold of the same trainer and plans (v1 writes the same arguments and plans next to each checkpoint)")


def test_an_npz_changed_inside_its_compressed_data_is_found_by_reading_each_to_its_end(workspace):
    """A byte changed deep inside a case's compressed data (a copy error, a failing disk): its zip directory and
    array header read, so the quick check passes it, but v1's own unpacking fails with zipfile's CRC error; that
    message makes the check read every .npz of the task to its end, and it names the case."""
    pytest.importorskip("nnunet")
    from nnunet.training.dataloading.dataset_loading import convert_to_npy as v1_convert_to_npy

    from nnunet_explorer.file_damage import damaged_file

    stage = workspace.preprocessed / "Task077_Rot" / "nnUNetData_plans_v2.1_stage0"
    stage.mkdir(parents=True)
    for case in ("case_0", "case_1"):
        data = np.random.RandomState(int(case[-1])).rand(2, 16, 32, 32).astype(np.float32)
        np.savez_compressed(stage / f"{case}.npz", data=data)
    changed = bytearray((stage / "case_1.npz").read_bytes())
    changed[len(changed) // 2] ^= 0xFF
    (stage / "case_1.npz").write_bytes(bytes(changed))
    assert damaged_file(stage / "case_1.npz") is None  # the quick check reads only the directory and header
    assert damaged_file(stage / "case_1.npz", whole=True).startswith(
        "its array data.npy is damaged behind a whole zip directory (its CRC does not match)")
    message = _v1_raised(lambda: v1_convert_to_npy((str(stage / "case_1.npz"), "data")))
    assert message == "BadZipFile: Bad CRC-32 for file 'data.npy'"
    (found,) = explain(f"Traceback (most recent call last):\n  ...\nzipfile.{message}", task="77")
    assert found.name == "damaged_npz" and found.cause.startswith("numpy read a .npz whose zip directory is whole")
    assert found.found[0] == (f"{workspace.preprocessed / 'Task077_Rot'}: 1 of 2 files damaged: "
                              "nnUNetData_plans_v2.1_stage0/case_1.npz (its array data.npy is damaged behind a "
                              "whole zip directory (its CRC does not match): a copy error, a failing disk, a crash "
                              "before the data reached the disk or two runs writing the file)")
    # zlib's words for a deflate stream it cannot decode: the same whole read
    (zlib_said,) = explain("zlib.error: Error -3 while decompressing data: invalid stored block lengths", task="77")
    assert zlib_said.cause.startswith("numpy read a .npz whose zip directory is whole")
    assert zlib_said.found == found.found
    (quick,) = explain("zipfile.BadZipFile: File is not a zip file", task="77")  # a cut file: the quick check only
    assert quick.found[0] == f"{workspace.preprocessed / 'Task077_Rot'}: all 2 .npz/.npy/.pkl/.model files are whole"
    # a log that shows a cut file first and the CRC error later: its one diagnosis still reads every .npz whole
    (both,) = explain("zipfile.BadZipFile: File is not a zip file\n...\nzipfile.BadZipFile: Bad CRC-32 for file "
                      "'data.npy'", task="77")
    assert both.cause.startswith("numpy opened a .npz that is not a whole zip archive")
    assert both.found == found.found


def _v1_raised_or_none(call) -> str | None:
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - numpy, zipfile, pickle and torch each raise their own
        return f"{type(exc).__name__}: {exc}"
    return None


def test_a_full_disk_shows_the_free_space_and_what_unpacking_still_needs(workspace):
    pytest.importorskip("nnunet")
    from nnunet_explorer.fileio import write_pickle

    stage = workspace.preprocessed / "Task079_Full" / "nnUNetData_plans_v2.1_stage0"
    stage.mkdir(parents=True)
    for case in ("case_0", "case_1"):
        np.savez_compressed(stage / f"{case}.npz", data=np.zeros((2, 16, 32, 32), np.float32))
        write_pickle({"classes": np.array([0, 1])}, stage / f"{case}.pkl")
    np.save(stage / "case_0.npy", np.zeros((2, 16, 32, 32), np.float32))
    message = _damaged_file_messages()["disk_full"]
    (found,) = explain(f"unpacking dataset\n{message}", task="79")
    assert found.name == "disk_full"
    assert found.found[0].startswith("/dev/shm: ") and " GiB free of " in found.found[0]
    assert found.found[1].startswith(f"nnUNet_raw_data_base, nnUNet_preprocessed, RESULTS_FOLDER "
                                     f"({workspace.raw_data_base}, one disk): ") and " GiB free of " in found.found[1]
    whole = (stage / "case_0.npy").stat().st_size  # what unpacking writes for case_1 (the same shape)
    assert found.found[2] == ("nnUNetData_plans_v2.1_stage0: 1 case(s) not unpacked yet; training this stage writes "
                              f"their .npy files, {whole / 2**20:.1f} MiB")
    assert found.found[3] == f"{workspace.preprocessed / 'Task079_Full'}: all 5 .npz/.npy/.pkl/.model files are whole"
    assert "--use_compressed_data reads the .npz without unpacking" in found.fix
    # a shell without the folder variables: the disks that can be read are still shown
    (bare,) = explain(message, environ={"PATH": os.environ.get("PATH", "")})
    assert bare.found[0].startswith("/dev/shm: ") and bare.found[-1] == "add -t TASK to check the task's files as well"
    # torch's shared memory in a container: /dev/shm is named as the disk that filled
    shm = "RuntimeError: unable to write to file </torch_2817_3961237544_0>: No space left on device (28)"
    (container,) = explain(shm)
    assert container.found[0].startswith("the write that failed was to /dev/shm (torch's shared memory")
    assert "--shm-size" in container.fix


def test_a_pickle_error_after_cannot_pickle_is_a_spawned_worker_not_a_damaged_file(workspace):
    import pickle
    import threading

    try:
        pickle.dumps(threading.Lock())
    except TypeError as exc:
        refused = f"TypeError: {exc}"
    (found,) = explain(f"{refused}\nTraceback (most recent call last):\n  ...\nEOFError: Ran out of input")
    assert found.name == "damaged_pickle"
    assert found.found[0].startswith(f"the text also says \"{refused.split(': ', 1)[1]}\": on Windows a worker "
                                     "process is started first and then sent its arguments")
