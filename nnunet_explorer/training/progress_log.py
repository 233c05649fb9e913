"""v1's training log file (``training_log_Y_M_D_HH_MM_SS.txt``) and ``debug.json``.

``NetworkTrainer.print_to_log_file(*args)`` is how v1 reports training: it prefixes the items with the
current ``datetime`` and a colon, joins them with spaces (each item followed by one space), appends the line
to the log file in the fold folder and prints it. The file is created on the first call, named after the
time with year, month and day *not* zero-padded and hour, minute and second padded to two digits
(``training_log_2026_11_5_09_03_07.txt``); its first line is ``"Starting... "``.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Mapping

from ..fileio import write_json
from ..provenance import mirrors


def log_file_name(when: datetime) -> str:
    """``training_log_%d_%d_%d_%02.0d_%02.0d_%02.0d.txt`` of ``when`` (v1's name)."""
    return "training_log_%d_%d_%d_%02.0d_%02.0d_%02.0d.txt" % (when.year, when.month, when.day, when.hour,
                                                               when.minute, when.second)


@mirrors("nnunet.training.network_training.network_trainer:NetworkTrainer.print_to_log_file")
class TrainingLogFile:
    """The log of one training run (a new file per run, also after ``-c``, as in v1).

    Args:
        folder: the fold folder.
        echo: also print each entry to the console (v1's ``also_print_to_console=True`` default).
        printer: where echoed entries go (default: ``print`` to stdout).
    """

    # the checkpoint writer's thread logs "done, saving took ..." while the training thread logs too
    _lock = threading.RLock()

    def __init__(self, folder: str | os.PathLike, *, echo: bool = True,
                 printer: Callable[..., None] | None = None) -> None:
        self.folder = Path(folder)
        self.echo = echo
        self.printer = printer or (lambda *a: print(*a, flush=True))
        self.path: Path | None = None

    def __call__(self, *args: Any, also_print_to_console: bool = True, add_timestamp: bool = True) -> None:
        with self._lock:
            self._write(args, also_print_to_console, add_timestamp)

    def _write(self, args: tuple, also_print_to_console: bool, add_timestamp: bool) -> None:
        if add_timestamp:
            args = ("%s:" % datetime.now(), *args)
        if self.path is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.path = self.folder / log_file_name(datetime.now())
            # differs from v1: a second run in the same second appends to the same file instead of truncating it
            if not self.path.exists():
                self.path.write_text("Starting... \n")
        # a log is appended line by line (not replaced atomically): every line written survives a crash
        with open(self.path, "a+") as handle:
            for a in args:
                handle.write(str(a))
                handle.write(" ")
            handle.write("\n")
        if also_print_to_console and self.echo:
            try:
                self.printer(*args)
            except (OSError, ValueError):  # a closed stdout must not stop training
                pass


# the attributes v1 removes before writing debug.json (too large or not printable)
DEBUG_JSON_EXCLUDED = ("plans", "intensity_properties", "dataset", "dataset_tr", "dataset_val")


@mirrors("nnunet.training.network_training.nnUNetTrainer:nnUNetTrainer.save_debug_information")
def debug_information(attributes: Mapping[str, Any]) -> "OrderedDict[str, str]":
    """v1's ``debug.json`` content: every non-callable attribute not starting with ``__``, as ``str(value)``.

    v1 walks ``dir(trainer)``; the explorer's trainer keeps its state in several records, so the caller
    passes the attribute table (v1's names) and this applies v1's rule to it.
    """
    out: OrderedDict[str, str] = OrderedDict()
    for key in sorted(attributes):
        value = attributes[key]
        if key.startswith("__") or callable(value) or key in DEBUG_JSON_EXCLUDED:
            continue
        out[key] = str(value)
    return out


def write_debug_json(folder: str | os.PathLike, attributes: Mapping[str, Any]) -> Path:
    """Write ``debug.json`` (indent 4, sorted keys, as batchgenerators' ``save_json``) atomically."""
    path = Path(folder) / "debug.json"
    write_json(debug_information(attributes), path, indent=4, sort_keys=True)
    return path


def read_debug_json(folder_or_file: str | os.PathLike) -> "OrderedDict[str, str]":
    """The ``debug.json`` of a fold folder (or the file itself), as written: attribute name -> ``str(value)``.

    Raises:
        TrainingError: there is no ``debug.json`` (v1 writes it when ``run_training`` starts, so not for ``-val``
            runs nor before training), or it is not a JSON object.
    """
    from ..errors import TrainingError
    from ..fileio import load_json
    from ..language import tr

    path = Path(folder_or_file)
    path = path / "debug.json" if path.is_dir() else path
    if not path.is_file():
        raise TrainingError(tr(f"{path} does not exist", f"{path} 不存在"),
                            fix=tr("v1 writes debug.json into the fold folder when run_training starts: train first "
                                   "(a -val run does not write it)",
                                   "v1 在 run_training 开始时把 debug.json 写进 fold 文件夹：请先训练"
                                   "（-val 运行不会写它）"))
    content = load_json(path)
    if not isinstance(content, dict):
        kind = type(content).__name__
        raise TrainingError(tr(f"{path} holds a {kind}, not the trainer's attributes",
                               f"{path} 中是一个 {kind}，而不是 trainer 的属性"),
                            fix=tr("point at a fold folder's debug.json", "请指向某个 fold 文件夹中的 debug.json"))
    return OrderedDict((str(k), str(v)) for k, v in content.items())


__all__ = ["DEBUG_JSON_EXCLUDED", "TrainingLogFile", "debug_information", "log_file_name", "read_debug_json",
           "write_debug_json"]
