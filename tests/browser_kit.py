"""Drive the real app in headless chromium: servers, the browser, and waits on the app's own run state.

Shared by tests/test_browser.py and bench/bench_browser.py, so the tests and the benchmark
agree on what "done" means. Every wait is on a condition, never a fixed sleep: Streamlit's
run state on `stApp` (`data-test-script-state` is `notRunning`), no element of the previous
run still marked `data-stale="true"`, and the content the action should produce. The status
widget is no signal: it appears only after a run has lasted 500 ms.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "test-artifacts" / "screenshots"
DEMO_KEY = "optera-demo-key"
NO_NET = "http://127.0.0.1:9"  # nothing listens there: anything not on 127.0.0.1 fails at once
CHROME_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run",
               # the browser too stays on 127.0.0.1 (loopback always bypasses the proxy)
               f"--proxy-server={NO_NET}"]
TIMEOUT_MS = 30_000
_EARLY_FOR_RERUN = ForwardMsg.FINISHED_EARLY_FOR_RERUN

IDLE_JS = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    return !!app && app.getAttribute('data-test-script-state') === 'notRunning'
        && app.getAttribute('data-test-connection-state') === 'CONNECTED'
        && !document.querySelector('[data-stale="true"]');
}"""

METRIC_JS = """([label, old]) => {
    const box = [...document.querySelectorAll('[data-testid="stMetric"]')].find(b => b.innerText.includes(label));
    const value = box && box.querySelector('[data-testid="stMetricValue"]');
    return !!value && value.innerText.trim() !== old;
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(tmp: Path, sim_url: str | None = None) -> dict[str, str]:
    """The environment of a server under test: its own DB and simulator state, no internet, no user secrets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MARA_", "OPENAI_", "OPTERA_"))}
    env.update(
        OPTERA_DB=str(tmp / "browser.db"), OPTERA_SIM_STATE=str(tmp / "app_sim.json"),
        HTTP_PROXY=NO_NET, HTTPS_PROXY=NO_NET, ALL_PROXY=NO_NET, http_proxy=NO_NET, https_proxy=NO_NET,
        all_proxy=NO_NET, NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
    )
    if sim_url:
        env.update(MARA_API_URL=sim_url, MARA_API_KEY=DEMO_KEY)
    return env


def _log_tail(path: Path) -> str:
    return path.read_text(errors="replace")[-2000:] if path.exists() else ""


def _spawn(args: list[str], env: dict[str, str], log: Path, health: str, seconds: float = 60) -> subprocess.Popen:
    """Start a server (output to `log`) and return once `health` answers 200."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(health, timeout=1, trust_env=False).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        try:  # the pause between polls is a wait on the other way out: the server exiting
            proc.wait(0.05)
        except subprocess.TimeoutExpired:
            continue
        raise AssertionError(f"{args[0]} exited with {proc.returncode}:\n{_log_tail(log)}")
    stop(proc)
    raise AssertionError(f"{health} did not answer within {seconds} s:\n{_log_tail(log)}")


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def start_sim(tmp: Path, clock_file: Path | None = None) -> tuple[subprocess.Popen, str]:
    """`optera sim` on a free port with its own state file, on the clock in `clock_file` if given
    (wall time otherwise); returns (process, base URL)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    clock = ["--clock-file", str(clock_file)] if clock_file else []
    proc = _spawn([str(BIN / "optera"), "sim", "--port", str(port), "--state", str(tmp / "sim.json"), *clock],
                  server_env(tmp), tmp / "sim.log", url + "/prices")
    return proc, url


def start_streamlit(script: str, env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    """`streamlit run script` (path relative to the repository, whose .streamlit/config.toml applies)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _spawn([str(BIN / "streamlit"), "run", script, "--server.headless", "true", "--server.port", str(port),
                   "--server.address", "127.0.0.1"], env, log, url + "/_stcore/health")
    return proc, url


@contextmanager
def running(*procs: subprocess.Popen) -> Iterator[None]:
    try:
        yield
    finally:
        for proc in procs:
            stop(proc)


@contextmanager
def chromium() -> Iterator:
    """Debian's chromium through Playwright's sync API, headless and offline."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROME_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Runs:
    """What the page's websocket says about script runs: how the last one ended, and the frames if asked.

    `st.rerun()` ends a run early and starts the next one; in between, the frontend shows
    `notRunning` for a moment. Only the server's `script_finished` status tells that gap
    from the end. Frames reach Playwright when the page receives them, before the page's
    own code handles them, so when the page shows idle the status seen here is current.
    """

    def __init__(self, page, record: bool = False):
        self.record = record
        self.frames: list[bytes] = []
        self.last_status: int | None = None
        self.ws = None
        page.on("websocket", self._attach)

    def _attach(self, ws) -> None:
        self.ws = ws
        ws.on("framereceived", self._frame)

    def _frame(self, payload) -> None:
        if isinstance(payload, str):
            return
        if self.record:
            self.frames.append(payload)
        status = _finished_status(payload)
        if status is not None:
            self.last_status = status

    @property
    def rerun_pending(self) -> bool:
        return self.last_status == _EARLY_FOR_RERUN


def _finished_status(payload: bytes) -> int | None:
    msg = ForwardMsg.FromString(payload)
    return msg.script_finished if msg.WhichOneof("type") == "script_finished" else None


def _ends_the_rerun(payload) -> bool:
    return not isinstance(payload, str) and _finished_status(payload) not in (None, _EARLY_FOR_RERUN)


_RUNS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def runs(page) -> Runs:
    """The run tracker of a page made by :func:`new_page`."""
    return _RUNS[page]


def new_page(browser, width: int = 1400, height: int = 1000, record: bool = False):
    """A page in a fresh context (a new Streamlit session, empty browser caches), its runs tracked."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    _RUNS[page] = Runs(page, record)
    return page


def wait_idle(page, timeout_ms: int = TIMEOUT_MS) -> None:
    """Wait until no script run is going and nothing on the page is left over from a previous run.

    Right after an input the run may not have started yet, so pair this with a wait for
    the content the input should produce (:func:`wait_metric_changed`, :func:`wait_for_text`).
    A run that ended in `st.rerun()` is not the end: the wait goes on through the next run.
    """
    deadline = time.monotonic() + timeout_ms / 1000
    tracker = _RUNS.get(page)
    while True:
        left_ms = max(1, int((deadline - time.monotonic()) * 1000))
        page.wait_for_function(IDLE_JS, timeout=left_ms)
        if tracker is None or not tracker.rerun_pending:
            return
        tracker.ws.wait_for_event("framereceived", _ends_the_rerun, timeout=left_ms)


def wait_drawn(page, timeout_ms: int = TIMEOUT_MS) -> None:
    """Wait until every plotly chart has drawn and the page's main thread has gone quiet.

    The run state says the script finished, not that the browser has painted: plotly
    charts draw after it (their code loads on first use), so a screenshot or the next
    timed step would otherwise start while the last one is still drawing.
    """
    page.wait_for_function("""() => [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
        .every(chart => chart.querySelector('.main-svg'))""", timeout=timeout_ms)
    page.evaluate("() => { window.__kitQuiet = false; requestIdleCallback(() => { window.__kitQuiet = true; }); }")
    page.wait_for_function("() => window.__kitQuiet === true", timeout=timeout_ms)


def wait_for_text(page, text: str | re.Pattern[str], timeout_ms: int = TIMEOUT_MS) -> None:
    """Wait until `text` is on the page and the run that drew it has finished."""
    page.get_by_text(text).first.wait_for(timeout=timeout_ms)
    wait_idle(page, timeout_ms)


def metric(page, label: str) -> str:
    """The value shown by the first metric whose box contains `label`."""
    box = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return box.locator('[data-testid="stMetricValue"]').inner_text().strip()


def wait_metric_changed(page, label: str, old: str, timeout_ms: int = TIMEOUT_MS) -> str:
    """Wait until the metric labelled `label` shows something other than `old` and the app is idle."""
    page.wait_for_function(METRIC_JS, arg=[label, old], timeout=timeout_ms)
    wait_idle(page, timeout_ms)
    return metric(page, label)


def go(page, title: str, timeout_ms: int = TIMEOUT_MS) -> None:
    """Open a page from the sidebar navigation and wait until its run has finished."""
    heading = page.get_by_role("heading", name=title, exact=True).first
    if heading.count():
        raise AssertionError(f"already on {title}: the wait below could pass before the switch")
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text=title).first.click()
    heading.wait_for(timeout=timeout_ms)
    wait_idle(page, timeout_ms)


def slider_thumb(page, label: str):
    """The focusable thumb of the slider labelled `label` (arrow keys move it one step)."""
    box = page.locator('[data-testid="stSlider"]').filter(has_text=label).first
    return box.locator('input[type="range"], [role="slider"]').first


# the main area's scroller: stMain, or on a page with a chat input the container that keeps it at the bottom
MAIN_HEIGHT_JS = "() => document.querySelector('[data-testid=\"stMainBlockContainer\"]').parentElement.scrollHeight"
MAIN_WIDTH_JS = "() => document.querySelector('[data-testid=\"stMainBlockContainer\"]').parentElement.clientWidth"


def shot(page, name: str) -> Path:
    """A screenshot of the whole page once the charts have drawn.

    Streamlit's main area scrolls inside itself, so a "full page" screenshot would show
    one viewport: the viewport grows to the main area's height for the shot, then shrinks back.
    """
    size = dict(page.viewport_size)
    for _ in range(4):  # charts redraw at the new size and may change the height once more
        wait_drawn(page)
        height = page.evaluate(MAIN_HEIGHT_JS)
        if height == page.viewport_size["height"]:
            break
        page.set_viewport_size({"width": size["width"], "height": height})
    wait_drawn(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    page.set_viewport_size(size)
    return path


LAYOUT_JS = """() => {
    const cut = el => el.scrollWidth > el.clientWidth + 1;
    const visible = el => el.offsetParent !== null;
    const box = el => el.getBoundingClientRect();
    const overlap = (a, b) => a.width > 0 && b.width > 0 && a.left < b.right - 1 && b.left < a.right - 1
        && a.top < b.bottom - 1 && b.top < a.bottom - 1;
    const problems = [];
    for (const v of document.querySelectorAll('[data-testid="stMetricValue"]')) {
        if (visible(v) && [v, ...v.querySelectorAll('*')].some(cut)) problems.push('metric value cut: ' + v.innerText);
    }
    for (const b of document.querySelectorAll('button')) {
        const label = b.innerText.trim().split('\\n').pop();  // the label, not its icon's name
        if (label && visible(b) && [b, ...b.querySelectorAll('*')].some(cut)) problems.push('button cut: ' + label);
    }
    for (const chart of document.querySelectorAll('[data-testid="stPlotlyChart"]')) {
        if (!visible(chart)) continue;
        const name = (chart.querySelector('.gtitle') || {}).textContent || 'untitled chart';
        const title = chart.querySelector('.gtitle'), legend = chart.querySelector('.legend');
        const ticks = [...chart.querySelectorAll('.xaxislayer-above text')];
        if (title && legend && overlap(box(title), box(legend))) problems.push(name + ': legend over the title');
        if (legend && ticks.some(t => overlap(box(t), box(legend))))
            problems.push(name + ': legend over the x-axis labels');
        if (ticks.some((t, i) => ticks.slice(i + 1).some(u => overlap(box(t), box(u)))))
            problems.push(name + ': x-axis labels overlap each other');
    }
    return problems;
}"""
SIDEBAR_GONE_JS = """() => {
    const bar = document.querySelector('[data-testid="stSidebar"]');
    return bar.getAttribute('data-collapsed') === 'true' && bar.getBoundingClientRect().right <= 0
        && document.getAnimations().every(a => a.playState !== 'running');
}"""


def layout_problems(page) -> list[str]:
    """What a reader cannot read on the page as drawn: metric values and button labels cut
    (wider than their box), legends over a chart's title or x-axis labels, x-axis labels
    over each other."""
    return page.evaluate(LAYOUT_JS)


def sidebar_collapse_frees_room(page) -> bool:
    """Collapse the sidebar with its own button; True if the main area then grows."""
    before = page.evaluate(MAIN_WIDTH_JS)
    page.locator('[data-testid="stSidebar"]').hover()  # the collapse button shows on hover
    page.locator('[data-testid="stSidebarCollapseButton"] button').click()
    page.wait_for_function(SIDEBAR_GONE_JS)
    return page.evaluate(MAIN_WIDTH_JS) > before


def no_exception(page, name: str) -> None:
    errors = page.locator('[data-testid="stException"]')
    assert errors.count() == 0, f"{name}: " + " | ".join(errors.all_inner_texts())[:1000]
