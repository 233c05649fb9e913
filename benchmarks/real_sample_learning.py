"""Learning check (not a test): does a short training on the real Colin27 task learn to segment the held-out brain?

The real sample (``nnunet-explorer sample real``, :mod:`nnunet_explorer.samples.real`) has N training cases
derived from one real Colin27 T1 crop by random rotations, scalings, shifts, resampling and MR-like intensity
changes, and one test case: the *untransformed* crop, ``imagesTs/colin_original_0000.nii.gz``, with its AAL
labels in ``labelsTs/`` (caudate, putamen, pallidum, thalamus). This script runs the user's path through the
command line, in a workspace of its own:

1. ``nnunet-explorer sample real``                    the raw task
2. ``nnunet-explorer plan_and_preprocess -t 903``       v1's plans and preprocessed data
3. ``nnunet-explorer train 3d_fullres nnUNetTrainerV2 903 FOLD``  (a short schedule; then v1's validation)
4. ``nnunet-explorer predict -i imagesTs -t 903 -f FOLD``  the untransformed held-out case
5. per-class Dice of that prediction against ``labelsTs`` with the explorer's evaluation (v1's
   ``aggregate_scores``), next to two chance levels computed the same way:

   * *all-c*: every voxel predicted as class c. Its Dice for c is ``2 n_c / (N + n_c)``, the best a constant
     prediction can do for that class;
   * *random*: each voxel drawn independently with the reference's class frequencies (seeded); its Dice for
     c is about the class's volume fraction.

   A model that learned something beats both by a wide margin; after a handful of iterations it does not.

It prints every command it ran (with the environment it set), so the numbers can be quoted with the exact
way to reproduce them, and writes ``learning_check.json`` into the workspace.

Run (CPU, minutes to hours depending on the schedule)::

    .venv/bin/python benchmarks/real_sample_learning.py --epochs 30 --iterations 50 --val_iterations 10

Smoke run (seconds; learns nothing): ``--epochs 1 --iterations 2 --val_iterations 1``.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TASK_ID = 903
TASK = "Task903_ColinDeepGrey"
NETWORK, TRAINER, PLANS = "3d_fullres", "nnUNetTrainerV2", "nnUNetPlansv2.1"
TEST_CASE = "colin_original"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--epochs", type=int, default=30, help="--max_num_epochs of the training (V2: 1000)")
    parser.add_argument("--iterations", type=int, default=50, help="--num_batches_per_epoch (V2: 250)")
    parser.add_argument("--val_iterations", type=int, default=10, help="--num_val_batches_per_epoch (V2: 50)")
    parser.add_argument("--fold", type=int, default=0, help="the cross-validation fold to train (0-4)")
    parser.add_argument("--workspace", type=Path, default=None,
                        help="folder for raw/, preprocessed/ and results/ (default: a new temporary folder; the "
                        "nnUNet_* variables of this shell are NOT used, so an existing workspace is never touched)")
    parser.add_argument("--num_training", type=int, default=8, help="derived training cases (sample real)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the derived cases (sample real)")
    parser.add_argument("--n_proc_DA", type=int, default=int(os.environ.get("nnUNet_n_proc_DA", "2")),
                        help="augmentation worker processes (nnUNet_n_proc_DA; v1's default of 12 swamps a laptop)")
    parser.add_argument("--disable_tta", action="store_true", help="predict without test-time mirroring (8x faster)")
    parser.add_argument("--overwrite", action="store_true",
                        help="in an existing --workspace: train again (--overwrite_training) and predict again")
    parser.add_argument("--random_seed", type=int, default=0, help="seed of the random chance-level prediction")
    args = parser.parse_args(argv)
    if min(args.epochs, args.iterations, args.val_iterations) < 1:
        parser.error("--epochs, --iterations and --val_iterations must be at least 1")
    return args


def _explorer_command() -> list[str]:
    script = Path(sys.executable).with_name("nnunet-explorer")
    return [str(script)] if script.exists() else [sys.executable, "-m", "nnunet_explorer.cli"]


class CommandLog:
    """Runs ``nnunet-explorer`` commands with the workspace's environment; remembers them as they can be quoted."""

    def __init__(self, env_vars: dict[str, str]) -> None:
        self.env_vars = env_vars
        self.env = {**os.environ, **env_vars, "PYTHONUNBUFFERED": "1"}
        self.quoted: list[str] = []

    def run(self, args: list[str]) -> float:
        quoted = "nnunet-explorer " + shlex.join(args)
        self.quoted.append(quoted)
        print(f"\n$ {quoted}", flush=True)
        start = time.perf_counter()
        result = subprocess.run(_explorer_command() + args, env=self.env)
        seconds = time.perf_counter() - start
        if result.returncode != 0:
            hint = " (a trained fold or predictions already exist? add --overwrite)" if result.returncode == 2 else ""
            raise SystemExit(f"command failed with exit status {result.returncode}: {quoted}{hint}")
        return seconds

    def script(self) -> str:
        exports = "\n".join(f"export {k}={shlex.quote(v)}" for k, v in self.env_vars.items())
        return exports + "\n" + "\n".join(self.quoted)


def epoch_seconds(fold_folder: Path) -> list[float]:
    """The ``This epoch took X s`` lines of this run's training log (the pure training time, without start-up).

    The newest ``training_log_<timestamp>.txt`` is this run's (an ``--overwrite`` run leaves the older ones).
    """
    logs = sorted(fold_folder.glob("training_log_*.txt"))
    text = logs[-1].read_text() if logs else ""
    return [float(x) for x in re.findall(r"This epoch took ([0-9.eE+-]+) s", text)]


def chance_levels(reference: np.ndarray, labels: list[int], seed: int) -> tuple[dict, dict]:
    """Dice of an all-c prediction (per c) and of a random prediction with the reference's class frequencies."""
    from nnunet_explorer.inference.evaluation import evaluate_arrays

    all_c = {c: float(evaluate_arrays(np.full_like(reference, c), reference, [c])[str(c)]["Dice"]) for c in labels}
    frequencies = np.array([(reference == c).mean() for c in labels])
    rng = np.random.default_rng(seed)
    random_prediction = rng.choice(np.asarray(labels, dtype=reference.dtype), size=reference.shape,
                                   p=frequencies / frequencies.sum())
    random = {int(k): float(v["Dice"]) for k, v in evaluate_arrays(random_prediction, reference, labels).items()}
    return all_c, random


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import SimpleITK as sitk

    from nnunet_explorer.inference.evaluation import aggregate_scores

    root = args.workspace or Path(tempfile.mkdtemp(prefix="real_sample_learning_"))
    root = root.resolve()
    env_vars = {"nnUNet_raw_data_base": str(root / "raw"), "nnUNet_preprocessed": str(root / "preprocessed"),
                "RESULTS_FOLDER": str(root / "results"), "nnUNet_n_proc_DA": str(args.n_proc_DA)}
    # inherited settings that change the speed are part of the quotable commands too
    env_vars.update({k: os.environ[k] for k in ("OMP_NUM_THREADS", "nnUNet_def_n_proc", "CUDA_VISIBLE_DEVICES")
                     if k in os.environ})
    print(f"workspace: {root}")
    log = CommandLog(env_vars)
    raw = root / "raw" / "nnUNet_raw_data" / TASK
    model_folder = root / "results" / "nnUNet" / NETWORK / TASK / f"{TRAINER}__{PLANS}"
    fold_folder = model_folder / f"fold_{args.fold}"
    predictions = root / f"predictions_fold{args.fold}"

    seconds: dict[str, float] = {}
    seconds["sample"] = log.run(["sample", "real", "--num_training", str(args.num_training), "--seed",
                                 str(args.seed), "--exist_ok"])
    seconds["plan_and_preprocess"] = log.run(["plan_and_preprocess", "-t", str(TASK_ID), "-tl", "1", "-tf", "1",
                                              "--no_progress"])
    train = ["train", NETWORK, TRAINER, str(TASK_ID), str(args.fold), "--max_num_epochs", str(args.epochs),
             "--num_batches_per_epoch", str(args.iterations), "--num_val_batches_per_epoch", str(args.val_iterations),
             "--quiet"]
    seconds["train_and_validate"] = log.run(train + (["--overwrite_training"] if args.overwrite else []))
    predict = ["predict", "-i", str(raw / "imagesTs"), "-o", str(predictions), "-t", str(TASK_ID), "-m", NETWORK,
               "-f", str(args.fold)]
    predict += ["--disable_tta"] if args.disable_tta else []
    seconds["predict"] = log.run(predict + (["--overwrite_existing"] if args.overwrite else []))

    # ---- score the held-out, untransformed case
    dataset = json.loads((raw / "dataset.json").read_text())
    names = {int(k): v for k, v in dataset["labels"].items()}
    labels = sorted(names)
    prediction_file, reference_file = predictions / f"{TEST_CASE}.nii.gz", raw / "labelsTs" / f"{TEST_CASE}.nii.gz"
    results = aggregate_scores([(prediction_file, reference_file)], labels,
                               json_output_file=predictions / "summary.json", json_task=TASK,
                               json_name=f"{TRAINER} fold {args.fold} on {TEST_CASE}")
    trained = {c: float(results["all"][0][str(c)]["Dice"]) for c in labels}
    reference = sitk.GetArrayFromImage(sitk.ReadImage(str(reference_file)))
    all_c, random = chance_levels(reference, labels, args.random_seed)
    validation = json.loads((fold_folder / "validation_raw" / "summary.json").read_text())["results"]["mean"]
    fold_val = {c: float(validation[str(c)]["Dice"]) for c in labels}
    epochs = epoch_seconds(fold_folder)
    foreground = [c for c in labels if c != 0]

    def mean_fg(d: dict) -> float:
        return float(np.mean([d[c] for c in foreground]))

    print("\n" + "=" * 88)
    print(f"Learning check: {NETWORK} {TRAINER} on {TASK}, fold {args.fold}: {args.epochs} epoch(s) x "
          f"{args.iterations} iteration(s) ({args.epochs * args.iterations} training iterations), "
          f"{args.num_training} derived training cases")
    print(f"Test case: {TEST_CASE} (the untransformed Colin27 crop, never trained on), Dice vs labelsTs\n")
    header = f"{'class':<16}{'trained':>10}{'all-c':>10}{'random':>10}{'fold val*':>11}"
    print(header)
    print("-" * len(header))
    for c in labels:
        print(f"{c} {names[c]:<14}{trained[c]:>10.4f}{all_c[c]:>10.4f}{random[c]:>10.4f}{fold_val[c]:>11.4f}")
    print("-" * len(header))
    print(f"{'mean foreground':<16}{mean_fg(trained):>10.4f}{mean_fg(all_c):>10.4f}{mean_fg(random):>10.4f}"
          f"{mean_fg(fold_val):>11.4f}")
    print("\n  all-c: every voxel predicted as that class; random: voxels drawn with the reference's class "
          "frequencies;\n  *fold val: mean Dice over the fold's validation case(s) (derived cases), "
          "validation_raw/summary.json")
    total_epochs = sum(epochs)
    per_iteration = total_epochs / max(1, args.epochs * (args.iterations + args.val_iterations))
    print(f"\ntraining: {total_epochs:.1f} s in {len(epochs)} epoch(s) (the log's 'This epoch took' lines; "
          f"~{per_iteration:.2f} s per training/validation iteration)")
    print("wall time per command: " + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()))
    print("\ncommands run (bash):\n" + log.script())

    report = {"task": TASK, "fold": args.fold, "epochs": args.epochs, "iterations": args.iterations,
              "val_iterations": args.val_iterations, "num_training": args.num_training, "seed": args.seed,
              "n_proc_DA": args.n_proc_DA, "tta": not args.disable_tta, "labels": {str(c): names[c] for c in labels},
              "dice_trained": {str(c): v for c, v in trained.items()},
              "dice_all_c": {str(c): v for c, v in all_c.items()},
              "dice_random": {str(c): v for c, v in random.items()},
              "dice_fold_validation": {str(c): v for c, v in fold_val.items()},
              "mean_foreground_dice": {"trained": mean_fg(trained), "all_c": mean_fg(all_c),
                                       "random": mean_fg(random), "fold_validation": mean_fg(fold_val)},
              "training_seconds": total_epochs, "epoch_seconds": epochs, "command_seconds": seconds,
              "commands": log.quoted, "environment": env_vars}
    from nnunet_explorer.fileio import write_json

    write_json(report, root / "learning_check.json")
    print(f"\nwritten: {root / 'learning_check.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
