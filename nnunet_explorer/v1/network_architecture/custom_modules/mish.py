"""``nnunet.network_architecture.custom_modules.mish``: the Mish nonlinearity."""
from nnunet_explorer.training.network_modules import Mish

__all__ = ["Mish"]
