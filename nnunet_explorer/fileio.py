"""Reading and writing nnU-Net v1's files safely.

Two rules hold for every file the explorer touches:

* **Writes are atomic.** Data goes to a temporary file in the target folder, is flushed to disk and then
  renamed over the target with :func:`os.replace`. A crash at any moment leaves either the old file or the
  new one, never half of one. Copies too: :func:`copy_atomic` is the one atomic file copy.
* **Pickles are read with an allow-list.** nnU-Net v1 stores plans, case properties, splits and checkpoint
  companions as pickles, and unpickling can run arbitrary code. :func:`load_pickle` admits only numpy arrays,
  numpy scalars and dtypes, plain builtins and ``OrderedDict``; anything else is refused with
  :class:`~nnunet_explorer.errors.UnsafeFileError` before it can run.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator

import numpy as np

from .errors import ExplorerError, UnsafeFileError
from .language import tr

PathLike = str | os.PathLike

# mkstemp creates files readable by the owner only; atomic writes give them the usual umask-based mode instead,
# as a plain open() would. (Read once at import: os.umask can only be read by setting it.)
_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_open(path: PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file next to ``path``; on success it replaces ``path`` atomically.

    If the block raises, the temporary file is removed and ``path`` is untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.chmod(tmp_name, 0o666 & ~_UMASK)
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def write_bytes_atomic(path: PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def write_text_atomic(path: PathLike, text: str) -> None:
    with atomic_open(path, "w") as handle:
        handle.write(text)


def copy_atomic(src: PathLike, dst: PathLike) -> Path:
    """Copy the file ``src`` to ``dst`` atomically; returns the destination path.

    ``dst`` is the new file's path, or an existing folder (the copy then keeps ``src``'s name), as with
    :func:`shutil.copy`. The bytes stream into a temporary file in the destination folder, which is flushed
    to disk and renamed over the destination: an interrupted copy leaves the old destination (or none), never
    half a file. Like :func:`shutil.copyfile` only the contents are copied: the new file gets the usual
    umask-based mode (as every atomic write here) and the current time, not ``src``'s mode or timestamps.

    Raises:
        FileNotFoundError: ``src`` does not exist (nothing is created).
        IsADirectoryError: ``src`` is a folder.
    """
    src = Path(src)
    target = Path(dst)
    if target.is_dir():
        target = target / src.name
    with open(src, "rb") as source, atomic_open(target, "wb") as handle:
        shutil.copyfileobj(source, handle, 1024 * 1024)
    return target


def write_pickle(obj: Any, path: PathLike) -> None:
    """Pickle ``obj`` to ``path`` atomically (protocol 4, readable by the Python versions v1 supports)."""
    write_bytes_atomic(path, pickle.dumps(obj, protocol=4))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def write_json(obj: Any, path: PathLike, *, indent: int = 4, sort_keys: bool = True) -> None:
    """Write JSON atomically; numpy scalars and arrays become plain numbers and lists."""
    write_text_atomic(path, json.dumps(obj, indent=indent, sort_keys=sort_keys, default=_json_default))


def load_json(path: PathLike) -> Any:
    """Read a JSON file; a syntax error becomes a message naming the file, line and column."""
    try:
        with open(path) as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        raise ExplorerError(
            tr(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
               f"{path} 不是有效的 JSON: {exc.msg}(第 {exc.lineno} 行第 {exc.colno} 列)"),
            fix=tr("correct the file (a JSON linter shows the exact spot) and run the command again",
                   "改正这个文件(JSON 检查工具会指出确切位置),然后重新运行命令"),
        ) from None


def save_npz_atomic(path: PathLike, **arrays: np.ndarray) -> None:
    """``np.savez_compressed`` to ``path`` atomically (v1 stores case data under the key ``data``)."""
    with atomic_open(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def save_npy_atomic(path: PathLike, array: np.ndarray) -> None:
    with atomic_open(path, "wb") as handle:
        np.save(handle, array)


# --- restricted unpickling -------------------------------------------------------------------------------

# Classes a v1 pickle legitimately contains. numpy moved its internals from numpy.core to numpy._core in
# numpy 2, and pickles name whichever module wrote them, so both spellings are admitted.
_NUMPY_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}
_NUMPY_DTYPE_CLASS_MODULES = {"numpy.dtypes"}  # numpy >= 1.25 pickles dtypes as numpy.dtypes.Float32DType ...
_BUILTIN_GLOBALS = {
    ("builtins", name)
    for name in ("set", "frozenset", "slice", "complex", "range", "bytearray", "tuple", "list", "dict",
                 "int", "float", "bool", "str", "bytes")
}
_COLLECTIONS_GLOBALS = {("collections", "OrderedDict"), ("_codecs", "encode")}


def is_allowed_global(module: str, name: str) -> bool:
    """True if a pickle may reference ``module.name`` (numpy data, builtins, OrderedDict only)."""
    key = (module, name)
    if key in _NUMPY_GLOBALS or key in _BUILTIN_GLOBALS or key in _COLLECTIONS_GLOBALS:
        return True
    return module in _NUMPY_DTYPE_CLASS_MODULES and name.endswith("DType")


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that refuses every global outside :func:`is_allowed_global`."""

    def __init__(self, file: IO[bytes], source: str = "<bytes>") -> None:
        super().__init__(file)
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        if module == "__builtin__":  # protocol 0-2 pickles name builtins by their Python 2 module
            module = "builtins"
        if not is_allowed_global(module, name):
            raise UnsafeFileError(
                tr(f"{self._source} asks to load '{module}.{name}', which is not plain data (numpy arrays, "
                   "numbers, strings, lists, dicts, OrderedDict); loading it could run code, so it was refused",
                   f"{self._source} 要求加载 '{module}.{name}',它不是纯数据(numpy 数组、数字、字符串、list、"
                   "dict、OrderedDict);加载它可能执行代码,所以已被拒绝"),
                fix=tr("only open nnU-Net files from sources you trust; regenerate the file with nnU-Net or the "
                       "explorer if it should contain plain data",
                       "只打开来源可信的 nnU-Net 文件;如果这个文件本应只含纯数据,请用 nnU-Net 或 explorer "
                       "重新生成它"),
            )
        return super().find_class(module, name)


def loads_pickle(data: bytes, source: str = "<bytes>") -> Any:
    """Unpickle ``data`` with the allow-list of :class:`RestrictedUnpickler`."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), source).load()
    except UnsafeFileError:
        raise
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError, IndexError) as exc:
        raise ExplorerError(
            tr(f"{source} is not a readable pickle ({type(exc).__name__}: {exc})",
               f"{source} 不是可读的 pickle 文件({type(exc).__name__}: {exc})"),
            fix=tr("the file is truncated or corrupt; delete it and re-run the step that writes it",
                   "文件不完整或已损坏;删除它,再重新运行写出它的那一步"),
        ) from None


def load_pickle(path: PathLike) -> Any:
    """Read a v1 pickle (plans, case properties, splits, ``.model.pkl``) with the allow-list."""
    path = Path(path)
    if not path.is_file():
        raise ExplorerError(tr(f"{path} does not exist", f"{path} 不存在"),
                            fix=tr("run the step that creates it first", "先运行生成它的那一步"))
    return loads_pickle(path.read_bytes(), str(path))
