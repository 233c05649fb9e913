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
# # 05 · 现场训练，然后用 `-c` 继续训练
#
# *中文版；英文版见上一级目录的同名 notebook。*
#
# 训练过程属于训练器：`trainer.run_training()` 就是 v1 的训练循环——每个 epoch 先做 `num_batches_per_epoch` 次训练迭代
# （`run_iteration`），再做 `num_val_batches_per_epoch` 次带在线评估的验证迭代，然后调用 `on_epoch_end`（按 v1 的
# 顺序：由验证 batch 算出的本 epoch 全局 Dice、`progress.png`、下一个学习率、每 50 个 epoch 一次的 `model_latest`、
# Dice 的滑动平均，以及该平均值提高时写出的 `model_best`）。explorer 在这个循环的四个命名位置加上*观察者*（observer）：它们在每次
# 训练迭代、每次验证和每个 epoch 之后收到普通的数字（`trainer.explorer.attach(...)`），还有一个停止请求的入口
# （`trainer.explorer.control`）。`TrainingMonitor` 就是一个带停止（Stop）按钮的观察者。这里把训练（v1：1000 个
# epoch × 250 次迭代）缩减到这台机器大约一分钟能完成的量：
#
# * **在 CPU 上**：在合成 CT 任务上训练 6 个 epoch、每个 epoch 10 次迭代，在 2 个核上约 40 s 的训练——足以看到验证
#   patch 上的全局伪 Dice 从接近随机的水平开始上升；
# * **在 GPU 上**（torch 能看到 CUDA）：一个真实的工作量——Colin27 任务（真实 MR，四个深部灰质结构），训练 40 个
#   epoch、每个 epoch 25 次迭代，也就是 `benchmarks/real_sample_learning.py` 的那次训练——数据增强工作进程数取机器
#   核数所允许的最大值（`default_num_processes()`）；`real_sample_learning.py` 在 H200 上用 66 s 训练完这个计划
#   （见 README 的 "On a GPU" 一节）。
#
# 监视器每秒最多重绘两次，并且只在它的开销低于迭代时间的 2 % 时才重新绘图；它自身的开销显示在底部
# （"监视器开销"）。

# %%
from nnunet_explorer.teaching import set_language
set_language("zh")  # 本 notebook 的卡片、表格和图注用中文；set_language("en") 换回英文

# %%
# 图（视图返回的 matplotlib Figure 对象）显示为图片
# %matplotlib inline
import os, pathlib
# 工作区：nnU-Net v1 的三个文件夹（raw、preprocessed、results）。除非你设置了它们（或
# NNUNET_EXPLORER_WORKSPACE），notebook 使用自己旁边的 ./nnunet_workspace。
if not any(os.environ.get(v) for v in ("nnUNet_raw_data_base", "nnUNet_preprocessed", "RESULTS_FOLDER")):
    os.environ.setdefault("NNUNET_EXPLORER_WORKSPACE", str(pathlib.Path("nnunet_workspace").resolve()))
import torch
ON_GPU = torch.cuda.is_available()
if not ON_GPU:
    os.environ.setdefault("nnUNet_n_proc_DA", "1")  # 一个数据增强工作进程：这是一台小 CPU 机器
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

from nnunet_explorer.training.augmenter import default_num_processes
from nnunet_explorer.views.widgets_common import prepare_sample_task
# GPU 训练真实的 Colin27 任务（Task903_ColinDeepGrey），CPU 训练合成 CT 样例（Task901_SyntheticCT）：
# 只写入并预处理一次，之后复用
TASK_ID = 903 if ON_GPU else 901
workspace, TASK = prepare_sample_task(TASK_ID, "real" if ON_GPU else "synthetic-ct")
# GPU 上的 40 x 25 是 benchmarks/real_sample_learning.py 的计划；6 x 10 在 2 核 CPU 上不到一分钟就训练完
KNOBS = dict(max_num_epochs=40, num_batches_per_epoch=25, num_val_batches_per_epoch=4) if ON_GPU else \
    dict(max_num_epochs=6, num_batches_per_epoch=10, num_val_batches_per_epoch=2)
print(workspace.describe()); print("任务:", TASK, "| 训练计划:", KNOBS)
# 设置了 nnUNet_n_proc_DA（v1 的变量）时用它，否则按分到的核数，最多为 v1 的 12
print("数据增强工作进程数:", default_num_processes())

# %% [markdown]
# ## `nnUNet_train` 在调用 `run_training` 之前的训练器
#
# `p.run(until="initialize")` 做的正是 v1 的 `run_training.py` 在训练之前做的事：解析参数、找到配置、构建训练器并调用
# `trainer.initialize(True)`。在 CPU 上，`deterministic=True` 就是 `--deterministic`：训练器用 12345 为 numpy 和
# torch 设定种子，数据增强在本进程中运行，所以每次运行这个 notebook，下面的曲线都一样（在进程内做数据增强是 explorer
# 的做法：v1 的 `--deterministic` 只为主进程设定种子，它的数据增强工作进程不设种子）。在 GPU 上，这次训练不是确定性的，
# 真实的训练也不是：数据增强工作进程抽取随机数，由 GPU 计算变换（`--augment_on
# auto` 在 CUDA 上选择设备路径，训练日志里会写明），正是这一点让 GPU 保持忙碌。
# 设备只选择一次（`device="auto"`：torch 能看到 GPU 时用 GPU，否则用 CPU）。`quiet=True` 让训练日志不出现在 notebook 里（它仍会写入折文件夹），
# `plot_progress=False` 跳过 `progress.png`。

# %%
from nnunet_explorer.walkthrough import training_walkthrough
from nnunet_explorer.views.monitor import TrainingMonitor

DETERMINISTIC = not ON_GPU
p = training_walkthrough("3d_fullres", "nnUNetTrainerV2", TASK_ID, 0, deterministic=DETERMINISTIC, quiet=True,
                         plot_progress=False, overwrite_training=True, **KNOBS)
p.run(until="initialize")
trainer = p["trainer"]
print(trainer, "运行于", trainer.device, "| 折文件夹:", trainer.output_folder)
monitor = TrainingMonitor(trainer.explorer.control,
                          title=f"nnUNet_train 3d_fullres nnUNetTrainerV2 {TASK_ID} 0"
                                + (" --deterministic" if DETERMINISTIC else ""))
monitor

# %% [markdown]
# 折文件夹里可能已经有这个 notebook 之前某次运行留下的检查点。v1 会从头开始，悄悄地覆盖它们。`nnunet-explorer train`
# （以及 walkthrough 的 `training_epochs` 步骤）除非得到明确要求——`overwrite_training=True`，命令行上是
# `--overwrite_training`——否则拒绝这样做，免得忘了加 `-c` 就毁掉一次很长的训练。这个 notebook 自己调用
# `trainer.run_training()`，所以要先手动做这项检查。训练结束时它写出 `model_final_checkpoint.model` 并删除
# `model_latest.model`，与 v1 相同，因此不会留下之前运行的检查点被下面的 `-c` 拾取。
#
# 训练在后台线程中运行（`run_in_background`），所以 kernel 保持空闲，训练期间点击**停止**（Stop）能传到循环里（如果一个
# cell 自己运行循环，点击会被挡住，直到循环结束）。这个 cell 等待结果，只是为了让后面的 cell 看到已完成的训练；训练期间，
# 上面的监视器会持续更新。

# %%
from nnunet_explorer.network_training import run_in_background
from nnunet_explorer.run.run_training import TrainRequest, check_fold_folder

# 构建 walkthrough 所用的请求：v1 的开关和 explorer 的选项
request = TrainRequest(p["parsed_arguments"], p.params("trainer")["options"])
check_fold_folder(trainer, request)  # 通过：overwrite_training=True

handle = run_in_background(trainer, [monitor])  # 在一个线程中运行 trainer.run_training()，并接上监视器
first = handle.result(timeout=1200)             # 训练结束后得到 trainer.explorer.result
print(first.summary())
print(monitor)
dice = [e.mean_global_dice for e in first.epochs]
print("每个 epoch 的全局伪 Dice:", " ".join(f"{d:.3f}" for d in dice))

# %% [markdown]
# 训练结束后监视器的图：损失及其两个部分、每个类别的全局 Dice 及其均值的滑动平均（v1 按这个平均值选出 `model_best`）、
# 学习率，以及每个 epoch 中**计算**与**等待数据**各花了多少秒。"等待数据"的柱子很高，说明数据增强工作进程跟不上网络——
# 这是 nnU-Net v1 在快速 GPU 上常见的瓶颈（增加工作进程：`nnUNet_n_proc_DA`）。

# %%
data_wait, compute = sum(monitor.state.epoch_data_s), sum(monitor.state.epoch_compute_s)
print(f"等待数据 {data_wait:.1f} s，计算 {compute:.1f} s"
      f"（训练时间的 {100 * data_wait / (data_wait + compute):.0f} % 在等待数据）")
monitor.figure()

# %% [markdown]
# 折文件夹中是 v1 的文件：最终检查点（以及 `model_best.model`，每当 Dice 的滑动平均提高时写出）和它们配套的 `.pkl`、
# `debug.json`，以及在这一折中写过日志的每个训练器各一个 `training_log_*.txt`——这些 notebook 里每个
# `nnUNetTrainerV2` fold 0 的 walkthrough 都会初始化一个训练器并开始一个日志，就像 v1 中每次调用 `nnUNet_train` 一样。

# %%
import os
def fold_files(folder):
    names = sorted(os.listdir(folder))
    logs = [n for n in names if n.startswith("training_log_")]
    return [n for n in names if n not in logs] + [f"……以及 {len(logs)} 个 training_log_*.txt"]
print(fold_files(first.output_folder))

# %% [markdown]
# > **在 GPU 上**，这些 cell 训练的是真实样例：`prepare_sample_task(903, "real")` 写入 Colin27 深部灰质任务（MR，四个
# > 结构），40 × 25 的计划就是 `benchmarks/real_sample_learning.py` 的那次训练，它在留出的 Colin27 裁剪区域上达到了
# > 0.87 的平均前景 Dice（见 README）。在 2 个 CPU 核上每个 epoch 约需 96 s，所以 CPU 训练的是合成任务。
#
# ## 用 `-c` 继续训练，以及停止按钮
#
# 使用 `-c` 时，v1 的 `run_training.py` 和之前完全一样地构建并初始化一个新的训练器，然后在 `trainer.run_training()`
# 之前调用 `trainer.load_latest_checkpoint()`。它加载 `model_final_checkpoint.model`，没有时加载 `model_latest.model`，
# 再没有时加载 `model_best.model`，并恢复权重、优化器状态、epoch 计数和记录下的曲线；循环从下一个 epoch 继续。上面的
# 训练已经结束，所以 `-c` 会找到 `model_final_checkpoint.model`（CPU 上是 epoch 6，GPU 上是 40）；为了有东西可以继续
# 训练，我们把 `max_num_epochs` 增加 2（CPU 上变为 8）。
#
# **v1 的一个陷阱：** poly 学习率是由 `max_num_epochs` 算出来的，所以改了它再续训，学习率会跳变：在 CPU 上，按 6 个
# epoch 的预算，为 epoch 6 设的学习率恰好是 0；按 8 个 epoch 的预算，V2 的 `run_training` 在续训的第一个 epoch 之前把它
# 重新设为 `0.01 * (1 - 6/8) ** 0.9`（GPU 上：epoch 40，共 42 个，`0.01 * (1 - 40/42) ** 0.9`）。

# %%
from nnunet_explorer.training.lr_schedule import poly_lr

RESUMED_BUDGET = KNOBS["max_num_epochs"] + 2
p2 = training_walkthrough("3d_fullres", "nnUNetTrainerV2", TASK_ID, 0, continue_training=True,
                          deterministic=DETERMINISTIC, quiet=True, plot_progress=False, **dict(KNOBS, max_num_epochs=RESUMED_BUDGET))
p2.run(until="initialize")
trainer2 = p2["trainer"]
check_fold_folder(trainer2, TrainRequest(p2["parsed_arguments"], p2.params("trainer")["options"]))  # -c：允许
trainer2.load_latest_checkpoint()  # 这就是 -c 在 run_training 之前做的事
print(f"从 epoch {trainer2.epoch} 继续（共 {trainer2.max_num_epochs} 个）；恢复了 {len(trainer2.all_tr_losses)} 个 epoch 的"
      "曲线")
lr_old_budget = first.epochs[-1].lr_next  # 第一次训练在最后一个 epoch 之后为下一个 epoch 设定的学习率
lr_new_budget = poly_lr(trainer2.epoch, trainer2.max_num_epochs, trainer2.initial_lr, 0.9)
print(f"epoch {trainer2.epoch} 的学习率：max_num_epochs={KNOBS['max_num_epochs']} 时为 {lr_old_budget:.5f}，"
      f"max_num_epochs={RESUMED_BUDGET} 时为 {lr_new_budget:.5f}")

# %% [markdown]
# 为了让这个 notebook 也能无人值守地运行，一个很小的观察者在续训的第一个 epoch 结束时替我们点击停止。这个按钮调用
# `trainer2.explorer.control.request_stop(...)`；循环在每次迭代之后、每个 epoch 开始之前检查这个请求，所以这里训练在
# epoch 7 开始之前结束，用已完成的 epoch 写出 `model_latest.model`，结果中会说明停止的原因。

# %%
monitor2 = TrainingMonitor(trainer2.explorer.control, title=f"... -c（续训，max_num_epochs {RESUMED_BUDGET}）")
display(monitor2)

class ClickStopAfterFirstEpoch:
    def on_epoch_end(self, event):
        monitor2.stop_button.click()  # 与在浏览器里点击完全一样

second = run_in_background(trainer2, [monitor2, ClickStopAfterFirstEpoch()]).result(timeout=600)
print(second.summary())
print(monitor2)
print(fold_files(second.output_folder))

# %% [markdown]
# 续训的 epoch 进度条在 CPU 上从 epoch 6（共 8 个）开始（GPU 上是 40，共 42 个）：监视器收到了 `start_epoch=6`（40）和
# `resumed=True`，它的第一次迭代用的是按新预算算出的学习率。点击停止之后，训练在一个 epoch 后结束，留下
# `model_latest.model`（7 个已完成的 epoch；GPU 上是 41 个）。**v1 的第二个陷阱：** `-c` *不会*从那里继续。第一次
# 训练的 `model_final_checkpoint.model`（epoch 6；GPU 上是 40）仍在文件夹里，而 `load_latest_checkpoint` 优先加载它
# （见上面的顺序），所以 `-c` 会再次从 epoch 6（40）开始，丢掉刚刚训练的那个 epoch（explorer 的 `-c` 在加载之前会用一条
# 警告说明这一点）：要从 `model_latest.model` 续训，先把最终检查点移走。（这个 notebook 下次运行时则用
# `overwrite_training=True` 从头开始。）

# %% [markdown]
# ### 检查

# %%
import math
from nnunet_explorer.training.pretrained import read_checkpoint
assert not first.stopped_early and len(first.epochs) == KNOBS["max_num_epochs"]
assert first.final_checkpoint is not None and first.final_checkpoint.is_file()
# 网络在学习：最后一个 epoch 的全局伪 Dice 超过第一个 epoch 的两倍，并且高于 0.5
assert dice[-1] > max(0.5, 2 * dice[0]), dice
assert monitor.state.start.start_epoch == 0 and len(monitor.state.epochs) == KNOBS["max_num_epochs"]
# -c：续训从第一次训练的最后一个 epoch 之后开始（CPU 上为 6/8，GPU 上为 40/42），停止按钮在这一个 epoch 之后
# 结束训练，留下 model_latest
assert monitor2.state.start.resumed and monitor2.state.start.start_epoch == KNOBS["max_num_epochs"]
assert monitor2.state.start.max_num_epochs == RESUMED_BUDGET
assert second.stopped_early and len(second.epochs) == 1 and "停止按钮" in second.reason
latest = second.output_folder / "model_latest.model"
assert latest.is_file() and read_checkpoint(latest)["epoch"] == KNOBS["max_num_epochs"] + 1
# ……但第一次训练的最终检查点还在，而 -c 优先加载它
final = second.output_folder / "model_final_checkpoint.model"
assert final.is_file() and read_checkpoint(final)["epoch"] == KNOBS["max_num_epochs"]
assert lr_old_budget < 1e-9 < lr_new_budget and math.isclose(monitor2.state.iter_lr[0], lr_new_budget, rel_tol=1e-6)
assert monitor.overhead_seconds > 0 and monitor.overhead_fraction < 0.05, monitor
# 计算与等待数据的图每个 epoch 有一对柱子，循环测量了这两部分
assert len(monitor.state.epoch_compute_s) == KNOBS["max_num_epochs"] and compute > 0 and data_wait >= 0
log = pathlib.Path(trainer.log_file).read_text()
# 数据增强在哪里计算：GPU 上走设备路径（--augment_on auto），CPU 上在本进程中
assert ("运算在 cuda" in log) if ON_GPU else ("数据增强：batchgenerators 在训练进程中" in log)
print(f"监视器开销：{100 * monitor.overhead_fraction:.2f} % 和 {100 * monitor2.overhead_fraction:.2f} %")
print(f"全局伪 Dice {dice[0]:.3f}（epoch 0）-> {dice[-1]:.3f}（epoch {len(dice) - 1}）")
print("05 ok")
