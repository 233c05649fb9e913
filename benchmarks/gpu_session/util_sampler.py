"""Samples GPU utilisation and memory with NVML every ``--interval`` seconds into a CSV until killed.

Rows: ``epoch seconds, utilisation % (the share of the last sample period in which a kernel ran), MiB used``.
Without NVML (``pynvml`` missing, no driver: a CPU dry run) the file gets one ``#`` line saying why, and the
summary reports no utilisation.

    python benchmarks/gpu_session/util_sampler.py $OUT/util.csv &
"""
from __future__ import annotations

import argparse
import time


def sample_forever(path: str, interval: float = 0.2, device_index: int = 0) -> None:
    with open(path, "w", buffering=1) as out:
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(device_index)
        except Exception as exc:  # noqa: BLE001 - no NVML here: say so and stop
            out.write(f"# no GPU sampling: {type(exc).__name__}: {exc}\n")
            return
        out.write("# time_s,util_percent,memory_used_mib\n")
        while True:
            u = pynvml.nvmlDeviceGetUtilizationRates(handle)
            m = pynvml.nvmlDeviceGetMemoryInfo(handle)
            out.write(f"{time.time():.3f},{u.gpu},{m.used / 2 ** 20:.0f}\n")
            time.sleep(interval)


def read_samples(path: str) -> list[tuple[float, float, float]]:
    """The CSV's rows as ``(time, util %, MiB)``; empty without samples."""
    rows = []
    try:
        with open(path) as f:
            for line in f:
                if line.strip() and not line.startswith("#"):
                    t, u, m = line.strip().split(",")
                    rows.append((float(t), float(u), float(m)))
    except (OSError, ValueError):
        pass
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv")
    parser.add_argument("--interval", type=float, default=0.2)
    args = parser.parse_args(argv)
    sample_forever(args.csv, args.interval)


if __name__ == "__main__":
    main()
