"""Reading nnU-Net v1 plans files, printing them as v1 does, and a read-only view for notebooks.

A plans file (``nnUNetPlansv2.1_plans_3D.pkl`` / ``..._2D.pkl``) is a pickled dict. It is read with the
explorer's restricted unpickler (:func:`nnunet_explorer.fileio.load_pickle`), so a plans file from an untrusted
source cannot run code. :class:`Plans` wraps the dict read-only; ``summarize_plans_text`` reproduces v1's
``summarize_plans`` output character for character (as v1 printed it with numpy 1.x).
"""
from __future__ import annotations

import html
import io
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterator, Mapping

import numpy as np

from ..errors import PlansError
from ..fileio import PathLike, load_pickle
from ..language import tr
from ..provenance import mirrors

REQUIRED_KEYS = ("num_stages", "num_modalities", "modalities", "normalization_schemes", "num_classes",
                 "all_classes", "use_mask_for_norm", "transpose_forward", "transpose_backward", "data_identifier",
                 "plans_per_stage", "base_num_features", "dataset_properties", "keep_only_largest_region",
                 "min_region_size_per_class")
STAGE_KEYS = ("batch_size", "num_pool_per_axis", "patch_size", "median_patient_size_in_voxels", "current_spacing",
              "original_spacing", "do_dummy_2D_data_aug", "pool_op_kernel_sizes", "conv_kernel_sizes")


def load_plans(path: PathLike) -> dict:
    """Read a v1 plans pickle safely and check it has the keys training needs.

    Raises:
        PlansError: the file is missing, is not a dict, or lacks v1 plans keys (each named).
    """
    path = Path(path)
    if not path.is_file():
        raise PlansError(tr(f"plans file {path} does not exist", f"plans 文件 {path} 不存在"),
                         fix=tr("run `nnunet-explorer plan_and_preprocess -t ID` (or nnUNet_plan_and_preprocess) first",
                                "请先运行 `nnunet-explorer plan_and_preprocess -t ID`(或 nnUNet_plan_and_preprocess)"))
    plans = load_pickle(path)
    if not isinstance(plans, dict):
        raise PlansError(tr(f"{path} holds a {type(plans).__name__}, not a plans dict",
                            f"{path} 中是一个 {type(plans).__name__}, 而不是 plans 字典"),
                         fix=tr("point at nnUNetPlansv2.1_plans_3D.pkl or nnUNetPlansv2.1_plans_2D.pkl",
                                "请指向 nnUNetPlansv2.1_plans_3D.pkl 或 nnUNetPlansv2.1_plans_2D.pkl"))
    missing = [k for k in REQUIRED_KEYS if k not in plans]
    if missing:
        raise PlansError(tr(f"{path} lacks plans keys: {', '.join(missing)}",
                            f"{path} 缺少这些 plans 键: {', '.join(missing)}"),
                         fix=tr("re-run plan_and_preprocess to write a complete plans file",
                                "请重新运行 plan_and_preprocess, 写出完整的 plans 文件"))
    for stage, sp in plans["plans_per_stage"].items():
        lacking = [k for k in STAGE_KEYS if k not in sp]
        if lacking:
            raise PlansError(tr(f"{path}: stage {stage} lacks {', '.join(lacking)}",
                                f"{path}: stage {stage} 缺少 {', '.join(lacking)}"),
                             fix=tr("re-run plan_and_preprocess to write a complete plans file",
                                    "请重新运行 plan_and_preprocess, 写出完整的 plans 文件"))
    return plans


def missing_stage_folders(task_dir: PathLike) -> list[tuple[str, int, Path]]:
    """The data folders the task's plans files train from (``<data_identifier>_stage<k>``, one per stage) that are
    not in ``task_dir``, as (plans file name, stage, folder): after ``nnUNet_plan_and_preprocess -no_pp`` (plans
    only), a preprocessing that stopped, or a folder deleted. Plans that cannot be read are left out (the damage
    check names them)."""
    task_dir = Path(task_dir)
    missing = []
    for plans_file in sorted(task_dir.glob("*_plans_[23]D.pkl")):
        try:
            plans = load_plans(plans_file)
        except Exception:  # noqa: BLE001 - damaged or foreign plans: not this check's to explain
            continue
        for stage in sorted(plans["plans_per_stage"]):
            folder = task_dir / f"{plans['data_identifier']}_stage{stage}"
            if not folder.is_dir():
                missing.append((plans_file.name, stage, folder))
    return missing


def _is_count(value: Any) -> bool:
    """A positive whole number, as an int, a numpy integer or a float like 2.0 (v1 casts with int())."""
    try:
        return float(value) == int(value) and int(value) >= 1
    except (TypeError, ValueError, OverflowError):
        return False


def check_stage_values(sp: Mapping[str, Any], stage: object) -> None:
    """Refuse a stage whose batch, patch or kernel sizes are not positive whole numbers (a hand edit), naming each.

    Raises:
        PlansError: what is wrong, value by value.
    """
    wrong = _stage_value_problems(sp)
    if wrong:
        # differs from v1: v1 reads these values unchecked and fails later, deep in the network or the loader
        raise PlansError(tr(f"stage {stage} of the plans: {'; '.join(wrong)}",
                            f"plans 的 stage {stage}：{'；'.join(wrong)}"),
                         fix=tr("correct the edited values in the plans file: batch, patch and kernel sizes are "
                                "positive whole numbers in every plans file v1's planner writes (or plan again)",
                                "改正 plans 文件中改过的值：v1 规划器写出的每个 plans 文件中，batch、patch 和核大小都是"
                                "正整数（或者重新规划）"))


def _stage_value_problems(sp: Mapping[str, Any]) -> list[str]:
    """What in one stage of a (hand-edited) plans file no network or loader can use: each value named."""
    wrong = []
    if "batch_size" in sp and not _is_count(sp["batch_size"]):
        wrong.append(tr(f"batch_size {_plain(sp['batch_size'])!r} is no positive whole number",
                        f"batch_size {_plain(sp['batch_size'])!r} 不是正整数"))
    for key in ("patch_size", "pool_op_kernel_sizes", "conv_kernel_sizes"):
        if key not in sp:  # old plans without the kernel sizes: v1 rebuilds them (process_plans)
            continue
        flat = _flat(sp[key])
        if (key == "patch_size" and not flat) or not all(_is_count(v) for v in flat):
            wrong.append(tr(f"{key} {_plain(sp[key])} holds a value that is no positive whole number",
                            f"{key} {_plain(sp[key])} 中有不是正整数的值"))
    return wrong


#: numpy's print options of v1's day: with numpy >= 2 a scalar prints as ``np.False_`` / ``np.int64(6)``, with the
#: numpy 1.x that nnU-Net 1.7.1 was written against as ``False`` / ``6`` (what the blog, and every v1 log of its
#: time, shows). ``legacy="1.25"`` is numpy 2's switch back to that form; arrays print the same either way.
NUMPY1_PRINT = {"legacy": "1.25"}


#: the plans-wide lines of v1's summarize_plans, in its order: (plans key, the label v1 prints before the value)
SUMMARY_KEYS = (("num_classes", "num_classes: "), ("modalities", "modalities: "),
                ("use_mask_for_norm", "use_mask_for_norm"), ("keep_only_largest_region", "keep_only_largest_region"),
                ("min_region_size_per_class", "min_region_size_per_class"),
                ("min_size_per_class", "min_size_per_class"), ("normalization_schemes", "normalization_schemes"))


@mirrors("nnunet.experiment_planning.summarize_plans:summarize_plans")
def summarize_plans_text(plans: Mapping[str, Any]) -> str:
    """What v1's ``summarize_plans(file)`` printed for these plans, with numpy 1.x's scalar reprs.

    v1 prints the plans-wide values, then ``stages...`` and, per stage, ``stage:  k`` and the stage dict as
    Python prints a dict (so arrays as ``array([ 80, 160, 160])``).
    """
    out = io.StringIO()

    def say(*args: Any) -> None:
        print(*args, file=out)

    # differs from v1: under numpy >= 2 v1 prints np.False_ / np.int64(6); we print them as numpy 1.x did
    with np.printoptions(**NUMPY1_PRINT):
        for key, label in SUMMARY_KEYS:
            say(label, plans[key])
        say("stages...\n")
        for i in range(len(plans["plans_per_stage"])):
            say("stage: ", i)
            say(plans["plans_per_stage"][i])
            say("")
    return out.getvalue()


def summarize_plans_items(plans: Mapping[str, Any]) -> list[tuple[str, int | None, str]]:
    """The values of :func:`summarize_plans_text`, one per plans key: ``(key, stage or None, printed text)``.

    The printed text is the value as that block shows it (``OrderedDict([(0, False)])``, ``array([ 80, 160,
    160])``), for a table that explains the block line by line.
    """
    with np.printoptions(**NUMPY1_PRINT):
        items: list[tuple[str, int | None, str]] = [(key, None, repr(plans[key])) for key, _ in SUMMARY_KEYS]
        for i in range(len(plans["plans_per_stage"])):
            items += [(key, i, repr(value)) for key, value in plans["plans_per_stage"][i].items()]
    return items


def _flat(value: Any) -> list:
    """The numbers of nested lists, tuples and arrays, in order (ragged nesting allowed)."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [v for item in value for v in _flat(item)]
    return [value]


def _plain(value: Any) -> Any:
    """numpy values as plain Python, for display."""
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {_plain(k): _plain(v) for k, v in value.items()}
    return value


def configuration_names(plans: Mapping[str, Any]) -> dict[str, int]:
    """Which network configuration trains on which stage: ``{"2d": 0}`` or ``{"3d_fullres": n-1, ...}``."""
    if str(plans.get("data_identifier", "")).endswith("_2D"):
        return {"2d": 0}
    n = len(plans["plans_per_stage"])
    if n == 1:
        return {"3d_fullres": 0}
    return {"3d_lowres": 0, "3d_fullres": n - 1, "3d_cascade_fullres": n - 1}


def _frozen(value: Any) -> Any:
    """A read-only copy: dicts become mapping proxies, arrays read-only copies, lists copied lists."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, np.ndarray):
        copy = value.copy()
        copy.setflags(write=False)
        return copy
    if isinstance(value, list):
        return [_frozen(v) for v in value]
    return value


class Plans(Mapping):
    """A read-only view of a v1 plans dict: ``plans["patch_size"]`` style access plus helpers.

    Construct with :meth:`from_file` or ``Plans(dict)``. Item access returns read-only values (nested dicts as
    mapping proxies, arrays with ``writeable=False``); :meth:`to_dict` gives a mutable deep copy with v1's types.
    Renders as HTML in notebooks (``<details>`` per stage, no JavaScript) and as text in a terminal.
    """

    def __init__(self, plans: Mapping[str, Any], source: str | None = None) -> None:
        import copy

        self._original = copy.deepcopy(dict(plans))
        self._plans = _frozen(plans)
        self.source = source

    def to_dict(self) -> dict:
        """A mutable deep copy with v1's types (``OrderedDict`` where v1 has one)."""
        import copy

        return copy.deepcopy(self._original)

    @classmethod
    def from_file(cls, path: PathLike) -> "Plans":
        return cls(load_plans(path), str(path))

    def __getitem__(self, key: str) -> Any:
        return self._plans[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._plans)

    def __len__(self) -> int:
        return len(self._plans)

    @property
    def plans_per_stage(self) -> Mapping[int, Mapping[str, Any]]:
        return self._plans["plans_per_stage"]

    @property
    def num_stages(self) -> int:
        return int(self._plans["num_stages"])

    @property
    def configurations(self) -> dict[str, int]:
        return configuration_names(self._plans)

    def stage(self, index: int) -> Mapping[str, Any]:
        """The stage dict ``plans_per_stage[index]`` (read-only)."""
        try:
            return self._plans["plans_per_stage"][index]
        except KeyError:
            raise PlansError(tr(f"these plans have stages {list(self._plans['plans_per_stage'])}, not {index}",
                                f"这些 plans 的 stage 是 {list(self._plans['plans_per_stage'])}, 没有 {index}"),
                             fix=tr("3d_lowres needs a 2-stage plan; use 3d_fullres for 1-stage plans",
                                    "3d_lowres 需要 2 个 stage 的 plans; 1 个 stage 的 plans 请用 3d_fullres")) from None

    def stage_for_network(self, network: str) -> Mapping[str, Any]:
        """The stage a network configuration trains on (v1's ``get_default_configuration`` rule).

        Raises:
            PlansError: e.g. ``3d_lowres`` or ``3d_cascade_fullres`` on plans with a single stage.
        """
        configurations = self.configurations
        if network not in configurations:
            raise PlansError(tr(f"these plans ({self._plans['data_identifier']}, {self.num_stages} stage(s)) have "
                                f"no {network!r} configuration; they offer {', '.join(configurations)}",
                                f"这些 plans ({self._plans['data_identifier']}, {self.num_stages} 个 stage)没有 "
                                f"{network!r} 配置; 它们提供的是 {', '.join(configurations)}"),
                             fix=tr("3d_lowres and 3d_cascade_fullres exist only when the 3D planner made 2 stages; "
                                    "2d needs the 2D plans file",
                                    "只有当 3D 规划器生成了 2 个 stage 时, 才有 3d_lowres 和 3d_cascade_fullres; "
                                    "2d 需要 2D 的 plans 文件"))
        return self.stage(configurations[network])

    def summarize(self) -> str:
        """v1's ``summarize_plans`` text."""
        return summarize_plans_text(self._original)

    def _stage_rows(self, sp: Mapping[str, Any]) -> list[tuple[str, str]]:
        spacing = np.asarray(sp["current_spacing"], dtype=float)
        patch = np.asarray(sp["patch_size"])
        mm = [round(float(a) * float(b), 1) for a, b in zip(patch, spacing[-len(patch):])]
        rows = [(k, str(_plain(sp[k]))) for k in sp]
        rows.append(("patch size in mm (derived)", str(mm)))
        return rows

    def __str__(self) -> str:
        p = self._plans
        names = {v: k for k, v in self.configurations.items()}
        lines = [f"nnU-Net v1 plans{' (' + self.source + ')' if self.source else ''}",
                 f"  data_identifier    {p['data_identifier']}",
                 f"  modalities         {_plain(p['modalities'])}  normalization {_plain(p['normalization_schemes'])}",
                 f"  use_mask_for_norm  {_plain(p['use_mask_for_norm'])}",
                 f"  classes            {_plain(p['all_classes'])} (num_classes {p['num_classes']} + background)",
                 f"  transpose_forward  {_plain(p['transpose_forward'])}",
                 f"  stages             {p['num_stages']}"]
        for idx, sp in p["plans_per_stage"].items():
            lines.append(f"  stage {idx} ({names.get(idx, '?')})")
            for key, value in self._stage_rows(sp):
                lines.append(f"    {key:<30} {value}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        p = self._plans
        patches = {i: _plain(sp["patch_size"]) for i, sp in p["plans_per_stage"].items()}
        return f"Plans({p['data_identifier']}, stages={p['num_stages']}, patch_size={patches})"

    def _repr_html_(self) -> str:
        p = self._plans
        esc = html.escape
        names = {v: k for k, v in self.configurations.items()}
        head = "".join(f"<tr><th style='text-align:left'>{esc(k)}</th><td>{esc(str(_plain(p[k])))}</td></tr>"
                       for k in ("data_identifier", "modalities", "normalization_schemes", "use_mask_for_norm",
                                 "all_classes", "transpose_forward", "num_stages") if k in p)
        stages = []
        for idx, sp in p["plans_per_stage"].items():
            rows = "".join(f"<tr><th style='text-align:left'>{esc(k)}</th><td><code>{esc(v)}</code></td></tr>"
                           for k, v in self._stage_rows(sp))
            stages.append(f"<details open><summary>stage {idx} ({esc(names.get(idx, '?'))}): patch "
                          f"{esc(str(_plain(sp['patch_size'])))}, batch {esc(str(_plain(sp['batch_size'])))}</summary>"
                          f"<table>{rows}</table></details>")
        other = "".join(f"<tr><th style='text-align:left'>{esc(k)}</th><td>{esc(str(_plain(p[k]))[:300])}</td></tr>"
                        for k in p if k not in ("plans_per_stage", "dataset_properties"))
        title = "nnU-Net v1 plans" + (f" <small>{esc(self.source)}</small>" if self.source else "")
        return (f"<div class='nnunet-explorer-plans'><b>{title}</b><table>{head}</table>{''.join(stages)}"
                f"<details><summary>all keys</summary><table>{other}</table></details></div>")
