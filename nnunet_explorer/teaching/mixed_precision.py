"""The mixed-precision part of the iteration card: v1's ``GradScaler`` phase by phase, with a real step's numbers.

:func:`~nnunet_explorer.training.mixed_precision.fp16_step_lesson` runs v1's fp16 branch of ``run_iteration``
and records every number; this module says what those numbers teach, in English and Chinese:

* what each call of the branch does (autocast, ``scale(l).backward()``, ``unscale_``, ``clip_grad_norm_``,
  ``step``, ``update``) and the value it produced;
* why ``unscale_`` comes before the clipping (the norm clipping would have seen, and the step it would have left);
* a step the scaler skips (an inf put into one gradient) and how the scale then halves;
* why loss scaling exists at all: this network's gradient sizes against float16's smallest normal number.

Where the numbers come from is said first, because it differs: on a GPU with fp16 they are the run's own (its
``amp_grad_scaler``); on a CPU, where v1 trains in float32, they are a demonstration with torch's CPU float16.
"""
from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from ..explore.notes import inline_html
from .language import pick

if TYPE_CHECKING:  # pragma: no cover
    from ..training.mixed_precision import Fp16Lesson

T = dict  # {"en": ..., "zh": ...}

TITLE = {"en": "mixed precision (fp16): v1's GradScaler, call by call",
         "zh": "混合精度(fp16):v1 的 GradScaler,逐个调用拆解"}
HEAD = ({"en": "v1's call", "zh": "v1 的调用"}, {"en": "measured here", "zh": "本次实测"},
        {"en": "why", "zh": "为什么"})


def _g(x: float) -> str:
    return f"{x:.4g}"


def _pct(share: float) -> str:
    value = 100 * share
    if value == 0:
        return "0 %"
    return f"{value:.2g} %" if value < 0.01 else f"{value:.3g} %"


def _shape(shape: Any) -> str:
    return "×".join(str(int(v)) for v in shape)


def _power_of_two(x: float) -> str:
    """``65536 (2**16)`` when ``x`` is a power of two, else just the number."""
    import math

    if x > 0 and math.isfinite(x) and float(2 ** round(math.log2(x))) == x:
        return f"{x:g} (2**{round(math.log2(x))})"
    return f"{x:g}"


def where_from(lesson: "Fp16Lesson", *, fp16_used: bool, fp16_requested: bool) -> str:
    """Whose numbers these are: the run's own (fp16 in use), or a labelled demonstration (CPU, or ``--fp32``)."""
    device = lesson.device
    if fp16_used:
        text = {"en": f"The run's own numbers: this run trains in mixed precision on {device}, and the phases below "
                      f"replay its iteration on the same weights and batch with a copy of the trainer's "
                      f"``amp_grad_scaler`` (scale {lesson.clean.scale:g}); then the weights, the optimizer and the "
                      "random streams were put back.",
                "zh": f"这是本次训练自己的数字:本次训练在 {device} 上使用混合精度,下面的各个阶段用训练器的 "
                      f"``amp_grad_scaler`` 的副本(scale {lesson.clean.scale:g})在同样的权重和 batch 上重放了它的迭代;"
                      "之后权重、优化器和随机数流都已恢复原样。"}
    elif device.startswith("cpu"):
        text = {"en": "A demonstration on the CPU. On a CPU v1 trains in float32 (``fp16_used False`` above: its "
                      "``autocast()`` and ``GradScaler()`` switch themselves off without CUDA). To show what a GPU "
                      "run does, the explorer ran v1's fp16 branch with torch's CPU float16 autocast "
                      "(``torch.autocast(\"cpu\", dtype=torch.float16)``) and ``torch.amp.GradScaler(\"cpu\")``, "
                      "with v1's scaler settings, on the trainer's own network, loss and optimizer; then the "
                      "weights, the optimizer and the random streams were put back. A GPU run's numbers differ "
                      "somewhat (its autocast runs some operations in other precisions).",
                "zh": "这是在 CPU 上的演示。在 CPU 上 v1 用 float32 训练(上面的 ``fp16_used False``:没有 CUDA 时它的 "
                      "``autocast()`` 和 ``GradScaler()`` 会自行关闭)。为了展示 GPU 训练时发生的事,explorer 用 torch "
                      "的 CPU float16 autocast(``torch.autocast(\"cpu\", dtype=torch.float16)``)和 "
                      "``torch.amp.GradScaler(\"cpu\")``,按 v1 的 scaler 设置,在训练器自己的网络、损失函数和优化器上"
                      "运行了 v1 的 fp16 分支;之后权重、优化器和随机数流都已恢复原样。GPU 上的数字会略有不同"
                      "(它的 autocast 对某些运算使用别的精度)。"}
    else:
        why = ("``--fp32``" if not fp16_requested else "the run's iteration did not use a GradScaler")
        why_zh = ("``--fp32``" if not fp16_requested else "本次训练的迭代没有使用 GradScaler")
        text = {"en": f"A demonstration on {device}: this run trains in float32 ({why}); below, v1's fp16 branch run "
                      "with a fresh ``GradScaler`` as v1 creates it, on the trainer's network, loss and optimizer; "
                      "then the weights, the optimizer and the random streams were put back.",
                "zh": f"这是在 {device} 上的演示:本次训练使用 float32({why_zh});下面用 v1 创建的那种全新 "
                      "``GradScaler``,在训练器的网络、损失函数和优化器上运行了 v1 的 fp16 分支;之后权重、优化器和"
                      "随机数流都已恢复原样。"}
    out = pick(text)
    if lesson.sample is not None:
        out += " " + pick({
            "en": f"It ran on a centre crop {_shape(lesson.input_shape)} of sample {lesson.sample} of the batch "
                  f"{_shape(lesson.batch_shape)}: float16 convolutions can be tens of times slower than float32 "
                  "on a CPU. The step's knob ``fp16_cpu_voxels`` sets the crop's size (None: the whole batch); the "
                  "crop keeps at least one pooling factor per axis and more than one voxel at the lowest "
                  "resolution, so it can be larger than the knob. A crop is not the batch: its loss and gradient "
                  "norms are not those of the iteration above, and whether clipping cuts them says nothing about "
                  "the real batch; compare its float16 and float32 numbers with each other.",
            "zh": f"它运行在 batch {_shape(lesson.batch_shape)} 中第 {lesson.sample} 个样本的中心裁剪块 "
                  f"{_shape(lesson.input_shape)} 上:在 CPU 上 float16 卷积可能比 float32 慢几十倍。本步骤的参数 "
                  "``fp16_cpu_voxels`` 决定裁剪块的大小(None 表示整个 batch);裁剪块每个轴至少保留一个池化倍数,"
                  "最低分辨率上多于一个体素,所以它可能比这个参数大。裁剪块不是这个 batch:它的损失和梯度范数不是上面那次"
                  "迭代的,梯度裁剪是否把它们截短也说明不了真实 batch 的情况;请把它的 float16 和 float32 数字互相比较。"})
    return out


def clean_rows(lesson: "Fp16Lesson") -> list[tuple[str, str, str]]:
    """The clean step, one row per call of v1's fp16 branch: (v1's call, what it gave here, why)."""
    c = lesson.clean
    rows = [
        ("with autocast(): output = self.network(data); l = self.loss(output, target)",
         pick({"en": f"output {lesson.output_dtype}, loss {lesson.loss_dtype}: {lesson.loss_fp16:.5f} "
                     f"(in float32: {lesson.loss_fp32:.5f})",
               "zh": f"输出为 {lesson.output_dtype},损失为 {lesson.loss_dtype}：{lesson.loss_fp16:.5f}"
                     f"(float32 下:{lesson.loss_fp32:.5f})"}),
         pick({"en": "Convolutions run in float16: half the memory for the activations, and the GPU's tensor "
                     "cores. Operations that need range or precision (softmax, logarithms, sums) stay in float32, "
                     "so the loss is float32.",
               "zh": "卷积用 float16 计算:激活值只占一半显存,并能用上 GPU 的 tensor core。需要数值范围或精度的运算"
                     "(softmax、对数、求和)仍用 float32,所以损失是 float32。"})),
        ("self.amp_grad_scaler.scale(l).backward()",
         pick({"en": f"scale S = {_power_of_two(c.scale)}; gradient norm {_g(c.norm_scaled)} "
                     f"(= S × {_g(c.norm_scaled / c.scale)})",
               "zh": f"缩放因子 S = {_power_of_two(c.scale)}；梯度范数 {_g(c.norm_scaled)}"
                     f"（= S × {_g(c.norm_scaled / c.scale)}）"}),
         pick({"en": "The backward pass of S·l: by the chain rule every gradient is S times the true one, which "
                     "lifts the small ones above float16's smallest normal number (see the last table).",
               "zh": "对 S·l 做反向传播:由链式法则,每个梯度都是真实梯度的 S 倍,这样小梯度就被抬到 float16 最小正规数"
                     "之上(见最后一个表)。"})),
        ("self.amp_grad_scaler.unscale_(self.optimizer)",
         pick({"en": f"gradient norm {_g(c.norm_unscaled)} (a float32 backward: {_g(lesson.norm_fp32)}); "
                     f"inf/nan found: {'yes' if c.found_inf else 'no'}",
               "zh": f"梯度范数 {_g(c.norm_unscaled)}(float32 反向传播:{_g(lesson.norm_fp32)});"
                     f"发现 inf/nan:{'是' if c.found_inf else '否'}"}),
         pick({"en": "Divides every gradient by S, in float32, and notes whether any is inf or nan: from here on "
                     "the gradients are the true ones.",
               "zh": "用 float32 把每个梯度除以 S,并记录是否有 inf 或 nan:从这里开始梯度就是真实梯度了。"})),
    ]
    if lesson.clip_norm is not None:
        clip = lesson.clip_norm
        first = lesson.norm_if_clipped_first
        smaller = f"{c.norm_clipped / first:,.0f}" if first else "?"
        rows.append((
            f"torch.nn.utils.clip_grad_norm_(self.network.parameters(), {clip:g})",
            pick({"en": f"{_g(c.norm_unscaled)} -> {_g(c.norm_clipped)}"
                        + (" (above the threshold: scaled down)" if c.norm_unscaled > clip else
                           f" (below {clip:g}: unchanged)"),
                  "zh": f"{_g(c.norm_unscaled)} -> {_g(c.norm_clipped)}"
                        + ("(超过阈值:被缩小)" if c.norm_unscaled > clip else f"(小于 {clip:g}:不变)")}),
            pick({"en": f"Clipping must see the true gradients, so it comes after ``unscale_``. Run on the scaled "
                        f"ones (norm {_g(c.norm_scaled)}) it cuts them to {clip:g}; divided by S that leaves a "
                        f"gradient of norm {_g(first)} (measured): a step {smaller} times smaller than v1's.",
                  "zh": f"裁剪必须看到真实梯度,所以它在 ``unscale_`` 之后。如果对缩放后的梯度(范数 "
                        f"{_g(c.norm_scaled)})裁剪,它们会被截到 {clip:g};再除以 S,梯度范数只剩 {_g(first)}(实测)"
                        f"——更新步长比 v1 的小 {smaller} 倍。"})))
    rows += [
        ("self.amp_grad_scaler.step(self.optimizer)",
         pick({"en": "optimizer step taken (the weights changed)" if c.weights_changed else
                     "step skipped (the weights did not change)",
               "zh": "执行了优化器更新(权重改变了)" if c.weights_changed else "跳过了更新(权重没有改变)"}),
         pick({"en": "Calls ``optimizer.step()`` unless ``unscale_`` found an inf or nan.",
               "zh": "除非 ``unscale_`` 发现了 inf 或 nan,否则调用 ``optimizer.step()``。"})),
        ("self.amp_grad_scaler.update()",
         pick({"en": f"S {c.scale:g} -> {c.scale_after:g}; clean steps in a row: {c.growth_tracker} of "
                     f"{lesson.growth_interval}",
               "zh": f"S {c.scale:g} -> {c.scale_after:g};连续无溢出的步数:{c.growth_tracker} / "
                     f"{lesson.growth_interval}"}),
         pick({"en": f"After {lesson.growth_interval} clean steps in a row S grows {lesson.growth_factor:g}×, after "
                     f"an overflow it shrinks {lesson.backoff_factor:g}×: the scaler keeps S near the largest "
                     "value that does not overflow.",
               "zh": f"连续 {lesson.growth_interval} 步没有溢出,S 就乘以 {lesson.growth_factor:g};一旦溢出,S 就乘以 "
                     f"{lesson.backoff_factor:g}:scaler 让 S 保持在不溢出的最大值附近。"})),
    ]
    return rows


def overflow_rows(lesson: "Fp16Lesson") -> list[tuple[str, str, str]]:
    """The step with an injected inf: ``unscale_`` finds it, ``step`` skips, ``update`` halves S."""
    o = lesson.overflow
    rows = [
        ("self.amp_grad_scaler.unscale_(self.optimizer)",
         pick({"en": f"inf/nan found: {'yes' if o.found_inf else 'no'}; gradient norm {_g(o.norm_unscaled)}",
               "zh": f"发现 inf/nan:{'是' if o.found_inf else '否'};梯度范数 {_g(o.norm_unscaled)}"}),
         pick({"en": "The same scaled gradients as above, with one entry of ``" + str(o.injected) + "`` set to inf, "
                     "as a float16 overflow leaves it.",
               "zh": "与上面相同的缩放梯度,只是把 ``" + str(o.injected) + "`` 的一个元素设为 inf,就像 float16 溢出后"
                     "那样。"})),
    ]
    if lesson.clip_norm is not None:
        rows.append((
            f"torch.nn.utils.clip_grad_norm_(self.network.parameters(), {lesson.clip_norm:g})",
            pick({"en": f"norm after clipping: {_g(o.norm_clipped)}", "zh": f"裁剪后的范数:{_g(o.norm_clipped)}"}),
            pick({"en": f"v1 clips anyway: with a total norm of inf every gradient is multiplied by "
                        f"{lesson.clip_norm:g} / inf = 0 (the inf becomes nan). Harmless: the step is skipped.",
                  "zh": f"v1 照样裁剪:总范数为 inf 时,每个梯度都乘以 {lesson.clip_norm:g} / inf = 0(inf 变成 nan)。"
                        "这没有害处:这一步会被跳过。"})))
    rows += [
        ("self.amp_grad_scaler.step(self.optimizer)",
         pick({"en": "step skipped: the weights did not change" if not o.weights_changed else
                     "a step was taken (the weights changed)",
               "zh": "跳过了更新:权重没有改变" if not o.weights_changed else "执行了更新(权重改变了)"}),
         pick({"en": "No ``optimizer.step()``: one batch is lost, the weights are safe from the inf.",
               "zh": "没有调用 ``optimizer.step()``:损失了一个 batch,但权重不会被 inf 破坏。"})),
        ("self.amp_grad_scaler.update()",
         pick({"en": f"S {o.scale:g} -> {o.scale_after:g}; clean steps in a row: {o.growth_tracker}",
               "zh": f"S {o.scale:g} -> {o.scale_after:g};连续无溢出的步数:{o.growth_tracker}"}),
         pick({"en": f"backoff_factor {lesson.backoff_factor:g}: S halves and the count of clean steps starts "
                     "again. In a real run this is routine (v1 prints nothing; the explorer's training log counts "
                     "the skipped steps of every epoch).",
               "zh": f"backoff_factor {lesson.backoff_factor:g}:S 减半,连续无溢出的计数从头开始。在真实训练中这很"
                     "常见(v1 不打印任何信息;explorer 的训练日志会统计每个 epoch 跳过的步数)。"})),
    ]
    return rows


def size_rows(lesson: "Fp16Lesson") -> list[tuple[str, str]]:
    """Why loss scaling exists: float16's range against this network's gradient sizes, without and with S."""
    from ..training.mixed_precision import FP16_MAX, FP16_SMALLEST_NORMAL, FP16_SMALLEST_SUBNORMAL

    s = lesson.sizes
    scale = lesson.clean.scale
    return [
        (pick({"en": "float16's range", "zh": "float16 的表示范围"}),
         pick({"en": f"smallest normal {FP16_SMALLEST_NORMAL:.2g} (2**-14), smallest subnormal "
                     f"{FP16_SMALLEST_SUBNORMAL:.2g} (2**-24, with 1 significant bit), largest {FP16_MAX:g}",
               "zh": f"最小正规数 {FP16_SMALLEST_NORMAL:.2g}（2**-14），最小次正规数 {FP16_SMALLEST_SUBNORMAL:.2g}"
                     f"(2**-24,只有 1 位有效位),最大值 {FP16_MAX:g}"})),
        (pick({"en": "this network's gradients (float32)", "zh": "本网络的梯度(float32)"}),
         pick({"en": f"{s.entries:,} entries: median |g| {s.median:.2g}, 1st percentile {s.p01:.2g}, largest "
                     f"{s.largest:.2g}",
               "zh": f"{s.entries:,} 个元素:|g| 的中位数 {s.median:.2g}，1% 分位数 {s.p01:.2g}，最大值 "
                     f"{s.largest:.2g}"})),
        (pick({"en": "in float16 without scaling", "zh": "不缩放,直接用 float16"}),
         pick({"en": f"{_pct(s.below_normal)} below the smallest normal (fewer significant bits), {_pct(s.to_zero)} "
                     "round to 0",
               "zh": f"{_pct(s.below_normal)} 低于最小正规数(有效位变少),{_pct(s.to_zero)} 被舍入为 0"})),
        (pick({"en": f"in float16, scaled by S = {scale:g}", "zh": f"乘以 S = {scale:g} 后用 float16"}),
         pick({"en": f"{_pct(s.below_normal_scaled)} below the smallest normal, {_pct(s.to_zero_scaled)} round to 0, "
                     f"{_pct(s.overflow_scaled)} overflow to inf",
               "zh": f"{_pct(s.below_normal_scaled)} 低于最小正规数，{_pct(s.to_zero_scaled)} 被舍入为 0，"
                     f"{_pct(s.overflow_scaled)} 溢出为 inf"})),
        (pick({"en": "a real float16 backward", "zh": "一次真实的 float16 反向传播"}),
         pick({"en": f"entries that came out exactly 0 (non-zero in float32): {_pct(s.zeros_unscaled)} without "
                     f"scaling, {_pct(s.zeros_scaled)} with S",
               "zh": f"结果恰好为 0 的元素(float32 下非零):不缩放时 {_pct(s.zeros_unscaled)},乘以 S 时 "
                     f"{_pct(s.zeros_scaled)}"})),
    ]


WHY_SCALING = {
    "en": "Why loss scaling exists: float16 keeps 11 significant bits (10 stored) and 5 exponent bits, so numbers below "
          "2**-14 lose precision and numbers below 2**-25 become 0, and many of a segmentation network's gradients "
          "are that small (the table measures this network's). Scaling the loss by S scales every gradient by S, "
          "into float16's range; ``unscale_`` divides by S in float32 before the gradients are used. bfloat16 (the usual CPU autocast type) has "
          "float32's 8 exponent bits and needs no scaler; v1 1.7.1 uses ``torch.cuda.amp.autocast()``, whose "
          "type is float16, hence its GradScaler.",
    "zh": "为什么需要损失缩放:float16 只有 11 位有效位(存储 10 位)和 5 位指数位,小于 2**-14 的数会损失精度,小于 2**-25 的数会"
          "变成 0,而分割网络的梯度有很多就这么小(下表是本网络的实测)。把损失乘以 S,每个梯度也乘以 S,"
          "从而落入 float16 的范围;``unscale_`` 在梯度被使用之前用 float32 再除以 S。bfloat16(CPU 上 autocast 常用的类型)有和 float32 "
          "一样的 8 位指数,不需要 scaler;v1 1.7.1 用的是 ``torch.cuda.amp.autocast()``,其类型是 float16,"
          "所以需要 GradScaler。",
}


def _table(rows: list[tuple[str, ...]], head: tuple[str, ...], code_first: bool) -> str:
    head_html = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = ""
    for row in rows:
        first = f"<code>{html.escape(row[0])}</code>" if code_first else inline_html(row[0])
        body += "<tr><td>" + first + "</td>" + "".join(f"<td>{inline_html(c)}</td>" for c in row[1:]) + "</tr>"
    return f"<table><tr>{head_html}</tr>{body}</table>"


def fp16_html(lesson: "Fp16Lesson | None", *, fp16_used: bool, fp16_requested: bool,
              reason: str | None = None) -> str:
    """The card's mixed-precision section as HTML (in the language of the moment)."""
    title = html.escape(pick(TITLE))
    if lesson is None:
        why = reason or pick({"en": "switched off (``fp16_lesson=False``)", "zh": "已关闭(``fp16_lesson=False``)"})
        return (f"<div class='nnx-fp16'><b>{title}</b>: "
                + inline_html(pick({"en": "not shown: ", "zh": "未显示:"}) + why) + "</div>")
    head = tuple(pick(h) for h in HEAD)
    parts = [f"<div class='nnx-fp16'><b>{title}</b>",
             f"<p>{inline_html(where_from(lesson, fp16_used=fp16_used, fp16_requested=fp16_requested))}</p>",
             _table(clean_rows(lesson), head, True),
             "<p><b>" + html.escape(pick({"en": "A step the scaler skips", "zh": "一个被 scaler 跳过的更新"}))
             + "</b></p>",
             _table(overflow_rows(lesson), head, True),
             "<p><b>" + html.escape(pick({"en": "Why scale the loss at all", "zh": "为什么要缩放损失"})) + "</b></p>",
             f"<p>{inline_html(pick(WHY_SCALING))}</p>",
             _table(size_rows(lesson), (pick({"en": "what", "zh": "项目"}), pick(HEAD[1])), False),
             "</div>"]
    return "".join(parts)


def fp16_text(lesson: "Fp16Lesson | None", *, fp16_used: bool, fp16_requested: bool,
              reason: str | None = None) -> str:
    """The same section as plain text (scripts, ``summary()``)."""
    if lesson is None:
        why = reason or pick({"en": "switched off (fp16_lesson=False)", "zh": "已关闭(fp16_lesson=False)"})
        return f"{pick(TITLE)}: " + pick({"en": "not shown: ", "zh": "未显示:"}) + why
    lines = [pick(TITLE), where_from(lesson, fp16_used=fp16_used, fp16_requested=fp16_requested)]
    why = pick(HEAD[2]) + pick({"en": ": ", "zh": "："})
    lines += [f"  {call}\n      {value}\n      {why}{text}" for call, value, text in clean_rows(lesson)]
    lines.append(pick({"en": "A step the scaler skips", "zh": "一个被 scaler 跳过的更新"}))
    lines += [f"  {call}\n      {value}\n      {why}{text}" for call, value, text in overflow_rows(lesson)]
    lines.append(pick(WHY_SCALING))
    colon = pick({"en": ": ", "zh": "："})
    lines += [f"  {what}{colon}{value}" for what, value in size_rows(lesson)]
    return "\n".join(lines).replace("``", "")


def fp16_line(lesson: "Fp16Lesson | None", *, fp16_used: bool) -> str:
    """One line for the console: the scale, unscale_ before the clipping, the skipped step."""
    if lesson is None:
        return ""
    c, o = lesson.clean, lesson.overflow
    label = (pick({"en": "the run's", "zh": "本次训练"}) if fp16_used else
             pick({"en": f"demonstration on {lesson.device}", "zh": f"{lesson.device} 上的演示"}))
    return pick({"en": f"fp16 ({label}): GradScaler scale {c.scale:g}, grad norm {_g(c.norm_scaled)} -> unscale_ -> "
                       f"{_g(c.norm_unscaled)}; injected inf: step skipped, scale {o.scale:g} -> {o.scale_after:g}",
                 "zh": f"fp16({label}):GradScaler 缩放因子 {c.scale:g},梯度范数 {_g(c.norm_scaled)} -> unscale_ -> "
                       f"{_g(c.norm_unscaled)};注入 inf:跳过更新,缩放因子 {o.scale:g} -> {o.scale_after:g}"})


__all__ = ["fp16_html", "fp16_line", "fp16_text", "where_from"]
