"""v1's ``get_default_configuration``: network + task + trainer name -> plans, folders, stage, batch Dice, class.

From ``nnUNet_train NETWORK TRAINER TASK FOLD`` to the plans file, the results folder, the preprocessed folder,
``batch_dice``, the stage and the trainer class, with the block of text v1 prints (reproduced character for
character in :attr:`Configuration.printed_text`).
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..errors import ConfigurationError, PlansError
from ..language import tr
from ..paths import NETWORKS, Workspace, default_plans_identifier, get_workspace
from ..provenance import mirrors

HASH_LINE = "#" * 47


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
        dice = tr("batch dice", "批 Dice") if self.batch_dice else tr("sample dice", "样本 Dice")
        return tr(f"{self.network} on {self.task}, stage {self.stage} of {self.num_stages}, {dice} + CE, "
                  f"trainer {self.trainer_class.__name__}, plans {self.plans_file.name}",
                  f"{self.network} 用于 {self.task}，stage {self.stage}（共 {self.num_stages} 个），{dice} + CE，"
                  f"trainer {self.trainer_class.__name__}，plans {self.plans_file.name}")

    def _repr_html_(self) -> str:
        import html

        rows = "".join(f"<tr><td><code>{k}</code></td><td><code>{html.escape(str(v))}</code></td></tr>" for k, v in (
            ("plans_file", self.plans_file), ("output_folder_name", self.output_folder_name),
            ("dataset_directory", self.dataset_directory), ("batch_dice", self.batch_dice), ("stage", self.stage),
            ("trainer_class", self.trainer_class.__name__)))
        return (f"<table>{rows}</table><details><summary>{tr('what v1 prints', 'v1 打印的内容')}</summary>"
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


def stage_for(network: str, possible_stages: Sequence[int]) -> int:
    """The plans stage a network trains on: 0 for ``2d`` and ``3d_lowres``, the last one for ``3d_fullres`` and
    ``3d_cascade_fullres`` (v1's rule in ``get_default_configuration``)."""
    return 0 if network in ("2d", "3d_lowres") else possible_stages[-1]


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
    from ..network_training.registry import find_trainer_class, v1_class_repr

    if network not in NETWORKS:
        raise ConfigurationError(
            tr(f"unknown network {network!r}: network can only be one of the following: "
               "'2d', '3d_lowres', '3d_fullres', '3d_cascade_fullres'",
               f"未知的 network {network!r}:只能是 '2d'、'3d_lowres'、'3d_fullres'、'3d_cascade_fullres' 之一"
               "(v1 的报错:network can only be one of the following)"),
            fix=tr("use 3d_fullres (the usual choice), 2d, 3d_lowres or 3d_cascade_fullres",
                   "使用 3d_fullres(通常的选择)、2d、3d_lowres 或 3d_cascade_fullres"), step="configuration")
    workspace = workspace or get_workspace()
    dataset_directory = workspace.preprocessed_task_dir(task)
    plans_file = plans_file_for(network, task, plans_identifier, workspace)
    if not plans_file.is_file():
        where = "" if dataset_directory.is_dir() else tr(f" (the folder {dataset_directory} does not exist either)",
                                                         f"(文件夹 {dataset_directory} 也不存在)")
        raise PlansError(tr(f"plans file {plans_file} does not exist", f"plans 文件 {plans_file} 不存在") + where,
                         fix=tr(f"run `nnunet-explorer plan_and_preprocess -t {_task_id_hint(task)}` "
                                f"(or v1's nnUNet_plan_and_preprocess) to write the plans and preprocessed data",
                                f"运行 `nnunet-explorer plan_and_preprocess -t {_task_id_hint(task)}`"
                                "(或 v1 的 nnUNet_plan_and_preprocess),写出 plans 和预处理数据"),
                         step="configuration")
    plans = load_plans(plans_file)
    possible_stages = list(plans["plans_per_stage"].keys())
    if network in ("3d_cascade_fullres", "3d_lowres") and len(possible_stages) == 1:
        raise ConfigurationError(
            tr("3d_lowres/3d_cascade_fullres only applies if there is more than one stage. This task does not "
               "require the cascade. Run 3d_fullres instead",
               "3d_lowres/3d_cascade_fullres 只适用于有多个 stage 的 plans。这个任务不需要级联,请改用 3d_fullres"
               "(v1 的报错:3d_lowres/3d_cascade_fullres only applies if there is more than one stage)"),
            fix=tr(f"run `nnunet-explorer train 3d_fullres {network_trainer} {task} FOLD` (the planner made no "
                   "3d_lowres stage: the full-resolution patch already covers more than a quarter of the median "
                   "image, or a lower-resolution stage would not have had fewer than half its voxels)",
                   f"运行 `nnunet-explorer train 3d_fullres {network_trainer} {task} FOLD`(规划器没有做 3d_lowres "
                   "stage:全分辨率的 patch 已经覆盖了中位图像的四分之一以上,或者低分辨率 stage 的体素数不会少于它的一半)"),
            step="configuration")
    stage = stage_for(network, possible_stages)
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
    from ..network_training import nnUNetTrainer, nnUNetTrainerV2CascadeFullRes

    if network == "3d_cascade_fullres":
        if not (isinstance(trainer_class, type) and issubclass(trainer_class, nnUNetTrainerV2CascadeFullRes)):
            name = getattr(trainer_class, '__name__', trainer_class)
            raise ConfigurationError(
                tr("If running 3d_cascade_fullres then your trainer class must be derived from "
                   f"nnUNetTrainerCascadeFullRes ({name} is not)",
                   f"运行 3d_cascade_fullres 时,trainer 类必须派生自 nnUNetTrainerCascadeFullRes({name} 不是;"
                   "v1 的报错:If running 3d_cascade_fullres then your trainer class must be derived from "
                   "nnUNetTrainerCascadeFullRes)"),
                fix=tr("use nnUNetTrainerV2CascadeFullRes (or a subclass of it) for 3d_cascade_fullres",
                       "3d_cascade_fullres 请使用 nnUNetTrainerV2CascadeFullRes(或它的子类)"))
        return
    if not (isinstance(trainer_class, type) and issubclass(trainer_class, nnUNetTrainer)):
        bases = ", ".join(c.__name__ for c in trainer_class.__mro__[1:-1]) or "object"
        raise ConfigurationError(
            tr(f"network_trainer was found but is not derived from nnUNetTrainer ({trainer_class.__name__} derives "
               f"from {bases})",
               f"找到了 network_trainer,但它不是从 nnUNetTrainer 派生的({trainer_class.__name__} 的基类是 {bases};"
               "v1 的报错:network_trainer was found but is not derived from nnUNetTrainer)"),
            fix=tr("derive your trainer from nnUNetTrainerV2", "让你的 trainer 继承 nnUNetTrainerV2"))


__all__ = ["Configuration", "HASH_LINE", "check_trainer_class", "get_default_configuration", "plans_file_for"]
