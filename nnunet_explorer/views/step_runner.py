"""A step-runner panel: run a pipeline to a chosen step, re-run a step with a seed, turn a step's knobs.

:class:`StepRunner` wraps any :class:`~nnunet_explorer.explore.Pipeline` (the training walkthrough, for
instance) in ipywidgets::

    runner = StepRunner(training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0))
    runner                      # dropdown of steps, "Run to step", seed + "Re-run", one control per knob

The controls of a step are generated from the step function's *keyword-only* parameters (its knobs), with
the widget chosen from the default value's type: a checkbox for booleans, integer and float fields for
numbers, a text field for strings, and a text field holding a Python literal for anything else (``None``,
tuples). Applying them calls ``pipeline.set_params`` (which invalidates the step and everything downstream)
and re-runs the step, so the card below always shows what the pipeline really holds.
"""
from __future__ import annotations

import ast
import html
import inspect
from typing import Any

from ..language import is_chinese, tr
from .widgets_common import require_ipywidgets, show_html_in_output


def _literal_help() -> str:
    return tr("a Python literal, e.g. None, 3, (1, 2) or 'text'", "一个 Python 字面量，例如 None、3、(1, 2) 或 'text'")


def knob_widget(name: str, default: Any, current: Any = inspect.Parameter.empty):
    """The ipywidget for one keyword-only parameter, chosen from the type of its default value."""
    widgets = require_ipywidgets()
    value = default if current is inspect.Parameter.empty else current
    style = {"description_width": "initial"}
    if isinstance(default, bool):
        return widgets.Checkbox(value=bool(value), description=name, style=style, indent=False)
    if isinstance(default, int) and not isinstance(default, bool):
        return widgets.IntText(value=int(value), description=name, style=style)
    if isinstance(default, float):
        return widgets.FloatText(value=float(value), description=name, style=style)
    if isinstance(default, str):
        return widgets.Text(value=str(value), description=name, style=style)
    text = "" if value is inspect.Parameter.empty else repr(value)
    return widgets.Text(value=text, description=name, placeholder=_literal_help(), style=style,
                        tooltip=_literal_help())


def read_knob(widget: Any, default: Any) -> Any:
    """The Python value a knob widget holds (literal text is parsed with ``ast.literal_eval``)."""
    if isinstance(default, (bool, int, float, str)):
        return widget.value
    text = widget.value.strip()
    if text == "":
        return default if default is not inspect.Parameter.empty else None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError) as exc:
        raise ValueError(tr(f"{widget.description}: {text!r} is not {_literal_help()}",
                            f"{widget.description}：{text!r} 不是{_literal_help()}")) from exc


class StepRunner:
    """ipywidgets panel over a :class:`~nnunet_explorer.explore.Pipeline`.

    Attributes:
        step_select: dropdown of step names.
        run_button: runs the pipeline up to the selected step (cached steps are not re-run).
        seed: seed for "Re-run with seed" (the step's current seed to start with).
        rerun_button: re-runs the selected step with that seed (downstream results are dropped).
        knobs: box of generated controls for the selected step's keyword-only parameters.
        apply_button: sets those knob values and re-runs the step.
        status: one-line status; output: the step's card (HTML).
    """

    def __init__(self, pipeline: Any, *, initial: str | None = None) -> None:
        widgets = require_ipywidgets()
        self.pipeline = pipeline
        names = list(pipeline.step_names)
        self.step_select = widgets.Dropdown(options=names, value=initial or names[0], description=tr("step", "步骤"))
        self.run_button = widgets.Button(description=tr("Run to step", "运行到此步"), button_style="primary")
        self.seed = widgets.IntText(value=0, description=tr("seed", "种子"), layout=widgets.Layout(width="160px"))
        self.rerun_button = widgets.Button(description=tr("Re-run with seed", "用此种子重新运行"))
        self.apply_button = widgets.Button(description=tr("Apply knobs and re-run", "应用参数并重新运行"))
        self.knobs = widgets.VBox([])
        self.status = widgets.HTML("")
        self.output = widgets.Output()
        self._knob_widgets: dict[str, Any] = {}
        self.last_error: Exception | None = None
        self.step_select.observe(lambda change: self._select(change["new"]), names="value")
        self.run_button.on_click(lambda _b: self.run_to())
        self.rerun_button.on_click(lambda _b: self.rerun_with_seed())
        self.apply_button.on_click(lambda _b: self.apply_knobs())
        self.widget = widgets.VBox([
            widgets.HBox([self.step_select, self.run_button]),
            widgets.HBox([self.seed, self.rerun_button]),
            widgets.HTML(tr("<b>knobs</b> (keyword-only parameters of the step function)",
                            "<b>参数</b>（步骤函数的仅限关键字参数）")),
            self.knobs, self.apply_button, self.status, self.output])
        self._select(self.step_select.value)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    # ---------------------------------------------------------------------------------------------- state
    @property
    def selected(self) -> str:
        return str(self.step_select.value)

    def knob_widgets(self) -> dict[str, Any]:
        """The generated control of each knob of the selected step, by parameter name."""
        return dict(self._knob_widgets)

    def _select(self, name: str) -> None:
        step = self.pipeline.step(name)
        current = self.pipeline.params(name)
        self._knob_widgets = {k: knob_widget(k, default, current.get(k, inspect.Parameter.empty))
                              for k, default in step.knobs.items() if not callable(default)}
        self.knobs.children = tuple(self._knob_widgets.values())
        seed = self.pipeline.seed(name)
        self.seed.value = int(seed) if seed is not None else 0
        self.apply_button.disabled = not self._knob_widgets
        if name in self.pipeline.results:
            self._show(self.pipeline.results[name])
        else:
            self.status.value = f"<i>{html.escape(_lead(step))}</i>"

    # ---------------------------------------------------------------------------------------------- actions
    def run_to(self, name: str | None = None) -> Any:
        """Run the pipeline up to ``name`` (default: the selected step); shows and returns its result."""
        return self._guard(lambda: self.pipeline.run(until=name or self.selected))

    def rerun_with_seed(self, seed: int | None = None) -> Any:
        """Re-run the selected step with ``seed`` (default: the seed field)."""
        value = int(self.seed.value) if seed is None else int(seed)
        self.seed.value = value
        return self._guard(lambda: self.pipeline.rerun(self.selected, seed=value))

    def apply_knobs(self) -> Any:
        """Set the selected step's knobs from the controls (only those that differ) and re-run it."""
        step = self.pipeline.step(self.selected)
        current = self.pipeline.params(self.selected)

        def go() -> Any:
            changed = {}
            for name, widget in self._knob_widgets.items():
                default = step.knobs[name]
                value = read_knob(widget, default)
                before = current.get(name, default)
                if not _same(value, before):
                    changed[name] = value
            return self.pipeline.rerun(self.selected, **changed)

        return self._guard(go)

    def _guard(self, action: Any) -> Any:
        self.status.value = tr("running…", "运行中…")
        try:
            result = action()
        except Exception as exc:  # noqa: BLE001 - the panel shows the error instead of raising in a callback
            failed = self.pipeline.failed
            message = f"{type(exc).__name__}: {exc}"
            self.status.value = f"<span style='color:#b00'>{html.escape(message)}</span>"
            if failed is not None:
                show_html_in_output(self.output, failed._repr_html_())
            self.last_error = exc
            return None
        self.last_error = None
        self._show(result)
        return result

    def _show(self, result: Any) -> None:
        state = tr("ok", "成功") if result.ok else tr("FAILED", "失败")
        seed = tr(f", explorer seed {result.seed}", f"，explorer 种子 {result.seed}") if result.seed is not None else ""
        self.status.value = tr(f"<b>{html.escape(result.name)}</b>: {state} in {result.seconds:.2f} s{seed}",
                               f"<b>{html.escape(result.name)}</b>：{state}，用时 {result.seconds:.2f} 秒{seed}")
        show_html_in_output(self.output, result._repr_html_())


def _lead(step: Any) -> str:
    """The step's lead line (its docstring's first line), in Chinese under ``zh`` where the step has a current
    translation."""
    if is_chinese():
        from ..teaching.step_docs import step_doc_zh

        zh = step_doc_zh(step.name, step.func.__doc__)
        if zh:
            return zh.splitlines()[0]
    return step.first_line


def _same(a: Any, b: Any) -> bool:
    try:
        return a is b or bool(a == b)
    except Exception:  # noqa: BLE001 - arrays and the like: treat as changed
        return False


__all__ = ["StepRunner", "knob_widget", "read_knob"]
