"""The plans and configuration cards speak the reader's language: no English prose under ``zh``, no Chinese in
English (the rule of ``tests/zh_share_rule.py``: code, identifiers and v1's printed block are not prose)."""
from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace

import pytest

from nnunet_explorer.language import set_language, tr
from nnunet_explorer.planning.plans import summarize_plans_text
from nnunet_explorer.samples.kits19 import blog_plans, kits19_fingerprint, plan_from_fingerprint


@pytest.fixture(autouse=True)
def _default_language():
    yield
    set_language(None)


@pytest.fixture(scope="module")
def kits19_plans() -> tuple[dict, dict]:
    """v1's 3D and 2D plans for KiTS19's fingerprint (planned in memory, nothing written)."""
    return plan_from_fingerprint(kits19_fingerprint(), Path("/cropped/Task040_KiTS"), Path("/pre/Task040_KiTS"))


def _plans_cards(kits19_plans) -> list:
    """Every kind of row and footer: v1's plans (3D, 2D), the blog's edited ones, plans without their fingerprint
    and a row no rule explains."""
    from nnunet_explorer.planning.explain import Decision
    from nnunet_explorer.views.cards import plans_card

    plans_3d, plans_2d = kits19_plans
    edited = blog_plans(plans_3d)
    edited["transpose_backward"] = [2, 1, 0]
    bare = copy.deepcopy(plans_3d)
    del bare["dataset_properties"]
    small = {"num_stages": 1, "num_classes": 2, "data_identifier": "nnUNetData_plans_v2.1",
             "plans_per_stage": {0: {"patch_size": [16, 40, 40], "batch_size": 2}}}
    # a decision as the planner records it: its text in the language of the moment
    told = [Decision("3d", "3d_fullres", "patch_size", "median spacing", [16, 40, 40],
                     tr("clipped to the median shape", "裁剪到中位形状"))]
    return [plans_card(plans_3d), plans_card(plans_2d), plans_card(edited), plans_card(bare), plans_card(small),
            plans_card(small, told)]


def _configuration_cards(kits19_plans) -> list:
    from nnunet_explorer.views.cards import configuration_card

    plans = blog_plans(kits19_plans[0])
    cards = []
    for network, stages, stage, batch_dice in (("2d", 1, 0, True), ("3d_fullres", 1, 0, False),
                                               ("3d_fullres", 2, 1, True), ("3d_lowres", 2, 0, False),
                                               ("3d_cascade_fullres", 2, 1, True)):
        cards.append(configuration_card(SimpleNamespace(
            network=network, num_stages=stages, stage=stage, batch_dice=batch_dice, task="Task040_KiTS",
            plans_file=Path(f"/pre/Task040_KiTS/nnUNetPlansv2.1_plans_{'2D' if network == '2d' else '3D'}.pkl"),
            trainer_class=type("nnUNetTrainerV2", (), {}), plans_identifier="nnUNetPlansv2.1",
            output_folder_name=Path("/results/nnUNet") / network / "Task040_KiTS" / "nnUNetTrainerV2__nnUNetPlansv2.1",
            dataset_directory=Path("/pre/Task040_KiTS"),
            folder_with_preprocessed_data=Path(f"/pre/Task040_KiTS/nnUNetData_plans_v2.1_stage{stage}"),
            # the blog's one-stage plans and v1's printed block for the 3d_fullres card: its notes explain them
            plans=plans if (network, stages) == ("3d_fullres", 1) else None,
            printed_text=summarize_plans_text(plans) if (network, stages) == ("3d_fullres", 1) else "")))
    return cards


def test_the_cards_hold_no_english_prose_under_zh(kits19_plans):
    from ..zh_share_rule import CJK, english_blocks

    set_language("zh")
    for card in _plans_cards(kits19_plans) + _configuration_cards(kits19_plans):
        page = card._repr_html_()
        assert english_blocks(page) == [], card.title
        assert CJK.search(card.title) and CJK.search(card.intro) and CJK.search(card.footer)
        assert all(CJK.search(row.why) for row in card.rows if row.why and not row.why.startswith("<")), card.title
        assert "原因" in card.text() and "<th>原因</th>" in page


def test_the_cards_hold_no_chinese_in_english(kits19_plans):
    from ..zh_share_rule import CJK

    set_language("en")
    for card in _plans_cards(kits19_plans) + _configuration_cards(kits19_plans):
        assert not CJK.search(card._repr_html_()) and not CJK.search(card.text()), card.title
        assert "<th>key</th><th>value</th><th>why</th>" in card._repr_html_() and "      why: " in card.text()


def test_the_rule_column_and_the_footer_count_under_zh(kits19_plans):
    """Rule names are shown in Chinese, and the planner constants still do not count as recorded decisions."""
    from nnunet_explorer.views.cards import plans_card

    set_language("en")
    english = plans_card(kits19_plans[0])
    set_language("zh")
    chinese = plans_card(kits19_plans[0])
    assert [r.key for r in english.rows] == [r.key for r in chinese.rows]
    assert [r.value for r in english.rows] == [r.value for r in chinese.rows]
    assert english.row("current_spacing").rule == "median spacing"
    assert chinese.row("current_spacing").rule == "spacing 中位数"
    assert chinese.row("conv_kernel_sizes").rule == "get_pool_and_conv_props"  # code stays code
    assert chinese.row("base_num_features").rule == "规划器常量"
    assert english.footer.startswith("13 of 19 values explained") and chinese.footer.startswith("19 个值中有 13 个")
