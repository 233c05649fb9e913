"""``nnunet.training.network_training.nnUNet_variants``: other ported variant files, by v1's module path.

Some of v1's variants import another variant file, e.g. ``nnUNetTrainerV2_Loss_Dice_lr1en3`` does ``from
nnunet.training.network_training.nnUNet_variants.loss_function.nnUNetTrainerV2_Loss_Dice import
nnUNetTrainerV2_Loss_Dice``. After the port rule that names a module under this package. The explorer ships no
copy of v1's variants; instead such an import finds the ported file of that name that was loaded before with
``--trainer_file`` (:func:`nnunet_explorer.network_training.load_trainers_from_file`). Load the imported file
first; otherwise the import fails and says which file to load.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types
from typing import Any, Sequence

from nnunet_explorer.network_training.registry import LOADED_TRAINER_MODULES


class _LoadedVariants(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolves ``<this package>.<folder>.<file>`` to the ported file ``<file>.py`` loaded earlier."""

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: Any = None) -> Any:
        if not fullname.startswith(__name__ + "."):
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec: Any) -> Any:
        stem = spec.name.rsplit(".", 1)[-1]
        if stem in LOADED_TRAINER_MODULES:
            return LOADED_TRAINER_MODULES[stem]
        if stem.startswith(("nnUNetTrainer", "nnUNet")):
            raise ImportError(f"{spec.name}: the ported variant file {stem}.py has not been loaded; load it first "
                              f"(nnunet-explorer train ... --trainer_file {stem}.py --trainer_file <this file>)")
        module = types.ModuleType(spec.name)  # a folder of v1's nnUNet_variants (loss_function, ...)
        module.__path__ = []
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        return None


if not any(isinstance(finder, _LoadedVariants) for finder in sys.meta_path):
    sys.meta_path.insert(0, _LoadedVariants())
