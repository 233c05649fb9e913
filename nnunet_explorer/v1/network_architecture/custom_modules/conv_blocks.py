"""``nnunet.network_architecture.custom_modules.conv_blocks``: the residual and plain blocks of the modular nets."""
from nnunet_explorer.training.residual_unet import (BasicResidualBlock, ConvDropoutNormReLU, ResidualLayer,
                                                    StackedConvLayers)

__all__ = ["BasicResidualBlock", "ConvDropoutNormReLU", "ResidualLayer", "StackedConvLayers"]
