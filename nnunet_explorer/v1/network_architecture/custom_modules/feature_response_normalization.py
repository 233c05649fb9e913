"""``nnunet.network_architecture.custom_modules.feature_response_normalization``: ``FRN3D``."""
from nnunet_explorer.training.network_modules import FRN3D

__all__ = ["FRN3D"]
