"""A readable picture of the U-Net: stages, shapes, parameters, deep-supervision heads, memory.

:func:`describe_network` runs one forward pass with hooks on every module and groups what it saw by U-Net
stage: encoder levels (``conv_blocks_context``), the bottleneck, decoder levels (``tu`` + ``conv_blocks_
localization``) and the deep-supervision heads (``seg_outputs``) with their loss weights. Next to it sits the
planner's memory *proxy* (``compute_approx_vram_consumption``) and a measured number — on a GPU, what one
training forward + backward adds to the memory already in use, in fp16 autocast when training is fp16 (v1's
default), plus the weights (:func:`measure_training_memory`); otherwise an activation estimate from the hooks —
always saying which one it is.

On a CPU the forward runs on a shape-only copy of the network (``meta`` device), so describing a full-size
network at the real patch and batch size costs about a second and no memory.
"""
from __future__ import annotations

import copy
import html
from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np
import torch
from torch import nn

from ..language import tr
from ..planning.vram import (BASE_NUM_FEATURES_3D, DEFAULT_BATCH_SIZE_2D, compute_approx_vram_consumption,
                             use_this_for_batch_size_computation_2D, use_this_for_batch_size_computation_3D)
from ..provenance import mirrors


@dataclass(frozen=True)
class LayerSummary:
    """One module inside a stage (a conv unit, a transposed conv or a head)."""

    name: str  # dotted path in the network, as in state_dict keys
    description: str  # e.g. "Conv3d 1x3x3 stride 1x2x2 -> InstanceNorm3d -> LeakyReLU"
    in_channels: int | None
    out_channels: int | None
    output_shape: tuple[int, ...] | None
    params: int


@dataclass(frozen=True)
class StageSummary:
    """One U-Net stage.

    ``group`` is ``"encoder"``, ``"bottleneck"``, ``"decoder"``, ``"deep-supervision head"`` or ``"other"``;
    ``level`` is the resolution level (0 = full resolution). For heads, ``ds_index`` is the position in the
    network's output tuple (0 = full resolution) and ``ds_weight`` its loss weight.
    """

    group: str
    name: str
    modules: tuple[str, ...]
    level: int | None
    output_shape: tuple[int, ...] | None
    params: int
    layers: tuple[LayerSummary, ...]
    ds_index: int | None = None
    ds_weight: float | None = None


@dataclass(frozen=True)
class ArchitectureSummary:
    """What :func:`describe_network` found. Renders as a text tree (``to_text``) or HTML (``to_html``)."""

    input_size: tuple[int, ...]
    stages: tuple[StageSummary, ...]
    total_params: int
    trainable_params: int
    output_shapes: tuple[tuple[int, ...], ...]
    vram_proxy: int | None
    vram_reference: float | None
    memory_bytes: int | None
    memory_source: str
    notes: tuple[str, ...] = field(default=())

    @property
    def heads(self) -> tuple[StageSummary, ...]:
        """The deep-supervision heads, highest resolution first."""
        heads = [s for s in self.stages if s.group == "deep-supervision head"]
        return tuple(sorted(heads, key=lambda s: s.ds_index if s.ds_index is not None else 0))

    def params_by_group(self) -> dict[str, int]:
        """Parameter count per group (encoder, bottleneck, decoder, heads)."""
        out: dict[str, int] = {}
        for s in self.stages:
            out[s.group] = out.get(s.group, 0) + s.params
        return out

    def _memory_lines(self) -> list[str]:
        lines = []
        if self.vram_proxy is not None:
            line = tr(f"v1 VRAM proxy (compute_approx_vram_consumption): {self.vram_proxy:,}",
                      f"v1 显存代理量（compute_approx_vram_consumption）：{self.vram_proxy:,}")
            if self.vram_reference:
                batch = self.input_size[0]
                # the planners' reference corresponds to a batch of 2 (3D: DEFAULT_BATCH_SIZE_3D; 2D: "for batch
                # size 2"); the proxy itself is per patch, so scale by batch / 2 to compare
                share = f"{self.vram_proxy * batch / 2 / self.vram_reference:.1%}"
                line += tr(f"; planner reference {self.vram_reference:,.0f} (for batch 2); at batch {batch} this "
                           f"network uses {share} of it",
                           f";规划器的参考值 {self.vram_reference:,.0f}(对应 batch 2);batch 为 {batch} 时这个网络"
                           f"用掉它的 {share}")
            lines.append(line)
        measured = (tr("estimated: ", "估计:") if self.memory_source.startswith("estimate")
                    else tr("measured: ", "实测:"))
        source = _in_language(self.memory_source)
        if self.memory_bytes is not None:
            lines.append(f"{measured}{self.memory_bytes / 2 ** 20:,.1f} MiB — {source}")
        else:
            lines.append(f"{measured}n/a — {source}")
        return lines + [_in_language(note) for note in self.notes]

    def to_text(self) -> str:
        """A tree, one line per stage and one per layer."""
        lines = [self._headline()]
        group = None
        for s in self.stages:
            if s.group != group:
                group = s.group
                lines.append(f"{group_label(group)}:")
            extra = ""
            if s.ds_index is not None:
                extra = f"  [{_head_weight(s)}]"
            lines.append(f"  {stage_label(s)}  -> {_shape(s.output_shape)}  ({_params(s.params)}){extra}")
            for layer in s.layers:
                lines.append(f"    {layer.name}: {layer_text(layer.description)} -> {_shape(layer.output_shape)} "
                             f"({layer.params:,})")
        lines.append(tr("outputs (highest resolution first): ", "输出（最高分辨率在前）：")
                     + ", ".join(_shape(o) for o in self.output_shapes))
        lines += self._memory_lines()
        return "\n".join(lines)

    def to_html(self) -> str:
        """Plain HTML: one ``<details>`` per stage, a table of layers inside. No JavaScript."""
        esc = html.escape
        size = f"<code>{esc(_shape(self.input_size))}</code>"
        parts = ["<div class='nnx-architecture'><p>" + tr(
            f"<b>U-Net</b> on input {size}: {self.total_params:,} parameters ({self.trainable_params:,} trainable)",
            f"<b>U-Net</b>，输入 {size}：{self.total_params:,} 个参数(其中 {self.trainable_params:,} 个可训练)")
            + "</p>"]
        group = None
        head = (f"<tr><th>{tr('module', '模块')}</th><th>{tr('what', '内容')}</th><th>{tr('output', '输出')}</th>"
                f"<th>{tr('params', '参数')}</th></tr>")
        for s in self.stages:
            if s.group != group:
                group = s.group
                parts.append(f"<h4>{esc(group_label(group))}</h4>")
            extra = ""
            if s.ds_index is not None:
                extra = f" — {esc(_head_weight(s))}"
            rows = "".join(f"<tr><td><code>{esc(l.name)}</code></td><td>{esc(layer_text(l.description))}</td>"
                           f"<td><code>{esc(_shape(l.output_shape))}</code></td><td>{l.params:,}</td></tr>"
                           for l in s.layers)
            parts.append(f"<details><summary>{esc(stage_label(s))} → <code>{esc(_shape(s.output_shape))}</code> "
                         f"({_params(s.params)}){extra}</summary><table>{head}{rows}</table></details>")
        parts.append("<p>" + tr("outputs (highest resolution first): ", "输出（最高分辨率在前）：")
                     + ", ".join(f"<code>{esc(_shape(o))}</code>" for o in self.output_shapes) + "</p>")
        parts.append("<ul>" + "".join(f"<li>{esc(l)}</li>" for l in self._memory_lines())
                     + "</ul></div>")
        return "".join(parts)

    def _headline(self) -> str:
        return tr(f"U-Net on input {_shape(self.input_size)}: {self.total_params:,} parameters "
                  f"({self.trainable_params:,} trainable)",
                  f"U-Net，输入 {_shape(self.input_size)}：{self.total_params:,} 个参数"
                  f"(其中 {self.trainable_params:,} 个可训练)")

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        return (f"ArchitectureSummary({len(self.stages)} stages, {self.total_params:,} params, "
                f"input {_shape(self.input_size)}, {len(self.output_shapes)} outputs)")


def _shape(shape: Sequence[int] | None) -> str:
    return "?" if shape is None else "(" + ", ".join(str(int(v)) for v in shape) + ")"


def _fmt_w(w: float | None) -> str:
    return "?" if w is None else f"{w:.4f}"


# the memory sources and notes describe_network writes (kept in English in the record), in Chinese
_SENTENCES_ZH = {
    "one training forward + backward at this batch size in {mode}: CUDA's peak allocation minus the memory already "
    "in use, plus the weights (weights, activations, gradients and workspaces; no optimizer state)":
        "在这个 batch 大小下以 {mode} 做一次训练的前向 + 反向:CUDA 的峰值分配减去已占用的显存,再加上权重"
        "(权重、激活、梯度和工作区;不含优化器状态)",
    "estimate from forward hooks: bytes of all intermediate feature maps of one forward pass (what autograd keeps "
    "for backward), plus the input, in float32 (v1's fp16 autocast on a GPU stores most of them in float16, 2 bytes "
    "instead of 4); excludes weights, gradients, optimizer state and workspaces":
        "由前向钩子估计:一次前向传播所有中间特征图的字节数(autograd 为反向传播保留的部分),再加上输入,按 float32 "
        "计(v1 在 GPU 上的 fp16 autocast 把其中大部分存成 float16,每个 2 字节而不是 4 字节);不含权重、梯度、"
        "优化器状态和工作区",
    "one training forward + backward in {mode}, read from the memory reader given (peak minus baseline, plus the "
    "weights)": "以 {mode} 做一次训练的前向 + 反向,由给定的显存读取器读出(峰值减去基线,再加上权重)",
    "shapes measured with a real forward pass on the CPU (the network does not run on the meta device)":
        "形状由 CPU 上一次真实的前向传播测得(这个网络不能在 meta 设备上运行)",
    "no VRAM proxy: the network does not carry Generic_UNet's plan attributes":
        "没有显存代理量:这个网络没有 Generic_UNet 的 plans 属性",
}


def _in_language(sentence: str) -> str:
    """One of describe_network's sentences in the reader's language (others are shown as they are)."""
    for mode in ("fp16 autocast", "fp32"):
        for en, zh in _SENTENCES_ZH.items():
            if en.format(mode=mode) == sentence:
                return tr(sentence, zh.format(mode=mode))
    return sentence


_GROUPS = {"encoder": "编码器", "bottleneck": "瓶颈", "decoder": "解码器", "deep-supervision head": "深度监督输出头",
           "other": "其他"}


def group_label(group: str) -> str:
    """A stage group as the reader's language names it (the group keys stay English: code reads them)."""
    return tr(group, _GROUPS.get(group, group))


def stage_label(s: StageSummary) -> str:
    """A stage's name in the reader's language (``encoder level 2`` / ``编码器第 2 层``)."""
    if s.level is None or s.group not in _GROUPS or s.group == "other":
        return s.name
    zh = {"encoder": f"编码器第 {s.level} 层", "bottleneck": f"瓶颈(第 {s.level} 层)",
          "decoder": f"解码器第 {s.level} 层",
          "deep-supervision head": f"输出 {s.ds_index} 的输出头(第 {s.level} 层)"}[s.group]
    return tr(s.name, zh)


def _head_weight(s: StageSummary) -> str:
    return tr(f"output {s.ds_index}, loss weight {_fmt_w(s.ds_weight)}",
              f"输出 {s.ds_index},损失权重 {_fmt_w(s.ds_weight)}")


def _params(n: int) -> str:
    return tr(f"{n:,} params", f"{n:,} 个参数")


def layer_text(description: str) -> str:
    """A layer's description (``Conv3d 3x3x3 stride 2x2x2 -> ...``): module names stay, words are translated."""
    return tr(description, description.replace(" (upsampling, no bias)", " (上采样,无 bias)")
              .replace(", no bias", ",无 bias").replace(" stride ", " 步长 "))


def _xs(v: Sequence[int] | int) -> str:
    return "x".join(str(int(i)) for i in (v if isinstance(v, (tuple, list)) else [v]))


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _describe_module(module: nn.Module) -> tuple[str, int | None, int | None]:
    """Short text for a conv unit / conv / transposed conv, with in/out channels."""
    conv = getattr(module, "conv", None)
    if isinstance(conv, nn.modules.conv._ConvNd):
        norm = getattr(module, "instnorm", None)
        nonlin = getattr(module, "lrelu", None)
        text = f"{type(conv).__name__} {_xs(conv.kernel_size)} stride {_xs(conv.stride)}"
        if norm is not None:
            text += f" -> {type(norm).__name__}"
        if nonlin is not None:
            text += f" -> {type(nonlin).__name__}"
        return text, conv.in_channels, conv.out_channels
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        return (f"{type(module).__name__} {_xs(module.kernel_size)} stride {_xs(module.stride)} (upsampling, "
                f"no bias)", module.in_channels, module.out_channels)
    if isinstance(module, nn.modules.conv._ConvNd):
        bias = "" if module.bias is not None else ", no bias"
        return f"{type(module).__name__} {_xs(module.kernel_size)}{bias}", module.in_channels, module.out_channels
    return type(module).__name__, None, None


def _units(module: nn.Module, prefix: str) -> list[tuple[str, nn.Module]]:
    """The conv units inside a stage (modules with a ``conv`` attribute), or the module itself."""
    found = [(f"{prefix}.{n}" if n else prefix, m) for n, m in module.named_modules()
             if isinstance(getattr(m, "conv", None), nn.modules.conv._ConvNd)]
    return found or [(prefix, module)]


def _is_unet(network: nn.Module) -> bool:
    return all(isinstance(getattr(network, a, None), nn.ModuleList)
               for a in ("conv_blocks_context", "conv_blocks_localization", "tu", "seg_outputs"))


class MemoryReader(Protocol):
    """What :func:`measure_training_memory` reads: CUDA's allocator counters (or a stand-in, in tests)."""

    def synchronize(self) -> None: ...
    def reset_peak(self) -> None: ...
    def allocated(self) -> int: ...
    def peak(self) -> int: ...


class CudaMemory:
    """:class:`MemoryReader` of one CUDA device (``torch.cuda.memory_allocated`` and friends)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def synchronize(self) -> None:
        torch.cuda.synchronize(self.device)

    def reset_peak(self) -> None:
        torch.cuda.reset_peak_memory_stats(self.device)

    def allocated(self) -> int:
        return int(torch.cuda.memory_allocated(self.device))

    def peak(self) -> int:
        return int(torch.cuda.max_memory_allocated(self.device))


def measure_training_memory(network: nn.Module, input_size: Sequence[int], *, fp16: bool,
                            memory: MemoryReader | None = None) -> int:
    """Bytes one training step of ``network`` needs at ``input_size``: weights + what forward + backward add.

    Measured as v1 trains: train mode, and under fp16 autocast when ``fp16`` (v1's default; fp32 roughly doubles
    the activations). What was already allocated before the step (the caller's tensors, a previous batch, the
    weights themselves) is the *baseline* and is subtracted; the weights are then added back, so the figure is
    "weights + activations + gradients + workspaces", without optimizer state. The network is left as it was:
    its ``.grad`` tensors are put back (the step runs with them set aside, so that the gradients' own memory is
    counted) and its train/eval mode is restored.

    Args:
        memory: where the counters come from; default :class:`CudaMemory` of the network's device.
    """
    params = list(network.parameters())
    device = params[0].device if params else torch.device("cpu")
    memory = memory if memory is not None else CudaMemory(device)
    saved_grads = [p.grad for p in params]
    was_training = network.training
    weight_bytes = sum(p.numel() * p.element_size() for p in params)
    try:
        for p in params:
            p.grad = None
        network.train()
        x = torch.randn(tuple(int(v) for v in input_size), device=device)
        memory.synchronize()
        baseline = memory.allocated()
        memory.reset_peak()
        with torch.autocast(device.type, dtype=torch.float16, enabled=bool(fp16)):
            out = network(x)
            outs = list(out) if isinstance(out, (tuple, list)) else [out]
            loss = sum(o.float().sum() for o in outs)
        loss.backward()
        memory.synchronize()
        peak = memory.peak()
        del out, outs, loss, x
    finally:
        for p, g in zip(params, saved_grads):
            p.grad = g
        network.train(was_training)
    return int(max(0, peak - baseline) + weight_bytes)


@mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer.plot_network_architecture")
def describe_network(network: nn.Module, input_size: Sequence[int], ds_weights: Sequence[float] | None = None,
                     *, fp16: bool | None = None, memory: MemoryReader | None = None) -> ArchitectureSummary:
    """Describe ``network`` stage by stage for an input of ``input_size = (b, c, *patch_size)``.

    v1 draws the network with the optional ``hiddenlayer`` package (or prints the module tree into the
    training log); this summary instead shows what a learner needs to connect the plans to the network:
    the resolution and channels at each U-Net level, where the parameters are, which outputs deep
    supervision uses and with which weight, and how memory compares with the planner's proxy.

    Args:
        network: a :class:`~nnunet_explorer.training.generic_unet.Generic_UNet` (or any network with v1's
            ``conv_blocks_context`` / ``conv_blocks_localization`` / ``tu`` / ``seg_outputs``; other networks
            are summarised by their top-level children).
        input_size: ``(batch_size, num_input_channels, *patch_size)`` — use the plans' patch and batch size.
        ds_weights: deep-supervision loss weights, highest resolution first (e.g. ``ds_loss_weights(pools)``).
        fp16: whether training runs in fp16 (mixed precision), so the memory is measured under fp16 autocast;
            default: True, v1's default (``nnUNet_train`` without ``--fp32``).
        memory: a :class:`MemoryReader` to measure with (default: CUDA's counters when the network is on a GPU;
            on the CPU nothing is measured unless one is given).

    Returns:
        An :class:`ArchitectureSummary`. The network itself is not changed (gradients and train/eval mode are
        restored after the measurement).
    """
    input_size = tuple(int(v) for v in input_size)
    device = next(network.parameters()).device
    shapes: dict[str, tuple[int, ...]] = {}
    activation_bytes = [0]
    notes: list[str] = []

    def make_hook(name: str, leaf: bool):
        def hook(module: nn.Module, inputs: tuple, output: object) -> None:
            if isinstance(output, torch.Tensor):
                shapes.setdefault(name, tuple(output.shape))
                if leaf:
                    same = any(isinstance(i, torch.Tensor) and i is output for i in inputs)
                    if not same and not getattr(module, "inplace", False):  # in-place ops add no new storage
                        activation_bytes[0] += output.numel() * output.element_size()
        return hook

    def cat_hook(module: nn.Module, inputs: tuple) -> None:
        # the concatenation (upsampled + skip) is a new tensor outside any module: count it at the decoder input
        if inputs and isinstance(inputs[0], torch.Tensor):
            activation_bytes[0] += inputs[0].numel() * inputs[0].element_size()

    measured: int | None = None
    fp16 = True if fp16 is None else bool(fp16)
    if device.type == "cuda" or memory is not None:
        measured = measure_training_memory(network, input_size, fp16=fp16, memory=memory)
    if device.type == "cuda":
        runner, x = network, torch.randn(input_size, device=device)
        source = (f"one training forward + backward at this batch size in {'fp16 autocast' if fp16 else 'fp32'}: "
                  "CUDA's peak allocation minus the memory already in use, plus the weights (weights, "
                  "activations, gradients and workspaces; no optimizer state)")
    else:
        try:
            runner = copy.deepcopy(network).to("meta")
            x = torch.empty(input_size, device="meta")
        except Exception:  # noqa: BLE001 - a custom module may not support meta tensors; run it for real
            runner, x = network, torch.randn(input_size)
            notes.append("shapes measured with a real forward pass on the CPU (the network does not run on the "
                         "meta device)")
        source = ("estimate from forward hooks: bytes of all intermediate feature maps of one forward pass "
                  "(what autograd keeps for backward), plus the input, in float32 (v1's fp16 autocast on a GPU "
                  "stores most of them in float16, 2 bytes instead of 4); excludes weights, gradients, optimizer "
                  "state and workspaces")

    handles = []
    is_unet = _is_unet(runner)
    for name, module in runner.named_modules():
        if name:
            handles.append(module.register_forward_hook(make_hook(name, len(list(module.children())) == 0)))
    if is_unet:
        for block in runner.conv_blocks_localization:
            handles.append(block.register_forward_pre_hook(cat_hook))
    try:
        # the shapes: one forward without gradients (eval/train mode does not change them)
        with torch.no_grad():
            out = runner(x)
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        if measured is None:
            measured = activation_bytes[0] + int(np.prod(input_size)) * 4
        elif device.type != "cuda":
            source = (f"one training forward + backward in {'fp16 autocast' if fp16 else 'fp32'}, read from the "
                      "memory reader given (peak minus baseline, plus the weights)")
    finally:
        for h in handles:
            h.remove()

    output_shapes = tuple(tuple(o.shape) for o in outs)
    stages = _unet_stages(network, shapes, ds_weights) if is_unet else _generic_stages(network, shapes)
    total = _count(network)
    trainable = sum(p.numel() for p in network.parameters() if p.requires_grad)
    proxy, reference = _vram_proxy(network, input_size[2:])
    if proxy is None:
        notes.append("no VRAM proxy: the network does not carry Generic_UNet's plan attributes")
    return ArchitectureSummary(input_size=input_size, stages=tuple(stages), total_params=total,
                               trainable_params=trainable, output_shapes=output_shapes, vram_proxy=proxy,
                               vram_reference=reference, memory_bytes=measured, memory_source=source,
                               notes=tuple(notes))


def _layers(modules: Sequence[tuple[str, nn.Module]], shapes: dict[str, tuple[int, ...]]
            ) -> tuple[LayerSummary, ...]:
    out = []
    for prefix, module in modules:
        for name, unit in _units(module, prefix):
            text, cin, cout = _describe_module(unit)
            out.append(LayerSummary(name, text, cin, cout, shapes.get(name), _count(unit)))
    return tuple(out)


def _unet_stages(network: nn.Module, shapes: dict[str, tuple[int, ...]], ds_weights: Sequence[float] | None
                 ) -> list[StageSummary]:
    context = network.conv_blocks_context
    num_pool = len(context) - 1
    stages = []
    for d in range(num_pool):
        name = f"conv_blocks_context.{d}"
        stages.append(StageSummary("encoder", f"encoder level {d}", (name,), d, shapes.get(name),
                                   _count(context[d]), _layers([(name, context[d])], shapes)))
    name = f"conv_blocks_context.{num_pool}"
    stages.append(StageSummary("bottleneck", f"bottleneck (level {num_pool})", (name,), num_pool,
                               shapes.get(name), _count(context[num_pool]),
                               _layers([(name, context[num_pool])], shapes)))
    for u in range(len(network.tu)):
        level = num_pool - 1 - u
        tu_name, loc_name = f"tu.{u}", f"conv_blocks_localization.{u}"
        mods = [(tu_name, network.tu[u]), (loc_name, network.conv_blocks_localization[u])]
        stages.append(StageSummary("decoder", f"decoder level {level}", (tu_name, loc_name), level,
                                   shapes.get(loc_name), sum(_count(m) for _, m in mods), _layers(mods, shapes)))
    n_heads = len(network.seg_outputs)
    for ds_index in range(n_heads):  # listed like the outputs: highest resolution first
        u = n_heads - 1 - ds_index  # seg_outputs[-1] is the full-resolution head = output 0
        name = f"seg_outputs.{u}"
        weight = float(ds_weights[ds_index]) if ds_weights is not None and ds_index < len(ds_weights) else None
        stages.append(StageSummary("deep-supervision head", f"output {ds_index} head (level {ds_index})",
                                   (name,), ds_index, shapes.get(name), _count(network.seg_outputs[u]),
                                   _layers([(name, network.seg_outputs[u])], shapes), ds_index, weight))
    return stages


def _generic_stages(network: nn.Module, shapes: dict[str, tuple[int, ...]]) -> list[StageSummary]:
    return [StageSummary("other", name, (name,), None, shapes.get(name), _count(child),
                         _layers([(name, child)], shapes)) for name, child in network.named_children()]


def _vram_proxy(network: nn.Module, patch_size: Sequence[int]) -> tuple[int | None, float | None]:
    needed = ("pool_op_kernel_sizes", "base_num_features", "max_num_features", "num_classes",
              "num_input_channels")
    if not all(hasattr(network, a) for a in needed):
        return None, None
    pools = network.pool_op_kernel_sizes
    per_axis = [sum(1 for p in pools if p[i] > 1) for i in range(len(patch_size))]
    proxy = compute_approx_vram_consumption(patch_size, per_axis, network.base_num_features,
                                            network.max_num_features, network.num_input_channels,
                                            network.num_classes, pools, deep_supervision=False,
                                            conv_per_stage=getattr(network, "conv_per_stage", 2))
    if len(patch_size) == 3:
        reference = use_this_for_batch_size_computation_3D * network.base_num_features / BASE_NUM_FEATURES_3D
    else:
        reference = use_this_for_batch_size_computation_2D * DEFAULT_BATCH_SIZE_2D / 2
    return proxy, float(reference)
