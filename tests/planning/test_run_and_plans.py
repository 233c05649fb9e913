"""The command's options, the process pools, and the plans view / v1 summary text."""
from __future__ import annotations

import numpy as np
import pytest

from nnunet_explorer.cli import main as cli_main
from nnunet_explorer.errors import PlansError
from nnunet_explorer.fileio import load_pickle
from nnunet_explorer.parity import run_v1_python
from nnunet_explorer.planning.plans import Plans, load_plans, summarize_plans_text
from nnunet_explorer.planning.run import plan_and_preprocess
from nnunet_explorer.samples.synthetic import write_synthetic_task


def _task(ws, kind="ct", n=3, task_id=921):
    task = f"Task{task_id}_Run"
    write_synthetic_task(ws.raw_task_dir(task), kind, num_training=n, num_test=0, seed=5)
    return task


def test_pool_workers_give_the_same_files_as_one_process(workspace, workspace_factory):
    _task(workspace)
    other = workspace_factory("pooled")
    _task(other)
    one = plan_and_preprocess([921], workspace=workspace, tl=1, tf=1, progress=False, log=lambda m: None)[0]
    two = plan_and_preprocess([921], workspace=other, tl=2, tf=2, progress=False, log=lambda m: None)[0]
    for stage in ("nnUNetData_plans_v2.1_stage0", "nnUNetData_plans_v2.1_2D_stage0"):
        for case in ("case_000", "case_001", "case_002"):
            a = np.load(one.preprocessed_dir / stage / f"{case}.npz")["data"]
            b = np.load(two.preprocessed_dir / stage / f"{case}.npz")["data"]
            assert np.array_equal(a, b)
    assert load_pickle(one.cropped_dir / "intensityproperties.pkl")[0]["mean"] == \
        load_pickle(two.cropped_dir / "intensityproperties.pkl")[0]["mean"]


def test_planner_none_and_no_pp(workspace, capsys):
    task = _task(workspace)
    code = cli_main(["plan_and_preprocess", "-t", "921", "-pl2d", "None", "-no_pp", "-tf", "1", "--no_progress",
                     "--explain"])
    out = capsys.readouterr().out
    pre = workspace.preprocessed_task_dir(task)
    assert code == 0
    assert (pre / "nnUNetPlansv2.1_plans_3D.pkl").is_file() and not (pre / "nnUNetPlansv2.1_plans_2D.pkl").exists()
    assert not any(p.name.startswith("nnUNetData") for p in pre.iterdir())
    assert "stage:  0" in out and "why:" in out and "VRAM proxy" in out


def test_unknown_planner_and_overwrite_plans_are_refused(workspace):
    _task(workspace)
    assert cli_main(["plan_and_preprocess", "-t", "921", "-pl3d", "ExperimentPlanner3D_v21_Pretrained"]) == 2
    assert cli_main(["plan_and_preprocess", "-t", "921", "-overwrite_plans", "x.pkl"]) == 2


@pytest.mark.parity
def test_summarize_plans_text_equals_v1_print(v1_ct_task):
    for name in ("nnUNetPlansv2.1_plans_3D.pkl", "nnUNetPlansv2.1_plans_2D.pkl"):
        path = v1_ct_task.preprocessed_dir / name
        # v1 as it printed with the numpy 1.x of its day (numpy 2's legacy="1.25" print mode)
        code = ("import warnings; warnings.filterwarnings('ignore')\n"
                "import numpy; numpy.set_printoptions(legacy='1.25')\n"
                "from nnunet.experiment_planning.summarize_plans import summarize_plans\n"
                "print('@@START@@'); summarize_plans(%r)" % str(path))
        v1_text = run_v1_python(code, v1_ct_task.workspace).stdout.split("@@START@@\n", 1)[1]
        assert summarize_plans_text(load_plans(path)) == v1_text
        assert Plans.from_file(path).summarize() == v1_text


def test_plans_view_is_read_only_and_renders(v1_ct_task):
    plans = Plans.from_file(v1_ct_task.preprocessed_dir / "nnUNetPlansv2.1_plans_3D.pkl")
    assert plans.configurations == {"3d_fullres": 0}
    assert list(plans.stage(0)["patch_size"]) == list(plans["plans_per_stage"][0]["patch_size"])
    with pytest.raises(TypeError):
        plans["num_stages"] = 3  # type: ignore[index]
    with pytest.raises(PlansError):
        plans.stage(1)
    with pytest.raises(PlansError) as info:
        plans.stage_for_network("3d_lowres")
    assert "3d_fullres" in str(info.value)
    assert plans.stage_for_network("3d_fullres")["batch_size"] == plans["plans_per_stage"][0]["batch_size"]
    with pytest.raises(ValueError):
        plans["plans_per_stage"][0]["patch_size"][0] = 1  # arrays are read-only
    with pytest.raises(TypeError):
        plans["plans_per_stage"][0]["batch_size"] = 1  # type: ignore[index]
    mutable = plans.to_dict()
    mutable["plans_per_stage"][0]["batch_size"] = 99
    assert plans["plans_per_stage"][0]["batch_size"] != 99
    assert type(mutable["normalization_schemes"]).__name__ == "OrderedDict"
    html = plans._repr_html_()
    assert "<details" in html and "<script" not in html and "patch_size" in html
    text = str(plans)
    assert "stage 0 (3d_fullres)" in text and "patch size in mm" in text
    assert Plans.from_file(v1_ct_task.preprocessed_dir / "nnUNetPlansv2.1_plans_2D.pkl").configurations == {"2d": 0}


def test_load_plans_errors(tmp_path):
    with pytest.raises(PlansError):
        load_plans(tmp_path / "missing.pkl")
    from nnunet_explorer.fileio import write_pickle

    write_pickle({"num_stages": 1}, tmp_path / "partial.pkl")
    with pytest.raises(PlansError) as info:
        load_plans(tmp_path / "partial.pkl")
    assert "plans_per_stage" in str(info.value)


def test_two_tasks_in_one_call_and_traces(workspace):
    _task(workspace, kind="ct", task_id=921)
    _task(workspace, kind="mr", task_id=922)
    results = plan_and_preprocess([921, "Task922_Run"], workspace=workspace, tl=1, tf=1, no_pp=True,
                                  progress=False, log=lambda m: None)
    assert [r.task_name for r in results] == ["Task921_Run", "Task922_Run"]
    keys = [d.key for d in results[1].trace_3d]
    assert keys[:2] == ["use_mask_for_norm", "normalization_schemes"] and "patch_size" in keys
    ct_schemes = [d for d in results[0].trace_2d if d.key == "normalization_schemes"][0]
    assert ct_schemes.value == {0: "CT"} and "percentiles" in ct_schemes.text


def test_case_order_follows_v1_file_name_sort(tmp_path):
    from nnunet_explorer.planning.run import cropped_case_identifiers

    for name in ("a.npz", "a-b.npz", "a_b.npz", "B.npz", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    # v1: sorted(["a.npz", "a-b.npz", "a_b.npz", "B.npz"]) = B, a-b, a., a_b
    assert cropped_case_identifiers(tmp_path) == ["B", "a-b", "a", "a_b"]


def test_replan_explains_v1_plans_and_spots_edits(v1_ct_task):
    from nnunet_explorer.planning.replan import replan

    for name in ("nnUNetPlansv2.1_plans_3D.pkl", "nnUNetPlansv2.1_plans_2D.pkl"):
        result = replan(v1_ct_task.preprocessed_dir / name)
        assert result.matches, result.differences
        assert "patch_size" in result.explain() and "batch_size" in result.explain()
    edited = load_plans(v1_ct_task.preprocessed_dir / "nnUNetPlansv2.1_plans_3D.pkl")
    edited["plans_per_stage"][0]["batch_size"] = 7
    result = replan(edited)
    assert not result.matches and any("batch_size" in d for d in result.differences)
    assert "does NOT reproduce" in result.explain()
