"""``nnunet-explorer inspect FOLD_FOLDER``: read a trained fold folder (v1's or the explorer's) and diagnose it.

Prints the curves' last values and every finding; ``--json`` writes the curves and findings, ``--report`` an
HTML page with the curves as pictures. Both are written atomically and never over an existing file without
``--overwrite``. Exit status 0 (1 when a finding is a warning and ``--strict`` is given).
"""
from __future__ import annotations

import argparse
import base64
import html
import io
from pathlib import Path

from ..errors import ExplorerError
from ..language import severity_word, tr

HELP = {"en": "read a trained fold folder (nnU-Net v1 or explorer): curves, LR, checkpoints, findings with their numbers",
        "zh": "读取训练好的折文件夹(nnU-Net v1 或 explorer 的):曲线、学习率、检查点,以及带数字的发现"}


def _after(name: str, info: dict, result) -> str:
    """A checkpoint's ``epoch`` is v1's ``self.epoch + 1``: the epochs completed, one more than the log's last.

    One exception: a trainer that stops early (the base trainers' patience; V2 never does) leaves the loop before
    counting the last epoch and ``run_training`` still takes one off, so its ``model_final_checkpoint`` holds the
    log's last epoch itself, after one more completed epoch.
    """
    n = info.get("epoch")
    if not isinstance(n, int) or n < 1:
        return f"epoch {n}"
    if name.startswith("model_final_checkpoint") and result.epochs and result.epochs[-1] == n:
        return tr(f"saved after {n + 1} epochs: the run stopped early at log epoch {n}",
                  f"保存于 {n + 1} 个 epoch 之后：训练在日志中的 epoch {n} 提前停止")
    log_epoch = n - 1
    return tr(f"saved after {n} epoch{'s' if n > 1 else ''} (log epoch {log_epoch})",
              f"保存于 {n} 个 epoch 之后（日志中的 epoch {log_epoch}）")


def _resume(result) -> str:
    """Which checkpoint ``-c`` would load, in v1's order."""
    if result.resume_from is None:
        return tr("nothing (no model_final_checkpoint, model_latest or model_best: -c would fail)",
                  "无（没有 model_final_checkpoint、model_latest 或 model_best：-c 会失败）")
    return tr(f"{result.resume_from}.model (v1's order: model_final_checkpoint, model_latest, model_best)",
              f"{result.resume_from}.model（v1 的顺序：model_final_checkpoint、model_latest、model_best）")


def _epochs(log) -> str:
    if log.first_epoch is None:
        return tr("no epoch logged (a run that ended before its first epoch, e.g. a walkthrough with --until)",
                  "日志中没有 epoch（在第一个 epoch 之前就结束的训练，例如用了 --until 的逐步运行）")
    return tr(f"epochs {log.first_epoch}-{log.last_epoch}", f"epoch {log.first_epoch}-{log.last_epoch}")


def _resumed(log) -> str:
    return tr(" (resumed with -c)", "（用 -c 续训）") if log.resumed else ""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("fold_folder", metavar="FOLD_FOLDER",
                        help=tr("the fold_X folder of a run (holds training_log_*.txt, model_*.model, debug.json)",
                                "一次训练的 fold_X 文件夹（含 training_log_*.txt、model_*.model、debug.json）"))
    parser.add_argument("--json", dest="json_file", default=None, metavar="FILE",
                        help=tr("write curves and findings", "写出曲线和发现"))
    parser.add_argument("--report", default=None, metavar="FILE.html",
                        help=tr("write an HTML report with the curves", "写出带曲线图的 HTML 报告"))
    parser.add_argument("--window", type=int, default=None, metavar="K",
                        help=tr("last K epochs the trend rules look at (default: a quarter of the epochs, 5 to 50)",
                                "趋势规则查看的最后 K 个 epoch（默认：epoch 数的四分之一，5 到 50）"))
    parser.add_argument("--no_checkpoints", action="store_true",
                        help=tr("do not open the .model checkpoints", "不打开 .model 检查点"))
    parser.add_argument("--overwrite", action="store_true",
                        help=tr("replace existing --json / --report files", "覆盖已有的 --json / --report 文件"))
    parser.add_argument("--strict", action="store_true",
                        help=tr("exit 1 when any finding is a warning", "只要有一条发现是警告，就以 1 退出"))


def _check_target(path: str | None, overwrite: bool) -> Path | None:
    if path is None:
        return None
    target = Path(path)
    if target.exists() and not overwrite:
        raise ExplorerError(tr(f"{target} exists; not overwriting it", f"{target} 已存在;不覆盖它"),
                            fix=tr("pass --overwrite or choose another file", "加上 --overwrite,或换一个文件"))
    if not target.parent.is_dir():
        raise ExplorerError(tr(f"the folder of {target} does not exist", f"{target} 所在的文件夹不存在"),
                            fix=tr(f"create {target.parent} first", f"先创建 {target.parent}"))
    return target


def curves_figure(result):
    """A matplotlib Figure (no pyplot): losses and pseudo Dice (with its moving average) above, the LR below.

    Its words are Chinese under ``zh`` where matplotlib has a Chinese font (see
    :mod:`~nnunet_explorer.views.report_figures`), English otherwise; draw it inside ``picture_fonts()``, as
    :func:`curves_png` does."""
    from matplotlib.figure import Figure

    from ..views.report_figures import drawn

    fig = Figure(figsize=(9, 6.5))
    ax, ax_lr = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ep = result.epochs
    ax.plot(ep, [v if v is not None else float("nan") for v in result.train_losses], "b-", label=drawn("train loss", "训练损失"))
    ax.plot(ep, [v if v is not None else float("nan") for v in result.val_losses], "r-", label=drawn("validation loss", "验证损失"))
    ax.set_ylabel(drawn("loss", "损失"))
    ax2 = ax.twinx()
    dice_epochs = [e for e, d in zip(ep, result.mean_pseudo_dice) if d is not None]
    ax2.plot(dice_epochs, [d for d in result.mean_pseudo_dice if d is not None], "g.", label=drawn("pseudo Dice (mean)", "伪 Dice（平均）"))
    ax2.plot(dice_epochs, result.val_eval_ma, "g-", label=drawn("moving average (selects model_best)", "滑动平均（据此选 model_best）"))
    if result.summary_dice:
        real = sum(result.summary_dice.values()) / len(result.summary_dice)
        ax2.axhline(real, color="k", ls="--", label=drawn(f"real Dice, summary.json ({real:.3f})", f"真实 Dice，summary.json（{real:.3f}）"))
    ax2.set_ylabel("Dice")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="upper right", fontsize=8)
    for run in result.logs[1:]:
        if run.first_epoch is not None:
            ax.axvline(run.first_epoch, color="grey", ls=":")
            ax_lr.axvline(run.first_epoch, color="grey", ls=":")
    ax_lr.plot(ep, [v if v is not None else float("nan") for v in result.learning_rates], "k.-")
    ax_lr.set_ylabel(drawn("LR", "学习率"))
    ax_lr.set_xlabel(drawn("epoch (dotted: a -c resume)", "epoch（点线：一次 -c 续训）"))
    fig.tight_layout()
    return fig


def curves_png(result) -> str:
    """:func:`curves_figure` as a base64 PNG, drawn with the language's fonts."""
    from ..views.report_figures import picture_fonts

    with picture_fonts():
        buffer = io.BytesIO()
        curves_figure(result).savefig(buffer, format="png", dpi=90)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def html_report(result) -> str:
    """The HTML page: the curves as an inline PNG, the findings with their numbers, the checkpoints."""
    rows = "".join(f"<tr><td>{html.escape(severity_word(f.severity))}</td><td><code>{html.escape(f.rule)}</code></td>"
                   f"<td>{html.escape(f.message)}</td><td><code>{html.escape(str(f.numbers))}</code></td></tr>"
                   for f in result.findings)
    ckpts = "".join(f"<li><code>{html.escape(name)}</code>: {html.escape(_after(name, info, result))}</li>"
                    for name, info in result.checkpoints.items())
    ckpts += "<li>" + tr("<code>-c</code> would load: ", "<code>-c</code> 会加载：") + html.escape(_resume(result)) + "</li>"
    logs = "".join(f"<li><code>{html.escape(r.path)}</code>: {html.escape(_epochs(r) + _resumed(r))}</li>"
                   for r in result.logs)
    headers = "".join(f"<th>{h}</th>" for h in (tr("severity", "级别"), tr("rule", "规则"), tr("message", "说明"),
                                                tr("numbers", "数字")))
    lang = tr("en", "zh-CN")
    return (f"<!doctype html><html lang='{lang}'><head><meta charset='utf-8'>"
            f"<title>{tr('Run inspection', '训练检查')}: {html.escape(result.folder)}</title>"
            "<style>body{font-family:sans-serif} td{border-top:1px solid #ccc;padding:4px;vertical-align:top}"
            "</style></head><body>"
            f"<h1>{tr('Run inspection', '训练检查')}</h1><p><code>{html.escape(result.folder)}</code></p>"
            f"<img alt='{tr('training curves', '训练曲线')}' src='data:image/png;base64,{curves_png(result)}'>"
            f"<h2>{tr('Findings', '发现')}</h2><table><tr>{headers}</tr>{rows}</table>"
            f"<h2>{tr('Logs', '日志')}</h2><ul>{logs}</ul>"
            f"<h2>{tr('Checkpoints', '检查点')}</h2><ul>{ckpts}</ul></body></html>")


def text_summary(result) -> str:
    """What ``inspect`` prints: the logs, the last epoch's values, the checkpoints, what ``-c`` would load, the
    findings."""
    lines = [tr(f"fold folder: {result.folder}", f"折文件夹：{result.folder}")]
    for r in result.logs:
        lines.append(tr(f"  log {r.path}: ", f"  日志 {r.path}：") + _epochs(r) + _resumed(r))
    if result.epochs:
        i = len(result.epochs) - 1
        epoch, train, val = result.epochs[i], result.train_losses[i], result.val_losses[i]
        dice, lr = result.pseudo_dice[i], result.learning_rates[i]
        lines.append(tr(f"  last epoch {epoch}: train loss {train}, val loss {val}, pseudo Dice {dice}, lr {lr}",
                        f"  最后一个 epoch {epoch}：训练损失 {train}，验证损失 {val}，伪 Dice {dice}，学习率 {lr}"))
    for name, info in result.checkpoints.items():
        lines.append(f"  {name}: {_after(name, info, result)}")
    lines.append(tr("  -c would load: ", "  -c 会加载：") + _resume(result))
    if result.summary_dice:
        lines.append(tr(f"  validation_raw/summary.json mean Dice per class: {result.summary_dice}",
                        f"  validation_raw/summary.json 中各类别的平均 Dice：{result.summary_dice}"))
    lines.append(tr("findings:", "发现："))
    for f in result.findings:
        lines.append(f"  [{severity_word(f.severity)}] {f.rule}: {f.message}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ..fileio import write_json, write_text_atomic
    from ..inspection import inspect_fold

    json_target = _check_target(args.json_file, args.overwrite)
    report_target = _check_target(args.report, args.overwrite)
    result = inspect_fold(args.fold_folder, window=args.window, read_checkpoints=not args.no_checkpoints)
    print(text_summary(result))
    if json_target is not None:
        write_json(result.to_json(), json_target, sort_keys=False)
        print(tr(f"wrote {json_target}", f"已写出 {json_target}"))
    if report_target is not None:
        write_text_atomic(report_target, html_report(result))
        print(tr(f"wrote {report_target}", f"已写出 {report_target}"))
    if args.strict and any(f.severity in ("warning", "error") for f in result.findings):
        return 1
    return 0
