"""Conformance: v1's own trainer variants, ported by the one import rule, train as in nnU-Net v1 1.7.1.

Each file of v1's ``nnunet/training/network_training/nnUNet_variants/`` named below is read from the installed
``nnunet`` package, ported by the single textual rule ``from nnunet.`` -> ``from nnunet_explorer.v1.`` (and
``import nnunet.`` likewise) — nothing is copied into this repository — and trained by the explorer for 3 epochs
of 2 training + 1 validation iterations with ``--deterministic`` on the CPU. The per-epoch train and validation
losses, as v1's log prints them (``%.4f``), must equal those of v1 1.7.1 running the *unported* file on the same
preprocessed task: v1's trainer with ``deterministic=True``, ``random.seed(12345)``,
``torch.use_deterministic_algorithms(True)``, one thread, fp32, and ``tr_gen``/``val_gen`` replaced right after
``initialize()`` by batchgenerators' ``SingleThreadedAugmenter(gen.generator, gen.transform)``, in a subprocess.
"""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from nnunet_explorer.parity import run_v1_python
from nnunet_explorer.paths import resolve_workspace

pytestmark = [pytest.mark.parity, pytest.mark.slow]

EPOCHS, BATCHES, VAL_BATCHES = 3, 2, 1
V1_VARIANTS = Path(__import__("nnunet").__file__).parent / "training" / "network_training" / "nnUNet_variants"

# variant class name -> file under nnUNet_variants/ (None: v1's plain nnUNetTrainerV2, not ported)
# Not listed: nnUNetTrainerV2_allConv3x3 changes ``self.net_conv_kernel_sizes[s][i]`` in place, which fails on the
# tuples the explorer's process_plans stores (v1 keeps lists of lists) — a known gap, see the closing note.
VARIANTS: dict[str, str | None] = {
    "nnUNetTrainerV2": None,
    "nnUNetTrainerV2_ReLU": "architectural_variants/nnUNetTrainerV2_ReLU.py",
    "nnUNetTrainerV2_LReLU_slope_2en1": "architectural_variants/nnUNetTrainerV2_LReLU_slope_2en1.py",
    "nnUNetTrainerV2_3ConvPerStage": "architectural_variants/nnUNetTrainerV2_3ConvPerStage.py",
    "nnUNetTrainerV2_BN": "architectural_variants/nnUNetTrainerV2_BN.py",
    "nnUNetTrainerV2_GN": "architectural_variants/nnUNetTrainerV2_GN.py",
    "nnUNetTrainerV2_NoNormalization": "architectural_variants/nnUNetTrainerV2_NoNormalization.py",
    "nnUNetTrainerV2_momentum098": "optimizer_and_lr/nnUNetTrainerV2_momentum098.py",
    "nnUNetTrainerV2_ReLU_biasInSegOutput": "architectural_variants/nnUNetTrainerV2_ReLU_biasInSegOutput.py",
    "nnUNetTrainerV2_ReLU_convReLUIN": "architectural_variants/nnUNetTrainerV2_ReLU_convReLUIN.py",
    "nnUNetTrainerV2_Loss_CE": "loss_function/nnUNetTrainerV2_Loss_CE.py",
    "nnUNetTrainerV2_Loss_DiceCE_noSmooth": "loss_function/nnUNetTrainerV2_Loss_DiceCE_noSmooth.py",
    "nnUNetTrainerV2_Loss_TopK10": "loss_function/nnUNetTrainerV2_Loss_TopK10.py",
    "nnUNetTrainerV2_ForceSD": "loss_function/nnUNetTrainerV2_ForceSD.py",
    "nnUNetTrainerV2_ForceBD": "loss_function/nnUNetTrainerV2_ForceBD.py",
    "nnUNetTrainerV2_Loss_CEGDL": "loss_function/nnUNetTrainerV2_Loss_CEGDL.py",
    "nnUNetTrainerV2_Loss_Dice": "loss_function/nnUNetTrainerV2_Loss_Dice.py",
    "nnUNetTrainerV2_Loss_DicewithBG": "loss_function/nnUNetTrainerV2_Loss_Dice.py",
    "nnUNetTrainerV2_Loss_Dice_squared": "loss_function/nnUNetTrainerV2_Loss_Dice_squared.py",
    "nnUNetTrainerV2_Loss_DiceTopK10": "loss_function/nnUNetTrainerV2_Loss_DiceTopK10.py",
    "nnUNetTrainerV2_Loss_MCC": "loss_function/nnUNetTrainerV2_Loss_MCC.py",
    "nnUNetTrainerV2_Loss_MCCnoBG": "loss_function/nnUNetTrainerV2_Loss_MCC.py",
    "nnUNetTrainerV2_SegLoss_Focal": "loss_function/nnUNetTrainerV2_focalLoss.py",
    "nnUNetTrainerV2_momentum09": "optimizer_and_lr/nnUNetTrainerV2_momentum09.py",
    "nnUNetTrainerV2_momentum095": "optimizer_and_lr/nnUNetTrainerV2_momentum095.py",
    "nnUNetTrainerV2_SGD_fixedSchedule": "optimizer_and_lr/nnUNetTrainerV2_SGD_fixedSchedule.py",
    "nnUNetTrainerV2_warmup": "optimizer_and_lr/nnUNetTrainerV2_warmup.py",
    "nnUNetTrainerV2_Adam": "optimizer_and_lr/nnUNetTrainerV2_Adam.py",
}

V1_REFERENCE = textwrap.dedent("""
    import importlib.util, json, os, random, sys
    import torch
    from batchgenerators.dataloading.single_threaded_augmenter import SingleThreadedAugmenter
    from nnunet.run.default_configuration import get_default_configuration
    from nnunet.training.network_training.nnUNetTrainerV2 import nnUNetTrainerV2
    variants, out_root, epochs, batches, val_batches = json.loads(sys.argv[1])
    torch.set_num_threads(1)
    plans_file, _, dataset_directory, batch_dice, stage, _ = get_default_configuration(
        '3d_fullres', 'Task901_SynthCT', 'nnUNetTrainerV2', 'nnUNetPlansv2.1')
    torch.use_deterministic_algorithms(True)
    result = {}
    for name, path in variants.items():
        if path is None:
            cls = nnUNetTrainerV2
        else:
            spec = importlib.util.spec_from_file_location('v1_variant_' + name, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            cls = getattr(module, name)
        random.seed(12345)
        t = cls(plans_file, 0, output_folder=os.path.join(out_root, name), dataset_directory=dataset_directory,
                batch_dice=batch_dice, stage=stage, unpack_data=True, deterministic=True, fp16=False)
        t.max_num_epochs, t.num_batches_per_epoch, t.num_val_batches_per_epoch = epochs, batches, val_batches
        t.initialize(True)
        t.plot_progress = lambda: None  # progress.png does not change the losses and costs seconds
        for gen in ('tr_gen', 'val_gen'):
            old = getattr(t, gen)
            setattr(t, gen, SingleThreadedAugmenter(old.generator, old.transform))
        t.run_training()
        result[name] = {'train': ['%.4f' % v for v in t.all_tr_losses], 'val': ['%.4f' % v for v in t.all_val_losses]}
    print(json.dumps(result))
""")


def copy_workspace(src, dst: Path):
    """A writable copy of the shared v1 task (its three folders share one parent)."""
    import shutil

    root = src.raw_data_base.parent
    shutil.copytree(root, dst, dirs_exist_ok=True)
    return resolve_workspace({"nnUNet_raw_data_base": str(dst / src.raw_data_base.name),
                              "nnUNet_preprocessed": str(dst / src.preprocessed.name),
                              "RESULTS_FOLDER": str(dst / src.results_folder.name)}).ensure()


def port(source: str) -> str:
    """The one porting rule: ``from nnunet.`` -> ``from nnunet_explorer.v1.``, ``import nnunet.`` likewise."""
    return source.replace("from nnunet.", "from nnunet_explorer.v1.").replace("import nnunet.",
                                                                          "import nnunet_explorer.v1.")


def v1_losses(name: str, ws, out: Path) -> dict:
    """v1 1.7.1 training the unported file (see the module docstring)."""
    rel = VARIANTS[name]
    args = json.dumps([{name: None if rel is None else str(V1_VARIANTS / rel)}, str(out), EPOCHS, BATCHES, VAL_BATCHES])
    done = run_v1_python(V1_REFERENCE.replace("json.loads(sys.argv[1])", f"json.loads({args!r})"), ws,
                         timeout=600, extra_env={"OMP_NUM_THREADS": "1"})
    return json.loads(done.stdout.strip().splitlines()[-1])[name]


def explorer_losses(name: str, ws, tmp_path: Path) -> dict:
    from nnunet_explorer.training.configuration import RunArgs
    from nnunet_explorer.training.trainers import load_trainers_from_file, unregister_trainer
    from nnunet_explorer.walkthrough import training_run_from_args

    registered = []
    if VARIANTS[name] is not None:
        ported = tmp_path / f"{name}.py"
        ported.write_text(port((V1_VARIANTS / VARIANTS[name]).read_text()))
        registered = load_trainers_from_file(ported)
        assert name in registered
    try:
        run = training_run_from_args(RunArgs("3d_fullres", name, "901", "0", deterministic=True, fp32=True),
                                     max_num_epochs=EPOCHS, num_batches_per_epoch=BATCHES,
                                     num_val_batches_per_epoch=VAL_BATCHES, workspace=ws, device="cpu", echo=False,
                                     plot_progress=False)
        result = run.run()
    finally:
        for n in registered:
            unregister_trainer(n)
    log = Path(result.log_file).read_text()
    return {"train": ["%.4f" % v for v in result.state.all_tr_losses],
            "val": ["%.4f" % v for v in result.state.all_val_losses], "log": log}


@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", list(VARIANTS))
def test_variant_trains_like_v1(name, v1_ct_task, tmp_path):
    ws = copy_workspace(v1_ct_task.workspace, tmp_path / "ws")
    theirs = v1_losses(name, ws, tmp_path / "v1_out")
    mine = explorer_losses(name, ws, tmp_path)
    assert len(theirs["train"]) == EPOCHS
    assert mine["train"] == theirs["train"], name
    assert mine["val"] == theirs["val"], name
    for train, val in zip(mine["train"], mine["val"]):  # the training log shows them as v1's does
        assert f"train loss : {train}" in mine["log"] and f"validation loss: {val}" in mine["log"]
