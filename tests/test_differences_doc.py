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


def test_render_groups_by_module():
    script = _script()
    text = script.render([("a.py", "one"), ("a.py", "two"), ("b.py", "three")])
    assert text.count("## `a.py`") == 1 and "- two" in text and text.index("a.py") < text.index("b.py")
