"""Benchmark (not a test): plan_and_preprocess by the explorer vs nnU-Net v1, same task, same process counts.

Each tool runs as its own command line in a fresh workspace holding a copy of the same raw task:
``nnUNet_plan_and_preprocess -t ID -tl N -tf N`` and ``nnunet-explorer plan_and_preprocess -t ID -tl N -tf N``.
Measured: wall time, and peak memory as (a) the largest single-process peak RSS among the tool and its
workers (``getrusage(RUSAGE_CHILDREN)`` in a wrapper process) and (b) the largest *summed* RSS of the process
tree, sampled every 50 ms with psutil when it is installed. Also checks that both wrote the same plans.

    python benchmarks/bench_plan_and_preprocess.py --kind ct --num_training 20 --processes 2
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WRAPPER = r"""
import json, resource, subprocess, sys, time
cmd = json.loads(sys.argv[1])
t0 = time.perf_counter()
proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
tree_peak = 0
try:
    import psutil
    root = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            procs = [root] + root.children(recursive=True)
            tree_peak = max(tree_peak, sum(p.memory_info().rss for p in procs if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.05)
except ImportError:
    pass
err = proc.communicate()[1]
wall = time.perf_counter() - t0
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"rc": proc.returncode, "wall_s": wall, "max_process_rss_mib": peak_kib / 1024,
                  "tree_rss_mib": tree_peak / 2**20, "stderr_tail": err[-2000:]}))
"""


def _workspace_env(root: Path) -> dict:
    env = dict(os.environ)
    env.update({"nnUNet_raw_data_base": str(root / "raw"), "nnUNet_preprocessed": str(root / "pre"),
                "RESULTS_FOLDER": str(root / "res"), "PYTHONWARNINGS": "ignore", "nnUNet_def_n_proc": "1",
                "nnUNet_n_proc_DA": "1"})
    for sub in ("raw/nnUNet_raw_data", "raw/nnUNet_cropped_data", "pre", "res"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return env


def _measure(cmd: list[str], env: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", WRAPPER, json.dumps(cmd)], env=env, capture_output=True, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["rc"] != 0:
        raise RuntimeError(f"{cmd[0]} failed:\n{result['stderr_tail']}")
    return result


def _make_task(task_dir: Path, kind: str, num_training: int) -> None:
    if kind == "real":
        from nnunet_explorer.samples.real import build_real_task

        build_real_task(task_dir, num_training=num_training, seed=0)
    else:
        from nnunet_explorer.samples.synthetic import write_synthetic_task

        write_synthetic_task(task_dir, kind, num_training=num_training, num_test=0, seed=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=("ct", "mr", "real"), default="ct")
    parser.add_argument("--num_training", type=int, default=20)
    parser.add_argument("--processes", type=int, default=2, help="-tl and -tf for both tools")
    parser.add_argument("--keep", action="store_true", help="keep the temporary workspaces")
    args = parser.parse_args(argv)
    bindir = Path(sys.executable).parent
    task_id, task = 990, "Task990_Bench"
    tmp = Path(tempfile.mkdtemp(prefix="bench_pp_"))
    try:
        source = tmp / "source" / task
        _make_task(source, args.kind, args.num_training)
        procs = ["-tl", str(args.processes), "-tf", str(args.processes)]
        tools = {
            "nnU-Net v1": [str(bindir / "nnUNet_plan_and_preprocess"), "-t", str(task_id), *procs],
            "explorer": [str(bindir / "nnunet-explorer"), "plan_and_preprocess", "-t", str(task_id), *procs,
                         "--no_progress"],
        }
        results = {}
        for name, cmd in tools.items():
            root = tmp / name.replace(" ", "_")
            env = _workspace_env(root)
            shutil.copytree(source, root / "raw" / "nnUNet_raw_data" / task)
            results[name] = _measure(cmd, env)
        from nnunet_explorer.fileio import load_pickle

        same = all(
            str(load_pickle(tmp / "nnU-Net_v1" / "pre" / task / f)["plans_per_stage"]) ==
            str(load_pickle(tmp / "explorer" / "pre" / task / f)["plans_per_stage"])
            for f in ("nnUNetPlansv2.1_plans_3D.pkl", "nnUNetPlansv2.1_plans_2D.pkl"))
        print(f"task: {args.kind}, {args.num_training} cases, -tl {args.processes} -tf {args.processes}, "
              f"{os.cpu_count()} CPUs")
        print(f"{'tool':<12} {'wall s':>8} {'max process RSS MiB':>20} {'tree RSS MiB':>13}")
        for name, r in results.items():
            print(f"{name:<12} {r['wall_s']:>8.2f} {r['max_process_rss_mib']:>20.1f} {r['tree_rss_mib']:>13.1f}")
        v1, ex = results["nnU-Net v1"], results["explorer"]
        print(f"speed-up (v1 wall / explorer wall): {v1['wall_s'] / ex['wall_s']:.2f}x; "
              f"plans_per_stage identical: {same}")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"workspaces kept in {tmp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
