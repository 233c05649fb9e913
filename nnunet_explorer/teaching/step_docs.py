"""The walkthrough steps' docstrings in Chinese: each card's lead line and description under ``zh``.

A step's docstring is the explanation its card shows (first line: the lead, next to the step's name; the rest:
the description). :data:`STEP_DOCS_ZH` holds the Chinese text of every walkthrough step, written for the
docstring whose fingerprint (:func:`doc_fingerprint`) it records. When a docstring changes, its translation
no longer matches: the card then shows the English docstring rather than a translation of an older text (a
stale translation would teach what the code no longer does), and ``tests/test_zh_report.py`` names the step
whose translation needs the new text. Code quoted as ````x```` stays exactly as in the docstring.
"""
from __future__ import annotations

import hashlib
import inspect
import re
from dataclasses import dataclass

from .language import zh_typography

_IS_CJK = re.compile("[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
_IS_PUNCT = re.compile("[\u3000-\u303f\uff00-\uffef]")  # full-width punctuation


def doc_fingerprint(doc: str) -> str:
    """A short fingerprint of a docstring's words (whitespace and indentation do not count)."""
    words = " ".join(inspect.cleandoc(doc or "").split())
    return hashlib.sha1(words.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class StepDoc:
    """The Chinese docstring of one step, and the fingerprint of the English docstring it translates."""

    source: str
    zh: str


STEP_DOCS_ZH: dict[str, StepDoc] = {
    "parsed_arguments": StepDoc("91b34fa382b1", """\
``nnUNet_train`` 的参数,与 v1 的 argparse 解析器得到的完全一样。

``network`` 选择配置(2d、3d_lowres、3d_fullres、3d_cascade_fullres),``network_trainer`` 按名字选择 trainer
类,``task`` 是任务名或任务编号,``fold`` 是 0-4(五折交叉验证中的一折)、'all',或更大的整数(从 ``splits_final.pkl`` 中的划分数起,v1 随机划分 80:20)。可选参数中,在训练开始之前决定 trainer 的有:``-p``
(plans 标识)、``--fp32``(默认使用混合精度)、``--use_compressed_data``(直接读取 .npz,不解压为 .npy)、
``--deterministic`` 和 ``--disable_saving``。``-c``(从 ``model_final_checkpoint`` 继续,没有它则用 ``model_latest``,
再没有则用 ``model_best``)和 ``-pretrained_weights`` 在 ``initialize`` 与 ``run_training`` 之间起作用;``-val`` 调用
``initialize(False)``,不训练,而是加载 ``model_final_checkpoint``(``--valbest``:``model_best``);``--find_lr`` 运行
``find_lr()``,取代训练和验证。注意 v1 中反过来的 ``--val_disable_overwrite``:不给出这个参数时它的值
为 True。fold 在这里检查(v1 用 ``int()`` 转换它)。"""),
    "task_name": StepDoc("406447a2f2bb", """\
任务文件夹名:以 ``Task`` 开头的值原样使用,其他值都当作任务编号。

对于编号,v1 在 cropped、preprocessed、raw 和 results 文件夹中查找名字以 ``Task%03d`` 开头的文件夹(只比较前缀,
不要求下划线);找到的不同名字
必须恰好只有一个(例如 4 -> ``Task004_Hippocampus``)。"""),
    "configuration": StepDoc("58b7f0ace927", """\
plans 文件、结果文件夹、预处理文件夹、``batch_dice``、stage 和 trainer 类。

这就是 v1 的 ``get_default_configuration``;卡片中的“v1 打印的内容”逐字给出 v1 打印的那一段。值得注意:单阶段
plans 上的 ``3d_fullres`` 使用样本 Dice(批 Dice 只用于 2d 和两阶段 plans 的 3D 全分辨率网络);``2d`` 和
``3d_lowres`` 用 stage 0,``3d_fullres`` 和 ``3d_cascade_fullres`` 用 plans 中的最后一个 stage。"""),
    "trainer_class": StepDoc("dd19e39a4ef0", """\
按名字找到的 trainer 类,并检查它是 nnU-Net 的 trainer(与 ``run_training`` 中的断言相同)。

v1 的 ``get_default_configuration`` 调用 ``recursive_find_python_class``:它导入 ``nnunet/training/network_training``
下的模块——先逐个导入一个文件夹里的普通模块,直到某个模块有这个名字为止;只有在普通模块都没有这个名字时,才以同样的方式进入它的子包——并返回第一个同名的属性:类本身,而不是字符串。卡片展示的是这个
查找在 explorer 对该文件夹的镜像(以及你的 ``--trainer_file`` 文件)上实际运行的过程:它依次导入了哪些模块,以及在哪里找到了
这个名字。训练本身从 explorer 的注册表中取类(对 v1 的 trainer 和你的文件是同一个类;在 notebook 中注册的类也一样)。类的
继承层次(MRO)决定 trainer 自己设置的内容(epoch 数、学习率、损失……);其余的来自 plans 和 ``run_training`` 的参数:
见下一步。"""),
    "trainer": StepDoc("4e7e80964020", """\
trainer 按 ``run_training`` 的方式构造,列出每个超参数以及它在哪里被设置。

``trainer_class(plans_file, fold, output_folder=..., dataset_directory=..., batch_dice=...,
stage=..., unpack_data=not use_compressed_data, deterministic=..., fp16=not fp32)``;之后
``--disable_saving`` 关闭最终检查点和最佳检查点。表格对每个超参数给出 MRO 中设置它的类以及它在每一层的值、v1 在方法中
写死的值(动量 0.99、梯度裁剪 12、poly 指数 0.9),以及你的子类设置了却会被 v1 忽略的任何值。``options`` 保存
explorer 自己的选项(``--max_num_epochs`` ... 更短的训练、设备);v1 没有这些参数:你需要写一个子类。"""),
    "initialize": StepDoc("46cf457af5f5", """\
``trainer.initialize(not validation_only)``:搭建整个训练的那一次调用,按 v1 的顺序。

V2 的 ``initialize`` 读取 plans(``load_plans_file``、``process_plans``),决定数据增强(``setup_DA_params``),为深度
监督包装损失函数,构建数据加载器(``get_basic_generators``：``load_dataset``、``do_split``),解压数据,构建数据增强,
然后构建网络(``initialize_network``)和优化器(``initialize_optimizer_and_scheduler``)。本步骤在这些调用发生时把它们
记录下来,连同每个调用设置的属性和所用的秒数;之后的步骤查看这些属性。这些方法第一次使用时才导入的库(batchgenerators,
以及第一个优化器加载的 torch 编译器组件)在记录开始之前就已导入,所以秒数是 trainer 自己的工作,而不是 Python 加载模块的
时间。本步骤的种子决定初始权重(v1 在 ``--deterministic`` 时于构造函数中设置种子 12345)。"""),
    "plans_processed": StepDoc("507a4fd2e137", """\
``process_plans`` 在 trainer 上设置的内容:训练时使用的该 stage 的 plans。

patch 大小(各轴按 ``transpose_forward`` 的顺序,spacing 最粗的轴在前)、batch 大小、每一层的池化核与卷积核、输入通道数(模态数)和类别数(包括背景,
``plans['num_classes'] + 1``)、数据是否按“伪 2D”增强,以及给预处理文件夹命名的数据标识。重写了 ``process_plans``
的子类(比如在 ``super()`` 之后修改 ``self.batch_size``)在这里显示它自己的值。"""),
    "augmentation_parameters": StepDoc("9560c4559678", """\
``setup_DA_params`` 设置的内容:数据增强参数字典和 ``basic_generator_patch_size``。

数据加载器切出的 patch 比网络的 ``patch_size`` 大,大小按旋转(V2 在 3D 中绕每个轴最多 ±30°,但使用 ``do_dummy_2D_aug`` 时绕第一个轴的平面内旋转取 2D 的范围 ±180°;2D 中最多 ±180°,
若 patch 最长边超过最短边的 1.5 倍则为 ±15°;超过 90° 的角按 90° 计算)和缩放来定,使 SpatialTransform 裁出的中心部分主要取自加载的数据,而不是它外面的填充(图像 0,标签
-1)。v1 用缩放范围(0.85, 1.25)计算这个大小(除以最小的缩放因子),之后才把范围放宽到(0.7, 1.4);缩放因子大于
1 是缩小,所以 V2 最大 1.4 的缩小再加上旋转,仍可能取到填充。使用 ``do_dummy_2D_aug``(各向异性数据)时,第一个
轴保持不变,只有平面内的尺寸增大。"""),
    "deep_supervision": StepDoc("0939531ed991", """\
解码器每一层一个损失:权重 ``1/2**i`` 归一化,分辨率最低的输出权重为 0。

``initialize`` 设置 ``self.ds_loss_weights``;网络返回 ``len(pool_op_kernel_sizes)`` 个 logit 图,目标被下采样
(最近邻)到每个图的尺度:先是 ``[1, 1, 1]``,然后是去掉最后一项的 ``1 / cumprod(pool_op_kernel_sizes)``。前向传播也会
算出分辨率最低的输出,但它的权重为 0,所以损失跳过它,它从不训练任何东西。没有深度监督的 trainer(``noDeepSupervision``)只有一个输出。"""),
    "loss": StepDoc("b92eeef8f645", """\
``trainer.loss``:交叉熵 + soft Dice(不含背景,smooth 1e-5),对所有输出求和。

``DC_and_CE_loss`` 返回 ``CE + (-Dice)``,所以 Dice 变好时损失会变成负数。配置中的 ``batch_dice`` 决定 Dice 是在
整个 batch 上计算还是逐样本计算。V2 的 ``initialize`` 包装 ``__init__`` 赋给的损失:
``self.loss = MultipleOutputLoss2(self.loss, self.ds_loss_weights)``(变体在自己的 ``__init__`` 中写的
``self.loss = ...`` 就是被包装的那个)。"""),
    "dataset": StepDoc("88a5a0fb853d", """\
``trainer.dataset``：``<data_identifier>_stage<stage>`` 中预处理好的病例,解压为 ``.npy``。

v1 把每个 ``CASE.npz`` 一次性解压为 ``CASE.npy``（``unpack_data``）,这样数据加载器可以用内存映射打开病例,只读取
需要的 patch;``--use_compressed_data`` 跳过这一步。v1 会跳过已经存在的 ``.npy``,即使它因解压被中断而不完整
(数据加载器之后抽到这个病例时会失败,例如 "mmap length is greater than file size");explorer 会重新解压这样的文件。
级联的病例还记录了各自使用的 ``3d_lowres`` 分割结果。"""),
    "split": StepDoc("9e8f4f7a202c", """\
``trainer.dataset_tr`` / ``dataset_val``:这一折的病例,来自 ``splits_final.pkl``。

这个文件在第一次使用时创建:5 折,在排序后的病例名上用种子 12345 做 KFold,所以各折只取决于病例名。fold 'all'
用所有病例训练和验证;fold 不小于文件中的划分数(v1 写出的文件是 5)时随机划分 80:20(种子 12345 + fold)。"""),
    "dataloader": StepDoc("298f5f3d8bef", """\
``trainer.dl_tr``:由 ``basic_generator_patch_size`` 大小的 patch 组成的 batch,其中一些被强制包含前景。

它从随机的训练病例中切出 ``batch_size`` 个更大的加载器尺寸的 patch;每个 batch 最后
``batch_size - round(batch_size * (1 - 0.33))`` 个样本以病例中某个随机类别的随机前景体素为中心。病例范围之外,
图像用 0 填充,分割用 -1 填充。``get_basic_generators`` 是构建数据加载器的唯一地方:训练、DDP 和各个视图都用它。"""),
    "network": StepDoc("d6311df8db2f", """\
``trainer.network``：``initialize_network`` 构建的 Generic_UNet,并按 v1 的约定检查。

各层按 ``pool_op_kernel_sizes`` 排列;特征数从 ``base_num_features`` 开始,每层翻倍,最多 320（3D）/ 480（2D）;
每个块是 conv -> instance norm -> leaky ReLU,重复 ``conv_per_stage`` 次。用 v1 的方式换成你自己的网络:在子类中
重写 ``initialize_network``（notebook 07）;本步骤会准确指出哪里不符合:深度监督输出的数量和形状、``do_ds`` 的切换、
``inference_apply_nonlin``;plans 中不能被池化整除的 patch,或小到最深一层只剩一个体素的 patch（都是手工修改所致）,
会被指出是 plans 的问题,并给出最接近的合法 patch,或 v1 规划器为这个 patch 算出的池化。"""),
    "architecture": StepDoc("26a74f2cc7f1", """\
逐层查看一个 batch 经过网络的情况:形状、通道、参数、深度监督输出头。"""),
    "optimizer": StepDoc("490c369eadbf", """\
``trainer.optimizer``:SGD,学习率 1e-2,动量 0.99,Nesterov,权重衰减 3e-5(V2)。

``initialize_optimizer_and_scheduler`` 在网络的参数上构建它;0.99 和 Nesterov 是这个方法中的字面量(要修改它们,需
重写这个方法;若在第 100 个 epoch 最近的 Dice 估计恰好为 0,V2 的 ``on_epoch_end`` 会把动量降为 0.95,并重新初始化
网络的权重)。V2 没有调度器对象:``run_training`` 先为起始 epoch 设置 ``lr = poly_lr(epoch)``,之后在每个 epoch
结束后设置下一个 epoch 的学习率(见下一步)。"""),
    "lr_schedule": StepDoc("40435da23087", """\
每个 epoch 训练时使用的学习率,由 trainer 自己的 ``maybe_update_lr`` 给出(V2:poly 规则)。

V2：``lr = initial_lr * (1 - epoch / max_num_epochs) ** 0.9``;学习率几乎线性下降(每个 epoch 的降幅越往后越大,在 1000 个 epoch 的训练中最后的降幅约为第一次的两倍),最后一个 epoch
为 ``initial_lr * (1 / max_num_epochs) ** 0.9``(永远不为 0)。这条曲线是在一个替身优化器上像 ``run_training`` 那样
调用 trainer 的 ``maybe_update_lr`` 得到的(先用起始 epoch,再在每个 epoch 之后),所以子类的调度(预热、固定阶梯)
会按原样显示。"""),
    "batch": StepDoc("18b7c27bfb1c", """\
一个 batch 经过 trainer 自己的数据加载器和变换(先是 ``dl_tr``,然后是 ``tr_gen`` 的变换)。

数据是网络 patch 大小的 ``(b, c, *patch)`` float32(空间轴按 ``transpose_forward`` 的顺序);目标是一个列表,每个深度监督输出对应一个 ``(b, 1, ...)``
标签图。batch 中最后的一个或几个样本被强制包含前景(``get_do_oversample``:最后 ``batch_size - round(batch_size * (1 - 0.33))`` 个,即 2 个或 3 个中的 1 个,batch 为 1 时没有);图中用框标出它们。它在本进程中用本步骤的种子
抽取(用同一个种子重跑得到同一个 batch;``pipeline.rerun("batch", seed=3)`` 抽取另一个);之后训练所用的随机数流保持原样。"""),
    "iteration": StepDoc("202bfe809cc0", """\
``trainer.run_iteration``:前向、深度监督损失、反向、把梯度范数裁剪到 12、更新一步。

trainer 自己的 ``run_iteration``(包括子类的重写)在这个 batch 上作为一次训练迭代运行(带反向传播),并开启在线评估,
以便记录给出 tp/fp/fn(v1 的训练循环只在验证 batch 上做在线评估);之后权重、优化器状态和随机数流被放回原样,所以查看不会改变训练。记录给出每个输出的损失、裁剪前后的梯度范数、
学习率和每个阶段所用的时间(全部一次性从设备读回)。

然后是 v1 的混合精度分支,一个调用接一个调用(``fp16_lesson``):autocast、``scale(l).backward()``、``unscale_``、
``clip_grad_norm_``、``step``、``update``,每个阶段的缩放因子 S 和梯度范数,一次被 scaler 跳过的更新,以及这个网络的
梯度大小与 float16 表示范围的对比。在使用 fp16 训练的地方(GPU 上),这些是 trainer 自己的 GradScaler 的数字;在 CPU
上(v1 在 CPU 上用 float32 训练),则是用 torch 的 CPU float16 在一个样本的裁剪块上做的演示,裁剪块约
``fp16_cpu_voxels`` 个体素(None:整个 batch;裁剪块每个轴保留一个池化倍数,所以可能更大),它的数字属于这个裁剪块,
而不是整个 batch。"""),
    "training_epochs": StepDoc("991c18e498b1", """\
``trainer.run_training()``(在 ``-c`` / ``-pretrained_weights`` 之后,与 v1 的 ``main`` 相同):真正的训练循环。

使用 ``-val`` 时什么也不训练:与 v1 一样加载最终检查点(``--valbest``:最佳检查点)。

每个 epoch：``num_batches_per_epoch`` 次训练迭代（v1：250）,``num_val_batches_per_epoch`` 个不做反向传播的验证
batch（v1：50）,然后是 ``on_epoch_end``(下一步)。结束时 v1 保存 ``model_final_checkpoint.model``（+ ``.pkl``）
并删除 ``model_latest.model``;``progress.png``、``debug.json`` 和 ``training_log_*.txt`` 位于该折的文件夹中。
训练长度由 trainer 的选项决定(``--max_num_epochs`` ...)。开启 ``trace`` 时记录它调用的 v1 方法(较慢;用于短的
训练)。"""),
    "epoch_end": StepDoc("2c8d07d24782", """\
一个 epoch 的结束,按实际运行的情况:``update_train_loss_MA``,然后是 ``on_epoch_end``。

``on_epoch_end``(v1 的 ``NetworkTrainer``):``finish_online_evaluation``(由本 epoch 各验证 batch 累加的 tp/fp/fn
算出的 "Average global foreground Dice")、``plot_progress``(progress.png)、``maybe_update_lr``(下一个 epoch 的
学习率)、``maybe_save_checkpoint``(每 ``save_every`` 个 epoch 写一次 ``model_latest.model``)、
``update_eval_criterion_MA``(Dice 的滑动平均,alpha 0.9)和 ``manage_patience``(该平均值严格提高时写
``model_best.model``)。V2 自己的 ``on_epoch_end`` 还加了一条规则:在第 100 个 epoch,如果最近的 Dice 估计恰好为 0,动量降为 0.95 并重新初始化权重。随后只要 ``epoch < max_num_epochs`` V2 就继续:patience 从不让 V2 停下。下面的调用是在最后
一个 epoch 中记录的。"""),
    "validate": StepDoc("27abc178ba8f", """\
训练之后 v1 的 ``validate``:每个验证病例用滑动窗口预测、导出、评分。

对每个病例:预处理后的体数据被切成 patch 大小、相互重叠一半的块,每块用高斯权重加权(中心最重要),并做镜像测试时
增强;softmax 被重采样回原始几何,导出为 ``validation_raw/CASE.nii.gz``。然后是 ``summary.json``(每个标签的 Dice
等指标,对照 ``gt_segmentations``)和 ``determine_postprocessing``(在能提高 Dice 的地方只保留某个标签的最大连通域)。
调用时使用由命令行参数得到的 v1 参数(``--npz``、``--val_folder``、``--disable_postprocessing_on_folds``、
``--val_disable_overwrite``)。"""),
    "prediction": StepDoc("bbb5e66341b5", """\
在新病例上运行 ``nnUNet_predict``:原始测试图像,按训练时的方式预处理,预测,导出。

病例是原始任务 ``imagesTs`` 中的第一个(没有的话用第一张训练图像代替)。与 ``nnUNet_predict -f FOLD`` 一样,模型从
该折的 ``model_final_checkpoint.model`` 读回;这里关闭了 ``do_tta``(镜像)以让本步骤快一些(v1 默认开启)。"""),
}


def _unwrap(paragraph: str) -> str:
    """One paragraph's lines joined: nothing between two Chinese characters or next to full-width punctuation,
    a space elsewhere (as between a Chinese word and a quoted identifier)."""
    out = ""
    for line in paragraph.splitlines():
        line = line.strip()
        before, after = out[-1:], line[:1]
        glued = (_IS_CJK.match(before) and _IS_CJK.match(after)) or _IS_PUNCT.match(before) or _IS_PUNCT.match(after)
        if out and not glued:
            out += " "
        out += line
    return out


def step_doc_zh(name: str, docstring: str | None = None) -> str:
    """The Chinese docstring of step ``name`` (lead line, blank line, one line per paragraph, Chinese
    punctuation); "" when there is none, or when ``docstring`` (the step's current English docstring) is not
    the one it translates."""
    entry = STEP_DOCS_ZH.get(name)
    if entry is None or (docstring is not None and doc_fingerprint(docstring) != entry.source):
        return ""
    return zh_typography("\n\n".join(_unwrap(p) for p in entry.zh.split("\n\n")))


__all__ = ["STEP_DOCS_ZH", "StepDoc", "doc_fingerprint", "step_doc_zh"]
