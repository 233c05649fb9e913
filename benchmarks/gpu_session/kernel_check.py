"""The GPU session's set-up step for the device augmentation's Triton kernels, in a process of its own.

Every kernel family compiles (into Triton's disk cache, so the timed parts do not compile) and checks itself
against the eager path on the device; the line saying which families run as kernels and which eagerly is printed.
Then the device must still answer: a kernel that read or wrote out of bounds leaves the CUDA context broken
for the rest of its process, and every part of the session would fail the same way in its own. So the exit
status tells the session script what to do:

* 0: the families decided (kernels or eager, each for its stated reason) and the device is healthy;
* 3: the check raised, or the device no longer answers: the script runs every part with
  ``NNUNET_EXPLORER_SPLINE_KERNELS=eager`` (slower, the same numbers), so the session still measures.

    python benchmarks/gpu_session/kernel_check.py        # prints the line; exit 0 or 3
"""
from __future__ import annotations

import sys


def main() -> int:
    import importlib

    import torch

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        importlib.import_module("nnunet_explorer.training.device_augmentation.chain")  # registers every family
        from nnunet_explorer.training.device_augmentation import triton_gate

        print(" ", triton_gate.describe(device), flush=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)  # raises if a kernel faulted (the error is sticky)
            assert torch.ones(8, device=device).sum().item() == 8.0
    except Exception as exc:  # noqa: BLE001 - any failure means: run the session eagerly
        print(f"  Triton kernel check FAILED on {device}: {type(exc).__name__}: {exc}", flush=True)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
