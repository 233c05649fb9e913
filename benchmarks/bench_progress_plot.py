"""Benchmark (not a test): what drawing ``progress.png`` at the end of an epoch costs the training thread.

v1's ``NetworkTrainer.plot_progress`` draws its 30 x 24 inch figure in the training thread, every epoch; in that
time the GPU has nothing to do. The explorer's trainer hands the curves to
:class:`~nnunet_explorer.training.progress_plot.ProgressPlotter`, which draws the same picture (pixel for pixel,
``tests/loop/test_units.py``) in a background thread. Printed, for a run of N epochs (medians of ``--repeats``):
v1's seconds in the training thread, the explorer's ``submit`` in the training thread, and the explorer's drawing
in the background.

    MPLBACKEND=Agg .venv/bin/python benchmarks/bench_progress_plot.py [--epochs 50 1000] [--repeats 5]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nnunet_explorer.training.progress_plot import ProgressPlotter, save_progress_png  # noqa: E402


def _curves(n: int) -> tuple[list[float], ...]:
    return ([1.0 - i / (2 * n) for i in range(n)], [1.1 - i / (2 * n) for i in range(n)], [],
            [i / (2 * n) for i in range(n)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, nargs="+", default=[50, 1000])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    from nnunet.training.network_training.network_trainer import NetworkTrainer

    folder = tempfile.mkdtemp()
    print(f"{'epochs':>7}  {'v1 training thread':>19}  {'explorer training thread':>25}  {'explorer background':>20}")
    for n in args.epochs:
        tr, val, tr_mode, metric = _curves(n)
        v1 = types.SimpleNamespace(epoch=n - 1, all_tr_losses=tr, all_val_losses=val, all_val_losses_tr_mode=tr_mode,
                                   all_val_eval_metrics=metric, output_folder=folder, print_to_log_file=print)
        NetworkTrainer.plot_progress(v1)  # warm-up: imports, fonts
        drawn: list[float] = []

        def timed_draw(*job) -> None:
            start = time.perf_counter()
            save_progress_png(*job)
            drawn.append(time.perf_counter() - start)

        v1_s, submit_s = [], []
        plotter = ProgressPlotter(timed_draw)
        for _ in range(args.repeats):
            start = time.perf_counter()
            NetworkTrainer.plot_progress(v1)
            v1_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            plotter.submit(os.path.join(folder, "ours.png"), tr, val, tr_mode, metric)
            submit_s.append(time.perf_counter() - start)
            plotter.flush()  # one drawing at a time, as one per epoch
        plotter.close()
        print(f"{n:>7}  {statistics.median(v1_s):>17.3f} s  {1e3 * statistics.median(submit_s):>22.3f} ms  "
              f"{statistics.median(drawn):>18.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
