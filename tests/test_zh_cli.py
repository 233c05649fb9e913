"""Chinese all the way on the command line: under ``zh`` every subcommand's ``--help`` (argparse's own words
included) and the console of a quick run are Chinese; under ``en`` the help is English."""
from __future__ import annotations

import re

import pytest

from nnunet_explorer.cli import SUBCOMMANDS, main
from nnunet_explorer.language import ENV_VAR, set_language

from .zh_share_rule import CJK, _WORD


@pytest.fixture(autouse=True)
def default_language(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("COLUMNS", "100")  # argparse wraps to the terminal: the same layout everywhere
    set_language(None)
    yield
    set_language(None)


def _help(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


def _entries(text: str) -> dict[str, str]:
    """The help entries under each section title: ``{option names: help text}``.

    argparse writes an entry as its names (and metavars) indented by 2, then the help after two or more spaces on
    the same line or on the lines below, indented further.
    """
    entries: dict[str, str] = {}
    name = None
    in_section = False
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line.startswith(" "):  # usage, description or a section title
            in_section = line.rstrip().endswith((":", "\uff1a")) and not line.startswith(("usage:", "用法"))
            name = None
            continue
        if not in_section:
            continue
        if re.match(r"  \S", line):
            name, _, help_text = line.strip().partition("  ")
            entries[name] = help_text.strip()
        elif name is not None:
            entries[name] = (entries[name] + " " + line.strip()).strip()
    return entries


def _titles(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith(" ")
            and line.rstrip().endswith((":", "\uff1a")) and not line.startswith(("usage:", "用法"))]


@pytest.mark.parametrize("command", list(SUBCOMMANDS))
def test_help_is_chinese_under_zh(command, capsys, monkeypatch):
    monkeypatch.setenv(ENV_VAR, "zh")
    text = _help([command], capsys)
    assert text.startswith("用法：nnunet-explorer " + command) and "usage" not in text
    entries = _entries(text)
    assert entries.get("-h, --help") == "显示这条帮助信息并退出"
    assert len(entries) > 2
    english = {name: help_text for name, help_text in entries.items() if not CJK.search(help_text)}
    assert not english, english
    titles = _titles(text)
    assert "选项：" in titles and all(CJK.search(t) for t in titles), titles  # "positional arguments" too


def test_top_level_help_and_argparse_errors_are_chinese_under_zh(capsys, monkeypatch):
    monkeypatch.setenv(ENV_VAR, "zh")
    text = _help([], capsys)
    entries = _entries(text)
    assert entries["--version"] == "显示程序的版本号并退出" and entries["-h, --help"] == "显示这条帮助信息并退出"
    assert "位置参数：" in _titles(text)
    with pytest.raises(SystemExit):
        main(["predict", "-i", "in"])
    err = capsys.readouterr().err
    assert err.startswith("用法：nnunet-explorer predict")
    assert "nnunet-explorer predict: 错误：缺少必需的参数：-o/--output_folder, -t/--task_name" in err
    with pytest.raises(SystemExit):
        main(["sample", "ct"])
    assert "错误：参数 kind：无效的选择 'ct'（可选：'kits19'" in capsys.readouterr().err


@pytest.mark.parametrize("command", list(SUBCOMMANDS))
def test_help_is_english_under_en(command, capsys, monkeypatch):
    monkeypatch.setenv(ENV_VAR, "en")
    text = _help([command], capsys)
    assert text.startswith("usage: nnunet-explorer " + command) and not CJK.search(text)
    assert _entries(text)["-h, --help"] == "show this help message and exit" and "options:" in _titles(text)


def test_argparse_errors_stay_english_under_en(capsys, monkeypatch):
    monkeypatch.setenv(ENV_VAR, "en")
    with pytest.raises(SystemExit):
        main(["predict", "-i", "in"])
    err = capsys.readouterr().err
    assert err.startswith("usage: nnunet-explorer predict")
    assert "nnunet-explorer predict: error: the following arguments are required: -o/--output_folder" in err


def _english_lines(text: str) -> list[str]:
    """Lines a Chinese reader reads in English: no Chinese, five plain words or more (the reports' rule), paths
    not counted."""
    return [line for line in text.splitlines() if not CJK.search(line)
            and len(_WORD.findall(" ".join(t for t in line.split() if "/" not in t))) >= 5]


def test_a_quick_run_speaks_chinese(workspace, capsys, monkeypatch):
    monkeypatch.setenv(ENV_VAR, "zh")
    assert main(["sample", "synthetic-ct", "--num_training", "5", "--num_test", "1"]) == 0
    assert main(["doctor"]) in (0, 1)
    assert main(["check_dataset", "-t", "901", "--no_progress", "-tl", "1"]) == 0
    assert main(["sample", "synthetic-ct"]) == 2  # the task exists
    out, err = capsys.readouterr()
    assert "已写出 Task901_SyntheticCT" in out and "进程与线程" in out and "已存在" in err
    # doctor's bracketed words after folder and package names (the names stay: they are v1's and pip's)
    assert "nnUNet_raw_data （原始任务）" in out and "nnunet （v1，用于一致性检查）" in out
    assert not any(words in out for words in ("raw tasks", "trained models", "for parity"))
    # check_dataset's severity column is the reader's word, padded by display width (the check names are keys)
    assert "（数据集） 提示    normalization" in out and " info " not in out
    assert not _english_lines(out + err), _english_lines(out + err)


def test_an_error_shown_in_a_notebook_labels_its_step_and_fix_in_the_language(monkeypatch):
    """``print(error)`` (a notebook) reads like the command line's message: labels in the language in effect when
    it is shown; the exception's args (what a worker process pickles) keep the English text."""
    from nnunet_explorer.errors import DatasetError

    error = DatasetError("case_000 is missing", fix="add the file", step="dataset")
    assert str(error) == "[step dataset] case_000 is missing\n  fix: add the file"
    monkeypatch.setenv(ENV_VAR, "zh")
    assert str(error) == "[步骤 dataset] case_000 is missing\n  解决办法：add the file"
    assert error.args == ("[step dataset] case_000 is missing\n  fix: add the file",)
