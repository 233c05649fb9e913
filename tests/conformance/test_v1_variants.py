"""Conformance: v1 1.7.1's own trainer variants, ported by the one rule, train like v1 runs the unported file.

Each file of v1's ``nnunet/training/network_training/nnUNet_variants/`` listed in :data:`SUPPORTED` is read from
the installed v1 at test time, ported with :func:`nnunet_explorer.v1.port_v1_source` (``from nnunet.`` ->
``from nnunet_explorer.v1.``; nothing else) and registered with ``load_trainers_from_file``. It then trains 3
epochs x (2 training + 1 validation) iterations with ``--deterministic`` on the CPU on the v1-preprocessed
synthetic CT task; the per-epoch train and validation losses of its training log (v1's ``%.4f``) must equal those
of v1 running the *unported* file (:mod:`v1_reference`: ``deterministic=True``, ``random.seed(12345)``,
``torch.use_deterministic_algorithms(True)``, one thread, fp32, single-threaded augmentation). One v1 subprocess
runs every variant in sequence. The variants in :data:`REFUSED` override v1 methods the explorer does not call:
porting them must fail by name.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nnunet_explorer.errors import ConfigurationError
from nnunet_explorer.parity import v1_environment
from nnunet_explorer.training import trainers as tr
from nnunet_explorer.v1 import port_v1_source

from .conftest import copy_v1_workspace

pytestmark = [pytest.mark.parity, pytest.mark.slow]
EPOCHS, BATCHES, VAL_BATCHES = 3, 2, 1

# (file under nnUNet_variants/, class name): what each variant changes and therefore which v1 API it exercises
SUPPORTED = [
    (None, "nnUNetTrainerV2"),
    ("architectural_variants/nnUNetTrainerV2_ReLU.py", "nnUNetTrainerV2_ReLU"),  # initialize_network, Generic_UNet
    ("architectural_variants/nnUNetTrainerV2_GN.py", "nnUNetTrainerV2_GN"),  # MyGroupNorm
    ("architectural_variants/nnUNetTrainerV2_LReLU_slope_2en1.py", "nnUNetTrainerV2_LReLU_slope_2en1"),
    ("architectural_variants/nnUNetTrainerV2_3ConvPerStage.py", "nnUNetTrainerV2_3ConvPerStage"),
    ("architectural_variants/nnUNetTrainerV2_ReLU_biasInSegOutput.py", "nnUNetTrainerV2_ReLU_biasInSegOutput"),
    ("architectural_variants/nnUNetTrainerV2_NoNormalization.py", "nnUNetTrainerV2_NoNormalization"),  # Identity
    ("loss_function/nnUNetTrainerV2_Loss_DiceCE_noSmooth.py", "nnUNetTrainerV2_Loss_DiceCE_noSmooth"),  # self.loss
    ("loss_function/nnUNetTrainerV2_Loss_CE.py", "nnUNetTrainerV2_Loss_CE"),  # RobustCrossEntropyLoss
    ("loss_function/nnUNetTrainerV2_Loss_TopK10.py", "nnUNetTrainerV2_Loss_TopK10"),  # TopKLoss
    ("loss_function/nnUNetTrainerV2_ForceSD.py", "nnUNetTrainerV2_ForceSD"),  # batch_dice before super().__init__
    ("loss_function/nnUNetTrainerV2_Loss_Dice.py", "nnUNetTrainerV2_Loss_Dice"),  # SoftDiceLoss
    ("optimizer_and_lr/nnUNetTrainerV2_momentum09.py", "nnUNetTrainerV2_momentum09"),  # initialize_optimizer_...
    ("optimizer_and_lr/nnUNetTrainerV2_Adam.py", "nnUNetTrainerV2_Adam"),
    ("optimizer_and_lr/nnUNetTrainerV2_warmup.py", "nnUNetTrainerV2_warmup"),  # maybe_update_lr, self.epoch
    ("optimizer_and_lr/nnUNetTrainerV2_SGD_fixedSchedule.py", "nnUNetTrainerV2_SGD_fixedSchedule"),
    ("optimizer_and_lr/nnUNetTrainerV2_SGD_lrs.py", "nnUNetTrainerV2_SGD_lr1en3"),  # initial_lr in __init__
]
# (file, the v1 method whose override the explorer refuses)
REFUSED = [
    ("architectural_variants/nnUNetTrainerV2_noDeepSupervision.py", "initialize"),
    ("data_augmentation/nnUNetTrainerV2_noMirroring.py", "validate"),
    ("data_augmentation/nnUNetTrainerV2_DA3.py", "initialize"),
    ("optimizer_and_lr/nnUNetTrainerV2_SGD_ReduceOnPlateau.py", "on_epoch_end"),
]


def _variants_dir() -> Path:
    nnunet = pytest.importorskip("nnunet", reason="the conformance suite runs v1 1.7.1 (pip install -e '.[test]')")
    return Path(nnunet.__file__).parent / "training" / "network_training" / "nnUNet_variants"


def _ported(tmp: Path, relative: str) -> Path:
    target = tmp / Path(relative).name
    target.write_text(port_v1_source((_variants_dir() / relative).read_text()))
    return target


def _losses(log_text: str) -> dict:
    return {"train": re.findall(r"train loss : (-?[0-9.]+|nan)", log_text),
            "val": re.findall(r"validation loss: (-?[0-9.]+|nan)", log_text)}


@pytest.fixture(scope="module")
def v1_started(v1_ct_task, tmp_path_factory):
    """v1 running every unported variant in one subprocess, in sequence; started first so that it runs while the
    explorer trains (the two take about as long)."""
    _variants_dir()
    root = tmp_path_factory.mktemp("v1_variants")
    ws = copy_v1_workspace(v1_ct_task.workspace, root / "ws")
    spec = {"task": str(v1_ct_task.task_id), "fold": 0, "epochs": EPOCHS, "batches": BATCHES,
            "val_batches": VAL_BATCHES, "out": str(root / "out"), "trainers": [["3d_fullres", n] for _, n in SUPPORTED]}
    (root / "spec.json").write_text(json.dumps(spec))
    script = Path(__file__).with_name("v1_reference.py")
    proc = subprocess.Popen([sys.executable, str(script), str(root / "spec.json")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env=v1_environment(ws, {"OMP_NUM_THREADS": "1", "nnUNet_n_proc_DA": "1"}))
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


@pytest.fixture(scope="module")
def v1_losses(v1_started, explorer_losses) -> dict:
    """Per-epoch losses of v1 running every unported variant."""
    try:
        stdout, stderr = v1_started.communicate(timeout=1500)
    except subprocess.TimeoutExpired:
        v1_started.kill()
        stdout, stderr = v1_started.communicate()
    line = next((x for x in stdout.splitlines() if x.startswith("V1_RESULTS ")), None)
    assert line is not None, f"v1 reference failed ({v1_started.returncode}):\n{stdout[-3000:]}\n{stderr[-3000:]}"
    return json.loads(line[len("V1_RESULTS "):])


@pytest.fixture(scope="module")
def explorer_losses(v1_started, v1_ct_task, tmp_path_factory) -> dict:
    """Per-epoch losses of the explorer running every ported variant (``--deterministic``, CPU)."""
    from nnunet_explorer.training.configuration import RunArgs
    from nnunet_explorer.training.loop import TrainingRun

    root = tmp_path_factory.mktemp("explorer_variants")
    ws = copy_v1_workspace(v1_ct_task.workspace, root / "ws")
    out = {}
    for relative, name in SUPPORTED:
        try:
            if relative is not None:
                assert name in tr.load_trainers_from_file(_ported(root, relative))
            run = TrainingRun.from_args(RunArgs("3d_fullres", name, str(v1_ct_task.task_id), "0", deterministic=True),
                                        max_num_epochs=EPOCHS, num_batches_per_epoch=BATCHES,
                                        num_val_batches_per_epoch=VAL_BATCHES, workspace=ws, device="cpu",
                                        echo=False, plot_progress=False)
            out[name] = _losses(Path(run.run().log_file).read_text())
        except Exception as exc:  # noqa: BLE001 - reported per variant by the test below
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            if relative is not None:
                tr.unregister_trainer(name)
    return out


@pytest.mark.parametrize("name", [n for _, n in SUPPORTED])
def test_ported_variant_trains_like_v1(name, explorer_losses, v1_losses):
    ref, ours = v1_losses[name], explorer_losses[name]
    assert "error" not in ref, ref.get("error")
    assert "error" not in ours, ours.get("error")
    assert len(ref["train"]) == len(ref["val"]) == EPOCHS
    assert ours == ref


@pytest.mark.parametrize("relative, method", REFUSED, ids=[Path(r).stem for r, _ in REFUSED])
def test_variants_overriding_what_the_explorer_does_not_call_are_refused_by_name(relative, method, tmp_path):
    with pytest.raises(ConfigurationError, match=f"overrides v1's .*{method}"):
        tr.load_trainers_from_file(_ported(tmp_path, relative))


def test_the_command_line_trains_a_ported_v1_file(v1_ct_task, tmp_path, monkeypatch):
    from nnunet_explorer.cli import main
    from nnunet_explorer.paths import environment_for

    ws = copy_v1_workspace(v1_ct_task.workspace, tmp_path / "ws")
    for key, value in environment_for(ws).items():
        monkeypatch.setenv(key, value)
    ported = _ported(tmp_path, "architectural_variants/nnUNetTrainerV2_ReLU.py")
    try:
        code = main(["train", "3d_fullres", "nnUNetTrainerV2_ReLU", str(v1_ct_task.task_id), "0", "--trainer_file",
                     str(ported), "--deterministic", "--max_num_epochs", "1", "--num_batches_per_epoch", "1",
                     "--num_val_batches_per_epoch", "1", "--device", "cpu", "--quiet",
                     "--disable_validation_inference"])
    finally:
        tr.unregister_trainer("nnUNetTrainerV2_ReLU")
    assert code == 0
    folder = Path(ws.results_folder) / "nnUNet" / "3d_fullres" / v1_ct_task.task_name / \
        "nnUNetTrainerV2_ReLU__nnUNetPlansv2.1" / "fold_0"
    log = sorted(folder.glob("training_log_*.txt"))[-1].read_text()
    assert "ReLU(inplace=True)" in log and len(_losses(log)["train"]) == 1
