"""The planners' decision texts speak the reader's language: Chinese under ``zh``, unchanged English otherwise.

Only the prose changes with the language: every Decision keeps its key, stage, rule name and value (code and
tests match on them), so a trace made under ``zh`` holds the same decisions as one made in English.
"""
from __future__ import annotations

import re
from collections import OrderedDict

import numpy as np
import pytest

from nnunet_explorer.language import set_language
from nnunet_explorer.planning import planner2d, planner3d
from nnunet_explorer.planning.explain import RULE_NAMES, explain_trace, rule_name
from nnunet_explorer.planning.normalization import determine_normalization_scheme, \
    determine_whether_to_use_mask_for_norm
from nnunet_explorer.planning.replan import check_plans, replan
from nnunet_explorer.samples.kits19 import kits19_fingerprint

CJK = re.compile(r"[\u4e00-\u9fff]")
# rule names that are code, shown as they are in both languages
CODE_RULES = {"get_pool_and_conv_props", "max(patch) / patch[0] > 3"}


@pytest.fixture(autouse=True)
def _default_language():
    yield
    set_language(None)


def _fingerprint(spacing, size, cases, modalities, reduction=1.0, spread=False) -> dict:
    rng = np.random.default_rng(0)
    spacings = [np.array(spacing) * (1 + (0.3 * rng.random(3) if spread else 0)) for _ in range(cases)]
    return {"all_sizes": [tuple(size)] * cases, "all_spacings": spacings, "all_classes": [1, 2],
            "modalities": modalities, "intensityproperties": None,
            "size_reductions": OrderedDict((f"c{i}", reduction) for i in range(cases))}


FINGERPRINTS = {
    # KiTS19: one stage, the patch shrunk 8 times
    "kits19": kits19_fingerprint,
    # large MR + ct cases cropped to half: a 3d_lowres stage, the nonzero mask
    "two_stages": lambda: _fingerprint([1.0, 0.8, 0.8], [240, 512, 512], 40, {0: "T1", 1: "ct"}, reduction=0.5),
    # thick slices: the anisotropy rule and dummy 2D augmentation
    "anisotropic": lambda: _fingerprint([5.0, 0.7, 0.7], [20, 300, 300], 10, {0: "MR"}, spread=True),
    # small cases: no shrinking, the 5 % cap wins
    "small": lambda: _fingerprint([1.0, 1.0, 1.0], [36, 50, 35], 260, {0: "noNorm"}),
}


def _plan(props: dict, dim: str) -> tuple[dict, list]:
    trace: list = []
    use_mask = determine_whether_to_use_mask_for_norm(props["modalities"], props["size_reductions"], planner=dim,
                                                      trace=trace)
    schemes = determine_normalization_scheme(props["modalities"], planner=dim, trace=trace)
    plan = planner3d.plan_experiment_3d if dim == "3d" else planner2d.plan_experiment_2d
    plans = plan(props, list_of_npz_files=[f"/x/c{i}.npz" for i in range(len(props["all_sizes"]))],
                 preprocessed_output_folder="/p", normalization_schemes=schemes, use_mask_for_norm=use_mask,
                 trace=trace)
    return plans, trace


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(np.array_equal(np.asarray(a), np.asarray(b)))


@pytest.mark.parametrize("dim", ["3d", "2d"])
@pytest.mark.parametrize("name", sorted(FINGERPRINTS))
def test_every_decision_text_is_chinese_under_zh_and_english_otherwise(name, dim):
    props = FINGERPRINTS[name]()
    set_language("en")
    _, english = _plan(props, dim)
    set_language("zh")
    _, chinese = _plan(props, dim)
    assert [(d.planner, d.stage, d.key, d.rule) for d in english] == \
        [(d.planner, d.stage, d.key, d.rule) for d in chinese]
    assert all(_same(e.value, c.value) for e, c in zip(english, chinese))
    # each decision keeps its text in both languages and is read in the one in effect (zh here)
    assert [d.text for d in chinese + english if not CJK.search(d.text)] == []
    assert [d.texts for d in chinese] == [d.texts for d in english]
    assert [d.texts["en"] for d in english if CJK.search(d.texts["en"])] == []
    # the rendered trace: each line names its rule in Chinese (or as code) and explains in Chinese
    lines = explain_trace(chinese).splitlines()
    assert len(lines) == len(chinese) and all(CJK.search(line.split("\uff1a", 1)[1]) for line in lines)
    set_language("en")
    assert not CJK.search(explain_trace(english))
    # a trace is read in the language in effect when it is read, whichever was in effect when it was made
    assert explain_trace(chinese) == explain_trace(english)
    set_language("zh")
    assert explain_trace(english) == "\n".join(lines)
    set_language("en")


def test_the_fingerprints_reach_every_rule():
    """The fingerprints above make the planners record every rule they have (so every text is tested)."""
    set_language("en")
    traces = [_plan(make(), dim)[1] for make in FINGERPRINTS.values() for dim in ("3d", "2d")]
    rules = {d.rule for trace in traces for d in trace}
    assert rules == {names["en"] for names in RULE_NAMES} | CODE_RULES
    texts = " ".join(d.text for trace in traces for d in trace)
    for branch in ("shrunk", "so no shrinking", "below the reference", "the cap wins", "augment in 2D slices",
                   "stage kept", "10th percentile", "anisotropy rule not applied"):
        assert branch in texts, branch


def test_rule_names_are_translated_for_display_only():
    set_language("zh")
    for names in RULE_NAMES:
        assert CJK.search(rule_name(names["en"])) and not CJK.search(names["en"])
    assert all(rule_name(rule) == rule for rule in CODE_RULES)
    assert rule_name("a rule no planner records") == "a rule no planner records"
    set_language("en")
    assert all(rule_name(names["en"]) == names["en"] for names in RULE_NAMES)


def test_replanning_and_the_plans_check_speak_the_language():
    plans, _ = _plan(kits19_fingerprint(), "3d")
    edited = dict(plans, transpose_backward=[2, 1, 0])
    set_language("zh")
    assert CJK.search(replan(plans).explain().splitlines()[0])
    head, *items = check_plans(edited).text().splitlines()
    assert CJK.search(head) and all(CJK.search(i) and "transpose_backward" in i for i in items)
    explained = replan(edited).explain().splitlines()
    assert CJK.search(explained[0]) and CJK.search(explained[len(items) + 1])
    assert CJK.search(check_plans({k: v for k, v in plans.items() if k != "dataset_properties"}).text())
    set_language("en")
    assert check_plans(edited).text().startswith("differs from what v1's v2.1 planner computes:")
    assert replan(plans).explain().startswith("re-planning reproduces the stored plans; the decisions were:")
    assert not CJK.search(replan(edited).explain())


def test_a_replanning_made_in_english_reads_in_chinese_after_the_switch():
    """The trace and the differences keep both languages: switching after ``replan`` changes what it says."""
    plans, _ = _plan(kits19_fingerprint(), "3d")
    set_language("en")
    made = replan(dict(plans, transpose_backward=[2, 1, 0]))
    english = made.explain()
    set_language("zh")
    chinese = made.explain().splitlines()
    set_language("en")
    assert not CJK.search(english) and len(chinese) == len(english.splitlines())
    assert all(CJK.search(line) for line in chinese if line.strip())


def test_speaking_changes_the_language_for_its_own_thread_and_block_only():
    import threading

    from nnunet_explorer.language import get_language, in_every_language, speaking, tr

    set_language("en")
    seen = {}
    inside, leave = threading.Event(), threading.Event()

    def other_thread():
        with speaking("zh"):
            seen["inside"] = get_language()
            inside.set()
            leave.wait(5)
        seen["after"] = get_language()

    worker = threading.Thread(target=other_thread)
    worker.start()
    inside.wait(5)
    seen["main, meanwhile"] = get_language()
    leave.set()
    worker.join(5)
    assert seen == {"inside": "zh", "main, meanwhile": "en", "after": "en"}
    assert in_every_language(lambda: tr("stage", "阶段")) == {"en": "stage", "zh": "阶段"}
    assert get_language() == "en"
