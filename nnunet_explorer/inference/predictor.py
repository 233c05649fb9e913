"""Using a trained model from Python: ``Predictor.from_folder(...).predict(image)``.

nnU-Net v1 predicts only from image files on disk (``nnUNet_predict`` on a folder, or ``predict_cases`` with lists
of files); it has no entry point for an image already in memory. :class:`Predictor` is that entry point, and it is
**the same code** as ``nnunet-explorer predict``: each call runs
:func:`~nnunet_explorer.inference.predict.predict_cases` on the case, in a temporary folder, with the options given
once to :meth:`Predictor.from_folder` — preprocessing, sliding window, fold ensemble, export to the original grid
and the model folder's ``postprocessing.json`` — and reads the written label map back. So a segmentation from the
predictor equals the file ``predict`` writes for the same image, voxel for voxel.

Accepted inputs:

* a path (any image SimpleITK reads) for a one-modality model; for several modalities a list of paths in the
  training order (``_0000``, ``_0001`` ...), or the ``CASE_0000.nii.gz`` path when its siblings lie beside it;
* a ``SimpleITK.Image`` (or a list, one per modality);
* a numpy array ``(z, y, x)`` (or ``(modalities, z, y, x)``) with ``spacing`` in the same axis order
  (optionally ``origin`` and ``direction`` in ITK's x, y, z order).

In-memory images are written to the temporary folder as NIfTI first, as a user of ``predict`` would save
them. The result (:class:`PredictionResult`) holds the segmentation in the input image's grid, the
probabilities ``predict -z`` saves (float16, v1's format) placed on that grid, and a card of what was done
(tiles, mirroring, device, seconds per step).
"""
from __future__ import annotations

import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import ExplorerError
from ..language import tr
from ..network_architecture.sliding_window import resolve_sums_on, resolve_tile_batch_size
from .predict import LoadedModel, check_input_files, load_model_and_checkpoint_files, predict_cases

_MODALITY_SUFFIX = re.compile(r"_(\d{4})\.nii\.gz$")


@dataclass(frozen=True)
class PredictionResult:
    """One image through :class:`Predictor`: the segmentation, the probabilities and what was done.

    Attributes:
        case: the case name (from the file name, or ``"image"`` for in-memory input).
        segmentation: ``uint8`` label map ``(z, y, x)`` on the input image's grid (numpy axis order, as
            ``SimpleITK.GetArrayFromImage`` gives it), postprocessed when the model folder says so: exactly the
            file ``predict`` writes.
        probabilities: ``float16`` ``(C, z, y, x)`` on the same grid: inside the crop box (the image's nonzero
            region) what ``predict -z`` saves in ``CASE.npz``; outside it, where ``predict`` writes background,
            probability 1 for background. Argmax gives the segmentation before postprocessing.
        network_probabilities: float32 ``(C, ...)`` fold-ensemble probabilities at the network's spacing (in the
            original axis order, cropped): what the export resamples.
        spacing, origin, direction: the input's ITK geometry (x, y, z order), used by :meth:`save`.
        device, folds, checkpoint, patch_size, tiles_per_fold, mirror_axes, step_size, preprocessed_shape,
        do_separate_z, postprocessed, sums_on, tile_batch_size: what was done.
        seconds: wall time per step (``preprocess``, ``predict`` (sliding window, all folds), ``export``,
            ``postprocess`` (and reading back), ``total``).
        log: the lines ``predict`` printed for this case.
    """

    case: str
    segmentation: np.ndarray = field(repr=False)
    probabilities: np.ndarray = field(repr=False)
    network_probabilities: np.ndarray = field(repr=False)
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]
    device: str
    folds: tuple[str, ...]
    checkpoint: str
    patch_size: tuple[int, ...]
    tiles_per_fold: int
    mirror_axes: tuple[int, ...]
    step_size: float
    preprocessed_shape: tuple[int, ...]
    do_separate_z: bool
    postprocessed: bool
    seconds: Mapping[str, float]
    sums_on: str = "cpu"
    tile_batch_size: int = 1
    log: tuple[str, ...] = field(default=(), repr=False)

    @property
    def labels_present(self) -> list[int]:
        return [int(v) for v in np.unique(self.segmentation)]

    def voxel_counts(self) -> dict[int, int]:
        """Voxels per label in the segmentation."""
        values, counts = np.unique(self.segmentation, return_counts=True)
        return {int(v): int(c) for v, c in zip(values, counts)}

    def to_sitk(self):
        """The segmentation as a ``SimpleITK.Image`` with the input's spacing, origin and direction."""
        import SimpleITK as sitk

        image = sitk.GetImageFromArray(self.segmentation)
        image.SetSpacing(self.spacing)
        image.SetOrigin(self.origin)
        image.SetDirection(self.direction)
        return image

    def save(self, path: str | os.PathLike) -> Path:
        """Write the segmentation as NIfTI (``.nii.gz``) in the input's geometry, atomically; returns the path."""
        from .export import write_nifti_atomic

        path = Path(path)
        if not path.name.endswith((".nii.gz", ".nii")):
            raise ExplorerError(tr(f"{path} is not a NIfTI file name", f"{path} 不是 NIfTI 文件名"),
                                fix=tr("end the name with .nii.gz", "请让文件名以 .nii.gz 结尾"))
        write_nifti_atomic(self.segmentation, path, self.spacing, self.origin, self.direction)
        return path

    def summary(self) -> str:
        """What was done, in a few lines."""
        s = self.seconds
        counts = ", ".join(f"{k}: {v}" for k, v in self.voxel_counts().items())
        mirroring = (f"mirroring axes {list(self.mirror_axes)} ({2 ** len(self.mirror_axes)} predictions per tile)"
                     if self.mirror_axes else "no mirroring")
        return "\n".join([
            f"{self.case}: segmentation {list(self.segmentation.shape)} (z, y, x), voxels per label {{{counts}}}",
            f"  {len(self.folds)} fold(s) ({', '.join(self.folds)}, {self.checkpoint}) on {self.device}; "
            f"{self.tiles_per_fold} tile(s) of {list(self.patch_size)} per fold over the preprocessed "
            f"{list(self.preprocessed_shape)}, step_size {self.step_size}, {mirroring}; sums {self.sums_on}, "
            f"{self.tile_batch_size} tile(s) per forward pass",
            f"  export: {'separate z' if self.do_separate_z else 'one 3D'} resampling; postprocessing "
            f"{'applied' if self.postprocessed else 'not applied'}",
            f"  seconds: preprocess {s['preprocess']:.2f}, predict {s['predict']:.2f}, export {s['export']:.2f}, "
            f"postprocess {s['postprocess']:.2f}, total {s['total']:.2f}",
        ])

    def __repr__(self) -> str:
        return f"PredictionResult({self.summary()})"

    def _repr_html_(self) -> str:
        from html import escape

        rows = "".join(f"<tr><td>{escape(k)}</td><td>{v:.2f}</td></tr>" for k, v in self.seconds.items())
        counts = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in self.voxel_counts().items())
        lines = escape(self.summary()).split("\n")
        return (f"<div><p><b>prediction</b> {lines[0]}</p><ul>"
                + "".join(f"<li>{line.strip()}</li>" for line in lines[1:])
                + "</ul><details><summary>seconds per step</summary><table><tr><th>step</th><th>s</th></tr>"
                f"{rows}</table></details><details><summary>voxels per label</summary><table><tr><th>label</th>"
                f"<th>voxels</th></tr>{counts}</table></details></div>")


class Predictor:
    """A trained model folder, loaded once, that predicts images like ``nnunet-explorer predict``.

    Build it with :meth:`from_folder`; call :meth:`predict` per image. The options are ``predict``'s: see
    :meth:`from_folder`.
    """

    def __init__(self, model: LoadedModel, *, do_tta: bool = True, mixed_precision: bool = True,
                 step_size: float = 0.5, all_in_gpu: bool = False, tile_batch_size: int | None = None,
                 sums_on: str = "auto", disable_postprocessing: bool = False, verbose: bool = False) -> None:
        if not 0 < step_size <= 1:
            raise ExplorerError(tr(f"step_size must be in (0, 1], got {step_size}",
                                   f"step_size 必须在 (0, 1] 之内, 得到的是 {step_size}"),
                                fix=tr("use the default 0.5 (larger steps leave gaps between windows)",
                                       "请使用默认值 0.5(步长更大时窗口之间会留下空隙)"))
        self.model = model
        self.do_tta = bool(do_tta)
        self.mixed_precision = bool(mixed_precision)
        self.step_size = float(step_size)
        # resolved once, for the model's device (so a bad combination fails here, before any image is read)
        self.sums_on = resolve_sums_on(sums_on, model.device, all_in_gpu=all_in_gpu)
        self.all_in_gpu = self.sums_on == "device_fp16"
        self.tile_batch_size = resolve_tile_batch_size(tile_batch_size, model.device, self.sums_on)
        self.disable_postprocessing = bool(disable_postprocessing)
        self.verbose = bool(verbose)

    @classmethod
    def from_folder(cls, model_folder: str | os.PathLike, folds=None, checkpoint: str = "model_final_checkpoint",
                    device="auto", mixed_precision: bool = True, do_tta: bool = True, step_size: float = 0.5,
                    all_in_gpu: bool = False, tile_batch_size: int | None = None, sums_on: str = "auto",
                    disable_postprocessing: bool = False, verbose: bool = False,
                    trainer_mirroring: Any = None) -> "Predictor":
        """Load ``model_folder`` (``RESULTS_FOLDER/nnUNet/<network>/<Task>/<Trainer>__<plans>``).

        Args:
            folds: None = every ``fold_*`` folder (``predict``'s default), ``"all"``, an int or a list of ints.
            checkpoint: ``model_final_checkpoint`` (default), ``model_best`` or ``model_latest``.
            device: ``"auto"`` (CUDA where available), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
            mixed_precision: autocast on CUDA (v1's default; ``--disable_mixed_precision`` turns it off).
            do_tta: test-time mirroring (``--disable_tta`` turns it off).
            step_size: sliding-window step as a fraction of the patch.
            all_in_gpu: v1's option: whole-case sums on the GPU in float16 (the same as
                ``sums_on="device_fp16"``); v1 has it for 3D networks only (2D: ``NotImplementedError``).
            tile_batch_size: tiles per forward pass (1 = v1); None: 4 on CUDA, 1 elsewhere.
            sums_on: where the sliding window's whole-case sums live: ``"auto"`` (float32 on the GPU on CUDA,
                v1's float32 in CPU memory elsewhere), ``"cpu"``, ``"device_fp32"`` or ``"device_fp16"``.
            disable_postprocessing: do not apply the folder's ``postprocessing.json``.
            verbose: print ``predict``'s lines.
            trainer_mirroring: pass :func:`nnunet_explorer.network_training.trainer_mirroring` to mirror along
                the trainer's own axes and refuse mirroring for a trainer trained without it, as ``predict`` and
                v1 do (None: nnUNetTrainerV2's axes, never refused, and a warning when the checkpoint names
                another trainer; inference imports no trainer itself).
        """
        model = load_model_and_checkpoint_files(model_folder, folds, checkpoint, device=device,
                                                trainer_mirroring=trainer_mirroring)
        if do_tta and model.mirroring_note:
            import warnings

            warnings.warn(model.mirroring_note, UserWarning, stacklevel=2)  # at the caller's line
        return cls(model, do_tta=do_tta, mixed_precision=mixed_precision, step_size=step_size,
                   all_in_gpu=all_in_gpu, tile_batch_size=tile_batch_size, sums_on=sums_on,
                   disable_postprocessing=disable_postprocessing, verbose=verbose)

    @property
    def num_modalities(self) -> int:
        return int(self.model.plans["num_modalities"])

    def summary(self) -> str:
        return (f"Predictor: {self.model.summary()}; {self.num_modalities} modality(ies); "
                f"{'mirroring' if self.do_tta else 'no mirroring'}, step_size {self.step_size}, mixed precision "
                f"{self.mixed_precision}, sums_on {self.sums_on}, tile_batch_size {self.tile_batch_size}")

    def __repr__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        from html import escape

        return f"<div><b>Predictor</b>: {escape(self.summary()[len('Predictor: '):])}</div>"

    # --- inputs -----------------------------------------------------------------------------------------------

    def _input_files(self, image, spacing, origin, direction, folder: Path) -> tuple[str, list[str]]:
        """``(case name, one file per modality)``; in-memory images are written into ``folder`` first."""
        import SimpleITK as sitk

        n = self.num_modalities
        if isinstance(image, (str, os.PathLike)):
            path = Path(image)
            match = _MODALITY_SUFFIX.search(path.name)
            if n > 1 and match and match.group(1) == "0000":
                image = [path.with_name(_MODALITY_SUFFIX.sub(f"_{m:04d}.nii.gz", path.name)) for m in range(n)]
            else:
                image = [path]
        if isinstance(image, np.ndarray):
            if spacing is None:
                raise ExplorerError(tr("a numpy array needs its voxel spacing", "numpy 数组需要给出它的体素间距 (spacing)"),
                                    fix=tr("call predict(array, spacing=(sz, sy, sx)), spacing in the array's axis "
                                           "order",
                                           "请调用 predict(array, spacing=(sz, sy, sx)), spacing 按数组的轴顺序给出"))
            array = image if image.ndim == 4 else image[None]
            if array.ndim != 4:
                raise ExplorerError(tr(f"the array has shape {list(image.shape)}",
                                       f"数组的形状是 {list(image.shape)}"),
                                    fix=tr("give (z, y, x), or (modalities, z, y, x) for several modalities",
                                           "请给出 (z, y, x) 的数组; 有多个模态时给出 (modalities, z, y, x)"))
            image = []
            for channel in array:
                itk = sitk.GetImageFromArray(np.ascontiguousarray(channel))
                itk.SetSpacing(tuple(float(v) for v in spacing)[::-1])  # array order (z, y, x) -> ITK (x, y, z)
                if origin is not None:
                    itk.SetOrigin(tuple(float(v) for v in origin))
                if direction is not None:
                    itk.SetDirection(tuple(float(v) for v in direction))
                image.append(itk)
        elif isinstance(image, sitk.Image):
            image = [image]
        if not isinstance(image, (list, tuple)) or not image:
            raise ExplorerError(tr(f"cannot predict a {type(image).__name__}",
                                   f"无法对 {type(image).__name__} 类型的输入做预测"),
                                fix=tr("give a path, a list of paths (one per modality), a SimpleITK image or a numpy "
                                       "array with spacing=",
                                       "请给出一个路径、一个路径列表(每个模态一个)、一个 SimpleITK 图像, "
                                       "或一个带 spacing= 的 numpy 数组"))
        if len(image) != n:
            raise ExplorerError(tr(f"{len(image)} image(s) given, but the model expects {n} modalities",
                                   f"给出了 {len(image)} 个图像, 但模型需要 {n} 个模态"),
                                fix=tr("give one image per modality, in the order of the training data (_0000, _0001 "
                                       "...)",
                                       "请每个模态给一个图像, 顺序与训练数据相同(_0000, _0001 ...)"))
        if all(isinstance(i, sitk.Image) for i in image):
            files = []
            for m, itk in enumerate(image):
                target = folder / f"image_{m:04d}.nii.gz"
                sitk.WriteImage(itk, str(target))
                files.append(str(target))
            return "image", files
        if not all(isinstance(i, (str, os.PathLike)) for i in image):
            raise ExplorerError(tr("mixed input: give either paths or SimpleITK images, one per modality",
                                   "输入类型混杂: 请要么都给路径, 要么都给 SimpleITK 图像, 每个模态一个"),
                                fix=tr("convert all modalities to one kind", "请把所有模态转换成同一种输入类型"))
        files = [str(p) for p in image]
        name = Path(files[0]).name
        match = _MODALITY_SUFFIX.search(name)
        case = name[:match.start()] if match else re.sub(r"(\.nii\.gz|\.[^.]+)$", "", name)
        return case, files

    # --- prediction -------------------------------------------------------------------------------------------

    def predict(self, image, *, spacing: Sequence[float] | None = None, origin: Sequence[float] | None = None,
                direction: Sequence[float] | None = None,
                lowres_segmentation: str | os.PathLike | None = None) -> PredictionResult:
        """Predict one image exactly as ``predict`` does (see the module docstring for the accepted inputs).

        Args:
            image: a path, a list of paths, a SimpleITK image (or list), or a numpy array.
            spacing: for a numpy array: the voxel spacing in the array's axis order (``(z, y, x)``).
            origin, direction: for a numpy array, optional ITK origin (x, y, z) and direction (9 values).
            lowres_segmentation: a cascade model's ``3d_lowres`` prediction of this image (``predict -l``).

        Raises:
            ExplorerError: input the model cannot take (with the fix); DatasetError for unreadable or
                inconsistent image files.
        """
        import SimpleITK as sitk

        lines: list[str] = []

        def log(line: str) -> None:
            lines.append(str(line))
            if self.verbose:
                print(line, flush=True)

        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="nnunet_explorer_predictor_") as tmp:
            tmp = Path(tmp)
            case, files = self._input_files(image, spacing, origin, direction, tmp)
            segs = None if lowres_segmentation is None else [str(lowres_segmentation)]
            check_input_files([files], self.num_modalities, segs)
            out = tmp / "out" / f"{case}.nii.gz"
            t0 = time.perf_counter()
            [record] = predict_cases(self.model, [files], [str(out)], save_npz=True, do_tta=self.do_tta,
                                     mixed_precision=self.mixed_precision, overwrite_existing=True,
                                     step_size=self.step_size, disable_postprocessing=self.disable_postprocessing,
                                     tile_batch_size=self.tile_batch_size, sums_on=self.sums_on,
                                     segs_from_prev_stage=segs, keep_inference=True, log=log)
            written = sitk.ReadImage(str(out))
            segmentation = sitk.GetArrayFromImage(written)
            with np.load(out.with_name(case + ".npz")) as npz:
                on_crop = npz["softmax"]
            cases_seconds = time.perf_counter() - t0
        inference = record.inference
        probabilities = _uncrop_probabilities(on_crop, inference.properties)
        first = inference.per_fold[0]
        postprocessed = (not self.disable_postprocessing) and (self.model.folder / "postprocessing.json").is_file()
        pre, pred, export = record.preprocess_seconds, record.predict_seconds, record.export_seconds
        seconds = {"preprocess": pre, "predict": pred, "export": export,
                   "postprocess": max(cases_seconds - pre - pred - export, 0.0),
                   "total": time.perf_counter() - start}
        return PredictionResult(
            case=case, segmentation=segmentation, probabilities=probabilities,
            network_probabilities=inference.probabilities, spacing=tuple(written.GetSpacing()),
            origin=tuple(written.GetOrigin()), direction=tuple(written.GetDirection()),
            device=str(self.model.device), folds=tuple(f.name for f in self.model.fold_folders),
            checkpoint=self.model.checkpoint_name, patch_size=tuple(first.patch_size),
            tiles_per_fold=first.num_tiles, mirror_axes=tuple(first.mirror_axes), step_size=self.step_size,
            preprocessed_shape=record.preprocessed_shape, do_separate_z=record.do_separate_z,
            postprocessed=postprocessed, seconds=seconds, sums_on=first.sums_on,
            tile_batch_size=first.tile_batch_size, log=tuple(lines))

    def predict_many(self, images: Sequence[Any], **kwargs) -> list[PredictionResult]:
        """:meth:`predict` for each image, in order (the model stays loaded)."""
        return [self.predict(image, **kwargs) for image in images]


def _uncrop_probabilities(on_crop: np.ndarray, properties: Mapping[str, Any]) -> np.ndarray:
    """Place the crop box's probabilities on the full grid; outside, background has probability 1.

    The export pastes the argmax into a zero (background) volume at ``crop_bbox`` the same way.
    """
    original = tuple(int(s) for s in properties["original_size_of_raw_data"])
    bbox = properties.get("crop_bbox")
    if bbox is None:
        return on_crop
    full = np.zeros((on_crop.shape[0], *original), dtype=on_crop.dtype)
    full[0] = 1
    region = tuple(slice(int(lo), min(int(lo) + s, o)) for (lo, _), s, o in zip(bbox, on_crop.shape[1:], original))
    full[(slice(None), *region)] = on_crop[(slice(None), *[slice(0, r.stop - r.start) for r in region])]
    return full
