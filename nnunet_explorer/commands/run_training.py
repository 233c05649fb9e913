"""v1's ``nnunet/run/run_training.py`` command line: the one parser of ``nnunet-explorer train``.

v1's arguments (same flags, dests, defaults and actions, including the inverted ``--val_disable_overwrite``),
the explorer's options, and the one conversion of the parsed namespace into a typed
:class:`~nnunet_explorer.run.run_training.TrainRequest`. ``python -m nnunet_explorer.commands.run_training ARGS``
(what ``torchrun`` starts) is ``nnunet-explorer train ARGS``. Nothing here imports torch until a command runs.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

from ..paths import default_plans_identifier
from ..provenance import mirrors
from ..step_names import WALKTHROUGH_STEP_NAMES


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


def add_explorer_arguments(parser: argparse.ArgumentParser) -> None:
    """The explorer's options (not in v1), in their own group."""
    explorer = parser.add_argument_group("explorer options (not in nnU-Net v1)")
    explorer.add_argument("--max_num_epochs", type=int, default=None, metavar="N",
                          help="train for N epochs instead of the trainer's max_num_epochs (1000 for V2)")
    explorer.add_argument("--num_batches_per_epoch", type=int, default=None, metavar="N",
                          help="training iterations per epoch (V2: 250)")
    explorer.add_argument("--num_val_batches_per_epoch", type=int, default=None, metavar="N",
                          help="validation iterations per epoch (V2: 50)")
    explorer.add_argument("--save_every", type=int, default=None, metavar="N",
                          help="write model_latest.model every N epochs (v1: 50)")
    explorer.add_argument("--until", choices=WALKTHROUGH_STEP_NAMES, default=None, metavar="STEP",
                          help="stop after this step; one of: " + ", ".join(WALKTHROUGH_STEP_NAMES))
    explorer.add_argument("--report", type=Path, default=None, metavar="FILE.html",
                          help="write an HTML page with the card of every step run (also when a step fails)")
    explorer.add_argument("--overwrite_report", action="store_true", help="allow --report to replace an existing file")
    explorer.add_argument("--trainer_file", type=Path, action="append", default=[], metavar="FILE.py",
                          help="import this Python file and register the trainer classes it defines")
    explorer.add_argument("--seed", type=int, default=12345,
                          help="seed of the initial weights and of the walkthrough's batch (default 12345)")
    explorer.add_argument("--device", default="auto", metavar="DEVICE",
                          help="where to train: auto (cuda when available), cpu, cuda, cuda:N")
    explorer.add_argument("--single_threaded", action="store_true",
                          help="augment in the training process (no worker processes); implied by --deterministic")
    explorer.add_argument("--quiet", action="store_true", help="do not echo the training log to the console")
    explorer.add_argument("--overwrite_training", action="store_true",
                          help="start over although the fold folder holds checkpoints (v1 overwrites silently)")
    explorer.add_argument("--dist", action="store_true",
                          help="train with DistributedDataParallel (automatic under torchrun with more than one "
                               "process; with plain python: a one-process group)")
    explorer.add_argument("--dbs", action="store_true",
                          help="distributed: split the plans' batch size over the processes (v1's --dbs)")
    explorer.add_argument("--debugpy", type=int, default=None, metavar="PORT",
                          help="wait for a debugger (VS Code, debugpy) to attach on this port before running")
    explorer.add_argument("--summary", action="store_true",
                          help="print the pipeline summary (shapes, dtypes, ranges, label sets) at the end")


def build_run_training_parser(prog: str = "nnUNet_train") -> argparse.ArgumentParser:
    """A parser equal to v1's ``run_training.py`` parser (v1's arguments only)."""
    return add_run_training_arguments(argparse.ArgumentParser(prog=prog))


@mirrors("nnunet.run.run_training:main")
def parse_run_training_args(argv: Sequence[str]) -> Any:
    """Parse ``nnUNet_train`` arguments, e.g. ``["3d_fullres", "nnUNetTrainerV2", "4", "0", "--fp32"]``."""
    from ..training.configuration import run_args_from_namespace

    return run_args_from_namespace(build_run_training_parser().parse_args(list(argv)))


def request_from_namespace(args: argparse.Namespace) -> Any:
    """The one conversion: v1's flags and the explorer's options as a typed ``TrainRequest``.

    The device is resolved here, once (``--device cuda`` on a machine without CUDA is an error that says so).
    """
    from ..run.run_training import ExplorerOptions, TrainRequest
    from ..training.configuration import run_args_from_namespace

    options = ExplorerOptions(max_num_epochs=args.max_num_epochs, num_batches_per_epoch=args.num_batches_per_epoch,
                              num_val_batches_per_epoch=args.num_val_batches_per_epoch, save_every=args.save_every,
                              device=args.device, single_threaded=True if args.single_threaded else None,
                              quiet=args.quiet, overwrite_training=args.overwrite_training, seed=args.seed,
                              distribute_batch_size=args.dbs)
    return TrainRequest(run_args_from_namespace(args), options)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m nnunet_explorer.commands.run_training ARGS``: the same as ``nnunet-explorer train ARGS``."""
    from ..cli import main as cli_main

    return cli_main(["train", *(sys.argv[1:] if argv is None else list(argv))])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = ["add_explorer_arguments", "add_run_training_arguments", "build_run_training_parser", "main",
           "parse_run_training_args", "request_from_namespace"]
