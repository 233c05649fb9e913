"""Steps: plain functions with a name for the value they produce, and the record of one run of a step.

A *step* is one plain function. Its name is the name of the value it produces (``configuration``,
``network``, ``batch``); its positional parameters are the names of earlier steps' outputs it needs (its
*inputs*); its keyword-only parameters are the knobs a learner may turn; its docstring is the explanation the
learner reads. Steps hold no state: everything a step needs comes in through its parameters, so the
:class:`~nnunet_explorer.explore.pipeline.Pipeline` can cache, re-run and invalidate them freely.

This module knows nothing of nnU-Net. The only link to v1 is the optional :class:`V1Reference` a step
carries (taken from the function's ``@mirrors`` decoration, or given explicitly), shown in the step's card.
"""
from __future__ import annotations

import inspect
import textwrap
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping

from .notes import StepNotes, Why, resolve_why
from ..provenance import V1Reference, parse_reference, v1_reference_of
from ..seeding import seed_everything  # re-exported: the steps seed with it


@dataclass(frozen=True)
class Step:
    """One step of a pipeline: a function, the name of its output, its inputs and the v1 object it mirrors.

    Attributes:
        name: name of the value the step produces; later steps ask for it by this name.
        func: the plain function. It is called as ``func(*input_values, **params)``.
        inputs: names of earlier step outputs, passed positionally in this order.
        v1: the nnU-Net v1 object this step mirrors (None for explorer-only steps).
        seed: default seed; when not None the pipeline seeds ``random``, numpy and torch before running it.
        title: a short human title for cards (defaults to the name).
        why: the step's teaching notes (a :class:`~nnunet_explorer.explore.notes.StepNotes`, or a function
            returning one, called each time a card is drawn so that the notes can follow a language setting).
        isolated_rng: the step is a *look*: its seeding and its draws leave the random streams as they were
            before it (the steps after it draw exactly what they would have drawn without it).
    """

    name: str
    func: Callable[..., Any]
    inputs: tuple[str, ...] = ()
    v1: V1Reference | None = None
    seed: int | None = None
    title: str = ""
    why: Why = None
    isolated_rng: bool = False

    @property
    def notes(self) -> StepNotes | None:
        """The teaching notes as they read now (None if the step has none)."""
        return resolve_why(self.why)

    @property
    def doc(self) -> str:
        """The function's docstring, dedented: the explanation a learner reads."""
        return inspect.cleandoc(self.func.__doc__ or "").strip()

    @property
    def first_line(self) -> str:
        return self.doc.splitlines()[0] if self.doc else self.name

    @property
    def knobs(self) -> Mapping[str, Any]:
        """The keyword-only parameters of the function and their defaults (``inspect.Parameter.empty`` if none)."""
        sig = inspect.signature(self.func)
        return MappingProxyType({p.name: p.default for p in sig.parameters.values()
                                 if p.kind is inspect.Parameter.KEYWORD_ONLY})

    def check_params(self, params: Mapping[str, Any]) -> None:
        """Raise ``TypeError`` naming the step if ``params`` holds a knob the function does not have."""
        unknown = sorted(set(params) - set(self.knobs))
        if unknown and not _accepts_var_keyword(self.func):
            known = ", ".join(self.knobs) or "(none)"
            raise TypeError(f"step {self.name!r} has no parameter(s) {', '.join(unknown)}; its knobs are: {known}")

    def __call__(self, *input_values: Any, **params: Any) -> Any:
        return self.func(*input_values, **params)


def _accepts_var_keyword(func: Callable[..., Any]) -> bool:
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in inspect.signature(func).parameters.values())


def positional_inputs(func: Callable[..., Any]) -> tuple[str, ...]:
    """Names of ``func``'s positional parameters: by convention, the names of the step outputs it consumes."""
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return tuple(p.name for p in inspect.signature(func).parameters.values() if p.kind in kinds)


def make_step(func: Callable[..., Any], *, name: str | None = None, inputs: tuple[str, ...] | list[str] | None = None,
              v1: str | V1Reference | None = None, seed: int | None = None, title: str = "",
              why: Why = None, isolated_rng: bool = False) -> Step:
    """Wrap a plain function into a :class:`Step`.

    Args:
        func: the function. Positional parameters receive earlier outputs, keyword-only parameters are knobs.
        name: name of the produced value; defaults to the function's name.
        inputs: names of the outputs passed positionally; defaults to the names of the positional parameters.
        v1: the v1 object mirrored, as ``"module:Qualname"``; defaults to the function's ``@mirrors`` mark.
        seed: default seed of the step (None: the step draws no random numbers, or is not seeded).
        title: short title for cards.
        why: teaching notes shown in the card (see :class:`Step`).
        isolated_rng: seed and run the step without changing the random streams around it (see :class:`Step`).
    """
    reference = parse_reference(v1) if isinstance(v1, str) else (v1 or v1_reference_of(func))
    step_inputs = tuple(inputs) if inputs is not None else positional_inputs(func)
    return Step(name or func.__name__, func, step_inputs, reference, seed, title, why, isolated_rng)


def step(name: str | None = None, *, inputs: tuple[str, ...] | list[str] | None = None,
         v1: str | None = None, seed: int | None = None, title: str = "") -> Callable[[Callable[..., Any]], Step]:
    """Decorator form of :func:`make_step`: ``@step("configuration", v1="nnunet.run...:get_default_configuration")``."""

    def wrap(func: Callable[..., Any]) -> Step:
        return make_step(func, name=name, inputs=inputs, v1=v1, seed=seed, title=title)

    return wrap


@dataclass(frozen=True)
class Shown:
    """A step's output together with something its card shows: ``return Shown(value, look)``.

    The pipeline passes ``value`` on (later steps receive it, ``pipeline[name]`` returns it) and keeps ``look`` in
    the step's result for the card: how the value came about, when that is worth seeing but is not the value
    (e.g. the modules a name search visited before it returned the class).
    """

    value: Any
    look: Any


@dataclass(frozen=True)
class StepError:
    """The error a step raised: its type, message and formatted traceback."""

    type_name: str
    message: str
    traceback: str
    exception: BaseException | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        return f"{self.type_name}: {self.message}"


@dataclass(frozen=True)
class StepResult:
    """What one run of a step did: inputs, parameters, output or error, time taken, seed, v1 reference.

    A result renders itself: ``repr(result)`` is a one-line summary, ``result._repr_html_()`` a card with the
    step's explanation, a link to the v1.7.1 source it mirrors, its parameters, timing and a summary of the
    output (or the error), for notebooks and ``--report`` pages.
    """

    name: str
    inputs: Mapping[str, Any]
    params: Mapping[str, Any]
    output: Any = None
    error: StepError | None = None
    seconds: float = 0.0
    seed: int | None = None
    v1: V1Reference | None = None
    doc: str = ""
    title: str = ""
    why: Why = None
    look: Any = None  # what the card shows besides the output (see Shown); None for most steps

    @property
    def notes(self) -> StepNotes | None:
        """The step's teaching notes as they read now, given this result (None if it has none)."""
        return resolve_why(self.why, self)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def v1_url(self) -> str | None:
        """Link to the v1.7.1 source file of the mirrored object."""
        return self.v1.url if self.v1 is not None else None

    def __repr__(self) -> str:
        from .summary import summarize_text

        status = "ok" if self.ok else "FAILED"
        seed = f", seed={self.seed}" if self.seed is not None else ""
        body = summarize_text(self.output) if self.ok else str(self.error)
        body = textwrap.shorten(" ".join(body.split()), 160)
        return f"<StepResult {self.name} [{status}, {self.seconds:.3f} s{seed}] {body}>"

    def _repr_html_(self) -> str:
        from .html import step_card

        return step_card(self)


class StepFailed(RuntimeError):
    """A step raised an error that is not one of the explorer's own (most likely a bug); names the step.

    The original exception is ``__cause__``; the failed :class:`StepResult` is ``result``.
    """

    def __init__(self, step_name: str, original: BaseException, result: StepResult | None = None) -> None:
        self.step = step_name
        self.original = original
        self.result = result
        super().__init__(f"step {step_name!r} failed: {type(original).__name__}: {original}")
