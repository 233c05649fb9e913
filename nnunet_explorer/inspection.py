"""Read a trained fold folder (nnU-Net v1 1.7.1's or the explorer's) and diagnose the run.

A v1 fold folder (``RESULTS_FOLDER/nnUNet/<network>/<Task>/<Trainer>__<Plans>/fold_X``) holds:

* ``training_log_Y_M_D_HH_MM_SS.txt`` — one per run; ``nnUNet_train -c`` starts a new one. v1 writes, per epoch,
  ``epoch:  N``, ``train loss : %.4f``, ``validation loss: %.4f``, ``Average global foreground Dice: [...]`` (the
  "pseudo Dice": TP/FP/FN pooled over the random validation *patches* of that epoch, 50 batches by default),
  ``lr: x`` (the LR of the *next* epoch, rounded to 6 places; also once before the first epoch of every run) and
  ``This epoch took x s``.
* ``model_latest`` / ``model_best`` / ``model_final_checkpoint`` ``.model`` — torch checkpoints whose
  ``plot_stuff`` is ``(all_tr_losses, all_val_losses, all_val_losses_tr_mode, all_val_eval_metrics)`` and whose
  ``best_stuff`` ends with ``best_val_eval_criterion_MA``.
* ``debug.json`` — the trainer's attributes as strings (``max_num_epochs``, ``initial_lr`` ...), rewritten by
  every run.
* ``validation_raw/summary.json`` — the real, per-case, sliding-window Dice after training.

:func:`inspect_fold` reads all of it into a :class:`RunInspection` and applies the maintainers' rules
(:data:`RULES`), each giving a :class:`Finding` with the numbers behind it.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .errors import ExplorerError
from .fileio import load_json
from .language import tr
from .training.splits import splits_held

# v1's defaults (nnUNetTrainerV2): poly LR ``initial_lr * (1 - epoch / max_num_epochs) ** 0.9``
INITIAL_LR = 1e-2
POLY_EXPONENT = 0.9
MA_ALPHA = 0.9  # NetworkTrainer.val_eval_criterion_alpha
CHECKPOINTS = ("model_final_checkpoint", "model_best", "model_latest")
NOSMOOTH_TRAINER = "nnUNetTrainerV2_Loss_DiceCE_noSmooth"

_LOG_NAME = re.compile(r"training_log_(\d+)_(\d+)_(\d+)_(\d+)_(\d+)_(\d+)\.txt$")
_NUMPY_WRAPPER = re.compile(r"np\.float\d+\(|np\.int\d+\(|array\(")
# nnUNetTrainerV2.do_split's lines for a fold beyond splits_final.pkl (the first also read by doctor --explain)
RANDOM_SPLIT_LINE = re.compile(r"You requested fold (\d+) for training but splits contain only (\d+) folds")
_RANDOM_SPLIT_CASES = re.compile(r"This random 80:20 split has (\d+) training and (\d+) validation cases")
_FLOAT = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|nan|inf", re.IGNORECASE)


class InspectionError(ExplorerError):
    """A fold folder that cannot be inspected (missing, not a folder, no training log)."""


@dataclass
class Finding:
    """One diagnosis: ``rule`` (its name), ``severity`` (info | warning | error), ``message``, ``numbers``."""

    rule: str
    severity: str
    message: str
    numbers: dict[str, Any] = field(default_factory=dict)


@dataclass
class EpochRecord:
    """What the logs say about one epoch (``None`` where a line is missing)."""

    epoch: int
    log: str
    learning_rate: float | None = None
    train_loss: float | None = None
    val_loss: float | None = None
    pseudo_dice: list[float] | None = None
    seconds: float | None = None
    data_wait_seconds: float | None = None  # the explorer's "data wait X s / compute Y s" line (not in v1's log)
    compute_seconds: float | None = None


@dataclass
class LogRun:
    """One training log = one run (a fresh start or one ``-c`` resume)."""

    path: str
    first_epoch: int | None
    last_epoch: int | None
    lrs: dict[int, float]
    resumed: bool
    on_cpu: bool
    random_split: tuple[int, int] | None = None
    """``(fold, splits in splits_final.pkl)`` when v1 trained the fold on its random 80:20 split instead."""
    random_split_cases: tuple[int, int] | None = None  # (training, validation) cases of that split
    split_logged: bool = False  # the run logged its split ("Desired fold for training": do_split ran)


def _log_sort_key(path: Path) -> tuple:
    match = _LOG_NAME.search(path.name)
    return tuple(int(g) for g in match.groups()) if match else (math.inf,)


def training_logs(folder: Path) -> list[Path]:
    """The fold's ``training_log_*.txt`` in time order (their names hold the start time, not zero-padded)."""
    return sorted(folder.glob("training_log_*.txt"), key=lambda p: (_log_sort_key(p), p.name))


def _floats(text: str) -> list[float]:
    return [float(v) for v in _FLOAT.findall(_NUMPY_WRAPPER.sub("(", text))]


def _after(line: str, marker: str) -> str:
    return line.split(marker, 1)[1]


def parse_log(path: Path, records: dict[int, EpochRecord]) -> LogRun:
    """Read one v1 training log into ``records`` (a later log overwrites the epochs it re-runs)."""
    return parse_log_text(path.read_text(errors="replace"), path.name, records)


def parse_log_text(text: str, name: str, records: dict[int, EpochRecord]) -> LogRun:
    """:func:`parse_log` of a log's text (``name`` labels its records), e.g. a log pasted into ``doctor --explain``."""
    pending_lr: float | None = None
    current: EpochRecord | None = None
    lrs: dict[int, float] = {}
    first = last = None
    resumed = on_cpu = False
    random_split = random_split_cases = None
    split_logged = False
    for raw in text.splitlines():
        line = raw.strip()
        if "loading checkpoint" in line:
            resumed = True
        if "run training on a CPU" in line:
            on_cpu = True
        if "Desired fold for training" in line:
            split_logged = True
        if match := RANDOM_SPLIT_LINE.search(line):
            random_split = (int(match.group(1)), int(match.group(2)))
        if match := _RANDOM_SPLIT_CASES.search(line):
            random_split_cases = (int(match.group(1)), int(match.group(2)))
        if re.search(r"(^|: )epoch: ", line):
            values = _floats(_after(line, "epoch:"))
            if not values or not math.isfinite(values[0]):
                continue  # v1 writes the epoch as an integer: anything else is not its epoch line
            epoch = int(values[0])
            lr = pending_lr if pending_lr is not None else lrs.get(epoch)
            current = records[epoch] = EpochRecord(epoch, name, learning_rate=lr)
            if lr is not None:
                lrs[epoch] = lr
            first = epoch if first is None else first
            last = epoch
            pending_lr = None
        elif re.search(r"(^|: )lr: ", line):
            values = _floats(_after(line, "lr:"))
            if values and current is None:  # before the run's first epoch: the LR of that epoch
                pending_lr = values[0]
            elif values:  # after an epoch: maybe_update_lr(epoch + 1), the LR of the next epoch
                lrs[current.epoch + 1] = values[0]
        elif current is None:
            continue
        elif "train loss :" in line:
            current.train_loss = _floats(_after(line, "train loss :"))[0]
        elif "validation loss:" in line:
            current.val_loss = _floats(_after(line, "validation loss:"))[0]
        elif "Average global foreground Dice:" in line:
            current.pseudo_dice = _floats(_after(line, "Average global foreground Dice:"))
        elif "data wait " in line and " / compute " in line:
            values = _floats(_after(line, "data wait "))
            if len(values) >= 2:
                current.data_wait_seconds, current.compute_seconds = values[0], values[1]
        elif "This epoch took" in line:
            values = _floats(_after(line, "This epoch took"))
            if values:
                current.seconds = values[0]
    return LogRun(name, first, last, lrs, resumed, on_cpu, random_split, random_split_cases, split_logged)


@dataclass(frozen=True)
class NonFiniteLosses:
    """Where a run's train loss first became NaN/Inf, and whether it stayed so (see :func:`nonfinite_losses`)."""

    epoch: int
    loss: float
    loss_before: float | None  # the epoch before's train loss (None: the first epoch read)
    learning_rate: float | None  # the LR that epoch trained with (printed before it)
    later: int  # epochs read after it
    later_finite: int  # of those, with a number as train loss

    @property
    def stayed(self) -> bool:
        return self.later > 0 and self.later_finite == 0

    def lines(self) -> list[str]:
        """What it means, one sentence per fact, in the language in effect."""
        before = self.loss_before
        out = [tr(f"the train loss is first {self.loss} at epoch {self.epoch}"
                  + (f" (the epoch before: {before:.4f})" if before is not None else " (the first epoch read)"),
                  f"train loss 第一次为 {self.loss} 是在 epoch {self.epoch}"
                  + (f"(前一个 epoch 为 {before:.4f})" if before is not None else "(读到的第一个 epoch)"))]
        if self.learning_rate is not None:
            out.append(tr(f"the learning rate printed before that epoch: {self.learning_rate}",
                          f"该 epoch 之前打印的学习率:{self.learning_rate}"))
        if not self.later:
            out.append(tr("it is the last epoch read", "这是读到的最后一个 epoch"))
        elif self.stayed:
            out.append(tr(f"all {self.later} later epochs are NaN/Inf too: the weights themselves are NaN now, and "
                          "v1 went on training without result",
                          f"之后的 {self.later} 个 epoch 也都是 NaN/Inf:权重本身已经是 NaN,v1 仍在继续训练,"
                          "却不会有任何结果"))
        else:
            out.append(tr(f"{self.later_finite} of the {self.later} later epochs are numbers again: the weights "
                          "survived. Under fp16 one iteration whose forward overflowed has a NaN loss (its step is "
                          "skipped by the GradScaler), and v1 logs the mean of the epoch's losses, so that one NaN "
                          "makes the epoch's line NaN: harmless",
                          f"之后的 {self.later} 个 epoch 中有 {self.later_finite} 个又是数字:权重没有坏。fp16 下,"
                          "某次迭代的前向溢出会得到 NaN 损失(GradScaler 跳过这一步),而 v1 记录的是整个 epoch "
                          "损失的平均值,所以这一个 NaN 让这个 epoch 的那一行变成 NaN:无害"))
        return out


def nonfinite_losses(epochs: Sequence[int], train_losses: Sequence[float | None],
                     learning_rates: Sequence[float | None]) -> NonFiniteLosses | None:
    """The first epoch whose logged train loss is NaN/Inf (v1 logs it and trains on), or None.

    The three sequences are parallel, in epoch order (a :class:`RunInspection`'s lists); None: no such line.
    """
    logged = [(e, t, lr) for e, t, lr in zip(epochs, train_losses, learning_rates) if t is not None]
    for i, (epoch, loss, lr) in enumerate(logged):
        if not math.isfinite(loss):
            later = [t for _, t, _ in logged[i + 1:]]
            return NonFiniteLosses(epoch, loss, logged[i - 1][1] if i else None, lr, len(later),
                                   sum(1 for v in later if math.isfinite(v)))
    return None


def _poly_lr(epoch: int, max_epochs: int) -> float:
    return INITIAL_LR * (1 - epoch / max_epochs) ** POLY_EXPONENT


def implied_max_num_epochs(epoch: int, lr: float) -> int | None:
    """The ``max_num_epochs`` for which v1's poly LR at ``epoch`` equals ``lr`` (``None`` when undetermined)."""
    if epoch <= 0 or not 0 < lr < INITIAL_LR:
        return None
    fraction = 1 - (lr / INITIAL_LR) ** (1 / POLY_EXPONENT)
    return int(round(epoch / fraction)) if fraction > 0 else None


def moving_average(values: list[float], alpha: float = MA_ALPHA) -> list[float]:
    """v1's ``val_eval_criterion_MA``: first value, then ``alpha * MA + (1 - alpha) * value``."""
    out: list[float] = []
    for v in values:
        out.append(v if not out else alpha * out[-1] + (1 - alpha) * v)
    return out


def _slope(values: list[float]) -> float:
    if len(values) < 2:
        return 0.0
    return float(np.polyfit(np.arange(len(values), dtype=float), np.asarray(values, dtype=float), 1)[0])


@dataclass
class RunInspection:
    """Everything :func:`inspect_fold` found: curves per epoch, the runs, checkpoints, summary and findings."""

    folder: str
    logs: list[LogRun]
    epochs: list[int]
    train_losses: list[float | None]
    val_losses: list[float | None]
    pseudo_dice: list[list[float] | None]
    learning_rates: list[float | None]
    epoch_seconds: list[float | None]
    max_num_epochs: int | None
    debug: dict[str, Any]
    checkpoints: dict[str, dict[str, Any]]
    summary_dice: dict[str, float] | None
    findings: list[Finding] = field(default_factory=list)
    data_wait_seconds: list[float | None] = field(default_factory=list)
    compute_seconds: list[float | None] = field(default_factory=list)
    resume_from: str | None = None
    """The checkpoint ``-c`` would load (without ``.model``): the first of
    :data:`~nnunet_explorer.training.checkpoint_saving.RESUME_ORDER` in the folder (None: ``-c`` would fail)."""

    @property
    def mean_pseudo_dice(self) -> list[float | None]:
        return [float(np.mean(d)) if d else None for d in self.pseudo_dice]

    @property
    def val_eval_ma(self) -> list[float]:
        return moving_average([v for v in self.mean_pseudo_dice if v is not None])

    def to_json(self) -> dict[str, Any]:
        return {"folder": self.folder, "logs": [asdict(r) for r in self.logs], "epochs": self.epochs,
                "train_losses": self.train_losses, "val_losses": self.val_losses, "pseudo_dice": self.pseudo_dice,
                "mean_pseudo_dice": self.mean_pseudo_dice, "val_eval_criterion_MA": self.val_eval_ma,
                "learning_rates": self.learning_rates, "epoch_seconds": self.epoch_seconds,
                "max_num_epochs": self.max_num_epochs, "checkpoints": self.checkpoints,
                "summary_dice": self.summary_dice, "findings": [asdict(f) for f in self.findings],
                "data_wait_seconds": self.data_wait_seconds, "compute_seconds": self.compute_seconds,
                "resume_from": self.resume_from}

    def by_rule(self, rule: str) -> list[Finding]:
        return [f for f in self.findings if f.rule == rule]


def _checkpoint_info(path: Path) -> dict[str, Any] | None:
    from .training.checkpoints import load_checkpoint_file

    try:
        ckpt = load_checkpoint_file(path)
    except ExplorerError as exc:
        return {"error": str(exc)}
    info: dict[str, Any] = {"epoch": int(ckpt.get("epoch", -1))}
    plot = ckpt.get("plot_stuff")
    if plot and len(plot) >= 4:
        info["train_losses"] = [float(v) for v in plot[0]]
        info["val_losses"] = [float(v) for v in plot[1]]
        info["val_eval_metrics"] = [float(v) for v in plot[3]]
    best = ckpt.get("best_stuff")
    if best and len(best) >= 3 and best[2] is not None:
        info["best_val_eval_criterion_MA"] = float(best[2])
    return info


def _summary_dice(folder: Path) -> dict[str, float] | None:
    path = folder / "validation_raw" / "summary.json"
    if not path.is_file():
        return None
    try:
        mean = load_json(path)["results"]["mean"]
    except (KeyError, TypeError, ValueError, ExplorerError):
        return None
    return {k: float(v["Dice"]) for k, v in mean.items() if k != "0" and isinstance(v, dict) and "Dice" in v}


def inspect_fold(folder: str | os.PathLike, *, window: int | None = None, read_checkpoints: bool = True) -> RunInspection:
    """Read ``folder`` (a fold folder) and diagnose the run; see the module docstring for what is read.

    Args:
        folder: the ``fold_X`` folder.
        window: K, the number of last epochs the trend rules look at (default: a quarter of the epochs, 5 to 50).
        read_checkpoints: also open the ``.model`` files (safely) for their curves and best moving average.

    Raises:
        InspectionError: ``folder`` is missing, is not a folder or holds no training log.
    """
    from .training.checkpoint_saving import RESUME_ORDER  # (torch only when a folder is read)

    path = Path(folder)
    if not path.exists():
        example = "$RESULTS_FOLDER/nnUNet/3d_fullres/TaskXXX_Name/nnUNetTrainerV2__nnUNetPlansv2.1/fold_0"
        raise InspectionError(tr(f"fold folder {path} does not exist", f"折文件夹 {path} 不存在"),
                              fix=tr(f"pass the fold_X folder of a training run, e.g. {example}",
                                     f"请给出一次训练的 fold_X 文件夹，例如 {example}"))
    if not path.is_dir():
        raise InspectionError(tr(f"{path} is not a folder", f"{path} 不是文件夹"),
                              fix=tr("pass the fold_X folder that holds training_log_*.txt, not a file inside it",
                                     "请给出包含 training_log_*.txt 的 fold_X 文件夹，而不是其中的某个文件"))
    logs = training_logs(path)
    if not logs:
        raise InspectionError(tr(f"{path} holds no training_log_*.txt, so there is no run to inspect",
                                 f"{path} 中没有 training_log_*.txt，所以没有可检查的训练"),
                              fix=tr("point at the fold_X folder that nnUNet_train (or nnunet-explorer train) wrote; "
                                     "the logs sit next to model_final_checkpoint.model",
                                     "请指向 nnUNet_train（或 nnunet-explorer train）写出的 fold_X 文件夹；"
                                     "日志就在 model_final_checkpoint.model 旁边"))
    records: dict[int, EpochRecord] = {}
    runs = [parse_log(p, records) for p in logs]
    epochs = sorted(records)
    debug: dict[str, Any] = {}
    if (path / "debug.json").is_file():
        try:
            debug = dict(load_json(path / "debug.json"))
        except (ExplorerError, ValueError, TypeError):
            debug = {}
    max_epochs = None
    if "max_num_epochs" in debug:
        try:
            max_epochs = int(float(debug["max_num_epochs"]))
        except ValueError:
            max_epochs = None
    checkpoints: dict[str, dict[str, Any]] = {}
    if read_checkpoints:
        for name in CHECKPOINTS:
            if (path / f"{name}.model").is_file():
                info = _checkpoint_info(path / f"{name}.model")
                if info is not None:
                    checkpoints[name] = info
    result = RunInspection(
        folder=str(path), logs=runs, epochs=epochs,
        train_losses=[records[e].train_loss for e in epochs], val_losses=[records[e].val_loss for e in epochs],
        pseudo_dice=[records[e].pseudo_dice for e in epochs], learning_rates=[records[e].learning_rate for e in epochs],
        epoch_seconds=[records[e].seconds for e in epochs], max_num_epochs=max_epochs, debug=debug,
        checkpoints=checkpoints, summary_dice=_summary_dice(path),
        data_wait_seconds=[records[e].data_wait_seconds for e in epochs],
        compute_seconds=[records[e].compute_seconds for e in epochs],
        resume_from=next((n.removesuffix(".model") for n in RESUME_ORDER if (path / n).is_file()), None))
    k = window or max(5, min(50, len(epochs) // 4))
    for rule in RULES:
        result.findings.extend(rule(result, k))
    return result


# ---------------------------------------------------------------- the rules


def rule_progress(r: RunInspection, k: int) -> list[Finding]:
    """Still learning, plateau or finished: the poly LR left and the trend of the pseudo-Dice moving average.

    The maintainers: nnUNetTrainerV2 (v1's default trainer; the older base trainers stop on patience) has no
    early stopping on purpose; "the LR schedule is not designed to be terminated
    early" (MIC-DKFZ/nnUNet#604). A flat moving average with LR left is not a reason to stop.
    """
    if not r.epochs:
        return []
    last = r.epochs[-1]
    max_epochs = r.max_num_epochs
    if max_epochs is None:
        lr = next((v for v in reversed(r.learning_rates) if v is not None), None)
        max_epochs = implied_max_num_epochs(last, lr) if lr is not None else None
    done = last + 1
    ma = r.val_eval_ma
    tail = ma[-k:]
    change = float(tail[-1] - tail[0]) if len(tail) >= 2 else 0.0
    remaining = max(0, max_epochs - done) if max_epochs else None
    lr_now = _poly_lr(min(done, max_epochs), max_epochs) if max_epochs else None
    numbers = {"epochs_done": done, "max_num_epochs": max_epochs, "epochs_remaining": remaining,
               "lr_now": lr_now, "window": len(tail), "ma_change_over_window": change,
               "ma_slope_per_epoch": _slope(tail), "ma_last": tail[-1] if tail else None}
    if remaining == 0:
        return [Finding("finished", "info", tr(
            f"the run finished all {max_epochs} epochs of the poly schedule; the pseudo-Dice moving average ended "
            f"at {numbers['ma_last']:.4f}",
            f"训练已跑完 poly 学习率计划的全部 {max_epochs} 个 epoch；伪 Dice 的滑动平均最终为 "
            f"{numbers['ma_last']:.4f}") if tail else
            tr(f"the run finished all {max_epochs} epochs", f"训练已跑完全部 {max_epochs} 个 epoch"), numbers)]
    left = (tr(f"{remaining} of {max_epochs} epochs remain (LR now {lr_now:.2e} of {INITIAL_LR:g})",
               f"{max_epochs} 个 epoch 还剩 {remaining} 个（学习率现为 {lr_now:.2e}，初始为 {INITIAL_LR:g}）")
            if remaining is not None else
            tr("the number of epochs left is unknown (no debug.json, no lr lines)",
               "剩余的 epoch 数未知（没有 debug.json，也没有 lr 行）"))
    if len(tail) < 2:
        return [Finding("too_early", "info", tr(f"only {len(ma)} epoch(s) with a pseudo Dice; {left}",
                                                f"只有 {len(ma)} 个 epoch 有伪 Dice；{left}"), numbers)]
    if change > 0.005:
        return [Finding("still_learning", "info", tr(
            f"still learning: the pseudo-Dice moving average rose by {change:+.4f} over the last {len(tail)} "
            f"epochs; {left}. Let it run.",
            f"仍在学习：伪 Dice 的滑动平均在最近 {len(tail)} 个 epoch 中上升了 {change:+.4f}；{left}。让它继续训练。"),
            numbers)]
    return [Finding("plateau", "info", tr(
        f"plateau: the pseudo-Dice moving average changed by {change:+.4f} over the last {len(tail)} epochs; "
        f"{left}. nnUNetTrainerV2 (v1's default trainer) has no early stopping by design: the poly LR keeps "
        "falling and the last epochs at small LR usually still gain (MIC-DKFZ/nnUNet#604); stopping now leaves a "
        "model trained at a larger LR than planned.",
        f"平台期：伪 Dice 的滑动平均在最近 {len(tail)} 个 epoch 中只变化了 {change:+.4f}；{left}。"
        "nnUNetTrainerV2(v1 的默认 trainer)有意不做早停："
        "poly 学习率会继续下降，学习率很小的最后几个 epoch 通常仍有提升（MIC-DKFZ/nnUNet#604）；现在停下，"
        "得到的是在比计划更大的学习率下训练出的模型。"), numbers)]


def rule_overfitting(r: RunInspection, k: int) -> list[Finding]:
    """Train loss falling while validation loss rises over the last K epochs (MIC-DKFZ/nnUNet#389)."""
    pairs = [(t, v) for t, v in zip(r.train_losses, r.val_losses) if t is not None and v is not None][-k:]
    if len(pairs) < 4:
        return []
    train, va = [p[0] for p in pairs], [p[1] for p in pairs]
    s_tr, s_va = _slope(train), _slope(va)
    numbers = {"window": len(pairs), "train_loss_slope": s_tr, "val_loss_slope": s_va,
               "train_loss_change": s_tr * (len(pairs) - 1), "val_loss_change": s_va * (len(pairs) - 1),
               "gap_last": va[-1] - train[-1]}
    if s_tr < 0 and s_va * (len(pairs) - 1) > 0.02:
        fell, rose = -numbers["train_loss_change"], numbers["val_loss_change"]
        return [Finding("overfitting", "warning", tr(
            f"overfitting: over the last {len(pairs)} epochs the train loss fell by {fell:.4f} while the validation "
            f"loss rose by {rose:.4f}. The maintainers: a gap between train and validation loss is normal; worry "
            "when the validation loss rises and the pseudo Dice drops (MIC-DKFZ/nnUNet#389). Compare model_best "
            "with model_final_checkpoint.",
            f"过拟合：最近 {len(pairs)} 个 epoch 中训练损失下降了 {fell:.4f}，而验证损失上升了 {rose:.4f}。维护者的说法："
            "训练损失与验证损失之间有差距是正常的；验证损失上升、同时伪 Dice 下降时才需要担心（MIC-DKFZ/nnUNet#389）。"
            "请比较 model_best 与 model_final_checkpoint。"), numbers)]
    return []


def rule_collapsed_class(r: RunInspection, k: int) -> list[Finding]:
    """A class whose pseudo Dice is 0 for the last epochs (MIC-DKFZ/nnUNet#882, #1395, #1084)."""
    dice = [d for d in r.pseudo_dice if d]
    if len(dice) < 3:
        return []
    n_classes = max(len(d) for d in dice)
    # v1 leaves NaN out of the logged list (a class absent from every validation batch and never predicted), which
    # moves the later classes one place down: only a full list says which value is which class
    dice = [d for d in dice if len(d) == n_classes]
    tail = dice[-min(k, len(dice)):]
    out = []
    for c in range(n_classes):
        values = [d[c] for d in tail]
        if len(values) >= 3 and all(v <= 1e-6 for v in values):
            best = max((d[c] for d in dice), default=0.0)
            out.append(Finding("collapsed_class", "warning", tr(
                f"class {c + 1}: pseudo Dice 0 in each of the last {len(values)} epochs (best ever {best:.4f}). "
                f"The network stopped predicting it; the maintainers' fix is the trainer {NOSMOOTH_TRAINER} "
                f"(Dice+CE without the Dice smoothing term, MIC-DKFZ/nnUNet#882): nnUNet_train ... {NOSMOOTH_TRAINER} ...",
                f"类别 {c + 1}：最近 {len(values)} 个 epoch 的伪 Dice 都是 0（历史最佳 {best:.4f}）。网络不再预测这个类别；"
                f"维护者给出的解决办法是换用 trainer {NOSMOOTH_TRAINER}（Dice+CE，去掉 Dice 的平滑项，"
                f"MIC-DKFZ/nnUNet#882）：nnUNet_train ... {NOSMOOTH_TRAINER} ..."),
                               {"class": c + 1, "epochs_at_zero": len(values), "best_pseudo_dice": best,
                                "trainer": NOSMOOTH_TRAINER}))
    return out


def rule_lr_jump(r: RunInspection, k: int) -> list[Finding]:
    """A resume (``-c``) whose first LR is larger than the LR before: ``max_num_epochs`` changed (#238, #636)."""
    out = []
    for prev, run in zip(r.logs, r.logs[1:]):
        if run.first_epoch is None or not prev.lrs or run.first_epoch not in run.lrs:
            continue
        before_epoch = max(e for e in prev.lrs if e <= run.first_epoch) if any(
            e <= run.first_epoch for e in prev.lrs) else max(prev.lrs)
        lr_before, lr_after = prev.lrs[before_epoch], run.lrs[run.first_epoch]
        if lr_after > lr_before * 1.0001 + 1e-7:
            m_before = implied_max_num_epochs(before_epoch, lr_before)
            m_after = implied_max_num_epochs(run.first_epoch, lr_after)
            out.append(Finding("lr_jump", "warning", tr(
                f"the LR jumped from {lr_before:.6f} (epoch {before_epoch}, {prev.path}) to {lr_after:.6f} at the "
                f"resume (epoch {run.first_epoch}, {run.path}): the poly schedule was restarted with max_num_epochs "
                f"≈{m_after} instead of ≈{m_before}. v1 recomputes the LR from epoch/max_num_epochs, so extending a "
                "run raises the LR again and costs accuracy at first (MIC-DKFZ/nnUNet#238, #636).",
                f"学习率在续训时从 {lr_before:.6f}（epoch {before_epoch}，{prev.path}）跳到了 {lr_after:.6f}"
                f"（epoch {run.first_epoch}，{run.path}）：poly 学习率计划按 max_num_epochs ≈{m_after} 而不是 "
                f"≈{m_before} 重新开始了。v1 由 epoch/max_num_epochs 重新计算学习率，所以延长训练会让学习率再次升高，"
                "起初会损失精度（MIC-DKFZ/nnUNet#238、#636）。"),
                               {"epoch": run.first_epoch, "lr_before": lr_before, "lr_after": lr_after,
                                "max_num_epochs_before": m_before, "max_num_epochs_after": m_after,
                                "log_before": prev.path, "log_after": run.path}))
    return out


def rule_pseudo_vs_real(r: RunInspection, k: int) -> list[Finding]:
    """The last pseudo Dice against the validation summary's mean Dice, with why they differ."""
    if not r.summary_dice:
        return []
    last = next((d for d in reversed(r.pseudo_dice) if d), None)
    real = [r.summary_dice[key] for key in sorted(r.summary_dice, key=lambda s: int(s) if s.isdigit() else 0)]
    numbers = {"summary_mean_dice": r.summary_dice, "real_mean": float(np.mean(real)),
               "last_pseudo_dice": last, "pseudo_mean": float(np.mean(last)) if last else None}
    gap = (numbers["pseudo_mean"] - numbers["real_mean"]) if last else None
    numbers["gap"] = gap
    real_mean = numbers["real_mean"]
    text = (tr(f"real Dice (validation_raw/summary.json, mean over classes) {real_mean:.4f} vs last pseudo Dice "
               f"{numbers['pseudo_mean']:.4f} (gap {gap:+.4f}). ",
               f"真实 Dice（validation_raw/summary.json，各类别的平均）{real_mean:.4f}，最后一次伪 Dice "
               f"{numbers['pseudo_mean']:.4f}（差 {gap:+.4f}）。") if last else
            tr(f"real Dice {real_mean:.4f}. ", f"真实 Dice {real_mean:.4f}。"))
    text += tr("The pseudo Dice pools TP/FP/FN over the patches of an epoch's random validation batches (50 by "
               "default; their last samples forced onto foreground: one of two at batch size 2), so it is noisy "
               "(v1's log: 'interpret this as an estimate ... This is not exact'); summary.json scores every "
               "validation case whole, with the sliding window (and mirroring), per case and then averaged. A gap "
               "either way can come from the few batches (noise), from patches against whole cases, and from "
               "TP/FP/FN pooled over patches against a mean of per-case Dice.",
               "伪 Dice 把一个 epoch 中随机验证 batch（默认 50 个；每个 batch 的最后几个样本被强制落在前景上：batch 为 2 时"
               "是两个中的一个）各 patch 的 TP/FP/FN 合在一起计算，所以噪声较大（v1 的日志也说：'interpret this as an "
               "estimate ... This is not exact'）；summary.json 则用滑动窗口（和镜像）对每个验证病例整体评分，逐病例计算再"
               "求平均。两者的差距无论正负，都可能来自 batch 太少（噪声）、patch 与整个病例之别，以及跨 patch 合计的 "
               "TP/FP/FN 与逐病例 Dice 的平均之别。")
    return [Finding("pseudo_vs_real_dice", "info", text, numbers)]


def rule_best_vs_final(r: RunInspection, k: int) -> list[Finding]:
    """Which epoch ``model_best`` holds against ``model_final_checkpoint``, and what each is for."""
    best, final = r.checkpoints.get("model_best"), r.checkpoints.get("model_final_checkpoint")
    if not final or "epoch" not in final:
        return []
    if not best or "epoch" not in best:
        return [Finding("best_vs_final", "info", tr(
            "there is no model_best: v1 writes it only when the pseudo-Dice moving average rises above its best so "
            "far (the first epoch only sets that best), and in this run it never did; model_final_checkpoint was "
            f"saved after {final['epoch']} epochs",
            "没有 model_best：只有当伪 Dice 的滑动平均超过此前的最好值时 v1 才写它（第一个 epoch 只确定这个最好值），"
            f"而这次训练中一次也没有超过；model_final_checkpoint 保存于 {final['epoch']} 个 epoch 之后"),
                        {"best_epoch": None, "final_epoch": final["epoch"]})]
    numbers = {"best_epoch": best["epoch"], "final_epoch": final["epoch"],
               "best_val_eval_criterion_MA": best.get("best_val_eval_criterion_MA")}
    ma = r.val_eval_ma
    numbers["final_ma"] = ma[-1] if ma else None
    best_ma = numbers["best_val_eval_criterion_MA"]
    best_ma = tr(f", {best_ma:.4f}", f"为 {best_ma:.4f}") if best_ma is not None else ""
    log_epoch = best["epoch"] - 1
    return [Finding("best_vs_final", "info", tr(
        f"model_best was saved after {best['epoch']} epochs (log epoch {log_epoch}; the best pseudo-Dice moving "
        f"average{best_ma}), model_final_checkpoint after {final['epoch']}. A checkpoint's epoch is v1's "
        "self.epoch + 1, the number of epochs completed. v1 validates and predicts with model_final_checkpoint "
        "unless told otherwise (--valbest for nnUNet_train -val, -chk model_best for nnUNet_predict); model_best is "
        "picked on the noisy pseudo Dice, so it is not reliably better.",
        f"model_best 保存于 {best['epoch']} 个 epoch 之后（日志中的 epoch {log_epoch}；伪 Dice 滑动平均的最好值"
        f"{best_ma}），model_final_checkpoint 保存于 {final['epoch']} 个之后。检查点里的 epoch 是 v1 的 "
        "self.epoch + 1，即已完成的 epoch 数。除非另行指定（nnUNet_train -val 用 --valbest，nnUNet_predict 用 -chk "
        "model_best），v1 用 model_final_checkpoint 做验证和预测；model_best 是按噪声很大的伪 Dice 挑出来的，"
        "所以并不一定更好。"), numbers)]


def rule_resume_order(r: RunInspection, k: int) -> list[Finding]:
    """What ``-c`` would load: v1's ``load_latest_checkpoint`` takes ``model_final_checkpoint`` before
    ``model_latest``, whatever their epochs. A later run in the same folder (started over, or resumed with a larger
    ``max_num_epochs`` and stopped) leaves a ``model_latest`` ahead of the old final checkpoint, and ``-c`` then
    goes back to the final one."""
    final, latest = r.checkpoints.get("model_final_checkpoint"), r.checkpoints.get("model_latest")
    if not (final and latest and "epoch" in final and "epoch" in latest) or latest["epoch"] <= final["epoch"]:
        return []
    lost = latest["epoch"] - final["epoch"]
    return [Finding("resume_skips_latest", "warning", tr(
        f"model_latest holds {latest['epoch']} epochs, model_final_checkpoint {final['epoch']}: -c loads "
        "model_final_checkpoint (v1's load_latest_checkpoint takes it first, whatever the epochs), so training "
        f"would go on from epoch {final['epoch']} and the {lost} later epoch(s) would be lost. To continue from "
        "model_latest, move model_final_checkpoint.model (and its .pkl) out of the folder first",
        f"model_latest 含 {latest['epoch']} 个 epoch，model_final_checkpoint 含 {final['epoch']} 个：-c 会加载 "
        "model_final_checkpoint（v1 的 load_latest_checkpoint 不看 epoch，总是先选它），所以训练会从 epoch "
        f"{final['epoch']} 继续，之后的 {lost} 个 epoch 会丢失。要从 model_latest 继续，请先把 "
        "model_final_checkpoint.model（及其 .pkl）移出这个文件夹"),
        {"final_epoch": final["epoch"], "latest_epoch": latest["epoch"]})]


def rule_epoch_time(r: RunInspection, k: int) -> list[Finding]:
    """Epoch time (median, last) and the time the remaining epochs need; v1 does not log the data wait."""
    seconds = [s for s in r.epoch_seconds if s is not None]
    if not seconds:
        return []
    median = float(np.median(seconds))
    remaining = (r.max_num_epochs - r.epochs[-1] - 1) if r.max_num_epochs else None
    numbers = {"median_s": median, "last_s": seconds[-1], "total_s": float(np.sum(seconds)),
               "epochs_remaining": remaining, "remaining_s": median * remaining if remaining else 0.0}
    hours, hours_left = numbers["total_s"] / 3600, numbers["remaining_s"] / 3600
    text = tr(f"an epoch takes {median:.1f} s (median of {len(seconds)}); {hours:.2f} h so far",
              f"一个 epoch 用时 {median:.1f} 秒（{len(seconds)} 个的中位数）；至今共 {hours:.2f} 小时")
    if remaining:
        text += tr(f", ≈{hours_left:.2f} h for the {remaining} epochs left",
                   f"，剩下的 {remaining} 个 epoch 约需 {hours_left:.2f} 小时")
    if not any(w is not None for w in r.data_wait_seconds):
        text += tr(". v1's log does not split data wait from compute; nnunet-explorer train's log does "
                   "(a data-loading bound shows as epochs much longer than v1's expected_epoch_times).",
                   "。v1 的日志不区分等待数据与计算的时间；nnunet-explorer train 的日志会区分"
                   "（受数据加载限制时，epoch 会比 v1 的 expected_epoch_times 长得多）。")
    findings = [Finding("epoch_time", "info", text, numbers)]
    findings.extend(rule_data_wait(r, k))
    if any(run.on_cpu for run in r.logs):
        findings.append(Finding("cpu_training", "warning", tr(
            "the log says training ran on the CPU (no CUDA), which is 10-100x slower than on a GPU",
            "日志显示训练是在 CPU 上进行的（没有 CUDA），比在 GPU 上慢 10-100 倍"), {}))
    return findings


DATA_BOUND_SHARE = 0.3
"""Above this share of the iteration time spent waiting for batches, the run is called data-loading bound."""


def rule_data_wait(r: RunInspection, k: int) -> list[Finding]:
    """The explorer's per-epoch "data wait X s / compute Y s" lines (v1's log has none): how much of the
    iterations' time went to waiting for the next batch, over the last ``k`` epochs that have the line."""
    pairs = [(w, c) for w, c in zip(r.data_wait_seconds, r.compute_seconds) if w is not None and c is not None][-k:]
    if not pairs:
        return []
    wait, compute = float(np.median([w for w, _ in pairs])), float(np.median([c for _, c in pairs]))
    share = wait / (wait + compute) if wait + compute > 0 else 0.0
    numbers = {"data_wait_s": wait, "compute_s": compute, "wait_share": share, "epochs": len(pairs)}
    percent = 100 * share
    text = tr(f"per epoch (median of the last {len(pairs)}): {wait:.1f} s waiting for data, {compute:.1f} s computing "
              f"({percent:.0f} % of the iteration time waiting)",
              f"每个 epoch（最近 {len(pairs)} 个的中位数）：等待数据 {wait:.1f} 秒，计算 {compute:.1f} 秒"
              f"（迭代时间的 {percent:.0f} % 在等待）")
    if share > DATA_BOUND_SHARE:
        return [Finding("data_wait", "warning", text + tr(
            ": the run is data-loading bound. More augmentation workers (nnUNet_n_proc_DA), or on a GPU "
            "`train --augment_on device`, give the GPU its batches sooner",
            "：训练受数据加载限制。增加数据增强的工作进程（nnUNet_n_proc_DA），或在 GPU 上用 "
            "`train --augment_on device`，GPU 就能更早拿到 batch"), numbers)]
    return [Finding("data_wait", "info", text, numbers)]


def rule_nonfinite_loss(r: RunInspection, k: int) -> list[Finding]:
    """A NaN/Inf train loss: v1 logs it and trains on; did it stay (NaN weights) or was it one epoch's mean?"""
    found = nonfinite_losses(r.epochs, r.train_losses, r.learning_rates)
    if found is None:
        return []
    text = "; ".join(found.lines()) + tr(
        ". v1 does not stop on it; `nnunet-explorer doctor --explain` on this log says more, and the explorer's "
        "own training stops at the first NaN/Inf and names where it appeared",
        "。v1 不会因此停下;对这个日志运行 `nnunet-explorer doctor --explain` 可以看到更多说明,explorer 自己的训练"
        "会在第一次出现 NaN/Inf 时停下,并指出它出现的位置")
    return [Finding("nonfinite_loss", "error" if found.stayed else "warning", text,
                    {"epoch": found.epoch, "loss_before": found.loss_before, "learning_rate": found.learning_rate,
                     "later_epochs": found.later, "later_finite": found.later_finite, "stayed": found.stayed})]


def rule_random_split(r: RunInspection, k: int) -> list[Finding]:
    """A fold beyond ``splits_final.pkl``: nnUNetTrainerV2 does not stop, it trains on a random 80:20 split."""
    # v1 splits again at every start: the newest run that logged its split says which split the weights saw last
    run = next((run for run in reversed(r.logs) if run.split_logged or run.random_split), None)
    if run is None or run.random_split is None:
        return []
    fold, splits = run.random_split
    cases = run.random_split_cases
    sizes = tr(f" ({cases[0]} training, {cases[1]} validation cases)", f"（{cases[0]} 个训练病例、{cases[1]} 个验证病例）"
               ) if cases else ""
    held = splits_held(splits)
    return [Finding("random_split", "warning", tr(
        f"fold {fold} trained on v1's random 80:20 split{sizes}, none of splits_final.pkl's: the file held only "
        f"{held}, and nnUNetTrainerV2 then draws a split with RandomState(12345 + fold) instead of stopping. With v1's "
        "five-fold file its validation cases overlap those of the five folds, so it is no extra cross-validation "
        "fold; to train a split of your own, add it to splits_final.pkl before training "
        "(`nnunet-explorer doctor --explain LOG -t TASK` names its validation cases)",
        f"fold {fold} 是用 v1 的随机 80:20 划分训练的{sizes}，不是 splits_final.pkl 中的任何一个划分：文件里只有 {held}，"
        "nnUNetTrainerV2 这时不会停下，而是用 RandomState(12345 + fold) 抽取一个划分。用 v1 的五折文件时，它的验证"
        "病例与这五个 fold 的验证病例重叠，所以它不是多出来的交叉验证 fold；要用你自己的划分，就在训练前把它加进 "
        "splits_final.pkl（`nnunet-explorer doctor --explain LOG -t TASK` 会列出它的验证病例）"),
        {"fold": fold, "splits": splits, "cases": list(cases) if cases else None})]


RULES: tuple[Callable[[RunInspection, int], list[Finding]], ...] = (
    rule_progress, rule_overfitting, rule_collapsed_class, rule_lr_jump, rule_pseudo_vs_real, rule_best_vs_final,
    rule_resume_order, rule_epoch_time, rule_nonfinite_loss, rule_random_split)
