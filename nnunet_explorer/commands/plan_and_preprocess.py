"""``nnunet-explorer plan_and_preprocess``: v1's ``nnUNet_plan_and_preprocess``, with the same arguments.

Not implemented: ``-overwrite_plans`` / ``-overwrite_plans_identifier`` (v1's beta "pretrained plans" path,
which needs the ``ExperimentPlanner3D_v21_Pretrained`` planner); giving them is an error, not a silent no-op.
"""
from __future__ import annotations

import argparse

from ..language import tr

# picked when the parser is built (not at import: a notebook or test may switch the language later)
HELP = {"en": "crop, fingerprint, plan (3D + 2D v2.1) and preprocess tasks, like nnUNet_plan_and_preprocess",
        "zh": "裁剪、提取数据指纹、规划(3D + 2D v2.1)并预处理任务,与 nnUNet_plan_and_preprocess 相同"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-t", "--task_ids", nargs="+", required=True,
                        help=tr("task ids with a raw folder nnUNet_raw_data/TaskXXX_Name (v1 takes ids only; the "
                                "explorer also accepts TaskXXX_Name)",
                                "有原始数据文件夹 nnUNet_raw_data/TaskXXX_Name 的任务编号(v1 只接受编号;explorer "
                                "也接受 TaskXXX_Name)"))
    parser.add_argument("-pl3d", "--planner3d", type=str, default="ExperimentPlanner3D_v21",
                        help=tr("3D planner class (only ExperimentPlanner3D_v21), or None to skip 3D",
                                "3D 规划器类(只支持 ExperimentPlanner3D_v21),或 None 跳过 3D"))
    parser.add_argument("-pl2d", "--planner2d", type=str, default="ExperimentPlanner2D_v21",
                        help=tr("2D planner class (only ExperimentPlanner2D_v21), or None to skip 2D",
                                "2D 规划器类(只支持 ExperimentPlanner2D_v21),或 None 跳过 2D"))
    parser.add_argument("-no_pp", action="store_true", help=tr("crop, fingerprint and plan, but do not preprocess",
                                                             "裁剪、提取数据指纹并规划,但不做预处理"))
    parser.add_argument("-tl", type=int, default=8, help=tr("processes for the low-res stage (default 8)",
                                                            "低分辨率阶段的进程数(默认 8)"))
    parser.add_argument("-tf", type=int, default=8,
                        help=tr("processes for cropping, fingerprint, full-res and 2D stages (default 8)",
                                "裁剪、数据指纹、全分辨率和 2D 阶段的进程数(默认 8)"))
    parser.add_argument("--verify_dataset_integrity", action="store_true",
                        help=tr("also read every voxel: label values and NaN (the explorer always checks the "
                                "headers; v1 checks nothing without this flag)",
                                "同时读取每个体素:标签值和 NaN(explorer 总会检查文件头;没有这个参数时 v1 什么都不检查)"))
    parser.add_argument("-overwrite_plans", type=str, default=None, help=argparse.SUPPRESS)
    parser.add_argument("-overwrite_plans_identifier", type=str, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--explain", action="store_true", help=tr("print why each planned value is what it is",
                                                                  "打印每个规划值为什么是这个值"))
    parser.add_argument("--no_progress", action="store_true", help=tr("no progress bars", "不显示进度条"))


def run(args: argparse.Namespace) -> int:
    from ..errors import PlansError
    from ..language import tr
    from ..planning.explain import explain_trace
    from ..planning.plans import load_plans, summarize_plans_text
    from ..planning.run import plan_and_preprocess

    if args.overwrite_plans is not None or args.overwrite_plans_identifier is not None:
        raise PlansError(tr("-overwrite_plans is not implemented by the explorer", "explorer 没有实现 -overwrite_plans"),
                         fix=tr("run v1's nnUNet_plan_and_preprocess for pretrained-plans preprocessing",
                                "用 v1 的 nnUNet_plan_and_preprocess 做预训练 plans 的预处理"))
    results = plan_and_preprocess(
        args.task_ids,
        planner3d_name=None if args.planner3d == "None" else args.planner3d,
        planner2d_name=None if args.planner2d == "None" else args.planner2d,
        no_pp=args.no_pp, tl=args.tl, tf=args.tf, verify_dataset_integrity=args.verify_dataset_integrity,
        progress=not args.no_progress,
    )
    for result in results:
        print(f"\n{result.task_name}")
        for path, trace in ((result.plans_3d, result.trace_3d), (result.plans_2d, result.trace_2d)):
            if path is None:
                continue
            print(f"--- {path}")
            print(summarize_plans_text(load_plans(path)), end="")
            if args.explain:
                print(tr("why:", "为什么:") + "\n" + explain_trace(trace) + "\n")
    return 0
