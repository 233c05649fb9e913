"""``nnunet.network_architecture.generic_modular_residual_UNet``: ``FabiansUNet`` (the ResencUNet variants)."""
from nnunet_explorer.training.generic_unet import Upsample
from nnunet_explorer.training.residual_unet import (BasicResidualBlock, FabiansUNet, PlainConvUNetDecoder,
                                                    ResidualLayer, ResidualUNetEncoder, get_default_network_config)
from nnunet_explorer.training.segmentation_network import SegmentationNetwork

__all__ = ["BasicResidualBlock", "FabiansUNet", "PlainConvUNetDecoder", "ResidualLayer", "ResidualUNetEncoder",
           "SegmentationNetwork", "Upsample", "get_default_network_config"]
