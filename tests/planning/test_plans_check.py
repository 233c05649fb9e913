"""Stored plans against what v1's planner computes (check_plans, plans_card), and v1's block as numpy 1.x printed it."""
from __future__ import annotations

import copy
import re

import numpy as np
import pytest

from nnunet_explorer.planning.plans import load_plans, summarize_plans_items, summarize_plans_text
from nnunet_explorer.planning.replan import check_plans
from nnunet_explorer.teaching import set_language

FLAG = "\u26a0"
CJK = re.compile(r"[\u4e00-\u9fff]")


pytestmark = pytest.mark.usefixtures("english")  # the cards in English (tests/conftest.py)


def _plans(v1_ct_task, which: str = "3D") -> dict:
    return load_plans(v1_ct_task.preprocessed_dir / f"nnUNetPlansv2.1_plans_{which}.pkl")


def _flagged(card) -> list[str]:
    return [r.key for r in card.rows if r.value.endswith(FLAG)]


def test_plans_card_flags_nothing_on_v1s_own_plans(v1_ct_task):
    from nnunet_explorer.views.cards import plans_card

    for which in ("3D", "2D"):
        plans = _plans(v1_ct_task, which)
        check = check_plans(plans)
        assert check.available and check.matches, check.text()
        card = plans_card(plans)
        assert _flagged(card) == [] and FLAG not in card.text()
        assert "no value differs" in card.text()
        # without decisions passed, the reasons come from re-planning the plans' own fingerprint
        assert "no planner rule" not in card.row("patch_size").why


def test_plans_card_flags_hand_edited_values_of_task_901(v1_ct_task):
    from nnunet_explorer.views.cards import plans_card

    original = _plans(v1_ct_task)
    v1_batch = int(original["plans_per_stage"][0]["batch_size"])
    edited = copy.deepcopy(original)
    edited["plans_per_stage"][0]["batch_size"] = v1_batch + 5
    edited["use_mask_for_norm"] = {0: True}
    card = plans_card(edited)
    assert sorted(_flagged(card)) == ["batch_size", "use_mask_for_norm"]
    why = card.row("batch_size").why
    assert f"stored {v1_batch + 5}, v1's planner computes {v1_batch}" in why
    # the batch row's reason is v1's rule on the stored patch, and it gives v1's batch, not the edited one
    assert f"-> {v1_batch}" in why and "stored patch" in why
    text = card.text()
    assert "2 value(s) differ" in text and "change_batch_size.py" in text
    # a key without a row is still listed in the notes
    edited["transpose_backward"] = [2, 1, 0]
    check = check_plans(edited)
    assert {(d.key, d.stage) for d in check.differences} == {("batch_size", 0), ("use_mask_for_norm", None),
                                                              ("transpose_backward", None)}
    assert "transpose_backward" in plans_card(edited, check=check).text()
    set_language("zh")
    zh_card = plans_card(edited, check=check)
    assert CJK.search(zh_card.row("batch_size").why) and "v1 的规划器算出" in zh_card.text()


def test_an_edited_patch_is_flagged_and_its_dummy_2d_reason_cites_the_stored_patch(v1_ct_task):
    from nnunet_explorer.views.cards import plans_card

    edited = copy.deepcopy(_plans(v1_ct_task))
    stage = edited["plans_per_stage"][0]
    stage["patch_size"] = np.array([8, 40, 40])
    card = plans_card(edited)
    assert "patch_size" in _flagged(card)
    dummy = card.row("do_dummy_2D_data_aug").why
    assert "40 / 8 = 5 > 3 -> True" in dummy  # v1's rule on the patch these plans hold, not the planner's patch
    assert "do_dummy_2D_data_aug" in _flagged(card)  # the stored False is not what the rule gives for 8x40x40


def test_a_patch_the_pooling_does_not_divide_gets_a_warning_before_the_network_fails(v1_ct_task):
    """v1's planner pads every patch axis to a multiple of its pooling product; a hand edit that breaks it makes
    Generic_UNet fail, so the plans card warns (and v1's own plans never get the warning)."""
    from nnunet_explorer.teaching.plans_notes import plans_check_notes
    from nnunet_explorer.views.cards import plans_card

    for which in ("3D", "2D"):
        assert not [n for n in plans_check_notes(_plans(v1_ct_task, which)) if n.kind == "pitfall"]
    edited = copy.deepcopy(_plans(v1_ct_task))
    stage = edited["plans_per_stage"][0]
    divisor = [int(v) for v in np.prod(np.asarray(stage["pool_op_kernel_sizes"]), axis=0)]
    patch = [int(v) for v in stage["patch_size"]]
    patch[-1] += 1  # one voxel more on the last axis
    stage["patch_size"] = np.array(patch)
    (pitfall,) = [n for n in plans_check_notes(edited, 0) if n.kind == "pitfall"]
    assert pitfall.text.startswith(f"The patch {patch} is no multiple of the product of the pooling kernels {divisor} "
                                   f"on axis [{len(patch) - 1}]")
    assert "Sizes of tensors must match" in plans_card(edited).text()
    set_language("zh")
    (zh,) = [n for n in plans_check_notes(edited, 0) if n.kind == "pitfall"]
    assert CJK.search(zh.text) and zh.heading == "这个 patch 与池化"


def test_a_patch_made_smaller_without_its_pooling_gets_a_warning_before_the_network_fails(v1_ct_task):
    """A patch that leaves one voxel at the deepest level (the product of its poolings): instance norm fails in
    Generic_UNet, so the plans card warns; a patch with two voxels on one axis there does not get the warning."""
    from nnunet_explorer.teaching.plans_notes import plans_check_notes

    edited = copy.deepcopy(_plans(v1_ct_task))
    stage = edited["plans_per_stage"][0]
    divisor = [int(v) for v in np.prod(np.asarray(stage["pool_op_kernel_sizes"]), axis=0)]
    stage["patch_size"] = np.array(divisor)
    (pitfall,) = [n for n in plans_check_notes(edited, 0) if n.kind == "pitfall"]
    assert pitfall.text.startswith(f"The patch {divisor} leaves one voxel at the network's deepest level (the product "
                                   f"of the pooling kernels is {divisor})")
    assert "Expected more than 1 spatial element when training" in pitfall.text
    stage["patch_size"] = np.array([divisor[0] * 2, *divisor[1:]])
    assert not [n for n in plans_check_notes(edited, 0) if n.kind == "pitfall"]

def test_plans_without_their_fingerprint_are_not_compared_and_the_card_says_so(v1_ct_task):
    from nnunet_explorer.fileio import load_pickle
    from nnunet_explorer.views.cards import plans_card

    plans = _plans(v1_ct_task)
    props = plans.pop("dataset_properties")
    plans["plans_per_stage"][0]["batch_size"] = 9
    check = check_plans(plans)
    assert not check.available and check.missing == "fingerprint"
    card = plans_card(plans)
    assert _flagged(card) == [] and "Not compared with v1's planner" in card.text()
    assert "dataset_properties.pkl" in card.text()
    # given the task's fingerprint, the same plans are compared
    fingerprint = load_pickle(v1_ct_task.workspace.cropped_task_dir(v1_ct_task.task_name) / "dataset_properties.pkl")
    assert props is not None and fingerprint["all_classes"] == props["all_classes"]
    assert _flagged(plans_card(plans, dataset_properties=fingerprint)) == ["batch_size"]
    del plans["list_of_npz_files"]
    assert check_plans(plans, dataset_properties=fingerprint).missing == "cases"


def test_summarize_plans_prints_numpy_scalars_as_numpy_1():
    """v1's block as the blog shows it: ``False`` and ``6``, not numpy 2's ``np.False_`` / ``np.int64(6)``."""
    from collections import OrderedDict

    stage = {"batch_size": np.int64(6), "patch_size": np.array([40, 40]), "do_dummy_2D_data_aug": np.False_,
             "current_spacing": np.array([3.0, 0.8, 0.8]), "scale": np.float64(0.5)}
    plans = {"num_classes": 2, "modalities": {0: "CT"}, "use_mask_for_norm": OrderedDict([(0, np.False_)]),
             "keep_only_largest_region": None, "min_region_size_per_class": None, "min_size_per_class": None,
             "normalization_schemes": OrderedDict([(0, "CT")]), "plans_per_stage": {0: stage}}
    text = summarize_plans_text(plans)
    assert "np." not in text
    assert "'batch_size': 6," in text and "'do_dummy_2D_data_aug': False" in text and "'scale': 0.5}" in text
    assert "use_mask_for_norm OrderedDict([(0, False)])" in text
    assert "'patch_size': array([40, 40])" in text
    items = {(k, s): v for k, s, v in summarize_plans_items(plans)}
    assert items[("batch_size", 0)] == "6" and items[("use_mask_for_norm", None)] == "OrderedDict([(0, False)])"
    assert "np." in repr(np.int64(6))  # numpy 2 is what makes the difference here
