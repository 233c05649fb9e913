"""Browsers for notebooks: batches, augmentation steps, deep-supervision outputs and sliding-window inference.

Each browser is a pair: a plotting function that returns a matplotlib ``Figure`` for one choice of sample and
slice (usable in scripts and reports), and a small ipywidgets class that puts sliders and selectors in front
of it and redraws a PNG into an ``Output``. Arrays follow v1's layout: a batch is ``(b, c, z, y, x)`` (the
first spatial axis is the one v1 puts first after ``transpose_forward``, usually the coarsest), targets are
``(b, 1, z, y, x)``, one per deep-supervision output (highest resolution first). Slices are taken along the
first spatial axis unless ``axis`` says otherwise. The controls' words follow the language; so do the words in
the pictures where matplotlib has a Chinese font (see :mod:`~nnunet_explorer.views.report_figures`).

* :class:`BatchBrowser` / :func:`plot_batch_sample` — image with its segmentation overlaid, per sample; the
  sample's case id (and whether it was a forced-foreground sample) in the title. Label -1 (background outside the
  nonzero mask, or the loader's padding) is drawn blue (in a training batch's target moreDA's RemoveLabelTransform
  has already made it 0).
* :class:`AugmentationBrowser` / :func:`plot_augmentation_step` — one transform of an
  :class:`~nnunet_explorer.training.augmentation.AugmentationTrace`: before and after, with the parameters it drew.
* :class:`DeepSupervisionView` / :func:`plot_deep_supervision` — each network output (argmax) next to the
  target downsampled for it, with the output's loss weight.
* :class:`InferenceView` / :func:`plot_inference` — the tiles of a sliding-window prediction, the Gaussian
  importance map, the prediction against the ground truth and the error map (false positives / negatives).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..inference.evaluation import FALSE_NEGATIVE, FALSE_POSITIVE, WRONG_CLASS, error_map
from ..language import tr
from .report_figures import drawn, picture_fonts
from .widgets_common import new_figure, require_ipywidgets, show_figure_in_output


def to_numpy(value: Any) -> np.ndarray:
    """A numpy array from a numpy array or a torch tensor (detached, on the CPU)."""
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def take_slice(volume: np.ndarray, index: int | None, axis: int = 0) -> np.ndarray:
    """One 2D slice of a 3D array (the middle one when ``index`` is None); 2D arrays are returned as they are."""
    if volume.ndim == 2:
        return volume
    n = volume.shape[axis]
    index = n // 2 if index is None else int(np.clip(index, 0, n - 1))
    return np.take(volume, index, axis=axis)


def overlay(ax: Any, image: np.ndarray, seg: np.ndarray | None = None, *, alpha: float = 0.45,
            title: str = "") -> None:
    """Grey image with the labels on top (label 0 transparent, -1 = padding in blue)."""
    ax.imshow(image, cmap="gray", interpolation="nearest")
    if seg is not None and seg.shape == image.shape:
        labels = np.ma.masked_where(seg <= 0, seg)
        if labels.count():
            ax.imshow(labels, cmap="autumn", alpha=alpha, interpolation="nearest", vmin=1, vmax=max(2, seg.max()))
        padding = np.ma.masked_where(seg >= 0, np.ones_like(seg, dtype=float))
        if padding.count():
            ax.imshow(padding, cmap="Blues", alpha=0.3, interpolation="nearest", vmin=0, vmax=1)
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


def _scaled_index(index: int | None, full: int, here: int) -> int | None:
    """The slice of a downsampled volume that corresponds to slice ``index`` of the full-resolution one."""
    if index is None:
        return None
    return int(min(here - 1, max(0, round((index + 0.5) * here / full - 0.5))))


# -------------------------------------------------------------------------------------------------- batch
def plot_batch_sample(data: Any, seg: Any, sample: int = 0, slice_index: int | None = None, *, axis: int = 0,
                      channel: int | None = None, keys: Sequence[str] | None = None,
                      forced_foreground: Sequence[bool] | None = None):
    """One sample of a batch: each channel (or only ``channel``) with the segmentation overlaid.

    Args:
        data: ``(b, c, z, y, x)`` (or ``(b, c, y, x)``).
        seg: ``(b, 1, ...)`` target of the highest resolution (or None).
        keys / forced_foreground: per-sample case ids and oversampling flags for the title.
    """
    d = to_numpy(data)[sample]
    s = None if seg is None else to_numpy(seg)[sample, 0]
    channels = range(d.shape[0]) if channel is None else [channel]
    fig = new_figure(3.2 * len(channels), 3.4)
    axes = np.atleast_1d(fig.subplots(1, len(channels)))
    for ax, c in zip(axes, channels):
        title = drawn(f"sample {sample}, channel {c}", f"样本 {sample}，通道 {c}")
        if keys is not None:
            title += f"\n{keys[sample]}"
        if forced_foreground is not None:
            title += (drawn(" (forced foreground)", "（强制前景）") if forced_foreground[sample]
                      else drawn(" (random)", "（随机）"))
        overlay(ax, take_slice(d[c], slice_index, axis), None if s is None else take_slice(s, slice_index, axis),
                title=title)
    return fig


class _Browser:
    """Shared plumbing: an Output that shows the figure of the current choice, redrawn on every change."""

    def __init__(self, controls: list[Any]) -> None:
        widgets = require_ipywidgets()
        self.output = widgets.Output()
        self.draw_count = 0
        for control in controls:
            control.observe(lambda _change: self.redraw(), names="value")
        self.widget = widgets.VBox([widgets.HBox(controls), self.output])

    def figure(self):  # pragma: no cover - every browser defines it
        raise NotImplementedError

    def redraw(self) -> None:
        with picture_fonts():
            show_figure_in_output(self.output, self.figure())
        self.draw_count += 1

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


class BatchBrowser(_Browser):
    """Sample selector and slice slider over a training batch (the walkthrough's ``Batch``, or data + seg)."""

    def __init__(self, batch: Any = None, *, data: Any = None, seg: Any = None, keys: Sequence[str] | None = None,
                 axis: int = 0) -> None:
        widgets = require_ipywidgets()
        self.forced: tuple[bool, ...] = ()
        if batch is not None:
            data, seg, keys = batch.data, batch.target[0], list(batch.keys)
            self.forced = tuple(getattr(batch, "forced", ()))  # what the loader recorded, for any trainer's rule
        self.data, self.seg, self.keys, self.axis = to_numpy(data), None if seg is None else to_numpy(seg), keys, axis
        b = self.data.shape[0]
        labels = [(f"{i}: {keys[i]}" if keys else str(i), i) for i in range(b)]
        spatial = self.data.shape[2:]
        self.sample = widgets.Dropdown(options=labels, value=0, description=tr("sample", "样本"))
        self.slice = widgets.IntSlider(value=spatial[axis] // 2 if len(spatial) == 3 else 0, min=0,
                                       max=max(0, spatial[axis] - 1) if len(spatial) == 3 else 0,
                                       description=tr("slice", "层"), continuous_update=False)
        super().__init__([self.sample, self.slice])
        self.redraw()

    def figure(self):
        fg = None
        if self.keys is not None:
            from ..training.dataloading import is_forced_foreground

            b = self.data.shape[0]
            # the loader's record when the batch has one (a trainer may change oversample_foreground_percent);
            # otherwise V2's rule: the last (b - round(b * (1 - 0.33))) samples of every batch are forced
            fg = list(self.forced) if len(self.forced) == b else [is_forced_foreground(i, b, 0.33) for i in range(b)]
        return plot_batch_sample(self.data, self.seg, self.sample.value, self.slice.value, axis=self.axis,
                                 keys=self.keys, forced_foreground=fg)


# ------------------------------------------------------------------------------------------- augmentation
def plot_augmentation_step(trace: Any, step: int, slice_index: int | None = None, *, axis: int = 0,
                           channel: int = 0):
    """Transform ``step`` of an augmentation trace: the sample before it (left) and after it (right).

    The title says whether the transform fired for this sample and which parameters it drew; deterministic
    transforms (cropping, label removal, deep-supervision downsampling, tensor conversion) say "always".
    """
    steps = trace.steps
    current = steps[step]
    if step == 0:
        before_data, before_seg, before_name = trace.input_data, trace.input_seg, drawn("input", "输入")
    else:
        prev = steps[step - 1]
        before_data, before_seg = prev.data, prev.seg
        before_name = drawn(f"after {prev.index:02d} {prev.name}", f"{prev.index:02d} {prev.name} 之后")
    fig = new_figure(7.0, 3.8)
    ax_before, ax_after = fig.subplots(1, 2)

    def sl(volume: np.ndarray | None) -> np.ndarray | None:
        return None if volume is None else take_slice(volume, slice_index, axis)

    overlay(ax_before, sl(before_data[channel]), sl(before_seg), title=before_name)
    fired = (drawn("always", "总是执行") if current.fired is None else
             drawn("fired", "触发") if current.fired else drawn("did not fire", "未触发"))
    params = ", ".join(f"{k}={_short(v)}" for k, v in list(current.params.items())[:4])
    overlay(ax_after, sl(current.data[channel]), sl(current.seg),
            title=drawn(f"after {current.index:02d} {current.name} ({fired})",
                        f"{current.index:02d} {current.name} 之后（{fired}）") + f"\n{params}")
    return fig


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_short(v) for v in value) + ")"
    return str(value)


class AugmentationBrowser(_Browser):
    """Step through an augmentation trace: transform selector (fired ones marked) and slice slider."""

    def __init__(self, trace: Any, *, axis: int = 0) -> None:
        widgets = require_ipywidgets()
        self.trace, self.axis = trace, axis
        options = []
        for i, s in enumerate(trace.steps):
            mark = "" if s.fired is None else (tr(" ✓ fired", " ✓ 触发") if s.fired else tr(" · skipped", " · 跳过"))
            options.append((f"{s.index:02d} {s.name}{mark}", i))
        self.step = widgets.Dropdown(options=options, value=0, description=tr("transform", "变换"),
                                     layout=widgets.Layout(width="420px"))
        depth = trace.input_data.shape[1 + axis] if trace.input_data.ndim == 4 else 1
        self.slice = widgets.IntSlider(value=depth // 2, min=0, max=max(0, depth - 1), description=tr("slice", "层"),
                                       continuous_update=False)
        super().__init__([self.step, self.slice])
        self.redraw()

    def figure(self):
        current = self.trace.steps[self.step.value]
        spatial = current.data.shape[1:]
        index = self.slice.value
        if len(spatial) == 3:  # later steps may have another size (the loader's larger patch is cropped)
            full = self.trace.input_data.shape[1 + self.axis]
            index = _scaled_index(index, full, spatial[self.axis])
        return plot_augmentation_step(self.trace, self.step.value, index, axis=self.axis)


# --------------------------------------------------------------------------------------- deep supervision
def plot_deep_supervision(outputs: Sequence[Any], targets: Sequence[Any], *, sample: int = 0,
                          slice_index: int | None = None, weights: Sequence[float] | None = None, axis: int = 0):
    """Each network output (argmax over classes) above the target downsampled to its resolution.

    ``outputs[i]`` is ``(b, C, ...)`` logits, ``targets[i]`` ``(b, 1, ...)`` labels, highest resolution first.
    ``slice_index`` refers to the full-resolution output; lower resolutions show the matching slice.
    """
    n = len(outputs)
    fig = new_figure(2.8 * n, 5.6)
    axes = np.asarray(fig.subplots(2, n)).reshape(2, n)
    full = to_numpy(outputs[0]).shape[2 + axis] if to_numpy(outputs[0]).ndim == 5 else 1
    for i, (out, tgt) in enumerate(zip(outputs, targets)):
        o = to_numpy(out)[sample]
        t = to_numpy(tgt)[sample, 0]
        pred = o.argmax(0)
        index = _scaled_index(slice_index if slice_index is not None else full // 2, full,
                              pred.shape[axis]) if pred.ndim == 3 else None
        w = "" if weights is None else drawn(f", weight {weights[i]:.3f}", f"，权重 {weights[i]:.3f}")
        shape = "×".join(str(v) for v in pred.shape)
        blank = np.zeros_like(take_slice(pred, index, axis), dtype=float)
        overlay(axes[0, i], blank, take_slice(pred, index, axis), alpha=0.9, title=drawn(f"output {i} ({shape})", f"输出 {i}（{shape}）") + w)
        overlay(axes[1, i], blank, take_slice(t, index, axis), alpha=0.9, title=drawn(f"target {i}", f"目标 {i}"))
    return fig


class DeepSupervisionView(_Browser):
    """Sample selector and slice slider over the outputs of a forward pass and their targets."""

    def __init__(self, outputs: Sequence[Any], targets: Sequence[Any], *, weights: Sequence[float] | None = None,
                 axis: int = 0) -> None:
        widgets = require_ipywidgets()
        self.outputs = [to_numpy(o) for o in outputs]
        self.targets = [to_numpy(t) for t in targets]
        self.weights, self.axis = weights, axis
        first = self.outputs[0]
        depth = first.shape[2 + axis] if first.ndim == 5 else 1
        self.sample = widgets.IntSlider(value=0, min=0, max=first.shape[0] - 1, description=tr("sample", "样本"),
                                        continuous_update=False)
        self.slice = widgets.IntSlider(value=depth // 2, min=0, max=max(0, depth - 1), description=tr("slice", "层"),
                                       continuous_update=False)
        super().__init__([self.sample, self.slice])
        self.redraw()

    def figure(self):
        return plot_deep_supervision(self.outputs, self.targets, sample=self.sample.value,
                                     slice_index=self.slice.value, weights=self.weights, axis=self.axis)


# ---------------------------------------------------------------------------------------------- inference
def plot_inference(result: Any, image: Any, ground_truth: Any = None, *, slice_index: int | None = None,
                   channel: int = 0):
    """A sliding-window prediction: tiles on the image, the Gaussian map, prediction, truth and errors.

    Args:
        result: a :class:`~nnunet_explorer.network_architecture.sliding_window.SlidingWindowResult`.
        image: the network input ``(c, z, y, x)`` that was predicted.
        ground_truth: labels ``(z, y, x)`` in the same space (optional).
        slice_index: along the first spatial axis (default: the middle).
    """
    img = to_numpy(image)[channel]
    seg = np.asarray(result.segmentation)
    depth = img.shape[0]
    index = depth // 2 if slice_index is None else int(np.clip(slice_index, 0, depth - 1))
    panels = 4 if ground_truth is not None else 3
    fig = new_figure(3.0 * panels, 3.4)
    axes = np.atleast_1d(fig.subplots(1, panels))
    overlay(axes[0], img[index], None, title=drawn(f"{result.num_tiles} tiles, step {result.step_size}, slice {index}",
                                             f"{result.num_tiles} 个窗口，步长 {result.step_size}，第 {index} 层"))
    # tiles that cover this slice, drawn as rectangles (boxes are in the padded image, v1's order)
    from matplotlib.patches import Rectangle

    for tile in result.tiles:
        box = tile.box
        if result.network_dim == 2:
            if tile.slice_index not in (None, index):
                continue
            (y0, y1), (x0, x1) = box[-2], box[-1]
        else:
            (z0, z1), (y0, y1), (x0, x1) = box
            if not z0 <= index < z1:
                continue
        axes[0].add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, lw=0.8,
                                    edgecolor="#1f77b4", alpha=0.8))
    if result.gaussian is not None:
        g = np.asarray(result.gaussian)
        axes[1].imshow(take_slice(g, None) if g.ndim == 3 else g, cmap="viridis")
        axes[1].set_title(drawn("Gaussian importance (centre slice)", "高斯重要性（中间层）"), fontsize=8)
    else:
        axes[1].text(0.5, 0.5, drawn("no Gaussian\n(one tile or use_gaussian=False)",
                                     "没有高斯权重\n（只有一个窗口，或 use_gaussian=False）"), ha="center", va="center")
        axes[1].set_title(drawn("Gaussian importance", "高斯重要性"), fontsize=8)
    axes[1].set_xticks([])
    axes[1].set_yticks([])
    overlay(axes[2], img[index], seg[index], title=drawn("prediction", "预测"))
    if ground_truth is not None:
        gt = to_numpy(ground_truth)
        errors = error_map(seg[index], gt[index])
        axes[3].imshow(img[index], cmap="gray")
        colours = np.zeros((*errors.shape, 4))
        colours[errors == FALSE_POSITIVE] = (1, 0, 0, 0.8)  # red
        colours[errors == FALSE_NEGATIVE] = (0, 0.4, 1, 0.8)  # blue
        colours[errors == WRONG_CLASS] = (1, 0.8, 0, 0.8)  # yellow
        axes[3].imshow(colours)
        axes[3].contour(gt[index] > 0, levels=[0.5], colors="lime", linewidths=0.7)
        axes[3].set_title(drawn("errors: FP red, FN blue, class yellow\n(truth outline green)",
                                "错误：FP 红，FN 蓝，类别错黄\n（参考标注轮廓为绿）"), fontsize=8)
        axes[3].set_xticks([])
        axes[3].set_yticks([])
    return fig


class InferenceView(_Browser):
    """Slice slider over a sliding-window prediction (with the ground truth when given)."""

    def __init__(self, result: Any, image: Any, ground_truth: Any = None) -> None:
        widgets = require_ipywidgets()
        self.result, self.image, self.ground_truth = result, to_numpy(image), ground_truth
        depth = self.image.shape[1]
        self.slice = widgets.IntSlider(value=depth // 2, min=0, max=depth - 1, description=tr("slice", "层"),
                                       continuous_update=False)
        super().__init__([self.slice])
        self.redraw()

    def figure(self):
        return plot_inference(self.result, self.image, self.ground_truth, slice_index=self.slice.value)


__all__ = ["AugmentationBrowser", "BatchBrowser", "DeepSupervisionView", "InferenceView", "error_map", "overlay",
           "plot_augmentation_step", "plot_batch_sample", "plot_deep_supervision", "plot_inference", "take_slice",
           "to_numpy"]
