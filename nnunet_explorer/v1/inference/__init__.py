"""v1 module path (see :mod:`nnunet_explorer.v1`)."""
