"""The pipelines: which steps, in which order, wired to which functions.

:func:`training_walkthrough` is ``nnUNet_train NETWORK TRAINER TASK FOLD [flags]`` (v1's
``run_training.py``) taken apart into steps a learner can run one at a time, look into, change and re-run::

    parsed_arguments -> task_name -> configuration -> trainer_class -> trainer -> plans_processed
    -> augmentation_parameters -> deep_supervision -> loss -> dataset -> split -> dataloader -> network
    -> architecture -> optimizer -> lr_schedule -> batch -> iteration

Each step is a plain function below; its docstring is what the step's card explains, its keyword-only
parameters are the knobs (``pipeline.set_params("batch", seed=3)``). Everything nnU-Net specific lives in
:mod:`nnunet_explorer.training` and :mod:`nnunet_explorer.planning`; this module only wires them.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .errors import ConfigurationError, DatasetError
from .explore import Pipeline, make_step
from .paths import Workspace, default_plans_identifier
from .provenance import mirrors
from .training.configuration import (Configuration, RunArgs, check_trainer_class, get_default_configuration,
                                     parse_fold)
from .training.data_augmentation_params import AugmentationSetup
from .training.trainers import NetworkTrainer, ProcessedPlans

# Seed of the steps that draw random numbers (the batch, and the network's initial weights).
DEFAULT_SEED = 12345  # the seed v1 uses with --deterministic


# ------------------------------------------------------------------------------------------------ steps
@mirrors("nnunet.run.run_training:main")
def parsed_arguments(*, network: str, network_trainer: str, task: str, fold: str, validation_only: bool = False,
                     continue_training: bool = False, p: str = default_plans_identifier,
                     use_compressed_data: bool = False, deterministic: bool = False, npz: bool = False,
                     find_lr: bool = False, valbest: bool = False, fp32: bool = False,
                     val_folder: str = "validation_raw", disable_saving: bool = False,
                     disable_postprocessing_on_folds: bool = False, disable_validation_inference: bool = False,
                     val_disable_overwrite: bool = True, disable_next_stage_pred: bool = False,
                     pretrained_weights: str | None = None) -> RunArgs:
    """The arguments of ``nnUNet_train``, exactly as v1's argparse parser would hold them.

    ``network`` picks the configuration (2d, 3d_lowres, 3d_fullres, 3d_cascade_fullres), ``network_trainer``
    the trainer class by name, ``task`` a task name or id, ``fold`` 0-4 or 'all'. Of the flags, those that
    matter before training starts are: ``-p`` (plans identifier), ``--fp32`` (mixed precision is the
    default), ``--use_compressed_data`` (read .npz directly instead of unpacking to .npy),
    ``--deterministic`` and ``--disable_saving``. Note v1's inverted ``--val_disable_overwrite``: its value is
    True unless the flag is given. The fold is checked here (v1 converts it with ``int()``).
    """
    args = RunArgs(network, network_trainer, str(task), str(fold), validation_only, continue_training, p,
                   use_compressed_data, deterministic, npz, find_lr, valbest, fp32, val_folder, disable_saving,
                   disable_postprocessing_on_folds, disable_validation_inference, val_disable_overwrite,
                   disable_next_stage_pred, pretrained_weights)
    parse_fold(args.fold)
    return args


@mirrors("nnunet.utilities.task_name_id_conversion:convert_id_to_task_name")
def task_name(parsed_arguments: RunArgs, *, workspace: Workspace | None = None) -> str:
    """The task folder name: a value starting with ``Task`` is used as is, anything else is a task id.

    For an id, v1 looks for folders named ``Task%03d_*`` in the cropped, preprocessed, raw and results
    folders; exactly one distinct name must turn up (e.g. 4 -> ``Task004_Hippocampus``).
    """
    from .tasks import resolve_task_name

    return resolve_task_name(parsed_arguments.task, workspace)


@mirrors("nnunet.run.default_configuration:get_default_configuration")
def configuration(parsed_arguments: RunArgs, task_name: str, *, workspace: Workspace | None = None
                  ) -> Configuration:
    """Plans file, results folder, preprocessed folder, ``batch_dice``, stage and trainer class.

    This is v1's ``get_default_configuration``; the card's "what v1 prints" shows the block v1 prints, word
    for word. Things to notice: ``3d_fullres`` on one-stage plans uses *sample* Dice (batch Dice only for 2d
    and for the 3D full-resolution networks of two-stage plans), and the stage is the last one of the plans.
    """
    return get_default_configuration(parsed_arguments.network, task_name, parsed_arguments.network_trainer,
                                     parsed_arguments.p, workspace)


@mirrors("nnunet.run.run_training:main")
def trainer_class(parsed_arguments: RunArgs, configuration: Configuration) -> type:
    """The trainer class found by name, checked to be an nnU-Net trainer (as ``run_training`` asserts).

    v1 imports every module under ``nnunet/training/network_training`` and takes the first class with that
    name; the explorer looks the name up in its trainer registry (register your own subclass with
    ``register_trainer``). The class hierarchy (MRO) decides every hyperparameter: see the next step.
    """
    cls = configuration.trainer_class
    check_trainer_class(parsed_arguments.network, cls)
    return cls


@mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.__init__")
def trainer(parsed_arguments: RunArgs, configuration: Configuration, trainer_class: type, *,
            max_num_epochs: int | None = None, num_batches_per_epoch: int | None = None,
            num_val_batches_per_epoch: int | None = None) -> NetworkTrainer:
    """The trainer, constructed as ``run_training`` does it, with every hyperparameter and where it was set.

    ``trainer_class(plans_file, fold, output_folder=..., dataset_directory=..., batch_dice=...,
    stage=..., unpack_data=not use_compressed_data, deterministic=..., fp16=not fp32)``; then
    ``--disable_saving`` switches off the final and best checkpoints. The table shows, for each
    hyperparameter, the class of the MRO that set it and its value at each level; values you set in your own
    subclass are highlighted. The explorer knobs ``max_num_epochs``, ``num_batches_per_epoch`` and
    ``num_val_batches_per_epoch`` shorten training (v1 has no such flags: you would write a subclass).
    """
    fold = parse_fold(parsed_arguments.fold)
    instance = trainer_class(configuration.plans_file, fold, output_folder=configuration.output_folder_name,
                             dataset_directory=configuration.dataset_directory,
                             batch_dice=configuration.batch_dice, stage=configuration.stage,
                             unpack_data=parsed_arguments.decompress_data,
                             deterministic=parsed_arguments.deterministic,
                             fp16=parsed_arguments.run_mixed_precision)
    if parsed_arguments.disable_saving:
        instance.override("--disable_saving", save_final_checkpoint=False, save_best_checkpoint=False,
                          save_intermediate_checkpoints=True, save_latest_only=True)
    knobs = {name: value for name, value in (("max_num_epochs", max_num_epochs),
                                             ("num_batches_per_epoch", num_batches_per_epoch),
                                             ("num_val_batches_per_epoch", num_val_batches_per_epoch))
             if value is not None}
    for name, value in knobs.items():
        if int(value) < 1:
            raise ConfigurationError(f"{name} must be at least 1, got {value}", fix=f"give {name} >= 1")
    if knobs:
        instance.override("explorer knob", **{k: int(v) for k, v in knobs.items()})
    return instance


@mirrors("nnunet.training.network_training.nnUNetTrainer:nnUNetTrainer.process_plans")
def plans_processed(trainer: NetworkTrainer) -> ProcessedPlans:
    """The plans, read from ``plans_file``, turned into what training uses for this stage.

    Patch size (z, y, x), batch size, pooling and convolution kernels per level, number of input channels
    (modalities) and of classes *including background* (``plans['num_classes'] + 1``), whether the data
    is augmented as "dummy 2D", and the data identifier naming the preprocessed folder.

    Calls the trainer's v1 methods ``load_plans_file`` and ``process_plans``, which set ``trainer.patch_size``,
    ``trainer.num_classes``, ... (an override of ``process_plans`` is honoured); the record shows those attributes.
    """
    trainer.process_plans(trainer.load_plans_file())
    return trainer.processed_plans()


@mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.setup_DA_params")
def augmentation_parameters(trainer: NetworkTrainer, plans_processed: ProcessedPlans) -> AugmentationSetup:
    """The augmentation dict and ``basic_generator_patch_size``, the larger patch the loader cuts.

    The loader cuts a patch big enough that rotating it (V2 in 3D: up to ±30° about each axis; 2D: up to
    ±180°, counted as 90°) and zooming out still fills the network's ``patch_size`` without empty corners;
    SpatialTransform then crops the centre. v1 sizes it with
    the scale range (0.85, 1.25) and only then widens the range to (0.7, 1.4). With ``do_dummy_2D_aug``
    (anisotropic data) the first axis is kept and only the in-plane size grows.

    Calls the trainer's v1 method ``setup_DA_params``, which sets ``trainer.data_aug_params``,
    ``trainer.basic_generator_patch_size`` and (V2) ``trainer.deep_supervision_scales``; an override that changes
    them after ``super().setup_DA_params()`` is honoured.
    """
    trainer.setup_DA_params()
    return trainer.augmentation_setup()


@dataclass(frozen=True)
class DeepSupervision:
    """Loss weight, target scale and target shape of every network output (highest resolution first)."""

    weights: tuple[float, ...]
    scales: tuple[tuple[float, ...], ...]
    target_shapes: tuple[tuple[int, ...], ...]

    def summary(self) -> str:
        rows = [f"output {i}: weight {w:.4f}, scale {list(s)}, target {list(t)}"
                for i, (w, s, t) in enumerate(zip(self.weights, self.scales, self.target_shapes))]
        return f"{len(self.weights)} outputs, highest resolution first\n" + "\n".join(rows)


def _require_v2(trainer: NetworkTrainer, step: str) -> None:
    """From here on the walkthrough follows nnUNetTrainerV2 (deep supervision, SGD + poly LR, moreDA)."""
    from .training.trainers import nnUNetTrainerV2

    if not isinstance(trainer, nnUNetTrainerV2):
        # differs from v1: v1 runs any nnUNetTrainer subclass; the explorer re-implements V2's training only
        raise ConfigurationError(
            f"{type(trainer).__name__} is not derived from nnUNetTrainerV2: the walkthrough re-implements V2's "
            "training (deep supervision, SGD + poly LR, moreDA augmentation), not the original nnUNetTrainer's "
            "(no deep supervision, Adam + ReduceLROnPlateau, default augmentation). Note that v1's own "
            "nnUNetTrainer cannot be initialized on current torch either: ReduceLROnPlateau(verbose=True) "
            "raises a TypeError",
            fix="use nnUNetTrainerV2 or a subclass of it", step=step)


@mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.initialize")
def deep_supervision(trainer: NetworkTrainer, plans_processed: ProcessedPlans,
                     augmentation_parameters: AugmentationSetup) -> DeepSupervision:
    """One loss per decoder level: weights ``1/2**i`` normalised, the lowest-resolution output weighted 0.

    The network returns ``len(pool_op_kernel_sizes)`` logit maps; the target is downsampled (nearest
    neighbour) to each map's scale, ``[1, 1, 1]`` then ``1 / cumprod(pool_op_kernel_sizes)``. The
    lowest-resolution output is computed but gets weight 0, so it never trains anything.
    """
    from .training.deep_supervision import ds_loss_weights, ds_scales, ds_target_shapes

    _require_v2(trainer, "deep_supervision")
    pools = plans_processed.net_num_pool_op_kernel_sizes
    weights = ds_loss_weights(pools)
    trainer.ds_loss_weights = weights  # v1: set in nnUNetTrainerV2.initialize
    scales = augmentation_parameters.deep_supervision_scales or tuple(tuple(s) for s in ds_scales(pools))
    return DeepSupervision(tuple(float(w) for w in weights), tuple(tuple(float(v) for v in s) for s in scales),
                           tuple(tuple(int(v) for v in t) for t in ds_target_shapes(plans_processed.patch_size,
                                                                                   pools)))


@mirrors("nnunet.training.loss_functions.deep_supervision:MultipleOutputLoss2")
def loss(trainer: NetworkTrainer, configuration: Configuration, deep_supervision: DeepSupervision):
    """Cross-entropy + soft Dice (background excluded, smooth 1e-5), summed over the weighted outputs.

    ``DC_and_CE_loss`` returns ``CE + (-Dice)``, so the loss goes negative as Dice improves. ``batch_dice``
    from the configuration decides whether Dice is computed over the whole batch or per sample.

    v1's ``nnUNetTrainerV2.initialize``: ``self.loss = MultipleOutputLoss2(self.loss, self.ds_loss_weights)``,
    wrapping the loss ``__init__`` assigned (a variant's ``self.loss = ...`` in its ``__init__`` is honoured).
    """
    from .training.loss import MultipleOutputLoss2

    # the loss __init__ assigned, kept so that re-running this step does not wrap it twice
    base = trainer.__dict__.setdefault("_loss_before_initialize", trainer.loss)
    trainer.loss = MultipleOutputLoss2(base, np.array(deep_supervision.weights))
    return trainer.loss


@mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.initialize_network")
def network(trainer: NetworkTrainer, plans_processed: ProcessedPlans, *,
            network_factory: Callable[[ProcessedPlans], Any] | None = None):
    """The Generic_UNet built from the plans (or your own network), checked against v1's network contract.

    Levels follow ``pool_op_kernel_sizes``; features start at ``base_num_features`` and double per level up
    to 320 (3D) / 480 (2D); every block is conv -> instance norm -> leaky ReLU, ``conv_per_stage`` times.
    With ``network_factory`` (a function ``ProcessedPlans -> torch.nn.Module``) your network is used
    instead, and the step says precisely what does not fit: number and shapes of the deep-supervision
    outputs, ``do_ds`` switching, ``inference_apply_nonlin``.
    """
    from .training.contract import check_network_contract

    if network_factory is not None:
        net = network_factory(plans_processed)
        trainer.network = net
    else:
        trainer.initialize_network()  # v1's method: sets trainer.network (an override is honoured)
        net = trainer.network
    check_network_contract(net, patch_size=plans_processed.patch_size, batch_size=1,
                           num_input_channels=plans_processed.num_input_channels,
                           num_classes=plans_processed.num_classes,
                           pool_op_kernel_sizes=plans_processed.net_num_pool_op_kernel_sizes,
                           deep_supervision=bool(getattr(trainer, "deep_supervision", True)), raise_on_error=True)
    return net


@mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer.plot_network_architecture")
def architecture(network: Any, plans_processed: ProcessedPlans, deep_supervision: DeepSupervision):
    """The network level by level for one batch: shapes, channels, parameters, deep-supervision heads."""
    from .training.architecture import describe_network

    size = (plans_processed.batch_size, plans_processed.num_input_channels, *plans_processed.patch_size)
    return describe_network(network, size, ds_weights=deep_supervision.weights)


@mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.initialize_optimizer_and_scheduler")
def optimizer(trainer: NetworkTrainer, network: Any):
    """SGD, lr 1e-2, momentum 0.99, Nesterov, weight decay 3e-5, with the learning rate of epoch 0 set.

    V2 has no scheduler object: at the start of training and after every epoch it sets
    ``lr = poly_lr(epoch)`` by hand (see the next step).

    Calls the trainer's v1 methods ``initialize_optimizer_and_scheduler`` (sets ``trainer.optimizer`` and
    ``trainer.lr_scheduler``) and ``maybe_update_lr(0)``, as ``run_training`` does first; overrides are honoured.
    """
    trainer.network = network
    trainer.initialize_optimizer_and_scheduler()
    trainer.epoch = 0
    trainer.maybe_update_lr(0)  # v1: maybe_update_lr(self.epoch) at the start of run_training
    return trainer.optimizer


@dataclass(frozen=True)
class LRSchedule:
    """The learning rate each epoch trains with (epoch e uses ``lrs[e]``)."""

    lrs: np.ndarray
    rule: str

    def summary(self) -> str:
        n = len(self.lrs)
        picks = sorted({0, 1, n // 2, n - 1})
        shown = ", ".join(f"epoch {e}: {self.lrs[e]:.3g}" for e in picks if 0 <= e < n)
        return f"{n} epochs, {self.rule}; {shown}"


@mirrors("nnunet.training.learning_rate.poly_lr:poly_lr")
def lr_schedule(trainer: NetworkTrainer) -> LRSchedule:
    """``lr = initial_lr * (1 - epoch / max_num_epochs) ** 0.9``, set at the start of every epoch.

    Epoch ``e`` trains with ``poly_lr(e)``: the rate falls slowly at first and steeply at the end, reaching
    ``initial_lr * (1 / max_num_epochs) ** 0.9`` in the last epoch (never 0).
    """
    epochs = int(trainer.max_num_epochs)
    lrs = np.array([trainer.learning_rate(e) for e in range(epochs)])
    return LRSchedule(lrs, str(getattr(trainer, "lr_schedule", "")))


@dataclass(frozen=True)
class DatasetIndex:
    """The preprocessed training cases of the stage folder (v1's ``self.dataset``)."""

    folder: Path
    cases: Mapping[str, dict]
    unpacked: tuple[str, ...]

    def summary(self) -> str:
        unpacked = f"; unpacked {len(self.unpacked)} .npz -> .npy" if self.unpacked else ""
        return f"{len(self.cases)} cases in {self.folder}{unpacked}"


@mirrors("nnunet.training.dataloading.dataset_loading:load_dataset")
def dataset(configuration: Configuration, trainer: NetworkTrainer) -> DatasetIndex:
    """The preprocessed cases of ``<data_identifier>_stage<stage>``, unpacked to ``.npy`` unless compressed.

    v1 decompresses every ``CASE.npz`` to ``CASE.npy`` once (``unpack_data``), so that loaders memory-map a
    case and read only the patch they need; ``--use_compressed_data`` skips this.
    """
    from .training.dataloading import load_dataset, unpack_dataset

    folder = configuration.folder_with_preprocessed_data
    cases = load_dataset(folder)
    if getattr(trainer, "has_prev_stage", False):
        # the cascade: every case needs the 3d_lowres segmentation made by the fold that validated on it
        cases = trainer.attach_segs_from_prev_stage(cases)
    unpacked = tuple(unpack_dataset(folder)) if getattr(trainer, "unpack_data", True) else ()
    return DatasetIndex(folder, cases, unpacked)


@dataclass(frozen=True)
class Split:
    """Training and validation case ids of the fold."""

    fold: int | str
    train: tuple[str, ...]
    val: tuple[str, ...]

    def summary(self) -> str:
        return (f"fold {self.fold}: {len(self.train)} training cases, {len(self.val)} validation cases "
                f"(val: {', '.join(self.val[:6])}{' ...' if len(self.val) > 6 else ''})")


@mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.do_split")
def split(configuration: Configuration, parsed_arguments: RunArgs, dataset: DatasetIndex) -> Split:
    """The fold's cases from ``splits_final.pkl`` (created on first use: 5 folds, KFold seed 12345).

    Keys are sorted before splitting, so the folds depend only on the case names. Fold 'all' trains and
    validates on every case; a fold >= 5 draws a random 80:20 split (seed 12345 + fold).
    """
    from .training.splits import do_split

    fold = parse_fold(parsed_arguments.fold)
    train_keys, val_keys = do_split(configuration.dataset_directory, fold, list(dataset.cases))
    return Split(fold, tuple(train_keys), tuple(val_keys))


@mirrors("nnunet.training.network_training.nnUNetTrainer:nnUNetTrainer.get_basic_generators")
def dataloader(trainer: NetworkTrainer, plans_processed: ProcessedPlans,
               augmentation_parameters: AugmentationSetup, dataset: DatasetIndex, split: Split):
    """The training loader: batches of ``basic_generator_patch_size`` patches, 33 % forced foreground.

    It cuts ``batch_size`` patches of the *larger* loader size from random training cases; the last
    ``batch_size - round(batch_size * (1 - 0.33))`` samples of each batch are centred on a random foreground
    voxel of a random class present in the case. Outside the case the image is padded with 0 and the
    segmentation with -1.
    """
    from .training.dataloading import make_data_loader, subset

    if not split.train:
        raise DatasetError(f"fold {split.fold} has no training case", fix="check splits_final.pkl", step="dataloader")
    return make_data_loader(subset(dataset.cases, list(split.train)), augmentation_parameters.basic_generator_patch_size,
                            plans_processed.patch_size, plans_processed.batch_size,
                            oversample_foreground_percent=float(trainer.oversample_foreground_percent),
                            has_prev_stage=bool(getattr(trainer, "has_prev_stage", False)))


@dataclass(frozen=True)
class Batch:
    """One augmented training batch as the network sees it."""

    data: Any
    target: tuple[Any, ...]
    keys: tuple[str, ...]
    loaded_shape: tuple[int, ...]
    transforms: tuple[str, ...]

    def summary(self) -> str:
        from .explore import summarize_text

        lines = [f"cases {list(self.keys)}; the loader cut {list(self.loaded_shape)}, augmentation cropped to "
                 f"{list(self.data.shape)}",
                 f"data: {summarize_text(self.data)}"]
        lines += [f"target[{i}]: {summarize_text(t)}" for i, t in enumerate(self.target)]
        lines.append(f"transforms ({len(self.transforms)}): " + " -> ".join(t.split("(")[0] for t in self.transforms))
        return "\n".join(lines)


@mirrors("nnunet.training.data_augmentation.data_augmentation_moreDA:get_moreDA_augmentation")
def batch(dataloader: Any, augmentation_parameters: AugmentationSetup, deep_supervision: DeepSupervision
          ) -> Batch:
    """One batch: cut by the loader, augmented by v1's "moreDA" transforms, targets per output.

    The data is ``(b, c, z, y, x)`` float32 of the network's patch size; the target is a list with one
    ``(b, 1, ...)`` label map per deep-supervision output. Runs single-threaded here (v1 uses worker
    processes with unseeded RNGs, so its batches are not reproducible); the step's seed seeds numpy, torch and
    Python's ``random`` before the batch is drawn, so re-running with the same seed gives the same batch
    (``pipeline.rerun("batch", seed=3)`` draws another one).
    """
    from batchgenerators.transforms.abstract_transforms import Compose

    from .training.augmentation import build_train_transforms, describe_transform

    params = augmentation_parameters.data_aug_params
    transforms = build_train_transforms(params["patch_size_for_spatialtransform"], params,
                                        [list(s) for s in deep_supervision.scales])
    raw = next(iter(dataloader))
    loaded_shape = tuple(int(v) for v in raw["data"].shape)
    out = Compose(transforms)(**raw)
    target = out["target"]
    targets = tuple(target) if isinstance(target, (list, tuple)) else (target,)
    return Batch(out["data"], targets, tuple(str(k) for k in raw["keys"]), loaded_shape,
                 tuple(describe_transform(t) for t in transforms))


@mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.run_iteration")
def iteration(trainer: NetworkTrainer, parsed_arguments: RunArgs, network: Any, loss: Any, optimizer: Any,
              batch: Batch, *, device: str = "cpu") -> Any:
    """One training iteration: forward, deep-supervision loss, backward, clip the gradient norm to 12, step.

    Mixed precision (the default) is only active on CUDA; on a CPU v1 also trains in float32. The record
    shows the loss per output, the gradient norm before and after clipping, the learning rate and the time
    spent in each phase. The step works on a copy of the network and optimizer, so re-running it gives the
    same result.
    """
    import torch

    from .training.iteration import run_iteration

    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        raise ConfigurationError(f"device {device!r} requested but CUDA is not available here",
                                 fix="use device='cpu' (the default) or run on a machine with a GPU", step="iteration")
    # differs from v1: a copy is trained so that the cached network stays at its initial weights
    net = copy.deepcopy(network).to(device)
    opt = type(optimizer)(net.parameters(), **optimizer.defaults)
    opt.load_state_dict(optimizer.state_dict())
    net.train()
    if hasattr(net, "do_ds"):
        net.do_ds = bool(getattr(trainer, "deep_supervision", True))
    targets = list(batch.target) if getattr(trainer, "deep_supervision", True) else batch.target[0]
    fp16 = parsed_arguments.run_mixed_precision and torch.device(device).type == "cuda"
    return run_iteration(net, loss, opt, batch.data, targets, do_backprop=True, fp16=fp16,
                         clip_norm=float(getattr(trainer, "clip_grad_norm", 12.0)), run_online_evaluation=True)


# ---------------------------------------------------------------------------------------------- pipeline
# v1's order (run_training.main, then nnUNetTrainerV2.initialize): process_plans, setup_DA_params, the loss,
# the data (load_dataset, do_split, loaders, unpacking), then initialize_network and the optimizer.
TRAINING_STEPS: tuple[Callable[..., Any], ...] = (
    parsed_arguments, task_name, configuration, trainer_class, trainer, plans_processed, augmentation_parameters,
    deep_supervision, loss, dataset, split, dataloader, network, architecture, optimizer, lr_schedule, batch,
    iteration,
)
TRAINING_STEP_NAMES: tuple[str, ...] = tuple(f.__name__ for f in TRAINING_STEPS)
# the rest of the run, after the first iteration: epoch_end, training_epochs, validate, prediction
from .walkthrough_run import RUN_STEPS  # noqa: E402

WALKTHROUGH_STEPS: tuple[Callable[..., Any], ...] = TRAINING_STEPS + RUN_STEPS
WALKTHROUGH_STEP_NAMES: tuple[str, ...] = tuple(f.__name__ for f in WALKTHROUGH_STEPS)
_SEEDED_STEPS = ("network", "batch")  # the steps that draw random numbers (initial weights, the batch)


def training_walkthrough(network: str, network_trainer: str, task: str | int, fold: str | int, *,
                         validation_only: bool = False, continue_training: bool = False,
                         p: str = default_plans_identifier, use_compressed_data: bool = False,
                         deterministic: bool = False, npz: bool = False, find_lr: bool = False,
                         valbest: bool = False, fp32: bool = False, val_folder: str = "validation_raw",
                         disable_saving: bool = False, disable_postprocessing_on_folds: bool = False,
                         disable_validation_inference: bool = False, val_disable_overwrite: bool = True,
                         disable_next_stage_pred: bool = False, pretrained_weights: str | None = None,
                         max_num_epochs: int | None = None, num_batches_per_epoch: int | None = None,
                         num_val_batches_per_epoch: int | None = None,
                         network_factory: Callable[[ProcessedPlans], Any] | None = None,
                         workspace: Workspace | None = None, seed: int | None = DEFAULT_SEED,
                         device: str = "cpu") -> Pipeline:
    """``nnUNet_train network network_trainer task fold [flags]`` as a pipeline of inspectable steps.

    Takes exactly ``run_training.py``'s arguments (each v1 flag as a keyword with v1's default) plus explorer
    knobs: ``max_num_epochs`` / ``num_batches_per_epoch`` / ``num_val_batches_per_epoch`` (shorter runs),
    ``network_factory`` (your own network, checked against v1's contract), ``workspace`` (the nnU-Net
    folders; default: the environment), ``seed`` (the network's initial weights and the batch) and
    ``device`` for the iteration. Nothing runs until you call ``run()`` (or index the pipeline)::

        p = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0)
        p.run(until="configuration"); print(p["configuration"].printed_text)
        p.run(until="iteration"); p.summary()
    """
    flags = dict(network=network, network_trainer=network_trainer, task=str(task), fold=str(fold),
                 validation_only=validation_only, continue_training=continue_training, p=p,
                 use_compressed_data=use_compressed_data, deterministic=deterministic, npz=npz, find_lr=find_lr,
                 valbest=valbest, fp32=fp32, val_folder=val_folder, disable_saving=disable_saving,
                 disable_postprocessing_on_folds=disable_postprocessing_on_folds,
                 disable_validation_inference=disable_validation_inference,
                 val_disable_overwrite=val_disable_overwrite, disable_next_stage_pred=disable_next_stage_pred,
                 pretrained_weights=pretrained_weights)
    params: dict[str, dict[str, Any]] = {"parsed_arguments": flags}
    if workspace is not None:
        params["task_name"] = {"workspace": workspace}
        params["configuration"] = {"workspace": workspace}
    params["trainer"] = {"max_num_epochs": max_num_epochs, "num_batches_per_epoch": num_batches_per_epoch,
                         "num_val_batches_per_epoch": num_val_batches_per_epoch}
    if network_factory is not None:
        params["network"] = {"network_factory": network_factory}
    if device != "cpu":
        params["iteration"] = {"device": device}
    if workspace is not None:
        params["training_epochs"] = {"workspace": workspace}
        params["prediction"] = {"workspace": workspace}
    steps = [make_step(f, seed=seed if f.__name__ in _SEEDED_STEPS else None) for f in WALKTHROUGH_STEPS]
    from .teaching import attach_teaching  # every card's why, pitfalls and glossary links; the report's contents

    return attach_teaching(Pipeline(steps, name=f"nnUNet_train {network} {network_trainer} {task} {fold}",
                                    params=params))


def training_run_from_args(run_args: RunArgs, *, run_class: type | None = None, max_num_epochs: int | None = None,
                           num_batches_per_epoch: int | None = None, num_val_batches_per_epoch: int | None = None,
                           workspace: Workspace | None = None, seed: int | None = None, **kwargs: Any) -> Any:
    """A :class:`~nnunet_explorer.training.loop.TrainingRun` (or ``run_class``) from ``nnUNet_train``'s parsed
    arguments plus the explorer knobs: the training walkthrough is built, and the run trains its trainer."""
    from dataclasses import asdict

    from .training.loop import TrainingRun

    flags = asdict(run_args)
    pipeline = training_walkthrough(flags.pop("network"), flags.pop("network_trainer"), flags.pop("task"),
                                    flags.pop("fold"), **flags, max_num_epochs=max_num_epochs,
                                    num_batches_per_epoch=num_batches_per_epoch,
                                    num_val_batches_per_epoch=num_val_batches_per_epoch, workspace=workspace,
                                    seed=DEFAULT_SEED if seed is None else seed)
    return (run_class or TrainingRun)(pipeline, **kwargs)


__all__ = ["DEFAULT_SEED", "TRAINING_STEPS", "TRAINING_STEP_NAMES", "WALKTHROUGH_STEPS", "WALKTHROUGH_STEP_NAMES",
           "training_run_from_args", "training_walkthrough"]
