"""What ``nnUNet_train NETWORK TRAINER TASK FOLD`` means: its arguments and the configuration they resolve to.

``run_training.py``'s command line, as :class:`RunArgs` (the parser is
:func:`nnunet_explorer.commands.run_training.add_run_training_arguments`; the same flags, spellings and defaults,
including v1's inverted ``--val_disable_overwrite``). ``get_default_configuration`` lives in
:mod:`nnunet_explorer.run.default_configuration`.
"""
from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import Any

from ..errors import ConfigurationError
from ..language import tr
from ..paths import default_plans_identifier


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

    def summary(self) -> str:
        changed = self.changed_from_defaults()
        flags = ", ".join(f"{k}={v!r}" for k, v in changed.items()) or tr("all flags at v1's defaults", "所有参数都是 v1 的默认值")
        return f"{self.network} {self.network_trainer} {self.task} {self.fold} ({flags})"




def parse_fold(fold: int | str) -> int | str:
    """v1's rule: ``'all'`` stays ``'all'``, anything else is ``int(fold)``.

    Folds 0-4 are the five cross-validation folds of ``splits_final.pkl``. v1's V2 trainer also accepts
    a fold ≥ 5 and then draws a random 80:20 split seeded with ``12345 + fold``; that is kept. A negative
    fold is refused: v1 would silently train on ``splits[fold]`` (for -1 to -5 the split ``fold % 5``; below that
    an IndexError) while naming the folder ``fold_<fold>``.

    Raises:
        ConfigurationError: the fold is neither an integer ≥ 0 nor ``'all'``.
    """
    if fold == "all":
        return "all"
    try:
        value = int(fold)
    except (TypeError, ValueError):
        raise ConfigurationError(tr(f"fold {fold!r} is neither a number nor 'all'",
                                    f"fold {fold!r} 既不是数字也不是 'all'"),
                                 fix=tr("use 0, 1, 2, 3 or 4 (a five-fold cross-validation), or 'all'",
                                        "使用 0、1、2、3 或 4(五折交叉验证),或 'all'"),
                                 step="parsed_arguments") from None
    if value < 0:
        # differs from v1: v1 indexes splits[-1] (fold 4's split) but writes to fold_-1
        raise ConfigurationError(tr(f"fold {value} is negative", f"fold {value} 是负数"),
                                 fix=tr("use 0, 1, 2, 3 or 4, or 'all'", "使用 0、1、2、3 或 4,或 'all'"),
                                 step="parsed_arguments")
    return value


def run_args_from_namespace(namespace: Any) -> RunArgs:
    """Pick the :class:`RunArgs` fields out of a namespace (extra explorer options are ignored)."""
    return RunArgs(**{f.name: getattr(namespace, f.name) for f in fields(RunArgs)})


__all__ = ["RunArgs", "parse_fold", "run_args_from_namespace"]
