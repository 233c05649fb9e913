"""``.ci/native_stacks.sh``: CI's test process prints native stacks on a crash, and nothing else changes.

``NATIVE_STACKS=1 make test`` (what ``.ci/run`` calls) runs pytest through this script (gdb with
``.ci/native_stack.gdb``). These checks run the script on small Python programs: exit codes and signals pass
through, and a crash prints every thread's native stack and still fails with faulthandler's Python stack after it.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "native_stacks.sh"

pytestmark = pytest.mark.skipif(subprocess.run(["bash", str(SCRIPT), "--check"], timeout=60).returncode != 0,
                                reason="gdb is missing or may not trace here (CI installs it)")


def under_gdb(code: str) -> subprocess.CompletedProcess:
    """``python -X faulthandler -c code`` through the script, as the Makefile runs pytest."""
    return subprocess.run(["bash", str(SCRIPT), sys.executable, "-X", "faulthandler", "-c", code],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("status", [0, 1, 5])
def test_the_exit_status_passes_through(status):
    out = under_gdb(f"import sys; print('ran'); sys.exit({status})")
    assert out.returncode == status, out.stdout + out.stderr
    assert "ran" in out.stdout and "native stacks" not in out.stdout
    assert "(under gdb" in out.stderr  # the script did run it under gdb


def test_signals_reach_the_program_untouched():
    # the suite's own tests send SIGINT, SIGTERM and SIGALRM (pytest-timeout) to the test process
    code = ("import os, signal, sys\n"
            "got = []\n"
            "for s in (signal.SIGTERM, signal.SIGALRM, signal.SIGUSR1):\n"
            "    signal.signal(s, lambda n, f: got.append(n))\n"
            "    os.kill(os.getpid(), s)\n"
            "try:\n"
            "    os.kill(os.getpid(), signal.SIGINT)\n"
            "except KeyboardInterrupt:\n"
            "    got.append('KeyboardInterrupt')\n"
            "print('got', got)\n")
    out = under_gdb(code)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "got [15, 14, 10, 'KeyboardInterrupt']" in out.stdout


def test_a_crash_prints_native_then_python_stacks_and_fails():
    out = under_gdb("import ctypes\ndef crash():\n    ctypes.string_at(0)\ncrash()\n")
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert "--- native stacks at the crash (gdb) ---" in text
    after = text.split("--- native stacks at the crash (gdb) ---", 1)[1]
    crashing, others = after.split("every thread, top frames:", 1)
    assert "the crashing thread:" in crashing and "#0 " in crashing  # whole, first
    assert "Thread 1 " in others  # then every thread
    assert "string_at" in after
    assert "Fatal Python error: Segmentation fault" in text  # faulthandler still ran, after gdb's stacks
    assert 'line 3 in crash' in text
