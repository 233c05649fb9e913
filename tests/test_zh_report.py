"""Chinese all the way: under ``zh`` the report's prose, the walkthrough's console and the CLI's messages are
Chinese (identifiers, v1's printed block and code stay); in English nothing Chinese leaks into the prose."""
from __future__ import annotations

import inspect
import re

import pytest

from nnunet_explorer.cli import main
from nnunet_explorer.explore import Pipeline, make_step
from nnunet_explorer.language import ENV_VAR, set_language, tr
from nnunet_explorer.teaching import attach_teaching
from nnunet_explorer.teaching.step_docs import STEP_DOCS_ZH, doc_fingerprint, step_doc_zh
from nnunet_explorer.teaching.why import step_notes
from nnunet_explorer.walkthrough import WALKTHROUGH_STEPS

from .zh_share_rule import CJK, english_blocks, prose_blocks, zh_share

CODE = re.compile(r"``(.+?)``", re.S)


@pytest.fixture(autouse=True)
def default_language(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    set_language(None)
    yield
    set_language(None)


@pytest.mark.parametrize("step", WALKTHROUGH_STEPS, ids=lambda f: f.__name__)
def test_every_step_docstring_has_a_current_chinese_translation_with_the_same_code(step):
    entry = STEP_DOCS_ZH.get(step.__name__)
    assert entry is not None, f"no Chinese docstring for {step.__name__} (teaching/step_docs.py)"
    assert entry.source == doc_fingerprint(step.__doc__), (
        f"{step.__name__}'s docstring changed: translate the new text and set its fingerprint to "
        f"{doc_fingerprint(step.__doc__)!r} in teaching/step_docs.py")
    zh = step_doc_zh(step.__name__, step.__doc__)
    english = inspect.cleandoc(step.__doc__)
    assert CJK.search(zh.splitlines()[0]) and zh.count("\n\n") == english.count("\n\n")  # lead, then paragraphs
    # identifiers are quoted, never translated: the same code quotes in both languages
    assert ({" ".join(c.split()) for c in CODE.findall(zh)} == {" ".join(c.split()) for c in CODE.findall(english)})


def test_a_stale_translation_is_never_shown():
    name = WALKTHROUGH_STEPS[0].__name__
    assert step_notes(name, "zh", docstring=WALKTHROUGH_STEPS[0].__doc__).doc.startswith("``nnUNet_train`` 的参数")
    assert step_notes(name, "zh", docstring="A docstring someone rewrote.").doc == ""  # the card shows the English
    assert step_notes(name, "en", docstring=WALKTHROUGH_STEPS[0].__doc__).doc == ""


def _double(x: int, *, factor: int = 2) -> int:
    """Doubles its input, a test step whose docstring has no translation.

    Its card still gets the card's own words in the reader's language."""
    return x * factor


def _source() -> int:
    """The first number."""
    return 3


def test_card_words_follow_the_language():
    pipeline = Pipeline([make_step(_source, name="source"), make_step(_double, name="double", inputs=("source",)),
                         make_step(_double, name="later", inputs=("double",))])
    pipeline.run(until="double")
    set_language("zh")
    page = pipeline.report_html()
    for word in ("<b>参数</b>", "<b>输入</b>：", "<b>输出</b>：", "未运行", "explorer 独有的步骤"):
        assert word in page, word
    assert "流程概要：" in pipeline.summary(run=False).text() and "未运行" in pipeline.summary(run=False).text()
    set_language("en")
    page = pipeline.report_html()
    assert not CJK.search(page) and "<b>parameters</b>" in page and "not run" in page


def test_the_cli_says_its_errors_and_their_fixes_in_chinese(workspace, capsys, monkeypatch):
    monkeypatch.setenv(ENV_VAR, "zh")
    assert main(["train", "3d_fullres", "nnUNetTrainerV2", "40", "1", "--until", "task_name"]) == 2
    err = capsys.readouterr().err
    assert "nnunet-explorer train: 错误：[步骤 task_name] 找不到编号为 40 的任务" in err
    assert "\n  解决办法：`nnunet-explorer sample kits19` 会把原博客的 Task040_KiTS" in err and "；或者检查编号" in err
    assert "（加上 --debug 运行可以看到调用栈）" in err
    assert main(["sample", "synthetic-ct", "--task_id", "100000"]) == 2
    assert "错误：--task_id 100000 超出范围\n  解决办法：使用 0 到 9999 之间的编号" in capsys.readouterr().err
    assert main(["doctor", "--no_task_check"]) in (0, 1)
    out = capsys.readouterr().out
    assert "文件夹（nnU-Net v1 的环境变量）：" in out and "\n版本：\n" in out and "进程与线程" in out
    monkeypatch.setenv(ENV_VAR, "en")
    assert main(["train", "3d_fullres", "nnUNetTrainerV2", "40", "1", "--until", "task_name"]) == 2
    err = capsys.readouterr().err
    assert "error: [step task_name] could not find a task with the ID 40" in err and "\n  fix: " in err
    assert not CJK.search(err)


def test_words_tr_leaves_alone():
    assert tr("a, b: c", "甲,乙:丙", "zh") == "甲\uff0c乙\uff1a丙" and tr("a, b: c", "甲,乙:丙", "en") == "a, b: c"


# ------------------------------------------------------------------------------------ a whole report
@pytest.fixture(scope="module")
def task_901(tmp_path_factory):
    """The synthetic CT task (5 training cases) in a fresh workspace, planned and preprocessed by the explorer;
    yields the workspace with its three variables set."""
    from nnunet_explorer.paths import environment_for

    from .conftest import make_workspace

    ws = make_workspace(tmp_path_factory.mktemp("zh_ws")).ensure()
    mp = pytest.MonkeyPatch()
    for key, value in environment_for(ws).items():
        mp.setenv(key, value)
    try:
        assert main(["sample", "synthetic-ct", "--num_training", "5", "--num_test", "1"]) == 0
        assert main(["plan_and_preprocess", "-t", "901", "-pl2d", "None", "-tl", "1", "-tf", "1"]) == 0
        yield ws
    finally:
        mp.undo()


@pytest.mark.slow
def test_the_report_is_chinese_under_zh_and_english_otherwise(task_901):
    from nnunet_explorer.walkthrough import training_walkthrough
    from nnunet_explorer.views import report_figures  # noqa: F401 - the cards' pictures, as the CLI draws them

    pipeline = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0, workspace=task_901, max_num_epochs=1,
                                    num_batches_per_epoch=1, num_val_batches_per_epoch=1)
    pipeline.run(until="validate")
    set_language("zh")
    page = pipeline.report_html()
    share = zh_share(page)
    assert share >= 0.95, (share, english_blocks(page)[:10])
    assert "<b>输出</b>" in page and "U 形结构" in page and "每个 epoch 的损失" in page  # labels, figure captions
    set_language("en")
    page = pipeline.report_html()
    # in English, Chinese appears only where it is meant to: the blog's own section names in the contents, and
    # the blog's words where a card quotes them ("返回值: ...")
    toc = re.search(r"<nav class='toc'>.*?</nav>", page, re.S)
    assert toc is not None and CJK.search(toc.group(0))
    quotes = re.compile('"[^"]*"|\u201c[^\u201d]*\u201d')
    unquoted = [quotes.sub("", b) for b in prose_blocks(page.replace(toc.group(0), ""))]
    assert not [b for b in unquoted if CJK.search(b)]


@pytest.mark.slow
def test_the_walkthrough_console_is_chinese(task_901, capsys, monkeypatch):
    monkeypatch.setenv(ENV_VAR, "zh")
    assert main(["train", "3d_fullres", "nnUNetTrainerV2", "901", "1", "--until", "split"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if re.match(r"\[ ?\d+/\d+\] ", line)]
    assert len(lines) == 12
    by_step = {line.split("] ", 1)[1].split()[0]: line for line in lines}
    assert "样本 Dice + CE" in by_step["configuration"] and "数据增强在" in by_step["initialize"]
    assert "个训练病例" in by_step["split"] and "torch 模块" in by_step["loss"]
    assert "个输出，最高分辨率在前" in by_step["deep_supervision"] and "次池化" in by_step["plans_processed"]
