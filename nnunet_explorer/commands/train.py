"""``nnunet-explorer train NETWORK TRAINER TASK FOLD [v1 flags]``: v1's ``nnUNet_train``, step by step.

Takes exactly ``nnUNet_train``'s arguments (same flags, spellings and defaults) plus an explorer group, parsed
once into a typed request. It builds the training walkthrough and runs its steps: arguments, configuration (v1's
printed block), the trainer, ``trainer.initialize``. With ``--until STEP`` it stops after that step (a line per
step, ``--report`` writes every card). Without it, it does what ``nnUNet_train`` does with that same trainer:
``-c`` / ``-pretrained_weights``, ``run_training`` (epochs, online Dice, checkpoints, ``progress.png``, v1's log
and ``debug.json``), then ``validate`` (``-val`` only validates) and, for ``3d_lowres``, the next stage's
predictions. Under ``torchrun`` (or with ``--dist``) every process trains its share (DDP).

Stopping: Ctrl-C (``SIGINT``) and a scheduler's ``SIGTERM`` (SLURM, Kubernetes) both save
``model_latest.model`` with the finished epochs and shut the augmentation workers down; the command then
exits with 130 or 143 and ``-c`` resumes (from ``model_final_checkpoint.model`` instead, as v1 does, when an older
one is still in the folder; the command warns).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError, ExplorerError
from ..language import tr

# picked when the parser is built (not at import: a notebook or test may switch the language later)
HELP = {"en": "nnUNet_train: train and validate a fold, or stop early at any step with --until (write --report)",
        "zh": "nnUNet_train:训练并验证一折,或用 --until 在任意一步提前停止(用 --report 写出报告)"}

# flags that act in training_epochs / validate / prediction: recorded but not acted on when --until stops before
_RUN_FLAGS = ("validation_only", "continue_training", "npz", "find_lr", "valbest", "val_folder",
              "disable_postprocessing_on_folds", "disable_validation_inference", "val_disable_overwrite",
              "disable_next_stage_pred", "pretrained_weights")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .run_training import add_explorer_arguments, add_run_training_arguments

    add_run_training_arguments(parser)
    add_explorer_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Run the command; the one signal handler: ``SIGTERM`` (a cluster scheduler's stop) acts like Ctrl-C."""
    from ..training.signals import EXIT_SIGTERM, TerminationRequested, sigterm_as_interrupt

    built: list = []  # the walkthrough, once built: the messages below name its fold folder
    try:
        # differs from v1: v1 dies on SIGTERM without saving; -c then resumes from its last scheduled model_latest
        # (every 50 epochs) or, before the first one, from model_best
        with sigterm_as_interrupt():
            return _run(args, built)
    except TerminationRequested:
        print(_stopped_message(tr("terminated (SIGTERM)", "被终止(SIGTERM)"), built), file=sys.stderr, flush=True)
        return EXIT_SIGTERM
    except KeyboardInterrupt:
        print(_stopped_message(tr("interrupted (Ctrl-C)", "被中断(Ctrl-C)"), built), file=sys.stderr, flush=True)
        return 130


def _stopped_message(what: str, built: list) -> str:
    """What the stop left behind and how to go on (the run saved ``model_latest.model`` if it was training)."""
    head = f"nnunet-explorer train: {what}"
    pipeline = built[0] if built else None
    trainer = pipeline.result("trainer").output if pipeline is not None and "trainer" in pipeline else None
    folder = getattr(trainer, "output_folder", None)
    if folder is None:
        return head + tr(" before training started; nothing was saved: run the same command again",
                         ",发生在训练开始之前;没有保存任何东西:再运行一次同样的命令")
    folder = Path(folder)
    if (folder / "model_latest.model").is_file():
        from ..run.run_training import stale_final_checkpoint

        stale = stale_final_checkpoint(folder)  # -c would take an older model_final_checkpoint.model instead
        if stale is not None:
            return head + tr(f": model_latest.model was saved in {folder}; but ", f":model_latest.model 已保存在 "
                             f"{folder};但 ") + stale
        return head + tr(f": model_latest.model was saved in {folder}; resume with -c (the same command plus -c)",
                         f":model_latest.model 已保存在 {folder};用 -c 继续(同样的命令加上 -c)")
    if (folder / "model_final_checkpoint.model").is_file():
        return head + tr(f" after training finished (model_final_checkpoint.model is in {folder}); "
                         "validation was interrupted: rerun it with -val (the same command plus -val)",
                         f",发生在训练结束之后(model_final_checkpoint.model 在 {folder} 中);"
                         "验证被中断:用 -val 重新运行验证(同样的命令加上 -val)")
    return head + tr(f" before the first checkpoint was written in {folder}; run the same command again",
                     f",发生在 {folder} 中写出第一个检查点之前;再运行一次同样的命令")


def _wait_for_debugger(port: int) -> None:
    try:
        import debugpy  # noqa: PLC0415 - optional, imported only when asked for
    except ImportError:
        raise ConfigurationError(tr("--debugpy needs the debugpy package, which is not installed",
                                    "--debugpy 需要 debugpy 包,但它没有安装"),
                                 fix=tr(f"pip install debugpy  (then attach your editor to localhost:{port})",
                                        f"pip install debugpy (然后把编辑器连接到 localhost:{port})")) from None
    debugpy.listen(("localhost", port))
    print(tr(f"nnunet-explorer train: waiting for a debugger on localhost:{port} ...",
             f"nnunet-explorer train:正在 localhost:{port} 上等待调试器连接 ..."), file=sys.stderr, flush=True)
    debugpy.wait_for_client()


def _run(args: argparse.Namespace, built: list) -> int:
    from ..training.distributed import wants_distributed
    from .run_training import register_trainer_files, request_from_namespace

    if args.report is not None and args.report.exists() and not args.overwrite_report:
        raise ConfigurationError(tr(f"report file {args.report} already exists", f"报告文件 {args.report} 已存在"),
                                 fix=tr("choose another file name or add --overwrite_report",
                                        "换一个文件名,或加上 --overwrite_report"))
    if args.report is not None and args.report.suffix.lower() not in (".html", ".htm"):
        raise ConfigurationError(tr(f"--report {args.report}: the report is an HTML page",
                                    f"--report {args.report}:报告是一个 HTML 页面"),
                                 fix=tr("give a file name ending in .html", "给一个以 .html 结尾的文件名"))
    if args.debugpy is not None:
        _wait_for_debugger(args.debugpy)
    register_trainer_files(args.trainer_file)  # a v1 file's ignored settings are said below, once
    request = request_from_namespace(args)  # once; the device is resolved here
    _note_ignored_settings(request.args.network_trainer)
    if wants_distributed(args):  # --dist, or torchrun with WORLD_SIZE > 1
        from ..training.distributed import DistributedStrategy, distributed_context

        if request.args.validation_only:
            raise ConfigurationError(tr("-val with several processes: validation runs on one process in the explorer",
                                        "-val 用了多个进程:explorer 的验证在一个进程上运行"),
                                     fix=tr("run the -val command without torchrun / --dist",
                                            "不用 torchrun / --dist 运行 -val 命令"))
        with distributed_context(device=str(request.options.device)) as info:
            import torch

            request = dataclasses.replace(request, options=dataclasses.replace(request.options,
                                                                                device=torch.device(info.device)))
            strategy = DistributedStrategy(info, distribute_batch_size=request.options.distribute_batch_size)
            return _walk(args, request, built, strategy)
    return _walk(args, request, built, None)


def _note_ignored_settings(trainer_name: str) -> None:
    """Say which values the chosen trainer sets that v1 1.7.1 ignores or overwrites (training goes on as in v1)."""
    from ..network_training import find_trainer_class
    from ..network_training.provenance import ignored_settings

    try:
        cls = find_trainer_class(trainer_name)
    except ExplorerError:
        return  # the configuration step names the unknown trainer, with its fix
    for setting in ignored_settings(cls):
        print(f"nnunet-explorer train: {tr('note: ', '注意:')}{setting.message}", file=sys.stderr)


def _walk(args: argparse.Namespace, request: Any, built: list, strategy: Any) -> int:
    """The walkthrough's steps (``--until``), or ``nnUNet_train`` itself with the walkthrough's trainer."""
    from ..explore import StepFailed, summarize_text
    from ..run.run_training import after_initialize
    from ..walkthrough import CHEAP_LOOKS, walkthrough_for

    pipeline = walkthrough_for(request, strategy=strategy)
    built.append(pipeline)
    rank0 = strategy is None or strategy.is_global_zero
    until = args.until
    if until is not None:
        names = pipeline.step_names[:pipeline.step_names.index(until) + 1]
        inactive = [f for f in _RUN_FLAGS if f in request.args.changed_from_defaults()]
        if inactive and "training_epochs" not in names:
            flags = ", ".join(inactive)
            print("nnunet-explorer train: " + tr(f"note: {flags} recorded but not acted on: --until {until} stops "
                                                 "before training, validation and inference",
                                                 f"注意:{flags} 已记录,但没有起作用:--until {until} 在训练、验证和"
                                                 "推理之前停止"), file=sys.stderr)
    else:
        names = ["initialize"]
    error: BaseException | None = None
    try:
        for number, name in enumerate(names, 1):
            result = pipeline.run(until=name)
            if until is None:
                break
            if name == "configuration" and rank0:
                print(result.output.printed_text, end="", flush=True)
            if rank0:
                print(f"[{number:>2}/{len(names)}] {name:<24} {result.seconds:7.3f} s  "
                      f"{_short(summarize_text(result.output))}", flush=True)
        if until is None:
            if rank0:
                print(pipeline["configuration"].printed_text, end="", flush=True)  # v1 prints this block first
            if args.report is not None:
                pipeline.run(until=CHEAP_LOOKS[-1])  # the report shows what initialize set (looking changes nothing)
            # v1's main with the walkthrough's own steps, so that the report records what ran (no call trace: a long
            # run must not pay for it)
            pipeline.set_params("training_epochs", trace=False)

            def train(trainer: Any, _request: Any) -> Any:
                pipeline.run_only("training_epochs")
                return trainer.explorer.result

            def validate(_trainer: Any, _request: Any) -> Any:
                return pipeline.run_only("validate").output

            return after_initialize(pipeline["trainer"], request, train=train, validate=validate)
    except (ExplorerError, StepFailed) as exc:
        error = exc
    finally:
        if rank0:
            _write_report_and_summary(args, pipeline)
    if error is not None:
        # explorer errors are printed by the CLI as one message naming the step; StepFailed (a bug in a step)
        # keeps its traceback
        raise error
    return 0


def _write_report_and_summary(args: argparse.Namespace, pipeline: Any) -> None:
    """``--report``: the cards of every step run so far (also after a failure); ``--summary``: the text walk."""
    from ..explore.pipeline import write_report
    from .. import views  # noqa: F401 - importing the views registers the cards' pictures (U diagram, batch, curves)

    if args.report is not None:
        write_report(pipeline, args.report, overwrite=True,
                     intro=f"nnunet-explorer train {' '.join(sys.argv[2:]) if len(sys.argv) > 2 else ''}")
        print(tr(f"report written to {args.report}", f"报告已写入 {args.report}"))
    if args.summary:
        print(pipeline.summary(run=False))


def _short(text: str, limit: int = 110) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."
