"""Fixtures of the training-loop tests: writable copies of the v1-preprocessed synthetic CT task, tiny runs."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from nnunet_explorer.paths import Workspace, environment_for, resolve_workspace

TASK = "901"
FOLD_FOLDER = ("nnUNet", "3d_fullres", "Task901_SynthCT", "nnUNetTrainerV2__nnUNetPlansv2.1", "fold_0")


def copy_workspace(src: Workspace, dst: Path) -> Workspace:
    """Copy the shared (read-only) v1 workspace; its three folders share one parent."""
    root = src.raw_data_base.parent
    shutil.copytree(root, dst, dirs_exist_ok=True)
    return resolve_workspace({"nnUNet_raw_data_base": str(dst / src.raw_data_base.name),
                              "nnUNet_preprocessed": str(dst / src.preprocessed.name),
                              "RESULTS_FOLDER": str(dst / src.results_folder.name)}).ensure()


def subprocess_env(ws: Workspace) -> dict:
    """The environment of a training subprocess on ``ws``: one augmentation worker, one thread, unbuffered."""
    env = dict(os.environ)
    env.update(environment_for(ws))
    env.update(nnUNet_n_proc_DA="1", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return env


def wait_for(predicate, proc: subprocess.Popen, timeout: float) -> None:
    """Poll ``predicate`` until it holds; fail with the subprocess's output if it ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"training ended early ({proc.returncode}):\n{out[-3000:]}")
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("timed out waiting for the training subprocess")


def log_text(folder: Path) -> str:
    """The newest training log of a fold folder ('' before the first one is written)."""
    logs = sorted(folder.glob("training_log_*.txt"))
    return logs[-1].read_text() if logs else ""


def fold_folder(ws: Workspace) -> Path:
    return Path(ws.results_folder).joinpath(*FOLD_FOLDER)


@pytest.fixture
def loop_ws(v1_ct_task, tmp_path, monkeypatch) -> Workspace:
    """A private copy of the CT task with the nnU-Net variables pointing at it."""
    ws = copy_workspace(v1_ct_task.workspace, tmp_path / "ws")
    for key, value in environment_for(ws).items():
        monkeypatch.setenv(key, value)
    return ws


def tiny_request(*, epochs: int = 1, batches: int = 1, val_batches: int = 1, trainer: str = "nnUNetTrainerV2",
                 single_threaded: bool | None = None, save_every: int | None = None, plot_progress: bool = True,
                 guard_nonfinite: bool = True, **flags):
    """``nnUNet_train 3d_fullres <trainer> 901 0 [flags]`` shortened by the explorer's options, on the CPU."""
    from nnunet_explorer.run.run_training import ExplorerOptions, TrainRequest
    from nnunet_explorer.training.configuration import RunArgs

    options = ExplorerOptions(max_num_epochs=epochs, num_batches_per_epoch=batches, num_val_batches_per_epoch=val_batches,
                              save_every=save_every, device="cpu", single_threaded=single_threaded, quiet=True,
                              plot_progress=plot_progress, guard_nonfinite=guard_nonfinite)
    return TrainRequest(RunArgs("3d_fullres", trainer, TASK, "0", **flags), options)


def tiny_trainer(ws: Workspace, **kwargs):
    """The trainer of :func:`tiny_request`, initialized as ``nnunet-explorer train`` does (walkthrough steps up to
    ``initialize``); returns ``(trainer, request)``. Train it with ``train_or_load(trainer, request)``."""
    from nnunet_explorer.walkthrough import walkthrough_for

    request = tiny_request(**kwargs)
    pipeline = walkthrough_for(request, workspace=ws)
    pipeline.run(until="initialize")
    return pipeline["trainer"], request


class Recorder:
    """Keeps every event; does nothing else (also the 'no-op' observer whose cost is measured)."""

    def __init__(self) -> None:
        self.events: list = []

    def on_train_start(self, e): self.events.append(e)
    def on_epoch_start(self, e): self.events.append(("epoch_start", e))
    def on_iteration_end(self, e): self.events.append(e)
    def on_validation_end(self, e): self.events.append(e)
    def on_epoch_end(self, e): self.events.append(e)
    def on_train_end(self, e): self.events.append(e)

    def of(self, kind):
        return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture(scope="session")
def trained(v1_ct_task, tmp_path_factory):
    """2 epochs x 1 batch x 1 validation batch, --deterministic, model_latest every epoch: (ws, trainer, result, rec)."""
    from nnunet_explorer.run.run_training import train_or_load

    ws = copy_workspace(v1_ct_task.workspace, tmp_path_factory.mktemp("loop_run"))
    trainer, request = tiny_trainer(ws, epochs=2, deterministic=True, save_every=1)
    recorder = Recorder()
    trainer.explorer.attach(recorder)
    result = train_or_load(trainer, request)
    return ws, trainer, result, recorder
