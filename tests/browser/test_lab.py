"""Real-browser test: the training monitor in JupyterLab, driven by headless Chromium through Playwright.

What it proves that the widget unit tests cannot: the widgets render in a real JupyterLab page, the monitor's
updates reach the browser (the epoch bar ends at 100 %, the loss plot arrives as an ``<img>`` inside the
Output widget), and a click on Stop travels back to the kernel (the kernel-side label changes and a loop
running in a background thread ends).

It starts its own JupyterLab (127.0.0.1, random port, token, temporary root/settings/runtime folders) and its
own Chromium, bounds every wait, and stops only the processes it started (the server and its descendants,
recorded with psutil: SIGTERM, then kill by PID). A screenshot goes to ``$BROWSER_ARTIFACTS`` (default
``./test-artifacts``): ``lab.png`` on success, ``lab-failure.png`` on failure.

Skips only when Debian's Chromium (``/usr/bin/chromium``) or the playwright package is missing. Never runs
``playwright install``: the browser is the system one.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
if CHROMIUM is None:
    pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (no browser download needed)")
psutil = pytest.importorskip("psutil")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage"]
DONE_MARKER = "ALL-CELLS-DONE"

# The notebook the browser runs: a short real training sequence (a tiny 3D conv net on random data, so it
# takes seconds) reported to the monitor through the loop's hook events, then a second monitor whose loop runs
# in a background thread until its Stop button is clicked.
NOTEBOOK_CELLS = [
    ("markdown", "# Live monitor check\nA short training sequence reported to the training monitor."),
    ("code", '''\
import threading, time
import torch
from IPython.display import display
from nnunet_explorer.training.hooks import EpochEnd, IterationEnd, LoopControl, TrainEnd, TrainStart, ValidationEnd
from nnunet_explorer.views.monitor import TrainingMonitor

torch.set_num_threads(1)

def short_training(monitor, control, epochs, batches, *, until_stopped=False, max_seconds=120.0):
    """A tiny real training loop that calls the observer hooks like the explorer's loop does."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv3d(1, 4, 3, padding=1), torch.nn.LeakyReLU(), torch.nn.Conv3d(4, 3, 1))
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.99, nesterov=True)
    x = torch.randn(2, 1, 8, 16, 16); y = (x[:, 0] > 0).long() + (x[:, 0] > 1).long()
    monitor.on_train_start(TrainStart(0, epochs, batches, 1, 0.01, "(none)", 3))
    t_begin, epoch, stopped = time.perf_counter(), 0, False
    while epoch < epochs and not stopped:
        monitor.on_epoch_start(epoch)
        t_epoch, data_s, comp_s, losses = time.perf_counter(), 0.0, 0.0, []
        for it in range(batches):
            t0 = time.perf_counter(); xb = x + 0.1 * torch.randn_like(x); t1 = time.perf_counter()
            logits = net(xb)
            ce = torch.nn.functional.cross_entropy(logits, y)
            probs = logits.softmax(1)[:, 1:]
            onehot = torch.nn.functional.one_hot(y, 3).permute(0, 4, 1, 2, 3)[:, 1:].float()
            dice = -(2 * (probs * onehot).sum() + 1e-5) / (probs.sum() + onehot.sum() + 1e-5)
            loss = ce + dice
            opt.zero_grad(); loss.backward(); opt.step()
            if until_stopped:
                time.sleep(0.2)
            t2 = time.perf_counter(); data_s += t1 - t0; comp_s += t2 - t1; losses.append(float(loss))
            monitor.on_iteration_end(IterationEnd(epoch, it, float(loss), float(ce), float(dice), 0.01, None,
                                                  t1 - t0, t2 - t1))
            if control.stop_requested or time.perf_counter() - t_begin > max_seconds:
                stopped = True
                break
        if stopped:
            break
        dice_per_class = [0.3 + 0.1 * epoch, 0.5 + 0.1 * epoch]
        monitor.on_validation_end(ValidationEnd(epoch, losses[-1], dice_per_class, sum(dice_per_class) / 2))
        monitor.on_epoch_end(EpochEnd(epoch, sum(losses) / len(losses), losses[-1], sum(dice_per_class) / 2, None,
                                      None, 0.01, time.perf_counter() - t_epoch, data_s, comp_s, 0.0))
        epoch += 1
    monitor.on_train_end(TrainEnd(epoch - 1 if not stopped else epoch, stopped,
                                  control.reason if stopped else "max_num_epochs reached", None))
'''),
    ("code", '''\
control = LoopControl()
monitor = TrainingMonitor(control, title="short training")
display(monitor)
short_training(monitor, control, epochs=3, batches=12)
print(monitor)
'''),
    ("code", '''\
control2 = LoopControl()
monitor2 = TrainingMonitor(control2, show_plots=False, title="background run: click Stop")
display(monitor2)
runner = threading.Thread(target=short_training, args=(monitor2, control2, 1000, 10),
                          kwargs=dict(until_stopped=True), daemon=True)
runner.start()
time.sleep(1.0)
assert monitor2.state.iterations_done > 0
print("ALL-CELLS-DONE")
'''),
]


def write_notebook(path: Path) -> None:
    """The notebook as nbformat-4 JSON, written by hand (``import nbformat`` costs seconds here)."""
    cells = []
    for kind, source in NOTEBOOK_CELLS:
        cell = {"cell_type": kind, "metadata": {}, "source": source}
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        cells.append(cell)
    nb = {"cells": cells, "metadata": {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                                                      "name": "python3"},
                                       "language_info": {"name": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb, indent=1))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def artifacts_dir() -> Path:
    folder = Path(os.environ.get("BROWSER_ARTIFACTS", "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def stop_process_tree(proc: subprocess.Popen, known: set[int]) -> None:
    """SIGTERM the server (Jupyter shuts its kernels down), wait up to 20 s, then kill what it left, by PID."""
    try:
        parent = psutil.Process(proc.pid)
        known |= {p.pid for p in parent.children(recursive=True)}
    except psutil.NoSuchProcess:
        pass
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    for pid in known:
        try:
            child = psutil.Process(pid)
            child.kill()
            child.wait(timeout=5)
        except (psutil.NoSuchProcess, psutil.TimeoutExpired):
            pass


@pytest.fixture
def lab_server(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    write_notebook(root / "monitor.ipynb")
    settings = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false",
                                                                         "checkForUpdates": False}))
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               JUPYTER_CONFIG_DIR=str(tmp_path / "config"), nnUNet_n_proc_DA="1", OMP_NUM_THREADS="1",
               PYTHONUNBUFFERED="1")
    log = open(tmp_path / "lab.log", "w")
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--ServerApp.port_retries=0"]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    known: set[int] = set()
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError("jupyter lab exited:\n" + (tmp_path / "lab.log").read_text()[-3000:])
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("jupyter lab did not answer in 90 s:\n" + (tmp_path / "lab.log").read_text()[-3000:])
            time.sleep(0.5)
        yield base, token, proc, known
    finally:
        stop_process_tree(proc, known)
        log.close()


def test_monitor_runs_live_in_jupyterlab(lab_server):
    base, token, server, known = lab_server
    shots = artifacts_dir()
    blocked: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS, timeout=60_000)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})

            def only_loopback(route):  # JupyterLab needs nothing outside the machine; record anything else
                if route.request.url.startswith("http://127.0.0.1:"):
                    route.continue_()
                else:
                    blocked.append(route.request.url)
                    route.abort()

            context.route("**/*", only_loopback)
            page = context.new_page()
            page.set_default_timeout(30_000)
            try:
                page.goto(f"{base}/lab/tree/monitor.ipynb?token={token}", timeout=60_000)
                # "Idle" in the toolbar appears before a kernel exists; the status bar text is the reliable sign
                page.get_by_text("Python 3 (ipykernel) | Idle").first.wait_for(timeout=90_000)
                known |= {p.pid for p in psutil.Process(server.pid).children(recursive=True)}
                page.locator(".lm-MenuBar-itemLabel:text-is('Run')").click()
                page.locator(".lm-Menu-itemLabel:text-is('Run All Cells')").click()
                # the last cell prints the marker once both monitors have run
                marker = page.locator(f".jp-OutputArea-output pre:has-text('{DONE_MARKER}')")
                marker.wait_for(timeout=150_000)
                known |= {p.pid for p in psutil.Process(server.pid).children(recursive=True)}

                first = page.locator(".widget-vbox").filter(has_text="short training").first
                first.scroll_into_view_if_needed()
                bar = first.locator(".widget-hprogress .progress-bar").first
                page.wait_for_function("el => el.style.width === '100%'", arg=bar.element_handle(), timeout=20_000)
                image = first.locator(".widget-output img").first
                image.wait_for(timeout=20_000)
                page.wait_for_function("img => img.complete && img.naturalWidth > 100", arg=image.element_handle(),
                                       timeout=20_000)
                overhead = first.locator(".widget-label", has_text="monitor overhead").first.inner_text()
                assert "%" in overhead

                second = page.locator(".widget-vbox").filter(has_text="background run: click Stop").first
                second.scroll_into_view_if_needed()
                stop = second.locator("button.widget-button", has_text="Stop").first
                assert stop.is_enabled()
                stop.click()
                # the click runs the kernel-side callback; then the background loop ends and says why
                second.locator(".widget-label", has_text="training ended").first.wait_for(timeout=30_000)
                ended = second.locator(".widget-label", has_text="training ended").first.inner_text()
                assert "Stop button" in ended
                first.screenshot(path=str(shots / "lab.png"))
                second.screenshot(path=str(shots / "lab-stop.png"))
            except Exception:
                page.screenshot(path=str(shots / "lab-failure.png"))
                raise
        finally:
            browser.close()
    assert not blocked, f"JupyterLab requested addresses outside the machine: {blocked[:5]}"
