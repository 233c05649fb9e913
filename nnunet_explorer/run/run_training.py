"""v1's ``nnunet/run/run_training.py`` after the parsing: build the trainer, initialize, train, validate.

v1's ``main``, in its order, as plain functions over one typed request (the command line parses once, into
:class:`TrainRequest`; the walkthrough's steps call these same functions)::

    trainer = TrainerClass(plans_file, fold, output_folder, dataset_directory, batch_dice, stage,
                           unpack_data, deterministic, fp16)                           build_trainer
    if --disable_saving: trainer.save_final_checkpoint = trainer.save_best_checkpoint = False
    trainer.initialize(not validation_only)                                            (the 'initialize' step)
    single-threaded augmentation, --augment_on (the explorer's)                        choose_where_to_augment
    if -val: load the final (or --valbest: best) checkpoint
    else:    -c: load_latest_checkpoint / -pretrained_weights: load them;  trainer.run_training()
    trainer.network.eval(); trainer.validate(save_softmax=--npz, ...)                   after_initialize
    3d_lowres: predict_next_stage(...)
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigurationError, TrainingError
from ..language import tr
from ..provenance import mirrors
from ..training.configuration import RunArgs, parse_fold

DEFAULT_SEED = 12345  # the seed v1 uses with --deterministic; the walkthrough's default for its random steps


@dataclass(frozen=True)
class ExplorerOptions:
    """What the explorer adds to ``nnUNet_train``'s flags (each one says what v1 would need instead).

    Attributes:
        max_num_epochs, num_batches_per_epoch, num_val_batches_per_epoch: shorter runs (v1: write a subclass).
        save_every: ``model_latest.model`` every N epochs (v1: 50, set in ``__init__``).
        device: where to train, resolved once (``cpu``, ``cuda``, ``cuda:N``).
        single_threaded: augment in the training process (default: with ``--deterministic``, because v1's
            unseeded worker processes make batches irreproducible).
        quiet: do not echo the training log to the console.
        overwrite_training: start over in a fold folder that holds checkpoints (v1 does so silently).
        seed: seed of the walkthrough's random steps (the initial weights, the batch); None: unseeded.
        plot_progress: write ``progress.png`` every epoch (v1 does).
        guard_nonfinite: stop at the first NaN/Inf that is not a routine fp16 skip.
        distribute_batch_size: v1's ``--dbs`` under DDP.
        augment_on: where the augmentation's arithmetic runs: ``workers`` (batchgenerators in the worker
            processes, v1), ``device`` (the draws in the workers, the arithmetic on the training device, see
            :mod:`~nnunet_explorer.training.device_augmenter`), ``auto`` (device on CUDA without
            ``--deterministic`` / ``--single_threaded``, else workers).
    """

    max_num_epochs: int | None = None
    num_batches_per_epoch: int | None = None
    num_val_batches_per_epoch: int | None = None
    save_every: int | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    single_threaded: bool | None = None
    quiet: bool = False
    overwrite_training: bool = False
    seed: int | None = DEFAULT_SEED
    plot_progress: bool = True
    guard_nonfinite: bool = True
    distribute_batch_size: bool = False
    augment_on: str = "auto"

    def __post_init__(self) -> None:
        from ..training.device_augmenter import check_augment_on

        check_augment_on(self.augment_on, deterministic=False, single_threaded=False)  # one of AUGMENT_ON
        for name in ("max_num_epochs", "num_batches_per_epoch", "num_val_batches_per_epoch", "save_every"):
            value = getattr(self, name)
            if value is not None and int(value) < 1:
                raise ConfigurationError(tr(f"{name} must be at least 1, got {value}",
                                            f"{name} 至少为 1,给出的是 {value}"),
                                         fix=tr(f"give {name} >= 1", f"给出 {name} >= 1"))
        if not isinstance(self.device, torch.device):
            from ..device import resolve_device

            object.__setattr__(self, "device", resolve_device(self.device))

    def knobs(self) -> dict[str, int]:
        """The hyperparameters these options set on the trainer (only those given)."""
        return {name: int(getattr(self, name)) for name in ("max_num_epochs", "num_batches_per_epoch",
                                                             "num_val_batches_per_epoch", "save_every")
                if getattr(self, name) is not None}


@dataclass(frozen=True)
class TrainRequest:
    """One ``nnunet-explorer train`` call: v1's flags (:class:`RunArgs`) plus the explorer's options."""

    args: RunArgs
    options: ExplorerOptions = field(default_factory=ExplorerOptions)

    @property
    def single_threaded(self) -> bool:
        return self.args.deterministic if self.options.single_threaded is None else bool(self.options.single_threaded)

    def __post_init__(self) -> None:
        from ..training.device_augmenter import check_augment_on

        # --augment_on device with --deterministic / --single_threaded: an error before anything runs
        check_augment_on(self.options.augment_on, deterministic=bool(self.args.deterministic),
                         single_threaded=self.single_threaded)


@mirrors("nnunet.run.run_training:main")
def build_trainer(request: TrainRequest, configuration: Any, strategy: Any = None) -> Any:
    """``trainer_class(plans_file, fold, output_folder=..., ...)`` as v1's ``main`` calls it, then the flags.

    ``--disable_saving`` switches the final and best checkpoints off (v1); the explorer's knobs
    (``--max_num_epochs`` ...) and options (device, console echo, NaN guard) are set on the instance, each
    recorded in the provenance table under the flag that set it.
    """
    from ..network_training.provenance import override

    args, options = request.args, request.options
    cls = configuration.trainer_class
    kwargs = dict(output_folder=str(configuration.output_folder_name), dataset_directory=str(configuration.dataset_directory),
                  batch_dice=configuration.batch_dice, stage=configuration.stage, unpack_data=args.decompress_data,
                  deterministic=args.deterministic, fp16=args.run_mixed_precision)
    trainer = cls(str(configuration.plans_file), parse_fold(args.fold), **kwargs)
    if args.disable_saving:
        override(trainer, "--disable_saving", save_final_checkpoint=False, save_best_checkpoint=False,
                 save_intermediate_checkpoints=True, save_latest_only=True)
    for name, value in options.knobs().items():
        override(trainer, f"--{name}", **{name: value})
    # differs from v1: the explorer's options of the run (v1 has none of them)
    trainer.device = options.device
    trainer.augment_on = options.augment_on  # applied after initialize (ExplorerHooks.choose_augmentation)
    trainer.echo = not options.quiet
    trainer.explorer.guard_nonfinite = options.guard_nonfinite
    trainer.explorer.plot_progress = options.plot_progress
    if strategy is not None:
        trainer.strategy = strategy
    return trainer


def choose_where_to_augment(trainer: Any, *, training: bool, single_threaded: bool) -> None:
    """What the explorer does right after ``trainer.initialize(training)``: augmentation in this process when
    single-threaded, then the choice of where the augmentation computes (``--augment_on``).

    No v1 method runs here, so the walkthrough calls it after its call trace of ``initialize``: the trace's hook
    would otherwise slow the device path's set-up (Triton's import and its kernels' check on a GPU).
    """
    if single_threaded and training:
        use_single_threaded_augmentation(trainer)
    if training:
        trainer.explorer.choose_augmentation(trainer, single_threaded=single_threaded)


def import_what_initialize_imports() -> None:
    """Import now the modules ``initialize`` would import on first use; nothing else changes.

    ``initialize`` builds the augmentation (batchgenerators' transforms, which bring scipy.signal and pandas)
    and the optimizer (torch imports ``torch._dynamo``, with sympy, on the first optimizer it constructs). The
    walkthrough records ``initialize``'s calls with a profile hook that Python calls on every function call in
    the block, and these imports make millions of calls: traced, ``train`` reached its first iteration 2.5 s
    later than with the trace removed (8.0 s instead of 5.5 s on the 2-core test machine, a one-off probe);
    ``benchmarks/bench_startup.py`` put it at 1.27x v1's seconds before this import and 0.74x after.
    Imported first, the trace sees only the trainer's own work.
    """
    import importlib

    # torch._dynamo: what torch.optim.Optimizer.__init__ imports on its first call
    for name in ("torch._dynamo", "..training.augmentation_variants", "..training.dataloading", "..training.splits"):
        importlib.import_module(name, __package__)


def use_single_threaded_augmentation(trainer: Any) -> None:
    """Replace ``tr_gen``/``val_gen`` by in-process augmenters over the same loaders and transforms.

    v1's worker processes draw from unseeded RNGs, so its batches cannot be reproduced; run in this process, the
    batches follow the global seeds (the conformance harness that runs the real v1 does the same with
    batchgenerators' ``SingleThreadedAugmenter``; v1 itself always uses worker processes, ``--deterministic`` or
    not). Under DDP each rank seeds its stream with its first worker seed.
    """
    from ..training.augmenter import single_threaded_copy

    # differs from v1: explicit option (implied by --deterministic) to augment without worker processes
    for name in ("tr_gen", "val_gen"):
        setattr(trainer, name, single_threaded_copy(getattr(trainer, name)))
    seeds = getattr(trainer.strategy, "seeds_train", None)
    if trainer.strategy.is_distributed and seeds:
        from ..seeding import seed_everything

        seed_everything(seeds[0])


def check_fold_folder(trainer: Any, request: TrainRequest) -> None:
    """Refuse to start over in a fold folder that holds checkpoints, unless -c, -val or --overwrite_training."""
    folder = Path(trainer.output_folder)
    existing = sorted(p.name for p in folder.glob("model_*.model")) if folder.is_dir() else []
    args = request.args
    if existing and not (args.continue_training or args.validation_only or request.options.overwrite_training):
        # differs from v1: v1 silently starts over and overwrites the checkpoints of a previous run
        raise TrainingError(tr(f"{folder} already holds checkpoints ({', '.join(existing)})",
                               f"{folder} 中已有检查点({', '.join(existing)})"),
                            fix=tr("continue that training with -c, move the folder away, or add --overwrite_training "
                                   "to start over", "用 -c 继续那次训练,把文件夹移走,或加上 --overwrite_training 从头开始"))


def stale_final_checkpoint(folder: str | Path) -> str | None:
    """A v1 pitfall of ``-c``, said before it bites (None when it does not apply).

    ``load_latest_checkpoint`` takes ``model_final_checkpoint.model`` whenever it exists, before
    ``model_latest.model``. A finished run leaves the final checkpoint and deletes ``model_latest``; a later run in
    the same folder (``--overwrite_training``, or a resumed run with a larger ``--max_num_epochs`` stopped early)
    writes a new ``model_latest`` but leaves the old final checkpoint in place until it finishes. ``-c`` then goes
    back to the old final checkpoint, as in v1, and the later run's epochs are lost. A ``model_latest`` newer than
    the final checkpoint is that situation."""
    from ..training.checkpoint_saving import FINAL, LATEST

    final, latest = Path(folder) / FINAL, Path(folder) / LATEST
    if not (final.is_file() and latest.is_file()) or latest.stat().st_mtime <= final.stat().st_mtime:
        return None
    return tr(f"-c loads {FINAL}, as v1 does, but {LATEST} in {folder} is newer: it was written by a later run, "
              f"whose epochs are lost when training goes on from {FINAL}. To continue from {LATEST}, move {FINAL} "
              "(and its .pkl) out of the folder and run -c again",
              f"-c 会像 v1 一样加载 {FINAL},但 {folder} 中的 {LATEST} 更新:它是之后一次训练写的,从 {FINAL} "
              f"继续训练会丢掉那次训练的 epoch。要从 {LATEST} 继续,把 {FINAL}(连同它的 .pkl)移出该文件夹,再运行 -c")


@mirrors("nnunet.run.run_training:main")
def train_or_load(trainer: Any, request: TrainRequest) -> Any:
    """After ``initialize``: ``-val`` loads a checkpoint; otherwise ``-c`` / ``-pretrained_weights``, then
    ``run_training``. Returns the run's :class:`~nnunet_explorer.network_training.TrainingResult` (None for -val)."""
    args = request.args
    if args.find_lr:
        trainer.find_lr()  # raises: v1 1.7.1's find_lr does not run
    if args.validation_only:
        if args.valbest:
            trainer.load_best_checkpoint(train=False)
        else:
            trainer.load_final_checkpoint(train=False)
        return None
    before_run_training(trainer, request)
    trainer.run_training()
    return trainer.explorer.result


def before_run_training(trainer: Any, request: TrainRequest) -> None:
    """What v1's ``main`` does between ``initialize`` and ``run_training``: the explorer's fold-folder check
    (:func:`check_fold_folder`), then ``-c`` (``load_latest_checkpoint``, after the warning of
    :func:`stale_final_checkpoint` where it applies) or ``-pretrained_weights``."""
    args = request.args
    check_fold_folder(trainer, request)
    if args.continue_training:
        stale = stale_final_checkpoint(trainer.output_folder)
        if stale is not None:
            trainer.print_to_log_file(tr("WARNING: ", "警告:") + stale)
            rank0 = getattr(getattr(trainer, "strategy", None), "is_global_zero", True)
            if rank0 and not getattr(trainer, "echo", True):  # --quiet: the log file alone would hide it
                print(f"nnunet-explorer train: {tr('warning: ', '警告:')}{stale}", file=sys.stderr)
        trainer.load_latest_checkpoint()
    elif args.pretrained_weights is not None:
        from ..training.pretrained import load_pretrained_weights

        report = load_pretrained_weights(trainer.network, args.pretrained_weights)
        trainer.print_to_log_file(report.summary())


@mirrors("nnunet.run.run_training:main")
def validate_after_training(trainer: Any, request: TrainRequest) -> Any:
    """``trainer.network.eval()`` and, unless ``--disable_validation_inference``, v1's ``validate`` call."""
    args = request.args
    trainer.network.eval()
    if args.disable_validation_inference:
        print("Validation inference was disabled. Not running inference on validation set.")
        return None
    return trainer.validate(save_softmax=args.npz, validation_folder_name=args.val_folder,
                            run_postprocessing_on_folds=not args.disable_postprocessing_on_folds,
                            overwrite=args.val_disable_overwrite)


@mirrors("nnunet.training.cascade_stuff.predict_next_stage:predict_next_stage")
def predict_next_stage(trainer: Any) -> Any:
    """``3d_lowres``: predict the fold's validation cases for the cascade's full-resolution stage.

    v1 does this after validation unless ``--disable_next_stage_pred``, with the network as training (or
    ``-val``) left it, mirroring on the training's mirror axes. The plans' stage 1 must be preprocessed.
    """
    from ..inference.cascade import predict_next_stage as predict

    lowres_folder = Path(trainer.folder_with_preprocessed_data or trainer._stage_folder())
    fullres_folder = lowres_folder.with_name(f"{trainer.plans['data_identifier']}_stage1")
    aug = trainer.data_aug_params
    return predict(trainer.network, trainer.plans, trainer.stage, Path(trainer.output_folder), lowres_folder,
                   fullres_folder, list(trainer.dataset_val.keys()), do_mirroring=bool(aug["do_mirror"]),
                   mirror_axes=tuple(aug["mirror_axes"]), mixed_precision=bool(trainer.fp16),
                   device=next(trainer.network.parameters()).device, log=lambda *a: trainer.print_to_log_file(*a))


def after_initialize(trainer: Any, request: TrainRequest, *, train: Any = train_or_load,
                     validate: Any = validate_after_training) -> int:
    """The rest of v1's ``main`` once the trainer is initialized: train (or load), validate, next stage.

    Under DDP every rank trains; rank 0 validates and predicts the next stage (no collective follows).
    ``train`` / ``validate``: :func:`train_or_load` and :func:`validate_after_training`, or callables running
    them as walkthrough steps (``nnunet-explorer train`` does, so that its report records them).
    """
    result = train(trainer, request)
    if result is not None and trainer.strategy.is_global_zero:
        print(result.summary(), flush=True)
    if result is not None and result.stopped_early:
        return 0
    if not trainer.strategy.is_global_zero:
        return 0  # differs from v1: v1 spreads the validation cases over the ranks; rank 0 validates them all
    report = validate(trainer, request)
    summary = getattr(report, "summary", None)
    if callable(summary):
        print(summary(), flush=True)
    if request.args.network == "3d_lowres" and not request.args.disable_next_stage_pred:
        print("predicting segmentations for the next stage of the cascade", flush=True)
        print(predict_next_stage(trainer).summary(), flush=True)
    return 0


__all__ = ["DEFAULT_SEED", "ExplorerOptions", "TrainRequest", "after_initialize", "build_trainer", "check_fold_folder",
           "choose_where_to_augment", "import_what_initialize_imports", "predict_next_stage", "train_or_load",
           "use_single_threaded_augmentation", "validate_after_training"]
