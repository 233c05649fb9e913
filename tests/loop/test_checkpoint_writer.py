"""Checkpoints written in the background: the same files as v1, on disk when ``run_training`` returns.

The training thread copies the tensors and goes on; :class:`CheckpointWriter` writes them, in order, and a write
that fails stops the run with the file's name. A trainer class of the user's that overrides a method which saves
or reads checkpoints keeps v1's contract: the file is on disk when ``save_checkpoint`` returns.
"""
from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict, namedtuple
from pathlib import Path

import pytest
import torch

from nnunet_explorer.errors import TrainingError
from nnunet_explorer.network_training import nnUNetTrainerV2, register_trainer, unregister_trainer
from nnunet_explorer.network_training.explorer_hooks import shutdown_augmenters, writes_checkpoints_in_background
from nnunet_explorer.run.run_training import after_initialize, train_or_load
from nnunet_explorer.training import checkpoint_saving
from nnunet_explorer.training.checkpoint_saving import CHECKPOINT_KEYS, CheckpointWriter, snapshot_to_cpu
from nnunet_explorer.training.hooks import TrainEnd
from nnunet_explorer.training.pretrained import read_checkpoint
from nnunet_explorer.walkthrough import walkthrough_for

from .conftest import Recorder, fold_folder, log_text, tiny_request, tiny_trainer

WRITER_THREAD = "nnunet-explorer-checkpoints"


class Gate:
    """A write function that waits until :meth:`open` (or fails), recording what it was asked to write."""

    def __init__(self, fail: str | None = None) -> None:
        self.opened = threading.Event()
        self.started = threading.Event()
        self.fail = fail
        self.calls: list[tuple[str, int]] = []

    def open(self) -> None:
        self.opened.set()

    def __call__(self, path, checkpoint, info) -> float:
        self.started.set()
        assert self.opened.wait(30), "the test never opened the gate"
        self.calls.append((Path(path).name, checkpoint["epoch"]))
        if self.fail is not None and Path(path).name == self.fail:
            raise OSError(28, "No space left on device")
        return checkpoint_saving.save_checkpoint_files(path, checkpoint, info)


def test_a_snapshot_does_not_change_when_training_changes_the_tensors():
    Pair = namedtuple("Pair", "a b")
    weights = torch.arange(4.0)
    source = OrderedDict(w=weights, state={0: {"momentum_buffer": weights * 2}}, groups=[{"lr": 0.01, "params": [0]}],
                         pair=Pair(weights, 3), none=None)
    copy = snapshot_to_cpu(source)
    weights.add_(100)  # an optimizer step changes the live tensors in place
    source["state"][0]["momentum_buffer"].mul_(0)
    source["groups"][0]["lr"] = 0.5
    assert type(copy) is OrderedDict and list(copy) == list(source)
    assert copy["w"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert copy["state"][0]["momentum_buffer"].tolist() == [0.0, 2.0, 4.0, 6.0]
    assert copy["groups"][0]["lr"] == 0.01 and copy["none"] is None
    assert isinstance(copy["pair"], Pair) and copy["pair"].a.tolist() == [0.0, 1.0, 2.0, 3.0] and copy["pair"].b == 3


def test_the_writer_keeps_the_order_and_bounds_the_copies(tmp_path):
    gate = Gate()
    writer = CheckpointWriter(max_pending=2, write=gate)
    done: list[str] = []
    for name in ("a", "b"):
        writer.submit(tmp_path / f"{name}.model", {"epoch": ord(name)}, None, on_done=lambda n=name: done.append(n))
    assert gate.started.wait(10) and writer.pending == 2 and not (tmp_path / "a.model").exists()
    third = threading.Thread(target=writer.submit, args=(tmp_path / "c.model", {"epoch": 3}, None))
    third.start()
    third.join(0.5)
    assert third.is_alive(), "a third checkpoint must wait while two copies are pending"
    gate.open()
    third.join(30)
    assert writer.close() is None and writer.close() is None  # idempotent
    assert [name for name, _ in gate.calls] == ["a.model", "b.model", "c.model"] and done == ["a", "b"]
    assert [torch.load(tmp_path / f"{n}.model")["epoch"] for n in "abc"] == [ord("a"), ord("b"), 3]
    with pytest.raises(RuntimeError, match="closed"):
        writer.submit(tmp_path / "d.model", {"epoch": 4}, None)


def test_a_failed_write_is_raised_by_the_next_submit_with_the_file_and_the_fix(tmp_path):
    gate = Gate(fail="a.model")
    writer = CheckpointWriter(max_pending=2, write=gate)
    writer.submit(tmp_path / "a.model", {"epoch": 1}, None)
    writer.submit(tmp_path / "b.model", {"epoch": 2}, None)
    assert gate.started.wait(10)
    failures: list[BaseException] = []

    def third() -> None:
        try:
            writer.submit(tmp_path / "c.model", {"epoch": 3}, None)
        except TrainingError as exc:
            failures.append(exc)

    waiting = threading.Thread(target=third)
    waiting.start()
    gate.open()
    waiting.join(30)
    assert len(failures) == 1
    text = str(failures[0])
    assert "a.model failed in the background: OSError" in text and "No space left" in text and "fix:" in text
    assert isinstance(failures[0].__cause__, OSError)
    assert [name for name, _ in gate.calls] == ["a.model"]  # the run stops: what was queued behind is dropped
    assert not list(tmp_path.iterdir())  # nothing half-written
    assert writer.close() is None  # the failure was handed out once


def test_flush_returns_a_failure_and_forgets_it(tmp_path):
    gate = Gate(fail="a.model")
    gate.open()
    writer = CheckpointWriter(write=gate)
    writer.submit(tmp_path / "a.model", {"epoch": 1}, None)
    failed = writer.flush()
    assert isinstance(failed, TrainingError) and "a.model" in str(failed)
    writer.raise_if_failed()  # already handed out
    assert writer.close() is None


def test_save_checkpoint_returns_before_the_write_and_the_file_holds_the_weights_it_was_called_with(loop_ws):
    trainer, _ = tiny_trainer(loop_ws, single_threaded=True)
    try:
        gate = Gate()
        trainer.explorer.checkpoint_writer = writer = CheckpointWriter(write=gate)
        for p in trainer.network.parameters():
            p.grad = torch.ones_like(p)
        trainer.optimizer.step()  # a momentum buffer to copy
        expected = {k: v.clone() for k, v in trainer.network.state_dict().items()}
        momentum = [trainer.optimizer.state[p]["momentum_buffer"].clone() for p in trainer.network.parameters()]
        path = os.path.join(trainer.output_folder, "model_best.model")
        trainer.save_checkpoint(path)
        assert gate.started.wait(10) and not os.path.exists(path)  # the training thread did not wait
        with torch.no_grad():  # the next epoch trains on
            for p in trainer.network.parameters():
                p.add_(1.0)
        trainer.optimizer.step()
        assert "done, saving took" not in Path(trainer.log_file).read_text()
        gate.open()
        assert writer.close() is None
        saved = read_checkpoint(path)
        assert tuple(saved) == CHECKPOINT_KEYS  # v1's keys in v1's order
        assert saved["epoch"] == trainer.epoch + 1 and set(saved["state_dict"]) == set(expected)
        assert all(torch.equal(saved["state_dict"][k], expected[k]) for k in expected)
        state = saved["optimizer_state_dict"]["state"]
        assert all(torch.equal(state[i]["momentum_buffer"], m) for i, m in enumerate(momentum))
        assert Path(path + ".pkl").is_file()
        log = Path(trainer.log_file).read_text()
        assert log.index("saving checkpoint...") < log.index("done, saving took")
    finally:
        trainer.explorer.checkpoint_writer = None
        shutdown_augmenters(trainer)


def test_load_checkpoint_waits_for_a_checkpoint_still_being_written(loop_ws):
    trainer, _ = tiny_trainer(loop_ws, single_threaded=True)
    try:
        gate = Gate()
        trainer.explorer.checkpoint_writer = writer = CheckpointWriter(write=gate)
        saved_weights = {k: v.clone() for k, v in trainer.network.state_dict().items()}
        path = os.path.join(trainer.output_folder, "model_best.model")
        trainer.save_checkpoint(path)
        with torch.no_grad():
            for p in trainer.network.parameters():
                p.add_(1.0)
        loader = threading.Thread(target=trainer.load_checkpoint, args=(path,))
        loader.start()
        loader.join(0.5)
        assert loader.is_alive(), "load_checkpoint must wait while the file is being written"
        gate.open()
        loader.join(30)
        assert not loader.is_alive()
        assert all(torch.equal(v, saved_weights[k]) for k, v in trainer.network.state_dict().items())
        assert writer.close() is None
    finally:
        trainer.explorer.checkpoint_writer = None
        shutdown_augmenters(trainer)


class SavesAndCopies(nnUNetTrainerV2):
    """A user's trainer (v1's habit): copy each checkpoint right after saving it."""

    copies: list[str] = []

    def save_checkpoint(self, fname, save_optimizer=True):
        super().save_checkpoint(fname, save_optimizer)
        assert os.path.isfile(fname), "v1's contract: the checkpoint is on disk when save_checkpoint returns"
        SavesAndCopies.copies.append(f"{Path(fname).name}:{read_checkpoint(fname)['epoch']}")


class OnlyANewLearningRate(nnUNetTrainerV2):
    def initialize_optimizer_and_scheduler(self):
        super().initialize_optimizer_and_scheduler()


def test_which_trainer_classes_write_in_the_background():
    assert writes_checkpoints_in_background(nnUNetTrainerV2)
    assert writes_checkpoints_in_background(OnlyANewLearningRate)  # overrides nothing that saves or reads
    assert not writes_checkpoints_in_background(SavesAndCopies)
    Later = type("Later", (nnUNetTrainerV2,), {"on_epoch_end": lambda self: super(Later, self).on_epoch_end()})
    assert not writes_checkpoints_in_background(Later)


def _threads_that_wrote(monkeypatch) -> list[tuple[str, str]]:
    wrote: list[tuple[str, str]] = []
    real = checkpoint_saving.save_checkpoint_files

    def recording(path, checkpoint, info):
        wrote.append((Path(path).name, threading.current_thread().name))
        return real(path, checkpoint, info)

    monkeypatch.setattr(checkpoint_saving, "save_checkpoint_files", recording)
    return wrote


def _latest_write_fails(monkeypatch, error: OSError, when=lambda checkpoint: True) -> None:
    """Every write of ``model_latest.model`` for which ``when(checkpoint)`` holds raises ``error``."""
    real = checkpoint_saving.save_checkpoint_files

    def write(path, checkpoint, info):
        if Path(path).name == "model_latest.model" and when(checkpoint):
            raise error
        return real(path, checkpoint, info)

    monkeypatch.setattr(checkpoint_saving, "save_checkpoint_files", write)


@pytest.mark.slow
def test_a_run_writes_its_epoch_checkpoints_in_the_background_and_all_are_on_disk_when_it_returns(
        loop_ws, monkeypatch):
    wrote = _threads_that_wrote(monkeypatch)
    request = tiny_request(epochs=2, save_every=1, single_threaded=True)
    pipeline = walkthrough_for(request, workspace=loop_ws)
    pipeline.run(until="initialize")
    assert after_initialize(pipeline["trainer"], request) == 0
    folder = fold_folder(loop_ws)
    # model_latest after each epoch (save_every=1) from the writer's thread; the final one from the training thread
    assert [w for w in wrote if w[0] == "model_latest.model"] == [("model_latest.model", WRITER_THREAD)] * 2
    assert wrote[-1] == ("model_final_checkpoint.model", threading.current_thread().name)
    names = {p.name for p in folder.iterdir()}
    assert "model_latest.model" not in names  # removed after the final checkpoint; no late write brought it back
    assert not [n for n in names if n.endswith(".tmp")]
    log = log_text(folder)
    assert log.count("saving checkpoint...") == log.count("done, saving took") >= 3


@pytest.mark.slow
def test_a_user_trainer_that_overrides_save_checkpoint_finds_each_file_on_disk(loop_ws, monkeypatch):
    wrote = _threads_that_wrote(monkeypatch)
    SavesAndCopies.copies = []
    register_trainer(SavesAndCopies)
    try:
        request = tiny_request(trainer="SavesAndCopies", epochs=2, save_every=1, single_threaded=True)
        pipeline = walkthrough_for(request, workspace=loop_ws)
        pipeline.run(until="initialize")
        assert after_initialize(pipeline["trainer"], request) == 0
    finally:
        unregister_trainer("SavesAndCopies")
    assert "model_latest.model:1" in SavesAndCopies.copies and "model_latest.model:2" in SavesAndCopies.copies
    assert SavesAndCopies.copies[-1] == "model_final_checkpoint.model:2"
    assert {thread for _, thread in wrote} == {threading.current_thread().name}


def _run_fails(trainer, request, recorder: Recorder, match: str) -> tuple[TrainEnd, TrainingError]:
    """Train; the run must raise a TrainingError matching ``match``, tell the observers once that it stopped,
    and leave no writer behind. Returns the end event and the error."""
    trainer.explorer.attach(recorder)
    with pytest.raises(TrainingError, match=match) as failure:
        train_or_load(trainer, request)
    ends = recorder.of(TrainEnd)
    assert len(ends) == 1 and ends[0].stopped_early and trainer.explorer.checkpoint_writer is None
    return ends[0], failure.value


@pytest.mark.slow
def test_a_checkpoint_that_cannot_be_written_stops_the_run_with_its_name(loop_ws, monkeypatch):
    _latest_write_fails(monkeypatch, OSError(28, "No space left on device"))
    trainer, request = tiny_trainer(loop_ws, epochs=3, save_every=1, single_threaded=True)
    end, failure = _run_fails(trainer, request, Recorder(), "model_latest.model failed in the background: OSError")
    assert "No space left on device" in str(failure) and "fix:" in str(failure)
    # epoch 0 saved model_latest and its write failed: the run stops at epoch 1's start or at its checkpoint
    # (whichever finds the failure first: the write runs beside the training), never reaching epoch 2
    assert len(trainer.all_tr_losses) in (1, 2)
    assert "model_latest.model" in end.reason
    folder = fold_folder(loop_ws)
    assert not (folder / "model_latest.model").exists() and not list(folder.glob("*.tmp"))


@pytest.mark.slow
def test_a_stopped_run_whose_last_checkpoint_cannot_be_written_says_so_after_shutting_down(loop_ws, monkeypatch):
    _latest_write_fails(monkeypatch, OSError(28, "No space left on device"))
    trainer, request = tiny_trainer(loop_ws, epochs=3, single_threaded=True)  # model_latest only when stopped

    class StopAfterFirstEpoch(Recorder):
        def on_epoch_end(self, event):
            super().on_epoch_end(event)
            trainer.explorer.stop("test")

    end, _ = _run_fails(trainer, request, StopAfterFirstEpoch(), "model_latest.model failed in the background")
    assert "No space left" in end.reason
    assert len(trainer.all_tr_losses) == 1 and end.last_epoch == 0  # the last epoch finished, not the one stopped
    assert not list(fold_folder(loop_ws).glob("*.tmp"))


@pytest.mark.slow
def test_a_stop_whose_save_meets_an_earlier_failure_reports_it_and_ends_the_run(loop_ws, monkeypatch):
    """Epoch 0's model_latest fails only once epoch 1 has started (past the epoch-start check); a stop in epoch 1
    then saves model_latest, and that save hands out the failure: the run ends with it, observers told."""
    epoch_1 = threading.Event()
    _latest_write_fails(monkeypatch, OSError(5, "Input/output error"),
                        when=lambda checkpoint: checkpoint["epoch"] == 1 and epoch_1.wait(60))
    trainer, request = tiny_trainer(loop_ws, epochs=3, save_every=1, single_threaded=True)

    class StopInEpoch1(Recorder):
        def on_epoch_start(self, epoch):
            super().on_epoch_start(epoch)
            if epoch == 1:
                epoch_1.set()
                while trainer.explorer.checkpoint_writer.pending:  # the failure is recorded
                    time.sleep(0.01)
                trainer.explorer.stop("test")  # seen after epoch 1's first iteration

    end, _ = _run_fails(trainer, request, StopInEpoch1(), "model_latest.model failed in the background: OSError")
    assert "Input/output error" in end.reason
    assert len(trainer.all_tr_losses) == 1 and end.last_epoch == 0
