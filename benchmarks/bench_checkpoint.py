"""Benchmark (not a test): what saving ``model_best.model`` costs the training thread at the blog's plans.

v1's ``save_checkpoint`` copies the weights to the CPU and writes the file (~246 MB for the blog's KiTS19 network:
30.8 M weights and as many momentum values) in the training thread, each time the moving average of the pseudo Dice
(the online evaluation on validation batches) improves; meanwhile the GPU has nothing to do. The explorer's trainer,
while ``run_training`` runs, copies the tensors and hands the copy to
:class:`~nnunet_explorer.training.checkpoint_saving.CheckpointWriter`, which writes it (atomically, flushed to disk)
in a background thread. Printed (medians of ``--repeats``): v1's ``nnUNetTrainer.save_checkpoint`` on the same network
and optimizer, the explorer's ``save_checkpoint`` in the training thread with the background writer, the writer's time
in the background, the explorer's ``save_checkpoint`` without the writer (the path outside ``run_training``, and of
user trainers that override a checkpoint method), and how fast a Python loop in the training thread runs while the
writer writes.

    .venv/bin/python benchmarks/bench_checkpoint.py [--repeats 5]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _explorer_trainer(folder: Path):
    """The explorer's nnUNetTrainerV2 at the KiTS19 sample's plans (the blog's: 80x160x160, 32 to 320 features),
    its network built and one SGD step taken (so that the optimizer has momentum to save)."""
    import subprocess

    import torch

    from nnunet_explorer.network_training import nnUNetTrainerV2

    env = dict(os.environ, nnUNet_raw_data_base=str(folder / "raw"), nnUNet_preprocessed=str(folder / "pre"),
               RESULTS_FOLDER=str(folder / "results"))
    os.environ.update(env)  # v1, imported next, reads them at import time
    subprocess.run([sys.executable, "-m", "nnunet_explorer.cli", "sample", "kits19", "--exist_ok"], env=env,
                   check=True, capture_output=True)
    task_dir = next((folder / "pre").glob("Task040_*"))
    trainer = nnUNetTrainerV2(str(task_dir / "nnUNetPlansv2.1_plans_3D.pkl"), 0, output_folder=str(folder / "fold"),
                              dataset_directory=str(task_dir), fp16=True)
    trainer.echo = False
    trainer.initialize(training=False)
    for p in trainer.network.parameters():
        p.grad = torch.ones_like(p)
    trainer.optimizer.step()
    return trainer


def _v1_saver(trainer):
    """v1's ``nnUNetTrainer`` (not constructed: its ``save_checkpoint`` reads only these attributes) sharing the
    explorer trainer's network, optimizer and curves."""
    from nnunet.training.network_training.nnUNetTrainer import nnUNetTrainer

    v1 = nnUNetTrainer.__new__(nnUNetTrainer)
    for name in ("network", "optimizer", "lr_scheduler", "amp_grad_scaler", "epoch", "all_tr_losses",
                 "all_val_losses", "all_val_losses_tr_mode", "all_val_eval_metrics", "best_epoch_based_on_MA_tr_loss",
                 "best_MA_tr_loss_for_patience", "best_val_eval_criterion_MA", "plans", "init_args"):
        setattr(v1, name, getattr(trainer, name))
    v1.print_to_log_file = lambda *args, **kwargs: None
    return v1


def _spin(until) -> tuple[float, float]:
    """A tight Python loop in this (the training) thread until ``until()`` (an ``Event.is_set``, the same check
    alone and beside the writer): iterations per second and the longest pause between two iterations (what a
    write in another thread that held the GIL would show)."""
    count, longest, start = 0, 0.0, time.perf_counter()
    last = start
    while not until():
        now = time.perf_counter()
        longest, last, count = max(longest, now - last), now, count + 1
    return count / max(last - start, 1e-9), longest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    from nnunet_explorer.training.checkpoint_saving import CheckpointWriter, save_checkpoint_files

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        trainer = _explorer_trainer(folder)
        v1 = _v1_saver(trainer)
        weights = sum(p.numel() for p in trainer.network.parameters())
        out = folder / "fold"
        out.mkdir(exist_ok=True)
        v1_s, ours_s, background_s, sync_s, share, pause = [], [], [], [], [], []
        written: list[float] = []
        for _ in range(args.repeats):
            timer = threading.Timer(0.3, (stop_alone := threading.Event()).set)
            timer.start()
            alone, _ = _spin(stop_alone.is_set)
            start = time.perf_counter()
            v1.save_checkpoint(os.path.join(out, "v1_best.model"))
            v1_s.append(time.perf_counter() - start)

            finished = threading.Event()
            writer = CheckpointWriter(write=lambda *job: (written.append(save_checkpoint_files(*job)), finished.set()))
            trainer.explorer.checkpoint_writer = writer
            start = time.perf_counter()
            trainer.save_checkpoint(os.path.join(out, "model_best.model"))
            ours_s.append(time.perf_counter() - start)
            beside, longest = _spin(finished.is_set)  # the training thread goes on while the writer writes
            share.append(beside / alone)
            pause.append(longest)
            writer.close()
            background_s.append(written[-1])
            trainer.explorer.checkpoint_writer = None

            start = time.perf_counter()
            trainer.save_checkpoint(os.path.join(out, "model_best.model"))
            sync_s.append(time.perf_counter() - start)
        size = os.path.getsize(out / "model_best.model") / 1e6
        v1_med, ours_med = statistics.median(v1_s), statistics.median(ours_s)
        print(f"the blog's plans ({weights / 1e6:.1f} M weights, checkpoint {size:.0f} MB), "
              f"{args.repeats} saves each, medians")
        print(f"  v1 save_checkpoint, training thread:                    {v1_med:7.3f} s")
        print(f"  explorer save_checkpoint, training thread (background): {ours_med:7.3f} s   "
              f"({v1_med / ours_med:.0f}x less)")
        print(f"  explorer writer, background thread:                     {statistics.median(background_s):7.3f} s")
        print(f"  explorer save_checkpoint without the writer:            {statistics.median(sync_s):7.3f} s")
        print(f"  a Python loop in the training thread during the background write: "
              f"{100 * statistics.median(share):.0f} % of its speed alone, longest pause "
              f"{1e3 * statistics.median(pause):.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
