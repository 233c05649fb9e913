"""Figures of a training run: v1's ``progress.png`` (drawn by :mod:`nnunet_explorer.training.progress_plot`)."""
from __future__ import annotations

from ..training.progress_plot import progress_figure, save_progress_png

__all__ = ["progress_figure", "save_progress_png"]
