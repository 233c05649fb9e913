"""v1's recursive_find_python_class, run: the modules it imports, in v1's order, and what it returns.

The parity test runs v1 1.7.1's own function on v1's folder, instrumented by wrapping ``importlib.import_module``,
and the explorer's on the same folder, in a fresh process (the search imports all of v1's 83 trainer modules).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nnunet_explorer.network_training import find_trainer_class, load_trainers_from_file, unregister_trainer
from nnunet_explorer.network_training.registry import LOADED_TRAINER_MODULES
from nnunet_explorer.network_training.trainer_search import recursive_find_python_class

ROOT = Path(__file__).resolve().parents[2]

_PARITY_SCRIPT = r"""
import importlib, json, os, sys
import nnunet
from nnunet.training.model_restore import recursive_find_python_class as v1_search
from nnunet_explorer.network_training.trainer_search import recursive_find_python_class
base = "nnunet.training.network_training"
folder = [os.path.join(nnunet.__path__[0], "training", "network_training")]
real_import = importlib.import_module
out = {}
for name in sys.argv[1:]:
    visits = []
    ours = recursive_find_python_class(folder, name, base, visits=visits)
    imported = []

    def recording(module, package=None):
        imported.append(module)
        return real_import(module, package)

    importlib.import_module = recording
    try:
        theirs = v1_search(folder, name, current_module=base)
    finally:
        importlib.import_module = real_import
    out[name] = {"v1": [m[len(base) + 1:] for m in imported],
                 "ours": [v.module[len(base) + 1:] for v in visits],
                 "found_flags": [v.has_name for v in visits],
                 "v1_returns": repr(theirs), "same_object": ours is theirs,
                 "is_class": isinstance(theirs, type)}
print("JSON" + json.dumps(out))
"""

SUB_PACKAGE_CLASS = "nnUNetTrainerV2_momentum09"  # in nnUNet_variants/optimizer_and_lr
UNKNOWN = "nnUNetTrainerV2_NoSuchVariant"


@pytest.fixture(scope="module")
def v1_runs() -> dict:
    pytest.importorskip("nnunet", reason="parity needs nnunet==1.7.1")
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", _PARITY_SCRIPT, "nnUNetTrainerV2", SUB_PACKAGE_CLASS, UNKNOWN],
                          capture_output=True, text=True, env=env, timeout=300, cwd=str(ROOT))
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(l for l in done.stdout.splitlines() if l.startswith("JSON"))
    return json.loads(line[4:])


@pytest.mark.parity
def test_modules_visited_in_v1s_order_for_a_class_in_a_sub_package_and_for_an_unknown_name(v1_runs):
    found, missing = v1_runs[SUB_PACKAGE_CLASS], v1_runs[UNKNOWN]
    for run in (found, missing, v1_runs["nnUNetTrainerV2"]):
        assert run["ours"] == run["v1"] and run["same_object"]
    # plain modules of the folder first, then the sub-packages
    first_sub = next(i for i, m in enumerate(found["v1"]) if "." in m)
    assert first_sub > 0 and all("." not in m for m in found["v1"][:first_sub])
    assert all("." in m for m in found["v1"][first_sub:])
    assert found["ours"][-1] == f"nnUNet_variants.optimizer_and_lr.{SUB_PACKAGE_CLASS}" and found["found_flags"][-1]
    assert found["is_class"] and SUB_PACKAGE_CLASS in found["v1_returns"]  # a class, not a string
    assert missing["v1_returns"] == "None" and not any(missing["found_flags"])


@pytest.mark.parity
def test_the_cards_facts_about_v1s_search_are_v1s(v1_runs):
    from nnunet_explorer.teaching.why import WHY

    fact = WHY["trainer_class"].fact["en"]
    top_level = [m for m in v1_runs[UNKNOWN]["v1"] if "." not in m]
    assert f"holds {len(top_level)} plain modules" in fact
    assert ", ".join(v1_runs["nnUNetTrainerV2"]["v1"]) in fact
    assert f"at import {len(v1_runs[SUB_PACKAGE_CLASS]['v1'])}" in fact
    assert f"after all {len(v1_runs[UNKNOWN]['v1'])} modules" in fact
    from nnunet_explorer.v1.training import network_training as mirror

    visits: list = []
    recursive_find_python_class(list(mirror.__path__), UNKNOWN, mirror.__name__, visits=visits)
    mirrored = [v.module.rsplit(".", 1)[-1] for v in visits]
    assert f"holds {len(mirrored)} of the {len(top_level)} plain modules" in fact
    assert f"(not {', '.join(m for m in top_level if m not in mirrored)})" in fact


def test_a_trainer_file_is_searched_in_nnUNet_variants_after_the_top_level_modules(tmp_path):
    from nnunet_explorer.v1.training import network_training as mirror
    from nnunet_explorer.v1.training.network_training import nnUNet_variants

    source = tmp_path / "my_search_trainers.py"
    source.write_text("from nnunet_explorer.v1.training.network_training.nnUNetTrainerV2 import nnUNetTrainerV2\n"
                      "class SearchedTrainer(nnUNetTrainerV2):\n    pass\n")
    load_trainers_from_file(source)
    try:
        visits: list = []
        found = recursive_find_python_class(list(mirror.__path__), "SearchedTrainer", mirror.__name__,
                                            visits=visits,
                                            loaded_modules={nnUNet_variants.__name__: ["my_search_trainers"]})
        assert found is find_trainer_class("SearchedTrainer")
        names = [v.module[len(mirror.__name__) + 1:] for v in visits]
        assert names[-1] == "nnUNet_variants.my_search_trainers" and visits[-1].has_name
        assert names[:-1] == ["network_trainer", "nnUNetTrainer", "nnUNetTrainerV2", "nnUNetTrainerV2_CascadeFullRes",
                              "nnUNetTrainerV2_DDP"]
        # a top-level module wins over the file: nnUNetTrainerV2 is found before nnUNet_variants is entered
        visits = []
        assert recursive_find_python_class(list(mirror.__path__), "nnUNetTrainerV2", mirror.__name__, visits=visits,
                                           loaded_modules={nnUNet_variants.__name__: ["my_search_trainers"]}) \
            is find_trainer_class("nnUNetTrainerV2")
        assert not any("nnUNet_variants" in v.module for v in visits)
    finally:
        unregister_trainer("SearchedTrainer")
        LOADED_TRAINER_MODULES.pop("my_search_trainers", None)


def test_a_trainer_file_that_reuses_a_built_in_name_gives_it_back_when_unregistered(tmp_path):
    from nnunet_explorer.network_training import nnUNetTrainerV2_2epochs

    source = tmp_path / "shadow.py"
    source.write_text("from nnunet_explorer.v1.training.network_training.nnUNetTrainerV2 import nnUNetTrainerV2\n"
                      "class nnUNetTrainerV2_2epochs(nnUNetTrainerV2):\n    pass\n")
    try:
        load_trainers_from_file(source)
        assert find_trainer_class("nnUNetTrainerV2_2epochs") is not nnUNetTrainerV2_2epochs  # the file's class
    finally:
        unregister_trainer("nnUNetTrainerV2_2epochs")
        LOADED_TRAINER_MODULES.pop("shadow", None)
    assert find_trainer_class("nnUNetTrainerV2_2epochs") is nnUNetTrainerV2_2epochs  # the built-in again


def test_registry_restored_undoes_registrations_and_loaded_files(tmp_path):
    """The public way (a notebook trying trainers out, the conformance tests) to leave the registry as it was:
    new names gone, a built-in name shadowed by a file's class given back, the file's module forgotten."""
    from nnunet_explorer.network_training import known_trainers, nnUNetTrainerV2_2epochs
    from nnunet_explorer.network_training.registry import registry_restored

    before, modules = known_trainers(), dict(LOADED_TRAINER_MODULES)
    source = tmp_path / "tryout.py"
    source.write_text("from nnunet_explorer.v1.training.network_training.nnUNetTrainerV2 import nnUNetTrainerV2\n"
                      "class nnUNetTrainerV2_2epochs(nnUNetTrainerV2):\n    pass\n"
                      "class TryoutTrainer(nnUNetTrainerV2):\n    pass\n")
    with registry_restored():
        assert set(load_trainers_from_file(source)) == {"nnUNetTrainerV2_2epochs", "TryoutTrainer"}
        assert "TryoutTrainer" in known_trainers() and "tryout" in LOADED_TRAINER_MODULES
        assert find_trainer_class("nnUNetTrainerV2_2epochs") is not nnUNetTrainerV2_2epochs
    assert known_trainers() == before and dict(LOADED_TRAINER_MODULES) == modules
    assert find_trainer_class("nnUNetTrainerV2_2epochs") is nnUNetTrainerV2_2epochs
