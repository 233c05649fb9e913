"""A virtual X display (Xvfb) for napari where there is no screen: notebooks on servers, CI, tests.

napari draws with OpenGL. Qt's ``offscreen`` platform has no OpenGL context, so the first image layer fails;
under Xvfb with Qt's ``xcb`` platform a shown viewer renders and screenshots work. Debian/Ubuntu packages:
``xvfb`` plus the xcb libraries Qt needs (``libxcb-icccm4 libxcb-keysyms1 libxcb-xinerama0 libxcb-image0
libxcb-render-util0 libxkbcommon-x11-0 libxcb-cursor0 libgl1 libegl1 libfontconfig1 libdbus-1-3``).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ...errors import ExplorerError
from ...language import tr


@dataclass
class VirtualDisplay:
    """A running ``Xvfb`` server: its display name (``':99'``) and process; :meth:`stop` ends it.

    On Linux the server also ends by itself when this Python process exits (see :func:`_die_with_parent`).
    """

    display: str
    process: subprocess.Popen | None

    def stop(self, *, force: bool = False) -> bool:
        """End the server, unless a Qt application is still connected to it (then it ends with the process).

        Returns whether it was stopped now.
        """
        if not force and qt_application_running():
            return False
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        return True


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to send SIGTERM to Xvfb when the Python process that started it exits (prctl PR_SET_PDEATHSIG).

    Stopping Xvfb while Qt is still connected makes Qt's xcb plugin report "The X11 connection broke" and can
    abort the process; tying Xvfb's life to its parent ends it only after Qt is gone, even after a crash.
    """
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the caller stops it


def qt_application_running() -> bool:
    """Whether a Qt application exists in this process (it keeps its connection to the display)."""
    import sys

    for binding in ("PySide6", "PyQt6", "PyQt5", "PySide2"):
        if f"{binding}.QtWidgets" in sys.modules:
            return sys.modules[f"{binding}.QtWidgets"].QApplication.instance() is not None
    return False


def xvfb_available() -> bool:
    """Whether the ``Xvfb`` binary is on the PATH."""
    return shutil.which("Xvfb") is not None


def _free_display_number(start: int = 90) -> int:
    for number in range(start, start + 200):
        if not Path(f"/tmp/.X{number}-lock").exists() and not Path(f"/tmp/.X11-unix/X{number}").exists():
            return number
    raise ExplorerError(tr("no free X display number between :90 and :289", "在 :90 到 :289 之间没有空闲的 X 显示编号"),
                        fix=tr("stop stale Xvfb servers", "请停掉残留的 Xvfb 服务"))


def start_virtual_display(*, size: str = "1280x1024x24", timeout: float = 10.0) -> VirtualDisplay:
    """Start ``Xvfb`` on a free display number and wait until it accepts connections.

    Sets nothing in the environment: the caller sets ``DISPLAY`` (and ``QT_QPA_PLATFORM=xcb``) before the Qt
    application is created (see :func:`ensure_display`).

    Raises:
        ExplorerError: Xvfb is not installed or did not start.
    """
    if not xvfb_available():
        raise ExplorerError(tr("Xvfb is not installed, so napari has no display to draw on",
                               "没有安装 Xvfb，napari 没有可以绘制的显示"),
                            fix=tr("apt-get install xvfb (and the xcb libraries listed in "
                                   "nnunet_explorer/views/napari/display.py), or run where a screen is available",
                                   "请 apt-get install xvfb（以及 nnunet_explorer/views/napari/display.py 中列出的 "
                                   "xcb 库），或在有屏幕的机器上运行"))
    for _attempt in range(3):
        number = _free_display_number()
        process = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", size, "-nolisten", "tcp"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   preexec_fn=_die_with_parent if os.name == "posix" else None)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break  # lost a race for this number: try the next one
            if Path(f"/tmp/.X11-unix/X{number}").exists():
                return VirtualDisplay(f":{number}", process)
            time.sleep(0.05)
        VirtualDisplay(f":{number}", process).stop(force=True)
    raise ExplorerError(tr("Xvfb did not start", "Xvfb 没有启动"),
                        fix=tr("run `Xvfb :99` by hand to see why", "请手动运行 `Xvfb :99` 查看原因"))


_started: VirtualDisplay | None = None


def ensure_display() -> str:
    """Make sure Qt can open a window: use ``$DISPLAY`` if set, else start one Xvfb for this process.

    Returns the display name. Sets ``DISPLAY`` and ``QT_QPA_PLATFORM=xcb`` when it starts Xvfb; this must
    happen before napari creates its Qt application.
    """
    global _started
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return os.environ.get("DISPLAY", os.environ.get("WAYLAND_DISPLAY", ""))
    if _started is None or (_started.process is not None and _started.process.poll() is not None):
        _started = start_virtual_display()  # ends with this process (no atexit: Qt may still be connected)
    os.environ["DISPLAY"] = _started.display
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    return _started.display
