"""``nnunet.training.data_augmentation.default_data_augmentation``: the default parameter dicts and more.

v1 keeps ``default_3D_augmentation_params`` / ``default_2D_augmentation_params`` as module dicts that the
``setup_DA_params`` of nnUNetTrainer, V2 and most variants (not the DA5 ones) assigns to ``self.data_aug_params``
and then edits *in place*.
"""
from __future__ import annotations

import copy
from typing import Any

from nnunet_explorer.training.augmentation_variants import get_default_augmentation
from nnunet_explorer.training.data_augmentation_params import (AugmentationSetup, add_new_trainer_listener,
                                                               add_setup_listener,
                                                               default_2D_augmentation_params as _fresh_2d,
                                                               default_3D_augmentation_params as _fresh_3d,
                                                               get_patch_size)

# differs from v1: v1's module dicts are shared and mutable across trainers; here the explorer's trainers build
# their own dicts, and these are copies made at import, for v1 trainer files that read or assign them.
default_3D_augmentation_params: dict[str, Any] = _fresh_3d()
default_2D_augmentation_params: dict[str, Any] = _fresh_2d()
_AT_IMPORT = (copy.deepcopy(default_3D_augmentation_params), copy.deepcopy(default_2D_augmentation_params))


def _as_v1_after(setup: AugmentationSetup) -> None:
    """Give the two dicts the contents v1's would have right after this ``setup_DA_params`` (in a fresh process).

    Why: a v1 variant may read the module dict *after* ``super().setup_DA_params()`` and rely on what its own
    trainer just wrote there. ``nnUNetTrainerV2_DA3`` (and ``_DA3_BN``, ``ResencUNet_DA3``, ``ResencUNet_DA3_BN``,
    which inherit its ``setup_DA_params``) calls V2's ``setup_DA_params``, then does
    ``self.data_aug_params = default_3D_augmentation_params`` and sizes ``basic_generator_patch_size`` with
    its ``scale_range`` - in v1 already widened to (0.7, 1.4) by V2, so the loaded patch is larger than with
    the untouched (0.85, 1.25). Untouched import-time copies would give DA3 a different loader patch.

    So after every ``setup_DA_params`` of the explorer (which does not touch these dicts), both are reset to
    their import-time contents and the one v1's trainer would have used (3D or 2D by the patch) takes that
    setup's parameters - exactly v1's state after ``nnUNetTrainer(V2).setup_DA_params`` in a fresh process.
    What is not reproduced: v1's ``self.data_aug_params`` *is* this dict, the explorer's trainer keeps its own
    copy (no v1 variant writes the module dict after ``super()`` expecting the trainer to see it); the cascade
    trainer's own keys, which v1 adds to the module dict after ``super()``, are not added (no variant reads
    them back). A variant that reads the dicts without calling ``super().setup_DA_params()`` (insaneDA,
    noDeepSupervision) sees them untouched: every new trainer puts them back first (:func:`_restore_import_copies`
    is also a new-trainer listener), as in v1's one trainer per process.
    """
    _restore_import_copies()
    used = default_3D_augmentation_params if len(setup.patch_size) == 3 else default_2D_augmentation_params
    used.update(copy.deepcopy(dict(setup.data_aug_params)))


def _restore_import_copies() -> None:
    """Both dicts back to their contents at import (v1's state in a fresh process before any trainer ran)."""
    for live, saved in zip((default_3D_augmentation_params, default_2D_augmentation_params), _AT_IMPORT):
        live.clear()
        live.update(copy.deepcopy(saved))


add_setup_listener(_as_v1_after)
# differs from v1: in one v1 process a second trainer sees the dicts as the first left them (plain V2 run twice in
# one process trains differently the second time); here every trainer starts from them as in a fresh process.
add_new_trainer_listener(_restore_import_copies)

__all__ = ["default_2D_augmentation_params", "default_3D_augmentation_params", "get_default_augmentation",
           "get_patch_size"]
