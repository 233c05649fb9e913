"""v1's ``nnUNetTrainerV2CascadeFullRes``: the cascade's second stage, fed the ``3d_lowres`` segmentation.

For tasks whose images are much larger than the patch, v1 plans two 3D stages: ``3d_lowres`` trains on
downsampled images (stage 0) and sees a large part of each image; ``3d_cascade_fullres`` then trains at full
resolution (stage 1) with the low-resolution prediction as extra input, one-hot encoded: the input has
``num_modalities + num_classes - 1`` channels. That prediction comes from
``RESULTS_FOLDER/nnUNet/3d_lowres/<Task>/<previous_trainer>__<plans>/pred_next_stage/CASE_segFromPrevStage.npz``,
written at the end of each ``3d_lowres`` fold for that fold's *validation* cases, so every case's
low-resolution segmentation was made by a network that never trained on it — which is why all five
``3d_lowres`` folds must be trained before any cascade fold.

Augmentation gains three steps (:mod:`nnunet_explorer.training.cascade_augmentation`): the previous-stage
segmentation moves from the seg channels into the data as one-hot channels, is randomly dilated/eroded/
closed/opened (p 0.4 per sample) and has random connected components removed (p 0.2; a no-op in v1 because of
swapped arguments), so the network learns not to trust it blindly.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError, DatasetError
from ..language import tr
from ..provenance import mirrors
from .nnUNetTrainerV2 import nnUNetTrainerV2


@mirrors("nnunet.training.network_training.nnUNetTrainerV2_CascadeFullRes:nnUNetTrainerV2CascadeFullRes")
class nnUNetTrainerV2CascadeFullRes(nnUNetTrainerV2):
    """V2 at full resolution with the ``3d_lowres`` segmentation as input (3D only).

    Extra constructor argument ``previous_trainer`` (the 3d_lowres trainer's name), stored in ``init_args``
    before ``fp16``, as v1 does.
    """

    def __init__(self, plans_file: Any, fold: Any, output_folder: Any = None, dataset_directory: Any = None,
                 batch_dice: bool = True, stage: int | None = None, unpack_data: bool = True,
                 deterministic: bool = True, previous_trainer: str = "nnUNetTrainerV2", fp16: bool = False) -> None:
        super().__init__(plans_file, fold, output_folder, dataset_directory, batch_dice, stage, unpack_data,
                         deterministic, fp16)
        self.init_args = (self.plans_file, fold, self.output_folder_base, self.dataset_directory, batch_dice, stage,
                          unpack_data, deterministic, previous_trainer, fp16)
        self.previous_trainer = previous_trainer
        if self.output_folder is not None:
            # v1 reads the task and the plans identifier off its own folder
            # (.../nnUNet/3d_cascade_fullres/<Task>/<Trainer>__<plans>/fold_k) and looks next door, under 3d_lowres
            # differs from v1: relative to this folder, not to RESULTS_FOLDER read at import time (the same
            # folder whenever the run lives under RESULTS_FOLDER)
            base = Path(self.output_folder_base)
            plans_identifier = base.name.split("__")[-1]
            self.folder_with_segs_from_prev_stage = str(base.parent.parent.parent / "3d_lowres" / base.parent.name /
                                                        f"{previous_trainer}__{plans_identifier}" / "pred_next_stage")
        else:
            self.folder_with_segs_from_prev_stage = None

    @mirrors("nnunet.training.network_training.nnUNetTrainerV2_CascadeFullRes:nnUNetTrainerV2CascadeFullRes.do_split")
    def do_split(self) -> None:
        """V2's split; every case must have its ``CASE_segFromPrevStage.npz`` (v1 asserts it)."""
        from ..training.dataloading import attach_prev_stage

        super().do_split()
        attach_prev_stage(self.dataset, self.folder_with_segs_from_prev_stage)  # raises naming the missing case
        for subset in (self.dataset_val, self.dataset_tr):
            attach_prev_stage(subset, self.folder_with_segs_from_prev_stage, require=False)

    @mirrors("nnunet.training.network_training.nnUNetTrainerV2_CascadeFullRes:nnUNetTrainerV2CascadeFullRes.get_basic_generators")
    def get_basic_generators(self) -> tuple[Any, Any]:
        """V2's loaders, each sample carrying the previous stage's segmentation as ``seg[:, 1]``."""
        self.load_dataset()
        self.do_split()
        return self._loaders(has_prev_stage=True)

    @mirrors("nnunet.training.network_training.nnUNetTrainerV2_CascadeFullRes:nnUNetTrainerV2CascadeFullRes.process_plans")
    def process_plans(self, plans: dict) -> None:
        """V2's values plus one input channel per foreground class for the previous stage's segmentation."""
        super().process_plans(plans)
        self.num_input_channels += self.num_classes - 1

    @mirrors("nnunet.training.network_training.nnUNetTrainerV2_CascadeFullRes:nnUNetTrainerV2CascadeFullRes.setup_DA_params")
    def setup_DA_params(self) -> None:
        """V2's parameters plus the cascade's: seg channels ``[0, 1]``, moved into the data one-hot and perturbed."""
        from ..training.cascade_augmentation import cascade_da_params

        super().setup_DA_params()
        self.data_aug_params["num_cached_per_thread"] = 2
        self.data_aug_params.update(cascade_da_params(self.num_classes))

    @mirrors("nnunet.training.network_training.nnUNetTrainerV2_CascadeFullRes:nnUNetTrainerV2CascadeFullRes.initialize")
    def initialize(self, training: bool = True, force_load_plans: bool = False) -> None:
        """V2's ``initialize`` after checking that the ``3d_lowres`` predictions exist (v1's message + the folder)."""
        if training and not self.was_initialized and (self.folder_with_segs_from_prev_stage is None
                                                      or not os.path.isdir(self.folder_with_segs_from_prev_stage)):
            folder = self.folder_with_segs_from_prev_stage
            raise ConfigurationError(
                tr(f"Cannot run final stage of cascade: {folder} does not exist. Run "
                   "corresponding 3d_lowres first and predict the segmentations for the next stage",
                   f"无法运行级联的最后一个 stage：{folder} 不存在。请先运行对应的 3d_lowres，"
                   "并为下一个 stage 预测分割(v1 的报错:Cannot run final stage of cascade)"),
                fix=tr(f"train all 5 folds of `train 3d_lowres {self.previous_trainer} TASK FOLD` (each fold writes "
                       "pred_next_stage/ for its validation cases), then train the cascade",
                       f"先训练 `train 3d_lowres {self.previous_trainer} TASK FOLD` 的全部 5 个 fold"
                       "（每个 fold 都会为它的验证病例写出 pred_next_stage/），再训练级联"))
        super().initialize(training, force_load_plans)

    def _validation_prior_folder(self) -> Any:
        """Validation appends the one-hot previous-stage segmentation to every case's input (v1's ``validate``)."""
        folder = self.folder_with_segs_from_prev_stage
        if folder is None or not os.path.isdir(folder):
            raise DatasetError(tr(f"the 3d_lowres predictions {folder} do not exist",
                                  f"3d_lowres 的预测结果 {folder} 不存在"),
                               fix=tr("train all 5 3d_lowres folds", "请训练 3d_lowres 的全部 5 个 fold"))
        return folder


def has_prev_stage(trainer_or_class: Any) -> bool:
    """Whether a trainer (class) is a cascade full-resolution stage."""
    cls = trainer_or_class if isinstance(trainer_or_class, type) else type(trainer_or_class)
    return issubclass(cls, nnUNetTrainerV2CascadeFullRes)


__all__ = ["has_prev_stage", "nnUNetTrainerV2CascadeFullRes"]
