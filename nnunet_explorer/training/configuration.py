"""What ``nnUNet_train NETWORK TRAINER TASK FOLD`` means: its arguments and the configuration they resolve to.

Two v1 pieces live here:

* ``run_training.py``'s command line, as :class:`RunArgs` (the parser is :func:`nnunet_explorer.commands.run_training.build_run_training_parser`; the same
  flags, spellings and defaults, including v1's inverted ``--val_disable_overwrite``);
* ``get_default_configuration``: from network + task + trainer name to the plans file, the results
  folder, the preprocessed folder, ``batch_dice``, the stage and the trainer class, with the block of text
  v1 prints (reproduced character for character in :attr:`Configuration.printed_text`).
"""
from __future__ import annotations

import io
import re
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..errors import ConfigurationError, PlansError
from ..paths import NETWORKS, Workspace, default_plans_identifier, get_workspace
from ..provenance import mirrors

HASH_LINE = "#" * 47


@dataclass(frozen=True)
class RunArgs:
    """The parsed arguments of v1's ``nnUNet_train`` (``run_training.py``), one field per argparse ``dest``.

    Values are exactly what v1's parser produces: ``task`` and ``fold`` stay strings (v1 converts them
    later), ``p`` is the plans identifier, and ``val_disable_overwrite`` is True *unless* the flag is given
    (v1 declares it ``store_false``: the value is passed on as ``overwrite=``).
    """

    network: str
    network_trainer: str
    task: str
    fold: str
    validation_only: bool = False
    continue_training: bool = False
    p: str = default_plans_identifier
    use_compressed_data: bool = False
    deterministic: bool = False
    npz: bool = False
    find_lr: bool = False
    valbest: bool = False
    fp32: bool = False
    val_folder: str = "validation_raw"
    disable_saving: bool = False
    disable_postprocessing_on_folds: bool = False
    disable_validation_inference: bool = False
    val_disable_overwrite: bool = True
    disable_next_stage_pred: bool = False
    pretrained_weights: str | None = None

    @property
    def plans_identifier(self) -> str:
        return self.p

    @property
    def decompress_data(self) -> bool:
        """v1: ``unpack_data = not use_compressed_data``."""
        return not self.use_compressed_data

    @property
    def run_mixed_precision(self) -> bool:
        """v1: ``fp16 = not fp32``: mixed precision is the default (it switches itself off without CUDA)."""
        return not self.fp32

    @property
    def validation_overwrite(self) -> bool:
        """What v1 passes as ``validate(overwrite=...)``: the (inverted) ``val_disable_overwrite`` value."""
        return self.val_disable_overwrite

    def fold_value(self) -> int | str:
        """``'all'`` or the fold as an int (v1: ``int(fold)``), checked; see :func:`parse_fold`."""
        return parse_fold(self.fold)

    def changed_from_defaults(self) -> dict[str, Any]:
        """The optional arguments that differ from v1's defaults."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.default is not MISSING and getattr(self, f.name) != f.default}

    def inactive_flags(self) -> list[str]:
        """Flags given here that act only in training, validation or inference, which the explorer's
        walkthrough does not run yet (they are recorded and passed on, but change nothing in its steps)."""
        later = ("validation_only", "continue_training", "npz", "find_lr", "valbest", "val_folder",
                 "disable_postprocessing_on_folds", "disable_validation_inference", "val_disable_overwrite",
                 "disable_next_stage_pred", "pretrained_weights")
        return [name for name in later if name in self.changed_from_defaults()]

    def summary(self) -> str:
        changed = self.changed_from_defaults()
        flags = ", ".join(f"{k}={v!r}" for k, v in changed.items()) or "all flags at v1's defaults"
        text = f"{self.network} {self.network_trainer} {self.task} {self.fold} ({flags})"
        inactive = self.inactive_flags()
        if inactive:
            text += ("\nnot acted on yet (they matter for training, validation or inference, which the walkthrough "
                     "does not run): " + ", ".join(inactive))
        return text




def parse_fold(fold: int | str) -> int | str:
    """v1's rule: ``'all'`` stays ``'all'``, anything else is ``int(fold)``.

    Folds 0-4 are the five cross-validation folds of ``splits_final.pkl``. v1's V2 trainer also accepts
    a fold ≥ 5 and then draws a random 80:20 split seeded with ``12345 + fold``; that is kept. A negative
    fold is refused: v1 would silently train on split ``fold % 5`` while naming the folder ``fold_-1``.

    Raises:
        ConfigurationError: the fold is neither an integer ≥ 0 nor ``'all'``.
    """
    if fold == "all":
        return "all"
    try:
        value = int(fold)
    except (TypeError, ValueError):
        raise ConfigurationError(f"fold {fold!r} is neither a number nor 'all'",
                                 fix="use 0, 1, 2, 3 or 4 (a five-fold cross-validation), or 'all'",
                                 step="parsed_arguments") from None
    if value < 0:
        # differs from v1: v1 indexes splits[-1] (fold 4's split) but writes to fold_-1
        raise ConfigurationError(f"fold {value} is negative",
                                 fix="use 0, 1, 2, 3 or 4, or 'all'", step="parsed_arguments")
    return value


def run_args_from_namespace(namespace: Any) -> RunArgs:
    """Pick the :class:`RunArgs` fields out of a namespace (extra explorer options are ignored)."""
    return RunArgs(**{f.name: getattr(namespace, f.name) for f in fields(RunArgs)})


# ----------------------------------------------------------------------------------------- configuration
@dataclass(frozen=True)
class Configuration:
    """What ``get_default_configuration`` returns, plus the text it prints.

    v1 returns the 6-tuple ``(plans_file, output_folder_name, dataset_directory, batch_dice, stage,
    trainer_class)`` (:meth:`as_v1_tuple`). ``output_folder_name`` is the folder *above* ``fold_<k>``.
    """

    plans_file: Path
    output_folder_name: Path
    dataset_directory: Path
    batch_dice: bool
    stage: int
    trainer_class: type
    printed_text: str
    network: str
    task: str
    plans_identifier: str
    data_folder: Path
    num_stages: int
    plans: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)

    def as_v1_tuple(self) -> tuple[str, str, str, bool, int, type]:
        return (str(self.plans_file), str(self.output_folder_name), str(self.dataset_directory), self.batch_dice,
                self.stage, self.trainer_class)

    @property
    def folder_with_preprocessed_data(self) -> Path:
        """``<dataset_directory>/<data_identifier>_stage<stage>``: where the training cases are read from."""
        return self.dataset_directory / f"{self.plans['data_identifier']}_stage{self.stage}"

    def summary(self) -> str:
        dice = "batch dice" if self.batch_dice else "sample dice"
        return (f"{self.network} on {self.task}, stage {self.stage} of {self.num_stages}, {dice} + CE, "
                f"trainer {self.trainer_class.__name__}, plans {self.plans_file.name}")

    def _repr_html_(self) -> str:
        import html

        rows = "".join(f"<tr><td><code>{k}</code></td><td><code>{html.escape(str(v))}</code></td></tr>" for k, v in (
            ("plans_file", self.plans_file), ("output_folder_name", self.output_folder_name),
            ("dataset_directory", self.dataset_directory), ("batch_dice", self.batch_dice), ("stage", self.stage),
            ("trainer_class", self.trainer_class.__name__)))
        return (f"<table>{rows}</table><details><summary>what v1 prints</summary>"
                f"<pre>{html.escape(self.printed_text)}</pre></details>")


def _task_id_hint(task: str) -> str:
    match = re.match(r"^Task(\d+)_", task)
    return match.group(1).lstrip("0") or "0" if match else "ID"


def plans_file_for(network: str, task: str, plans_identifier: str = default_plans_identifier,
                   workspace: Workspace | None = None) -> Path:
    """``<nnUNet_preprocessed>/<task>/<plans_identifier>_plans_2D.pkl`` for 2d, ``..._plans_3D.pkl`` otherwise."""
    workspace = workspace or get_workspace()
    suffix = "_plans_2D.pkl" if network == "2d" else "_plans_3D.pkl"
    return workspace.preprocessed_task_dir(task) / (plans_identifier + suffix)


@mirrors("nnunet.run.default_configuration:get_default_configuration")
def get_default_configuration(network: str, task: str, network_trainer: str,
                              plans_identifier: str = default_plans_identifier,
                              workspace: Workspace | None = None) -> Configuration:
    """Resolve network + task + trainer to plans, folders, stage, ``batch_dice`` and trainer class.

    v1's rules:

    * the plans file is ``<plans_identifier>_plans_2D.pkl`` for ``2d``, ``..._plans_3D.pkl`` for the rest;
    * ``3d_lowres`` and ``3d_cascade_fullres`` need plans with two stages (a low-resolution stage 0 and a
      full-resolution stage 1); on one-stage plans there is no cascade;
    * the stage is 0 for ``2d`` and ``3d_lowres``, the *last* stage for ``3d_fullres`` and
      ``3d_cascade_fullres`` (0 for one-stage plans);
    * ``batch_dice`` (Dice over the whole batch rather than per sample) is True for ``2d``, and for the 3D
      full-resolution networks only when the plans have more than one stage; ``3d_lowres`` always uses
      sample Dice. So a plain ``3d_fullres`` run on one-stage plans trains with *sample* Dice;
    * results go to ``RESULTS_FOLDER/nnUNet/<network>/<task>/<trainer>__<plans_identifier>``.

    Raises:
        ConfigurationError: unknown network or trainer, or a cascade network on one-stage plans.
        PlansError: the plans file is missing or unreadable (the fix names the command that writes it).
    """
    from ..planning.plans import load_plans, summarize_plans_text
    from .trainers import find_trainer_class, v1_class_repr

    if network not in NETWORKS:
        raise ConfigurationError(
            f"unknown network {network!r}: network can only be one of the following: "
            "'2d', '3d_lowres', '3d_fullres', '3d_cascade_fullres'",
            fix="use 3d_fullres (the usual choice), 2d, 3d_lowres or 3d_cascade_fullres", step="configuration")
    workspace = workspace or get_workspace()
    dataset_directory = workspace.preprocessed_task_dir(task)
    plans_file = plans_file_for(network, task, plans_identifier, workspace)
    if not plans_file.is_file():
        where = "" if dataset_directory.is_dir() else f" (the folder {dataset_directory} does not exist either)"
        raise PlansError(f"plans file {plans_file} does not exist{where}",
                         fix=f"run `nnunet-explorer plan_and_preprocess -t {_task_id_hint(task)}` "
                             f"(or v1's nnUNet_plan_and_preprocess) to write the plans and preprocessed data",
                         step="configuration")
    plans = load_plans(plans_file)
    possible_stages = list(plans["plans_per_stage"].keys())
    if network in ("3d_cascade_fullres", "3d_lowres") and len(possible_stages) == 1:
        raise ConfigurationError(
            "3d_lowres/3d_cascade_fullres only applies if there is more than one stage. This task does not "
            "require the cascade. Run 3d_fullres instead",
            fix=f"run `nnunet-explorer train 3d_fullres {network_trainer} {task} FOLD` (the plans have a single "
                "stage because the full-resolution patch already covers enough of the median image)",
            step="configuration")
    stage = 0 if network in ("2d", "3d_lowres") else possible_stages[-1]
    trainer_class = find_trainer_class(network_trainer)
    output_folder_name = workspace.training_output_folder(network, task, network_trainer, plans_identifier)
    batch_dice = (network == "2d" or len(possible_stages) > 1) and network != "3d_lowres"
    data_folder = dataset_directory / str(plans["data_identifier"])

    out = io.StringIO()

    def say(*args: Any) -> None:
        print(*args, file=out)

    say(HASH_LINE)
    say("I am running the following nnUNet: %s" % network)
    say("My trainer class is: ", v1_class_repr(trainer_class))
    say("For that I will be using the following configuration:")
    out.write(summarize_plans_text(plans))
    say("I am using stage %d from these plans" % stage)
    say("I am using batch dice + CE loss" if batch_dice else "I am using sample dice + CE loss")
    say("\nI am using data from this folder: ", str(data_folder))
    say(HASH_LINE)
    return Configuration(plans_file, output_folder_name, dataset_directory, bool(batch_dice), int(stage),
                         trainer_class, out.getvalue(), network, task, plans_identifier, data_folder,
                         len(possible_stages), plans)


@mirrors("nnunet.run.run_training:main")
def check_trainer_class(network: str, trainer_class: type) -> None:
    """v1's checks in ``run_training.main`` on the class found: it must be an nnU-Net trainer.

    For ``3d_cascade_fullres`` v1 requires a cascade trainer (derived from ``nnUNetTrainerCascadeFullRes`` or
    ``nnUNetTrainerV2CascadeFullRes``): only those read the ``3d_lowres`` segmentations as extra input.
    """
    from .trainers import nnUNetTrainer, nnUNetTrainerV2CascadeFullRes

    if network == "3d_cascade_fullres":
        if not (isinstance(trainer_class, type) and issubclass(trainer_class, nnUNetTrainerV2CascadeFullRes)):
            raise ConfigurationError(
                "If running 3d_cascade_fullres then your trainer class must be derived from "
                f"nnUNetTrainerCascadeFullRes ({getattr(trainer_class, '__name__', trainer_class)} is not)",
                fix="use nnUNetTrainerV2CascadeFullRes (or a subclass of it) for 3d_cascade_fullres")
        return
    if not (isinstance(trainer_class, type) and issubclass(trainer_class, nnUNetTrainer)):
        raise ConfigurationError(
            f"network_trainer was found but is not derived from nnUNetTrainer ({trainer_class.__name__} derives "
            f"from {', '.join(c.__name__ for c in trainer_class.__mro__[1:-1]) or 'object'})",
            fix="derive your trainer from nnUNetTrainerV2")
