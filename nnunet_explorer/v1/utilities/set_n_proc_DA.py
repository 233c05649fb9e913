"""``nnunet.utilities.set_n_proc_DA``: augmentation workers per training process (``nnUNet_n_proc_DA``)."""
from nnunet_explorer.process_counts import get_allowed_n_proc_DA

__all__ = ["get_allowed_n_proc_DA"]
