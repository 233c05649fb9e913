"""The "VRAM measured" figure: fp16 autocast when training is fp16, baseline subtracted, the network left as it was.

The CUDA counters are injected (a fake MemoryReader), so everything but torch.cuda's own calls runs on the CPU.
"""
from __future__ import annotations

import pytest
import torch

from nnunet_explorer.training.architecture import describe_network, measure_training_memory
from nnunet_explorer.training.deep_supervision import ds_loss_weights
from nnunet_explorer.training.generic_unet import build_network

POOLS = [[1, 2, 2], [2, 2, 2]]
CONVS = [[1, 3, 3], [3, 3, 3], [3, 3, 3]]
SIZE = (1, 1, 4, 8, 8)


class FakeMemory:
    """Counters that move by known amounts; records whether autocast was on during the forward."""

    def __init__(self, baseline=1000, peak=5000):
        self.baseline, self.peak_value, self.calls = baseline, peak, []

    def synchronize(self):
        self.calls.append("sync")

    def reset_peak(self):
        self.calls.append("reset")

    def allocated(self):
        self.calls.append("allocated")
        return self.baseline

    def peak(self):
        self.calls.append("peak")
        return self.peak_value


@pytest.fixture
def net():
    torch.manual_seed(0)
    return build_network(1, 4, 2, POOLS, CONVS)


def _autocast_seen(net):
    seen = []

    def hook(module, inputs, output):
        if output.device.type == "cpu":  # not the meta copy describe_network takes the shapes from
            seen.append((torch.is_autocast_enabled("cpu"), output.dtype))

    return seen, net.conv_blocks_context[0].register_forward_hook(hook)


@pytest.mark.parametrize("fp16", [True, False])
def test_measurement_uses_fp16_autocast_when_training_is_fp16_and_subtracts_the_baseline(net, fp16):
    seen, handle = _autocast_seen(net)
    memory = FakeMemory(baseline=1000, peak=5000)
    try:
        measured = measure_training_memory(net, SIZE, fp16=fp16, memory=memory)
    finally:
        handle.remove()
    assert seen == [(fp16, torch.float16 if fp16 else torch.float32)]
    weights = sum(p.numel() * p.element_size() for p in net.parameters())
    assert measured == 5000 - 1000 + weights
    # the baseline is read before the peak is reset, the peak after the backward
    assert memory.calls.index("allocated") < memory.calls.index("reset") < memory.calls.index("peak")


def test_measurement_leaves_gradients_and_mode_as_they_were(net):
    net.eval()
    for p in net.parameters():
        p.grad = torch.full_like(p, 0.25)
    before = [p.grad.clone() for p in net.parameters()]
    ids = [id(p.grad) for p in net.parameters()]
    measure_training_memory(net, SIZE, fp16=True, memory=FakeMemory())
    assert not net.training
    assert [id(p.grad) for p in net.parameters()] == ids
    assert all(torch.equal(p.grad, b) for p, b in zip(net.parameters(), before))
    net.train()
    for p in net.parameters():
        p.grad = None
    measure_training_memory(net, SIZE, fp16=False, memory=FakeMemory())
    assert net.training and all(p.grad is None for p in net.parameters())


def test_describe_network_passes_the_fp16_flag_and_says_what_it_measured(net):
    seen, handle = _autocast_seen(net)
    try:
        summary = describe_network(net, SIZE, ds_loss_weights(POOLS), fp16=False, memory=FakeMemory(0, 100))
        default = describe_network(net, SIZE, ds_loss_weights(POOLS), memory=FakeMemory(0, 100))
    finally:
        handle.remove()
    # each call: the measured training step on the CPU network (its flag); the shape pass runs on a meta copy
    assert [s[0] for s in seen] == [False, True]  # the default is v1's: fp16
    weights = sum(p.numel() * p.element_size() for p in net.parameters())
    assert summary.memory_bytes == default.memory_bytes == 100 + weights
    assert "fp32" in summary.memory_source and "fp16 autocast" in default.memory_source
    assert "baseline" in summary.memory_source
