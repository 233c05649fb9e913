"""The throughput profiler and the sampling maps, on a real (tiny) preprocessed task."""
from __future__ import annotations

import contextlib
import re

import numpy as np
import pytest
import torch

from nnunet_explorer.training import dataloading as dl
from nnunet_explorer.training import throughput as tp
from nnunet_explorer.training.augmentation import build_train_transforms
from nnunet_explorer.training.data_augmentation_params import setup_DA_params
from nnunet_explorer.training.sampling_map import SamplingMap, epoch_sampling_map, sampling_map

PATCH = [16, 40, 40]
POOLS = [[1, 2, 2], [2, 2, 2], [2, 2, 2]]


@pytest.fixture
def ct_pipeline(ct_stage):
    dl.unpack_dataset(ct_stage)
    dataset = dl.load_dataset(ct_stage)
    setup = setup_DA_params(PATCH, do_dummy_2D_aug=False, use_mask_for_norm={0: False}, pool_op_kernel_sizes=POOLS)
    loader = dl.make_data_loader(dataset, setup.basic_generator_patch_size, setup.patch_size, 2)
    return loader, build_train_transforms(setup.patch_size, setup.data_aug_params, setup.deep_supervision_scales)


class TinyNet(torch.nn.Module):
    """Any module works: one conv, output at full resolution (no deep supervision)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv3d(1, 3, 3, padding=1)

    def forward(self, x):
        return self.conv(x)


def tiny_loss(output, target):
    return torch.nn.functional.cross_entropy(output, target[0][:, 0].long())


def test_profiler_numbers_and_verdict(ct_pipeline):
    loader, transforms = ct_pipeline
    net = TinyNet()
    report = tp.profile_throughput(loader, transforms, workers=(1,), n_batches=3, network=net, loss=tiny_loss,
                                   optimizer=torch.optim.SGD(net.parameters(), 0.01), n_iterations=2)
    assert report.loader_batches_per_s > 0 and report.chain_batches_per_s > 0
    assert report.chain_batches_per_s < report.loader_batches_per_s  # augmentation costs time on top
    assert len(report.transforms) == len(transforms)
    assert sum(t.share for t in report.transforms) == pytest.approx(1.0, abs=1e-9)
    assert all(t.seconds_per_batch >= 0 for t in report.transforms)
    assert report.workers[0][0] == 1 and report.workers[0][1] > 0
    it, dummy = report.iteration, report.compute_only
    assert it.iterations == 2 and it.compute_s > 0 and it.data_wait_s >= 0 and 0 <= it.wait_fraction <= 1
    assert dummy.dummy_load and dummy.data_wait_s < it.data_wait_s + it.compute_s
    assert "% of the time for data" in report.verdict and "worker" in report.verdict
    assert "batches/s" in str(report)


def test_recommend_workers_rule():
    # network needs one batch every 0.1 s; one worker makes 2 batches/s -> 5 workers
    assert tp.recommend_workers(0.1, 2.0, max_workers=16) == 5
    assert tp.recommend_workers(0.1, 20.0, max_workers=16) == 1
    assert tp.recommend_workers(0.01, 1.0, max_workers=4) == 4  # capped by the machine
    slow = tp.IterationTiming(3, data_wait_s=0.63, compute_s=0.37, dummy_load=False, device="cuda:0")
    text = tp.verdict_text(slow, None, per_worker_batches_per_s=1.0)
    assert text.startswith("the GPU waits 63 % of the time for data")
    fast = tp.IterationTiming(3, data_wait_s=0.01, compute_s=0.99, dummy_load=False, device="cpu")
    assert "keeps up" in tp.verdict_text(fast, None, per_worker_batches_per_s=5.0)
    with _chinese():
        assert tp.verdict_text(slow, None, per_worker_batches_per_s=1.0).startswith("GPU 有 63 % 的时间在等数据")
        assert "跟得上" in tp.verdict_text(fast, None, per_worker_batches_per_s=5.0)
        report = tp.ThroughputReport(2.0, (), 1.0, ((2, 1.8),), None, None, "v")
        assert all(re.search("[\u4e00-\u9fff]", line) for line in str(report).splitlines()[:-1]), str(report)


@contextlib.contextmanager
def _chinese():
    from nnunet_explorer.language import set_language

    set_language("zh")
    try:
        yield
    finally:
        set_language(None)


def test_sampling_map_counts(ct_pipeline):
    loader, _ = ct_pipeline
    np.random.seed(0)
    batches = [next(loader) for _ in range(15)]
    smap = sampling_map(batches)
    assert smap.n_samples == 15 * 2
    assert smap.n_forced == 15  # bs 2: the second sample of every batch is forced
    for case in smap.cases.values():
        expected_forced = np.zeros(case.shape, np.int64)
        expected_random = np.zeros(case.shape, np.int64)
        for batch in batches:
            for p in batch["provenance"]:
                if p.case_id == case.case_id:
                    window = tuple(slice(max(0, lb), min(s, ub)) for (lb, ub), s in zip(p.box, p.case_shape))
                    (expected_forced if p.forced else expected_random)[window] += 1
        np.testing.assert_array_equal(case.forced, expected_forced)
        np.testing.assert_array_equal(case.random, expected_random)
        assert case.forced.max() <= case.n_forced and case.random.max() <= case.n_random
        assert len(case.centers) == case.n_forced
    assert sum(r["samples"] for r in smap.rows()) == 30
    assert smap.summary().startswith("30 samples (15 forced foreground)")
    with _chinese():
        assert smap.summary().startswith("30 个样本（15 个强制前景）")
        assert all(re.search("[\u4e00-\u9fff]", line) for line in smap.summary().splitlines())
    epoch = epoch_sampling_map(loader, 5)
    assert isinstance(epoch, SamplingMap) and epoch.n_samples == 10

    from matplotlib.figure import Figure

    from nnunet_explorer.views.augmentation_plots import plot_sampling_map

    assert isinstance(plot_sampling_map(next(iter(smap.cases.values()))), Figure)
