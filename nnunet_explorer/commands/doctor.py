"""``nnunet-explorer doctor``: print the folders, tasks, versions and worker settings in use, and every problem.

Exit status 0 when no problem was found, 1 when there are problems (each printed with its fix).
"""
from __future__ import annotations

import argparse

from ..language import tr

# picked when the parser is built (not at import: a notebook or test may switch the language later)
HELP = {"en": "show the nnU-Net folders, tasks, versions and worker settings in use, and any problem with its fix",
        "zh": "显示正在使用的 nnU-Net 文件夹、任务、版本和工作进程设置,以及每个问题和它的解决办法"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no_task_check", action="store_true",
                        help=tr("only list the tasks; skip the header-only integrity check of each raw task",
                                "只列出任务;跳过对每个原始任务只读文件头的完整性检查"))


def run(args: argparse.Namespace) -> int:
    from ..doctor import run_doctor

    report = run_doctor(verify_tasks=not args.no_task_check)
    print(report.text())
    return 0 if report.ok else 1
