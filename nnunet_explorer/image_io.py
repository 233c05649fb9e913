"""Checking that an image file is whole before anything reads it.

Why this module exists: a ``.nii.gz`` cut short by an interrupted copy or download is read by SimpleITK
**without any error**. ITK's gzip reader stops where the stream stops and leaves the missing voxels at 0, so
the array has the right shape and the right header, and is silently mostly zeros. nnU-Net v1 (and any code
using ``sitk.ReadImage``) would plan, preprocess and train on it. A plain ``.nii`` cut short is read the
same way.

:func:`verify_image_file` catches this cheaply, without SimpleITK and without holding the image in memory:

* ``.nii.gz``: the gzip stream is decompressed to its end in 1 MiB chunks. A stream that ends early raises
  ``EOFError`` in Python's :mod:`gzip`; a damaged one fails its CRC-32 or length check. Both are reported.
* both ``.nii.gz`` and ``.nii``: the NIfTI-1/-2 header is parsed (``dim``, ``bitpix``, ``vox_offset``), and
  the file (its decompressed bytes) must hold at least ``vox_offset + prod(dim) * bitpix / 8`` bytes.

Anything else (a file that is not NIfTI at all, another extension; v1 itself reads only ``.nii.gz``) is refused the same way, with
:class:`~nnunet_explorer.errors.DatasetError` naming the file and the fix.

:func:`scan_nifti` is the same pass returning what it saw (sizes, data type, and for float images the number
of NaN / Inf voxels, which SimpleITK 2.5 reads as 0 and so hides from every later check).
"""
from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DatasetError
from .language import tr

PathLike = str | os.PathLike

SUPPORTED_SUFFIXES = (".nii.gz", ".nii")
CHUNK_BYTES = 1 << 20

# NIfTI datatype code -> numpy dtype (those whose voxels are numbers; RGB and complex are sized by bitpix only)
_NIFTI_DTYPES = {2: "u1", 4: "i2", 8: "i4", 16: "f4", 64: "f8", 256: "i1", 512: "u2", 768: "u4", 1024: "i8",
                 1280: "u8"}


def _refetch_fix() -> str:
    """The fix for a damaged or cut-short file (in the reader's language, chosen when the error is raised)."""
    return tr("the file is damaged or incomplete (often an interrupted copy or download): re-copy / "
              "re-download it from its source, then run the command again",
              "文件已损坏或不完整(常见原因是复制或下载被中断): 请从它的来源重新复制/重新下载, 然后再次运行该命令")


@dataclass(frozen=True)
class NiftiScan:
    """What one full pass over a NIfTI file found."""

    path: Path
    compressed: bool
    nifti_version: int
    shape: tuple[int, ...]        # dim[1 : dim[0] + 1], NIfTI order (x, y, z, ...)
    datatype: int
    bitpix: int
    vox_offset: int
    expected_bytes: int           # header + voxels, as the header declares
    bytes_read: int               # uncompressed bytes actually present
    nonfinite: int | None         # NaN + Inf voxels (float data types only), else None
    nan: int | None
    inf: int | None
    problem: str | None           # why the file is not whole, or None

    @property
    def voxels_declared(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 0

    @property
    def voxels_present(self) -> int:
        item = max(self.bitpix // 8, 1)
        return max(0, min(self.bytes_read - self.vox_offset, self.expected_bytes - self.vox_offset)) // item


def _suffix_of(path: Path) -> str | None:
    name = path.name.lower()
    for suffix in SUPPORTED_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return None


def _parse_header(raw: bytes, path: Path) -> tuple[int, str, tuple[int, ...], int, int, int]:
    """``(version, byte order, shape, datatype, bitpix, vox_offset)`` from the first bytes of a NIfTI file."""
    def refuse(why: str) -> DatasetError:
        return DatasetError(tr(f"{path} is not a NIfTI image ({why})", f"{path} 不是 NIfTI 图像 ({why})"),
                            fix=tr("give a NIfTI file (.nii.gz, as nnU-Net v1 reads); if it should be one, ",
                                   "请提供 NIfTI 文件(nnU-Net v1 读取的 .nii.gz); 如果它本应是 NIfTI 文件, 那么")
                            + _refetch_fix())

    if len(raw) < 348:
        raise refuse(tr(f"only {len(raw)} bytes, shorter than a NIfTI header of 348 bytes",
                        f"只有 {len(raw)} 字节, 比 348 字节的 NIfTI 文件头还短"))
    for order in ("<", ">"):
        size = struct.unpack(order + "i", raw[:4])[0]
        if size == 348:
            if raw[344:347] not in (b"n+1", b"ni1"):
                raise refuse(tr("the header's magic string is not 'n+1'", "文件头的 magic 字符串不是 'n+1'"))
            dim = struct.unpack(order + "8h", raw[40:56])
            datatype, bitpix = struct.unpack(order + "hh", raw[70:74])
            vox_offset = int(struct.unpack(order + "f", raw[108:112])[0])
            version = 1
            break
        if size == 540:
            if len(raw) < 540:
                raise refuse(tr(f"only {len(raw)} bytes, shorter than a NIfTI-2 header of 540 bytes",
                                f"只有 {len(raw)} 字节, 比 540 字节的 NIfTI-2 文件头还短"))
            if raw[4:7] not in (b"n+2", b"ni2"):
                raise refuse(tr("the header's magic string is not 'n+2'", "文件头的 magic 字符串不是 'n+2'"))
            datatype, bitpix = struct.unpack(order + "hh", raw[12:16])
            dim = struct.unpack(order + "8q", raw[16:80])
            vox_offset = int(struct.unpack(order + "q", raw[168:176])[0])
            version = 2
            break
    else:
        raise refuse(tr("its first 4 bytes do not declare a 348- or 540-byte header",
                        "它的前 4 个字节声明的文件头长度既不是 348 字节, 也不是 540 字节"))
    ndim = int(dim[0])
    if not 1 <= ndim <= 7 or any(d < 0 for d in dim[1:ndim + 1]) or bitpix <= 0 or bitpix % 8:
        raise refuse(tr(f"implausible header: dim {list(dim)}, bitpix {bitpix}",
                        f"文件头的值不合理: dim {list(dim)}, bitpix {bitpix}"))
    vox_offset = max(vox_offset, 352 if version == 1 else 544)
    return version, order, tuple(int(d) for d in dim[1:ndim + 1]), int(datatype), int(bitpix), vox_offset


class _VoxelCounter:
    """Counts NaN and Inf in the voxel bytes as they stream past (float data types only)."""

    def __init__(self, dtype: str | None, order: str, vox_offset: int, end: int) -> None:
        self.dtype = np.dtype(order + dtype) if dtype in ("f4", "f8") else None
        self.offset, self.end = vox_offset, end
        self.position = 0
        self.carry = b""
        self.nan = 0
        self.inf = 0
        self.header: tuple = ()

    def feed(self, data: bytes) -> None:
        start, self.position = self.position, self.position + len(data)
        if self.dtype is None:
            return
        lo, hi = max(self.offset - start, 0), min(self.end - start, len(data))
        if hi <= lo:
            return
        buffer = self.carry + data[lo:hi]
        usable = len(buffer) - len(buffer) % self.dtype.itemsize
        values = np.frombuffer(buffer[:usable], dtype=self.dtype)
        self.carry = buffer[usable:]
        self.nan += int(np.isnan(values).sum())
        self.inf += int(np.isinf(values).sum())


def _start_counting(head: bytes, path: Path) -> "_VoxelCounter":
    version, order, shape, datatype, bitpix, vox_offset = _parse_header(head, path)
    expected = vox_offset + int(np.prod(shape, dtype=np.int64)) * bitpix // 8
    counter = _VoxelCounter(_NIFTI_DTYPES.get(datatype), order, vox_offset, expected)
    counter.header = (version, shape, datatype, bitpix, vox_offset)
    counter.feed(head)
    return counter


class _StreamProblem(Exception):
    """The compressed stream ended early or failed its checks."""


def _plain_pieces(handle):
    while True:
        chunk = handle.read(CHUNK_BYTES)
        if not chunk:
            return
        yield chunk


def _gunzip_pieces(handle):
    """Decompressed pieces of a gzip file (every member); raises _StreamProblem where the stream is bad.

    zlib with ``wbits=31`` checks the gzip header and, at the end of each member, its CRC-32 and length.
    A stream whose input runs out before a member's end-of-stream marker was cut short.
    """
    decompressor = zlib.decompressobj(31)
    finished = False  # the current member reached its end-of-stream marker
    while True:
        chunk = handle.read(CHUNK_BYTES // 4)
        if not chunk:
            break
        while chunk:
            if finished:
                chunk = chunk.lstrip(b"\x00")  # zero padding after the last member is tolerated, as gzip does
                if not chunk:
                    break
                decompressor, finished = zlib.decompressobj(31), False
            try:
                out = decompressor.decompress(chunk)
            except zlib.error as exc:
                raise _StreamProblem(tr(f"its gzip stream is damaged ({exc})",
                                        f"它的 gzip 数据流已损坏 ({exc})")) from None
            if out:
                yield out
            if decompressor.eof:
                finished, chunk = True, decompressor.unused_data
            else:
                chunk = b""
    if not finished:
        raise _StreamProblem(tr("its gzip stream ends early (the file was cut short)",
                                "它的 gzip 数据流提前结束了(文件被截断)"))


def scan_nifti(path: PathLike) -> NiftiScan:
    """Read a ``.nii.gz`` / ``.nii`` file once from start to end; return what was found (see :class:`NiftiScan`).

    A file that is whole but damaged in a way the scan can tell (cut short, bad gzip CRC) comes back with
    ``problem`` set; use :func:`verify_image_file` to turn that into an error.

    Raises:
        DatasetError: the file does not exist, has an extension this reader does not read, or is not NIfTI at all.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(tr(f"{path} does not exist", f"{path} 不存在"),
                           fix=tr("check the path (and that the copy of the data finished)",
                                  "请检查路径(以及数据是否已复制完成)"))
    suffix = _suffix_of(path)
    if suffix is None:
        extension = "".join(path.suffixes) or tr("none", "无")
        raise DatasetError(tr(f"{path} is not a NIfTI file (extension {extension}); nnU-Net v1 reads only .nii.gz",
                              f"{path} 不是 NIfTI 文件(扩展名 {extension}); nnU-Net v1 只读取 .nii.gz"),
                           fix=tr("convert it to .nii.gz (e.g. SimpleITK: sitk.WriteImage(sitk.ReadImage(src), "
                                  "'CASE_0000.nii.gz')) or remove it",
                                  "请把它转换为 .nii.gz（例如用 SimpleITK 执行 sitk.WriteImage(sitk.ReadImage(src), "
                                  "'CASE_0000.nii.gz')）, 或者删除它"))
    compressed = suffix == ".nii.gz"
    with open(path, "rb") as handle:
        if compressed and handle.read(2) != b"\x1f\x8b":
            raise DatasetError(tr(f"{path} is not gzip-compressed although it ends with .nii.gz, so it is not a "
                                  ".nii.gz image",
                                  f"{path} 虽然以 .nii.gz 结尾, 却不是 gzip 压缩的, 所以它不是 .nii.gz 图像"),
                               fix=tr("if it is a plain .nii, rename it; otherwise ",
                                      "如果它是普通的 .nii 文件, 请给它改名; 否则, ") + _refetch_fix())
        handle.seek(0)
        pieces = _gunzip_pieces(handle) if compressed else _plain_pieces(handle)
        head = b""
        problem = None
        counter = None
        try:
            for piece in pieces:
                if counter is not None:
                    counter.feed(piece)
                    continue
                head += piece
                if len(head) >= 544:  # enough for a NIfTI-1 (348) or NIfTI-2 (540) header
                    counter = _start_counting(head, path)
        except _StreamProblem as exc:
            problem = str(exc)
        if counter is None:
            if problem is not None and len(head) < 348:
                raise DatasetError(tr(f"{path} cannot be read: {problem} before its NIfTI header could be read",
                                      f"{path} 无法读取: 在读到它的 NIfTI 文件头之前, {problem}"),
                                   fix=_refetch_fix())
            counter = _start_counting(head, path)
    expected = counter.end
    read = counter.position
    if problem is None and read < expected:
        problem = tr(f"it holds {read} bytes but its header declares {expected} (header + voxels)",
                     f"它只有 {read} 字节, 但它的文件头声明了 {expected} 字节(文件头 + 体素)")
    elif problem is not None:
        problem += tr(f"; {read} of {expected} bytes could be read", f"; {expected} 字节中只读出了 {read} 字节")
    is_float = counter.dtype is not None
    version, shape, datatype, bitpix, vox_offset = counter.header
    return NiftiScan(path, compressed, version, shape, datatype, bitpix, vox_offset, expected, read,
                     counter.nan + counter.inf if is_float else None, counter.nan if is_float else None,
                     counter.inf if is_float else None, problem)


def truncation_error(scan: NiftiScan) -> DatasetError:
    """The error for a scan whose ``problem`` is set (naming the file, how much is missing, and the fix)."""
    missing = 100.0 * (1 - scan.voxels_present / scan.voxels_declared) if scan.voxels_declared else 100.0
    return DatasetError(
        tr(f"{scan.path} is incomplete: {scan.problem}; about {missing:.0f} % of its {scan.voxels_declared} voxels "
           "are missing (SimpleITK would read it without an error, filling them with 0)",
           f"{scan.path} 不完整: {scan.problem}; 它的 {scan.voxels_declared} 个体素中约有 {missing:.0f} % 缺失"
           "(SimpleITK 读取它时不会报错, 而是把缺失的体素填成 0)"),
        fix=_refetch_fix())


def read_nifti_header(path: PathLike) -> tuple[int, tuple[int, ...], int, int]:
    """Parse only the NIfTI header (the first bytes; cheap): ``(version, shape, datatype, bitpix)``.

    Use it before handing a file to SimpleITK: SimpleITK picks its reader from the file's *content*, so a PNG
    named ``.nii.gz`` reaches libpng, which prints errors of its own.

    Raises:
        DatasetError: missing file, an extension this reader does not read, not gzip (``.nii.gz``), not NIfTI.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(tr(f"{path} does not exist", f"{path} 不存在"),
                           fix=tr("check the path (and that the copy of the data finished)",
                                  "请检查路径(以及数据是否已复制完成)"))
    suffix = _suffix_of(path)
    if suffix is None:
        extension = "".join(path.suffixes) or tr("none", "无")
        raise DatasetError(tr(f"{path} is not a NIfTI file (extension {extension}); nnU-Net v1 reads only .nii.gz",
                              f"{path} 不是 NIfTI 文件(扩展名 {extension}); nnU-Net v1 只读取 .nii.gz"),
                           fix=tr("convert it to .nii.gz or remove it", "请把它转换为 .nii.gz, 或者删除它"))
    with open(path, "rb") as handle:
        if suffix == ".nii.gz":
            if handle.read(2) != b"\x1f\x8b":
                raise DatasetError(tr(f"{path} is not gzip-compressed although it ends with .nii.gz, so it is not "
                                      "a .nii.gz image",
                                      f"{path} 虽然以 .nii.gz 结尾, 却不是 gzip 压缩的, 所以它不是 .nii.gz 图像"),
                                   fix=tr("if it is a plain .nii, rename it; otherwise ",
                                          "如果它是普通的 .nii 文件, 请给它改名; 否则, ") + _refetch_fix())
            handle.seek(0)
            head = b""
            try:
                for piece in _gunzip_pieces(handle):
                    head += piece
                    if len(head) >= 544:
                        break
            except _StreamProblem as exc:
                if len(head) < 348:
                    raise DatasetError(tr(f"{path} cannot be read: {exc} before its NIfTI header could be read",
                                          f"{path} 无法读取: 在读到它的 NIfTI 文件头之前, {exc}"),
                                       fix=_refetch_fix()) from None
        else:
            head = handle.read(544)
    version, _order, shape, datatype, bitpix, _offset = _parse_header(head, path)
    return version, shape, datatype, bitpix


def verify_image_file(path: str | os.PathLike) -> None:
    """Raise :class:`DatasetError` unless ``path`` is a whole, readable NIfTI image (``.nii.gz`` or ``.nii``).

    Detects a truncated or damaged gzip stream, fewer voxel bytes than the header declares, a file that is not
    NIfTI, and an unsupported extension. Reads the file once, in chunks (memory stays ~1 MiB).
    """
    scan = scan_nifti(path)
    if scan.problem is not None:
        raise truncation_error(scan)
