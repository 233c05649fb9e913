"""``nnunet-explorer doctor``: print the folders, tasks, versions and worker settings in use, and every problem.

Exit status 0 when no problem was found, 1 when there are problems (each printed with its fix). ``-t TASK`` checks
only that task's files; ``--read_whole`` decompresses every ``.npz`` to its end instead of reading its header, and
compares every checkpoint with its CRCs.

``doctor --explain MESSAGE_OR_LOG [-t TASK] [-p PLANS_IDENTIFIER]`` explains nnU-Net v1's frequent error
messages instead (:mod:`nnunet_explorer.error_explainer`): exit status 0 when it recognised one, 1 when it did not.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..language import tr
from ..paths import default_plans_identifier

# picked when the parser is built (not at import: a notebook or test may switch the language later)
HELP = {"en": "show the nnU-Net folders, tasks, versions and worker settings in use, and any problem with its fix",
        "zh": "显示正在使用的 nnU-Net 文件夹、任务、版本和工作进程设置,以及每个问题和它的解决办法"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no_task_check", action="store_true",
                        help=tr("only list the tasks; skip the quick check of their files (raw images' headers, "
                                "unpacked cases, damaged .npz/.pkl/.model files)",
                                "只列出任务;跳过对它们文件的快速检查(原始图像的文件头、已解压的病例、损坏的 "
                                ".npz/.pkl/.model 文件)"))
    parser.add_argument("--read_whole", action="store_true",
                        help=tr("decompress every .npz of every task (with -t: of that task) to its end: finds "
                                "damage inside the compressed "
                                "data (what v1 reports as \"Bad CRC-32\" or \"Error -3 while decompressing\") that "
                                "the quick check of each zip directory and header passes, and compares every "
                                "checkpoint's tensors with their CRCs (torch loads a changed weight without a word); "
                                "slow on large tasks",
                                "把每个任务(加上 -t 时只是那个任务)的每个 .npz 都解压到末尾:能找到压缩数据内部的损坏(v1 报告为 \"Bad CRC-32\" "
                                "或 \"Error -3 while decompressing\"),这种损坏能通过对 zip 目录和文件头的快速检查;"
                                "并把每个检查点的张量与它们的 CRC 比较(torch 加载被改动的权重时一声不吭);大任务上较慢"))
    parser.add_argument("--explain", metavar="MESSAGE_OR_LOG",
                        help=tr("explain nnU-Net v1 error messages: a message, or a log file to search (- reads "
                                "standard input); says the cause and checks what it depends on here",
                                "解释 nnU-Net v1 的错误信息:一条信息,或要搜索的日志文件(- 表示从标准输入读取);"
                                "给出原因,并在这里检查它所依赖的东西"))
    parser.add_argument("-t", "--task", metavar="TASK",
                        help=tr("with --explain: the task (name or id) whose files the checks read (its dataset.json, "
                                "preprocessed data, plans, splits and trained folds); without it: check only this "
                                "task's files (with --read_whole, read only its files whole)",
                                "与 --explain 一起使用:检查时读取其文件的任务(名称或编号;它的 dataset.json、预处理数据、"
                                "plans、划分和训练好的 fold);不与它一起使用时:只检查这个任务的文件(加上 --read_whole "
                                "时只把它的文件完整读一遍)"))
    parser.add_argument("-p", "--plans_identifier", metavar="PLANS_IDENTIFIER", default=default_plans_identifier,
                        help=tr("with --explain and -t: the plans identifier, as v1's -p (the checks read "
                                f"<PLANS_IDENTIFIER>_plans_3D.pkl, or _plans_2D.pkl for a 2d run; default "
                                f"{default_plans_identifier})",
                                "与 --explain 和 -t 一起使用:plans 标识,同 v1 的 -p(检查时读取 "
                                f"<PLANS_IDENTIFIER>_plans_3D.pkl;对于 2d 的运行则读取 _plans_2D.pkl;默认 "
                                f"{default_plans_identifier})"))


def _explain(source: str, task: str | None, plans_identifier: str, debug: bool = False) -> int:
    import sys

    from ..error_explainer import explain, known_messages, task_named_in
    from ..errors import ExplorerError

    path = Path(source).expanduser()  # "~/train.log" in quotes reaches us unexpanded
    if source == "-":
        text = sys.stdin.read()
    elif _looks_like_a_path(source) and not path.is_file():
        raise ExplorerError(tr(f"{source} is no file here (and no v1 message)",
                               f"{source} 在这里不是一个文件(也不是 v1 的报错)"),
                            fix=tr("check the log's path, or give the message itself in quotes",
                                   "检查日志的路径,或者用引号给出报错信息本身"))
    elif len(source) < 4096 and "\n" not in source and path.is_file():
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise ExplorerError(tr(f"{path} cannot be read ({exc.strerror})", f"{path} 无法读取({exc.strerror})"),
                                fix=tr("check the path and its permissions, or paste the message itself",
                                       "检查路径和权限,或直接粘贴报错信息")) from exc
    else:
        text = source
    named = task_named_in(text) if task is None else None
    if named is not None:
        task = named[0]
    diagnoses = explain(text, task=task, plans_identifier=plans_identifier, report_check_errors=not debug)
    if diagnoses and named is not None:
        print(tr(f"task: {named[0]}, from the log's line \"{named[1]}\" (-t checks another)",
                 f"任务:{named[0]},来自日志中的这一行 \"{named[1]}\"(用 -t 检查另一个)") + "\n")
    if not diagnoses:
        print(tr("no known nnU-Net v1 error message found; recognised are:",
                 "没有找到已知的 nnU-Net v1 错误信息;能识别的有:"))
        print("\n".join(f"  {m}" for m in known_messages()))
        return 1
    print("\n\n".join(d.text() for d in diagnoses))
    return 0


def _looks_like_a_path(source: str) -> bool:
    """One word with a folder separator or a log's ending: a path, not a message (messages have spaces)."""
    return (len(source) < 4096 and "\n" not in source and " " not in source.strip()
            and ("/" in source or "\\" in source or source.endswith((".log", ".txt", ".out", ".err"))))


def run(args: argparse.Namespace) -> int:
    from ..doctor import run_doctor
    from ..errors import ExplorerError

    if args.read_whole and args.explain is not None:
        raise ExplorerError(tr("--read_whole is for the plain check; --explain reads every .npz of the -t task whole "
                               "by itself when the text holds a CRC or zlib error",
                               "--read_whole 用于普通检查;文字中有 CRC 或 zlib 错误时,--explain 会自己把 -t 任务的每个 "
                               ".npz 完整读一遍"),
                            fix=tr("leave out --read_whole, or run `nnunet-explorer doctor --read_whole` on its own",
                                   "去掉 --read_whole,或单独运行 `nnunet-explorer doctor --read_whole`"))
    if args.explain is not None:
        return _explain(args.explain, args.task, args.plans_identifier, getattr(args, "debug", False))
    if args.read_whole and args.no_task_check:
        raise ExplorerError(tr("--read_whole reads the tasks' files and --no_task_check skips them",
                               "--read_whole 读取任务的文件,而 --no_task_check 跳过它们"),
                            fix=tr("give one of the two", "二者只给一个"))
    report = run_doctor(verify_tasks=not args.no_task_check, read_whole=args.read_whole, task=args.task)
    print(report.text())
    return 0 if report.ok else 1
