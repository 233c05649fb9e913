"""nnU-Net v1 1.7.1's module paths, so that a v1 trainer file ports by one rule.

Replace ``from nnunet.`` with ``from nnunet_explorer.v1.`` (and ``import nnunet.`` likewise) in a file such as
v1's ``nnunet/training/network_training/nnUNet_variants/.../nnUNetTrainerV2_ReLU.py`` and it runs on the
explorer. Every module here is a thin set of names over the explorer's own implementation (nnU-Net itself is
not needed); a v1 argument the explorer does not implement is refused with an error that names it.

Mirrored modules::

    network_architecture.{generic_UNet, initialization, neural_network, generic_modular_UNet,
                          generic_modular_residual_UNet}
    network_architecture.custom_modules.{helperModules, conv_blocks, mish, feature_response_normalization}
    training.optimizer.ranger
    training.network_training.{network_trainer, nnUNetTrainer, nnUNetTrainerV2, nnUNetTrainerV2_CascadeFullRes}
    training.network_training.nnUNetTrainerV2_DDP
    training.loss_functions.{dice_loss, deep_supervision, crossentropy, TopK_loss, focal_loss}
    training.data_augmentation.{default_data_augmentation, data_augmentation_moreDA, data_augmentation_insaneDA,
                                data_augmentation_insaneDA2, data_augmentation_noDA, custom_transforms,
                                downsampling, pyramid_augmentations}
    training.dataloading.dataset_loading, training.learning_rate.poly_lr
    inference.segmentation_export, evaluation.region_based_evaluation, configuration
    utilities.{nd_softmax, to_torch, tensor_utilities, set_n_proc_DA}
"""
from __future__ import annotations

import re

_RULE = re.compile(r"^(\s*)(from|import)(\s+)nnunet\.", re.MULTILINE)


def port_v1_source(source: str) -> str:
    """A v1 trainer file's text with its ``nnunet.`` imports pointed at ``nnunet_explorer.v1.`` (nothing else)."""
    return _RULE.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}nnunet_explorer.v1.", source)


__all__ = ["port_v1_source"]
