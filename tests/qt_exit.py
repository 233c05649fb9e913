"""End a test process that ran Qt without PySide6's teardown of it (the napari tests' session uses this).

Why: three CI runs ended in a segmentation fault after every test had passed. Twice it struck at the interpreter's
exit, where PySide6's exit handler destroys the QApplication and every Qt object Python still owns, in an order of
its own (no Python frame was on the stack). The third time it struck in the napari fixture's teardown, which closed
the windows and called ``QApplication.shutdown()`` (the same cleanup): gdb's native stack shows the fault in
``QOpenGLContext::isValid()``. A likely cause is a GL object destroyed after something it refers to (vispy keeps a
Python-owned ``QOpenGLContext`` and ``QOffscreenSurface`` per canvas). It depends on the machine: it never happened
here (2 cores, the same Mesa llvmpipe), not even with more llvmpipe threads. Every test has passed and reported by
then, so the process ends with pytest's own exit status instead, and Xvfb ends with it (``PR_SET_PDEATHSIG``).

What is skipped is the rest of interpreter teardown: exit handlers registered before this one, module cleanup.
The suite needs none of it: every test stops what it started (the ``no_thread_left_running`` guard), and the
``at exit:`` line printed just before shows what was still running.
"""
from __future__ import annotations

import atexit
import os
import sys


def end_without_qt_teardown(session) -> None:
    """Make the process end with ``session.exitstatus`` as soon as the interpreter starts to exit.

    Call it once Qt has been imported (from a session fixture's teardown): exit handlers run last registered
    first, so this one runs before PySide6's, and ``os._exit`` ends the process there. Output is flushed first.
    """
    def end_now() -> None:
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            try:
                stream.flush()
            except (AttributeError, OSError, ValueError):  # closed or replaced streams have nothing to flush
                pass
        os._exit(int(session.exitstatus))

    atexit.register(end_now)
