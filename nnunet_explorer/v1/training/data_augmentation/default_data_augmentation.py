"""``nnunet.training.data_augmentation.default_data_augmentation``: the default parameter dicts."""
from nnunet_explorer.training.data_augmentation_params import (default_2D_augmentation_params,
                                                               default_3D_augmentation_params, get_patch_size)

# v1 exposes the dicts as module constants; the explorer builds a fresh copy (so one trainer cannot change
# another's): these are such copies, made at import.
# differs from v1: v1's module dicts are shared and mutable across trainers; here each import gets its own
default_3D_augmentation_params = default_3D_augmentation_params()
default_2D_augmentation_params = default_2D_augmentation_params()

__all__ = ["default_2D_augmentation_params", "default_3D_augmentation_params", "get_patch_size"]
