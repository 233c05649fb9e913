"""The blog's KiTS19 plans are taught as the blog's, not as v1's: the report names v1's 96x160x160 / batch 2.

Guards issue 20's first wrong lesson: "batch is floor(max(ref / vram, 1) * 2) ... KiTS19: patch 80x160x160,
batch 3", and "do_dummy_2D_data_aug ... why: 160 / 96" next to patch 80.
"""
from __future__ import annotations

import html
import math
import pickle
import re

import numpy as np
import pytest

from nnunet_explorer.fileio import load_pickle
from nnunet_explorer.parity import run_v1_python
from nnunet_explorer.paths import resolve_workspace
from nnunet_explorer.planning import planner3d
from nnunet_explorer.samples import kits19
from nnunet_explorer.teaching import set_language, step_notes

CJK = re.compile(r"[\u4e00-\u9fff]")
BLOG = "nnUNetPlansv2.1_plans_3D.pkl"
AS_PLANNED = f"{kits19.AS_PLANNED_IDENTIFIER}_plans_3D.pkl"


pytestmark = pytest.mark.usefixtures("english")  # the cards in English (tests/conftest.py)


@pytest.fixture(scope="module")
def walked(kits_ws):
    """The blog's command, ``train 3d_fullres nnUNetTrainerV2 40 1``, through the plans and the network."""
    from nnunet_explorer.walkthrough import training_walkthrough

    pipeline = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 40, 1, workspace=kits_ws, single_threaded=True)
    pipeline.run(until="architecture")
    return pipeline


def _card(pipeline, name: str) -> str:
    """The card's HTML with entities decoded (``v1's``, not ``v1&#x27;s``)."""
    return html.unescape(pipeline.result(name)._repr_html_())


def _plans(ws, name: str) -> dict:
    return load_plans_file(ws.preprocessed_task_dir("Task040_KiTS") / name)


def load_plans_file(path):
    from nnunet_explorer.planning.plans import load_plans

    return load_plans(path)


def v1_batch_rule(plans: dict) -> int:
    """v1's own 3D batch rule (``ExperimentPlanner3D_v21.get_properties_for_stage``) for the stored patch."""
    pytest.importorskip("nnunet")
    from nnunet.network_architecture.generic_UNet import Generic_UNet

    sp = plans["plans_per_stage"][0]
    here = Generic_UNet.compute_approx_vram_consumption(np.array(sp["patch_size"]), sp["num_pool_per_axis"], 32, 320,
                                                        1, plans["num_classes"] + 1, sp["pool_op_kernel_sizes"],
                                                        conv_per_stage=2)
    ref = Generic_UNet.use_this_for_batch_size_computation_3D * 32 / Generic_UNet.BASE_NUM_FEATURES_3D
    batch = int(np.floor(max(ref / here, 1) * Generic_UNet.DEFAULT_BATCH_SIZE_3D))
    cap = max(np.round(0.05 * np.prod(sp["median_patient_size_in_voxels"]) * len(plans["list_of_npz_files"])
                       / np.prod(sp["patch_size"], dtype=np.int64)).astype(int), 2)
    return max(1, min(batch, cap))


def test_the_report_names_v1s_own_plan_for_kits19(walked):
    for name in ("configuration", "plans_processed"):
        card = _card(walked, name)
        assert "96x160x160" in card and f"-p {kits19.AS_PLANNED_IDENTIFIER}" in card, name
        assert "not what nnU-Net v1 1.7.1" in card and "the blog does not say" in card, name
    set_language("zh")
    card = _card(walked, "plans_processed")
    assert "96x160x160" in card and "原博客没有说明" in card and f"-p {kits19.AS_PLANNED_IDENTIFIER}" in card


def test_the_rule_is_never_said_to_give_the_blogs_batch_3(walked, kits_ws):
    plans = walked["trainer"].plans
    assert int(plans["plans_per_stage"][0]["batch_size"]) == 3  # the blog's plans, as the blog's command reads them
    by_v1 = v1_batch_rule(plans)
    assert by_v1 == 2
    card = _card(walked, "plans_processed")
    assert f"v1's rule gives batch {by_v1}; these plans say 3" in card
    assert "rule gives batch 3" not in card
    # the lesson that came back would be the catalogue's: no KiTS19 batch in the rule's text, in either language
    for lang in ("en", "zh"):
        fact = step_notes("plans_processed", lang).why[0].text
        assert "batch 3" not in fact and "80x160x160" not in fact, lang
    # the batch rule with this run's numbers: the VRAM proxy of the stored patch and the planner's reference
    assert "444,272,000" in card and "554,666,667" in card


def test_the_dummy_2d_reason_is_the_stored_patchs(kits_ws):
    from nnunet_explorer.views.cards import plans_card

    card = plans_card(_plans(kits_ws, BLOG))
    why = card.row("do_dummy_2D_data_aug").why
    assert "160 / 80 = 2 <= 3" in why and "/ 96" not in why
    assert card.row("patch_size").value.endswith("\u26a0") and card.row("batch_size").value.endswith("\u26a0")
    assert "stored 3, v1's planner computes 2" in card.row("batch_size").why
    assert "stored [80, 160, 160], v1's planner computes [96, 160, 160]" in card.row("patch_size").why
    # every other row agrees with v1's planner
    assert [r.key for r in card.rows if r.value.endswith("\u26a0")] == ["patch_size", "batch_size"]


def test_v1s_own_kits19_plans_are_not_flagged_and_name_the_blogs(kits_ws):
    from nnunet_explorer.views.cards import plans_card

    card = plans_card(_plans(kits_ws, AS_PLANNED))
    text = " ".join(card.text().split())  # the notes are wrapped
    assert "\u26a0" not in text
    assert "nnU-Net v1 1.7.1's own plans for KiTS19's fingerprint: patch 96x160x160, batch 2" in text
    assert "patch 80x160x160 and batch 3 instead" in text


def test_no_memory_reference_gives_the_blogs_pair_under_v1s_rules(monkeypatch):
    """The card's claim: whatever the reference, v1 1.7.1's rules never plan 80x160x160 with batch 3 here."""
    props = kits19.kits19_fingerprint()
    seen = set()
    for reference in np.geomspace(2e8, 4e9, 60):
        monkeypatch.setattr(planner3d, "use_this_for_batch_size_computation_3D", reference)
        stages, _, _ = planner3d.plan_stages_3d(props, kits19.NUM_KITS19_CASES)
        full = stages[max(stages)]
        seen.add((tuple(int(v) for v in full["patch_size"]), int(full["batch_size"])))
    assert ((80, 160, 160), 2) in seen and ((96, 160, 160), 2) in seen
    assert ((80, 160, 160), 3) not in seen


@pytest.mark.parity
def test_v1s_larger_memory_planners_do_not_give_the_blogs_pair_either(tmp_path):
    """v1's own 11GB / 16GB / 32GB planners on KiTS19's fingerprint (as the KiTS19 card says)."""
    crop, pre = tmp_path / "cropped", tmp_path / "pre"
    crop.mkdir()
    pre.mkdir()
    with open(crop / "dataset_properties.pkl", "wb") as f:
        pickle.dump(kits19.kits19_fingerprint(), f)
    for case in kits19.kits19_case_ids():
        (crop / f"{case}.npz").write_bytes(b"")
        with open(crop / f"{case}.pkl", "wb") as f:
            pickle.dump({}, f)
    names = {"11GB": "big", "16GB": "16GB", "32GB": "verybig"}
    code = "".join(
        f"from nnunet.experiment_planning.alternative_experiment_planning.experiment_planner_baseline_3DUNet_v21_{g} "
        f"import ExperimentPlanner3D_v21_{g}\nExperimentPlanner3D_v21_{g}({str(crop)!r}, {str(pre)!r})"
        ".plan_experiment()\n" for g in names)
    ws = resolve_workspace({"nnUNet_raw_data_base": str(tmp_path / "raw"), "nnUNet_preprocessed": str(tmp_path / "p"),
                            "RESULTS_FOLDER": str(tmp_path / "r")})
    run_v1_python(code, ws, timeout=300)
    pairs = []
    for name in names.values():
        plans = load_pickle(pre / f"nnUNetPlansv2.1_{name}_plans_3D.pkl")
        stage = plans["plans_per_stage"][max(plans["plans_per_stage"])]
        pairs.append((tuple(int(v) for v in stage["patch_size"]), int(stage["batch_size"])))
    assert ((80, 160, 160), 3) not in pairs and len(pairs) == 3
    assert all(math.prod(patch) >= 96 * 160 * 160 for patch, _ in pairs)  # more memory, never a smaller patch
