"""Every error a user can cause speaks the reader's language: no English-only message or fix is raised.

``language.py`` promises that under ``zh`` the command line's messages are Chinese, and an error is the message a
learner reads most closely. An :class:`~nnunet_explorer.errors.ExplorerError` (or a subclass, wherever it is
defined) raised with a literal English text, ``raise DatasetError(f"{path} does not exist", fix="check ...")``,
stays English under ``zh`` however well the rest of the run speaks Chinese. This test reads the package's source
and fails on each such call, naming the file and line: the message and the ``fix`` must come through ``tr(...)``
(or be built from values only). Texts made elsewhere and passed in a variable are not checked here; the
behavioural tests below raise real errors under ``zh``.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from nnunet_explorer.errors import ExplorerError
from nnunet_explorer.language import set_language

from .zh_share_rule import CJK

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "nnunet_explorer"
SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _error_classes() -> set[str]:
    """Names of ExplorerError and every class of the package derived from it (by name, to a fixed point)."""
    import nnunet_explorer.errors as errors

    names = {n for n in dir(errors) if isinstance(getattr(errors, n), type)
             and issubclass(getattr(errors, n), ExplorerError)}
    classes = [node for path in SOURCES for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
               if isinstance(node, ast.ClassDef)]
    grew = True
    while grew:
        grew = False
        for node in classes:
            bases = {b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else "" for b in
                     node.bases}
            if node.name not in names and bases & names:
                names.add(node.name)
                grew = True
    return names


def _has_words(node: ast.AST) -> bool:
    """A literal text with letters in it (an f-string's fields are values, not words)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return any(c.isalpha() for c in node.value)
    if isinstance(node, ast.JoinedStr):
        return any(_has_words(v) for v in node.values if isinstance(v, ast.Constant))
    if isinstance(node, ast.BinOp):  # "a" + b, "a %s" % b
        return _has_words(node.left) or _has_words(node.right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return _has_words(node.func.value)
    return False


def _english_only_calls() -> list[str]:
    names = _error_classes()
    found = []
    for path in SOURCES:
        where = path.relative_to(ROOT)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            if name not in names:
                continue
            texts = [("message", node.args[0])] if node.args else []
            texts += [(kw.arg, kw.value) for kw in node.keywords if kw.arg in ("message", "fix")]
            for what, value in texts:
                if _has_words(value):
                    found.append(f"{where}:{node.lineno}: {name}'s {what} is English only")
    return found


def test_the_scan_sees_the_errors_of_the_package():
    # the premise: the package raises many explorer errors, through tr(...), and the scan finds their classes
    names = _error_classes()
    assert {"ExplorerError", "DatasetError", "TrainingError", "ConfigurationError"} <= names
    calls = sum(1 for path in SOURCES for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) in names)
    assert calls > 200


def test_the_scan_catches_an_english_only_error(tmp_path, monkeypatch):
    bad = tmp_path / "bad.py"
    bad.write_text('def f(p):\n    raise DatasetError(f"{p} is missing", fix=tr("a", "甲"))\n'
                   'def g(p):\n    raise DatasetError(tr("a", "甲"), fix="check " + p)\n'
                   'def h(p):\n    raise DatasetError(tr("a", "甲"), fix=tr("b", "乙"))\n', encoding="utf-8")
    monkeypatch.setattr(f"{__name__}.SOURCES", [bad])
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert _english_only_calls() == ["bad.py:2: DatasetError's message is English only",
                                     "bad.py:4: DatasetError's fix is English only"]


def test_no_error_of_the_package_is_english_only():
    found = _english_only_calls()
    assert not found, "\n".join(found)


@pytest.fixture
def chinese(monkeypatch):
    set_language("zh")
    yield
    set_language(None)


def _chinese(exc: ExplorerError) -> None:
    assert CJK.search(exc.cause), exc.cause
    if exc.fix:
        assert CJK.search(exc.fix), exc.fix


def test_a_missing_image_is_explained_in_chinese(tmp_path, chinese):
    from nnunet_explorer.views.layers import read_volume

    with pytest.raises(ExplorerError) as caught:
        read_volume(tmp_path / "case_0000.nii.gz")
    _chinese(caught.value)
    assert str(tmp_path) in caught.value.cause  # the path stays as it is


def test_a_broken_checkpoint_is_explained_in_chinese(tmp_path, chinese):
    from nnunet_explorer.training.checkpoints import load_checkpoint_file

    broken = tmp_path / "model_final_checkpoint.model"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(ExplorerError) as caught:
        load_checkpoint_file(broken)
    _chinese(caught.value)


def test_the_same_errors_stay_english_under_en(tmp_path):
    from nnunet_explorer.views.layers import read_volume

    set_language("en")
    try:
        with pytest.raises(ExplorerError) as caught:
            read_volume(tmp_path / "case_0000.nii.gz")
    finally:
        set_language(None)
    assert not CJK.search(str(caught.value))
    assert caught.value.cause == f"{tmp_path / 'case_0000.nii.gz'} does not exist"
