"""The core imports no UI library: `import nnunet_explorer` and every module outside views/ stay headless."""
from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import nnunet_explorer

UI_MODULES = ("ipywidgets", "IPython", "napari", "PyQt5", "PyQt6", "PySide6", "qtpy", "matplotlib.pyplot")


def core_modules() -> list[str]:
    root = Path(nnunet_explorer.__file__).parent
    names = ["nnunet_explorer"]
    for info in pkgutil.walk_packages([str(root)], prefix="nnunet_explorer."):
        if info.name == "nnunet_explorer.views" or info.name.startswith("nnunet_explorer.views."):
            continue
        names.append(info.name)
    return sorted(names)


def test_core_modules_are_found():
    names = core_modules()
    for expected in ("nnunet_explorer.paths", "nnunet_explorer.tasks", "nnunet_explorer.doctor",
                     "nnunet_explorer.samples.synthetic", "nnunet_explorer.samples.real",
                     "nnunet_explorer.commands.sample"):
        assert expected in names
    assert not any(".views" in n for n in names)


def test_importing_the_core_loads_no_ui_library():
    code = (
        "import importlib, json, sys\n"
        f"names = {core_modules()!r}\n"
        "failed = {}\n"
        "for name in names:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as exc:\n"
        "        failed[name] = repr(exc)\n"
        f"ui = [m for m in {UI_MODULES!r} if m in sys.modules]\n"
        "print(json.dumps({'failed': failed, 'ui': ui}))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["failed"] == {}, outcome["failed"]
    assert outcome["ui"] == [], f"UI modules imported by the core: {outcome['ui']}"

