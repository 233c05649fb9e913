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
# # 06 · 验证与推理：滑动窗口、后处理、伪 Dice 与真实 Dice
#
# *中文版；英文版见上一级目录的同名 notebook。*
#
# 网络是在 patch 上训练的，但一个病例比一个 patch 大。推理时，patch 在病例上滑动，步长至多半个 patch
# （`step_size` 0.5；图块均匀分布，使最后一块正好止于边界），每个图块都用高斯权重加权（中心的体素比边缘的体素
# 更可信），对重叠的 softmax 求平均，并且——默认情况下——还对镜像后的副本求平均（测试时增强）。这个 notebook 预测
# 一个验证病例，把训练期间打印的"伪 Dice"与真实 Dice 作比较，并尝试 v1 的后处理（保留最大连通域）。

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
os.environ.setdefault("nnUNet_n_proc_DA", "1")  # 一个数据增强工作进程：这是一台小 CPU 机器
import torch
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

from nnunet_explorer.views.widgets_common import prepare_sample_task
# 合成 CT 样例（Task901_SyntheticCT）：只写入并预处理一次，之后复用
workspace, TASK = prepare_sample_task(901)
print(workspace.describe()); print("任务:", TASK)

# %%
import numpy as np, torch
from nnunet_explorer.walkthrough import training_walkthrough
p = training_walkthrough("3d_fullres", "nnUNetTrainerV2", 901, 0, quiet=True)
trainer = p["trainer"]
net = p["network"]; pp = p["plans_processed"]  # net 就是 trainer.network
cfg = p["configuration"]
# 如果运行过 notebook 05，就用它训练出的权重；否则用未训练的网络（机制是一样的）。
# trainer.load_final_checkpoint(train=False) 就是 `nnUNet_train ... -val` 在 initialize 之后调用的。
ckpt = pathlib.Path(trainer.output_folder) / "model_final_checkpoint.model"
if ckpt.is_file():
    trainer.load_final_checkpoint(train=False)
    print(f"已加载 {ckpt.name}：训练了 {trainer.epoch} 个 epoch")
else:
    print("没有 notebook 05 的检查点：用未训练的网络预测")

# %% [markdown]
# ## 对一个验证病例做滑动窗口预测

# %%
from nnunet_explorer.network_architecture.sliding_window import predict_sliding_window
case = p["split"].val[0]
folder = cfg.folder_with_preprocessed_data
arr = np.load(folder / f"{case}.npy") if (folder / f"{case}.npy").is_file() else np.load(folder / f"{case}.npz")["data"]
image, truth = arr[:-1].astype(np.float32), arr[-1].astype(np.int16)
truth[truth < 0] = 0  # -1：在裁剪框内、但在非零掩码之外（v1 的裁剪）；当作背景
# v1 沿全部三个轴做镜像（每个图块 8 次预测）；为了让这个 notebook 在 CPU 上跑得快，我们只翻转两个平面内的轴
# （每个图块 4 次预测）。试试 mirror_axes=(0, 1, 2)，看看完整的测试时增强。
result = predict_sliding_window(net, image, pp.patch_size, do_mirroring=True, mirror_axes=(1, 2), step_size=0.5)
print(result.summary())
for c in result.mirror_contributions:
    print(f"翻转轴 {c.flipped_axes or '无'}：权重 {c.weight:.3f}，改变了 "
          f"{100 * c.argmax_disagreement:.1f} % 体素的 argmax")

# %%
from nnunet_explorer.views.browsers import InferenceView
view = InferenceView(result, image, truth)
view

# %% [markdown]
# ## 伪 Dice 与真实 Dice
#
# 训练期间 v1 打印 "Average global foreground Dice"——它在本 epoch 的*验证 patch* 上计算，取最高分辨率输出的 argmax，
# TP、FP、FN 在各个 batch 上累加。它只是一个估计（"This is not exact"）：patch 对前景有过采样，而且没有滑动窗口、没有
# 高斯加权，也没有镜像。真实 Dice 则把整个病例的预测与真实标注（ground truth）比较。
# 下面是 `trainer.val_gen`（v1 的验证数据生成器：验证病例的 patch，不做数据增强）中一个 batch 的伪 Dice——v1 每个
# epoch 合计 50 个这样的 batch。

# %%
from nnunet_explorer.inference.evaluation import evaluate_arrays
from nnunet_explorer.training.iteration import run_iteration
labels = list(range(1, pp.num_classes))
real = evaluate_arrays(result.segmentation, truth, labels, metrics=["Dice"])
batch = next(trainer.val_gen)  # v1 的验证循环取的就是它：一个含 data 和各目标的 dict
rec = run_iteration(net, p["loss"], p["optimizer"], batch["data"], list(batch["target"]), do_backprop=False,
                    run_online_evaluation=True)
pseudo = rec.online_evaluation.pseudo_dice
for c in labels:
    print(f"类别 {c}：伪 Dice（一个验证 batch）{pseudo[c - 1]:.3f} | 真实 Dice（整个病例）"
          f"{real[str(c)]['Dice']:.3f}")

# %% [markdown]
# ## 后处理：保留最大连通域
#
# 验证完一折之后，v1 会测试去掉最大连通域以外的所有部分——先对所有前景类别合在一起做（只要有类别的验证 Dice 提高
# 且没有类别变差就保留），再在有多个前景类别时对每个类别分别做（对 Dice 提高的类别保留）——并把保留的步骤写入
# `postprocessing.json`。这里我们对一个病例逐类别应用它，看看效果。

# %%
from nnunet_explorer.inference.postprocessing import remove_all_but_the_largest_connected_component
spacing = np.asarray(p["configuration"].plans["plans_per_stage"][cfg.stage]["current_spacing"], dtype=float)
post, largest, kept = remove_all_but_the_largest_connected_component(result.segmentation.copy(), labels,
                                                                      float(np.prod(spacing)))
after = evaluate_arrays(post, truth, labels, metrics=["Dice"])
for c in labels:
    print(f"类别 {c}：Dice {real[str(c)]['Dice']:.3f} -> {after[str(c)]['Dice']:.3f}（保留最大"
          "连通域之后）")

# %% [markdown]
# ## 用 napari 在 3D 中查看
#
# napari 插件把同样的内容显示为可以在 3D 中滚动浏览的图层：图像、预测、真实标注和误差图。`layers_for` 不需要 napari
# 就能构建这些图层；`show_in_napari` 打开一个查看器（它需要 napari 和屏幕——在服务器上它会启动一个虚拟屏幕）。

# %%
import os
from nnunet_explorer.views.layers import layers_for
case_layers = {"prediction": post, "reference": truth, "image": image[0]}
print([spec.as_tuple()[1]["name"] for spec in layers_for(case_layers)])
from nnunet_explorer.errors import ExplorerError
had_display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
shot, no_picture_because = None, None
try:
    from nnunet_explorer.views.napari import inline_screenshot, show_in_napari
    from nnunet_explorer.views.napari.display import xvfb_available
except ImportError as exc:  # napari 是可选的附加依赖：pip install -e ".[napari]"
    no_picture_because = f"没有安装 napari（{exc}）：pip install -e \".[napari]\""
else:
    if had_display:  # 有桌面：打开一个交互式查看器（在 Jupyter 中先运行 %gui qt）
        viewer = show_in_napari(case_layers)
    try:
        shot = inline_screenshot(case_layers)  # 没有显示器时，这里会启动一个虚拟显示器（Xvfb）
    except ExplorerError as exc:
        if had_display or xvfb_available():
            raise  # 有显示器（或 Xvfb），所以这是一个真正的错误：把它显示出来
        # 没有屏幕也没有 Xvfb：说明怎样才能得到截图，然后继续运行 notebook
        no_picture_because = str(exc)
if no_picture_because:
    print("这里没有 napari 截图:", no_picture_because)
    print("获取方法：安装一个虚拟显示器（Debian/Ubuntu：`sudo apt-get install xvfb libxcb-icccm4 "
          "libxcb-keysyms1 libxcb-xinerama0 libxcb-image0 libxcb-render-util0 libxkbcommon-x11-0 libxcb-cursor0 "
          "libgl1 libegl1 libfontconfig1 libdbus-1-3`）后重新运行这个 cell，或者在桌面电脑上运行这个 notebook，"
          "在那里 `show_in_napari` 会打开一个交互式查看器。")
shot

# %% [markdown]
# ### 检查

# %%
assert result.segmentation.shape == truth.shape and result.probabilities.shape[0] == pp.num_classes
assert result.num_tiles >= 1 and (result.gaussian is None or result.gaussian.max() > result.gaussian.min())
assert np.allclose(result.probabilities.sum(0), 1, atol=1e-3)
assert all(0.0 <= (real[str(c)]["Dice"] if real[str(c)]["Dice"] == real[str(c)]["Dice"] else 0.0) <= 1.0
           for c in labels)
assert set(np.unique(post)) <= set(np.unique(result.segmentation))
assert view.draw_count >= 1
# 要么拍到了 napari 截图（而且不是空白的：图像上叠着标签的颜色），要么这里没有办法拍，
# 并且 cell 说明了原因
assert (shot is None) == bool(no_picture_because)
if shot is not None:
    assert shot.array.ndim == 3 and len(np.unique(shot.array.reshape(-1, shot.array.shape[-1]), axis=0)) > 10
else:
    assert not had_display and ("没有安装 napari" in no_picture_because or "Xvfb" in no_picture_because)
print("06 ok")
