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
# # 04 · 一次训练迭代
#
# *这是中文版；英文版见上一级目录的同名 notebook。*
#
# `run_iteration` 是训练的核心：前向传播、深度监督损失、反向传播、把梯度裁剪到范数 12、一步 SGD。v1 的训练循环
# 在每个 epoch 中调用训练器的 `run_iteration` `num_batches_per_epoch` 次。walkthrough 的 `iteration` 步骤对同一个
# 训练器调用同一个方法一次，输入是 notebook 03 中用种子生成的 batch（`batch` 步骤），并打开在线评估（v1 只在验证
# batch 上做在线评估；walkthrough 在这个训练 batch 上打开它，是为了展示它计算什么）；之后它把权重、
# 优化器状态和随机数流恢复原样，所以这次查看不会改变之后的训练。这个 notebook 逐一查看这一次迭代的每个部分。

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

# %%
from nnunet_explorer.walkthrough import training_walkthrough
p = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0)
trainer = p["trainer"]
print("这个步骤调用的方法：", type(trainer).run_iteration.__qualname__)
record = p["iteration"]
record

# %% [markdown]
# ## 逐项看损失
#
# 每个输出的损失是 `CE + (-soft Dice)`（Dice 不计背景，smooth 为 1e-5）。总损失是各输出损失的加权和。分辨率最低的
# 输出权重为 0：v1 根本不计算它的损失。由于 Dice 这一项是*负的*，训练效果变好时损失会降到零以下。

# %%
for part in record.scale_parts:
    if part.computed:
        print(f"输出 {part.index}：权重 {part.weight:.3f}  CE {part.ce:.4f}  Dice 项 {part.dice:.4f}"
              f"  -> 加权后 {part.weighted:.4f}")
    else:
        print(f"输出 {part.index}：权重 {part.weight:.3f}  （未计算）")
print("总损失：", round(record.loss, 4))

# %% [markdown]
# ## 梯度与梯度裁剪
#
# `backward()` 之后，V2 把全局梯度范数裁剪到 12（`clip_grad_norm_`）。训练初期范数通常远低于 12，所以裁剪什么也
# 不改变；它防范的是偶尔出现的尖峰。

# %%
print("裁剪前的梯度范数：", record.grad_norm_before_clip, "裁剪后：", record.grad_norm_after_clip,
      "是否裁剪：", record.clipped)
print(f"耗时：前向+损失 {record.seconds_forward:.2f} s，反向+更新 {record.seconds_backward:.2f} s")

# %% [markdown]
# > **博客勘误。** 博客讲解的 `run_iteration` 是 `NetworkTrainer.run_iteration`
# > （`network_training/network_trainer.py`）：前向、损失、`backward()`、`optimizer.step()`——没有梯度裁剪。
# > `nnUNetTrainerV2` 覆盖了它（`network_training/nnUNetTrainerV2.py`）：在 `backward()` 之后（fp16 下梯度先由
# > `GradScaler` 做 unscale）调用 `torch.nn.utils.clip_grad_norm_(self.network.parameters(), 12)`；V2 覆盖的
# > `run_online_evaluation` 也只评估最高分辨率的输出。上面的记录是 V2 的版本。

# %% [markdown]
# ## 混合精度
#
# 除非给出 `--fp32`，`nnUNet_train` 都用混合精度训练：前向传播和损失计算用 autocast，再用一个 `GradScaler`
# 在 `backward()` 之前放大损失（并跳过梯度溢出的那一步）。autocast 只在 CUDA 上起作用，所以在 CPU 上 v1 反正是用 float32
# 训练——这里的记录显示的正是这一点。
#
# 为了在 CPU 上也不错过这一课，这个步骤还把 v1 的 fp16 分支作为一次*查看*运行一遍（在 batch 的一个裁剪块上，
# 使用训练器的网络、损失和优化器，什么都不保留）：半精度下的损失、放大后的损失、unscale 之后的梯度，以及梯度
# 溢出时 `GradScaler` 怎么做——它跳过这一步（权重保持不变），并把缩放因子减半。

# %%
print("请求 fp16：", p["parsed_arguments"].run_mixed_precision, "| 实际使用：", record.fp16_used,
      "| 设备：", record.device)
print(record.fp16_text())

# %%
mp = record.mixed_precision
assert mp.overflow.found_inf and not mp.overflow.weights_changed
assert mp.overflow.scale_after == mp.overflow.scale / 2  # 溢出使缩放因子减半，并跳过这一步

# %% [markdown]
# ## 每个输出预测了什么
#
# （未训练的）网络在这个 batch 上做一次前向传播：每个输出的 argmax 与为它下采样的目标并排显示。未经训练，预测只是
# 噪声——重点在形状：每个输出都比上一个小，缩小的倍数是该层的池化核（`pool_op_kernel_sizes`；这里第一个是
# [1, 2, 2]，所以 16×40×40 -> 16×20×20 -> 8×10×10），它的目标也一样。

# %%
import torch
net = p["network"]; batch = p["batch"]
net.eval()
with torch.no_grad():
    outputs = net(torch.as_tensor(batch.data))
print("输出形状：", [tuple(o.shape[2:]) for o in outputs], "| 池化核：",
      [list(k) for k in trainer.net_num_pool_op_kernel_sizes])
from nnunet_explorer.views.browsers import DeepSupervisionView
ds_view = DeepSupervisionView(outputs, batch.target, weights=p["deep_supervision"].weights)
ds_view

# %% [markdown]
# ## 练习：均匀的深度监督权重
#
# v1 给输出 `i` 的权重是 `1 / 2**i`，把分辨率最低的输出权重设为 0，再把其余权重归一化使其和为 1（`ds_loss_weights`）。
# 假设你把所有权重设成相等（每个都是 `1/n`，就像 `MultipleOutputLoss2` 在 `weight_factors=None` 时那样，只差一个
# 因子 n）。**运行单元格之前先回答：**(a) 一个输出的 CE 和 Dice 值会变吗？(b) 哪个之前被跳过的输出现在会被计算？
# (c) 用各输出的损失来表示，均匀权重下的总损失是什么？单元格在同一组输出（上面那次前向传播）上计算两种损失，
# assert 检查答案：(a) 不会，权重只缩放每个输出的 `CE + (-Dice)`；(b) 分辨率最低的那个；(c) 它们的简单平均。

# %%
import numpy as np
from nnunet_explorer.training.loss import MultipleOutputLoss2
targets = [torch.as_tensor(t) for t in batch.target]
v1_weights = np.asarray(p["deep_supervision"].weights, dtype=float)
uniform = np.full(len(outputs), 1.0 / len(outputs))
with torch.no_grad():
    v1_total, v1_parts = MultipleOutputLoss2(p["loss"].loss, v1_weights).forward_with_parts(list(outputs), targets)
    uni_total, uni_parts = MultipleOutputLoss2(p["loss"].loss, uniform).forward_with_parts(list(outputs), targets)
print("   输出 | v1 权重    CE      Dice    | 均匀权重        CE      Dice")
for a, b in zip(v1_parts, uni_parts):
    left = f"{a.weight:.3f}  {a.ce:.4f}  {a.dice:.4f}" if a.computed else f"{a.weight:.3f}  （未计算）     "
    print(f" {a.index:6d} | {left} | {b.weight:.3f}           {b.ce:.4f}  {b.dice:.4f}")
share_v1 = v1_parts[0].weighted / float(v1_total)
share_uni = uni_parts[0].weighted / float(uni_total)
print(f"总损失：v1 {float(v1_total):.4f}，均匀 {float(uni_total):.4f}；全分辨率输出在"
      f"损失中的占比：v1 {100 * share_v1:.0f} %，均匀 {100 * share_uni:.0f} %")

# %%
computed_v1 = [a for a in v1_parts if a.computed]
assert all(np.isclose(a.ce, b.ce) and np.isclose(a.dice, b.dice) for a, b in zip(computed_v1, uni_parts))  # (a)
assert not v1_parts[-1].computed and uni_parts[-1].computed  # (b)
assert np.isclose(float(uni_total), np.mean([b.total for b in uni_parts]), rtol=1e-5)  # (c)
print("答对了：权重只决定每个输出的 CE + (-Dice) 占多大分量；均匀权重还会训练"
      "最粗的那个输出头，并让全分辨率输出的分量变小")

# %% [markdown]
# ### 检查

# %%
import math
computed = [part for part in record.scale_parts if part.computed]
assert math.isclose(record.loss, sum(part.weighted for part in record.scale_parts), rel_tol=1e-4, abs_tol=1e-5)
assert len(record.scale_parts) == len(p["deep_supervision"].weights) and not record.scale_parts[-1].computed
assert all(part.dice <= 0 for part in computed)
assert record.grad_norm_before_clip is not None and record.grad_norm_after_clip <= 12.0 + 1e-3
assert record.fp16_used == (record.device.startswith("cuda") and trainer.fp16)  # autocast：只在 CUDA 上
assert record.learning_rate == trainer.optimizer.param_groups[0]["lr"] == 1e-2
assert not trainer.optimizer.state_dict()["state"]  # 只是查看：没有保留动量缓冲
assert [tuple(o.shape[2:]) for o in outputs] == [tuple(t.shape[2:]) for t in batch.target]
assert uni_parts[-1].computed and np.isclose(float(uni_total), np.mean([b.total for b in uni_parts]), rtol=1e-5)
print("04 ok")
