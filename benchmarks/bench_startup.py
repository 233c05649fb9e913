"""Benchmark (not a test): seconds from the ``train`` command to the first training iteration, explorer vs v1.

Both tools start as a user starts them, in a fresh Python process on the same preprocessed task:

* v1: ``nnunet.run.run_training.main()`` with ``sys.argv = [..., '3d_fullres', 'nnUNetTrainerV2', TASK, '0']``
  (what ``nnUNet_train`` runs);
* the explorer: ``nnunet_explorer.cli.main(['train', '3d_fullres', 'nnUNetTrainerV2', TASK, '0', '--quiet'])``.

In each process ``nnUNetTrainerV2.run_iteration`` is replaced, before the command starts, by a probe that writes
the wall-clock time of its first call to a file and ends the process at once (``os._exit``; the process group,
augmentation workers included, is then killed). The figure is that time minus the time just before the process was
started: imports, plans, dataset loading and unpacking (both unpack only what is missing, so after the first
round nothing is unpacked), the augmentation workers, the network, the optimizer, and the wait for the first batch.
The rounds alternate v1 / explorer so that the machine's noise hits both; medians and the ratio are printed.

Run: ``.venv/bin/python benchmarks/bench_startup.py [--rounds 3] [--workers 2]``. The workspace (the synthetic CT
task 901, planned and preprocessed by the explorer, which v1 reads as its own) is made in a temporary folder unless
``--workspace`` names one that has it.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

TASK = "901"

PROBE = textwrap.dedent("""
    import os, sys, time
    probe_file, tool = sys.argv[1], sys.argv[2]

    def first_iteration(self, *args, **kwargs):
        with open(probe_file, "w") as f:
            f.write(repr(time.time()))
        os._exit(0)

    if tool == "v1":
        from nnunet.training.network_training.nnUNetTrainerV2 import nnUNetTrainerV2
        nnUNetTrainerV2.run_iteration = first_iteration
        from nnunet.run import run_training
        sys.argv = ["nnUNet_train", "3d_fullres", "nnUNetTrainerV2", "%(task)s", "0"]
        run_training.main()
    else:
        from nnunet_explorer.network_training import nnUNetTrainerV2
        nnUNetTrainerV2.run_iteration = first_iteration
        from nnunet_explorer.cli import main
        main(["train", "3d_fullres", "nnUNetTrainerV2", "%(task)s", "0", "--quiet", "--overwrite_training"])
    sys.exit("the probe was never called")
""") % {"task": TASK}


def prepare(workspace: Path) -> dict[str, str]:
    """The synthetic CT task, planned and preprocessed, in ``workspace``; returns the environment for both tools."""
    from nnunet_explorer.paths import environment_for, resolve_workspace

    env = dict(os.environ, NNUNET_EXPLORER_WORKSPACE=str(workspace))
    for key in ("nnUNet_raw_data_base", "nnUNet_preprocessed", "RESULTS_FOLDER"):
        env.pop(key, None)
    ws = resolve_workspace(env)
    env.update(environment_for(ws))
    if not any(ws.preprocessed.glob(f"Task{TASK}_*/nnUNetPlansv2.1_plans_3D.pkl")):
        cli = [sys.executable, "-m", "nnunet_explorer.cli"]
        for args in (["sample", "synthetic-ct", "--task_id", TASK, "--exist_ok"],
                     ["plan_and_preprocess", "-t", TASK, "-tl", "1", "-tf", "1"]):
            subprocess.run(cli + args, env=env, check=True, stdout=subprocess.DEVNULL)
    return env


def time_to_first_iteration(tool: str, env: dict[str, str], timeout: float) -> float:
    """Seconds from just before the process starts to the first ``run_iteration`` call."""
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "first_iteration"
        log = Path(tmp) / "stderr"
        with open(log, "w") as err:  # a file, not a pipe: orphaned workers would hold a pipe open
            start = time.time()
            proc = subprocess.Popen([sys.executable, "-c", PROBE, str(probe), tool], env=env, start_new_session=True,
                                    stdout=subprocess.DEVNULL, stderr=err)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
            finally:
                try:  # the augmentation workers of a process that ended with os._exit
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
        if not probe.is_file():
            raise RuntimeError(f"{tool}: no first iteration within {timeout:.0f} s or the command failed: "
                               f"{log.read_text().strip()[-2000:]}")
        return float(probe.read_text()) - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="measurements per tool (alternating), default 3")
    parser.add_argument("--workers", type=int, default=2, help="nnUNet_n_proc_DA for both tools, default 2")
    parser.add_argument("--workspace", type=Path, default=None, help="a workspace with task 901 preprocessed")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        env = prepare(args.workspace or Path(tmp) / "ws")
        env.update(nnUNet_n_proc_DA=str(args.workers), CUDA_VISIBLE_DEVICES=env.get("CUDA_VISIBLE_DEVICES", ""),
                   TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1")
        time_to_first_iteration("explorer", env, args.timeout)  # warm-up: unpacks the npz files, fills OS caches
        seconds: dict[str, list[float]] = {"v1": [], "explorer": []}
        for _ in range(args.rounds):
            for tool in ("v1", "explorer"):
                seconds[tool].append(time_to_first_iteration(tool, env, args.timeout))
    medians = {tool: statistics.median(values) for tool, values in seconds.items()}
    ratio = medians["explorer"] / medians["v1"]
    print(f"seconds from `train` to the first iteration (task {TASK}, {args.workers} workers, CPU, "
          f"{args.rounds} rounds)")
    for tool, values in seconds.items():
        print(f"  {tool:9s} median {medians[tool]:6.2f} s   ({', '.join(f'{v:.2f}' for v in values)})")
    print(f"  explorer / v1: {ratio:.2f}x")
    if args.json:
        args.json.write_text(json.dumps({"seconds": seconds, "median": medians, "ratio": ratio}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
