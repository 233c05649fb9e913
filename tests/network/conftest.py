"""Fixtures for the network / loss / iteration tests.

The real nnU-Net v1 network, loss and LR modules are imported in-process: unlike the trainers they do not
import ``nnunet.paths`` (which reads the folder variables at import time). Anything that needs a v1 trainer
module runs in a subprocess (see ``test_iteration.py``).
"""
from __future__ import annotations

import types

import pytest
import torch


@pytest.fixture(scope="session")
def v1() -> types.SimpleNamespace:
    """The v1 objects the parity tests compare against."""
    pytest.importorskip("nnunet", reason="parity tests need nnunet==1.7.1")
    from nnunet.network_architecture.generic_UNet import Generic_UNet
    from nnunet.network_architecture.initialization import InitWeights_He
    from nnunet.training.data_augmentation.downsampling import downsample_seg_for_ds_transform2
    from nnunet.training.learning_rate.poly_lr import poly_lr
    from nnunet.training.loss_functions.deep_supervision import MultipleOutputLoss2
    from nnunet.training.loss_functions.dice_loss import DC_and_CE_loss, SoftDiceLoss
    from nnunet.utilities.nd_softmax import softmax_helper

    def build(num_input_channels, base_num_features, num_classes, pools, convs, conv_per_stage=2, threeD=True):
        """Generic_UNet exactly as nnUNetTrainerV2.initialize_network builds it (without .cuda())."""
        nn = torch.nn
        conv_op, dropout_op, norm_op = ((nn.Conv3d, nn.Dropout3d, nn.InstanceNorm3d) if threeD
                                        else (nn.Conv2d, nn.Dropout2d, nn.InstanceNorm2d))
        net = Generic_UNet(num_input_channels, base_num_features, num_classes, len(pools), conv_per_stage, 2,
                           conv_op, norm_op, {'eps': 1e-5, 'affine': True}, dropout_op, {'p': 0, 'inplace': True},
                           nn.LeakyReLU, {'negative_slope': 1e-2, 'inplace': True}, True, False, lambda x: x,
                           InitWeights_He(1e-2), pools, convs, False, True, True)
        net.inference_apply_nonlin = softmax_helper
        return net

    return types.SimpleNamespace(Generic_UNet=Generic_UNet, build=build, poly_lr=poly_lr,
                                 MultipleOutputLoss2=MultipleOutputLoss2, DC_and_CE_loss=DC_and_CE_loss,
                                 SoftDiceLoss=SoftDiceLoss, softmax_helper=softmax_helper,
                                 downsample_seg_for_ds_transform2=downsample_seg_for_ds_transform2)


@pytest.fixture(autouse=True)
def _few_threads():
    """Two cores are shared by several test runs: keep torch to one thread, restore afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
