"""benchmarks/gpu_check.py runs through on the CPU (--device cpu --quick) and reports every section with numbers."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@pytest.mark.slow
def test_gpu_check_cpu_quick_writes_every_section(tmp_path):
    pytest.importorskip("nnunet", reason="the GPU check compares with nnunet==1.7.1")
    out = tmp_path / "gpu_check.json"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device", "cpu", "--quick",
                           "--out", str(out)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    for name in ("training", "sliding_window", "data", "ddp", "monitor"):
        assert name in report and "error" not in report[name], (name, report.get(name))
    tr = report["training"]
    for key in ("loss_v1", "loss_explorer", "ms_per_iteration_v1", "ms_per_iteration_explorer", "ratio_explorer_v1",
                "syncs_per_iteration_v1", "syncs_per_iteration_explorer", "weights_max_abs_diff_after_1_step"):
        assert _number(tr[key]), key
    # same weights, same batch, fp32: v1 and the explorer agree after one step; v1 reads its loss once
    assert tr["loss_abs_diff"] < 1e-5 and tr["weights_max_abs_diff_after_1_step"] < 1e-5
    assert tr["syncs_per_iteration_v1"] >= 1
    runs = report["sliding_window"]["runs"]
    assert {r["tile_batch"] for r in runs} == {1, 4}
    for r in runs:
        assert _number(r["seconds_v1"]) and _number(r["seconds_explorer"]) and r["prob_max_abs_diff"] < 1e-4
    data = report["data"]
    assert all(_number(data[k]) for k in ("next_latency_ms_when_ready", "mean_wait_ms", "wait_share"))
    groups = report["ddp"]["groups"]
    assert groups and all(g["checksums_equal"] and _number(g["ms_per_step"]) for g in groups)
    monitor = report["monitor"]
    assert monitor["available"] and _number(monitor["share_of_iteration"]) and monitor["syncs_added"] == 0
    assert "ms/iteration" in done.stdout and "sliding window" in done.stdout  # the printed table
