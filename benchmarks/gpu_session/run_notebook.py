"""Executes a notebook in a real Jupyter kernel (nbclient, the ``python3`` kernel of this interpreter) and saves it
with its outputs and widget state, also when a cell fails; prints the stream outputs' tails and the seconds.

    python benchmarks/gpu_session/run_notebook.py notebooks/05_train_live.ipynb $OUT/nb05.ipynb --workspace DIR

``--workspace``: ``NNUNET_EXPLORER_WORKSPACE`` for the kernel (v1's three folder variables are removed, so the
notebook uses that workspace). Exit code 1 when a cell raised.
"""
from __future__ import annotations

import argparse
import os
import sys
import time


def run(notebook: str, out: str, workspace: str | None = None, timeout: int | None = None) -> int:
    import nbclient
    import nbformat

    if workspace:
        os.environ["NNUNET_EXPLORER_WORKSPACE"] = workspace
        for var in ("nnUNet_raw_data_base", "nnUNet_preprocessed", "RESULTS_FOLDER"):
            os.environ.pop(var, None)
    nb = nbformat.read(notebook, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3", store_widget_state=True,
                                     resources={"metadata": {"path": os.path.dirname(os.path.abspath(notebook))}})
    t0 = time.time()
    status = 0
    try:
        client.execute()
    except Exception as exc:  # noqa: BLE001 - the saved notebook shows the failing cell
        print(f"notebook failed: {type(exc).__name__}: {str(exc)[-3000:]}", file=sys.stderr)
        status = 1
    finally:
        nbformat.write(nb, out)
        for cell in nb.cells:
            for o in cell.get("outputs", []):
                if o.get("output_type") == "stream":
                    print(o["text"][-800:])
        print(f"{os.path.basename(notebook)} {'ran' if status == 0 else 'FAILED'} in {time.time() - t0:.1f} s")
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook")
    parser.add_argument("out")
    parser.add_argument("--workspace", default=None)
    parser.add_argument("--timeout", type=int, default=None, help="seconds per cell (default: none)")
    args = parser.parse_args(argv)
    return run(args.notebook, args.out, args.workspace, args.timeout)


if __name__ == "__main__":
    raise SystemExit(main())
