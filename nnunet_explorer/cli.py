"""``nnunet-explorer <subcommand>``: the command line, mirroring nnU-Net v1's entry points.

Each subcommand lives in ``nnunet_explorer/commands/<name>.py`` and provides ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. Heavy imports happen inside ``run`` so that
``nnunet-explorer --help`` stays fast.

Errors the user can cause (:class:`~nnunet_explorer.errors.ExplorerError`) are printed as one clear message
with exit status 2; ``--debug`` shows the full traceback instead.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from typing import Sequence

from . import __version__
from .errors import ExplorerError
from .language import tr

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


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (one sub-parser per available subcommand)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help=tr("show the full traceback of an error", "显示错误的完整调用栈"))
    parser = argparse.ArgumentParser(
        prog="nnunet-explorer",
        description=tr("Run and look into nnU-Net v1's pipeline, step by step.", "一步一步地运行并查看 nnU-Net v1 的流程。"),
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"nnunet-explorer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in _available_commands().items():
        sub_parser = sub.add_parser(name, help=module.HELP, description=module.HELP, parents=[common])
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
        return int(args._run(args) or 0)
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


def error_text(exc: ExplorerError) -> str:
    """An explorer error as the command line prints it: the step, the cause and the fix, labelled in the
    reader's language (``str(exc)`` holds the same with English labels)."""
    text = exc.cause
    if exc.step:
        text = tr(f"[step {exc.step}] ", f"[步骤 {exc.step}] ") + text
    if exc.fix:
        text += "\n  " + tr("fix: ", "解决办法：") + exc.fix
    return text


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
