"""Augmentation workers die with their parent, whatever kills it (SIGKILL included)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import psutil
import pytest

from ..processes import alive, wait_until_gone

SCRIPT = """
    import sys, threading, time, numpy as np
    from nnunet_explorer.training.augmenter import MultiProcessAugmenter

    class Loader:
        def set_thread_id(self, i): pass
        def __next__(self):
            time.sleep(0.01)
            return {"data": np.zeros((8, 8), np.float32)}

    def main():
        a = MultiProcessAugmenter(Loader(), None, 2, 2).start()
        next(a)
        print("PIDS", *a.worker_pids, flush=True)
        while True:
            next(a)

    if sys.argv[1] == "thread":  # forked from a non-main thread: no PDEATHSIG, the parent-pid check must do it
        threading.Thread(target=main, daemon=True).start()
        while True:
            time.sleep(1)
    else:
        main()
"""


@pytest.mark.parametrize("started_from", ["main", "thread"])
def test_sigkill_of_the_parent_leaves_no_worker(tmp_path, started_from):
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(SCRIPT))
    proc = subprocess.Popen([sys.executable, str(script), started_from], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("PIDS"), proc.stderr.read()
        workers = [psutil.Process(int(p)) for p in line.split()[1:]]
        assert len(alive(workers)) == 2
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        left = wait_until_gone(workers, timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
    for pid in left:  # clean up before failing
        os.kill(pid, signal.SIGKILL)
    assert not left, f"augmentation workers outlived their SIGKILLed parent: {left}"
