"""The session's ``summary.json``: per part its exit code, seconds and GPU utilisation (from the sampler's CSV).

``parts.tsv`` has one line per part: ``name, start epoch seconds, end epoch seconds, exit code`` (or ``skipped``).
Exit 124 / 137 mean the part ran past its cap and was killed.

``gpu_util_mean_percent`` is the GPU's busy share (NVML's utilisation is the share of each sample period in which
a kernel ran), the measure ``gpu_check``'s ``gpu_busy_share_*`` keys report as a fraction; ``gpu_active_sample_share``
is only the share of samples in which the GPU did anything at all (a 1 %-busy sample counts), to tell an idle part
from a working one.

    python benchmarks/gpu_session/summarize.py parts.tsv util.csv summary.json
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from util_sampler import read_samples  # noqa: E402


def summarize(parts_tsv: str, util_csv: str, extra: dict | None = None) -> dict:
    samples = read_samples(util_csv)
    summary: dict = {"parts": {}, "gpu_sampled": bool(samples), **(extra or {})}
    with open(parts_tsv) as f:
        lines = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    for name, start, end, rc in lines:
        if rc == "skipped":
            summary["parts"][name] = {"status": "skipped (no time left)"}
            continue
        start, end = float(start), float(end)
        inside = [s for s in samples if start <= s[0] <= end]
        util = [s[1] for s in inside]
        summary["parts"][name] = {
            "exit": int(rc), "status": "ok" if rc == "0" else ("killed at its cap" if rc in ("124", "137")
                                                              else "failed"),
            "seconds": round(end - start, 1),
            "gpu_util_mean_percent": round(statistics.mean(util), 1) if util else None,
            "gpu_active_sample_share": round(sum(u > 0 for u in util) / len(util), 3) if util else None,
            "gpu_memory_max_mib": max(s[2] for s in inside) if inside else None,
        }
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts_tsv")
    parser.add_argument("util_csv")
    parser.add_argument("out")
    parser.add_argument("--extra", default="{}", help="a JSON object merged into the summary")
    args = parser.parse_args(argv)
    summary = summarize(args.parts_tsv, args.util_csv, json.loads(args.extra))
    with open(args.out, "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
