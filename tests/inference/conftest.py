"""Fixtures for the inference tests: tiny networks built by the explorer and by the real nnU-Net v1.

v1's network module does not import ``nnunet.paths`` (which reads folder variables at import time), so
``Generic_UNet`` is imported in-process. Anything that needs v1's trainers, ``predict`` or ``validate`` runs in
a subprocess (``nnunet_explorer.parity``).
"""
from __future__ import annotations

import types

import pytest
import torch

from nnunet_explorer.training.generic_unet import build_network


def build_v1_unet(num_input_channels, base_num_features, num_classes, pools, convs, threeD=True):
    """v1's Generic_UNet exactly as nnUNetTrainerV2.initialize_network builds it (on the CPU)."""
    from nnunet.network_architecture.generic_UNet import Generic_UNet
    from nnunet.network_architecture.initialization import InitWeights_He
    from nnunet.utilities.nd_softmax import softmax_helper

    nn = torch.nn
    conv_op, dropout_op, norm_op = ((nn.Conv3d, nn.Dropout3d, nn.InstanceNorm3d) if threeD
                                    else (nn.Conv2d, nn.Dropout2d, nn.InstanceNorm2d))
    net = Generic_UNet(num_input_channels, base_num_features, num_classes, len(pools), 2, 2,
                       conv_op, norm_op, {'eps': 1e-5, 'affine': True}, dropout_op, {'p': 0, 'inplace': True},
                       nn.LeakyReLU, {'negative_slope': 1e-2, 'inplace': True}, True, False, lambda x: x,
                       InitWeights_He(1e-2), pools, convs, False, True, True)
    net.inference_apply_nonlin = softmax_helper
    return net


@pytest.fixture
def tiny_pair():
    """Return ``make(threeD, in_ch, classes)`` -> (explorer Generic_UNet, v1 Generic_UNet) with equal weights."""
    pytest.importorskip("nnunet", reason="parity tests need nnunet==1.7.1")

    def make(threeD=True, in_ch=1, classes=3, seed=0):
        torch.manual_seed(seed)
        if threeD:
            pools, convs = [[1, 2, 2], [2, 2, 2]], [[1, 3, 3], [3, 3, 3], [3, 3, 3]]
        else:
            pools, convs = [[2, 2], [2, 2]], [[3, 3], [3, 3], [3, 3]]
        ours = build_network(in_ch, 4, classes, pools, convs, threeD=threeD)
        theirs = build_v1_unet(in_ch, 4, classes, pools, convs, threeD=threeD)
        ours.load_state_dict(theirs.state_dict())
        ours.eval()
        theirs.eval()
        return types.SimpleNamespace(ours=ours, theirs=theirs)

    return make


@pytest.fixture(autouse=True)
def _few_threads():
    """Two cores are shared by several test runs: keep torch to one thread, restore afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


#: applied by predict when present in the model folder: all foreground as one region, then label 1 alone
SMALL_MODEL_PP = {"for_which_classes": [[1, 2], 1], "min_valid_object_sizes": "None"}


@pytest.fixture(scope="session")
def small_model(v1_ct_task, tmp_path_factory):
    """A model folder for the v1-planned synthetic CT task (3d_fullres), with two folds of seeded weights.

    ``RESULTS_FOLDER/nnUNet/3d_fullres/Task901_SynthCT/nnUNetTrainerV2__nnUNetPlansv2.1`` with ``plans.pkl``,
    ``postprocessing.json`` and ``fold_0``/``fold_1`` checkpoints in v1's format (``.model`` + ``.model.pkl``).
    The weights are He-initialized from fixed seeds (not trained: the tests compare two ways of predicting, so
    any fixed weights do). Shared read-only: tests write their predictions elsewhere.
    """
    import json
    import pickle
    import shutil
    from collections import OrderedDict

    from nnunet_explorer.paths import resolve_workspace
    from nnunet_explorer.training.generic_unet import build_network
    from nnunet_explorer.training.processed_plans import process_plans

    root = tmp_path_factory.mktemp("small_model")
    shutil.copytree(v1_ct_task.workspace.raw_data_base.parent, root, dirs_exist_ok=True)
    src = v1_ct_task.workspace
    ws = resolve_workspace({"nnUNet_raw_data_base": str(root / src.raw_data_base.name),
                            "nnUNet_preprocessed": str(root / src.preprocessed.name),
                            "RESULTS_FOLDER": str(root / src.results_folder.name)}).ensure()
    task = v1_ct_task.task_name
    plans_file = ws.preprocessed_task_dir(task) / "nnUNetPlansv2.1_plans_3D.pkl"
    with open(plans_file, "rb") as f:
        plans = pickle.load(f)
    model_folder = ws.results_folder / "nnUNet" / "3d_fullres" / task / "nnUNetTrainerV2__nnUNetPlansv2.1"
    model_folder.mkdir(parents=True)
    shutil.copy(plans_file, model_folder / "plans.pkl")
    (model_folder / "postprocessing.json").write_text(json.dumps(SMALL_MODEL_PP))
    stage = max(plans["plans_per_stage"].keys())
    processed = process_plans(plans, stage)
    for fold in (0, 1):
        torch.manual_seed(10 + fold)
        net = build_network(processed.num_input_channels, processed.base_num_features, processed.num_classes,
                            processed.net_num_pool_op_kernel_sizes, processed.net_conv_kernel_sizes,
                            conv_per_stage=processed.conv_per_stage, threeD=processed.threeD)
        folder = model_folder / f"fold_{fold}"
        folder.mkdir()
        torch.save({"epoch": 1, "state_dict": net.state_dict(), "optimizer_state_dict": None,
                    "lr_scheduler_state_dict": None, "plot_stuff": ([], [], [], []), "best_stuff": (0, 1.0, 0.0)},
                   folder / "model_final_checkpoint.model")
        info = OrderedDict(init=(str(plans_file), fold, str(folder), str(ws.preprocessed_task_dir(task)), False,
                                 stage, True, False, True), name="nnUNetTrainerV2", plans=plans)
        info["class"] = "<class 'nnunet.training.network_training.nnUNetTrainerV2.nnUNetTrainerV2'>"
        with open(folder / "model_final_checkpoint.model.pkl", "wb") as f:
            pickle.dump(info, f)
    return types.SimpleNamespace(ws=ws, task=task, model_folder=model_folder, plans=plans,
                                 images=ws.raw_task_dir(task) / "imagesTs")
