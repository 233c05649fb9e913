"""Line-anchored links to v1.7.1: ``nnunet_explorer/v1_lines.json`` is current, complete, and points at the lines
that Python's own ``inspect`` finds in the installed v1 (the sdist's files)."""
from __future__ import annotations

import importlib.util
import json
import pkgutil
from pathlib import Path

import pytest

import nnunet_explorer
from nnunet_explorer.paths import resolve_workspace
from nnunet_explorer.provenance import V1_SOURCE_ROOT, parse_reference, v1_line_table, v1_reference_of

ROOT = Path(__file__).resolve().parent.parent


def _script():
    spec = importlib.util.spec_from_file_location("v1_lines_script", ROOT / "scripts" / "v1_lines.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parity
def test_the_committed_table_is_what_the_script_generates_from_v1():
    pytest.importorskip("nnunet", reason="regenerating the table needs nnunet==1.7.1")
    script = _script()
    assert (ROOT / "nnunet_explorer" / "v1_lines.json").read_text(encoding="utf-8") == script.render(
        script.build_table()), "stale: python scripts/v1_lines.py > nnunet_explorer/v1_lines.json"


def test_every_mirrors_reference_has_a_line_anchored_url():
    refs = _script().references_in_package()
    assert len(refs) > 100
    for ref in refs:
        url = parse_reference(ref).url
        assert url.startswith(V1_SOURCE_ROOT) and "#L" in url, ref
        assert int(url.rsplit("#L", 1)[1]) == v1_line_table()["lines"][ref]


@pytest.mark.slow
def test_every_imported_mirroring_object_resolves():
    """Walk the core package (no UI modules) and check the references objects really carry."""
    seen = 0
    for info in pkgutil.walk_packages(nnunet_explorer.__path__, "nnunet_explorer."):
        if any(part in info.name for part in (".views", ".explore", ".cli", ".commands", "napari")):
            continue
        module = importlib.import_module(info.name)
        for obj in vars(module).values():
            for candidate in [obj, *vars(obj).values()] if isinstance(obj, type) else [obj]:
                ref = v1_reference_of(candidate)
                if ref is not None and getattr(candidate, "__module__", "") == info.name:
                    assert ref.line is not None, ref
                    seen += 1
    assert seen > 50


@pytest.mark.parity
@pytest.mark.slow
def test_lines_agree_with_inspect_on_v1s_own_objects(tmp_path):
    pytest.importorskip("nnunet")
    from nnunet_explorer.parity import run_v1_python

    table = v1_line_table()
    code = ("import importlib, inspect, json, sys\n"
            f"lines = {json.dumps(table['lines'])!r}\n"
            "out = {}\n"
            "for ref, line in json.loads(lines).items():\n"
            "    mod, qual = ref.split(':')\n"
            "    obj = importlib.import_module(mod)\n"
            "    for part in qual.split('.'):\n"
            "        obj = getattr(obj, part, None)\n"
            "    if inspect.isclass(obj) or inspect.isfunction(obj):\n"
            "        out[ref] = inspect.getsourcelines(obj)[1]\n"
            "print('JSON' + json.dumps(out))\n")
    ws = resolve_workspace({"nnUNet_raw_data_base": str(tmp_path / "raw"), "nnUNet_preprocessed": str(tmp_path / "pre"),
                            "RESULTS_FOLDER": str(tmp_path / "res")})
    stdout = run_v1_python(code, ws, timeout=300).stdout
    found = json.loads(stdout.split("JSON", 1)[1])
    assert len(found) > 100
    assert {ref: table["lines"][ref] for ref in found} == found
