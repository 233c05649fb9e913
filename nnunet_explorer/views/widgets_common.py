"""Small helpers shared by the notebook widgets: figures to PNG, thread-safe Output updates, throttles.

Everything here is UI glue. The widgets build matplotlib ``Figure`` objects directly (no pyplot, so no global
figure state and no "shown twice" surprises in notebooks), render them to PNG bytes with the Agg canvas, and
put the PNG into an ``ipywidgets.Output`` by *replacing its outputs list*. Replacing the list is one trait
assignment, which works from any thread (a training loop running in the background included), unlike the
``with output:`` context manager that captures only the thread that executes the cell.
"""
from __future__ import annotations

import base64
import io
import time
from typing import Any, Callable


def new_figure(width: float, height: float):
    """A matplotlib ``Figure`` that is not registered with pyplot (``constrained`` layout)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def figure_png(fig: Any, dpi: int = 80) -> bytes:
    """Render ``fig`` with the Agg backend and return the PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)  # a pyplot-free Figure switches to Agg for PNG output
    return buffer.getvalue()


def show_png_in_output(output: Any, png: bytes, *, alt: str = "") -> None:
    """Replace everything an ``ipywidgets.Output`` shows by one PNG image (thread-safe: one trait set).

    The notebook front end renders this as a plain ``<img>`` inside the ``.widget-output`` element.
    """
    data = {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": alt or "<figure>"}
    output.outputs = ({"output_type": "display_data", "data": data, "metadata": {}},)


def show_html_in_output(output: Any, html_text: str) -> None:
    """Replace everything an ``ipywidgets.Output`` shows by one HTML fragment (thread-safe)."""
    output.outputs = ({"output_type": "display_data",
                       "data": {"text/html": html_text, "text/plain": "<html>"}, "metadata": {}},)


def show_figure_in_output(output: Any, fig: Any, *, dpi: int = 80) -> None:
    """Render ``fig`` to PNG and show it in ``output`` (replacing what was there)."""
    show_png_in_output(output, figure_png(fig, dpi=dpi))


class Throttle:
    """Says whether enough time has passed since the last accepted call: ``if throttle.ready(): redraw()``.

    Time-based, so the redraw rate does not depend on how fast the loop runs: at ``min_interval=0.5`` a loop
    doing 1000 iterations per second still redraws at most twice a second.
    """

    def __init__(self, min_interval: float, clock: Callable[[], float] = time.perf_counter) -> None:
        self.min_interval = float(min_interval)
        self._clock = clock
        self._last: float | None = None

    def ready(self, *, force: bool = False) -> bool:
        now = self._clock()
        if force or self._last is None or now - self._last >= self.min_interval:
            self._last = now
            return True
        return False

    def reset(self) -> None:
        self._last = None


def format_seconds(seconds: float | None) -> str:
    """``75.2`` -> ``"1:15"``; ``3725`` -> ``"1:02:05"``; None or not finite -> ``"?"``."""
    if seconds is None or seconds != seconds or seconds in (float("inf"), float("-inf")) or seconds < 0:
        return "?"
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def require_ipywidgets() -> Any:
    """Import ipywidgets, with a message that says how to get it if it is missing."""
    try:
        import ipywidgets
    except ImportError as exc:  # pragma: no cover - ipywidgets is a dependency of the notebook extra
        raise ImportError("the notebook widgets need ipywidgets 8: pip install 'ipywidgets>=8'") from exc
    return ipywidgets


def prepare_sample_task(task_id: int = 901, kind: str = "synthetic-ct", *, preprocess: bool = True,
                        quiet: bool = True) -> tuple[Any, str]:
    """Make sure the sample task exists in the current workspace (and is planned and preprocessed).

    Idempotent, for notebooks that must run top to bottom on a fresh machine: writes the sample with
    ``nnunet-explorer sample KIND --task_id ID --exist_ok`` and runs ``plan_and_preprocess -t ID -tl 1 -tf 1``
    only if the 3D plans are missing. Returns ``(workspace, task_name)``.
    """
    import contextlib

    from ..cli import main as cli_main
    from ..paths import get_workspace
    from ..tasks import resolve_task_name

    workspace = get_workspace(announce=False).ensure()
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink) if quiet else contextlib.nullcontext():
        status = cli_main(["sample", kind, "--task_id", str(task_id), "--exist_ok"])
    if status != 0:
        raise RuntimeError(f"writing the sample task failed:\n{sink.getvalue()}")
    name = resolve_task_name(str(task_id), workspace)
    if preprocess and not (workspace.preprocessed_task_dir(name) / "nnUNetPlansv2.1_plans_3D.pkl").is_file():
        from ..planning.run import plan_and_preprocess

        with contextlib.redirect_stdout(sink) if quiet else contextlib.nullcontext():
            plan_and_preprocess([task_id], tl=1, tf=1, workspace=workspace, progress=False,
                                log=(lambda _msg: None) if quiet else None)
    return workspace, name
