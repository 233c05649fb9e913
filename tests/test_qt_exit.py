"""``tests/qt_exit.py``: a test process that ran Qt ends with pytest's exit status and skips PySide6's teardown.

Each check runs a small pytest session in a subprocess whose session fixture makes a QApplication (Qt's
``offscreen`` platform: no display needed) and, at its end, calls :func:`end_without_qt_teardown`. An exit
handler registered before it stands for the teardown that must not run.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("PySide6.QtWidgets", reason="the napari extra (PySide6) is not installed")

TESTS = Path(__file__).resolve().parent

CONFTEST = textwrap.dedent("""
    import atexit, os, sys
    import pytest
    sys.path.insert(0, {tests!r})
    from qt_exit import end_without_qt_teardown

    @pytest.fixture(scope="session", autouse=True)
    def qt(request):
        from PySide6.QtWidgets import QApplication
        atexit.register(lambda: print("EARLIER EXIT HANDLER RAN", flush=True))  # as PySide6's own
        app = QApplication.instance() or QApplication([])
        yield app
        if os.environ.get("USE_HELPER") == "1":
            end_without_qt_teardown(request.session)
""")

TESTS_FILE = textwrap.dedent("""
    import os

    def test_passes():
        print("in test")

    def test_maybe_fails():
        assert os.environ.get("FAIL") != "1"
""")


def run_session(tmp_path: Path, *, fail: bool, helper: bool = True) -> subprocess.CompletedProcess:
    (tmp_path / "conftest.py").write_text(CONFTEST.format(tests=str(TESTS)))
    (tmp_path / "test_session.py").write_text(TESTS_FILE)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
           "FAIL": "1" if fail else "0", "USE_HELPER": "1" if helper else "0"}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir",
                           str(tmp_path), str(tmp_path / "test_session.py")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("fail, status, summary", [(False, 0, "2 passed"), (True, 1, "1 failed, 1 passed")])
def test_the_process_ends_with_pytests_status_and_its_summary(tmp_path, fail, status, summary):
    out = run_session(tmp_path, fail=fail)
    assert out.returncode == status, out.stdout + out.stderr
    assert summary in out.stdout


def test_exit_handlers_registered_before_it_do_not_run(tmp_path):
    assert "EARLIER EXIT HANDLER RAN" not in run_session(tmp_path, fail=False).stdout
    # the control: without it, the interpreter's teardown runs them
    assert "EARLIER EXIT HANDLER RAN" in run_session(tmp_path, fail=False, helper=False).stdout
