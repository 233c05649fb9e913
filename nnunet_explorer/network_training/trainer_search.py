"""v1's ``recursive_find_python_class``: how ``nnUNet_train`` turns the trainer's *name* into its *class*.

``nnUNet_train 3d_fullres nnUNetTrainerV2 4 0`` names the trainer by a string. v1's ``get_default_configuration``
turns it into a class with ``recursive_find_python_class([<nnunet>/training/network_training], name,
current_module="nnunet.training.network_training")`` (``nnunet/training/model_restore.py``):

1. list the folder with ``pkgutil.iter_modules`` (file and folder names in sorted order: upper case before lower
   case, ``nnUNetTrainerV2.py`` before ``nnUNet_variants/``);
2. import every *plain module* of the folder in that order, and stop at the first one that has an attribute
   with the trainer's name;
3. only if none has it, go into the *sub-packages*, in the same order, and repeat 1-3 inside each.

So a file next to ``nnUNetTrainerV2.py`` always wins over a file in ``nnUNet_variants/``, the search imports every
module it passes (an import error in any of them stops ``nnUNet_train``), and a name is also found in a module
that merely imports the class. The return value is the class object itself — ``<class
'nnunet.training.network_training.nnUNetTrainerV2.nnUNetTrainerV2'>``, not a string — or None when no module
has the name (``run_training`` then raises "Could not find trainer class in nnunet.training.network_training").

:func:`recursive_find_python_class` is v1's function, line for line, plus an optional record of the modules it
visits. The explorer's runs look trainers up in a registry instead (:mod:`.registry`); the walkthrough runs this
search over the explorer's v1-namespace mirror to show what v1 does.
"""
from __future__ import annotations

import importlib
import os
import pkgutil
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from ..provenance import mirrors


@dataclass(frozen=True)
class ModuleVisit:
    """One module the search imported: its dotted name, and whether it has an attribute of the searched name."""

    module: str
    has_name: bool


def _entries(folder: Sequence[str], current_module: str,
             loaded_modules: Mapping[str, Iterable[str]] | None) -> list[tuple[str, bool]]:
    """``(name, is_package)`` of the folder's modules in ``pkgutil.iter_modules`` order, plus loaded modules."""
    entries = [(info.name, info.ispkg) for info in pkgutil.iter_modules(list(folder))]
    extra = [(name, False) for name in (loaded_modules or {}).get(current_module, ())]
    if not extra:
        return entries
    # differs from v1: modules that stand in the package without a file of their own (the explorer's
    # --trainer_file files) are listed among its files, in the sorted order iter_modules gives files
    return sorted(dict.fromkeys(entries + extra), key=lambda entry: entry[0])


@mirrors("nnunet.training.model_restore:recursive_find_python_class")
def recursive_find_python_class(folder: Sequence[str], trainer_name: str, current_module: str, *,
                                visits: list[ModuleVisit] | None = None,
                                loaded_modules: Mapping[str, Iterable[str]] | None = None) -> Any:
    """v1's search for ``trainer_name`` in the package ``current_module`` whose folder is ``folder[0]``.

    Plain modules first (all of them, in ``pkgutil.iter_modules`` order), then the sub-packages, depth first;
    returns the attribute found (for a trainer name: the class) or None.

    Args:
        folder: the package's folder, as a one-element list (v1 passes a list; only ``folder[0]`` is recursed).
        trainer_name: the attribute to find, e.g. ``"nnUNetTrainerV2"``.
        current_module: the package's dotted name, e.g. ``"nnunet.training.network_training"``.
        visits: if given, every imported module is appended to it, in import order, with whether it had the
            name (the last visit of a successful search is where it was found).
        loaded_modules: ``{package: [module names]}`` for modules a package provides without a file in its
            folder (the explorer's ``nnUNet_variants`` serves ``--trainer_file`` files that way); they are
            searched as plain modules of that package.
    """
    tr = None
    entries = _entries(folder, current_module, loaded_modules)
    for modname, ispkg in entries:
        if not ispkg:
            m = importlib.import_module(current_module + "." + modname)
            found = hasattr(m, trainer_name)
            if visits is not None:
                visits.append(ModuleVisit(current_module + "." + modname, found))
            if found:
                tr = getattr(m, trainer_name)
                break

    if tr is None:
        for modname, ispkg in entries:
            if ispkg:
                next_current_module = current_module + "." + modname
                tr = recursive_find_python_class([os.path.join(folder[0], modname)], trainer_name,
                                                 current_module=next_current_module, visits=visits,
                                                 loaded_modules=loaded_modules)
            if tr is not None:
                break

    return tr


__all__ = ["ModuleVisit", "recursive_find_python_class"]
