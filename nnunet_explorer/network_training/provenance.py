"""Where every hyperparameter of a trainer comes from, and which of your settings v1 would silently ignore.

v1 configures a run through the class hierarchy: each ``__init__`` assigns values on ``self`` after
``super().__init__``, and some values are not attributes at all but *literals inside methods* (momentum 0.99 in
``initialize_optimizer_and_scheduler``, the gradient clip 12 in ``run_iteration``, the poly exponent 0.9 in
``maybe_update_lr``). Three pitfalls follow, and this module points each one out when a trainer class is
defined (a :class:`V1IgnoresWarning`) and in the provenance table:

* ``self.momentum = 0.9`` in ``__init__`` does nothing: no method reads ``self.momentum`` (override the method
  that holds the literal instead);
* ``self.batch_size = 4`` in ``__init__`` is overwritten by ``process_plans`` during ``initialize``;
* a class attribute ``max_num_epochs = 5`` is overwritten by v1's ``__init__`` on every instance.

All three train exactly as in v1 (the value ignored); the explorer only says so.
"""
from __future__ import annotations

import dis
import html
import inspect
import warnings
from dataclasses import dataclass
from types import CodeType
from typing import Any, Iterator, Mapping

from ..errors import ConfigurationError
from ..language import pick, tr

# v1's hyperparameters: instance attributes assigned in NetworkTrainer / nnUNetTrainer / nnUNetTrainerV2.__init__
HYPERPARAMETERS: tuple[str, ...] = (
    "max_num_epochs", "num_batches_per_epoch", "num_val_batches_per_epoch", "initial_lr", "weight_decay",
    "oversample_foreground_percent", "pin_memory", "lr_scheduler_patience", "lr_scheduler_eps",
    "patience", "val_eval_criterion_alpha", "train_loss_MA_alpha", "train_loss_MA_eps", "lr_threshold",
    "also_val_in_tr_mode", "save_every", "save_latest_only", "save_intermediate_checkpoints",
    "save_best_checkpoint", "save_final_checkpoint", "inference_pad_border_mode", "inference_pad_kwargs",
)


@dataclass(frozen=True)
class Literal:
    """A value v1 1.7.1 hard-codes inside a method (no attribute changes it; overriding the method does)."""

    name: str  # how people call it (and the attribute they try to set)
    value: Any
    method: str
    defined_in: str
    read_back: str | None = None  # where the built object shows the value in use (e.g. the optimizer)


LITERALS: tuple[Literal, ...] = (
    Literal("momentum", 0.99, "initialize_optimizer_and_scheduler", "nnUNetTrainerV2", "optimizer momentum"),
    Literal("nesterov", True, "initialize_optimizer_and_scheduler", "nnUNetTrainerV2", "optimizer nesterov"),
    Literal("clip_grad_norm", 12, "run_iteration", "nnUNetTrainerV2"),
    Literal("poly_exponent", 0.9, "maybe_update_lr", "nnUNetTrainerV2"),
)
_LITERAL_BY_NAME = {lit.name: lit for lit in LITERALS}
# v1's own variants that change a literal by overriding its method (none of v1's variants changes the poly
# exponent: nnUNetTrainerV2_SGD_fixedSchedule2 overrides maybe_update_lr for another schedule, still with 0.9)
_LITERAL_EXAMPLES = {"momentum": "nnUNetTrainerV2_momentum09"}

# v1 methods that run during initialize() and assign attributes from the plans / defaults
_INITIALIZE_METHODS = ("process_plans", "setup_DA_params", "initialize", "get_basic_generators", "load_dataset",
                       "do_split", "initialize_network", "initialize_optimizer_and_scheduler")

# names of the explorer's former hooks, which v1 does not have: defining one would silently do nothing; each
# with what to do instead, in English and Chinese (picked when the error is raised)
FORMER_EXPLORER_HOOKS: Mapping[str, Mapping[str, str]] = {
    "build_network": {"en": "override v1's initialize_network (set self.network)",
                      "zh": "请重写 v1 的 initialize_network（在其中设置 self.network）"},
    "build_loss": {"en": "assign self.loss in __init__ after super().__init__(...), as v1 does",
                   "zh": "像 v1 那样，在 __init__ 中调用 super().__init__(...) 之后给 self.loss 赋值"},
    "build_optimizer": {"en": "override v1's initialize_optimizer_and_scheduler (set self.optimizer and "
                              "self.lr_scheduler)",
                        "zh": "请重写 v1 的 initialize_optimizer_and_scheduler（在其中设置 self.optimizer 和 "
                              "self.lr_scheduler）"},
    "learning_rate": {"en": "override v1's maybe_update_lr(self, epoch=None) (it sets "
                            "optimizer.param_groups[0]['lr'])",
                      "zh": "请重写 v1 的 maybe_update_lr(self, epoch=None) 方法，它设置 "
                            "optimizer.param_groups[0]['lr']"},
}


class V1IgnoresWarning(UserWarning):
    """A trainer sets a value that nnU-Net v1 1.7.1 (and so the explorer) ignores or overwrites."""


# ----------------------------------------------------------------------------------------- code reading
def _codes(obj: Any) -> Iterator[CodeType]:
    code = getattr(obj, "__code__", None)
    if code is None and isinstance(obj, (staticmethod, classmethod)):
        code = obj.__func__.__code__
    if code is None and isinstance(obj, property):
        for f in (obj.fget, obj.fset):
            if f is not None:
                yield from _nested(f.__code__)
        return
    if code is not None:
        yield from _nested(code)


def _nested(code: CodeType) -> Iterator[CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, CodeType):
            yield from _nested(const)


def names_read(cls: type) -> set[str]:
    """Every attribute name any function of ``cls``'s MRO loads or stores (``co_names``)."""
    names: set[str] = set()
    for c in cls.__mro__:
        if c is object:
            continue
        for value in vars(c).values():
            for code in _codes(value):
                names.update(code.co_names)
    return names


def self_assignments(function: Any) -> list[str]:
    """Names assigned as ``self.<name> = ...`` in ``function`` (in order, without repeats)."""
    code = getattr(function, "__code__", None)
    if code is None or not code.co_varnames:
        return []
    me = code.co_varnames[0]
    out: list[str] = []
    previous = None
    for ins in dis.get_instructions(code):
        # `self` is a local (LOAD_FAST) or, when a nested function or comprehension uses it, a cell (LOAD_DEREF)
        if ins.opname == "STORE_ATTR" and previous is not None and previous.argval == me \
                and previous.opname in ("LOAD_FAST", "LOAD_DEREF", "LOAD_CLOSURE") and ins.argval not in out:
            out.append(ins.argval)
        previous = ins
    return out


def _loads_in(function: Any) -> set[str]:
    """Names ``function`` loads as attributes (LOAD_ATTR/LOAD_METHOD), nested code included."""
    out: set[str] = set()
    for code in _codes(function):
        for ins in dis.get_instructions(code):
            if ins.opname in ("LOAD_ATTR", "LOAD_METHOD"):
                out.add(ins.argval)
    return out


@dataclass(frozen=True)
class IgnoredSetting:
    """A value a user's trainer sets that v1 ignores; ``message`` says why and what to do instead."""

    name: str
    where: str  # "class attribute" or "<Class>.__init__"
    message: str


def ignored_settings(cls: type) -> list[IgnoredSetting]:
    """What ``cls`` (a user's trainer) sets that v1 would ignore or overwrite (see the module docstring)."""
    builtin = _builtin_classes(cls)
    if cls in builtin:
        return []
    out: list[IgnoredSetting] = []
    init_assigned: set[str] = set()
    for c in builtin:
        if issubclass(cls, c) and "__init__" in vars(c):
            init_assigned.update(self_assignments(vars(c)["__init__"]))
    for name in sorted(n for n in vars(cls) if n in init_assigned and not n.startswith("__")):
        out.append(IgnoredSetting(name, "class attribute", tr(
            f"{cls.__name__} sets {name} as a class attribute, but v1's trainer __init__ assigns "
            f"self.{name} on every instance, so it does nothing (in nnU-Net v1 too). Set it as "
            f"v1's variants do: def __init__(self, *args, **kwargs): super().__init__(*args, "
            f"**kwargs); self.{name} = ...",
            f"{cls.__name__} 把 {name} 设为类属性,但 v1 trainer 的 __init__ 会在每个实例上赋值 self.{name},"
            f"所以它不起作用(在 nnU-Net v1 中也一样)。请像 v1 的变体那样设置它:def __init__(self, *args, **kwargs): "
            f"super().__init__(*args, **kwargs); self.{name} = ...")))
    init = vars(cls).get("__init__")
    if init is None:
        return out
    # attribute *loads* anywhere in the hierarchy (the user's __init__ included: a value it uses counts as read)
    read = {name for c in cls.__mro__ if c is not object for value in vars(c).values() for name in _loads_in(value)}
    for name in self_assignments(init):
        literal = _LITERAL_BY_NAME.get(name)
        if literal is not None and not _overrides(cls, literal.method):
            where = f"{literal.defined_in}.{literal.method}"
            out.append(IgnoredSetting(name, f"{cls.__name__}.__init__", tr(
                f"v1 1.7.1 ignores {name}: {literal.value!r} is a literal in {where}; override that method to change "
                "it",
                f"v1 1.7.1 忽略 {name}:{where} 中写死了字面量 {literal.value!r};要修改它,请重写那个方法")))
            continue
        overwriter = _overwritten_during_initialize(cls, name)
        if overwriter is not None:
            method = overwriter.split('.')[-1]
            out.append(IgnoredSetting(name, f"{cls.__name__}.__init__", tr(
                f"v1 1.7.1 overwrites {name}: {overwriter} assigns self.{name} during initialize(), after __init__; "
                f"override {method} (call super() first, then set self.{name})",
                f"v1 1.7.1 覆盖 {name}:{overwriter} 在 __init__ 之后的 initialize() 中赋值 self.{name};"
                f"请重写 {method}(先调用 super(),再设置 self.{name})")))
            continue
        if name not in read and not name.startswith("_"):
            out.append(IgnoredSetting(name, f"{cls.__name__}.__init__", tr(
                f"v1 1.7.1 ignores {name}: no method of {cls.__name__} or of nnU-Net's trainers reads self.{name}",
                f"v1 1.7.1 忽略 {name}:{cls.__name__} 和 nnU-Net 的 trainer 中没有任何方法读取 self.{name}")))
    return out


def _overrides(cls: type, method: str) -> bool:
    builtin = _builtin_classes(cls)
    owner = next((c for c in cls.__mro__ if method in vars(c)), None)
    return owner is not None and owner not in builtin


def _overwritten_during_initialize(cls: type, name: str) -> str | None:
    """``"<Class>.<method>"`` when a built-in method that runs in initialize() (not overridden) assigns ``name``."""
    builtin = _builtin_classes(cls)
    for method in _INITIALIZE_METHODS:
        owner = next((c for c in cls.__mro__ if method in vars(c)), None)
        if owner is None or owner not in builtin:
            continue
        if name in self_assignments(vars(owner)[method]):
            return f"{owner.__name__}.{method}"
    return None


def _builtin_classes(cls: type) -> frozenset[type]:
    """The explorer's own trainer classes in ``cls``'s hierarchy (those defined in this package)."""
    return frozenset(c for c in cls.__mro__ if c.__module__.startswith("nnunet_explorer.network_training"))


def check_trainer_class_definition(cls: type) -> None:
    """Run when a trainer class is defined: refuse the explorer's former hook names, warn about ignored values."""
    if cls.__module__.startswith("nnunet_explorer.network_training"):
        return
    for name in sorted(set(FORMER_EXPLORER_HOOKS) & set(vars(cls))):
        raise ConfigurationError(tr(f"{cls.__name__} defines {name}, which nnU-Net v1 trainers do not have (it was "
                                    "an explorer hook), so it would never be called",
                                    f"{cls.__name__} 定义了 {name}，但 nnU-Net v1 的 trainer 没有这个方法"
                                    "（它曾是 explorer 的钩子），所以它永远不会被调用"),
                                 fix=pick(FORMER_EXPLORER_HOOKS[name]))
    for setting in ignored_settings(cls):
        warnings.warn(V1IgnoresWarning(setting.message), stacklevel=3)


def note_assignment(trainer: Any, name: str, value: Any, code: CodeType) -> None:
    """Record which class's ``__init__`` (``code``) assigned ``name`` (called from ``__setattr__``)."""
    owner = next((c for c in type(trainer).__mro__
                  if getattr(vars(c).get("__init__"), "__code__", None) is code), None)
    if owner is not None:
        trainer.__dict__.setdefault("_attribute_history", {}).setdefault(name, []).append((owner.__name__, value))


def override(trainer: Any, source: str, **values: Any) -> None:
    """Set hyperparameters on ``trainer`` after construction, remembering who asked (``"--disable_saving"``)."""
    unknown = sorted(set(values) - set(HYPERPARAMETERS))
    if unknown:
        names, known = ", ".join(unknown), ", ".join(HYPERPARAMETERS)
        raise ConfigurationError(tr(f"{names} not a trainer hyperparameter", f"{names} 不是 trainer 的超参数"),
                                 fix=tr(f"known hyperparameters: {known}", f"已知的超参数：{known}"))
    sources = trainer.__dict__.setdefault("_attribute_sources", {})
    history = trainer.__dict__.setdefault("_attribute_history", {})
    for name, value in values.items():
        setattr(trainer, name, value)
        sources[name] = source
        history.setdefault(name, []).append((source, value))


# ------------------------------------------------------------------------------------------ the table
@dataclass(frozen=True)
class AttributeOrigin:
    """Where one hyperparameter's value comes from.

    Attributes:
        name: attribute name (v1's spelling), or the common name of a literal (``momentum``).
        value: the value the run uses.
        set_by: the class whose ``__init__`` set it, a flag (``--disable_saving``), or
            ``"literal in <Class>.<method>"``.
        chain: ``(setter, value)`` for every level that set it, base class first.
        user_override: a class outside the explorer's built-in trainers (or a flag) set the value.
        literal: the value is hard-coded in a v1 method, not an attribute.
        note: why a value the user set is not used (v1 ignores / overwrites it).
    """

    name: str
    value: Any
    set_by: str
    chain: tuple[tuple[str, Any], ...]
    user_override: bool
    literal: bool = False
    note: str = ""


@dataclass(frozen=True)
class TrainerAttributes:
    """Every hyperparameter of a trainer with provenance, the methods users override, and ignored settings."""

    trainer: str
    class_order: tuple[str, ...]
    attributes: tuple[AttributeOrigin, ...]
    hooks: tuple[tuple[str, str, bool], ...] = ()  # (v1 method, class defining it, defined by the user)
    ignored: tuple[IgnoredSetting, ...] = ()

    def __getitem__(self, name: str) -> AttributeOrigin:
        for attribute in self.attributes:
            if attribute.name == name:
                return attribute
        raise KeyError(name)

    @property
    def overridden(self) -> tuple[str, ...]:
        """Names of the hyperparameters a user subclass (or a flag) changed."""
        return tuple(a.name for a in self.attributes if a.user_override)

    @property
    def overridden_hooks(self) -> tuple[str, ...]:
        """v1 methods a user subclass replaced."""
        return tuple(name for name, _, user in self.hooks if user)

    def summary(self) -> str:
        lines = [f"{self.trainer}: MRO {' > '.join(self.class_order)}"]
        for a in self.attributes:
            history = " -> ".join(f"{_shown(cls)}={value!r}" for cls, value in a.chain)
            mark = tr("  [overridden by you]", "  [被你覆盖]") if a.user_override else ""
            note = f"  [{a.note}]" if a.note else ""
            lines.append(f"  {a.name} = {a.value!r}  ({tr('set by', '设置者')} {_shown(a.set_by)}; {history}){mark}{note}")
        if self.hooks:
            lines.append(tr("  methods: ", "  方法:") + ", ".join(
                tr(f"{name} from {cls}", f"{name} 来自 {cls}") + (tr(" [yours]", " [你的]") if user else "")
                for name, cls, user in self.hooks))
        for s in self.ignored:
            lines.append(f"  {tr('ignored: ', '被忽略:')}{s.message}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = []
        for a in self.attributes:
            history = " &rarr; ".join(f"{html.escape(_shown(cls))}: <code>{html.escape(repr(value))}</code>"
                                      for cls, value in a.chain)
            style = " style='background:#fff3cd'" if a.user_override else (
                " style='background:#eef'" if a.literal else "")
            note = f"<br><i>{html.escape(a.note)}</i>" if a.note else ""
            rows.append(f"<tr{style}><td><code>{html.escape(a.name)}</code></td>"
                        f"<td><code>{html.escape(repr(a.value))}</code></td><td>{html.escape(_shown(a.set_by))}</td>"
                        f"<td>{history}{note}</td></tr>")
        head = (f"<div><b>{html.escape(self.trainer)}</b> — MRO: {html.escape(' > '.join(self.class_order))}"
                + (tr("; you overrode: ", "；你覆盖了：") + html.escape(', '.join(self.overridden))
                   if self.overridden else "")
                + "</div>")
        hooks = ", ".join(tr(f"<code>{html.escape(name)}</code> from {html.escape(cls)}",
                             f"<code>{html.escape(name)}</code> 来自 {html.escape(cls)}")
                          + (f" <b>({tr('yours', '你的')})</b>" if user else "")
                          for name, cls, user in self.hooks if user)
        ignored = "".join(f"<div style='color:#a00'>&#9888; {html.escape(s.message)}</div>" for s in self.ignored)
        return (head + ignored + f"<table><tr><th>{tr('attribute', '属性')}</th><th>{tr('value', '值')}</th>"
                f"<th>{tr('set by', '设置者')}</th><th>{tr('history (base first)', '历史(从基类开始)')}</th></tr>"
                + "".join(rows) + "</table>"
                + (f"<div>{tr('your methods: ', '你的方法：')}{hooks}</div>" if hooks else ""))


def _shown(setter: str) -> str:
    """A setter as the table shows it: ``literal in C.m`` / ``C.m (yours)`` / ``C.__init__ (ignored)`` in the
    reader's language (the class and method names stay)."""
    if setter.startswith("literal in "):
        return tr(setter, f"v1 字面量,位于 {setter[len('literal in '):]}")
    for en, zh in ((" (yours)", "(你的)"), (" (ignored)", "(被忽略)")):
        if setter.endswith(en):
            return setter[:-len(en)] + tr(en, zh)
    return setter


# v1 methods a user may override, shown in the table
V1_METHODS: tuple[str, ...] = (
    "initialize", "process_plans", "setup_DA_params", "load_dataset", "do_split", "get_basic_generators",
    "initialize_network", "initialize_optimizer_and_scheduler", "run_training", "run_iteration",
    "run_online_evaluation", "finish_online_evaluation", "on_epoch_end", "maybe_update_lr", "maybe_save_checkpoint",
    "update_train_loss_MA", "update_eval_criterion_MA", "manage_patience", "plot_progress", "save_checkpoint",
    "load_checkpoint", "load_checkpoint_ram", "load_latest_checkpoint", "validate",
    "predict_preprocessed_data_return_seg_and_softmax", "print_to_log_file",
)


def _takes_plans_file(cls: type) -> bool:
    """Whether ``cls(...)`` takes v1's ``(plans_file, fold, ...)``: the first ``__init__`` of the MRO that names its
    parameters decides (a subclass's ``__init__(self, *args, **kwargs)`` passes them on, as v1's variants do)."""
    for c in cls.__mro__:
        init = vars(c).get("__init__")
        if init is None:
            continue
        params = [p for name, p in inspect.signature(init).parameters.items() if name != "self"]
        if any(p.name == "plans_file" for p in params):
            return True
        if any(p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
            return False
    return False


def _instance_for_provenance(cls: type) -> Any:
    """An instance of ``cls`` with placeholder arguments (constructors do no I/O); RNG states are kept."""
    import random

    import numpy as np
    import torch

    states = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", V1IgnoresWarning)
            if _takes_plans_file(cls):
                return cls("<plans_file>", 0, output_folder="<output_folder>")
            return cls()
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])


def attribute_provenance(trainer: Any) -> TrainerAttributes:
    """For every hyperparameter of ``trainer`` (an instance or a class): value, setter, per-level history."""
    cls = trainer if isinstance(trainer, type) else type(trainer)
    instance = _instance_for_provenance(cls) if isinstance(trainer, type) else trainer
    builtin = _builtin_classes(cls)
    values = vars(instance)
    sources = values.get("_attribute_sources", {})
    history = values.get("_attribute_history", {})
    mro = [c for c in cls.__mro__ if c is not object]
    by_name = {c.__name__: c for c in mro}
    ignored = tuple(ignored_settings(cls))
    notes = {s.name: s.message for s in ignored}
    origins = []
    for name in HYPERPARAMETERS:
        chain = list(history.get(name, ()))
        if not chain and not hasattr(instance, name):
            continue
        value = getattr(instance, name, None)
        if name in sources:
            set_by, user = sources[name], True
        elif chain:
            set_by = chain[-1][0]
            owner = by_name.get(set_by)
            user = owner is not None and owner not in builtin
        else:
            set_by, user = "<instance>", True
            chain.append(("<instance>", value))
        origins.append(AttributeOrigin(name, value, set_by, tuple(chain), bool(user), note=notes.get(name, "")))
    for lit in LITERALS:
        owner = next((c for c in mro if lit.method in vars(c)), None)
        overridden = owner is not None and owner not in builtin
        value: Any = lit.value
        optimizer = getattr(instance, "optimizer", None)
        if lit.read_back and optimizer is not None:
            value = optimizer.param_groups[0].get(lit.read_back.split()[-1], value)
        elif overridden:
            value = "?"
        set_by = (f"{owner.__name__}.{lit.method} (yours)" if overridden else
                  f"literal in {lit.defined_in}.{lit.method}")
        chain = ((f"literal in {lit.defined_in}.{lit.method}", lit.value),)
        if lit.name in notes:
            chain += ((f"{cls.__name__}.__init__ (ignored)", history.get(lit.name, [(None, "?")])[-1][1]
                       if lit.name in history else getattr(instance, lit.name, "?")),)
        example = _LITERAL_EXAMPLES.get(lit.name)
        how = "" if overridden else tr(
            f"a literal in v1's {lit.defined_in}.{lit.method}, not an attribute: override that method to change it"
            + (f", as v1's {example} does" if example else ""),
            f"v1 的 {lit.defined_in}.{lit.method} 中的字面量,不是属性:要改它,就覆盖这个方法"
            + (f"(v1 自己的 {example} 就是这样做的)" if example else ""))
        origins.append(AttributeOrigin(lit.name, value, set_by, chain, overridden, literal=not overridden,
                                       note=notes.get(lit.name, how)))
    hooks = []
    for name in V1_METHODS:
        owner = next((c for c in mro if name in vars(c)), None)
        if owner is not None:
            hooks.append((name, owner.__name__, owner not in builtin))
    return TrainerAttributes(cls.__name__, tuple(c.__name__ for c in mro), tuple(origins), tuple(hooks), ignored)


__all__ = ["AttributeOrigin", "HYPERPARAMETERS", "IgnoredSetting", "LITERALS", "Literal", "TrainerAttributes",
           "V1IgnoresWarning", "attribute_provenance", "check_trainer_class_definition", "ignored_settings",
           "names_read", "note_assignment", "override", "self_assignments"]
