"""``nnunet-explorer <subcommand>``: the command line, mirroring nnU-Net v1's entry points.

Each subcommand lives in ``nnunet_explorer/commands/<name>.py`` and provides ``HELP`` (one line, or one line per
language as ``{"en": ..., "zh": ...}``, picked when the parser is built),
``add_arguments(parser)`` and ``run(args) -> int``. Heavy imports happen inside ``run`` so that
``nnunet-explorer --help`` stays fast.

Errors the user can cause (:class:`~nnunet_explorer.errors.ExplorerError`) are printed as one clear message
with exit status 2; ``--debug`` shows the full traceback instead.
"""
from __future__ import annotations

import argparse
import importlib
import re
import sys
import traceback
from typing import Sequence

from . import __version__
from .errors import ExplorerError
from .language import is_chinese, pick, tr

# subcommand -> module under nnunet_explorer.commands (v1's spelling where v1 has the command)
SUBCOMMANDS: dict[str, str] = {
    "doctor": "doctor",
    "sample": "sample",
    "check_dataset": "check_dataset",
    "plan_and_preprocess": "plan_and_preprocess",
    "train": "train",
    "predict": "predict",
    "inspect": "inspect",
}


def _available_commands() -> dict[str, object]:
    modules = {}
    for name, module_name in SUBCOMMANDS.items():
        try:
            modules[name] = importlib.import_module(f"nnunet_explorer.commands.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"nnunet_explorer.commands.{module_name}":
                raise
    return modules


# argparse's own error messages (worded through gettext, so English here) and their Chinese, matched on the whole
# message; an unknown message stays English
_ARGPARSE_ERRORS_ZH = [
    (r"the following arguments are required: (?P<a>.*)", "缺少必需的参数：{a}"),
    (r"unrecognized arguments: (?P<a>.*)", "无法识别的参数：{a}"),
    (r"one of the arguments (?P<a>.*) is required", "参数 {a} 中必须给出一个"),
    (r"ambiguous option: (?P<a>\S+) could match (?P<b>.*)", "选项 {a} 有歧义，可能是 {b}"),
    (r"invalid choice: (?P<a>.*) \(choose from (?P<b>.*)\)", "无效的选择 {a}（可选：{b}）"),
    (r"invalid (?P<a>\S+) value: (?P<b>.*)", "无效的 {a} 值：{b}"),
    (r"expected one argument", "需要一个值"),
    (r"expected at least one argument", "需要至少一个值"),
    (r"expected at most one argument", "最多只能给一个值"),
    (r"not allowed with argument (?P<a>.*)", "不能与参数 {a} 一起使用"),
    (r"ignored explicit argument (?P<a>.*)", "忽略了显式给出的值 {a}"),
]


def _argparse_error_zh(message: str) -> str:
    """argparse's error ``message`` in Chinese (``argument X: ...`` wraps the others)."""
    argument = re.fullmatch(r"argument (?P<a>.+?): (?P<b>.*)", message, re.S)
    if argument:
        return f"参数 {argument['a']}：{_argparse_error_zh(argument['b'])}"
    for pattern, zh in _ARGPARSE_ERRORS_ZH:
        match = re.fullmatch(pattern, message, re.S)
        if match:
            return zh.format(**match.groupdict())
    return message


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's help, with its prefix ``usage: `` in the reader's language."""

    def add_usage(self, usage, actions, groups, prefix=None):
        super().add_usage(usage, actions, groups, tr("usage: ", "用法：") if prefix is None else prefix)

    def format_help(self) -> str:
        # argparse ends each section title with an ASCII colon; after a Chinese title the reader expects "："
        return re.sub(r"^(\S.*[\u4e00-\u9fff\uff08-\uff09]):$", "\\1\uff1a", super().format_help(), flags=re.M)


class ExplorerParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose own words (section titles, ``-h``'s help, ``usage:``, errors) follow the language.

    argparse words them through gettext, which has no Chinese catalogue; the language is known when the parser is
    built (``tr`` reads it then, as for every help text), so they are set here. Sub-parsers get this class too.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)
        self._positionals.title = tr("positional arguments", "位置参数")
        self._optionals.title = tr("options", "选项")
        for action in self._actions:
            if isinstance(action, argparse._HelpAction):
                action.help = tr("show this help message and exit", "显示这条帮助信息并退出")

    def error(self, message: str):
        """argparse's ``error`` (usage, then ``PROG: error: MESSAGE``, exit status 2), in the reader's language."""
        self.print_usage(sys.stderr)
        text = _argparse_error_zh(message) if is_chinese() else message
        self.exit(2, f"{self.prog}: {tr('error: ', '错误：')}{text}\n")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (one sub-parser per available subcommand)."""
    # a plain parser: its group titles must still be argparse's when a sub-parser merges them into its own
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help=tr("show the full traceback of an error", "显示错误的完整调用栈"))
    parser = ExplorerParser(
        prog="nnunet-explorer",
        description=tr("Run and look into nnU-Net v1's pipeline, step by step.", "一步一步地运行并查看 nnU-Net v1 的流程。"),
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"nnunet-explorer {__version__}",
                        help=tr("show program's version number and exit", "显示程序的版本号并退出"))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in _available_commands().items():
        text = pick(module.HELP) if isinstance(module.HELP, dict) else module.HELP
        sub_parser = sub.add_parser(name, help=text, description=text, parents=[common])
        module.add_arguments(sub_parser)
        sub_parser.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nnunet-explorer`` console script. Returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    debug = getattr(args, "debug", False)
    try:
        status = int(args._run(args) or 0)
        sys.stdout.flush()  # a reader that went away (`| head`) is met here, not at exit where it cannot be handled
        return status
    except ExplorerError as exc:
        if debug:
            traceback.print_exc()
        else:
            print(f"nnunet-explorer {args.command}: {tr('error: ', '错误：')}{error_text(exc)}", file=sys.stderr)
            print(tr("(run with --debug to see the traceback)", "（加上 --debug 运行可以看到调用栈）"), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"nnunet-explorer {args.command}: {tr('interrupted', '已中断')}", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug is raised on; one of v1's known messages is explained
        if isinstance(exc, BrokenPipeError) and _stdout_is_broken():  # `... | head` went away: no traceback
            _silence_stdout()  # and none at exit either
            return 141  # as a shell reports a command ended by SIGPIPE
        explained = None if debug else _explained(exc, args)
        if explained is None:
            raise
        print(f"nnunet-explorer {args.command}: {tr('error: ', '错误：')}{_chain(exc)[-1]}", file=sys.stderr)
        print(tr("This is one of nnU-Net v1's known messages (`nnunet-explorer doctor --explain`):",
                 "这是 nnU-Net v1 的已知报错之一（`nnunet-explorer doctor --explain`）："), file=sys.stderr)
        print("\n".join(d.text() for d in explained), file=sys.stderr)
        print(tr("(run with --debug to see the traceback)", "（加上 --debug 运行可以看到调用栈）"), file=sys.stderr)
        return 1


def _stdout_is_broken() -> bool:
    """Whether standard output is a pipe whose reader went away (not some other pipe of the command, such as a
    dead worker's): writing what is left fails again, or the system reports an error on it."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        return True
    except (OSError, ValueError):
        pass
    try:
        import select

        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(event & select.POLLERR for _, event in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows), or not a real file
        return False


def _silence_stdout() -> None:
    """Point standard output at the null device, so that Python's flush at exit meets no closed pipe."""
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # not a real file (a test's or a notebook's stream)
        pass


def _causes(exc: BaseException) -> list[BaseException]:
    """The error and those it was explicitly raised from (``raise ... from``), outermost first."""
    found: list[BaseException] = []
    while exc is not None and exc not in found:
        found.append(exc)
        exc = exc.__cause__
    return found


def _chain(exc: BaseException) -> list[str]:
    """:func:`_causes` as ``Name: message`` lines: a step's failure, then the torch or numpy error under it."""
    return [f"{type(e).__name__}: {e}" for e in _causes(exc)]


def _explained(exc: BaseException, args: argparse.Namespace) -> list | None:
    """``doctor --explain`` of an error that is not the explorer's own (a torch or numpy error deep in a step),
    with the command's task and plans identifier; None when it is none of v1's known messages (or words that
    do not tell one apart where they were raised: each known message says so of itself)."""
    from .error_explainer import explain
    from .paths import default_plans_identifier

    innermost = _causes(exc)[-1]
    frames = [(frame.filename, frame.name) for frame in traceback.extract_tb(innermost.__traceback__)]
    # the innermost error's traceback (a bare assert's words are only there, in its source line) and the messages
    text = "".join(traceback.format_exception(innermost, chain=False)) + "\n".join(_chain(exc))
    task = getattr(args, "task", None) or getattr(args, "task_name", None)
    plans = getattr(args, "p", None) or getattr(args, "plans_identifier", None) or default_plans_identifier
    try:
        found = explain(text, task=task if isinstance(task, str) else None,
                        plans_identifier=plans, raised_at=frames, report_check_errors=True)
    except Exception:  # noqa: BLE001 - the explanation must never hide the error itself
        return None
    return found or None


def error_text(exc: ExplorerError) -> str:
    """An explorer error as the command line prints it: the step, the cause and the fix, labelled in the
    reader's language (what ``str(exc)`` gives)."""
    return str(exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
