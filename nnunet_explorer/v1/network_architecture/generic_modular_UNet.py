"""``nnunet.network_architecture.generic_modular_UNet``: the props dict and the plain decoder."""
from nnunet_explorer.training.residual_unet import PlainConvUNetDecoder, get_default_network_config

__all__ = ["PlainConvUNetDecoder", "get_default_network_config"]
