"""The Chinese teaching texts say the same numbers and name the same code as the English ones.

A translation can go wrong where no reader of one language notices: a weight, an epoch count or a function name
changed in one text and not in the other. Every English/Chinese pair (the ``{"en", "zh"}`` dicts of the
package, the glossary's terms, each walkthrough step's docstring with its translation in ``STEP_DOCS_ZH``, and
every ``tr(english, chinese)`` of the package: messages, fixes, console lines) must carry the same numbers and
the same code spans (in double or single backticks), each as many times. The few pairs where the languages
differ on purpose are listed below with the exact difference.
"""
from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

import pytest

from nnunet_explorer.teaching.step_docs import STEP_DOCS_ZH
from nnunet_explorer.walkthrough import WALKTHROUGH_STEPS

ROOT = Path(__file__).resolve().parents[1]
CODE = re.compile(r"``(.+?)``|(?<!`)`([^`\n]+)`(?!`)", re.S)
NUMBER = re.compile(r"(?<![A-Za-z_\d.])\d+(?:\.\d+)?(?:e-?\d+)?")

# (the start of the English text, numbers only in English, numbers only in Chinese): deliberate differences
NUMBER_EXCEPTIONS = [
    # "the mask zeroes only one output" is said as "把一个输出置 0"
    ("One output per decoder level (5 for KiTS19)", {}, {"0": 1}),
    # "weights 1 and 1" is said as "两者权重都为 1"
    ("``DC_and_CE_loss`` = CE + (-soft Dice), weights 1 and 1", {"1": 1}, {}),
    # the glossary's Chinese label keeps the English name in brackets: "伪 2D 数据增强 (dummy 2D)"
    ("dummy 2D augmentation", {}, {"2": 1}),
    # two errors whose Chinese text also quotes v1's English message (for searching the web)
    ("3d_lowres/3d_cascade_fullres only applies if there is more than one stage", {}, {"3": 2}),
    ("If running 3d_cascade_fullres then your trainer class must be derived", {}, {"3": 1}),
]
# (the start of the English text, code only in English, code only in Chinese)
CODE_EXCEPTIONS = [
    # the formula's words are translated inside the code span
    ("``process_plans`` reads the stage's patch size", {"round(0.05 * dataset voxels / patch voxels)": 1},
     {"round(0.05 * 数据集体素数 / patch 体素数)": 1}),
    ("convert it with v1's `nnUNet_convert_decathlon_task -i <path to {}>`",
     {"nnUNet_convert_decathlon_task -i <path to {}>": 1}, {"nnUNet_convert_decathlon_task -i <{} 的路径>": 1}),
]


def _text(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):  # an f-string: its fields are code, not prose
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def _pairs() -> list[tuple[str, str, str]]:
    pairs = []
    for path in sorted((ROOT / "nnunet_explorer").rglob("*.py")):
        where = path.relative_to(ROOT / "nnunet_explorer")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Dict):
                keys = [k.value if isinstance(k, ast.Constant) else None for k in node.keys]
                if "en" in keys and "zh" in keys:
                    en, zh = _text(node.values[keys.index("en")]), _text(node.values[keys.index("zh")])
                    pairs += [(f"{where}:{node.lineno}", en, zh)] if en and zh else []
            elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "tr" and len(node.args) >= 2:
                en, zh = _text(node.args[0]), _text(node.args[1])
                pairs += [(f"{where}:{node.lineno}", en, zh)] if en and zh else []
            elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Term":
                args = [_text(a) for a in node.args]
                pairs += [(f"{where}:{node.lineno}", en, zh) for en, zh in ((args[1], args[2]), (args[3], args[4]))
                          if en and zh]
    for step in WALKTHROUGH_STEPS:
        entry = STEP_DOCS_ZH.get(step.__name__)
        if entry is not None and step.__doc__:
            pairs.append((f"step {step.__name__}", step.__doc__, entry.zh))
    return pairs


PAIRS = _pairs()


def _numbers(text: str) -> Counter:
    prose = CODE.sub(" ", text).replace(",", "")  # thousands separators: 2,200 is 2200
    return Counter(NUMBER.findall(prose))


def _codes(text: str) -> Counter:
    return Counter(" ".join((a or b).split()) for a, b in CODE.findall(text))  # a line break in a span: a space


def _difference(en: Counter, zh: Counter) -> tuple[dict, dict]:
    return dict(en - zh), dict(zh - en)


def _exception(table: list, en: str) -> tuple[dict, dict]:
    return next(((only_en, only_zh) for start, only_en, only_zh in table if en.startswith(start)), ({}, {}))


def test_the_pairs_are_found():
    # the teaching dicts, the glossary (two pairs per term) and every translated step docstring
    assert len(PAIRS) > 250
    assert sum(where.startswith("step ") for where, _, _ in PAIRS) == len(STEP_DOCS_ZH)
    assert sum(where.startswith("teaching/glossary.py") for where, _, _ in PAIRS) >= 40


@pytest.mark.parametrize("where,en,zh", PAIRS, ids=[p[0] for p in PAIRS])
def test_the_same_numbers_in_both_languages(where, en, zh):
    assert _difference(_numbers(en), _numbers(zh)) == _exception(NUMBER_EXCEPTIONS, en), (en, zh)


@pytest.mark.parametrize("where,en,zh", PAIRS, ids=[p[0] for p in PAIRS])
def test_the_same_code_in_both_languages(where, en, zh):
    assert _difference(_codes(en), _codes(zh)) == _exception(CODE_EXCEPTIONS, en), (en, zh)


def test_each_exception_is_still_needed():
    used = [start for start, *_ in NUMBER_EXCEPTIONS + CODE_EXCEPTIONS
            if any(en.startswith(start) for _, en, _ in PAIRS)]
    assert used == [start for start, *_ in NUMBER_EXCEPTIONS + CODE_EXCEPTIONS]
