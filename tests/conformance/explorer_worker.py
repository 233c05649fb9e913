"""Train conformance entries with the explorer in a process of their own; one JSON line per entry.

``python explorer_worker.py JOBS.json RESULTS.jsonl``: ``JOBS.json`` holds ``{"workspaces": {task: {the three
nnU-Net folders}}, "folder": where to port variant files, "jobs": [[rel, key, entry], ...]}``. For each job, in
order, one line ``{"key", "train", "val", "log"}`` — or ``{"key", "error"}`` with the traceback — is appended to
``RESULTS.jsonl`` and flushed, so the test waiting for a key reads it as soon as it is there.
"""
from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # explorer_harness, ported_variants, v1_harness

import explorer_harness  # noqa: E402


def main(jobs_file: str, results_file: str) -> int:
    from nnunet_explorer.paths import resolve_workspace

    spec = json.loads(Path(jobs_file).read_text())
    workspaces = {task: resolve_workspace(folders) for task, folders in spec["workspaces"].items()}
    modules: dict = {}
    with open(results_file, "a", encoding="utf-8") as out:
        for rel, key, entry in spec["jobs"]:
            try:
                record = {"key": key, **explorer_harness.train_entry(rel, key, entry, workspaces,
                                                                     Path(spec["folder"]), modules)}
            except Exception:  # the test of this key reports it; the other keys still run
                record = {"key": key, "error": traceback.format_exc()}
            out.write(json.dumps(record) + "\n")
            out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
