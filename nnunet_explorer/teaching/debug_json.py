"""``debug.json`` explained: what v1's ``save_debug_information`` wrote into a fold folder, entry by entry.

v1 (``nnUNetTrainer.save_debug_information``, called first thing in ``nnUNetTrainer.run_training``, after
V2's ``run_training`` has set the first epoch's learning rate) writes every attribute of
the trainer that is not callable, as ``str(value)``, except ``plans``, ``intensity_properties`` and the dataset
dicts. It is the one file that shows the hyperparameters a run really used — after the trainer's ``__init__``, a
subclass, ``initialize`` and the command's flags — so the blog recommends reading it. :func:`debug_json_rows`
explains its main entries in the reader's language; :func:`debug_json_note` says what the file is.
"""
from __future__ import annotations

from typing import Mapping

from ..explore.notes import Note, NoteTable
from .language import get_language, pick

HEADINGS = {
    "file": {"en": "debug.json", "zh": "debug.json"},
    "table": {"en": "debug.json, its main entries", "zh": "debug.json 的主要条目"},
    "entry": {"en": "entry", "zh": "条目"},
    "value": {"en": "value", "zh": "值"},
    "meaning": {"en": "what it is", "zh": "含义"},
}

#: the main entries, in the order a reader of ``run_training`` meets them: {"en": ..., "zh": ...}
ENTRIES: dict[str, dict[str, str]] = {
    "plans_file": {
        "en": "The plans file this run read (``-p`` picks its identifier). v1 also copies it to ``plans.pkl`` in "
              "the folder above the folds; ``nnUNet_predict`` requires that copy (it checks the number of input "
              "channels against it; the network itself is rebuilt from the plans saved in the checkpoint's "
              "``.model.pkl``).",
        "zh": "这次运行读取的 plans 文件(``-p`` 选择它的标识)。v1 还会把它复制为各 fold 上一级目录中的 "
              "``plans.pkl``;``nnUNet_predict`` 要求有这个副本(用它核对输入通道数;网络本身则根据检查点 "
              "``.model.pkl`` 中保存的 plans 重建)。"},
    "fold": {"en": "The cross-validation fold (``nnUNet_train``'s fourth argument).",
             "zh": "交叉验证的折(``nnUNet_train`` 的第四个参数)。"},
    "stage": {"en": "The plans stage this run trains on (chosen by ``get_default_configuration``).",
              "zh": "这次运行训练的 plans stage(由 ``get_default_configuration`` 选定)。"},
    "batch_dice": {"en": "Dice over the whole batch (True) or per sample, then averaged (False).",
                   "zh": "在整个 batch 上算 Dice(True),还是每个样本单独算再平均(False)。"},
    "max_num_epochs": {"en": "Epochs to train: 1000 in nnUNetTrainerV2; a subclass (or the explorer's "
                             "``--max_num_epochs``) changes it.",
                       "zh": "训练的 epoch 数:nnUNetTrainerV2 中为 1000;子类(或 explorer 的 ``--max_num_epochs``)"
                             "可以修改。"},
    "num_batches_per_epoch": {"en": "Training iterations per epoch: 250 in v1, so an epoch is not a pass over the "
                                    "data.",
                              "zh": "每个 epoch 的训练迭代次数:v1 中为 250,所以一个 epoch 并不是把数据过一遍。"},
    "num_val_batches_per_epoch": {"en": "Validation batches per epoch, without backpropagation: 50 in v1; their "
                                        "tp/fp/fn give the log's 'Average global foreground Dice' (the pseudo "
                                        "Dice).",
                                  "zh": "每个 epoch 的验证 batch 数,不做反向传播:v1 中为 50;由它们的 tp/fp/fn 得到日志中的 "
                                        "'Average global foreground Dice'(伪 Dice)。"},
    "batch_size": {"en": "Patches per iteration, read from the plans by ``process_plans``.",
                   "zh": "每次迭代的 patch 数,由 ``process_plans`` 从 plans 中读取。"},
    "patch_size": {"en": "The network's patch (axes coarsest first), from the plans.",
                   "zh": "网络的 patch(轴按最粗的在前),来自 plans。"},
    "basic_generator_patch_size": {"en": "The larger patch the loader cuts first (``setup_DA_params``), so that "
                                         "after rotation and scaling the crop back to ``patch_size`` comes mostly "
                                         "from loaded data (a margin sized with scale 0.85, not a guarantee).",
                                   "zh": "数据加载器先切出的更大 patch(``setup_DA_params``),这样旋转和缩放之后再裁回 "
                                         "``patch_size`` 时,内容主要来自加载的数据(余量按缩放 0.85 计算,不是保证)。"},
    "do_dummy_2D_aug": {"en": "Whether augmentation rotates and scales in 2D slices (the plans' "
                              "``do_dummy_2D_data_aug``).",
                        "zh": "数据增强是否按 2D 切片旋转和缩放(来自 plans 的 ``do_dummy_2D_data_aug``)。"},
    "oversample_foreground_percent": {"en": "0.33: the last samples of every batch (1 of 2, 1 of 3, 2 of 5) are "
                                            "centred on foreground.",
                                      "zh": "0.33:每个 batch 的最后几个样本(2 个中 1 个,3 个中 1 个,5 个中 2 个)以前景"
                                            "为中心。"},
    "initial_lr": {"en": "0.01 in V2: the poly schedule starts here.", "zh": "V2 中为 0.01:poly 学习率从这里开始。"},
    "weight_decay": {"en": "3e-5, given to the optimizer.", "zh": "3e-5,传给优化器。"},
    "optimizer": {"en": "The optimizer's repr: SGD with momentum 0.99 and nesterov. Those two are literals in V2's "
                        "``initialize_optimizer_and_scheduler``, not trainer attributes, so this repr is the only "
                        "place debug.json shows them.",
                  "zh": "优化器的 repr:带 momentum 0.99 和 nesterov 的 SGD。这两个值是 V2 的 "
                        "``initialize_optimizer_and_scheduler`` 中的字面量,不是 trainer 的属性,所以 debug.json 只在"
                        "这个 repr 里显示它们。"},
    "lr_scheduler": {"en": "None: V2 sets the poly learning rate by hand in ``maybe_update_lr``.",
                     "zh": "None:V2 在 ``maybe_update_lr`` 中手动设置 poly 学习率。"},
    "data_aug_params": {"en": "The augmentation settings of ``setup_DA_params`` (rotation ranges in radians, scale "
                              "range, mirror axes, ...).",
                        "zh": "``setup_DA_params`` 的数据增强设置(以弧度计的旋转范围、缩放范围、镜像轴等)。"},
    "ds_loss_weights": {"en": "The deep-supervision loss weights, highest resolution first; the coarsest output "
                              "gets 0.",
                        "zh": "深度监督的损失权重,最高分辨率在前;最粗的输出权重为 0。"},
    "deep_supervision_scales": {"en": "Per network output, its size relative to the full-resolution label map, "
                                      "per axis (1, 0.5, 0.25, ...): the label map is downsampled to it for that "
                                      "output's loss.",
                                "zh": "对每个网络输出,它相对于全分辨率标签图的大小,按轴给出(1、0.5、0.25……):"
                                      "计算该输出的损失时,标签图下采样到这个大小。"},
    "net_num_pool_op_kernel_sizes": {"en": "The network's pooling kernels, from the plans.",
                                     "zh": "网络的池化核,来自 plans。"},
    "net_conv_kernel_sizes": {"en": "The network's convolution kernels per level, from the plans.",
                              "zh": "网络每一层的卷积核,来自 plans。"},
    "num_input_channels": {"en": "Input channels: the plans' ``num_modalities``.",
                           "zh": "输入通道数:plans 中的 ``num_modalities``。"},
    "num_classes": {"en": "Output channels including the background: the plans' ``num_classes`` + 1.",
                    "zh": "包含背景的输出通道数:plans 中的 ``num_classes`` + 1。"},
    "normalization_schemes": {"en": "From the plans; the trainer uses it to preprocess a new case for prediction.",
                              "zh": "来自 plans;trainer 在为预测预处理新病例时使用它。"},
    "use_mask_for_norm": {"en": "From the plans, per channel (see the configuration card).",
                          "zh": "来自 plans,按通道(见 configuration 卡片)。"},
    "fp16": {"en": "Mixed precision requested: True by default, ``--fp32`` turns it off.",
             "zh": "是否请求混合精度:默认为 True,``--fp32`` 关闭它。"},
    "amp_grad_scaler": {"en": "None even with fp16: ``NetworkTrainer.run_training`` creates the GradScaler "
                              "(``_maybe_init_amp``) after debug.json is written, unless a resumed run (``-c``) "
                              "created it while loading the checkpoint.",
                        "zh": "即使 fp16 为 True 也是 None:``NetworkTrainer.run_training`` 在写完 debug.json 之后才创建 "
                              "GradScaler(``_maybe_init_amp``),除非续训(``-c``)在加载检查点时已经创建了它。"},
    "epoch": {"en": "The epoch at which ``run_training`` started: 0, or where a resumed run (``-c``) continues.",
              "zh": "``run_training`` 开始时的 epoch:0,或续训(``-c``)接着训练的那个 epoch。"},
    "all_tr_losses": {"en": "Empty at the start (or the curves a ``-c`` run loaded): debug.json is not rewritten "
                            "during training; the training log and ``progress.png`` are.",
                      "zh": "开始时为空(或 ``-c`` 续训时加载的曲线):训练过程中不会重写 debug.json;会更新的是训练日志"
                            "和 ``progress.png``。"},
    "unpack_data": {"en": "Whether the ``.npz`` cases were unpacked to ``.npy`` before training (False with "
                          "``--use_compressed_data``).",
                    "zh": "训练前是否把 ``.npz`` 病例解压为 ``.npy``(使用 ``--use_compressed_data`` 时为 False)。"},
    "output_folder": {"en": "This fold's folder: checkpoints, training log, ``progress.png``, validation.",
                      "zh": "这个 fold 的文件夹:检查点、训练日志、``progress.png``、验证结果。"},
    "folder_with_preprocessed_data": {"en": "Where the training cases are read: ``<data_identifier>_stage<k>``.",
                                      "zh": "训练病例的读取位置:``<data_identifier>_stage<k>``。"},
}

#: longest value shown in a table cell (optimizer and augmentation reprs are long)
MAX_VALUE_CHARS = 160


def _short(value: str) -> str:
    value = " ".join(str(value).split())
    return value if len(value) <= MAX_VALUE_CHARS else value[:MAX_VALUE_CHARS - 1] + "\u2026"


def debug_json_note(path: str = "", language: str | None = None) -> Note:
    """What ``debug.json`` is and when v1 writes it."""
    lang = language or get_language()
    where = f" (``{path}``)" if path else ""
    text = pick({
        "en": f"v1's ``save_debug_information`` wrote debug.json{where} once, when ``run_training`` started (before "
              "the first epoch; it is not updated afterwards): every trainer attribute that is not callable (so "
              "neither the methods nor the network and the loss), as ``str(value)``, except ``plans``, ``intensity_properties`` and the dataset dicts. It shows the "
              "values this run really used, after ``__init__``, your subclass, ``initialize`` and the command's "
              "flags. Under numpy 2 numbers inside lists and dicts read like ``np.int64(0)``; numpy 1.x wrote ``0``.",
        "zh": f"v1 的 ``save_debug_information`` 在 ``run_training`` 开始时(第一个 epoch 之前)写了一次 debug.json"
              f"{where},之后不再更新:trainer 的每个不可调用的属性(所以既没有方法,也没有网络和损失函数),以 ``str(value)`` 写出,但不包括 ``plans``、"
              "``intensity_properties`` 和数据集字典。它显示的是这次运行真正使用的值,即经过 ``__init__``、你的子类、"
              "``initialize`` 和命令行参数之后的值。在 numpy 2 下,其中列表和字典里的数字显示为 ``np.int64(0)`` 这样的形式;"
              "numpy 1.x 写的是 ``0``。"}, lang)
    return Note("debug-json", pick(HEADINGS["file"], lang), text)


def debug_json_rows(debug: Mapping[str, str], language: str | None = None) -> tuple[tuple[str, str, str], ...]:
    """``(entry, value, what it is)`` for the main entries present in ``debug``, then one row for the rest."""
    lang = language or get_language()
    rows = [(key, _short(debug[key]), pick(text, lang)) for key, text in ENTRIES.items() if key in debug]
    rest = len(debug) - len(rows)
    if rest:
        rows.append((pick({"en": f"(the other {rest})", "zh": f"(其余 {rest} 个)"}, lang), "",
                     pick({"en": "Every other attribute of the trainer; objects such as the loaders and augmenters "
                                 "show only their class and a memory address.",
                           "zh": "trainer 的其他所有属性;数据加载器、增强器这类对象只显示类名和内存地址。"}, lang)))
    return tuple(rows)


def debug_json_table(debug: Mapping[str, str], language: str | None = None) -> NoteTable:
    """:func:`debug_json_rows` as a table for a card's notes."""
    lang = language or get_language()
    columns = tuple(pick(HEADINGS[k], lang) for k in ("entry", "value", "meaning"))
    return NoteTable("debug-json", pick(HEADINGS["table"], lang), columns, debug_json_rows(debug, lang))


__all__ = ["ENTRIES", "debug_json_note", "debug_json_rows", "debug_json_table"]
