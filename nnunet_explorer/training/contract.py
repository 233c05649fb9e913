"""What a network must do to replace nnU-Net v1's ``Generic_UNet`` (``self.network = MyNet(...)``).

Users swap the network by overriding ``initialize_network`` in a trainer subclass. v1 checks one thing: at the
end of ``initialize``, V2 asserts that the network is a ``SegmentationNetwork`` (or an ``nn.DataParallel``);
validation and ``nnUNet_predict`` call its ``predict_3D``. The rest of v1 then assumes, without checking, that
the new network behaves like ``Generic_UNet``:

* with ``network.do_ds = True`` (training) it returns a tuple/list of ``len(pool_op_kernel_sizes)`` logit
  tensors, **highest resolution first**, whose spatial shapes equal the deep-supervision targets
  (``ds_scales``), each with ``num_classes`` channels (background included) — ``MultipleOutputLoss2``
  pairs output ``i`` with target ``i`` and silently misbehaves (or crashes deep in the loss) otherwise;
* with ``network.do_ds = False`` (validation, inference) it returns only the full-resolution logits;
* it has ``inference_apply_nonlin`` (softmax over channels), which the sliding-window predictor applies;
* v1's predictor also reads ``conv_op`` and ``num_classes``, and its whole-image path (``use_sliding_window=
  False``, which validation and ``nnUNet_predict`` never take) ``input_shape_must_be_divisible_by``
  (``SegmentationNetwork`` attributes; the sliding window pads only up to the patch size).

:func:`check_network_contract` runs a dummy batch and says precisely what does not fit.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from ..errors import ConfigurationError
from ..language import tr
from ..planning.topology import pad_shape, pooling_product
from ..provenance import mirrors
from .deep_supervision import ds_target_shapes
from .segmentation_network import network_type_problem, segmentation_network_fix


@dataclass(frozen=True)
class ContractReport:
    """Outcome of :func:`check_network_contract`.

    ``errors`` break v1 training or inference; ``warnings`` break only parts (e.g. v1's own predictor) or are
    suspicious. ``ok`` is True when there are no errors.
    """

    errors: tuple[str, ...]
    warnings: tuple[str, ...]
    expected_shapes: tuple[tuple[int, ...], ...]
    output_shapes: tuple[tuple[int, ...], ...]
    output_shape_without_ds: tuple[int, ...] | None
    #: the plans' patch and the product of their poolings when the forward failed on a patch it does not divide:
    #: then the plans, not the network, are what to fix
    undivided_patch: tuple[tuple[int, ...], tuple[int, ...]] | None = None
    #: the plans' patch, the product of their poolings and what v1's planner gives that patch (its pooling, conv
    #: kernels and the patch padded to them; None without the spacing) when the forward failed on a deepest level of
    #: one voxel: the plans are what to fix
    one_voxel_deepest: tuple[tuple[int, ...], tuple[int, ...], tuple[list, list, list[int]] | None] | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def messages(self) -> tuple[str, ...]:
        return self.errors + self.warnings

    def raise_if_failed(self) -> None:
        """Raise :class:`~nnunet_explorer.errors.ConfigurationError` listing every error."""
        if self.errors and self.undivided_patch is not None:
            patch, divisor = self.undivided_patch
            below = tuple(max(d, p - p % d) for p, d in zip(patch, divisor))
            above = tuple(int(v) for v in pad_shape(patch, divisor))  # the planner's own rounding up
            raise ConfigurationError(
                tr("the plans' patch size does not fit the network's pooling:",
                   "plans 的 patch 大小与网络的池化不匹配:") + "\n  - " + "\n  - ".join(self.errors),
                fix=tr(f"give every axis of the plans' patch_size a multiple of {divisor} (the product of "
                       f"pool_op_kernel_sizes per axis), e.g. {below} or {above}, in a copy of the plans saved "
                       "under a new identifier (-p); v1's planner always makes it so",
                       f"让 plans 的 patch_size 每个轴都是 {divisor}(每个轴上 pool_op_kernel_sizes 的乘积)的整数倍,"
                       f"例如 {below} 或 {above};改在 plans 的副本中并以新的标识保存(-p);v1 的规划器总是这样做"))
        if self.errors and self.one_voxel_deepest is not None:
            patch, divisor, planned = self.one_voxel_deepest
            least = tuple(4 * d if d > 1 else p for p, d in zip(patch, divisor))  # an axis never pooled keeps its size
            pools, convs, padded = planned if planned is not None else (None, None, None)
            raise ConfigurationError(
                tr("the plans' patch size is too small for the network's pooling:",
                   "plans 的 patch 大小对网络的池化来说太小了:") + "\n  - " + "\n  - ".join(self.errors),
                fix=tr(f"with these poolings give the plans' patch_size at least {least} (4 voxels on every pooled "
                       "axis at the deepest level, as v1's planner keeps), or give the smaller patch the pooling v1's "
                       "planner derives from it"
                       + (f" (at this spacing: pool_op_kernel_sizes {pools}, conv_kernel_sizes {convs}, and the "
                          f"patch padded to {padded})" if pools is not None else "")
                       + ", in a copy of the plans saved under a new identifier (-p)",
                       f"在这些池化下,让 plans 的 patch_size 至少为 {least}(最深一层每个被池化的轴 4 个体素,与 v1 的"
                       "规划器一致);或者给这个更小的 patch 用 v1 规划器从它推出的池化"
                       + (f"(在这个 spacing 下:pool_op_kernel_sizes {pools},conv_kernel_sizes {convs},patch "
                          f"填充到 {padded})" if pools is not None else "")
                       + ";改在 plans 的副本中并以新的标识保存(-p)"))
        if self.errors:
            fix = segmentation_network_fix()
            raise ConfigurationError(
                tr("the network does not fit nnU-Net v1's network contract:", "网络不符合 nnU-Net v1 的网络约定:")
                + "\n  - " + "\n  - ".join(self.errors),
                fix=tr(f"make the network behave like Generic_UNet: {fix}; with do_ds=True return a tuple of "
                       "len(pool_op_kernel_sizes) logit tensors (b, num_classes, ...) highest resolution first, with "
                       "do_ds=False only the full-resolution logits",
                       f"网络要表现得像 Generic_UNet:{fix};do_ds=True 时返回由 len(pool_op_kernel_sizes) 个 logits "
                       "张量 (b, num_classes, ...) 组成的 tuple,最高分辨率在前;do_ds=False 时只返回全分辨率的 logits"))

    def __repr__(self) -> str:
        state = tr("ok", "通过") if self.ok else tr(f"{len(self.errors)} error(s)", f"{len(self.errors)} 个错误")
        return f"ContractReport({state}, {tr(f'{len(self.warnings)} warning(s)', f'{len(self.warnings)} 个警告')})"

    def _repr_html_(self) -> str:
        import html
        error, warning = tr("<b>error</b>: ", "<b>错误</b>："), tr("warning: ", "警告：")
        items = "".join(f"<li>{error}{html.escape(m)}</li>" for m in self.errors)
        items += "".join(f"<li>{warning}{html.escape(m)}</li>" for m in self.warnings)
        head = tr("network contract: OK", "网络约定:已满足") if self.ok else tr("network contract: NOT met",
                                                                            "网络约定:未满足")
        return f"<div><p><b>{head}</b></p><ul>{items}</ul></div>"


def _shapes(out: object) -> list[tuple[int, ...]] | None:
    if isinstance(out, torch.Tensor):
        return None
    if isinstance(out, (tuple, list)) and all(isinstance(o, torch.Tensor) for o in out):
        return [tuple(o.shape) for o in out]
    return None


@mirrors("nnunet.training.network_training.nnUNetTrainerV2:nnUNetTrainerV2.initialize_network")
def check_network_contract(network: nn.Module, *, patch_size: Sequence[int], batch_size: int,
                           num_input_channels: int, num_classes: int,
                           pool_op_kernel_sizes: Sequence[Sequence[int]], deep_supervision: bool = True,
                           raise_on_error: bool = False, spacing: Sequence[float] | None = None,
                           plans_file: str | None = None) -> ContractReport:
    """Check that a user-provided network can stand in for v1's ``Generic_UNet``.

    Runs a batch ``(batch_size, num_input_channels, *patch_size)`` with ``do_ds`` on and then off. On a CPU
    the forward runs on a shape-only copy of the network (``meta`` device: no compute, no memory), falling
    back to a real random batch if the network cannot run there; on a GPU it runs for real, without
    gradients, and ``do_ds`` and train/eval mode are restored afterwards.

    Args:
        network: the candidate network.
        patch_size: the plans' patch size (spatial).
        batch_size: the plans' batch size (1 is enough for the check).
        num_input_channels: modalities.
        num_classes: output channels including background (``plans['num_classes'] + 1``).
        pool_op_kernel_sizes: the plans' pooling kernels; they fix the number and shapes of the outputs.
        deep_supervision: check the deep-supervision contract (v1's V2 trainers train with it).
        raise_on_error: raise :class:`~nnunet_explorer.errors.ConfigurationError` instead of returning a
            report with errors.
        spacing: the stage's spacing (the plans' ``current_spacing``), so that a patch too small for its pooling
            is told the pooling v1's planner gives it.
        plans_file: the plans' path or name (``trainer.plans_file``): the older 3D planner's
            ``nnUNetPlansfixed_plans_3D.pkl`` and its alternatives pool late
            (:func:`~nnunet_explorer.planning.topology.planner_topology`).

    Returns:
        A :class:`ContractReport`; ``report.ok`` is False when something does not fit, and
        ``report.errors`` says what.
    """
    errors: list[str] = []
    warnings: list[str] = []
    expected = [(batch_size, num_classes, *s) for s in ds_target_shapes(patch_size, pool_op_kernel_sizes)]

    type_problem = network_type_problem(network)
    if type_problem is not None:
        errors.append(type_problem)
    has_do_ds = hasattr(network, "do_ds")
    if not has_do_ds:
        errors.append(tr("the network has no attribute do_ds: v1 sets network.do_ds = True for training and False "
                         "for validation and inference, so it must exist and switch deep supervision",
                         "网络没有 do_ds 属性:v1 在训练时设置 network.do_ds = True,在验证和推理时设为 False,所以它"
                         "必须存在,并且能开关深度监督"))
    try:
        device = next(network.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    shape = (batch_size, num_input_channels, *[int(p) for p in patch_size])

    probe = None
    if device.type == "cpu":
        # shapes are all the contract needs: a shape-only (meta) copy checks a full-size patch in about a second;
        # networks that cannot run on the meta device are checked for real below
        try:
            meta = copy.deepcopy(network).to("meta")
            probe = _probe(meta, torch.empty(shape, device="meta"), has_do_ds, deep_supervision, expected,
                           num_classes)
            if probe.raised:
                probe = None
        except Exception:  # noqa: BLE001 - deepcopy / .to("meta") unsupported by a custom module
            probe = None
    if probe is None:
        old_do_ds, was_training = getattr(network, "do_ds", None), network.training
        try:
            probe = _probe(network, torch.randn(shape, device=device), has_do_ds, deep_supervision, expected,
                           num_classes)
        finally:
            if has_do_ds:
                network.do_ds = old_do_ds
            network.train(was_training)
    errors += probe.errors
    got_ds, got_single = probe.ds_shapes, probe.single_shape

    logits = probe.logits
    if logits is not None and logits.device.type == "meta":
        # a real tensor of the logits' layout, small, to see what inference_apply_nonlin does
        logits = torch.randn((1, num_classes, *[2] * len(patch_size)))
    if logits is not None:
        _check_nonlin(network, logits, errors, warnings)
    elif not callable(getattr(network, "inference_apply_nonlin", None)):
        errors.append(tr("no callable inference_apply_nonlin (v1's predictor applies it to the logits)",
                         "没有可调用的 inference_apply_nonlin(v1 的预测器把它作用在 logits 上)"))

    for attr, why in (("conv_op", tr("v1's SegmentationNetwork.predict_3D (validation, nnUNet_predict) "
                                     "chooses 3D or slice-by-slice 2D prediction from it and checks mirror_axes "
                                     "against it",
                                     "v1 的 SegmentationNetwork.predict_3D(验证和 nnUNet_predict 调用它)据此选择 "
                                     "3D 预测还是逐层 2D 预测,并据此检查 mirror_axes")),
                      ("num_classes", tr("v1's sliding-window predictor allocates its softmax buffer with it",
                                         "v1 的滑动窗口预测器按它分配 softmax 缓冲区")),
                      ("input_shape_must_be_divisible_by",
                       tr("v1's whole-image prediction (no sliding window) pads the input to a multiple of it",
                          "v1 的整图预测(不用滑动窗口)把输入填充到它的整数倍"))):
        if not hasattr(network, attr):
            warnings.append(tr(f"no attribute {attr}: {why} (subclass SegmentationNetwork or set it)",
                               f"没有 {attr} 属性:{why}(派生自 SegmentationNetwork,或自己设置它)"))
    if hasattr(network, "num_classes") and getattr(network, "num_classes") != num_classes:
        errors.append(tr(f"network.num_classes is {network.num_classes}, expected {num_classes} (background "
                         "included)",
                         f"network.num_classes 是 {network.num_classes},应为 {num_classes}(含背景)"))
    divisor = pooling_product(pool_op_kernel_sizes)
    patch = tuple(int(p) for p in patch_size)
    undivided = None
    if any(p % d for p, d in zip(patch, divisor)):
        axes = [i for i, (p, d) in enumerate(zip(patch, divisor)) if p % d]
        text = tr(f"patch_size {patch} is not divisible by the product of the poolings {divisor} (axis "
                  f"{', '.join(map(str, axes))})",
                  f"patch_size {patch} 不能被各池化核的乘积 {divisor} 整除(轴 {', '.join(map(str, axes))})")
        if probe.raised and any("Sizes of tensors must match" in e for e in probe.errors):
            # the forward error comes from the plans (why: pooling_product's docstring)
            undivided = (patch, divisor)
            errors.insert(0, text + tr(": the decoder's upsampled features and the encoder's skip connection then "
                                       "differ in size, which is the forward error below",
                                       ":于是解码器上采样后的特征与编码器的跳跃连接大小不同,这就是下面 forward "
                                       "出错的原因"))
        else:
            warnings.append(text)

    one_voxel = None
    # the deepest level's voxels per axis: ceil(patch / product of the poolings) under strided convolutions (v1's
    # trainers), floor(...) under max pooling (Generic_UNet(convolutional_pooling=False), many networks of one's own)
    deepest = {"strided": [-(-p // d) for p, d in zip(patch, divisor)], "max": [p // d for p, d in zip(patch, divisor)]}
    if probe.raised and any("Expected more than 1 spatial element" in e for e in probe.errors) \
            and any(all(v == 1 for v in level) for level in deepest.values()):
        planned = None
        if spacing is not None:
            from ..planning.topology import planner_topology

            topology = planner_topology(list(spacing)[-len(patch):], patch, plans_file)
            if topology is not None:  # None: the pooling-late rule cannot plan an axis under 4 voxels
                planned = (topology.pool_op_kernel_sizes, topology.conv_kernel_sizes,
                           [int(v) for v in topology.patch_size])
        one_voxel = (patch, divisor, planned)
        errors.insert(0, tr(f"patch_size {patch} leaves one voxel at the network's deepest level (the product of "
                            f"the poolings is {divisor}): instance norm cannot normalise a single voxel, which is the "
                            "forward error below. v1's planner pools an axis only while it has at least 8 voxels, "
                            "so its deepest level keeps at least 4 on every pooled axis: the patch was made smaller "
                            "in the plans without the pooling",
                            f"patch_size {patch} 在网络最深一层只剩一个体素(池化核的乘积是 {divisor}):instance norm "
                            "无法对单个体素做归一化,这就是下面 forward 出错的原因。v1 的规划器只在某个轴至少有 8 个体素时"
                            "才在该轴上池化,所以最深一层每个被池化的轴至少保留 4 个体素:这是在 plans 中把 patch 改小了,"
                            "却没有改池化"))
    report = ContractReport(tuple(errors), tuple(warnings), tuple(expected), tuple(got_ds), got_single, undivided,
                            one_voxel)
    if raise_on_error:
        report.raise_if_failed()
    return report


@dataclass
class _Probe:
    errors: list[str]
    ds_shapes: list[tuple[int, ...]]
    single_shape: tuple[int, ...] | None
    logits: torch.Tensor | None  # full-resolution logits, to try inference_apply_nonlin on
    raised: bool  # the forward raised (on a meta copy this means: retry for real)


def _probe(runner: nn.Module, x: torch.Tensor, has_do_ds: bool, deep_supervision: bool,
           expected: list[tuple[int, ...]], num_classes: int) -> _Probe:
    """Run ``runner`` with do_ds on (if checked) and off; collect what does not fit."""
    result = _Probe([], [], None, None, False)
    errors = result.errors

    def run(do_ds: bool) -> object:
        if has_do_ds:
            runner.do_ds = do_ds
        with torch.no_grad():
            return runner(x)

    if deep_supervision:
        try:
            out = run(True)
        except Exception as exc:  # noqa: BLE001 - report any failure of the user's forward
            errors.append(tr(f"forward with do_ds=True failed on input {tuple(x.shape)}: {type(exc).__name__}: {exc}",
                             f"do_ds=True 时 forward 在输入 {tuple(x.shape)} 上出错:{type(exc).__name__}: {exc}"))
            result.raised, out = True, None
        if out is not None:
            shapes = _shapes(out)
            if shapes is None:
                errors.append(tr(f"with do_ds=True the network returned a {type(out).__name__}, not a tuple/list "
                                 f"of {len(expected)} tensors (one per deep-supervision output)",
                                 f"do_ds=True 时网络返回的是 {type(out).__name__},而不是由 {len(expected)} 个张量"
                                 "组成的 tuple/list(每个深度监督输出一个)"))
            else:
                result.ds_shapes = shapes
                _check_ds_outputs(shapes, expected, num_classes, errors)
                if shapes and shapes[0] == expected[0]:
                    result.logits = out[0]
    try:
        single = run(False)
    except Exception as exc:  # noqa: BLE001
        errors.append(tr(f"forward with do_ds=False failed on input {tuple(x.shape)}: {type(exc).__name__}: {exc}",
                         f"do_ds=False 时 forward 在输入 {tuple(x.shape)} 上出错:{type(exc).__name__}: {exc}"))
        result.raised, single = True, None
    if isinstance(single, torch.Tensor):
        result.single_shape = tuple(single.shape)
        if result.single_shape != expected[0]:
            errors.append(tr(f"with do_ds=False the output has shape {result.single_shape}, expected the "
                             f"full-resolution logits {expected[0]}",
                             f"do_ds=False 时输出的形状是 {result.single_shape},应为全分辨率 logits 的形状 "
                             f"{expected[0]}"))
        else:
            result.logits = single
    elif single is not None:
        shapes, kind = _shapes(single), type(single).__name__
        errors.append(tr(f"with do_ds=False the network still returned a {kind}"
                         f"{'' if shapes is None else f' of {len(shapes)} tensors'}: it must honour do_ds and return "
                         "only the full-resolution logits (v1 validation and inference set do_ds=False)",
                         f"do_ds=False 时网络仍然返回了{'' if shapes is None else f' {len(shapes)} 个张量组成的'} "
                         f"{kind}:它必须遵从 do_ds,只返回全分辨率的 logits(v1 的验证和推理会设置 do_ds=False)"))
    return result


def _check_ds_outputs(shapes: list[tuple[int, ...]], expected: list[tuple[int, ...]], num_classes: int,
                      errors: list[str]) -> None:
    n = len(expected)
    if len(shapes) != n:
        errors.append(tr(f"with do_ds=True the network returned {len(shapes)} outputs, expected "
                         f"len(pool_op_kernel_sizes) = {n} (one per decoder level, highest resolution first): "
                         f"got {shapes}",
                         f"do_ds=True 时网络返回了 {len(shapes)} 个输出,应为 len(pool_op_kernel_sizes) = {n} 个"
                         f"(解码器每层一个,最高分辨率在前):实际为 {shapes}"))
    spatial = [s[2:] for s in shapes]
    exp_spatial = [e[2:] for e in expected]
    if len(shapes) == n and spatial != exp_spatial and spatial[::-1] == exp_spatial:
        errors.append(tr("the deep-supervision outputs are in reverse order (lowest resolution first); v1 pairs "
                         f"output i with target i, highest resolution first: expected {exp_spatial}, got {spatial}",
                         "深度监督的输出顺序反了(最低分辨率在前);v1 把输出 i 与目标 i 配对,最高分辨率在前:"
                         f"应为 {exp_spatial},实际为 {spatial}"))
    else:
        for i, (got, exp) in enumerate(zip(shapes, expected)):
            if len(got) != len(exp):
                errors.append(tr(f"output {i} has {len(got)} dimensions {got}, expected {len(exp)} {exp}",
                                 f"输出 {i} 有 {len(got)} 个维度 {got},应为 {len(exp)} 个 {exp}"))
                continue
            if got[0] != exp[0]:
                errors.append(tr(f"output {i} has batch size {got[0]}, expected {exp[0]}",
                                 f"输出 {i} 的 batch 大小是 {got[0]},应为 {exp[0]}"))
            if got[2:] != exp[2:]:
                errors.append(tr(f"output {i} has spatial shape {got[2:]}, but its deep-supervision target has "
                                 f"{exp[2:]} (patch scaled by ds_scales[{i}])",
                                 f"输出 {i} 的空间形状是 {got[2:]},但它的深度监督目标是 {exp[2:]}"
                                 f"(patch 按 ds_scales[{i}] 缩放)"))
    for i, got in enumerate(shapes):
        if len(got) > 1 and got[1] != num_classes:
            errors.append(tr(f"output {i} has {got[1]} channels, expected num_classes = {num_classes} "
                             "(background included)",
                             f"输出 {i} 有 {got[1]} 个通道,应为 num_classes = {num_classes}(含背景)"))


def _check_nonlin(network: nn.Module, logits: torch.Tensor, errors: list[str], warnings: list[str]) -> None:
    nonlin = getattr(network, "inference_apply_nonlin", None)
    if nonlin is None or not callable(nonlin):
        errors.append(tr("no callable inference_apply_nonlin: v1's predictor applies it to the logits (set it to a "
                         "softmax over dim 1, as nnUNetTrainerV2.initialize_network does)",
                         "没有可调用的 inference_apply_nonlin:v1 的预测器把它作用在 logits 上(像 "
                         "nnUNetTrainerV2.initialize_network 那样,把它设为 dim 1 上的 softmax)"))
        return
    try:
        probs = nonlin(logits)
    except Exception as exc:  # noqa: BLE001
        errors.append(tr(f"inference_apply_nonlin failed: {type(exc).__name__}: {exc}",
                         f"inference_apply_nonlin 出错:{type(exc).__name__}: {exc}"))
        return
    if not isinstance(probs, torch.Tensor) or tuple(probs.shape) != tuple(logits.shape):
        errors.append(tr("inference_apply_nonlin must return a tensor of the logits' shape",
                         "inference_apply_nonlin 必须返回与 logits 形状相同的张量"))
    elif not torch.allclose(probs.float().sum(1), torch.ones_like(probs[:, 0].float()), atol=1e-4):
        warnings.append(tr("inference_apply_nonlin does not give probabilities summing to 1 over channels (v1 uses "
                           "a softmax over dim 1)",
                           "inference_apply_nonlin 给出的概率在通道上之和不为 1(v1 用的是 dim 1 上的 softmax)"))
