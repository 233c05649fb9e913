"""v1's ``nnunet/run/run_training.py`` command line: the one parser of ``nnunet-explorer train``.

v1's arguments (same flags, dests, defaults and actions, including the inverted ``--val_disable_overwrite``),
the explorer's options, and the one conversion of the parsed namespace into a typed
:class:`~nnunet_explorer.run.run_training.TrainRequest`. ``python -m nnunet_explorer.commands.run_training ARGS``
(what ``torchrun`` starts) is ``nnunet-explorer train ARGS``. Nothing here imports torch until a command runs.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

from ..language import tr
from ..paths import default_plans_identifier
from ..provenance import mirrors
from ..step_names import WALKTHROUGH_STEP_NAMES


@mirrors("nnunet.run.run_training:main")
def add_run_training_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add v1's ``nnUNet_train`` arguments to ``parser`` (same order, flags, dests, defaults and actions)."""
    parser.add_argument("network", help=tr("2d, 3d_lowres, 3d_fullres or 3d_cascade_fullres",
                                           "2d、3d_lowres、3d_fullres 或 3d_cascade_fullres"))
    parser.add_argument("network_trainer", help=tr("trainer class name, e.g. nnUNetTrainerV2",
                                                   "trainer 类名,例如 nnUNetTrainerV2"))
    parser.add_argument("task", help=tr("can be task name or task id",
                                        "任务名或任务编号"))
    parser.add_argument("fold", help=tr("0-4 (the 5-fold cross-validation of splits_final.pkl), 'all' (train and "
                                        "validate on every case), or, with nnUNetTrainerV2 and its subclasses, a "
                                        "number past the splits for a seeded random 80:20 split (other trainers fail; "
                                        "v1's help says '0, 1, ..., 5 or all')",
                                        "0-4(splits_final.pkl 的 5 折交叉验证)、'all'(在全部病例上训练和验证),或者"
                                        "(nnUNetTrainerV2 及其子类)超出划分数的数字:按种子随机 80:20 划分(其他 trainer 会失败;"
                                        "v1 的帮助写的是 '0, 1, ..., 5 or all')"))
    parser.add_argument("-val", "--validation_only", action="store_true",
                        help=tr("only run the validation (needs model_final_checkpoint.model, or model_best.model "
                                "with --valbest)",
                                "只运行验证(需要 model_final_checkpoint.model;加 --valbest 时需要 model_best.model)"))
    parser.add_argument("-c", "--continue_training", action="store_true",
                        help=tr("continue from model_final_checkpoint, else model_latest, else model_best",
                                "从 model_final_checkpoint 继续训练,没有则用 model_latest,再没有则用 model_best"))
    parser.add_argument("-p", default=default_plans_identifier, required=False,
                        help=tr("plans identifier (change only with a custom experiment planner)",
                                "plans 标识(只在使用自定义规划器时修改)"))
    parser.add_argument("--use_compressed_data", default=False, action="store_true", required=False,
                        help=tr("do not unpack the .npz files to .npy (a case without a .npy yet is read from its "
                                ".npz)",
                                "不把 .npz 文件解压为 .npy(还没有 .npy 的病例从它的 .npz 读取)"))
    parser.add_argument("--deterministic", required=False, default=False, action="store_true",
                        help=tr("seed numpy/torch with 12345 and make cuDNN deterministic (slower)",
                                "用 12345 作为 numpy/torch 的种子,并让 cuDNN 确定性运行(较慢)"))
    parser.add_argument("--npz", required=False, default=False, action="store_true",
                        help=tr("also export softmax .npz files of the validation cases (needed for ensembling)",
                                "同时导出验证病例的 softmax .npz 文件(集成时需要)"))
    parser.add_argument("--find_lr", required=False, default=False, action="store_true",
                        help=tr("v1's learning-rate finder (it fails in v1 1.7.1; the explorer refuses the flag "
                                "and says why)",
                                "v1 的学习率查找器(它在 v1 1.7.1 中会出错;explorer 拒绝这个参数并说明原因)"))
    parser.add_argument("--valbest", required=False, default=False, action="store_true",
                        help=tr("with -val: use model_best instead of model_final_checkpoint",
                                "与 -val 一起用:使用 model_best 而不是 model_final_checkpoint"))
    parser.add_argument("--fp32", required=False, default=False, action="store_true",
                        help=tr("disable mixed precision (fp16 is the default)",
                                "关闭混合精度(默认使用 fp16)"))
    parser.add_argument("--val_folder", required=False, default="validation_raw",
                        help=tr("name of the validation output folder",
                                "验证输出文件夹的名字"))
    parser.add_argument("--disable_saving", required=False, action="store_true",
                        help=tr("save no checkpoints except a temporary latest one",
                                "除一个临时的 latest 检查点外,不保存检查点"))
    parser.add_argument("--disable_postprocessing_on_folds", required=False, action="store_true",
                        help=tr("do not determine postprocessing on this fold's validation",
                                "不在这一折的验证结果上决定后处理"))
    parser.add_argument("--disable_validation_inference", required=False, action="store_true",
                        help=tr("do not run inference on the validation cases",
                                "不对验证病例做推理"))
    parser.add_argument("--val_disable_overwrite", action="store_false", default=True,
                        help=tr("validation does not overwrite existing segmentations (note: v1 stores False "
                                "when this flag is given)", "验证时不覆盖已有的分割(注意:给出这个参数时 v1 存的是 False)"))
    parser.add_argument("--disable_next_stage_pred", action="store_true", default=False,
                        help=tr("3d_lowres: do not predict the next stage of the cascade",
                                "3d_lowres:不预测级联的下一阶段"))
    parser.add_argument("-pretrained_weights", type=str, required=False, default=None,
                        help=tr("path to a .model checkpoint whose weights initialise the network",
                                "一个 .model 检查点的路径,用它的权重初始化网络"))
    return parser


def add_explorer_arguments(parser: argparse.ArgumentParser) -> None:
    """The explorer's options (not in v1's ``nnUNet_train``; ``--dbs`` is ``nnUNet_train_DDP``'s), in their own
    group."""
    explorer = parser.add_argument_group(tr("explorer options (not in v1's nnUNet_train)",
                                            "explorer 的选项(v1 的 nnUNet_train 中没有)"))
    explorer.add_argument("--max_num_epochs", type=int, default=None, metavar="N",
                          help=tr("train for N epochs instead of the trainer's max_num_epochs (1000 for V2)",
                                  "训练 N 个 epoch,而不是 trainer 的 max_num_epochs(V2 为 1000)"))
    explorer.add_argument("--num_batches_per_epoch", type=int, default=None, metavar="N",
                          help=tr("training iterations per epoch (V2: 250)",
                                  "每个 epoch 的训练迭代次数(V2:250)"))
    explorer.add_argument("--num_val_batches_per_epoch", type=int, default=None, metavar="N",
                          help=tr("validation iterations per epoch (V2: 50)",
                                  "每个 epoch 的验证迭代次数(V2:50)"))
    explorer.add_argument("--save_every", type=int, default=None, metavar="N",
                          help=tr("write model_latest.model every N epochs (v1: 50)",
                                  "每 N 个 epoch 写一次 model_latest.model(v1:50)"))
    explorer.add_argument("--until", choices=WALKTHROUGH_STEP_NAMES, default=None, metavar="STEP",
                          help=tr("stop after this step; one of: ", "在这一步之后停止;可选:") + ", ".join(WALKTHROUGH_STEP_NAMES))
    explorer.add_argument("--report", type=Path, default=None, metavar="FILE.html",
                          help=tr("write an HTML page with the card of every step run (also when a step fails)",
                                  "写出一个 HTML 页面,包含每个已运行步骤的卡片(步骤失败时也写)"))
    explorer.add_argument("--overwrite_report", action="store_true",
                          help=tr("allow --report to replace an existing file", "允许 --report 覆盖已有的文件"))
    explorer.add_argument("--trainer_file", type=Path, action="append", default=[], metavar="FILE.py",
                          help=tr("import this Python file and register the trainer classes it defines",
                                  "导入这个 Python 文件,并注册其中定义的 trainer 类"))
    explorer.add_argument("--seed", type=int, default=12345,
                          help=tr("seed of the initial weights and of the walkthrough's batch (default 12345)",
                                  "初始权重和 walkthrough 中 batch 的种子(默认 12345)"))
    explorer.add_argument("--device", default="auto", metavar="DEVICE",
                          # cuda:N outside tr: Chinese typography would widen its colon
                          help=tr("where to train: auto (cuda when available), cpu, cuda, ",
                                  "在哪里训练:auto(有 cuda 时用 cuda)、cpu、cuda、") + "cuda:N")
    explorer.add_argument("--augment_on", choices=("auto", "workers", "device"), default="auto",
                          help=tr("where the augmentation computes: workers (batchgenerators in the worker processes, "
                                  "as v1), device (random draws in the workers, arithmetic on the training device), "
                                  "auto (device on CUDA unless --deterministic/--single_threaded; default)",
                                  "数据增强在哪里计算:workers(在工作进程中用 batchgenerators,与 v1 相同)、device(随机数在工作"
                                  "进程中抽取,运算在训练设备上)、auto(在 CUDA 上且没有 --deterministic/--single_threaded 时用 "
                                  "device;默认)"))
    explorer.add_argument("--single_threaded", action="store_true",
                          help=tr("augment in the training process (no worker processes); implied by --deterministic",
                                  "在训练进程中做数据增强(不用工作进程);--deterministic 时自动开启"))
    explorer.add_argument("--quiet", action="store_true", help=tr("do not echo the training log to the console",
                                                                  "不在控制台上回显训练日志"))
    explorer.add_argument("--overwrite_training", action="store_true",
                          help=tr("start over although the fold folder holds checkpoints (v1 overwrites silently)",
                                  "即使该折的文件夹中已有检查点也从头开始(v1 会悄悄覆盖)"))
    explorer.add_argument("--dist", action="store_true",
                          help=tr("train with DistributedDataParallel (automatic under torchrun with more than one "
                                  "process; with plain python: a one-process group)",
                                  "用 DistributedDataParallel 训练(在 torchrun 下多于一个进程时自动开启;用普通 python 时:"
                                  "只有一个进程的进程组)"))
    explorer.add_argument("--dbs", action="store_true",
                          help=tr("distributed: split the plans' batch size over the processes (as v1's "
                                  "nnUNet_train_DDP --dbs)",
                                  "分布式:把 plans 的 batch 大小分给各个进程(同 v1 的 nnUNet_train_DDP --dbs)"))
    explorer.add_argument("--debugpy", type=int, default=None, metavar="PORT",
                          help=tr("wait for a debugger (VS Code, debugpy) to attach on this port before running",
                                  "运行前在这个端口上等待调试器(VS Code、debugpy)连接"))
    explorer.add_argument("--summary", action="store_true",
                          help=tr("print the pipeline summary (shapes, dtypes, ranges, label sets) at the end",
                                  "最后打印流程概要(形状、数据类型、取值范围、标签集合)"))


def build_run_training_parser(prog: str = "nnUNet_train") -> argparse.ArgumentParser:
    """A parser equal to v1's ``run_training.py`` parser (v1's arguments only)."""
    return add_run_training_arguments(argparse.ArgumentParser(prog=prog))


@mirrors("nnunet.run.run_training:main")
def parse_run_training_args(argv: Sequence[str]) -> Any:
    """Parse ``nnUNet_train`` arguments, e.g. ``["3d_fullres", "nnUNetTrainerV2", "4", "0", "--fp32"]``."""
    from ..training.configuration import run_args_from_namespace

    return run_args_from_namespace(build_run_training_parser().parse_args(list(argv)))


def request_from_namespace(args: argparse.Namespace) -> Any:
    """The one conversion: v1's flags and the explorer's options as a typed ``TrainRequest``.

    The device is resolved here, once (``--device cuda`` on a machine without CUDA is an error that says so).
    """
    from ..run.run_training import ExplorerOptions, TrainRequest
    from ..training.configuration import run_args_from_namespace

    options = ExplorerOptions(max_num_epochs=args.max_num_epochs, num_batches_per_epoch=args.num_batches_per_epoch,
                              num_val_batches_per_epoch=args.num_val_batches_per_epoch, save_every=args.save_every,
                              device=args.device, single_threaded=True if args.single_threaded else None,
                              quiet=args.quiet, overwrite_training=args.overwrite_training, seed=args.seed,
                              distribute_batch_size=args.dbs, augment_on=args.augment_on)
    return TrainRequest(run_args_from_namespace(args), options)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m nnunet_explorer.commands.run_training ARGS``: the same as ``nnunet-explorer train ARGS``."""
    from ..cli import main as cli_main

    return cli_main(["train", *(sys.argv[1:] if argv is None else list(argv))])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = ["add_explorer_arguments", "add_run_training_arguments", "build_run_training_parser", "main",
           "parse_run_training_args", "request_from_namespace"]


def register_trainer_files(files: Sequence[Path]) -> None:
    """``--trainer_file``: import each file, register its trainer classes and say which. A v1 variant file may
    set values v1 ignores (``V1IgnoresWarning``): ``train`` says so once as a note of the run, and prediction
    does not use them, so the warnings are not shown while the files load."""
    import warnings

    from ..network_training import V1IgnoresWarning, load_trainers_from_file

    for trainer_file in files:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", V1IgnoresWarning)
            names = load_trainers_from_file(trainer_file)
        print(tr(f"registered trainer(s) from {trainer_file}: ", f"已从 {trainer_file} 注册 trainer:") + ", ".join(names))
