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
from ..tasks import SAMPLE_TASK_IDS

HELP = ("write a small example task (synthetic CT, synthetic MR, real Colin27 MR, or the blog's KiTS19 case) "
        "into the workspace")


@dataclass(frozen=True)
class SampleKind:
    """Defaults of one sample kind."""

    task_id: int
    task_name: str
    num_training: int
    description: str


KINDS: dict[str, SampleKind] = {
    "synthetic-ct": SampleKind(SAMPLE_TASK_IDS["synthetic-ct"], "SyntheticCT", 10, "synthetic CT-like task (1 modality CT, anisotropic "
                               "3 x 0.8 x 0.8 mm, labels organ + lesion)"),
    "synthetic-mr": SampleKind(SAMPLE_TASK_IDS["synthetic-mr"], "SyntheticMR", 10, "synthetic MR-like task (2 modalities T1 + T2, 1 mm, "
                               "labels structure + inner)"),
    "real": SampleKind(SAMPLE_TASK_IDS["real"], "ColinDeepGrey", 8, "real MR: cases derived from the Colin27 T1 crop with AAL labels "
                       "caudate, putamen, pallidum, thalamus"),
    "kits19": SampleKind(SAMPLE_TASK_IDS["kits19"], "KiTS", 5, "the blog's KiTS19 case: KiTS19's fingerprint (210 cases) planned as v1 "
                         "plans it, plus 5 tiny CT-like cases, cropped and preprocessed (no plan_and_preprocess "
                         "needed; running it would replace the 210-case fingerprint by the tiny cases)"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=sorted(KINDS), help="which sample: " + "; ".join(
        f"{k}: {v.description} (default Task{v.task_id:03d}_{v.task_name})" for k, v in KINDS.items()))
    parser.add_argument("--task_id", type=int, default=None, help="task id (default: 901 / 902 / 903 by kind)")
    parser.add_argument("--task_name", default=None,
                        help="name after TaskXXX_ (default: SyntheticCT / SyntheticMR / ColinDeepGrey)")
    parser.add_argument("--num_training", type=int, default=None, help="training cases (default 10, real: 8)")
    parser.add_argument("--num_test", type=int, default=None,
                        help="test cases of the synthetic kinds (default 2; the real sample has one: the original)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed writes the same task")
    parser.add_argument("--from_debian", default=None, metavar="DIR",
                        help="real only: crop afresh from DIR/ch2.nii.gz and DIR/aal.nii.gz (Debian mricron-data, "
                        "/usr/share/mricron/templates) instead of the shipped crop")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--exist_ok", action="store_true", help="if the task exists, say so and leave it untouched")
    group.add_argument("--overwrite", action="store_true", help="replace an existing task of the same name")


def task_folder_name(task_id: int, task_name: str) -> str:
    """``Task901_SyntheticCT`` from 901 and ``SyntheticCT`` (a full ``TaskXXX_Name`` is accepted too)."""
    from ..tasks import TASK_NAME_PATTERN, task_prefix

    match = TASK_NAME_PATTERN.match(task_name)
    if match:
        if int(match.group(1)) != task_id:
            raise TaskError(f"--task_name {task_name} does not match --task_id {task_id}",
                            fix="give only the part after TaskXXX_, or matching id and name")
        return task_name
    if not task_name or "/" in task_name or task_name.startswith(".") or any(c.isspace() for c in task_name):
        raise TaskError(f"--task_name {task_name!r} cannot be used in a folder name",
                        fix="use letters, digits, '-' or '_', e.g. --task_name MyTask")
    return f"{task_prefix(task_id)}_{task_name}"


def run(args: argparse.Namespace) -> int:
    from ..paths import get_workspace
    from ..tasks import _subdirs_with_prefix, task_prefix, task_search_folders

    kind = KINDS[args.kind]
    task_id = kind.task_id if args.task_id is None else args.task_id
    if task_id < 0 or task_id > 9999:
        raise TaskError(f"--task_id {task_id} is out of range",
                        fix="use an id between 0 and 9999 (v1 pads to 3 digits)")
    name = task_folder_name(task_id, args.task_name or kind.task_name)
    num_training = kind.num_training if args.num_training is None else args.num_training
    if args.kind in ("real", "kits19") and args.num_test is not None:
        raise TaskError(f"--num_test does not apply to the {args.kind} sample",
                        fix="drop --num_test: its one test case is the untransformed original")
    num_test = 2 if args.num_test is None else args.num_test
    if num_training < 1 or num_test < 0:
        raise TaskError("--num_training must be at least 1 and --num_test at least 0",
                        fix="e.g. --num_training 4 (v1's 5-fold cross-validation wants 5 or more)")
    if args.from_debian and args.kind != "real":
        raise TaskError("--from_debian only applies to the real sample", fix="drop --from_debian or use `sample real`")

    workspace = get_workspace().ensure()
    target = workspace.raw_task_dir(name)
    # Another task with this id (under any name, at any stage) would make the id ambiguous for v1.
    prefix = task_prefix(task_id)
    clashes = sorted({(place, other) for place, folder in task_search_folders(workspace)
                      for other in _subdirs_with_prefix(folder, prefix + "_") if other != name})
    if clashes:
        listing = "\n".join(f"    {other} ({place})" for place, other in clashes)
        raise TaskError(f"task id {task_id} is already used by another task:\n{listing}",
                        fix="choose another --task_id, or remove that task first (v1 needs one name per id)")
    if target.exists():
        if args.exist_ok:
            print(f"{name} already exists at {target}; left untouched (--exist_ok).")
            if args.kind != "kits19":  # kits19 is planned and preprocessed already
                _print_next(task_id, target)
            return 0
        if not args.overwrite:
            raise TaskError(f"{target} already exists",
                            fix="add --exist_ok to keep it, --overwrite to replace it, or pick another --task_id")

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

    print(f"wrote {name} ({kind.description}, {num_training} training cases, seed {args.seed}) to\n  {target}")
    stale = [(stage, folder) for stage, folder in (("cropped", workspace.cropped_task_dir(name)),
                                                    ("preprocessed", workspace.preprocessed_task_dir(name)))
             if folder.exists()]
    if args.overwrite and stale:
        print("warning: these folders were made from the old task and are now stale:\n"
              + "\n".join(f"  {stage}: {folder}" for stage, folder in stale)
              + "\n  delete them before planning again (v1 reuses cropped data that already exists)", file=sys.stderr)
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
    print(f"wrote {name}: KiTS19's fingerprint (210 cases) and 5 tiny CT-like cases, cropped, planned and "
          f"preprocessed:\n  {target}\n  {workspace.cropped_task_dir(name)}\n  {workspace.preprocessed_task_dir(name)}")
    from ..fileio import load_pickle

    def stage_text(path: Path) -> str:
        stage = load_pickle(path)["plans_per_stage"][0]
        return f"patch {'x'.join(str(int(v)) for v in stage['patch_size'])}, batch {stage['batch_size']}"

    print(f"plans: {files['blog_3d'].name} = the blog's plans ({stage_text(files['blog_3d'])});\n"
          f"       {files['as_planned_3d'].name} = what v1's planner gives for this fingerprint "
          f"({stage_text(files['as_planned_3d'])})")
    print("next (the blog's command):\n"
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
    print("next:\n"
          f"  nnunet-explorer plan_and_preprocess -t {task_id} --verify_dataset_integrity\n"
          f"  (nnU-Net v1 itself: nnUNet_plan_and_preprocess -t {task_id} --verify_dataset_integrity)")
