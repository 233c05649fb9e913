"""How the real nnU-Net v1 (1.7.1) is run for the conformance data: one trainer class, one subprocess.

Used by ``scripts/v1_variant_reference.py`` (which writes ``tests/conformance/v1_reference.json``) and by
``tests/conformance/test_v1_reference_data.py`` (which re-derives a sample of it), so both run v1 identically.
No pytest needed at import.

The recipe (:data:`HARNESS_DESCRIPTION` says it in words): ``get_default_configuration(network, task,
'nnUNetTrainerV2', plans)`` for the plans file, dataset folder, ``batch_dice`` and stage (plans
``nnUNetPlansv2.1``, or a special planner's for the classes of :data:`SPECIAL_PLANS`); one torch
thread; ``torch.use_deterministic_algorithms(True)``; the class imported from its v1 module
(``nnunet.training.network_training.nnUNet_variants.<folder>.<file>``); ``random.seed(12345)``; the trainer made
with fold 0, ``output_folder = RESULTS_FOLDER/nnUNet/<network>/<task>/<class>__<plans>``,
``unpack_data=True, deterministic=True, fp16=False``; ``max_num_epochs, num_batches_per_epoch,
num_val_batches_per_epoch = 3, 2, 1`` set after construction; ``initialize(True)``; ``plot_progress`` a no-op;
``tr_gen`` and ``val_gen`` replaced by batchgenerators' ``SingleThreadedAugmenter(gen.generator, gen.transform)``;
``run_training()``; the per-epoch ``all_tr_losses`` / ``all_val_losses`` formatted ``'%.4f'``.

Each class gets its own interpreter because v1 mutates module-level dicts (``default_3D_augmentation_params``
...) by reference in ``setup_DA_params``: a second trainer in the same process starts from the first one's
augmentation parameters. It shows even for the same class twice: ``nnUNetTrainerV2.setup_DA_params`` computes
``basic_generator_patch_size`` from ``scale_range`` *before* setting it to ``(0.7, 1.4)`` in the shared dict, so
the first trainer of a process samples with (0.85, 1.25) and any later one with (0.7, 1.4) — plain V2 on the CT
task gives train losses 1.3771 1.2465 1.1077 first and 1.3908 1.2397 1.0874 second. ``nnUNet_train`` runs one
trainer per process, so the first-in-process numbers are v1's.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

EPOCHS, BATCHES, VAL_BATCHES = 3, 2, 1
SEED = 12345
PLANS_IDENTIFIER = "nnUNetPlansv2.1"
TASK_NAME = "Task901_SynthCT"
VARIANTS_PACKAGE = "nnunet.training.network_training.nnUNet_variants"
# network per task kind: the CT task trains 3d_fullres (its only 3D stage), the cascade task the cascade's stage 1
DEFAULT_NETWORK = {"ct": "3d_fullres", "cascade": "3d_cascade_fullres"}
# plans keys only a special v1 planner writes -> the plans identifier of that planner's plans (variant_tasks.py
# makes them): the residual-encoder trainers read 'num_blocks_encoder' from ExperimentPlanner3DFabiansResUNet_v21
SPECIAL_PLANS = {"num_blocks_encoder": "nnUNetPlans_FabiansResUNet_v2.1"}
# classes the harness constructs with fp16=True because their __init__ refuses anything else (on the CPU v1's
# autocast and GradScaler are inactive, so this is still an fp32 run)
FP16_ONLY = {"nnUNetTrainerV2_fp16"}

HARNESS_DESCRIPTION = (
    "Each trainer class runs in its own Python subprocess (v1 mutates module-level dicts such as "
    "default_3D_augmentation_params by reference, so classes must not share a process) with nnU-Net v1 1.7.1 "
    "itself: the three v1 folder variables point at the workspace, nnUNet_n_proc_DA=1, nnUNet_def_n_proc=1, "
    "OMP_NUM_THREADS=1, torch.set_num_threads(1), CPU only. get_default_configuration(network, "
    "'Task901_SynthCT', 'nnUNetTrainerV2', 'nnUNetPlansv2.1') gives the plans file, dataset directory, batch_dice "
    "and stage (plans 'nnUNetPlans_FabiansResUNet_v2.1' for the residual-encoder classes, which read "
    "'num_blocks_encoder': v1's ExperimentPlanner3DFabiansResUNet_v21 plans, reusing the standard preprocessed "
    "data); then torch.use_deterministic_algorithms(True); the class is imported from its module under "
    "nnunet.training.network_training.nnUNet_variants; random.seed(12345); the trainer is built as "
    "cls(plans_file, 0, output_folder=RESULTS_FOLDER/nnUNet/<network>/Task901_SynthCT/<class>__<plans>, "
    "dataset_directory=..., batch_dice=..., stage=..., unpack_data=True, deterministic=True, fp16=False) "
    "(fp16=True for nnUNetTrainerV2_fp16, whose __init__ asserts it; autocast/GradScaler do nothing on the CPU); "
    "max_num_epochs, num_batches_per_epoch, num_val_batches_per_epoch = 3, 2, 1 are set after construction "
    "(overriding what a class sets in __init__); initialize(True); plot_progress is replaced by a no-op; tr_gen "
    "and val_gen are replaced by batchgenerators' SingleThreadedAugmenter(gen.generator, gen.transform); "
    "run_training(). Recorded: all_tr_losses and all_val_losses per epoch as '%.4f' strings, and the wall seconds "
    "from construction to the end of run_training. Tasks: 'ct' is the synthetic CT task 901 (10 training cases, "
    "seed 0) planned and preprocessed by v1's nnUNet_plan_and_preprocess -t 901 -tl 1 -tf 1 (3d_fullres patch "
    "16x40x40, batch 2; 2d patch 40x40, batch 6), plus the 3D plans of v1's ExperimentPlanner3DFabiansResUNet_v21 "
    "(plan_experiment() only; same patch and batch); 'cascade' is that task with a hand-made two-stage 3D plan "
    "(stage 0 = stage 1 at twice the in-plane spacing), both stages preprocessed by v1's GenericPreprocessor, and "
    "3d_lowres/nnUNetTrainerV2__nnUNetPlansv2.1/pred_next_stage/CASE_segFromPrevStage.npz written without "
    "training as each case's stage-1 ground truth (-1 -> 0, uint8); cascade classes train 3d_cascade_fullres "
    "(stage 1) on it. See tests/conformance/variant_tasks.py and tests/conformance/v1_harness.py."
)


def module_name(rel_file: str | None, class_name: str) -> str:
    """The v1 module that defines ``class_name`` (``rel_file`` relative to nnUNet_variants/, None: a plain one)."""
    if rel_file is None:
        if class_name == "nnUNetTrainerV2CascadeFullRes":
            return "nnunet.training.network_training.nnUNetTrainerV2_CascadeFullRes"
        return f"nnunet.training.network_training.{class_name}"
    return VARIANTS_PACKAGE + "." + rel_file[:-len(".py")].replace("/", ".")


def _shorten(text: str, limit: int = 240) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[:limit - 3] + "..."


def _child(spec: dict) -> dict:
    """Runs inside the subprocess: v1 trains one class, the result as a dict."""
    import importlib
    import random
    import traceback

    import torch

    phase = "import"
    try:
        from batchgenerators.dataloading.single_threaded_augmenter import SingleThreadedAugmenter
        from nnunet.run.default_configuration import get_default_configuration
        from nnunet.training.network_training.nnUNetTrainer import nnUNetTrainer

        torch.set_num_threads(1)
        phase = "configuration"
        plans_file, output_folder_name, dataset_directory, batch_dice, stage, _ = get_default_configuration(
            spec["network"], spec["task_name"], "nnUNetTrainerV2", spec["plans"])
        torch.use_deterministic_algorithms(True)
        phase = "import"
        module = importlib.import_module(spec["module"])
        cls = getattr(module, spec["class"])
        if not (isinstance(cls, type) and issubclass(cls, nnUNetTrainer)):
            return {"status": "not_a_trainer", "reason": f"{spec['class']} is not a subclass of nnUNetTrainer"}
        output_folder = os.path.join(os.path.dirname(output_folder_name), f"{spec['class']}__{spec['plans']}")
        phase = "__init__"
        start = time.perf_counter()
        random.seed(SEED)
        t = cls(plans_file, 0, output_folder=output_folder, dataset_directory=dataset_directory,
                batch_dice=batch_dice, stage=stage, unpack_data=True, deterministic=True, fp16=spec["fp16"])
        t.max_num_epochs, t.num_batches_per_epoch, t.num_val_batches_per_epoch = spec["epochs"], spec["batches"], \
            spec["val_batches"]
        phase = "initialize"
        t.initialize(True)
        t.plot_progress = lambda: None  # progress.png does not change the losses and costs seconds
        for gen in ("tr_gen", "val_gen"):
            old = getattr(t, gen)
            setattr(t, gen, SingleThreadedAugmenter(old.generator, old.transform))
        phase = "run_training"
        t.run_training()
        seconds = time.perf_counter() - start
        train = ["%.4f" % v for v in t.all_tr_losses]
        val = ["%.4f" % v for v in t.all_val_losses]
        if len(train) != spec["epochs"] or len(val) != spec["epochs"]:
            return {"status": "fails_in_v1", "phase": phase,
                    "reason": f"ran {len(train)} training / {len(val)} validation epochs, not {spec['epochs']}",
                    "train": train, "val": val}
        return {"status": "trains", "train": train, "val": val, "seconds": round(seconds, 1)}
    except Exception as e:  # noqa: BLE001 - the point is to record what v1 raises
        traceback.print_exc()
        frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename != __file__]
        where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno} {frames[-1].name}" if frames else ""
        return {"status": "fails_in_v1", "phase": phase, "where": where,
                "reason": _shorten(f"{type(e).__name__}: {e}")}


def run_class(ws, class_name: str, rel_file: str | None, network: str, *, task_name: str = TASK_NAME,
              plans_identifier: str = PLANS_IDENTIFIER, timeout: float = 600, epochs: int = EPOCHS,
              batches: int = BATCHES, val_batches: int = VAL_BATCHES) -> dict:
    """v1 trains ``class_name`` (defined in ``nnUNet_variants/<rel_file>``) in a fresh subprocess on ``ws``.

    Returns ``{'status': 'trains', 'train': [...], 'val': [...], 'seconds': s}`` or
    ``{'status': 'fails_in_v1', 'reason': '...', 'phase': ...}``; ``'timeout'`` when the subprocess ran past
    ``timeout`` seconds. ``ws`` is a :class:`nnunet_explorer.paths.Workspace`; v1 writes under its results folder.
    """
    from nnunet_explorer.parity import v1_environment

    spec = {"class": class_name, "module": module_name(rel_file, class_name), "network": network,
            "task_name": task_name, "plans": plans_identifier, "fp16": class_name in FP16_ONLY, "epochs": epochs,
            "batches": batches,
            "val_batches": val_batches}
    env = v1_environment(ws.ensure(), {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "nnUNet_n_proc_DA": "1",
                                       "nnUNet_def_n_proc": "1", "CUDA_VISIBLE_DEVICES": ""})
    start = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, str(Path(__file__).resolve()), json.dumps(spec)], env=env,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "reason": f"no result within {timeout:.0f} s", "process_seconds": timeout}
    elapsed = round(time.perf_counter() - start, 1)
    for line in reversed(done.stdout.strip().splitlines()):
        if line.startswith("V1_HARNESS_RESULT "):
            result = json.loads(line[len("V1_HARNESS_RESULT "):])
            result["process_seconds"] = elapsed
            if result["status"] != "trains":
                result["log_tail"] = (done.stdout[-1500:] + "\n" + done.stderr[-3000:]).strip()
            return result
    tail = done.stderr.strip().splitlines()[-1:] or ["(no output)"]
    return {"status": "fails_in_v1", "phase": "process",
            "reason": _shorten(f"subprocess exited {done.returncode}: {tail[0]}"), "process_seconds": elapsed,
            "log_tail": (done.stdout[-1500:] + "\n" + done.stderr[-3000:]).strip()}


# --- what there is to run ------------------------------------------------------------------------------------

def variants_dir() -> Path:
    """v1 1.7.1's ``nnUNet_variants`` folder in the installed ``nnunet`` (found without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("nnunet")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("nnunet (nnU-Net v1 1.7.1) is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "training" / "network_training" / "nnUNet_variants"


def variant_files(root: Path | None = None) -> list[str]:
    """Every ``.py`` file under nnUNet_variants/ except the ``__init__.py`` files, relative, sorted (72 in 1.7.1)."""
    root = root or variants_dir()
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.py") if p.name != "__init__.py")


_NOT_TRAINER_BASES = {"nn.Module", "torch.nn.Module", "Module"}


def classes_in(rel_file: str, root: Path | None = None) -> dict[str, dict]:
    """The classes a variant file defines (by its syntax tree, without importing it), in file order.

    ``{name: {'bases': [...], 'aliases': [...], 'plans_keys': [...]}}``; classes that derive from ``nn.Module``
    (helpers such as ``GeLU``) are left out. ``aliases``: module-level ``X_copy1 = X`` names v1 would also find by
    name. ``plans_keys``: the non-standard plans keys the class body reads (see :data:`SPECIAL_PLANS`).
    """
    import ast

    root = root or variants_dir()
    tree = ast.parse((root / rel_file).read_text())
    found: dict[str, dict] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            bases = [ast.unparse(b) for b in node.bases]
            if not set(bases) & _NOT_TRAINER_BASES:
                body = ast.unparse(node)
                found[node.name] = {"bases": bases, "aliases": [],
                                    "plans_keys": [k for k in SPECIAL_PLANS if repr(k) in body]}
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Name) and node.value.id in found:
            found[node.value.id]["aliases"] += [t.id for t in node.targets if isinstance(t, ast.Name)]
    return found


def ancestry(name: str, bases_of: dict[str, list[str]]) -> list[str]:
    """``name`` and the names of all its bases, as far as ``bases_of`` knows them."""
    seen, todo = [], [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.append(current)
        todo += bases_of.get(current, [])
    return seen


if __name__ == "__main__":
    import warnings

    warnings.filterwarnings("ignore")
    out = _child(json.loads(sys.argv[1]))
    sys.stdout.flush()
    print("V1_HARNESS_RESULT " + json.dumps(out), flush=True)
