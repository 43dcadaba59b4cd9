"""One real-browser pass: `streamlit run app.py` against `optera sim`, driven by headless chromium.

It covers what AppTest cannot: the real frontend, websockets, dialogs and
keyboard input. Screenshots of every page go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from optera.models import MACHINE_TYPES

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "test-artifacts" / "screenshots"
DEMO_KEY = "optera-demo-key"
CHROME_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed (apt install chromium)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, seconds: float = 45) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {seconds} s")


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _env(tmp_path: Path, sim_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MARA_", "OPENAI_", "OPTERA_"))}
    env.update(
        OPTERA_DB=str(tmp_path / "browser.db"), OPTERA_SIM_STATE=str(tmp_path / "app_sim.json"),
        MARA_API_URL=sim_url, MARA_API_KEY=DEMO_KEY,
        # no internet: anything not on 127.0.0.1 fails at once (yfinance falls back to shipped data)
        HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9", ALL_PROXY="http://127.0.0.1:9",
        http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9", all_proxy="http://127.0.0.1:9",
        NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
    )
    return env


def _no_exception(page, name: str) -> None:
    errors = page.locator('[data-testid="stException"]')
    assert errors.count() == 0, f"{name}: " + " | ".join(errors.all_inner_texts())[:1000]


def _wait_idle(page, timeout_ms: int = 30_000) -> None:
    """Wait until the script run finished (the 'Running…' status widget is gone)."""
    page.wait_for_timeout(300)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.match(/Running|Stop/)",
        timeout=timeout_ms)


def _metric(page, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return box.locator('[data-testid="stMetricValue"]').inner_text().strip()


def _go(page, title: str) -> None:
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text=title).first.click()
    page.get_by_role("heading", name=title).first.wait_for(timeout=30_000)
    _wait_idle(page)


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_every_page_slider_deploy_and_chat_in_chromium(tmp_path):
    from playwright.sync_api import sync_playwright

    sim_port, app_port = _free_port(), _free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    app_url = f"http://127.0.0.1:{app_port}"
    env = _env(tmp_path, sim_url)
    sim = app = None
    try:
        sim = subprocess.Popen([str(BIN / "optera"), "sim", "--port", str(sim_port), "--state",
                                str(tmp_path / "sim.json")], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        app = subprocess.Popen([str(BIN / "streamlit"), "run", "app.py", "--server.headless", "true",
                                "--server.port", str(app_port), "--server.address", "127.0.0.1"],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _wait_http(sim_url + "/prices", sim)
        _wait_http(app_url + "/_stcore/health", app)
        before = httpx.get(sim_url + "/machines", headers={"X-Api-Key": DEMO_KEY}, timeout=5).json()

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROME_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(30_000)
                page.goto(app_url)
                page.get_by_role("heading", name="Overview").first.wait_for()
                page.locator('[data-testid="stMetric"]').filter(has_text="Energy price").first.wait_for()
                _wait_idle(page)
                _no_exception(page, "overview")
                assert re.fullmatch(r"\d+\.\d{4}", _metric(page, "Energy price"))
                assert "MARA-compatible API at " + sim_url in page.locator('[data-testid="stSidebar"]').inner_text()
                _shot(page, "overview")

                # Optimizer: a slider moved from the keyboard changes the optimum
                _go(page, "Optimizer")
                _no_exception(page, "optimizer")
                first = _metric(page, "Optimal profit per period")
                thumb = page.locator('[data-testid="stSlider"]').filter(has_text="Energy price") \
                    .first.locator('input[type="range"], [role="slider"]').first
                thumb.focus()
                for _ in range(5):
                    thumb.press("ArrowRight")
                page.wait_for_function(
                    """(old) => {
                        const box = [...document.querySelectorAll('[data-testid="stMetric"]')]
                            .find(b => b.innerText.includes('Optimal profit per period'));
                        const v = box && box.querySelector('[data-testid="stMetricValue"]');
                        return v && v.innerText.trim() !== old;
                    }""", arg=first, timeout=20_000)
                _wait_idle(page)
                _no_exception(page, "optimizer after slider")
                assert _metric(page, "Optimal profit per period") != first
                _shot(page, "optimizer")

                # deploy through the confirmation dialog
                page.get_by_role("button", name=re.compile("Deploy the optimal allocation")).click()
                dialog = page.get_by_role("dialog")
                dialog.wait_for()
                assert "Send this allocation to" in dialog.inner_text()
                _shot(page, "optimizer_dialog")
                dialog.get_by_role("button", name="Deploy", exact=True).click()
                page.get_by_text(re.compile("Deployed and verified")).first.wait_for(timeout=30_000)
                _wait_idle(page)
                _no_exception(page, "optimizer after deploy")

                # Intel
                _go(page, "Intel")
                page.locator('[data-testid="stMetric"]').first.wait_for()
                _wait_idle(page, 60_000)
                _no_exception(page, "intel")
                _shot(page, "intel")

                # Chat: the built-in analyst answers
                _go(page, "Chat")
                _no_exception(page, "chat")
                box = page.locator('[data-testid="stChatInput"] textarea')
                box.fill("best allocation")
                box.press("Enter")
                page.wait_for_function(
                    "() => document.querySelectorAll('[data-testid=\"stChatMessage\"]').length >= 2",
                    timeout=30_000)
                _wait_idle(page)
                _no_exception(page, "chat after question")
                messages = page.locator('[data-testid="stChatMessage"]')
                answer = messages.nth(1).inner_text()
                assert "best allocation" in messages.nth(0).inner_text()
                assert len(answer.strip()) > 20 and re.search(r"\d", answer), answer
                _shot(page, "chat")
            finally:
                browser.close()

        # the deploy really reached the site, and the app recorded it
        from optera.store import Store

        store = Store(tmp_path / "browser.db")
        deployed = store.deployments()[0]
        assert deployed["result"] == "ok" and deployed["source"] == "app"
        site = httpx.get(sim_url + "/machines", headers={"X-Api-Key": DEMO_KEY}, timeout=5).json()
        assert {n: site[n] for n in MACHINE_TYPES} == deployed["requested"]
        assert {n: site[n] for n in MACHINE_TYPES} != {n: before.get(n, 0) for n in MACHINE_TYPES}
        assert store.latest_snapshot()[0].allocation.to_dict() == deployed["requested"]
    finally:
        _stop(app)
        _stop(sim)


def test_deep_link_to_a_page_keeps_sidebar_and_data(tmp_path):
    """A bookmark or a browser reload on /optimizer must show the same app as navigating there."""
    from playwright.sync_api import sync_playwright

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = _env(tmp_path, "")
    env.pop("MARA_API_URL")
    env.pop("MARA_API_KEY")
    app = None
    try:
        app = subprocess.Popen([str(BIN / "streamlit"), "run", "app.py", "--server.headless", "true",
                                "--server.port", str(port), "--server.address", "127.0.0.1"],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_http(url + "/_stcore/health", app)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROME_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(30_000)
                page.goto(url + "/optimizer")
                page.get_by_role("heading", name="Optimizer").first.wait_for()
                _wait_idle(page)
                _shot(page, "optimizer_deep_link")
                sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
                assert "Data source" in sidebar, sidebar
                links = [t.strip() for t in page.locator('[data-testid="stSidebarNav"] a').all_inner_texts()]
                assert [re.sub(r"^\w+\n", "", t).strip() for t in links] == ["Overview", "Optimizer", "Intel", "Chat"], \
                    links
                page.locator('[data-testid="stMetric"]').filter(has_text="Optimal profit per period").first \
                    .wait_for(timeout=20_000)
            finally:
                browser.close()
    finally:
        _stop(app)
