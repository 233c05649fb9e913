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
# # 08 · 级联：先 `3d_lowres`，再 `3d_cascade_fullres`
#
# *这是中文版；英文版见上一级目录的同名 notebook。*
#
# 3D U-Net 一次只看一个 patch。对于很大的 CT 扫描，能放进 GPU 显存的 patch 只覆盖身体的一小部分，于是网络在判断一个
# 体素时，看不到它所属的器官。v1 的办法是**级联**：第一个 U-Net（`3d_lowres`）在每张图像的下采样副本上工作，同样的
# patch 在那里覆盖的范围大得多；它的分割结果上采样到全分辨率后，成为第二个 U-Net（`3d_cascade_fullres`）的额外输入
# 通道，由后者在全分辨率上加以细化。
#
# 只有当中位病例的体素数至少是全分辨率 patch 的 4 倍时，v1 才规划低分辨率 stage；而且只有当这个 stage 的中位病例的
# 体素数少于全分辨率的一半时，才保留它。低分辨率病例会被不断粗化，直到它又大约相当于 4 个 patch，所以按 v1 通常约
# 2 M 体素的 patch，中位病例约 8 M 体素时就会尝试一个低分辨率 stage，但要到约 17 M（8 个 patch）起才会保留。这些
# notebook 所用的小样例永远得不到这样的 stage——所以这个 notebook 手工加上一个，好在笔记本电脑上看到级联的每一步。

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
# 合成 CT 样例的一份独立副本（Task908_SyntheticCT），这样 notebook 01-07 用的任务 901 仍保留 v1 为它做的单 stage
# 规划：只写入并预处理一次，之后复用
workspace, TASK = prepare_sample_task(908)
print(workspace.describe()); print("task:", TASK)

# %%
import numpy as np
from nnunet_explorer.planning.plans import Plans
plans_file = workspace.preprocessed_task_dir(TASK) / "nnUNetPlansv2.1_plans_3D.pkl"
plans = Plans.from_file(plans_file)
full = plans.stage(plans.num_stages - 1)
ratio = np.prod(full["median_patient_size_in_voxels"]) / np.prod(full["patch_size"])
print(f"{plans.num_stages} 个 stage，配置 {plans.configurations}")
print(f"中位病例 {[int(v) for v in full['median_patient_size_in_voxels']]} 体素，patch "
      f"{[int(v) for v in full['patch_size']]}: "
      f"中位病例相当于 {ratio:.2f} 个 patch；v1 只在达到 4 个时才尝试低分辨率 stage")

# %% [markdown]
# ## 一个用于教学的低分辨率 stage
#
# `add_lowres_stage` **不是 v1 的一部分**：它把 stage 0 设为全分辨率 stage 的副本，但平面内 spacing 加倍，patch 大小、
# 池化和 batch 大小保持不变；把全分辨率 stage 变为 stage 1；并从裁剪后的数据出发预处理这两个 stage，与
# `nnUNet_plan_and_preprocess` 处理这样的 plans 时完全一样（测试会把得到的数组与 v1 自己的预处理器的结果对比）。v1 真正的
# 低分辨率 stage 还会针对更粗的 spacing 重新规划 patch、池化和 batch 大小。`overwrite=True` 让这个 notebook 可以再次
# 运行：重新运行时 plans 已经有两个 stage，stage 0 会从最后一个（全分辨率）stage 重新构建。

# %%
from nnunet_explorer.planning.lowres_stage import add_lowres_stage
report = add_lowres_stage(TASK, workspace=workspace, spacing_factor=(1, 2, 2), overwrite=True)
print(report)
plans = Plans.from_file(plans_file)
print("现在的配置：", plans.configurations)

# %% [markdown]
# 第二次调用会被拒绝：plans 已经有两个 stage，而真正的两阶段 plans（v1 做出的）不能被意外替换。

# %%
from nnunet_explorer.errors import PlansError
try:
    add_lowres_stage(TASK, workspace=workspace)
except PlansError as error:
    refusal = error
    print(error)

# %% [markdown]
# ## 级联的第 1 级：`3d_lowres`
#
# `nnUNet_train 3d_lowres nnUNetTrainerV2 908 all` 在 `nnUNetData_plans_v2.1_stage0` 上训练，这里只训练一个 epoch，
# 共两次迭代。训练结束时 v1 运行 `predict_next_stage`：它在低分辨率网格上预测该折的每个*验证*病例，把概率重采样到
# stage 1 的网格上，并把 argmax 保存为 `pred_next_stage/CASE_segFromPrevStage.npz`。它预测时使用测试时镜像（每个窗口
# 8 次预测）；为了在 CPU 上保持速度，我们传入 `--disable_next_stage_pred`，然后在下面不带镜像地调用同一个函数。

# %%
import contextlib, io
from nnunet_explorer.cli import main as nnunet_explorer

def run_cli(*argv):
    """在这个内核中运行 `nnunet-explorer ARGV...`；打印配置行和最后几行。"""
    print("$ nnunet-explorer", " ".join(argv))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = nnunet_explorer(list(argv))
    lines = out.getvalue().splitlines()
    print("\n".join([l for l in lines if l.startswith("I am using")] + lines[-3:]))
    assert status == 0, out.getvalue()[-3000:]

SHORT = ["--max_num_epochs", "1", "--num_batches_per_epoch", "2", "--num_val_batches_per_epoch", "1",
         "--single_threaded", "--quiet", "--overwrite_training", "--device", "cpu", "--disable_validation_inference"]
run_cli("train", "3d_lowres", "nnUNetTrainerV2", TASK, "all", *SHORT, "--disable_next_stage_pred")

# %%
from nnunet_explorer.inference.cascade import predict_next_stage
from nnunet_explorer.walkthrough import training_walkthrough

# 3d_lowres 的训练器，按 `nnUNet_train 3d_lowres` 的方式构建并初始化，再像 `-val` 那样载入刚训练好的权重：
# load_final_checkpoint(train=False)
lp = training_walkthrough("3d_lowres", "nnUNetTrainerV2", TASK, "all", quiet=True)
lowres_folder = lp["configuration"].output_folder_name
low_trainer = lp["trainer"]
net = lp["network"]  # 即 low_trainer.network
low_trainer.load_final_checkpoint(train=False)
pre = workspace.preprocessed_task_dir(TASK)
stage0, stage1 = pre / "nnUNetData_plans_v2.1_stage0", pre / "nnUNetData_plans_v2.1_stage1"
next_stage = predict_next_stage(net, plans.to_dict(), 0, lowres_folder / "all", stage0, stage1, lp["split"].val,
                                do_mirroring=False, log=lambda *args: None)
print(next_stage.summary())
print(next_stage.cases[0].summary())

# %% [markdown]
# `all` 这一折在所有病例上训练并验证，所以一次运行就能给每个病例一个先验——这是这个 notebook 走的捷径。生成这些先验的
# 网络*见过*这些病例。实际使用时要训练 `3d_lowres` 的全部五折：每个病例由把它留作验证的那一折来预测，级联网络就能从
# 带有真实错误的先验中学习。（只训练了两次迭代，这里的先验基本上是噪声；机制是一样的。）
#
# 同一个病例在两个网格上的样子：stage 0 的图像、stage 1 网格上的先验，以及 stage 1 的图像和它的真值标注。

# %%
import io
from IPython.display import Image
from matplotlib.figure import Figure

def show(fig):
    """把图转成 PNG：无论设置了哪种 matplotlib 后端，任何 notebook 前端都能显示。"""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return Image(data=buffer.getvalue())

def masked(seg):
    return np.ma.masked_where(seg <= 0, seg)  # 背景透明

case = next_stage.cases[0].case
low = np.load(stage0 / f"{case}.npz")["data"]
high = np.load(stage1 / f"{case}.npz")["data"]
prior = np.load(next_stage.cases[0].output_file)["data"]
print(f"{case}：stage 0 {low.shape[1:]}，先验 {prior.shape}，stage 1 {high.shape[1:]}  (z, y, x)")

fig = Figure(figsize=(9, 3), layout="constrained")
axes = fig.subplots(1, 3)
z0, z1 = low.shape[1] // 2, high.shape[1] // 2
axes[0].imshow(low[0, z0], cmap="gray"); axes[0].set_title(f"stage 0 image {low.shape[2:]}", fontsize=8)
axes[1].imshow(high[0, z1], cmap="gray"); axes[1].imshow(masked(prior[z1]), cmap="autumn", alpha=0.5, vmin=0, vmax=2)
axes[1].set_title(f"3d_lowres prior on the stage-1 grid {prior.shape[1:]}", fontsize=8)
axes[2].imshow(high[0, z1], cmap="gray"); axes[2].imshow(masked(high[-1, z1]), cmap="autumn", alpha=0.5, vmin=0, vmax=2)
axes[2].set_title(f"stage 1 image + ground truth {high.shape[2:]}", fontsize=8)
for ax in axes:
    ax.set_xticks([]); ax.set_yticks([])
show(fig)

# %% [markdown]
# ## 第 2 级：`3d_cascade_fullres`，逐步查看
#
# `nnUNet_train 3d_cascade_fullres nnUNetTrainerV2CascadeFullRes 908 all` 的 walkthrough：训练器从
# `3d_lowres/.../pred_next_stage` 读取先验，网络得到 `1 + (C - 1)` 个输入通道（CT 通道加上每个前景类别一个二值通道），
# 数据增强参数中多了级联专用的键。

# %%
cp = training_walkthrough("3d_cascade_fullres", "nnUNetTrainerV2CascadeFullRes", TASK, "all")
pp = cp["plans_processed"]
print(pp.summary())
aug = cp["augmentation_parameters"]
cascade_keys = {k: v for k, v in aug.data_aug_params.items()
                if k.startswith("cascade") or k in ("selected_seg_channels", "all_segmentation_labels",
                                                    "move_last_seg_chanel_to_data")}
for key, value in cascade_keys.items():
    print(f"{key:55s} {value}")

# %%
batch = cp["batch"]
print(batch.summary())

# %% [markdown]
# ## 先验如何经过数据增强
#
# 数据加载器把先验作为分割的第 1 通道带着走，所以旋转、缩放和镜像会让它和标签一起移动。接近末尾时，
# `MoveSegAsOneHotToData` 把它变成额外的图像通道，另有两个变换模拟低分辨率网络会犯的错误：
#
# * `ApplyRandomBinaryOperatorTransform`（40 % 的样本）：对每个类别通道，用随机半径的球做膨胀、腐蚀、闭运算或开运算
#   ——结构会变得过粗、过细、粘连或断开；
# * `RemoveRandomConnectedComponentFromOneHotEncodingTransform`（20 %）：本意是删除一个小的连通域。**在 v1 中它从不
#   删除任何东西**：v1 传入的两个参数顺序颠倒了，于是大小上限是 patch 的 0 %，没有任何连通域符合条件。explorer 保留了
#   这一行为（以及它的随机抽取）。
#
# 我们用种子 0、1、2……追踪一个样本，直到二值形态学运算起作用为止。

# %%
from nnunet_explorer.training.augmentation import trace_augmentation
transforms = list(cp["trainer"].tr_gen.transform.transforms)  # 级联训练器自己的变换列表
raw = next(iter(cp["dataloader"]))
print("加载器给出的 batch：data", raw["data"].shape, "seg", raw["seg"].shape, "（seg 的通道 1 = 先验）")
for seed in range(50):
    trace = trace_augmentation(raw, transforms, seed=seed, sample_index=0)
    if "ApplyRandomBinaryOperatorTransform" in trace.fired:
        break
steps = {s.name: s for s in trace.steps}
binary = steps["ApplyRandomBinaryOperatorTransform"]
remover = steps["RemoveRandomConnectedComponentFromOneHotEncodingTransform"]
moved = steps["MoveSegAsOneHotToData"]
print(f"种子 {seed}：MoveSegAsOneHotToData 之后的 data 有 {moved.data.shape[0]} 个通道 {moved.data.shape}")
print("二值形态学运算：", dict(binary.params))
print("连通域删除：", "触发了" if remover.fired else "什么也没做", dict(remover.params))
remove_t = next(t for t in transforms if type(t).__name__ == remover.name)
print("它的大小上限（dont_do_if_covers_more_than_X_percent）：", remove_t.dont_do_if_covers_more_than_X_percent,
      "| fill_with_other_class_p:", remove_t.fill_with_other_class_p)

# %%
fig = Figure(figsize=(9, 3), layout="constrained")
axes = fig.subplots(1, 3)
z = moved.data.shape[1] // 2
ops = ", ".join(f"{o['operation'].replace('binary_', '')} r={o['radius']:.1f}" for o in binary.params["operations"])
panels = [(None, "image channel (after the spatial transform)"), (moved.prior, "prior channels (decoded)"),
          (binary.prior, f"after the binary operator: {ops}")]
for ax, (seg, title) in zip(axes, panels):
    ax.imshow(moved.data[0, z], cmap="gray")
    if seg is not None:
        ax.imshow(masked(seg[z]), cmap="autumn", alpha=0.6, vmin=0, vmax=2)
    ax.set_title(title, fontsize=8); ax.set_xticks([]); ax.set_yticks([])
show(fig)

# %% [markdown]
# ## 训练级联网络，然后预测
#
# 同样只训练一个 epoch、两次迭代。然后在测试图像上运行 `predict -m 3d_cascade_fullres`：不带 `-l` 时，它先用
# `3d_lowres` 预测，结果写入 `OUTPUT/3d_lowres_predictions`，再把这些分割 resize 到每个病例的全分辨率网格上，作为
# one-hot 通道加进输入，然后运行级联网络。（这是 v1 的一个怪癖，这里保留了：图像被裁剪到它的非零边界框，而分割却是从
# 完整的、未裁剪的图像 resize 而来，所以只要裁剪去掉了任何东西，两者就会错位；发生这种情况时 `predict` 会给出警告。）
# `--disable_tta` 跳过镜像副本，以保持速度。

# %%
run_cli("train", "3d_cascade_fullres", "nnUNetTrainerV2CascadeFullRes", TASK, "all", *SHORT)
cascade_folder = cp["configuration"].output_folder_name
print(sorted(p.name for p in (cascade_folder / "all").iterdir()))

# %%
import SimpleITK as sitk
images = workspace.raw_task_dir(TASK) / "imagesTs"
predictions = workspace.results_folder / "08_cascade_predictions"
run_cli("predict", "-i", str(images), "-o", str(predictions), "-t", TASK, "-m", "3d_cascade_fullres", "-f", "all",
        "--disable_tta", "--overwrite_existing")
tests = sorted(p.name[:-len("_0000.nii.gz")] for p in images.glob("*_0000.nii.gz"))
image = sitk.GetArrayFromImage(sitk.ReadImage(str(images / f"{tests[0]}_0000.nii.gz")))
final = sitk.GetArrayFromImage(sitk.ReadImage(str(predictions / f"{tests[0]}.nii.gz")))
first = sitk.GetArrayFromImage(sitk.ReadImage(str(predictions / "3d_lowres_predictions" / f"{tests[0]}.nii.gz")))
fig = Figure(figsize=(6, 3), layout="constrained")
axes = fig.subplots(1, 2)
z = image.shape[0] // 2
window = np.percentile(image, [1, 99])  # CT 窗宽窗位，免得软组织一片白
for ax, seg, title in zip(axes, (first, final), ("3d_lowres prediction", "3d_cascade_fullres prediction")):
    ax.imshow(image[z], cmap="gray", vmin=window[0], vmax=window[1]); ax.imshow(masked(seg[z]), cmap="autumn", alpha=0.5, vmin=0, vmax=2)
    ax.set_title(f"{tests[0]}: {title}", fontsize=8); ax.set_xticks([]); ax.set_yticks([])
show(fig)

# %% [markdown]
# ### 检查

# %%
assert plans.num_stages == 2 and plans.configurations == {"3d_lowres": 0, "3d_fullres": 1, "3d_cascade_fullres": 1}
low_info, high_info = report.new_stages
# old_stages：第一次运行时有一个 stage，重新运行时有两个（之前的教学用 stage 0 和 stage 1）；新的 stage 1 始终是
# 全分辨率 stage，原样不变
assert low_info.example_shape[1] < high_info.example_shape[1] and report.old_stages[-1].example_shape == high_info.example_shape
assert "已经有 2 个 stage" in str(refusal)
assert len(next_stage.cases) == 10 and prior.shape == high.shape[1:] and low.shape[2:] != high.shape[2:]
assert pp.num_input_channels == 1 + (pp.num_classes - 1) and tuple(batch.data.shape[:2]) == (pp.batch_size, pp.num_input_channels)
assert cascade_keys["move_last_seg_chanel_to_data"] and cascade_keys["selected_seg_channels"] == [0, 1]
assert moved.data.shape[0] == pp.num_input_channels and binary.fired and not remover.fired
assert not np.array_equal(moved.prior, binary.prior) and remove_t.dont_do_if_covers_more_than_X_percent == 0
assert (cascade_folder / "all" / "model_final_checkpoint.model").is_file()
assert final.shape == image.shape == first.shape and set(np.unique(final)) <= {0, 1, 2}
print("08 ok")
