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
# # 00 · 跟着原博客读 `run_training.py`
#
# 原博客逐行讲解 nnU-Net v1 的 `python nnunet/run/run_training.py 3d_fullres nnUNetTrainerV2 40 1`（KiTS19，
# 肾脏与肾肿瘤 CT）。这个 notebook 在博客自己的任务上、按博客的章节（3 设置训练参数、4 get_default_configuration、
# 5 trainer / initialize、6 Generic_UNet、7 训练过程）依次运行同一条命令的每一步，并把每一步的卡片显示出来：
# v1 打印了什么、得到了哪些值、v1 为什么这样做，以及博客与 v1 1.7.1 不一致的地方（勘误）。
#
# 任务：`nnunet-explorer sample kits19` 写入的 `Task040_KiTS`——KiTS19 的 210 例数据指纹（规划只读指纹，不读体素；
# v1 的 5 % batch 上限按 cropped 文件夹里 .npz 文件的个数计病例数，样例的 plans 按 210 例计算，在这个任务上两种算法
# 的结果相同），已规划、已预处理，外加 5 个 40×96×96 的小病例，好让数据相关的步骤能运行。
#
# *English: this notebook follows the Chinese blog on `run_training.py 3d_fullres nnUNetTrainerV2 40 1` section by
# section, on the blog's own task (the KiTS19 sample). The cards are in Chinese; `set_language("en")` switches them.*

# %%
# %matplotlib inline
import os, pathlib
# 工作区：v1 的三个文件夹（raw、preprocessed、results）。没有设置时，notebook 使用旁边的 ./nnunet_workspace。
if not any(os.environ.get(v) for v in ("nnUNet_raw_data_base", "nnUNet_preprocessed", "RESULTS_FOLDER")):
    os.environ.setdefault("NNUNET_EXPLORER_WORKSPACE", str(pathlib.Path("nnunet_workspace").resolve()))
os.environ.setdefault("nnUNet_n_proc_DA", "1")  # 一个数据增强进程：这是一台小 CPU 机器
import torch
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

from nnunet_explorer.teaching import set_language
set_language("zh")  # 卡片用中文；set_language("en") 换回英文

from nnunet_explorer.views.widgets_common import prepare_sample_task
workspace, TASK = prepare_sample_task(40, "kits19")  # 博客的 Task040_KiTS：只写一次，之后复用
print(workspace.describe()); print("task:", TASK)

from nnunet_explorer.walkthrough import training_walkthrough
p = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 40, 1)  # 就是 run_training.py 3d_fullres nnUNetTrainerV2 40 1
p

# %% [markdown]
# ## 3 设置训练参数
#
# `run_training.py` 的 `main()` 先用 argparse 解析四个位置参数（network、network_trainer、task、fold）和 16 个可选参数。
# 两个容易看错的细节：混合精度默认**打开**（`--fp32` 才关闭）；`--val_disable_overwrite` 是反的——不传这个开关时它的值
# 是 `True`。fold 经过 `int()`，`all` 例外。

# %%
p.run(until="parsed_arguments")
args = p["parsed_arguments"]
print("run_mixed_precision:", args.run_mixed_precision, "| val_disable_overwrite:", args.val_disable_overwrite,
      "| fold:", repr(args.fold_value()))
p.results["parsed_arguments"]

# %% [markdown]
# ## 4 get_default_configuration
#
# v1 在每次训练开始时打印的那一段文字（这里逐字复现），后面是卡片：每一行是什么意思（`use_mask_for_norm`、
# `keep_only_largest_region`、`normalization_schemes`、`original_spacing` 与 `current_spacing` …）。

# %%
p.run(until="configuration")
cfg = p["configuration"]
print(cfg.printed_text)

# %%
p.results["configuration"]

# %% [markdown]
# ### 博客的 plans 不是 v1 规划器算出来的
#
# 博客打印的是 patch 80×160×160、batch 3。用同一个数据指纹重新运行 v1 1.7.1 的 `ExperimentPlanner3D_v21`，得到的是
# **96×160×160、batch 2**（样例里另存为 `-p nnUNetPlansv2.1_asPlanned`）。`check_plans` 逐项比较存储的 plans 和规划器
# 重新算出的值——这也是调试功能：很多人手工改过 plans。博客的 plans 是怎么来的（手工修改、v1 的
# `change_batch_size.py`、改过的规划器、别的版本），博客没有说，我们也不知道。

# %%
from nnunet_explorer.planning.replan import check_plans
check = check_plans(cfg.plans_file)
for d in check.differences:
    print(d.text())

# %% [markdown]
# ## 5 trainer / initialize
#
# ### `recursive_find_python_class`
#
# v1 按名字找训练器类：按文件名顺序逐个导入一个文件夹里的普通模块，找到同名属性就停止；都没有时才进入子包。卡片列出这次真正导入的模块（按顺序）和在哪里找到。
# 它返回的是**类对象**，不是博客写的字符串 `'nnUNetTrainerV2'`。

# %%
p.run(until="trainer_class")
p.results["trainer_class"]

# %% [markdown]
# ### 训练器：`NetworkTrainer > nnUNetTrainer > nnUNetTrainerV2`
#
# 表中列出每个超参数由谁设置：大多数是类层次中某个 `__init__` 里的赋值。注意蓝色的几行：动量 0.99、Nesterov、梯度裁剪 12、poly 指数 0.9 在 v1 里
# **不是属性**，而是写死在方法里的字面量；在 `__init__` 里写 `self.momentum = 0.9` 在 v1 中不起作用——要改它，就覆盖
# `initialize_optimizer_and_scheduler`（v1 自己的 `nnUNetTrainerV2_momentum09` 正是这样做的）。

# %%
p.run(until="trainer")
p.results["trainer"]

# %% [markdown]
# ### `initialize`
#
# `run_training.py` 调用一次 `trainer.initialize(not validation_only)`。卡片记录它真正调用的每个 v1 方法及其设置的属性；
# 后面各步只是查看同一个训练器对象上的结果。

# %%
p.run(until="initialize")
p.results["initialize"]

# %%
p.run(until="dataloader")
print(p["plans_processed"].summary())
print(p["split"].summary())
p.results["plans_processed"]

# %%
p.results["deep_supervision"]

# %% [markdown]
# ## 6 Generic_UNet
#
# V2 传给 `Generic_UNet` 的是 `Conv3d`、`InstanceNorm3d`、带步长的卷积下采样和转置卷积上采样（博客列出的参数是函数签名的
# 默认值：`Conv2d`、`BatchNorm2d`——见 `network` 步骤卡片 `p.results["network"]` 里的勘误）。30,785,984 个参数。

# %%
p.run(until="architecture")
p.results["architecture"]

# %% [markdown]
# ## 7 训练过程
#
# `run_training` 先用 `maybe_update_lr` 设定学习率（poly：`0.01 × (1 − epoch/1000)^0.9`），每个 epoch 训练 250 个
# batch、验证 50 个 batch。先看学习率曲线和一个真实的增强后 batch（红框：数据加载器强制包含前景的样本）。

# %%
p.run(until="batch")
p.results["lr_schedule"]

# %%
p.results["batch"]

# %% [markdown]
# ### `run_iteration`：前向、损失、反向、`unscale_`、裁剪到 12、一步 SGD
#
# 在博客的尺寸（3 × 80×160×160）上，一次迭代在 2 个 CPU 核上约需 2 分钟，内存约 14 GB；有 GPU（或设置
# `NNX_BLOG_FULL_ITERATION=1`）时这里在 KiTS19 的网络上运行。否则，同一段 `run_iteration` 代码在合成任务 901（patch 16×40×40）上运行——代码相同，只是尺寸小。
# 卡片也在 CPU 上演示 v1 的 fp16 分支：`GradScaler` 的缩放因子、为什么先 `unscale_` 再裁剪、以及溢出时被跳过的一步。

# %%
FULL = torch.cuda.is_available() or os.environ.get("NNX_BLOG_FULL_ITERATION") == "1"
if FULL:
    it_pipeline = p
else:
    prepare_sample_task(901)
    it_pipeline = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0)
it_pipeline.run(until="iteration")
look = it_pipeline["iteration"]
print(look.fp16_text())
it_pipeline.results["iteration"]

# %%
# 检查：这个 notebook 讲的每个数字都来自真正运行的结果
arch = p["architecture"]
assert arch.total_params == 30_785_984, arch.total_params
assert list(p["plans_processed"].patch_size) == [80, 160, 160] and p["plans_processed"].batch_size == 3
patch = check.difference("patch_size", 0)
assert patch is not None and list(patch.recomputed) == [96, 160, 160], check.differences
search = p.results["trainer_class"].look
assert search.found is p["trainer_class"] and search.visits[-1].has_name
assert p["trainer"].network is p["network"]  # 后面的步骤看的是同一个训练器对象
mp = look.mixed_precision
assert mp.overflow.found_inf and not mp.overflow.weights_changed and mp.overflow.scale_after == mp.overflow.scale / 2
set_language(None)
print("00 ok")
