"""``nnunet-explorer train NETWORK TRAINER TASK FOLD [v1 flags]``: v1's ``nnUNet_train``, step by step.

Takes exactly ``nnUNet_train``'s arguments (same flags, spellings and defaults; the parser is shared with
:func:`nnunet_explorer.commands.run_training.parse_run_training_args`) plus an explorer group. It runs the
training walkthrough's steps (arguments, configuration, trainer, plans, augmentation, deep supervision, loss,
network, optimizer, data, one batch, one iteration), printing a line per step and v1's configuration block.
Without ``--until`` it then does what ``nnUNet_train`` does: the training loop
(:class:`nnunet_explorer.training.loop.TrainingRun`: epochs, online Dice, checkpoints, ``progress.png``, v1's
log file and ``debug.json``; ``-c`` resumes), then validation, export and postprocessing of the fold's
validation cases (``-val`` skips training; ``--disable_validation_inference`` skips validation).

Stopping: Ctrl-C (``SIGINT``) and a scheduler's ``SIGTERM`` (SLURM, Kubernetes) both save
``model_latest.model`` with the finished epochs and shut the augmentation workers down; the command then
exits with 130 or 143 (:mod:`nnunet_explorer.training.signals`) and ``-c`` resumes.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..errors import ConfigurationError, ExplorerError

HELP = "nnUNet_train: train and validate a fold, or stop early at any step with --until (write --report)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .run_training import add_run_training_arguments
    from ..walkthrough import WALKTHROUGH_STEP_NAMES as TRAINING_STEP_NAMES  # through validate and prediction

    add_run_training_arguments(parser)
    explorer = parser.add_argument_group("explorer options (not in nnU-Net v1)")
    explorer.add_argument("--max_num_epochs", type=int, default=None, metavar="N",
                          help="train for N epochs instead of the trainer's max_num_epochs (1000 for V2)")
    explorer.add_argument("--num_batches_per_epoch", type=int, default=None, metavar="N",
                          help="training iterations per epoch (V2: 250)")
    explorer.add_argument("--num_val_batches_per_epoch", type=int, default=None, metavar="N",
                          help="validation iterations per epoch (V2: 50)")
    explorer.add_argument("--until", choices=TRAINING_STEP_NAMES, default=None, metavar="STEP",
                          help="stop after this step; one of: " + ", ".join(TRAINING_STEP_NAMES))
    explorer.add_argument("--report", type=Path, default=None, metavar="FILE.html",
                          help="write an HTML page with the card of every step run (also when a step fails)")
    explorer.add_argument("--overwrite_report", action="store_true",
                          help="allow --report to replace an existing file")
    explorer.add_argument("--trainer_file", type=Path, action="append", default=[], metavar="FILE.py",
                          help="import this Python file and register the trainer classes it defines")
    explorer.add_argument("--seed", type=int, default=12345,
                          help="seed of the initial weights and of the batch (default 12345)")
    explorer.add_argument("--debugpy", type=int, default=None, metavar="PORT",
                          help="wait for a debugger (VS Code, debugpy) to attach on this port before running")
    explorer.add_argument("--summary", action="store_true",
                          help="print the pipeline summary (shapes, dtypes, ranges, label sets) at the end")
    from .run_training import add_loop_arguments

    add_loop_arguments(explorer)  # --save_every, --device, --single_threaded, --quiet, --overwrite_training


def _wait_for_debugger(port: int) -> None:
    try:
        import debugpy  # noqa: PLC0415 - optional, imported only when asked for
    except ImportError:
        raise ConfigurationError("--debugpy needs the debugpy package, which is not installed",
                                 fix="pip install debugpy  (then attach your editor to localhost:%d)" % port) from None
    debugpy.listen(("localhost", port))
    print(f"nnunet-explorer train: waiting for a debugger on localhost:{port} ...", file=sys.stderr, flush=True)
    debugpy.wait_for_client()


def run(args: argparse.Namespace) -> int:
    """Run the command; ``SIGTERM`` (a cluster scheduler's stop) stops like Ctrl-C and exits with 143."""
    from ..training.signals import EXIT_SIGTERM, TerminationRequested, sigterm_as_interrupt

    built: list = []  # the walkthrough, once built: the message below names its fold folder
    try:
        # differs from v1: v1 dies on SIGTERM and loses the epochs since its last scheduled checkpoint
        with sigterm_as_interrupt():
            return _run(args, built)
    except TerminationRequested:
        print(_terminated_message(built[0] if built else None), file=sys.stderr, flush=True)
        return EXIT_SIGTERM


def _terminated_message(pipeline) -> str:
    """What SIGTERM left behind and how to go on (the loop saved ``model_latest.model`` if it was training)."""
    head = "nnunet-explorer train: terminated (SIGTERM)"
    trainer = pipeline.result("trainer").output if pipeline is not None and "trainer" in pipeline else None
    folder = getattr(trainer, "output_folder", None)
    if folder is None:
        return f"{head} before training started; nothing was saved: run the same command again"
    folder = Path(folder)
    if (folder / "model_latest.model").is_file():
        return (f"{head}: model_latest.model was saved in {folder}; resume with -c "
                "(the same command plus -c)")
    if (folder / "model_final_checkpoint.model").is_file():
        return (f"{head} after training finished (model_final_checkpoint.model is in {folder}); "
                "validation was interrupted: rerun it with -val (the same command plus -val)")
    return f"{head} before the first checkpoint was written in {folder}; run the same command again"


def _run(args: argparse.Namespace, built: list) -> int:
    from ..explore import StepFailed, summarize_text
    from ..training.configuration import run_args_from_namespace
    from ..training.trainers import load_trainers_from_file
    from ..walkthrough import training_walkthrough

    if args.report is not None and args.report.exists() and not args.overwrite_report:
        raise ConfigurationError(f"report file {args.report} already exists",
                                 fix="choose another file name or add --overwrite_report")
    if args.report is not None and args.report.suffix.lower() not in (".html", ".htm"):
        raise ConfigurationError(f"--report {args.report}: the report is an HTML page",
                                 fix="give a file name ending in .html")
    if args.debugpy is not None:
        _wait_for_debugger(args.debugpy)
    for trainer_file in args.trainer_file:
        names = load_trainers_from_file(trainer_file)
        print(f"registered trainer(s) from {trainer_file}: {', '.join(names)}")

    run_args = run_args_from_namespace(args)
    if args.until is not None and run_args.inactive_flags():
        print("nnunet-explorer train: note: " + ", ".join(run_args.inactive_flags()) + " recorded but not acted on: "
              "with --until the walkthrough stops before training, validation and inference",
              file=sys.stderr)
    flags = {k: v for k, v in vars(run_args).items() if k not in ("network", "network_trainer", "task", "fold")}
    pipeline = training_walkthrough(run_args.network, run_args.network_trainer, run_args.task, run_args.fold,
                                    **flags, max_num_epochs=args.max_num_epochs,
                                    num_batches_per_epoch=args.num_batches_per_epoch,
                                    num_val_batches_per_epoch=args.num_val_batches_per_epoch, seed=args.seed)
    built.append(pipeline)
    if args.until is None:
        return _train(args, pipeline)
    until = args.until
    names = pipeline.step_names[:pipeline.step_names.index(until) + 1]
    error: BaseException | None = None
    try:
        for number, name in enumerate(names, 1):
            result = pipeline.run(until=name)
            if name == "configuration":
                print(result.output.printed_text, end="")
            print(f"[{number:>2}/{len(names)}] {name:<24} {result.seconds:7.3f} s  "
                  f"{_short(summarize_text(result.output))}", flush=True)
    except (ExplorerError, StepFailed) as exc:
        error = exc
    finally:
        _write_report_and_summary(args, pipeline)
    if error is not None:
        # explorer errors are printed by the CLI as one message naming the step; StepFailed (a bug in a
        # step) keeps its traceback
        raise error
    return 0


def _train(args: argparse.Namespace, pipeline) -> int:
    """``nnUNet_train`` proper: the configuration block, the training loop, then validation (v1's ``main``)."""
    from .run_training import run_training_cli

    try:
        if os.environ.get("RANK", "0") == "0":  # under torchrun only rank 0 speaks
            print(pipeline["configuration"].printed_text, end="", flush=True)  # v1 prints this block first
        return run_training_cli(args, pipeline=pipeline)
    finally:
        _write_report_and_summary(args, pipeline)


def _write_report_and_summary(args: argparse.Namespace, pipeline) -> None:
    """``--report``: the cards of every step run so far (also after a failure); ``--summary``: the text walk."""
    from ..explore.pipeline import write_report
    from ..views import report_figures  # noqa: F401 - registers the cards' pictures (U diagram, batch, curves)

    if args.report is not None:
        write_report(pipeline, args.report, overwrite=True,
                     intro=f"nnunet-explorer train {' '.join(sys.argv[2:]) if len(sys.argv) > 2 else ''}")
        print(f"report written to {args.report}")
    if args.summary:
        print(pipeline.summary(run=False))


def _short(text: str, limit: int = 110) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."
