"""napari plugin of nnunet-explorer: readers, sample data, widgets, and ``show_in_napari`` for notebooks.

The npe2 manifest is ``napari.yaml`` next to this file (registered through the package's
``napari.manifest`` entry point; install with ``pip install 'nnunet-explorer[napari]'``). The layers themselves
are built by :mod:`nnunet_explorer.views.layers`, which needs no napari. Importing this package imports no Qt:
napari is imported only when a viewer is made.

In a notebook::

    from nnunet_explorer.views.napari import show_in_napari, inline_screenshot
    viewer = show_in_napari(pipeline.result("batch"))           # a step result: every sample of the batch
    show_in_napari("…/nnUNet_preprocessed/Task…/nnUNetData_plans_v2.1_stage0/case_000.npz")
    inline_screenshot({"prediction": pred, "reference": truth})  # a PNG inline, Xvfb started if needed

In napari: File > Open on a raw task folder, a ``CASE_0000.nii.gz``, a ``CASE.npz``/``.pkl``, a stage folder or a
``fold_k/validation_raw`` folder; File > Open Sample > nnU-Net explorer; Plugins > nnU-Net explorer > Training
batches / Deep supervision / Prediction vs ground truth / Sliding window.
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
