"""A pipeline runs steps in order and caches each output under the step's name.

What a learner can do with it::

    p = Pipeline([step_a, step_b, step_c])
    p.run(until="b")            # runs a, b (cached); returns b's StepResult
    p["b"]                      # b's output
    p.rerun("a", seed=3)        # new seed for a: a re-runs, b and c (downstream of a) are invalidated
    p.set_params("b", k=2)      # turn a knob; b and everything that depends on it is invalidated
    p.summary()                 # walk all steps: shapes, dtypes, ranges, label sets; names the failing step

A failing step is recorded (its inputs, parameters and the error) and the error re-raised so the learner
sees where and why: explorer errors keep their type and gain the step's name, other exceptions are wrapped
in :class:`~nnunet_explorer.explore.step.StepFailed`.
"""
from __future__ import annotations

import contextlib
import dataclasses
import inspect
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping

from ..errors import ExplorerError
from ..language import tr
from .html import pending_card, report_page, step_card
from .notes import Why
from ..seeding import preserved_rng
from .step import Shown, Step, StepError, StepFailed, StepResult, make_step, seed_everything
from .summary import summary_rows

_UNSET: Any = object()


class Pipeline:
    """Steps in order, their cached results, and the parameters and seeds chosen for each.

    Args:
        steps: :class:`Step` objects or plain functions (wrapped with :func:`make_step`).
        name: title used in summaries and reports.
        params: initial knob values per step name, e.g. ``{"batch": {"batch_size": 2}}``.
        seeds: seed per step name (overrides the step's default seed).
    """

    def __init__(self, steps: Iterable[Step | Callable[..., Any]], *, name: str = "pipeline",
                 params: Mapping[str, Mapping[str, Any]] | None = None,
                 seeds: Mapping[str, int | None] | None = None) -> None:
        self.name = name
        self._steps: list[Step] = [s if isinstance(s, Step) else make_step(s) for s in steps]
        self._index = {s.name: i for i, s in enumerate(self._steps)}
        if len(self._index) != len(self._steps):
            raise ValueError("step names must be unique")
        for i, s in enumerate(self._steps):
            for needed in s.inputs:
                if needed not in self._index or self._index[needed] >= i:
                    raise ValueError(f"step {s.name!r} needs {needed!r}, which no earlier step produces")
        self._params: dict[str, dict[str, Any]] = {s.name: {} for s in self._steps}
        self._seeds: dict[str, int | None] = {s.name: s.seed for s in self._steps}
        self._results: dict[str, StepResult] = {}
        # optional page furniture for report_html: functions of the pipeline returning HTML placed before the
        # cards (a table of contents) and after them (a glossary); language of the page
        self.report_before: Callable[["Pipeline"], str] | None = None
        self.report_after: Callable[["Pipeline"], str] | None = None
        self.report_lang: Callable[[], str] | None = None
        for step_name, values in (params or {}).items():
            self.set_params(step_name, **values)
        for step_name, seed in (seeds or {}).items():
            self._step(step_name)
            self._seeds[step_name] = seed

    # ----------------------------------------------------------------------------------------- inspection
    @property
    def steps(self) -> tuple[Step, ...]:
        return tuple(self._steps)

    @property
    def step_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self._steps)

    @property
    def results(self) -> Mapping[str, StepResult]:
        """Results recorded so far (successful and failed), in step order."""
        return MappingProxyType({n: self._results[n] for n in self.step_names if n in self._results})

    @property
    def failed(self) -> StepResult | None:
        """The result of the step that failed last, if the pipeline stopped on an error."""
        return next((r for r in self._results.values() if not r.ok), None)

    def _step(self, name: str) -> Step:
        try:
            return self._steps[self._index[name]]
        except KeyError:
            raise KeyError(f"no step named {name!r}; steps are: {', '.join(self.step_names)}") from None

    def step(self, name: str) -> Step:
        return self._step(name)

    def result(self, name: str) -> StepResult:
        """The recorded result of step ``name`` (KeyError if it has not run)."""
        self._step(name)
        if name not in self._results:
            raise KeyError(f"step {name!r} has not run yet; call run(until={name!r})")
        return self._results[name]

    def __getitem__(self, name: str) -> Any:
        """The cached output of step ``name``, running the pipeline up to it if needed."""
        result = self._results.get(name)
        if result is None or not result.ok:
            result = self.run(until=name)
        return result.output

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._results and self._results[name].ok

    def params(self, name: str) -> dict[str, Any]:
        """The knob values that will be passed to step ``name`` (only those set explicitly)."""
        self._step(name)
        return dict(self._params[name])

    def seed(self, name: str) -> int | None:
        self._step(name)
        return self._seeds[name]

    def inputs_of(self, name: str) -> dict[str, Any]:
        """The cached outputs step ``name`` consumes (they must have been computed)."""
        return {needed: self._results[needed].output for needed in self._step(name).inputs
                if needed in self._results and self._results[needed].ok}

    def downstream(self, name: str) -> list[str]:
        """Names of the steps that depend on ``name``, directly or through other steps (in order)."""
        start = self._index[self._step(name).name]
        affected = {name}
        for s in self._steps[start + 1:]:
            if affected.intersection(s.inputs):
                affected.add(s.name)
        return [n for n in self.step_names if n in affected and n != name]

    # ------------------------------------------------------------------------------------------- changes
    def annotate(self, name: str, why: Why) -> None:
        """Give step ``name`` teaching notes (its card shows them); a recorded result gets them too."""
        index = self._index[self._step(name).name]
        self._steps[index] = dataclasses.replace(self._steps[index], why=why)
        if name in self._results:
            self._results[name] = dataclasses.replace(self._results[name], why=why)

    def invalidate(self, name: str) -> list[str]:
        """Forget the result of ``name`` and of everything downstream; returns the names forgotten."""
        dropped = [n for n in [name, *self.downstream(name)] if n in self._results]
        for n in dropped:
            del self._results[n]
        return dropped

    def set_params(self, name: str, **params: Any) -> list[str]:
        """Set knobs of step ``name`` (invalidating it and its downstream steps); returns what was invalidated."""
        s = self._step(name)
        s.check_params(params)
        self._params[name].update(params)
        return self.invalidate(name)

    def set_seed(self, name: str, seed: int | None) -> list[str]:
        self._step(name)
        self._seeds[name] = seed
        return self.invalidate(name)

    def rerun(self, name: str, *, seed: int | None = _UNSET, **params: Any) -> StepResult:
        """Re-run step ``name`` (optionally with a new seed or knob values); downstream results are dropped."""
        if seed is not _UNSET:
            self._seeds[self._step(name).name] = seed
        self.set_params(name, **params)
        return self.run(until=name)

    # ------------------------------------------------------------------------------------------- running
    def run(self, until: str | None = None) -> StepResult:
        """Run every step up to and including ``until`` (default: all) that has no cached result.

        Returns the result of the last step run (or cached). Raises the step's error if one fails.
        """
        last_index = self._index[self._step(until).name] if until is not None else len(self._steps) - 1
        last: StepResult | None = None
        for s in self._steps[:last_index + 1]:
            cached = self._results.get(s.name)
            last = cached if cached is not None and cached.ok else self._run_one(s)
        assert last is not None, "a pipeline needs at least one step"
        return last

    def run_only(self, name: str) -> StepResult:
        """Run step ``name`` alone, on the cached outputs of its inputs (the steps between are not run).

        For a caller that drives the steps itself (a command that trains without the looks in between): the
        step is recorded like any other, so a report shows exactly which steps ran.

        Raises:
            KeyError: an input of the step has no (successful) result yet.
        """
        s = self._step(name)
        missing = [n for n in s.inputs if n not in self._results or not self._results[n].ok]
        if missing:
            raise KeyError(f"step {name!r} needs {', '.join(missing)} first")
        return self._run_one(s)

    def _run_one(self, s: Step) -> StepResult:
        inputs = {needed: self._results[needed].output for needed in s.inputs}
        params = dict(self._params[s.name])
        # the record shows every knob with the value in effect (defaults included); only the knobs set
        # explicitly are passed, so the function's own defaults apply to the others
        effective = {k: v for k, v in s.knobs.items() if v is not inspect.Parameter.empty}
        effective.update(params)
        seed = self._seeds[s.name]
        start = time.perf_counter()
        try:
            with preserved_rng() if s.isolated_rng else contextlib.nullcontext():
                if seed is not None:
                    seed_everything(seed)
                output = s.func(*inputs.values(), **params)
        except Exception as exc:  # recorded, then re-raised below with the step's name
            seconds = time.perf_counter() - start
            error = StepError(type(exc).__name__, str(exc), traceback.format_exc(), exc)
            result = StepResult(s.name, MappingProxyType(inputs), MappingProxyType(effective), None, error, seconds,
                                seed, s.v1, s.doc, s.title, s.why)
            self._results[s.name] = result
            raise _named(exc, s.name, result) from exc
        seconds = time.perf_counter() - start
        look = None
        if isinstance(output, Shown):  # the value goes on; the look stays with the card
            output, look = output.value, output.look
        result = StepResult(s.name, MappingProxyType(inputs), MappingProxyType(effective), output, None, seconds, seed,
                            s.v1, s.doc, s.title, s.why, look)
        self._results[s.name] = result
        return result

    # ---------------------------------------------------------------------------------------- rendering
    def summary(self, until: str | None = None, *, run: bool = True) -> "PipelineSummary":
        """Walk the steps (running those not yet run, unless ``run=False``) and describe every output.

        Like fastai's ``DataBlock.summary()``: one block per step with shapes, dtypes, ranges and label sets;
        if a step fails the walk stops there and the summary names the failing step and its error (the
        error is *not* raised, so a learner can read the summary). ``print(p.summary())`` in a script.
        """
        if run:
            try:
                self.run(until)
            except Exception:  # noqa: BLE001 - the failure is recorded in the results and shown below
                pass
        return PipelineSummary(self.name, tuple(self._steps), dict(self.results), until)

    def report_html(self, title: str | None = None, intro: str = "") -> str:
        """A standalone HTML page with the card of every step that ran (and a grey line for the others)."""
        cards = [step_card(self._results[s.name]) if s.name in self._results else pending_card(s.name, s.doc, s.notes)
                 for s in self._steps]
        before = self.report_before(self) if self.report_before is not None else ""
        after = self.report_after(self) if self.report_after is not None else ""
        lang = self.report_lang() if self.report_lang is not None else "en"
        return report_page(title or self.name, cards, intro, before=before, after=after, lang=lang)

    def _repr_html_(self) -> str:
        cards = [step_card(self._results[s.name]) if s.name in self._results else pending_card(s.name, s.doc, s.notes)
                 for s in self._steps]
        return f"<div><b>{self.name}</b>{''.join(cards)}</div>"

    def __repr__(self) -> str:
        states = []
        for s in self._steps:
            r = self._results.get(s.name)
            states.append(f"{s.name}{'' if r is None else (' ok' if r.ok else ' FAILED')}")
        return f"<Pipeline {self.name}: {' -> '.join(states)}>"


def _named(exc: Exception, step_name: str, result: StepResult) -> Exception:
    """The exception to raise for a failed step: same explorer error type with the step named, or StepFailed."""
    if isinstance(exc, ExplorerError):
        named = type(exc).__new__(type(exc))
        # ExplorerError subclasses share the (message, fix, step) constructor; the pipeline's step name wins,
        # so the message names the step the learner ran.
        ExplorerError.__init__(named, exc.cause, fix=exc.fix, step=step_name)
        named.result = result  # type: ignore[attr-defined]
        return named
    return StepFailed(step_name, exc, result)


@dataclass(frozen=True)
class PipelineSummary:
    """The text walk through a pipeline's outputs; ``str()`` / ``repr()`` give the text, notebooks get ``<pre>``."""

    name: str
    steps: tuple[Step, ...]
    results: Mapping[str, StepResult]
    until: str | None = None

    @property
    def failed_step(self) -> str | None:
        return next((n for n, r in self.results.items() if not r.ok), None)

    def text(self) -> str:
        lines = [tr("Pipeline summary: ", "流程概要：") + self.name]
        for i, s in enumerate(self.steps, 1):
            r = self.results.get(s.name)
            mirrors = f"  ({tr('mirrors', '对应')} {s.v1.dotted})" if s.v1 else ""
            if r is None:
                lines.append(f"{i:>2}. {s.name}: {tr('not run', '未运行')}{mirrors}")
                continue
            seed = f", {tr('explorer seed', 'explorer 种子')} {r.seed}" if r.seed is not None else ""
            status = "ok" if r.ok else tr("FAILED", "失败")
            notes = r.notes
            title = f" · {notes.title}" if notes is not None and notes.title else ""
            lines.append(f"{i:>2}. {s.name}: {status}{tr(' in', ',用时')} {r.seconds:.3f} s{seed}{mirrors}{title}")
            if notes is not None:
                lines += notes.text_lines(indent="      ")
            changed = _changed_knobs(s, r.params)
            if changed:
                lines.append(f"      {tr('params: ', '参数：')}"
                             + ", ".join(f"{k}={_short_repr(v)}" for k, v in changed.items()))
            if r.ok and r.look is not None:
                lines += [f"      {text}" for _, text in summary_rows(r.look)]
            if r.ok:
                for path, text in summary_rows(r.output):
                    label = f"{path}: " if path else ""
                    lines.append(f"      {label}{text}")
            else:
                lines.append(f"      {tr('error: ', '错误：')}" + str(r.error).replace("\n", "\n        "))
                lines.append(f"      {tr('inputs it received: ', '它收到的输入：')}"
                             f"{', '.join(r.inputs) or tr('(none)', '(无)')}")
        failed = self.failed_step
        if failed:
            error = str(self.results[failed].error).replace("\n", "\n  ")
            lines.append(tr(f"Stopped: step '{failed}' failed: {error}", f"已停止:步骤 '{failed}' 失败:{error}"))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        import html

        return f"<pre>{html.escape(self.text())}</pre>"


def _changed_knobs(s: Step, params: Mapping[str, Any]) -> dict[str, Any]:
    """The knobs whose value differs from the function's default (what the learner changed)."""
    defaults = s.knobs
    changed = {}
    for key, value in params.items():
        default = defaults.get(key, inspect.Parameter.empty)
        try:
            same = default is value or bool(default == value)
        except Exception:  # e.g. arrays: treat as changed
            same = False
        if not same:
            changed[key] = value
    return changed


def _short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def write_report(pipeline: Pipeline, path: str | Path, *, overwrite: bool = False, title: str | None = None,
                 intro: str = "") -> Path:
    """Write :meth:`Pipeline.report_html` to ``path`` atomically; refuse to replace a file unless ``overwrite``."""
    from ..fileio import write_text_atomic

    target = Path(path)
    if target.exists() and not overwrite:
        raise FileExistsError(str(target))
    write_text_atomic(target, pipeline.report_html(title, intro))
    return target
