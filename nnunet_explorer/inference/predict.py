"""Predicting new images with a trained model folder, as ``nnUNet_predict`` does (``inference/predict.py``).

The model folder is ``RESULTS_FOLDER/nnUNet/<network>/<Task>/<Trainer>__<plans>`` with one ``fold_k`` (or
``all``) sub-folder per trained fold, each holding ``<checkpoint>.model`` + ``<checkpoint>.model.pkl``, and
optionally ``postprocessing.json`` (written when the folds are consolidated). For each case (files
``CASE_0000.nii.gz``, ``CASE_0001.nii.gz``... one per modality):

1. **Preprocess** exactly as training data was: crop to the nonzero box, transpose (``transpose_forward``),
   resample to the stage spacing and normalize (``preprocess_test_case``, using the planning package).
2. **Predict** with every fold's weights (sliding window, mirroring unless ``--disable_tta``) and average the
   probabilities over folds (the *ensemble*).
3. Transpose back, **export** to ``OUT/CASE.nii.gz`` on the original grid (optionally ``CASE.npz`` softmax).
4. **Postprocess** with the model folder's ``postprocessing.json`` (largest connected component per entry of
   ``for_which_classes``), if there is one.

Before anything is written, every input file's header is read (:func:`check_input_files`: a readable 3D
image, one file per modality, one geometry per case) and the model is loaded, so bad input leaves no
half-made output folder. The network is placed once on the chosen device (``"auto"``: CUDA where available,
else the CPU, as v1 does). :class:`~nnunet_explorer.inference.predictor.Predictor` runs the same functions from
Python, one image at a time.

Checkpoints are read with the safe loaders of :mod:`nnunet_explorer.training.checkpoints`. A cascade model
(``3d_cascade_fullres``) also needs each case's ``3d_lowres`` prediction (``lowres_segmentations``): it is
resized to the preprocessed image and appended as one-hot channels (:mod:`.cascade`).
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from ..device import resolve_device
from ..errors import DatasetError, ExplorerError
from ..language import and_more, tr
from ..fileio import copy_atomic
from ..provenance import mirrors
from ..tasks import is_macos_copy, macos_copy_fix
from .export import save_segmentation_nifti_from_softmax
from .postprocessing import apply_postprocessing_to_folder, load_postprocessing
from ..network_architecture.sliding_window import predict_sliding_window
from .validation import default_mirror_axes, export_params


@dataclass
class LoadedModel:
    """A model folder loaded for prediction: plans, stage, one network and one state_dict per fold."""

    folder: Path
    plans: dict
    stage: int | None
    trainer_name: str
    fold_folders: tuple[Path, ...]
    state_dicts: tuple[Mapping[str, Any], ...] = field(repr=False)
    network: Any = field(repr=False)
    patch_size: tuple[int, ...]
    threeD: bool
    num_classes: int
    checkpoint_name: str
    has_prev_stage: bool = False  # a cascade model: needs the 3d_lowres segmentation as extra input
    # test-time mirroring as the trainer sets it (data_aug_params 'do_mirror', 'mirror_axes'); mirror_axes None:
    # nnUNetTrainerV2's for the network's dimension (see load_model_and_checkpoint_files' trainer_mirroring)
    do_mirror: bool = True
    mirror_axes: tuple[int, ...] | None = None
    mirroring_note: str | None = None  # why the axes are V2's although the trainer might set others

    @property
    def device(self) -> torch.device:
        """Where the network's weights are (chosen when loading; :func:`predict_case` may move them once)."""
        return next(self.network.parameters()).device

    @property
    def test_time_mirror_axes(self) -> tuple[int, ...]:
        """The axes test-time mirroring flips: the trainer's, else nnUNetTrainerV2's for the dimension."""
        return self.mirror_axes if self.mirror_axes is not None else default_mirror_axes(self.threeD)

    def summary(self) -> str:
        dim, folds = "3D" if self.threeD else "2D", ", ".join(f.name for f in self.fold_folders)
        return tr(f"{self.trainer_name} from {self.folder} (stage {self.stage}, patch {list(self.patch_size)}, "
                  f"{dim}, {self.num_classes} classes), folds: {folds}, checkpoint {self.checkpoint_name}, "
                  f"device {self.device}",
                  f"{self.trainer_name}，来自 {self.folder}（stage {self.stage}，patch {list(self.patch_size)}，"
                  f"{dim}，{self.num_classes} 个类别）；折：{folds}；检查点 {self.checkpoint_name}；设备 {self.device}")


def _fold_folders(model_folder: Path, folds) -> list[Path]:
    if folds is None:
        found = sorted(p for p in model_folder.iterdir() if p.is_dir() and p.name.startswith("fold"))
        if not found:
            raise ExplorerError(tr(f"no fold_* folders in {model_folder}", f"{model_folder} 中没有 fold_* 文件夹"),
                                fix=tr("train at least one fold, or give the folds with -f", "至少训练一折,或用 -f 给出各折"))
        return found
    if isinstance(folds, str):
        folds = [folds]
    if isinstance(folds, int):
        folds = [folds]
    out = []
    for f in folds:
        name = "all" if str(f) == "all" else f"fold_{int(f)}"
        out.append(model_folder / name)
    missing = [str(p) for p in out if not p.is_dir()]
    if missing:
        raise ExplorerError(tr(f"fold folder(s) missing: {', '.join(missing)}", f"缺少折的文件夹:{', '.join(missing)}"),
                            fix=tr("train those folds first or choose existing ones with -f",
                                   "先训练这些折,或用 -f 选择已有的折"))
    return out


@mirrors("nnunet.training.model_restore:load_model_and_checkpoint_files")
def load_model_and_checkpoint_files(model_folder: str | os.PathLike, folds=None,
                                    checkpoint_name: str = "model_final_checkpoint",
                                    device: str | torch.device | None = "auto",
                                    trainer_mirroring: Callable[[Mapping[str, Any]], Any] | None = None
                                    ) -> LoadedModel:
    """Load the trainer description (``.model.pkl``) of the first fold and every fold's weights, safely.

    ``folds``: None = every ``fold*`` sub-folder; ``"all"``; an int or a list of ints.
    ``device``: where the network is placed, once (``"auto"``: CUDA where available, as v1's ``.cuda()``;
    see :func:`nnunet_explorer.device.resolve_device`). The folds' state_dicts stay on the CPU and are copied
    into the placed network one fold at a time.
    ``trainer_mirroring``: given the ``.model.pkl``, the trainer's ``(do_mirror, mirror_axes)`` or None when the
    trainer is not known (``predict`` passes :func:`nnunet_explorer.network_training.trainer_mirroring`, which
    remakes the trainer as v1 does; its errors propagate). Inference itself imports no trainer: without it,
    test-time mirroring follows nnUNetTrainerV2 and is never refused (for a trainer of another name with a note in
    ``mirroring_note``); when it returns None, the same, with a note.
    """
    from ..training.checkpoints import load_checkpoint_file, load_model_pkl, load_state_dict_into
    from ..training.generic_unet import build_network
    from ..training.processed_plans import process_plans

    model_folder = Path(model_folder)
    device = resolve_device(device)  # before any file is read: a bad --device fails first
    if not model_folder.is_dir():
        raise ExplorerError(tr(f"model folder {model_folder} does not exist", f"模型文件夹 {model_folder} 不存在"),
                            fix=tr("check -m/-t/-tr/-p and RESULTS_FOLDER (the folder is "
                                   "RESULTS_FOLDER/nnUNet/<network>/<Task>/<Trainer>__<plans>)",
                                   "检查 -m/-t/-tr/-p 和 RESULTS_FOLDER(文件夹是 "
                                   "RESULTS_FOLDER/nnUNet/<network>/<Task>/<Trainer>__<plans>)"))
    fold_folders = _fold_folders(model_folder, folds)
    info = load_model_pkl(fold_folders[0] / f"{checkpoint_name}.model.pkl")
    plans = info["plans"]
    init = info["init"]
    stage = init[5] if isinstance(init, (list, tuple)) and len(init) > 5 else None
    processed = process_plans(plans, stage)
    state_dicts = []
    for folder in fold_folders:
        checkpoint = load_checkpoint_file(folder / f"{checkpoint_name}.model")
        state_dicts.append(checkpoint["state_dict"])
    has_prev_stage = _is_cascade_stage(str(info["name"]), state_dicts[0], processed.num_input_channels)
    num_input_channels = processed.num_input_channels + (processed.num_classes - 1 if has_prev_stage else 0)
    network = build_network(num_input_channels, processed.base_num_features, processed.num_classes,
                            processed.net_num_pool_op_kernel_sizes, processed.net_conv_kernel_sizes,
                            conv_per_stage=processed.conv_per_stage, threeD=processed.threeD)
    load_state_dict_into(network, state_dicts[0])  # fails early if the weights do not fit the plans
    network.to(device)  # once: build_network leaves it on the CPU, and every fold's weights are copied in place
    network.eval()
    do_mirror, mirror_axes, note = True, None, None
    if trainer_mirroring is None and str(info["name"]) != "nnUNetTrainerV2":
        # differs from v1: inference imports no trainer, so without trainer_mirroring another trainer's own
        # test-time mirroring is not read (v1 reads it): nnUNetTrainerV2's axes, and a note that says so
        axes = default_mirror_axes(processed.threeD)
        note = tr(f"test-time mirroring along nnUNetTrainerV2's axes {axes}: {info['name']}'s own setting was not "
                  "read (v1 reads it, and refuses mirroring for a trainer trained without it); pass "
                  "trainer_mirroring=nnunet_explorer.network_training.trainer_mirroring, as the `predict` command "
                  "does",
                  f"测试时镜像沿 nnUNetTrainerV2 的轴 {axes}：没有读取 {info['name']} 自己的设置（v1 会读取，并拒绝为"
                  "训练时没有做镜像的 trainer 做镜像）；像 `predict` 命令那样传入 "
                  "trainer_mirroring=nnunet_explorer.network_training.trainer_mirroring")
    elif trainer_mirroring is not None:
        found = trainer_mirroring(info)
        if found is None:
            # differs from v1: v1 finds every trainer class of its package by name; a class not registered here
            # (a v1 variant whose file was not loaded) mirrors along nnUNetTrainerV2's axes, and the log says so
            axes = default_mirror_axes(processed.threeD)
            note = tr(f"{info['name']} is not a trainer known here: test-time mirroring along nnUNetTrainerV2's axes "
                      f"{axes}. v1 uses the trainer's own (its variants without mirroring refuse it); load its "
                      "file with --trainer_file to do the same, or predict with --disable_tta",
                      f"{info['name']} 不是这里已知的 trainer：测试时镜像沿 nnUNetTrainerV2 的轴 {axes}。v1 使用该 "
                      "trainer 自己的设置（它那些不做镜像的变体会拒绝镜像）；用 --trainer_file 载入它的文件即可同样处理，"
                      "或用 --disable_tta 预测")
        else:
            do_mirror, mirror_axes = bool(found[0]), tuple(int(a) for a in found[1])
    return LoadedModel(model_folder, plans, processed.stage, str(info["name"]), tuple(fold_folders),
                       tuple(state_dicts), network, processed.patch_size, processed.threeD,
                       processed.num_classes, checkpoint_name, has_prev_stage, do_mirror, mirror_axes, note)


def check_test_time_mirroring(model: LoadedModel, do_tta: bool) -> None:
    """Refuse test-time mirroring for a trainer that trained without mirroring, as v1 does.

    Raises:
        ExplorerError: ``do_tta`` while the trainer's ``data_aug_params['do_mirror']`` is False.
    """
    if do_tta and not model.do_mirror:
        raise ExplorerError(
            tr(f"{model.trainer_name} trained without mirroring, so test-time mirroring is refused (v1: \"Cannot do "
               "mirroring as test time augmentation when training was done without mirroring\")",
               f"{model.trainer_name} 训练时没有做镜像，因此拒绝测试时镜像（v1：\"Cannot do mirroring as test time "
               "augmentation when training was done without mirroring\"）"),
            fix=tr("predict with --disable_tta (Python: do_tta=False)", "用 --disable_tta 预测（Python：do_tta=False）"))


def _is_cascade_stage(name: str, state_dict: Mapping[str, Any], num_modalities: int) -> bool:
    """Whether a checkpoint is a cascade full-resolution stage (its input has the 3d_lowres one-hot channels).

    v1 re-creates the trainer class named in the ``.model.pkl`` and lets its ``process_plans`` add one input
    channel per foreground class. The explorer reads the answer off the weights: the input convolution of a
    cascade stage (the convolution with the fewest input channels) takes more channels than the plans have
    modalities (v1's two cascade class names are
    recognised as well).
    """
    # differs from v1: no trainer class is needed to predict, so inference imports no trainer
    if name in ("nnUNetTrainerCascadeFullRes", "nnUNetTrainerV2CascadeFullRes"):
        return True
    # the input convolution takes the fewest channels of all convolutions (the others take feature maps)
    widths = [int(v.shape[1]) for v in state_dict.values() if getattr(v, "ndim", 0) in (4, 5)]
    return bool(widths) and min(widths) > int(num_modalities)


@mirrors("nnunet.preprocessing.preprocessing:GenericPreprocessor.preprocess_test_case")
def preprocess_test_case(data_files: Sequence[str | os.PathLike], plans: Mapping[str, Any],
                         stage: int | None) -> tuple[np.ndarray, dict]:
    """Crop, transpose, resample and normalize one new case like its training data; ``(data (c, ...), props)``.

    Without a label file the crop's seg is the nonzero mask (0 inside, -1 outside), which the normalization
    uses when ``use_mask_for_norm`` is set, exactly as in v1.
    """
    from ..planning.cropping import crop, load_case_from_list_of_files
    from ..planning.preprocessing import PREPROCESSORS

    from ..training.processed_plans import process_plans

    processed = process_plans(plans, stage)
    name = plans.get("preprocessor_name") or ("GenericPreprocessor" if processed.threeD else "PreprocessorFor2D")
    if name not in PREPROCESSORS:
        raise ExplorerError(tr(f"the plans ask for preprocessor {name!r}, which the explorer does not implement",
                               f"plans 要求使用预处理器 {name!r}, 但 explorer 没有实现它"),
                            fix=tr(f"use plans with one of: {', '.join(PREPROCESSORS)}",
                                   f"请使用以下预处理器之一的 plans: {', '.join(PREPROCESSORS)}"))
    preprocessor = PREPROCESSORS[name](plans["normalization_schemes"], plans["use_mask_for_norm"],
                                       plans["transpose_forward"], plans["dataset_properties"]["intensityproperties"])
    files = [str(f) for f in data_files]
    data, seg, properties = load_case_from_list_of_files(files, None, case=Path(files[0]).name[:-12])
    data, seg, properties = crop(data, properties, seg, case=Path(files[0]).name[:-12])
    data, seg = preprocessor.transpose(data), preprocessor.transpose(seg)
    target_spacing = plans["plans_per_stage"][processed.stage]["current_spacing"]
    data, seg, properties = preprocessor.resample_and_normalize(data, np.array(target_spacing), properties, seg,
                                                                force_separate_z=None)
    return data.astype(np.float32), properties


_CASE_FILE = re.compile(r"^(.+)_(\d{4})\.nii\.gz$")


@mirrors("nnunet.inference.predict:check_input_folder_and_return_caseIDs")
def check_input_folder_and_return_case_ids(input_folder: str | os.PathLike, expected_num_modalities: int,
                                           log=None) -> list[str]:
    """Case ids of ``CASE_XXXX.nii.gz`` files; every case must have all ``expected_num_modalities`` files.

    Only file names are checked here (as in v1); :func:`check_input_files` reads the headers. A ``.nii.gz``
    not named ``CASE_XXXX.nii.gz`` is an error (v1 mostly fails on it too, asking for a file it derived from the
    name). Modality files beyond the model's (``CASE_0001.nii.gz`` for a one-modality model) are reported through
    ``log`` and ignored; v1 only prints that it found unexpected files, then gives them to the case as extra
    channels, so its preprocessing worker fails on the channel count, prints ``error in ...`` and the case gets
    no output.
    """
    input_folder = Path(input_folder)
    if not input_folder.is_dir():
        raise ExplorerError(tr(f"input folder {input_folder} does not exist", f"输入文件夹 {input_folder} 不存在"),
                            fix=tr("check -i", "检查 -i"))
    files = sorted(f.name for f in input_folder.iterdir() if f.name.endswith(".nii.gz"))
    if not files:
        raise ExplorerError(tr(f"{input_folder} contains no .nii.gz images", f"{input_folder} 中没有 .nii.gz 图像"),
                            fix=tr("put the images there named CASE_0000.nii.gz (one _XXXX file per modality)",
                                   "把图像放在那里,命名为 CASE_0000.nii.gz(每个模态一个 _XXXX 文件)"))
    copies = [f for f in files if is_macos_copy(f)]
    if copies:
        # differs from v1: v1 takes ._CASE_0000.nii.gz for an image of a case '._CASE' whose preprocessing fails
        # ("error in ..."), so that case gets no output; the explorer stops before writing anything
        raise DatasetError(tr(f"{len(copies)} file(s) in {input_folder} are macOS resource copies: ",
                              f"{input_folder} 中有 {len(copies)} 个文件是 macOS 的资源副本:")
                           + f"{', '.join(copies[:10])}" + (" ..." if len(copies) > 10 else ""),
                           fix=macos_copy_fix().replace("TASK_FOLDER", str(input_folder)))
    unnamed = [f for f in files if not _CASE_FILE.match(f)]
    if unnamed:
        raise DatasetError(tr(f"{len(unnamed)} file(s) in {input_folder} are not named CASE_XXXX.nii.gz: ",
                              f"{input_folder} 中有 {len(unnamed)} 个文件没有按 CASE_XXXX.nii.gz 命名:")
                           + f"{', '.join(unnamed[:10])}" + (" ..." if len(unnamed) > 10 else ""),
                           fix=tr("name each image CASE_0000.nii.gz (CASE_0001.nii.gz for a second modality ...), or "
                                  "move other files out of the input folder",
                                  "把每张图像命名为 CASE_0000.nii.gz(第二个模态为 CASE_0001.nii.gz ...),"
                                  "或把其他文件移出输入文件夹"))
    case_ids = sorted({f[:-12] for f in files})
    missing = [f"{c}_{m:04d}.nii.gz" for c in case_ids for m in range(expected_num_modalities)
               if not (input_folder / f"{c}_{m:04d}.nii.gz").is_file()]
    if missing:
        raise ExplorerError(tr(f"files missing in {input_folder}: ", f"{input_folder} 中缺少文件:")
                            + f"{', '.join(missing[:10])}" + (" ..." if len(missing) > 10 else ""),
                            fix=tr(f"this model expects {expected_num_modalities} modality file(s) per case, named "
                                   "CASE_0000.nii.gz, CASE_0001.nii.gz, ...",
                                   f"这个模型每个病例需要 {expected_num_modalities} 个模态文件,命名为 "
                                   "CASE_0000.nii.gz、CASE_0001.nii.gz ..."))
    extra = [f for f in files if int(_CASE_FILE.match(f).group(2)) >= expected_num_modalities]
    if extra and log is not None:
        log(tr(f"WARNING: {len(extra)} file(s) beyond the model's {expected_num_modalities} modality file(s) per case "
               "are ignored: ", f"警告:超出模型每个病例 {expected_num_modalities} 个模态文件的 {len(extra)} 个文件被忽略:")
            + f"{', '.join(extra[:10])}" + (" ..." if len(extra) > 10 else ""))
    return case_ids


def _verify_image_content(path: Path) -> str | None:
    """The one place that checks an image's voxel data is complete (a ``.nii.gz`` cut short reads without error).

    Returns a problem text, or None: :func:`nnunet_explorer.image_io.verify_image_file` reads the file to its end
    (a truncated gzip stream, fewer voxels than the header declares), which SimpleITK does not check.
    """
    from ..errors import DatasetError
    from ..image_io import verify_image_file

    try:
        verify_image_file(path)
    except DatasetError as exc:
        return exc.cause + (f" (fix: {exc.fix})" if exc.fix else "")
    return None


def _header(path: Path):
    """``(Geometry, dimension, components per voxel)`` from the header alone (no voxels read)."""
    import SimpleITK as sitk

    from ..tasks import Geometry

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    geometry = Geometry(tuple(reader.GetSize()), tuple(reader.GetSpacing()), tuple(reader.GetOrigin()),
                        tuple(reader.GetDirection()))
    return geometry, reader.GetDimension(), reader.GetNumberOfComponents()


def check_input_files(list_of_lists: Sequence[Sequence[str | os.PathLike]], expected_num_modalities: int,
                      segs_from_prev_stage: Sequence[str | os.PathLike] | None = None) -> None:
    """Check every input before anything is written: each case's files are readable 3D single-channel images
    with one geometry (v1's ``verify_same_geometry`` tolerance), one file per modality the model expects.

    Only headers are read (``SimpleITK.ImageFileReader.ReadImageInformation``), so this takes milliseconds
    per file. Every problem of every case is collected, then raised together.

    Raises:
        DatasetError: naming each file and what is wrong with it, with the fix.
    """
    problems: list[str] = []
    for index, files in enumerate(list_of_lists):
        files = [Path(f) for f in files]
        if len(files) != expected_num_modalities:
            problems.append(f"{', '.join(f.name for f in files)}: {len(files)} file(s), but the model expects "
                            f"{expected_num_modalities} modalities (fix: give one file per modality, in the order of "
                            "the training data's _0000, _0001 ...)")
            continue
        headers = []
        for path in files:
            if not path.is_file():
                problems.append(f"{path}: does not exist")
                continue
            try:
                geometry, dim, components = _header(path)
            except RuntimeError as exc:  # SimpleITK: no ImageIO can read it, or a broken header
                reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
                problems.append(f"{path}: not an image SimpleITK can read ({reason.strip()}) (fix: replace it by "
                                "the NIfTI image (.nii.gz) it should be, or move it out of the input folder)")
                continue
            if dim != 3 or components != 1:
                problems.append(f"{path}: a {dim}D image with {components} value(s) per voxel, but nnU-Net needs 3D "
                                "images with one value per voxel (fix: one 3D file per modality; 2D images as 3D "
                                "with one slice)")
                continue
            content = _verify_image_content(path)
            if content:
                problems.append(f"{path}: {content}")
                continue
            headers.append((path, geometry))
        for path, geometry in headers[1:]:
            reference_path, reference = headers[0]
            diff = geometry.mismatches(reference)
            if diff:
                problems.append(f"{path}: geometry differs from {reference_path.name} ({'; '.join(diff)}) (fix: "
                                "resample the modalities to one grid, as for the training images)")
        if segs_from_prev_stage is not None and headers:
            seg = Path(segs_from_prev_stage[index])
            try:
                seg_geometry = _header(seg)[0]
            except RuntimeError:
                problems.append(f"{seg}: the previous stage's segmentation cannot be read (fix: predict this case "
                                "with -m 3d_lowres again)")
                continue
            if seg_geometry.size != headers[0][1].size:
                problems.append(f"{seg}: size {seg_geometry.size} but the image {headers[0][0].name} has "
                                f"{headers[0][1].size} (fix: give the 3d_lowres prediction of this very case)")
    if problems:
        shown = problems[:20]
        more = "\n  ..." + and_more(20, len(problems)) if len(problems) > 20 else ""
        raise DatasetError(tr(f"{len(problems)} problem(s) with the input images, nothing was written:",
                              f"输入图像有 {len(problems)} 个问题,没有写出任何文件:") + "\n  "
                           + "\n  ".join(shown) + more,
                           fix=tr("correct or remove the files named above, then run again",
                                  "修正或删除上面列出的文件,然后再运行"))


@dataclass(frozen=True)
class CaseInference:
    """One case through preprocessing and every fold, before export (for looking at it in a notebook).

    Attributes:
        data: the preprocessed input ``(c, x, y, z)`` (transposed, resampled, normalized).
        properties: the case's properties (crop box, sizes, spacings, ITK geometry).
        per_fold: one :class:`~nnunet_explorer.network_architecture.sliding_window.SlidingWindowResult` per fold.
        probabilities: the fold ensemble (mean), transposed back to the original axis order, still at the
            stage spacing: what the export resamples.
    """

    data: np.ndarray = field(repr=False)
    properties: Mapping[str, Any] = field(repr=False)
    per_fold: tuple = field(repr=False)
    probabilities: np.ndarray = field(repr=False)
    preprocess_seconds: float = 0.0

    def summary(self) -> str:
        return tr(f"input {list(self.data.shape)}, {len(self.per_fold)} fold(s), {self.per_fold[0].num_tiles} tiles "
                  f"each, ensemble probabilities {list(self.probabilities.shape)}, preprocessing "
                  f"{self.preprocess_seconds:.2f} s",
                  f"输入 {list(self.data.shape)}，{len(self.per_fold)} 折，每折 {self.per_fold[0].num_tiles} 个窗口，"
                  f"集成后的概率 {list(self.probabilities.shape)}，预处理 {self.preprocess_seconds:.2f} s")

    def __repr__(self) -> str:
        return f"CaseInference({self.summary()})"


def predict_case(model: LoadedModel, data_files: Sequence[str | os.PathLike], *, do_tta: bool = True,
                 step_size: float = 0.5, mixed_precision: bool = True, device=None,
                 tile_batch_size: int | None = None, seg_from_prev_stage: str | os.PathLike | None = None,
                 all_in_gpu: bool = False, sums_on: str = "auto", log=print) -> CaseInference:
    """Preprocess one case and predict it with every fold; the mean of the folds' probabilities is the ensemble.

    Nothing is written. ``predict_cases`` exports the result; a notebook can look at each fold's tiles instead.
    A cascade model needs ``seg_from_prev_stage``, the case's ``3d_lowres`` prediction (``CASE.nii.gz``).
    ``device``: None keeps the network where :func:`load_model_and_checkpoint_files` placed it; anything else
    (``"auto"``, ``"cpu"``, ``"cuda:1"``) moves it there first, once. ``sums_on`` (where the whole-case sums
    live; ``"auto"``: float32 on the GPU on CUDA, v1's float32 in CPU memory elsewhere), ``tile_batch_size``
    (None: 4 on CUDA, 1 elsewhere) and ``all_in_gpu`` (v1's float16 sums on the GPU; v1 has it for 3D networks
    only, a 2D network raises ``NotImplementedError`` there): see
    :func:`~nnunet_explorer.network_architecture.sliding_window.predict_sliding_window`.
    """
    from ..training.checkpoints import load_state_dict_into

    check_test_time_mirroring(model, do_tta)
    device = model.device if device is None else resolve_device(device)
    if model.device != device:
        model.network.to(device)
    # v1's predict rebuilds the trainer with the training run's deterministic flag, which sets cudnn.benchmark
    # (the fastest convolution algorithms for the fixed tile shape); it has no effect on the CPU
    # differs from v1: benchmark is always on; for a model trained with --deterministic v1 turns it off (and
    # cudnn.deterministic on), which changes the speed and the last bits of the probabilities, not the method
    torch.backends.cudnn.benchmark = True
    t0 = time.perf_counter()
    data, properties = preprocess_test_case(data_files, model.plans, model.stage)
    if seg_from_prev_stage is not None and not model.has_prev_stage:
        raise ExplorerError(tr(f"a previous-stage segmentation was given, but {model.trainer_name} is not a cascade "
                               "model", f"给出了上一阶段的分割,但 {model.trainer_name} 不是级联模型"),
                            fix=tr("use -l only with -m 3d_cascade_fullres", "只在 -m 3d_cascade_fullres 时使用 -l"))
    if model.has_prev_stage:
        from .cascade import seg_from_prev_stage_channels

        if seg_from_prev_stage is None:
            raise ExplorerError(tr(f"{model.trainer_name} is the full-resolution stage of the cascade and needs the "
                                   "3d_lowres segmentation of every case",
                                   f"{model.trainer_name} 是级联的全分辨率阶段,需要每个病例的 3d_lowres 分割"),
                                fix=tr("predict with -m 3d_cascade_fullres (it predicts 3d_lowres first) or give the "
                                       "folder of 3d_lowres predictions with -l",
                                       "用 -m 3d_cascade_fullres 预测(它会先预测 3d_lowres),或用 -l 给出 3d_lowres "
                                       "预测结果的文件夹"))
        prev = seg_from_prev_stage_channels(seg_from_prev_stage, data_files[0], data.shape[1:],
                                            model.plans["transpose_forward"], model.num_classes, properties)
        for warning in prev.warnings:
            log(f"{tr('WARNING: ', '警告:')}{Path(str(data_files[0])).name}: {warning}")
        data = np.vstack((data, prev.channels)).astype(np.float32)
    preprocess_seconds = time.perf_counter() - t0
    per_fold = []
    probabilities = None
    for state_dict in model.state_dicts:
        load_state_dict_into(model.network, state_dict)
        result = predict_sliding_window(model.network, data, model.patch_size, do_mirroring=do_tta,
                                        mirror_axes=model.test_time_mirror_axes, step_size=step_size,
                                        use_gaussian=True, mixed_precision=mixed_precision, device=device,
                                        tile_batch_size=tile_batch_size, all_in_gpu=all_in_gpu, sums_on=sums_on)
        per_fold.append(result)
        # v1 sums the folds' probabilities in the order of the folds, then divides once
        probabilities = result.probabilities.copy() if probabilities is None else probabilities + result.probabilities
    if len(per_fold) > 1:
        probabilities /= len(per_fold)
    transpose_backward = [int(i) for i in model.plans.get("transpose_backward", [0, 1, 2])]
    probabilities = probabilities.transpose([0] + [i + 1 for i in transpose_backward])
    return CaseInference(data, properties, tuple(per_fold), probabilities, preprocess_seconds)


@dataclass(frozen=True)
class CasePrediction:
    """What predicting one case did."""

    case: str
    output_file: str
    skipped: bool
    preprocessed_shape: tuple[int, ...] = ()
    num_tiles_per_fold: int = 0
    num_folds: int = 0
    do_separate_z: bool = False
    preprocess_seconds: float = 0.0
    predict_seconds: float = 0.0
    export_seconds: float = 0.0
    #: the :class:`CaseInference` (preprocessed data, per-fold tiles, probabilities) when asked to keep it
    inference: CaseInference | None = field(default=None, repr=False, compare=False)


@mirrors("nnunet.inference.predict:predict_cases")
def predict_cases(model: LoadedModel, list_of_lists: Sequence[Sequence[str]], output_files: Sequence[str],
                  *, save_npz: bool = False, do_tta: bool = True, mixed_precision: bool = True,
                  overwrite_existing: bool = False, step_size: float = 0.5,
                  segmentation_export_kwargs: Mapping[str, Any] | None = None,
                  disable_postprocessing: bool = False, device=None, tile_batch_size: int | None = None,
                  segs_from_prev_stage: Sequence[str] | None = None, all_in_gpu: bool = False,
                  sums_on: str = "auto", keep_inference: bool = False, log=print) -> list[CasePrediction]:
    """Preprocess, predict (fold ensemble), export and postprocess each case (see the module docstring).

    ``segs_from_prev_stage``: for a cascade model, one ``3d_lowres`` prediction file per case.
    ``keep_inference``: keep each case's :class:`CaseInference` in its record (memory: the probabilities).
    """
    if len(list_of_lists) != len(output_files):
        raise ValueError("need one output file per case")
    if segs_from_prev_stage is not None and len(segs_from_prev_stage) != len(output_files):
        raise ValueError("need one previous-stage segmentation per case")
    cleaned = []
    for o in output_files:
        o = Path(o)
        if not o.name.endswith(".nii.gz"):
            o = o.with_name(os.path.splitext(o.name)[0] + ".nii.gz")
        o.parent.mkdir(parents=True, exist_ok=True)
        cleaned.append(o)
    force_separate_z, order, order_z = export_params(model.plans, segmentation_export_kwargs)
    results: list[CasePrediction] = []
    written: list[Path] = []
    for index, (files, out) in enumerate(zip(list_of_lists, cleaned)):
        case = out.name[:-7]
        npz_file = out.with_name(case + ".npz") if save_npz else None
        if not overwrite_existing and out.is_file() and (npz_file is None or npz_file.is_file()):
            log(tr(f"{case}: {out} exists, skipped (use --overwrite_existing to predict it again)",
                   f"{case}:{out} 已存在,跳过(用 --overwrite_existing 重新预测)"))
            results.append(CasePrediction(case, str(out), True))
            continue
        t0 = time.perf_counter()
        inference = predict_case(model, files, do_tta=do_tta, step_size=step_size, mixed_precision=mixed_precision,
                                 device=device, tile_batch_size=tile_batch_size, all_in_gpu=all_in_gpu,
                                 sums_on=sums_on, log=log,
                                 seg_from_prev_stage=None if segs_from_prev_stage is None
                                 else segs_from_prev_stage[index])
        data, properties, probabilities = inference.data, inference.properties, inference.probabilities
        t1 = t0 + inference.preprocess_seconds
        tiles = inference.per_fold[0].num_tiles
        t2 = time.perf_counter()
        export = save_segmentation_nifti_from_softmax(probabilities, out, properties, order, npz_file=npz_file,
                                                      force_separate_z=force_separate_z, order_z=order_z)
        written.append(out)
        first = inference.per_fold[0]
        sums, per_pass = getattr(first, "sums_on", "cpu"), getattr(first, "tile_batch_size", 1)
        log(tr(f"{case}: {list(data.shape)} -> {out.name} ({tiles} tiles x {len(model.state_dicts)} fold(s), "
               f"sums {sums}, {per_pass} tile(s) per pass, {t2 - t1:.1f} s)",
               f"{case}：{list(data.shape)} -> {out.name}（{tiles} 个窗口 x {len(model.state_dicts)} 折，"
               f"累加和 {sums}，每次前向 {per_pass} 个窗口，{t2 - t1:.1f} s）"))
        results.append(CasePrediction(case, str(out), False, tuple(int(s) for s in data.shape[1:]), tiles,
                                      len(model.state_dicts), export.do_separate_z, t1 - t0, t2 - t1,
                                      export.seconds, inference if keep_inference else None))
    if not disable_postprocessing and cleaned:
        pp_file = model.folder / "postprocessing.json"
        if pp_file.is_file():
            copy_atomic(pp_file, cleaned[0].parent / "postprocessing.json")
            for_which_classes, min_sizes = load_postprocessing(pp_file)
            # differs from v1: only the files written by this run are postprocessed (v1 re-applies it to
            # skipped, already postprocessed outputs too, where removing label pieces can split a region again)
            for out in written:
                apply_postprocessing_to_folder(out.parent, out.parent, for_which_classes, min_sizes, [out.name])
            log(f"{tr('postprocessing: ', '后处理:')}for_which_classes {for_which_classes}")
        else:
            log(tr(f"WARNING: no postprocessing.json in {model.folder}; predictions are not postprocessed "
                   "(it is written when the folds' validation results are consolidated)",
                   f"警告:{model.folder} 中没有 postprocessing.json;预测结果没有做后处理"
                   "(汇总各折的验证结果时才会写出它)"))
    return results


@mirrors("nnunet.inference.predict:predict_from_folder")
def predict_from_folder(model_folder: str | os.PathLike, input_folder: str | os.PathLike,
                        output_folder: str | os.PathLike, folds=None, *, save_npz: bool = False,
                        do_tta: bool = True, mixed_precision: bool = True, overwrite_existing: bool = False,
                        step_size: float = 0.5, checkpoint_name: str = "model_final_checkpoint",
                        disable_postprocessing: bool = False, part_id: int = 0, num_parts: int = 1,
                        device="auto", tile_batch_size: int | None = None,
                        lowres_segmentations: str | os.PathLike | None = None, all_in_gpu: bool = False,
                        sums_on: str = "auto", trainer_mirroring: Callable[[Mapping[str, Any]], Any] | None = None,
                        log=print) -> list[CasePrediction]:
    """``nnUNet_predict -i IN -o OUT``: every case of ``input_folder`` into ``output_folder``.

    ``lowres_segmentations``: for a cascade model, the folder with each case's ``3d_lowres`` prediction
    ``CASE.nii.gz`` (v1's ``-l``); every case must have one. ``trainer_mirroring``: see
    :func:`load_model_and_checkpoint_files`.
    """
    from ..planning.plans import load_plans

    model_folder, output_folder = Path(model_folder), Path(output_folder)
    if not model_folder.is_dir():
        raise ExplorerError(tr(f"model folder {model_folder} does not exist", f"模型文件夹 {model_folder} 不存在"),
                            fix=tr("train the model first, or check -m/-t/-tr/-p and RESULTS_FOLDER (the folder is "
                                   "RESULTS_FOLDER/nnUNet/<network>/<Task>/<Trainer>__<plans>)",
                                   "先训练模型,或检查 -m/-t/-tr/-p 和 RESULTS_FOLDER(文件夹是 "
                                   "RESULTS_FOLDER/nnUNet/<network>/<Task>/<Trainer>__<plans>)"))
    plans_file = model_folder / "plans.pkl"
    if not plans_file.is_file():
        raise ExplorerError(tr(f"{plans_file} does not exist (a trained model folder holds a copy of the plans)",
                               f"{plans_file} 不存在(训练好的模型文件夹中有一份 plans 的副本)"),
                            fix=tr("check the model folder (-m/-t/-tr/-p)", "检查模型文件夹(-m/-t/-tr/-p)"))
    num_modalities = int(load_plans(plans_file)["num_modalities"])
    case_ids = check_input_folder_and_return_case_ids(input_folder, num_modalities, log=log)
    input_folder = Path(input_folder)
    # differs from v1: a case's files are its first num_modalities _XXXX files; v1 takes every CASE_XXXX.nii.gz of
    # the case, so a file beyond the model's modalities fails the case in v1's preprocessing worker (no output)
    list_of_lists = [[str(input_folder / f"{c}_{m:04d}.nii.gz") for m in range(num_modalities)] for c in case_ids]
    output_files = [str(output_folder / f"{c}.nii.gz") for c in case_ids]
    segs = None
    if lowres_segmentations is not None:
        lowres_folder = Path(lowres_segmentations)
        if not lowres_folder.is_dir():
            raise ExplorerError(tr(f"lowres_segmentations {lowres_folder} is not a folder",
                                   f"lowres_segmentations {lowres_folder} 不是文件夹"),
                                fix=tr("give -l the folder of the 3d_lowres predictions",
                                       "用 -l 给出 3d_lowres 预测结果的文件夹"))
        segs = [str(lowres_folder / f"{c}.nii.gz") for c in case_ids]
        missing = [Path(f).name for f in segs if not Path(f).is_file()]
        if missing:
            raise ExplorerError(tr(f"not all lowres_segmentations files are present: {', '.join(missing[:10])} "
                                   f"missing in {lowres_folder}",
                                   f"lowres_segmentations 文件不全:{lowres_folder} 中缺少 {', '.join(missing[:10])}"),
                                fix=tr("predict those cases with -m 3d_lowres first",
                                       "先用 -m 3d_lowres 预测这些病例"))
        segs = segs[part_id::num_parts]
    list_of_lists, output_files = list_of_lists[part_id::num_parts], output_files[part_id::num_parts]
    # every input and the model are checked before the first file is written (v1 writes plans.pkl first and
    # meets a broken image only in its preprocessing worker)
    check_input_files(list_of_lists, num_modalities, segs)
    model = load_model_and_checkpoint_files(model_folder, folds, checkpoint_name, device=device,
                                            trainer_mirroring=trainer_mirroring)
    # differs from v1: refused before anything is written; v1 asserts at the first case it predicts (after writing
    # plans.pkl, and not at all when every output exists already)
    check_test_time_mirroring(model, do_tta)
    log(model.summary())
    if do_tta and model.mirroring_note:
        log(model.mirroring_note)
    output_folder.mkdir(parents=True, exist_ok=True)
    copy_atomic(plans_file, output_folder / "plans.pkl")
    return predict_cases(model, list_of_lists, output_files, segs_from_prev_stage=segs,
                         save_npz=save_npz, do_tta=do_tta, mixed_precision=mixed_precision,
                         overwrite_existing=overwrite_existing, step_size=step_size,
                         disable_postprocessing=disable_postprocessing, device=device,
                         tile_batch_size=tile_batch_size, all_in_gpu=all_in_gpu, sums_on=sums_on, log=log)
