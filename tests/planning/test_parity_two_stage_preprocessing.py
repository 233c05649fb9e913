"""Parity of two-stage (3d_lowres + 3d_fullres) preprocessing: a 2-stage plan made by hand on v1's cropped CT
task (a real low-res stage needs cases of > 10 M voxels), preprocessed by v1's GenericPreprocessor and by the
explorer's run_preprocessing with ``(tl, tf) = (1, 1)``."""
from __future__ import annotations

import copy
import shutil

import numpy as np
import pytest

from nnunet_explorer.fileio import load_pickle, write_pickle
from nnunet_explorer.parity import run_v1_generic_preprocessor
from nnunet_explorer.paths import resolve_workspace
from nnunet_explorer.planning.run import run_preprocessing

from planning_parity_helpers import compare_npz_folders, deep_diff, roots_of

pytestmark = [pytest.mark.parity, pytest.mark.slow]


def test_two_stage_preprocessing_matches_v1(tmp_path, v1_ct_task):
    ws = resolve_workspace({"nnUNet_raw_data_base": str(tmp_path / "raw"), "nnUNet_preprocessed": str(tmp_path / "pre"),
                            "RESULTS_FOLDER": str(tmp_path / "res")}).ensure()
    task = v1_ct_task.task_name
    shutil.copytree(v1_ct_task.cropped_dir, ws.cropped_task_dir(task))
    ws.preprocessed_task_dir(task).mkdir(parents=True)
    plans = load_pickle(v1_ct_task.preprocessed_dir / "nnUNetPlansv2.1_plans_3D.pkl")
    full = plans["plans_per_stage"][0]
    low = copy.deepcopy(full)
    low["current_spacing"] = full["current_spacing"] * np.array([1.3, 2.2, 2.2])
    plans["plans_per_stage"] = {0: low, 1: full}
    plans["num_stages"] = 2
    plans_file = tmp_path / "plans_2stage.pkl"
    write_pickle(plans, plans_file)

    v1_out = tmp_path / "v1_out"
    run_v1_generic_preprocessor(plans_file, ws.cropped_task_dir(task), v1_out, ws)
    folders = run_preprocessing(plans, task, ws, (1, 1), progress=False)
    assert [f.name for f in folders] == ["nnUNetData_plans_v2.1_stage0", "nnUNetData_plans_v2.1_stage1"]
    for folder in folders:
        problems, max_diff, n = compare_npz_folders(folder, v1_out / folder.name)
        assert n == 10 and not problems and max_diff <= 1e-5, (problems, max_diff)
        for pkl in sorted((v1_out / folder.name).glob("*.pkl")):
            a, b = load_pickle(folder / pkl.name), load_pickle(pkl)
            assert deep_diff(a, b, roots_of(ws), roots_of(ws), f"{folder.name}/{pkl.name}") == []
    low_case = np.load(folders[0] / "case_000.npz")["data"]
    full_case = np.load(folders[1] / "case_000.npz")["data"]
    assert low_case.shape[1:] != full_case.shape[1:]  # the low-res stage really was resampled
