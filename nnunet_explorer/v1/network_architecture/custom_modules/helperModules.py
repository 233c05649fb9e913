"""``nnunet.network_architecture.custom_modules.helperModules``: ``Identity`` and ``MyGroupNorm``."""
from nnunet_explorer.training.network_modules import Identity, MyGroupNorm

__all__ = ["Identity", "MyGroupNorm"]
