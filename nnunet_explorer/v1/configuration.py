"""``nnunet.configuration``: process count and the anisotropy threshold of separate-z resampling."""
from nnunet_explorer.planning.resampling import RESAMPLING_SEPARATE_Z_ANISO_THRESHOLD
from nnunet_explorer.process_counts import default_num_threads as _default_num_threads

# as in v1, read once when this module is imported
default_num_threads: int = _default_num_threads()

__all__ = ["RESAMPLING_SEPARATE_Z_ANISO_THRESHOLD", "default_num_threads"]
