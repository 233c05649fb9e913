"""Figures of a training run: v1's ``progress.png``.

Built with ``matplotlib.figure.Figure`` and the Agg canvas inside the functions (no ``pyplot``, no global
state), so the training loop can call :func:`save_progress_png` on a headless machine and a notebook can
show :func:`progress_figure` directly.
"""
from __future__ import annotations

import os
from typing import Sequence

from ..fileio import atomic_open
from ..provenance import mirrors


@mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer.plot_progress")
def progress_figure(all_tr_losses: Sequence[float], all_val_losses: Sequence[float],
                    all_val_losses_tr_mode: Sequence[float] = (), all_val_eval_metrics: Sequence[float] = (), *,
                    figsize: tuple[float, float] = (30, 24), font_size: float = 18):
    """v1's progress plot: losses per epoch on the left axis, the online Dice estimate on the right.

    Blue ``loss_tr``, red ``loss_val, train=False``, green ``loss_val, train=True`` (only when recorded), and
    the "evaluation metric" (the global foreground Dice) dashed green on a twin axis — drawn only when there
    is one value per epoch, as in v1. v1 draws a 30 x 24 inch figure with font size 18.
    """
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    with rc_context({"font.size": font_size, "font.weight": "normal"}):
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
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax2.set_ylabel("evaluation metric")
        ax.legend()
        if ax2.get_legend_handles_labels()[0]:  # no metric curve yet: an empty legend would only warn
            ax2.legend(loc=9)
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


__all__ = ["progress_figure", "save_progress_png"]
