"""A live training monitor for notebooks: progress, loss curves, online Dice, learning rate, timing, Stop.

:class:`TrainingMonitor` is an *observer* of the training loop (see :mod:`nnunet_explorer.training.hooks`):
the loop calls ``on_train_start``, ``on_epoch_start``, ``on_iteration_end``, ``on_validation_end``,
``on_epoch_end`` and ``on_train_end`` and the monitor turns those plain-number events into widgets::

    monitor = TrainingMonitor(control)      # control: the loop's LoopControl (for the Stop button)
    display(monitor)                        # or monitor.widget
    loop.add_observer(monitor); loop.run()  # whatever the loop's API is: it only needs the hook methods

What it shows, and what it teaches about nnU-Net v1's training loop:

* an epoch bar and an iteration bar with rate and ETA (v1: ``num_batches_per_epoch`` = 250 iterations per
  epoch, ``max_num_epochs`` = 1000; an "epoch" is a fixed number of random batches, not a pass over the data);
* the training loss per iteration and per epoch, split into its cross-entropy and soft-Dice parts (v1's loss
  is ``CE + (-Dice)``, so it goes *below zero* as Dice improves), and the validation loss;
* the per-class "global" Dice of the validation batches (v1's ``finish_online_evaluation``: true positives,
  false positives and false negatives pooled over all validation batches, per foreground class), and v1's
  ``val_eval_criterion_MA`` — the exponential moving average (alpha 0.9) of the *mean* of those Dice values that
  decides which checkpoint is "best"; the monitor applies the same rule to each class (an explorer addition);
* the learning rate (poly schedule: set once per epoch);
* the time waiting for data versus computing (if data wait dominates, augmentation is the bottleneck);
* a Stop button that calls :meth:`LoopControl.request_stop`: the loop ends after the current iteration and
  saves a checkpoint (resume later with ``-c``; like v1's, it loads an older ``model_final_checkpoint`` first).

Cost: the loop calls the monitor every iteration, so the monitor must be cheap. Widget updates are throttled
by time (``redraw_interval``, default 0.5 s, i.e. at most 2 Hz, however fast the loop runs) *and* by the
budget (an update is skipped while it would push the monitor over ``overhead_budget``), plots are
redrawn at an epoch end or every ``plot_interval`` seconds *only while the monitor's total cost stays within
``overhead_budget`` (2 %) of the iteration time*, and once more at the end of training (the constructor renders
the plots once, so that matplotlib's start-up cost is paid before training and a plot's cost is known). The
monitor times itself: :attr:`TrainingMonitor.overhead_fraction` and the "monitor overhead" line in the widget.

Note on Jupyter: a cell that runs the loop blocks the kernel, so button clicks are only processed when the
loop runs in a background thread (run it with the loop's background runner) or after the cell ends.
"""
from __future__ import annotations

import collections
import html
import time
from typing import Any, Callable, Sequence

import numpy as np

from ..language import tr
from ..training.hooks import EpochEnd, IterationEnd, LoopControl, TrainEnd, TrainStart, ValidationEnd
from .report_figures import drawn, picture_fonts
from .widgets_common import Throttle, format_seconds, new_figure, require_ipywidgets, show_figure_in_output

# v1: NetworkTrainer.val_eval_criterion_alpha (the moving average that picks the best checkpoint)
DICE_MA_ALPHA = 0.9


class MonitorState:
    """Everything the monitor has been told, as plain lists (testable without any widget).

    Per iteration: ``iter_loss``, ``iter_ce``, ``iter_dice``, ``iter_lr``, ``iter_data_s``, ``iter_compute_s``
    and ``iter_epoch``. Per epoch (appended at ``on_epoch_end``): ``epochs``, ``train_loss``, ``val_loss``,
    ``epoch_ce``, ``epoch_dice``, ``lr``, ``epoch_data_s``, ``epoch_compute_s``, ``epoch_seconds``,
    ``mean_global_dice``, ``val_eval_criterion_MA``. Validation: ``dice_per_class`` (one list per epoch) and
    its moving average ``dice_per_class_ma``.
    """

    def __init__(self) -> None:
        self.start: TrainStart | None = None
        self.end: TrainEnd | None = None
        self.current_epoch: int | None = None
        self.iteration_in_epoch = 0
        self.iter_epoch: list[int] = []
        self.iter_loss: list[float] = []
        self.iter_ce: list[float] = []
        self.iter_dice: list[float] = []
        self.iter_lr: list[float] = []
        self.iter_data_s: list[float] = []
        self.iter_compute_s: list[float] = []
        self.epochs: list[int] = []
        self.train_loss: list[float] = []
        self.val_loss: list[float] = []
        self.epoch_ce: list[float] = []
        self.epoch_dice: list[float] = []
        self.lr: list[float] = []
        self.epoch_data_s: list[float] = []
        self.epoch_compute_s: list[float] = []
        self.epoch_seconds: list[float] = []
        self.mean_global_dice: list[float] = []
        self.val_eval_criterion_MA: list[float] = []
        self.val_epochs: list[int] = []
        self.dice_per_class: list[list[float]] = []
        self.dice_per_class_ma: list[list[float]] = []
        self.saved: list[str] = []
        self._epoch_first_iter = 0

    @property
    def iterations_done(self) -> int:
        return len(self.iter_loss)

    def epoch_iterations(self) -> slice:
        """The slice of the per-iteration lists that belongs to the current epoch."""
        return slice(self._epoch_first_iter, len(self.iter_loss))


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


class TrainingMonitor:
    """A live ipywidgets view of a training run, fed by the training loop's observer hooks.

    Args:
        control: the loop's :class:`LoopControl`; the Stop button calls its ``request_stop``. Can be given
            later with :meth:`attach`.
        redraw_interval: minimum seconds between widget updates (0.5 = at most 2 Hz).
        plot_interval: minimum seconds between plot redraws inside an epoch (plots are also redrawn at the end
            of every epoch while the overhead budget allows, and always at the end of training).
        overhead_budget: the largest share of iteration time the monitor may spend; a plot redraw that would
            exceed it is skipped (and done later).
        show_plots: False for a lighter monitor with bars and numbers only.
        clock: the time source (tests pass a fake clock).
    """

    def __init__(self, control: LoopControl | None = None, *, redraw_interval: float = 0.5,
                 plot_interval: float = 30.0, overhead_budget: float = 0.02, show_plots: bool = True,
                 clock: Callable[[], float] = time.perf_counter, title: str | None = None) -> None:
        widgets = require_ipywidgets()
        self.control = control
        self.state = MonitorState()
        self.overhead_budget = float(overhead_budget)
        self.show_plots = bool(show_plots)
        self._clock = clock
        self._throttle = Throttle(redraw_interval, clock)
        self._plot_throttle = Throttle(plot_interval, clock)
        self._seconds = 0.0  # time spent inside the monitor's hooks while training runs (its own cost)
        self._final_seconds = 0.0  # the closing redraw at on_train_end (after the last iteration)
        self._update_cost = 0.002  # estimate of one widget update (s), refined at every update
        self._plot_cost = 0.25  # estimate of one plot redraw (s); measured at construction and at every plot
        self._recent: collections.deque[float] = collections.deque(maxlen=50)  # iteration end times
        self._t_start: float | None = None
        self.redraw_count = 0
        self.plot_count = 0
        self.plots_skipped = 0

        title = tr("nnU-Net training", "nnU-Net 训练") if title is None else title
        self.title = widgets.HTML(f"<b>{html.escape(title)}</b>")
        self.epoch_bar = widgets.IntProgress(value=0, min=0, max=1, description="epochs", bar_style="info")
        self.epoch_label = widgets.Label(tr("waiting for the training loop", "等待训练循环开始"))
        self.iter_bar = widgets.IntProgress(value=0, min=0, max=1, description=tr("iterations", "迭代"))
        self.iter_label = widgets.Label("")
        self.stats = widgets.HTML("")
        self.overhead_label = widgets.Label(tr("monitor overhead: n/a", "监视器开销：暂无"))
        self.plot = widgets.Output(layout=widgets.Layout(min_height="40px"))
        self.stop_button = widgets.Button(description=tr("Stop", "停止"), button_style="danger", icon="stop",
                                          tooltip=tr("end training after this iteration (a checkpoint is saved)",
                                                     "在这次迭代之后结束训练（会保存检查点）"))
        self.stop_label = widgets.Label("" if control is not None else
                                        tr("Stop: no loop attached yet", "停止：还没有连接训练循环"))
        self.stop_button.on_click(self._on_stop_clicked)
        self.widget = widgets.VBox([
            self.title,
            widgets.HBox([self.epoch_bar, self.epoch_label]),
            widgets.HBox([self.iter_bar, self.iter_label]),
            self.stats,
            self.plot,
            widgets.HBox([self.stop_button, self.stop_label]),
            self.overhead_label,
        ])
        if self.show_plots:
            # Render the (empty) plots once now, before training: the first render imports matplotlib and
            # loads fonts (seconds on a busy machine). Its time is also the first estimate of a plot's cost,
            # which decides whether a plot fits in the overhead budget.
            from .widgets_common import figure_png

            t0 = time.perf_counter()
            with picture_fonts():
                figure_png(self.figure(), dpi=72)
            self._plot_cost = max(0.05, time.perf_counter() - t0)

    # ------------------------------------------------------------------------------------------ display
    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def attach(self, control: LoopControl) -> None:
        """Connect the Stop button to a loop's control (if it was not given to the constructor)."""
        self.control = control
        self.stop_button.disabled = False
        self.stop_label.value = ""

    # ------------------------------------------------------------------------------------------ cost
    @property
    def overhead_seconds(self) -> float:
        """Seconds spent inside the monitor's hooks while training ran (updates, plots, bookkeeping).

        The closing redraw in ``on_train_end`` happens after the last iteration and is counted separately
        (:attr:`final_seconds`): it does not slow training down.
        """
        return self._seconds

    @property
    def final_seconds(self) -> float:
        """Seconds spent in ``on_train_end`` (the final redraw and plot)."""
        return self._final_seconds

    @property
    def iteration_seconds(self) -> float:
        """Seconds the loop reported for its iterations (data wait + compute)."""
        return float(sum(self.state.iter_data_s) + sum(self.state.iter_compute_s))

    @property
    def overhead_fraction(self) -> float:
        """The monitor's cost as a share of the iteration time it watched (0.01 = 1 %)."""
        base = self.iteration_seconds
        return self._seconds / base if base > 0 else float("nan")

    def _timed(self, start: float) -> None:
        self._seconds += self._clock() - start

    # ------------------------------------------------------------------------------------------ hooks
    def on_train_start(self, event: TrainStart) -> None:
        t0 = self._clock()
        s = self.state
        s.start = event
        s.end = None
        self._t_start = t0
        self.epoch_bar.max = max(1, int(event.max_num_epochs))
        self.epoch_bar.value = int(event.start_epoch)
        self.iter_bar.max = max(1, int(event.num_batches_per_epoch))
        self.iter_bar.value = 0
        resumed = tr(f" (resumed at epoch {event.start_epoch})", f"（从 epoch {event.start_epoch} 续训）") \
            if event.resumed else ""
        self.epoch_label.value = f"epoch {event.start_epoch}/{event.max_num_epochs}{resumed}"
        self.stop_button.disabled = self.control is None
        self._throttle.reset()
        self._plot_throttle.ready(force=True)  # the plot timer starts now
        self._timed(t0)

    def on_epoch_start(self, epoch: int) -> None:
        t0 = self._clock()
        self.state.current_epoch = int(epoch)
        self.state.iteration_in_epoch = 0
        self.state._epoch_first_iter = len(self.state.iter_loss)
        self._timed(t0)

    def on_iteration_end(self, event: IterationEnd) -> None:
        t0 = self._clock()
        s = self.state
        s.current_epoch = int(event.epoch)
        s.iteration_in_epoch = int(event.iteration) + 1
        s.iter_epoch.append(int(event.epoch))
        s.iter_loss.append(float(event.loss))
        s.iter_ce.append(float("nan") if event.ce is None else float(event.ce))
        s.iter_dice.append(float("nan") if event.dice is None else float(event.dice))
        s.iter_lr.append(float(event.lr))
        s.iter_data_s.append(float(event.data_seconds))
        s.iter_compute_s.append(float(event.compute_seconds))
        self._recent.append(t0)
        if self._within_budget(self._update_cost) and self._throttle.ready():
            self._redraw()
        if self.show_plots and self._plot_allowed() and self._plot_throttle.ready():
            self._draw_plot()
        self._timed(t0)

    def on_validation_end(self, event: ValidationEnd) -> None:
        t0 = self._clock()
        s = self.state
        dice = [float(v) for v in event.global_dice_per_class]
        previous = s.dice_per_class_ma[-1] if s.dice_per_class_ma else None
        if previous is None or len(previous) != len(dice):
            ma = list(dice)  # v1 starts the moving average at the first value
        else:
            ma = [DICE_MA_ALPHA * p + (1 - DICE_MA_ALPHA) * d for p, d in zip(previous, dice)]
        s.val_epochs.append(int(event.epoch))
        s.dice_per_class.append(dice)
        s.dice_per_class_ma.append(ma)
        self._timed(t0)

    def on_epoch_end(self, event: EpochEnd) -> None:
        t0 = self._clock()
        s = self.state
        part = s.epoch_iterations()
        s.epochs.append(int(event.epoch))
        s.train_loss.append(float(event.train_loss))
        s.val_loss.append(float(event.val_loss))
        s.epoch_ce.append(_mean(s.iter_ce[part]))
        s.epoch_dice.append(_mean(s.iter_dice[part]))
        s.lr.append(s.iter_lr[part][-1] if s.iter_lr[part] else float(event.lr_next))
        s.epoch_data_s.append(float(event.data_seconds))
        s.epoch_compute_s.append(float(event.compute_seconds))
        s.epoch_seconds.append(float(event.epoch_seconds))
        s.mean_global_dice.append(float(event.mean_global_dice))
        s.val_eval_criterion_MA.append(float("nan") if event.val_eval_criterion_MA is None
                                       else float(event.val_eval_criterion_MA))
        s.saved.extend(event.saved)
        self.epoch_bar.value = min(self.epoch_bar.max, int(event.epoch) + 1)  # one cheap trait update, always
        if self._within_budget(self._update_cost):
            self._redraw(force=True)
        if self.show_plots and self._plot_allowed():
            self._draw_plot()
        self._timed(t0)

    def on_train_end(self, event: TrainEnd) -> None:
        t0 = self._clock()
        self.state.end = event
        if not event.stopped_early and self.state.start is not None:
            self.epoch_bar.value = self.epoch_bar.max
            self.iter_bar.value = self.iter_bar.max
        self.epoch_bar.bar_style = "warning" if event.stopped_early else "success"
        self._redraw(force=True)
        if self.show_plots:
            self._draw_plot()  # always: the final picture
        self.stop_button.disabled = True
        checkpoint = tr(f"; checkpoint {event.final_checkpoint}", f"；检查点 {event.final_checkpoint}") \
            if event.final_checkpoint else ""
        reason = tr("finished", "已完成") if event.reason == "finished" else event.reason  # the loop's own word
        self.stop_label.value = tr(f"training ended after epoch {event.last_epoch}: {reason}{checkpoint}",
                                   f"训练在 epoch {event.last_epoch} 之后结束：{reason}{checkpoint}")
        self._final_seconds += self._clock() - t0
        self._update_overhead_label()

    # ------------------------------------------------------------------------------------------ stop
    def _on_stop_clicked(self, _button: Any = None) -> None:
        if self.control is None:
            self.stop_label.value = tr("no loop attached: nothing to stop", "没有连接训练循环：没有可停止的")
            return
        self.control.request_stop(tr("Stop button in the training monitor", "训练监视器中的停止按钮"))
        self.stop_button.disabled = True
        self.stop_label.value = tr("stop requested: the loop ends after this iteration and saves a checkpoint",
                                   "已请求停止：训练循环会在这次迭代之后结束并保存检查点")

    def request_stop(self) -> None:
        """Same as clicking Stop."""
        self._on_stop_clicked()

    # ------------------------------------------------------------------------------------------ drawing
    def _rate(self) -> float | None:
        """Iterations per second over the last (up to 50) iterations."""
        if len(self._recent) < 2:
            return None
        span = self._recent[-1] - self._recent[0]
        return (len(self._recent) - 1) / span if span > 0 else None

    def _eta(self) -> tuple[float | None, float | None]:
        s = self.state
        if s.start is None:
            return None, None
        rate = self._rate()
        per_epoch = s.start.num_batches_per_epoch
        left_in_epoch = max(0, per_epoch - s.iteration_in_epoch)
        eta_epoch = left_in_epoch / rate if rate else None
        epoch = s.current_epoch if s.current_epoch is not None else s.start.start_epoch
        epochs_left = max(0, s.start.max_num_epochs - epoch - 1)
        if s.epoch_seconds:
            eta_total = (eta_epoch or 0.0) + epochs_left * float(np.mean(s.epoch_seconds[-5:]))
        else:
            eta_total = (left_in_epoch + epochs_left * per_epoch) / rate if rate else None
        return eta_epoch, eta_total

    def _redraw(self, *, force: bool = False) -> None:
        """Update bars and numbers (cheap: a few trait updates)."""
        s = self.state
        if s.start is None:
            return
        t0 = time.perf_counter()
        self.redraw_count += 1
        self.iter_bar.value = min(self.iter_bar.max, s.iteration_in_epoch)
        rate = self._rate()
        eta_epoch, eta_total = self._eta()
        epoch = s.current_epoch if s.current_epoch is not None else s.start.start_epoch
        done, per_epoch = s.iteration_in_epoch, s.start.num_batches_per_epoch
        speed = f" · {rate:.2f} it/s" if rate else ""
        self.iter_label.value = tr(f"iteration {done}/{per_epoch}{speed} · epoch ETA {format_seconds(eta_epoch)}",
                                   f"迭代 {done}/{per_epoch}{speed} · 本 epoch 预计还需 {format_seconds(eta_epoch)}")
        total, finished = s.start.max_num_epochs, len(s.epochs)
        self.epoch_label.value = tr(f"epoch {epoch}/{total} (0-based) · {finished} finished here · total ETA "
                                    f"{format_seconds(eta_total)}",
                                    f"epoch {epoch}/{total}（从 0 数起）· 本次已完成 {finished} 个 · 全部预计还需 "
                                    f"{format_seconds(eta_total)}")
        self.stats.value = self._stats_html()
        self._update_overhead_label()
        # a moving estimate of one update's cost (comm messages to the front end dominate in a live kernel)
        self._update_cost = 0.7 * self._update_cost + 0.3 * (time.perf_counter() - t0)

    def _update_overhead_label(self) -> None:
        frac = self.overhead_fraction
        text = tr("n/a", "暂无") if frac != frac else f"{100 * frac:.1f} %"
        seconds, updates, plots = self._seconds, self.redraw_count, self.plot_count
        final = tr(f"; final redraw {self._final_seconds:.2f} s", f"；最后一次重绘 {self._final_seconds:.2f} 秒") \
            if self.state.end is not None else ""
        self.overhead_label.value = tr(f"monitor overhead {text} of iteration time ({seconds:.2f} s in {updates} "
                                       f"updates and {plots} plots{final})",
                                       f"监视器开销占迭代时间的 {text}（{updates} 次更新和 {plots} 次绘图共 "
                                       f"{seconds:.2f} 秒{final}）")

    def _stats_html(self) -> str:
        s = self.state
        if not s.iter_loss:
            return ""
        part = s.epoch_iterations()
        data, comp = sum(s.iter_data_s[part]), sum(s.iter_compute_s[part])
        share = data / (data + comp) if data + comp > 0 else float("nan")
        rows = [(tr("loss (last iteration)", "损失（最近一次迭代）"), f"{s.iter_loss[-1]:.4f}"),
                (tr("CE / Dice part", "CE / Dice 部分"), f"{s.iter_ce[-1]:.4f} / {s.iter_dice[-1]:.4f}"),
                (tr("learning rate", "学习率"), f"{s.iter_lr[-1]:.3g}"),
                (tr("data wait / compute (this epoch)", "等待数据 / 计算（本 epoch）"),
                 tr(f"{data:.1f} s / {comp:.1f} s ({share:.0%} waiting)",
                    f"{data:.1f} 秒 / {comp:.1f} 秒（{share:.0%} 在等待）"))]
        if s.val_loss:
            rows.append((tr("validation loss (last epoch)", "验证损失（上一个 epoch）"), f"{s.val_loss[-1]:.4f}"))
        if s.dice_per_class:
            dice = ", ".join(f"{d:.3f}" for d in s.dice_per_class[-1])
            ma = ", ".join(f"{d:.3f}" for d in s.dice_per_class_ma[-1])
            rows.append((tr("global Dice per class (MA)", "各类别的全局 Dice（滑动平均）"), f"{dice} ({ma})"))
        cells = "".join(f"<tr><td style='padding-right:1em'>{html.escape(k)}</td><td><code>{html.escape(v)}"
                        f"</code></td></tr>" for k, v in rows)
        return f"<table class='nnx-monitor-stats'>{cells}</table>"

    def _within_budget(self, extra: float) -> bool:
        """True if spending ``extra`` more seconds keeps the monitor within ``overhead_budget`` of iteration time."""
        return self._seconds + extra <= self.overhead_budget * self.iteration_seconds

    def _plot_allowed(self) -> bool:
        """True if one more plot keeps the monitor's cost within ``overhead_budget`` of the iteration time."""
        return self._within_budget(self._plot_cost)

    def _draw_plot(self) -> None:
        t0 = self._clock()
        with picture_fonts():
            show_figure_in_output(self.plot, self.figure(), dpi=72)
        self._plot_cost = max(1e-3, self._clock() - t0)
        self.plot_count += 1

    def figure(self):
        """The monitor's plots as a matplotlib ``Figure``: loss, Dice, learning rate, data vs compute time.

        Its words are Chinese under ``zh`` where matplotlib has a Chinese font; draw it inside
        :func:`~nnunet_explorer.views.report_figures.picture_fonts`."""
        s = self.state
        fig = new_figure(11, 3.2)
        ax_loss, ax_dice, ax_lr, ax_time = fig.subplots(1, 4)
        if s.iter_loss:
            per_epoch = s.start.num_batches_per_epoch if s.start else 1
            x = np.asarray(s.iter_epoch, dtype=float) + (np.arange(len(s.iter_loss)) - _first_index(s.iter_epoch)) \
                / max(1, per_epoch)
            ax_loss.plot(x, s.iter_loss, color="0.75", lw=0.8, label=drawn("train (iteration)", "训练（每次迭代）"))
        if s.epochs:
            ex = np.asarray(s.epochs) + 1.0  # an epoch's value is plotted at its end
            ax_loss.plot(ex, s.train_loss, "o-", label=drawn("train", "训练"))
            ax_loss.plot(ex, s.val_loss, "o-", label=drawn("validation", "验证"))
            ax_loss.plot(ex, s.epoch_ce, "--", label=drawn("CE part", "CE 部分"))
            ax_loss.plot(ex, s.epoch_dice, ":", label=drawn("-Dice part", "-Dice 部分"))
        ax_loss.axhline(0, color="k", lw=0.5)
        ax_loss.set_title(drawn("loss", "损失") + " = CE + (-Dice)")
        ax_loss.set_xlabel("epoch")
        if ax_loss.get_legend_handles_labels()[0]:  # before the first iteration there is nothing to label
            ax_loss.legend(fontsize=7)
        if s.dice_per_class:
            vx = np.asarray(s.val_epochs) + 1.0
            d, ma = np.asarray(s.dice_per_class), np.asarray(s.dice_per_class_ma)
            for c in range(d.shape[1]):
                line, = ax_dice.plot(vx, d[:, c], "o", ms=3, label=drawn(f"class {c + 1}", f"类别 {c + 1}"))
                ax_dice.plot(vx, ma[:, c], "-", color=line.get_color())
        if s.epochs and any(v == v for v in s.val_eval_criterion_MA):
            ax_dice.plot(np.asarray(s.epochs) + 1.0, s.val_eval_criterion_MA, "k-", lw=1.5,
                         label=drawn("mean MA (v1: best checkpoint)", "平均的滑动平均（v1：最佳检查点）"))
        ax_dice.set_ylim(-0.02, 1.02)
        ax_dice.set_title(drawn("global Dice (dots) and MA", "全局 Dice（点）和滑动平均"))
        ax_dice.set_xlabel("epoch")
        if ax_dice.get_legend_handles_labels()[0]:
            ax_dice.legend(fontsize=7)
        if s.iter_lr:
            ax_lr.plot(np.arange(len(s.iter_lr)), s.iter_lr)
        ax_lr.set_title(drawn("learning rate", "学习率"))
        ax_lr.set_xlabel(drawn("iteration", "迭代"))
        if s.epochs:
            ex = np.asarray(s.epochs)
            ax_time.bar(ex, s.epoch_compute_s, label=drawn("compute", "计算"))
            ax_time.bar(ex, s.epoch_data_s, bottom=s.epoch_compute_s, label=drawn("data wait", "等待数据"))
            ax_time.legend(fontsize=7)
        ax_time.set_title(drawn("seconds per epoch", "每个 epoch 的秒数"))
        ax_time.set_xlabel("epoch")
        return fig

    def __repr__(self) -> str:
        s = self.state
        frac = self.overhead_fraction
        over = "n/a" if frac != frac else f"{100 * frac:.2f} %"
        return (f"<TrainingMonitor {s.iterations_done} iterations, {len(s.epochs)} epochs, "
                f"{self.redraw_count} updates, {self.plot_count} plots, overhead {over}>")


def _first_index(epochs: Sequence[int]) -> np.ndarray:
    """For each iteration, the index of the first iteration of its epoch (to place iterations within epochs)."""
    arr = np.asarray(epochs)
    first = np.zeros(len(arr), dtype=float)
    start = 0
    for i in range(1, len(arr) + 1):
        if i == len(arr) or arr[i] != arr[start]:
            first[start:i] = start
            start = i
    return first


__all__ = ["DICE_MA_ALPHA", "MonitorState", "TrainingMonitor"]
