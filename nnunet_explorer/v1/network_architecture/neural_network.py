"""``nnunet.network_architecture.neural_network``: the network base class (here: the explorer's U-Net)."""
from nnunet_explorer.training.generic_unet import GenericUNet as SegmentationNetwork

__all__ = ["SegmentationNetwork"]
