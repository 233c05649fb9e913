"""``nnunet-explorer check_dataset -t TASK``: every check on every case of a raw task, before training on it.

Exit status: 0 when no finding is an error, 1 when one is, 2 for bad usage (unknown task, missing or unusable
dataset.json, an output file that exists without ``--overwrite``). ``--json`` and ``--report`` are written
atomically, and only after the check ran.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..language import tr

# picked when the parser is built (not at import: a notebook or test may switch the language later)
HELP = {"en": "check every case of a raw task (geometry, labels, truncated files, intensities, spacing) and report",
        "zh": "检查原始任务的每个病例(几何、标签、被截断的文件、强度、spacing)并给出报告"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-t", "--task", required=True,
                        help=tr("task id or TaskXXX_Name (raw folder in nnUNet_raw_data)",
                                "任务编号或 TaskXXX_Name(nnUNet_raw_data 中的原始数据文件夹)"))
    parser.add_argument("--json", metavar="FILE", default=None,
                        help=tr("write the findings as JSON to FILE", "把发现以 JSON 格式写入 FILE"))
    parser.add_argument("--report", metavar="FILE.html", default=None,
                        help=tr("write an HTML page with a picture of every flagged case",
                                "写出一个 HTML 页面,每个被标记的病例配一张图"))
    parser.add_argument("-tl", type=int, default=2, help=tr("cases checked in parallel (processes, default 2)",
                                                            "并行检查的病例数(进程数,默认 2)"))
    parser.add_argument("--overwrite", action="store_true", help=tr("replace existing --json / --report files",
                                                                    "覆盖已有的 --json / --report 文件"))
    parser.add_argument("--no_progress", action="store_true", help=tr("no progress bar", "不显示进度条"))
    parser.add_argument("--quiet", action="store_true", help=tr("print only the summary line", "只打印汇总的那一行"))


def run(args: argparse.Namespace) -> int:
    from ..dataset_check import check_dataset
    from ..errors import ExplorerError
    from ..fileio import write_json, write_text_atomic

    outputs = [Path(p) for p in (args.json, args.report) if p]
    for path in outputs:
        if path.exists() and not args.overwrite:
            raise ExplorerError(tr(f"{path} exists", f"{path} 已存在"),
                                fix=tr("give another file name, or --overwrite to replace it",
                                       "换一个文件名,或用 --overwrite 替换它"))
        if path.exists() and path.is_dir():
            raise ExplorerError(tr(f"{path} is a folder", f"{path} 是一个文件夹"), fix=tr("give a file name", "给出一个文件名"))
    if args.tl < 1:
        raise ExplorerError(tr(f"-tl {args.tl}: need at least 1 process", f"-tl {args.tl}:至少需要 1 个进程"),
                            fix=tr("use -tl 1 or more", "使用 -tl 1 或更大"))
    result = check_dataset(args.task, num_processes=args.tl, progress=not args.no_progress)
    text = result.summary_text()
    print(text.splitlines()[0] if args.quiet else text)
    if args.json:
        write_json(result.to_json(), args.json, indent=2, sort_keys=False)
        print(tr(f"wrote {args.json}", f"已写出 {args.json}"))
    if args.report:
        from ..views.dataset_report import render_dataset_report

        write_text_atomic(args.report, render_dataset_report(result))
        print(tr(f"wrote {args.report}", f"已写出 {args.report}"))
    return 1 if result.has_errors else 0
