"""Every walkthrough notebook runs headless top to bottom, and its last cells' assertions hold.

The notebooks share one temporary workspace (``NNUNET_EXPLORER_WORKSPACE``), created by the first notebook
that needs it, and run in their numbered order, so notebook 06 can use the weights trained by 05 (it also
works without them). Each notebook runs **twice in a row** in that workspace (a fresh kernel each time): a
student re-runs notebooks, and a notebook that only works on a clean workspace is broken. The Chinese notebooks
(``notebooks/zh/``, translations of 01-08 with the same code) then run once each in that workspace, where their
English twins ran twice. The kernel is ``python3``: jupyter_client starts it with the interpreter running the
tests (the venv's), which one test checks explicitly.

The notebooks are authored as jupytext percent scripts (``notebooks/NN_name.py``) paired with their
``.ipynb``; the test executes the script and checks that the committed ``.ipynb`` holds the same cells, no
outputs and the python3 kernelspec (after editing either, ``jupytext --sync notebooks/NN_name.py``).
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
ORDER = ["00_blog_walkthrough", "01_configuration", "02_trainer_and_network", "03_data_and_augmentation",
         "04_one_iteration", "05_train_live", "06_validation_and_inference", "07_bring_your_own_network", "08_cascade"]


jupytext = pytest.importorskip("jupytext")
nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")


def check_paired_and_clean(script_path: Path) -> list:
    """The percent script and its ``.ipynb``: paired, the same cells, the python3 kernel, no outputs; returns the
    code cells."""
    name = script_path.relative_to(NOTEBOOKS).with_suffix("")
    script = jupytext.read(script_path)
    paired = nbformat.read(script_path.with_suffix(".ipynb"), as_version=4)
    assert "py:percent" in paired.metadata["jupytext"]["formats"], f"{name}: not paired with its script"
    assert paired.metadata["kernelspec"]["name"] == "python3"
    assert [(c.cell_type, c.source) for c in paired.cells] == [(c.cell_type, c.source) for c in script.cells], \
        f"{name}: the .ipynb and the .py differ; run `jupytext --sync notebooks/{name}.py`"
    code = [c for c in paired.cells if c.cell_type == "code"]
    assert all(c.get("outputs", []) == [] and c.get("execution_count") is None for c in code), \
        f"{name}: commit the .ipynb without outputs"
    return code


def test_every_notebook_is_a_percent_script_paired_with_a_clean_ipynb():
    scripts = sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.py"))
    assert scripts == ORDER
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == ORDER
    for stem in ORDER:
        code = check_paired_and_clean(NOTEBOOKS / f"{stem}.py")
        assert "assert" in code[-1].source, f"{stem}: the last cell must check what the notebook produced"
        assert "prepare_sample_task" in "".join(c.source for c in code), f"{stem}: makes its own workspace"


# ---------------------------------------------------------------------------------------------- execution


@pytest.fixture(scope="module")
def notebook_env(tmp_path_factory):
    """One workspace for all notebooks, set in the environment the kernels inherit."""
    root = tmp_path_factory.mktemp("notebooks")
    saved = {k: os.environ.get(k) for k in ("NNUNET_EXPLORER_WORKSPACE", "nnUNet_raw_data_base",
                                            "nnUNet_preprocessed", "RESULTS_FOLDER", "nnUNet_n_proc_DA",
                                            "OMP_NUM_THREADS", "MPLBACKEND", "IPYTHONDIR", "DISPLAY",
                                            "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    # the kernels run as on a headless server whatever ran before: napari's tests set DISPLAY for the session,
    # and with it notebook 06 would open an interactive viewer (Qt's event loop in the kernel) only in some runs
    for key in ("nnUNet_raw_data_base", "nnUNet_preprocessed", "RESULTS_FOLDER", "DISPLAY", "WAYLAND_DISPLAY",
                "QT_QPA_PLATFORM"):
        os.environ.pop(key, None)
    os.environ.update(NNUNET_EXPLORER_WORKSPACE=str(root / "ws"), nnUNet_n_proc_DA="1", OMP_NUM_THREADS="2",
                      MPLBACKEND="Agg", IPYTHONDIR=str(_stack_dump_profile(root)))
    yield root
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


HANG_SECONDS = 1000
"""One run of one notebook may take this long (notebook 05, the longest, trains for a few minutes on CI's two
cores); past it the watchdog dumps the kernel's stacks and ends it, so a hang fails with its cause shown."""

_STARTUP = """\
# written by tests/notebooks/test_notebooks.py: SIGUSR1 prints every thread's Python stack (the watchdog asks)
import faulthandler as _faulthandler, os as _os, signal as _signal
_faulthandler.register(_signal.SIGUSR1, file=open(_os.path.join(_os.path.dirname(__file__), "stacks.txt"), "a"),
                       all_threads=True)
"""


def _stack_dump_profile(root: Path) -> Path:
    """An IPython directory whose startup file lets the watchdog ask a kernel (and its forked workers, which
    inherit the handler) for their Python stacks."""
    startup = root / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    (startup / "00-stacks-on-sigusr1.py").write_text(_STARTUP)
    return root / "ipython"


class Watchdog:
    """Ends a notebook run that is still going after ``seconds``: first every Python stack of the kernel and of
    the processes it forked (the augmentation workers), then the kernel itself, so ``client.execute()`` returns
    with an error instead of waiting for pytest's timeout, and the test says where it was stuck."""

    def __init__(self, client, seconds: float) -> None:
        import threading

        self.client, self.seconds, self.report = client, seconds, None
        self.cell = "(before the first cell)"
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def started(self, cell, cell_index, **_) -> None:  # nbclient's on_cell_execute hook
        self.cell = f"cell {cell_index}: {cell.source.splitlines()[0] if cell.source else ''}"

    def __enter__(self) -> "Watchdog":
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()
        self._timer.join()  # a report being written is finished before execute()'s error is looked at

    def _fire(self) -> None:
        import psutil

        self.report = f"still running after {self.seconds:.0f} s, in {self.cell}"
        pid = getattr(getattr(self.client.km, "provisioner", None), "pid", None)
        if pid is None:
            self.report += " (no kernel process to look into)"
            return
        try:
            kernel = psutil.Process(pid)
            family = [kernel] + kernel.children(recursive=True)
        except psutil.Error:
            return
        try:
            self.report += "\n" + self._stacks(kernel)
        except Exception as exc:  # noqa: BLE001 - a process that ends meanwhile: say so, and end the rest anyway
            self.report += f"\n(stacks incomplete: {type(exc).__name__}: {exc})"
        finally:
            for proc in family:
                try:
                    proc.kill()
                except psutil.Error:
                    pass

    def _stacks(self, kernel) -> str:
        import signal

        import psutil

        stacks = Path(os.environ["IPYTHONDIR"]) / "profile_default" / "startup" / "stacks.txt"
        parts = []
        forked = [c for c in kernel.children(recursive=True) if c.cmdline() == kernel.cmdline()]
        for proc, name in [(kernel, "kernel")] + [(c, "forked child") for c in forked]:
            before = stacks.stat().st_size if stacks.exists() else 0
            try:
                proc.send_signal(signal.SIGUSR1)
            except psutil.Error:
                continue
            time.sleep(1.0)
            text = stacks.read_text(errors="replace")[before:] if stacks.exists() else ""
            parts.append(f"--- {name} {proc.pid} ---\n{text or '(no stack written)'}")
        others = [f"{c.pid} {' '.join(c.cmdline())[:120]}" for c in kernel.children(recursive=True)
                  if c not in forked]
        return "\n".join(parts) + ("\nother child processes: " + "; ".join(others) if others else "")


def execute(nb, workdir: Path, timeout: int | None = None):
    # no limit per cell: notebook 05 trains for minutes in one cell, many more on a shared machine; the
    # watchdog bounds one run of a notebook, the pytest timeout the whole test
    client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                     resources={"metadata": {"path": str(workdir)}})
    watchdog = Watchdog(client, HANG_SECONDS)
    client.on_cell_execute = watchdog.started
    start = time.perf_counter()
    try:
        with watchdog:
            client.execute()
    except Exception as exc:
        if watchdog.report is not None:
            raise AssertionError(f"the notebook hung: {watchdog.report}") from exc
        raise
    return time.perf_counter() - start


def stdout_of(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def check_executed(nb, stem: str) -> None:
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(o.get("output_type") != "error" for c in code for o in c.get("outputs", []))
    # a figure that reached the page as "<Figure size ...>" text instead of an image is a broken view
    shown_as_text = [o["data"]["text/plain"] for c in code for o in c.get("outputs", [])
                     if o.get("output_type") in ("execute_result", "display_data")
                     and "image/png" not in o.get("data", {})
                     and str(o.get("data", {}).get("text/plain", "")).startswith("<Figure size")]
    assert not shown_as_text, shown_as_text
    # the steps that have pictures show them in their cards (notebook 00 once showed none: the pictures are drawn
    # by the views, which register them on import)
    for c in code:
        for o in c.get("outputs", []):
            page = str(o.get("data", {}).get("text/html", ""))
            for step in ("architecture", "lr_schedule", "batch"):
                start = page.find(f"id='step-{step}'")
                if start >= 0 and "nnx-ok" in page[max(0, start - 40):start]:
                    end = page.find("<div class='nnx-card", start)
                    card = page[start:end if end > 0 else len(page)]
                    assert "<img" in card, f"the {step} card shows no picture"
    # a student reads red warning boxes as something they did wrong: the notebooks show none
    warnings = [o.get("text", "") for c in code for o in c.get("outputs", [])
                if o.get("output_type") == "stream" and o.get("name") == "stderr" and "Warning" in o.get("text", "")]
    assert not warnings, warnings
    # the last cell holds the notebook's assertions and prints "<NN> ok" only if all of them passed
    assert f"{stem[:2]} ok" in stdout_of(code[-1])


@pytest.mark.slow
@pytest.mark.timeout(2400)
@pytest.mark.parametrize("stem", ORDER)
def test_notebook_runs_top_to_bottom_twice(stem, notebook_env, record_property):
    for run in (1, 2):
        nb = jupytext.read(NOTEBOOKS / f"{stem}.py")
        seconds = execute(nb, notebook_env)
        record_property(f"seconds_run{run}", round(seconds, 1))
        try:
            check_executed(nb, stem)
        except AssertionError as exc:
            raise AssertionError(f"{stem}, run {run} of 2 in the same workspace: {exc}") from exc
        print(f"{stem} run {run}: {seconds:.1f} s")


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("stem", ORDER[1:])
def test_chinese_notebook_runs_top_to_bottom(stem, notebook_env, record_property):
    """``notebooks/zh/NN`` (notebook 00 is Chinese already): after the English ones, in the same workspace, so it
    also runs again where its English twin ran twice; its cards are Chinese."""
    from ..zh_share_rule import english_blocks, prose_blocks

    nb = jupytext.read(NOTEBOOKS / "zh" / f"{stem}.py")
    seconds = execute(nb, notebook_env)
    record_property("seconds", round(seconds, 1))
    check_executed(nb, stem)
    pages = [str(o.get("data", {}).get("text/html", "")) for c in nb.cells if c.cell_type == "code"
             for o in c.get("outputs", [])]
    cards = "".join(page for page in pages if "nnx-card" in page)
    assert not cards or (prose_blocks(cards) and not english_blocks(cards)), english_blocks(cards)
    print(f"zh/{stem}: {seconds:.1f} s")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_percent_run_trains_one_epoch_with_the_monitor(notebook_env):
    """``%run train_one_epoch.py`` with v1's arguments trains exactly one epoch, then the next one with -c
    (in a background thread, as needed for the Stop button to work while it runs)."""
    script = NOTEBOOKS / "train_one_epoch.py"
    # fold 1: notebook 05 trains fold 0 to the end, and -c would prefer its model_final_checkpoint.model
    args = "3d_fullres nnUNetTrainerV2 901 1 --num_batches_per_epoch 1 --num_val_batches_per_epoch 1 --quiet"
    cells = [
        "import sys; print('kernel python:', sys.executable)",
        "from nnunet_explorer.views.widgets_common import prepare_sample_task\nprepare_sample_task(901)",
        f"%run {script} {args} -p nnUNetPlansv2.1 --single_threaded --overwrite_training\n"
        "first_start = monitor.state.start",
        f"%run {script} {args} -c --single_threaded --background",  # the kernel stays free while it trains
        "result = handle.result(timeout=400)",
        "assert result.stopped_early and 'one epoch trained' in result.reason\n"
        "assert first_start.start_epoch == 0 and not first_start.resumed\n"
        "assert monitor.state.start.resumed and monitor.state.start.start_epoch == first_start.start_epoch + 1\n"
        "assert len(monitor.state.epochs) == 1 and monitor.overhead_seconds > 0\n"
        "print('one-epoch ok')",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    execute(nb, notebook_env)
    assert f"kernel python: {sys.executable}" in stdout_of(nb.cells[0])
    assert "one-epoch ok" in stdout_of(nb.cells[-1])


def test_monitor_and_progress_figures_draw_without_warnings():
    """Before the first iteration the monitor has nothing to label, and v1's progress plot has no metric curve
    until the first validation: neither may call ``legend()`` then (matplotlib warns "No artists with labels
    found", which notebook 05 showed in red)."""
    import warnings

    pytest.importorskip("matplotlib")
    from nnunet_explorer.views.monitor import TrainingMonitor
    from nnunet_explorer.views.plots import progress_figure

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        empty = TrainingMonitor().figure()
        no_metric = progress_figure([1.0, 0.5], [1.1, 0.6], [], [])
    assert empty.axes and not empty.axes[0].get_legend()
    assert no_metric.axes[0].get_legend() is not None and no_metric.axes[1].get_legend() is None


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_hanging_notebook_fails_with_the_stacks_of_its_kernel_and_workers(notebook_env, monkeypatch):
    """The watchdog: a kernel stuck in a cell (here: its forked child and itself asleep) is ended after
    ``HANG_SECONDS`` and the failure shows the cell and both Python stacks, not a bare pytest timeout."""
    monkeypatch.setattr(sys.modules[__name__], "HANG_SECONDS", 20)
    cells = ["print('a first cell')",
             "import os, time\n"
             "def stuck_in_the_child():\n    time.sleep(600)\n"
             "def stuck_in_the_kernel():\n    time.sleep(600)\n"
             "child = os.fork()\n"
             "if child == 0:\n    stuck_in_the_child()\n"
             "stuck_in_the_kernel()"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    with pytest.raises(AssertionError) as failure:
        execute(nb, notebook_env)
    report = str(failure.value)
    assert "still running after 20 s, in cell 1: import os, time" in report
    kernel, _, child = report.partition("--- forked child")
    assert "stuck_in_the_kernel" in kernel and "stuck_in_the_child" in child, report


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_napari_picture_leaves_the_kernel_out_of_qts_event_loop(notebook_env):
    """napari switches an IPython kernel to Qt's event loop (``%gui qt``) whenever it makes a viewer; ipykernel's
    Qt loop now and then misses the next cell's request, and the notebook hangs (notebook 06 did, on CI). A
    picture needs no event loop: after ``inline_screenshot`` the kernel is as it was, and the next cells run."""
    pytest.importorskip("napari", reason="the napari extra is not installed (pip install -e '.[napari]')")
    from nnunet_explorer.views.napari.display import xvfb_available

    if not xvfb_available():
        pytest.skip("Xvfb is not installed (apt-get install xvfb)")
    cells = ["import numpy as np\nfrom nnunet_explorer.views.napari import inline_screenshot\n"
             "before = get_ipython().active_eventloop",
             "shot = inline_screenshot(np.random.rand(4, 16, 16).astype('float32'))",
             "after = get_ipython().active_eventloop",
             *[f"print('cell {i} ran')" for i in range(20)],
             # the premise: a viewer made without the helper does switch the kernel to Qt's loop
             "import napari\nviewer = napari.Viewer(show=False)\nswitched = get_ipython().active_eventloop\n"
             "viewer.close()\nget_ipython().enable_gui(None)",
             "assert shot.array.ndim == 3, shot\nprint('loops:', before, after, switched)"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    execute(nb, notebook_env)
    assert "loops: None None qt" in stdout_of(nb.cells[-1])
