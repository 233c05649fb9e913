"""Fixtures shared by the whole suite (owned by the lead; area-specific fixtures live in sub-folder conftests).

* ``workspace`` — a fresh nnU-Net workspace under ``tmp_path`` with the three v1 variables set in
  ``os.environ`` for the duration of the test.
* ``v1_ct_task`` / ``v1_mr_task`` — session-scoped: a synthetic task planned and preprocessed by the **real**
  nnU-Net v1 (subprocess), built once per test session and shared read-only. Tests must copy before writing.
* ``no_thread_left_running`` — autouse: a test that leaves one of the explorer's threads running fails.
* at the end, one line on what the test process still runs (threads, child processes) before it exits.
"""
from __future__ import annotations

import gc
import os
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from nnunet_explorer.paths import Workspace, environment_for, resolve_workspace

os.environ.setdefault("nnUNet_n_proc_DA", "1")
os.environ.setdefault("nnUNet_def_n_proc", "1")

# A shell without job control starts background jobs (`pytest ... &`, nohup) with SIGINT ignored; Python then
# never raises KeyboardInterrupt, and subprocesses inherit the ignore. The Ctrl-C tests need the default.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def make_workspace(root: Path) -> Workspace:
    """A workspace with all three folders under ``root`` (nothing created yet)."""
    return resolve_workspace({"nnUNet_raw_data_base": str(root / "raw"), "nnUNet_preprocessed": str(root / "pre"),
                              "RESULTS_FOLDER": str(root / "results")})


@pytest.fixture
def workspace(tmp_path, monkeypatch) -> Workspace:
    ws = make_workspace(tmp_path / "ws").ensure()
    for key, value in environment_for(ws).items():
        monkeypatch.setenv(key, value)
    return ws


@pytest.fixture(autouse=True)
def no_thread_left_running():
    """Every test stops the threads it starts: an augmenter's feeder, the progress plotter, a background run.

    A thread left running keeps reading pipes or running torch after its test, and one still inside torch when the
    interpreter exits can crash the test process after the last test has passed. (A CI run ended with a
    segmentation fault after its summary line; the one such thread found then was a feeder left reading a
    half-sent batch, since fixed, though the crash came again: it was Qt's teardown, see ``tests/qt_exit.py``.)
    Failing the test that left it names the culprit.
    """
    before = {t.ident for t in threading.enumerate()}
    yield

    def ours_left() -> list[threading.Thread]:
        return [t for t in threading.enumerate()
                if t.ident not in before and t.name.startswith("nnunet-explorer-") and t.is_alive()]

    if not ours_left():
        return
    gc.collect()  # an augmenter nobody holds any more is shut down by its __del__
    deadline = time.monotonic() + 3.0
    while ours_left() and time.monotonic() < deadline:
        time.sleep(0.05)
    left = ours_left()
    if left:
        pytest.fail(f"the test left {sorted(t.name for t in left)} running: shut it down in `finally` or use the "
                    "augmenter / handle as a context manager", pytrace=False)


def still_alive() -> str:
    """What this process still runs: Python threads besides the main one, native threads by name, children."""
    me = os.getpid()
    python = sorted(t.name for t in threading.enumerate() if t is not threading.main_thread())
    native: dict[str, int] = {}
    for task in Path(f"/proc/{me}/task").glob("*"):
        try:
            name = (task / "comm").read_text().strip()
        except OSError:
            continue
        native[name] = native.get(name, 0) + 1
    children = []
    for child in psutil.Process(me).children():
        try:
            children.append(f"[{child.pid}] {' '.join(child.cmdline())[:100]}")
        except psutil.Error:  # ended meanwhile
            continue
    return (f"python threads {python or 'none'}; native threads {dict(sorted(native.items()))}; "
            f"child processes {sorted(children) or 'none'}")


def pytest_unconfigure(config):
    """Print :func:`still_alive` when pytest is done, before the interpreter tears itself down.

    A crash in that teardown comes after pytest's summary and shows no Python frame (a CI run ended so); this
    line says what was still running at that point. (Linux only: it reads ``/proc``.)
    """
    if Path("/proc/self/task").is_dir():
        print(f"\nat exit: {still_alive()}", file=sys.__stderr__, flush=True)


@dataclass(frozen=True)
class V1Task:
    """A task that the real nnU-Net v1 cropped, planned and preprocessed (read-only, shared)."""

    workspace: Workspace
    task_id: int
    task_name: str

    @property
    def raw_dir(self) -> Path:
        return self.workspace.raw_task_dir(self.task_name)

    @property
    def cropped_dir(self) -> Path:
        return self.workspace.cropped_task_dir(self.task_name)

    @property
    def preprocessed_dir(self) -> Path:
        return self.workspace.preprocessed_task_dir(self.task_name)


def variant_tasks():
    """``tests/conformance/variant_tasks.py``: how the v1 tasks are built (shared with the reference script)."""
    folder = str(Path(__file__).parent / "conformance")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    import variant_tasks as module

    return module


def _v1_task(tmp_path_factory, kind: str, task_id: int, name: str) -> V1Task:
    pytest.importorskip("nnunet", reason="parity fixtures need nnunet==1.7.1 (pip install -e '.[test]')")
    root = tmp_path_factory.mktemp(f"v1_{kind}")
    ws, task_name = variant_tasks().build_synthetic_task(root, kind, task_id, name)
    return V1Task(ws, task_id, task_name)


@pytest.fixture(scope="session")
def v1_ct_task(tmp_path_factory) -> V1Task:
    return _v1_task(tmp_path_factory, "ct", 901, "SynthCT")


@pytest.fixture(scope="session")
def v1_mr_task(tmp_path_factory) -> V1Task:
    return _v1_task(tmp_path_factory, "mr", 902, "SynthMR")


def copy_task_tree(src: Workspace, dst_root: Path) -> Workspace:
    """Copy a whole workspace (e.g. a shared v1 task) so a test may write into it."""
    shutil.copytree(src.raw_data_base.parent, dst_root, dirs_exist_ok=True)
    return make_workspace(dst_root)


@pytest.fixture
def workspace_factory(tmp_path):
    """Call with a sub-folder name to get another fresh (created) workspace under ``tmp_path``."""
    return lambda name="ws2": make_workspace(tmp_path / name).ensure()


@pytest.fixture(scope="session")
def v1_cascade_task(v1_ct_task, tmp_path_factory) -> V1Task:
    """The synthetic CT task with a hand-made two-stage 3D plan, both stages preprocessed by the **real** v1.

    v1 only plans a low-resolution stage (and so the cascade) for median cases of more than ~17 M voxels, far too big
    for CI; so stage 0 here is a copy of the full-resolution stage at twice the in-plane spacing (same patch,
    pooling and batch size), stage 1 the planned full-resolution stage. v1's ``GenericPreprocessor`` writes
    ``nnUNetData_plans_v2.1_stage0`` / ``_stage1`` from the cropped data, exactly as ``nnUNet_plan_and_preprocess``
    would for such plans. Shared read-only: copy before writing.
    """
    root = tmp_path_factory.mktemp("v1_cascade")
    ws = variant_tasks().build_two_stage_task(v1_ct_task.workspace, root, v1_ct_task.task_name)
    return V1Task(ws, v1_ct_task.task_id, v1_ct_task.task_name)


@pytest.fixture
def english():
    """The language set to English for the test, back to the default after it (cards are asserted in English)."""
    from nnunet_explorer.teaching import set_language

    set_language("en")
    yield
    set_language(None)


@pytest.fixture(scope="module")
def kits_ws(tmp_path_factory) -> Workspace:
    """A workspace with the blog's KiTS19 sample (``nnunet-explorer sample kits19``), one per test module."""
    from nnunet_explorer import cli

    root = tmp_path_factory.mktemp("kits")
    ws = resolve_workspace({"nnUNet_raw_data_base": str(root / "raw"), "nnUNet_preprocessed": str(root / "pre"),
                            "RESULTS_FOLDER": str(root / "res")})
    with pytest.MonkeyPatch.context() as mp:
        for key, value in environment_for(ws).items():
            mp.setenv(key, value)
        assert cli.main(["sample", "kits19"]) == 0
    return ws
