"""``check_dataset``: every check on every case of a raw task, with the numbers, before nnU-Net sees it.

v1's ``verify_dataset_integrity`` stops at the first missing file (an ``assert``), prints each geometry mismatch and
raises only at the end, after all the other checks; a cut-short ``.nii.gz`` passes it (SimpleITK reads it without
error), and its only look at intensities, a NaN check, can fire only on a cut-short file (SimpleITK turns NaN
and Inf of complete files into 0). This module runs all checks on all cases and returns findings
``{check, severity, message, ...numbers}`` per case, plus dataset-wide findings:

Per case (headers first, then voxels):

* ``missing_file``, ``unreadable`` (not NIfTI, extension v1 does not read), ``truncated`` (gzip stream ends
  early / damaged / fewer voxel bytes than the header declares, see :mod:`.image_io`) -- errors;
* ``image_vs_label`` and ``modality_vs_modality``: size, spacing, origin, direction compared with v1's tolerance
  (``np.isclose``: rtol 1e-5, atol 1e-8), with both values and the largest difference -- errors;
* ``image_4d`` (the Decathlon layout) -- error; ``nan_inf``: NaN/Inf voxels (SimpleITK reads them as 0) -- error;
* ``undeclared_label`` (values not in ``dataset.json`` ``labels``) -- error; ``empty_label`` -- warning;
* ``intensity_outlier``: a per-case intensity statistic far from the other cases (robust z from median/MAD,
  ``|z| > 3.5``), with what v1's normalisation will do with it -- warning (info where v1's per-case z-score
  removes the difference);
* ``orientation`` (a case whose axis codes differ from most cases) and ``spacing`` (a case v1 will resample by
  3x or more along an axis) -- warnings.

Test cases (``imagesTs``, key ``test_cases``): the same file, geometry (between modalities) and NaN checks, and
``intensity_shift``: whole-image statistics outside what the training cases show (warning for CT, which v1
normalises with the training numbers; info for nonCT).

Dataset-wide (key ``dataset``): ``dataset.json`` problems, files not listed in it, declared labels that no
case contains, the orientation mix, the spacing spread and what the 3D planner makes of it (target spacing and
the anisotropy rule, ``transpose_forward``, the separate-z resampling, the low-resolution stage rule -- run by
the explorer's own planner functions on the cases' cropped sizes), and the normalisation v1 will apply.

Severity: ``error`` = v1 would fail or train on wrong data; ``warning`` = legal but likely a mistake;
``info`` = what v1 will do, for reading.
"""
from __future__ import annotations

import multiprocessing
import sys
import time
from collections import Counter, OrderedDict
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from . import tasks
from .errors import DatasetError, ExplorerError
from .fileio import load_json
from .image_io import NiftiScan, read_nifti_header, scan_nifti, truncation_error
from .language import pad, severity_word, tr
from .paths import Workspace, get_workspace
from .provenance import mirrors
from .tasks import Geometry, NIFTI_SUFFIX

SEVERITIES = ("error", "warning", "info")
ROBUST_Z_THRESHOLD = 3.5      # Iglewicz & Hoaglin's cut-off for the modified z-score (and see _matters)
MIN_CASES_FOR_OUTLIERS = 4
SPACING_FACTOR_WARN = 3.0     # a case resampled by >= 3x (or <= 1/3) along an axis
THUMBNAIL_MAX_PIXELS = 160
DEFAULT_PROCESSES = 2
GEOMETRY_FIELDS = ("size", "spacing", "origin", "direction")


@dataclass
class Finding:
    """One thing found: which check, how bad, a sentence with cause and fix, and the numbers behind it."""

    check: str
    severity: str
    message: str
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"check": self.check, "severity": self.severity, "message": self.message,
                **{k: _plain(v) for k, v in self.extra.items()}}


@dataclass
class Thumbnail:
    """A 2D slice of image (modality 0) and label for the report; ``label`` None when it cannot be overlaid."""

    image: np.ndarray
    label: np.ndarray | None
    axis: int            # array axis (0 = z) the slice is taken across
    index: int
    aspect: float        # pixel height / width in mm, for display
    label_beside: bool = False   # label has another shape: draw it beside the image, not over it


@dataclass
class CaseResult:
    """What the per-case worker found (plain data, so it can cross a process boundary)."""

    case_id: str
    findings: list[Finding]
    spacing_zyx: tuple[float, ...] | None = None
    cropped_size_zyx: tuple[int, ...] | None = None
    size_reduction: float | None = None
    axis_codes: str | None = None
    label_counts: dict[int, int] | None = None
    stats: dict[int, dict[str, float]] = field(default_factory=dict)
    fg_samples: dict[int, np.ndarray] | None = None
    thumbnail: Thumbnail | None = None


@dataclass
class DatasetCheck:
    """The result of :func:`check_dataset`; ``to_json()`` gives the documented JSON."""

    task_name: str
    raw_dir: Path
    cases: "OrderedDict[str, list[Finding]]"
    dataset: list[Finding]
    thumbnails: dict[str, Thumbnail]
    stats: dict[str, dict[int, dict[str, float]]]
    seconds: float
    test_cases: "OrderedDict[str, list[Finding]]" = field(default_factory=OrderedDict)

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(f.severity for f in self.all_findings())
        return {s: found.get(s, 0) for s in SEVERITIES}

    def all_findings(self) -> list[Finding]:
        return ([f for fs in self.cases.values() for f in fs] + [f for fs in self.test_cases.values() for f in fs]
                + list(self.dataset))

    @property
    def has_errors(self) -> bool:
        return any(f.severity == "error" for f in self.all_findings())

    @property
    def flagged_cases(self) -> list[str]:
        return [c for c, fs in self.cases.items() if fs]

    @property
    def flagged_test_cases(self) -> list[str]:
        return [c for c, fs in self.test_cases.items() if fs]

    def to_json(self) -> dict:
        counts = self.counts
        return {
            "task": self.task_name,
            "cases": {case: [f.to_json() for f in fs] for case, fs in self.cases.items()},
            "test_cases": {case: [f.to_json() for f in fs] for case, fs in self.test_cases.items()},
            "dataset": [f.to_json() for f in self.dataset],
            # per training case and modality: image_* (whole image) and foreground_* (label > 0) statistics
            "statistics": _plain(self.stats),
            "summary": {"cases_checked": len(self.cases), "cases_flagged": len(self.flagged_cases),
                        "test_cases_checked": len(self.test_cases),
                        "test_cases_flagged": sum(1 for fs in self.test_cases.values() if fs), **counts,
                        "seconds": round(self.seconds, 3)},
        }

    def summary_text(self) -> str:
        counts = self.counts
        lines = [f"check_dataset {self.task_name}: " + tr(
            f"{len(self.cases)} case(s), {len(self.flagged_cases)} flagged; {counts['error']} error(s), "
            f"{counts['warning']} warning(s), {counts['info']} info ({self.seconds:.1f} s)",
            f"{len(self.cases)} 个病例,{len(self.flagged_cases)} 个被标记;{counts['error']} 个错误,"
            f"{counts['warning']} 个警告,{counts['info']} 条提示(用时 {self.seconds:.1f} s)")]
        for case, findings in self.cases.items():
            for f in findings:
                lines.append(f"  {case}: {pad(severity_word(f.severity), 7)} {f.check:<21} {f.message}")
        test, dataset = tr("(test)", "(测试)"), tr("(dataset)", "(数据集)")
        for case, findings in self.test_cases.items():
            for f in findings:
                lines.append(f"  {case} {test}: {pad(severity_word(f.severity), 7)} {f.check:<21} {f.message}")
        for f in self.dataset:
            lines.append(f"  {dataset} {pad(severity_word(f.severity), 7)} {f.check:<21} {f.message}")
        return "\n".join(lines)


def _fix(fix: str) -> str:
    """The fix that ends a finding's message, labelled in the reader's language."""
    return tr(f" (fix: {fix})", f"(解决办法:{fix})")


def _plain(value: Any) -> Any:
    """JSON-safe: numpy -> Python, NaN/Inf -> None, tuples -> lists, dict keys -> str."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def _fmt(values: Sequence[float], digits: int = 6) -> str:
    return "(" + ", ".join(f"{float(v) + 0.0:.{digits}g}" for v in values) + ")"  # + 0.0: no "-0"


# --- per case -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Job:
    case_id: str
    images: tuple[str, ...]
    label: str | None     # None for a test case (imagesTs)
    task_dir: str
    declared: tuple[int, ...]
    modalities: tuple[str, ...]


def _rel(path: str | Path, task_dir: str) -> str:
    return tasks._rel(Path(path), Path(task_dir))


def read_header(path: str, rel: str, findings: list[Finding]) -> Geometry | None:
    """Header only: our NIfTI header check, then SimpleITK's ``ReadImageInformation``; a file that fails either
    becomes an ``unreadable`` finding."""
    try:
        read_nifti_header(path)
    except DatasetError as own:
        why = own.cause.replace(path, rel) if path in own.cause else f"{rel}: {own.cause}"
        findings.append(Finding("unreadable", "error", why + _fix(own.fix), {"file": rel}))
        return None
    try:
        return tasks.read_geometry(Path(path))
    except RuntimeError as exc:
        why = str(exc).strip().splitlines()[-1]
        findings.append(Finding("unreadable", "error", tr(f"{rel} cannot be read by SimpleITK: {why}",
                                                          f"SimpleITK 读不了 {rel}:{why}")
                                + _fix(tr("replace the file with a readable .nii.gz", "换成一个可读的 .nii.gz 文件")),
                                {"file": rel}))
        return None


@mirrors("nnunet.preprocessing.sanity_checks:verify_same_geometry")
def geometry_findings(check: str, a: Geometry, b: Geometry, a_name: str, b_name: str, *,
                      test_case: bool = False) -> list[Finding]:
    """One finding per field (size, spacing, origin, direction) where ``a`` and ``b`` differ beyond v1's
    ``np.isclose`` (rtol 1e-5, atol 1e-8), with both values and the largest absolute difference.

    ``check`` is ``image_vs_label`` or ``modality_vs_modality``; ``test_case`` (an ``imagesTs`` case) changes what
    v1's ``--verify_dataset_integrity`` does: it compares a training case's modalities with its label and stops at
    the end with 'GEOMETRY MISMATCH FOUND', but a test case's modalities with each other, asserting at once."""
    out = []
    if test_case:
        silently = tr("; v1 uses the images as they are unless run with --verify_dataset_integrity, which stops at "
                      "once with 'The modalities of the image ... do not seem to be registered'",
                      ";v1 会照样使用这些图像,除非用 --verify_dataset_integrity 运行,那时它立即停止并报 "
                      "'The modalities of the image ... do not seem to be registered'")
    elif check == "image_vs_label":
        silently = tr("; v1 uses the pair as it is unless run with --verify_dataset_integrity, which stops at "
                      "'GEOMETRY MISMATCH FOUND'",
                      ";v1 会照样使用这对文件,除非用 --verify_dataset_integrity 运行,那时它停在 "
                      "'GEOMETRY MISMATCH FOUND'")
    else:
        # v1 compares a training case's modalities with its label, never with each other; two modalities that
        # differ cannot both match the label, so the check still fires
        silently = tr("; v1 uses the images as they are unless run with --verify_dataset_integrity, which compares "
                      "each modality with the label and stops at 'GEOMETRY MISMATCH FOUND'",
                      ";v1 会照样使用这些图像,除非用 --verify_dataset_integrity 运行,那时它把每个模态与标签比较,"
                      "并停在 'GEOMETRY MISMATCH FOUND'")
    if check == "image_vs_label":
        # v1 cuts the label with the image's nonzero box (crop_to_nonzero): a label larger than that box on every
        # axis is cut to the image's shape without an error
        consequences = {
            "size": tr("v1 cuts the label with the image's nonzero box: a numpy error when the label is smaller than "
                       "that box, otherwise a label that does not line up with the image",
                       "v1 用图像的非零区域边界框裁剪标签:标签比这个框小时会出 numpy 错误,否则得到一个与图像"
                       "对不齐的标签") + silently,
            "spacing": tr("the voxels are paired one to one although they have different sizes",
                          "体素被一一配对,尽管它们大小不同") + silently,
            "origin": tr("image and label do not start at the same place, so the label is shifted against the "
                         "anatomy", "图像和标签的起点不同,所以标签相对解剖结构发生了偏移") + silently,
            "direction": tr("the arrays are paired voxel by voxel although their axes point differently, so the "
                            "label is flipped or rotated against the anatomy",
                            "数组被逐个体素配对,尽管它们的轴方向不同,所以标签相对解剖结构被翻转或旋转了") + silently}
        fix = tr("resample or co-register so that they share one voxel grid; if only the header is wrong, copy it "
                 "(sitk: label.CopyInformation(image))",
                 "重采样或配准,使它们共用一个体素网格;如果只是文件头错了,就复制文件头"
                 "(sitk:label.CopyInformation(image))")
    else:
        consequences = {
            "size": tr("the arrays cannot be stacked; v1 fails with a numpy error when it loads the case (np.vstack)",
                       "这些数组无法堆叠;v1 加载这个病例时会出 numpy 错误(np.vstack)"),
            "spacing": tr("the modalities are stacked voxel by voxel although their voxels have different sizes",
                          "各模态被逐个体素堆叠,尽管它们的体素大小不同") + silently,
            "origin": tr("the modalities do not start at the same place, so one is shifted against the other in the "
                         "network's input", "各模态的起点不同,所以在网络的输入中一个相对另一个发生了偏移") + silently,
            "direction": tr("the modalities are stacked voxel by voxel although their axes point differently, so "
                            "one is flipped or rotated against the other",
                            "各模态被逐个体素堆叠,尽管它们的轴方向不同,所以一个相对另一个被翻转或旋转了") + silently}
        fix = tr(f"resample or co-register {a_name} onto {b_name}'s voxel grid; if only the header is wrong, copy "
                 "it (sitk: moving.CopyInformation(reference))",
                 f"把 {a_name} 重采样或配准到 {b_name} 的体素网格上;如果只是文件头错了,就复制文件头"
                 "(sitk:moving.CopyInformation(reference))")
    for name in GEOMETRY_FIELDS:
        va, vb = np.asarray(getattr(a, name), float), np.asarray(getattr(b, name), float)
        if va.shape == vb.shape and np.all(np.isclose(va, vb)):
            continue
        diff = float(np.max(np.abs(va - vb))) if va.shape == vb.shape else None
        consequence = consequences[name]
        detail = (f"{name} {_fmt(va)} vs {_fmt(vb)}"
                  + (tr(" (ITK order x, y, z)", "(ITK 顺序 x, y, z)") if name != "direction" else "")
                  + (tr(f" (largest difference {diff:.3g})", f"(最大差值 {diff:.3g})") if diff is not None else ""))
        out.append(Finding(check, "error", tr(f"{a_name} does not match {b_name}: {detail}; {consequence}",
                                              f"{a_name} 与 {b_name} 不一致:{detail};{consequence}") + _fix(fix),
                           {"field": name, "file": a_name, "reference": b_name, "value": va, "reference_value": vb,
                            "max_difference": diff, "tolerance": "numpy.isclose rtol=1e-05 atol=1e-08"}))
    return out


def _stats(values: np.ndarray, percentile_step: int = 1) -> dict[str, float]:
    """n, mean, sd, min, max exactly; median and 0.5/99.5 percentiles from every ``percentile_step``-th value
    (the sort behind a percentile dominates the time on whole CT volumes)."""
    if values.size == 0:
        return {"n": 0}
    p005, p50, p995 = np.percentile(values[::percentile_step], (0.5, 50, 99.5))
    return {"n": int(values.size), "mean": float(values.mean()), "sd": float(values.std()), "median": float(p50),
            "min": float(values.min()), "max": float(values.max()), "percentile_00_5": float(p005),
            "percentile_99_5": float(p995)}


def _thumbnail(image: np.ndarray, label: np.ndarray | None, spacing_zyx: Sequence[float],
               index: int | None = None) -> Thumbnail:
    """The slice across z at the middle of the label's extent (the image's middle when the label is empty),
    or at ``index``."""
    same = label is not None and label.shape == image.shape
    if index is None:
        fg = np.nonzero(np.any(label > 0, axis=(1, 2)))[0] if label is not None else np.array([])
        index = int((fg[0] + fg[-1]) // 2) if fg.size else image.shape[0] // 2
    index = min(index, image.shape[0] - 1)
    step = max(1, int(np.ceil(max(image.shape[1:]) / THUMBNAIL_MAX_PIXELS)))
    img = np.asarray(image[index, ::step, ::step], np.float32)
    lab = None
    if label is not None:
        lindex = min(index, label.shape[0] - 1)
        lab = np.asarray(label[lindex, ::step, ::step]).astype(np.int16)
    aspect = float(spacing_zyx[1] / spacing_zyx[2]) if spacing_zyx is not None else 1.0
    return Thumbnail(img, lab, 0, index, aspect, label_beside=not same and label is not None)


def _value_counts(label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(label, return_counts=True)``; a histogram (no sort) for small non-negative integer labels."""
    if label.dtype.kind in "iu" and label.size:
        lo, hi = int(label.min()), int(label.max())
        if lo >= 0 and hi < 65536:
            counts = np.bincount(label.ravel(), minlength=hi + 1)
            values = np.nonzero(counts)[0]
            return values, counts[values]
    return np.unique(label, return_counts=True)


def _read_array(path: str, rel: str, findings: list[Finding] | None, dtype=None) -> np.ndarray | None:
    """The voxels (z, y, x) via SimpleITK, as v1 reads them; a read error becomes an ``unreadable`` finding."""
    import SimpleITK as sitk

    try:
        array = sitk.GetArrayFromImage(sitk.ReadImage(path))
    except RuntimeError as exc:
        if findings is not None:
            why = str(exc).strip().splitlines()[-1]
            findings.append(Finding("unreadable", "error", tr(f"{rel}: SimpleITK cannot read its voxels ({why})",
                                                              f"{rel}:SimpleITK 读不了它的体素({why})")
                                    + _fix(tr("replace the file with a readable .nii.gz",
                                              "换成一个可读的 .nii.gz 文件")), {"file": rel}))
        return None
    return array.astype(dtype, copy=False) if dtype is not None else array


def check_case(job: _Job) -> CaseResult:
    """Every check on one case. Never stops at the first problem; returns findings instead of raising."""
    findings: list[Finding] = []
    result = CaseResult(job.case_id, findings)
    files = [*job.images] + ([job.label] if job.label else [])
    rel = {p: _rel(p, job.task_dir) for p in files}
    present = []
    for path in files:
        if not Path(path).is_file():
            part = "training" if job.label else "test"
            findings.append(Finding("missing_file", "error", tr(f"{rel[path]} is missing", f"{rel[path]} 不存在")
                                    + _fix(tr(f"add the file, or remove the case from dataset.json '{part}'",
                                              f"补上这个文件,或把这个病例从 dataset.json 的 '{part}' 中删除")),
                                    {"file": rel[path]}))
        else:
            present.append(path)
    # 1. headers only
    headers = {p: read_header(p, rel[p], findings) for p in present}
    headers = {p: g for p, g in headers.items() if g is not None}
    label_geometry = headers.get(job.label) if job.label else None
    for m, path in enumerate(job.images):
        geometry = headers.get(path)
        if geometry is None:
            continue
        if len(geometry.size) == 4:
            findings.append(Finding("image_4d", "error", tr(f"{rel[path]} is 4D {geometry.size}; v1 wants one 3D "
                                                            "file per modality",
                                                            f"{rel[path]} 是 4D 的 {geometry.size};v1 要求每个模态"
                                                            "一个 3D 文件") + _fix(tasks._decathlon_fix()),
                                    {"file": rel[path]}))
            continue
        if label_geometry is not None:
            findings += geometry_findings("image_vs_label", geometry, label_geometry, rel[path], rel[job.label])
        reference = headers.get(job.images[0])
        if m > 0 and reference is not None and len(reference.size) == 3:
            findings += geometry_findings("modality_vs_modality", geometry, reference, rel[path],
                                          rel[job.images[0]], test_case=job.label is None)
    first = headers.get(job.images[0]) or label_geometry
    if first is not None:
        result.axis_codes = first.axis_codes
        result.spacing_zyx = tuple(float(s) for s in first.spacing[::-1])
    # 2. whole files: cut short? NaN / Inf?
    whole: dict[str, NiftiScan] = {}
    cut_scans: dict[str, NiftiScan] = {}
    for path in headers:
        try:
            scan = scan_nifti(path)
        except DatasetError as exc:
            findings.append(Finding("unreadable", "error", f"{rel[path]}: {exc.cause}" + _fix(exc.fix),
                                    {"file": rel[path]}))
            continue
        if scan.problem is not None:
            cut_scans[path] = scan
            err = truncation_error(scan)
            findings.append(Finding("truncated", "error", tr(
                f"{rel[path]} is incomplete: {scan.problem}; only {scan.voxels_present} of its "
                f"{scan.voxels_declared} voxels are there, and SimpleITK reads it without error, filling the rest "
                "with 0",
                f"{rel[path]} 不完整:{scan.problem};它的 {scan.voxels_declared} 个体素中只有 {scan.voxels_present} "
                "个在文件里,而 SimpleITK 读取时不报错,把其余的填成 0") + _fix(err.fix),
                                    {"file": rel[path], "bytes_expected": scan.expected_bytes,
                                     "bytes_read": scan.bytes_read, "voxels_declared": scan.voxels_declared,
                                     "voxels_present": scan.voxels_present}))
            continue
        if scan.nonfinite:
            findings.append(Finding("nan_inf", "error", tr(
                f"{rel[path]} holds {scan.nan} NaN and {scan.inf} Inf voxels; SimpleITK (so v1) reads them as 0 "
                "without a word",
                f"{rel[path]} 中有 {scan.nan} 个 NaN 体素和 {scan.inf} 个 Inf 体素;SimpleITK(因而 v1)不声不响地"
                "把它们读成 0") + _fix(tr("replace them with a real value, e.g. the background intensity",
                                        "把它们换成一个真实的值,例如背景强度")),
                                    {"file": rel[path], "nan": scan.nan, "inf": scan.inf}))
        whole[path] = scan
    # 3. voxels of the files that are whole and 3D
    label = None
    if job.label and job.label in whole and label_geometry is not None and len(label_geometry.size) == 3:
        label = _read_array(job.label, rel[job.label], findings)
    if label is not None:
        values, counts = _value_counts(label)
        result.label_counts = {(int(v) if float(v).is_integer() else float(v)): int(c) for v, c in zip(values, counts)}
        undeclared = [v for v in result.label_counts if v not in job.declared]
        if undeclared:
            found = tuple(result.label_counts)
            findings.append(Finding("undeclared_label", "error", tr(
                f"{rel[job.label]} holds label values {tasks._short(undeclared)} that dataset.json does not declare "
                f"(declared: {list(job.declared)}); v1's integrity check fails on them",
                f"{rel[job.label]} 中有 dataset.json 没有声明的标签值 {tasks._short(undeclared)}(已声明:"
                f"{list(job.declared)});v1 的完整性检查会因此失败") + _fix(tasks._label_fix(found, job.declared)),
                                    {"file": rel[job.label], "values": undeclared[:20],
                                     "voxels": [result.label_counts[v] for v in undeclared[:20]],
                                     "num_undeclared_values": len(undeclared),
                                     "declared": list(job.declared)}))
        if not any(v != 0 for v in result.label_counts):
            findings.append(Finding("empty_label", "warning", tr(
                f"{rel[job.label]} holds only background (0): the case teaches the network nothing about the "
                "foreground classes and v1's foreground oversampling has nothing to sample",
                f"{rel[job.label]} 中只有背景(0):这个病例不能教给网络任何关于前景类别的东西,v1 的前景过采样也"
                "无从采样") + _fix(tr("check that the right file was exported; keep it only if the case really has "
                                    "no structure", "检查导出的是不是正确的文件;只有病例确实没有这个结构时才保留它")),
                                    {"file": rel[job.label]}))
    arrays = []
    for path in job.images:
        geometry = headers.get(path)
        if path in whole and geometry is not None and len(geometry.size) == 3:
            arrays.append(_read_array(path, rel[path], findings, np.float32))
        else:
            arrays.append(None)
    picture = arrays[0] if arrays else None
    first_header = headers.get(job.images[0])
    at = None
    if picture is None and first_header is not None and len(first_header.size) == 3:
        # a cut-short file still gets a picture: what SimpleITK reads from it, at the slice where the data stop
        # (zeros from there on)
        picture = _read_array(job.images[0], rel[job.images[0]], None, np.float32)
        cut = cut_scans.get(job.images[0])
        if cut is not None and picture is not None:
            at = min(cut.voxels_present // max(1, picture.shape[1] * picture.shape[2]), picture.shape[0] - 1)
    if picture is not None:
        result.thumbnail = _thumbnail(picture, label, result.spacing_zyx or (1, 1, 1), at)
    fg = label > 0 if label is not None else None
    is_ct = [name in ("CT", "ct") for name in job.modalities]
    samples = {}
    for m, array in enumerate(arrays):
        if array is None:
            continue
        stats = {f"image_{k}": v for k, v in _stats(array.ravel(), percentile_step=10).items()}
        if fg is not None and fg.shape == array.shape:
            stats.update({f"foreground_{k}": v for k, v in _stats(array[fg]).items()})
            if any(is_ct):  # v1 collects every 10th foreground voxel of every modality for CT datasets
                samples[m] = array[fg][::10]
        result.stats[m] = stats
    if any(is_ct) and len(samples) == len(arrays):
        result.fg_samples = samples
    if arrays and all(a is not None for a in arrays) and len({a.shape for a in arrays}) == 1:
        # v1 crops to the bounding box of the voxels nonzero in any modality (holes filled, which does not
        # change the box); the planner works on these cropped sizes
        nonzero = np.zeros(arrays[0].shape, bool)
        for a in arrays:
            nonzero |= a != 0
        coords = [np.nonzero(np.any(nonzero, axis=tuple(i for i in range(3) if i != ax)))[0] for ax in range(3)]
        if all(c.size for c in coords):
            result.cropped_size_zyx = tuple(int(c[-1] - c[0] + 1) for c in coords)
            result.size_reduction = float(np.prod(result.cropped_size_zyx) / np.prod(arrays[0].shape))
    return result


# --- across cases ---------------------------------------------------------------------------------------------

def robust_z(values: Sequence[float], reference: Sequence[float] | None = None) -> tuple[np.ndarray, float, float]:
    """Modified z-scores ``0.6745 (x - median) / MAD`` (Iglewicz & Hoaglin); returns (z, median, MAD).

    Median and MAD come from ``reference`` (default: ``values`` themselves). When more than half of the values
    are equal the MAD is 0; the mean absolute deviation (x 1.2533, its consistency factor) is used instead, so
    that one odd case among identical ones still stands out.
    """
    x = np.asarray(values, float)
    ref = x if reference is None else np.asarray(reference, float)
    median = float(np.median(ref))
    mad = float(np.median(np.abs(ref - median)))
    if mad > 0:
        return 0.6745 * (x - median) / mad, median, mad
    meanad = float(np.mean(np.abs(ref - median)))
    if meanad == 0:
        with np.errstate(invalid="ignore"):
            return np.where(x == median, 0.0, np.inf * np.sign(x - median)), median, 0.0
    return (x - median) / (1.2533 * meanad), median, mad


# (statistic, scheme) -> whether v1's normalisation removes a case-to-case difference in it
_OUTLIER_STATS = {
    "CT": ("foreground_median", "foreground_percentile_00_5", "foreground_percentile_99_5"),
    "nonCT": ("image_mean", "image_sd"),
}


def _matters(stat: str, value: float, median: float, typical_sd: float) -> bool:
    """Is a statistical outlier also large enough to matter? (The robust z alone flags tiny differences when
    the cases are very alike.) A location (mean, median, percentile) must sit more than one typical within-case
    sd from the other cases' median -- after a z-score that is a shift of more than 1; a spread (sd) must differ
    by more than a factor of 2."""
    if stat.endswith("_sd"):
        return median > 0 and (value > 2 * median or value < median / 2)
    return bool(np.isfinite(typical_sd) and typical_sd > 0 and abs(value - median) > typical_sd)


def _intensity_findings(results: Sequence[CaseResult], modalities: Mapping[int, str], schemes: Mapping[int, str],
                        pooled: Mapping | None, cases: Mapping[str, list[Finding]]) -> None:
    """One ``intensity_outlier`` finding per case and modality: its most extreme statistic, the others listed."""
    pending: dict[tuple[str, int], list[Finding]] = {}
    for m, name in modalities.items():
        scheme = schemes.get(m, "nonCT")
        for stat in _OUTLIER_STATS.get(scheme, ()):
            have = [(r.case_id, r.stats[m][stat], r) for r in results if m in r.stats and stat in r.stats[m]]
            if len(have) < MIN_CASES_FOR_OUTLIERS:
                continue
            z, median, mad = robust_z([v for _, v, _ in have])
            sd_key = stat.split("_")[0] + "_sd"
            typical_sd = float(np.median([r.stats[m].get(sd_key, np.nan) for _, _, r in have]))
            for (case, value, r), score in zip(have, z):
                if abs(score) <= ROBUST_Z_THRESHOLD or not _matters(stat, value, median, typical_sd):
                    continue
                extra = {"modality": m, "modality_name": name, "statistic": stat, "value": value,
                         "dataset_median": median, "dataset_mad": mad, "robust_z": float(score),
                         "threshold": ROBUST_Z_THRESHOLD}
                if scheme == "CT" and pooled is not None:
                    lo, hi = pooled[m]["percentile_00_5"], pooled[m]["percentile_99_5"]
                    mean, sd = pooled[m]["mean"], pooled[m]["sd"]
                    sample = r.fg_samples.get(m) if r.fg_samples else None
                    clipped = float(np.mean((sample < lo) | (sample > hi))) if sample is not None and sample.size else None
                    after = (float(np.clip(value, lo, hi)) - mean) / sd if sd else None
                    others = [o.fg_samples[m] for o in results if o.case_id != case and o.fg_samples
                              and m in o.fg_samples and o.fg_samples[m].size]
                    without = None
                    if others:
                        pooled_others = np.concatenate(others)
                        without = [float(v) for v in np.percentile(pooled_others, (0.5, 99.5))]
                    what = (tr(f"v1 clips every CT case to the dataset's pooled foreground 0.5/99.5 percentiles "
                               f"[{lo:.4g}, {hi:.4g}] and z-scores with its mean {mean:.4g} / sd {sd:.4g}, so ",
                               f"v1 把每个 CT 病例截断到数据集汇总前景的 0.5/99.5 百分位 [{lo:.4g}, {hi:.4g}],再用"
                               f"它的均值 {mean:.4g} / 标准差 {sd:.4g} 做 z-score,所以")
                            + (tr(f"{100 * clipped:.0f} % of this case's foreground is clipped and ",
                                  f"这个病例 {100 * clipped:.0f} % 的前景被截断,") if clipped is not None else "")
                            + (tr(f"its value maps to {after:.3g} after normalisation",
                                  f"它的值在归一化后变为 {after:.3g}") if after is not None else "")
                            + (tr(f"; the case also moves the pooled numbers for every case: without it the clip "
                                  f"range would be [{without[0]:.4g}, {without[1]:.4g}]",
                                  f";这个病例还改变了所有病例共用的汇总数值:没有它时截断范围会是 "
                                  f"[{without[0]:.4g}, {without[1]:.4g}]") if without else ""))
                    extra.update({"v1_clip_range": [lo, hi], "v1_mean": mean, "v1_sd": sd,
                                  "fraction_clipped": clipped, "value_after_v1_normalization": after,
                                  "v1_clip_range_without_this_case": without})
                    hint = (tr("a constant offset of about 1000 is typical of CT stored without its rescale "
                               "intercept (-1024)", "约 1000 的固定偏移是 CT 存储时丢了 rescale intercept(-1024)"
                               "的典型表现") if abs(value - median) > 700
                            else tr("check the scanner units and rescaling", "检查扫描仪的单位和 rescale 设置"))
                    severity = "warning"
                else:
                    what = tr("v1 z-scores each case with its own mean and sd (nonCT), which removes a difference "
                              "in offset and scale like this one; it does not remove differences in contrast",
                              "v1 用每个病例自己的均值和标准差做 z-score(nonCT),这会消除像这样的偏移和尺度"
                              "差异;但不会消除对比度的差异")
                    hint = tr("informational: look at the case if the contrast also differs",
                              "仅供参考:如果对比度也不同,看一看这个病例")
                    severity = "info"
                pending.setdefault((case, m), []).append(Finding(
                    "intensity_outlier", severity,
                    tr(f"modality {m} ({name}): {stat} {value:.4g} is far from the other cases (median "
                       f"{median:.4g}, MAD {mad:.3g}, robust z {score:.1f} > {ROBUST_Z_THRESHOLD}); {what}",
                       f"模态 {m}({name}):{stat} {value:.4g} 与其他病例相差很远(中位数 {median:.4g},MAD "
                       f"{mad:.3g},稳健 z {score:.1f} > {ROBUST_Z_THRESHOLD});{what}") + _fix(hint), extra))
    for (case, _m), found in pending.items():
        found.sort(key=lambda f: -abs(f.extra["robust_z"]))
        main, others = found[0], found[1:]
        main.extra["other_statistics"] = [{k: f.extra[k] for k in ("statistic", "value", "dataset_median",
                                                                    "robust_z")} for f in others]
        if others:
            main.message += tr(" (also far off: ", "（同样相差很远：") + ", ".join(
                f"{f.extra['statistic']} {f.extra['value']:.4g} vs {f.extra['dataset_median']:.4g}" for f in others
            ) + tr(")", "）")
        cases[case].append(main)


# test cases have no label: their whole-image statistics are compared with the training cases'
_SHIFT_STATS = {"CT": ("image_median", "image_percentile_00_5", "image_percentile_99_5"),
                "nonCT": ("image_mean", "image_sd")}


def _test_shift_findings(results: Sequence[CaseResult], test_results: Sequence[CaseResult],
                         modalities: Mapping[int, str], schemes: Mapping[int, str],
                         test_cases: Mapping[str, list[Finding]]) -> None:
    """``intensity_shift``: a test case whose intensities lie outside what the training cases show.

    v1 normalises a new CT case with the *training* clip range, mean and sd, so a shifted case (another
    scanner, CBCT, missing rescale intercept) reaches the network with values it never saw: a known cause of
    empty predictions (MIC-DKFZ/nnUNet#1680). For nonCT, the per-case z-score removes offset and scale.
    """
    for m, name in modalities.items():
        scheme = schemes.get(m, "nonCT")
        best: dict[str, Finding] = {}
        for stat in _SHIFT_STATS.get(scheme, ()):
            reference = [r.stats[m][stat] for r in results if m in r.stats and stat in r.stats[m]]
            tested = [(r.case_id, r.stats[m][stat]) for r in test_results if m in r.stats and stat in r.stats[m]]
            if len(reference) < MIN_CASES_FOR_OUTLIERS or not tested:
                continue
            z, median, mad = robust_z([v for _, v in tested], reference)
            sd_key = stat.split("_")[0] + "_sd"
            typical_sd = float(np.median([r.stats[m][sd_key] for r in results if m in r.stats and sd_key in r.stats[m]]))
            lo, hi = float(np.min(reference)), float(np.max(reference))
            for (case, value), score in zip(tested, z):
                if abs(score) <= ROBUST_Z_THRESHOLD or not _matters(stat, value, median, typical_sd):
                    continue
                if case in best and abs(best[case].extra["robust_z"]) >= abs(score):
                    continue
                if scheme == "CT":
                    severity, what = "warning", tr("v1 normalises it with the training cases' clip range, mean "
                                                   "and sd, so the network gets values it never saw in training (a "
                                                   "known cause of empty predictions)",
                                                   "v1 用训练病例的截断范围、均值和标准差对它归一化,所以网络得到的"
                                                   "是训练中从未见过的值(这是预测结果为空的一个已知原因)")
                else:
                    severity, what = "info", tr("v1 z-scores each case with its own mean and sd, which removes an "
                                                "offset or scale difference like this one",
                                                "v1 用每个病例自己的均值和标准差做 z-score,这会消除像这样的偏移"
                                                "或尺度差异")
                best[case] = Finding("intensity_shift", severity, tr(
                    f"modality {m} ({name}): {stat} {value:.4g} lies outside the training cases (median "
                    f"{median:.4g}, range [{lo:.4g}, {hi:.4g}], robust z {score:.1f}); {what}",
                    f"模态 {m}({name}):{stat} {value:.4g} 落在训练病例的范围之外(中位数 {median:.4g},范围 "
                    f"[{lo:.4g}, {hi:.4g}],稳健 z {score:.1f});{what}")
                                     + _fix(tr("check the scanner, units and rescaling of this case",
                                               "检查这个病例的扫描仪、单位和 rescale 设置")),
                                     {"modality": m, "statistic": stat, "value": value, "training_median": median,
                                      "training_range": [lo, hi], "robust_z": float(score)})
        for case, finding in best.items():
            test_cases[case].append(finding)


def _planning_findings(results: Sequence[CaseResult], dataset_json: Mapping, cases: Mapping[str, list[Finding]],
                       out: list[Finding], pooled: Mapping | None = None) -> tuple[dict, dict]:
    """What the 3D planner and v1's normalisation make of these cases (the explorer's planner functions)."""
    from .planning import planner3d
    from .planning.explain import explain_trace
    from .planning.fingerprint import modalities_from_dataset_json
    from .planning.normalization import determine_normalization_scheme, determine_whether_to_use_mask_for_norm
    from .planning.resampling import get_do_separate_z, get_lowres_axis

    modalities = modalities_from_dataset_json(dataset_json)
    usable = sorted((r for r in results if r.spacing_zyx and r.cropped_size_zyx), key=lambda r: r.case_id)
    reductions = OrderedDict((r.case_id, r.size_reduction) for r in usable)
    schemes = determine_normalization_scheme(modalities)
    use_mask = determine_whether_to_use_mask_for_norm(modalities, reductions) if reductions else {}
    for m, scheme in schemes.items():
        how = {"CT": tr("clip to the dataset's pooled foreground 0.5/99.5 percentiles, then z-score with the "
                        "pooled foreground mean and sd (the same numbers for every case)",
                        "截断到数据集汇总前景的 0.5/99.5 百分位,再用汇总前景的均值和标准差做 z-score"
                        "(每个病例用同样的数值)"),
               "nonCT": tr("z-score each case with its own mean and sd", "用每个病例自己的均值和标准差做 z-score")
                        + (tr(" inside the nonzero mask (the median case keeps < 3/4 of its voxels after "
                              "cropping to the nonzero box)",
                              ",只在非零掩膜内(裁剪到非零包围盒后,中位病例保留的体素不到它的 3/4)") if use_mask.get(m)
                           else tr(" over the whole cropped image", ",在整个裁剪后的图像上")),
               "noNorm": tr("no normalisation", "不做归一化")}.get(scheme, scheme)
        extra = {"modality": m, "scheme": scheme, "use_nonzero_mask": use_mask.get(m)}
        if scheme == "CT" and pooled is not None:
            numbers = {k: float(pooled[m][k]) for k in ("percentile_00_5", "percentile_99_5", "mean", "sd")}
            how += tr(f": clip to [{numbers['percentile_00_5']:.4g}, {numbers['percentile_99_5']:.4g}], then (x - "
                      f"{numbers['mean']:.4g}) / {numbers['sd']:.4g}",
                      f":截断到 [{numbers['percentile_00_5']:.4g}, {numbers['percentile_99_5']:.4g}],再计算 (x - "
                      f"{numbers['mean']:.4g}) / {numbers['sd']:.4g}")
            extra.update(numbers)
        out.append(Finding("normalization", "info", tr(f"modality {m} ({modalities[m]}): scheme {scheme}: v1 will "
                                                       f"{how}", f"模态 {m}({modalities[m]}):方案 {scheme}:v1 将"
                                                       f"{how}"), extra))
    if len(usable) < 1:
        return schemes, use_mask
    spacings = np.array([r.spacing_zyx for r in usable])
    sizes = np.array([r.cropped_size_zyx for r in usable])
    out.append(Finding("spacing_spread", "info",
                       tr("spacing (z, y, x) in mm over the cases: min ", "各病例的 spacing(z, y, x,单位 mm):最小 ")
                       + _fmt(spacings.min(0), 4) + tr(", median ", ",中位数 ") + _fmt(np.median(spacings, 0), 4)
                       + tr(", max ", ",最大 ") + _fmt(spacings.max(0), 4),
                       {"min": spacings.min(0), "median": np.median(spacings, 0), "max": spacings.max(0)}))
    properties = {"all_sizes": [tuple(s) for s in sizes], "all_spacings": [np.array(s) for s in spacings],
                  "all_classes": [int(k) for k in dataset_json["labels"] if int(k) > 0], "modalities": modalities,
                  "size_reductions": reductions}
    trace: list = []
    try:
        stages, forward, _backward = planner3d.plan_stages_3d(properties, len(usable), trace=trace)
    except Exception as exc:  # the planner rejects odd data (e.g. tiny images); report, do not fail the check
        out.append(Finding("plans", "warning", tr(f"the 3D planner could not plan these cases "
                                                  f"({type(exc).__name__}: {exc}); nnUNet_plan_and_preprocess would "
                                                  "fail the same way",
                                                  f"3D 规划器无法为这些病例做规划({type(exc).__name__}: {exc});"
                                                  "nnUNet_plan_and_preprocess 也会同样失败"), {}))
        return schemes, use_mask
    wanted = {"target_spacing": "target_spacing", "transpose_forward": "transpose", "num_stages": "lowres_stage"}
    for decision in trace:
        if decision.key in wanted and decision.stage in (None, "3d_lowres"):
            out.append(Finding(wanted[decision.key], "info", explain_trace([decision]).strip(),
                               {"value": decision.value}))
    target = np.asarray(next(d.value for d in trace if d.key == "target_spacing"), float)
    if get_do_separate_z(target):
        axis = get_lowres_axis(target)
        out.append(Finding("anisotropy", "info",
                           tr(f"target spacing {_fmt(target, 4)}: coarsest / finest = "
                              f"{target.max() / target.min():.2f} > 3, so a case whose voxel count changes is resampled "
                              "in-plane first (image cubic, label per label linear) and along its coarse axis "
                              "separately with nearest neighbour, so that thick slices are not blended (the case's "
                              "own coarse axis when its spacing is anisotropic, else the target's axis "
                              f"{[int(a) for a in axis]} (z, y, x)); a case whose shape would not change is not "
                              "resampled",
                              f"目标 spacing {_fmt(target, 4)}:最粗 / 最细 = {target.max() / target.min():.2f} > 3,"
                              "所以体素数会改变的病例先在平面内重采样(图像用三次插值,标签逐个标签线性插值),再沿它的粗轴"
                              "单独用最近邻重采样,以免把厚层混在一起(病例自身 spacing 各向异性时用它自己的粗轴,否则用"
                              f"目标的轴 {[int(a) for a in axis]}(z, y, x));形状不会改变的病例不重采样"),
                           {"ratio": float(target.max() / target.min()), "lowres_axis": axis}))
    # a case whose own spacing is >= 3x away from the target along an axis is heavily resampled
    for r in usable:
        factor = np.asarray(r.spacing_zyx) / target
        worst = int(np.argmax(np.abs(np.log(factor))))
        if factor[worst] >= SPACING_FACTOR_WARN or factor[worst] <= 1 / SPACING_FACTOR_WARN:
            kind = (tr("upsampled: v1 interpolates detail the scan never had", "上采样:v1 插值出扫描中本来没有的细节")
                    if factor[worst] > 1 else tr("downsampled: v1 discards detail the scan has",
                                                 "下采样:v1 丢掉扫描中已有的细节"))
            cases[r.case_id].append(Finding(
                "spacing", "warning", tr(f"spacing {_fmt(r.spacing_zyx, 4)} mm is {factor[worst]:.2g}x the target "
                                         f"{_fmt(target, 4)} along axis {worst} (z, y, x), so this case is {kind}",
                                         f"spacing {_fmt(r.spacing_zyx, 4)} mm 沿轴 {worst}(z, y, x)是目标 "
                                         f"{_fmt(target, 4)} 的 {factor[worst]:.2g} 倍,所以这个病例会被{kind}")
                + _fix(tr("check its header spacing; if right, the case is simply unlike the others",
                          "检查它文件头中的 spacing;如果没错,这个病例只是与其他病例不同")),
                {"spacing": r.spacing_zyx, "target_spacing": target, "factor": factor}))
    plans = {"num_stages": len(stages), "transpose_forward": [int(i) for i in forward],
             "stages": {int(k): {"patch_size": [int(v) for v in s["patch_size"]],
                                 "current_spacing": [float(v) for v in s["current_spacing"]],
                                 "conv_kernel_sizes": [[int(v) for v in c] for c in s["conv_kernel_sizes"]],
                                 "pool_op_kernel_sizes": [[int(v) for v in p] for p in s["pool_op_kernel_sizes"]]}
                        for k, s in stages.items()}}
    out.append(Finding("plans", "info", tr(f"3D plan preview (explorer planner on the cases' cropped sizes; axes "
                                           f"in transposed order): {len(stages)} stage(s); ",
                                           f"3D 规划预览(explorer 的规划器,基于各病例裁剪后的大小;轴按转置后的顺序):"
                                           f"{len(stages)} 个 stage;") + tr("; ", ";").join(
                           tr(f"stage {k}: spacing {_fmt(v['current_spacing'], 4)}, patch {v['patch_size']}, first "
                              f"conv kernel {v['conv_kernel_sizes'][0]}, first pooling {v['pool_op_kernel_sizes'][0]}",
                              f"stage {k}:spacing {_fmt(v['current_spacing'], 4)},patch {v['patch_size']},第一个"
                              f"卷积核 {v['conv_kernel_sizes'][0]},第一次池化 {v['pool_op_kernel_sizes'][0]}")
                           for k, v in plans["stages"].items()), plans))
    return schemes, use_mask


def _orientation_findings(results: Sequence[CaseResult], cases: Mapping[str, list[Finding]],
                          out: list[Finding]) -> None:
    codes = Counter(r.axis_codes for r in results if r.axis_codes)
    if len(codes) <= 1:
        return
    majority = codes.most_common(1)[0][0]
    out.append(Finding("orientation", "warning", tr("the cases do not share one orientation: ",
                                                    "各病例的方向不一致:") + tr(", ", ",").join(
        tr(f"{c}: {n} case(s)", f"{c}:{n} 个病例") for c, n in codes.most_common())
        + tr("; v1 only prints a warning (with --verify_dataset_integrity; otherwise nothing), and the network "
             "then sees anatomy in different axis orders and flips",
             ";v1 只打印一条警告(使用 --verify_dataset_integrity 时;否则什么也不说),"
             "网络于是会看到轴顺序和翻转各不相同的解剖结构")
        + _fix(tr("reorient all to one, e.g. fslreorient2std or sitk.DICOMOrient(image, 'LPS')",
                  "把它们都转到同一个方向,例如用 fslreorient2std 或 sitk.DICOMOrient(image, 'LPS')")),
        {"orientations": dict(codes)}))
    for r in results:
        if r.axis_codes and r.axis_codes != majority:
            cases[r.case_id].append(Finding("orientation", "warning",
                                            tr(f"axis codes {r.axis_codes}, unlike {codes[majority]} other case(s) "
                                               f"({majority})", f"轴代码 {r.axis_codes},与其他 {codes[majority]} "
                                               f"个病例({majority})不同") + _fix(tr("reorient it", "调整它的方向")),
                                            {"axis_codes": r.axis_codes, "majority": majority}))


def _file_listing_findings(task_dir: Path, cases: Sequence[tasks.TrainingCase], out: list[Finding]) -> None:
    listed = {p.name for c in cases for p in (*c.images, c.label)}
    for sub in ("imagesTr", "labelsTr"):
        folder = task_dir / sub
        if not folder.is_dir():
            out.append(Finding("missing_folder", "error", tr(f"{sub}/ is missing", f"{sub}/ 不存在")
                               + _fix(tr(f"create {folder}", f"创建 {folder}")), {"folder": sub}))
            continue
        for path in sorted(folder.iterdir()):
            # a hidden .nii.gz (macOS's ._ copies) is still an image to v1, which lists files by their ending
            hidden = path.name.startswith(".") and not path.name.endswith(NIFTI_SUFFIX)
            if hidden or not path.is_file() or path.name in listed:
                continue
            if tasks.is_macos_copy(path.name):
                out.append(Finding("unlisted_file", "error",
                                   tr(f"{sub}/{path.name} is not listed in dataset.json; v1's integrity check fails "
                                      "on it", f"{sub}/{path.name} 没有列在 dataset.json 中;v1 的完整性检查会因它失败")
                                   + _fix(tasks.macos_copy_fix()), {"file": f"{sub}/{path.name}"}))
            elif path.name.endswith(NIFTI_SUFFIX):
                out.append(Finding("unlisted_file", "error",
                                   tr(f"{sub}/{path.name} is not listed in dataset.json; v1's integrity check fails "
                                      "on it", f"{sub}/{path.name} 没有列在 dataset.json 中;v1 的完整性检查会因它失败")
                                   + _fix(tr("add the case to 'training' or move the file out",
                                             "把这个病例加到 'training' 中,或把文件移走")),
                                   {"file": f"{sub}/{path.name}"}))
            else:
                out.append(Finding("not_nifti_file", "warning",
                                   tr(f"{sub}/{path.name} is not a .nii.gz file; v1 ignores it",
                                      f"{sub}/{path.name} 不是 .nii.gz 文件;v1 会忽略它")
                                   + _fix(tr("convert it to .nii.gz and list it, or move it out",
                                             "把它转换成 .nii.gz 并列入,或把它移走")),
                                   {"file": f"{sub}/{path.name}"}))


def _load_dataset_json(task_dir: Path) -> tuple[dict, list[Finding]]:
    """dataset.json, plus its problems as findings when the cases can still be checked; raises otherwise."""
    try:
        return tasks.load_dataset_json(task_dir), []
    except DatasetError as exc:
        path = task_dir / tasks.DATASET_JSON
        if not path.is_file():
            raise
        try:
            data = load_json(path)
        except ExplorerError:
            raise exc from None
        if not isinstance(data, dict):
            raise exc from None
        problems = tasks.dataset_json_problems(data)
        try:  # can the cases be derived? (modality and labels usable, training entries well formed)
            modality_ok = isinstance(data["modality"], dict) and sorted(data["modality"]) == [
                str(i) for i in range(len(data["modality"]))] and data["modality"]
            labels_ok = isinstance(data["labels"], dict) and all(tasks._is_int_key(k) for k in data["labels"])
            training_ok = isinstance(data["training"], list) and data["training"] and all(
                isinstance(e, dict) and isinstance(e.get("image"), str) and isinstance(e.get("label"), str)
                and e["image"].endswith(NIFTI_SUFFIX) for e in data["training"])
        except KeyError:
            raise exc from None
        if not (modality_ok and labels_ok and training_ok):
            raise exc from None
        return data, [Finding("dataset_json", "error", f"dataset.json: {p}", {}) for p in problems]


def check_dataset(task: str | int, *, workspace: Workspace | None = None, num_processes: int = DEFAULT_PROCESSES,
                  progress: bool = True, task_dir: str | Path | None = None) -> DatasetCheck:
    """Run every check on every training case of a raw task (see the module docstring).

    Args:
        task: a task id or ``TaskXXX_Name`` (resolved as v1 does), ignored when ``task_dir`` is given.
        workspace: the nnU-Net folders (default: from the environment).
        num_processes: cases checked in parallel (processes).
        progress: a tqdm progress bar on stderr.
        task_dir: check this raw task folder directly.

    Raises:
        TaskError / DatasetError: the task does not resolve, or dataset.json is missing or too broken to list
            the cases (everything else is a finding).
    """
    from tqdm import tqdm

    t0 = time.perf_counter()
    if task_dir is None:
        workspace = workspace or get_workspace()
        name = tasks.resolve_task_name(task, workspace)
        task_dir = workspace.raw_task_dir(name)
    task_dir = Path(task_dir)
    if not task_dir.is_dir():
        raise DatasetError(tr(f"{task_dir} is not a folder (the raw task is missing)",
                              f"{task_dir} 不是文件夹(原始任务不存在)"),
                           fix=tr("put the raw task at nnUNet_raw_data_base/nnUNet_raw_data/TaskXXX_Name",
                                  "把原始任务放到 nnUNet_raw_data_base/nnUNet_raw_data/TaskXXX_Name"))
    dataset_json, dataset_findings = _load_dataset_json(task_dir)
    declared = tuple(sorted(int(k) for k in dataset_json["labels"]))
    modalities = tuple(dataset_json["modality"][str(i)] for i in range(len(dataset_json["modality"])))
    training = tasks.training_cases(task_dir, dataset_json)
    _file_listing_findings(task_dir, training, dataset_findings)
    jobs = [_Job(c.case_id, tuple(str(p) for p in c.images), str(c.label), str(task_dir), declared, modalities)
            for c in training]
    test_jobs = [_Job(case, tuple(str(p) for p in images), None, str(task_dir), declared, modalities)
                 for case, images in tasks.listed_test_cases(task_dir, dataset_json)]
    every = _run(check_case, jobs + test_jobs, num_processes, progress=progress,
                 desc=tr(f"checking {task_dir.name}", f"正在检查 {task_dir.name}"),
                 tqdm=tqdm)
    results, test_results = every[:len(jobs)], every[len(jobs):]
    cases: OrderedDict[str, list[Finding]] = OrderedDict((r.case_id, list(r.findings)) for r in results)
    # test cases: files, geometry between modalities, whole files, NaN (no label; not part of the statistics)
    test_cases: OrderedDict[str, list[Finding]] = OrderedDict((r.case_id, list(r.findings)) for r in test_results)
    from .planning.fingerprint import intensity_properties, modalities_from_dataset_json
    pooled = None
    with_samples = [r for r in results if r.fg_samples is not None]
    if with_samples and any(m in ("CT", "ct") for m in modalities):
        pooled = intensity_properties([r.fg_samples for r in with_samples], [r.case_id for r in with_samples],
                                      len(modalities))
    schemes, _ = _planning_findings(results, dataset_json, cases, dataset_findings, pooled)
    _intensity_findings(results, modalities_from_dataset_json(dataset_json), schemes, pooled, cases)
    _test_shift_findings(results, test_results, modalities_from_dataset_json(dataset_json), schemes, test_cases)
    _orientation_findings(results, cases, dataset_findings)
    present = set()
    for r in results:
        present.update(v for v in (r.label_counts or {}) if v != 0)
    never = [v for v in declared if v != 0 and v not in present]
    if never and any(r.label_counts is not None for r in results):
        dataset_findings.append(Finding("label_never_present", "warning", tr(
            f"declared label(s) {never} occur in no training case; v1 still gives them an output channel that never "
            "learns", f"已声明的标签 {never} 没有出现在任何训练病例中;v1 仍然为它们设一个永远学不到东西的输出通道")
                                        + _fix(tr("remove them from 'labels' or check the label files",
                                                  "把它们从 'labels' 中删除,或检查标签文件")),
                                        {"labels": never}))
    order = {s: i for i, s in enumerate(SEVERITIES)}
    for findings in cases.values():
        findings.sort(key=lambda f: order[f.severity])
    dataset_findings.sort(key=lambda f: order[f.severity])
    thumbnails = {r.case_id: r.thumbnail for r in results if r.thumbnail is not None and cases[r.case_id]}
    thumbnails.update({r.case_id: r.thumbnail for r in test_results
                       if r.thumbnail is not None and test_cases[r.case_id]})
    for findings in test_cases.values():
        findings.sort(key=lambda f: order[f.severity])
    return DatasetCheck(task_dir.name, task_dir, cases, dataset_findings, thumbnails,
                        {r.case_id: r.stats for r in results}, time.perf_counter() - t0, test_cases)


def _run(fn: Callable, jobs: Sequence, processes: int, *, progress: bool, desc: str, tqdm) -> list:
    """``[fn(j) for j in jobs]`` in ``processes`` worker processes (in-process when 1), in job order."""
    bar = tqdm(total=len(jobs), desc=desc, file=sys.stderr, disable=not progress, leave=False)
    try:
        if processes <= 1 or len(jobs) <= 1:
            out = []
            for job in jobs:
                out.append(fn(job))
                bar.update()
            return out
        # fork starts workers instantly on Linux; spawn elsewhere (as planning.run does)
        context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        results: list = [None] * len(jobs)
        with ProcessPoolExecutor(min(processes, len(jobs)), mp_context=context) as pool:
            futures = {pool.submit(fn, job): i for i, job in enumerate(jobs)}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                bar.update()
        return results
    finally:
        bar.close()
