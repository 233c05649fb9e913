"""The 'initialize' step's call trace sees the trainer's work, not the imports of the libraries it uses.

The trace is a profile hook that Python calls on every function call in its block. Importing batchgenerators'
transforms (scipy.signal, pandas) and torch's ``torch._dynamo`` (with sympy) makes millions of calls; traced,
they made ``train`` 2.5 s slower to its first iteration than untraced (``benchmarks/bench_startup.py``: 1.27x
v1's seconds before, 0.74x after). ``run_training.import_what_initialize_imports`` imports them before the trace.
The device path's set-up (``--augment_on``; on a GPU, Triton's import and its kernels' check) is no v1 method and
runs after the trace. This test runs the step in a fresh interpreter (the test process has imported everything
long ago) and lists the modules first imported inside the traced block.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from .conftest import subprocess_env

SCRIPT = textwrap.dedent("""
    import contextlib, json, sys
    import nnunet_explorer.walkthrough as walkthrough
    from nnunet_explorer.run.run_training import ExplorerOptions, TrainRequest
    from nnunet_explorer.training.configuration import RunArgs

    real = walkthrough.trace_calls
    inside = []

    @contextlib.contextmanager
    def watched(obj, names, **kwargs):
        before = set(sys.modules)
        with real(obj, names, **kwargs) as trace:
            yield trace
        inside.extend(sorted(set(sys.modules) - before))

    walkthrough.trace_calls = watched
    options = ExplorerOptions(max_num_epochs=1, num_batches_per_epoch=1, num_val_batches_per_epoch=1, device="cpu",
                              quiet=True, augment_on="device")
    pipeline = walkthrough.walkthrough_for(TrainRequest(RunArgs("3d_fullres", "nnUNetTrainerV2", "901", "0"),
                                                        options))
    trainer = None
    try:
        pipeline.run(until="initialize")
        trainer = pipeline["trainer"]
        print(json.dumps({"inside": inside, "traced": pipeline["initialize"].trace.names(),
                          "augmenter": type(trainer.tr_gen).__name__}))
    finally:
        for generator in (getattr(trainer, "tr_gen", None), getattr(trainer, "val_gen", None)):
            getattr(generator, "shutdown", lambda: None)()
""")

HEAVY = ("torch._dynamo", "torch._inductor", "sympy", "scipy", "pandas", "batchgenerators", "skimage", "triton",
         "nnunet_explorer.training.device_augment")  # the last: the device path is set up after the trace


def test_the_initialize_trace_imports_no_heavy_library_nor_the_device_path(loop_ws):
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=subprocess_env(loop_ws), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    heavy = [m for m in result["inside"] if m.split(".")[0] in HEAVY or m.startswith(HEAVY)]
    assert heavy == [], ("imported inside the traced block (import them before the trace, or do that work after "
                         f"it): {heavy}")
    assert result["augmenter"] == "DeviceAugmenter"  # --augment_on device was applied, after the trace
    # the trace still records what initialize called
    assert result["traced"][0] == "initialize"
    assert {"process_plans", "setup_DA_params", "initialize_network",
            "initialize_optimizer_and_scheduler"} <= set(result["traced"])
