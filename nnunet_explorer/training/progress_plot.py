"""Figures of a training run: v1's ``progress.png``.

Built with ``matplotlib.figure.Figure`` and the Agg canvas inside the functions (no ``pyplot``, no global
state: not even ``rcParams``, the font size is given to every text), so the training loop can call
:func:`save_progress_png` on a headless machine, :class:`ProgressPlotter` can draw it in a background thread
while a notebook draws its own figures, and a notebook can show :func:`progress_figure` directly.
"""
from __future__ import annotations

import os
from typing import Sequence

from ..fileio import atomic_open
from ..provenance import mirrors
from .background import BackgroundWorker


@mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer.plot_progress")
def progress_figure(all_tr_losses: Sequence[float], all_val_losses: Sequence[float],
                    all_val_losses_tr_mode: Sequence[float] = (), all_val_eval_metrics: Sequence[float] = (), *,
                    figsize: tuple[float, float] = (30, 24), font_size: float = 18):
    """v1's progress plot: losses per epoch on the left axis, the online Dice estimate on the right.

    Blue ``loss_tr``, red ``loss_val, train=False``, green ``loss_val, train=True`` (only when recorded), and
    the "evaluation metric" (the global foreground Dice) dashed green on a twin axis — drawn only when there
    is one value per epoch, as in v1. v1 draws a 30 x 24 inch figure with font size 18.
    """
    from matplotlib.figure import Figure

    # differs from v1: v1 sets the font size with matplotlib.rc (for every later figure of the process too);
    # here each text gets it, so that drawing in a background thread touches no global state
    fig = Figure(figsize=figsize)
    ax = fig.add_subplot(111)
    ax2 = ax.twinx()
    x_values = list(range(len(all_tr_losses)))
    ax.plot(x_values, [float(v) for v in all_tr_losses], color="b", ls="-", label="loss_tr")
    ax.plot(x_values[:len(all_val_losses)], [float(v) for v in all_val_losses], color="r", ls="-",
            label="loss_val, train=False")
    if len(all_val_losses_tr_mode) > 0:
        ax.plot(x_values, [float(v) for v in all_val_losses_tr_mode], color="g", ls="-",
                label="loss_val, train=True")
    if len(all_val_eval_metrics) == len(x_values):
        ax2.plot(x_values, [float(v) for v in all_val_eval_metrics], color="g", ls="--", label="evaluation metric")
    ax.set_xlabel("epoch", fontsize=font_size)
    ax.set_ylabel("loss", fontsize=font_size)
    ax2.set_ylabel("evaluation metric", fontsize=font_size)
    for axis in (ax, ax2):
        axis.tick_params(labelsize=font_size)
        axis.xaxis.get_offset_text().set_fontsize(font_size)
        axis.yaxis.get_offset_text().set_fontsize(font_size)
    ax.legend(fontsize=font_size)
    if ax2.get_legend_handles_labels()[0]:  # no metric curve yet: an empty legend would only warn
        ax2.legend(loc=9, fontsize=font_size)
    return fig


def save_progress_png(path: str | os.PathLike, all_tr_losses: Sequence[float], all_val_losses: Sequence[float],
                      all_val_losses_tr_mode: Sequence[float] = (), all_val_eval_metrics: Sequence[float] = (), *,
                      figsize: tuple[float, float] = (30, 24), dpi: float = 100) -> None:
    """Render :func:`progress_figure` with the Agg canvas and write it as a PNG, atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = progress_figure(all_tr_losses, all_val_losses, all_val_losses_tr_mode, all_val_eval_metrics,
                          figsize=figsize)
    FigureCanvasAgg(fig)
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=dpi)


class ProgressPlotter(BackgroundWorker):
    """Draws ``progress.png`` in a background thread, so that the training loop does not wait for matplotlib.

    v1 draws its 30 x 24 inch progress plot at the end of every epoch, in the training thread: 0.28 s on the
    project's 2-core test machine (``benchmarks/bench_progress_plot.py``), time in which the GPU has nothing to
    do. Here
    :meth:`submit` hands over copies of the curves and returns; one thread draws. Only the newest curves matter
    (each plot shows every epoch so far), so a submission that finds an older one still waiting replaces it.
    :meth:`close` waits for the last plot: when ``run_training`` returns, ``progress.png`` shows every epoch.
    A drawing that fails is reported by the next :meth:`submit` or by :meth:`close` (the trainer logs it, as v1
    logs "failed to plot"), never raised into the training loop.
    """

    thread_name = "nnunet-explorer-plotter"

    def __init__(self, draw=None) -> None:
        super().__init__()
        self._draw = draw or save_progress_png  # (path, *curves): the tests pass a recorder
        self._job: tuple | None = None
        self._drawing = False
        self.drawn = 0
        """Plots written so far."""

    def submit(self, path: str | os.PathLike, *curves: Sequence[float]) -> BaseException | None:
        """Queue a plot of ``curves`` (copied now) into ``path``; returns the error of an earlier plot, if any."""
        job = (path, *[list(c) for c in curves])
        with self._changed:
            self._start()
            self._job = job
            self._changed.notify_all()
            return self._take_error()

    def _idle(self) -> bool:
        return self._job is None and not self._drawing

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._job is not None or self._closed)
                if self._job is None:  # closed, nothing left to draw
                    return
                job, self._job, self._drawing = self._job, None, True
            try:
                self._draw(*job)
                self.drawn += 1
            except Exception as exc:  # noqa: BLE001 - reported by the next submit/flush, as v1 logs and goes on
                with self._changed:
                    self._error = exc
            finally:
                with self._changed:
                    self._drawing = False
                    self._changed.notify_all()


__all__ = ["ProgressPlotter", "progress_figure", "save_progress_png"]
