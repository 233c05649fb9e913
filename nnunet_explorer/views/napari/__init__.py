"""napari plugin of nnunet-explorer: readers, sample data, widgets, and ``show_in_napari`` for notebooks.

The npe2 manifest is ``napari.yaml`` next to this file (registered through the package's
``napari.manifest`` entry point; install with ``pip install 'nnunet-explorer[napari]'``). The layers themselves
are built by :mod:`nnunet_explorer.views.layers`, which needs no napari. Importing this package imports no Qt:
napari is imported only when a viewer is made.
"""
from __future__ import annotations

from typing import Any

__all__ = ["show_in_napari", "inline_screenshot", "add_layers", "ensure_display"]


def __getattr__(name: str) -> Any:
    if name in ("show_in_napari", "inline_screenshot", "add_layers", "Screenshot"):
        from . import show

        return getattr(show, name)
    if name == "ensure_display":
        from .display import ensure_display

        return ensure_display
    raise AttributeError(name)
