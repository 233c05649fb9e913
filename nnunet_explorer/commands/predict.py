"""``nnunet-explorer predict -i IN -o OUT -t TASK [-m NETWORK] [-f FOLDS] ...``: v1's ``nnUNet_predict``.

Same flags, spellings and defaults as ``nnUNet_predict`` (``inference/predict_simple.py``) for everything the
explorer implements; the model folder is ``RESULTS_FOLDER/nnUNet/<m>/<Task>/<tr>__<p>``. Existing outputs are
kept (skipped) unless ``--overwrite_existing`` is given. Checkpoints are loaded safely (no arbitrary code).
``--device auto`` (the default) predicts on CUDA where available, as v1 does. Where the sliding window's
whole-case sums live is ``--sums_on``: ``auto`` (default) keeps them in float32 on the GPU on CUDA (no copy per
tile, v1's numbers) and in CPU memory elsewhere, as v1; ``--all_in_gpu True`` is v1's float16 accumulation on the
GPU (v1 has it for 3D networks only: ``-m 2d --all_in_gpu True`` raises ``NotImplementedError`` there; the explorer
accepts it for 2D too), ``--all_in_gpu False`` v1's float32 sums in CPU memory. Every input is checked before
anything is written.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ConfigurationError
from ..language import tr

# picked when the parser is built (not at import: a notebook or test may switch the language later)
HELP = {"en": "nnUNet_predict: preprocess new images, predict with the trained folds (ensemble), export, postprocess",
        "zh": "nnUNet_predict:预处理新图像,用训练好的各折预测(集成),导出,后处理"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..paths import default_plans_identifier

    parser.add_argument("-i", "--input_folder", required=True,
                        help=tr("folder with CASE_0000.nii.gz (one _XXXX file per modality, as in training)",
                                "包含 CASE_0000.nii.gz 的文件夹(每个模态一个 _XXXX 文件,与训练时相同)"))
    parser.add_argument("-o", "--output_folder", required=True, help=tr("folder for the predictions",
                                                                         "存放预测结果的文件夹"))
    parser.add_argument("-t", "--task_name", required=True, help=tr("task name or task id", "任务名或任务编号"))
    parser.add_argument("-tr", "--trainer_class_name", default="nnUNetTrainerV2",
                        help=tr("trainer of the model folder (default nnUNetTrainerV2)",
                                "模型文件夹的 trainer(默认 nnUNetTrainerV2)"))
    parser.add_argument("-m", "--model", default="3d_fullres",
                        choices=("2d", "3d_lowres", "3d_fullres", "3d_cascade_fullres"),
                        help=tr("2d, 3d_lowres, 3d_fullres or 3d_cascade_fullres (default 3d_fullres)",
                                "2d、3d_lowres、3d_fullres 或 3d_cascade_fullres(默认 3d_fullres)"))
    parser.add_argument("-p", "--plans_identifier", default=default_plans_identifier,
                        help=tr(f"plans identifier (default {default_plans_identifier})",
                                f"plans 标识(默认 {default_plans_identifier})"))
    parser.add_argument("-f", "--folds", nargs="+", default="None",
                        help=tr("folds to use (e.g. 0 1 2, or all); default: every fold_* folder of the model",
                                "使用哪些折(例如 0 1 2,或 all);默认:模型的每个 fold_* 文件夹"))
    parser.add_argument("-z", "--save_npz", action="store_true",
                        help=tr("also save the softmax probabilities (CASE.npz + CASE.pkl), needed for ensembling",
                                "同时保存 softmax 概率(CASE.npz + CASE.pkl),集成时需要"))
    parser.add_argument("--part_id", type=int, default=0,
                        help=tr("predict only every num_parts-th case from this one",
                                "从这个病例开始,每隔 num_parts 个病例预测一个"))
    parser.add_argument("--num_parts", type=int, default=1, help=tr("split the cases into this many parts",
                                                                    "把病例分成这么多份"))
    parser.add_argument("--disable_tta", action="store_true",
                        help=tr("no test-time mirroring (8x faster in 3D, slightly worse segmentations)",
                                "不做测试时镜像增强(3D 中快 8 倍,分割结果略差)"))
    parser.add_argument("--overwrite_existing", action="store_true",
                        help=tr("predict cases whose output exists again (default: skip them)",
                                "输出已存在的病例也重新预测(默认:跳过它们)"))
    parser.add_argument("--step_size", type=float, default=0.5,
                        help=tr("sliding-window step as a fraction of the patch",
                                "滑动窗口的步长,以 patch 大小的比例表示"))
    parser.add_argument("-chk", default="model_final_checkpoint",
                        help=tr("checkpoint name (model_final_checkpoint, model_best, model_latest)",
                                "检查点名(model_final_checkpoint、model_best、model_latest)"))
    parser.add_argument("--disable_mixed_precision", action="store_true",
                        help=tr("predict in float32 (mixed precision only applies on CUDA)",
                                "用 float32 预测(混合精度只在 CUDA 上起作用)"))
    v1_only = parser.add_argument_group(tr("v1 options accepted for compatibility", "为了兼容而接受的 v1 选项"))
    v1_only.add_argument("--num_threads_preprocessing", type=int, default=6,
                         help=tr("ignored: the explorer preprocesses each case in this process",
                                 "被忽略:explorer 在本进程中预处理每个病例"))
    v1_only.add_argument("--num_threads_nifti_save", type=int, default=2,
                         help=tr("ignored: the explorer exports each case in this process",
                                 "被忽略:explorer 在本进程中导出每个病例"))
    v1_only.add_argument("--mode", default="normal",
                         help=tr("only 'normal' (v1's fast/fastest modes are not offered)",
                                 "只支持 'normal'(不提供 v1 的 fast/fastest 模式)"))
    parser.add_argument("--all_in_gpu", default="None", choices=("None", "False", "True"),
                        help=tr("True: v1's float16 whole-case sums on the GPU (--sums_on device_fp16; inexact at the "
                                "image border, v1 calls it experimental; v1: 3D networks only, 2d raises "
                                "NotImplementedError). False: v1's float32 sums in CPU memory (--sums_on cpu). None "
                                "(default): --sums_on decides",
                                "True:v1 在 GPU 上用 float16 保存整个病例的累加和(--sums_on device_fp16;在图像边缘"
                                "不精确,v1 称之为实验性功能;v1 只支持 3D 网络,2d 会抛出 NotImplementedError)。"
                                "False:v1 在 CPU 内存中用 float32 累加(--sums_on cpu)。None(默认):由 --sums_on 决定"))
    parser.add_argument("-l", "--lowres_segmentations", default="None",
                        help=tr("3d_cascade_fullres: folder with the 3d_lowres predictions (CASE.nii.gz). Without it, "
                                "3d_lowres is predicted first into OUT/3d_lowres_predictions",
                                "3d_cascade_fullres:包含 3d_lowres 预测结果(CASE.nii.gz)的文件夹。不给时,先把 "
                                "3d_lowres 预测到 OUT/3d_lowres_predictions"))
    parser.add_argument("-ctr", "--cascade_trainer_class_name", default="nnUNetTrainerV2CascadeFullRes",
                        help=tr("trainer of the 3d_cascade_fullres model (default nnUNetTrainerV2CascadeFullRes); -tr "
                                "then names the 3d_lowres trainer",
                                "3d_cascade_fullres 模型的 trainer(默认 nnUNetTrainerV2CascadeFullRes);这时 -tr "
                                "指的是 3d_lowres 的 trainer"))
    explorer = parser.add_argument_group(tr("explorer options (not in nnU-Net v1)", "explorer 的选项(nnU-Net v1 中没有)"))
    explorer.add_argument("--disable_postprocessing", action="store_true",
                          help=tr("do not apply the model folder's postprocessing.json (v1: the disable_postprocessing "
                                  "argument of predict_from_folder; nnUNet_predict always applies the file if it "
                                  "exists)",
                                  "不应用模型文件夹中的 postprocessing.json(v1:predict_from_folder 的 "
                                  "disable_postprocessing 参数;nnUNet_predict 只要这个文件存在就总会应用它)"))
    explorer.add_argument("--device", default="auto",
                          # cuda:N outside tr: Chinese typography would widen its colon
                          help=tr("auto (default: CUDA where available, as v1), cpu, cuda or ",
                                  "auto(默认:有 CUDA 时用 CUDA,与 v1 相同)、cpu、cuda 或 ") + "cuda:N")
    explorer.add_argument("--trainer_file", type=Path, action="append", default=[], metavar="FILE.py",
                          help=tr("import this Python file and register the trainer classes it defines, so that a "
                                  "trainer variant's test-time mirroring is its own, as in v1 (the explorer ships "
                                  "v1's base trainers and a few short variants, not v1's variant files)",
                                  "导入这个 Python 文件,并注册其中定义的 trainer 类,使 trainer 变体的测试时镜像与 v1 "
                                  "一样按它自己的设置(explorer 自带 v1 的基础 trainer 和几个短训练变体,不带 v1 的变体"
                                  "文件)"))
    explorer.add_argument("--tile_batch_size", type=int, default=None,
                          help=tr("tiles per forward pass (1 = v1's one at a time; default: 4 on CUDA, except with "
                                  "float16 sums, 1 elsewhere)",
                                  "每次前向计算的窗口数(1 = v1 的一次一个;默认:CUDA 上为 4,使用 float16 累加和时"
                                  "除外,其他情况为 1)"))
    explorer.add_argument("--sums_on", default="auto", choices=("auto", "cpu", "device_fp32", "device_fp16"),
                          help=tr("where the sliding window's whole-case sums live: auto (default: device_fp32 on "
                                  "CUDA, cpu elsewhere), cpu (v1's default: float32 in CPU memory, one copy back per "
                                  "tile), device_fp32 (float32 on the GPU: v1's numbers, no copy per tile), "
                                  "device_fp16 (v1's --all_in_gpu True, 3D only in v1)",
                                  "滑动窗口的整个病例累加和放在哪里:auto(默认:CUDA 上为 device_fp32,其他情况为 "
                                  "cpu)、cpu(v1 的默认:float32 放在 CPU 内存中,每个窗口拷回一次)、device_fp32"
                                  "(float32 放在 GPU 上:与 v1 的数值相同,不必每个窗口拷贝)、device_fp16(v1 的 "
                                  "--all_in_gpu True,v1 中仅限 3D)"))


def _parse_folds(folds):
    if folds == "None":
        return None
    if isinstance(folds, list):
        if len(folds) == 1 and folds[0] == "all":
            return "all"
        try:
            return [int(f) for f in folds]
        except ValueError:
            raise ConfigurationError(tr(f"-f expects fold numbers or 'all', got {' '.join(folds)}",
                                        f"-f 需要折的编号或 'all',给出的是 {' '.join(folds)}"),
                                     fix=tr("for example: -f 0 1 2 3 4, or -f all", "例如:-f 0 1 2 3 4,或 -f all")
                                     ) from None
    raise ConfigurationError(tr(f"unexpected value for -f: {folds}", f"-f 的值不对:{folds}"),
                             fix=tr("for example: -f 0, or -f all", "例如:-f 0,或 -f all"))


def _sums_on(all_in_gpu: str, sums_on: str) -> str:
    """``--sums_on`` after v1's ``--all_in_gpu``: True is v1's float16 GPU sums, False v1's CPU sums."""
    # differs from v1: --all_in_gpu None (v1's default, which v1 treats as False) lets --sums_on decide: auto puts
    # the float32 sums on the GPU on CUDA; --all_in_gpu False still means v1's float32 sums in CPU memory
    v1_choice = {"True": "device_fp16", "False": "cpu"}.get(all_in_gpu)
    if v1_choice is None or sums_on in ("auto", v1_choice):
        return v1_choice or sums_on
    raise ConfigurationError(tr(f"--all_in_gpu {all_in_gpu} means --sums_on {v1_choice}, but --sums_on "
                                f"{sums_on} was given",
                                f"--all_in_gpu {all_in_gpu} 即 --sums_on {v1_choice},但给出的是 --sums_on {sums_on}"),
                             fix=tr("give only one of the two", "两者只给一个"))


def run(args: argparse.Namespace) -> int:
    import time

    from ..device import resolve_device
    from ..fileio import write_json
    from ..inference.predict import predict_from_folder
    from ..network_training import trainer_mirroring
    from ..paths import get_workspace
    from ..tasks import resolve_task_name
    from .run_training import register_trainer_files

    if not 0 < args.step_size <= 1:
        raise ConfigurationError(tr(f"--step_size must be in (0, 1], got {args.step_size}",
                                    f"--step_size 必须在 (0, 1] 之内,给出的是 {args.step_size}"),
                                 fix=tr("use the default 0.5 (larger steps leave gaps between windows)",
                                        "使用默认值 0.5(步长更大会在窗口之间留下空隙)"))
    if args.num_parts < 1 or not 0 <= args.part_id < args.num_parts:
        raise ConfigurationError(tr(f"--part_id {args.part_id} / --num_parts {args.num_parts} do not fit",
                                    f"--part_id {args.part_id} / --num_parts {args.num_parts} 不匹配"),
                                 fix=tr("use 0 <= part_id < num_parts", "使用 0 <= part_id < num_parts"))
    if args.mode != "normal":
        raise ConfigurationError(tr(f"--mode {args.mode} is not offered by the explorer",
                                    f"explorer 不提供 --mode {args.mode}"),
                                 fix=tr("use --mode normal", "使用 --mode normal"))
    sums_on = _sums_on(args.all_in_gpu, args.sums_on)
    if args.tile_batch_size is not None and args.tile_batch_size < 1:
        raise ConfigurationError(tr(f"--tile_batch_size must be at least 1, got {args.tile_batch_size}",
                                    f"--tile_batch_size 至少为 1,给出的是 {args.tile_batch_size}"),
                                 fix=tr("use 1 (v1's one tile at a time) or more, or leave it out (auto)",
                                        "使用 1(v1 的一次一个窗口)或更大的值,或不给(自动)"))
    device = resolve_device(args.device)  # fails before anything is read or written
    if sums_on == "device_fp16" and device.type != "cuda":
        print(tr(f"WARNING: float16 sums (--all_in_gpu True / --sums_on device_fp16) on {device}: they stay in CPU "
                 "memory (no GPU to keep them on), and are inexact at the image border",
                 f"警告:在 {device} 上使用 float16 累加和(--all_in_gpu True / --sums_on device_fp16):它们留在 CPU "
                 "内存中(没有 GPU 可以存放),且在图像边缘不精确"),
              flush=True)
    lowres = None if args.lowres_segmentations == "None" else Path(args.lowres_segmentations)
    if lowres is not None and args.model != "3d_cascade_fullres":
        raise ConfigurationError(tr("-l/--lowres_segmentations is only used with -m 3d_cascade_fullres",
                                    "-l/--lowres_segmentations 只用于 -m 3d_cascade_fullres"),
                                 fix=tr("drop -l, or predict with -m 3d_cascade_fullres",
                                        "去掉 -l,或用 -m 3d_cascade_fullres 预测"))
    workspace = get_workspace()
    task = resolve_task_name(args.task_name, workspace)
    folds = _parse_folds(args.folds)
    register_trainer_files(args.trainer_file)
    common = dict(do_tta=not args.disable_tta, mixed_precision=not args.disable_mixed_precision,
                  overwrite_existing=args.overwrite_existing, step_size=args.step_size,
                  disable_postprocessing=args.disable_postprocessing, device=device,
                  tile_batch_size=args.tile_batch_size, sums_on=sums_on,
                  # the trainer is rebuilt only to read its test-time mirroring (without mirroring nothing is read)
                  trainer_mirroring=None if args.disable_tta else trainer_mirroring)
    start = time.time()
    if args.model == "3d_cascade_fullres" and lowres is None:
        if args.part_id != 0 or args.num_parts != 1:
            raise ConfigurationError(tr("without -l, --part_id/--num_parts are not supported for the cascade",
                                        "没有 -l 时,级联不支持 --part_id/--num_parts"),
                                     fix=tr("run -m 3d_lowres first (in parts if you like), then the cascade with -l",
                                            "先运行 -m 3d_lowres(可以分批),再用 -l 运行级联"))
        lowres_model = workspace.training_output_folder("3d_lowres", task, args.trainer_class_name,
                                                        args.plans_identifier)
        lowres = Path(args.output_folder) / "3d_lowres_predictions"
        print("lowres_segmentations is None. Attempting to predict 3d_lowres first...", flush=True)
        # v1: same folds, no npz, the default checkpoint (model_final_checkpoint)
        predict_from_folder(lowres_model, args.input_folder, lowres, folds, save_npz=False, **common)
        print("3d_lowres done", flush=True)
    trainer = args.cascade_trainer_class_name if args.model == "3d_cascade_fullres" else args.trainer_class_name
    model_folder = workspace.training_output_folder(args.model, task, trainer, args.plans_identifier)
    print("using model stored in ", model_folder, flush=True)
    results = predict_from_folder(model_folder, args.input_folder, args.output_folder, folds,
                                  save_npz=args.save_npz, checkpoint_name=args.chk, part_id=args.part_id,
                                  num_parts=args.num_parts, lowres_segmentations=lowres, **common)
    write_json(time.time() - start, Path(args.output_folder) / "prediction_time.txt")  # as v1: seconds, JSON
    done = sum(not r.skipped for r in results)
    print(tr(f"predicted {done} case(s), skipped {len(results) - done} into {args.output_folder}",
             f"预测了 {done} 个病例,跳过 {len(results) - done} 个,结果在 {args.output_folder}"))
    return 0
