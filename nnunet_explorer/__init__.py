"""nnunet-explorer: nnU-Net v1's training pipeline, re-implemented as steps you can run and look into.

The core (everything outside :mod:`nnunet_explorer.views`) imports no UI library: no ipywidgets, IPython,
napari, Qt or matplotlib.pyplot, so it runs in a plain script or on a cluster node.
"""
from __future__ import annotations

__version__ = "0.1.0"
NNUNET_V1_VERSION = "1.7.1"

from .errors import ExplorerError  # noqa: E402  (re-exported for `except nnunet_explorer.ExplorerError`)

__all__ = ["ExplorerError", "NNUNET_V1_VERSION", "__version__"]
