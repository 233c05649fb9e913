# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · 训练器、`initialize`、Generic_UNet 与深度监督
#
# *这是中文版；英文版见上一级目录的同名 notebook。*
#
# 在 nnU-Net v1 中，**训练器对象掌管整个运行过程**。解析完参数之后，在一次普通的训练运行中，v1 的
# `run_training.py` 用它依次做四件事（带 `-c` 或 `-pretrained_weights` 时，它还会在 `initialize` 和
# `run_training` 之间加载权重；对 `3d_lowres`，它还会在 `validate` 之后预测下一个 stage）：
#
# ```python
# trainer = nnUNetTrainerV2(plans_file, fold, output_folder=..., dataset_directory=..., batch_dice=...,
#                           stage=..., unpack_data=..., deterministic=..., fp16=...)
# trainer.initialize(not validation_only)   # plans -> data loaders, augmentation, network, optimizer
# trainer.run_training()                     # the epochs (notebook 05)
# trainer.validate(...)                      # sliding-window prediction of the validation cases (notebook 06)
# ```
#
# explorer 的训练器有同样的类、方法和顺序：`NetworkTrainer`（训练循环及其记录工作）→ `nnUNetTrainer`（plans、
# 数据、在线 Dice、验证）→ `nnUNetTrainerV2`（默认的训练器）。walkthrough 构建这一个训练器对象，调用它的 `initialize`，
# 之后只是*查看*它设置了什么。这个 notebook 也照此进行：每个超参数从哪里来、`initialize` 调用了什么、它构建的
# 网络，以及子类如何改变其中一步。

# %%
from nnunet_explorer.teaching import set_language
set_language("zh")  # 本 notebook 的卡片、表格和图注用中文；set_language("en") 换回英文

# %%
# 图（视图返回的 matplotlib Figure 对象）显示为图片
# %matplotlib inline
import os, pathlib
# 工作区：nnU-Net v1 的三个文件夹（raw、preprocessed、results）。除非你设置了它们（或
# NNUNET_EXPLORER_WORKSPACE），notebook 使用它们旁边的 ./nnunet_workspace。
if not any(os.environ.get(v) for v in ("nnUNet_raw_data_base", "nnUNet_preprocessed", "RESULTS_FOLDER")):
    os.environ.setdefault("NNUNET_EXPLORER_WORKSPACE", str(pathlib.Path("nnunet_workspace").resolve()))
os.environ.setdefault("nnUNet_n_proc_DA", "1")  # 一个数据增强进程：这是一台小 CPU 机器
import torch
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

from nnunet_explorer.views.widgets_common import prepare_sample_task
# 合成 CT 样例（Task901_SyntheticCT）：只写入并预处理一次，之后复用
workspace, TASK = prepare_sample_task(901)
print(workspace.describe()); print("task:", TASK)

# %% [markdown]
# ## `initialize` 之前的训练器
#
# 构造函数保存它的参数并设置属性（和 v1 一样，还设置全局的 cuDNN 开关、`--deterministic` 下的随机种子，以及
# 损失 `DC_and_CE_loss`）；不做任何需要 plans 的事。大多数超参数是类层次中某个 `__init__` 里的一条赋值
# `self.<name> = ...`（少数是方法里的字面量：见表格的最后几行）；子类要改变其中一个属性，就在*它自己的* `__init__`
# 中、在 `super().__init__(...)` 之后再赋值一次。来源表（provenance）对每个值列出是哪个类设置的，以及上面的类之前设置过什么。

# %%
from nnunet_explorer.walkthrough import training_walkthrough
p = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0)
trainer = p["trainer"]
print(trainer)  # 已构造，尚未 initialize
trainer.provenance()

# %% [markdown]
# 这张表这样读：`num_batches_per_epoch` 为 250，由 `NetworkTrainer` 设置；`max_num_epochs` 在 `NetworkTrainer`
# 中为 1000，`nnUNetTrainerV2` 又把它设置了一次，值相同；`initial_lr` 为 1e-2——V2 把它从 `nnUNetTrainer` 的
# 3e-4 调高了，因为它用 SGD + Nesterov 动量 0.99 训练，而不是 Adam。
#
# 最后几行（带底色）根本不是属性：动量 0.99、Nesterov、梯度裁剪的范数 12 和 poly 指数 0.9 是 **V2 方法里的
# 字面量**（`initialize_optimizer_and_scheduler`、`run_iteration`、`maybe_update_lr`）。没有哪个属性能改变它们；
# 要覆盖相应的方法才行（notebook 07）。

# %% [markdown]
# ## `initialize`：一次调用，搭好整个运行
#
# `initialize` 步骤调用 `trainer.initialize(True)`——正是 `nnUNet_train` 调用的那个方法——并记录训练器的哪些
# v1 方法运行了（按嵌套关系和先后顺序），以及每个方法设置了哪些属性（一个 profiler 钩子，就像调试器用的那种；
# 它不改变训练器）。缩进的调用是由它上面的那个调用发出的；方括号里的类是实际运行了其代码的类。

# %%
init = p["initialize"]
print(init.summary())

# %% [markdown]
# 用文字来说，V2 的 `initialize`：读取 plans（`load_plans_file`），把选定的 stage 转换成属性（`process_plans`）；
# 确定数据增强（`setup_DA_params`）；为深度监督包装损失（它自己设置的 `ds_loss_weights` 和 `loss`）；构建数据
# 加载器（`get_basic_generators`，它加载病例列表，并把它划分成这一折的训练病例和验证病例）；把 `.npz` 解包为
# `.npy`；用数据增强包装数据加载器（`tr_gen`、`val_gen`）；最后构建网络（`initialize_network`）和优化器
# （`initialize_optimizer_and_scheduler`）。
#
# walkthrough 中从 `plans_processed` 到 `iteration` 的步骤都是对同一个训练器对象的**查看**（look）：
# `plans_processed` 读取 `process_plans` 设置的值，`network` *就是* `trainer.network`，`optimizer` *就是*
# `trainer.optimizer`。会运行些什么的查看（网络检查、`architecture`、`lr_schedule`、`batch`、`iteration`）事后
# 会把权重、优化器状态和随机数流恢复原样，所以查看不会改变训练接下来的行为。只有 `training_epochs` 真正训练：
# 它调用 `trainer.run_training()`。

# %%
print("network 步骤就是 trainer.network：", p["network"] is trainer.network)
print("loss 步骤就是 trainer.loss：", p["loss"] is trainer.loss, "|", type(trainer.loss).__name__)
print("optimizer 步骤就是 trainer.optimizer：", p["optimizer"] is trainer.optimizer, "|",
      type(trainer.optimizer).__name__)
print(trainer)  # 现在已经 initialize 了

# %% [markdown]
# ## 训练器从 plans 中取了什么
#
# `process_plans` 把选定 stage 的 plans 转换成训练所需的东西。注意这里的 `num_classes` *包含*背景
# （`plans['num_classes'] + 1`）。

# %%
pp = p["plans_processed"]
print(pp.summary())

# %% [markdown]
# ## 深度监督
#
# V2 网络在解码器的每一层都返回一个分割结果。每个结果都与下采样到它的大小的目标比较，权重为 `1/2**i`，在除分辨率
# 最低的那个之外的所有输出上归一化，分辨率最低的那个输出权重为 **0**（`initialize` 把它们设为 `trainer.ds_loss_weights`）。

# %%
ds = p["deep_supervision"]
print(ds.summary())

# %% [markdown]
# ## Generic_UNet
#
# 网络由 `initialize_network` 构建；`network` 步骤按 v1 对网络的约定检查它（每个深度监督层级一个输出、一个
# `do_ds` 开关、`inference_apply_nonlin`）；`architecture` 在每个模块上挂钩子做一次前向传播，并把看到的内容
# 按 U-Net 的层级分组。展开树中的某一节，可以看到每个卷积单元的卷积核、步长、输出形状 `(b, c, z, y, x)` 和
# 参数量。

# %%
net = p["network"]
arch = p["architecture"]
from nnunet_explorer.views.architecture_view import architecture_tree, unet_diagram
architecture_tree(arch)
# %% [markdown]
# > **博客勘误。** 博客照抄的 `Generic_UNet` 参数列表是*函数签名的默认值*（`network_architecture/generic_UNet.py`）：
# > `conv_op=nn.Conv2d`、`norm_op=nn.BatchNorm2d`、`dropout_op=nn.Dropout2d`、`final_nonlin=softmax_helper`、
# > `convolutional_pooling=False`、`convolutional_upsampling=False`。这不是 V2 训练的网络。
# > `nnUNetTrainerV2.initialize_network` 对 3D 传入的是：`nn.Conv3d`、`nn.InstanceNorm3d`
# > （`eps=1e-5, affine=True`）、`p=0` 的 `nn.Dropout3d`、LeakyReLU（斜率 1e-2）、`final_nonlin = lambda x: x`
# > （只在推理时做 softmax）、plans 中的池化核与卷积核大小，以及 `convolutional_pooling=True, convolutional_upsampling=True`：
# > 用带步长的卷积下采样、用转置卷积上采样，没有最大池化。上面的树显示的正是这样。

# %% [markdown]
# 把同一个网络画成 U 形：编码器沿左侧向下（带步长的卷积把分辨率减半；第一层保持粗的 z 轴不变，正如
# `pool_op_kernel_sizes` 所示），解码器沿右侧向上（转置卷积），跳跃连接把编码器的特征拼接进解码器，深度监督的
# 输出头挂在解码器各层上，并标出它们的损失权重。

# %%
unet_diagram(arch)

# %%
print(arch.to_text())

# %% [markdown]
# ## 改变一步：覆盖 v1 的一个方法
#
# 要改变训练器的行为，v1 的做法是写一个子类，覆盖负责这件事的方法——之后凡是 v1 调用这个方法的地方，运行时
# 调用的都是你的版本。这里保留 `process_plans`，只在它运行之后改掉它设置的一个值：让 U-Net 从 16 个而不是
# 32 个特征开始。注册这个类，walkthrough（或 `nnunet-explorer train`）就能按名字找到它，就像 v1 按类名查找
# 它的训练器一样。

# %%
from nnunet_explorer.network_training import nnUNetTrainerV2, register_trainer

@register_trainer
class nnUNetTrainerV2_16features(nnUNetTrainerV2):
    """每一层的特征数都减半的 V2（一个更小的网络）。"""

    def process_plans(self, plans):
        super().process_plans(plans)  # 先得到 v1 的值……
        self.base_num_features = 16   # ……再改掉你想改的那个

p16 = training_walkthrough("3d_fullres", "nnUNetTrainerV2_16features", 901, 0)
trace16 = p16["initialize"].trace
print("\n".join(line for line in trace16.text().splitlines() if "process_plans" in line or "initialize_network" in line))
small = p16["network"]
print(f"参数量：{sum(t.numel() for t in net.parameters()):,}（V2）-> {sum(t.numel() for t in small.parameters()):,} "
      f"(base_num_features {small.base_num_features})")

# %% [markdown]
# trace 显示了两次 `process_plans` 调用：你的，以及它内部 `nnUNetTrainer` 的那次（即 `super()` 调用）。trace 对
# 每个属性只列一次，放在设置它的最内层调用之下，所以 `base_num_features` 出现在 `nnUNetTrainer` 的调用之下，
# 尽管你的版本之后又设置了它一次（`plans_processed` 这个查看显示的是最终的 16）。`initialize_network` 没有改动，
# 却构建出了更小的网络，因为它是在 `process_plans` 运行之后才读取 `self.base_num_features` 的。Notebook 07
# 会直接替换 `initialize_network` 本身。

# %% [markdown]
# ### 检查

# %%
import numpy as np
assert abs(sum(ds.weights) - 1) < 1e-6 and ds.weights[-1] == 0
assert len(arch.output_shapes) == len(ds.weights) == len(pp.net_num_pool_op_kernel_sizes)
assert arch.total_params == sum(t.numel() for t in net.parameters())
assert [tuple(s[2:]) for s in arch.output_shapes] == [tuple(t) for t in ds.target_shapes]
prov = trainer.provenance()
assert prov["initial_lr"].set_by == "nnUNetTrainerV2" and prov["num_batches_per_epoch"].set_by == "NetworkTrainer"
assert prov["momentum"].literal and prov["momentum"].value == 0.99
# initialize：对训练器的一次调用，按 v1 的顺序；各个查看得到的就是训练器自己的对象
order = ["initialize", "load_plans_file", "process_plans", "setup_DA_params", "get_basic_generators", "load_dataset",
         "do_split", "initialize_network", "initialize_optimizer_and_scheduler"]
assert [n for n in init.trace.names() if n in order] == order
assert "network" in init.trace.find("initialize_network")[0].set_attributes
assert net is trainer.network and p["loss"] is trainer.loss and p["optimizer"] is trainer.optimizer
import torch
kinds = {type(m) for m in net.modules()}  # 上面的勘误：V2 的网络，而不是函数签名的默认值
assert {torch.nn.Conv3d, torch.nn.InstanceNorm3d, torch.nn.ConvTranspose3d} <= kinds
assert not kinds & {torch.nn.Conv2d, torch.nn.BatchNorm2d, torch.nn.MaxPool3d, torch.nn.MaxPool2d}
# 覆盖的方法：initialize 在 v1 调用 process_plans 的地方调用它，网络随之改变
assert [c.defined_in for c in trace16.find("process_plans")] == ["nnUNetTrainerV2_16features", "nnUNetTrainer"]
assert small.base_num_features == 16 and p16["plans_processed"].base_num_features == 16
assert sum(t.numel() for t in small.parameters()) < sum(t.numel() for t in net.parameters())
print("02 ok")
