"""v1's ``nnUNetTrainerV2``: what ``nnUNet_train 3d_fullres nnUNetTrainerV2 TASK FOLD`` runs.

Compared with ``nnUNetTrainer``: SGD (lr 1e-2, Nesterov momentum 0.99) with the poly learning-rate rule set by
hand every epoch; gradients clipped to norm 12; deep supervision (a loss on every decoder output but the
lowest-resolution one: weights ``1/2**i`` normalised, the lowest weighted 0 and skipped); the "moreDA"
augmentation (±30° rotations about each axis in 3D, in-plane ±180° with dummy 2D and for 2D networks, ±15° for
elongated 2D patches; scale (0.7, 1.4); no elastic deformation); no early stopping (1000 epochs); and at epoch 100
a Dice of exactly 0 lowers the momentum to 0.95 and re-initialises the weights.

The hard-coded values (0.99, 12, 0.9) are literals in v1's methods, kept as literals here: to change one,
override the method that holds it, as v1's own ``nnUNet_variants`` do.
"""
from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np
import torch

from ..errors import ConfigurationError
from ..language import tr
from ..provenance import mirrors
from .nnUNetTrainer import nnUNetTrainer


@mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2")
class nnUNetTrainerV2(nnUNetTrainer):
    """nnU-Net's default trainer (same constructor as :class:`~.nnUNetTrainer.nnUNetTrainer`)."""

    def __init__(self, plans_file: Any, fold: Any, output_folder: Any = None, dataset_directory: Any = None,
                 batch_dice: bool = True, stage: int | None = None, unpack_data: bool = True,
                 deterministic: bool = True, fp16: bool = False) -> None:
        super().__init__(plans_file, fold, output_folder, dataset_directory, batch_dice, stage, unpack_data,
                         deterministic, fp16)
        self.max_num_epochs = 1000
        self.initial_lr = 1e-2
        self.deep_supervision_scales: Any = None
        self.ds_loss_weights: Any = None
        self.pin_memory = True

    @mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.initialize")
    def initialize(self, training: bool = True, force_load_plans: bool = False) -> None:
        """v1's order: plans, augmentation parameters, the deep-supervision loss, loaders + unpacking +
        moreDA augmentation (training only), network, optimizer. Runs once (``was_initialized``)."""
        from ..training.augmentation_variants import get_moreDA_augmentation
        from ..training.dataloading import unpack_dataset
        from ..training.loss import MultipleOutputLoss2
        from ..training.segmentation_network import check_segmentation_network

        if self.was_initialized:
            self.print_to_log_file("self.was_initialized is True, not running self.initialize again")
            return
        os.makedirs(self.output_folder, exist_ok=True)
        if force_load_plans or self.plans is None:
            self.load_plans_file()
        self.process_plans(self.plans)
        self.setup_DA_params()
        # deep supervision: one weight per output, halving with the resolution; the lowest output gets 0
        net_numpool = len(self.net_num_pool_op_kernel_sizes)
        weights = np.array([1 / (2 ** i) for i in range(net_numpool)])
        mask = np.array([True] + [i < net_numpool - 1 for i in range(1, net_numpool)])
        weights[~mask] = 0
        self.ds_loss_weights = weights / weights.sum()
        self.loss = MultipleOutputLoss2(self.loss, self.ds_loss_weights)
        self.folder_with_preprocessed_data = os.path.join(self.dataset_directory,
                                                          self.plans["data_identifier"] + "_stage%d" % self.stage)
        if training:
            # differs from v1: under DDP rank 0 alone writes splits_final.pkl and builds its loaders first, the
            # others wait, then read; v1's DDP trainer runs do_split on every rank (each may write the file), and
            # only its unpacking is rank 0's, behind a barrier
            with self.strategy.rank_zero_first():
                self.dl_tr, self.dl_val = self.get_basic_generators()
                if self.unpack_data:
                    print("unpacking dataset")
                    unpack_dataset(self.folder_with_preprocessed_data)
                    print("done")
                else:
                    print("INFO: Not unpacking data! Training may be slow due to that. Pray you are not using 2d or "
                          "you will wait all winter for your model to finish!")
            seeds_train, seeds_val = self.strategy.augmentation_seeds(self.data_aug_params.get("num_threads"))
            self.tr_gen, self.val_gen = get_moreDA_augmentation(
                self.dl_tr, self.dl_val, self.data_aug_params["patch_size_for_spatialtransform"],
                self.data_aug_params, deep_supervision_scales=self.deep_supervision_scales,
                pin_memory=self.pin_memory, use_nondetMultiThreadedAugmenter=False, seeds_train=seeds_train,
                seeds_val=seeds_val)
            self.print_to_log_file("TRAINING KEYS:\n %s" % (str(self.dataset_tr.keys())), also_print_to_console=False)
            self.print_to_log_file("VALIDATION KEYS:\n %s" % (str(self.dataset_val.keys())),
                                   also_print_to_console=False)
        self.initialize_network()
        self.initialize_optimizer_and_scheduler()
        check_segmentation_network(self.network, type(self).__name__)  # v1: assert isinstance(self.network, ...)
        self.was_initialized = True

    @mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.initialize_network")
    def initialize_network(self) -> None:
        """Generic_UNet with deep supervision: InstanceNorm, LeakyReLU(1e-2), He init, ``softmax_helper``."""
        self._build_generic_unet(deep_supervision=True)

    @mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.initialize_optimizer_and_scheduler")
    def initialize_optimizer_and_scheduler(self) -> None:
        """SGD(lr=initial_lr, weight_decay, momentum=0.99, nesterov=True); no scheduler (poly LR by hand)."""
        if self.network is None:
            raise ConfigurationError(tr("self.initialize_network must be called first",
                                        "必须先调用 self.initialize_network"
                                        "(v1 的报错:self.initialize_network must be called first)"),
                                     fix=tr("call initialize_network() before initialize_optimizer_and_scheduler()",
                                            "请在 initialize_optimizer_and_scheduler() 之前调用 initialize_network()"))
        self.optimizer = torch.optim.SGD(self.network.parameters(), self.initial_lr, weight_decay=self.weight_decay,
                                         momentum=0.99, nesterov=True)
        self.lr_scheduler = None

    @mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.run_online_evaluation")
    def run_online_evaluation(self, output: Sequence[torch.Tensor], target: Sequence[torch.Tensor]) -> Any:
        """Deep supervision: only the full-resolution output and target are evaluated."""
        return super().run_online_evaluation(output[0], target[0])

    @mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.validate")
    def validate(self, do_mirroring: bool = True, use_sliding_window: bool = True, step_size: float = 0.5,
                 save_softmax: bool = True, use_gaussian: bool = True, overwrite: bool = True,
                 validation_folder_name: str = "validation_raw", debug: bool = False, all_in_gpu: bool = False,
                 segmentation_export_kwargs: dict | None = None, run_postprocessing_on_folds: bool = True) -> Any:
        """``nnUNetTrainer.validate`` with deep supervision switched off for the prediction."""
        ds = self.network.do_ds
        self.network.do_ds = False
        try:
            return super().validate(do_mirroring=do_mirroring, use_sliding_window=use_sliding_window,
                                    step_size=step_size, save_softmax=save_softmax, use_gaussian=use_gaussian,
                                    overwrite=overwrite, validation_folder_name=validation_folder_name, debug=debug,
                                    all_in_gpu=all_in_gpu, segmentation_export_kwargs=segmentation_export_kwargs,
                                    run_postprocessing_on_folds=run_postprocessing_on_folds)
        finally:
            self.network.do_ds = ds

    @mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.predict_preprocessed_data_return_seg_and_softmax")
    def predict_preprocessed_data_return_seg_and_softmax(
            self, data: np.ndarray, do_mirroring: bool = True, mirror_axes: Sequence[int] | None = None,
            use_sliding_window: bool = True, step_size: float = 0.5, use_gaussian: bool = True,
            pad_border_mode: str = "constant", pad_kwargs: dict | None = None, all_in_gpu: bool = False,
            verbose: bool = True, mixed_precision: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """The base prediction with deep supervision switched off."""
        ds = self.network.do_ds
        self.network.do_ds = False
        try:
            return super().predict_preprocessed_data_return_seg_and_softmax(
                data, do_mirroring=do_mirroring, mirror_axes=mirror_axes, use_sliding_window=use_sliding_window,
                step_size=step_size, use_gaussian=use_gaussian, pad_border_mode=pad_border_mode,
                pad_kwargs=pad_kwargs, all_in_gpu=all_in_gpu, verbose=verbose, mixed_precision=mixed_precision)
        finally:
            self.network.do_ds = ds

    @mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.run_iteration")
    def run_iteration(self, data_generator: Any, do_backprop: bool = True, run_online_evaluation: bool = False) -> Any:
        """One batch: to the device, zero_grad, forward + deep-supervision loss (autocast under fp16), backward
        (through the GradScaler, unscaled before clipping), ``clip_grad_norm_(parameters, 12)``, step; online
        evaluation on the full-resolution output when asked. Returns the loss as a numpy float32 (v1: a 0-d array)."""
        return self._iteration(data_generator, do_backprop, run_online_evaluation, clip_norm=12)

    @mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.do_split")
    def do_split(self) -> None:
        """The fold's keys from ``splits_final.pkl`` (created on first use: 5 folds, KFold seed 12345);
        fold ``'all'`` trains and validates on every case; a fold beyond the file's gets a random 80:20 split."""
        from ..fileio import write_pickle
        from ..training.splits import load_splits, make_splits, random_80_20_split

        self.explorer.random_split = None
        if self.fold == "all":
            tr_keys = val_keys = list(self.dataset.keys())
        else:
            splits_file = os.path.join(self.dataset_directory, "splits_final.pkl")
            if not os.path.isfile(splits_file):
                self.print_to_log_file("Creating new 5-fold cross-validation split...")
                splits = make_splits(self.dataset.keys())
                write_pickle(splits, splits_file)
            else:
                self.print_to_log_file("Using splits from existing split file:", splits_file)
                splits = load_splits(splits_file)
                self.print_to_log_file("The split file contains %d splits." % len(splits))
            self.print_to_log_file("Desired fold for training: %d" % self.fold)
            if self.fold < len(splits):
                tr_keys, val_keys = list(splits[self.fold]["train"]), list(splits[self.fold]["val"])
                self.print_to_log_file("This split has %d training and %d validation cases."
                                       % (len(tr_keys), len(val_keys)))
            else:
                self.print_to_log_file("INFO: You requested fold %d for training but splits contain only %d folds. I "
                                       "am now creating a random (but seeded) 80:20 split!" % (self.fold, len(splits)))
                tr_keys, val_keys = random_80_20_split(self.dataset.keys(), self.fold)
                # differs from v1: the trainer records the random split (v1 only logs it) for the walkthrough
                self.explorer.random_split = (self.fold, len(splits), tuple(sorted(val_keys)))
                self.print_to_log_file("This random 80:20 split has %d training and %d validation cases."
                                       % (len(tr_keys), len(val_keys)))
        self._set_split(tr_keys, val_keys)

    @mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.setup_DA_params")
    def setup_DA_params(self) -> None:
        """±30° rotations about each axis in 3D (in-plane ±180° with dummy 2D for anisotropic data and for 2D
        networks, ±15° for 2D patches whose longest side exceeds 1.5 times the shortest), scale (0.7, 1.4) but the
        loader's patch sized with (0.85, 1.25), no elastic deformation, 2 cached batches per worker, and
        ``self.deep_supervision_scales``."""
        self._apply_augmentation_setup(v2=True)

    @mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.maybe_update_lr")
    def maybe_update_lr(self, epoch: int | None = None) -> None:
        """``lr = initial_lr * (1 - ep / max_num_epochs) ** 0.9`` with ``ep = epoch`` or ``self.epoch + 1``.

        ``on_epoch_end`` calls it before ``self.epoch`` is incremented, hence the ``+ 1``: it sets the rate the
        *next* epoch trains with; ``run_training`` calls it with the start epoch first.
        """
        from ..training.lr_schedule import poly_lr

        ep = self.epoch + 1 if epoch is None else epoch
        self.optimizer.param_groups[0]["lr"] = poly_lr(ep, self.max_num_epochs, self.initial_lr, 0.9)
        self.print_to_log_file("lr:", np.round(self.optimizer.param_groups[0]["lr"], decimals=6))

    @mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.on_epoch_end")
    def on_epoch_end(self) -> bool:
        """The base bookkeeping, then: always continue until ``max_num_epochs`` (no early stopping); at epoch
        100 a Dice estimate of exactly 0 lowers momentum to 0.95 and re-initialises the weights."""
        from ..training.generic_unet import InitWeights_He

        super().on_epoch_end()
        continue_training = self.epoch < self.max_num_epochs
        if self.epoch == 100 and self.all_val_eval_metrics[-1] == 0:
            self.optimizer.param_groups[0]["momentum"] = 0.95
            self.network.apply(InitWeights_He(1e-2))
            # differs from v1: under DDP v1 re-initialises each rank with its own RNG; rank 0's weights are sent
            self.strategy.broadcast_module(self.network)
            self.print_to_log_file("At epoch 100, the mean foreground Dice was 0. This can be caused by a too high "
                                   "momentum. High momentum (0.99) is good for datasets where it works, but "
                                   "sometimes causes issues such as this one. Momentum has now been reduced to 0.95 "
                                   "and network weights have been reinitialized")
        return continue_training

    @mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.run_training")
    def run_training(self) -> None:
        """Set the start epoch's LR (matters after ``-c``), switch deep supervision on, train, restore ``do_ds``."""
        self.maybe_update_lr(self.epoch)
        ds = self.network.do_ds
        self.network.do_ds = True
        try:
            super().run_training()
        finally:
            self.network.do_ds = ds


__all__ = ["nnUNetTrainerV2"]
