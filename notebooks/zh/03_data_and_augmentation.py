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
# # 03 · 数据加载与数据增强
#
# *这是中文版；英文版见上一级目录的同名 notebook。*
#
# 训练用的是 patch，而不是完整的病例（比 patch 小的病例会被整个放进去，再做填充）。数据加载器从随机选出的训练病例
# 中切出 patch——每个 batch 中约三分之一被强制包含前景（本任务的 batch 大小为 2：2 个样本中的一个，见练习 1）——
# 然后 "moreDA" 数据增强流程按下面的顺序执行各步，每一步对每个样本以各自的概率触发：旋转和缩放（各 0.2）、
# 高斯噪声（0.1）、模糊（0.2）、亮度（0.15）、对比度（0.15）、模拟低分辨率（0.25）、gamma（先是反转的 0.1，
# 再是普通的 0.3）和镜像（每个轴 0.5）；弹性形变也有，但 V2 把它关掉了。这个 notebook 跟着一个 batch 走完这个流程。

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
# 下面的一切都是训练器自己的数据流程：`trainer.initialize(True)`（walkthrough 的 `initialize` 步骤，见 notebook 02）
# 读入病例列表、划分数据、在 `get_basic_generators` 中构建数据加载器，并把训练数据加载器包进数据增强
# （`trainer.tr_gen`）。这里的各步只是查看这些对象。

# %%
from nnunet_explorer.walkthrough import training_walkthrough
p = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0)
trainer = p["trainer"]
print(p["dataset"].summary()); print(p["split"].summary())
print("dataloader 步骤就是 trainer.dl_tr：", p["dataloader"] is trainer.dl_tr)

# %% [markdown]
# `splits_final.pkl` 保存 5 折，由 `KFold(shuffle=True, random_state=12345)` 在*排序后的*病例名上划分得到，
# 所以划分只取决于病例名。
#
# ## 数据加载器的 patch 比网络的大
#
# 数据加载器切出 `basic_generator_patch_size`：这个尺寸留有余量，余量按每次绕一个轴最多 ±30° 的旋转和 1/0.85 ≈ 1.18
# 的缩小计算；随后 `SpatialTransform` 从中心裁剪。同时绕多个轴的旋转，以及 V2 最大 1.4 的缩小（V2 在确定 patch
# 大小之后才把缩放范围放宽到 (0.7, 1.4)；在 batchgenerators 中大于 1 的因子表示缩小），都可能取到加载的 patch
# 之外：这些体素在图像中为 0，在标签中为 -1（batchgenerators 0.25.4 及以后的版本；更早的版本中为 0）；
# 无论哪种情况，`RemoveLabelTransform` 都会把目标中的 -1 变成 0。

# %%
aug = p["augmentation_parameters"]
print("网络的 patch：", p["plans_processed"].patch_size, " 加载器的 patch：", aug.basic_generator_patch_size)
batch = p["batch"]
print(batch.summary())

# %% [markdown]
# ## 浏览这个 batch
#
# 选一个样本和一个切片。每个 batch 最后的一个或几个样本是*强制前景*（v1 的
# `oversample_foreground_percent = 0.33`；batch 大小为 2 时就是样本 1，即 50 %）；其余的是随机的，
# 可能只有背景。

# %%
from nnunet_explorer.views.browsers import BatchBrowser
browser = BatchBrowser(batch)
browser

# %% [markdown]
# ## 一个样本走过每一个变换
#
# `trace_augmentation` 用固定的种子让一个样本依次经过训练器自己的变换列表（`trainer.tr_gen.transform`，由 V2 的
# `initialize` 根据 `data_aug_params` 构建），并为每个变换记录它是否生效、抽到了哪些参数。选一个变换，
# 就能看到样本在它之前和之后的样子。

# %%
from nnunet_explorer.training.augmentation import trace_augmentation
transforms = list(trainer.tr_gen.transform.transforms)
print(" -> ".join(type(t).__name__ for t in transforms))
raw = next(iter(p["dataloader"]))
trace = trace_augmentation(raw, transforms, seed=3, sample_index=len(raw["keys"]) - 1)
print("对这个样本生效的变换：", trace.fired)

# %%
from nnunet_explorer.views.browsers import AugmentationBrowser
aug_browser = AugmentationBrowser(trace)
aug_browser

# %%
from nnunet_explorer.views.augmentation_plots import plot_augmentation_trace
plot_augmentation_trace(trace, only_changed=True)

# %% [markdown]
# ## 同一个种子，同一个 batch
#
# v1 的工作进程没有设置种子，所以它的 batch 无法复现。`batch` 步骤在 notebook 自己的进程中、用一个种子，
# 从训练器的数据加载器和变换中取出一个 batch：用同一个种子重新运行得到同一个 batch，换一个种子就得到另一个
# （之后训练所用的随机数流保持原样）。

# %%
import numpy as np
again = p.rerun("batch", seed=p.seed("batch")).output
other = p.rerun("batch", seed=7).output
same = np.array_equal(np.asarray(again.data), np.asarray(batch.data))
different = not np.array_equal(np.asarray(other.data), np.asarray(batch.data))
print("同一个种子，同一个 batch：", same, "| 另一个种子，另一个 batch：", different)

# %% [markdown]
# ## 练习 1：有多少个 patch 被强制包含前景？
#
# v1 的数据加载器按 batch 中的样本索引 `j` 逐个决定（`DataLoader3D.get_do_oversample`）：
# 当且仅当 `not j < round(batch_size * (1 - oversample_foreground_percent))` 时，样本 `j` 被强制。
# `nnUNetTrainer.__init__` 设置 `oversample_foreground_percent = 0.33`（V2 继承了它），通常的说法是
# “batch 的三分之一”——但这个任务的 batch 大小是 2。**先预测**：对 20 个各含 2 个样本的 batch，
# `oversample_foreground_percent` = 0.33、0 和 1.0 时各有多少个样本被强制？把你的数字写进 `my_prediction`，
# 再运行后面的单元格：数据加载器用固定的种子抽样，assert 会告诉你是否猜对。（单元格里的数字就是答案；
# 想自测的话，先把它们改掉。）
#
# *随机* patch 也可能碰巧包含前景：下面的第二个计数显示这种情况有多常见。在这个很小的任务上，每个随机 patch
# 都包含前景：加载器的 patch（39×64×50 体素）比任何病例（约 16×36×36）都大，所以每个 patch 都装下了整个病例。

# %%
import numpy as np
N_BATCHES = 20
my_prediction = {0.33: 20, 0.0: 0, 1.0: 40}  # 20 x 2 个样本中被强制的个数：你的猜测（这里写的是答案）

loader = p["dataloader"]
v2_percent = loader.oversample_foreground_percent
counts = {}
try:
    for percent in (0.33, 0.0, 1.0):
        loader.oversample_foreground_percent = percent
        np.random.seed(0)  # 数据加载器用 np.random 抽取病例和裁剪框
        batches = [next(loader) for _ in range(N_BATCHES)]
        samples = [(prov, b["seg"][j]) for b in batches for j, prov in enumerate(b["provenance"])]
        counts[percent] = dict(
            forced=sum(prov.forced for prov, _ in samples),
            forced_with_fg=sum(prov.forced and (seg > 0).any() for prov, seg in samples),
            random_with_fg=sum((not prov.forced) and (seg > 0).any() for prov, seg in samples),
            forced_index=sorted({j for b in batches for j, prov in enumerate(b["provenance"]) if prov.forced}))
finally:
    loader.oversample_foreground_percent = v2_percent  # 恢复 V2 的值，供 notebook 后面使用
for percent, c in counts.items():
    print(f"oversample_foreground_percent={percent}：{2 * N_BATCHES} 个样本中 {c['forced']} 个被强制"
          f"（样本索引 {c['forced_index']}，全部包含前景：{c['forced_with_fg'] == c['forced']}）；"
          f"仍然包含前景的随机 patch：{c['random_with_fg']}")

# %%
assert {percent: c["forced"] for percent, c in counts.items()} == my_prediction, \
    "和你的预测不一样：再读一遍上面的规则（round(2 * 0.67) = 1，所以只有样本 0 是随机的）"
print("答对了：batch 大小为 2 时，V2 的 0.33 强制 2 个样本中的 1 个（50 %，即最后一个）；0 一个也不强制，1.0 全部强制")

# %% [markdown]
# ## 一个 epoch 的 patch 来自哪里：`sampling_map`
#
# `training.sampling_map` 按病例累加数据加载器在许多 batch 中的裁剪框：每个体素被覆盖了多少次，强制样本和随机样本
# 分开计数。随机的框偏向病例的中部；强制的框则堆积在有标注的结构周围。在这个很小的任务上并非如此：加载器的每个框
# 都比它的病例大，覆盖了整个病例（下面的 100 %），所以图是平的；这种模式要在比加载器的 patch 更大的病例上
# 才能看到。这里是一个只有 20 个 batch 的短 “epoch”（v1：250 个）。

# %%
from nnunet_explorer.training.sampling_map import epoch_sampling_map
np.random.seed(1)
smap = epoch_sampling_map(loader, num_batches_per_epoch=N_BATCHES)
print(smap.summary())

# %% [markdown]
# ## 训练在等数据吗？`throughput`
#
# `training.throughput` 为数据链条的每一环计时：单独的数据加载器、moreDA 流程中的每个变换，以及（给出网络时）
# 等待一个 batch 的时间与计算时间的对比。在 GPU 上，数据增强常常是瓶颈；各部分的占比说明哪个变换最耗时。
# （这里不使用工作进程：`workers=()`。）

# %%
from nnunet_explorer.training.throughput import profile_throughput
np.random.seed(2)
report = profile_throughput(loader, transforms, workers=(), n_batches=3)
print(report)
slowest = max(report.transforms, key=lambda t: t.seconds_per_batch)
print("这里最耗时的变换：", slowest.name)

# %% [markdown]
# ### 检查

# %%
pp = p["plans_processed"]
assert tuple(batch.data.shape) == (pp.batch_size, pp.num_input_channels, *pp.patch_size)
assert [tuple(t.shape[2:]) for t in batch.target] == [tuple(s) for s in p["deep_supervision"].target_shapes]
assert tuple(batch.loaded_shape[2:]) == tuple(aug.basic_generator_patch_size)
assert same and different
assert browser.draw_count >= 1 and aug_browser.draw_count >= 1 and len(trace.steps) == len(transforms)
assert counts[0.0]["forced"] == 0 and counts[1.0]["forced"] == counts[1.0]["forced_with_fg"] == 2 * N_BATCHES
assert counts[0.33]["forced_index"] == [1] and loader.oversample_foreground_percent == v2_percent
assert smap.n_samples == 2 * N_BATCHES and 0 < smap.n_forced < smap.n_samples
assert report.loader_batches_per_s > 0 and len(report.transforms) == len(transforms)
print("03 ok")
