"""The training walkthrough: ``nnUNet_train NETWORK TRAINER TASK FOLD`` as steps that call the trainer and look.

v1's ``run_training.py`` taken apart into the calls it makes, in its order, each one a step a learner can run,
look into and re-run::

    parsed_arguments -> task_name -> configuration -> trainer_class -> trainer -> initialize
      looks at what initialize set: plans_processed, augmentation_parameters, deep_supervision, loss, dataset,
      split, dataloader, network, architecture, optimizer, lr_schedule
    -> batch -> iteration                      (looks: one batch through the trainer's own transforms and
                                                run_iteration, on a copy of the weights)
    -> training_epochs -> epoch_end -> validate -> prediction

The steps *only call and look*: ``trainer`` builds the trainer exactly as ``nnunet-explorer train`` does
(:func:`nnunet_explorer.run.run_training.build_trainer`), ``initialize`` calls ``trainer.initialize`` — the same
object, the same method the real run calls, with every flag and every override of a user's subclass — and records
which v1 methods it called and what each one set. The looks read the trainer's attributes; ``training_epochs``
calls ``trainer.run_training()``. Nothing in :mod:`nnunet_explorer.training` or
:mod:`nnunet_explorer.network_training` knows this module.
"""
from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from .errors import ConfigurationError, DatasetError
from .explore import Pipeline, Shown, make_step
from .explore.calltrace import CallTrace, trace_calls
from .language import tr
from .paths import Workspace, default_plans_identifier
from .provenance import declared_v1_reference, mirrors
from .run.default_configuration import Configuration, check_trainer_class, get_default_configuration
from .run.run_training import DEFAULT_SEED, ExplorerOptions, TrainRequest
from .seeding import preserved_rng
from .step_names import WALKTHROUGH_STEP_NAMES as _STEP_NAMES
from .training.augmenter import SingleThreadedAugmenter
from .training.device_augmenter import DeviceAugmenter
from .training.configuration import RunArgs, parse_fold
from .training.data_augmentation_params import AugmentationSetup
from .training.processed_plans import ProcessedPlans, processed_from_trainer
from .training.splits import splits_held

# v1 methods whose calls the initialize and training steps record (a user's override of any is recorded too)
TRACED_METHODS: tuple[str, ...] = (
    "initialize", "load_plans_file", "process_plans", "setup_DA_params", "get_basic_generators", "load_dataset",
    "do_split", "initialize_network", "initialize_optimizer_and_scheduler", "run_training", "run_iteration",
    "run_online_evaluation", "finish_online_evaluation", "update_train_loss_MA", "on_epoch_end", "plot_progress",
    "maybe_update_lr", "maybe_save_checkpoint", "update_eval_criterion_MA", "manage_patience", "save_checkpoint",
    "load_checkpoint", "load_checkpoint_ram", "load_latest_checkpoint", "load_best_checkpoint",
    "load_final_checkpoint", "save_debug_information", "plot_network_architecture", "validate",
    "predict_preprocessed_data_return_seg_and_softmax")


@contextmanager
def untouched(trainer: Any) -> Iterator[None]:
    """Look at the trainer without changing what the run does next: random streams, weights, optimizer, mode."""
    network = trainer.network
    saved = None
    if network is not None:
        saved = (copy.deepcopy(network.state_dict()), network.training, getattr(network, "do_ds", None))
    optimizer = copy.deepcopy(trainer.optimizer.state_dict()) if trainer.optimizer is not None else None
    # the scaler itself too: v1 creates it in run_training, after debug.json is written, so a look that makes one
    # (``_maybe_init_amp``) must not leave it behind
    scaler_object = trainer.amp_grad_scaler
    scaler = scaler_object.state_dict() if scaler_object is not None else None
    lists = {k: copy.copy(getattr(trainer, k)) for k in ("online_eval_tp", "online_eval_fp", "online_eval_fn",
                                                          "online_eval_foreground_dc") if hasattr(trainer, k)}
    try:
        with preserved_rng():
            yield
    finally:
        if saved is not None:
            network.load_state_dict(saved[0])
            network.train(saved[1])
            if saved[2] is not None:
                network.do_ds = saved[2]
        if optimizer is not None:
            trainer.optimizer.load_state_dict(optimizer)
        trainer.amp_grad_scaler = scaler_object
        if scaler is not None:
            scaler_object.load_state_dict(scaler)
        for k, v in lists.items():
            setattr(trainer, k, v)


# ------------------------------------------------------------------------------------------- the setup
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
    the trainer class by name, ``task`` a task name or id, ``fold`` 0-4 (one of the five cross-validation
    folds), 'all', or a larger integer (from the number of splits in ``splits_final.pkl`` up, v1 draws a random
    80:20 split). Of the flags, those that shape the
    trainer before training starts are: ``-p`` (plans identifier), ``--fp32`` (mixed precision is the
    default), ``--use_compressed_data`` (read .npz directly instead of unpacking to .npy), ``--deterministic``
    and ``--disable_saving``. ``-c`` (resume from ``model_final_checkpoint``, else ``model_latest``, else
    ``model_best``) and ``-pretrained_weights`` act between ``initialize`` and ``run_training``; ``-val`` calls
    ``initialize(False)`` and, instead of training, loads ``model_final_checkpoint`` (``--valbest``:
    ``model_best``); ``--find_lr`` runs ``find_lr()`` instead of training and validation. Note v1's inverted
    ``--val_disable_overwrite``: its value is True unless the flag is given. The fold is checked here (v1 converts
    it with ``int()``).
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

    For an id, v1 looks for folders whose name starts with ``Task%03d`` (a prefix, no underscore required) in the
    cropped, preprocessed, raw and results folders; exactly one distinct name must turn up (e.g. 4 ->
    ``Task004_Hippocampus``).
    """
    from .tasks import resolve_task_name

    return resolve_task_name(parsed_arguments.task, workspace)


@mirrors("nnunet.run.default_configuration:get_default_configuration")
def configuration(parsed_arguments: RunArgs, task_name: str, *, workspace: Workspace | None = None
                  ) -> Configuration:
    """Plans file, results folder, preprocessed folder, ``batch_dice``, stage and trainer class.

    This is v1's ``get_default_configuration``; the card's "what v1 prints" shows the block v1 prints, word
    for word. Things to notice: ``3d_fullres`` on one-stage plans uses *sample* Dice (batch Dice only for 2d
    and for the 3D full-resolution networks of two-stage plans), and the stage is 0 for ``2d`` and ``3d_lowres``,
    the last one of the plans for ``3d_fullres`` and ``3d_cascade_fullres``.
    """
    return get_default_configuration(parsed_arguments.network, task_name, parsed_arguments.network_trainer,
                                     parsed_arguments.p, workspace)


_SEARCH_TEXT = {  # ``code`` is quoted RST-style; {placeholders} are filled after the language is picked
    "title": {"en": "v1's search, run: ``recursive_find_python_class({name})`` over ``{root}``",
              "zh": "v1 的查找,实际运行:``recursive_find_python_class({name})`` 遍历 ``{root}``"},
    "order": {"en": "Order: the plain modules of a folder first, imported one by one (sorted, as "
                    "``pkgutil.iter_modules`` lists them) until one has an attribute of that name; only if none has "
                    "it, its sub-packages, each searched the same way; the first module with the name wins.",
              "zh": "顺序:先按 ``pkgutil.iter_modules`` 列出的排序逐个导入一个文件夹里的普通模块,直到某个模块拥有"
                    "该名字的属性为止;都没有时才依次进入它的子包,每个子包按同样的规则查找;第一个拥有该名字属性的"
                    "模块胜出。"},
    "found_here": {"en": "found here", "zh": "在此找到"},
    "file": {"en": "your --trainer_file {path}", "zh": "你的 --trainer_file {path}"},
    "returns": {"en": "Returns ``{found}``: the class object itself (a type), not the string ``{name}``; "
                      "``run_training`` then calls it to build the trainer.",
                "zh": "返回值是 ``{found}``:类对象本身(一个 type),而不是字符串 ``{name}``;``run_training`` 随后"
                      "调用它来构造 trainer。"},
    "v1_repr": {"en": "In v1 the same class prints as ``{v1}``.", "zh": "在 v1 中同一个类打印为 ``{v1}``。"},
    "none": {"en": "Returns None: no module has ``{name}``. v1's ``run_training`` would stop here with "
                   "``RuntimeError(\"Could not find trainer class in nnunet.training.network_training\")``.",
             "zh": "返回 None:没有任何模块含有 ``{name}``。v1 的 ``run_training`` 会在这里报错停止:"
                   "``RuntimeError(\"Could not find trainer class in nnunet.training.network_training\")``。"},
    "builtin_v1": {"en": "The explorer takes ``{name}`` from its registry: a built-in trainer that mirrors v1's "
                         "``{v1}`` (a v1 variant file the mirror does not copy).",
                   "zh": "explorer 从它的注册表中取得 ``{name}``:这是一个内置 trainer,对应 v1 的 ``{v1}``(镜像没有"
                         "复制这个 v1 变体文件)。"},
    "builtin_only": {"en": "The explorer takes ``{name}`` from its registry: an explorer-only trainer, not part of "
                           "nnU-Net v1.",
                     "zh": "explorer 从它的注册表中取得 ``{name}``:这是 explorer 独有的 trainer,不属于 nnU-Net v1。"},
    "registered": {"en": "The explorer takes ``{name}`` from its registry (``register_trainer`` in this process). "
                         "v1 finds only classes in files under ``nnunet/training/network_training``: save the class "
                         "in a file there (here: ``--trainer_file FILE.py``).",
                   "zh": "explorer 从它的注册表中取得 ``{name}``(在本进程中用 ``register_trainer`` 注册)。v1 只能"
                         "找到 ``nnunet/training/network_training`` 下文件里的类:把这个类存进那里的一个文件(这里用 "
                         "``--trainer_file FILE.py``)。"},
    "other": {"en": "This run uses ``{used}`` from the explorer's registry, not the class v1's search returns: a "
                    "``--trainer_file`` or ``register_trainer`` took over the name, while in v1 the first module "
                    "in the search order wins.",
              "zh": "本次运行使用 explorer 注册表中的 ``{used}``,而不是 v1 的查找返回的类:``--trainer_file`` 或 "
                    "``register_trainer`` 接管了这个名字,而在 v1 中按查找顺序第一个含有它的模块胜出。"},
}


@dataclass(frozen=True)
class TrainerSearch:
    """v1's ``recursive_find_python_class`` as it ran over the explorer's mirror of v1's trainer folder.

    ``root`` is the searched package (``nnunet_explorer.v1.training.network_training``, v1's
    ``nnunet.training.network_training`` by the port rule); ``visits`` the modules imported, in order, each with
    whether it has the name; ``found`` what the search returned (None: v1 fails); ``used`` the class the run
    uses (the explorer's registry's); ``files`` the ``--trainer_file`` path of loaded modules, by module name.
    """

    name: str
    root: str
    visits: tuple[Any, ...]
    found: Any
    used: type
    files: Mapping[str, str]

    def relative(self, module: str) -> str:
        """A visited module's name relative to the searched package (``nnUNet_variants.my_trainers``)."""
        return module[len(self.root) + 1:] if module.startswith(self.root + ".") else module

    @property
    def found_in(self) -> str | None:
        """The module where the name was found (relative), or None."""
        return self.relative(self.visits[-1].module) if self.found is not None and self.visits else None

    def _lines(self) -> tuple[str, list[str], list[str]]:
        """The title, one line per visited module (with its notes), and the closing sentences, in the reader's
        language."""
        from .network_training.registry import builtin_trainer_classes, v1_class_repr
        from .teaching.language import pick

        title = pick(_SEARCH_TEXT["title"]).format(name=repr(self.name), root=self.root)
        rows = []
        for i, visit in enumerate(self.visits, 1):
            name = self.relative(visit.module)
            extra = [pick(_SEARCH_TEXT["file"]).format(path=self.files[visit.module])] if visit.module in self.files \
                else []
            if visit.has_name and self.found is not None and i == len(self.visits):
                extra.append(pick(_SEARCH_TEXT["found_here"]))
            rows.append(name + (f"  <- {'; '.join(extra)}" if extra else ""))
        closing = [pick(_SEARCH_TEXT["order"])]
        if self.found is None:
            closing.append(pick(_SEARCH_TEXT["none"]).format(name=repr(self.name)))
            reference = declared_v1_reference(self.used)
            if self.used in builtin_trainer_classes():
                key = "builtin_v1" if reference is not None else "builtin_only"
                closing.append(pick(_SEARCH_TEXT[key]).format(name=self.used.__name__, v1=reference))
            else:
                closing.append(pick(_SEARCH_TEXT["registered"]).format(name=self.used.__name__))
        else:
            closing.append(pick(_SEARCH_TEXT["returns"]).format(found=repr(self.found), name=repr(self.name)))
            if isinstance(self.found, type) and v1_class_repr(self.found) != repr(self.found):
                closing.append(pick(_SEARCH_TEXT["v1_repr"]).format(v1=v1_class_repr(self.found)))
            if self.found is not self.used:
                closing.append(pick(_SEARCH_TEXT["other"]).format(used=repr(self.used)))
        return title, rows, closing

    def summary(self) -> str:
        from .explore.notes import inline_text

        title, rows, closing = self._lines()
        return "\n".join([inline_text(title), *(f"{i:>3}. {row}" for i, row in enumerate(rows, 1)),
                          *map(inline_text, closing)])

    def _repr_html_(self) -> str:
        import html

        from .explore.notes import inline_html

        title, rows, closing = self._lines()
        items = "".join(f"<li><code>{html.escape(row)}</code></li>" for row in rows)
        text = "".join(f"<p>{inline_html(line)}</p>" for line in closing)
        return f"<div class='nnx-trainer-search'><b>{inline_html(title)}</b><ol>{items}</ol>{text}</div>"


def search_trainer_class(name: str, used: type) -> TrainerSearch:
    """Run v1's ``recursive_find_python_class`` for ``name`` over the explorer's v1-namespace trainer folder.

    The folder is :mod:`nnunet_explorer.v1.training.network_training` (v1's five core trainer modules; its
    ``nnUNet_variants`` package serves the files loaded with ``--trainer_file``, which are searched there as
    plain modules). ``used`` is the class the run uses (from the registry), shown next to what v1 would return.
    """
    from .network_training.registry import LOADED_TRAINER_MODULES
    from .network_training.trainer_search import ModuleVisit, recursive_find_python_class
    from .v1.training import network_training as v1_network_training
    from .v1.training.network_training import nnUNet_variants

    root = v1_network_training.__name__
    loaded = {nnUNet_variants.__name__: sorted(LOADED_TRAINER_MODULES)}
    visits: list[ModuleVisit] = []
    found = recursive_find_python_class(list(v1_network_training.__path__), name, root, visits=visits,
                                        loaded_modules=loaded)
    files = {f"{nnUNet_variants.__name__}.{stem}": str(getattr(module, "__file__", stem))
             for stem, module in LOADED_TRAINER_MODULES.items()}
    return TrainerSearch(name, root, tuple(visits), found, used, files)


@mirrors("nnunet.run.run_training:main")
def trainer_class(parsed_arguments: RunArgs, configuration: Configuration) -> Shown:
    """The trainer class found by name, checked to be an nnU-Net trainer (as ``run_training`` asserts).

    v1's ``get_default_configuration`` calls ``recursive_find_python_class``: it imports the modules under
    ``nnunet/training/network_training`` — a folder's plain modules first, one by one until one has the name;
    only when none has it, its sub-packages, searched the same way — and returns the first attribute with that
    name: the class itself, not a string.
    The card shows that search run over the explorer's mirror of the folder (and your ``--trainer_file``
    files): the modules it imported, in order, and where it found the name. The run takes the class from the
    explorer's registry (the same class for v1's trainers and your files; a class registered in a notebook
    too). The class hierarchy (MRO) decides
    what the trainer sets itself (epochs, learning rate, loss, ...); the plans and ``run_training``'s arguments
    supply the rest: see the next step.
    """
    cls = configuration.trainer_class
    search = search_trainer_class(parsed_arguments.network_trainer, cls)
    check_trainer_class(parsed_arguments.network, cls)
    return Shown(cls, search)


@mirrors("nnunet.run.run_training:main")
def trainer(parsed_arguments: RunArgs, configuration: Configuration, trainer_class: type, *,
            options: ExplorerOptions | None = None, strategy: Any = None) -> Any:
    """The trainer, constructed as ``run_training`` does it, with every hyperparameter and where it was set.

    ``trainer_class(plans_file, fold, output_folder=..., dataset_directory=..., batch_dice=...,
    stage=..., unpack_data=not use_compressed_data, deterministic=..., fp16=not fp32)``; then
    ``--disable_saving`` switches off the final and best checkpoints. The table shows, for each
    hyperparameter, the class of the MRO that set it and its value at each level, the values v1 hard-codes in
    methods (momentum 0.99, gradient clip 12, poly exponent 0.9), and anything your subclass sets that v1 would
    ignore. ``options`` holds the explorer's knobs (``--max_num_epochs`` ... shorter runs, the device);
    v1 has no such flags: you would write a subclass.
    """
    from .run.run_training import build_trainer

    return build_trainer(TrainRequest(parsed_arguments, options or ExplorerOptions()), configuration, strategy)


@dataclass(frozen=True)
class Initialized:
    """What ``trainer.initialize(...)`` did: the v1 methods it called, nested, and the attributes each set."""

    trainer: str
    training: bool
    trace: CallTrace
    single_threaded: bool

    def summary(self) -> str:
        mode = tr("training", "训练") if self.training else tr("inference only (-val)", "仅推理(-val)")
        where = (tr("augmentation in this process", "数据增强在本进程中") if self.single_threaded
                 else tr("augmentation in worker processes", "数据增强在工作进程中"))
        return f"{self.trainer}.initialize({self.training}) [{mode}; {where}]\n" + self.trace.text()

    def _repr_html_(self) -> str:
        import html

        return (f"<div><code>{html.escape(self.trainer)}.initialize({self.training})</code></div>"
                + self.trace._repr_html_())


@mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.initialize")
def initialize(trainer: Any, parsed_arguments: RunArgs, *, single_threaded: bool | None = None) -> Initialized:
    """``trainer.initialize(not validation_only)``: the one call that sets the run up, in v1's order.

    V2's ``initialize`` reads the plans (``load_plans_file``, ``process_plans``), decides the augmentation
    (``setup_DA_params``), wraps the loss for deep supervision, builds the loaders (``get_basic_generators``:
    ``load_dataset``, ``do_split``), unpacks the data, builds the augmentation, then the network
    (``initialize_network``) and the optimizer (``initialize_optimizer_and_scheduler``). This step records those
    calls as they happen, with the attributes each one set and its seconds; the steps after it look at them.
    The libraries those methods import on first use (batchgenerators, torch's compiler stack, which the first
    optimizer loads) are imported before the record starts, so the seconds are the trainer's work, not Python
    loading modules. The step's seed fixes the initial weights (v1 seeds 12345 in the constructor with
    ``--deterministic``).
    """
    from .run.run_training import choose_where_to_augment, import_what_initialize_imports

    if trainer.was_initialized:
        raise ConfigurationError(tr("this trainer is already initialized (v1 runs initialize once per trainer)",
                                    "这个 trainer 已经初始化过了(v1 对每个 trainer 只运行一次 initialize)"),
                                 fix=tr("re-run the 'trainer' step for a fresh trainer, e.g. pipeline.rerun('trainer')",
                                        "重新运行 'trainer' 这一步,得到一个新的 trainer,"
                                        "例如 pipeline.rerun('trainer')"),
                                 step="initialize")
    single = parsed_arguments.deterministic if single_threaded is None else bool(single_threaded)
    training = not parsed_arguments.validation_only
    import_what_initialize_imports()  # outside the trace: its hook would make these imports 2.5 s slower
    with trace_calls(trainer, TRACED_METHODS) as trace:
        trainer.initialize(training)
    choose_where_to_augment(trainer, training=training, single_threaded=single)
    return Initialized(type(trainer).__name__, training, trace, single)


def _initialized(trainer: Any, step: str) -> None:
    if not trainer.was_initialized:
        raise ConfigurationError(tr("the trainer is not initialized", "trainer 还没有初始化"),
                                 fix=tr("run the 'initialize' step first", "先运行 'initialize' 这一步"), step=step)


# ---------------------------------------------------------------------------------------- the looks
@mirrors("nnunet.training.network_training.nnUNetTrainer:nnUNetTrainer.process_plans")
def plans_processed(trainer: Any, initialize: Initialized) -> ProcessedPlans:
    """What ``process_plans`` set on the trainer: the plans of this stage as training uses them.

    Patch size (axes in ``transpose_forward`` order, coarsest spacing first), batch size, pooling and convolution
    kernels per level, number of input channels (modalities) and of classes *including background*
    (``plans['num_classes'] + 1``), whether the data is augmented as "dummy 2D", and the data identifier naming
    the preprocessed folder. A subclass that overrides
    ``process_plans`` (and changes, say, ``self.batch_size`` after ``super()``) shows its values here.
    """
    _initialized(trainer, "plans_processed")
    return processed_from_trainer(trainer)


@mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.setup_DA_params")
def augmentation_parameters(trainer: Any, initialize: Initialized) -> AugmentationSetup:
    """What ``setup_DA_params`` set: the augmentation dict and ``basic_generator_patch_size``.

    The loader cuts a patch larger than the network's ``patch_size``, sized for rotation (V2 in 3D: up to ±30°
    about each axis, but with ``do_dummy_2D_aug`` the in-plane rotation, about the first axis, takes the 2D
    range, ±180°; 2D: up to ±180°, or ±15° when the patch's longest side exceeds 1.5 times its shortest;
    angles above 90° count as 90°) and scaling, so that SpatialTransform's centre crop
    mostly samples loaded data rather than its padding (image 0, label -1). v1 sizes it with the scale range
    (0.85, 1.25), dividing by the smallest factor, and only then widens the range to (0.7, 1.4); a factor above
    1 zooms out, so V2's zoom-out up to 1.4 with a rotation can still reach the padding. With
    ``do_dummy_2D_aug`` (anisotropic data) the first axis is kept and only the in-plane size grows.
    """
    _initialized(trainer, "augmentation_parameters")
    params = trainer.data_aug_params
    scales = getattr(trainer, "deep_supervision_scales", None)
    return AugmentationSetup(
        params, tuple(int(v) for v in trainer.basic_generator_patch_size), tuple(int(v) for v in trainer.patch_size),
        bool(trainer.do_dummy_2D_aug), None if scales is None else tuple(tuple(float(v) for v in s) for s in scales),
        (0.85, 1.25))


@dataclass(frozen=True)
class DeepSupervision:
    """Loss weight, target scale and target shape of every network output (highest resolution first)."""

    weights: tuple[float, ...]
    scales: tuple[tuple[float, ...], ...]
    target_shapes: tuple[tuple[int, ...], ...]

    def summary(self) -> str:
        rows = [tr(f"output {i}: weight {w:.4f}, scale {list(s)}, target {list(t)}",
                   f"输出 {i}：权重 {w:.4f}，尺度 {list(s)}，目标 {list(t)}")
                for i, (w, s, t) in enumerate(zip(self.weights, self.scales, self.target_shapes))]
        return tr(f"{len(self.weights)} outputs, highest resolution first",
                  f"{len(self.weights)} 个输出，最高分辨率在前") + "\n" + "\n".join(rows)


@mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.initialize")
def deep_supervision(trainer: Any, initialize: Initialized) -> DeepSupervision:
    """One loss per decoder level: weights ``1/2**i`` normalised, the lowest-resolution output weighted 0.

    ``initialize`` sets ``self.ds_loss_weights``; the network returns ``len(pool_op_kernel_sizes)`` logit maps
    and the target is downsampled (nearest neighbour) to each map's scale, ``[1, 1, 1]`` then
    ``1 / cumprod(pool_op_kernel_sizes)`` without its last entry. The forward pass computes the lowest-resolution
    output too, but its weight is 0, so the loss skips it and it never trains anything. A trainer without deep
    supervision (``noDeepSupervision``) has one output.
    """
    from .training.deep_supervision import ds_target_shapes

    _initialized(trainer, "deep_supervision")
    pools = [list(p) for p in trainer.net_num_pool_op_kernel_sizes]
    weights = getattr(trainer, "ds_loss_weights", None)
    scales = getattr(trainer, "deep_supervision_scales", None)
    if weights is None or scales is None:
        return DeepSupervision((1.0,), ((1.0,) * len(trainer.patch_size),), (tuple(int(v) for v in trainer.patch_size),))
    return DeepSupervision(tuple(float(w) for w in weights), tuple(tuple(float(v) for v in s) for s in scales),
                           tuple(tuple(int(v) for v in t) for t in ds_target_shapes(trainer.patch_size, pools)))


@mirrors("nnunet.training.loss_functions.deep_supervision:MultipleOutputLoss2")
def loss(trainer: Any, initialize: Initialized) -> Any:
    """``trainer.loss``: cross-entropy + soft Dice (background excluded, smooth 1e-5), summed over the outputs.

    ``DC_and_CE_loss`` returns ``CE + (-Dice)``, so the loss goes negative as Dice improves. ``batch_dice`` from
    the configuration decides whether Dice is computed over the whole batch or per sample. V2's ``initialize``
    wraps the loss ``__init__`` assigned: ``self.loss = MultipleOutputLoss2(self.loss, self.ds_loss_weights)``
    (a variant's ``self.loss = ...`` in its ``__init__`` is what gets wrapped).
    """
    _initialized(trainer, "loss")
    return trainer.loss


@dataclass(frozen=True)
class DatasetIndex:
    """The preprocessed training cases of the stage folder (v1's ``self.dataset``)."""

    folder: Path
    cases: Mapping[str, dict]
    unpacked: tuple[str, ...]

    def summary(self) -> str:
        unpacked = tr(f"; unpacked {len(self.unpacked)} .npz -> .npy", f";已解压 {len(self.unpacked)} 个 .npz -> .npy"
                      ) if self.unpacked else ""
        return tr(f"{len(self.cases)} cases in {self.folder}", f"{self.folder} 中的 {len(self.cases)} 个病例") + unpacked


@mirrors("nnunet.training.dataloading.dataset_loading:load_dataset")
def dataset(trainer: Any, initialize: Initialized) -> DatasetIndex:
    """``trainer.dataset``: the preprocessed cases of ``<data_identifier>_stage<stage>``, unpacked to ``.npy``.

    v1 decompresses every ``CASE.npz`` to ``CASE.npy`` once (``unpack_data``), so that loaders memory-map a
    case and read only the patch they need; ``--use_compressed_data`` skips this. v1 skips a ``.npy`` that
    exists, even one cut short by an interrupted unpacking (its loaders then fail on that case, e.g. "mmap length
    is greater than file size"); the explorer unpacks such a file again. The cascade's cases also name the
    ``3d_lowres`` segmentation each one gets.
    """
    _initialized(trainer, "dataset")
    if trainer.dataset is None:
        raise ConfigurationError(tr("no dataset: the trainer was initialized for inference only (-val)",
                                    "没有 dataset:这个 trainer 是只为推理初始化的(-val)"),
                                 fix=tr("run without -val to see the training data", "不带 -val 运行,才能看到训练数据"),
                                 step="dataset")
    folder = Path(trainer.folder_with_preprocessed_data)
    unpacked = tuple(sorted(p.name for p in folder.glob("*.npy"))) if trainer.unpack_data else ()
    return DatasetIndex(folder, trainer.dataset, unpacked)


@dataclass(frozen=True)
class Split:
    """Training and validation case ids of the fold."""

    fold: int | str
    train: tuple[str, ...]
    val: tuple[str, ...]
    splits_in_file: int | None = None  # set when the fold is beyond splits_final.pkl: v1's random 80:20 split

    def summary(self) -> str:
        shown = f"{', '.join(self.val[:6])}{' ...' if len(self.val) > 6 else ''}"
        held = self.splits_in_file
        # the counts first: the step table cuts a long line
        random = tr("; v1's random 80:20 split, no cross-validation fold: splits_final.pkl holds only "
                    f"{splits_held(held)}",
                    f";v1 的随机 80:20 划分,不是交叉验证的一折:splits_final.pkl 只有 {splits_held(held)}"
                    ) if held is not None else ""
        return tr(f"fold {self.fold}: {len(self.train)} training cases, {len(self.val)} validation cases{random} "
                  f"(val: {shown})",
                  f"fold {self.fold}：{len(self.train)} 个训练病例,{len(self.val)} 个验证病例{random}(验证:{shown})")


@mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.do_split")
def split(trainer: Any, initialize: Initialized) -> Split:
    """``trainer.dataset_tr`` / ``dataset_val``: the fold's cases from ``splits_final.pkl``.

    The file is created on first use: 5 folds, KFold seed 12345 over the sorted case names, so the folds depend
    only on the names. Fold 'all' trains and validates on every case; a fold not below the number of splits in
    the file (5 when v1 wrote it) draws a random 80:20 split (seed 12345 + fold).
    """
    _initialized(trainer, "split")
    if trainer.dataset_tr is None:
        raise ConfigurationError(tr("no split: the trainer was initialized for inference only (-val)",
                                    "没有划分(split):这个 trainer 是只为推理初始化的(-val)"),
                                 fix=tr("run without -val", "不带 -val 运行"), step="split")
    # the trainer's do_split says whether it drew v1's random split; a user's own do_split never does
    random = trainer.explorer.random_split
    drawn = random is not None and random[0] == trainer.fold and random[2] == tuple(sorted(trainer.dataset_val))
    splits_in_file = random[1] if drawn else None
    return Split(trainer.fold, tuple(trainer.dataset_tr), tuple(trainer.dataset_val), splits_in_file)


@mirrors("nnunet.training.network_training.nnUNetTrainer:nnUNetTrainer.get_basic_generators")
def dataloader(trainer: Any, initialize: Initialized) -> Any:
    """``trainer.dl_tr``: batches of ``basic_generator_patch_size`` patches, some forced to hold foreground.

    It cuts ``batch_size`` patches of the *larger* loader size from random training cases; the last
    ``batch_size - round(batch_size * (1 - 0.33))`` samples of each batch are centred on a random foreground
    voxel of a random class present in the case. Outside the case the image is padded with 0 and the
    segmentation with -1. ``get_basic_generators`` is the one place loaders are built: the run, DDP and the
    views all use it.
    """
    _initialized(trainer, "dataloader")
    if trainer.dl_tr is None:
        raise DatasetError(tr("no loader: the trainer was initialized for inference only (-val)",
                              "没有数据加载器(loader):这个 trainer 是只为推理初始化的(-val)"),
                           fix=tr("run without -val", "不带 -val 运行"), step="dataloader")
    return trainer.dl_tr


@mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.initialize_network")
def network(trainer: Any, initialize: Initialized, plans_processed: ProcessedPlans) -> Any:
    """``trainer.network``: the Generic_UNet built by ``initialize_network``, checked against v1's contract.

    Levels follow ``pool_op_kernel_sizes``; features start at ``base_num_features`` and double per level up to
    320 (3D) / 480 (2D); every block is conv -> instance norm -> leaky ReLU, ``conv_per_stage`` times. Your own
    network comes in the v1 way: override ``initialize_network`` in a subclass (notebook 07); this step says
    precisely what does not fit: number and shapes of the deep-supervision outputs, ``do_ds`` switching,
    ``inference_apply_nonlin``; a plans patch the pooling does not divide, or one so small that the deepest level
    has a single voxel (hand edits), is named as the plans' problem, with the nearest valid patches or the pooling
    v1's planner gives that patch.
    """
    from .training.contract import check_network_contract

    _initialized(trainer, "network")
    net = trainer.network
    with untouched(trainer):
        check_network_contract(net, patch_size=plans_processed.patch_size, batch_size=1,
                               num_input_channels=plans_processed.num_input_channels,
                               num_classes=plans_processed.num_classes,
                               pool_op_kernel_sizes=plans_processed.net_num_pool_op_kernel_sizes,
                               deep_supervision=getattr(trainer, "ds_loss_weights", None) is not None,
                               raise_on_error=True, spacing=_stage_spacing(trainer, plans_processed.stage),
                               plans_file=getattr(trainer, "plans_file", None))
    return net


def _stage_spacing(trainer: Any, stage: int) -> Sequence[float] | None:
    """The plans' ``current_spacing`` of the stage the trainer runs (None when the plans lack it)."""
    spacing = ((getattr(trainer, "plans", None) or {}).get("plans_per_stage") or {}).get(stage, {})
    return spacing.get("current_spacing") if isinstance(spacing, Mapping) else None


@mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer.plot_network_architecture")
def architecture(trainer: Any, network: Any, plans_processed: ProcessedPlans, deep_supervision: DeepSupervision):
    """The network level by level for one batch: shapes, channels, parameters, deep-supervision heads."""
    from .training.architecture import describe_network

    size = (plans_processed.batch_size, plans_processed.num_input_channels, *plans_processed.patch_size)
    with untouched(trainer):
        return describe_network(network, size, ds_weights=deep_supervision.weights)


@mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.initialize_optimizer_and_scheduler")
def optimizer(trainer: Any, initialize: Initialized) -> Any:
    """``trainer.optimizer``: SGD, lr 1e-2, momentum 0.99, Nesterov, weight decay 3e-5 (V2).

    ``initialize_optimizer_and_scheduler`` builds it over the network's parameters; 0.99 and Nesterov are
    literals in that method (override the method to change them; V2's ``on_epoch_end`` lowers the momentum
    to 0.95 and re-initialises the network's weights if, at epoch 100, the last Dice estimate is exactly 0). V2
    has no scheduler object: ``run_training`` first sets ``lr = poly_lr(epoch)`` for the start epoch and then,
    after every epoch, the next epoch's rate (see the next step).
    """
    _initialized(trainer, "optimizer")
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
        return tr(f"{n} epochs, {self.rule}; {shown}", f"{n} 个 epoch,{self.rule};{shown}")


@mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.maybe_update_lr")
def lr_schedule(trainer: Any, initialize: Initialized) -> LRSchedule:
    """The rate each epoch trains with, from the trainer's own ``maybe_update_lr`` (V2: the poly rule).

    V2: ``lr = initial_lr * (1 - epoch / max_num_epochs) ** 0.9``; the rate falls almost linearly (the drop per
    epoch grows towards the end, in a 1000-epoch run to about twice the first one), reaching
    ``initial_lr * (1 / max_num_epochs) ** 0.9`` in the last epoch (never 0). The curve is computed by calling
    the trainer's ``maybe_update_lr`` as ``run_training`` does (with the start epoch, then after each epoch) on
    a stand-in optimizer, so a subclass's schedule (warm-up, fixed steps) shows as it is.
    """
    import torch

    _initialized(trainer, "lr_schedule")
    epochs = int(trainer.max_num_epochs)
    saved = (trainer.optimizer, trainer.epoch)
    probe = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=float(trainer.optimizer.param_groups[0]["lr"]),
                            momentum=float(trainer.optimizer.param_groups[0].get("momentum", 0.0)))
    lrs: list[float] = []
    rule = type(trainer).maybe_update_lr.__qualname__
    try:
        trainer.optimizer = probe
        with trainer.explorer.muted_log(), untouched(trainer):
            try:
                trainer.epoch = 0
                trainer.maybe_update_lr(0)
            except TypeError:  # v1's base trainer: maybe_update_lr() steps a scheduler, no epoch argument
                return LRSchedule(np.array([]), f"{rule}: depends on the run (a scheduler on the training loss)")
            lrs.append(float(probe.param_groups[0]["lr"]))
            for e in range(epochs - 1):
                trainer.epoch = e
                trainer.maybe_update_lr()
                lrs.append(float(probe.param_groups[0]["lr"]))
    finally:
        trainer.optimizer, trainer.epoch = saved
    return LRSchedule(np.array(lrs), rule)


_FORCED_TEXT = {"en": "forced to contain foreground (get_do_oversample): sample(s) {which}",
                "zh": "被强制包含前景的样本(get_do_oversample):{which}"}


@dataclass(frozen=True)
class Batch:
    """One augmented training batch as the network sees it.

    ``forced`` holds, per sample, whether the loader forced it to contain foreground (v1's
    ``get_do_oversample(j)``: ``not j < round(batch_size * (1 - oversample_foreground_percent))``, the last samples
    of the batch), as the loader recorded it; empty when the loader does not say.
    """

    data: Any
    target: tuple[Any, ...]
    keys: tuple[str, ...]
    loaded_shape: tuple[int, ...]
    transforms: tuple[str, ...]
    forced: tuple[bool, ...] = ()
    run_path: str = ""

    def summary(self) -> str:
        from .explore import summarize_text
        from .teaching.language import pick

        lines = [tr(f"cases {list(self.keys)}; the loader cut {list(self.loaded_shape)}, augmentation cropped to "
                    f"{list(self.data.shape)}",
                    f"病例 {list(self.keys)};加载器切出 {list(self.loaded_shape)},数据增强裁剪到 {list(self.data.shape)}"),
                 f"data: {summarize_text(self.data)}"]
        if self.forced:
            which = [j for j, f in enumerate(self.forced) if f]
            lines.append(pick(_FORCED_TEXT).format(which=which))
        lines += [f"target[{i}]: {summarize_text(t)}" for i, t in enumerate(self.target)]
        lines.append(tr(f"transforms ({len(self.transforms)}): ", f"变换(共 {len(self.transforms)} 个):")
                     + " -> ".join(t.split("(")[0] for t in self.transforms))
        if self.run_path:
            lines.append(self.run_path)
        return "\n".join(lines)


@mirrors("nnunet.training.data_augmentation.data_augmentation_moreDA:get_moreDA_augmentation")
def batch(trainer: Any, initialize: Initialized) -> Batch:
    """One batch through the trainer's own loader and transforms (``dl_tr``, then ``tr_gen``'s transform).

    The data is ``(b, c, *patch)`` float32 (spatial axes in ``transpose_forward`` order) of the network's patch
    size; the target is a list with one
    ``(b, 1, ...)`` label map per deep-supervision output. The last sample(s) of the batch were forced to contain
    foreground (``get_do_oversample``: the last ``batch_size - round(batch_size * (1 - 0.33))``, so 1 of 2 or of 3,
    none of 1); the picture frames them. Drawn in this process with the step's seed
    (re-running with the same seed gives the same batch; ``pipeline.rerun("batch", seed=3)`` draws another one);
    the random streams the training draws from afterwards are left as they were.
    """
    from .training.augmentation import describe_transform

    _initialized(trainer, "batch")
    if trainer.dl_tr is None:
        raise DatasetError(tr("no loader: the trainer was initialized for inference only (-val)",
                              "没有数据加载器(loader):这个 trainer 是只为推理初始化的(-val)"),
                           fix=tr("run without -val", "不带 -val 运行"), step="batch")
    transform = trainer.tr_gen.transform
    transforms = list(getattr(transform, "transforms", [transform]))
    with untouched(trainer):
        raw = next(trainer.dl_tr)
        loaded_shape = tuple(int(v) for v in raw["data"].shape)
        out = transform(**raw)
    target = out["target"]
    targets = tuple(target) if isinstance(target, (list, tuple)) else (target,)
    provenance = raw.get("provenance")
    if provenance is not None:  # the loader's own record of each sample
        forced = tuple(bool(p.forced) for p in provenance)
    elif hasattr(trainer.dl_tr, "get_do_oversample"):  # a loader of v1's shape without the record
        forced = tuple(bool(trainer.dl_tr.get_do_oversample(j)) for j in range(len(raw["keys"])))
    else:
        forced = ()
    return Batch(out["data"], targets, tuple(str(k) for k in raw["keys"]), loaded_shape,
                 tuple(describe_transform(t) for t in transforms), forced, _run_path(trainer.tr_gen))


def _run_path(generator: Any) -> str:
    """Where the run computes these same transforms: batchgenerators in worker processes (v1), the device
    augmenter (the draws in the workers, the arithmetic on the training device: the same numbers), or
    batchgenerators in the training process (--deterministic / --single_threaded); empty for a generator of the
    trainer's own."""
    if isinstance(generator, DeviceAugmenter):
        device, steps = generator.device, generator.chain.steps
        on_device = sum(1 for step in steps if step.where == "device")
        return tr(f"the run computes these transforms on {device} ({on_device} of {len(steps)}; the random draws in "
                  f"the loader workers, as v1 draws them): the same batches as batchgenerators, bit for bit on a CPU; "
                  f"this look draws its batch with batchgenerators",
                  f"训练时这些变换在 {device} 上计算(共 {len(steps)} 个中的 {on_device} 个;随机数仍在加载器工作进程中"
                  f"按 v1 的顺序抽取):与 batchgenerators 给出相同的批次,在 CPU 上逐位相同;此处的查看用 batchgenerators 抽取")
    n = getattr(generator, "num_processes", None)  # MultiProcessAugmenter, or batchgenerators' own in a v1 override
    if n:
        return tr(f"the run computes these transforms with batchgenerators in {n} worker process(es), as v1",
                  f"训练时这些变换由 batchgenerators 在 {n} 个工作进程中计算,与 v1 相同")
    if isinstance(generator, SingleThreadedAugmenter):
        return tr("the run computes these transforms with batchgenerators in the training process itself "
                  "(the explorer's --deterministic / --single_threaded; v1 always uses worker processes)",
                  "训练时这些变换由 batchgenerators 在训练进程内计算(explorer 的 --deterministic / "
                  "--single_threaded;v1 总是使用工作进程)")
    return ""


@dataclass(frozen=True)
class IterationLook:
    """What the ``iteration`` step shows: the trainer's own ``run_iteration``, then v1's fp16 branch call by call.

    ``record`` is the iteration as the run does it (an :class:`~nnunet_explorer.training.iteration.
    IterationRecord`; a ``LossRecord`` for an override that bypasses the explorer's recorded iteration). Its fields
    read through: ``look.loss`` is ``look.record.loss``. ``mixed_precision`` is the fp16 lesson
    (:class:`~nnunet_explorer.training.mixed_precision.Fp16Lesson`): the run's own GradScaler where the run uses
    one, else a labelled demonstration (on a CPU: torch's CPU float16); None with the reason in ``not_shown``.
    """

    record: Any
    mixed_precision: Any = None
    fp16_requested: bool = False
    not_shown: str | None = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "record":  # copy/pickle probe dunders before ``record`` exists
            raise AttributeError(name)
        return getattr(self.record, name)

    @property
    def fp16_used(self) -> bool:
        """The run's own iteration trained under autocast with a GradScaler (v1: fp16 on CUDA)."""
        return bool(getattr(self.record, "fp16_used", False))

    def summary(self) -> str:
        from .teaching.mixed_precision import fp16_line

        line = fp16_line(self.mixed_precision, fp16_used=self.fp16_used)
        return repr(self.record) + (f"\n{line}" if line else "")

    def fp16_text(self) -> str:
        """The mixed-precision lesson as text, in the language of the moment."""
        from .teaching.mixed_precision import fp16_text

        return fp16_text(self.mixed_precision, fp16_used=self.fp16_used, fp16_requested=self.fp16_requested,
                         reason=self.not_shown)

    def _repr_html_(self) -> str:
        from .explore.html import value_html
        from .teaching.mixed_precision import fp16_html

        return value_html(self.record) + fp16_html(self.mixed_precision, fp16_used=self.fp16_used,
                                                   fp16_requested=self.fp16_requested, reason=self.not_shown)


def _fp16_look(trainer: Any, data: dict, record: Any, cpu_voxels: int | None) -> tuple[Any, str | None]:
    """v1's fp16 branch on the iteration's batch and the trainer's network, loss and optimizer (a look).

    Starts from the trainer's own GradScaler when the run uses one (its current scale), else from a fresh one as
    v1's ``_maybe_init_amp`` makes it. On a CPU it runs on a crop of about ``cpu_voxels`` voxels (see ``centre_crop``).
    """
    import math

    from .network_training.nnUNetTrainerV2 import nnUNetTrainerV2
    from .training.iteration import uses_grad_scaler
    from .training.mixed_precision import fp16_step_lesson, pool_factors

    device = next(trainer.network.parameters()).device
    kernels = getattr(trainer, "net_num_pool_op_kernel_sizes", None)
    clip = getattr(record, "clip_norm", 12.0 if isinstance(trainer, nnUNetTrainerV2) else None)
    clip = None if clip is None or not math.isfinite(clip) else float(clip)
    try:
        with untouched(trainer):
            trainer.network.train()
            if hasattr(trainer.network, "do_ds"):
                trainer.network.do_ds = getattr(trainer, "ds_loss_weights", None) is not None
            lesson = fp16_step_lesson(
                trainer.network, trainer.loss, trainer.optimizer, data["data"], data["target"],
                grad_scaler=trainer.amp_grad_scaler if uses_grad_scaler(trainer) else None, clip_norm=clip,
                max_voxels=cpu_voxels if device.type == "cpu" else None,
                factors=pool_factors(kernels) if kernels else None)
    except Exception as exc:  # noqa: BLE001 - a lesson that cannot run must not cost the learner the record
        return None, f"{type(exc).__name__}: {exc}"
    return lesson, None


@mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.run_iteration")
def iteration(trainer: Any, batch: Batch, *, fp16_lesson: bool = True, fp16_cpu_voxels: int | None = 2048
              ) -> IterationLook:
    """``trainer.run_iteration``: forward, deep-supervision loss, backward, clip the gradient norm to 12, step.

    The trainer's own ``run_iteration`` (a subclass's override included) runs on this batch as a training iteration
    (with backpropagation), its online evaluation switched on so that the record can show tp/fp/fn (v1's loop runs
    the online evaluation on validation batches only); then the weights, optimizer state and random streams are put
    back, so the run is not changed by looking. The record shows the loss per output, the gradient norm before and
    after clipping, the learning rate and the time spent in each phase (all read from the device at once).

    Then v1's mixed-precision branch, call by call (``fp16_lesson``): autocast, ``scale(l).backward()``,
    ``unscale_``, ``clip_grad_norm_``, ``step``, ``update``, the scale S and the gradient norms of each phase, a
    step the scaler skips, and this network's gradient sizes against float16's range. Where the run uses fp16 (a
    GPU) these are the trainer's own GradScaler's numbers; on a CPU, where v1 trains in float32, a demonstration
    with torch's CPU float16 on a crop of one sample of about ``fp16_cpu_voxels`` voxels (None: the whole batch; the
    crop keeps one pooling factor per axis, so it can be larger), whose numbers are the crop's, not the batch's.
    """
    _initialized(trainer, "iteration")
    data = {"data": batch.data, "target": list(batch.target) if len(batch.target) > 1 else batch.target[0]}
    with untouched(trainer), trainer.explorer.muted_log():
        trainer._maybe_init_amp()  # as run_training would; untouched takes a scaler made here away again
        trainer.network.train()
        if hasattr(trainer.network, "do_ds"):
            trainer.network.do_ds = getattr(trainer, "ds_loss_weights", None) is not None
        loss_value = trainer.run_iteration(iter([data]), True, True)
        record = trainer.explorer.take_record()
    if record is None:  # an override that does not use the explorer's recorded iteration: its loss only
        from .network_training.explorer_hooks import LossRecord

        value = float(np.asarray(loss_value, dtype=np.float64).reshape(-1)[0])
        record = LossRecord(value, None if np.isfinite(value) else "loss",
                            float(trainer.optimizer.param_groups[0]["lr"]))
    lesson, not_shown = _fp16_look(trainer, data, record, fp16_cpu_voxels) if fp16_lesson else (None, None)
    return IterationLook(record, lesson, bool(trainer.fp16), not_shown)


# -------------------------------------------------------------------------------------------- pipeline
# v1's order (run_training.main, then initialize), the looks after initialize, then the run's steps.
TRAINING_STEPS: tuple[Callable[..., Any], ...] = (
    parsed_arguments, task_name, configuration, trainer_class, trainer, initialize, plans_processed,
    augmentation_parameters, deep_supervision, loss, dataset, split, dataloader, network, architecture, optimizer,
    lr_schedule, batch, iteration,
)
TRAINING_STEP_NAMES: tuple[str, ...] = tuple(f.__name__ for f in TRAINING_STEPS)
from .walkthrough_run import RUN_STEPS  # noqa: E402  (the run after the first iteration; it imports nothing here)

WALKTHROUGH_STEPS: tuple[Callable[..., Any], ...] = TRAINING_STEPS + RUN_STEPS
WALKTHROUGH_STEP_NAMES: tuple[str, ...] = tuple(f.__name__ for f in WALKTHROUGH_STEPS)
if WALKTHROUGH_STEP_NAMES != _STEP_NAMES:  # the command line offers step_names' list without importing torch
    raise ImportError(f"nnunet_explorer.step_names is out of date: {WALKTHROUGH_STEP_NAMES}")
#: steps after which the trainer has done everything v1's main does before run_training (the real run's setup)
SETUP_STEPS: tuple[str, ...] = TRAINING_STEP_NAMES[:TRAINING_STEP_NAMES.index("initialize") + 1]
#: the looks that cost nothing (the report of a real `train` shows them)
CHEAP_LOOKS: tuple[str, ...] = ("plans_processed", "augmentation_parameters", "deep_supervision", "loss", "dataset",
                                "split", "dataloader", "optimizer", "lr_schedule")
_SEEDED_STEPS = ("initialize", "batch")  # the pipeline seeds before them: the initial weights, the batch
_LOOKS = ("network", "architecture", "lr_schedule", "batch", "iteration")  # they leave the random streams alone


def training_walkthrough(network: str, network_trainer: str, task: str | int, fold: str | int, *,
                         validation_only: bool = False, continue_training: bool = False,
                         p: str = default_plans_identifier, use_compressed_data: bool = False,
                         deterministic: bool = False, npz: bool = False, find_lr: bool = False,
                         valbest: bool = False, fp32: bool = False, val_folder: str = "validation_raw",
                         disable_saving: bool = False, disable_postprocessing_on_folds: bool = False,
                         disable_validation_inference: bool = False, val_disable_overwrite: bool = True,
                         disable_next_stage_pred: bool = False, pretrained_weights: str | None = None,
                         max_num_epochs: int | None = None, num_batches_per_epoch: int | None = None,
                         num_val_batches_per_epoch: int | None = None, workspace: Workspace | None = None,
                         seed: int | None = DEFAULT_SEED, device: Any = "auto", **options: Any) -> Pipeline:
    """``nnUNet_train network network_trainer task fold [flags]`` as a pipeline of inspectable steps.

    Takes exactly ``run_training.py``'s arguments (each v1 flag as a keyword with v1's default) plus the
    explorer's: ``max_num_epochs`` / ``num_batches_per_epoch`` / ``num_val_batches_per_epoch`` (shorter runs),
    ``workspace`` (the nnU-Net folders; default: the environment), ``seed`` (the initial weights and the batch),
    ``device`` (``auto``: CUDA where available) and any other :class:`~nnunet_explorer.run.run_training.
    ExplorerOptions` field. Nothing runs until you call ``run()`` (or index the pipeline)::

        p = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0)
        p.run(until="configuration"); print(p["configuration"].printed_text)
        p.run(until="iteration"); p.summary()
    """
    args = RunArgs(network, network_trainer, str(task), str(fold), validation_only, continue_training, p,
                   use_compressed_data, deterministic, npz, find_lr, valbest, fp32, val_folder, disable_saving,
                   disable_postprocessing_on_folds, disable_validation_inference, val_disable_overwrite,
                   disable_next_stage_pred, pretrained_weights)
    opts = ExplorerOptions(max_num_epochs=max_num_epochs, num_batches_per_epoch=num_batches_per_epoch,
                           num_val_batches_per_epoch=num_val_batches_per_epoch, seed=seed, device=device, **options)
    return walkthrough_for(TrainRequest(args, opts), workspace=workspace)


def walkthrough_for(request: TrainRequest, *, workspace: Workspace | None = None, strategy: Any = None) -> Pipeline:
    """The training walkthrough of one typed request (what ``nnunet-explorer train`` builds once it has parsed)."""
    from dataclasses import asdict

    args = request.args
    params: dict[str, dict[str, Any]] = {"parsed_arguments": asdict(args)}
    if workspace is not None:
        for name in ("task_name", "configuration", "prediction"):
            params[name] = {"workspace": workspace}
    params["trainer"] = {"options": request.options, "strategy": strategy}
    params["initialize"] = {"single_threaded": request.options.single_threaded}
    params["training_epochs"] = {"options": request.options}
    seed = request.options.seed
    steps = [make_step(f, seed=seed if f.__name__ in _SEEDED_STEPS else None, isolated_rng=f.__name__ in _LOOKS)
             for f in WALKTHROUGH_STEPS]
    from .teaching import attach_teaching  # every card's why, pitfalls and glossary links; the report's contents

    name = f"nnUNet_train {args.network} {args.network_trainer} {args.task} {args.fold}"
    return attach_teaching(Pipeline(steps, name=name, params=params))


__all__ = ["CHEAP_LOOKS", "DEFAULT_SEED", "IterationLook", "SETUP_STEPS", "TRACED_METHODS", "TRAINING_STEPS",
           "TRAINING_STEP_NAMES", "WALKTHROUGH_STEPS", "WALKTHROUGH_STEP_NAMES", "training_walkthrough", "untouched",
           "walkthrough_for"]
