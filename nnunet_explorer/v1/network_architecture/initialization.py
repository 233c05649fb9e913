"""``nnunet.network_architecture.initialization``: He initialization."""
from nnunet_explorer.training.generic_unet import InitWeights_He

__all__ = ["InitWeights_He"]
