"""Multi-process augmenter: reproducible with seeds, worker errors surface, interrupts end cleanly."""
from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import psutil
import pytest

from nnunet_explorer.errors import TrainingError
from nnunet_explorer.training.augmenter import (AugmenterWorkerError, MultiProcessAugmenter,
                                                 SingleThreadedAugmenter, default_num_processes,
                                                 usable_cpu_count)


class CountingLoader:
    """Endless batches; worker ``fail_worker`` raises on its ``fail_at``-th batch."""

    def __init__(self, fail_worker=None, fail_at=3):
        self.thread_id, self.n, self.fail_worker, self.fail_at = 0, 0, fail_worker, fail_at

    def set_thread_id(self, thread_id):
        self.thread_id = thread_id

    def __next__(self):
        self.n += 1
        return {"data": np.random.rand(2, 4).astype(np.float32), "worker": self.thread_id, "n": self.n,
                "py": random.random()}


def double(**batch):
    batch["data"] = batch["data"] * 2
    return batch


class FailingTransform:
    def __init__(self, worker, at):
        self.worker, self.at = worker, at

    def __call__(self, **batch):
        if batch["worker"] == self.worker and batch["n"] >= self.at:
            raise ZeroDivisionError(f"synthetic failure in worker {self.worker} at batch {batch['n']}")
        return batch


def _children():
    """Live child processes, but not the session's helpers that live until the end: multiprocessing's resource
    tracker (started by the first shared-memory segment, the device augmenter's slots in an earlier test) and the
    napari tests' Xvfb (when they ran first)."""
    return [c for c in psutil.Process().children(recursive=True) if c.is_running()
            and c.status() != psutil.STATUS_ZOMBIE and not _is_session_helper(c)]


def _is_session_helper(process) -> bool:
    try:
        return process.name() == "Xvfb" or any("multiprocessing.resource_tracker" in part
                                               for part in process.cmdline())
    except psutil.Error:
        return False


def test_seeded_workers_are_reproducible_and_round_robin():
    with MultiProcessAugmenter(CountingLoader(), double, 2, 2, seeds=[7, 8]) as augmenter:
        first = [next(augmenter) for _ in range(6)]
        assert len(augmenter.worker_pids) == 2
    assert [b["worker"] for b in first] == [0, 1, 0, 1, 0, 1]
    assert [b["n"] for b in first] == [1, 1, 2, 2, 3, 3]
    # worker k seeded with seeds[k] draws exactly what np.random.seed(seeds[k]) draws
    rs = np.random.RandomState(7)
    np.testing.assert_allclose(first[0]["data"], rs.rand(2, 4).astype(np.float32) * 2)
    np.testing.assert_allclose(first[2]["data"], rs.rand(2, 4).astype(np.float32) * 2)
    with MultiProcessAugmenter(CountingLoader(), double, 2, 2, seeds=[7, 8]) as augmenter:
        second = [next(augmenter) for _ in range(6)]
    assert all(np.array_equal(a["data"], b["data"]) for a, b in zip(first, second))
    # Python's `random` (noise/blur sigmas) is reseeded from OS entropy at fork; seeded workers reseed it too
    assert [a["py"] for a in first] == [b["py"] for b in second]
    with MultiProcessAugmenter(CountingLoader(), double, 2, 2) as augmenter:  # unseeded: differs (as in v1)
        unseeded = [next(augmenter) for _ in range(2)]
    assert unseeded[0]["py"] != unseeded[1]["py"]
    assert not _children()


def test_worker_exception_surfaces_its_own_traceback_quickly():
    start = time.monotonic()
    with pytest.raises(AugmenterWorkerError) as info:
        with MultiProcessAugmenter(CountingLoader(), FailingTransform(1, 2), 2, 2) as augmenter:
            for _ in range(200):
                next(augmenter)
    elapsed = time.monotonic() - start
    text = str(info.value)
    assert "synthetic failure in worker 1" in text
    assert "ZeroDivisionError" in text and "Traceback" in text
    assert "in __call__" in text  # the worker's own frames, not the main process'
    assert isinstance(info.value, TrainingError)
    assert elapsed < 10
    time.sleep(0.2)
    assert not _children()


def test_worker_killed_without_a_word_is_reported():
    augmenter = MultiProcessAugmenter(CountingLoader(), double, 2, 1).start()
    try:
        next(augmenter)
        os.kill(augmenter.worker_pids[1], signal.SIGKILL)
        with pytest.raises(AugmenterWorkerError, match="ended without reporting"):
            for _ in range(50):
                next(augmenter)
    finally:
        augmenter.shutdown()
    assert not _children()


@pytest.mark.parametrize("to_group", [False, True], ids=["main-only", "process-group (Ctrl-C)"])
def test_keyboard_interrupt_ends_within_seconds_without_leftover_processes(tmp_path, to_group):
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent("""
        import sys, time, numpy as np
        from nnunet_explorer.training.augmenter import MultiProcessAugmenter

        class Slow:
            def set_thread_id(self, i): pass
            def __next__(self):
                time.sleep(0.05)
                return {"data": np.zeros((64, 64, 64), np.float32)}

        with MultiProcessAugmenter(Slow(), None, 2, 2) as a:
            print("PIDS", *a.worker_pids, flush=True)
            while True:
                next(a)
    """))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    line = proc.stdout.readline()
    assert line.startswith("PIDS"), proc.stderr.read()
    pids = [int(p) for p in line.split()[1:]]
    time.sleep(0.5)
    start = time.monotonic()
    if to_group:  # what a terminal's Ctrl-C does: every process of the group gets SIGINT
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGINT)
    proc.wait(timeout=15)
    assert time.monotonic() - start < 8
    assert "KeyboardInterrupt" in proc.stderr.read()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and any(psutil.pid_exists(p) and psutil.Process(p).status() !=
                                              psutil.STATUS_ZOMBIE for p in pids):
        time.sleep(0.1)
    alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"leftover augmentation workers {alive}"


def test_single_threaded_and_defaults(monkeypatch):
    st = SingleThreadedAugmenter(CountingLoader(), double)
    with st:
        assert next(st)["n"] == 1 and next(st)["n"] == 2
    monkeypatch.setenv("nnUNet_n_proc_DA", "3")
    assert default_num_processes() == 3
    monkeypatch.delenv("nnUNet_n_proc_DA")
    assert 1 <= default_num_processes() <= 12
    assert default_num_processes({}) == max(1, min(12, usable_cpu_count() - 1))
    with pytest.raises(TrainingError, match="nnUNet_n_proc_DA"):
        default_num_processes({"nnUNet_n_proc_DA": "many"})
    with pytest.raises(TrainingError, match="seeds"):
        MultiProcessAugmenter(CountingLoader(), double, 2, seeds=[1])


def test_batches_are_unpickled_off_the_training_thread_and_the_feeder_stops(monkeypatch):
    import threading

    import nnunet_explorer.training.augmenter as module

    threads = []
    real_unpack = module._unpack

    def recording_unpack(value):
        threads.append(threading.current_thread())
        return real_unpack(value)

    monkeypatch.setattr(module, "_unpack", recording_unpack)
    with MultiProcessAugmenter(CountingLoader(), double, 2, 2, seeds=[1, 2]) as augmenter:
        feeder = augmenter._feeder
        deadline = time.monotonic() + 20
        while augmenter._ready.qsize() < 3 and time.monotonic() < deadline:  # the feeder fills the ready queue
            time.sleep(0.05)
        assert augmenter._ready.qsize() == augmenter.num_ready == 3
        batches = [next(augmenter) for _ in range(4)]
        assert [b["worker"] for b in batches] == [0, 1, 0, 1]
    assert threads and {t.name for t in threads} == {"nnunet-explorer-feeder"}
    assert threading.main_thread() not in threads  # next() in the training thread only took ready batches
    assert not feeder.is_alive()  # shutdown stopped the feeder thread
    assert not _children()


def _run_script(path, text: str) -> subprocess.CompletedProcess:
    """Run ``text`` as the script ``path`` in a fresh interpreter; it must exit 0."""
    path.write_text(text)
    out = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out


MID_BATCH_SHUTDOWNS = textwrap.dedent("""
    import time

    import numpy as np

    from nnunet_explorer.training.augmenter import MultiProcessAugmenter


    class BigBatches:  # 32 MB each: the pipe carries a batch in many pieces, so a shutdown often comes mid-batch
        def __next__(self):
            return {"data": np.ones((8, 1000, 1000), np.float32)}


    left = []
    for i in range(10):
        augmenter = MultiProcessAugmenter(BigBatches(), None, 2, 2).start()
        next(augmenter), next(augmenter)
        time.sleep(0.01 * (i % 5))  # stop at different points of the feeder's reading
        feeder = augmenter._feeder
        augmenter.shutdown()
        if feeder.is_alive():
            left.append(i)
    print("feeders left running after shutdown:", left)
""")


def test_shutdown_in_the_middle_of_a_batch_leaves_no_feeder_behind(tmp_path):
    # A worker stops as soon as it sees the abort event, even while its queue's thread is still writing a batch
    # into the pipe. Before the fix the feeder, halfway through reading that batch, then waited forever for the
    # rest: one thread and a half-read batch left behind, here after 2 to 6 of these 10 shutdowns. (A script
    # in a fresh interpreter: inside pytest's process, or under ``python -c``, the timing rarely hits the window.)
    out = _run_script(tmp_path / "mid_batch_shutdowns.py", MID_BATCH_SHUTDOWNS)
    assert "feeders left running after shutdown: []" in out.stdout, out.stdout


FORGOTTEN_AUGMENTER = textwrap.dedent("""
    import atexit

    import numpy as np

    seen = {}


    @atexit.register  # registered first, so it runs last: after the augmenter module's own exit handler
    def report():
        print("at exit: running", seen["augmenter"].running, "feeder alive", seen["feeder"].is_alive())


    from nnunet_explorer.training.augmenter import MultiProcessAugmenter


    class Batches:
        def __next__(self):
            return {"data": np.zeros((2, 4), np.float32)}


    seen["augmenter"] = MultiProcessAugmenter(Batches(), None, 2, 2).start()
    next(seen["augmenter"])
    seen["feeder"] = seen["augmenter"]._feeder
""")


def test_an_augmenter_nobody_shut_down_is_stopped_at_interpreter_exit(tmp_path):
    # a global augmenter (a notebook's trainer, a script without `with`) is never garbage-collected before exit:
    # the augmenter module's exit handler stops its feeder thread and workers
    out = _run_script(tmp_path / "forgotten.py", FORGOTTEN_AUGMENTER)
    assert "at exit: running False feeder alive False" in out.stdout, out.stdout + out.stderr


def test_workers_share_the_cores_among_local_ranks():
    # nnUNet_n_proc_DA is v1's per-process count: honoured as given, whatever the number of ranks
    assert default_num_processes({"nnUNet_n_proc_DA": "6"}, local_world_size=4, cpu_count=16) == 6
    # unset: one core per training process, the rest shared among the local ranks, at most v1's 12
    assert default_num_processes({}, local_world_size=1, cpu_count=16) == 12
    assert default_num_processes({}, local_world_size=2, cpu_count=16) == (16 - 2) // 2
    assert default_num_processes({}, local_world_size=4, cpu_count=16) == (16 - 4) // 4
    assert default_num_processes({}, local_world_size=8, cpu_count=8) == 1  # never fewer than one
    assert default_num_processes({}, cpu_count=4) == 3
    # under torchrun the local world size comes from LOCAL_WORLD_SIZE
    assert default_num_processes({"LOCAL_WORLD_SIZE": "4"}, cpu_count=16) == 3


def test_cores_are_counted_once_from_the_affinity_mask(monkeypatch):
    """A container or ``taskset`` limit shows in the affinity mask, not in ``os.cpu_count()``: the worker default,
    ``doctor`` and the throughput advice all read the mask, so they agree about the machine."""
    from nnunet_explorer import doctor
    from nnunet_explorer.training import throughput

    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no affinity mask on this OS")
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2})
    assert usable_cpu_count() == 3
    assert default_num_processes({}) == 2  # one core kept for the training process
    assert throughput.recommend_workers(0.01, 1.0) == 2  # capped at the cores left for workers
    threads = doctor.run_doctor({"nnUNet_n_proc_DA": "2"}).threads
    assert any(value == "3" for key, value in threads.items() if "CPU" in key), threads


TORCH_IN_A_WORKER = textwrap.dedent("""
    import numpy as np
    import torch

    from nnunet_explorer.training.augmenter import MultiProcessAugmenter

    torch.set_num_threads(2)
    (torch.randn(2_000_000) * 2).sum()  # the parent's OpenMP threads exist now (a network ran, as in notebook 06)


    class Int16Batches:
        def __next__(self):
            return {"data": np.zeros((2, 1, 40, 40, 40), np.int16)}


    def to_float(**batch):  # NumpyToTensor's cast of an array that is not float32 yet: a parallel torch op
        batch["data"] = torch.from_numpy(batch["data"]).float()
        return batch


    with MultiProcessAugmenter(Int16Batches(), to_float, 1, timeout=60) as augmenter:
        print("batch", tuple(next(augmenter)["data"].shape))
""")


def test_a_worker_may_run_torch_after_the_parent_ran_threaded_torch(tmp_path):
    """A forked child that starts an OpenMP parallel region after its parent used OpenMP threads waits forever
    for threads that were not copied (GNU libgomp is not fork-safe); PyTorch's own DataLoader workers avoid it by
    running torch single-threaded, and so do ours. Without that, this script hangs until its 60 s timeout."""
    out = _run_script(tmp_path / "torch_in_a_worker.py", TORCH_IN_A_WORKER)
    assert "batch (2, 1, 40, 40, 40)" in out.stdout


class SleepingLoader:  # a worker stuck on a lock or a dead disk: alive, no CPU, no batch
    def __next__(self):
        time.sleep(3600)


class SpinningLoader:  # a worker whose batches take long to make: alive, busy
    def __next__(self):
        end = time.monotonic() + 3600
        while time.monotonic() < end:
            pass


@pytest.mark.parametrize("loader, verdict", [(SleepingLoader(), "they use no CPU"),
                                             (SpinningLoader(), "with 1 of 1 workers using the CPU")])
def test_a_long_wait_for_a_batch_says_whether_the_workers_are_stuck_or_busy(loader, verdict, capsys):
    """v1 waits in silence whether a batch is slow or a worker is stuck; after ``stall_seconds`` the augmenter
    says which (the workers' CPU use over the second half of the wait), once, and goes on waiting."""
    augmenter = MultiProcessAugmenter(loader, None, 1, timeout=6, stall_seconds=3)
    with pytest.raises(TrainingError, match="within 6 s"):
        next(augmenter)
    said = capsys.readouterr().err
    assert len(re.findall(r"No batch from the augmentation workers for \d+ s", said)) == 1, said
    assert verdict in said and "Still waiting" in said
    assert not _children()
