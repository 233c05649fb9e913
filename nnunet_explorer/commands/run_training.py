"""v1's ``nnunet/run/run_training.py`` (and ``run_training_DDP.py``): the ``nnUNet_train`` command line.

The command-line layer: the argparse parser with v1's arguments (same flags, dests, defaults and actions), the
explorer's loop options, and what ``nnUNet_train`` does after parsing (train, validate, predict the next stage of
the cascade; under ``torchrun`` the DDP run). The core (``nnunet_explorer.training``) takes plain values and knows
no argparse; ``nnunet-explorer train`` (:mod:`.train`) and ``python -m nnunet_explorer.commands.run_training``
use this module.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Sequence

from ..errors import ConfigurationError, ExplorerError, TrainingError
from ..paths import default_plans_identifier
from ..provenance import mirrors
from ..training.checkpoint_saving import BEST, FINAL
from ..training.configuration import RunArgs, run_args_from_namespace


@mirrors("nnunet.run.run_training:main")
def add_run_training_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add v1's ``nnUNet_train`` arguments to ``parser`` (same order, flags, dests, defaults and actions)."""
    parser.add_argument("network", help="2d, 3d_lowres, 3d_fullres or 3d_cascade_fullres")
    parser.add_argument("network_trainer", help="trainer class name, e.g. nnUNetTrainerV2")
    parser.add_argument("task", help="can be task name or task id")
    parser.add_argument("fold", help="0, 1, ..., 5 or 'all'")
    parser.add_argument("-val", "--validation_only", action="store_true",
                        help="only run the validation (needs a trained checkpoint)")
    parser.add_argument("-c", "--continue_training", action="store_true",
                        help="continue from model_latest.model")
    parser.add_argument("-p", default=default_plans_identifier, required=False,
                        help="plans identifier (change only with a custom experiment planner)")
    parser.add_argument("--use_compressed_data", default=False, action="store_true", required=False,
                        help="read the .npz files directly instead of unpacking them to .npy")
    parser.add_argument("--deterministic", required=False, default=False, action="store_true",
                        help="seed numpy/torch with 12345 and make cuDNN deterministic (slower)")
    parser.add_argument("--npz", required=False, default=False, action="store_true",
                        help="also export softmax .npz files of the validation cases (needed for ensembling)")
    parser.add_argument("--find_lr", required=False, default=False, action="store_true",
                        help="run v1's learning-rate finder instead of training")
    parser.add_argument("--valbest", required=False, default=False, action="store_true",
                        help="with -val: use model_best instead of model_final_checkpoint")
    parser.add_argument("--fp32", required=False, default=False, action="store_true",
                        help="disable mixed precision (fp16 is the default)")
    parser.add_argument("--val_folder", required=False, default="validation_raw",
                        help="name of the validation output folder")
    parser.add_argument("--disable_saving", required=False, action="store_true",
                        help="save no checkpoints except a temporary latest one")
    parser.add_argument("--disable_postprocessing_on_folds", required=False, action="store_true",
                        help="do not determine postprocessing on this fold's validation")
    parser.add_argument("--disable_validation_inference", required=False, action="store_true",
                        help="do not run inference on the validation cases")
    parser.add_argument("--val_disable_overwrite", action="store_false", default=True,
                        help="validation does not overwrite existing segmentations (note: v1 stores False "
                             "when this flag is given)")
    parser.add_argument("--disable_next_stage_pred", action="store_true", default=False,
                        help="3d_lowres: do not predict the next stage of the cascade")
    parser.add_argument("-pretrained_weights", type=str, required=False, default=None,
                        help="path to a .model checkpoint whose weights initialise the network")
    return parser


def build_run_training_parser(prog: str = "nnUNet_train") -> argparse.ArgumentParser:
    """A parser equal to v1's ``run_training.py`` parser."""
    return add_run_training_arguments(argparse.ArgumentParser(prog=prog))


def build_run_training_parser(prog: str = "nnUNet_train") -> argparse.ArgumentParser:
    """A parser equal to v1's ``run_training.py`` parser."""
    return add_run_training_arguments(argparse.ArgumentParser(prog=prog))


@mirrors("nnunet.run.run_training:main")
def parse_run_training_args(argv: Sequence[str]) -> RunArgs:
    """Parse ``nnUNet_train`` arguments, e.g. ``["3d_fullres", "nnUNetTrainerV2", "4", "0", "--fp32"]``."""
    return run_args_from_namespace(build_run_training_parser().parse_args(list(argv)))


def run_training_argv_walkthrough(argv: Sequence[str], **explorer_knobs: Any) -> Any:
    """:func:`nnunet_explorer.walkthrough.training_walkthrough` from an ``nnUNet_train`` command line (strings)."""
    from dataclasses import asdict

    from ..walkthrough import training_walkthrough

    args = asdict(parse_run_training_args(argv))
    return training_walkthrough(args.pop("network"), args.pop("network_trainer"), args.pop("task"),
                                args.pop("fold"), **args, **explorer_knobs)


def add_distributed_arguments(parser: argparse.ArgumentParser | Any) -> None:
    """``--dist`` and ``--dbs`` (v1's run_training_DDP flag) for the training command (skipped if present)."""
    existing = getattr(parser, "_option_string_actions", {})
    if "--dist" not in existing:
        parser.add_argument("--dist", action="store_true",
                            help="train with DistributedDataParallel (automatic under torchrun with more than one "
                                 "process; with plain python: a one-process group)")
    if "--dbs" not in existing:
        parser.add_argument("--dbs", action="store_true",
                            help="distributed: split the plans' batch size over the processes (v1's --dbs) "
                                 "instead of giving every process the full batch")


def add_loop_arguments(parser: argparse.ArgumentParser | Any) -> None:
    """Explorer options of the loop (not in v1): ``--save_every``, ``--device``, ``--single_threaded``, ``--quiet``,
    ``--overwrite_training``. Options the parser already has are left alone."""
    options = [
        (("--save_every",), dict(type=int, default=None, metavar="N",
                                 help="write model_latest.model every N epochs (v1: 50)")),
        (("--device",), dict(default=None, choices=("cpu", "cuda"),
                             help="where to train (default: cuda when available)")),
        (("--single_threaded",), dict(action="store_true", help="augment in the training process (no worker "
                                      "processes); implied by --deterministic")),
        (("--quiet",), dict(action="store_true", help="do not echo the training log to the console")),
        (("--overwrite_training",), dict(action="store_true", help="start over although the fold folder holds "
                                         "checkpoints (v1 overwrites silently)")),
    ]
    existing = getattr(parser, "_option_string_actions", {})
    for flags, kwargs in options:
        if not any(flag in existing for flag in flags):
            parser.add_argument(*flags, **kwargs)
    add_distributed_arguments(parser)  # --dist, --dbs: DistributedDataParallel under torchrun (issue 9)


@mirrors("nnunet.run.run_training:main")
def run_training_cli(args: argparse.Namespace, pipeline: Any = None) -> int:
    """``nnUNet_train`` after parsing: train (or ``-val``), then validate unless disabled; returns an exit status.

    ``args`` holds v1's ``nnUNet_train`` arguments (``add_run_training_arguments``) and optionally the explorer
    knobs ``max_num_epochs``, ``num_batches_per_epoch``, ``num_val_batches_per_epoch``, ``seed`` and those of
    :func:`add_loop_arguments`. ``pipeline``: a training walkthrough already built from these arguments (the
    ``train`` command passes its own, so ``--trainer_file`` / ``--seed`` apply); default: built here.
    """
    from ..training.distributed import wants_distributed
    from ..training.loop import (TrainingRun, predict_next_stage_after_training, validate_unless_disabled)
    from ..walkthrough import training_run_from_args

    if wants_distributed(args):  # --dist, or torchrun with WORLD_SIZE > 1
        return run_distributed_training_cli(args, pipeline)
    run_args = run_args_from_namespace(args)
    if run_args.find_lr:
        raise ConfigurationError("--find_lr is not supported by the explorer (it is broken in v1 on current torch)",
                                 fix="train without --find_lr")
    loop_options = dict(device=getattr(args, "device", None),
                        single_threaded=True if getattr(args, "single_threaded", False) else None,
                        echo=not getattr(args, "quiet", False), save_every=getattr(args, "save_every", None),
                        overwrite=bool(getattr(args, "overwrite_training", False)))
    if pipeline is not None:
        run = TrainingRun(pipeline, **loop_options)
    else:
        run = training_run_from_args(run_args, max_num_epochs=getattr(args, "max_num_epochs", None),
                                    num_batches_per_epoch=getattr(args, "num_batches_per_epoch", None),
                                    num_val_batches_per_epoch=getattr(args, "num_val_batches_per_epoch", None),
                                   seed=getattr(args, "seed", None), **loop_options)
    if not run_args.validation_only:
        result = run.run()
        print(result.summary(), flush=True)
        if result.stopped_early:
            return 0
    else:
        run.setup()
        name = BEST if run_args.valbest else FINAL
        path = run.output_folder / name
        if not path.is_file():
            if run_args.valbest:
                run._say(f"WARNING! {BEST} does not exist! Cannot load best checkpoint. Falling back to "
                         "load_latest_checkpoint")
                path = run.load_latest_checkpoint()
            else:
                raise TrainingError(f"Final checkpoint not found. Expected: {path}. Please finish the training first.",
                                    fix="train to the end, or use --valbest / -c")
        else:
            run.load_checkpoint(path, train=False)
    validate_unless_disabled(run, run_args)
    if run_args.network == "3d_lowres" and not run_args.disable_next_stage_pred:
        print("predicting segmentations for the next stage of the cascade", flush=True)
        report = predict_next_stage_after_training(run)
        print(report.summary(), flush=True)
    return 0


@mirrors("nnunet.run.run_training_DDP:main")
def run_distributed_training_cli(args: argparse.Namespace, pipeline: Any = None) -> int:
    """``nnUNet_train`` arguments on one rank of a DDP run: train everywhere, validate on rank 0.

    ``pipeline``: a training walkthrough built from these arguments (as :func:`~.loop.run_training_cli`
    takes it); default: built here.

    The process group lives exactly as long as this call (also when training fails). After training, rank 0
    runs the validation inference (``trainer.validate``); the other ranks are done and end (no collective
    follows, so they need not wait — a barrier would time out during a long validation).
    """
    from ..training.distributed import DistributedTrainingRun, distributed_context
    from ..training.loop import predict_next_stage_after_training, validate_unless_disabled
    from ..walkthrough import training_run_from_args

    run_args = run_args_from_namespace(args)
    if run_args.find_lr:
        raise ConfigurationError("--find_lr is not supported by the explorer", fix="train without --find_lr")
    if run_args.validation_only:
        raise ConfigurationError("-val with several processes: validation runs on one process in the explorer",
                                 fix="run the -val command without torchrun / --dist")
    with distributed_context(device=getattr(args, "device", None)) as info:
        options = dict(dist_info=info, distribute_batch_size=bool(getattr(args, "dbs", False)),
                       single_threaded=True if getattr(args, "single_threaded", False) else None,
                       echo=not getattr(args, "quiet", False), save_every=getattr(args, "save_every", None),
                       overwrite=bool(getattr(args, "overwrite_training", False)))
        if pipeline is not None:
            run = DistributedTrainingRun(pipeline, **options)
        else:
            run = training_run_from_args(
                run_args, run_class=DistributedTrainingRun, max_num_epochs=getattr(args, "max_num_epochs", None),
                num_batches_per_epoch=getattr(args, "num_batches_per_epoch", None),
                num_val_batches_per_epoch=getattr(args, "num_val_batches_per_epoch", None),
                seed=getattr(args, "seed", None), **options)
        result = run.run()
        if info.is_main_process:
            print(result.summary(), flush=True)
        if result.stopped_early:
            return 0
        # differs from v1: v1 spreads the validation cases over the ranks; here rank 0 validates them all
        if info.is_main_process:
            validate_unless_disabled(run, run_args)
            if run_args.network == "3d_lowres" and not run_args.disable_next_stage_pred:
                # differs from v1: v1's DDP script predicts on every rank (each writes the same files); rank 0 is enough
                print("predicting segmentations for the next stage of the cascade", flush=True)
                print(predict_next_stage_after_training(run).summary(), flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m nnunet_explorer.commands.run_training NETWORK TRAINER TASK FOLD [nnUNet_train flags] [explorer knobs]``."""
    parser = build_run_training_parser("python -m nnunet_explorer.commands.run_training")
    parser.add_argument("--max_num_epochs", type=int, default=None)
    parser.add_argument("--num_batches_per_epoch", type=int, default=None)
    parser.add_argument("--num_val_batches_per_epoch", type=int, default=None)
    parser.add_argument("--seed", type=int, default=None)
    add_loop_arguments(parser)
    args = parser.parse_args(argv)
    from ..training.signals import EXIT_SIGTERM, TerminationRequested, sigterm_as_interrupt

    try:
        with sigterm_as_interrupt():
            return run_training_cli(args)
    except ExplorerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except TerminationRequested:
        print("terminated (SIGTERM): model_latest.model was saved; resume with -c", file=sys.stderr)
        return EXIT_SIGTERM
    except KeyboardInterrupt:
        print("interrupted: model_latest.model was saved; resume with -c", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = ["add_distributed_arguments", "add_loop_arguments", "add_run_training_arguments", "build_run_training_parser",
           "main", "parse_run_training_args", "run_distributed_training_cli", "run_training_argv_walkthrough",
           "run_training_cli"]
