"""``nnunet-explorer sample {synthetic-ct,synthetic-mr,real,kits19}``: write a ready-to-plan task in v1's raw layout.

``kits19`` goes further: it writes the blog's ``Task040_KiTS`` already cropped, planned (from KiTS19's
210-case fingerprint) and preprocessed, so ``nnunet-explorer train 3d_fullres nnUNetTrainerV2 40 1`` runs at
once (see :mod:`nnunet_explorer.samples.kits19`).

The task lands in ``nnUNet_raw_data_base/nnUNet_raw_data/TaskXXX_Name``. It is written into a hidden
temporary folder next to its destination and renamed into place at the end, so an interrupted run never
leaves a half-written task that a later ``plan_and_preprocess`` would pick up.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import TaskError
from ..language import pick, tr
from ..tasks import SAMPLE_TASK_IDS

# picked when the parser is built (not at import: a notebook or test may switch the language later)
HELP = {"en": "write a small example task (synthetic CT, synthetic MR, real Colin27 MR, or the blog's KiTS19 case) "
              "into the workspace",
        "zh": "把一个小的示例任务(合成 CT、合成 MR、真实的 Colin27 MR,或原博客的 KiTS19 案例)写入工作区"}


@dataclass(frozen=True)
class SampleKind:
    """Defaults of one sample kind."""

    task_id: int
    task_name: str
    num_training: int
    texts: dict[str, str]  # what the sample is, by language ("en", "zh")

    @property
    def description(self) -> str:
        """What the sample is, in the reader's language."""
        return pick(self.texts)


KINDS: dict[str, SampleKind] = {
    "synthetic-ct": SampleKind(SAMPLE_TASK_IDS["synthetic-ct"], "SyntheticCT", 10, {
        "en": "synthetic CT-like task (1 modality CT, anisotropic 3 x 0.8 x 0.8 mm, labels organ + lesion)",
        "zh": "合成的类 CT 任务(1 个模态 CT,各向异性 3 x 0.8 x 0.8 mm,标签为器官 + 病灶)"}),
    "synthetic-mr": SampleKind(SAMPLE_TASK_IDS["synthetic-mr"], "SyntheticMR", 10, {
        "en": "synthetic MR-like task (2 modalities T1 + T2, 1 mm, labels structure + inner)",
        "zh": "合成的类 MR 任务(2 个模态 T1 + T2，1 mm,标签为结构 + 内部)"}),
    "real": SampleKind(SAMPLE_TASK_IDS["real"], "ColinDeepGrey", 8, {
        "en": "real MR: cases derived from the Colin27 T1 crop with AAL labels caudate, putamen, pallidum, thalamus",
        "zh": "真实 MR:由带 AAL 标签(尾状核、壳核、苍白球、丘脑)的 Colin27 T1 裁剪块派生的病例"}),
    "kits19": SampleKind(SAMPLE_TASK_IDS["kits19"], "KiTS", 5, {
        "en": "the blog's KiTS19 case: KiTS19's fingerprint (210 cases) planned as v1 plans it, plus 5 tiny CT-like "
              "cases, cropped and preprocessed (no plan_and_preprocess needed; running it would recompute spacings, "
              "sizes and classes from the tiny cases, keeping only the 210-case CT intensity statistics, so the plans "
              "would no longer be KiTS19's)",
        "zh": "原博客的 KiTS19 案例:KiTS19 的数据指纹(210 个病例)按 v1 的方式规划,再加上 5 个很小的类 CT 病例,"
              "已裁剪并预处理(不需要 plan_and_preprocess;运行它会用这几个小病例重新计算 spacing、尺寸和类别,只保留 210 个病例"
              "的 CT 强度统计,于是 plans 就不再是 KiTS19 的了)"}),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    kinds = [tr(f"{k}: {v.description} (default Task{v.task_id:03d}_{v.task_name})",
                f"{k}:{v.description}(默认 Task{v.task_id:03d}_{v.task_name})") for k, v in KINDS.items()]
    parser.add_argument("kind", choices=sorted(KINDS), help=tr("which sample: ", "哪个样例:") + tr("; ", ";").join(kinds))
    # the defaults of every kind, read from KINDS so that the help cannot leave one out
    ids = " / ".join(str(v.task_id) for v in KINDS.values())
    names = " / ".join(v.task_name for v in KINDS.values())
    counts = ", ".join(f"{k}: {v.num_training}" for k, v in KINDS.items())
    parser.add_argument("--task_id", type=int, default=None,
                        help=tr(f"task id (default by kind: {ids})", f"任务编号(默认按样例:{ids})"))
    parser.add_argument("--task_name", default=None,
                        help=tr(f"name after TaskXXX_ (default by kind: {names})",
                                f"TaskXXX_ 之后的名字(默认按样例:{names})"))
    parser.add_argument("--num_training", type=int, default=None,
                        help=tr(f"training cases (default {counts})", f"训练病例数(默认 {counts})"))
    parser.add_argument("--num_test", type=int, default=None,
                        help=tr("test cases of the synthetic kinds (default 2; the real sample has one: the original)",
                                "合成样例的测试病例数(默认 2;real 样例只有一个:原始图像)"))
    parser.add_argument("--seed", type=int, default=0, help=tr("random seed; the same seed writes the same task",
                                                               "随机种子;同样的种子写出同样的任务"))
    parser.add_argument("--from_debian", default=None, metavar="DIR",
                        help=tr("real only: crop afresh from DIR/ch2.nii.gz and DIR/aal.nii.gz (Debian mricron-data, "
                                "/usr/share/mricron/templates) instead of the shipped crop",
                                "只用于 real:从 DIR/ch2.nii.gz 和 DIR/aal.nii.gz(Debian 的 mricron-data，"
                                "/usr/share/mricron/templates)重新裁剪,而不用随包附带的裁剪块"))
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--exist_ok", action="store_true",
                       help=tr("if the task exists, say so and leave it untouched", "如果任务已存在,说明这一点并保持不变"))
    group.add_argument("--overwrite", action="store_true",
                       help=tr("replace an existing task of the same name", "替换同名的已有任务"))


def task_folder_name(task_id: int, task_name: str) -> str:
    """``Task901_SyntheticCT`` from 901 and ``SyntheticCT`` (a full ``TaskXXX_Name`` is accepted too)."""
    from ..tasks import TASK_NAME_PATTERN, task_prefix

    match = TASK_NAME_PATTERN.match(task_name)
    if match:
        if int(match.group(1)) != task_id:
            raise TaskError(tr(f"--task_name {task_name} does not match --task_id {task_id}",
                               f"--task_name {task_name} 与 --task_id {task_id} 不一致"),
                            fix=tr("give only the part after TaskXXX_, or matching id and name",
                                   "只给出 TaskXXX_ 之后的部分,或者给出一致的编号和名字"))
        return task_name
    if not task_name or "/" in task_name or task_name.startswith(".") or any(c.isspace() for c in task_name):
        raise TaskError(tr(f"--task_name {task_name!r} cannot be used in a folder name",
                           f"--task_name {task_name!r} 不能用作文件夹名"),
                        fix=tr("use letters, digits, '-' or '_', e.g. --task_name MyTask",
                               "使用字母、数字、'-' 或 '_',例如 --task_name MyTask"))
    return f"{task_prefix(task_id)}_{task_name}"


def run(args: argparse.Namespace) -> int:
    from ..paths import get_workspace
    from ..tasks import _subdirs_with_prefix, task_prefix, task_search_folders

    kind = KINDS[args.kind]
    task_id = kind.task_id if args.task_id is None else args.task_id
    if task_id < 0 or task_id > 9999:
        raise TaskError(tr(f"--task_id {task_id} is out of range", f"--task_id {task_id} 超出范围"),
                        fix=tr("use an id between 0 and 9999 (v1 pads to 3 digits)",
                               "使用 0 到 9999 之间的编号(v1 补齐到 3 位)"))
    name = task_folder_name(task_id, args.task_name or kind.task_name)
    num_training = kind.num_training if args.num_training is None else args.num_training
    if args.kind in ("real", "kits19") and args.num_test is not None:
        raise TaskError(tr(f"--num_test does not apply to the {args.kind} sample",
                           f"--num_test 不适用于 {args.kind} 样例"),
                        fix=tr("drop --num_test: its one test case is the untransformed original",
                               "去掉 --num_test:它唯一的测试病例是未经变换的原始图像"))
    num_test = 2 if args.num_test is None else args.num_test
    if num_training < 1 or num_test < 0:
        raise TaskError(tr("--num_training must be at least 1 and --num_test at least 0",
                           "--num_training 至少为 1,--num_test 至少为 0"),
                        fix=tr("e.g. --num_training 5 (v1's 5-fold cross-validation needs at least 5)",
                               "例如 --num_training 5(v1 的 5 折交叉验证至少需要 5 个)"))
    if args.from_debian and args.kind != "real":
        raise TaskError(tr("--from_debian only applies to the real sample", "--from_debian 只适用于 real 样例"),
                        fix=tr("drop --from_debian or use `sample real`", "去掉 --from_debian,或使用 `sample real`"))

    workspace = get_workspace().ensure()
    target = workspace.raw_task_dir(name)
    # Another task with this id (under any name, at any stage) would make the id ambiguous for v1.
    prefix = task_prefix(task_id)
    clashes = sorted({(place, other) for place, folder in task_search_folders(workspace)
                      for other in _subdirs_with_prefix(folder, prefix + "_") if other != name})
    if clashes:
        listing = "\n".join(f"    {other} ({place})" for place, other in clashes)
        raise TaskError(tr(f"task id {task_id} is already used by another task:", f"任务编号 {task_id} 已被另一个任务使用:")
                        + f"\n{listing}",
                        fix=tr("choose another --task_id, or remove that task first (v1 needs one name per id)",
                               "换一个 --task_id,或先删除那个任务(v1 要求每个编号只对应一个名字)"))
    if target.exists():
        if args.exist_ok:
            print(tr(f"{name} already exists at {target}; left untouched (--exist_ok).",
                     f"{name} 已存在于 {target};保持不变(--exist_ok)。"))
            if args.kind != "kits19":  # kits19 is planned and preprocessed already
                _print_next(task_id, target)
            return 0
        if not args.overwrite:
            raise TaskError(tr(f"{target} already exists", f"{target} 已存在"),
                            fix=tr("add --exist_ok to keep it, --overwrite to replace it, or pick another --task_id",
                                   "加上 --exist_ok 保留它,加上 --overwrite 替换它,或换一个 --task_id"))

    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=target.parent))
    try:
        staged = tmp / name
        _write(args.kind, staged, num_training=num_training, num_test=num_test, seed=args.seed,
               from_debian=args.from_debian)
        if target.exists():  # --overwrite: swap in the new task, then delete the old one
            old = tmp / f"{name}.old"
            target.rename(old)
            staged.rename(target)
        else:
            staged.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.kind == "kits19":
        return _install_kits19(name, task_id, target, workspace)

    print(tr(f"wrote {name} ({kind.description}, {num_training} training cases, seed {args.seed}) to",
             f"已写出 {name}（{kind.description}，{num_training} 个训练病例，种子 {args.seed}），位于") + f"\n  {target}")
    stale = [(stage, folder) for stage, folder in (("cropped", workspace.cropped_task_dir(name)),
                                                    ("preprocessed", workspace.preprocessed_task_dir(name)))
             if folder.exists()]
    if args.overwrite and stale:
        print(tr("warning: these folders were made from the old task and are now stale:",
                 "警告:这些文件夹是由旧任务生成的,现在已经过时:") + "\n"
              + "\n".join(f"  {stage}: {folder}" for stage, folder in stale)
              + "\n  " + tr("delete them before planning again (v1 reuses cropped data that already exists)",
                            "重新规划之前删除它们(v1 会复用已经存在的裁剪数据)"), file=sys.stderr)
    if num_training < 5:
        print(tr(f"note: {num_training} training case(s) are too few for v1's five folds (it makes them for any "
                 "numbered fold): train fold all, or write a splits_final.pkl of your own after preprocessing",
                 f"提示:{num_training} 个训练病例不够 v1 的五折划分(训练任何编号的 fold 都要先做这个划分):训练 "
                 "fold all,或者在预处理之后自己写一个 splits_final.pkl"), file=sys.stderr)
    _print_next(task_id, target)
    return 0


def _install_kits19(name: str, task_id: int, target: Path, workspace) -> int:
    """Crop, write KiTS19's fingerprint and plans, preprocess; on any failure remove all of the task again."""
    from ..samples.kits19 import AS_PLANNED_IDENTIFIER, install_kits19

    for folder in (workspace.cropped_task_dir(name), workspace.preprocessed_task_dir(name)):
        shutil.rmtree(folder, ignore_errors=True)  # made from an older sample: would be reused by cropping
    try:
        files = install_kits19(name, workspace)
    except BaseException:
        for folder in (target, workspace.cropped_task_dir(name), workspace.preprocessed_task_dir(name)):
            shutil.rmtree(folder, ignore_errors=True)
        raise
    print(tr(f"wrote {name}: KiTS19's fingerprint (210 cases) and 5 tiny CT-like cases, cropped, planned and "
             "preprocessed:",
             f"已写出 {name}:KiTS19 的数据指纹(210 个病例)和 5 个很小的类 CT 病例,已裁剪、规划并预处理:")
          + f"\n  {target}\n  {workspace.cropped_task_dir(name)}\n  {workspace.preprocessed_task_dir(name)}")
    from ..fileio import load_pickle

    def stage_text(path: Path) -> str:
        stage = load_pickle(path)["plans_per_stage"][0]
        return f"patch {'x'.join(str(int(v)) for v in stage['patch_size'])}, batch {stage['batch_size']}"

    print(tr(f"plans: {files['blog_3d'].name} = the blog's plans ({stage_text(files['blog_3d'])});\n"
             f"       {files['as_planned_3d'].name} = what v1's planner gives for this fingerprint "
             f"({stage_text(files['as_planned_3d'])})",
             f"plans:{files['blog_3d'].name} = 原博客的 plans({stage_text(files['blog_3d'])});\n"
             f"       {files['as_planned_3d'].name} = v1 的规划器对这个数据指纹给出的结果"
             f"({stage_text(files['as_planned_3d'])})"))
    print(tr("next (the blog's command):", "下一步(原博客的命令):") + "\n"
          f"  nnunet-explorer train 3d_fullres nnUNetTrainerV2 {task_id} 1 --until architecture\n"
          f"  nnunet-explorer train 3d_fullres nnUNetTrainerV2 {task_id} 1 -p {AS_PLANNED_IDENTIFIER} "
          "--until architecture")
    return 0



def _write(kind: str, task_dir: Path, *, num_training: int, num_test: int, seed: int,
           from_debian: str | None) -> None:
    if kind == "kits19":
        from ..samples.kits19 import write_raw_task

        write_raw_task(task_dir, num_cases=num_training, seed=seed)
        return
    if kind == "real":
        from ..samples.real import build_real_task

        build_real_task(task_dir, num_training=num_training, seed=seed, from_debian=from_debian)
    else:
        from ..samples.synthetic import write_synthetic_task

        write_synthetic_task(task_dir, kind.split("-")[1], num_training=num_training, num_test=num_test, seed=seed)


def _print_next(task_id: int, target: Path) -> None:
    print(tr("next:", "下一步:") + "\n"
          f"  nnunet-explorer plan_and_preprocess -t {task_id} --verify_dataset_integrity\n"
          + tr(f"  (nnU-Net v1 itself: nnUNet_plan_and_preprocess -t {task_id} --verify_dataset_integrity)",
               f"  (nnU-Net v1 本身:nnUNet_plan_and_preprocess -t {task_id} --verify_dataset_integrity)"))

