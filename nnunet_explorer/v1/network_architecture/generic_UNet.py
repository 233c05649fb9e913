"""``nnunet.network_architecture.generic_UNet``: ``Generic_UNet`` and its units, under v1's module path.

The classes are the explorer's own (``nnunet_explorer.training.generic_unet``), which already carry v1's
names and take v1's arguments in v1's order, so a variant trainer that writes ``from
nnunet.network_architecture.generic_UNet import Generic_UNet`` builds the same network as the explorer's
trainers, and ``print(network)`` reads as it does in v1.
"""
from __future__ import annotations

from nnunet_explorer.training.generic_unet import (ConvDropoutNonlinNorm, ConvDropoutNormNonlin, Generic_UNet,
                                                   StackedConvLayers, Upsample)

__all__ = ["ConvDropoutNonlinNorm", "ConvDropoutNormNonlin", "Generic_UNet", "StackedConvLayers", "Upsample"]
