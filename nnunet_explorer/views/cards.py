"""Cards for notebooks: the plans and the configuration, each value next to *why* it has that value.

A card is a small object with ``_repr_html_`` (Jupyter shows it as a table) and ``text()`` (for scripts and
tests). The "why" comes from the record of what actually happened, never from a second derivation:

* :func:`plans_card` pairs each planned value with the planner's :class:`~nnunet_explorer.planning.explain.
  Decision` records (the rule applied and the numbers that went in). :func:`explain_plans` re-runs the
  planner *in memory* on the task's fingerprint to collect those records (nothing is written).
* :func:`configuration_card` explains v1's ``get_default_configuration``: the plans file by network, the stage
  (the last one, except 2d/3d_lowres: stage 0), ``batch_dice`` (True for 2d and for multi-stage plans except
  3d_lowres), the output folder ``<network>/<task>/<trainer>__<plans identifier>``.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ..explore.notes import notes_html, resolve_why
from ..language import tr
from ..planning.explain import Decision, fmt, rule_name


@dataclass(frozen=True)
class CardRow:
    """One line of a card: a name, its value and the reason for it."""

    key: str
    value: str
    why: str
    rule: str = ""


@dataclass(frozen=True)
class Card:
    """A titled table of :class:`CardRow`; renders as HTML in notebooks and as text elsewhere."""

    title: str
    rows: tuple[CardRow, ...]
    intro: str = ""
    footer: str = ""
    # the step's teaching notes (explore.notes.StepNotes or a function returning them): shown under the table
    notes: Any = None

    def row(self, key: str) -> CardRow:
        """The first row for ``key`` (KeyError if none)."""
        for r in self.rows:
            if r.key == key:
                return r
        keys = ", ".join(r.key for r in self.rows)
        raise KeyError(tr(f"card {self.title!r} has no row {key!r}; rows: {keys}",
                          f"卡片 {self.title!r} 没有 {key!r} 这一行;现有的行:{keys}"))

    def text(self) -> str:
        lines = [self.title]
        if self.intro:
            lines.append(self.intro)
        why = tr("why: ", "原因:")
        for r in self.rows:
            rule = f" [{r.rule}]" if r.rule else ""
            lines.append(f"  {r.key} = {r.value}{rule}")
            if r.why:
                lines.append(f"      {why}{r.why}")
        if self.footer:
            lines.append(self.footer)
        notes = resolve_why(self.notes)
        if notes is not None:
            lines += notes.text_lines(indent="  ")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        esc = html.escape
        colon = tr(":</i> ", "\uff1a</i>")
        body = "".join(
            f"<tr><td style='vertical-align:top'><code>{esc(r.key)}</code></td>"
            f"<td style='vertical-align:top'><code>{esc(r.value)}</code></td>"
            f"<td style='vertical-align:top;text-align:left'>{'<i>' + esc(r.rule) + colon if r.rule else ''}"
            f"{esc(r.why)}</td></tr>" for r in self.rows)
        head = f"<tr><th>{tr('key', '键')}</th><th>{tr('value', '值')}</th><th>{tr('why', '原因')}</th></tr>"
        intro = f"<p>{esc(self.intro)}</p>" if self.intro else ""
        footer = f"<p style='color:#555'>{esc(self.footer)}</p>" if self.footer else ""
        notes = notes_html(resolve_why(self.notes))
        return (f"<div class='nnx-card' style='border:1px solid #ccc;padding:6px;margin:4px 0'>"
                f"<b>{esc(self.title)}</b>{intro}<table>{head}{body}"
                f"</table>{footer}{notes}</div>")


# ------------------------------------------------------------------------------------------------ plans
def explain_plans(task_name: str, workspace: Any = None, dim: int = 3) -> list[Decision]:
    """Re-run the v2.1 planner (3D or 2D) on the task's fingerprint *in memory* and return its decisions.

    The same inputs as ``plan_and_preprocess`` used (``dataset_properties.pkl`` of the cropped task), so the
    decisions are those that produced the plans on disk; nothing is written (the plans pickle is not touched).
    """
    from ..fileio import load_pickle
    from ..paths import get_workspace
    from ..planning import planner2d, planner3d
    from ..planning.normalization import determine_normalization_scheme, determine_whether_to_use_mask_for_norm
    from ..planning.run import cropped_case_identifiers

    ws = workspace or get_workspace(announce=False)
    cropped_dir = ws.cropped_task_dir(task_name)
    dataset_properties = load_pickle(cropped_dir / "dataset_properties.pkl")
    ids = cropped_case_identifiers(cropped_dir)
    trace: list[Decision] = []
    planner = f"{dim}d"
    use_mask = determine_whether_to_use_mask_for_norm(dataset_properties["modalities"],
                                                      dataset_properties["size_reductions"], planner=planner,
                                                      trace=trace)
    schemes = determine_normalization_scheme(dataset_properties["modalities"], planner=planner, trace=trace)
    kwargs = dict(list_of_npz_files=[str(cropped_dir / f"{i}.npz") for i in ids],
                  preprocessed_output_folder=str(ws.preprocessed_task_dir(task_name)),
                  normalization_schemes=schemes, use_mask_for_norm=use_mask, trace=trace)
    if dim == 3:
        planner3d.plan_experiment_3d(dataset_properties, **kwargs)
    else:
        planner2d.plan_experiment_2d(dataset_properties, **kwargs)
    return trace


_STAGE_KEYS = ("patch_size", "batch_size", "current_spacing", "median_patient_size_in_voxels", "num_pool_per_axis",
               "pool_op_kernel_sizes", "conv_kernel_sizes", "do_dummy_2D_data_aug")
_TOP_KEYS = ("num_stages", "num_modalities", "num_classes", "all_classes", "normalization_schemes",
             "use_mask_for_norm", "base_num_features", "conv_per_stage", "data_identifier", "transpose_forward",
             "transpose_backward")


def plans_card(plans: Mapping[str, Any], decisions: Sequence[Decision] = (), *, stage: int | None = None,
               title: str | None = None, check: Any = None, dataset_properties: Mapping[str, Any] | None = None
               ) -> Card:
    """The plans of one stage (default: the last) and the shared keys, each with the planner's reasons.

    The plans are also compared with what v1's v2.1 planner computes from their fingerprint
    (:func:`~nnunet_explorer.planning.replan.check_plans`): every row whose value differs is marked \u26a0 with
    "stored X, v1's planner computes Y", and the card's notes list every difference (also of keys without a
    row) — plans are edited by hand, and training uses whatever the file holds. For 3D plans the batch-size
    and dummy-2D rows apply v1's rules to the *stored* patch, so their reasons never cite another patch.

    Args:
        plans: the plans dict (or :class:`~nnunet_explorer.planning.plans.Plans`).
        decisions: from :func:`explain_plans` (or ``TaskResult.trace_3d``); by default the decisions of the
            re-planning (when the plans carry their fingerprint), else the "why" column says only where the
            value lives.
        stage: which entry of ``plans_per_stage``.
        check: a ready :class:`~nnunet_explorer.planning.replan.PlansCheck` (computed when None).
        dataset_properties: the fingerprint for plans that do not carry one (the task's
            ``dataset_properties.pkl``); without it such plans are not compared, and the card says so.
    """
    from ..planning.replan import check_plans

    per_stage = plans["plans_per_stage"]
    stages = sorted(per_stage)
    stage = stages[-1] if stage is None else stage
    sp = per_stage[stage]
    if check is None:
        check = check_plans(plans, dataset_properties=dataset_properties)
    if not decisions and check.available:
        decisions = check.replanned.trace
    # the planner names its stages "3d_fullres"/"3d_lowres"/"2d"; map the stage index to that name
    stage_names = {s.stage for s in decisions if s.stage}
    if "2d" in stage_names or str(plans.get("data_identifier", "")).endswith("_2D"):
        stage_name = "2d"
    elif len(stages) > 1 and stage == stages[0]:
        stage_name = "3d_lowres"
    else:
        stage_name = "3d_fullres"
    rows = []
    for key in _STAGE_KEYS:
        if key in sp:
            rows.append(_checked_row(_row(key, sp[key], decisions, stage_name), check, key, stage, plans))
    for key in _TOP_KEYS:
        if key in plans:
            rows.append(_checked_row(_row(key, plans[key], decisions, None), check, key, None, plans))
    found = sum(1 for r in rows if r.rule and r.rule not in _fixed_rules())
    flagged = sum(1 for r in rows if r.value.endswith(_FLAG))
    return Card(title or tr(f"plans, stage {stage} ({stage_name})", f"plans 的 stage {stage}（{stage_name}）"),
                tuple(rows),
                intro=tr(f"{len(stages)} stage(s) in these plans; values of stage {stage}.",
                         f"这份 plans 有 {len(stages)} 个 stage;下面是 stage {stage} 的值。"),
                footer=tr(f"{found} of {len(rows)} values explained by recorded planner decisions",
                          f"{len(rows)} 个值中有 {found} 个由记录下来的规划器决定解释")
                       + ("" if decisions else tr(" (pass decisions=explain_plans(task) for the reasons)",
                                                  "(传入 decisions=explain_plans(task) 可看到原因)"))
                       + (tr(f"; {flagged} marked {_FLAG}", f";{flagged} 个标有 {_FLAG}") if flagged else ""),
                notes=_plans_notes(plans, stage, check))


_FLAG = "\u26a0"


def _plans_notes(plans: Mapping[str, Any], stage: int, check: Any):
    """The plans card's notes in the language of the moment: the check boxes, then the catalogue's why."""
    def notes():
        import dataclasses

        from ..teaching.plans_notes import plans_check_notes
        from ..teaching.why import step_notes

        base = step_notes("plans_processed")
        return dataclasses.replace(base, boxes=plans_check_notes(plans, stage, check) + base.boxes)

    return notes


def _checked_row(row: CardRow, check: Any, key: str, stage: int | None, plans: Mapping[str, Any]) -> CardRow:
    """``row`` as the plans check sees it: flagged when v1's planner computes another value; for the batch size
    and dummy-2D rows of 3D plans, the reason is v1's rule applied to the stored patch."""
    from ..teaching.language import pick
    from ..teaching.plans_notes import difference_text

    if not check.available:
        return row
    diff = check.difference(key, stage)
    why, value, rule = row.why, row.value, row.rule
    rules = check.rules_for(stage) if stage is not None else None
    if rules is not None and key == "batch_size":
        why = pick({"en": f"v1's rule on the stored patch {list(rules.patch_size)}: floor(max("
                          f"{rules.vram_reference:,.0f} / {rules.vram_proxy:,} (VRAM proxy), 1) * 2) = "
                          f"{rules.batch_by_vram}, capped at "
                          f"{rules.batch_cap} (5 % of the dataset, at least 2) -> {rules.batch_size}",
                    "zh": f"v1 的规则用在存储的 patch {list(rules.patch_size)} 上:floor(max({rules.vram_reference:,.0f}"
                          f" / {rules.vram_proxy:,}(显存代理量), 1) * 2) = {rules.batch_by_vram},上限 {rules.batch_cap}"
                          f"(数据集的 5 %,至少为 2)-> {rules.batch_size}"})
    elif rules is not None and key == "do_dummy_2D_data_aug":
        cmp = ">" if rules.do_dummy_2D_data_aug else "<="
        why = pick({"en": f"v1's rule on the stored patch: max(patch) / patch[0] = {max(rules.patch_size)} / "
                          f"{rules.patch_size[0]} = {rules.dummy_2d_ratio:.3g} {cmp} 3 -> {rules.do_dummy_2D_data_aug}",
                    "zh": f"v1 的规则用在存储的 patch 上:max(patch) / patch[0] = {max(rules.patch_size)} / "
                          f"{rules.patch_size[0]} = {rules.dummy_2d_ratio:.3g} {cmp} 3 -> "
                          f"{rules.do_dummy_2D_data_aug}"})
    elif check.differences and row.rule and row.rule not in _fixed_rules():
        # the recorded decisions are those of the planner's own plans, which differ from these
        why = pick({"en": "v1's planner, for its own plans: ", "zh": "v1 的规划器(针对它自己的 plans):"}) + why
    if diff is not None:
        value = f"{value} {_FLAG}"
        rule = pick({"en": "differs from v1's planner", "zh": "与 v1 规划器的结果不同"})
        why = _inline(difference_text(diff)) + pick({"en": ". ", "zh": "。"}) + why
    elif rules is not None and key in ("batch_size", "do_dummy_2D_data_aug") and \
            plans["plans_per_stage"][stage][key] != (rules.batch_size if key == "batch_size"
                                                     else rules.do_dummy_2D_data_aug):
        # the planner's own plans agree, but the stored patch was edited without this value
        value = f"{value} {_FLAG}"
        rule = pick({"en": "not what v1's rule gives for the stored patch", "zh": "与 v1 规则对存储 patch 的结果不符"})
    return CardRow(row.key, value, why, rule)


def _inline(text: str) -> str:
    from ..explore.notes import inline_text

    return inline_text(text)


# keys the planner records under another name (the decision that produced them)
_ALIASES = {"current_spacing": "target_spacing", "num_pool_per_axis": "pool_op_kernel_sizes",
            "conv_kernel_sizes": "pool_op_kernel_sizes", "transpose_backward": "transpose_forward"}


def _fixed() -> dict[str, tuple[str, str]]:
    """Keys no rule decides: where v1 takes them from, ``key -> (rule, why)`` in the language in effect."""
    dataset_json = tr("from dataset.json", "来自 dataset.json")
    constant = tr("planner constant", "规划器常量")
    return {
        "num_modalities": (dataset_json, tr("the number of entries of dataset.json's 'modality'",
                                            "dataset.json 中 'modality' 的条目数")),
        "num_classes": (dataset_json, tr("foreground labels of dataset.json (background excluded; training adds 1)",
                                         "dataset.json 中的前景标签数(不含背景;训练时再加 1)")),
        "all_classes": (dataset_json, tr("the foreground label values (the trainer's self.classes)",
                                         "前景标签的取值(即 trainer 的 self.classes)")),
        "base_num_features": (constant, tr("the planner's fixed unet_base_num_features (features of level 0; "
                                           "doubled per level up to a cap)",
                                           "规划器固定的 unet_base_num_features(第 0 层的特征数;每往下一层翻倍,"
                                           "直到上限)")),
        "conv_per_stage": (constant, tr("the planner's default: two conv-norm-nonlin units per level",
                                        "规划器的默认值:每层两个 conv-norm-nonlin 单元")),
        "data_identifier": (constant, tr("the v2.1 planners' fixed name; it names the preprocessed folders "
                                         "<data_identifier>_stage<k>",
                                         "v2.1 规划器的固定名称;预处理后的文件夹按它命名为 "
                                         "<data_identifier>_stage<k>")),
    }


def _fixed_rules() -> set[str]:
    return {rule for rule, _ in _fixed().values()}


def _row(key: str, value: Any, decisions: Sequence[Decision], stage_name: str | None) -> CardRow:
    matches = [d for d in decisions if d.key == key and (d.stage in (stage_name, None))]
    if not matches and key in _ALIASES:
        matches = [d for d in decisions if d.key == _ALIASES[key] and (d.stage in (stage_name, None))]
    if not matches:  # some rules record under a related name (e.g. num_pool_per_axis with the topology)
        matches = [d for d in decisions if key in d.key and (d.stage in (stage_name, None))]
    if matches:
        why = tr(" Then: ", ";然后:").join(d.text for d in matches)
        rule = tr("; ", ";").join(dict.fromkeys(rule_name(d.rule) for d in matches))
        return CardRow(key, fmt(value), why, rule)
    fixed = _fixed()
    if key in fixed:
        rule, why = fixed[key]
        return CardRow(key, fmt(value), why, rule)
    where = f"plans_per_stage[...]['{key}']" if stage_name else f"plans['{key}']"
    return CardRow(key, fmt(value), tr(f"stored in {where}; no planner rule recorded for it",
                                       f"存储在 {where} 中;没有记录到决定它的规划器规则"), "")


# ----------------------------------------------------------------------------------------- configuration
def configuration_card(configuration: Any) -> Card:
    """``get_default_configuration``'s six return values (and the data folder), each with v1's rule."""
    c = configuration
    network = c.network
    multi = c.num_stages > 1
    two_d = network == "2d"
    plans_file = (tr("2d uses the 2D plans", "2d 使用 2D plans") if two_d else
                  tr("all 3D networks use the 3D plans", "所有 3D 网络都使用 3D plans"))
    if c.batch_dice:
        batch_dice = (tr("Dice over the whole batch, because ", "批 Dice(整个 batch 的体素合起来算 Dice),因为")
                      + (tr("the network is 2d", "网络是 2d") if two_d else
                         tr("the plans have more than one stage", "plans 有不止一个 stage")))
    else:
        batch_dice = (tr("Dice per sample, then averaged: ", "样本 Dice(每个样本各算 Dice 再求平均):")
                      + (tr("3d_lowres always uses sample Dice", "3d_lowres 总是用样本 Dice") if network == "3d_lowres"
                         else tr("3D plans with a single stage", "只有一个 stage 的 3D plans")))
    rows = [
        CardRow("plans_file", str(c.plans_file),
                plans_file + tr(": ", "\uff1a")
                + f"<preprocessed>/{c.task}/{c.plans_identifier}_plans_{'2D' if two_d else '3D'}.pkl",
                tr("plans file by network", "按网络选 plans 文件")),
        CardRow("stage", str(c.stage),
                tr("2d and 3d_lowres train on stage 0; 3d_fullres and 3d_cascade_fullres on the last stage "
                   f"(these plans have {c.num_stages} stage(s))",
                   "2d 和 3d_lowres 在 stage 0 上训练;3d_fullres 和 3d_cascade_fullres 在最后一个 stage 上训练"
                   f"(这份 plans 有 {c.num_stages} 个 stage)"), tr("stage by network", "按网络选 stage")),
        CardRow("batch_dice", str(c.batch_dice), batch_dice,
                tr("batch dice iff (2d or more than one stage) and not 3d_lowres",
                   "当且仅当(2d 或不止一个 stage)且不是 3d_lowres 时用批 Dice")),
        CardRow("trainer_class", getattr(c.trainer_class, "__name__", str(c.trainer_class)),
                tr("found by name (v1 searches nnunet/training/network_training; the explorer uses its registry)",
                   "按名称查找(v1 在 nnunet/training/network_training 中搜索;explorer 用它自己的注册表)"),
                tr("trainer by name", "按名称找 trainer")),
        CardRow("output_folder_name", str(c.output_folder_name),
                tr(f"<RESULTS_FOLDER>/nnUNet/{network}/{c.task}/<trainer>__{c.plans_identifier}; fold_<k> goes "
                   "inside",
                   f"<RESULTS_FOLDER>/nnUNet/{network}/{c.task}/<trainer>__{c.plans_identifier};fold_<k> 放在"
                   "这个文件夹里"),
                tr("output folder layout", "输出文件夹的结构")),
        CardRow("dataset_directory", str(c.dataset_directory), "<nnUNet_preprocessed>/<task>",
                tr("preprocessed task", "预处理后的任务")),
        CardRow("folder_with_preprocessed_data", str(c.folder_with_preprocessed_data),
                tr("<dataset_directory>/<data_identifier>_stage<stage>: the cases training reads",
                   "<dataset_directory>/<data_identifier>_stage<stage>:训练读取的病例"),
                tr("data folder", "数据文件夹")),
    ]
    note = tr(" (single-stage plans: no cascade)", "(plans 只有一个 stage:没有级联)") if not multi else ""
    return Card(tr(f"configuration: {network} {c.task}", f"配置:{network} {c.task}"), tuple(rows),
                intro=tr(f"What v1's get_default_configuration decides for {network}{note}.",
                         f"v1 的 get_default_configuration 为 {network} 决定的内容{note}。"),
                footer=tr("print(configuration.printed_text) shows the block v1 prints.",
                          "print(configuration.printed_text) 会显示 v1 打印的那段输出。"),
                notes=_configuration_notes(c))


def _configuration_notes(configuration: Any):
    """The configuration card's notes: the catalogue's why and, when the configuration carries its plans and
    printed block, that block explained line by line (and how the plans compare with v1's planner)."""
    def notes():
        import dataclasses

        from ..teaching.plans_notes import configuration_notes
        from ..teaching.why import step_notes

        base = step_notes("configuration")
        if not getattr(configuration, "plans", None) or not getattr(configuration, "printed_text", ""):
            return base
        boxes, tables = configuration_notes(configuration)
        return dataclasses.replace(base, boxes=boxes + base.boxes, tables=tables)

    return notes


# ------------------------------------------------------------------------------------------------ debug.json
def debug_json_card(folder_or_file: Any) -> Card:
    """A fold folder's ``debug.json`` (written by v1's ``save_debug_information``), its main entries explained.

    ``debug_json_card(".../nnUNetTrainerV2__nnUNetPlansv2.1/fold_1")`` (or the file's path). Raises
    :class:`~nnunet_explorer.errors.TrainingError` when there is no ``debug.json`` (v1 writes it when
    ``run_training`` starts; a ``-val`` run does not).
    """
    from pathlib import Path

    from ..explore.notes import inline_text
    from ..teaching.debug_json import debug_json_note, debug_json_rows
    from ..training.progress_log import read_debug_json

    path = Path(folder_or_file)
    debug = read_debug_json(path)
    path = path / "debug.json" if path.is_dir() else path
    rows = tuple(CardRow(key, value, inline_text(why)) for key, value, why in debug_json_rows(debug))
    return Card(f"debug.json: {path.parent.name}", rows, intro=inline_text(debug_json_note(str(path)).text))


__all__ = ["Card", "CardRow", "configuration_card", "debug_json_card", "explain_plans", "plans_card"]
