"""get_default_configuration against v1's own function, on plans that v1 wrote (same folders, same text)."""
from __future__ import annotations

import json

import pytest

from nnunet_explorer.errors import ConfigurationError, PlansError
from nnunet_explorer.parity import run_v1_python
from nnunet_explorer.run.default_configuration import get_default_configuration

# v1 as it printed with the numpy 1.x of its day (numpy 2's legacy="1.25" print mode): False, not np.False_
V1_SCRIPT = r"""
import contextlib, io, json
import numpy; numpy.set_printoptions(legacy="1.25")
from nnunet.run.default_configuration import get_default_configuration
results = {}
for network in NETWORKS:
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            t = get_default_configuration(network, TASK, "nnUNetTrainerV2", "nnUNetPlansv2.1")
        cls = t[5]
        results[network] = {"ok": True, "text": buf.getvalue(),
                            "tuple": [t[0], t[1], t[2], bool(t[3]), int(t[4]), cls.__module__ + "." + cls.__qualname__]}
    except BaseException as e:
        results[network] = {"ok": False, "type": type(e).__name__, "message": str(e)}
print("@@JSON@@" + json.dumps(results))
"""


def run_v1_configurations(workspace, task: str, networks: list[str]) -> dict:
    code = f"NETWORKS = {networks!r}\nTASK = {task!r}\n" + V1_SCRIPT
    out = run_v1_python(code, workspace, timeout=300).stdout
    return json.loads(out.split("@@JSON@@", 1)[1])


def compare(v1: dict, ours, network: str) -> None:
    assert v1["ok"], f"v1 failed for {network}: {v1}"
    plans_file, output_folder, dataset_directory, batch_dice, stage, cls = v1["tuple"]
    assert ours.as_v1_tuple()[:5] == (plans_file, output_folder, dataset_directory, batch_dice, stage)
    assert cls == "nnunet.training.network_training.nnUNetTrainerV2.nnUNetTrainerV2"
    assert ours.trainer_class.__name__ == "nnUNetTrainerV2"
    # the whole printed block, character for character (includes v1's summarize_plans output)
    assert ours.printed_text == v1["text"]


@pytest.mark.parity
def test_one_stage_plans_match_v1(v1_ct_task):
    ws, task = v1_ct_task.workspace, v1_ct_task.task_name
    networks = ["2d", "3d_fullres", "3d_lowres", "3d_cascade_fullres", "3d"]
    v1 = run_v1_configurations(ws, task, networks)
    for network in ("2d", "3d_fullres"):
        compare(v1[network], get_default_configuration(network, task, "nnUNetTrainerV2", workspace=ws), network)
    # v1 rule: 3d_fullres on one-stage plans uses sample dice; 2d uses batch dice
    assert v1["3d_fullres"]["tuple"][3] is False and v1["2d"]["tuple"][3] is True
    for network in ("3d_lowres", "3d_cascade_fullres"):
        assert v1[network]["type"] == "RuntimeError"
        with pytest.raises(ConfigurationError) as info:
            get_default_configuration(network, task, "nnUNetTrainerV2", workspace=ws)
        assert v1[network]["message"] in str(info.value)
        assert f"train 3d_fullres nnUNetTrainerV2 {task}" in info.value.fix
    assert v1["3d"]["type"] == "AssertionError"
    with pytest.raises(ConfigurationError) as info:
        get_default_configuration("3d", task, "nnUNetTrainerV2", workspace=ws)
    assert v1["3d"]["message"] in str(info.value)


@pytest.mark.parity
def test_two_stage_plans_match_v1(two_stage_workspace, v1_ct_task):
    ws, task = two_stage_workspace, v1_ct_task.task_name
    networks = ["3d_lowres", "3d_fullres", "3d_cascade_fullres"]
    v1 = run_v1_configurations(ws, task, networks)
    for network in networks:
        compare(v1[network], get_default_configuration(network, task, "nnUNetTrainerV2", workspace=ws), network)
    # v1 rule: stage 0 and sample dice for lowres; last stage and batch dice for the full-resolution networks
    assert [v1[n]["tuple"][3:5] for n in networks] == [[False, 0], [True, 1], [True, 1]]


def test_missing_plans_names_the_command_that_writes_them(workspace):
    (workspace.preprocessed / "Task555_Missing").mkdir(parents=True)
    with pytest.raises(PlansError) as info:
        get_default_configuration("3d_fullres", "Task555_Missing", "nnUNetTrainerV2", workspace=workspace)
    assert "nnUNetPlansv2.1_plans_3D.pkl does not exist" in str(info.value)
    assert "nnunet-explorer plan_and_preprocess -t 555" in info.value.fix


def test_unknown_trainer_lists_the_known_ones(v1_ct_task):
    with pytest.raises(ConfigurationError) as info:
        get_default_configuration("3d_fullres", v1_ct_task.task_name, "nnUNetTrainerV3", workspace=v1_ct_task.workspace)
    message = str(info.value)
    assert "unknown trainer 'nnUNetTrainerV3'" in message
    assert "Known trainers are: NetworkTrainer, nnUNetTrainer, nnUNetTrainerV2" in message
