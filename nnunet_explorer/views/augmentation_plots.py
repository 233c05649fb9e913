"""Figures for the augmentation trace and the sampling map (matplotlib ``Figure`` objects, no pyplot).

``plot_augmentation_trace`` shows one slice of the sample before the pipeline and after every transform, with
the segmentation overlaid and the transform's sampled parameters in the panel title (fired transforms in
red). ``plot_sampling_map`` shows, for one case, how often each voxel was inside a sampled patch, random and
forced-foreground samples side by side. Their words are Chinese under ``zh`` where matplotlib has a Chinese font.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from .report_figures import drawn, picture_fonts


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _slice(volume: np.ndarray, axis: int, index: int | None) -> np.ndarray:
    if volume.ndim == 2:
        return volume
    if index is None:
        index = volume.shape[axis] // 2
    index = int(np.clip(index, 0, volume.shape[axis] - 1))
    return np.take(volume, index, axis=axis)


def _short(params: dict) -> str:
    parts = []
    for key, value in params.items():
        if key.endswith("_deg") or key in ("angle_x", "angle_y", "angle_z") and f"{key}_deg" in params:
            continue
        if isinstance(value, float):
            parts.append(f"{key}={value:.3g}")
        elif isinstance(value, (list, tuple)):
            parts.append(f"{key}=" + ",".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in value))
        else:
            parts.append(f"{key}={value}")
    for axis in "xyz":
        if f"angle_{axis}_deg" in params:
            parts.append(f"rot_{axis}={params[f'angle_{axis}_deg']:.1f}°")
    return "\n".join(parts)


def _overlay(ax: Any, image: np.ndarray, seg: np.ndarray | None, alpha: float = 0.4) -> None:
    ax.imshow(image, cmap="gray", interpolation="nearest")
    if seg is not None and seg.shape == image.shape:
        labels = np.ma.masked_where(seg <= 0, seg)
        ax.imshow(labels, cmap="autumn", alpha=alpha, interpolation="nearest", vmin=0, vmax=max(1, seg.max()))
        padding = np.ma.masked_where(seg >= 0, np.ones_like(seg))
        ax.imshow(padding, cmap="Blues", alpha=0.25, interpolation="nearest", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_augmentation_trace(trace: Any, *, axis: int = 0, slice_index: int | None = None, channel: int = 0,
                            only_changed: bool = False, columns: int = 5):
    """A grid: the input patch, then the sample after each transform (one slice, segmentation overlaid).

    Args:
        trace: an :class:`~nnunet_explorer.training.augmentation.AugmentationTrace`.
        axis: spatial axis to slice (0 = z for 3D); 2D samples are shown as they are.
        slice_index: which slice (default: the middle of each panel's array).
        channel: image channel to show.
        only_changed: show only transforms that fired (plus input and output).
    Returns:
        matplotlib.figure.Figure
    """
    with picture_fonts():
        return _plot_augmentation_trace(trace, axis, slice_index, channel, only_changed, columns)


def _plot_augmentation_trace(trace: Any, axis: int, slice_index: int | None, channel: int, only_changed: bool,
                             columns: int):
    panels = [(drawn("input", "输入") + (f" ({trace.case_id})" if trace.case_id else ""), trace.input_data[channel],
               trace.input_seg, False)]
    for step in trace.steps:
        if only_changed and not step.fired and step is not trace.steps[-1]:
            continue
        title = f"{step.index}. {step.name}"
        if step.fired:
            title += "\n" + _short(dict(step.params))
        panels.append((title, step.data[channel], step.seg, bool(step.fired)))
    rows = math.ceil(len(panels) / columns)
    fig = _figure(3.0 * min(columns, len(panels)), 3.2 * rows)
    for i, (title, image, seg, fired) in enumerate(panels):
        ax = fig.add_subplot(rows, min(columns, len(panels)), i + 1)
        image_2d = _slice(image, axis, slice_index)
        seg_2d = None if seg is None else _slice(seg, axis, slice_index)
        _overlay(ax, image_2d, seg_2d)
        ax.set_title(title, fontsize=7, color="tab:red" if fired else "black")
    fired = ", ".join(trace.fired) or drawn("none", "无")
    fig.suptitle(drawn(f"augmentation trace, seed {trace.seed}: fired = {fired}",
                       f"数据增强追踪，种子 {trace.seed}：触发的变换 = {fired}"), fontsize=9)
    return fig


def plot_sampling_map(case_map: Any, *, axis: int = 0, image: np.ndarray | None = None, projection: str = "max"):
    """Where the patches of one case came from: random vs forced-foreground coverage counts.

    Args:
        case_map: a :class:`~nnunet_explorer.training.sampling_map.CaseSamplingMap`.
        axis: axis to project along (0 = z).
        image: optional case image ``(z, y, x)`` shown in a first panel for orientation.
        projection: ``'max'`` or ``'sum'`` along ``axis``.
    Returns:
        matplotlib.figure.Figure
    """
    with picture_fonts():
        return _plot_sampling_map(case_map, axis, image, projection)


def _plot_sampling_map(case_map: Any, axis: int, image: np.ndarray | None, projection: str):
    reduce = np.max if projection == "max" else np.sum
    panels = []
    if image is not None:
        panels.append((drawn("case image (middle slice)", "病例图像（中间层）"), _slice(image, axis, None), "gray"))
    panels.append((drawn(f"random samples (n={case_map.n_random})", f"随机样本（n={case_map.n_random}）"),
                   reduce(case_map.random, axis=axis), "viridis"))
    panels.append((drawn(f"forced foreground (n={case_map.n_forced})", f"强制前景（n={case_map.n_forced}）"),
                   reduce(case_map.forced, axis=axis), "magma"))
    fig = _figure(3.6 * len(panels), 3.4)
    for i, (title, array, cmap) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        shown = ax.imshow(array, cmap=cmap, interpolation="nearest")
        ax.set_title(title, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        if cmap != "gray":
            fig.colorbar(shown, ax=ax, shrink=0.8, label=drawn(f"patches covering ({projection} over axis {axis})",
                                                               f"覆盖的 patch 数（沿轴 {axis} 取 {projection}）"))
        if cmap == "magma" and case_map.centers:
            centers = np.array(case_map.centers)
            keep = [d for d in range(centers.shape[1]) if d != axis]
            ax.scatter(centers[:, keep[1]], centers[:, keep[0]], s=6, c="cyan", marker="x", linewidths=0.6)
    shape = tuple(case_map.shape)
    fig.suptitle(drawn(f"sampling map of {case_map.case_id}, shape {shape}",
                       f"{case_map.case_id} 的采样图，形状 {shape}"), fontsize=9)
    return fig


def plot_transform_shares(report: Any):
    """Horizontal bars: each transform's share of the augmentation time (from a ThroughputReport)."""
    with picture_fonts():
        return _plot_transform_shares(report)


def _plot_transform_shares(report: Any):
    timings: Sequence[Any] = report.transforms
    fig = _figure(6.5, 0.3 * len(timings) + 1.2)
    ax = fig.add_subplot(1, 1, 1)
    ax.barh([t.name for t in timings][::-1], [100 * t.share for t in timings][::-1], color="tab:blue")
    ax.set_xlabel(drawn("% of augmentation time", "占数据增强时间的 %"))
    ax.set_title(report.verdict, fontsize=8)
    return fig
