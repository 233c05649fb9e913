"""Notebook entry points: ``show_in_napari(x)`` opens a viewer with x's layers; ``inline_screenshot(x)`` a PNG."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np

from ..layers import LayerSpec, layers_for


def add_layers(viewer: Any, specs: Sequence[LayerSpec], *, replace: bool = True) -> list[Any]:
    """Add each :class:`LayerSpec` to ``viewer``; a layer of the same name and kind is updated in place.

    Updating in place (new data, scale, translate, metadata) keeps the user's contrast, colour and visibility
    choices when a widget redraws (next batch, another case).
    """
    added = []
    for spec in specs:
        data, kwargs, kind = spec.as_tuple()
        name = kwargs["name"]
        existing = viewer.layers[name] if replace and name in viewer.layers else None
        if existing is not None and type(existing).__name__.lower() == kind and kind in ("image", "labels"):
            existing.data = data
            for key in ("scale", "translate", "affine", "metadata"):
                if key in kwargs:
                    setattr(existing, key, kwargs[key])
            added.append(existing)
            continue
        if existing is not None:
            viewer.layers.remove(existing)
        added.append(getattr(viewer, f"add_{kind}")(data, **kwargs))
    return added


def show_in_napari(x: Any, viewer: Any = None, *, title: str = "nnU-Net explorer", **kwargs: Any) -> Any:
    """Open ``x`` in napari: a step result, a batch, an ``AugmentationTrace``, a case path, a prediction, an array.

    ``x`` goes through :func:`nnunet_explorer.views.layers.layers_for` (keyword arguments are passed on, e.g.
    ``spacing=`` for a batch). Returns the viewer (a new one unless ``viewer`` is given). Without a screen,
    :func:`~nnunet_explorer.views.napari.display.ensure_display` starts Xvfb first.
    """
    specs = layers_for(x, **kwargs)
    if viewer is None:
        from .display import ensure_display

        ensure_display()
        import napari

        viewer = napari.Viewer(title=title)
    add_layers(viewer, specs)
    if specs and len(specs[0].data.shape if hasattr(specs[0].data, "shape") else ()) >= 3:
        viewer.dims.set_point(0, viewer.dims.range[0].start + (viewer.dims.range[0].stop -
                                                               viewer.dims.range[0].start) / 2)
    return viewer


def show_case(validation_folder: Any, case_id: str | None = None, viewer: Any = None, *, gt_folder: Any = None,
              images_folder: Any = None, title: str = "nnU-Net explorer") -> Any:
    """Open ONE case of a validation folder: its image under ground truth, prediction and errors, probabilities.

    See :func:`nnunet_explorer.views.validation_case.validation_case_layers`. Layers of a case shown before in
    ``viewer`` are removed first, so the viewer holds one case at a time. Returns the viewer.
    """
    from ..validation_case import validation_case_layers

    specs = validation_case_layers(validation_folder, case_id, gt_folder=gt_folder, images_folder=images_folder)
    if viewer is None:
        from .display import ensure_display

        ensure_display()
        import napari

        viewer = napari.Viewer(title=title)
    for layer in [lay for lay in viewer.layers if "case_id" in getattr(lay, "metadata", {})]:
        viewer.layers.remove(layer)
    add_layers(viewer, specs, replace=False)
    if viewer.dims.ndim >= 3:
        low, high = viewer.dims.range[0].start, viewer.dims.range[0].stop
        viewer.dims.set_point(0, low + (high - low) / 2)
    return viewer


@dataclass(frozen=True)
class Screenshot:
    """A viewer screenshot: ``array`` (height, width, 4) uint8 RGBA; shows itself inline in notebooks."""

    array: np.ndarray

    def to_png(self) -> bytes:
        import io

        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(self.array).save(buffer, format="PNG")
        return buffer.getvalue()

    def _repr_png_(self) -> bytes:
        return self.to_png()

    def __repr__(self) -> str:
        return f"Screenshot({self.array.shape[1]}x{self.array.shape[0]})"


def inline_screenshot(x: Any = None, viewer: Any = None, *, canvas_only: bool = True, close: bool | None = None,
                      **kwargs: Any) -> Screenshot:
    """A PNG of ``x`` drawn by napari, for notebooks that run without a display (Xvfb is started if needed).

    ``x`` as for :func:`show_in_napari`, or None to capture ``viewer`` as it is. A viewer made here is closed
    afterwards unless ``close=False``.
    """
    made = viewer is None
    if x is None and viewer is None:
        raise ValueError("give something to show (x) or a viewer to capture")
    closing = bool(close or (close is None and made))
    # a window left open (close=False) needs Qt's event loop to stay live between cells: then napari's switch stays
    with _kernel_event_loop_kept(restore=closing):
        if x is not None:
            viewer = show_in_napari(x, viewer, **kwargs)
        try:
            viewer.reset_view()
            array = np.asarray(viewer.screenshot(canvas_only=canvas_only, flash=False))
        finally:
            if closing:
                viewer.close()
    return Screenshot(array)


@contextmanager
def _kernel_event_loop_kept(restore: bool = True) -> Iterator[None]:
    """Give an IPython kernel back the GUI event loop it had before (none, usually) once the block is done.

    napari switches the kernel to Qt's event loop (``%gui qt``) whenever it makes a viewer, so that an open window
    stays live between cells. A picture needs no live window, and ipykernel's Qt loop now and then misses the
    next cell's request: the notebook then waits forever (notebook 06 did). Where the loop was on before (a viewer
    the user opened with :func:`show_in_napari`), it stays on; with ``restore=False`` nothing is changed.
    """
    shell = _ipython_shell() if restore else None
    before = getattr(shell, "active_eventloop", None)
    try:
        yield
    finally:
        if shell is not None and getattr(shell, "active_eventloop", None) != before:
            try:
                shell.enable_gui(before)
            except Exception:  # noqa: BLE001 - the kernel then stays in napari's loop, as without this helper;
                pass  # an error here must not hide the block's own


def _ipython_shell() -> Any:
    """The running IPython shell, or None (plain Python; IPython is never imported here)."""
    import sys

    ipython = sys.modules.get("IPython")
    return ipython.get_ipython() if ipython is not None else None
