"""Train one epoch of ``nnUNet_train`` with the live training monitor: ``%run train_one_epoch.py ARGS``.

In a notebook::

    %run train_one_epoch.py 3d_fullres nnUNetTrainerV2 901 0 --num_batches_per_epoch 5
    %run train_one_epoch.py 3d_fullres nnUNetTrainerV2 901 0 --num_batches_per_epoch 5 -c   # the next epoch

Takes v1's ``nnUNet_train`` arguments (network, trainer, task, fold and its flags, ``-c`` included) plus the
explorer knobs ``--max_num_epochs``, ``--num_batches_per_epoch``, ``--num_val_batches_per_epoch``,
``--seed``, ``--device``, ``--single_threaded``, ``--overwrite_training``. It trains exactly one epoch — the
next one, after ``-c`` — and then stops the loop as the Stop button would, so ``model_latest.model`` is
written and the next ``%run ... -c`` continues. The learning-rate schedule stays that of the full run
(``max_num_epochs`` is not shortened to make the run stop: poly_lr depends on it).

Outside a notebook (``python train_one_epoch.py ...``) it runs the same epoch and prints the summary.
After ``%run``, the names ``run``, ``monitor`` and ``result`` are left in the notebook's namespace. With
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
    from nnunet_explorer.commands.run_training import add_loop_arguments

    parser = build_run_training_parser("%run train_one_epoch.py")
    parser.add_argument("--max_num_epochs", type=int, default=None, help="explorer knob (v1: a trainer subclass)")
    parser.add_argument("--num_batches_per_epoch", type=int, default=None, help="explorer knob (v1: 250)")
    parser.add_argument("--num_val_batches_per_epoch", type=int, default=None, help="explorer knob (v1: 50)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the initial weights and batches")
    parser.add_argument("--background", action="store_true",
                        help="train in a background thread so that the Stop button works while it runs "
                             "(the cell returns at once; handle.result() waits for the end)")
    add_loop_arguments(parser)
    return parser


def in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def main(argv: Sequence[str]):
    from nnunet_explorer.device import resolve_device
    from nnunet_explorer.training.configuration import run_args_from_namespace
    from nnunet_explorer.walkthrough import training_run_from_args

    args = build_parser().parse_args(list(argv))
    run_args = run_args_from_namespace(args)
    device = str(resolve_device(args.device or "auto"))  # chosen once: the GPU where there is one, as v1
    run = training_run_from_args(run_args, max_num_epochs=args.max_num_epochs,
                                num_batches_per_epoch=args.num_batches_per_epoch,
                                num_val_batches_per_epoch=args.num_val_batches_per_epoch, seed=args.seed,
                                device=device, single_threaded=True if args.single_threaded else None,
                                echo=not args.quiet, save_every=args.save_every,
                                **({"overwrite": True} if getattr(args, "overwrite_training", False) else {}))
    observers = [StopAfterOneEpoch(run.control)]
    monitor = None
    if in_notebook():
        from IPython.display import display

        from nnunet_explorer.views.monitor import TrainingMonitor

        monitor = TrainingMonitor(run.control, title="nnUNet_train " + " ".join(argv))
        display(monitor)
        observers.insert(0, monitor)
    if args.background:
        # the kernel stays free, so a click on Stop reaches LoopControl.request_stop while the epoch runs
        handle = run.run_in_background(observers)
        print("training in the background: handle.result() waits for the end, handle.stop() stops it")
        return run, monitor, handle
    result = run.run(observers)
    print(result.summary())
    if monitor is not None:
        print(monitor)
    return run, monitor, result


if __name__ == "__main__":
    run, monitor, result = main(sys.argv[1:])
    handle = result if not hasattr(result, "summary") else None
