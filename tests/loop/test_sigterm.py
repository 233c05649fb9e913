"""SIGTERM (SLURM, Kubernetes) stops `nnunet-explorer train` like Ctrl-C: model_latest saved, workers gone, exit 143."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import psutil
import pytest

from nnunet_explorer.training.pretrained import read_checkpoint
from nnunet_explorer.training.signals import EXIT_SIGTERM, TerminationRequested, sigterm_as_interrupt

from .conftest import copy_workspace, fold_folder, log_text, subprocess_env, wait_for

TRAIN = [sys.executable, "-m", "nnunet_explorer.cli", "train", "3d_fullres", "nnUNetTrainerV2", "901", "0"]


# ---------------------------------------------------------------------------------------------- unit tests

def test_exit_status_is_the_shells_for_sigterm():
    assert EXIT_SIGTERM == 128 + signal.SIGTERM == 143
    assert issubclass(TerminationRequested, KeyboardInterrupt)  # every Ctrl-C cleanup path runs for it


def test_handler_is_installed_inside_and_the_previous_one_restored_after():
    def previous(signum, frame):  # pragma: no cover - never called
        pass

    old = signal.signal(signal.SIGTERM, previous)
    try:
        with sigterm_as_interrupt():
            inside = signal.getsignal(signal.SIGTERM)
            assert callable(inside) and inside is not previous
        assert signal.getsignal(signal.SIGTERM) is previous
        # also when the block ends with an exception
        with pytest.raises(RuntimeError):
            with sigterm_as_interrupt():
                raise RuntimeError("boom")
        assert signal.getsignal(signal.SIGTERM) is previous
    finally:
        signal.signal(signal.SIGTERM, old)


def test_default_handler_is_restored_too():
    old = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        with sigterm_as_interrupt():
            pass
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, old)


def test_sigterm_raises_once_in_the_main_thread_and_a_repeat_is_ignored(capfd):
    with pytest.raises(TerminationRequested) as info:
        with sigterm_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # interrupted: the handler raises at the next bytecode
            pytest.fail("SIGTERM did not interrupt")  # pragma: no cover
    assert info.value.signum == signal.SIGTERM

    reached_cleanup = False
    with pytest.raises(TerminationRequested):
        with sigterm_as_interrupt():
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
            finally:
                os.kill(os.getpid(), signal.SIGTERM)  # a second SIGTERM while "saving" must not interrupt it
                time.sleep(0.05)
                reached_cleanup = True
    assert reached_cleanup
    assert "already stopping" in capfd.readouterr().err


def test_a_forked_child_dies_of_sigterm_instead_of_raising():
    with sigterm_as_interrupt():
        pid = os.fork()
        if pid == 0:  # the child: what an augmentation worker inherits
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
                os._exit(0)  # the signal was ignored: wrong
            except BaseException:  # noqa: BLE001 - raised the parent's exception in the child: wrong
                os._exit(3)
        _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM


def test_outside_the_main_thread_it_installs_nothing():
    before = signal.getsignal(signal.SIGTERM)
    seen = []

    def body():
        with sigterm_as_interrupt():
            seen.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert seen == [before]


class _FakePipeline:
    """Just what the message needs: whether the trainer step ran, and its output folder."""

    def __init__(self, folder):
        self.folder = folder

    def __contains__(self, name):
        return name == "trainer" and self.folder is not None

    def result(self, name):
        return SimpleNamespace(output=SimpleNamespace(output_folder=self.folder))


def test_the_message_says_what_was_saved_and_how_to_go_on(tmp_path):
    from nnunet_explorer.commands.train import _stopped_message

    def _terminated_message(pipeline):
        return _stopped_message("terminated (SIGTERM)", [] if pipeline is None else [pipeline])

    assert "nothing was saved" in _terminated_message(None)
    assert "nothing was saved" in _terminated_message(_FakePipeline(None))
    assert "run the same command again" in _terminated_message(_FakePipeline(tmp_path))
    (tmp_path / "model_final_checkpoint.model").write_bytes(b"")
    # training had finished; SIGTERM came during validation: -val, not -c
    assert "-val" in _terminated_message(_FakePipeline(tmp_path))
    (tmp_path / "model_latest.model").write_bytes(b"")
    os.utime(tmp_path / "model_latest.model", (time.time() + 60,) * 2)
    # a later run stopped beside an earlier run's final checkpoint: -c would take the final one (v1's order)
    message = _terminated_message(_FakePipeline(tmp_path))
    assert "model_latest.model was saved" in message and "resume with -c" not in message
    assert "-c loads model_final_checkpoint.model, as v1 does" in message and "move model_final_checkpoint" in message
    (tmp_path / "model_final_checkpoint.model").unlink()
    message = _terminated_message(_FakePipeline(tmp_path))
    assert "model_latest.model was saved" in message and "resume with -c" in message and str(tmp_path) in message


# ------------------------------------------------------------------------------------ a real training process


@pytest.mark.slow
@pytest.mark.parametrize("target", ["main process", "process group"])
def test_sigterm_saves_latest_stops_workers_exits_143_and_c_resumes(v1_ct_task, tmp_path, target):
    """``main process``: ``kill PID`` / Kubernetes (PID 1 of the container) — the workers are alive and the main
    process must shut them down. ``process group``: SLURM signals every process of the job step — the workers
    receive SIGTERM too and must die of it, not raise the main process's exception."""
    ws = copy_workspace(v1_ct_task.workspace, tmp_path / "ws")
    folder = fold_folder(ws)
    env = subprocess_env(ws)
    # no --deterministic: augmentation runs in forked worker processes (1 training + 1 validation worker)
    flags = ["--max_num_epochs", "2", "--num_batches_per_epoch", "3", "--num_val_batches_per_epoch", "1",
             "--save_every", "50", "--disable_validation_inference", "--quiet"]
    proc = subprocess.Popen(TRAIN + flags, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        # epoch 0 finished (its losses are logged), epoch 1 has started; no scheduled save before the end
        wait_for(lambda: "epoch:  1" in log_text(folder), proc, 400)
        parent = psutil.Process(proc.pid)
        wait_for(lambda: len(parent.children(recursive=True)) >= 2, proc, 60)
        workers = parent.children(recursive=True)
        assert not (folder / "model_latest.model").exists()  # only SIGTERM can have written it
        if target == "main process":
            proc.send_signal(signal.SIGTERM)
        else:
            os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 143, out[-3000:]
    assert "terminated (SIGTERM)" in out and "resume with -c" in out
    assert "Traceback" not in out, out[-3000:]  # neither the main process nor a worker printed an error
    ckpt = read_checkpoint(folder / "model_latest.model")
    assert (folder / "model_latest.model.pkl").is_file()
    # the finished epoch is kept, the interrupted one dropped
    assert ckpt["epoch"] == 1 and [len(x) for x in ckpt["plot_stuff"]] == [1, 1, 0, 1]
    assert "SIGTERM: saving model_latest.model" in log_text(folder)
    assert not (folder / "model_final_checkpoint.model").exists()
    time.sleep(0.5)
    alive = [w.pid for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], f"augmentation workers left running: {alive}"
    if target != "main process":
        return  # resuming is the same in both cases: checked once

    # -c resumes from the saved epoch and finishes the schedule
    resumed = subprocess.run(TRAIN + flags + ["-c"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    final = read_checkpoint(folder / "model_final_checkpoint.model")
    assert final["epoch"] == 2 and [len(x) for x in final["plot_stuff"]] == [2, 2, 0, 2]
    assert float(final["plot_stuff"][0][0]) == float(ckpt["plot_stuff"][0][0])  # epoch 0 comes from the checkpoint
    assert not (folder / "model_latest.model").exists()
