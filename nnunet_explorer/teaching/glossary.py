"""The glossary: the jargon of nnU-Net v1 and of this explorer, in English and Chinese.

Every entry has a stable anchor (``#gl-ds``) used by the cards' links, by ``docs/glossary.md`` (written by
:func:`glossary_markdown`; ``python -m nnunet_explorer.teaching.glossary > docs/glossary.md``) and by the
glossary appended to ``--report`` pages. Definitions state what v1.7.1 does, with its numbers.
"""
from __future__ import annotations

import html
from dataclasses import dataclass

from .language import get_language, pick


@dataclass(frozen=True)
class Term:
    """One glossary entry: its anchor, the term in both languages and its definition in both languages."""

    key: str
    en: str
    zh: str
    define_en: str
    define_zh: str

    @property
    def anchor(self) -> str:
        return f"gl-{self.key}"

    def label(self, language: str | None = None) -> str:
        return pick({"en": self.en, "zh": self.zh}, language)

    def definition(self, language: str | None = None) -> str:
        return pick({"en": self.define_en, "zh": self.define_zh}, language)


_TERMS = (
    Term("ds", "DS (deep supervision)", "深度监督 (DS, deep supervision)",
         "The U-Net gives a segmentation at every decoder resolution, not only the last; each output gets a loss "
         "against the label map downsampled (nearest neighbour) to its size. V2 weights the losses 1/2**i, "
         "sets the coarsest output's weight to 0 (the forward pass still computes it; its loss is not computed) "
         "and normalises the weights to sum 1.",
         "U-Net 在解码器的每个分辨率上都输出一个分割结果,而不只在最后一层;每个输出都与下采样(最近邻)到同样大小的"
         "标签图计算损失。V2 的权重为 1/2**i,最粗的输出权重置 0(前向传播仍会算出它,但不计算它的损失),"
         "再归一化使权重之和为 1。"),
    Term("moreda", "moreDA", "moreDA(更强的数据增强)",
         "``get_moreDA_augmentation``: the augmentation pipeline nnUNetTrainerV2 uses (rotation, scaling, elastic "
         "off, Gaussian noise and blur, brightness, contrast, simulated low resolution, gamma, mirroring, then the "
         "deep-supervision targets). It replaced the original nnUNetTrainer's default augmentation.",
         "``get_moreDA_augmentation``:nnUNetTrainerV2 使用的数据增强流程(旋转、缩放、不做弹性形变、高斯噪声与模糊、"
         "亮度、对比度、模拟低分辨率、gamma、镜像,最后生成深度监督的目标)。它取代了原始 nnUNetTrainer 的默认增强。"),
    Term("mro", "MRO (method resolution order)", "方法解析顺序 (MRO)",
         "The order in which Python looks up a method through a class and its bases, e.g. nnUNetTrainerV2 → "
         "nnUNetTrainer → NetworkTrainer: the first class in that order that defines it wins. Attributes set in "
         "``__init__`` go the other way: each ``__init__`` calls ``super().__init__()`` first, so NetworkTrainer's "
         "assignments run first and nnUNetTrainerV2's last, and the most derived class's value stays (V2's "
         "``initial_lr`` 1e-2 over nnUNetTrainer's 3e-4).",
         "Python 在类及其父类中查找方法的顺序,例如 nnUNetTrainerV2 → nnUNetTrainer → NetworkTrainer:按这个顺序第一个"
         "定义了它的类胜出。在 ``__init__`` 中设置的属性则相反:每个 ``__init__`` 先调用 ``super().__init__()``,所以 "
         "NetworkTrainer 的赋值最先执行,nnUNetTrainerV2 的最后执行,留下的是最下层子类的值(V2 的 ``initial_lr`` "
         "1e-2 覆盖 nnUNetTrainer 的 3e-4)。"),
    Term("pseudo-dice", "pseudo Dice (online evaluation)", "伪 Dice(在线评估)",
         "The foreground Dice v1 prints after every epoch: true/false positives and false negatives summed over "
         "the 50 validation batches of patches (``num_val_batches_per_epoch``), then one global Dice per class. "
         "Patches oversample foreground and there is no sliding window, so it is only an estimate of the real "
         "validation Dice.",
         "v1 每个 epoch 结束时打印的前景 Dice:在 50 个验证 batch(``num_val_batches_per_epoch``)的 patch 上累加 TP、FP、FN,再为每个类别算一个全局 "
         "Dice。patch 对前景有过采样,也没有滑动窗口,所以它只是真实验证 Dice 的估计。"),
    Term("sample-dice", "sample Dice vs batch Dice", "样本 Dice 与批 Dice",
         "Sample Dice computes a soft Dice per sample and class and averages them; batch Dice pools the voxels of "
         "all samples of the batch into one Dice per class. v1 uses batch Dice for 2d, and for 3d_fullres and "
         "3d_cascade_fullres when the plans have two stages; sample Dice for 3d_lowres and a one-stage "
         "3d_fullres (``batch_dice`` in ``get_default_configuration``).",
         "样本 Dice(sample Dice)对每个样本、每个类别分别计算 soft Dice 再求平均;批 Dice(batch Dice)把整个 batch "
         "的体素合在一起,每个类别只算一个 Dice。v1 对 2d,以及两阶段 plans 的 3d_fullres 和 "
         "3d_cascade_fullres 用批 Dice;对 3d_lowres 和单阶段的 3d_fullres 用样本 Dice(见 "
         "``get_default_configuration`` 中的 ``batch_dice``)。"),
    Term("dummy-2d", "dummy 2D augmentation", "伪 2D 数据增强 (dummy 2D)",
         "For strongly anisotropic 3D data (largest patch edge / first edge > 3, ``do_dummy_2D_data_aug``) the "
         "spatial transform runs in 2D: the slices are folded into channels, so one in-plane rotation and scaling "
         "acts on every slice of the patch alike (the intensity transforms stay 3D), because rotating across "
         "thick slices would interpolate between far-apart voxels.",
         "对于强各向异性的 3D 数据(patch 最长边 / 第一条边 > 3,即 ``do_dummy_2D_data_aug``),空间变换在 2D 中进行:"
         "各层被折叠进通道,所以同一个平面内的旋转和缩放作用于 patch 的每一层(强度变换仍是 3D 的),因为跨越很厚的层去旋转会在相距很远的体素之间插值。"),
    Term("vram-proxy", "VRAM proxy", "显存代理量 (VRAM proxy)",
         "``Generic_UNet.compute_approx_vram_consumption``: a count of the feature-map voxels the network stores "
         "for a patch, used by the planner as a stand-in for GPU memory. The patch is shrunk until the count is "
         "below a fixed reference (``520,000,000 * 32 / 30`` in 3D).",
         "``Generic_UNet.compute_approx_vram_consumption``:网络对一个 patch 需要保存的特征图体素数,规划器用它代替 "
         "GPU 显存。patch 会一直缩小,直到这个数低于固定的参考值(3D 为 ``520,000,000 * 32 / 30``)。"),
    Term("patch", "patch", "patch(图像块)",
         "The crop of a case the network trains on (e.g. 96×160×160 voxels as v1 1.7.1 plans KiTS19; the blog's plans use 80×160×160). Planned as large as the "
         "VRAM proxy allows; the loader first cuts a larger ``basic_generator_patch_size`` so rotation and "
         "scaling mostly stay inside loaded data (a margin sized with scale 0.85; V2's zoom-out up to 1.4 can "
         "still reach the padding).",
         "网络训练时使用的病例裁剪块(例如 v1 1.7.1 为 KiTS19 规划出 96×160×160 体素;原博客的 plans 用的是 80×160×160)。规划时在显存代理量允许的范围内尽量大;"
         "数据加载器先切出更大的 ``basic_generator_patch_size``,使旋转和缩放大多仍落在加载的数据之内(余量按缩放 0.85 "
         "计算;V2 最大 1.4 的缩小仍可能取到填充)。"),
    Term("stage", "stage", "阶段 (stage)",
         "One entry of ``plans['plans_per_stage']``: a resolution with its own patch, batch and topology. Plans "
         "have one stage, or two when the data is large (stage 0 = 3d_lowres, stage 1 = full resolution).",
         "``plans['plans_per_stage']`` 中的一项:一个分辨率及其 patch、batch 和网络拓扑。plans 通常只有一个 "
         "stage,数据很大时有两个(stage 0 = 3d_lowres,stage 1 = 全分辨率)。"),
    Term("fold", "fold", "折 (fold)",
         "One of the 5 cross-validation splits (``KFold(5, shuffle=True, random_state=12345)`` over the sorted "
         "case names, saved in ``splits_final.pkl``). Fold 'all' trains and validates on every case; a fold "
         "beyond the splits in the file draws a random 80:20 split seeded with 12345 + fold.",
         "5 折交叉验证中的一折(对排序后的病例名做 ``KFold(5, shuffle=True, random_state=12345)``,保存在 "
         "``splits_final.pkl``)。fold 'all' 用全部病例训练并验证;超出文件中折数的 fold 会用种子 12345 + fold "
         "随机划分 80:20。"),
    Term("plans", "plans", "plans(实验计划)",
         "The pickle the planner writes (``nnUNetPlansv2.1_plans_3D.pkl``): spacing, normalisation, and per stage "
         "the patch size, batch size, pooling and convolution kernels. Training loads it in ``load_plans_file`` and "
         "reads its values in ``process_plans``.",
         "规划器写出的 pickle 文件(``nnUNetPlansv2.1_plans_3D.pkl``):spacing、归一化方式,以及每个 stage 的 "
         "patch 大小、batch 大小、池化与卷积核。训练时由 ``load_plans_file`` 读入、``process_plans`` 解析。"),
    Term("data-identifier", "data_identifier", "data_identifier(数据标识)",
         "The name of the preprocessed data in the plans (``nnUNetData_plans_v2.1``); the cases of stage k are in "
         "``<data_identifier>_stage<k>``.",
         "plans 中预处理数据的名称(``nnUNetData_plans_v2.1``);stage k 的病例位于 ``<data_identifier>_stage<k>``。"),
    Term("oversampling", "oversampling (foreground)", "前景过采样 (oversampling)",
         "``oversample_foreground_percent = 0.33``: the last ``batch_size - round(batch_size * (1 - 0.33))`` samples "
         "of each batch are centred on a random voxel of a random foreground class present in the case — 1 of 2 at "
         "batch 2, 1 of 3 at batch 3, 2 of 5 at batch 5.",
         "``oversample_foreground_percent = 0.33``:每个 batch 中最后 ``batch_size - round(batch_size * (1 - 0.33))`` 个"
         "样本以病例中某个随机前景类别的随机体素为中心——batch 为 2 时是 2 个中的 1 个,batch 为 3 时是 3 个中的 1 个,"
         "batch 为 5 时是 5 个中的 2 个。"),
    Term("poly-lr", "poly LR", "poly 学习率",
         "``lr = initial_lr * (1 - epoch / max_num_epochs) ** 0.9``, set by hand in ``maybe_update_lr`` (V2 has no "
         "scheduler object): once by ``run_training`` before the first epoch, then at the end of every epoch (in "
         "``on_epoch_end``) for the next one: 0.01 at epoch 0, about 2e-5 at epoch 999.",
         "``lr = initial_lr * (1 - epoch / max_num_epochs) ** 0.9``,由 ``maybe_update_lr`` 手动设置(V2 没有调度器"
         "对象):``run_training`` 在第一个 epoch 之前设置一次,之后在每个 epoch 结束时(在 ``on_epoch_end`` 中)为下一个 "
         "epoch 设置:epoch 0 为 0.01,epoch 999 约为 2e-5。"),
    Term("online-evaluation", "online evaluation", "在线评估 (online evaluation)",
         "The per-epoch estimate of validation quality from validation batches (see pseudo Dice); its moving "
         "average (alpha 0.9) decides when ``model_best.model`` is written.",
         "每个 epoch 用验证 batch 估计的验证质量(见伪 Dice);其滑动平均(alpha 0.9)决定何时写出 "
         "``model_best.model``。"),
    Term("tta", "TTA (test-time augmentation, mirroring)", "测试时增强 (TTA,镜像)",
         "At validation and prediction v1 also predicts the mirrored patch along each allowed axis (8 "
         "combinations in 3D, 4 in 2D), mirrors the softmax back and averages.",
         "验证和预测时,v1 还会沿每个允许的轴对 patch 做镜像后预测(3D 有 8 种组合,2D 有 4 种),把 softmax "
         "镜像回来再求平均。"),
    Term("sliding-window", "sliding window", "滑动窗口",
         "Inference on a whole case with patch-sized windows spaced evenly at most half a patch apart "
         "(``step_size`` 0.5), each weighted by a Gaussian (sigma = patch/8) when there is more than one window, so "
         "window centres count more than borders.",
         "对整个病例推理时,用 patch 大小的窗口均匀滑动,相邻窗口最多相隔半个 patch(``step_size`` 0.5);窗口多于一个时,"
         "每个窗口用高斯权重(sigma = patch/8),使窗口中心比边缘更重要。"),
    Term("postprocessing", "postprocessing", "后处理 (postprocessing)",
         "After validation v1 tries keeping only the largest connected component: all foreground together first, "
         "kept if it raises some class's validation Dice and lowers none; then per class, kept where it raises "
         "that class's Dice; each fold's ``validate`` writes its ``postprocessing.json`` in the fold folder. "
         "``nnUNet_predict`` applies only the model folder's ``postprocessing.json``, which "
         "``nnUNet_determine_postprocessing`` (or ``nnUNet_find_best_configuration``) writes from all folds' "
         "validation; without it, prediction skips postprocessing with a warning.",
         "验证之后,v1 尝试只保留最大连通域:先把所有前景作为一体,只有在某个类别的验证 Dice 提高且没有类别变差时才采用;"
         "再逐个类别,在该类别的 Dice 提高时采用;"
         "每一折的 ``validate`` 把结果写入该折文件夹中的 ``postprocessing.json``。``nnUNet_predict`` 只应用模型文件夹中的 "
         "``postprocessing.json``,它由 ``nnUNet_determine_postprocessing``(或 ``nnUNet_find_best_configuration``)"
         "根据所有折的验证结果写出;没有它时,预测会给出警告并跳过后处理。"),
    Term("cascade", "cascade", "级联 (cascade)",
         "For large images: 3d_lowres is trained on stage 0, its predictions are upsampled and given to "
         "3d_cascade_fullres as extra one-hot input channels.",
         "用于很大的图像:先在 stage 0 上训练 3d_lowres,再把它的预测上采样,以 one-hot 额外输入通道的形式交给 "
         "3d_cascade_fullres。"),
    Term("epoch", "epoch", "epoch(轮)",
         "In nnU-Net an epoch is a fixed number of iterations, not a pass over the data: 250 training batches "
         "(``num_batches_per_epoch``) and 50 validation batches; V2 trains 1000 of them.",
         "在 nnU-Net 中,一个 epoch 是固定次数的迭代,而不是遍历一遍数据:250 个训练 batch"
         "(``num_batches_per_epoch``)和 50 个验证 batch;V2 训练 1000 个 epoch。"),
    Term("instance-norm", "instance normalisation", "实例归一化 (instance norm)",
         "Normalises every feature map of every sample with its own mean and variance (no batch statistics); "
         "V2 uses ``InstanceNorm3d(eps=1e-5, affine=True)`` (``InstanceNorm2d`` for 2d).",
         "对每个样本的每个特征图用它自己的均值和方差做归一化(不用 batch 统计量);V2 使用 "
         "``InstanceNorm3d(eps=1e-5, affine=True)``(2d 时为 ``InstanceNorm2d``)。"),
    Term("grad-clip", "gradient clipping", "梯度裁剪",
         "``torch.nn.utils.clip_grad_norm_(parameters, 12)`` in V2's ``run_iteration``: when the norm of all "
         "gradients together exceeds 12 they are scaled down to norm 12.",
         "V2 的 ``run_iteration`` 中的 ``torch.nn.utils.clip_grad_norm_(parameters, 12)``:当所有梯度合起来的范数"
         "超过 12 时,把它们缩放到范数 12。"),
    Term("mixed-precision", "mixed precision (fp16, AMP)", "混合精度 (mixed precision, fp16)",
         "Training with ``autocast``: convolutions and matrix products run in float16 (half the memory, GPU tensor "
         "cores) while the weights, the optimizer and precision-sensitive operations stay in float32. "
         "``nnUNet_train``'s default (``--fp32`` turns it off); it needs CUDA: on a CPU v1's ``autocast()`` and "
         "``GradScaler()`` switch themselves off and it trains in float32. Goes with loss scaling.",
         "用 ``autocast`` 训练:卷积和矩阵乘法用 float16 计算(显存减半,能用 GPU 的 tensor core),而权重、优化器和"
         "对精度敏感的运算仍用 float32。这是 ``nnUNet_train`` 的默认设置(``--fp32`` 可关闭);它需要 CUDA:在 CPU "
         "上 v1 的 ``autocast()`` 和 ``GradScaler()`` 会自行关闭,改用 float32 训练。与损失缩放配合使用。"),
    Term("loss-scaling", "loss scaling (GradScaler)", "损失缩放 (loss scaling, GradScaler)",
         "float16's smallest normal number is 6.1e-5 (2**-14); below it numbers lose significant bits, and below "
         "3e-8 (half its smallest subnormal, 2**-24) they round to 0: too coarse for many gradients. "
         "``GradScaler`` multiplies the loss by a scale S (2**16 at first), so every gradient is S times larger in the backward pass; ``unscale_`` divides by S before clipping and the step; a step "
         "whose gradients hold inf or nan is skipped and S halves; after 2000 clean steps S doubles.",
         "float16 的最小正规数是 6.1e-5(2**-14);比它小的数会丢失有效位,小于 3e-8(最小次正规数 2**-24 的一半)"
         "的数会被舍入为 0:这对很多梯度来说太粗了。"
         "``GradScaler`` 把损失乘以缩放因子 S(初始为 2**16),于是反向传播中每个梯度都放大 S 倍;``unscale_`` 在"
         "梯度裁剪和优化器更新之前再除以 S;梯度中有 inf 或 nan 的那一步会被跳过,并把 S 减半;连续 2000 步无溢出"
         "后 S 翻倍。"),
    Term("checkpoint", "checkpoint (model_latest, model_best, model_final_checkpoint)",
         "检查点 (model_latest, model_best, model_final_checkpoint)",
         "``model_latest.model`` every 50 epochs (``save_every``), ``model_best.model`` when the moving average of "
         "the pseudo Dice improves, ``model_final_checkpoint.model`` at the end; validation and prediction use "
         "the final one by default.",
         "每 50 个 epoch(``save_every``)写 ``model_latest.model``,伪 Dice 的滑动平均提高时写 "
         "``model_best.model``,训练结束写 ``model_final_checkpoint.model``;验证和预测默认使用这个最终检查点。"),
)

TERMS: dict[str, Term] = {t.key: t for t in _TERMS}


def term(key: str) -> Term:
    try:
        return TERMS[key]
    except KeyError:
        raise KeyError(f"no glossary term {key!r}; terms: {', '.join(TERMS)}") from None


def glossary_markdown() -> str:
    """``docs/glossary.md``: one table row per term, each with its anchor, English and Chinese."""
    lines = ["# Glossary / 术语表", "",
             "nnU-Net v1 (1.7.1) and nnunet-explorer terms, in English and Chinese. The cards link here by anchor.",
             "Generated by `python -m nnunet_explorer.teaching.glossary > docs/glossary.md`; do not edit by hand.",
             "", "| term | 术语 | definition | 定义 |", "|---|---|---|---|"]
    for t in _TERMS:
        cells = [f"<a id=\"{t.anchor}\"></a>**{t.en}**", t.label("zh"), t.define_en, t.definition("zh")]
        lines.append("| " + " | ".join(c.replace("|", "\\|").replace("``", "`") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def glossary_html(language: str | None = None) -> str:
    """The glossary as an HTML section with the same anchors (appended to report pages)."""
    from ..explore.notes import inline_html

    lang = language or get_language()
    heading = "术语表 (glossary)" if lang == "zh" else "Glossary"
    rows = "".join(f"<tr id=\"{t.anchor}\"><td><b>{html.escape(t.label(lang))}</b></td>"
                   f"<td>{inline_html(t.definition(lang))}</td></tr>" for t in _TERMS)
    return f"<section class=\"glossary\"><h2>{heading}</h2><table class=\"nnx-glossary\">{rows}</table></section>"


__all__ = ["TERMS", "Term", "glossary_html", "glossary_markdown", "term"]

if __name__ == "__main__":  # pragma: no cover - writes docs/glossary.md
    print(glossary_markdown(), end="")
