"""Trainers by name: v1's ``nnUNet_train NETWORK TRAINER ...`` looks the trainer up by its class name.

v1 imports every module under ``nnunet/training/network_training`` until one has an attribute of that name
(``recursive_find_python_class``; :mod:`.trainer_search` runs that search, for the walkthrough). Here trainers are registered by name (:func:`register_trainer`); a user
registers a class defined in a notebook, or a file with ``--trainer_file`` (a v1 trainer file ported by the one
import rule, see :mod:`nnunet_explorer.v1`).
"""
from __future__ import annotations

import difflib
import importlib.util
import inspect
import sys
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ..errors import ConfigurationError
from ..language import tr
from ..provenance import declared_v1_reference, mirrors
from .builtin_variants import nnUNetTrainerV2_2epochs, nnUNetTrainerV2_5epochs, nnUNetTrainerV2_explore
from .network_trainer import NetworkTrainer
from .nnUNetTrainer import nnUNetTrainer
from .nnUNetTrainerV2 import nnUNetTrainerV2
from .nnUNetTrainerV2_CascadeFullRes import nnUNetTrainerV2CascadeFullRes
from .nnUNetTrainerV2_DDP import nnUNetTrainerV2_DDP

_BUILTIN: tuple[type, ...] = (NetworkTrainer, nnUNetTrainer, nnUNetTrainerV2, nnUNetTrainerV2CascadeFullRes,
                              nnUNetTrainerV2_DDP, nnUNetTrainerV2_2epochs, nnUNetTrainerV2_5epochs,
                              nnUNetTrainerV2_explore)
_BUILTIN_CLASSES: frozenset[type] = frozenset(_BUILTIN)
_REGISTRY: "OrderedDict[str, type]" = OrderedDict((c.__name__, c) for c in _BUILTIN)


def builtin_trainer_classes() -> frozenset[type]:
    """The trainer classes the explorer ships (v1's three, the cascade, DDP and the short variants)."""
    return _BUILTIN_CLASSES


def register_trainer(cls: type | None = None, *, name: str | None = None, replace: bool = False) -> Any:
    """Register a trainer class so that it can be named on the command line or in the walkthrough.

    Use as ``register_trainer(MyTrainer)`` or as a decorator ``@register_trainer``. The class must derive
    from :class:`NetworkTrainer` (training itself needs :class:`nnUNetTrainer`, checked when a run starts,
    as v1 does). Registering another class under a taken name needs ``replace=True`` (a notebook cell
    re-run re-registers the same class name; that is allowed).
    """

    def add(trainer_cls: type) -> type:
        if not (isinstance(trainer_cls, type) and issubclass(trainer_cls, NetworkTrainer)):
            raise ConfigurationError(tr(f"{trainer_cls!r} is not a trainer class", f"{trainer_cls!r} 不是 trainer 类"),
                                     fix=tr("derive it from nnunet_explorer.network_training.nnUNetTrainerV2",
                                            "让它继承 nnunet_explorer.network_training.nnUNetTrainerV2"))
        key = name or trainer_cls.__name__
        existing = _REGISTRY.get(key)
        if existing is not None and existing is not trainer_cls:
            if existing in _BUILTIN_CLASSES and not replace:
                raise ConfigurationError(tr(f"{key} is a built-in trainer name", f"{key} 是内置 trainer 的名字"),
                                         fix=tr("give your trainer another name", "给你的 trainer 换一个名字"))
            if not replace and existing.__qualname__ != trainer_cls.__qualname__:
                raise ConfigurationError(tr(f"a different trainer is already registered as {key}",
                                            f"已经有另一个 trainer 以 {key} 注册"),
                                         fix=tr("pass replace=True or choose another name",
                                                "传入 replace=True,或换一个名字"))
        _REGISTRY[key] = trainer_cls
        return trainer_cls

    return add(cls) if cls is not None else add


def unregister_trainer(name: str) -> None:
    """Remove a user trainer from the registry (built-in trainers stay; a user trainer that replaced a built-in
    of the same name gives the name back to the built-in)."""
    cls = _REGISTRY.get(name)
    if cls is not None and cls not in _BUILTIN_CLASSES:
        del _REGISTRY[name]
        builtin = next((c for c in _BUILTIN if c.__name__ == name), None)
        if builtin is not None:
            _REGISTRY[name] = builtin


@contextmanager
def registry_restored() -> Iterator[None]:
    """Inside the block, register trainers and load trainer files freely; afterwards the registry and the
    loaded trainer files are as they were (a notebook that tries trainers out, a test module)."""
    saved, modules = OrderedDict(_REGISTRY), dict(LOADED_TRAINER_MODULES)
    try:
        yield
    finally:
        _REGISTRY.clear()
        _REGISTRY.update(saved)
        LOADED_TRAINER_MODULES.clear()
        LOADED_TRAINER_MODULES.update(modules)


def known_trainers() -> list[str]:
    """Names of all registered trainers (built-ins first, then user trainers in registration order)."""
    return list(_REGISTRY)


@mirrors("nnunet.training.model_restore:recursive_find_python_class")
def find_trainer_class(name: str) -> type:
    """The trainer class registered as ``name``.

    v1 imports the modules under ``nnunet/training/network_training`` one by one (a folder's files before its
    sub-packages) until one has an attribute of that name, and returns it, or None (and ``nnUNet_train`` then fails with "Could not find trainer class"). Here an
    unknown name raises :class:`ConfigurationError` listing the known trainers and close matches.
    """
    # differs from v1: a registry instead of v1's import walk (trainer_search.recursive_find_python_class, which
    # the walkthrough's trainer_class card runs), so a class defined in a notebook can be named and an unknown
    # name lists the known ones instead of returning None
    cls = _REGISTRY.get(name)
    if cls is not None:
        return cls
    close = difflib.get_close_matches(name, list(_REGISTRY), n=3)
    hint = tr(f" Did you mean: {', '.join(close)}?", f"你是不是想用:{', '.join(close)}?") if close else ""
    raise ConfigurationError(
        tr(f"unknown trainer {name!r}.{hint} Known trainers are: {', '.join(_REGISTRY)}",
           f"未知的 trainer {name!r}。{hint}已知的 trainer 有:{', '.join(_REGISTRY)}"),
        fix=tr("use one of those names, or define a subclass of nnUNetTrainerV2 and register it with "
               "nnunet_explorer.network_training.register_trainer (command line: --trainer_file FILE.py)",
               "使用其中一个名字,或者定义 nnUNetTrainerV2 的子类,并用 "
               "nnunet_explorer.network_training.register_trainer 注册(命令行:--trainer_file FILE.py)"))


#: trainer files imported by load_trainers_from_file, by file stem (a ported v1 variant that imports another
#: variant file finds it here, see nnunet_explorer.v1.training.network_training.nnUNet_variants)
LOADED_TRAINER_MODULES: dict[str, Any] = {}


def load_trainers_from_file(path: str | Path) -> list[str]:
    """Import a Python file and register every trainer class defined in it; returns their names.

    A file may import trainers of a file loaded before it by v1's module path (v1's variants do:
    ``from nnunet_explorer.v1.training.network_training.nnUNet_variants.loss_function.nnUNetTrainerV2_Loss_Dice
    import ...`` after the port rule): load the imported file first.
    """
    file = Path(path)
    if not file.is_file():
        raise ConfigurationError(tr(f"trainer file {file} does not exist", f"trainer 文件 {file} 不存在"),
                                 fix=tr("give the path of a .py file", "给出一个 .py 文件的路径"))
    module_name = f"nnunet_explorer_user_trainers_{abs(hash(str(file.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise ConfigurationError(tr(f"cannot import {file}", f"无法导入 {file}"),
                                 fix=tr("give the path of a .py file", "给出一个 .py 文件的路径"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise ConfigurationError(tr(f"importing trainer file {file} failed: {type(exc).__name__}: {exc}",
                                    f"导入 trainer 文件 {file} 失败:{type(exc).__name__}: {exc}"),
                                 fix=tr("fix the error in that file", "修正那个文件中的错误")) from exc
    LOADED_TRAINER_MODULES[file.stem] = module
    names = []
    for _, obj in inspect.getmembers(module, inspect.isclass):
        if issubclass(obj, NetworkTrainer) and obj.__module__ == module_name:
            register_trainer(obj, replace=True)
            names.append(obj.__name__)
    if not names:
        raise ConfigurationError(tr(f"{file} defines no trainer class", f"{file} 没有定义 trainer 类"),
                                 fix=tr("define a subclass of nnunet_explorer.network_training.nnUNetTrainerV2",
                                        "定义 nnunet_explorer.network_training.nnUNetTrainerV2 的子类"))
    return names


def v1_class_repr(cls: type) -> str:
    """How v1 would print this class: the v1 trainer's own ``<class '...'>`` for mirrored built-ins."""
    reference = declared_v1_reference(cls) if cls in _BUILTIN_CLASSES else None
    if reference is not None:
        return f"<class '{reference.module}.{reference.qualname}'>"
    return repr(cls)


__all__ = ["LOADED_TRAINER_MODULES", "builtin_trainer_classes", "find_trainer_class", "known_trainers",
           "load_trainers_from_file", "register_trainer", "registry_restored", "unregister_trainer",
           "v1_class_repr"]
