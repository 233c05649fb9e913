"""The trainer hierarchy as small classes: hyperparameters, where each was set, and behaviour hooks.

nnU-Net v1 configures a training run through a class hierarchy::

    NetworkTrainer          the loop's bookkeeping: epochs, batches per epoch, moving averages, checkpoints
      nnUNetTrainer         plans -> network inputs, Adam 3e-4 + ReduceLROnPlateau, default augmentation
        nnUNetTrainerV2     the default: SGD 1e-2 Nesterov 0.99, poly LR, deep supervision, "moreDA"

A user changes nnU-Net by subclassing (``class MyTrainer(nnUNetTrainerV2)`` that sets ``max_num_epochs``
or replaces a method) and passing the class *name* to ``nnUNet_train``. This module keeps that shape, with
two changes that make it teachable:

* hyperparameters are **class attributes**, so :func:`attribute_provenance` can say, for every one, which
  class in the MRO set it and what it was at each level (and which ones *your* subclass overrode); values a
  v1-style ``__init__`` assigns on ``self`` are found too;
* constructors do no work (scikit-learn's rule): plans are processed by :meth:`nnUNetTrainer.process_plans`,
  which *returns* a :class:`ProcessedPlans` record instead of setting twenty attributes.

v1 finds a trainer by importing every module under ``nnunet/training/network_training`` until one has an
attribute of that name (``recursive_find_python_class``). Here trainers are registered by name
(:func:`register_trainer`); a user registers a plain class defined in a notebook or a file.
"""
from __future__ import annotations

import difflib
import importlib.util
import inspect
import sys
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import ConfigurationError, PlansError
from ..provenance import mirrors
from .data_augmentation_params import AugmentationSetup, setup_DA_params

# Hyperparameters shown with provenance, in the order a learner meets them.
HYPERPARAMETERS: tuple[str, ...] = (
    "max_num_epochs", "num_batches_per_epoch", "num_val_batches_per_epoch", "initial_lr", "weight_decay",
    "momentum", "nesterov", "optimizer_name", "lr_schedule", "poly_exponent", "lr_scheduler_patience",
    "lr_scheduler_eps", "clip_grad_norm", "deep_supervision", "augmentation", "oversample_foreground_percent",
    "pin_memory", "patience", "val_eval_criterion_alpha", "train_loss_MA_alpha", "train_loss_MA_eps",
    "lr_threshold", "also_val_in_tr_mode", "save_every", "save_latest_only", "save_intermediate_checkpoints",
    "save_best_checkpoint", "save_final_checkpoint", "inference_pad_border_mode", "inference_pad_kwargs",
)

# v1's methods that a subclass may override and that the explorer calls where v1 calls them.
HOOKS: tuple[str, ...] = ("process_plans", "setup_DA_params", "initialize_network",
                          "initialize_optimizer_and_scheduler", "maybe_update_lr", "learning_rate",
                          "print_to_log_file")

# Values v1 assigns on ``self`` in ``NetworkTrainer`` / ``nnUNetTrainer`` / ``nnUNetTrainerV2.__init__``: a class
# attribute of the same name in a subclass is overwritten on every instance (in v1 too), so it is refused.
V1_INIT_ATTRIBUTES: frozenset[str] = frozenset({
    "max_num_epochs", "num_batches_per_epoch", "num_val_batches_per_epoch", "patience", "val_eval_criterion_alpha",
    "train_loss_MA_alpha", "train_loss_MA_eps", "also_val_in_tr_mode", "lr_threshold", "save_every",
    "save_latest_only", "save_intermediate_checkpoints", "save_best_checkpoint", "save_final_checkpoint",
    "initial_lr", "weight_decay", "oversample_foreground_percent", "lr_scheduler_eps", "lr_scheduler_patience",
    "inference_pad_border_mode", "inference_pad_kwargs", "pin_memory"})

# v1 methods the explorer's loop does not call on the trainer (it runs its own code for them). Overriding one
# would be silently ignored, so a subclass that does is refused when it is defined, with what to do instead.
# differs from v1: a trainer may override process_plans, setup_DA_params, initialize_network,
# initialize_optimizer_and_scheduler, maybe_update_lr and assign self.loss / hyperparameters in __init__; overrides of
# initialize, run_training, run_iteration, on_epoch_end, validate and the other methods listed here are refused
# when the class is defined (v1 variants that need them, e.g. noDeepSupervision, DA3, SGD_ReduceOnPlateau,
# noMirroring, cannot be ported yet)
_LOOP_INSTEAD = ("the explorer runs v1's loop itself (training/loop.py) and does not call a trainer's "
                 "{name}; observe it with a TrainingObserver (nnunet_explorer.training.hooks) or change it in "
                 "a fork of the loop")
UNSUPPORTED_OVERRIDES: Mapping[str, str] = {
    "initialize": "override process_plans / setup_DA_params / initialize_network / "
                  "initialize_optimizer_and_scheduler instead (the explorer calls those, in initialize's order)",
    "run_training": _LOOP_INSTEAD, "run_iteration": _LOOP_INSTEAD, "run_online_evaluation": _LOOP_INSTEAD,
    "finish_online_evaluation": _LOOP_INSTEAD, "on_epoch_end": _LOOP_INSTEAD, "maybe_save_checkpoint": _LOOP_INSTEAD,
    "manage_patience": _LOOP_INSTEAD, "update_train_loss_MA": _LOOP_INSTEAD, "update_eval_criterion_MA": _LOOP_INSTEAD,
    "plot_progress": _LOOP_INSTEAD, "save_checkpoint": _LOOP_INSTEAD, "load_checkpoint": _LOOP_INSTEAD,
    "load_checkpoint_ram": _LOOP_INSTEAD, "load_latest_checkpoint": _LOOP_INSTEAD,
    "load_best_checkpoint": _LOOP_INSTEAD, "load_final_checkpoint": _LOOP_INSTEAD,
    "save_debug_information": _LOOP_INSTEAD, "plot_network_architecture": _LOOP_INSTEAD,
    "get_basic_generators": "the explorer builds the loaders itself (walkthrough 'dataloader' step)",
    "do_split": "the explorer splits with v1's rule (training/splits.py); write splits_final.pkl to choose "
                "your own split",
    "load_dataset": "the explorer loads the dataset itself (training/dataloading.py:load_dataset)",
    "validate": "validation runs nnunet_explorer.inference.validation.validate; pass v1's options on the "
                "command line (--npz, --val_folder, ...)",
    "predict_preprocessed_data_return_seg_and_softmax": "inference runs nnunet_explorer.inference (sliding window)",
    "preprocess_predict_nifti": "inference runs nnunet_explorer.inference",
    # the explorer's former hook names, replaced by v1's
    "build_network": "override v1's initialize_network (set self.network)",
    "build_loss": "assign self.loss in __init__ after super().__init__(...) as v1 does",
    "build_optimizer": "override v1's initialize_optimizer_and_scheduler (set self.optimizer and self.lr_scheduler)",
    "ds_loss_weights": "v1 computes self.ds_loss_weights in initialize; it cannot be overridden as a method",
}


def _init_owner(cls: type, code: Any) -> type | None:
    """The class of ``cls``'s MRO whose ``__init__`` runs ``code`` (None when it is no ``__init__``)."""
    for c in cls.__mro__:
        init = c.__dict__.get("__init__")
        if init is not None and getattr(init, "__code__", None) is code:
            return c
    return None


@mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer")
class NetworkTrainer:
    """v1's ``NetworkTrainer``: the generic training loop's settings (nothing nnU-Net specific).

    An epoch is ``num_batches_per_epoch`` training iterations followed by ``num_val_batches_per_epoch``
    validation iterations (not a pass over the data). Training ends after ``max_num_epochs`` epochs or, for
    trainers that honour it (not V2), when the training-loss moving average has not improved by
    ``train_loss_MA_eps`` for ``patience`` epochs while the learning rate is above ``lr_threshold``.
    """

    def __init__(self, deterministic: bool = True, fp16: bool = False) -> None:
        # v1 seeds numpy/torch with 12345 here when deterministic; the explorer seeds in the step that draws
        # random numbers instead, so constructing a trainer stays free of side effects.
        # differs from v1: no global seeding in the constructor (see the walkthrough's seeded steps).
        self.deterministic = deterministic
        self.fp16 = fp16
        # set in initialize (v1's names)
        self.network: Any = None
        self.optimizer: Any = None
        self.lr_scheduler: Any = None
        self.tr_gen: Any = None
        self.val_gen: Any = None
        self.was_initialized = False
        self.log_file: Any = None
        self.loss: Any = None
        self.dataset: Any = None
        self.dataset_tr: Any = None
        self.dataset_val: Any = None
        # the loop's settings
        self.patience = 50
        self.val_eval_criterion_alpha = 0.9
        self.train_loss_MA_alpha = 0.93
        self.train_loss_MA_eps = 5e-4
        self.max_num_epochs = 1000
        self.num_batches_per_epoch = 250
        self.num_val_batches_per_epoch = 50
        self.also_val_in_tr_mode = False
        self.lr_threshold = 1e-6
        # the loop's state (the run mirrors its values here before it calls a v1 method of the trainer)
        self.val_eval_criterion_MA: Any = None
        self.train_loss_MA: Any = None
        self.best_val_eval_criterion_MA: Any = None
        self.best_MA_tr_loss_for_patience: Any = None
        self.best_epoch_based_on_MA_tr_loss: Any = None
        self.all_tr_losses: list = []
        self.all_val_losses: list = []
        self.all_val_losses_tr_mode: list = []
        self.all_val_eval_metrics: list = []
        self.epoch = 0
        self.save_every = 50
        self.save_latest_only = True
        self.save_intermediate_checkpoints = True
        self.save_best_checkpoint = True
        self.save_final_checkpoint = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Refuse, when the class is defined, what the explorer would otherwise silently ignore."""
        super().__init_subclass__(**kwargs)
        if cls.__module__ == __name__:
            return
        for name in sorted(V1_INIT_ATTRIBUTES & set(cls.__dict__)):
            raise ConfigurationError(
                f"{cls.__name__} sets {name} as a class attribute, but v1's trainer __init__ assigns self.{name} "
                "on every instance, which overwrites it (in nnU-Net v1 too: the class attribute does nothing)",
                fix=f"set it as v1's variants do: def __init__(self, *args, **kwargs): super().__init__(*args, "
                    f"**kwargs); self.{name} = ...")
        for name in sorted(set(UNSUPPORTED_OVERRIDES) & set(cls.__dict__)):
            raise ConfigurationError(f"{cls.__name__} overrides v1's {name}, which the explorer does not call on "
                                     "a trainer, so the override would be ignored",
                                     fix=UNSUPPORTED_OVERRIDES[name].format(name=name))

    def __setattr__(self, name: str, value: Any) -> None:
        # remember which class's __init__ assigned a hyperparameter, for attribute_provenance
        if name in HYPERPARAMETERS:
            owner = _init_owner(type(self), sys._getframe(1).f_code)
            if owner is not None:
                history = self.__dict__.setdefault("_attribute_history", {})
                history.setdefault(name, []).append((owner.__name__, value))
        object.__setattr__(self, name, value)

    @mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer.print_to_log_file")
    def print_to_log_file(self, *args: Any, also_print_to_console: bool = True, add_timestamp: bool = True) -> None:
        """Write a line to the training log (the run's ``training_log_*.txt``), as v1's trainers do.

        Outside a training run (e.g. in the walkthrough) there is no log and nothing is written.
        """
        # differs from v1: v1 creates a log file on the first call; the explorer's run opens it (atomically named)
        writer = self.__dict__.get("_log_writer")
        if writer is not None:
            writer(*args, also_print_to_console=also_print_to_console)

    def override(self, source: str, **values: Any) -> None:
        """Set hyperparameters on this instance, remembering who asked (e.g. ``"--disable_saving"``).

        This is how ``nnUNet_train``'s ``--disable_saving`` and the explorer's ``--max_num_epochs`` change a
        trainer after construction; :meth:`provenance` then names ``source`` as the setter.
        """
        unknown = sorted(set(values) - set(HYPERPARAMETERS))
        if unknown:
            raise ConfigurationError(f"{', '.join(unknown)} not a trainer hyperparameter",
                                     fix=f"known hyperparameters: {', '.join(HYPERPARAMETERS)}")
        sources = self.__dict__.setdefault("_attribute_sources", {})
        history = self.__dict__.setdefault("_attribute_history", {})
        for name, value in values.items():
            setattr(self, name, value)
            sources[name] = source
            history.setdefault(name, []).append((source, value))

    # -------------------------------------------------------------------------------------- inspection
    def hyperparameters(self) -> dict[str, Any]:
        """Current value of every hyperparameter this trainer has (instance value wins over class value)."""
        return {name: getattr(self, name) for name in HYPERPARAMETERS if hasattr(self, name)}

    def provenance(self) -> "TrainerAttributes":
        """For every hyperparameter: its value, the class that set it, and the value at each MRO level."""
        return attribute_provenance(self)

    def summary(self) -> str:
        return self.provenance().summary()

    def _repr_html_(self) -> str:
        return self.provenance()._repr_html_()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} trainer>"


@mirrors("nnunet.training.network_training.nnUNetTrainer:nnUNetTrainer")
class nnUNetTrainer(NetworkTrainer):
    """v1's original nnU-Net trainer: turns plans into network inputs; Adam + ReduceLROnPlateau.

    Not the default any more (``nnUNetTrainerV2`` is). Kept because every V2 setting is defined *relative*
    to it, and because its ``process_plans`` is what V2 uses. Note: on current torch the real v1
    ``nnUNetTrainer`` cannot be initialized (its ``ReduceLROnPlateau(verbose=True)`` call raises).
    """

    optimizer_name: str = "Adam(amsgrad=True)"
    lr_schedule: str = "ReduceLROnPlateau(factor=0.2) on the train-loss moving average"
    deep_supervision: bool = False
    augmentation: str = "default (get_default_augmentation)"

    def __init__(self, plans_file: str | Path, fold: int | str, output_folder: str | Path | None = None,
                 dataset_directory: str | Path | None = None, batch_dice: bool = True, stage: int | None = None,
                 unpack_data: bool = True, deterministic: bool = True, fp16: bool = False) -> None:
        super().__init__(deterministic, fp16)
        self.plans_file = Path(plans_file)
        self.fold = fold
        self.output_folder_base = Path(output_folder) if output_folder is not None else None
        self.dataset_directory = Path(dataset_directory) if dataset_directory is not None else None
        self.batch_dice = batch_dice
        self.stage = stage
        self._constructor_stage = stage  # process_plans sets self.stage; init_args keeps what was passed
        self.unpack_data = unpack_data
        self.plans: Any = None
        self.folder_with_preprocessed_data: Any = None
        self.dl_tr: Any = None
        self.dl_val: Any = None
        # v1's attributes that process_plans sets (None until then)
        for name in _PROCESSED_FIELDS:
            if name != "stage":
                object.__setattr__(self, name, None)
        self.data_aug_params: Any = None
        self.basic_generator_patch_size: Any = None
        self.loss = self._default_loss()
        self.online_eval_foreground_dc: list = []
        self.online_eval_tp: list = []
        self.online_eval_fp: list = []
        self.online_eval_fn: list = []
        self.inference_pad_border_mode = "constant"
        self.inference_pad_kwargs = {"constant_values": 0}
        self.oversample_foreground_percent = 0.33
        self.initial_lr = 3e-4
        self.lr_scheduler_eps = 1e-3
        self.lr_scheduler_patience = 30
        self.weight_decay = 3e-5

    def _default_loss(self) -> Any:
        """v1: ``DC_and_CE_loss({'batch_dice': self.batch_dice, 'smooth': 1e-5, 'do_bg': False}, {})``."""
        from .loss import DCAndCELoss

        return DCAndCELoss(bool(self.batch_dice))

    @property
    def init_args(self) -> tuple[Any, ...]:
        """The positional constructor arguments v1 stores in every checkpoint's ``.model.pkl``."""
        return (str(self.plans_file), self.fold, None if self.output_folder_base is None else
                str(self.output_folder_base), None if self.dataset_directory is None else str(self.dataset_directory),
                self.batch_dice, self._constructor_stage, self.unpack_data, self.deterministic, self.fp16)

    @property
    def experiment_name(self) -> str:
        return type(self).__name__

    @property
    @mirrors("nnunet.training.network_training.nnUNetTrainer:nnUNetTrainer.update_fold")
    def output_folder(self) -> Path | None:
        """``<output_folder>/fold_<k>`` (or ``<output_folder>/all``), as v1's ``update_fold`` builds it."""
        if self.output_folder_base is None:
            return None
        return self.output_folder_base / ("all" if self.fold == "all" else f"fold_{self.fold}")

    @property
    def gt_niftis_folder(self) -> Path | None:
        if self.dataset_directory is None or not self.dataset_directory.is_dir():
            return None
        return self.dataset_directory / "gt_segmentations"

    # ------------------------------------------------------------------------------------------ hooks
    def load_plans_file(self) -> dict[str, Any]:
        """Read the plans pickle named by ``plans_file`` (safe unpickler)."""
        from ..planning.plans import load_plans

        return load_plans(self.plans_file)

    @mirrors("nnunet.training.network_training.nnUNetTrainer:nnUNetTrainer.process_plans")
    def process_plans(self, plans: Mapping[str, Any]) -> "ProcessedPlans":
        """Set v1's attributes from the plans (``self.patch_size``, ``self.num_classes``, ...; see
        :func:`process_plans`) and return them as a record.

        A v1-style override calls ``super().process_plans(plans)`` and then changes ``self.<name>``; the explorer
        reads the attributes back (:meth:`processed_plans`), so such changes are honoured.
        """
        record = process_plans(plans, self.stage)
        self.plans = plans
        self.__dict__["_processed_record"] = record
        for name in _PROCESSED_FIELDS:
            setattr(self, name, getattr(record, name))
        return record

    def processed_plans(self) -> "ProcessedPlans":
        """The attributes :meth:`process_plans` set (and an override may have changed) as a record."""
        import dataclasses

        record = self.__dict__.get("_processed_record")
        if record is None:
            raise ConfigurationError("process_plans has not been called", fix="call trainer.process_plans(plans)")
        return dataclasses.replace(record, **{name: getattr(self, name) for name in _PROCESSED_FIELDS})

    def _da_setup(self) -> AugmentationSetup:
        return setup_DA_params(self.patch_size, do_dummy_2D_aug=self.do_dummy_2D_aug,
                               use_mask_for_norm=self.use_mask_for_norm, v2=False)

    @mirrors("nnunet.training.network_training.nnUNetTrainer:nnUNetTrainer.setup_DA_params")
    def setup_DA_params(self, processed: "ProcessedPlans | None" = None) -> AugmentationSetup:
        """Set ``self.data_aug_params`` and ``self.basic_generator_patch_size`` (base trainer: ±15°, elastic on,
        scale 0.85-1.25) from the attributes :meth:`process_plans` set; also returns them as a record.

        A v1-style override (``def setup_DA_params(self): super().setup_DA_params(); self.data_aug_params[...]
        = ...``) is honoured: the explorer reads the attributes back (:meth:`augmentation_setup`).
        """
        if processed is not None and self.__dict__.get("_processed_record") is None:
            for name in _PROCESSED_FIELDS:
                setattr(self, name, getattr(processed, name))
            self.__dict__["_processed_record"] = processed
        setup = self._da_setup()
        self.__dict__["_augmentation_record"] = setup
        self.data_aug_params = dict(setup.data_aug_params)
        self.basic_generator_patch_size = np.array(setup.basic_generator_patch_size)
        if setup.deep_supervision_scales is not None:
            self.deep_supervision_scales = [list(s) for s in setup.deep_supervision_scales]
        return setup

    def augmentation_setup(self) -> AugmentationSetup:
        """What :meth:`setup_DA_params` set (and an override may have changed) as a record."""
        import dataclasses

        setup = self.__dict__.get("_augmentation_record")
        if setup is None:
            raise ConfigurationError("setup_DA_params has not been called", fix="call trainer.setup_DA_params()")
        scales = getattr(self, "deep_supervision_scales", None)
        return dataclasses.replace(
            setup, data_aug_params=self.data_aug_params,
            basic_generator_patch_size=tuple(int(v) for v in self.basic_generator_patch_size),
            deep_supervision_scales=None if scales is None else tuple(tuple(float(v) for v in s) for s in scales))

    def learning_rate(self, epoch: int) -> float:
        """The learning rate at the start of ``epoch`` (base trainer: ``initial_lr`` until the plateau rule acts)."""
        return float(self.initial_lr)


@mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2")
class nnUNetTrainerV2(nnUNetTrainer):
    """nnU-Net's default trainer: what ``nnUNet_train 3d_fullres nnUNetTrainerV2 TASK FOLD`` runs.

    Compared with ``nnUNetTrainer``: SGD with Nesterov momentum 0.99 and initial LR 1e-2, decayed each
    epoch by the poly rule ``lr = 1e-2 * (1 - epoch / max_num_epochs) ** 0.9``; gradients clipped to norm
    12; deep supervision (a loss on every decoder output, weights ``1/2**i``, the lowest one 0); the
    "moreDA" augmentation with ±30° rotations, scale (0.7, 1.4), no elastic deformation; no early stopping.
    """

    # v1 writes these inside methods (initialize_optimizer_and_scheduler, run_iteration, maybe_update_lr);
    # they are attributes here so that a learner sees them and a subclass can change them in one line.
    # differs from v1: momentum / nesterov / clip_grad_norm / poly_exponent are class attributes, not literals.
    momentum: float = 0.99
    nesterov: bool = True
    optimizer_name: str = "SGD(momentum=0.99, nesterov=True)"
    lr_schedule: str = "poly: initial_lr * (1 - epoch / max_num_epochs) ** 0.9, set every epoch"
    poly_exponent: float = 0.9
    clip_grad_norm: float = 12.0
    deep_supervision: bool = True
    augmentation: str = "moreDA (get_moreDA_augmentation)"
    has_prev_stage: bool = False  # True for the cascade's full-resolution stage

    def __init__(self, plans_file: str | Path, fold: int | str, output_folder: str | Path | None = None,
                 dataset_directory: str | Path | None = None, batch_dice: bool = True, stage: int | None = None,
                 unpack_data: bool = True, deterministic: bool = True, fp16: bool = False) -> None:
        super().__init__(plans_file, fold, output_folder, dataset_directory, batch_dice, stage, unpack_data,
                         deterministic, fp16)
        self.max_num_epochs = 1000
        self.initial_lr = 1e-2
        self.deep_supervision_scales: Any = None
        self.ds_loss_weights: Any = None
        self.pin_memory = True

    def _da_setup(self) -> AugmentationSetup:
        return setup_DA_params(self.patch_size, do_dummy_2D_aug=self.do_dummy_2D_aug,
                               use_mask_for_norm=self.use_mask_for_norm,
                               pool_op_kernel_sizes=self.net_num_pool_op_kernel_sizes, v2=True)

    @mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.setup_DA_params")
    def setup_DA_params(self, processed: "ProcessedPlans | None" = None) -> AugmentationSetup:
        """V2's augmentation parameters: ±30° rotations, dummy 2D for anisotropic data, scale (0.7, 1.4), and
        ``self.deep_supervision_scales``."""
        return super().setup_DA_params(processed)

    def learning_rate(self, epoch: int) -> float:
        """``poly_lr(epoch, max_num_epochs, initial_lr, poly_exponent)``: the LR epoch ``epoch`` trains with."""
        from .lr_schedule import poly_lr

        return float(poly_lr(epoch, self.max_num_epochs, self.initial_lr, self.poly_exponent))

    @mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.maybe_update_lr")
    def maybe_update_lr(self, epoch: int | None = None) -> None:
        """Set ``self.optimizer``'s LR for epoch ``epoch`` (default ``self.epoch + 1``: the next one) and log it.

        The run calls it with the start epoch before training and without argument after every epoch, as v1.
        """
        ep = self.epoch + 1 if epoch is None else epoch
        self.optimizer.param_groups[0]["lr"] = self.learning_rate(ep)
        self.print_to_log_file("lr:", np.round(self.optimizer.param_groups[0]["lr"], decimals=6))

    @mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.initialize_network")
    def initialize_network(self) -> None:
        """``self.network``: Generic_UNet from the attributes :meth:`process_plans` set (deep supervision on)."""
        from .generic_unet import build_network, softmax_helper

        self.network = build_network(self.num_input_channels, self.base_num_features, self.num_classes,
                                     self.net_num_pool_op_kernel_sizes, self.net_conv_kernel_sizes,
                                     conv_per_stage=self.conv_per_stage, threeD=self.threeD)
        self.network.inference_apply_nonlin = softmax_helper

    @mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.initialize_optimizer_and_scheduler")
    def initialize_optimizer_and_scheduler(self) -> None:
        """``self.optimizer`` = SGD(lr=initial_lr, momentum 0.99, Nesterov, weight_decay 3e-5); no scheduler."""
        import torch

        from .optim import v2_optimizer

        if self.network is None:
            raise ConfigurationError("self.initialize_network must be called first",
                                     fix="call trainer.initialize_network() before the optimizer")
        if self.momentum == 0.99 and self.nesterov:
            self.optimizer = v2_optimizer(self.network.parameters(), initial_lr=self.initial_lr,
                                          weight_decay=self.weight_decay)
        else:
            self.optimizer = torch.optim.SGD(self.network.parameters(), self.initial_lr,
                                             weight_decay=self.weight_decay, momentum=self.momentum,
                                             nesterov=self.nesterov)
        self.lr_scheduler = None


@mirrors("nnunet.training.network_training.nnUNetTrainerV2_CascadeFullRes:nnUNetTrainerV2CascadeFullRes")
class nnUNetTrainerV2CascadeFullRes(nnUNetTrainerV2):
    """The second stage of the cascade: V2 at full resolution, fed the ``3d_lowres`` network's segmentation.

    For tasks whose images are much larger than the patch, v1 plans two 3D stages: ``3d_lowres`` trains on
    downsampled images (stage 0) and sees a large part of each image; ``3d_cascade_fullres`` then trains at full
    resolution (stage 1) with the low-resolution prediction as extra input, one-hot encoded: the input has
    ``num_modalities + num_classes - 1`` channels. That prediction comes from
    ``RESULTS_FOLDER/nnUNet/3d_lowres/<Task>/<previous_trainer>__<plans>/pred_next_stage/CASE_segFromPrevStage.npz``,
    written at the end of each ``3d_lowres`` fold for that fold's *validation* cases, so every case's
    low-resolution segmentation was made by a network that never trained on it — which is why all five
    ``3d_lowres`` folds must be trained before any cascade fold.

    Augmentation gains three steps (see :mod:`.cascade_augmentation`): the previous-stage segmentation is moved
    from the seg channels into the data as one-hot channels, then randomly dilated/eroded/closed/opened (p 0.4
    per sample) and has random connected components removed (p 0.2; a no-op in v1 because of swapped
    arguments). This teaches the network not to trust the low-resolution segmentation blindly.

    Compared with V2: Dice over the batch (``batch_dice`` is True for the cascade), an extra constructor
    argument ``previous_trainer`` (stored in ``init_args`` before ``fp16``, as v1 does), and 3D only.
    """

    has_prev_stage: bool = True

    def __init__(self, plans_file: str | Path, fold: int | str, output_folder: str | Path | None = None,
                 dataset_directory: str | Path | None = None, batch_dice: bool = True, stage: int | None = None,
                 unpack_data: bool = True, deterministic: bool = True, previous_trainer: str = "nnUNetTrainerV2",
                 fp16: bool = False) -> None:
        super().__init__(plans_file, fold, output_folder, dataset_directory, batch_dice, stage, unpack_data,
                         deterministic, fp16)
        self.previous_trainer = previous_trainer

    @property
    def init_args(self) -> tuple[Any, ...]:
        """v1's order: ``(plans_file, fold, output_folder, dataset_directory, batch_dice, stage, unpack_data,
        deterministic, previous_trainer, fp16)``."""
        base = super().init_args
        return base[:8] + (self.previous_trainer,) + base[8:]

    @property
    @mirrors("nnunet.training.network_training.nnUNetTrainerV2_CascadeFullRes:nnUNetTrainerV2CascadeFullRes.__init__")
    def folder_with_segs_from_prev_stage(self) -> Path | None:
        """``.../nnUNet/3d_lowres/<Task>/<previous_trainer>__<plans identifier>/pred_next_stage``.

        v1 takes the task and the plans identifier from its own output folder
        (``.../nnUNet/3d_cascade_fullres/<Task>/<Trainer>__<plans>``) and looks next door, under ``3d_lowres``.
        """
        base = self.output_folder_base
        if base is None:
            return None
        plans_identifier = base.name.split("__")[-1]
        return base.parent.parent.parent / "3d_lowres" / base.parent.name / \
            f"{self.previous_trainer}__{plans_identifier}" / "pred_next_stage"

    @mirrors("nnunet.training.network_training.nnUNetTrainerV2_CascadeFullRes:nnUNetTrainerV2CascadeFullRes.process_plans")
    def process_plans(self, plans: Mapping[str, Any]) -> "ProcessedPlans":
        """V2's values, plus one input channel per foreground class for the previous stage's segmentation."""
        super().process_plans(plans)
        self.num_input_channels += self.num_classes - 1
        return self.processed_plans()

    def _da_setup(self) -> AugmentationSetup:
        """V2's parameters plus the cascade's: seg channels ``[0, 1]`` (label, previous stage), moved to the data
        one-hot over ``all_segmentation_labels = 1..C-1`` and perturbed by the cascade augmentations."""
        import dataclasses

        from .cascade_augmentation import cascade_da_params

        setup = super()._da_setup()
        params = {**setup.data_aug_params, **cascade_da_params(self.num_classes)}
        notes = setup.notes + ("cascade: the 3d_lowres segmentation travels as seg channel 1, becomes one-hot data "
                               "channels and is randomly dilated/eroded/closed/opened",)
        return dataclasses.replace(setup, data_aug_params=params, notes=notes)

    @mirrors("nnunet.training.network_training.nnUNetTrainerV2_CascadeFullRes:nnUNetTrainerV2CascadeFullRes.do_split")
    def attach_segs_from_prev_stage(self, cases: Mapping[str, dict]) -> "OrderedDict[str, dict]":
        """Give every case its ``seg_from_prev_stage_file``; every one must exist (v1 asserts it in ``do_split``).

        Raises:
            ConfigurationError: the ``pred_next_stage`` folder is missing (the fix says which training writes it).
            DatasetError: a case's file is missing.
        """
        folder = self.folder_with_segs_from_prev_stage
        if folder is None or not folder.is_dir():
            raise ConfigurationError(
                f"Cannot run final stage of cascade: {folder} does not exist. Run corresponding 3d_lowres first and "
                "predict the segmentations for the next stage",
                fix=f"train all 5 folds of `train 3d_lowres {self.previous_trainer} TASK FOLD` (each fold writes "
                    "pred_next_stage/ for its validation cases), then train the cascade")
        from .dataloading import attach_prev_stage

        return attach_prev_stage(OrderedDict((case, dict(entry)) for case, entry in cases.items()), folder)


@mirrors("nnunet.training.network_training.nnUNet_variants.benchmarking.nnUNetTrainerV2_2epochs:nnUNetTrainerV2_2epochs")
class nnUNetTrainerV2_2epochs(nnUNetTrainerV2):
    """V2 for 2 epochs (v1's benchmarking variant; v1's version also skips validation and checkpoints)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_num_epochs = 2


@mirrors("nnunet.training.network_training.nnUNet_variants.benchmarking.nnUNetTrainerV2_2epochs:nnUNetTrainerV2_5epochs")
class nnUNetTrainerV2_5epochs(nnUNetTrainerV2):
    """V2 for 5 epochs (v1's benchmarking variant; v1's version also skips validation and checkpoints)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_num_epochs = 5


class nnUNetTrainerV2_explore(nnUNetTrainerV2):
    """Explorer-only teaching variant: V2 with 3 epochs of 5 training and 2 validation batches (CPU-sized).

    Everything else (optimizer, loss, augmentation, network) is V2's, so what you see is what V2 does,
    only for fewer iterations. Not part of nnU-Net v1.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_num_epochs = 3
        self.num_batches_per_epoch = 5
        self.num_val_batches_per_epoch = 2
        self.save_every = 1


# PEP 8 aliases (the v1 names stay the registry keys).
NnUNetTrainer = nnUNetTrainer
NnUNetTrainerV2 = nnUNetTrainerV2


# ------------------------------------------------------------------------------------------- provenance
@dataclass(frozen=True)
class AttributeOrigin:
    """Where one hyperparameter's value comes from.

    Attributes:
        name: attribute name (v1's spelling).
        value: the value the trainer will use.
        set_by: the class whose ``__init__`` (or class body) set that value, or the override's source.
        chain: ``(class name, value)`` for every level of the MRO that sets it, base class first.
        user_override: True if a class outside the explorer's built-in trainers set the final value.
    """

    name: str
    value: Any
    set_by: str
    chain: tuple[tuple[str, Any], ...]
    user_override: bool


@dataclass(frozen=True)
class TrainerAttributes:
    """Every hyperparameter of a trainer, with provenance; renders as a table."""

    trainer: str
    class_order: tuple[str, ...]
    attributes: tuple[AttributeOrigin, ...]
    hooks: tuple[tuple[str, str, bool], ...] = ()  # (method, class defining it, defined by the user)

    def __getitem__(self, name: str) -> AttributeOrigin:
        for attribute in self.attributes:
            if attribute.name == name:
                return attribute
        raise KeyError(name)

    @property
    def overridden(self) -> tuple[str, ...]:
        """Names of the hyperparameters a user subclass changed."""
        return tuple(a.name for a in self.attributes if a.user_override)

    @property
    def overridden_hooks(self) -> tuple[str, ...]:
        """Names of the behaviour hooks (methods) a user subclass replaced."""
        return tuple(name for name, _, user in self.hooks if user)

    def summary(self) -> str:
        lines = [f"{self.trainer}: MRO {' > '.join(self.class_order)}"]
        for a in self.attributes:
            history = " -> ".join(f"{cls}={value!r}" for cls, value in a.chain)
            mark = "  [overridden by you]" if a.user_override else ""
            lines.append(f"  {a.name} = {a.value!r}  (set by {a.set_by}; {history}){mark}")
        if self.hooks:
            lines.append("  hooks: " + ", ".join(f"{name} from {cls}" + (" [overridden by you]" if user else "")
                                                 for name, cls, user in self.hooks))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        rows = []
        for a in self.attributes:
            history = " &rarr; ".join(f"{html.escape(cls)}: <code>{html.escape(repr(value))}</code>"
                                      for cls, value in a.chain)
            style = " style='background:#fff3cd'" if a.user_override else ""
            rows.append(f"<tr{style}><td><code>{html.escape(a.name)}</code></td>"
                        f"<td><code>{html.escape(repr(a.value))}</code></td><td>{html.escape(a.set_by)}</td>"
                        f"<td>{history}</td></tr>")
        head = (f"<div><b>{html.escape(self.trainer)}</b> — MRO: {html.escape(' > '.join(self.class_order))}"
                + (f"; you overrode: {html.escape(', '.join(self.overridden))}" if self.overridden else "")
                + "</div>")
        hooks = ", ".join(f"<code>{html.escape(name)}</code> from {html.escape(cls)}" + (" <b>(yours)</b>" if user else "")
                          for name, cls, user in self.hooks)
        return (head + "<table><tr><th>attribute</th><th>value</th><th>set by</th><th>history (base first)</th>"
                "</tr>" + "".join(rows) + "</table>" + (f"<div>hooks: {hooks}</div>" if hooks else ""))


def _instance_for_provenance(cls: type) -> NetworkTrainer:
    """An instance of ``cls`` built with placeholder arguments (constructors do no I/O)."""
    if issubclass(cls, nnUNetTrainer):
        return cls("<plans_file>", 0)
    return cls()


def attribute_provenance(trainer: NetworkTrainer | type) -> TrainerAttributes:
    """For every hyperparameter of ``trainer`` (an instance or a class): value, setter, per-level history.

    v1's values are assigned in ``__init__`` (``NetworkTrainer``, then ``nnUNetTrainer``, then
    ``nnUNetTrainerV2``, then yours, each after ``super().__init__``): the history lists every ``__init__``
    that assigned the value, base first, then any later override (``--disable_saving``, explorer knobs). The
    explorer's own class attributes (``momentum``, ``clip_grad_norm``, ...) appear with the classes that set them.
    """
    cls = trainer if isinstance(trainer, type) else type(trainer)
    instance = _instance_for_provenance(cls) if isinstance(trainer, type) else trainer
    instance_values = vars(instance)
    sources = instance_values.get("_attribute_sources", {})
    history = instance_values.get("_attribute_history", {})
    mro = [c for c in cls.__mro__ if c is not object]
    by_name = {c.__name__: c for c in mro}
    origins = []
    for name in HYPERPARAMETERS:
        chain = [(c.__name__, c.__dict__[name]) for c in reversed(mro) if name in c.__dict__]
        chain += list(history.get(name, ()))
        if not chain:
            continue
        value = getattr(instance, name)
        if name in sources:
            set_by, user = sources[name], False
        elif name in history:
            set_by = history[name][-1][0]
            owner = by_name.get(set_by)
            user = owner is not None and owner not in _BUILTIN_CLASSES
        elif name in instance_values:
            set_by, user = "<instance>", True  # assigned on the object after construction
            chain.append(("<instance>", instance_values[name]))
        else:
            setter_cls = next((c for c in mro if name in c.__dict__), None)
            set_by = setter_cls.__name__ if setter_cls is not None else "?"
            user = setter_cls is not None and setter_cls not in _BUILTIN_CLASSES
        origins.append(AttributeOrigin(name, value, set_by, tuple(chain), bool(user)))
    hooks = []
    for name in HOOKS:
        owner = next((c for c in mro if name in c.__dict__), None)
        if owner is not None:
            hooks.append((name, owner.__name__, owner not in _BUILTIN_CLASSES))
    return TrainerAttributes(cls.__name__, tuple(c.__name__ for c in mro), tuple(origins), tuple(hooks))


# -------------------------------------------------------------------------------------- process_plans
@dataclass(frozen=True)
class ProcessedPlans:
    """What ``nnUNetTrainer.process_plans`` takes from the plans (v1 stores each as ``self.<name>``).

    Shapes: ``patch_size`` is (z, y, x) in 3D or (y, x) in 2D, in voxels of the stage's target spacing.
    ``num_classes`` counts the background (``plans['num_classes'] + 1``).
    """

    stage: int
    batch_size: int
    net_pool_per_axis: tuple[int, ...]
    patch_size: tuple[int, ...]
    do_dummy_2D_aug: bool
    net_num_pool_op_kernel_sizes: tuple[tuple[int, ...], ...]
    net_conv_kernel_sizes: tuple[tuple[int, ...], ...]
    pad_all_sides: None
    intensity_properties: Any = field(repr=False)
    normalization_schemes: Mapping[int, str]
    base_num_features: int
    num_input_channels: int
    num_classes: int
    classes: Any
    use_mask_for_norm: Mapping[int, bool]
    only_keep_largest_connected_component: Any
    min_region_size_per_class: Any
    min_size_per_class: None
    transpose_forward: tuple[int, ...]
    transpose_backward: tuple[int, ...]
    threeD: bool
    conv_per_stage: int
    data_identifier: str
    warnings: tuple[str, ...] = ()

    def summary(self) -> str:
        return (f"stage {self.stage}: patch_size {list(self.patch_size)}, batch_size {self.batch_size}, "
                f"{len(self.net_num_pool_op_kernel_sizes)} poolings {[list(p) for p in self.net_num_pool_op_kernel_sizes]}, "
                f"num_input_channels {self.num_input_channels}, num_classes {self.num_classes} (with background), "
                f"threeD {self.threeD}, do_dummy_2D_aug {self.do_dummy_2D_aug}, base_num_features "
                f"{self.base_num_features}, conv_per_stage {self.conv_per_stage}")


# v1's attribute names that process_plans sets on the trainer (every ProcessedPlans field but the notes)
_PROCESSED_FIELDS: tuple[str, ...] = tuple(f for f in ProcessedPlans.__dataclass_fields__ if f != "warnings")


def _ints(seq: Sequence[Any]) -> tuple[int, ...]:
    return tuple(int(v) for v in seq)


@mirrors("nnunet.training.network_training.nnUNetTrainer:nnUNetTrainer.process_plans")
def process_plans(plans: Mapping[str, Any], stage: int | None = None) -> ProcessedPlans:
    """Read the values training needs from the plans, for one stage, like v1's ``process_plans``.

    * ``stage`` None is only allowed when the plans have a single stage (v1 asserts this).
    * ``patch_size`` becomes an int array; ``threeD`` is ``len(patch_size) == 3``.
    * ``num_classes`` = ``plans['num_classes'] + 1``: the plans count foreground classes only.
    * Old plans without ``pool_op_kernel_sizes`` / ``conv_kernel_sizes`` get v1's fallbacks (pool by 2 on the
      axes that still have poolings left; all-3 kernels), and missing transposes default to [0, 1, 2]; each
      is noted in ``warnings``.
    * ``min_size_per_class`` is deliberately None (v1: "DONT USE THIS").
    """
    stages = list(plans["plans_per_stage"].keys())
    if stage is None:
        if len(stages) != 1:
            raise PlansError(f"the plans have {len(stages)} stages, so the stage must be given",
                             fix="pass stage= (get_default_configuration chooses it from the network)")
        stage = stages[0]
    if stage not in plans["plans_per_stage"]:
        raise PlansError(f"stage {stage} is not in the plans (stages: {stages})", fix="choose one of those stages")
    sp = plans["plans_per_stage"][stage]
    warnings: list[str] = []
    pool_per_axis = _ints(sp["num_pool_per_axis"])
    if "pool_op_kernel_sizes" not in sp:
        warnings.append("old plans file with missing pool_op_kernel_sizes; rebuilt from num_pool_per_axis")
        most = max(pool_per_axis)
        pools = [tuple(2 if most - j <= i else 1 for j in pool_per_axis) for i in range(most)]
    else:
        pools = [_ints(p) for p in sp["pool_op_kernel_sizes"]]
    if "conv_kernel_sizes" not in sp:
        warnings.append("old plans file with missing conv_kernel_sizes; using 3 everywhere")
        convs = [(3,) * len(pool_per_axis)] * (max(pool_per_axis) + 1)
    else:
        convs = [_ints(c) for c in sp["conv_kernel_sizes"]]
    patch_size = _ints(np.array(sp["patch_size"]).astype(int))
    if len(patch_size) not in (2, 3):
        raise PlansError(f"invalid patch size in plans file: {list(patch_size)}", fix="re-run planning")
    transpose_forward = plans.get("transpose_forward")
    transpose_backward = plans.get("transpose_backward")
    if transpose_forward is None or transpose_backward is None:
        warnings.append("plans from an older nnU-Net without transpose_forward/backward; assuming [0, 1, 2]")
        transpose_forward = transpose_backward = [0, 1, 2]
    return ProcessedPlans(
        stage=int(stage),
        batch_size=int(sp["batch_size"]),
        net_pool_per_axis=pool_per_axis,
        patch_size=patch_size,
        do_dummy_2D_aug=bool(sp["do_dummy_2D_data_aug"]),
        net_num_pool_op_kernel_sizes=tuple(pools),
        net_conv_kernel_sizes=tuple(convs),
        pad_all_sides=None,
        intensity_properties=plans["dataset_properties"]["intensityproperties"],
        normalization_schemes=plans["normalization_schemes"],
        base_num_features=int(plans["base_num_features"]),
        num_input_channels=int(plans["num_modalities"]),
        num_classes=int(plans["num_classes"]) + 1,
        classes=plans["all_classes"],
        use_mask_for_norm=plans["use_mask_for_norm"],
        only_keep_largest_connected_component=plans["keep_only_largest_region"],
        min_region_size_per_class=plans["min_region_size_per_class"],
        min_size_per_class=None,
        transpose_forward=_ints(transpose_forward),
        transpose_backward=_ints(transpose_backward),
        threeD=len(patch_size) == 3,
        conv_per_stage=int(plans.get("conv_per_stage", 2)),
        data_identifier=str(plans["data_identifier"]),
        warnings=tuple(warnings),
    )


# ---------------------------------------------------------------------------------------------- registry
_BUILTIN_CLASSES: frozenset[type] = frozenset({NetworkTrainer, nnUNetTrainer, nnUNetTrainerV2,
                                               nnUNetTrainerV2CascadeFullRes, nnUNetTrainerV2_2epochs,
                                               nnUNetTrainerV2_5epochs, nnUNetTrainerV2_explore})
_REGISTRY: "OrderedDict[str, type]" = OrderedDict((c.__name__, c) for c in (
    NetworkTrainer, nnUNetTrainer, nnUNetTrainerV2, nnUNetTrainerV2CascadeFullRes, nnUNetTrainerV2_2epochs,
    nnUNetTrainerV2_5epochs, nnUNetTrainerV2_explore))


def register_trainer(cls: type | None = None, *, name: str | None = None, replace: bool = False) -> Any:
    """Register a trainer class so that it can be named on the command line or in the walkthrough.

    Use as ``register_trainer(MyTrainer)`` or as a decorator ``@register_trainer``. The class must derive
    from :class:`NetworkTrainer` (training itself needs :class:`nnUNetTrainer`, checked when a run starts,
    as v1 does). Registering another class under a taken name needs ``replace=True`` (a notebook cell
    re-run re-registers the same class name; that is allowed).
    """

    def add(trainer_cls: type) -> type:
        if not (isinstance(trainer_cls, type) and issubclass(trainer_cls, NetworkTrainer)):
            raise ConfigurationError(f"{trainer_cls!r} is not a trainer class",
                                     fix="derive it from nnunet_explorer.training.trainers.nnUNetTrainerV2")
        key = name or trainer_cls.__name__
        existing = _REGISTRY.get(key)
        if existing is not None and existing is not trainer_cls:
            if existing in _BUILTIN_CLASSES and not replace:
                raise ConfigurationError(f"{key} is a built-in trainer name", fix="give your trainer another name")
            if not replace and existing.__qualname__ != trainer_cls.__qualname__:
                raise ConfigurationError(f"a different trainer is already registered as {key}",
                                         fix="pass replace=True or choose another name")
        _REGISTRY[key] = trainer_cls
        return trainer_cls

    return add(cls) if cls is not None else add


def unregister_trainer(name: str) -> None:
    """Remove a user trainer from the registry (built-in trainers stay)."""
    cls = _REGISTRY.get(name)
    if cls is not None and cls not in _BUILTIN_CLASSES:
        del _REGISTRY[name]


def known_trainers() -> list[str]:
    """Names of all registered trainers (built-ins first, then user trainers in registration order)."""
    return list(_REGISTRY)


@mirrors("nnunet.training.model_restore:recursive_find_python_class")
def find_trainer_class(name: str) -> type:
    """The trainer class registered as ``name``.

    v1 imports every module under ``nnunet/training/network_training`` and returns the first attribute
    with that name, or None (and ``nnUNet_train`` then fails with "Could not find trainer class"). Here an
    unknown name raises :class:`ConfigurationError` listing the known trainers and close matches.
    """
    cls = _REGISTRY.get(name)
    if cls is not None:
        return cls
    close = difflib.get_close_matches(name, list(_REGISTRY), n=3)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise ConfigurationError(
        f"unknown trainer {name!r}.{hint} Known trainers are: {', '.join(_REGISTRY)}",
        fix="use one of those names, or define a subclass of nnUNetTrainerV2 and register it with "
            "nnunet_explorer.training.trainers.register_trainer (command line: --trainer_file FILE.py)")


def load_trainers_from_file(path: str | Path) -> list[str]:
    """Import a Python file and register every trainer class defined in it; returns their names."""
    file = Path(path)
    if not file.is_file():
        raise ConfigurationError(f"trainer file {file} does not exist", fix="give the path of a .py file")
    module_name = f"nnunet_explorer_user_trainers_{abs(hash(str(file.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise ConfigurationError(f"cannot import {file}", fix="give the path of a .py file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise ConfigurationError(f"importing trainer file {file} failed: {type(exc).__name__}: {exc}",
                                 fix="fix the error in that file") from exc
    names = []
    for _, obj in inspect.getmembers(module, inspect.isclass):
        if issubclass(obj, NetworkTrainer) and obj.__module__ == module_name:
            register_trainer(obj, replace=True)
            names.append(obj.__name__)
    if not names:
        raise ConfigurationError(f"{file} defines no trainer class",
                                 fix="define a subclass of nnunet_explorer.training.trainers.nnUNetTrainerV2")
    return names


def v1_class_repr(cls: type) -> str:
    """How v1 would print this class: the v1 trainer's own ``<class '...'>`` for mirrored built-ins."""
    # read the class's own mark: subclasses inherit the attribute, but not the v1 identity
    reference = cls.__dict__.get("__nnunet_v1__") if cls in _BUILTIN_CLASSES else None
    if reference is not None:
        return f"<class '{reference.module}.{reference.qualname}'>"
    return repr(cls)

