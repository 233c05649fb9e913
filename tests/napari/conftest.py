"""Fixtures for the napari plugin tests: a virtual X display, and small explorer-made artefacts.

napari needs an OpenGL context, which Qt's ``offscreen`` platform lacks; so a session-wide Xvfb is started
(``DISPLAY`` and ``QT_QPA_PLATFORM=xcb`` set before pytest-qt creates the QApplication). At the session's end
the process is set to end without Qt's teardown, which crashed CI runs (``tests/qt_exit.py``); Xvfb ends with
the process.
The module is skipped only when napari or the Xvfb binary is missing (CI installs both).
"""
from __future__ import annotations

import os
import sys

import pytest

pytest.importorskip("napari", reason="the napari extra is not installed (pip install -e '.[napari]')")

from nnunet_explorer.views.napari.display import start_virtual_display, xvfb_available  # noqa: E402

from ..qt_exit import end_without_qt_teardown  # noqa: E402

if not xvfb_available() and not os.environ.get("DISPLAY"):
    pytest.skip("Xvfb is not installed (apt-get install xvfb) and there is no display", allow_module_level=True)


def _broken_qt_binding() -> str | None:
    """PySide6 6.12.0 over-releases ``None`` on CPython < 3.12 (about 10 000 references per napari viewer); after
    a dozen viewers CPython aborts with "none_dealloc: deallocating None". The napari extra pins it out."""
    import sys

    try:
        import PySide6
    except ImportError:
        return None
    if PySide6.__version__.startswith("6.12.") and sys.version_info < (3, 12):
        return (f"PySide6 {PySide6.__version__} on Python {sys.version_info.major}.{sys.version_info.minor} corrupts "
                "None's reference count and aborts the test process; install PySide6-Essentials<6.12 (the napari "
                "extra pins it)")
    return None


@pytest.fixture(scope="session", autouse=True)
def virtual_display(request):
    """One Xvfb for the whole session; the previous DISPLAY / QT_QPA_PLATFORM are restored afterwards.

    At the end the process is set to end without Qt's teardown (:func:`qt_exit.end_without_qt_teardown`);
    Xvfb ends with it.
    """
    problem = _broken_qt_binding()
    if problem:
        pytest.fail(problem, pytrace=False)
    saved = {key: os.environ.get(key) for key in ("DISPLAY", "QT_QPA_PLATFORM")}
    display = start_virtual_display() if xvfb_available() else None
    if display is not None:
        os.environ["DISPLAY"] = display.display
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    yield display
    if "PySide6.QtCore" in sys.modules:  # Qt is left as it is: its teardown is what crashed (tests/qt_exit.py)
        end_without_qt_teardown(request.session)
    if display is not None:
        # stopped now unless Qt is still connected; then it ends when this process exits (PR_SET_PDEATHSIG),
        # because pulling the display from under a live QApplication can abort the process
        display.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


TASK = "Task951_NapariCT"


def build_artefacts(root):
    """An explorer-preprocessed 3-case CT task plus a v1-layout validation folder next to ``gt_niftis``.

    The predictions are the ground truth with the lesion (2) relabelled as organ (1) and the organ shifted by
    one voxel along x, so false positives, false negatives and wrong-class voxels all occur.
    """
    import shutil

    import numpy as np
    import SimpleITK as sitk

    from nnunet_explorer.paths import resolve_workspace
    from nnunet_explorer.planning.run import plan_and_preprocess
    from nnunet_explorer.samples.synthetic import write_synthetic_task

    ws = resolve_workspace({"nnUNet_raw_data_base": str(root / "raw"), "nnUNet_preprocessed": str(root / "pre"),
                            "RESULTS_FOLDER": str(root / "results")}).ensure()
    write_synthetic_task(ws.raw_task_dir(TASK), "ct", num_training=3, num_test=1, seed=0)
    plan_and_preprocess([TASK], workspace=ws, tl=1, tf=1, progress=False, log=lambda message: None)
    model = ws.network_training_output_dir / "3d_fullres" / TASK / "nnUNetTrainerV2__nnUNetPlansv2.1"
    gt = model / "gt_niftis"
    shutil.copytree(ws.preprocessed_task_dir(TASK) / "gt_segmentations", gt)
    val = model / "fold_0" / "validation_raw"
    val.mkdir(parents=True)
    for path in sorted(gt.glob("*.nii.gz")):
        image = sitk.ReadImage(str(path))
        truth = sitk.GetArrayFromImage(image)
        pred = np.roll(np.where(truth == 2, 1, truth), 1, axis=2).astype(np.uint8)
        out = sitk.GetImageFromArray(pred)
        out.CopyInformation(image)
        sitk.WriteImage(out, str(val / path.name))
    return ws, model


@pytest.fixture(scope="session")
def artefacts(tmp_path_factory):
    """``(workspace, model_folder)`` built once per session (read-only for tests)."""
    return build_artefacts(tmp_path_factory.mktemp("napari_artefacts"))
