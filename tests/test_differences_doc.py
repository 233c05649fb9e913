"""docs/differences-from-v1.md lists every `# differs from v1:` marker in the code."""
from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("differences_from_v1", ROOT / "scripts" / "differences_from_v1.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_marker_is_documented():
    script = _script()
    found = script.collect()
    assert len(found) >= 10, "the code marks its differences from v1; finding none means the scan is broken"
    document = (ROOT / "docs" / "differences-from-v1.md").read_text()
    missing = [f"{module}: {text[:60]}" for module, text in found if text not in document]
    assert not missing, ("regenerate with `python scripts/differences_from_v1.py > docs/differences-from-v1.md`; "
                         f"undocumented: {missing}")


def test_the_document_lists_no_difference_the_code_no_longer_marks():
    # a marker lost in a refactor would otherwise leave the document teaching a difference nobody guards
    script = _script()
    document = (ROOT / "docs" / "differences-from-v1.md").read_text()
    marked = {f"- {text}" for _, text in script.collect()}
    section = document.split("# v1 variant classes the conformance suite cannot compare")[0]
    stale = [line for line in section.splitlines() if line.startswith("- ") and line not in marked]
    assert not stale, f"regenerate docs/differences-from-v1.md; listed but no longer marked in the code: {stale}"


def test_render_groups_by_module():
    script = _script()
    text = script.render([("a.py", "one"), ("a.py", "two"), ("b.py", "three")])
    assert text.count("## `a.py`") == 1 and "- two" in text and text.index("a.py") < text.index("b.py")


def test_every_v1_variant_class_the_conformance_suite_cannot_compare_is_listed_with_its_reason():
    script = _script()
    rows = script.not_compared()
    assert rows, "v1 1.7.1 fails on some of its own variants here (ReduceLROnPlateau(verbose=...), GPU-only ones)"
    document = (ROOT / "docs" / "differences-from-v1.md").read_text()
    missing = [f"{rel}:{name}" for rel, name, why in rows if f"`{name}` | {why.replace('|', '/')}" not in document]
    assert not missing, f"regenerate docs/differences-from-v1.md; not listed: {missing}"
    assert f"{len(script.files_without_a_trained_class())} of the 72 files have no class" in document
