"""The core installs and runs without the UI extras: `pip install nnunet-explorer` on a cluster node."""
from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UI_DISTRIBUTIONS = ("jupyterlab", "ipywidgets", "napari", "pyside6", "pyside6-essentials", "pyqt5", "pyqt6", "qtpy",
                    "ipython", "ipykernel")
# Importing any of these raises in the subprocess below, as it would where the extras are not installed.
BLOCKED = ("ipywidgets", "IPython", "napari", "qtpy", "PySide6", "PyQt5", "PyQt6", "jupyterlab", "ipykernel",
           "matplotlib.pyplot")


def _name(requirement: str) -> str:
    for stop in "<>=![; ":
        requirement = requirement.split(stop)[0]
    return requirement.strip().lower()


def test_core_dependencies_hold_no_ui_and_the_extras_do():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {_name(r) for r in project["dependencies"]}
    assert not core & set(UI_DISTRIBUTIONS), f"UI packages in the core dependencies: {core & set(UI_DISTRIBUTIONS)}"
    extras = project["optional-dependencies"]
    assert {"jupyterlab", "ipywidgets"} <= {_name(r) for r in extras["notebook"]}
    assert {"napari", "pyside6-essentials"} <= {_name(r) for r in extras["napari"]}
    # `make test` installs .[test]: it must bring the notebook and napari extras along
    assert any(r.replace(" ", "").startswith("nnunet-explorer[") and "notebook" in r and "napari" in r
               for r in extras["test"])


def test_the_command_line_runs_with_the_ui_libraries_missing(tmp_path):
    code = f"""
import importlib.abc, sys
BLOCKED = {BLOCKED!r}
class Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked: not installed on a cluster node)", name=name)
        return None
sys.meta_path.insert(0, Missing())
from nnunet_explorer import cli
codes = []
for argv in (["--help"], ["doctor"], ["sample", "synthetic-ct", "--task_id", "951", "--num_training", "2"]):
    try:
        codes.append(cli.main(argv))
    except SystemExit as exit:
        codes.append(exit.code)
for name in cli.SUBCOMMANDS:
    try:
        cli.main([name, "--help"])
    except SystemExit as exit:
        codes.append(exit.code)
loaded = [m for m in BLOCKED if m in sys.modules]
print("CODES", codes, "LOADED", loaded)
"""
    env = {**__import__("os").environ, "NNUNET_EXPLORER_WORKSPACE": str(tmp_path / "ws")}
    for var in ("nnUNet_raw_data_base", "nnUNet_preprocessed", "RESULTS_FOLDER"):
        env.pop(var, None)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    line = [ln for ln in result.stdout.splitlines() if ln.startswith("CODES")][-1]
    codes = ast.literal_eval(line.split("CODES", 1)[1].split("LOADED")[0].strip())
    assert all(c in (0, None) for c in codes), (codes, result.stderr[-3000:])
    assert line.endswith("LOADED []"), line
    assert (tmp_path / "ws").is_dir()
