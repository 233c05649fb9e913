"""Loading preprocessed cases and cutting training patches out of them, as nnU-Net v1 does.

After preprocessing, every training case lives in ``<nnUNet_preprocessed>/<Task>/<data_identifier>_stage<k>/``
as ``CASE.npz`` (key ``data``: an array ``(C + 1, z, y, x)`` float32 whose last channel is the segmentation,
with ``-1`` where the label is background and the image lies outside the nonzero mask, inside the crop's
bounding box) and ``CASE.pkl`` (its properties, among them ``class_locations``: for each foreground label a
random sample of its voxel positions, 10 000 or 1 % of the label's voxels, whichever is more, and all of them
when there are fewer).

Training works on patches, not on whole cases (a case smaller than the patch fits whole, padded). A *data loader*
draws a batch of patches:

1. ``np.random.choice(keys, batch_size, replace=True)`` picks the cases (the same case may come twice);
2. the last ``batch_size - round(batch_size * (1 - 0.33))`` samples are *forced foreground*: their patch is
   centred on a stored voxel of a randomly chosen foreground class (so rare structures are seen);
3. the others get a uniformly random box, allowed to hang over the border by half the difference between
   the loaded and the final patch size (so border voxels appear in the network's patch after the spatial
   augmentation's centre crop);
4. the part of the box inside the case is copied and the rest padded: image with 0, segmentation with -1
   (-1, like the preprocessing's -1 outside the nonzero mask, marks "no image here"; it becomes 0 after
   augmentation).

For the cascade (``3d_cascade_fullres``, ``has_prev_stage=True``) each case entry also names
``seg_from_prev_stage_file``: ``<RESULTS_FOLDER>/nnUNet/3d_lowres/<Task>/<trainer>__<plans>/pred_next_stage/
CASE_segFromPrevStage.npz`` (key ``data``: the 3d_lowres prediction, a uint8 label map ``(z, y, x)`` resampled
to this stage's grid). The same box is cut from it, padded with 0 (background, not -1), and stored as
segmentation channel 1: ``seg (b, 2, z, y, x)``. The augmentation later moves it into the image channels
(:mod:`~nnunet_explorer.training.cascade_augmentation`).

The loaders here draw from ``np.random`` in exactly v1's order, so for the same ``np.random`` state they return
the same batch as v1's ``DataLoader3D`` / ``DataLoader2D`` (the parity tests check this array by array). On top
of v1's output every batch carries ``'provenance'``: for each sample a :class:`SampleProvenance` naming the
case, the box, whether it was forced, the class and the voxel it was centred on.
"""
from __future__ import annotations

import os
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import ConfigurationError, DatasetError
from ..fileio import load_pickle, save_npy_atomic
from ..language import and_more, tr
from ..provenance import mirrors

# --- dataset -----------------------------------------------------------------------------------------------

def get_case_identifiers(folder: str | os.PathLike) -> list[str]:
    """Case ids of a preprocessed stage folder: every ``*.npz`` except cascade ``segFromPrevStage`` files, sorted."""
    names = [n[:-4] for n in os.listdir(folder) if n.endswith("npz") and "segFromPrevStage" not in n]
    return sorted(names)


def stage_folders(preprocessed_task_dir: str | os.PathLike) -> list[Path]:
    """A preprocessed task's stage folders (``<data_identifier>_stage<k>``), sorted; none when the task's folder is
    not there."""
    task_dir = Path(preprocessed_task_dir)
    return sorted(f for f in task_dir.glob("*_stage*") if f.is_dir()) if task_dir.is_dir() else []


@mirrors("nnunet.training.dataloading.dataset_loading:load_dataset")
def load_dataset(folder: str | os.PathLike,
                 num_cases_properties_loading_threshold: int = 1000) -> "OrderedDict[str, dict]":
    """Index a preprocessed stage folder: ``{case_id: {'data_file', 'properties_file', 'properties'}}``.

    Like v1, the image data is not read here, only file names; the properties pickles are read eagerly when
    there are at most ``num_cases_properties_loading_threshold`` cases (else each time a case is sampled).
    The result has v1's exact layout, so it can be handed to v1's loaders as well.

    Raises:
        DatasetError: the folder does not exist or holds no ``.npz`` case, or a ``.pkl`` is missing.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(tr(f"preprocessed folder {folder} does not exist", f"预处理文件夹 {folder} 不存在"),
                           fix=tr("run planning and preprocessing for this task first (nnUNet_plan_and_preprocess)",
                                  "请先为这个任务运行规划和预处理(nnUNet_plan_and_preprocess)"))
    case_ids = get_case_identifiers(folder)
    if not case_ids:
        raise DatasetError(tr(f"{folder} holds no preprocessed case (*.npz)",
                              f"{folder} 中没有预处理好的病例(*.npz)"),
                           fix=tr("run preprocessing again; it writes CASE.npz and CASE.pkl per training case",
                                  "请重新运行预处理；它为每个训练病例写出 CASE.npz 和 CASE.pkl"))
    dataset: OrderedDict[str, dict] = OrderedDict()
    for case in case_ids:
        entry = OrderedDict()
        entry["data_file"] = str(folder / f"{case}.npz")
        entry["properties_file"] = str(folder / f"{case}.pkl")
        dataset[case] = entry
    if len(case_ids) <= num_cases_properties_loading_threshold:
        for case, entry in dataset.items():
            entry["properties"] = _load_properties(entry["properties_file"], case)
    return dataset


def _load_properties(path: str, case: str) -> dict:
    if not os.path.isfile(path):
        raise DatasetError(tr(f"case {case}: properties file {path} is missing",
                              f"病例 {case}：缺少属性文件 {path}"),
                           fix=tr("run preprocessing again (it writes CASE.pkl next to CASE.npz)",
                                  "请重新运行预处理（它会把 CASE.pkl 写在 CASE.npz 旁边）"))
    return load_pickle(path)


def read_npy_header(handle: Any) -> tuple[tuple[int, ...], np.dtype] | None:
    """The shape and dtype a ``.npy`` header promises, read from ``handle``'s position (a file or a ``.npz``
    member); None for a format version other than 1.0/2.0 (numpy writes those only for unusual dtypes).

    Raises:
        ValueError, EOFError: numpy's words for a header cut short or one that is not numpy's.
    """
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        shape, _fortran_order, dtype = np.lib.format.read_array_header_1_0(handle)
    elif version == (2, 0):
        shape, _fortran_order, dtype = np.lib.format.read_array_header_2_0(handle)
    else:
        return None
    return shape, dtype


def npy_sizes(path: str | os.PathLike) -> tuple[int, int | None]:
    """``(bytes on disk, bytes a complete file has)`` of a ``.npy``; the second is None when even its header is cut.

    A ``.npy`` is a short header (a magic string, then the dtype, the shape and the order) followed by the raw
    array, so the header alone says how long the complete file is. A file cut short (unpacking interrupted, a
    full disk) fails only when a loader opens it: memory-mapped, as v1's loaders open it, numpy says "mmap length
    is greater than file size" (cut inside the array), "EOF: reading array header" or "EOF: reading magic string"
    (cut inside the header) or "No data left in file" (empty).

    Raises:
        OSError: the file cannot be read (a broken link, no permission).
    """
    size = os.path.getsize(path)
    try:
        with open(path, "rb") as handle:
            header_read = read_npy_header(handle)
            header = handle.tell()
    except (ValueError, EOFError):  # numpy's words for a cut or foreign header
        return size, None
    if header_read is None:
        return size, size  # a format numpy writes only for unusual dtypes: not judged here
    shape, dtype = header_read
    if dtype.hasobject:
        return size, size  # pickled objects: their length is not in the header
    return size, header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize


@dataclass(frozen=True)
class NpyCheck:
    """The ``.npy`` files under a folder: how many, those cut short ``(file, size, complete size or None)``, and
    those that cannot be read at all ``(file, why)``."""

    files: int
    cut: list[tuple[Path, int, int | None]]
    unreadable: list[tuple[Path, str]]

    def reasons(self) -> list[tuple[Path, str]]:
        """Each bad file with why: its sizes (:func:`npy_damage`) or why it cannot be read."""
        return [(f, npy_damage(size, complete)) for f, size, complete in self.cut] + [
            (f, tr(f"cannot be read: {why}", f"无法读取：{why}")) for f, why in self.unreadable]

    def listed(self, folder: str | os.PathLike, most: int) -> str:
        """The bad files relative to ``folder``, each with its sizes or why it cannot be read, at most ``most``
        ("case_009.npy (49002 of 147008 bytes) and 2 more"): one wording for ``doctor`` and the explainer."""
        names = [tr(f"{f.relative_to(folder)} ({why})", f"{f.relative_to(folder)}（{why}）") for f, why in self.reasons()]
        return tr(", ", "、").join(names[:most]) + and_more(most, len(names))


def npy_damage(size: int, complete: int | None) -> str:
    """A ``.npy`` cut short, in words, from :func:`npy_sizes`: "300 of 4224 bytes", or "0 bytes, its header cut or
    not numpy's" (a header cut, or a beginning that is not numpy's: zeros left by a crash)."""
    return (tr(f"{size} of {complete} bytes", f"{size} / {complete} 字节") if complete is not None
            else tr(f"{size} bytes, its header cut or not numpy's", f"{size} 字节，文件头不完整或不是 numpy 的"))


def incomplete_npy_files(folder: str | os.PathLike) -> NpyCheck:
    """Check every ``.npy`` under ``folder`` with :func:`npy_sizes` (reads the headers only)."""
    files = sorted(Path(folder).rglob("*.npy"))
    cut, unreadable = [], []
    for f in files:
        try:
            size, complete = npy_sizes(f)
        except OSError as exc:
            unreadable.append((f, exc.strerror or type(exc).__name__))
            continue
        if complete is None or size < complete:
            cut.append((f, size, complete))
    return NpyCheck(len(files), cut, unreadable)


def _unpack_one(npz_file: str, key: str) -> tuple[bool, tuple[int, int | None] | None]:
    """Write ``CASE.npy`` unless a complete one exists: ``(written, (size, complete size) of a cut one or None)``."""
    npy_file = npz_file[:-3] + "npy"
    cut = None
    if os.path.isfile(npy_file):
        try:
            size, complete = npy_sizes(npy_file)
        except OSError:  # unreadable: written again below (atomically, replacing it)
            size, complete = 0, None
        if complete is not None and size >= complete:
            return False, None
        # differs from v1: a .npy cut short (an unpacking interrupted, a full disk) is unpacked again. v1 skips
        # every .npy that exists, and its loaders then fail when they draw that case (e.g. "mmap length is
        # greater than file size"; `doctor --explain` names such files)
        cut = (size, complete)
    try:
        with np.load(npz_file) as archive:
            array = archive[key]
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        case = os.path.basename(npz_file)
        raise DatasetError(tr(f"{npz_file} cannot be read ({type(exc).__name__}: {exc}): the preprocessed case "
                              "was not written completely",
                              f"{npz_file} 无法读取（{type(exc).__name__}: {exc}）：这个预处理后的病例没有写完整"),
                           fix=tr(f"make room on the disk if it is full, delete {case} and run the preprocessing "
                                  "again (nnUNet_plan_and_preprocess -t TASK, or `nnunet-explorer plan_and_preprocess "
                                  "-t TASK`)",
                                  f"如果磁盘已满就先腾出空间，删除 {case}，再重新运行预处理（nnUNet_plan_and_preprocess "
                                  "-t TASK，或 `nnunet-explorer plan_and_preprocess -t TASK`）")) from None
    # differs from v1: written atomically, so an interrupted unpack never leaves a truncated .npy
    save_npy_atomic(npy_file, array)
    return True, cut


@mirrors("nnunet.training.dataloading.dataset_loading:unpack_dataset")
def unpack_dataset(folder: str | os.PathLike, threads: int = 1, key: str = "data") -> list[str]:
    """Decompress every ``CASE.npz`` of ``folder`` to ``CASE.npy`` (skipping those already there and complete).

    v1 does this once before training (``unpack_data=True``) so that loaders can memory-map the cases and read
    only the patch they need, instead of decompressing the whole case for every sample. Without it
    (``--use_compressed_data``) the loaders read the ``.npz`` directly. A ``.npy`` shorter than its header
    promises is written again, and a line says so.

    Returns:
        The ``.npy`` files written by this call.
    """
    npz_files = sorted(str(p) for p in Path(folder).glob("*.npz"))
    if threads > 1:
        from multiprocessing import get_context

        with get_context("spawn").Pool(threads) as pool:
            done = pool.starmap(_unpack_one, [(f, key) for f in npz_files])
    else:
        done = [_unpack_one(f, key) for f in npz_files]
    for npz_file, (_written, cut) in zip(npz_files, done):
        if cut is not None:
            name = os.path.basename(npz_file)[:-4]
            had = npy_damage(*cut)
            print(tr(f"{name}.npy was incomplete ({had}: an unpacking interrupted or a full disk); unpacked again "
                     f"from {name}.npz",
                     f"{name}.npy 不完整（{had}：解压被中断或磁盘已满）；已从 {name}.npz 重新解压"))
    return [f[:-3] + "npy" for f, (written, _cut) in zip(npz_files, done) if written]


# --- provenance ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SampleProvenance:
    """Where one sample of a batch came from.

    Attributes:
        case_id: the preprocessed case.
        case_shape: spatial shape of the case, ``(z, y, x)``.
        box: per spatial axis of the case ``(lb, ub)``, half-open, in case voxel coordinates; may reach below 0
            or beyond the shape, and that part of the patch is padding. For 2D loaders the first axis is the
            slice: ``(slice, slice + 1)``.
        forced: whether the sample was a forced-foreground one (the last samples of a batch).
        forced_class: the foreground label the patch was centred on (None if not forced, or if the case had
            no foreground and v1 fell back to a random box).
        center_voxel: the stored ``class_locations`` voxel the box was centred on (before the lower clamp), as
            ``(z, y, x)``; None for random boxes.
    """

    case_id: str
    case_shape: tuple[int, ...]
    box: tuple[tuple[int, int], ...]
    forced: bool
    forced_class: int | None = None
    center_voxel: tuple[int, ...] | None = None

    @property
    def padded(self) -> bool:
        """True if part of the box lies outside the case (those voxels are padding)."""
        return any(lb < 0 or ub > s for (lb, ub), s in zip(self.box, self.case_shape))


# --- loaders -------------------------------------------------------------------------------------------

def is_forced_foreground(sample_index: int, batch_size: int, oversample_foreground_percent: float) -> bool:
    """v1's oversampling rule: sample ``j`` is forced iff ``not j < round(batch_size * (1 - p))``.

    Python's ``round`` rounds halves to even, so with p = 0.33: bs 2 → sample 1 forced, bs 5 → samples 3 and 4.
    """
    return not sample_index < round(batch_size * (1 - oversample_foreground_percent))


def _foreground_classes(properties: Mapping, case: str) -> np.ndarray:
    if "class_locations" not in properties:
        raise DatasetError(tr(f"case {case}: its properties have no 'class_locations', needed for foreground "
                              "oversampling",
                              f"病例 {case}：它的属性中没有前景过采样所需的 'class_locations'"),
                           fix=tr("rerun preprocessing with a recent nnU-Net v1 or the explorer",
                                  "请用较新的 nnU-Net v1 或本 explorer 重新运行预处理"))
    locations = properties["class_locations"]
    classes = np.array([c for c in locations.keys() if len(locations[c]) != 0])
    return classes[classes > 0]


class _CaseReader:
    """Reads a case's voxels: memory-mapped ``.npy`` when unpacked, else the whole ``.npz``."""

    def __init__(self, memmap_mode: str) -> None:
        self.memmap_mode = memmap_mode
        self._npz_cache: tuple[str, np.ndarray] | None = None

    def open(self, entry: Mapping[str, Any]) -> np.ndarray:
        return self.open_file(entry["data_file"])

    def open_file(self, npz_file: str) -> np.ndarray:
        """``npz_file``'s array ``data``, from its ``.npy`` sibling (memory-mapped) when that exists."""
        npy = npz_file[:-4] + ".npy"
        if os.path.isfile(npy):
            return np.load(npy, mmap_mode=self.memmap_mode)
        # differs from v1: the last decompressed .npz is kept, so a case drawn twice in a row is not
        # decompressed twice (v1 decompresses the whole case for every sample). Values are identical.
        if self._npz_cache is not None and self._npz_cache[0] == npz_file:
            return self._npz_cache[1]
        with np.load(npz_file) as archive:
            array = archive["data"]
        self._npz_cache = (npz_file, array)
        return array


def _crop_and_pad(case: np.ndarray, lbs: Sequence[int], patch_size: Sequence[int], pad_mode: str,
                  pad_kwargs_data: Mapping[str, Any], out_data: np.ndarray, out_seg: np.ndarray) -> None:
    """Copy ``case[:, box]`` into ``out_data`` / ``out_seg``; voxels outside the case are padding.

    ``case`` is ``(C + 1, *spatial)``; the box starts at ``lbs`` and has ``patch_size``. Data is padded with
    ``pad_mode`` (V2: constant 0) and the segmentation with -1.
    """
    shape = case.shape[1:]
    ubs = [lb + p for lb, p in zip(lbs, patch_size)]
    valid = tuple(slice(max(0, lb), min(s, ub)) for lb, ub, s in zip(lbs, ubs, shape))
    before = [-min(0, lb) for lb in lbs]
    after = [max(ub - s, 0) for ub, s in zip(ubs, shape)]
    crop = np.asarray(case[(slice(None),) + valid])  # on a memmap this reads only the box
    inner = tuple(slice(b, b + (v.stop - v.start)) for b, v in zip(before, valid))
    if pad_mode == "constant" and not pad_kwargs_data.get("constant_values", 0):
        # differs from v1: v1 np.pad()s a copy of the crop; writing the crop into a zero-filled array is the
        # same result without the extra copy.
        out_data[...] = 0
        out_data[(slice(None),) + inner] = crop[:-1]
    else:
        widths = [(0, 0)] + list(zip(before, after))
        out_data[...] = np.pad(crop[:-1], widths, pad_mode, **pad_kwargs_data)
    out_seg[...] = -1
    out_seg[(slice(None),) + inner] = crop[-1:]


def _crop_and_pad_prev_stage(prev: np.ndarray, lbs: Sequence[int], patch_size: Sequence[int],
                             out: np.ndarray) -> None:
    """Copy the box of the previous stage's label map ``prev (*spatial)`` into ``out``; padding is 0.

    v1 pads it with 0 rather than -1: the prior is an input, and "outside the case" simply has no structure.
    """
    shape = prev.shape
    valid = tuple(slice(max(0, lb), min(s, lb + p)) for lb, p, s in zip(lbs, patch_size, shape))
    inner = tuple(slice(-min(0, lb), -min(0, lb) + (v.stop - v.start)) for lb, v in zip(lbs, valid))
    out[...] = 0
    out[inner] = prev[valid]


class _LoaderBase:
    """What v1's loaders get from batchgenerators' ``SlimDataLoaderBase``: an endless batch iterator."""

    def __init__(self, data: Mapping[str, dict], patch_size: Sequence[int], final_patch_size: Sequence[int],
                 batch_size: int, oversample_foreground_percent: float, memmap_mode: str, pad_mode: str,
                 pad_kwargs_data: Mapping[str, Any] | None, pad_sides: Sequence[int] | None) -> None:
        if not data:
            raise DatasetError(tr("the dataset given to the data loader is empty", "交给数据加载器的数据集是空的"),
                               fix=tr("check the split: this fold has no cases", "请检查划分：这一折没有病例"))
        self._data = data
        self.list_of_keys = list(data.keys())
        self.patch_size = np.array(patch_size, dtype=int)
        self.final_patch_size = np.array(final_patch_size, dtype=int)
        self.batch_size = int(batch_size)
        self.oversample_foreground_percent = oversample_foreground_percent
        self.memmap_mode = memmap_mode
        self.pad_mode = pad_mode
        self.pad_kwargs_data = dict(pad_kwargs_data or {})
        self.need_to_pad = (self.patch_size - self.final_patch_size).astype(int)
        if pad_sides is not None:
            self.need_to_pad = self.need_to_pad + np.asarray(pad_sides, dtype=int)
        self.pad_sides = pad_sides
        self.thread_id = 0
        self._reader = _CaseReader(memmap_mode)
        first = self._reader.open(data[self.list_of_keys[0]])
        self.num_channels = first.shape[0] - 1
        self.data_shape = (self.batch_size, self.num_channels, *self.patch_size.tolist())
        self.seg_shape = (self.batch_size, 1, *self.patch_size.tolist())

    # batchgenerators' augmenters call these
    def set_thread_id(self, thread_id: int) -> None:
        self.thread_id = thread_id

    def __iter__(self) -> "_LoaderBase":
        return self

    def __next__(self) -> dict:
        return self.generate_train_batch()

    next = __next__

    def get_do_oversample(self, batch_idx: int) -> bool:
        return is_forced_foreground(batch_idx, self.batch_size, self.oversample_foreground_percent)

    def _properties(self, case: str) -> dict:
        entry = self._data[case]
        if "properties" in entry:
            return entry["properties"]
        return _load_properties(entry["properties_file"], case)

    def _bounds(self, shape: Sequence[int]) -> tuple[list[int], list[int]]:
        """Lowest and highest allowed box start per axis (v1: ``-pad // 2`` and ``shape + ceil(pad/2) - patch``)."""
        need = self.need_to_pad.copy()
        for d in range(len(shape)):
            if need[d] + shape[d] < self.patch_size[d]:
                need[d] = self.patch_size[d] - shape[d]
        lbs = [int(-need[d] // 2) for d in range(len(shape))]
        ubs = [int(shape[d] + need[d] // 2 + need[d] % 2 - self.patch_size[d]) for d in range(len(shape))]
        return lbs, ubs

    def generate_train_batch(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError


@mirrors("nnunet.training.dataloading.dataset_loading:DataLoader3D")
class DataLoader3D(_LoaderBase):
    """Batches of 3D patches ``data (b, C, z, y, x)`` and ``seg (b, 1, z, y, x)``, v1's ``DataLoader3D``.

    Args:
        data: :func:`load_dataset`'s dict restricted to the training (or validation) keys.
        patch_size: size of the box cut from the case (V2 training: ``basic_generator_patch_size``, larger than
            the network patch so rotation/scaling has context; validation: the network patch size).
        final_patch_size: the network's patch size. Half the difference may hang over each border.
        batch_size: samples per batch.
        oversample_foreground_percent: V2 passes 0.33.
        memmap_mode: how unpacked ``.npy`` files are opened (``'r'``).
        pad_mode: image padding; V2 passes ``'constant'`` (zeros). The segmentation is always padded with -1.
        has_prev_stage: the cascade: every entry of ``data`` names ``seg_from_prev_stage_file`` (the 3d_lowres
            prediction, ``CASE_segFromPrevStage.npz``, read from a ``.npy`` sibling if one exists); its box,
            padded with 0, becomes ``seg[:, 1]``.

    Each batch is a dict with v1's keys ``data``, ``seg`` (``(b, 1, z, y, x)``, or ``(b, 2, z, y, x)`` with
    the previous stage), ``properties``, ``keys`` plus ``provenance``.

    Raises:
        ConfigurationError: ``has_prev_stage`` but a case entry has no ``seg_from_prev_stage_file``.
        DatasetError: (when a batch is drawn) a previous-stage file is missing or its shape is not the case's.
    """

    # differs from v1: v1's class default pad_mode is "edge"; nnUNetTrainerV2 always passes "constant", which
    # is what a learner building a loader by hand expects to get.
    def __init__(self, data: Mapping[str, dict], patch_size: Sequence[int], final_patch_size: Sequence[int],
                 batch_size: int, has_prev_stage: bool = False, oversample_foreground_percent: float = 0.0,
                 memmap_mode: str = "r", pad_mode: str = "constant", pad_kwargs_data: Mapping | None = None,
                 pad_sides: Sequence[int] | None = None) -> None:
        if has_prev_stage:
            missing = [k for k, entry in data.items() if "seg_from_prev_stage_file" not in entry]
            if missing:
                # differs from v1: checked up front; v1 fails with a KeyError when such a case is first drawn
                raise ConfigurationError(
                    tr(f"the cascade loader (has_prev_stage=True) needs 'seg_from_prev_stage_file' for every case; "
                       f"cases {missing[:5]} have none",
                       f"级联的数据加载器(has_prev_stage=True)要求每个病例都有 'seg_from_prev_stage_file'；"
                       f"病例 {missing[:5]} 没有"),
                    fix=tr("point each entry at <RESULTS_FOLDER>/nnUNet/3d_lowres/<Task>/<trainer>__<plans>/"
                           "pred_next_stage/CASE_segFromPrevStage.npz (train 3d_lowres and predict the next stage)",
                           "让每个条目指向 <RESULTS_FOLDER>/nnUNet/3d_lowres/<Task>/<trainer>__<plans>/"
                           "pred_next_stage/CASE_segFromPrevStage.npz（先训练 3d_lowres 并预测下一阶段）"))
        super().__init__(data, patch_size, final_patch_size, batch_size, oversample_foreground_percent,
                         memmap_mode, pad_mode, pad_kwargs_data, pad_sides)
        self.has_prev_stage = bool(has_prev_stage)
        if self.has_prev_stage:
            self.seg_shape = (self.batch_size, 2, *self.patch_size.tolist())
            self._prev_reader = _CaseReader(memmap_mode)

    def _prev_stage(self, case: str, case_shape: Sequence[int]) -> np.ndarray:
        """The previous stage's label map of ``case`` ``(z, y, x)``, drawn as v1 does (one ``np.random.choice``)."""
        path = self._data[case]["seg_from_prev_stage_file"]
        if not (os.path.isfile(path) or os.path.isfile(path[:-4] + ".npy")):
            raise DatasetError(tr(f"case {case}: segmentation from the previous stage {path} is missing",
                                  f"病例 {case}：缺少上一阶段的分割 {path}"),
                               fix=tr("run all 5 folds of 3d_lowres for this task (they predict the next stage)",
                                      "请为这个任务运行 3d_lowres 的全部 5 折（它们会预测下一阶段）"))
        candidates = self._prev_reader.open_file(path)[None]
        # v1 draws which of several previous segmentations to use; there is always exactly one, and
        # np.random.choice(1) consumes no random numbers - it is kept to follow v1 step by step
        chosen = candidates[np.random.choice(candidates.shape[0])]
        if tuple(chosen.shape) != tuple(case_shape):
            raise DatasetError(tr(f"case {case}: segmentation from the previous stage has shape {chosen.shape}, "
                                  f"the case {tuple(case_shape)}",
                                  f"病例 {case}：上一阶段的分割形状为 {chosen.shape}, "
                                  f"而病例的形状为 {tuple(case_shape)}"),
                               fix=tr("predict the next stage again with the current 3d_lowres model and plans",
                                      "请用当前的 3d_lowres 模型和 plans 重新预测下一阶段"))
        return chosen

    def generate_train_batch(self) -> dict:
        selected_keys = np.random.choice(self.list_of_keys, self.batch_size, True, None)
        data = np.zeros(self.data_shape, dtype=np.float32)
        seg = np.zeros(self.seg_shape, dtype=np.float32)
        case_properties, provenance = [], []
        for j, case in enumerate(selected_keys):
            force_fg = self.get_do_oversample(j)
            properties = self._properties(case)
            case_properties.append(properties)
            case_data = self._reader.open(self._data[case])
            shape = case_data.shape[1:]
            prev = self._prev_stage(case, shape) if self.has_prev_stage else None
            lbs, ubs = self._bounds(shape)
            forced_class, center = None, None
            if force_fg:
                classes = _foreground_classes(properties, case)
                if len(classes) == 0:
                    # v1 prints 'case does not contain any foreground classes' and falls back to a random box
                    force_class = None
                else:
                    force_class = np.random.choice(classes)
                if force_class is not None:
                    voxels = properties["class_locations"][force_class]
                    center = voxels[np.random.choice(len(voxels))]
                    # only the lower bound is clamped (v1): the box may run past the upper border, into padding
                    box_lb = [max(lbs[d], int(center[d]) - int(self.patch_size[d]) // 2) for d in range(3)]
                    forced_class = int(force_class)
                    center = tuple(int(v) for v in center[:3])
                else:
                    box_lb = [int(np.random.randint(lbs[d], ubs[d] + 1)) for d in range(3)]
            else:
                box_lb = [int(np.random.randint(lbs[d], ubs[d] + 1)) for d in range(3)]
            _crop_and_pad(case_data, box_lb, self.patch_size, self.pad_mode, self.pad_kwargs_data, data[j],
                          seg[j, :1])
            if prev is not None:
                _crop_and_pad_prev_stage(prev, box_lb, self.patch_size, seg[j, 1])
            provenance.append(SampleProvenance(
                case_id=str(case), case_shape=tuple(int(s) for s in shape),
                box=tuple((b, b + int(p)) for b, p in zip(box_lb, self.patch_size)),
                forced=bool(force_fg), forced_class=forced_class, center_voxel=center))
        return {"data": data, "seg": seg, "properties": case_properties, "keys": selected_keys,
                "provenance": provenance}


@mirrors("nnunet.training.dataloading.dataset_loading:DataLoader2D")
class DataLoader2D(_LoaderBase):
    """Batches of 2D slices ``data (b, C, y, x)`` and ``seg (b, 1, y, x)``, v1's ``DataLoader2D``.

    Per sample a slice along the first (transposed) axis is chosen: uniformly at random, or, when forced, among
    the slices holding stored voxels of a randomly chosen foreground class, centred on one of those voxels.
    Bounds, padding and the lower-clamp-only rule are the 3D ones, in plane. Same arguments as
    :class:`DataLoader3D` with 2D patch sizes.
    """

    # differs from v1: pad_mode defaults to "constant" (what V2 passes); pseudo_3d_slices other than 1, which v1
    # itself calls "very deprecated", is refused.
    def __init__(self, data: Mapping[str, dict], patch_size: Sequence[int], final_patch_size: Sequence[int],
                 batch_size: int, oversample_foreground_percent: float = 0.0, memmap_mode: str = "r",
                 pseudo_3d_slices: int = 1, pad_mode: str = "constant", pad_kwargs_data: Mapping | None = None,
                 pad_sides: Sequence[int] | None = None) -> None:
        if pseudo_3d_slices != 1:
            raise ConfigurationError(tr("pseudo_3d_slices other than 1 is not supported",
                                        "不支持 pseudo_3d_slices 取 1 以外的值"),
                                     fix=tr("use pseudo_3d_slices=1 (what nnUNetTrainerV2 uses)",
                                            "请使用 pseudo_3d_slices=1（nnUNetTrainerV2 用的就是它）"))
        super().__init__(data, patch_size, final_patch_size, batch_size, oversample_foreground_percent,
                         memmap_mode, pad_mode, pad_kwargs_data, pad_sides)
        self.pseudo_3d_slices = 1

    def generate_train_batch(self) -> dict:
        selected_keys = np.random.choice(self.list_of_keys, self.batch_size, True, None)
        data = np.zeros(self.data_shape, dtype=np.float32)
        seg = np.zeros(self.seg_shape, dtype=np.float32)
        case_properties, provenance = [], []
        for j, case in enumerate(selected_keys):
            properties = self._properties(case)
            case_properties.append(properties)
            force_fg = self.get_do_oversample(j)
            case_data = self._reader.open(self._data[case])
            if case_data.ndim == 3:  # a 2D case stored as (C + 1, y, x)
                case_data = case_data[:, None]
            selected_class, voxels, center = None, None, None
            if not force_fg:
                slice_idx = np.random.choice(case_data.shape[1])
            else:
                classes = _foreground_classes(properties, case)
                if len(classes) == 0:
                    slice_idx = np.random.choice(case_data.shape[1])
                else:
                    selected_class = np.random.choice(classes)
                    voxels = properties["class_locations"][selected_class]
                    slice_idx = np.random.choice(np.unique(voxels[:, 0]))
                    voxels = voxels[voxels[:, 0] == slice_idx]
            plane = case_data[:, int(slice_idx)]  # memmap: reads one slice only
            shape = plane.shape[1:]
            lbs, ubs = self._bounds(shape)
            if selected_class is None:
                box_lb = [int(np.random.randint(lbs[d], ubs[d] + 1)) for d in range(2)]
            else:
                voxel = voxels[np.random.choice(len(voxels))]
                box_lb = [max(lbs[d], int(voxel[d + 1]) - int(self.patch_size[d]) // 2) for d in range(2)]
                center = (int(slice_idx), int(voxel[1]), int(voxel[2]))
            _crop_and_pad(plane, box_lb, self.patch_size, self.pad_mode, self.pad_kwargs_data, data[j], seg[j])
            provenance.append(SampleProvenance(
                case_id=str(case), case_shape=tuple(int(s) for s in case_data.shape[1:]),
                box=((int(slice_idx), int(slice_idx) + 1),) + tuple(
                    (b, b + int(p)) for b, p in zip(box_lb, self.patch_size)),
                forced=bool(force_fg), forced_class=None if selected_class is None else int(selected_class),
                center_voxel=center))
        return {"data": data, "seg": seg, "properties": case_properties, "keys": selected_keys,
                "provenance": provenance}


def make_data_loader(dataset: Mapping[str, dict], patch_size: Sequence[int], final_patch_size: Sequence[int],
                     batch_size: int, oversample_foreground_percent: float = 0.33,
                     memmap_mode: str = "r", *, has_prev_stage: bool = False) -> _LoaderBase:
    """The loader nnUNetTrainerV2.get_basic_generators builds: 2D or 3D by ``len(patch_size)``.

    ``has_prev_stage`` is the cascade (nnUNetTrainerV2CascadeFullRes): 3D only, each entry of ``dataset``
    must name its ``seg_from_prev_stage_file``.

    Raises:
        ConfigurationError: a 2D patch size with ``has_prev_stage`` (v1: "2D has no cascade"), or a patch size
            neither 2D nor 3D.
    """
    if len(patch_size) == 3:
        return DataLoader3D(dataset, patch_size, final_patch_size, batch_size, has_prev_stage,
                            oversample_foreground_percent=oversample_foreground_percent,
                            memmap_mode=memmap_mode, pad_mode="constant")
    if len(patch_size) == 2 and has_prev_stage:
        raise ConfigurationError(tr("2D has no cascade: the previous-stage segmentation is loaded by 3D loaders only",
                                    "2D 没有级联：只有 3D 数据加载器会加载上一阶段的分割"),
                                 fix=tr("train the cascade with 3d_cascade_fullres (3D patches)",
                                        "请用 3d_cascade_fullres(3D patch)训练级联"))
    if len(patch_size) == 2:
        return DataLoader2D(dataset, patch_size, final_patch_size, batch_size,
                            oversample_foreground_percent=oversample_foreground_percent,
                            memmap_mode=memmap_mode, pad_mode="constant")
    raise ConfigurationError(tr(f"patch_size {list(patch_size)} is neither 2D nor 3D",
                                f"patch_size {list(patch_size)} 既不是 2D 也不是 3D"),
                             fix=tr("check the plans", "请检查 plans"))


def prev_stage_file(folder: str | os.PathLike, case_id: str) -> str:
    """Where the 3d_lowres prediction of ``case_id`` lives: ``<folder>/<case_id>_segFromPrevStage.npz``."""
    return os.path.join(str(folder), f"{case_id}_segFromPrevStage.npz")


@mirrors("nnunet.training.network_training.nnUNetTrainerV2_CascadeFullRes:nnUNetTrainerV2CascadeFullRes.do_split")
def attach_prev_stage(dataset: Mapping[str, dict], folder: str | os.PathLike, *,
                      require: bool = True) -> Mapping[str, dict]:
    """Give every case of ``dataset`` its ``seg_from_prev_stage_file`` in ``folder`` (in place; returned).

    ``folder`` is the 3d_lowres experiment's ``pred_next_stage`` folder:
    ``<RESULTS_FOLDER>/nnUNet/3d_lowres/<Task>/<previous_trainer>__<plans>/pred_next_stage``. Like v1's cascade
    trainer (``do_split``), every case must have its file (``require``): each 3d_lowres fold predicts only
    its own validation cases, so all 5 folds are needed to cover the training set.

    Raises:
        DatasetError: ``require`` and a case has no ``CASE_segFromPrevStage.npz`` in ``folder``.
    """
    missing = []
    for case, entry in dataset.items():
        entry["seg_from_prev_stage_file"] = prev_stage_file(folder, case)
        if require and not os.path.isfile(entry["seg_from_prev_stage_file"]):
            missing.append(case)
    if missing:
        raise DatasetError(tr(f"segmentation from the previous stage missing for {len(missing)} case(s), e.g. "
                              f"{prev_stage_file(folder, missing[0])}",
                              f"有 {len(missing)} 个病例缺少上一阶段的分割，例如 "
                              f"{prev_stage_file(folder, missing[0])}"),
                           fix=tr("run all 5 folds of the 3d_lowres configuration of this task (each fold predicts "
                                  "the next stage for its validation cases)",
                                  "请运行这个任务 3d_lowres 配置的全部 5 折（每一折为自己的验证病例预测下一阶段）"))
    return dataset


def subset(dataset: Mapping[str, dict], keys: Sequence[str]) -> "OrderedDict[str, dict]":
    """``OrderedDict`` of ``dataset`` restricted to the sorted ``keys`` (v1's ``dataset_tr`` / ``dataset_val``)."""
    missing = [k for k in keys if k not in dataset]
    if missing:
        raise DatasetError(tr(f"cases {missing[:5]} of the split are not in the preprocessed folder",
                              f"划分中的病例 {missing[:5]} 不在预处理文件夹中"),
                           fix=tr("delete splits_final.pkl or re-run preprocessing",
                                  "请删除 splits_final.pkl，或重新运行预处理"))
    return OrderedDict((k, dataset[k]) for k in sorted(keys))


def case_batch(dataset: Mapping[str, dict], case_id: str, patch_size: Sequence[int],
               final_patch_size: Sequence[int] | None = None, *, seed: int = 0,
               force_foreground: bool = False, has_prev_stage: bool = False) -> dict:
    """A batch of one patch from ``case_id``, cut by the v1 loader rules (for looking at one case).

    The box is drawn with ``np.random.seed(seed)`` (the caller's random state is restored afterwards);
    ``force_foreground`` centres it on a stored foreground voxel, as for the last samples of a training batch;
    ``has_prev_stage`` adds the cascade's previous-stage segmentation as ``seg[:, 1]``.
    """
    if case_id not in dataset:
        raise DatasetError(tr(f"case {case_id!r} is not in the dataset", f"数据集中没有病例 {case_id!r}"),
                           fix=tr(f"choose one of {', '.join(list(dataset)[:5])} ...",
                                  f"请从 {', '.join(list(dataset)[:5])} ... 中选一个"))
    final = final_patch_size if final_patch_size is not None else patch_size
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        loader = make_data_loader(OrderedDict([(case_id, dataset[case_id])]), patch_size, final, 1,
                                  oversample_foreground_percent=1.0 if force_foreground else 0.0,
                                  has_prev_stage=has_prev_stage)
        return next(loader)
    finally:
        np.random.set_state(state)
