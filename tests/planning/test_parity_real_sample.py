"""Parity on the real brain sample (Colin27 deep grey matter, derived cases with varied spacings): the explorer
and v1's nnUNet_plan_and_preprocess on the same raw task must write the same plans and preprocessed data."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from nnunet_explorer.parity import run_v1_cli
from nnunet_explorer.paths import resolve_workspace

from planning_parity_helpers import compare_npz_folders, deep_diff, load_pkl, roots_of

pytestmark = [pytest.mark.parity, pytest.mark.slow]

TASK = "Task950_ColinDeepGrey"


def _ws(root):
    return resolve_workspace({"nnUNet_raw_data_base": str(root / "raw"), "nnUNet_preprocessed": str(root / "pre"),
                              "RESULTS_FOLDER": str(root / "res")}).ensure()


def test_real_sample_parity(tmp_path):
    pytest.importorskip("nnunet")
    from nnunet_explorer.planning.run import plan_and_preprocess
    from nnunet_explorer.samples.real import build_real_task

    ws_v1, ws_ex = _ws(tmp_path / "v1"), _ws(tmp_path / "ex")
    build_real_task(ws_v1.raw_task_dir(TASK), num_training=4, seed=0)
    shutil.copytree(ws_v1.raw_task_dir(TASK), ws_ex.raw_task_dir(TASK))
    run_v1_cli("nnUNet_plan_and_preprocess", ["-t", "950", "-tl", "1", "-tf", "1"], ws_v1, timeout=600)
    plan_and_preprocess([950], workspace=ws_ex, tl=1, tf=1, progress=False, log=lambda m: None)

    ours, theirs = ws_ex.preprocessed_task_dir(TASK), ws_v1.preprocessed_task_dir(TASK)
    for name in ("nnUNetPlansv2.1_plans_3D.pkl", "nnUNetPlansv2.1_plans_2D.pkl", "dataset_properties.pkl"):
        assert deep_diff(load_pkl(ours / name), load_pkl(theirs / name), roots_of(ws_ex), roots_of(ws_v1), name) == []
    stages = sorted(p.name for p in theirs.iterdir() if p.is_dir() and "stage" in p.name)
    worst = 0.0
    for stage in stages:
        problems, max_diff, n = compare_npz_folders(ours / stage, theirs / stage)
        assert n == 4 and not problems, problems
        worst = max(worst, max_diff)
        for pkl in sorted((theirs / stage).glob("*.pkl")):
            a, b = load_pkl(ours / stage / pkl.name), load_pkl(pkl)
            assert deep_diff(a, b, roots_of(ws_ex), roots_of(ws_v1), f"{stage}/{pkl.name}") == []
            for c in b["class_locations"]:
                assert np.array_equal(np.asarray(a["class_locations"][c]), np.asarray(b["class_locations"][c]))
    print(f"\nreal sample: stages {stages}, preprocessed max abs diff {worst:.3g}")
    assert worst <= 1e-5
