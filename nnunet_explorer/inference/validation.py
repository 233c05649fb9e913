"""Validation of one fold, as ``nnUNetTrainer.validate`` runs it after training (or with ``nnUNet_train -val``).

For every validation case of the fold (in the order of ``val_keys``):

1. Load the *preprocessed* stage file ``CASE.npz`` (channels + seg); the seg's ``-1`` (outside the nonzero
   crop) becomes 0; the image channels are predicted with the sliding window
   (:func:`~nnunet_explorer.network_architecture.sliding_window.predict_sliding_window`: step 0.5, Gaussian, mirroring on
   the training's mirror axes).
2. Transpose the probabilities back to the original axis order (``transpose_backward``) and export them to
   ``<fold>/validation_raw/CASE.nii.gz`` on the original grid
   (:func:`~nnunet_explorer.inference.export.save_segmentation_nifti_from_softmax`); with ``save_softmax`` also
   ``CASE.npz`` (float16) + ``CASE.pkl``.
3. Score all cases against ``gt_segmentations/CASE.nii.gz`` -> ``validation_raw/summary.json`` (labels
   ``0..C-1``; name ``"<trainer> val tiled True"``, task = the preprocessed task folder's name).
4. Decide postprocessing on this fold (:func:`~nnunet_explorer.inference.postprocessing.determine_postprocessing`,
   final folder ``validation_raw_postprocessed``) and copy the reference labels into ``<fold>/../gt_niftis``
   (used later when the folds are consolidated).

``validation_args.json`` records the arguments, with v1's keys (the cascade's ``step`` for ``step_size``
included).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import ExplorerError
from ..language import tr
from ..fileio import copy_atomic, load_pickle, write_json
from ..provenance import mirrors
from .evaluation import aggregate_scores
from .export import save_segmentation_nifti_from_softmax
from .postprocessing import determine_postprocessing
from ..network_architecture.sliding_window import predict_sliding_window

#: v1 writes probabilities to a temporary .npy above this many voxels (2 GB / 4 bytes * 0.85)
LARGE_SOFTMAX_VOXELS = 2e9 / 4 * 0.85


@dataclass(frozen=True)
class CaseValidationRecord:
    """What validating one case did (for inspection)."""

    case: str
    fname: str
    skipped: bool
    input_shape: tuple[int, ...] = ()
    num_tiles: int = 0
    steps: tuple[tuple[int, ...], ...] = ()
    step_size: float = 0.5
    mirror_axes: tuple[int, ...] = ()
    softmax_megabytes: float = 0.0
    do_separate_z: bool = False
    predict_seconds: float = 0.0
    export_seconds: float = 0.0

    def summary(self) -> str:
        if self.skipped:
            return tr(f"{self.case}: skipped (outputs exist, overwrite=False)",
                      f"{self.case}:跳过(输出已存在,overwrite=False)")
        return tr(f"{self.case}: input {list(self.input_shape)}, {self.num_tiles} tiles (step {self.step_size}), "
                  f"mirror_axes {list(self.mirror_axes)}, softmax {self.softmax_megabytes:.1f} MB, separate z "
                  f"{self.do_separate_z}, predict {self.predict_seconds:.2f} s, export {self.export_seconds:.2f} s",
                  f"{self.case}：输入 {list(self.input_shape)}，{self.num_tiles} 个窗口(步长 {self.step_size}),"
                  f"mirror_axes {list(self.mirror_axes)},softmax {self.softmax_megabytes:.1f} MB,z 轴单独处理 "
                  f"{self.do_separate_z},预测 {self.predict_seconds:.2f} s,导出 {self.export_seconds:.2f} s")


@dataclass(frozen=True)
class ValidationReport:
    """Where validation wrote its results and what it found."""

    output_folder: Path
    summary_file: Path
    cases: tuple[CaseValidationRecord, ...] = field(repr=False)
    mean_dice: Mapping[str, float] = field(default_factory=dict)
    postprocessing: Mapping[str, Any] | None = None
    seconds: float = 0.0

    def summary(self) -> str:
        dice = ", ".join(f"{k}: {v:.4f}" for k, v in self.mean_dice.items())
        pp = "" if self.postprocessing is None else tr("; postprocessing", ";后处理") + " for_which_classes " \
            f"{self.postprocessing['for_which_classes']}"
        return tr(f"validated {len(self.cases)} case(s) into {self.output_folder} in {self.seconds:.1f} s; "
                  f"mean Dice per label {{{dice}}}{pp}",
                  f"已验证 {len(self.cases)} 个病例,结果在 {self.output_folder},用时 {self.seconds:.1f} s;"
                  f"每个标签的平均 Dice {{{dice}}}{pp}")


def default_mirror_axes(threeD: bool) -> tuple[int, ...]:
    """``data_aug_params['mirror_axes']`` of nnUNetTrainerV2: (0, 1, 2) for 3D networks, (0, 1) for 2D."""
    return (0, 1, 2) if threeD else (0, 1)


def export_params(plans: Mapping[str, Any], segmentation_export_kwargs: Mapping[str, Any] | None = None
                  ) -> tuple[bool | None, int, int]:
    """``(force_separate_z, interpolation_order, interpolation_order_z)``: explicit kwargs, else the plans'
    ``segmentation_export_params``, else v1's defaults ``(None, 1, 0)``."""
    source = segmentation_export_kwargs
    if source is None and "segmentation_export_params" in plans:
        source = plans["segmentation_export_params"]
    if source is None:
        return None, 1, 0
    return source["force_separate_z"], int(source["interpolation_order"]), int(source["interpolation_order_z"])


@mirrors("nnunet.training.network_training.nnUNetTrainer:nnUNetTrainer.validate")
def validate(network, plans: Mapping[str, Any], stage: int | None, fold_folder: str | os.PathLike,
             preprocessed_stage_folder: str | os.PathLike, val_keys: Sequence[str],
             gt_segmentations_folder: str | os.PathLike, *, do_mirroring: bool = True,
             mirror_axes: Sequence[int] | None = None, step_size: float = 0.5, use_gaussian: bool = True,
             save_softmax: bool = False, overwrite: bool = True, validation_folder_name: str = "validation_raw",
             run_postprocessing_on_folds: bool = True, mixed_precision: bool = False,
             segmentation_export_kwargs: Mapping[str, Any] | None = None, experiment_name: str = "nnUNetTrainerV2",
             task_name: str | None = None, debug: bool = False, device=None,
             tile_batch_size: int | None = None, segs_from_prev_stage_folder: str | os.PathLike | None = None,
             all_in_gpu: bool = False, sums_on: str = "auto", predict: Any = None) -> ValidationReport:
    """Predict, export, score and postprocess the validation cases of one fold (see the module docstring).

    Args:
        network: the trained ``Generic_UNet`` (its mode and ``do_ds`` are restored afterwards).
        plans: the plans dict (``transpose_backward``, the stage's ``patch_size``, export params).
        stage: the plans stage the network was trained on (None for single-stage plans).
        fold_folder: ``.../<Trainer>__<plans>/fold_k``; results go to ``fold_folder/validation_folder_name``.
        preprocessed_stage_folder: ``nnUNet_preprocessed/<Task>/<data_identifier>_stage<k>`` with
            ``CASE.npz`` / ``CASE.pkl``.
        val_keys: the validation case identifiers of the fold (``splits_final.pkl``).
        gt_segmentations_folder: ``nnUNet_preprocessed/<Task>/gt_segmentations``.
        do_mirroring, mirror_axes, step_size, use_gaussian: sliding-window settings (mirror axes default to
            the V2 training's: (0, 1, 2) in 3D, (0, 1) in 2D).
        save_softmax: also write ``CASE.npz`` probabilities (``nnUNet_train --npz``; v1's method default is
            True, its command line's is False).
        overwrite: False skips cases whose outputs exist (``--val_disable_overwrite``).
        run_postprocessing_on_folds: run :func:`determine_postprocessing` afterwards (v1 default True).
        experiment_name, task_name: the ``name`` / ``task`` of ``summary.json`` (task defaults to the folder
            name above ``preprocessed_stage_folder``).
        segs_from_prev_stage_folder: the cascade (``nnUNetTrainerV2CascadeFullRes.validate``): the ``3d_lowres``
            ``pred_next_stage`` folder; each case's ``CASE_segFromPrevStage.npz`` is one-hot encoded over labels
            ``1..C-1`` and appended to the image channels.
        all_in_gpu: v1's option (float16 sums on the GPU), passed to the sliding window.
        tile_batch_size, sums_on: the sliding window's (None / ``"auto"``: 4 tiles per pass and float32 sums on
            the GPU on CUDA, v1's one tile and CPU sums elsewhere).
        predict: ``predict(data) -> softmax`` replacing the sliding window (a trainer's own
            ``predict_preprocessed_data_return_seg_and_softmax``, which v1 calls for every case).

    Returns:
        A :class:`ValidationReport`.
    """
    from ..training.processed_plans import process_plans

    t_start = time.perf_counter()
    fold_folder, stage_folder = Path(fold_folder), Path(preprocessed_stage_folder)
    gt_folder = Path(gt_segmentations_folder)
    processed = process_plans(plans, stage)
    if mirror_axes is None:
        mirror_axes = default_mirror_axes(processed.threeD)
    mirror_axes = tuple(mirror_axes) if do_mirroring else ()
    force_separate_z, order, order_z = export_params(plans, segmentation_export_kwargs)
    output_folder = fold_folder / validation_folder_name
    output_folder.mkdir(parents=True, exist_ok=True)
    # v1's cascade trainer (nnUNetTrainerV2_CascadeFullRes.validate) writes the step size under the key "step"
    step_key = "step" if segs_from_prev_stage_folder is not None else "step_size"
    write_json({"do_mirroring": do_mirroring, "use_sliding_window": True, step_key: step_size,
                "save_softmax": save_softmax, "use_gaussian": use_gaussian, "overwrite": overwrite,
                "validation_folder_name": validation_folder_name, "debug": debug, "all_in_gpu": all_in_gpu,
                "segmentation_export_kwargs": None if segmentation_export_kwargs is None
                else dict(segmentation_export_kwargs)}, output_folder / "validation_args.json")
    transpose_backward = [int(i) for i in plans.get("transpose_backward", [0, 1, 2])]

    records: list[CaseValidationRecord] = []
    pairs: list[list[str]] = []
    for key in val_keys:
        pkl, npz = stage_folder / f"{key}.pkl", stage_folder / f"{key}.npz"
        if not npz.is_file():
            raise ExplorerError(tr(f"validation case {key}: {npz} does not exist",
                                   f"验证病例 {key}: {npz} 不存在"),
                                fix=tr("run plan_and_preprocess for this stage, or check the split's case names",
                                       "请为这个 stage 运行 plan_and_preprocess, 或检查划分 (split) 中的病例名"))
        properties = load_pickle(pkl)
        fname = str(properties["list_of_data_files"][0]).split("/")[-1][:-12]
        out_nii = output_folder / f"{fname}.nii.gz"
        npz_out = output_folder / f"{fname}.npz"
        pairs.append([str(out_nii), str(gt_folder / f"{fname}.nii.gz")])
        if not overwrite and out_nii.is_file() and (not save_softmax or npz_out.is_file()):
            records.append(CaseValidationRecord(key, fname, skipped=True))
            continue
        with np.load(npz) as f:
            data = f["data"]
        data[-1][data[-1] == -1] = 0  # as v1 (the seg channel is not used for prediction)
        data_for_net = data[:-1]
        if segs_from_prev_stage_folder is not None:
            from ..training.cascade_augmentation import to_one_hot

            with np.load(Path(segs_from_prev_stage_folder) / f"{key}_segFromPrevStage.npz") as f:
                seg_prev = f["data"]
            data_for_net = np.concatenate((data_for_net, to_one_hot(seg_prev, range(1, int(network.num_classes)))))
        if predict is not None:
            softmax, result = np.asarray(predict(data_for_net)), None
        else:
            result = predict_sliding_window(network, data_for_net, processed.patch_size, do_mirroring=do_mirroring,
                                            mirror_axes=mirror_axes, step_size=step_size, use_gaussian=use_gaussian,
                                            mixed_precision=mixed_precision, device=device,
                                            tile_batch_size=tile_batch_size, all_in_gpu=all_in_gpu,
                                            sums_on=sums_on)
            softmax = result.probabilities
        probabilities = softmax.transpose([0] + [i + 1 for i in transpose_backward])
        # differs from v1: the export runs in this process right away (v1 hands it to a Pool and, above ~1.7 GB,
        # goes through a temporary .npy file to get around a pickling limit of inter-process pipes)
        export = save_segmentation_nifti_from_softmax(probabilities, out_nii, properties, order,
                                                      npz_file=npz_out if save_softmax else None,
                                                      force_separate_z=force_separate_z, order_z=order_z)
        records.append(CaseValidationRecord(
            key, fname, False, tuple(int(s) for s in data.shape[1:]), result.num_tiles if result else 0,
            result.steps if result else (), float(step_size), tuple(mirror_axes),
            softmax.nbytes / 1e6, export.do_separate_z, result.seconds if result else 0.0, export.seconds))

    num_classes = int(network.num_classes)
    task = task_name if task_name is not None else stage_folder.parent.name
    summary_file = output_folder / "summary.json"
    results = aggregate_scores(pairs, labels=list(range(num_classes)), json_output_file=summary_file,
                               json_name=f"{experiment_name} val tiled True", json_task=task)
    pp = None
    if run_postprocessing_on_folds:
        pp = determine_postprocessing(fold_folder, gt_folder, validation_folder_name,
                                      final_subf_name=validation_folder_name + "_postprocessed", debug=debug)
    gt_niftis = fold_folder.parent / "gt_niftis"
    for f in sorted(gt_folder.glob("*.nii.gz")):
        copy_atomic(f, gt_niftis / f.name)
    mean_dice = {k: float(v["Dice"]) for k, v in results["mean"].items()}
    return ValidationReport(output_folder, summary_file, tuple(records), mean_dice, pp,
                            time.perf_counter() - t_start)
