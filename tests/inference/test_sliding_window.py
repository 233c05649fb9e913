"""Sliding-window prediction against v1's ``SegmentationNetwork.predict_3D`` with the same weights and input."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from nnunet_explorer.inference.sliding_window import (compute_steps_for_sliding_window, get_gaussian,
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
def test_2d_network_slice_by_slice_equals_v1(tiny_pair):
    nets = tiny_pair(threeD=False, in_ch=1)
    x = np.random.RandomState(2).randn(1, 3, 13, 30).astype(np.float32)
    seg_v1, probs_v1 = _v1_predict(nets.theirs, x, (16, 16), True, (0, 1))
    result = predict_sliding_window(nets.ours, x, (16, 16), mirror_axes=(0, 1))
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
