"""Fixtures for the inference tests: tiny networks built by the explorer and by the real nnU-Net v1.

v1's network module does not import ``nnunet.paths`` (which reads folder variables at import time), so
``Generic_UNet`` is imported in-process. Anything that needs v1's trainers, ``predict`` or ``validate`` runs in
a subprocess (``nnunet_explorer.parity``).
"""
from __future__ import annotations

import types

import pytest
import torch

from nnunet_explorer.training.generic_unet import GenericUNet


def build_v1_unet(num_input_channels, base_num_features, num_classes, pools, convs, threeD=True):
    """v1's Generic_UNet exactly as nnUNetTrainerV2.initialize_network builds it (on the CPU)."""
    from nnunet.network_architecture.generic_UNet import Generic_UNet
    from nnunet.network_architecture.initialization import InitWeights_He
    from nnunet.utilities.nd_softmax import softmax_helper

    nn = torch.nn
    conv_op, dropout_op, norm_op = ((nn.Conv3d, nn.Dropout3d, nn.InstanceNorm3d) if threeD
                                    else (nn.Conv2d, nn.Dropout2d, nn.InstanceNorm2d))
    net = Generic_UNet(num_input_channels, base_num_features, num_classes, len(pools), 2, 2,
                       conv_op, norm_op, {'eps': 1e-5, 'affine': True}, dropout_op, {'p': 0, 'inplace': True},
                       nn.LeakyReLU, {'negative_slope': 1e-2, 'inplace': True}, True, False, lambda x: x,
                       InitWeights_He(1e-2), pools, convs, False, True, True)
    net.inference_apply_nonlin = softmax_helper
    return net


@pytest.fixture
def tiny_pair():
    """Return ``make(threeD, in_ch, classes)`` -> (explorer GenericUNet, v1 Generic_UNet) with equal weights."""
    pytest.importorskip("nnunet", reason="parity tests need nnunet==1.7.1")

    def make(threeD=True, in_ch=1, classes=3, seed=0):
        torch.manual_seed(seed)
        if threeD:
            pools, convs = [[1, 2, 2], [2, 2, 2]], [[1, 3, 3], [3, 3, 3], [3, 3, 3]]
        else:
            pools, convs = [[2, 2], [2, 2]], [[3, 3], [3, 3], [3, 3]]
        ours = GenericUNet(in_ch, 4, classes, pools, convs, threeD=threeD)
        theirs = build_v1_unet(in_ch, 4, classes, pools, convs, threeD=threeD)
        ours.load_state_dict(theirs.state_dict())
        ours.eval()
        theirs.eval()
        return types.SimpleNamespace(ours=ours, theirs=theirs)

    return make


@pytest.fixture(autouse=True)
def _few_threads():
    """Two cores are shared by several test runs: keep torch to one thread, restore afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
