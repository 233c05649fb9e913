"""Real distributed training: 2 CPU processes (gloo) launched by torchrun on the v1-preprocessed synthetic task.

One module-scoped chain of three launches (kept small: the machine is shared):
1. ``torchrun --nproc_per_node 2`` runs a small script: 2 epochs asked for, an observer on rank 0 asks to stop
   in epoch 1 — both ranks must stop at the same iteration, rank 0 writes ``model_latest.model`` (1 epoch);
2. ``torchrun --nproc_per_node 2 -m nnunet_explorer.commands.run_training ... -c`` resumes it to 2 epochs;
3. plain ``python`` (one process, no DDP) ``-c`` resumes to 3 epochs from the 2-process checkpoint.
Each rank writes ``rank<R>.json`` (``NNUNET_EXPLORER_DDP_RECORD``): its local losses, the aggregated ones and a
checksum of its weights.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nnunet_explorer.paths import environment_for, resolve_workspace
from nnunet_explorer.training.distributed import RECORD_ENV, rank_batch_sizes, rank_oversample_percents

FOLD = ("nnUNet", "3d_fullres", "Task901_SynthCT", "nnUNetTrainerV2__nnUNetPlansv2.1", "fold_0")
TRAIN = ["-m", "nnunet_explorer.commands.run_training", "3d_fullres", "nnUNetTrainerV2", "901", "0",
         "--num_batches_per_epoch", "2", "--num_val_batches_per_epoch", "1", "--disable_validation_inference",
         "--deterministic", "--device", "cpu"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


STOP_SCRIPT = """
import json, sys
from nnunet_explorer.run.run_training import ExplorerOptions, TrainRequest, train_or_load
from nnunet_explorer.training.configuration import RunArgs
from nnunet_explorer.training.distributed import DistributedStrategy, distributed_context
from nnunet_explorer.walkthrough import walkthrough_for


class StopInEpoch1:
    def __init__(self, trainer):
        self.trainer, self.events = trainer, []

    def on_iteration_end(self, event):
        self.events.append([event.epoch, event.iteration, event.loss])
        if event.epoch == 1 and event.iteration == 0:
            self.trainer.explorer.stop("test: stop in epoch 1")


with distributed_context(device="cpu") as info:
    request = TrainRequest(RunArgs("3d_fullres", "nnUNetTrainerV2", "901", "0", deterministic=True),
                           ExplorerOptions(max_num_epochs=2, num_batches_per_epoch=2, num_val_batches_per_epoch=1,
                                           device="cpu", quiet=True, plot_progress=info.is_main_process))
    pipeline = walkthrough_for(request, strategy=DistributedStrategy(info))
    pipeline.run(until="initialize")
    trainer = pipeline["trainer"]
    observer = StopInEpoch1(trainer)
    trainer.explorer.attach(observer)  # the hooks call observers on rank 0 only
    result = train_or_load(trainer, request)
    with open(sys.argv[1] + "/stop%d.json" % info.rank, "w") as f:
        json.dump({"stopped_early": result.stopped_early, "reason": result.reason, "events": observer.events,
                   "epoch": trainer.epoch}, f)
"""


def _launch(env: dict, nproc: int | None, extra: list[str], timeout: float = 240,
            script: Path | None = None) -> tuple[str, float]:
    target = [str(script)] if script is not None else TRAIN
    if nproc is None:
        cmd = [sys.executable] + target + extra
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_addr",
               "127.0.0.1", "--master_port", str(_free_port())] + target + extra
    start = time.monotonic()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    return out, time.monotonic() - start


def _records(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("rank*.json"))]


@pytest.fixture(scope="module")
def chain(v1_ct_task, tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    src = v1_ct_task.workspace
    shutil.copytree(src.raw_data_base.parent, root / "ws")
    ws = resolve_workspace({"nnUNet_raw_data_base": str(root / "ws" / src.raw_data_base.name),
                            "nnUNet_preprocessed": str(root / "ws" / src.preprocessed.name),
                            "RESULTS_FOLDER": str(root / "ws" / src.results_folder.name)})
    fold = Path(ws.results_folder).joinpath(*FOLD)
    base = dict(os.environ)
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        base.pop(key, None)
    base.update(environment_for(ws))
    base.update(nnUNet_n_proc_DA="1", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    script = root / "train_and_stop.py"
    script.write_text(STOP_SCRIPT)
    steps = {}
    for name, nproc, extra in (("first", 2, None),
                               ("resume2", 2, ["--max_num_epochs", "2", "-c", "--num_batches_per_epoch", "1"]),
                               ("resume1", None, ["--max_num_epochs", "3", "-c", "--num_batches_per_epoch", "1"])):
        record = root / f"rec_{name}"
        record.mkdir()
        env = dict(base, **{RECORD_ENV: str(record)})
        if extra is None:
            out, seconds = _launch(env, nproc, [str(record)], script=script)
        else:
            out, seconds = _launch(env, nproc, extra)
        from nnunet_explorer.training.pretrained import read_checkpoint

        files = sorted(p.name for p in fold.iterdir())
        checkpoint = "model_final_checkpoint.model" if "model_final_checkpoint.model" in files else "model_latest.model"
        steps[name] = {"out": out, "seconds": seconds, "records": _records(record),
                       "stop": [json.loads(p.read_text()) for p in sorted(record.glob("stop*.json"))],
                       "files": files, "checkpoint": read_checkpoint(fold / checkpoint)}
        print(f"{name}: {seconds:.1f} s")
    return fold, steps


@pytest.mark.slow
def test_ranks_hold_identical_weights_and_log_the_mean_of_their_losses(chain):
    _, steps = chain
    for name in ("first", "resume2"):
        recs = steps[name]["records"]
        n_iter = len(recs[0]["local_train_losses"])
        assert n_iter == len(recs[1]["local_train_losses"]) > 0
        assert [r["rank"] for r in recs] == [0, 1] and all(r["world_size"] == 2 for r in recs)
        # DDP: the same weights on both ranks after the steps (gradients averaged, same optimizer)
        assert recs[0]["state_dict_sha256"] == recs[1]["state_dict_sha256"]
        # the ranks trained on different batches...
        assert recs[0]["local_train_losses"] != recs[1]["local_train_losses"]
        assert recs[0]["seeds_train"] != recs[1]["seeds_train"]
        # ...and every rank logged the mean of the ranks' losses, iteration by iteration
        local = np.array([r["local_train_losses"] for r in recs])
        for r in recs:
            np.testing.assert_allclose(r["global_train_losses"], local.mean(0), rtol=1e-6)
            np.testing.assert_allclose(r["global_val_losses"], np.mean([q["local_val_losses"] for q in recs], 0),
                                       rtol=1e-6)
            np.testing.assert_array_equal(r["global_tp"], np.sum([q["local_tp"] for q in recs], 0))
        # the epoch's train loss (log, checkpoint) is the mean of the aggregated iteration losses of that epoch
        # (first: epoch 0 = iterations 0-1, the stopped epoch 1 is dropped; resume2: epoch 1 = its iteration 0)
        its = recs[0]["global_train_losses"][:2] if name == "first" else recs[0]["global_train_losses"][:1]
        epoch_loss = float(np.mean(np.asarray(its, dtype=np.float32)))
        assert recs[0]["all_tr_losses"][-1] == pytest.approx(epoch_loss, rel=1e-6)
        assert recs[0]["all_tr_losses"] == recs[1]["all_tr_losses"]
        # v1's per-rank batch size and oversampling
        sizes = rank_batch_sizes(2, 2)
        assert [r["batch_size"] for r in recs] == sizes
        assert [r["oversample_foreground_percent"] for r in recs] == rank_oversample_percents(sizes, 0.33)
    # the checkpoint holds the unwrapped network (v1-compatible keys) and the aggregated losses
    ck = steps["first"]["checkpoint"]
    assert not any(k.startswith("module.") for k in ck["state_dict"])
    assert [float(x) for x in ck["plot_stuff"][0]] == pytest.approx(steps["first"]["records"][0]["all_tr_losses"])


@pytest.mark.slow
def test_a_stop_on_rank_0_stops_every_rank_at_the_same_iteration_and_hooks_run_on_rank_0_only(chain):
    _, steps = chain
    stop0, stop1 = steps["first"]["stop"]
    assert stop0["stopped_early"] and stop1["stopped_early"]
    assert stop0["reason"] == "test: stop in epoch 1" and "another process" in stop1["reason"]
    # rank 0's observer saw every iteration until the stop; rank 1 had no observer attached
    assert [e[:2] for e in stop0["events"]] == [[0, 0], [0, 1], [1, 0], [1, 1]] and stop1["events"] == []
    recs = steps["first"]["records"]
    assert len(recs[0]["local_train_losses"]) == len(recs[1]["local_train_losses"]) == 4
    assert stop0["epoch"] == stop1["epoch"] == 1
    # hooks got the aggregated loss
    assert [e[2] for e in stop0["events"]] == pytest.approx(recs[0]["global_train_losses"], rel=1e-6)


@pytest.mark.slow
def test_only_rank_0_writes_files(chain):
    fold, steps = chain
    files = steps["first"]["files"]
    assert len([f for f in files if f.startswith("training_log_")]) == 1
    assert {"debug.json", "progress.png", "model_latest.model", "model_latest.model.pkl"} <= set(files)
    assert not any(f.startswith("model_final") or f.startswith("model_best") for f in files)
    # one log per launch: rank 1 never opened one
    assert len([f for f in steps["resume2"]["files"] if f.startswith("training_log_")]) == 2
    assert "model_latest.model" not in steps["resume2"]["files"]  # removed after the final checkpoint
    log = sorted(fold.glob("training_log_*.txt"))[0].read_text()
    assert log.count("epoch:  0") == 1 and "rank 0 of 2" in log and "rank 1 of 2" not in log


@pytest.mark.slow
def test_resume_with_two_processes_then_with_one(chain):
    _, steps = chain
    ck0 = steps["first"]["checkpoint"]
    assert ck0["epoch"] == 1 and len(ck0["plot_stuff"][0]) == 1
    ck2 = steps["resume2"]["checkpoint"]
    assert ck2["epoch"] == 2 and len(ck2["plot_stuff"][0]) == 2
    # the resumed run continued the stored curve (did not start over)
    assert float(ck2["plot_stuff"][0][0]) == pytest.approx(float(ck0["plot_stuff"][0][0]))
    recs = steps["resume2"]["records"]
    assert all(r["all_tr_losses"][:1] == steps["first"]["records"][0]["all_tr_losses"] for r in recs)
    assert "loading checkpoint" in steps["resume2"]["out"] and "model_latest.model" in steps["resume2"]["out"]
    # a 2-process checkpoint resumed by one plain process
    ck1 = steps["resume1"]["checkpoint"]
    assert ck1["epoch"] == 3 and len(ck1["plot_stuff"][0]) == 3
    assert [float(x) for x in ck1["plot_stuff"][0][:2]] == pytest.approx([float(x) for x in ck2["plot_stuff"][0]])
    assert steps["resume1"]["records"] == []  # no DDP in the one-process run
    assert "loading checkpoint" in steps["resume1"]["out"]
