"""``nnunet.training.network_training.nnUNetTrainerV2`` (v1's module also re-exports batchgenerators' file helpers)."""
from batchgenerators.utilities.file_and_folder_operations import (isdir, isfile, join, load_json, load_pickle,
                                                                  maybe_mkdir_p, save_json, save_pickle, subfiles)

from nnunet_explorer.network_training.nnUNetTrainerV2 import nnUNetTrainerV2

__all__ = ["isdir", "isfile", "join", "load_json", "load_pickle", "maybe_mkdir_p", "nnUNetTrainerV2", "save_json",
           "save_pickle", "subfiles"]
