"""Notebook 05's editing widget in a real browser: JupyterLab on 127.0.0.1 and headless Debian Chromium.

The test opens a copy of the notebook (the repo's file is never touched) that keeps its text and the code cells
the editor needs (the Colab setup, the loading cell and the editor's own: ``BROWSER_CELLS``; nbval runs every cell
of the notebook anyway), runs them all, drags the start_step slider, presses Apply and checks that the edited image
changed. Screenshots go to the test's
temporary folder. It needs Debian's ``chromium`` (``apt-get install chromium``; ``.ci/run`` installs it)
and Playwright for Python (in requirements.txt); Playwright's own browser download is never used.
Set ``DDIM_COURSE_CHROMIUM`` to use another Chromium binary.
"""

import contextlib
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

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "05_editing.ipynb"
BROWSER_CELLS = ("c01", "c02", "c12")  # ids of the code cells run in the browser: setup, loading, the editor
CHROMIUM = os.environ.get("DDIM_COURSE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def _chromium_runs() -> bool:
    """True when the binary starts (some distributions ship a stub that only points to a snap or a store)."""
    try:
        done = subprocess.run(
            [CHROMIUM, "--headless", "--version"],
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and "Chromium" in done.stdout


pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(900),
    pytest.mark.skipif(
        CHROMIUM is None or not _chromium_runs(),
        reason="no working Chromium: install Debian's package (apt-get install chromium) or set DDIM_COURSE_CHROMIUM",
    ),
]
playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright for Python is not installed (pip install -r requirements.txt)"
)

# How the page is read: JupyterLab is started with expose_app_in_browser, so window.jupyterapp is its app.
# ERRORS_OF(panel): the "ename: evalue" of every error output in the notebook's code cells.
ERRORS_OF = """panel => Array.from(panel.content.model.cells)
    .filter(c => c.type === 'code')
    .flatMap(c => Array.from({length: c.outputs.length}, (_, i) => c.outputs.get(i).toJSON()))
    .filter(o => o.output_type === 'error')
    .map(o => o.ename + ': ' + o.evalue)"""
CELLS_DONE = (
    """() => {
    const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    if (!panel || !panel.sessionContext || !panel.sessionContext.session) return false;
    const kernel = panel.sessionContext.session.kernel;
    if (!kernel || kernel.status !== 'idle') return false;
    if (("""
    + ERRORS_OF
    + """)(panel).length > 0) return true;  // run-all stops at an error: report it
    const cells = Array.from(panel.content.model.cells).filter(c => c.type === 'code');
    return cells.length > 0 && cells.every(c => c.executionCount !== null);
}"""
)
ERRORS = "() => (" + ERRORS_OF + ")(window.jupyterapp.shell.currentWidget)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path):
    """JupyterLab serving a temporary folder that holds a copy of notebook 05 (its text and BROWSER_CELLS); yields
    (base url, token, folder)."""
    root = tmp_path / "lab"
    root.mkdir()
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    ids = [c.get("id") for c in nb["cells"] if c["cell_type"] == "code"]
    assert set(BROWSER_CELLS) <= set(ids), f"notebook 05 lost a cell the browser test runs: {BROWSER_CELLS}, {ids}"
    nb["cells"] = [c for c in nb["cells"] if c["cell_type"] != "code" or c.get("id") in BROWSER_CELLS]
    (root / NOTEBOOK.name).write_text(json.dumps(nb), encoding="utf-8")
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)  # plots inline, as a learner sees them
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR"):
        env[var] = str(tmp_path / var.lower())  # leave the learner's own Jupyter settings alone
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    url, log_path = f"http://127.0.0.1:{port}", tmp_path / "jupyterlab.log"
    with open(log_path, "w", encoding="utf-8") as log:
        # its own process group, so that stopping it also stops the kernel it started
        server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            _wait_until_up(server, f"{url}/api/status?token={token}", log_path)
            yield url, token, root
        finally:
            _stop(server, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                _stop(server, signal.SIGKILL)
                server.wait()


def _stop(server, sig) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(server.pid, sig)


def _wait_until_up(server, status_url: str, log_path: Path, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while True:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited with {server.returncode}:\n{log_path.read_text(encoding='utf-8')}")
        try:
            urllib.request.urlopen(status_url, timeout=2)
            return
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(
                    f"JupyterLab did not answer within {seconds:.0f} s:\n{log_path.read_text(encoding='utf-8')}"
                )
            time.sleep(0.5)


def test_edit_widget_in_chromium(jupyterlab, tmp_path):
    url, token, root = jupyterlab
    original = NOTEBOOK.read_bytes()
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}/lab/tree/{NOTEBOOK.name}?token={token}")
            page.wait_for_function(
                "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                " && window.jupyterapp.shell.currentWidget.sessionContext"
                " && window.jupyterapp.shell.currentWidget.sessionContext.isReady",
                timeout=120_000,
            )
            # start the run without waiting for it here (the wait below has a timeout and reports errors)
            page.evaluate("void window.jupyterapp.commands.execute('notebook:run-all-cells')")
            page.wait_for_function(CELLS_DONE, timeout=400_000, polling=1000)
            assert page.evaluate(ERRORS) == [], "a cell of notebook 05 raised in the browser"

            widget = page.locator(".widget-vbox", has=page.locator("button", has_text="Apply")).last
            widget.scroll_into_view_if_needed()
            slider = widget.locator(".widget-slider", has_text="start_step")
            readout = slider.locator(".widget-readout")
            after = widget.locator(".widget-image").nth(1)
            label = widget.locator(".widget-html").last
            old_value = int(readout.inner_text())
            old_png, old_src = after.screenshot(), after.get_attribute("src")
            page.screenshot(path=str(tmp_path / "before.png"))

            # drag the slider's handle to the right, as a learner would with the mouse
            handle = slider.locator(".noUi-handle").first
            box = handle.bounding_box()
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] / 2 + 30, box["y"] + box["height"] / 2, steps=10)
            page.mouse.up()
            new_value = int(readout.inner_text())
            assert new_value > old_value, f"the slider did not move: start_step {old_value} -> {new_value}"

            widget.locator("button", has_text="Apply").click()
            page.wait_for_function(
                "([el, v]) => el.textContent.includes('start_step ' + v)",
                arg=[label.element_handle(), new_value],
                timeout=120_000,
            )
            page.wait_for_function(
                "el => el.complete && el.naturalWidth > 0", arg=after.element_handle(), timeout=30_000
            )
            page.screenshot(path=str(tmp_path / "after.png"))
            assert after.get_attribute("src") != old_src, "the edited image was not replaced"
            assert after.screenshot() != old_png, "the edited image looks the same after a new start_step"
            assert page.evaluate(ERRORS) == []
        finally:
            browser.close()
    assert (tmp_path / "after.png").stat().st_size > 0
    assert NOTEBOOK.read_bytes() == original, "the repo's notebook must only be copied, never saved over"
