"""The Chinese notebooks (``notebooks/zh/``) are the English notebooks 01-08 translated, not rewritten.

A student who follows the blog in Chinese (notebook 00) goes on with the same notebooks in Chinese. Each
``notebooks/zh/NN_name.py`` holds the English notebook's cells in the same order, with one code cell added before
the first code cell that switches the cards to Chinese. Its markdown cells are translations: each holds Chinese
and says the same numbers and names the same code (backtick spans) as the English cell, the rule
``tests/test_zh_consistency.py`` applies to the package's texts. Its code cells do what the English ones do: the
same tokens once comments are set aside, and string literals equal unless translated into Chinese (a comment, a
printed sentence or an assertion on a Chinese card's text may be translated; a key, a name, a number or an
operator may not). ``tests/notebooks/test_notebooks.py`` runs them; this file checks the pairing without
running them.
"""
from __future__ import annotations

import io
import tokenize
from pathlib import Path

import pytest

from ..test_zh_consistency import _codes, _numbers
from ..zh_share_rule import CJK
from .test_notebooks import check_paired_and_clean

jupytext = pytest.importorskip("jupytext")
nbformat = pytest.importorskip("nbformat")

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
ZH = NOTEBOOKS / "zh"
TRANSLATED = ["01_configuration", "02_trainer_and_network", "03_data_and_augmentation", "04_one_iteration",
              "05_train_live", "06_validation_and_inference", "07_bring_your_own_network", "08_cascade"]
LANGUAGE_CELL = 'from nnunet_explorer.teaching import set_language\nset_language("zh")'

# token types that carry no logic: comments and line breaks; the parts of an f-string (3.12 splits them) are joined
_SKIPPED = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE}


def logic(source: str) -> list[tuple[int, str]]:
    """The cell's tokens without comments and line breaks; a string literal (an f-string whole) is one token.

    IPython magics (``%matplotlib inline``) tokenize as operators and names, the same in both languages."""
    out: list[tuple[int, str]] = []
    depth = 0  # inside an f-string on 3.12: everything up to its end belongs to the one string token
    for token in tokenize.generate_tokens(io.StringIO(source + "\n").readline):
        name = tokenize.tok_name.get(token.type, "")
        if token.type in _SKIPPED:
            continue
        if depth or name == "FSTRING_START":
            if name == "FSTRING_START" and not depth:
                out.append((tokenize.STRING, ""))
            depth += name == "FSTRING_START"
            depth -= name == "FSTRING_END"
            out[-1] = (tokenize.STRING, out[-1][1] + token.string)
        else:
            out.append((token.type, token.string))
    return out


def same_logic(english: str, chinese: str) -> bool:
    """The same tokens in the same order, where a string literal may differ only by being translated (holding
    Chinese): printed sentences and checks of a Chinese card's words; keys, names and paths stay."""
    en, zh = logic(english), logic(chinese)
    return len(en) == len(zh) and all(a == b or (a[0] == b[0] == tokenize.STRING and CJK.search(b[1]))
                                      for a, b in zip(en, zh))


def _pairs(stem: str):
    english = jupytext.read(NOTEBOOKS / f"{stem}.py").cells
    chinese = jupytext.read(ZH / f"{stem}.py").cells
    first_code = next(i for i, c in enumerate(chinese) if c.cell_type == "code")
    language_cell = chinese[first_code]
    rest = chinese[:first_code] + chinese[first_code + 1:]
    return english, rest, language_cell


def test_the_chinese_notebooks_are_paired_clean_and_complete():
    assert sorted(p.stem for p in ZH.glob("[0-9][0-9]_*.py")) == TRANSLATED
    assert sorted(p.stem for p in ZH.glob("*.ipynb")) == TRANSLATED
    for stem in TRANSLATED:
        check_paired_and_clean(ZH / f"{stem}.py")


@pytest.mark.parametrize("stem", TRANSLATED)
def test_a_chinese_notebook_has_the_english_cells_in_order_with_the_same_code(stem):
    english, chinese, language_cell = _pairs(stem)
    assert language_cell.source.startswith(LANGUAGE_CELL), language_cell.source
    assert [c.cell_type for c in chinese] == [c.cell_type for c in english], f"zh/{stem}: cells added or missing"
    for i, (en, zh) in enumerate(zip(english, chinese)):
        if en.cell_type == "code":
            assert same_logic(en.source, zh.source), f"zh/{stem} cell {i}: the code differs\n{zh.source}"


@pytest.mark.parametrize("stem", TRANSLATED)
def test_each_markdown_cell_is_a_chinese_translation_with_the_same_numbers_and_code(stem):
    english, chinese, _ = _pairs(stem)
    for i, (en, zh) in enumerate(zip(english, chinese)):
        if en.cell_type != "markdown":
            continue
        assert CJK.search(zh.source), f"zh/{stem} cell {i} is not translated:\n{zh.source}"
        assert _numbers(zh.source) == _numbers(en.source), (f"zh/{stem} cell {i}: numbers differ",
                                                             dict(_numbers(en.source) - _numbers(zh.source)),
                                                             dict(_numbers(zh.source) - _numbers(en.source)))
        assert _codes(zh.source) == _codes(en.source), (f"zh/{stem} cell {i}: code spans differ",
                                                        dict(_codes(en.source) - _codes(zh.source)),
                                                        dict(_codes(zh.source) - _codes(en.source)))


def test_the_code_rule_sees_logic_and_ignores_prose():
    assert same_logic('print("epoch done")  # one epoch', 'print("一个 epoch 完成")  # 一个 epoch')
    assert same_logic('x = f"{a} of {b}"', 'x = f"{b} 中的 {a}"')
    assert not same_logic("x = 2", "x = 3")
    assert not same_logic("p.run(until='plans')", "p.run(until='plans_processed')")  # a key, not prose
    assert not same_logic("a.b(c)", "a.b(d)")
    assert not same_logic('f(x, "a")', 'f(x)')
