"""v1's variant files, ported into the explorer by the one import rule and loaded (shared by the conformance tests).

A file is read from the installed ``nnunet`` 1.7.1, its ``from nnunet.`` / ``import nnunet.`` lines are pointed at
``nnunet_explorer.v1`` (``port_v1_source``) — nothing else is changed and nothing is copied into this repository —
and every variant file it imports is ported and loaded first, so ``from ....nnUNetTrainerV2_Loss_Dice import X``
finds the explorer's port of that file.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import v1_harness

_DEPENDENCY = re.compile(r"nnunet_explorer\.v1\.training\.network_training\.nnUNet_variants\.([\w.]+)")


def all_files() -> list[str]:
    """Every ``.py`` of v1's ``nnUNet_variants`` (relative paths), ``__init__`` files left out."""
    root = v1_harness.variants_dir()
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.py") if p.name != "__init__.py")


def load(rel: str, folder: Path, loaded: dict) -> dict:
    """Port ``rel`` (and first every variant file it imports) into ``folder`` and load it with the explorer's
    ``load_trainers_from_file``; returns the loaded module's namespace (``loaded`` caches by ``rel``)."""
    from nnunet_explorer.network_training import load_trainers_from_file
    from nnunet_explorer.network_training.registry import LOADED_TRAINER_MODULES
    from nnunet_explorer.v1 import port_v1_source

    if rel in loaded:
        return loaded[rel]
    source = port_v1_source((v1_harness.variants_dir() / rel).read_text())
    for dotted in _DEPENDENCY.findall(source):  # e.g. loss_function.nnUNetTrainerV2_Loss_Dice
        dependency = dotted.replace(".", "/") + ".py"
        if dependency != rel and (v1_harness.variants_dir() / dependency).is_file():
            load(dependency, folder, loaded)
    ported = folder / rel
    ported.parent.mkdir(parents=True, exist_ok=True)
    ported.write_text(source)
    with warnings.catch_warnings():  # a variant may set values v1 ignores: v1 ignores them here too
        warnings.simplefilter("ignore")
        load_trainers_from_file(ported)
    loaded[rel] = vars(LOADED_TRAINER_MODULES[ported.stem])
    return loaded[rel]
