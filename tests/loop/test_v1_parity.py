"""The loop's bookkeeping and checkpoints against the real nnU-Net v1 (subprocesses).

* v1's own ``on_epoch_end`` pieces (``finish_online_evaluation``, V2's ``maybe_update_lr``,
  ``maybe_save_checkpoint``, ``update_eval_criterion_MA``, ``manage_patience``) run on a stand-in ``self`` for
  120 scripted epochs, with a ``-c`` resume in the middle; the explorer's functions must produce the same LR,
  moving averages, global Dice, best-checkpoint and scheduled-checkpoint decisions.
* a checkpoint the explorer writes is restored by v1's ``restore_model`` and loaded for training by v1's
  ``load_checkpoint``; v1 then saves it again, and that v1-written checkpoint resumes in the explorer (``-c``).
* ``nnUNetTrainerV2(...).initialize(True)`` on the same task sets the same attributes with the same values as v1's,
  and the network, loss, optimizer and augmentation pipelines print the same.
"""
from __future__ import annotations

import inspect
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from nnunet_explorer.paths import resolve_workspace
from nnunet_explorer.parity import run_v1_python, v1_environment
from nnunet_explorer.network_training import NetworkTrainer, nnUNetTrainerV2
from nnunet_explorer.run.run_training import check_fold_folder
from nnunet_explorer.training.lr_schedule import poly_lr
from nnunet_explorer.training.pretrained import read_checkpoint

from .conftest import copy_workspace, fold_folder, tiny_trainer

pytestmark = pytest.mark.parity
EPOCHS, SAVE_EVERY, RESUME_AT = 120, 50, 70

V1_BOOKKEEPING = textwrap.dedent("""
    import json, os, sys, types
    import numpy as np
    from nnunet.training.network_training.network_trainer import NetworkTrainer
    from nnunet.training.network_training.nnUNetTrainer import nnUNetTrainer
    from nnunet.training.network_training.nnUNetTrainerV2 import nnUNetTrainerV2
    sc = json.load(open(sys.argv[1]))

    def fresh():
        t = types.SimpleNamespace(epoch=0, max_num_epochs=sc['epochs'], initial_lr=1e-2, all_tr_losses=[],
            all_val_losses=[], all_val_losses_tr_mode=[], all_val_eval_metrics=[], train_loss_MA=None,
            val_eval_criterion_MA=None, best_val_eval_criterion_MA=None, best_MA_tr_loss_for_patience=None,
            best_epoch_based_on_MA_tr_loss=None, patience=50, train_loss_MA_alpha=0.93,
            val_eval_criterion_alpha=0.9, train_loss_MA_eps=5e-4, lr_threshold=1e-6, save_every=sc['save_every'],
            save_intermediate_checkpoints=True, save_latest_only=True, save_best_checkpoint=True,
            lr_scheduler=None, online_eval_tp=[], online_eval_fp=[], online_eval_fn=[],
            online_eval_foreground_dc=[], saves=[], output_folder='/out')
        t.optimizer = types.SimpleNamespace(param_groups=[{'lr': None}])
        t.print_to_log_file = lambda *a, **k: None
        t.plot_progress = lambda: None
        t.save_checkpoint = lambda fname, save_optimizer=True: t.saves.append(os.path.basename(fname))
        for cls, name in ((nnUNetTrainerV2, 'maybe_update_lr'), (nnUNetTrainer, 'finish_online_evaluation'),
                          (NetworkTrainer, 'maybe_save_checkpoint'), (NetworkTrainer, 'update_eval_criterion_MA'),
                          (NetworkTrainer, 'manage_patience'), (NetworkTrainer, 'update_train_loss_MA')):
            setattr(t, name, types.MethodType(getattr(cls, name), t))
        return t

    t = fresh()
    t.maybe_update_lr(t.epoch)
    out = {'lr_start': t.optimizer.param_groups[0]['lr'], 'epochs': []}
    while t.epoch < sc['epochs']:
        e = t.epoch
        if e == sc['resume_at']:  # -c: a new trainer loads what a checkpoint holds (no moving averages)
            old = t
            t = fresh()
            t.epoch = e
            t.all_tr_losses, t.all_val_losses = list(old.all_tr_losses), list(old.all_val_losses)
            t.all_val_eval_metrics = list(old.all_val_eval_metrics)
            (t.best_epoch_based_on_MA_tr_loss, t.best_MA_tr_loss_for_patience,
             t.best_val_eval_criterion_MA) = (old.best_epoch_based_on_MA_tr_loss, old.best_MA_tr_loss_for_patience,
                                              old.best_val_eval_criterion_MA)
            t.maybe_update_lr(t.epoch)
            out['lr_resume'] = t.optimizer.param_groups[0]['lr']
        t.all_tr_losses.append(np.float32(sc['tr'][e]))
        t.all_val_losses.append(np.float32(sc['val'][e]))
        t.online_eval_tp = [np.array(b, dtype=np.float32) for b in sc['tp'][e]]
        t.online_eval_fp = [np.array(b, dtype=np.float32) for b in sc['fp'][e]]
        t.online_eval_fn = [np.array(b, dtype=np.float32) for b in sc['fn'][e]]
        t.saves = []
        t.update_train_loss_MA()
        NetworkTrainer.on_epoch_end(t)
        out['epochs'].append({'lr': t.optimizer.param_groups[0]['lr'], 'tr_MA': float(t.train_loss_MA),
                              'val_MA': float(t.val_eval_criterion_MA), 'metric': float(t.all_val_eval_metrics[-1]),
                              'best': float(t.best_val_eval_criterion_MA),
                              'best_epoch': t.best_epoch_based_on_MA_tr_loss,
                              'best_tr_MA': float(t.best_MA_tr_loss_for_patience), 'saves': t.saves})
        t.epoch += 1
    print(json.dumps(out))
""")


def _scenario(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    tr = (1.2 * np.exp(-np.arange(EPOCHS) / 40) - 0.5 + rng.normal(0, 0.05, EPOCHS)).tolist()
    val = (np.array(tr) + rng.normal(0.05, 0.05, EPOCHS)).tolist()
    tp, fp, fn = [], [], []
    for e in range(EPOCHS):
        batches = rng.integers(0, 200, size=(3, 3, 2))  # 3 batches x (tp, fp, fn) x 2 classes
        batches[:, 0] += 10 * e  # the Dice estimate improves over the epochs, so new bests happen
        if e % 7 == 0:
            batches[:, :, 1] = 0  # class 2 absent and never predicted: 0/0, dropped by v1
        tp.append(batches[:, 0].tolist())
        fp.append(batches[:, 1].tolist())
        fn.append(batches[:, 2].tolist())
    return {"epochs": EPOCHS, "save_every": SAVE_EVERY, "resume_at": RESUME_AT, "tr": tr, "val": val, "tp": tp,
            "fp": fp, "fn": fn}


class _Recording(nnUNetTrainerV2):
    """V2 whose checkpoints are only named (a v1-style override of save_checkpoint, as the v1 side does)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.saves = []

    def save_checkpoint(self, fname, save_optimizer=True):
        self.saves.append(Path(fname).name)


def _explorer(sc: dict) -> dict:
    """The explorer trainer's own methods, called as v1's loop calls them (NetworkTrainer.on_epoch_end)."""
    def fresh():
        t = _Recording("unused.pkl", 0, output_folder="/out")
        t.max_num_epochs, t.save_every = sc["epochs"], sc["save_every"]
        t.optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-2, momentum=0.99)
        t.explorer.plot_progress, t.explorer.log_muted = False, True
        return t

    t = fresh()
    t.maybe_update_lr(t.epoch)
    out = {"lr_start": t.optimizer.param_groups[0]["lr"], "epochs": []}
    while t.epoch < sc["epochs"]:
        e = t.epoch
        if e == sc["resume_at"]:  # -c: a new trainer loads what a checkpoint holds (no moving averages)
            old, t = t, fresh()
            t.epoch = e
            t.all_tr_losses, t.all_val_losses = list(old.all_tr_losses), list(old.all_val_losses)
            t.all_val_eval_metrics = list(old.all_val_eval_metrics)
            (t.best_epoch_based_on_MA_tr_loss, t.best_MA_tr_loss_for_patience,
             t.best_val_eval_criterion_MA) = (old.best_epoch_based_on_MA_tr_loss, old.best_MA_tr_loss_for_patience,
                                              old.best_val_eval_criterion_MA)
            t.maybe_update_lr(t.epoch)
            out["lr_resume"] = t.optimizer.param_groups[0]["lr"]
        t.all_tr_losses.append(np.float32(sc["tr"][e]))
        t.all_val_losses.append(np.float32(sc["val"][e]))
        t.online_eval_tp = [np.array(b, dtype=np.float32) for b in sc["tp"][e]]
        t.online_eval_fp = [np.array(b, dtype=np.float32) for b in sc["fp"][e]]
        t.online_eval_fn = [np.array(b, dtype=np.float32) for b in sc["fn"][e]]
        t.saves = []
        t.update_train_loss_MA()
        NetworkTrainer.on_epoch_end(t)
        out["epochs"].append({"lr": t.optimizer.param_groups[0]["lr"], "tr_MA": float(t.train_loss_MA),
                              "val_MA": float(t.val_eval_criterion_MA), "metric": float(t.all_val_eval_metrics[-1]),
                              "best": float(t.best_val_eval_criterion_MA),
                              "best_epoch": t.best_epoch_based_on_MA_tr_loss,
                              "best_tr_MA": float(t.best_MA_tr_loss_for_patience), "saves": t.saves})
        t.epoch += 1
    return out


def test_epoch_bookkeeping_matches_v1_over_120_epochs_with_a_resume(tmp_path):
    sc = _scenario()
    (tmp_path / "sc.json").write_text(json.dumps(sc))
    ws = resolve_workspace({"nnUNet_raw_data_base": str(tmp_path / "raw"), "nnUNet_preprocessed": str(tmp_path / "pre"),
                            "RESULTS_FOLDER": str(tmp_path / "res")}).ensure()
    done = subprocess.run([sys.executable, "-c", V1_BOOKKEEPING, str(tmp_path / "sc.json")], capture_output=True,
                          text=True, env=v1_environment(ws), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    v1 = json.loads(done.stdout.strip().splitlines()[-1])
    mine = _explorer(sc)
    assert mine["lr_start"] == v1["lr_start"] and mine["lr_resume"] == v1["lr_resume"] == poly_lr(RESUME_AT, EPOCHS, 1e-2)
    assert len(mine["epochs"]) == len(v1["epochs"]) == EPOCHS
    for e, (a, b) in enumerate(zip(mine["epochs"], v1["epochs"])):
        assert a["saves"] == b["saves"], e
        assert a["best_epoch"] == b["best_epoch"], e
        for key in ("lr", "tr_MA", "val_MA", "metric", "best", "best_tr_MA"):
            assert a[key] == pytest.approx(b[key], rel=1e-6, abs=1e-9), (e, key)
    # the scenario exercises what it claims to: scheduled saves, several new bests, dropped classes, the resume
    all_saves = [s for ep in v1["epochs"] for s in ep["saves"]]
    assert all_saves.count("model_latest.model") == 2 and all_saves.count("model_best.model") >= 3


V1_CROSS_LOAD = textwrap.dedent("""
    import json, sys, torch
    from nnunet.training.model_restore import restore_model
    ckpt, out = sys.argv[1], sys.argv[2]
    t = restore_model(ckpt + '.pkl', ckpt, train=False)  # as nnUNet_predict does
    r = {'restored': type(t).__name__, 'restored_epoch': t.epoch}
    t2 = restore_model(ckpt + '.pkl', None, train=False)
    t2.initialize(True)
    t2.load_checkpoint(ckpt, train=True)  # as nnUNet_train -c does
    r.update(epoch=t2.epoch, n_tr=len(t2.all_tr_losses), best_val=float(t2.best_val_eval_criterion_MA),
             momentum_keys=len(t2.optimizer.state_dict()['state']), network_repr=repr(t2.network),
             loss_repr=repr(t2.loss))
    t2.epoch -= 1  # as after an epoch of training: v1 stores epoch + 1
    t2.save_checkpoint(out)
    print(json.dumps(r))
""")


@pytest.mark.slow
def test_checkpoints_cross_load_between_v1_and_the_explorer(trained, v1_ct_task, tmp_path):
    ws, run, result, _ = trained
    ckpt_path = fold_folder(ws) / "model_final_checkpoint.model"
    v1_written = tmp_path / "v1_written.model"
    done = run_v1_python(V1_CROSS_LOAD.replace("sys.argv[1], sys.argv[2]", f"{str(ckpt_path)!r}, {str(v1_written)!r}"),
                         ws, timeout=400)
    r = json.loads(done.stdout.strip().splitlines()[-1])
    assert r["restored"] == "nnUNetTrainerV2" and r["restored_epoch"] == 2
    assert r["epoch"] == 2 and r["n_tr"] == 2
    assert r["best_val"] == pytest.approx(float(run.best_val_eval_criterion_MA))
    assert r["momentum_keys"] == len(run.optimizer.state_dict()["state"]) > 0

    # the v1-written checkpoint resumes in the explorer with -c (fresh workspace, file as model_latest)
    ws2 = copy_workspace(v1_ct_task.workspace, tmp_path / "ws2")
    folder = fold_folder(ws2)
    folder.mkdir(parents=True)
    shutil.copy(v1_written, folder / "model_latest.model")
    shutil.copy(str(v1_written) + ".pkl", folder / "model_latest.model.pkl")
    resumed, request = tiny_trainer(ws2, epochs=3, continue_training=True, plot_progress=False)
    check_fold_folder(resumed, request)
    resumed.load_latest_checkpoint()  # what -c does after initialize (v1's main)
    written = torch.load(v1_written, map_location="cpu", weights_only=False)  # our own test file: trusted
    assert resumed.epoch == written["epoch"] == 2
    assert [float(v) for v in resumed.all_tr_losses] == [float(v) for v in run.all_tr_losses]
    for key, value in written["state_dict"].items():
        assert resumed.network.state_dict()[key].equal(value), key
    mine, theirs = resumed.optimizer.state_dict()["state"], written["optimizer_state_dict"]["state"]
    assert set(mine) == set(theirs) and all(mine[k]["momentum_buffer"].equal(theirs[k]["momentum_buffer"]) for k in mine)
    assert read_checkpoint(v1_written)["epoch"] == 2  # the explorer's safe reader accepts v1's file
    # both trainers' initialize builds a network and a loss that print the same, class names included
    assert repr(resumed.network) == r["network_repr"] and repr(resumed.loss) == r["loss_repr"]
    assert repr(resumed.network).startswith("Generic_UNet(") and "StackedConvLayers(" in r["network_repr"]


V1_INITIALIZED = textwrap.dedent("""
    import json, re, sys
    import numpy as np
    from nnunet.training.network_training.nnUNetTrainerV2 import nnUNetTrainerV2
    plans, folder, pre = sys.argv[1], sys.argv[2], sys.argv[3]
    # V2 only: v1's base nnUNetTrainer cannot initialize under the tests' torch 2.13 (ReduceLROnPlateau(verbose=))
    t = nnUNetTrainerV2(plans, 0, output_folder=folder, dataset_directory=pre, batch_dice=False, stage=0,
                        unpack_data=True, deterministic=False, fp16=False)
    t.initialize(True)
    try:
        print("JSON" + json.dumps(DESCRIBE(t)))
    finally:
        t.tr_gen._finish(); t.val_gen._finish()
""")


def _describe(trainer) -> dict:
    """Every public attribute of an initialized trainer: its class, and its repr where the value is plain data
    or a torch object a learner prints (network, loss, optimizer, the augmentation pipelines)."""
    import re

    plain = (int, float, str, bool, list, tuple, dict, np.ndarray, np.generic, type(None))
    out = {}
    for key, value in vars(trainer).items():
        if key.startswith("_"):
            continue
        out[key] = {"class": type(value).__name__}
        if isinstance(value, plain) or key in ("network", "loss", "optimizer"):
            out[key]["repr"] = re.sub(r"0x[0-9a-f]+", "0x", repr(value))
    for key in ("tr_gen", "val_gen"):
        out[key]["transform"] = re.sub(r"0x[0-9a-f]+", "0x", repr(getattr(trainer, key).transform))
    return out


# the explorer's own additions to the trainer (network_trainer.py, marked "differs from v1") and the one
# class it replaces: batchgenerators' MultiThreadedAugmenter by its own MultiProcessAugmenter (training/augmenter.py)
EXPLORER_ATTRIBUTES = {"augment_on", "device", "echo", "explorer", "strategy"}
OWN_CLASSES = {"tr_gen": ("MultiThreadedAugmenter", "MultiProcessAugmenter"),
               "val_gen": ("MultiThreadedAugmenter", "MultiProcessAugmenter")}


@pytest.mark.parametrize("plans_name", ["nnUNetPlansv2.1_plans_3D.pkl", "nnUNetPlansv2.1_plans_2D.pkl"])
def test_initialize_sets_what_v1s_initialize_sets(v1_ct_task, tmp_path, monkeypatch, plans_name):
    """``nnUNetTrainerV2(...).initialize(True)`` here and in v1 on the same task: the same attributes, of the
    same classes, with the same values, and a network, loss, optimizer and augmentation pipeline that print the
    same (the debugger view of the blog's section 5, attribute by attribute)."""
    monkeypatch.setenv("nnUNet_n_proc_DA", "1")
    ws = copy_workspace(v1_ct_task.workspace, tmp_path / "ws")
    pre = Path(ws.preprocessed) / v1_ct_task.task_name
    plans, folder = str(pre / plans_name), str(tmp_path / "out")
    script = V1_INITIALIZED.replace("DESCRIBE(t)", "_describe(t)").replace(
        "import numpy as np\n", "import numpy as np\n" + textwrap.dedent(inspect.getsource(_describe)))
    script = script.replace("sys.argv[1], sys.argv[2], sys.argv[3]", f"{plans!r}, {folder!r}, {str(pre)!r}")
    done = run_v1_python(script, ws, timeout=400, extra_env={"nnUNet_n_proc_DA": "1"})
    theirs = json.loads(next(line[4:] for line in done.stdout.splitlines() if line.startswith("JSON")))

    trainer = nnUNetTrainerV2(plans, 0, output_folder=folder, dataset_directory=str(pre), batch_dice=False,
                              stage=0, unpack_data=True, deterministic=False, fp16=False)
    trainer.initialize(True)
    try:
        ours = _describe(trainer)
    finally:
        trainer.tr_gen.shutdown()
        trainer.val_gen.shutdown()

    assert set(ours) - set(theirs) == EXPLORER_ATTRIBUTES
    assert set(theirs) <= set(ours)
    for key, v1 in theirs.items():
        mine = ours[key]
        if key in OWN_CLASSES:
            assert (v1["class"], mine["class"]) == OWN_CLASSES[key]
        else:
            assert mine["class"] == v1["class"], key
        if key == "log_file":  # a time stamp in the name
            continue
        assert mine.get("repr") == v1.get("repr"), key
        assert mine.get("transform") == v1.get("transform"), key
    # the comparison covers what it claims: the module trees and the transforms were printed on both sides
    assert theirs["network"]["repr"].startswith("Generic_UNet(") and "MirrorTransform" in theirs["tr_gen"]["transform"]
    assert "DownsampleSegForDSTransform2" in theirs["tr_gen"]["transform"]


V1_TRAINED = textwrap.dedent("""
    import json, os, re, sys
    import numpy as np
    import torch
    from nnunet.run.default_configuration import get_default_configuration
    from nnunet.training.network_training.nnUNetTrainerV2 import nnUNetTrainerV2
    torch.set_num_threads(1)
    plans_file, folder, pre, batch_dice, stage, _ = get_default_configuration(
        '3d_fullres', 'Task901_SynthCT', 'nnUNetTrainerV2', 'nnUNetPlansv2.1')
    t = nnUNetTrainerV2(plans_file, 0, output_folder=folder, dataset_directory=pre, batch_dice=batch_dice,
                        stage=stage, unpack_data=True, deterministic=True, fp16=True)
    t.max_num_epochs, t.num_batches_per_epoch, t.num_val_batches_per_epoch, t.save_every = 2, 1, 1, 1
    t.initialize(True)
    # --deterministic: in-process augmentation, as the explorer does it and as v1's own determinism check does
    from batchgenerators.dataloading.single_threaded_augmenter import SingleThreadedAugmenter
    for name in ('tr_gen', 'val_gen'):
        old = getattr(t, name)
        old._finish()
        setattr(t, name, SingleThreadedAugmenter(old.generator, old.transform))
    t.run_training()
    print("JSON" + json.dumps(DESCRIBE(t)))
""")

# values that depend on the augmentation's random numbers (v1's workers are seeded from OS entropy): compared by
# shape (container, length, element class), not by value
RANDOM_VALUES = {"all_tr_losses", "all_val_losses", "all_val_losses_tr_mode", "all_val_eval_metrics",
                 "train_loss_MA", "val_eval_criterion_MA", "best_val_eval_criterion_MA",
                 "best_MA_tr_loss_for_patience", "best_epoch_based_on_MA_tr_loss"}


def _shape_of(value_repr: str) -> str:
    """A repr with every number replaced: what is left is the structure and the element classes."""
    import re

    return re.sub(r"-?\d+(\.\d+)?(e[-+]?\d+)?", "N", value_repr)


@pytest.mark.slow
def test_run_training_leaves_the_trainer_as_v1s_does(trained, v1_ct_task, tmp_path):
    """After ``run_training`` (2 epochs x 1 + 1 batches, ``--deterministic``: augmentation in the process, a
    checkpoint every epoch, fp16 requested as ``nnUNet_train`` does) the explorer's trainer holds v1's attributes,
    of v1's classes, with v1's values where they do not depend on the augmentation's random numbers, and with v1's
    structure (list lengths, numpy float32 losses) where they do."""
    ws, trainer, _, _ = trained
    v1_ws = copy_workspace(v1_ct_task.workspace, tmp_path / "v1")
    script = V1_TRAINED.replace("DESCRIBE(t)", "_describe(t)").replace(
        "import torch\n", "import torch\n" + textwrap.dedent(inspect.getsource(_describe)), 1)
    # the worker count is part of data_aug_params: v1 reads the same variable the session's fixture ran with
    workers = str(trainer.data_aug_params["num_threads"])
    done = run_v1_python(script, v1_ws, timeout=600, extra_env={"nnUNet_n_proc_DA": workers})
    theirs = json.loads(next(line[4:] for line in done.stdout.splitlines() if line.startswith("JSON")))
    ours = _describe(trainer)

    def same_root(text: str | None, root: Path) -> str | None:
        return None if text is None else text.replace(str(root), "<workspace>")

    assert set(ours) - set(theirs) == EXPLORER_ATTRIBUTES
    assert set(theirs) <= set(ours)
    for key, v1 in theirs.items():
        mine = ours[key]
        assert mine["class"] == v1["class"], key  # tr_gen, val_gen: SingleThreadedAugmenter on both sides
        if key == "log_file":
            continue
        a = same_root(mine.get("repr"), Path(ws.raw_data_base).parent)
        b = same_root(v1.get("repr"), Path(v1_ws.raw_data_base).parent)
        if key in RANDOM_VALUES:
            a, b = (None if x is None else _shape_of(x) for x in (a, b))
        assert a == b, key
    # the run did what the comparison assumes: two epochs of float32 losses on both sides
    assert theirs["all_tr_losses"]["repr"].count("np.float32") == 2
