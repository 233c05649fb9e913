"""Pictures for the HTML walkthrough report: one list of inline images per step card.

The report (``nnunet-explorer train ... --report FILE.html``) is one file without scripts or external
resources, so every picture is inline: PNG drawn with ``matplotlib.figure.Figure`` on the Agg canvas (no
``pyplot``, no global state), base64 in an ``<img src="data:image/png;base64,...">``; the U diagram is the SVG
of :func:`~nnunet_explorer.views.architecture_view.unet_diagram_svg`, as an ``image/svg+xml`` data URI.

Which step gets which picture (:func:`figures_for`):

* ``architecture`` — the U diagram: levels, channels, skips, the deep-supervision heads and their weights;
* ``batch`` — the middle slice of every sample with its label drawn over it (the samples the loader forced to
  contain foreground framed in red), and the deep-supervision targets of the first sample at every output's
  resolution;
* ``lr_schedule`` — the poly learning-rate curve over all epochs;
* any step whose output has training curves (``all_tr_losses``, e.g. ``training_epochs``) — the loss curves
  (and the per-epoch pseudo Dice where there is one).

Captions follow the language (``NNUNET_EXPLORER_LANG=zh``: Chinese); so do the words drawn inside the PNGs
(titles, axis labels, legends) where matplotlib has a font with Chinese glyphs (Noto Sans CJK, WenQuanYi,
SimHei ...). Without one they stay English in the picture rather than show empty boxes, and the caption below
says it in Chinese.
"""
from __future__ import annotations

import base64
import functools
import io
from typing import Any, Callable

from ..language import is_chinese, tr

import numpy as np

PNG_PREFIX = "data:image/png;base64,"
SVG_PREFIX = "data:image/svg+xml;base64,"


def _png(fig: Any, dpi: int = 80) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return PNG_PREFIX + base64.b64encode(buffer.getvalue()).decode("ascii")


# fonts with Chinese glyphs, in order of preference (Linux, Windows, macOS)
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN", "WenQuanYi Zen Hei",
             "WenQuanYi Micro Hei", "Droid Sans Fallback", "SimHei", "Microsoft YaHei", "PingFang SC", "Heiti SC",
             "STHeiti", "Arial Unicode MS")


@functools.lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The first installed font of :data:`CJK_FONTS` matplotlib can use, or None."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


def drawn(en: str, zh: str) -> str:
    """A word drawn inside a PNG: Chinese when the language is Chinese and a Chinese font is installed."""
    return tr(en, zh) if is_chinese() and cjk_font() is not None else en


def picture_fonts() -> Any:
    """Matplotlib settings for drawing the picture's words (a Chinese font first when one is used)."""
    import matplotlib

    font = cjk_font() if is_chinese() else None
    if font is None:
        return matplotlib.rc_context({})
    # the family as an explicit list, not "sans-serif": a text keeps the family it was created with, so a figure
    # made in this context draws its Chinese words right even when it is rendered later, outside it
    return matplotlib.rc_context({"font.sans-serif": [font, "DejaVu Sans"], "font.family": [font, "DejaVu Sans"],
                                  "axes.unicode_minus": False})


def _img(src: str, alt: str) -> str:
    """A figure with its caption; the caption may quote code RST-style (````x````). A picture drawn in English for
    a Chinese reader (no Chinese font here) says so under it."""
    import html

    from ..explore.notes import inline_html, inline_text

    if src.startswith(PNG_PREFIX) and is_chinese() and cjk_font() is None:
        import matplotlib

        alt += ("（这台机器上 matplotlib 找不到中文字体，所以图中的文字是英文；安装一种中文字体，例如 Debian/Ubuntu 的 "
                f"fonts-noto-cjk，再删除 matplotlib 的字体缓存（{matplotlib.get_cachedir()} 中的 fontlist-*.json），"
                "图中就是中文）")

    return (f'<figure class="nnx-figure"><img src="{src}" alt="{html.escape(inline_text(alt), quote=True)}" '
            f'style="max-width:100%"><figcaption class="nnx-meta">{inline_html(alt)}</figcaption></figure>')


def _numpy(x: Any) -> np.ndarray:
    detach = getattr(x, "detach", None)
    return np.asarray(detach().cpu().numpy() if callable(detach) else x)


def _middle(volume: np.ndarray) -> np.ndarray:
    """The middle slice along the first axis of a 3D volume (a 2D image is returned as it is)."""
    return volume[volume.shape[0] // 2] if volume.ndim == 3 else volume


def unet_figure(summary: Any) -> list[str]:
    from .architecture_view import unet_diagram_svg

    svg = unet_diagram_svg(summary)
    return [_img(SVG_PREFIX + base64.b64encode(svg.encode("utf-8")).decode("ascii"),
                 tr("the U: encoder (left), decoder (right), skips (dashed), deep-supervision heads with weights",
                    "U 形结构:编码器(左)、解码器(右)、跳跃连接(虚线)、深度监督输出头及其权重"))]


FORCED_COLOUR = "red"
_BATCH_CAPTION = {  # ``code`` is quoted RST-style (shown as code in the caption, left alone by zh typography)
    "en": "the batch: middle slice of each of the {n} augmented samples, label overlaid",
    "zh": "这个 batch：{n} 个增强后样本各自的中间切片,叠加了标签"}
_FORCED_CAPTION = {
    "en": "; red frame: forced to contain foreground, sample(s) {which}. The loader cut that patch around a voxel "
          "of a foreground class (a random box when the case has none; v1's ``get_do_oversample(j)`` is True for "
          "the last samples of a batch: "
          "``not j < round(batch_size * (1 - oversample_foreground_percent))``); the others are random boxes, which "
          "may hold no foreground at all (how often depends on the structures' size against the patch's)",
    "zh": ";红框:被强制包含前景的样本 {which}。数据加载器围绕某个前景类别的一个体素切出这个 patch(病例中没有前景时"
          "取随机位置;v1 的 "
          "``get_do_oversample(j)`` 对 batch 中最后的样本为 True:"
          "``not j < round(batch_size * (1 - oversample_foreground_percent))``);其余样本是随机位置的 patch,"
          "可能完全不含前景(多常见取决于结构相对 patch 的大小)"}
_DS_CAPTION = {
    "en": "deep-supervision targets of sample 0 (middle slice), one per network output; the coarsest may show no "
          "foreground where the full-resolution one does (nearest-neighbour downsampling keeps one voxel per block: "
          "see the ``deep_supervision`` card)",
    "zh": "样本 0 的深度监督目标(中间切片),每个网络输出一个;全分辨率目标里有前景的地方,最粗的目标可能一点前景"
          "都没有(最近邻下采样每个块只保留一个体素,见 ``deep_supervision`` 卡片)"}


def batch_figure(batch: Any) -> Any:
    """The middle slice of every sample with its label; the samples forced to contain foreground framed in red.

    Returns a ``matplotlib.figure.Figure``; a forced sample's frame is a rectangle with gid ``forced-foreground``.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch, Rectangle

    data = _numpy(batch.data)
    targets = [_numpy(t) for t in batch.target]
    forced = tuple(getattr(batch, "forced", ()) or ())
    n = data.shape[0]
    top = max(1.0, float(max(t.max() for t in targets)))  # one colour per label in every panel
    fig = Figure(figsize=(2.6 * n, 2.8))
    for i in range(n):
        ax = fig.add_subplot(1, n, i + 1)
        ax.imshow(_middle(data[i, 0]), cmap="gray")
        label = _middle(targets[0][i, 0])
        if label.max() > 0:
            ax.imshow(np.ma.masked_equal(label, 0), cmap="autumn", alpha=0.45, vmin=0, vmax=top)
        key = batch.keys[i] if i < len(batch.keys) else ""
        ax.set_title(f"{i}: {key}", fontsize=8)
        ax.axis("off")
        if i < len(forced) and forced[i]:
            ax.add_patch(Rectangle((0, 0), 1, 1, transform=ax.transAxes, fill=False, edgecolor=FORCED_COLOUR,
                                   linewidth=4, clip_on=False, gid="forced-foreground"))
    if any(forced):  # code words only: the picture has no CJK font; the caption says it in the reader's language
        fig.legend(handles=[Patch(facecolor="none", edgecolor=FORCED_COLOUR, linewidth=2,
                                  label="get_do_oversample(j) = True")], loc="lower center", fontsize=7,
                   frameon=False)
    return fig


def batch_caption(batch: Any) -> str:
    """The batch picture's caption, in the reader's language: what it shows and which samples were forced."""
    from ..teaching.language import pick

    forced = tuple(getattr(batch, "forced", ()) or ())
    caption = pick(_BATCH_CAPTION).format(n=len(batch.keys) or _numpy(batch.data).shape[0])
    if any(forced):
        caption += pick(_FORCED_CAPTION).format(which=", ".join(str(j) for j, f in enumerate(forced) if f))
    return caption


def batch_figures(batch: Any) -> list[str]:
    with picture_fonts():
        return _batch_figures(batch)


def _batch_figures(batch: Any) -> list[str]:
    from matplotlib.figure import Figure

    from ..teaching.language import pick

    targets = [_numpy(t) for t in batch.target]
    top = max(1.0, float(max(t.max() for t in targets)))
    out = [_img(_png(batch_figure(batch)), batch_caption(batch))]
    fig = Figure(figsize=(2.3 * len(targets), 2.6))
    for k, target in enumerate(targets):
        ax = fig.add_subplot(1, len(targets), k + 1)
        ax.imshow(_middle(target[0, 0]), cmap="viridis", interpolation="nearest", vmin=0, vmax=top)
        ax.set_title(f"{drawn('output', '输出')} {k}: {'x'.join(map(str, target.shape[2:]))}", fontsize=8)
        ax.axis("off")
    out.append(_img(_png(fig), pick(_DS_CAPTION)))
    return out


def lr_figure(schedule: Any) -> list[str]:
    with picture_fonts():
        return _lr_figure(schedule)


def _lr_figure(schedule: Any) -> list[str]:
    from matplotlib.figure import Figure

    lrs = np.asarray(schedule.lrs, dtype=float)
    fig = Figure(figsize=(5, 2.6))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(np.arange(len(lrs)), lrs)
    ax.set_xlabel("epoch")
    ax.set_ylabel(drawn("learning rate", "学习率"))
    ax.set_title(drawn("poly schedule", "poly 调度") + ": lr(e) = lr0 (1 - e/max_epochs)^0.9", fontsize=9)
    return [_img(_png(fig), tr(f"learning rate of each of the {len(lrs)} epochs",
                               f"每个 epoch 的学习率(共 {len(lrs)} 个 epoch)"))]


def loss_figure(run: Any) -> list[str]:
    with picture_fonts():
        return _loss_figure(run)


def _loss_figure(run: Any) -> list[str]:
    from matplotlib.figure import Figure

    train = list(getattr(run, "all_tr_losses", []) or [])
    val = list(getattr(run, "all_val_losses", []) or [])
    dice = list(getattr(run, "all_val_eval_metrics", []) or [])
    if not train and not val:
        return []
    fig = Figure(figsize=(5, 2.8))
    ax = fig.add_subplot(1, 1, 1)
    if train:
        ax.plot(range(len(train)), train, "b-o", label=drawn("train loss", "训练损失"))
    if val:
        ax.plot(range(len(val)), val, "r-o", label=drawn("validation loss", "验证损失"))
    ax.set_xlabel("epoch")
    ax.set_ylabel(drawn("loss", "损失"))
    if dice:
        ax2 = ax.twinx()
        ax2.plot(range(len(dice)), dice, "g--o", label=drawn("evaluation metric (pseudo Dice)", "评估指标(伪 Dice)"))
        ax2.set_ylabel("Dice")
    ax.legend(loc="upper right", fontsize=7)
    return [_img(_png(fig), tr("loss per epoch (and the validation metric, as v1's progress.png)",
                               "每个 epoch 的损失(以及验证指标,与 v1 的 progress.png 相同)"))]


FIGURES: dict[str, Callable[[Any], list[str]]] = {
    "architecture": unet_figure,
    "batch": batch_figures,
    "lr_schedule": lr_figure,
}


def figures_for(result: Any) -> list[str]:
    """The inline pictures for one step result (``[]`` when the step has none or failed)."""
    if not getattr(result, "ok", False):
        return []
    output = result.output
    maker = FIGURES.get(result.name)
    if maker is None and hasattr(output, "all_tr_losses"):
        maker = loss_figure
    return maker(output) if maker is not None else []
