"""Sliding-window prediction against v1's ``SegmentationNetwork.predict_3D`` with the same weights and input."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from nnunet_explorer.network_architecture.sliding_window import (compute_steps_for_sliding_window, get_gaussian,
                                                      predict_sliding_window)


@pytest.mark.parity
@pytest.mark.parametrize("patch,image,step", [((128, 128, 128), (200, 300, 128), 0.5),
                                              ((30, 224, 224), (162, 529, 529), 0.5),
                                              ((8, 16, 16), (9, 40, 16), 0.25),
                                              ((16, 16), (17, 100), 1.0)])
def test_steps_equal_v1(patch, image, step):
    from nnunet.network_architecture.neural_network import SegmentationNetwork

    assert compute_steps_for_sliding_window(patch, image, step) == \
        SegmentationNetwork._compute_steps_for_sliding_window(patch, image, step)


def test_steps_rule_and_errors():
    steps = compute_steps_for_sliding_window((128,), (300,), 0.5)
    assert steps == [[0, 57, 115, 172]]  # ceil(172 / 64) + 1 = 4 positions spread evenly to 300 - 128
    assert compute_steps_for_sliding_window((16,), (16,), 0.5) == [[0]]
    with pytest.raises(ValueError):
        compute_steps_for_sliding_window((16,), (20,), 1.5)
    with pytest.raises(ValueError):
        compute_steps_for_sliding_window((16,), (10,), 0.5)


@pytest.mark.parity
@pytest.mark.parametrize("patch", [(8, 16, 16), (16, 16), (5, 7, 9)])
def test_gaussian_equals_v1(patch):
    from nnunet.network_architecture.neural_network import SegmentationNetwork

    ours = get_gaussian(patch)
    theirs = SegmentationNetwork._get_gaussian(patch, 1. / 8)
    assert ours.dtype == np.float32 and np.array_equal(ours, theirs)
    assert ours.max() == 1.0 and ours[tuple(p // 2 for p in patch)] == 1.0 and ours.min() > 0


def _v1_predict(net, x, patch, do_mirroring, axes, step=0.5, use_gaussian=True):
    net.do_ds = False
    return net.predict_3D(x, do_mirroring, axes, True, step, patch, None, use_gaussian, "constant", None, False,
                          False, False)


@pytest.mark.parity
@pytest.mark.parametrize("shape,patch,axes,mirror,step", [
    ((2, 11, 21, 30), (8, 16, 16), (0, 1, 2), True, 0.5),   # 12 tiles, 8-way mirroring
    ((2, 6, 12, 40), (8, 16, 16), (1, 2), True, 0.5),       # padded in two axes, 4-way mirroring
    ((2, 9, 18, 17), (8, 16, 16), (0, 1, 2), False, 0.7),   # no mirroring, other step
    ((2, 8, 16, 16), (8, 16, 16), (0, 1, 2), True, 0.5),    # one tile: no gaussian
])
def test_3d_probabilities_equal_v1(tiny_pair, shape, patch, axes, mirror, step):
    nets = tiny_pair(threeD=True, in_ch=2)
    x = np.random.RandomState(1).randn(*shape).astype(np.float32)
    seg_v1, probs_v1 = _v1_predict(nets.theirs, x, patch, mirror, axes, step)
    result = predict_sliding_window(nets.ours, x, patch, do_mirroring=mirror, mirror_axes=axes, step_size=step)
    assert result.probabilities.shape == probs_v1.shape == (3, *shape[1:])
    assert np.abs(result.probabilities - probs_v1).max() <= 1e-6
    assert np.array_equal(result.segmentation, seg_v1)
    expected_tiles = int(np.prod([len(s) for s in result.steps]))
    assert result.num_tiles == expected_tiles
    assert (result.gaussian is None) == (expected_tiles == 1)
    assert len(result.mirror_contributions) == (2 ** len(axes) if mirror else 1)
    # probabilities are a distribution per voxel
    assert np.allclose(result.probabilities.sum(0), 1, atol=1e-5)


@pytest.mark.parity
@pytest.mark.parametrize("sums_on", ["auto", "device_fp32"])
def test_2d_network_slice_by_slice_equals_v1(tiny_pair, sums_on):
    nets = tiny_pair(threeD=False, in_ch=1)
    x = np.random.RandomState(2).randn(1, 3, 13, 30).astype(np.float32)
    seg_v1, probs_v1 = _v1_predict(nets.theirs, x, (16, 16), True, (0, 1))
    result = predict_sliding_window(nets.ours, x, (16, 16), mirror_axes=(0, 1), sums_on=sums_on)
    assert result.segmentation.shape == seg_v1.shape == (3, 13, 30)
    assert np.abs(result.probabilities - probs_v1).max() <= 1e-6
    assert np.array_equal(result.segmentation, seg_v1)
    assert {t.slice_index for t in result.tiles} == {0, 1, 2}
    assert result.network_dim == 2 and len(result.mirror_contributions) == 4


@pytest.mark.parity
def test_tile_batching_keeps_numbers(tiny_pair):
    nets = tiny_pair(threeD=True, in_ch=2)
    x = np.random.RandomState(4).randn(2, 11, 21, 30).astype(np.float32)
    one = predict_sliding_window(nets.ours, x, (8, 16, 16))
    batched = predict_sliding_window(nets.ours, torch.from_numpy(x), (8, 16, 16), tile_batch_size=5)
    assert np.abs(one.probabilities - batched.probabilities).max() < 1e-5
    assert [t.box for t in one.tiles] == [t.box for t in batched.tiles]
    html = one._repr_html_()
    assert f"{one.num_tiles} tile(s)" in html and html.count("<tr>") == 1 + 8 + 1 + one.num_tiles


def test_mode_restored_and_bad_arguments(tiny_pair):
    nets = tiny_pair(threeD=True, in_ch=1)
    net = nets.ours
    net.train()
    net.do_ds = True
    x = np.zeros((1, 8, 16, 16), np.float32)
    result = predict_sliding_window(net, x, (8, 16, 16), do_mirroring=False)
    assert net.training and net.do_ds  # restored after the call
    assert result.mirror_axes == () and result.segmentation.shape == (8, 16, 16)
    with pytest.raises(ValueError, match="step_size"):
        predict_sliding_window(net, x, (8, 16, 16), step_size=1.5)
    with pytest.raises(ValueError, match="mirror axes"):
        predict_sliding_window(net, x, (8, 16, 16), mirror_axes=(0, 3))
    with pytest.raises(ValueError, match="c, x, y, z"):
        predict_sliding_window(net, x[0], (8, 16, 16))


class _HalfLogits(torch.nn.Module):
    """Wraps a network so that it returns float16 logits, as it does under CUDA autocast."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        inner.do_ds = False  # one output (predict_sliding_window switches it off on the wrapper only)
        self.conv_op, self.num_classes = inner.conv_op, inner.num_classes
        self.inference_apply_nonlin = inner.inference_apply_nonlin

    def forward(self, x):
        return self.inner(x).half()


class _Float32OfHalfLogits(_HalfLogits):
    def forward(self, x):
        return self.inner(x).half().float()


def test_softmax_in_float32_under_mixed_precision(tiny_pair):
    """fp16 logits (what autocast produces) still give float32 softmax, as v1's softmax inside autocast does."""
    net = tiny_pair(threeD=True, in_ch=2).ours
    x = np.random.RandomState(5).randn(2, 11, 21, 30).astype(np.float32)
    half = predict_sliding_window(_HalfLogits(net), x, (8, 16, 16), mixed_precision=True)
    reference = predict_sliding_window(_Float32OfHalfLogits(net), x, (8, 16, 16))
    assert half.probabilities.dtype == np.float32
    # the same fp16 logits, the softmax taken in float32: equal to float32 rounding (an fp16 softmax: ~5e-4)
    assert np.abs(half.probabilities - reference.probabilities).max() <= 1e-6


@pytest.mark.parametrize("shape", [(2, 11, 21, 30), (2, 8, 16, 16)])  # 12 tiles (Gaussian), 1 tile (no Gaussian)
def test_all_in_gpu_both_ways_agree(tiny_pair, shape):
    """v1's all_in_gpu (float16 sums on the device) against the default (float32 sums in CPU memory)."""
    net = tiny_pair(threeD=True, in_ch=2).ours
    x = np.random.RandomState(6).randn(*shape).astype(np.float32)
    default = predict_sliding_window(net, x, (8, 16, 16), mirror_axes=(1, 2))
    in_gpu = predict_sliding_window(net, x, (8, 16, 16), mirror_axes=(1, 2), all_in_gpu=True)
    assert in_gpu.probabilities.dtype == default.probabilities.dtype == np.float32
    assert in_gpu.probabilities.shape == default.probabilities.shape
    # the Gaussian weight each voxel collected (v1's aggregated_nb_of_predictions)
    weight = np.zeros(shape[1:], np.float32)
    for tile in default.tiles:
        weight[tuple(slice(lo, hi) for lo, hi in tile.box)] += 1 if default.gaussian is None else default.gaussian
    well_weighted = weight >= 1e-3
    assert well_weighted.mean() > 0.6
    diff = np.abs(in_gpu.probabilities - default.probabilities).max(0)
    assert diff[well_weighted].max() <= 2e-3  # float16 sums: about 3 significant digits
    # where only tile borders reach (Gaussian < 1e-3), weight x probability underflows float16, in v1 as here:
    # one reason v1 calls all_in_gpu experimental
    if default.gaussian is not None:
        assert diff[~well_weighted].max() > 1e-2
    assert np.allclose(in_gpu.probabilities[:, well_weighted].sum(0), 1, atol=5e-3)
    # float16 really was used: its values are representable in float16
    assert np.array_equal(in_gpu.probabilities, in_gpu.probabilities.astype(np.float16).astype(np.float32))
    assert [t.box for t in in_gpu.tiles] == [t.box for t in default.tiles]


@pytest.mark.parametrize("kwargs,where,dtype", [
    ({"sums_on": "cpu"}, "cpu", torch.float32),                # v1's default
    ({"sums_on": None}, "cpu", torch.float32),                 # v1's two-way choice, all_in_gpu=False
    ({"sums_on": "device_fp32"}, "meta", torch.float32),       # the explorer's default on CUDA
    ({"sums_on": "device_fp16"}, "meta", torch.float16),       # v1's all_in_gpu
    ({"all_in_gpu": True}, "meta", torch.float16),
])
def test_accumulators_placed_by_sums_on(kwargs, where, dtype):
    """cpu: the whole-case sums in CPU memory whatever the device (v1); device_*: on the device, fp32 or fp16."""
    from nnunet_explorer.network_architecture.sliding_window import _TiledPredictor

    net = torch.nn.Conv3d(1, 2, 1)
    meta = torch.device("meta")  # stands for a GPU: tensors placed there are visibly not on the CPU
    gaussian = get_gaussian((4, 4, 4))
    tiled = _TiledPredictor(net, 3, (0, 1, 2), True, meta, False, 1, **kwargs)
    aggregated, weights, mult, add = tiled._accumulators(gaussian, (4, 4, 4), 3, (6, 7, 8))
    assert aggregated.shape == (3, 6, 7, 8) and weights.shape == (1, 6, 7, 8)  # one-channel weight map
    assert aggregated.device.type == weights.device.type == add.device.type == where
    assert aggregated.dtype == weights.dtype == dtype
    assert mult.device.type == "meta"  # the tile multiplier is used where the network computes
    assert tiled.all_in_gpu == (dtype == torch.float16)


class _RaisingNet(torch.nn.Module):
    conv_op = torch.nn.Conv3d
    num_classes = 2

    def __init__(self, error):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.error = error

    def forward(self, x):
        raise self.error


@pytest.mark.parametrize("all_in_gpu,sums_on,tile_batch,needle", [(True, "auto", 1, "without --all_in_gpu"),
                                                                  (False, "auto", 4, "smaller --tile_batch_size"),
                                                                  (False, "device_fp32", 1, "--sums_on cpu")])
def test_out_of_memory_is_explained(all_in_gpu, sums_on, tile_batch, needle):
    from nnunet_explorer.errors import ExplorerError
    from nnunet_explorer.network_architecture.sliding_window import PredictionOutOfMemoryError

    net = _RaisingNet(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    net.train()
    x = np.zeros((1, 8, 16, 20), np.float32)
    with pytest.raises(PredictionOutOfMemoryError) as info:
        predict_sliding_window(net, x, (8, 16, 16), all_in_gpu=all_in_gpu, sums_on=sums_on,
                               tile_batch_size=tile_batch)
    assert isinstance(info.value, ExplorerError)
    message = str(info.value)
    assert needle in message and "Tried to allocate 2.00 GiB" in message and "[1, 8, 16, 20]" in message
    assert net.training  # the mode is restored
    # the allocator's plain RuntimeError is recognised too; any other error passes through unchanged
    with pytest.raises(PredictionOutOfMemoryError):
        predict_sliding_window(_RaisingNet(RuntimeError("CUDA error: out of memory")), x, (8, 16, 16))
    with pytest.raises(RuntimeError, match="shape mismatch"):
        predict_sliding_window(_RaisingNet(RuntimeError("shape mismatch")), x, (8, 16, 16))


# --- where the whole-case sums live (sums_on) ---------------------------------------------------------------------

#: 3 x 3 x 4 = 36 tiles of (8, 16, 16): several window positions along every axis
_MANY_TILES = (2, 14, 30, 34)


@pytest.mark.parametrize("tile_batch", [1, 4])
def test_device_fp32_sums_equal_cpu_sums(tiny_pair, tile_batch):
    """float32 sums on the device add the same float32 numbers in the same order as v1's CPU sums."""
    net = tiny_pair(threeD=True, in_ch=2).ours
    x = np.random.RandomState(7).randn(*_MANY_TILES).astype(np.float32)
    on_cpu = predict_sliding_window(net, x, (8, 16, 16), sums_on="cpu", tile_batch_size=tile_batch)
    on_device = predict_sliding_window(net, x, (8, 16, 16), sums_on="device_fp32", tile_batch_size=tile_batch)
    assert all(len(s) >= 3 for s in on_cpu.steps) and on_cpu.num_tiles == 36 and on_cpu.gaussian is not None
    assert (on_cpu.sums_on, on_device.sums_on) == ("cpu", "device_fp32")
    assert on_cpu.tile_batch_size == on_device.tile_batch_size == tile_batch
    assert on_device.probabilities.dtype == np.float32 and on_device.segmentation.shape == _MANY_TILES[1:]
    assert np.abs(on_device.probabilities - on_cpu.probabilities).max() <= 1e-6
    assert np.array_equal(on_device.segmentation, on_cpu.segmentation)
    assert np.array_equal(on_device.segmentation, on_device.probabilities.argmax(0))  # argmax taken on the device
    assert [m.mean_abs_prob_diff for m in on_device.mirror_contributions] == \
        pytest.approx([m.mean_abs_prob_diff for m in on_cpu.mirror_contributions])
    assert "sums device_fp32" in on_device.summary()


@pytest.mark.parity
@pytest.mark.parametrize("tile_batch", [1, 4])
def test_device_fp32_sums_equal_v1_default(tiny_pair, tile_batch):
    """The new mode against the real v1's predict_3D(all_in_gpu=False): the same weights, input, mirroring."""
    nets = tiny_pair(threeD=True, in_ch=2)
    x = np.random.RandomState(8).randn(*_MANY_TILES).astype(np.float32)
    seg_v1, probs_v1 = _v1_predict(nets.theirs, x, (8, 16, 16), True, (0, 1, 2))
    ours = predict_sliding_window(nets.ours, x, (8, 16, 16), sums_on="device_fp32", tile_batch_size=tile_batch)
    assert ours.num_tiles == 36 and len(ours.mirror_contributions) == 8
    assert np.abs(ours.probabilities - probs_v1).max() <= 1e-6
    assert np.array_equal(ours.segmentation, seg_v1)


def _v1_all_in_gpu_on_the_cpu(net, x, patch, axes, monkeypatch):
    """v1's predict_3D(all_in_gpu=True) run on the CPU: its ``.cuda()`` calls made no-ops (it has no CPU path)."""
    net.do_ds = False
    with monkeypatch.context() as m:
        m.setattr(torch.Tensor, "cuda", lambda self, *args, **kwargs: self)
        return net.predict_3D(x, True, axes, True, 0.5, patch, None, True, "constant", None, True, False, False)


@pytest.mark.parity
@pytest.mark.parametrize("kwargs", [{"all_in_gpu": True}, {"sums_on": "device_fp16"}])
def test_device_fp16_sums_are_v1_all_in_gpu(tiny_pair, monkeypatch, kwargs):
    """v1's all_in_gpu keeps its float16 meaning: equal to v1's own float16 sums, border errors included."""
    nets = tiny_pair(threeD=True, in_ch=2)
    x = np.random.RandomState(9).randn(*_MANY_TILES).astype(np.float32)
    seg_v1, probs_v1 = _v1_all_in_gpu_on_the_cpu(nets.theirs, x, (8, 16, 16), (0, 1, 2), monkeypatch)
    assert probs_v1.dtype == np.float16  # v1's float16 sums really ran
    ours = predict_sliding_window(nets.ours, x, (8, 16, 16), **kwargs)
    assert ours.sums_on == "device_fp16" and ours.tile_batch_size == 1
    assert np.abs(ours.probabilities - probs_v1.astype(np.float32)).max() <= 1e-6
    assert np.array_equal(ours.segmentation, seg_v1)
    # and it is not the float32 result: float16 sums are off where the Gaussian weights are tiny
    fp32 = predict_sliding_window(nets.ours, x, (8, 16, 16), sums_on="device_fp32")
    assert np.abs(ours.probabilities - fp32.probabilities).max() > 1e-2


class _ReadCounter(torch.overrides.TorchFunctionMode):
    """Counts the calls that read a tensor back to the host (copies to the CPU, Python numbers, numpy views)."""

    READS = {torch.Tensor.cpu, torch.Tensor.numpy, torch.Tensor.item, torch.Tensor.tolist, torch.Tensor.__float__,
             torch.Tensor.__bool__, torch.Tensor.__int__}

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.count += func in self.READS
        return func(*args, **(kwargs or {}))


def test_device_sums_read_back_once_per_case_not_per_tile(tiny_pair):
    """With the sums on the device, the host reads at the end only (probabilities, segmentation, statistics)."""
    net = tiny_pair(threeD=True, in_ch=2).ours
    reads = {}
    for shape in ((2, 11, 21, 30), _MANY_TILES):  # 12 and 36 tiles
        x = np.random.RandomState(10).randn(*shape).astype(np.float32)
        for sums_on in ("cpu", "device_fp32"):
            with _ReadCounter() as counter:
                result = predict_sliding_window(net, x, (8, 16, 16), sums_on=sums_on)
            reads[sums_on, result.num_tiles] = counter.count
    assert reads["device_fp32", 12] == reads["device_fp32", 36] <= 6, reads
    assert reads["cpu", 36] - reads["cpu", 12] >= 24, reads  # v1's default: one copy back per tile


def test_sums_on_and_tile_batch_resolution():
    """auto: float32 sums on the device with 4 tiles per pass on CUDA; v1's CPU sums, one tile, elsewhere."""
    from nnunet_explorer.errors import ConfigurationError
    from nnunet_explorer.network_architecture.sliding_window import (DEFAULT_CUDA_TILE_BATCH, resolve_sums_on,
                                                                     resolve_tile_batch_size)

    cuda = torch.device("cuda")  # a name only: nothing is allocated, no GPU needed
    assert resolve_sums_on("auto", "cpu") == "cpu"
    assert resolve_sums_on("auto", cuda) == "device_fp32"
    assert resolve_tile_batch_size(None, "cpu", "cpu") == 1
    assert resolve_tile_batch_size(None, cuda, resolve_sums_on("auto", cuda)) == DEFAULT_CUDA_TILE_BATCH > 1
    # v1's all_in_gpu keeps its float16 meaning, with v1's one tile at a time by default
    assert resolve_sums_on("auto", cuda, all_in_gpu=True) == resolve_sums_on("device_fp16", cuda) == "device_fp16"
    assert resolve_tile_batch_size(None, cuda, "device_fp16") == 1
    # None: v1's two-way choice (v1-named callers such as predict_3D(all_in_gpu=...))
    assert resolve_sums_on(None, cuda) == "cpu" and resolve_sums_on(None, cuda, all_in_gpu=True) == "device_fp16"
    # explicit choices win; a case whose sums would take more than half the free GPU memory stays on the CPU
    assert resolve_sums_on("cpu", cuda) == "cpu" and resolve_sums_on("device_fp32", "cpu") == "device_fp32"
    assert resolve_sums_on("auto", cuda, sums_bytes=6 * 2**30, free_bytes=10 * 2**30) == "cpu"
    assert resolve_sums_on("auto", cuda, sums_bytes=4 * 2**30, free_bytes=10 * 2**30) == "device_fp32"
    assert resolve_tile_batch_size(2, cuda, "device_fp16") == 2
    with pytest.raises(ConfigurationError, match="contradicts"):
        resolve_sums_on("device_fp32", cuda, all_in_gpu=True)
    with pytest.raises(ConfigurationError, match="unknown sums_on"):
        resolve_sums_on("gpu", cuda)
    with pytest.raises(ConfigurationError, match="at least 1"):
        resolve_tile_batch_size(0, cuda, "cpu")


def test_auto_on_the_cpu_is_v1s_default(tiny_pair):
    net = tiny_pair(threeD=True, in_ch=2).ours
    x = np.random.RandomState(11).randn(2, 11, 21, 30).astype(np.float32)
    auto = predict_sliding_window(net, x, (8, 16, 16), device="cpu")
    v1_default = predict_sliding_window(net, x, (8, 16, 16), sums_on=None, tile_batch_size=1)
    assert (auto.sums_on, auto.tile_batch_size) == (v1_default.sums_on, v1_default.tile_batch_size) == ("cpu", 1)
    assert np.array_equal(auto.probabilities, v1_default.probabilities)
