"""``nnunet.training.dataloading.dataset_loading``."""
from nnunet_explorer.training.dataloading import (DataLoader2D, DataLoader3D, get_case_identifiers, load_dataset,
                                                  unpack_dataset)

__all__ = ["DataLoader2D", "DataLoader3D", "get_case_identifiers", "load_dataset", "unpack_dataset"]
