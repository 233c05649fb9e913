"""Train every trainer class of v1 1.7.1's ``nnUNet_variants/`` with the real nnU-Net v1 and store the losses.

Writes ``tests/conformance/v1_reference.json`` (the data) and ``tests/conformance/v1_reference.md`` (a table to
read). For each of the 72 files under ``nnunet/training/network_training/nnUNet_variants/`` and each trainer class
it defines, v1 trains 3 epochs of 2 + 1 iterations on a small synthetic task, in its own subprocess, with the
deterministic harness of ``tests/conformance/v1_harness.py``:

* ordinary classes: ``3d_fullres`` on the synthetic CT task 901;
* classes meant for 2D (``nnUNetTrainerV2_momentum09in2D``): ``3d_fullres`` and ``2d`` (key ``NAME@2d``);
* subclasses of ``nnUNetTrainerV2CascadeFullRes``: ``3d_cascade_fullres`` (stage 1) on the two-stage task;
* subclasses of ``nnUNetTrainerV2_DDP``: not run (they need ``torch.distributed`` with NCCL and a GPU);
* classes reading plans keys only a special v1 planner writes (``nnUNetTrainerV2_ResencUNet*``:
  ``num_blocks_encoder``): ``3d_fullres`` with that planner's plans (``nnUNetPlans_FabiansResUNet_v2.1``).

A handful of classes run twice to confirm the harness is reproducible; a class whose two runs differ is stored
as ``nondeterministic_in_v1`` with both results. ``tests/conformance/test_v1_reference_data.py`` re-derives a
rotating sample of the stored entries with the real v1.

Usage::

    PYTHONPATH=. python scripts/v1_variant_reference.py [--workspace DIR] [--only KEY ...] [--timeout S]

``--workspace``: build (or reuse) the two tasks there instead of a temporary folder. ``--only``: re-run only these
keys (``FILE::CLASS`` or ``plain::CLASS``, e.g. ``optimizer_and_lr/nnUNetTrainerV2_Adam.py::nnUNetTrainerV2_Adam``)
and merge them into the existing JSON. About 20 minutes on two CPU cores.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFORMANCE = ROOT / "tests" / "conformance"
sys.path.insert(0, str(CONFORMANCE))
sys.path.insert(0, str(ROOT))

import v1_harness as harness  # noqa: E402
import variant_tasks  # noqa: E402

JSON_OUT = CONFORMANCE / "v1_reference.json"
MD_OUT = CONFORMANCE / "v1_reference.md"

PLAIN_BASES = {"nnUNetTrainerV2": ["nnUNetTrainer"], "nnUNetTrainerV2CascadeFullRes": ["nnUNetTrainerV2"],
               "nnUNetTrainerV2_DDP": ["nnUNetTrainerV2"], "nnUNetTrainer": []}
# classes that only make sense in 2D also train 2d, stored as NAME@2d
ALSO_2D = {"nnUNetTrainerV2_momentum09in2D"}
# run twice: the plain trainers on each network and a spread of variants (augmentation, network, optimizer, loss)
REPEAT_KEYS = [
    "plain::nnUNetTrainerV2",
    "plain::nnUNetTrainerV2@2d",
    "plain::nnUNetTrainerV2CascadeFullRes",
    "data_augmentation/nnUNetTrainerV2_insaneDA.py::nnUNetTrainerV2_insaneDA",
    "data_augmentation/nnUNetTrainerV2_DA5.py::nnUNetTrainerV2_DA5",
    "architectural_variants/nnUNetTrainerV2_ResencUNet.py::nnUNetTrainerV2_ResencUNet",
    "optimizer_and_lr/nnUNetTrainerV2_Adam.py::nnUNetTrainerV2_Adam",
    "cascade/nnUNetTrainerV2CascadeFullRes_DAVariants.py::nnUNetTrainerV2CascadeFullRes_EducatedGuess",
]
PHASES = {"import": "the import", "configuration": "get_default_configuration()", "__init__": "__init__()",
          "initialize": "initialize()", "run_training": "run_training()", "process": "the subprocess"}
PLAIN_FOR_NETWORK = {"3d_fullres": "nnUNetTrainerV2", "2d": "nnUNetTrainerV2@2d",
                     "3d_cascade_fullres": "nnUNetTrainerV2CascadeFullRes"}
DDP_REASON = ("not run: needs torch.distributed - nnUNetTrainerV2_DDP.__init__ takes a local_rank, calls "
              "torch.cuda.set_device(local_rank) and dist.init_process_group(backend='nccl') (GPU + launcher)")


def plan_jobs() -> list[dict]:
    """Every run the reference needs, in output order."""
    files = harness.variant_files()
    classes = {rel: harness.classes_in(rel) for rel in files}
    bases_of, plans_keys_of = dict(PLAIN_BASES), {}
    for found in classes.values():
        bases_of.update({name: info["bases"] for name, info in found.items()})
        plans_keys_of.update({name: info["plans_keys"] for name, info in found.items()})
    jobs = [{"section": "plain", "file": None, "class": "nnUNetTrainerV2", "key": "nnUNetTrainerV2",
             "network": "3d_fullres", "task": "ct"},
            {"section": "plain", "file": None, "class": "nnUNetTrainerV2", "key": "nnUNetTrainerV2@2d",
             "network": "2d", "task": "ct"},
            {"section": "plain", "file": None, "class": "nnUNetTrainerV2CascadeFullRes",
             "key": "nnUNetTrainerV2CascadeFullRes", "network": "3d_cascade_fullres", "task": "cascade"}]
    for rel in files:
        for name, info in classes[rel].items():
            chain = harness.ancestry(name, bases_of)
            base = {"section": rel, "file": rel, "class": name, "aliases": info["aliases"]}
            special = sorted({harness.SPECIAL_PLANS[k] for c in chain for k in plans_keys_of.get(c, [])})
            if special:
                base["plans"] = special[0]
            if "nnUNetTrainerV2_DDP" in chain:
                jobs.append({**base, "key": name, "network": "3d_fullres", "task": "ct", "skip": DDP_REASON})
            elif "nnUNetTrainerV2CascadeFullRes" in chain:
                jobs.append({**base, "key": name, "network": "3d_cascade_fullres", "task": "cascade"})
            else:
                jobs.append({**base, "key": name, "network": "3d_fullres", "task": "ct"})
                if name in ALSO_2D:
                    jobs.append({**base, "key": name + "@2d", "network": "2d", "task": "ct"})
    return jobs


def job_id(job: dict) -> str:
    return f"{job['section']}::{job['key']}"


def run_job(job: dict, workspaces: dict, timeout: float, log_dir: Path) -> dict:
    """One v1 run, as the entry stored in the JSON (plus ``process_seconds``)."""
    entry = {"network": job["network"], "task": job["task"]}
    if job.get("plans"):
        entry["plans"] = job["plans"]
    if job.get("skip"):
        return {**entry, "status": "fails_in_v1", "reason": job["skip"], "process_seconds": 0.0}
    result = harness.run_class(workspaces[job["task"]], job["class"], job["file"], job["network"], timeout=timeout,
                               plans_identifier=job.get("plans", harness.PLANS_IDENTIFIER))
    log = result.pop("log_tail", None)
    if log:
        (log_dir / (job_id(job).replace("/", "_").replace("::", "__") + ".log")).write_text(log)
    if result["status"] == "timeout":
        result = {"status": "fails_in_v1", "reason": f"timeout: {result['reason']} (harness limit)",
                  "process_seconds": result["process_seconds"]}
    elif result["status"] == "fails_in_v1":
        reason = result["reason"]
        if "cuda" in reason.lower() and not reason.startswith("needs a GPU"):
            reason = "needs a GPU: " + reason
        where = f" (raised at {result['where']})" if result.get("where") else ""
        result = {"status": "fails_in_v1", "reason": f"in {PHASES.get(result.get('phase'), '?')}: {reason}{where}",
                  "process_seconds": result["process_seconds"]}
    return {**entry, **result}


def same_losses(a: dict, b: dict) -> bool:
    return a.get("train") == b.get("train") and a.get("val") == b.get("val")


def finish_entry(job: dict, first: dict, second: dict | None) -> dict:
    """The stored entry: fixed field order; both runs when they differ."""
    if second is not None and first["status"] == "trains" and not (
            second["status"] == "trains" and same_losses(first, second)):
        entry = {k: first[k] for k in ("network", "task", "plans") if k in first}
        entry |= {"status": "nondeterministic_in_v1",
                  "runs": [{k: r.get(k) for k in ("status", "train", "val", "seconds", "reason") if k in r}
                           for r in (first, second)]}
    else:
        entry = {k: first[k] for k in ("network", "task", "plans", "status", "train", "val", "seconds", "reason")
                 if k in first}
        if second is not None:
            entry["reproduced"] = True
    if job.get("class") in harness.FP16_ONLY:
        entry["note"] = "constructed with fp16=True (its __init__ asserts it); autocast and GradScaler are inactive " \
                        "on the CPU"
    if job.get("plans"):
        entry["note"] = f"trained with the plans of v1's {variant_tasks.RESUNET_PLANNER} ({job['plans']}); with " \
                        "the standard nnUNetPlansv2.1 initialize() raises KeyError: 'num_blocks_encoder'"
    if job.get("aliases"):
        entry["aliases"] = job["aliases"]
    return entry


def mark_equal_to_plain(data: dict) -> None:
    """``same_as_plain``: the losses equal those of plain nnUNetTrainerV2 (or the cascade) on the same network."""
    for classes in data["files"].values():
        for entry in classes.values():
            entry.pop("same_as_plain", None)
            plain = data["plain"].get(PLAIN_FOR_NETWORK.get(entry["network"], ""))
            if entry.get("plans"):
                continue  # other plans: not comparable with the plain trainer
            if entry["status"] == "trains" and plain and plain["status"] == "trains" and same_losses(entry, plain):
                entry["same_as_plain"] = True


def versions() -> dict:
    import numpy
    import torch

    return {"nnunet": importlib.metadata.version("nnunet"),
            "batchgenerators": importlib.metadata.version("batchgenerators"),
            "torch": torch.__version__, "numpy": numpy.__version__}


def dumps(data, indent: int = 0) -> str:
    """Pretty JSON with short lists of scalars kept on one line."""
    pad, inner = " " * indent, " " * (indent + 2)
    if isinstance(data, dict):
        if not data:
            return "{}"
        items = [f"{inner}{json.dumps(k)}: {dumps(v, indent + 2)}" for k, v in data.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(data, list):
        if all(not isinstance(v, (dict, list)) for v in data):
            return json.dumps(data)
        return "[\n" + ",\n".join(inner + dumps(v, indent + 2) for v in data) + "\n" + pad + "]"
    return json.dumps(data)


def summary(data: dict) -> dict:
    files = data["files"]
    training_files = [f for f, classes in files.items() if any(e["status"] == "trains" for e in classes.values())]
    statuses: dict[str, int] = {}
    for classes in list(files.values()) + [data["plain"]]:
        for entry in classes.values():
            statuses[entry["status"]] = statuses.get(entry["status"], 0) + 1
    return {"files": len(files), "files_with_a_class_that_trains": len(training_files),
            "classes": sum(len(c) for c in files.values()), "entries_by_status": dict(sorted(statuses.items()))}


def markdown(data: dict) -> str:
    s = summary(data)
    lines = [
        "# nnU-Net v1 1.7.1's trainer variants, trained by v1 itself",
        "",
        "Generated by `scripts/v1_variant_reference.py` with `tests/conformance/v1_reference.json` (do not edit).",
        "",
        f"nnunet {data['nnunet']}, batchgenerators {data['batchgenerators']}, torch {data['torch']}, "
        f"numpy {data['numpy']}; {data['epochs']} epochs x {data['batches_per_epoch']} training + "
        f"{data['val_batches_per_epoch']} validation batches.",
        "",
        f"{s['files']} files, {s['classes']} trainer classes; {s['files_with_a_class_that_trains']} files have a "
        f"class that trains in v1. Entries by status (with the plain trainers): "
        + ", ".join(f"{k} {v}" for k, v in s["entries_by_status"].items()) + ". "
        f"v1 ran for {data['total_v1_seconds']:.0f} s in all (subprocess wall time, repeats included).",
        "",
        "How v1 was run: " + data["harness"],
        "",
        "*same as plain*: the per-epoch losses equal those of plain `nnUNetTrainerV2` (or "
        "`nnUNetTrainerV2CascadeFullRes`) on the same network, to the 4 decimals stored. *reproduced*: run twice, "
        "same losses.",
        "",
        "| file | class | network | status | reason / seconds | train losses | val losses |",
        "|---|---|---|---|---|---|---|",
    ]

    def row(file: str, key: str, e: dict) -> str:
        if e["status"] == "trains":
            info = f"{e['seconds']:.1f} s" + (", reproduced" if e.get("reproduced") else "") + \
                   (", same as plain" if e.get("same_as_plain") else "")
            if e.get("note"):
                info += f"; {e['note']}"
            train, val = " ".join(e["train"]), " ".join(e["val"])
        elif e["status"] == "nondeterministic_in_v1":
            info = "two runs differ"
            train = " / ".join(" ".join(r.get("train", [])) for r in e["runs"])
            val = " / ".join(" ".join(r.get("val", [])) for r in e["runs"])
        else:
            info, train, val = e.get("reason", "").replace("|", "\\|"), "", ""
        if e.get("aliases"):
            info += f" (aliases: {', '.join(e['aliases'])})"
        network = e["network"] + (f" ({e['plans']})" if e.get("plans") else "")
        return f"| {file} | {key} | {network} | {e['status']} | {info} | {train} | {val} |"

    for key, e in data["plain"].items():
        lines.append(row("(plain v1 trainer)", key, e))
    for file, classes in data["files"].items():
        for key, e in classes.items():
            lines.append(row(file, key, e))
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", type=Path, help="build or reuse the tasks here (default: a temp folder)")
    parser.add_argument("--only", nargs="+", metavar="KEY", help="re-run these FILE::CLASS keys, merge into JSON")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per class (default 300)")
    parser.add_argument("--no-repeat", action="store_true", help="skip the second runs of the repeat sample")
    parser.add_argument("--output", type=Path, default=JSON_OUT)
    parser.add_argument("--markdown", type=Path, default=MD_OUT)
    args = parser.parse_args(argv)

    jobs = plan_jobs()
    known = {job_id(j) for j in jobs}
    if args.only:
        unknown = sorted(set(args.only) - known)
        if unknown:
            parser.error(f"unknown keys: {unknown}")
        jobs = [j for j in jobs if job_id(j) in args.only]

    tmp = None
    if args.workspace is None:
        tmp = tempfile.TemporaryDirectory(prefix="v1_variant_reference_")
        root = Path(tmp.name)
    else:
        root = args.workspace.resolve()
    started = time.perf_counter()
    if (root / "cascade" / "results").is_dir():
        workspaces = variant_tasks.workspaces_in(root)
        print(f"reusing the tasks in {root}", file=sys.stderr)
        resunet = workspaces["ct"].preprocessed_task_dir(variant_tasks.CT_TASK_NAME) / \
            f"{variant_tasks.RESUNET_PLANS_IDENTIFIER}_plans_3D.pkl"
        if not resunet.is_file():
            variant_tasks.add_residual_unet_plans(workspaces["ct"])
    else:
        print(f"building the tasks in {root} (v1 plan_and_preprocess)", file=sys.stderr)
        workspaces = variant_tasks.build_all(root)
    log_dir = root / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)

    results: dict[str, dict] = {}
    total = 0.0
    for index, job in enumerate(jobs, 1):
        first = run_job(job, workspaces, args.timeout, log_dir)
        total += first.pop("process_seconds", 0.0)
        second = None
        if job_id(job) in REPEAT_KEYS and not args.no_repeat and first["status"] == "trains":
            second = run_job(job, workspaces, args.timeout, log_dir)
            total += second.pop("process_seconds", 0.0)
        results[job_id(job)] = finish_entry(job, first, second)
        e = results[job_id(job)]
        shown = " ".join(e.get("train", [])) if e["status"] == "trains" else e.get("reason", "")
        print(f"[{index}/{len(jobs)}] {job_id(job)}: {e['status']} {shown}"
              f"{' (reproduced)' if e.get('reproduced') else ''}  [{time.perf_counter() - started:.0f} s]",
              file=sys.stderr, flush=True)

    if args.only and args.output.exists():
        data = json.loads(args.output.read_text())
        data.update(versions())
        for job in jobs:
            section = data["plain"] if job["section"] == "plain" else data["files"].setdefault(job["section"], {})
            section[job["key"]] = results[job_id(job)]
        data["total_v1_seconds"] = round(data.get("total_v1_seconds", 0.0), 1)
    else:
        data = {**versions(), "epochs": harness.EPOCHS, "batches_per_epoch": harness.BATCHES,
                "val_batches_per_epoch": harness.VAL_BATCHES, "harness": harness.HARNESS_DESCRIPTION,
                "total_v1_seconds": round(total, 1), "files": {}, "plain": {}}
        for job in jobs:
            section = data["plain"] if job["section"] == "plain" else data["files"].setdefault(job["section"], {})
            section[job["key"]] = results[job_id(job)]
    mark_equal_to_plain(data)
    args.output.write_text(dumps(data) + "\n")
    args.markdown.write_text(markdown(data))
    print(json.dumps(summary(data)), f"v1 time {total:.0f} s, wall {time.perf_counter() - started:.0f} s",
          file=sys.stderr)
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
