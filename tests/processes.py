"""Helpers for tests that kill a process and check what it leaves behind (worker-death tests)."""
from __future__ import annotations

import time
from typing import Iterable

import psutil


def alive(processes: Iterable[psutil.Process | int]) -> list[int]:
    """The pids of ``processes`` (``psutil.Process`` objects or pids) that still run; a zombie counts as gone.

    Pass ``psutil.Process`` objects made while the processes ran: they notice when a pid has been reused.
    """
    out = []
    for p in processes:
        try:
            process = p if isinstance(p, psutil.Process) else psutil.Process(p)
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                out.append(process.pid)
        except psutil.NoSuchProcess:
            pass
    return out


def wait_until_gone(processes: Iterable[psutil.Process | int], timeout: float = 5.0, interval: float = 0.05
                    ) -> list[int]:
    """Poll until none of ``processes`` runs, at most ``timeout`` seconds; returns the pids still running."""
    processes = list(processes)
    deadline = time.monotonic() + timeout
    while alive(processes) and time.monotonic() < deadline:
        time.sleep(interval)
    return alive(processes)
