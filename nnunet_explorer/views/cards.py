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
from ..planning.explain import Decision, fmt


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
        raise KeyError(f"card {self.title!r} has no row {key!r}; rows: {', '.join(r.key for r in self.rows)}")

    def text(self) -> str:
        lines = [self.title]
        if self.intro:
            lines.append(self.intro)
        for r in self.rows:
            rule = f" [{r.rule}]" if r.rule else ""
            lines.append(f"  {r.key} = {r.value}{rule}")
            if r.why:
                lines.append(f"      why: {r.why}")
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
        body = "".join(
            f"<tr><td style='vertical-align:top'><code>{esc(r.key)}</code></td>"
            f"<td style='vertical-align:top'><code>{esc(r.value)}</code></td>"
            f"<td style='vertical-align:top;text-align:left'>{'<i>' + esc(r.rule) + ':</i> ' if r.rule else ''}"
            f"{esc(r.why)}</td></tr>" for r in self.rows)
        intro = f"<p>{esc(self.intro)}</p>" if self.intro else ""
        footer = f"<p style='color:#555'>{esc(self.footer)}</p>" if self.footer else ""
        notes = notes_html(resolve_why(self.notes))
        return (f"<div class='nnx-card' style='border:1px solid #ccc;padding:6px;margin:4px 0'>"
                f"<b>{esc(self.title)}</b>{intro}<table><tr><th>key</th><th>value</th><th>why</th></tr>{body}"
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
    found = sum(1 for r in rows if r.rule and r.rule not in {v[0] for v in _FIXED.values()})
    flagged = sum(1 for r in rows if r.value.endswith(_FLAG))
    return Card(title or f"plans, stage {stage} ({stage_name})", tuple(rows),
                intro=f"{len(stages)} stage(s) in these plans; values of stage {stage}.",
                footer=f"{found} of {len(rows)} values explained by recorded planner decisions"
                       + ("" if decisions else " (pass decisions=explain_plans(task) for the reasons)")
                       + (f"; {flagged} marked {_FLAG}" if flagged else ""),
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
    elif check.differences and row.rule and row.rule not in {v[0] for v in _FIXED.values()}:
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
# keys no rule decides: where v1 takes them from
_FIXED = {
    "num_modalities": ("from dataset.json", "the number of entries of dataset.json's 'modality'"),
    "num_classes": ("from dataset.json", "foreground labels of dataset.json (background excluded; training adds 1)"),
    "all_classes": ("from dataset.json", "the foreground label values (the trainer's self.classes)"),
    "base_num_features": ("planner constant", "the planner's fixed unet_base_num_features (features of level 0; "
                                              "doubled per level up to a cap)"),
    "conv_per_stage": ("planner constant", "the planner's default: two conv-norm-nonlin units per level"),
    "data_identifier": ("planner constant", "the v2.1 planners' fixed name; it names the preprocessed folders "
                                            "<data_identifier>_stage<k>"),
}


def _row(key: str, value: Any, decisions: Sequence[Decision], stage_name: str | None) -> CardRow:
    matches = [d for d in decisions if d.key == key and (d.stage in (stage_name, None))]
    if not matches and key in _ALIASES:
        matches = [d for d in decisions if d.key == _ALIASES[key] and (d.stage in (stage_name, None))]
    if not matches:  # some rules record under a related name (e.g. num_pool_per_axis with the topology)
        matches = [d for d in decisions if key in d.key and (d.stage in (stage_name, None))]
    if matches:
        why = " Then: ".join(d.text for d in matches)
        rule = "; ".join(dict.fromkeys(d.rule for d in matches))
        return CardRow(key, fmt(value), why, rule)
    if key in _FIXED:
        rule, why = _FIXED[key]
        return CardRow(key, fmt(value), why, rule)
    where = f"plans_per_stage[...]['{key}']" if stage_name else f"plans['{key}']"
    return CardRow(key, fmt(value), f"stored in {where}; no planner rule recorded for it", "")


# ----------------------------------------------------------------------------------------- configuration
def configuration_card(configuration: Any) -> Card:
    """``get_default_configuration``'s six return values (and the data folder), each with v1's rule."""
    c = configuration
    network = c.network
    multi = c.num_stages > 1
    rows = [
        CardRow("plans_file", str(c.plans_file),
                f"{'2d uses the 2D plans' if network == '2d' else 'all 3D networks use the 3D plans'}: "
                f"<preprocessed>/{c.task}/{c.plans_identifier}_plans_{'2D' if network == '2d' else '3D'}.pkl",
                "plans file by network"),
        CardRow("stage", str(c.stage),
                "2d and 3d_lowres train on stage 0; 3d_fullres and 3d_cascade_fullres on the last stage "
                f"(these plans have {c.num_stages} stage(s))", "stage by network"),
        CardRow("batch_dice", str(c.batch_dice),
                ("Dice over the whole batch, because " + ("the network is 2d" if network == "2d" else
                                                          "the plans have more than one stage"))
                if c.batch_dice else
                ("Dice per sample, then averaged: " + ("3d_lowres always uses sample Dice" if network == "3d_lowres"
                                                       else "3D plans with a single stage")),
                "batch dice iff (2d or more than one stage) and not 3d_lowres"),
        CardRow("trainer_class", getattr(c.trainer_class, "__name__", str(c.trainer_class)),
                "found by name (v1 searches nnunet/training/network_training; the explorer uses its registry)",
                "trainer by name"),
        CardRow("output_folder_name", str(c.output_folder_name),
                f"<RESULTS_FOLDER>/nnUNet/{network}/{c.task}/<trainer>__{c.plans_identifier}; fold_<k> goes inside",
                "output folder layout"),
        CardRow("dataset_directory", str(c.dataset_directory), "<nnUNet_preprocessed>/<task>", "preprocessed task"),
        CardRow("folder_with_preprocessed_data", str(c.folder_with_preprocessed_data),
                "<dataset_directory>/<data_identifier>_stage<stage>: the cases training reads",
                "data folder"),
    ]
    note = " (single-stage plans: no cascade)" if not multi else ""
    return Card(f"configuration: {network} {c.task}", tuple(rows),
                intro=f"What v1's get_default_configuration decides for {network}{note}.",
                footer="print(configuration.printed_text) shows the block v1 prints.", notes=_configuration_notes(c))


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
