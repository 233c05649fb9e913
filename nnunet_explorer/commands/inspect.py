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
from ..language import tr

HELP = tr("read a trained fold folder (nnU-Net v1 or explorer): curves, LR, checkpoints, findings with their numbers",
          "读取训练好的折文件夹(nnU-Net v1 或 explorer 的):曲线、学习率、检查点,以及带数字的发现")


def _after(info: dict) -> str:
    """A checkpoint's ``epoch`` is v1's ``self.epoch + 1``: the epochs completed, one more than the log's last."""
    n = info.get("epoch")
    if not isinstance(n, int) or n < 1:
        return f"epoch {n}"
    return f"saved after {n} epoch{'s' if n > 1 else ''} (log epoch {n - 1})"


def _resume(result) -> str:
    """Which checkpoint ``-c`` would load, in v1's order."""
    if result.resume_from is None:
        return "nothing (no model_final_checkpoint, model_latest or model_best: -c would fail)"
    return f"{result.resume_from}.model (v1's order: model_final_checkpoint, model_latest, model_best)"


def _epochs(log) -> str:
    if log.first_epoch is None:
        return "no epoch logged (a run that ended before its first epoch, e.g. a walkthrough with --until)"
    return f"epochs {log.first_epoch}-{log.last_epoch}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("fold_folder", metavar="FOLD_FOLDER",
                        help="the fold_X folder of a run (holds training_log_*.txt, model_*.model, debug.json)")
    parser.add_argument("--json", dest="json_file", default=None, metavar="FILE", help="write curves and findings")
    parser.add_argument("--report", default=None, metavar="FILE.html", help="write an HTML report with the curves")
    parser.add_argument("--window", type=int, default=None, metavar="K",
                        help="last K epochs the trend rules look at (default: a quarter of the epochs, 5 to 50)")
    parser.add_argument("--no_checkpoints", action="store_true", help="do not open the .model checkpoints")
    parser.add_argument("--overwrite", action="store_true", help="replace existing --json / --report files")
    parser.add_argument("--strict", action="store_true", help="exit 1 when any finding is a warning")


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
    """A matplotlib Figure (no pyplot): losses and pseudo Dice (with its moving average) above, the LR below."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 6.5))
    ax, ax_lr = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ep = result.epochs
    ax.plot(ep, [v if v is not None else float("nan") for v in result.train_losses], "b-", label="train loss")
    ax.plot(ep, [v if v is not None else float("nan") for v in result.val_losses], "r-", label="validation loss")
    ax.set_ylabel("loss")
    ax2 = ax.twinx()
    dice_epochs = [e for e, d in zip(ep, result.mean_pseudo_dice) if d is not None]
    ax2.plot(dice_epochs, [d for d in result.mean_pseudo_dice if d is not None], "g.", label="pseudo Dice (mean)")
    ax2.plot(dice_epochs, result.val_eval_ma, "g-", label="moving average (selects model_best)")
    if result.summary_dice:
        real = sum(result.summary_dice.values()) / len(result.summary_dice)
        ax2.axhline(real, color="k", ls="--", label=f"real Dice, summary.json ({real:.3f})")
    ax2.set_ylabel("Dice")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="upper right", fontsize=8)
    for run in result.logs[1:]:
        if run.first_epoch is not None:
            ax.axvline(run.first_epoch, color="grey", ls=":")
            ax_lr.axvline(run.first_epoch, color="grey", ls=":")
    ax_lr.plot(ep, [v if v is not None else float("nan") for v in result.learning_rates], "k.-")
    ax_lr.set_ylabel("LR")
    ax_lr.set_xlabel("epoch (dotted: a -c resume)")
    fig.tight_layout()
    return fig


def _figure_png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def html_report(result) -> str:
    """The HTML page: the curves as an inline PNG, the findings with their numbers, the checkpoints."""
    rows = "".join(f"<tr><td>{html.escape(f.severity)}</td><td>{html.escape(f.rule)}</td>"
                   f"<td>{html.escape(f.message)}</td><td><code>{html.escape(str(f.numbers))}</code></td></tr>"
                   for f in result.findings)
    ckpts = "".join(f"<li>{html.escape(name)}: {_after(info)}</li>" for name, info in result.checkpoints.items())
    ckpts += f"<li><code>-c</code> would load: {html.escape(_resume(result))}</li>"
    logs = "".join(f"<li>{html.escape(r.path)}: {_epochs(r)}"
                   f"{' (resumed with -c)' if r.resumed else ''}</li>" for r in result.logs)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>inspect {html.escape(result.folder)}</title>"
            "<style>body{font-family:sans-serif} td{border-top:1px solid #ccc;padding:4px;vertical-align:top}"
            "</style></head><body>"
            f"<h1>Run inspection</h1><p><code>{html.escape(result.folder)}</code></p>"
            f"<img alt='training curves' src='data:image/png;base64,{_figure_png(curves_figure(result))}'>"
            f"<h2>Findings</h2><table><tr><th>severity</th><th>rule</th><th>message</th><th>numbers</th></tr>{rows}"
            f"</table><h2>Logs</h2><ul>{logs}</ul><h2>Checkpoints</h2><ul>{ckpts}</ul></body></html>")


def text_summary(result) -> str:
    lines = [f"fold folder: {result.folder}"]
    for r in result.logs:
        lines.append(f"  log {r.path}: {_epochs(r)}{' (resumed with -c)' if r.resumed else ''}")
    if result.epochs:
        i = len(result.epochs) - 1
        lines.append(f"  last epoch {result.epochs[i]}: train loss {result.train_losses[i]}, val loss "
                     f"{result.val_losses[i]}, pseudo Dice {result.pseudo_dice[i]}, lr {result.learning_rates[i]}")
    for name, info in result.checkpoints.items():
        lines.append(f"  {name}: {_after(info)}")
    lines.append(f"  -c would load: {_resume(result)}")
    if result.summary_dice:
        lines.append(f"  validation_raw/summary.json mean Dice per class: {result.summary_dice}")
    lines.append("findings:")
    for f in result.findings:
        lines.append(f"  [{f.severity}] {f.rule}: {f.message}")
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
