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
# # 07 · 换上你自己的网络（和训练器）
#
# *这是中文版；英文版见上一级目录的同名 notebook。*
#
# nnU-Net v1 训练的是 `initialize_network` 放进 `self.network` 的那个网络，而且只检查它一件事：V2 的
# `initialize` 最后一句是 `assert isinstance(self.network, (SegmentationNetwork, nn.DataParallel))`。网络必须派生自
# `SegmentationNetwork`，即 Generic_UNet 的基类，验证和 `nnUNet_predict` 调用的正是它的 `predict_3D`。其余的一切都是
# 与训练器之间不成文的约定：网络为每个深度监督层级返回一个输出（最高分辨率在前）；有一个 `do_ds` 开关，推理时让它只
# 返回全分辨率的输出；还有用于预测的 `inference_apply_nonlin`（softmax）。违反这个约定，v1 会很晚才出错：
# `run_training` 读取不存在的 `do_ds` 时抛出 `AttributeError`；网络只返回一个张量时触发 `MultipleOutputLoss2` 的
# assert；输出大小不对时在损失函数内部报形状错误。explorer 的 `initialize` 和 v1 的一样，拒绝不是
# `SegmentationNetwork` 的网络；`check_network_contract` 则事先检查整个约定，并指出哪里不符合。
#
# 这里的一切都按 v1 的方式来做：写一个 `nnUNetTrainerV2` 的子类，覆盖想要改变的 v1 方法——换网络就覆盖
# `initialize_network`，换学习率调度就覆盖 `maybe_update_lr`，换优化器就覆盖 `initialize_optimizer_and_scheduler`——并在
# `__init__` 中设置超参数。训练过程由训练器掌管，所以 v1 在哪里调用这些方法，训练过程就在哪里调用你的方法。

# %%
from nnunet_explorer.teaching import set_language
set_language("zh")  # 本 notebook 的卡片、表格和图注用中文；set_language("en") 换回英文

# %%
# 图（视图返回的 matplotlib Figure 对象）显示为图片
# %matplotlib inline
import os, pathlib
# 工作区：nnU-Net v1 的三个文件夹（raw、preprocessed、results）。除非你设置了它们（或
# NNUNET_EXPLORER_WORKSPACE），notebook 使用旁边的 ./nnunet_workspace。
if not any(os.environ.get(v) for v in ("nnUNet_raw_data_base", "nnUNet_preprocessed", "RESULTS_FOLDER")):
    os.environ.setdefault("NNUNET_EXPLORER_WORKSPACE", str(pathlib.Path("nnunet_workspace").resolve()))
os.environ.setdefault("nnUNet_n_proc_DA", "1")  # 一个数据增强进程：这是一台小 CPU 机器
import torch
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

from nnunet_explorer.views.widgets_common import prepare_sample_task
# 合成 CT 样例（Task901_SyntheticCT）：只写入并预处理一次，之后复用
workspace, TASK = prepare_sample_task(901)
print(workspace.describe()); print("task:", TASK)

# %%
import torch
from torch import nn
from nnunet_explorer.walkthrough import training_walkthrough
from nnunet_explorer.training.contract import check_network_contract
p = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0)
pp = p["plans_processed"]
contract = dict(patch_size=pp.patch_size, batch_size=1, num_input_channels=pp.num_input_channels,
                num_classes=pp.num_classes, pool_op_kernel_sizes=pp.net_num_pool_op_kernel_sizes)
print(pp.summary())


# %% [markdown]
# ## 第一次尝试：只有一个输出的普通网络

# %%
class TinyNet(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.body = nn.Sequential(nn.Conv3d(in_channels, 8, 3, padding=1), nn.LeakyReLU(0.01),
                                  nn.Conv3d(8, num_classes, 1))
    def forward(self, x):
        return self.body(x)

report = check_network_contract(TinyNet(pp.num_input_channels, pp.num_classes), **contract)
report

# %% [markdown]
# ## 修正：`SegmentationNetwork`、每层一个输出、`do_ds`、`inference_apply_nonlin`
#
# 这个类派生自 `SegmentationNetwork`（v1 中在 `nnunet.network_architecture.neural_network`；这里是
# `nnunet_explorer.training.segmentation_network`，移植过来的 v1 训练器文件通过 v1 的 import 就能找到它），先调用它的
# `__init__`，然后设置 Generic_UNet 所设置的属性 `conv_op`、`num_classes` 和 `do_ds`，以及 V2 的
# `initialize_network` 在它自己构建的 Generic_UNet 上设置的 `inference_apply_nonlin`（softmax）。深度监督需要在解码器的每个
# 分辨率上都有一个输出：先是原尺寸，然后依次是原尺寸除以每一层的累积池化。对玩具网络来说，一个省事的办法是：对全分辨率的
# logits 做平均池化。

# %%
import numpy as np
from nnunet_explorer.training.generic_unet import softmax_helper
from nnunet_explorer.training.segmentation_network import SegmentationNetwork

class TinyDSNet(SegmentationNetwork):
    def __init__(self, in_channels, num_classes, pools):
        super().__init__()
        self.body = TinyNet(in_channels, num_classes).body
        self.do_ds = True
        self.inference_apply_nonlin = softmax_helper
        self.num_classes = num_classes
        self.conv_op = nn.Conv3d
        # 输出 i 比输入小，缩小的倍数是前 i 个池化核的乘积
        self.scales = [tuple(int(v) for v in np.prod(pools[:i], axis=0)) if i else (1, 1, 1)
                       for i in range(len(pools))]
    def forward(self, x):
        full = self.body(x)
        if not self.do_ds:
            return full
        return tuple(full if s == (1, 1, 1) else nn.functional.avg_pool3d(full, s) for s in self.scales)

pools = [list(k) for k in pp.net_num_pool_op_kernel_sizes]
report_ok = check_network_contract(TinyDSNet(pp.num_input_channels, pp.num_classes, pools), **contract)
report_ok


# %% [markdown]
# ## 接入：覆盖 `initialize_network`
#
# v1 在 `initialize_network` 中构建网络。`initialize` 调用它的时机在 `process_plans` 设置好
# `self.num_input_channels`、`self.num_classes` 和 `self.net_num_pool_op_kernel_sizes` 之后，在
# `initialize_optimizer_and_scheduler`（它需要 `self.network.parameters()`）之前。在这里设置 `self.network` 的子类会在
# 所有地方替换掉 Generic_UNet：优化器、训练迭代、验证和检查点用的都是它。注册这个类，让 walkthrough（或
# `nnunet-explorer train`）能按名字找到它。

# %%
from nnunet_explorer.network_training import nnUNetTrainerV2, register_trainer, known_trainers

@register_trainer
class nnUNetTrainerV2_TinyDS(nnUNetTrainerV2):
    """V2，用 TinyDSNet 代替 Generic_UNet。"""

    def initialize_network(self):
        pools = [list(k) for k in self.net_num_pool_op_kernel_sizes]
        self.network = TinyDSNet(self.num_input_channels, self.num_classes, pools)
        self.network.to(self.device)  # v1 在这里调用 .cuda()；explorer 的训练器知道自己的设备

p_mine = training_walkthrough("3d_fullres", "nnUNetTrainerV2_TinyDS", 901, 0)
print("\n".join(line for line in p_mine["initialize"].trace.text().splitlines()
                if "initialize_network" in line or "initialize_optimizer" in line))
record = p_mine["iteration"]
record

# %% [markdown]
# `initialize` 步骤的调用记录写出了执行 `initialize_network` 的是哪个类（你的类）；`network` 步骤在 `trainer.network`
# 上检查了约定——优化器正是在这同一个对象上构建的。随后，`iteration` 这一查看步骤用它运行了 V2 的 `run_iteration`：
# 每个深度监督层级一个输出；除了最粗的那个（v1 给它的权重是 0，根本不计算它的损失），每个输出的损失都按权重
# 计入总损失。

# %% [markdown]
# ## 你自己的超参数，以及训练过程会调用的一个 v1 方法
#
# v1 作为属性保存的超参数（`initial_lr`、`max_num_epochs`、每个 epoch 的 batch 数）在 `__init__` 中、
# `super().__init__(...)` 之后设置在 `self` 上，v1 自己的变体就是这样做的（`nnUNetTrainerV2_2epochs`、
# `nnUNetTrainerV2_Loss_Dice_LR1en3`……）；v1 写死在方法里的值（动量、Nesterov、裁剪阈值 12、poly 指数 0.9）要覆盖
# 持有它们的方法才能改变。要改变行为，就覆盖 v1 为此调用的那个方法。
# 这个训练器保留那个很小的网络，用较小的初始学习率训练 4 个很短的 epoch，并在前两个 epoch 里线性预热学习率，之后交给
# V2 的 poly 规则。V2 的 `run_training` 在第一个 epoch 之前调用一次 `maybe_update_lr(self.epoch)`，`on_epoch_end` 在
# 每个 epoch 之后调用 `maybe_update_lr()`（为的是*下一个* epoch，所以是 `self.epoch + 1`）。
#
# > **陷阱：类属性不起作用。** 在 v1 中，作为属性的超参数（其余的是方法里的字面量，例如动量）都是在 `__init__` 中
# > 赋值的实例属性（`nnUNetTrainerV2.__init__`
# > 设置 `self.max_num_epochs = 1000` 和 `self.initial_lr = 1e-2`），而实例属性会遮蔽同名的类属性。因此，一个在类体中
# > 写了 `initial_lr = 3e-3` 的子类，会悄无声息地以 1e-2 训练 1000 个 epoch。explorer 的训练与 v1 完全一样（忽略这个
# > 类属性），但会在定义这个类时发出 `V1IgnoresWarning`，并指出修正方法。

# %%
from nnunet_explorer.training.lr_schedule import poly_lr

@register_trainer
class nnUNetTrainerV2_TinyWarmup(nnUNetTrainerV2_TinyDS):
    """小网络；4 个 epoch，每个 2 次迭代；lr 3e-3，前 2 个 epoch 线性预热，之后用 poly。"""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial_lr = 3e-3  # 放在 super().__init__ 之后，这样就不会被覆盖
        self.max_num_epochs = 4
        self.num_batches_per_epoch = 2
        self.num_val_batches_per_epoch = 1
        self.warmup_epochs = 2  # 不是 v1 的属性：由下面的 maybe_update_lr 读取

    def maybe_update_lr(self, epoch=None):
        ep = self.epoch + 1 if epoch is None else epoch  # V2 的约定（见它的 maybe_update_lr）
        if ep < self.warmup_epochs:
            self.optimizer.param_groups[0]["lr"] = self.initial_lr * (ep + 1) / self.warmup_epochs
        else:
            super().maybe_update_lr(epoch)  # V2 的 poly 规则

# overwrite_training：这个 notebook 每次运行都重新训练这个训练器（折文件夹中已有检查点时，除非明确要求，explorer
# 拒绝从头开始；v1 则会悄悄覆盖它们）
p_trainer = training_walkthrough("3d_fullres", "nnUNetTrainerV2_TinyWarmup", 901, 0, overwrite_training=True,
                                 plot_progress=False, quiet=True)
mine = p_trainer["trainer"].provenance()
print("已注册：", [t for t in known_trainers() if "Tiny" in t])
mine

# %% [markdown]
# 表格标出了你的类改动的内容（`initial_lr`、`max_num_epochs` 和两个 batch 数），并在表下列出你的方法：
# `initialize_network`（来自 `nnUNetTrainerV2_TinyDS`）和 `maybe_update_lr`。`lr_schedule` 这一查看步骤向你的
# `maybe_update_lr` 询问每个 epoch 的学习率，调用方式与 `run_training` 相同（在一个替身优化器上）：

# %%
schedule = p_trainer["lr_schedule"]
print(schedule.summary())
print("学习率：", [round(float(v), 6) for v in schedule.lrs])

# %% [markdown]
# 现在训练它：`training_epochs` 步骤在这个训练器上调用 `trainer.run_training()`（4 个 epoch，每个 2 次很小的迭代，
# 只需几秒），`epoch_end` 按 v1 的顺序列出最后一个 epoch 的 `on_epoch_end` 所做的调用，以及执行的是哪个类的代码。

# %%
trained = p_trainer["training_epochs"]
print(trained.summary())
end = p_trainer["epoch_end"]
print(end.summary())
lr_calls = [c for top in end.calls for c in top.walk() if c.name == "maybe_update_lr"]
print("maybe_update_lr 执行的代码来自：", [c.defined_in for c in lr_calls])  # 你的，以及经由你的 super() 调用的 V2 的
ran_with = [e.lr_next for e in p_trainer["trainer"].explorer.epochs]  # 每个 epoch 结束时为下一个 epoch 设定的学习率
print("每个 epoch 之后设定的学习率：", [round(v, 6) for v in ran_with])

# %% [markdown]
# ## 动量的教训：一个 v1 从不读取的值
#
# V2 的 SGD 动量 0.99 不是属性，而是 `initialize_optimizer_and_scheduler` 中的字面量
# （`torch.optim.SGD(..., momentum=0.99, nesterov=True)`）。因此在 `__init__` 中写 `self.momentum = 0.9` 会被
# **忽略**——v1 忽略它，explorer 也忽略它，因为 explorer 的训练与 v1 完全一样。explorer 会在定义这个类时指出这一点（一个
# `V1IgnoresWarning`，这里把它捕获并打印出来），也会在来源表中指出。

# %%
import warnings
from nnunet_explorer.network_training import V1IgnoresWarning, attribute_provenance

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", V1IgnoresWarning)

    class nnUNetTrainerV2_TinyMomentumIgnored(nnUNetTrainerV2_TinyDS):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.momentum = 0.9  # 没有任何代码读取 self.momentum

ignored = [str(w.message) for w in caught if issubclass(w.category, V1IgnoresWarning)]
print("V1IgnoresWarning:", *ignored)
row = attribute_provenance(nnUNetTrainerV2_TinyMomentumIgnored)["momentum"]  # 这个类的来源表也这样说
print(f"来源表：momentum = {row.value}，设置者 {row.set_by}；历史 {row.chain}")

register_trainer(nnUNetTrainerV2_TinyMomentumIgnored)
p_ignored = training_walkthrough("3d_fullres", "nnUNetTrainerV2_TinyMomentumIgnored", 901, 0)
ignored_optimizer = p_ignored["optimizer"]
print(f"self.momentum = {p_ignored['trainer'].momentum}，但训练实际使用的优化器的 momentum 是 "
      f"{ignored_optimizer.param_groups[0]['momentum']}")

# %% [markdown]
# v1 的做法（v1 自己的 `nnUNetTrainerV2_momentum09` 就是这样做的）是覆盖持有这个字面量的方法：

# %%
import torch

@register_trainer
class nnUNetTrainerV2_TinyMomentum09(nnUNetTrainerV2_TinyDS):
    def initialize_optimizer_and_scheduler(self):
        assert self.network is not None, "self.initialize_network must be called first"
        self.optimizer = torch.optim.SGD(self.network.parameters(), self.initial_lr, weight_decay=self.weight_decay,
                                         momentum=0.9, nesterov=True)
        self.lr_scheduler = None

p_mom = training_walkthrough("3d_fullres", "nnUNetTrainerV2_TinyMomentum09", 901, 0)
optimizer = p_mom["optimizer"]
row09 = p_mom["trainer"].provenance()["momentum"]
print(f"训练器的优化器的 momentum：{optimizer.param_groups[0]['momentum']}（设置者 {row09.set_by}）")

# %% [markdown]
# ### 检查

# %%
assert not report.ok and any("不是 SegmentationNetwork" in e for e in report.errors)
assert report_ok.ok, report_ok
# 覆盖的方法构建了训练所用的网络
tiny_trainer = p_mine["trainer"]
assert isinstance(tiny_trainer.network, TinyDSNet) and p_mine["network"] is tiny_trainer.network
assert p_mine["initialize"].trace.find("initialize_network")[0].defined_in == "nnUNetTrainerV2_TinyDS"
assert len(record.scale_parts) == len(pools) and record.loss == record.loss
# 超参数来自 __init__，训练过程调用了被覆盖的 maybe_update_lr
assert set(mine.overridden) >= {"initial_lr", "max_num_epochs", "num_batches_per_epoch"}
assert "maybe_update_lr" in mine.overridden_hooks
expected = [3e-3 * 1 / 2, 3e-3 * 2 / 2, poly_lr(2, 4, 3e-3, 0.9), poly_lr(3, 4, 3e-3, 0.9)]
assert np.allclose(schedule.lrs, expected, rtol=1e-9, atol=0)
assert len(trained.all_tr_losses) == 4 and "model_final_checkpoint.model" in trained.files
assert np.allclose(ran_with, expected[1:] + [poly_lr(4, 4, 3e-3, 0.9)], rtol=1e-6, atol=1e-12)
assert [c.defined_in for c in lr_calls] == ["nnUNetTrainerV2_TinyWarmup", "nnUNetTrainerV2"]  # 最后一个 epoch：poly
assert end.order.index("maybe_update_lr") > end.order.index("on_epoch_end")
# momentum：作为属性被忽略；覆盖持有它的方法时才生效
assert ignored and "initialize_optimizer_and_scheduler" in ignored[0] and row.value == 0.99 and row.literal
assert ignored_optimizer.param_groups[0]["momentum"] == 0.99 and p_ignored["trainer"].momentum == 0.9
assert optimizer.param_groups[0]["momentum"] == 0.9 and "TinyMomentum09" in row09.set_by
print("07 ok")
