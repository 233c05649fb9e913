"""Conformance: v1's own trainer variants, ported by the one import rule, train as in nnU-Net v1 1.7.1.

Every class of every file of v1's ``nnunet/training/network_training/nnUNet_variants/`` that trains in v1 itself
(``v1_reference.json``, written by ``scripts/v1_variant_reference.py`` with the real v1; a rotating sample is
re-derived with v1 by ``test_v1_reference_data.py``) is read from the installed ``nnunet`` package, ported by the
single textual rule ``from nnunet.`` -> ``from nnunet_explorer.v1.`` (and ``import nnunet.`` likewise) — nothing
is copied into this repository — and trained by the explorer exactly as v1 was (``v1_harness.py``): fold 0,
``deterministic=True``, ``random.seed(12345)``, one thread, deterministic algorithms, fp32, 3 epochs of 2 training +
1 validation iterations set after construction, ``initialize(True)``, the augmenters replaced by in-process ones over
the same loaders and transforms, ``run_training()``. The per-epoch train and validation losses, as v1's log prints
them (``%.4f``), must equal v1's.

The harness trains single-threaded, so every second selected class is trained by a second process at the same time
(``explorer_worker.py``; ``NNUNET_EXPLORER_CONFORMANCE_WORKER=0`` turns it off); its losses are checked here all the
same.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # explorer_harness, v1_harness (tests use --import-mode=importlib)

import explorer_harness  # noqa: E402

pytestmark = [pytest.mark.parity, pytest.mark.slow]

REFERENCE = json.loads((Path(__file__).parent / "v1_reference.json").read_text())
WORKER_ENV = "NNUNET_EXPLORER_CONFORMANCE_WORKER"


def _entries() -> list[tuple[str | None, str, dict]]:
    """``(file relative to nnUNet_variants/ or None for v1's own trainers, class key, entry)`` that train in v1."""
    out = [(None, key, entry) for key, entry in REFERENCE["plain"].items() if entry["status"] == "trains"]
    out += [(rel, key, entry) for rel, classes in REFERENCE["files"].items() for key, entry in classes.items()
            if entry["status"] == "trains"]
    return out


ENTRIES = _entries()


@pytest.fixture(scope="module")
def loaded_files(tmp_path_factory) -> dict:
    return {"folder": tmp_path_factory.mktemp("ported"), "modules": {}}


class BackgroundTrainer:
    """``explorer_worker.py`` training some entries in a process of its own while this process trains the rest."""

    def __init__(self, jobs: list, workspaces: dict, folder: Path) -> None:
        from nnunet_explorer.paths import environment_for

        self.keys = {key for _rel, key, _entry in jobs}
        self.results_file = folder / "results.jsonl"
        self.results_file.touch()
        jobs_file = folder / "jobs.json"
        jobs_file.write_text(json.dumps({"workspaces": {task: environment_for(ws) for task, ws in workspaces.items()},
                                         "folder": str(folder / "ported"), "jobs": jobs}))
        self.output = open(folder / "output.txt", "w+", encoding="utf-8")
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("explorer_worker.py")),
                                      str(jobs_file), str(self.results_file)],
                                     env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=self.output,
                                     stderr=subprocess.STDOUT)
        self.seen: dict[str, dict] = {}

    def result(self, key: str, timeout: float = 850.0) -> dict:
        """The worker's record of ``key``; fails with the worker's output if it ends without one or time runs out."""
        deadline = time.monotonic() + timeout
        while True:
            # only whole lines: the worker may be writing the next one right now
            for line in self.results_file.read_text(encoding="utf-8").split("\n")[:-1]:
                record = json.loads(line)
                self.seen[record["key"]] = record
            if key in self.seen:
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.output.seek(0)
                pytest.fail(f"the background explorer worker gave no result for {key} (exit code "
                            f"{self.proc.poll()}):\n{self.output.read()[-3000:]}")
            time.sleep(0.5)
        record = self.seen[key]
        if "error" in record:
            pytest.fail(f"{key} failed in the background explorer worker:\n{record['error']}")
        return record

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.output.close()


@pytest.fixture(scope="module")
def background(request, v1_variant_workspaces, tmp_path_factory):
    """A worker training every second of this session's selected ``test_variant_trains_like_v1`` entries; None
    (everything trained here) with one core, fewer than two entries, or ``NNUNET_EXPLORER_CONFORMANCE_WORKER=0``."""
    selected = [item.callspec.params for item in request.session.items
                if getattr(item, "originalname", None) == "test_variant_trains_like_v1"]
    if (os.cpu_count() or 1) < 2 or os.environ.get(WORKER_ENV) == "0" or len(selected) < 2:
        yield None
        return
    jobs = [[p["rel"], p["key"], p["entry"]] for p in selected[1::2]]
    worker = BackgroundTrainer(jobs, v1_variant_workspaces, tmp_path_factory.mktemp("explorer_worker"))
    try:
        yield worker
    finally:
        worker.close()


@pytest.mark.timeout(900)
@pytest.mark.parametrize("rel, key, entry", ENTRIES, ids=[key for _, key, _ in ENTRIES])
def test_variant_trains_like_v1(rel, key, entry, v1_variant_workspaces, loaded_files, background):
    if background is not None and key in background.keys:
        mine = background.result(key)
    else:
        mine = explorer_harness.train_entry(rel, key, entry, v1_variant_workspaces, loaded_files["folder"],
                                            loaded_files["modules"])
    assert mine["train"] == entry["train"], key
    assert mine["val"] == entry["val"], key
    for train, val in zip(mine["train"], mine["val"]):  # the training log shows them as v1's does
        assert f"train loss : {train}" in mine["log"] and f"validation loss: {val}" in mine["log"]


def test_the_suite_covers_at_least_50_of_v1s_72_variant_files():
    files = {rel for rel, _, _ in ENTRIES if rel is not None}
    assert len(REFERENCE["files"]) == 72 and len(files) >= 50, sorted(files)
