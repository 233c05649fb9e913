"""nnU-Net v1's ``nnUNetTrainerV2`` with a short schedule, for comparing v1 with the explorer on the same data.

The way v1's own ``nnUNet_variants`` set hyperparameters: a subclass that changes attributes after
``nnUNetTrainerV2.__init__`` and nothing else. The schedule comes from the environment (v1's ``run_training``
has no flags for it): ``GPU_CHECK_EPOCHS`` (``max_num_epochs``), ``GPU_CHECK_ITERATIONS``
(``num_batches_per_epoch``), ``GPU_CHECK_VAL_ITERATIONS`` (``num_val_batches_per_epoch``).
"""
import os

from nnunet.training.network_training.nnUNetTrainerV2 import nnUNetTrainerV2


class nnUNetTrainerV2_gpuCheck(nnUNetTrainerV2):
    def __init__(self, plans_file, fold, output_folder=None, dataset_directory=None, batch_dice=True, stage=None,
                 unpack_data=True, deterministic=True, fp16=False):
        super().__init__(plans_file, fold, output_folder, dataset_directory, batch_dice, stage, unpack_data,
                         deterministic, fp16)
        self.max_num_epochs = int(os.environ.get("GPU_CHECK_EPOCHS", self.max_num_epochs))
        self.num_batches_per_epoch = int(os.environ.get("GPU_CHECK_ITERATIONS", self.num_batches_per_epoch))
        self.num_val_batches_per_epoch = int(os.environ.get("GPU_CHECK_VAL_ITERATIONS",
                                                            self.num_val_batches_per_epoch))
