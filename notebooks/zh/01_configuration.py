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
# # 01 · 从 `nnUNet_train` 到配置
#
# *这是中文版；英文版见上一级目录的同名 notebook。*
#
# `nnUNet_train 3d_fullres nnUNetTrainerV2 901 0` 运行的是 v1 的 `nnunet/run/run_training.py`。在加载任何一个
# 体素之前，`main()` 先做三件事：
#
# 1. **解析参数**（network、trainer、task、fold 以及 16 个可选参数），
# 2. 把**任务编号**转换成任务文件夹名（`901` → `Task901_SyntheticCT`），
# 3. 调用 **`get_default_configuration`**：它读取 plans 文件，决定用哪个 stage、Dice 损失是否在整个 batch 上
#    计算（`batch_dice`）、结果写到哪里，以及用哪个训练器类。
#
# 这个 notebook 用 `training_walkthrough` 一步一步地运行这些步骤，给出每个值背后的*原因*，还让你改动一个参数，
# 看看随之会发生什么。

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
# ## 逐步演练（walkthrough）
#
# `training_walkthrough` 接受的参数与 `nnUNet_train` 完全相同，返回一个由步骤组成的 *pipeline*。在你请求某一步
# 之前，什么都不会运行；每一步的结果都会缓存，重新运行某一步会丢弃它下游的所有结果。

# %%
from nnunet_explorer.walkthrough import training_walkthrough
p = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0)
p

# %%
args = p.run(until="parsed_arguments")
args

# %% [markdown]
# v1 的参数解析器有两个值得知道的细节：混合精度默认**打开**（`--fp32` 才关闭）；`--val_disable_overwrite` 是反的
# ——*除非*你传入这个开关，否则它的值是 `True`。

# %%
print("run_mixed_precision:", p["parsed_arguments"].run_mixed_precision)
print("val_disable_overwrite:", p["parsed_arguments"].val_disable_overwrite)
p.run(until="task_name")

# %% [markdown]
# ## `get_default_configuration`
#
# 这是 v1 在每次训练开始时打印的那一段文字，后面是一张卡片，给出每个返回值背后的规则。

# %%
cfg = p["configuration"]
print(cfg.printed_text)

# %%
from nnunet_explorer.views.cards import configuration_card
configuration_card(cfg)

# %% [markdown]
# ## plans，以及它们为什么是这样
#
# plans 是实验规划器写出的（`nnunet-explorer plan_and_preprocess`）。`explain_plans` 在*内存中*用同一个数据指纹
# 重新运行规划器，并记录它用到的每一条规则，所以下面每个值都附带算出它的那些数字：patch 大小从沿最粗轴 512 个
# 体素起步（各轴的 mm 长度相同；v1 的注释称之为 512 mm），再裁剪到中位病例的大小；batch 的上限是
# round(数据集体素的 5 % / patch 体素数)，其中数据集体素按中位病例 × 裁剪后的病例数计算，这个上限不低于 2（在这个
# 很小的任务上，5 % 的上限会是 0，所以 batch 为 2 就是这个下限）；等等。

# %%
from nnunet_explorer.planning.plans import Plans
from nnunet_explorer.views.cards import explain_plans, plans_card
plans = Plans.from_file(cfg.plans_file)
print(plans.summarize())

# %%
decisions = explain_plans(TASK, workspace)
card = plans_card(plans, decisions)
card

# %% [markdown]
# ## 练习：预测另一种 spacing 下的 patch 大小，再用 `replan` 检验
#
# `planning.replan` 接受一个 plans 文件（你在真实的 v1 运行中得到的，或者这里这个），在其中存储的数据指纹
# （`dataset_properties`）上重新运行 v2.1 规划器，并告诉你它能否复现存储的 plans；它的 trace 解释每一个值。
# 先用原样的 plans 试一下：

# %%
from nnunet_explorer.planning.replan import replan
again = replan(cfg.plans_file)
print("能复现存储的 plans：", again.matches)
print([d.text for d in again.trace if d.key == "patch_size"][0])

# %% [markdown]
# 现在假设每个病例扫描时的**平面内 spacing 都大一倍**（1.6 mm 而不是 0.8 mm，所以平面内的体素数减半；层间距
# 仍是 3 mm）。在运行下一个单元格之前，**先预测新的 `patch_size`**。需要用到的规则都在上面的 trace 里：
#
# 1. 目标 spacing 是各轴 spacing 的中位数（这里不适用各向异性规则），中位形状在这个 spacing 下计算；
# 2. patch 起步是一个沿最粗轴 512 个体素、其他轴上 mm 长度相同的盒子（v1 的注释说是 512 mm，只有在 1 mm
#    spacing 下才成立），再裁剪到中位形状（在这个很小的任务上，显存代理量从来不会迫使它变小）；
# 3. 只要某个轴当前的 spacing 小于当前最细 spacing 的两倍、且它当前至少还有 8 个体素（这样最小的特征图至少保留
#    4 个体素），就沿这个轴池化；池化使这个轴的大小减半（向上取整）、spacing 加倍；然后把 patch 在每个轴上填充到
#    `2**pools` 的倍数。
#
# 把你的答案写进 `my_patch`（单元格里的值就是答案：改掉它来自测）。

# %%
import copy
import numpy as np
my_patch = [16, 20, 20]  # 你对 (z, y, x) 的预测

coarser = copy.deepcopy(plans.to_dict())
factor = np.array([1, 2, 2])
props = coarser["dataset_properties"]
props["all_spacings"] = [np.asarray(s, dtype=float) * factor for s in props["all_spacings"]]
props["all_sizes"] = [tuple(int(round(n)) for n in np.asarray(s) / factor) for s in props["all_sizes"]]
replanned = replan(coarser)
new_stage = replanned.plans["plans_per_stage"][len(replanned.plans["plans_per_stage"]) - 1]
print([d.text for d in replanned.trace if d.key == "patch_size"][0])
print("pool_op_kernel_sizes:", new_stage["pool_op_kernel_sizes"], "(之前：", plans.stage(0)["pool_op_kernel_sizes"], ")")
print("与存储的 plans 的差异：", *replanned.differences[:3], sep="\n  ")

# %%
assert [int(v) for v in new_stage["patch_size"]] == my_patch, \
    f"规划器给出的是 {list(new_stage['patch_size'])}：见上面的 trace（平面内 18 个体素，2 次池化）"
print("答对了：平面内 1.6 mm 时，各轴的各向异性已不足以先在平面内池化；18 个体素允许每个轴池化 2 "
      "次，所以 patch 就是中位形状填充到 4 的倍数")

# %% [markdown]
# ## 改一个参数，看看随之发生什么
#
# `batch_dice` 取决于网络和 stage 的数量：`2d`，以及 plans 有两个 stage 时的 `3d_fullres` / `3d_cascade_fullres`，
# 在整个 batch 上计算 Dice；`3d_lowres` 和单 stage 的 `3d_fullres` 用样本 Dice。改动第一步的 `network` 参数；
# pipeline 会丢弃它之后的所有步骤，并重新计算配置。

# %%
p.rerun("parsed_arguments", network="2d")
cfg_2d = p["configuration"]
print("2d:", cfg_2d.summary())
configuration_card(cfg_2d).row("batch_dice")

# %% [markdown]
# 同样的事，用控件来做：选一个步骤、运行到它、换一个种子重新运行它，或者用自动生成的控件修改它的仅限关键字
# 参数（即它的 *knobs*）。

# %%
p.rerun("parsed_arguments", network="3d_fullres")
from nnunet_explorer.views.step_runner import StepRunner
runner = StepRunner(p, initial="configuration")
runner.run_to()
runner

# %%
print(p.summary(until="configuration"))

# %% [markdown]
# ### 检查（notebook 的测试会运行这些检查）

# %%
assert cfg.batch_dice is False and cfg.stage == plans.num_stages - 1
assert cfg_2d.batch_dice is True and cfg_2d.plans_file.name.endswith("_plans_2D.pkl")
assert card.row("patch_size").rule and "中位" in card.row("patch_size").why
assert runner.last_error is None and "configuration" in runner.status.value
assert again.matches and not replanned.matches and [int(v) for v in new_stage["patch_size"]] == my_patch
print("01 ok")
