"""Train one epoch of ``nnUNet_train`` with the live training monitor: ``%run train_one_epoch.py ARGS``.

In a notebook::

    %run train_one_epoch.py 3d_fullres nnUNetTrainerV2 901 0 --num_batches_per_epoch 5
    %run train_one_epoch.py 3d_fullres nnUNetTrainerV2 901 0 --num_batches_per_epoch 5 -c   # the next epoch

Takes v1's ``nnUNet_train`` arguments (network, trainer, task, fold and its flags, ``-c`` included) plus the
explorer options ``--max_num_epochs``, ``--num_batches_per_epoch``, ``--num_val_batches_per_epoch``,
``--save_every``, ``--seed``, ``--device``, ``--single_threaded``, ``--quiet``, ``--overwrite_training``. It does
what ``nnUNet_train`` does — build the trainer, ``trainer.initialize(True)``, then (``-c``)
``trainer.load_latest_checkpoint()`` and ``trainer.run_training()`` — with an observer that asks the loop to stop
at the end of the first epoch it trains, as the Stop button would. The loop then ends before the next epoch
starts and writes ``model_latest.model``, so the next ``%run ... -c`` continues — unless the fold folder still
holds a ``model_final_checkpoint.model`` of an earlier, finished run (``--overwrite_training`` leaves it there):
``-c`` loads that one first, as v1's ``load_latest_checkpoint`` does (and warns that it does). The learning-rate
schedule stays that of the full run (``max_num_epochs`` is not shortened to make the run stop: poly_lr depends on it).

Outside a notebook (``python train_one_epoch.py ...``) it runs the same epoch and prints the summary.
After ``%run``, the names ``trainer``, ``monitor`` and ``result`` are left in the notebook's namespace. With
``--background`` the epoch runs in a thread (the Stop button then works during the epoch) and ``handle``
(``handle.result()``, ``handle.stop()``) is left instead of a finished result.
"""
from __future__ import annotations

import sys
from typing import Sequence


class StopAfterOneEpoch:
    """Observer: asks the loop to stop at the end of the first epoch it sees."""

    def __init__(self, control) -> None:
        self.control = control

    def on_epoch_end(self, event) -> None:
        self.control.request_stop(f"one epoch trained (epoch {event.epoch}); continue with -c")


def build_parser():
    from nnunet_explorer.commands.run_training import build_run_training_parser

    parser = build_run_training_parser("%run train_one_epoch.py")
    explorer = parser.add_argument_group("explorer options (not in nnU-Net v1)")
    explorer.add_argument("--max_num_epochs", type=int, default=None, help="the run's length (V2: 1000)")
    explorer.add_argument("--num_batches_per_epoch", type=int, default=None, help="training iterations (V2: 250)")
    explorer.add_argument("--num_val_batches_per_epoch", type=int, default=None, help="validation iterations (V2: 50)")
    explorer.add_argument("--save_every", type=int, default=None, help="model_latest.model every N epochs (v1: 50)")
    explorer.add_argument("--seed", type=int, default=12345, help="seed of the initial weights (default 12345)")
    explorer.add_argument("--device", default="auto", help="auto (cuda when available), cpu, cuda, cuda:N")
    explorer.add_argument("--single_threaded", action="store_true",
                          help="augment in this process (no worker processes); implied by --deterministic")
    explorer.add_argument("--quiet", action="store_true", help="do not echo the training log")
    explorer.add_argument("--overwrite_training", action="store_true",
                          help="start over although the fold folder holds checkpoints (v1 overwrites silently)")
    explorer.add_argument("--background", action="store_true",
                          help="train in a background thread so that the Stop button works while it runs "
                               "(the cell returns at once; handle.result() waits for the end)")
    return parser


def in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def main(argv: Sequence[str]):
    from nnunet_explorer.network_training import run_in_background
    from nnunet_explorer.run.run_training import ExplorerOptions, TrainRequest, before_run_training
    from nnunet_explorer.training.configuration import run_args_from_namespace
    from nnunet_explorer.walkthrough import walkthrough_for

    parser = build_parser()
    args = parser.parse_args(list(argv))
    if args.validation_only or args.find_lr:
        parser.error("-val and --find_lr do not train: use `nnunet-explorer train ... -val` instead")
    options = ExplorerOptions(max_num_epochs=args.max_num_epochs, num_batches_per_epoch=args.num_batches_per_epoch,
                              num_val_batches_per_epoch=args.num_val_batches_per_epoch, save_every=args.save_every,
                              device=args.device, single_threaded=True if args.single_threaded else None,
                              quiet=args.quiet, overwrite_training=args.overwrite_training, seed=args.seed)
    request = TrainRequest(run_args_from_namespace(args), options)
    # nnUNet_train up to run_training: the trainer, built and initialized (the device is resolved once, in options)
    pipeline = walkthrough_for(request)
    pipeline.run(until="initialize")
    trainer = pipeline["trainer"]
    observers: list = [StopAfterOneEpoch(trainer.explorer.control)]
    monitor = None
    if in_notebook():
        from IPython.display import display

        from nnunet_explorer.views.monitor import TrainingMonitor

        monitor = TrainingMonitor(trainer.explorer.control, title="nnUNet_train " + " ".join(argv))
        display(monitor)
        observers.insert(0, monitor)
    before_run_training(trainer, request)  # the fold-folder check, then -c or -pretrained_weights, as train does
    if args.background:
        # the kernel stays free, so a click on Stop reaches trainer.explorer.control while the epoch runs
        handle = run_in_background(trainer, observers)
        print("training in the background: handle.result() waits for the end, handle.stop() stops it")
        return trainer, monitor, handle
    trainer.explorer.attach(*observers)
    trainer.run_training()
    result = trainer.explorer.result
    print(result.summary())
    if monitor is not None:
        print(monitor)
    return trainer, monitor, result


if __name__ == "__main__":
    trainer, monitor, result = main(sys.argv[1:])
    handle = result if not hasattr(result, "summary") else None
