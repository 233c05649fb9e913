"""add_lowres_stage: a teaching low-resolution stage on the small synthetic CT task, checked against v1.

The reference is the ``v1_cascade_task`` fixture: the same one-stage plans made two-stage by hand (stage 0 =
the full-resolution stage at ``current_spacing * [1, 2, 2]``) and both stages preprocessed by v1's own
``GenericPreprocessor``. ``add_lowres_stage(spacing_factor=(1, 2, 2))`` on a copy of the one-stage task must
write the same plans and the same preprocessed arrays, and v1's ``get_default_configuration`` must accept the
result for 3d_lowres (stage 0) and 3d_cascade_fullres (stage 1).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nnunet_explorer.errors import PlansError
from nnunet_explorer.fileio import load_pickle, write_pickle
from nnunet_explorer.parity import run_v1_python
from nnunet_explorer.paths import Workspace, resolve_workspace
from nnunet_explorer.planning import lowres_stage
from nnunet_explorer.planning.lowres_stage import add_lowres_stage

from planning_parity_helpers import compare_npz_folders, deep_diff, roots_of

PLANS = "nnUNetPlansv2.1_plans_3D.pkl"
STAGE = "nnUNetData_plans_v2.1_stage{}"


def copy_workspace(src: Workspace, dst_root: Path) -> Workspace:
    """A writable copy of a shared fixture's workspace (its three folders share one parent)."""
    shutil.copytree(src.raw_data_base.parent, dst_root)
    return resolve_workspace({"nnUNet_raw_data_base": str(dst_root / src.raw_data_base.name),
                              "nnUNet_preprocessed": str(dst_root / src.preprocessed.name),
                              "RESULTS_FOLDER": str(dst_root / src.results_folder.name)})


def snapshot(pre: Path) -> dict[str, bytes]:
    """Every file of the 3D plan and its stage folders, by relative path (to prove nothing changed)."""
    files = [pre / PLANS] + sorted(p for d in pre.glob(STAGE.format("*")) for p in d.rglob("*") if p.is_file())
    return {str(p.relative_to(pre)): p.read_bytes() for p in files}


def hidden_leftovers(pre: Path) -> list[str]:
    return sorted(p.name for p in pre.iterdir() if p.name.startswith(lowres_stage.TEMP_PREFIX))


@pytest.fixture
def one_stage(v1_ct_task, tmp_path):
    """A writable copy of v1's one-stage synthetic CT task."""
    return copy_workspace(v1_ct_task.workspace, tmp_path / "ws"), v1_ct_task.task_name


V1_CONFIGURATIONS = r"""
import contextlib, io, json
from nnunet.run.default_configuration import get_default_configuration
out = {}
for network in ("3d_lowres", "3d_fullres", "3d_cascade_fullres"):
    with contextlib.redirect_stdout(io.StringIO()):
        t = get_default_configuration(network, TASK, "nnUNetTrainerV2", "nnUNetPlansv2.1")
    out[network] = {"stage": int(t[4]), "batch_dice": bool(t[3]), "folder": t[2]}
print("@@JSON@@" + json.dumps(out))
"""


@pytest.mark.parity
@pytest.mark.slow
def test_plans_and_both_stages_equal_v1_and_v1_accepts_the_cascade(one_stage, v1_cascade_task):
    ws, task = one_stage
    pre = ws.preprocessed_task_dir(task)
    old_plans = load_pickle(pre / PLANS)
    if not (pre / "splits_final.pkl").is_file():  # as after a first training: the folds must survive
        write_pickle([{"train": np.array(["case_000"]), "val": np.array(["case_001"])}], pre / "splits_final.pkl")
    splits = (pre / "splits_final.pkl").read_bytes()
    report = add_lowres_stage(task, workspace=ws, spacing_factor=(1, 2, 2))

    # the plans: exactly the two-stage plans of the v1 reference (paths compared relative to each workspace)
    ours, theirs = load_pickle(pre / PLANS), load_pickle(v1_cascade_task.preprocessed_dir / PLANS)
    assert deep_diff(ours, theirs, roots_of(ws), roots_of(v1_cascade_task.workspace), "plans") == []
    assert ours["num_stages"] == 2 and list(ours["plans_per_stage"]) == [0, 1]
    full = old_plans["plans_per_stage"][0]
    assert np.allclose(ours["plans_per_stage"][0]["current_spacing"], full["current_spacing"] * np.array([1, 2, 2]))
    for key in ("patch_size", "pool_op_kernel_sizes", "conv_kernel_sizes", "batch_size"):
        assert np.array_equal(ours["plans_per_stage"][0][key], full[key])  # kept (teaching stage)

    # the data: stage 0 is now low resolution, stage 1 full resolution; both equal what v1 wrote
    for index in (0, 1):
        folder = pre / STAGE.format(index)
        reference = v1_cascade_task.preprocessed_dir / STAGE.format(index)
        problems, max_diff, n = compare_npz_folders(folder, reference)
        assert n == 10 and not problems and max_diff <= 1e-5, (index, problems, max_diff)
        for pkl in sorted(reference.glob("*.pkl")):
            assert deep_diff(load_pickle(folder / pkl.name), load_pickle(pkl), roots_of(ws),
                             roots_of(v1_cascade_task.workspace), f"stage{index}/{pkl.name}") == []
    assert report.folders == (pre / STAGE.format(0), pre / STAGE.format(1))
    assert hidden_leftovers(pre) == []
    assert (pre / "splits_final.pkl").read_bytes() == splits

    # the report: the old stage 0 was full resolution; now stage 0 is coarser in-plane, stage 1 as before
    (old,), (low, high) = report.old_stages, report.new_stages
    assert old.example_shape == high.example_shape and old.configurations == ("3d_fullres",)
    assert low.example_shape[0] == high.example_shape[0] and low.example_shape[1] < high.example_shape[1]
    assert low.configurations == ("3d_lowres",) and "3d_cascade_fullres" in high.configurations
    assert "TEACHING" in report.summary and "v1 would not plan" in report.summary

    # v1's own get_default_configuration accepts both cascade networks on these plans
    code = f"TASK = {task!r}\n" + V1_CONFIGURATIONS
    v1 = json.loads(run_v1_python(code, ws, timeout=300).stdout.split("@@JSON@@", 1)[1])
    assert {n: v["stage"] for n, v in v1.items()} == {"3d_lowres": 0, "3d_fullres": 1, "3d_cascade_fullres": 1}
    assert v1["3d_lowres"]["folder"] == str(pre)
    # v1's batch_dice rule on two-stage plans, as the report's note says: only 3d_lowres keeps sample Dice
    assert {n: v["batch_dice"] for n, v in v1.items()} == {"3d_lowres": False, "3d_fullres": True,
                                                           "3d_cascade_fullres": True}
    assert "3d_fullres (stage 1) with batch Dice" in report.summary


def test_refuses_two_stage_plans_unless_overwrite(one_stage):
    ws, task = one_stage
    pre = ws.preprocessed_task_dir(task)
    add_lowres_stage(task, workspace=ws)
    before = snapshot(pre)
    with pytest.raises(PlansError) as info:
        add_lowres_stage(task, workspace=ws)
    assert "already has 2 stages" in str(info.value) and "overwrite=True" in info.value.fix
    assert snapshot(pre) == before  # refused before touching anything
    # overwrite rebuilds stage 0 from the last (full-resolution) stage, not from the low-resolution one
    report = add_lowres_stage(task, workspace=ws, spacing_factor=(1, 3, 3), overwrite=True)
    plans = load_pickle(pre / PLANS)
    stages = plans["plans_per_stage"]
    assert plans["num_stages"] == 2
    assert np.allclose(stages[0]["current_spacing"], stages[1]["current_spacing"] * np.array([1, 3, 3]))
    assert report.old_stages[1].example_shape == report.new_stages[1].example_shape
    # the summary says what happened to a two-stage plan (not "v1 would not plan a low-resolution stage")
    assert "replaced the low-resolution stage" in report.summary and "would not plan" not in report.summary
    assert "batch Dice" not in report.summary  # 3d_fullres used batch Dice before too


def test_no_plans_names_the_command_that_writes_them(workspace):
    (workspace.preprocessed / "Task555_Missing").mkdir(parents=True)
    with pytest.raises(PlansError) as info:
        add_lowres_stage("Task555_Missing", workspace=workspace)
    assert PLANS in str(info.value) and "plan_and_preprocess" in info.value.fix


def test_bad_spacing_factor_is_refused(one_stage):
    ws, task = one_stage
    for factor in ((2, 2), (1, 0.5, 2), (1, 1, 1)):
        with pytest.raises(PlansError, match="spacing_factor"):
            add_lowres_stage(task, workspace=ws, spacing_factor=factor)


def test_failure_while_preprocessing_keeps_the_old_plan_and_data(one_stage, monkeypatch):
    ws, task = one_stage
    pre = ws.preprocessed_task_dir(task)
    before = snapshot(pre)
    real = lowres_stage.run_preprocessing

    def preprocess_then_fail(*args, **kwargs):
        real(*args, **kwargs)  # both new stage folders written (under temporary names) ...
        raise KeyboardInterrupt  # ... then the user presses Ctrl+C

    monkeypatch.setattr(lowres_stage, "run_preprocessing", preprocess_then_fail)
    with pytest.raises(KeyboardInterrupt):
        add_lowres_stage(task, workspace=ws)
    assert snapshot(pre) == before and hidden_leftovers(pre) == []


def test_failure_at_the_commit_undoes_the_renames(one_stage, monkeypatch):
    ws, task = one_stage
    pre = ws.preprocessed_task_dir(task)
    before = snapshot(pre)
    real = lowres_stage.os.replace

    def replace(src, dst):
        if Path(dst) == pre / PLANS and Path(src).name == PLANS:
            raise OSError("disk full")  # the new stage folders are already renamed in at this point
        return real(src, dst)

    monkeypatch.setattr(lowres_stage.os, "replace", replace)
    with pytest.raises(OSError, match="disk full"):
        add_lowres_stage(task, workspace=ws)
    monkeypatch.undo()
    assert snapshot(pre) == before and hidden_leftovers(pre) == []


KILL_BEFORE_COMMIT = r"""
import os, sys
from pathlib import Path
from nnunet_explorer.paths import resolve_workspace
from nnunet_explorer.planning import lowres_stage
ws = resolve_workspace({"nnUNet_raw_data_base": RAW, "nnUNet_preprocessed": PRE, "RESULTS_FOLDER": RES})
real = os.replace
def replace(src, dst):
    if Path(dst).name == "nnUNetPlansv2.1_plans_3D.pkl" and Path(src).name == Path(dst).name:
        os._exit(9)  # killed between renaming the new stage folders in and committing the plans
    return real(src, dst)
os.replace = replace
lowres_stage.add_lowres_stage(TASK, workspace=ws)
"""


@pytest.mark.slow
def test_hard_kill_in_the_swap_is_undone_by_the_next_call(one_stage):
    ws, task = one_stage
    pre = ws.preprocessed_task_dir(task)
    full_res = load_pickle(pre / STAGE.format(0) / "case_000.pkl")["size_after_resampling"]
    code = (f"RAW, PRE, RES, TASK = {str(ws.raw_data_base)!r}, {str(ws.preprocessed)!r}, "
            f"{str(ws.results_folder)!r}, {task!r}\n" + KILL_BEFORE_COMMIT)
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=300).returncode == 9
    # the mix the kill left: the old one-stage plan, but stage 0 already holds the low-resolution data
    assert load_pickle(pre / PLANS)["num_stages"] == 1
    assert tuple(load_pickle(pre / STAGE.format(0) / "case_000.pkl")["size_after_resampling"]) != tuple(full_res)
    report = add_lowres_stage(task, workspace=ws)
    # the next call first put the old full-resolution stage 0 back (its report reads the old data) ...
    assert report.old_stages[0].example_shape == tuple(full_res)
    # ... then made the two-stage plan as usual
    assert load_pickle(pre / PLANS)["num_stages"] == 2 and hidden_leftovers(pre) == []
    assert tuple(load_pickle(pre / STAGE.format(1) / "case_000.pkl")["size_after_resampling"]) == tuple(full_res)


def test_missing_cropped_data_is_named_and_nothing_changes(one_stage):
    ws, task = one_stage
    pre = ws.preprocessed_task_dir(task)
    before = snapshot(pre)
    shutil.rmtree(ws.cropped_task_dir(task))  # preprocessing reads the cropped cases, not the stage folders
    with pytest.raises(PlansError) as info:
        add_lowres_stage(task, workspace=ws)
    assert str(ws.cropped_task_dir(task)) in str(info.value) and "plan_and_preprocess" in info.value.fix
    assert snapshot(pre) == before and hidden_leftovers(pre) == []


def _report() -> lowres_stage.LowresStageReport:
    low = lowres_stage.StageInfo(0, ("3d_lowres",), (1.5, 1.6, 1.6), (16, 32, 32), "case_000", (20, 40, 40))
    full = lowres_stage.StageInfo(1, ("3d_fullres", "3d_cascade_fullres"), (1.5, 0.8, 0.8), (16, 32, 32), None, None)
    return lowres_stage.LowresStageReport("Task908_X", Path("/p") / PLANS, (1.0, 2.0, 2.0), (full,), (low, full),
                                          (Path("/p/s0"), Path("/p/s1")), 3.21)


def test_the_report_speaks_chinese_under_zh(monkeypatch):
    monkeypatch.delenv("NNUNET_EXPLORER_LANG", raising=False)
    english = str(_report())
    assert english.startswith("Task908_X: added a low-resolution stage (spacing x (1.0, 2.0, 2.0)) to "
                              f"{PLANS} -- a TEACHING plan")
    assert "\nbefore:\n  stage 1 (3d_fullres / 3d_cascade_fullres): spacing (1.5, 0.8, 0.8) mm" in english
    assert "\nwrote: s0, s1 (3.2 s); splits_final.pkl kept" in english and "no preprocessed case" in english
    monkeypatch.setenv("NNUNET_EXPLORER_LANG", "zh")
    lines = str(_report()).splitlines()
    assert lines[0].startswith(f"Task908_X：给 {PLANS} 加入了一个低分辨率 stage，spacing 逐轴乘以 (1.0, 2.0, 2.0)")
    assert "仅供教学" in lines[0] and lines[1] == "之前：" and lines[3] == "之后："
    assert lines[2] == ("  stage 1 (3d_fullres / 3d_cascade_fullres)：spacing 为 (1.5, 0.8, 0.8) mm，"
                        "patch 为 (16, 32, 32)，没有预处理好的病例")
    assert lines[6].startswith("已写出：s0, s1（用时 3.2 s）；保留 splits_final.pkl")
    assert lines[7].startswith("注意：现在 v1 用批 Dice 训练 3d_fullres（即 stage 1）")


def test_the_refusal_of_two_stage_plans_speaks_chinese_under_zh(workspace, monkeypatch):
    """The refusal comes before any data is read: a two-stage plans file is all it needs."""
    from nnunet_explorer.planning.plans import REQUIRED_KEYS, STAGE_KEYS

    pre = workspace.preprocessed / "Task556_TwoStages"
    pre.mkdir(parents=True)
    stage = {key: None for key in STAGE_KEYS} | {"current_spacing": [1.0, 1.0, 1.0]}
    write_pickle({key: None for key in REQUIRED_KEYS} | {"data_identifier": "nnUNetData_plans_v2.1",
                                                         "plans_per_stage": {0: stage, 1: dict(stage)}}, pre / PLANS)
    monkeypatch.setenv("NNUNET_EXPLORER_LANG", "zh")
    with pytest.raises(PlansError) as info:
        add_lowres_stage("Task556_TwoStages", workspace=workspace)
    assert info.value.cause == (f"Task556_TwoStages 的 {PLANS} 已经有 2 个 stage（配置 3d_lowres, 3d_fullres, "
                                "3d_cascade_fullres）；3d_lowres 和 3d_cascade_fullres 可以直接训练")
    assert info.value.fix == "直接训练它们，或传入 overwrite=True，从最后一个 stage 重建 stage 0"
    monkeypatch.delenv("NNUNET_EXPLORER_LANG")
    with pytest.raises(PlansError, match="already has 2 stages") as info:
        add_lowres_stage("Task556_TwoStages", workspace=workspace)
    assert info.value.fix == "train them directly, or pass overwrite=True to rebuild stage 0 from the last stage"
