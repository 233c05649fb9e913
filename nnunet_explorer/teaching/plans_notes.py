"""Notes that cite the plans a run actually uses: how they compare with v1's planner, and v1's block line by line.

The catalogue in :mod:`.why` says what v1's rules are. These notes apply the rules to *these* plans, so a card
never teaches a number its own output contradicts:

* :func:`plans_check_notes` — every value that differs from what v1 1.7.1's v2.1 planner computes from the plans'
  own fingerprint (:func:`~nnunet_explorer.planning.replan.check_plans`), the batch and dummy-2D rules applied
  to the stored patch, and, for KiTS19's fingerprint, how the blog's plans relate to v1's;
* :func:`summarize_plans_table` — the block ``get_default_configuration`` prints, one row per printed line
  (one per key of the stage dicts), each with what it means and who reads it.

Every text is English and Chinese (:func:`~nnunet_explorer.teaching.language.pick`).
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ..explore.notes import Note, NoteTable
from ..planning.explain import fmt
from ..planning.replan import PlanDifference, PlansCheck, check_plans, stage_rules_3d
from ..planning.topology import pooling_product
from ..samples import kits19
from .language import get_language, pick

HEADINGS = {
    "check": {"en": "these plans vs v1's planner", "zh": "这份 plans 与 v1 规划器的结果对比"},
    "rule": {"en": "v1's rules on this patch", "zh": "v1 的规则用在这个 patch 上"},
    "kits19": {"en": "KiTS19: the blog's plans and v1's", "zh": "KiTS19:原博客的 plans 与 v1 的 plans"},
    "network": {"en": "the network of these plans", "zh": "这份 plans 的网络"},
    "pooling": {"en": "this patch and the pooling", "zh": "这个 patch 与池化"},
    "block": {"en": "the block v1 prints, line by line", "zh": "v1 打印的配置块,逐行解释"},
    "printed": {"en": "v1 prints", "zh": "v1 打印的内容"},
    "meaning": {"en": "what it means", "zh": "含义"},
}


def _say(en: str, zh: str, lang: str) -> str:
    return pick({"en": en, "zh": zh}, lang)


def _n(value: float) -> str:
    """A large number with thousands separators (``554,666,667``)."""
    return f"{float(value):,.0f}"


def _shape(value: Any) -> str:
    """``[80, 160, 160]`` as ``80x160x160``."""
    return "x".join(str(int(v)) for v in np.asarray(value).ravel())


# ------------------------------------------------------------------------------------------ the plans check
def difference_text(d: PlanDifference, lang: str | None = None) -> str:
    """``batch_size`` (stage 0): stored 3, v1's planner computes 2 — in the reader's language."""
    lang = lang or get_language()
    where = _say(f" (stage {d.stage})", f"（stage {d.stage}）", lang) if d.stage is not None else ""
    stored = _say("missing", "缺失", lang) if d.stored is None else fmt(d.stored)
    recomputed = _say("no such key", "没有这个键", lang) if d.recomputed is None else fmt(d.recomputed)
    return _say(f"``{d.key}``{where}: stored {stored}, v1's planner computes {recomputed}",
                f"``{d.key}``{where}:存储的是 {stored},v1 的规划器算出 {recomputed}", lang)


def _planner_name(plans: Mapping[str, Any]) -> str:
    two_d = str(plans.get("data_identifier", "")).endswith("_2D")
    return "ExperimentPlanner2D_v21" if two_d else "ExperimentPlanner3D_v21"


def check_note(plans: Mapping[str, Any], check: PlansCheck, lang: str, *, stage: int | None = None) -> Note:
    """The verdict: the same as v1's planner, the values that differ, or why no comparison was possible."""
    heading = pick(HEADINGS["check"], lang)
    if not check.available:
        reason = {
            "fingerprint": _say(
                "these plans carry no fingerprint (``dataset_properties``), and re-planning needs it. Pass the task's "
                "``dataset_properties.pkl`` (in ``nnUNet_cropped_data/<task>/``) to ``check_plans(plans, "
                "dataset_properties=...)`` to compare",
                "这份 plans 不含数据集指纹(``dataset_properties``),而重新规划需要它。把任务的 "
                "``dataset_properties.pkl``(在 ``nnUNet_cropped_data/<task>/`` 中)传给 ``check_plans(plans, "
                "dataset_properties=...)`` 即可对比", lang),
            "cases": _say(
                "these plans do not list their cases (``list_of_npz_files``); the batch-size cap counts them, so "
                "the planner cannot be re-run without guessing",
                "这份 plans 没有列出病例(``list_of_npz_files``);batch 大小的上限要数病例,所以不猜测就无法重新运行"
                "规划器", lang),
        }.get(check.missing, _say(f"v1's planner could not plan this fingerprint again ({check.detail})",
                                  f"v1 的规划器无法重新规划这个数据集指纹({check.detail})", lang))
        return Note("plans-check", heading, _say(f"Not compared with v1's planner: {reason}.",
                                                 f"没有与 v1 的规划器对比:{reason}。", lang))
    planner = _planner_name(plans)
    cases = len(plans.get("list_of_npz_files") or ())
    if check.matches:
        return Note("plans-check", heading, _say(
            f"Every value of these plans is what nnU-Net v1 1.7.1's ``{planner}`` computes from their own "
            f"fingerprint (``dataset_properties``, {cases} cases): no value differs.",
            f"这份 plans 的每个值都与 nnU-Net v1 1.7.1 的 ``{planner}`` 根据它自带的数据集指纹"
            f"(``dataset_properties``,{cases} 个病例)算出的结果相同:没有不一致的值。", lang))
    shown = check.differences if stage is None else check.for_stage(stage)
    others = len(check.differences) - len(shown)
    items = "; ".join(difference_text(d, lang) for d in shown)
    more = _say(f" ({others} more in other stages)", f"(其他 stage 还有 {others} 处)", lang) if others else ""
    return Note("plans-check", heading, _say(
        f"\u26a0 {len(check.differences)} value(s) differ from what nnU-Net v1 1.7.1's ``{planner}`` computes from "
        f"these plans' own fingerprint ({cases} cases): {items}{more}. Training uses the stored values. Plans "
        "differ like this when someone edited them (by hand, or with a script such as v1's "
        "``experiment_planning/change_batch_size.py``) or when another planner wrote them.",
        f"\u26a0 有 {len(check.differences)} 个值与 nnU-Net v1 1.7.1 的 ``{planner}`` 根据这份 plans 自带的数据集指纹"
        f"({cases} 个病例)算出的结果不同:{items}{more}。训练使用的是存储的值。出现这种差异,说明有人修改过 plans"
        "(手工修改,或用 v1 自带的 ``experiment_planning/change_batch_size.py`` 这类脚本),或者它是由另一个"
        "规划器写出的。", lang))


def rule_note(plans: Mapping[str, Any], stage: int, check: PlansCheck, lang: str) -> Note | None:
    """v1's 3D batch-size and dummy-2D rules applied to the stored patch, with this run's numbers."""
    rules = check.rules_for(stage)
    if rules is None:
        return None
    sp = plans["plans_per_stage"][stage]
    stored_batch, stored_dummy = int(sp["batch_size"]), bool(sp["do_dummy_2D_data_aug"])
    patch_voxels = int(np.prod(rules.patch_size))
    batch_end = (_say(", as stored", ",与存储的值相同", lang) if stored_batch == rules.batch_size else
                 _say(f"; these plans say {stored_batch} \u26a0", f";而这份 plans 写的是 {stored_batch} \u26a0", lang))
    dummy_end = ("" if stored_dummy == rules.do_dummy_2D_data_aug else
                 _say(f"; these plans say {stored_dummy} \u26a0", f";而这份 plans 写的是 {stored_dummy} \u26a0", lang))
    cmp = ">" if rules.do_dummy_2D_data_aug else "<="
    patch = _shape(rules.patch_size)
    return Note("plans-check", pick(HEADINGS["rule"], lang), _say(
        f"For the patch these plans hold, {patch}, the VRAM proxy is {_n(rules.vram_proxy)}; the planner's "
        f"reference is {_n(rules.vram_reference)} (``520,000,000 * 32 / 30``, sized for a batch of 2). Batch by "
        f"memory: ``floor(max({rules.vram_reference / rules.vram_proxy:.3f}, 1) * 2)`` = {rules.batch_by_vram}; "
        f"the 5 % cap: ``round(0.05 * {_n(rules.dataset_num_voxels)} / {_n(patch_voxels)})`` (median case times "
        f"{rules.num_cases} cases, over the patch's voxels, never below 2) = {rules.batch_cap}. So v1's rule gives "
        f"batch {rules.batch_size}{batch_end}. ``do_dummy_2D_data_aug``: max(patch) / patch[0] = "
        f"{max(rules.patch_size)} / {rules.patch_size[0]} = {rules.dummy_2d_ratio:.3g} {cmp} 3, so "
        f"{rules.do_dummy_2D_data_aug}{dummy_end}.",
        f"这份 plans 中的 patch 为 {patch},它的显存代理量是 {_n(rules.vram_proxy)};规划器的参考值是 "
        f"{_n(rules.vram_reference)}(``520,000,000 * 32 / 30``,按 batch 为 2 设定)。按显存算出的 batch 为 "
        f"``floor(max({rules.vram_reference / rules.vram_proxy:.3f}, 1) * 2)`` = {rules.batch_by_vram};5 % 上限为 "
        f"``round(0.05 * {_n(rules.dataset_num_voxels)} / {_n(patch_voxels)})``(中位病例体素数乘以 "
        f"{rules.num_cases} 个病例,再除以 patch 的体素数,且不低于 2)= {rules.batch_cap}。所以 v1 的规则给出 batch "
        f"{rules.batch_size}{batch_end}。``do_dummy_2D_data_aug``:max(patch) / patch[0] = {max(rules.patch_size)} / "
        f"{rules.patch_size[0]} = {rules.dummy_2d_ratio:.3g} {cmp} 3,所以是 {rules.do_dummy_2D_data_aug}{dummy_end}。",
        lang))


def is_kits19_fingerprint(plans: Mapping[str, Any]) -> bool:
    """3D plans of KiTS19's fingerprint: one stage at 3.22 x 1.62 x 1.62 mm whose median case is 128 x 247 x 247."""
    stages = plans.get("plans_per_stage") or {}
    if len(stages) != 1 or str(plans.get("data_identifier", "")).endswith("_2D"):
        return False
    sp = next(iter(stages.values()))
    try:
        return (tuple(int(v) for v in sp["median_patient_size_in_voxels"]) == kits19.MEDIAN_SIZE_ZYX
                and bool(np.allclose(np.asarray(sp["current_spacing"], float), kits19.SPACING_ZYX, atol=1e-4)))
    except (KeyError, TypeError, ValueError):
        return False


def is_blog_kits19_plans(plans: Mapping[str, Any]) -> bool:
    """KiTS19's fingerprint with the blog's patch and batch (:data:`~nnunet_explorer.samples.kits19.
    BLOG_STAGE_EDITS`)."""
    if not is_kits19_fingerprint(plans):
        return False
    sp = next(iter(plans["plans_per_stage"].values()))
    return all(np.array_equal(np.asarray(sp[k]), np.asarray(v)) for k, v in kits19.BLOG_STAGE_EDITS.items())


def kits19_note(plans: Mapping[str, Any], stage: int, check: PlansCheck, lang: str) -> Note | None:
    """For KiTS19's fingerprint: the blog's patch and batch are not what v1 1.7.1 plans, and what is known of why."""
    if not is_kits19_fingerprint(plans) or not check.available:
        return None
    mine = check.recomputed_stage(stage)
    if mine is None:
        return None
    sp = plans["plans_per_stage"][stage]
    v1_patch, v1_batch = _shape(mine["patch_size"]), int(mine["batch_size"])
    blog = kits19.BLOG_STAGE_EDITS
    blog_patch, blog_batch = _shape(blog["patch_size"]), int(blog["batch_size"])
    heading = pick(HEADINGS["kits19"], lang)
    option = kits19.AS_PLANNED_IDENTIFIER
    if check.matches:
        return Note("blog", heading, _say(
            f"These are nnU-Net v1 1.7.1's own plans for KiTS19's fingerprint: patch {v1_patch}, batch {v1_batch}. "
            f"The blog's block shows patch {blog_patch} and batch {blog_batch} instead; ``nnunet-explorer sample "
            f"kits19`` installs the blog's as ``nnUNetPlansv2.1`` (what the blog's command reads) and v1's as "
            f"``{option}`` (``-p {option}``).",
            f"这是 nnU-Net v1 1.7.1 自己为 KiTS19 的数据集指纹做出的 plans:patch {v1_patch},batch {v1_batch}。原博客的"
            f"配置块显示的却是 patch {blog_patch}、batch {blog_batch};``nnunet-explorer sample kits19`` 把原博客的"
            f" plans 装为 ``nnUNetPlansv2.1``(原博客的命令读的就是它),把 v1 的装为 ``{option}``(``-p {option}``)。",
            lang))
    if not is_blog_kits19_plans(plans):
        return Note("blog", heading, _say(
            f"For KiTS19's fingerprint nnU-Net v1 1.7.1 plans patch {v1_patch} and batch {v1_batch} (the sample's "
            f"``-p {option}``); the blog's plans have patch {blog_patch} and batch {blog_batch}; these plans are "
            "neither.",
            f"对 KiTS19 的数据集指纹,nnU-Net v1 1.7.1 规划出 patch {v1_patch}、batch {v1_batch}(示例中的 "
            f"``-p {option}``);原博客的 plans 是 patch {blog_patch}、batch {blog_batch};这份 plans 两者都不是。",
            lang))
    v1_rules = stage_rules_3d(check.replanned.plans, check.stage_map[stage])
    mine_rules = check.rules_for(stage)
    known = ""
    if v1_rules is not None and mine_rules is not None:
        ceiling = int(np.floor(v1_rules.vram_proxy / mine_rules.vram_proxy * 2))
        if ceiling < blog_batch:
            known = _say(
                f" A larger or smaller GPU memory budget does not explain the pair either (v1's own 11GB/16GB/32GB "
                f"planners apply the same rules with another reference, and name their plans differently): the "
                f"shrink loop visits the same patches whatever the reference, and it reaches "
                f"{blog_patch} only after rejecting {v1_patch} (VRAM proxy {_n(v1_rules.vram_proxy)}); the reference "
                f"is then below {_n(v1_rules.vram_proxy)}, so the batch rule gives at most ``floor("
                f"{_n(v1_rules.vram_proxy)} / {_n(mine_rules.vram_proxy)} * 2)`` = {ceiling}.",
                f"换一个更大或更小的显存预算也解释不了这一对值(v1 自带的 11GB/16GB/32GB 规划器用的是同样的规则、"
                f"另一个参考值,并且给 plans 起了别的名字):无论参考值是多少,"
                f"缩小循环经过的 patch 序列都一样,要到达 {blog_patch} 必须先否定 {v1_patch}(显存代理量 "
                f"{_n(v1_rules.vram_proxy)});此时参考值低于 {_n(v1_rules.vram_proxy)},所以 batch 规则最多给出 "
                f"``floor({_n(v1_rules.vram_proxy)} / {_n(mine_rules.vram_proxy)} * 2)`` = {ceiling}。", lang)
    stored_patch, stored_batch = _shape(sp["patch_size"]), int(sp["batch_size"])
    rest_en, rest_zh = "every other value the blog's block prints is v1's.", "原博客配置块打印的其余各值都与 v1 相同。"
    if {d.key for d in check.differences} != set(blog):
        rest_en, rest_zh = "these plans differ from v1's in more than the blog's two values.", \
            "这份 plans 与 v1 的差异不止原博客的这两个值。"
    return Note("blog", heading, _say(
        f"These are the plans the blog shows (patch {stored_patch}, batch {stored_batch}), not what nnU-Net v1 1.7.1 "
        f"computes for KiTS19's fingerprint: its ``ExperimentPlanner3D_v21`` gives patch {v1_patch} and batch "
        f"{v1_batch}; to train with those, add ``-p {option}`` (the sample installs them under that name). What is "
        f"known: {rest_en}{known} What is not known: how the blog's plans "
        "were made — edited by hand (v1 ships ``experiment_planning/change_batch_size.py`` for such edits), written "
        "by a modified planner, or by an nnU-Net version whose rules differ from 1.7.1's; the blog does not say.",
        f"这是原博客展示的 plans:patch {stored_patch}、batch {stored_batch}。它不是 nnU-Net v1 1.7.1 为 KiTS19 的"
        f"数据集指纹算出的结果:它的 ``ExperimentPlanner3D_v21`` 给出 patch {v1_patch}、batch {v1_batch};要用这组"
        f"值训练,加上 ``-p {option}``(示例以这个名字安装了它们)。已知的是:{rest_zh}"
        f"{known}不知道的是:原博客的 plans 是怎么来的——手工修改(v1 为此自带了 "
        "``experiment_planning/change_batch_size.py``)、由改过的规划器写出,还是来自规则与 1.7.1 不同的 nnU-Net "
        "版本;原博客没有说明。", lang))


def network_note(check: PlansCheck, stage: int, lang: str) -> Note | None:
    """Whether v1's own plans would build the same network as these (edited) plans."""
    differing = [d for d in check.for_stage(stage)]
    if not check.available or not differing:
        return None
    keys = ", ".join(f"``{d.key}``" for d in differing)
    topology = {"pool_op_kernel_sizes", "conv_kernel_sizes", "num_pool_per_axis", "base_num_features",
                "conv_per_stage", "num_classes", "num_modalities"}
    if topology.isdisjoint(d.key for d in differing):
        text = _say(f"These plans differ from v1's planner in {keys}, but not in the pooling and convolution kernels: "
                    "v1's own plans build the same network with the same parameters; only the feature-map sizes "
                    "(and so the memory) differ.",
                    f"这份 plans 与 v1 规划器的结果在 {keys} 上不同,但池化核和卷积核相同:v1 自己的 plans 会构建同样的"
                    "网络、同样的参数;只有特征图大小(因而显存)不同。", lang)
    else:
        text = _say(f"These plans differ from v1's planner in {keys}, including the network's topology: v1's own "
                    "plans would build a different network.",
                    f"这份 plans 与 v1 规划器的结果在 {keys} 上不同,其中包括网络的拓扑:v1 自己的 plans 会构建出"
                    "不同的网络。", lang)
    return Note("plans-check", pick(HEADINGS["network"], lang), text)


def pooling_note(plans: Mapping[str, Any], stage: int, lang: str) -> Note | None:
    """A warning when the stage's patch does not fit its pooling (a hand edit): the network fails.

    v1's planner pads every axis of the patch to a multiple of the product of its pooling kernels; Generic_UNet's
    decoder relies on it (see :func:`~nnunet_explorer.planning.topology.pooling_product`). And it pools an axis only
    while it has at least 8 voxels: a patch made smaller without its pooling leaves one voxel at the deepest level,
    which instance norm cannot normalise.
    """
    sp = (plans.get("plans_per_stage") or {}).get(stage) or {}
    if "patch_size" not in sp or not sp.get("pool_op_kernel_sizes"):
        return None
    patch = [int(v) for v in sp["patch_size"]]
    divisor = list(pooling_product(sp["pool_op_kernel_sizes"]))
    axes = [i for i, (p, d) in enumerate(zip(patch, divisor)) if p % d]
    if all(-(-p // d) == 1 for p, d in zip(patch, divisor)):  # strided convolutions round up
        return Note("pitfall", pick(HEADINGS["pooling"], lang), _say(
            f"The patch {patch} leaves one voxel at the network's deepest level (the product of the pooling kernels "
            f"is {divisor}): instance norm cannot normalise a single voxel, so ``Generic_UNet``'s forward fails "
            "(\"Expected more than 1 spatial element when training\"). v1's planner pools an axis only while it has "
            "at least 8 voxels, keeping at least 4 on every pooled axis at the deepest level; a smaller patch needs "
            "its own pooling (the ``network`` step names the pooling v1's planner gives it).",
            f"patch {patch} 在网络最深一层只剩一个体素(池化核的乘积是 {divisor}):instance norm 无法对单个体素做"
            "归一化,所以 ``Generic_UNet`` 的 forward 会出错(\"Expected more than 1 spatial element when "
            "training\")。v1 的规划器只在某个轴至少有 8 个体素时才在该轴上池化,最深一层每个被池化的轴至少保留 4 个体素;更小的 "
            "patch 需要它自己的池化(``network`` 步骤会给出 v1 规划器为它算出的池化)。", lang))
    if not axes:
        return None
    return Note("pitfall", pick(HEADINGS["pooling"], lang), _say(
        f"The patch {patch} is no multiple of the product of the pooling kernels {divisor} on axis {axes}: "
        "``Generic_UNet``'s forward fails on it (\"Sizes of tensors must match except in dimension 1\": the upsampled "
        "features come out one voxel larger than the skip connection). v1's planner never writes such a patch; "
        "make every axis a multiple (the ``network`` step names the nearest valid patches).",
        f"patch {patch} 在轴 {axes} 上不是池化核乘积 {divisor} 的整数倍:``Generic_UNet`` 的 forward 会在它上面出错"
        "(\"Sizes of tensors must match except in dimension 1\":上采样后的特征比跳跃连接多一个体素)。v1 的规划器"
        "从不写出这样的 patch;请让每个轴都是整数倍(``network`` 步骤会给出最接近的合法 patch)。", lang))


def plans_check_notes(plans: Mapping[str, Any], stage: int | None = None, check: PlansCheck | None = None,
                      language: str | None = None, *, rules: bool = True) -> tuple[Note, ...]:
    """The boxes a plans card carries: the check against v1's planner, the rules on the stored patch, KiTS19.

    Args:
        plans: the plans dict the card shows.
        stage: the stage shown (default: the last).
        check: :func:`~nnunet_explorer.planning.replan.check_plans` of ``plans`` (computed when None).
        rules: include the batch-size / dummy-2D rules applied to the stored patch.
    """
    lang = language or get_language()
    stages = sorted(plans.get("plans_per_stage") or {0: None})
    stage = stages[-1] if stage is None else stage
    check = check if check is not None else check_plans(plans)
    notes = [pooling_note(plans, stage, lang), check_note(plans, check, lang, stage=stage)]
    if rules and check.available:
        notes.append(rule_note(plans, stage, check, lang))
    notes.append(kits19_note(plans, stage, check, lang))
    return tuple(n for n in notes if n is not None)


# ------------------------------------------------------------------------------- summarize_plans, line by line
def _mask_note(plans: Mapping[str, Any], lang: str) -> str:
    mods = plans.get("modalities") or {}
    mask = plans.get("use_mask_for_norm") or {}
    here = ", ".join(f"{c} ({mods.get(c, '?')}): {mask[c]}" for c in mask)
    return _say(
        "Per input channel: normalise only inside the nonzero region that cropping found? The planner writes False "
        "for every channel whose modality name contains 'CT'; for the others True exactly when the median over "
        "the cases of (voxels after cropping to the nonzero region / voxels before) is below 3/4 (a zero "
        "background, as in brain MRI). With "
        f"True, a non-CT channel's mean and sd come from the voxels inside the region, and everything outside is set "
        f"to 0. Here: {here}.",
        "按输入通道:是否只在裁剪时找到的非零区域内做归一化?对模态名中含 'CT' 的通道,规划器一律写 False;其他通道,"
        "只有当各病例(裁剪到非零区域后的体素数 / 裁剪前的体素数)的中位数低于 3/4 时(背景为 0,如脑部 MRI)才写 True。为 True 时,非 CT "
        f"通道的均值和标准差只用区域内的体素计算,区域外全部置为 0。这里:{here}。", lang)


def _normalization_note(plans: Mapping[str, Any], lang: str) -> str:
    schemes = plans.get("normalization_schemes") or {}
    intensity = (plans.get("dataset_properties") or {}).get("intensityproperties") or {}
    numbers = []
    for c, scheme in schemes.items():
        props = intensity.get(c) if scheme == "CT" else None
        if props:
            numbers.append(_say(
                f"channel {c}: clip to [{fmt(props['percentile_00_5'])}, {fmt(props['percentile_99_5'])}], "
                f"then (x - {fmt(props['mean'])}) / {fmt(props['sd'])}",
                f"通道 {c}:裁剪到 [{fmt(props['percentile_00_5'])}, {fmt(props['percentile_99_5'])}],"
                f"再做 (x - {fmt(props['mean'])}) / {fmt(props['sd'])}", lang))
    here = ""
    if numbers:
        here = _say(" Here: ", "这里:", lang) + _say("; ", ";", lang).join(numbers) + _say(".", "。", lang)
    return _say(
        "Per input channel, how preprocessing normalises intensities. 'CT': clip to the 0.5 and 99.5 percentiles "
        "of the training set's foreground (every 10th labelled voxel of every case), subtract that foreground's "
        "mean and divide by its sd: the same numbers for every case. 'nonCT': each case gets its own z-score "
        "(inside the nonzero region when ``use_mask_for_norm`` is True). 'noNorm': left as it is. The name in "
        f"``modalities`` decides: exactly 'CT' or 'ct' gives 'CT'.{here}",
        "按输入通道,预处理如何归一化强度。'CT':裁剪到训练集前景(每个病例中每隔 10 个取一个有标签的体素)的 0.5 与 "
        "99.5 百分位,再减去前景均值、除以前景标准差:所有病例用同一组数。'nonCT':每个病例用自己的均值和标准差做 "
        "z-score(``use_mask_for_norm`` 为 True 时只在非零区域内)。'noNorm':不变。由 ``modalities`` 中的名字决定:"
        f"恰好是 'CT' 或 'ct' 才得到 'CT'。{here}", lang)


def _stage_key_note(key: str, sp: Mapping[str, Any], lang: str) -> str:
    patch = np.asarray(sp.get("patch_size", ()))
    spacing = np.asarray(sp.get("current_spacing", ()), float)
    if key == "batch_size":
        return _say("Patches per training iteration (the loader's ``batch_size``). The ``plans_processed`` card "
                    "applies the planner's rule to this patch.",
                    "每次训练迭代的 patch 数(数据加载器的 ``batch_size``)。``plans_processed`` 卡片会把规划器的规则"
                    "用在这个 patch 上。", lang)
    if key == "num_pool_per_axis":
        levels = int(max(sp[key])) + 1
        return _say(f"How often each axis is halved on the way down (axes in ``transpose_forward`` order, coarsest "
                    f"first): {levels} resolution levels, the deepest one the bottleneck.",
                    f"下采样路径上每个轴被减半的次数(轴按 ``transpose_forward`` 的顺序,最粗的在前):共 {levels} 个"
                    "分辨率层,最深的一层是瓶颈层。", lang)
    if key == "patch_size":
        mm = "x".join(f"{a * b:.0f}" for a, b in zip(patch, spacing[-len(patch):])) if len(spacing) else "?"
        return _say(f"The network's input in voxels at ``current_spacing`` ({mm} mm). The loader first cuts a larger "
                    "patch (``basic_generator_patch_size``) so that rotation and scaling mostly stay inside loaded "
                    "data (a margin, not a guarantee: V2's strongest zoom-out can reach the padding).",
                    f"网络输入的体素大小,按 ``current_spacing`` 计({mm} mm)。数据加载器先切出更大的 patch"
                    "(``basic_generator_patch_size``),使旋转和缩放大多仍落在加载的数据之内(这是余量,不是保证:V2 最强的缩小"
                    "仍可能取到填充)。", lang)
    if key == "median_patient_size_in_voxels":
        return _say("The median case at ``current_spacing``. Only the planner uses it: the patch is clipped to it, and "
                    "the 5 % batch cap and the 3d_lowres decision count its voxels.",
                    "按 ``current_spacing`` 计的中位病例大小。只有规划器用它:patch 被裁剪到它以内,batch 的 5 % 上限和"
                    "是否需要 3d_lowres 都按它的体素数计算。", lang)
    if key == "current_spacing":
        return _say("The spacing (mm, coarsest axis first) this stage's cases were resampled to: the preprocessor's "
                    "target, and the spacing a new case is resampled to before prediction. In the 2D plans only in-plane: "
                    "the first, out-of-plane axis keeps each case's own spacing.",
                    "这个 stage 的病例被重采样到的 spacing(毫米,最粗的轴在前):预处理的目标 spacing,预测前新病例也会"
                    "被重采样到它。2D plans 只在平面内重采样:第一个(平面外的)轴保留每个病例自己的 spacing。", lang)
    if key == "original_spacing":
        same = bool(len(spacing)) and bool(np.allclose(np.asarray(sp[key], float), spacing))
        here = (_say(" Here it equals ``current_spacing``: this is the full-resolution stage.",
                     "这里它等于 ``current_spacing``:这是全分辨率 stage。", lang) if same else
                _say(" Here it differs from ``current_spacing``: this is the low-resolution stage.",
                     "这里它不等于 ``current_spacing``:这是低分辨率 stage。", lang))
        return _say("Not the spacing of the raw images: the target spacing of the full-resolution stage. For "
                    "``3d_lowres`` it keeps that finer spacing while ``current_spacing`` is the coarser one. Training "
                    "and prediction never read it." + here,
                    "不是原始图像的 spacing,而是全分辨率 stage 的目标 spacing。对 ``3d_lowres``,它保留这个更细的 "
                    "spacing,而 ``current_spacing`` 是更粗的那个。训练和预测都不读取它。" + here, lang)
    if key == "do_dummy_2D_data_aug":
        if len(patch) == 3:
            ratio = max(patch) / patch[0]
            cmp = ">" if ratio > 3 else "<="
            here = _say(f" Here {max(patch)} / {patch[0]} = {ratio:.3g} {cmp} 3.",
                        f"这里 {max(patch)} / {patch[0]} = {ratio:.3g} {cmp} 3。", lang)
        else:
            here = _say(" 2D plans: always False.", "2D plans:总是 False。", lang)
        return _say("True when the patch's largest edge is more than 3 times its first edge: the 3D patch is then "
                    "rotated and scaled slice by slice, in 2D." + here,
                    "当 patch 的最长边超过第一条边的 3 倍时为 True:此时 3D patch 按切片在 2D 中旋转和缩放。" + here,
                    lang)
    if key == "pool_op_kernel_sizes":
        return _say("One kernel per downsampling, from the top: [2, 2, 2] halves every axis, [1, 2, 2] only the "
                    "in-plane ones. V2 downsamples with strided convolutions of these strides.",
                    "每次下采样一个核,从最上层开始:[2, 2, 2] 把每个轴减半,[1, 2, 2] 只减半平面内的轴。V2 用这些步长的"
                    "带步长卷积做下采样。", lang)
    if key == "conv_kernel_sizes":
        return _say("One kernel per resolution level (downsamplings + 1): 3 along the largest group of axes whose "
                    "spacings at that level lie within a factor 2 of one axis's spacing (so the group can span more "
                    "than 2x), 1 along the others — usually the thick-slice axis (so [1, 3, 3] for thick slices), "
                    "though a single much finer axis gets 1 too; the bottleneck always gets 3 everywhere.",
                    "每个分辨率层一个卷积核(下采样次数 + 1):找出该层 spacing 与某一个轴的 spacing 相差不到 2 倍的最大一组轴"
                    "(所以这组轴之间可以相差超过 2 倍),这组轴上为 3,其余轴上为 1——通常是厚层的那个轴(所以厚层图像是 "
                    "[1, 3, 3]),不过单独一个细得多的轴也会是 1;瓶颈层总是全部为 3。", lang)
    return _say("A value of this stage (not one of v1's standard keys).", "这个 stage 的一个值(不是 v1 的标准键)。",
                lang)


def _plans_key_note(key: str, plans: Mapping[str, Any], lang: str) -> str:
    if key == "num_classes":
        n = int(plans["num_classes"])
        return _say(f"Foreground classes, from dataset.json's labels without the background. ``process_plans`` adds "
                    f"1: the network has {n + 1} output channels.",
                    f"前景类别数,来自 dataset.json 的标签(不含背景)。``process_plans`` 会加 1:网络有 {n + 1} 个输出"
                    "通道。", lang)
    if key == "modalities":
        return _say("Input channel -> modality name, from dataset.json; the name decides the two lines below.",
                    "输入通道 -> 模态名,来自 dataset.json;这个名字决定下面两行。", lang)
    if key == "use_mask_for_norm":
        return _mask_note(plans, lang)
    if key == "keep_only_largest_region":
        return _say("Always None in plans of the v2.1 planners: the postprocessing from training data that once "
                    "filled it was removed (v1's comment: 'This is deprecated'). ``process_plans`` copies it to "
                    "``only_keep_largest_connected_component``, which nothing reads; v1 decides postprocessing after "
                    "validation instead (``determine_postprocessing``, ``postprocessing.json``).",
                    "v2.1 规划器写出的 plans 中总是 None:原来根据训练数据填写它的后处理已被移除(v1 的注释:"
                    "'This is deprecated')。``process_plans`` 把它复制到 ``only_keep_largest_connected_component``,"
                    "但没有任何代码读取;v1 改为在验证之后决定后处理(``determine_postprocessing``,"
                    "``postprocessing.json``)。", lang)
    if key == "min_region_size_per_class":
        return _say("Always None as well (the same removed postprocessing): copied to "
                    "``self.min_region_size_per_class`` and never read.",
                    "同样总是 None(同一个被移除的后处理):被复制到 ``self.min_region_size_per_class``,但从不被读取。",
                    lang)
    if key == "min_size_per_class":
        return _say("Always None; ``process_plans`` does not even copy it (``self.min_size_per_class = None  # DONT "
                    "USE THIS``).",
                    "总是 None;``process_plans`` 连复制都不做(``self.min_size_per_class = None  # DONT USE THIS``)。",
                    lang)
    if key == "normalization_schemes":
        return _normalization_note(plans, lang)
    return ""


def _line_note(line: str, configuration: Any, lang: str) -> str:
    network, stage = configuration.network, configuration.stage
    if set(line) == {"#"}:
        return _say("v1's frame around the block (47 '#').", "v1 在配置块前后打印的分隔线(47 个 '#')。", lang)
    if line.startswith("I am running the following nnUNet"):
        plans = "_plans_2D.pkl" if network == "2d" else "_plans_3D.pkl"
        return _say(f"The network configuration (``nnUNet_train``'s first argument). It picks the plans file (here "
                    f"``{plans}``) and the stage.",
                    f"网络配置(``nnUNet_train`` 的第一个参数)。它决定用哪个 plans 文件(这里是 ``{plans}``)和哪个 stage。",
                    lang)
    if line.startswith("My trainer class is"):
        return _say("The trainer class found by its name (the second argument); v1 prints the class object, so "
                    "its module path shows.",
                    "按名字找到的 trainer 类(第二个参数);v1 打印的是类对象本身,所以能看到它的模块路径。", lang)
    if line.startswith("For that I will be using"):
        return _say("What follows is v1's ``summarize_plans(plans_file)``: the plans-wide values, then each stage.",
                    "接下来是 v1 的 ``summarize_plans(plans_file)``:先是整个 plans 的值,再是每个 stage。", lang)
    if line.startswith("stages..."):
        return _say("Then one dict per stage: stage 0 only, or stage 0 = 3d_lowres and stage 1 = full resolution "
                    "when the planner made two.",
                    "然后每个 stage 一个 dict:只有 stage 0,或者规划器做了两个 stage 时 stage 0 = 3d_lowres、stage 1 = "
                    "全分辨率。", lang)
    if line.startswith("stage: "):
        return _say(f"The stage's index in ``plans_per_stage``; this run trains on stage {stage}.",
                    f"该 stage 在 ``plans_per_stage`` 中的编号;这次运行训练的是 stage {stage}。", lang)
    if line.startswith("I am using stage"):
        return _say("2d and 3d_lowres train on stage 0; 3d_fullres and 3d_cascade_fullres on the last stage.",
                    "2d 和 3d_lowres 在 stage 0 上训练;3d_fullres 和 3d_cascade_fullres 在最后一个 stage 上训练。", lang)
    if line.startswith("I am using batch dice") or line.startswith("I am using sample dice"):
        return _say("Batch Dice for 2d and for the full-resolution networks of two-stage plans; sample Dice "
                    "otherwise (always for 3d_lowres).",
                    "2d 以及两阶段 plans 的全分辨率网络用批 Dice;其他情况用样本 Dice(3d_lowres 总是如此)。", lang)
    if line.startswith("I am using data from this folder"):
        return _say(f"``<nnUNet_preprocessed>/<task>/<data_identifier>`` as v1 prints it; the trainer appends "
                    f"``_stage<k>`` and reads ``{configuration.data_folder}_stage{stage}``.",
                    f"v1 打印的是 ``<nnUNet_preprocessed>/<task>/<data_identifier>``;trainer 会加上 ``_stage<k>``,"
                    f"实际读取 ``{configuration.data_folder}_stage{stage}``。", lang)
    return ""


def summarize_plans_table(configuration: Any, language: str | None = None) -> NoteTable:
    """v1's printed configuration block (``configuration.printed_text``), one row per line or stage key.

    The stage dicts, which v1 prints on one line each, get one row per key, written as that line shows it
    (``'patch_size': array([ 80, 160, 160])``, with numpy 1.x's reprs).
    """
    from ..planning.plans import SUMMARY_KEYS, summarize_plans_items

    lang = language or get_language()
    plans = configuration.plans
    items = summarize_plans_items(plans)
    plans_lines = {label.strip(): key for key, label in SUMMARY_KEYS}
    stage_dicts = {i: [(k, text) for k, s, text in items if s == i] for i in plans["plans_per_stage"]}
    rows: list[tuple[str, str]] = []
    current_stage = None
    for line in configuration.printed_text.splitlines():
        if not line.strip():
            continue
        if line.startswith("{") and current_stage in stage_dicts:
            sp = plans["plans_per_stage"][current_stage]
            rows += [(f"{k!r}: {text}", _stage_key_note(k, sp, lang)) for k, text in stage_dicts[current_stage]]
            continue
        if line.startswith("stage: "):
            current_stage = int(line.split()[-1])
        key = plans_lines.get(line.split(" ", 1)[0].strip())
        note = _plans_key_note(key, plans, lang) if key else _line_note(line, configuration, lang)
        rows.append((line, note))
    return NoteTable("plans-block", pick(HEADINGS["block"], lang),
                     (pick(HEADINGS["printed"], lang), pick(HEADINGS["meaning"], lang)), tuple(rows))


def configuration_notes(configuration: Any, language: str | None = None) -> tuple[tuple[Note, ...],
                                                                                 tuple[NoteTable, ...]]:
    """The configuration card's notes on its plans: the printed block line by line and, when the plans are not
    what v1's planner computes (or are KiTS19's), the boxes that say so."""
    lang = language or get_language()
    plans, stage = configuration.plans, int(configuration.stage)
    check = check_plans(plans)
    boxes = []
    if check.available and not check.matches:
        boxes.append(check_note(plans, check, lang, stage=stage))
    kits = kits19_note(plans, stage, check, lang)
    if kits is not None:
        boxes.append(kits)
    return tuple(boxes), (summarize_plans_table(configuration, lang),)


__all__ = ["HEADINGS", "check_note", "configuration_notes", "difference_text", "is_blog_kits19_plans",
           "is_kits19_fingerprint", "kits19_note", "network_note", "plans_check_notes", "pooling_note", "rule_note",
           "summarize_plans_table"]
