"""Parity: the explorer's plan_and_preprocess against the real nnU-Net v1 on the same raw synthetic tasks.

The session fixtures ``v1_ct_task`` / ``v1_mr_task`` (tests/conftest.py) ran v1's nnUNet_plan_and_preprocess;
``explorer_ct`` / ``explorer_mr`` ran the explorer on a copy of the same raw task. Every output file is
compared: cropped cases, fingerprint, plans (every key, every stage), preprocessed stages and class locations.
"""
from __future__ import annotations

import numpy as np
import pytest

from planning_parity_helpers import compare_npz_folders, deep_diff, load_pkl, roots_of

pytestmark = pytest.mark.parity

PLANS = ("nnUNetPlansv2.1_plans_3D.pkl", "nnUNetPlansv2.1_plans_2D.pkl")
CROPPED_KEYS = ["original_size_of_raw_data", "original_spacing", "list_of_data_files", "seg_file", "itk_origin",
                "itk_spacing", "itk_direction", "crop_bbox", "classes", "size_after_cropping",
                "use_nonzero_mask_for_norm"]


@pytest.fixture(params=["ct", "mr"])
def pair(request, v1_ct_task, v1_mr_task):
    if request.param == "ct":
        ws, result = request.getfixturevalue("explorer_ct")
        return v1_ct_task, ws, result
    ws, result = request.getfixturevalue("explorer_mr")
    return v1_mr_task, ws, result


def _files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_same_files_written(pair):
    v1, ws, _ = pair
    for ours, theirs in ((ws.cropped_task_dir(v1.task_name), v1.cropped_dir),
                         (ws.preprocessed_task_dir(v1.task_name), v1.preprocessed_dir)):
        # v1 writes no props_per_case.pkl in this flow; splits are not made by plan_and_preprocess
        assert _files(ours) == _files(theirs)


def test_cropped_cases_identical(pair):
    v1, ws, _ = pair
    ours_dir, theirs_dir = ws.cropped_task_dir(v1.task_name), v1.cropped_dir
    problems, max_diff, n = compare_npz_folders(ours_dir, theirs_dir, exact=True)
    assert n == 10 and not problems and max_diff == 0.0
    for pkl in sorted(theirs_dir.glob("*.pkl")):
        if pkl.name in ("dataset_properties.pkl", "intensityproperties.pkl"):
            continue
        a, b = load_pkl(ours_dir / pkl.name), load_pkl(pkl)
        assert list(a.keys()) == CROPPED_KEYS == list(b.keys())
        assert a["crop_bbox"] == b["crop_bbox"]
        assert np.array_equal(a["classes"], b["classes"])
        assert deep_diff(a, b, roots_of(ws), roots_of(v1.workspace), pkl.name) == []


def test_fingerprint_identical(pair):
    v1, ws, _ = pair
    for name in ("dataset_properties.pkl", "intensityproperties.pkl"):
        theirs = v1.cropped_dir / name
        if not theirs.exists():
            assert not (ws.cropped_task_dir(v1.task_name) / name).exists()
            continue
        a, b = load_pkl(ws.cropped_task_dir(v1.task_name) / name), load_pkl(theirs)
        assert deep_diff(a, b, roots_of(ws), roots_of(v1.workspace), name) == []


@pytest.mark.parametrize("plans_name", PLANS)
def test_plans_identical(pair, plans_name):
    v1, ws, _ = pair
    a = load_pkl(ws.preprocessed_task_dir(v1.task_name) / plans_name)
    b = load_pkl(v1.preprocessed_dir / plans_name)
    assert list(a.keys()) == list(b.keys())
    assert deep_diff(a, b, roots_of(ws), roots_of(v1.workspace), plans_name) == []
    for stage in b["plans_per_stage"]:
        for key, value in b["plans_per_stage"][stage].items():
            mine = a["plans_per_stage"][stage][key]
            # value types matter where v1's trainer does arithmetic or indexing on them
            assert isinstance(mine, np.ndarray) == isinstance(value, np.ndarray), key
            assert type(mine) is type(value) or isinstance(value, np.ndarray), (key, type(mine), type(value))


def test_preprocessed_stages_match(pair, record_property):
    v1, ws, _ = pair
    stages = sorted(p.name for p in v1.preprocessed_dir.iterdir() if p.is_dir() and "stage" in p.name)
    assert stages
    worst = 0.0
    for stage in stages:
        ours, theirs = ws.preprocessed_task_dir(v1.task_name) / stage, v1.preprocessed_dir / stage
        problems, max_diff, n = compare_npz_folders(ours, theirs)
        assert n == 10 and not problems, problems
        worst = max(worst, max_diff)
        for pkl in sorted(theirs.glob("*.pkl")):
            a, b = load_pkl(ours / pkl.name), load_pkl(pkl)
            assert list(a.keys()) == list(b.keys())
            assert deep_diff(a, b, roots_of(ws), roots_of(v1.workspace), f"{stage}/{pkl.name}") == []
            assert a["class_locations"].keys() == b["class_locations"].keys()
            for c in b["class_locations"]:
                assert np.array_equal(np.asarray(a["class_locations"][c]), np.asarray(b["class_locations"][c]))
    record_property("max_abs_diff", worst)
    print(f"\n{v1.task_name}: preprocessed max abs diff {worst:.3g} over stages {stages}")
    assert worst <= 1e-5
