"""Benchmark: v1's data pipeline vs the explorer's, side by side, same task, same worker count.

For one preprocessed task (default: a synthetic CT task that the real nnU-Net v1 plans and preprocesses into
a temporary folder) this measures batches/s of

* the data loader alone (v1 ``DataLoader3D``/``2D`` vs the explorer's, unpacked ``.npy``, memory-mapped);
* loader + moreDA transforms in one process;
* the multi-process augmenter with ``--workers`` processes (v1: batchgenerators ``MultiThreadedAugmenter``
  from ``get_moreDA_augmentation``; explorer: ``MultiProcessAugmenter``),

and prints the explorer / v1 ratio. Not a test: numbers depend on the machine and its load.

    .venv/bin/python benchmarks/bench_dataloading.py --workers 1 --batches 20
    .venv/bin/python benchmarks/bench_dataloading.py --task-dir /path/nnUNet_preprocessed/Task004_Hippocampus
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def _rate(it, n: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        next(it)
    start = time.perf_counter()
    for _ in range(n):
        next(it)
    return n / (time.perf_counter() - start)


def _make_task(root: Path) -> Path:
    from nnunet_explorer.parity import run_v1_cli
    from nnunet_explorer.paths import resolve_workspace
    from nnunet_explorer.samples.synthetic import write_synthetic_task

    ws = resolve_workspace({"nnUNet_raw_data_base": str(root / "raw"), "nnUNet_preprocessed": str(root / "pre"),
                            "RESULTS_FOLDER": str(root / "results")}).ensure()
    name = "Task901_SynthCT"
    write_synthetic_task(ws.raw_task_dir(name), "ct", num_training=10, num_test=2, seed=0)
    run_v1_cli("nnUNet_plan_and_preprocess", ["-t", "901", "-tl", "1", "-tf", "1"], ws, timeout=900)
    return ws.preprocessed_task_dir(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task-dir", type=Path, help="a v1 preprocessed task folder (default: synthetic CT)")
    parser.add_argument("--plans", default="3D", choices=["3D", "2D"])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3, help="alternating repeats; the median is printed")
    args = parser.parse_args(argv)

    warnings.filterwarnings("ignore")
    os.environ.setdefault("nnUNet_n_proc_DA", str(args.workers))
    tmp = Path(tempfile.mkdtemp(prefix="bench_dl_"))
    try:
        task_dir = args.task_dir or _make_task(tmp)
        from batchgenerators.transforms.abstract_transforms import Compose
        from nnunet.training.data_augmentation.data_augmentation_moreDA import get_moreDA_augmentation
        from nnunet.training.dataloading import dataset_loading as v1dl

        from nnunet_explorer.fileio import load_pickle
        from nnunet_explorer.training import dataloading as dl
        from nnunet_explorer.training.augmentation import build_train_transforms
        from nnunet_explorer.training.augmenter import MultiProcessAugmenter
        from nnunet_explorer.training.data_augmentation_params import setup_DA_params

        plans = load_pickle(task_dir / f"nnUNetPlansv2.1_plans_{args.plans}.pkl")
        stage = plans["plans_per_stage"][max(plans["plans_per_stage"])]
        folder = tmp / "stage"
        shutil.copytree(task_dir / f"{plans['data_identifier']}_stage{max(plans['plans_per_stage'])}", folder)
        dl.unpack_dataset(folder)
        setup = setup_DA_params(stage["patch_size"], do_dummy_2D_aug=stage["do_dummy_2D_data_aug"],
                                use_mask_for_norm=plans["use_mask_for_norm"],
                                pool_op_kernel_sizes=stage["pool_op_kernel_sizes"])
        params = dict(setup.data_aug_params, num_threads=args.workers)
        bs, big, final = stage["batch_size"], setup.basic_generator_patch_size, setup.patch_size
        ds_v1, ds_ours = v1dl.load_dataset(str(folder)), dl.load_dataset(folder)
        if len(final) == 3:
            l_v1 = v1dl.DataLoader3D(ds_v1, big, final, bs, False, oversample_foreground_percent=0.33,
                                     pad_mode="constant", pad_sides=None, memmap_mode="r")
        else:
            l_v1 = v1dl.DataLoader2D(ds_v1, big, final, bs, oversample_foreground_percent=0.33,
                                     pad_mode="constant", pad_sides=None, memmap_mode="r")
        l_ours = dl.make_data_loader(ds_ours, big, final, bs)
        ours_tr = build_train_transforms(final, params, setup.deep_supervision_scales)
        seeds = list(range(1, args.workers + 1))

        class OneProcess:
            def __init__(self, loader, transform):
                self.loader, self.transform = loader, transform

            def __next__(self):
                return self.transform(**next(self.loader))

        def seeded(make):
            # both sides start from the same np.random / random state: the loaders then cut the same patches and
            # the transforms draw the same augmentations, so both do the same work
            np.random.seed(0)
            random.seed(0)
            return make()

        def v1_augmenter_rate():
            aug_v1, val_v1 = seeded(lambda: get_moreDA_augmentation(
                l_v1, l_v1, final, params, deep_supervision_scales=setup.deep_supervision_scales,
                seeds_train=seeds, pin_memory=False))
            try:
                return _rate(aug_v1, args.batches)
            finally:
                aug_v1._finish()
                val_v1._finish()

        def ours_augmenter_rate():
            with seeded(lambda: MultiProcessAugmenter(l_ours, Compose(ours_tr), args.workers, 2,
                                                      seeds=seeds)) as augmenter:
                return _rate(augmenter, args.batches)

        v1_tr = Compose(get_moreDA_augmentation(l_v1, l_v1, final, params,
                                                deep_supervision_scales=setup.deep_supervision_scales,
                                                pin_memory=False)[0].transform.transforms)
        pairs = [
            ("loader alone", lambda: seeded(lambda: _rate(l_v1, args.batches)),
             lambda: seeded(lambda: _rate(l_ours, args.batches))),
            ("loader + transforms, 1 process", lambda: seeded(lambda: _rate(OneProcess(l_v1, v1_tr), args.batches)),
             lambda: seeded(lambda: _rate(OneProcess(l_ours, Compose(ours_tr)), args.batches))),
            (f"augmenter, {args.workers} worker(s)", v1_augmenter_rate, ours_augmenter_rate),
        ]
        results = []
        for name, run_v1, run_ours in pairs:
            a, b = [], []
            for _ in range(args.repeats):  # alternate, so background load hits both sides alike
                a.append(run_v1())
                b.append(run_ours())
            results.append((name, float(np.median(a)), float(np.median(b))))

        print(f"task {task_dir.name}, {args.plans} plans: batch {bs}, loaded patch {list(big)} -> {list(final)}; "
              f"{args.batches} batches per measurement, median of {args.repeats}; {os.cpu_count()} CPUs")
        print(f"{'':34s} {'v1 batches/s':>13s} {'explorer':>10s} {'ratio':>7s}")
        for name, a, b in results:
            print(f"{name:34s} {a:13.2f} {b:10.2f} {b / a:7.2f}")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
