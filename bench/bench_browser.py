"""Optera in headless chromium against bare Streamlit of the same shape (bench/baseline), as ratios.

A shared 2-core machine is too noisy for absolute browser times to mean much, so every
measure alternates between the two apps in one run, in one chromium, and is reported as
the median of the per-run ratios app / baseline. Waits are tests/browser_kit.py's: the
app's run state, no stale elements, and the expected content; no sleeps. The slider step
is also profiled: server CPU, browser main-thread time, websocket bytes and what was sent.

Run: .venv/bin/python -m bench.bench_browser [--runs N]    (results also in test-artifacts/bench_browser.json)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser_kit import (  # noqa: E402
    CHROMIUM,
    chromium,
    go,
    new_page,
    no_exception,
    running,
    runs,
    server_env,
    slider_thumb,
    start_sim,
    start_streamlit,
    wait_drawn,
    wait_idle,
)

OUT = ROOT / "test-artifacts" / "bench_browser.json"
QUESTION = "best allocation"
GOALS = {"first load": 1.3, "switch to Optimizer": 1.5, "slider step": 1.5, "switch to Intel": 2.0}
STEPS = ("first load", "switch to Optimizer", "slider step", "switch to Intel", "switch to Chat", "chat answer")
CHROME_METRICS = ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")
TICK = os.sysconf("SC_CLK_TCK")
PROFILE_LABELS = {
    "server_cpu_ms": "server CPU, ms (user + system, /proc)",
    "browser_TaskDuration_ms": "browser main thread busy, ms (CDP TaskDuration)",
    "browser_ScriptDuration_ms": "… running JavaScript, ms",
    "browser_RecalcStyleDuration_ms": "… recalculating styles, ms",
    "browser_LayoutDuration_ms": "… layout, ms",
    "ws_bytes": "websocket bytes received (uncompressed)",
    "ws_messages": "websocket messages",
    "elements_sent": "elements sent",
    "plotly_sent": "plotly charts sent",
    "plotly_bytes": "… their bytes",
    "cached_refs": "messages replaced by a cache reference",
    "elements": "element containers on the page after",
    "dom_nodes": "DOM nodes on the page after",
}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a server process so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


# Where each app shows the optimum's exact number: Optera's headline is rounded to three digits
# (one step may not move it), so its sentence "… for a profit of $X/period …"; the bare app's metric.
OPTIMUM_JS = {
    "app": """() => {
        const box = [...document.querySelectorAll('[data-testid="stMarkdownContainer"]')]
            .find(b => b.innerText.includes('for a profit of'));
        return box ? box.innerText : '';
    }""",
    "baseline": """() => {
        const box = [...document.querySelectorAll('[data-testid="stMetric"]')]
            .find(b => b.innerText.includes('Optimal profit'));
        const value = box && box.querySelector('[data-testid="stMetricValue"]');
        return value ? value.innerText.trim() : '';
    }""",
}


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


@dataclass
class Session:
    """One browser session on one app; every step is timed and profiled the same way."""

    name: str
    url: str
    pid: int
    page: object = None
    cdp: object = None
    frames: list | None = None
    _before: tuple = ()

    def open(self, browser) -> None:
        self.page = new_page(browser, record=True)
        self.frames = runs(self.page).frames  # websocket payloads as the page receives them
        self.cdp = self.page.context.new_cdp_session(self.page)
        self.cdp.send("Performance.enable")

    def close(self) -> None:
        self.page.context.close()

    def chrome(self) -> dict[str, float]:
        values = {m["name"]: m["value"] for m in self.cdp.send("Performance.getMetrics")["metrics"]}
        return {k: values[k] for k in CHROME_METRICS}

    def _start(self) -> None:
        """Called right before the step's input: counters first, the clock last."""
        self._before = (len(self.frames), _cpu_seconds(self.pid), self.chrome(), time.perf_counter())

    def _done(self, what: str) -> tuple[tuple[float, float], dict]:
        """((ms until idle, ms until the charts have drawn too), where the step's time went)."""
        seen, cpu, chrome, start = self._before
        idle = _ms(start)
        wait_drawn(self.page)
        drawn = _ms(start)
        after = self.chrome()
        profile = _traffic(self.frames[seen:])
        profile.update(server_cpu_ms=(_cpu_seconds(self.pid) - cpu) * 1000,
                       elements=self.page.locator('[data-testid="stElementContainer"]').count(),
                       dom_nodes=self.page.evaluate("document.getElementsByTagName('*').length"),
                       **{f"browser_{k}_ms": (after[k] - chrome[k]) * 1000 for k in CHROME_METRICS})
        no_exception(self.page, f"{self.name}: {what}")
        return (idle, drawn), profile

    # -- the measured steps ---------------------------------------------------------------
    def first_load(self):
        """A fresh session opens the app, until the first metric is shown and the app is idle."""
        self._start()
        self.page.goto(self.url, wait_until="commit")
        self.page.locator('[data-testid="stMetricValue"]').first.wait_for()
        wait_idle(self.page)
        return self._done("first load")

    def switch(self, title: str):
        self._start()
        go(self.page, title, timeout_ms=60_000)
        return self._done(title)

    def slider_step(self):
        """One ArrowRight on the energy slider until the optimum's number changed and the app is idle."""
        thumb = slider_thumb(self.page, "Energy price")
        thumb.focus()
        shown = OPTIMUM_JS[self.name]
        self.page.wait_for_function(f"() => ({shown})() !== ''")
        old = self.page.evaluate(shown)
        self._start()
        thumb.press("ArrowRight")
        self.page.wait_for_function(f"(old) => {{ const now = ({shown})(); return now !== '' && now !== old; }}",
                                    arg=old)
        wait_idle(self.page)
        return self._done("slider step")

    def js_profile(self) -> dict[str, float]:
        """Main-thread JavaScript self time of one slider step, ms by script file (CDP sampling profiler)."""
        self.cdp.send("Profiler.enable")
        self.cdp.send("Profiler.start")
        self.slider_step()
        profile = self.cdp.send("Profiler.stop")["profile"]
        names = {n["id"]: (n["callFrame"]["url"].rsplit("/", 1)[-1] or n["callFrame"]["functionName"] or "(anonymous)")
                 for n in profile["nodes"]}
        spent = Counter()
        for node, delta in zip(profile["samples"], profile["timeDeltas"][1:] + [0]):
            spent[names[node]] += delta / 1000
        spent.pop("(idle)", None)
        return {name: round(ms, 1) for name, ms in spent.items()}

    def chat_answer(self):
        """A question typed and sent with Enter, until the answer is shown and the app is idle."""
        messages = self.page.locator('[data-testid="stChatMessage"]')
        clear = self.page.get_by_role("button", name="Clear history")
        if clear.count() and clear.is_enabled():  # Optera keeps the chat in its DB across sessions
            clear.click()
            self.page.wait_for_function("() => !document.querySelector('[data-testid=\"stChatMessage\"]')")
            wait_idle(self.page)
        box = self.page.locator('[data-testid="stChatInput"] textarea')
        box.fill(QUESTION)
        self._start()
        box.press("Enter")
        self.page.wait_for_function("""() => {
            const m = document.querySelectorAll('[data-testid="stChatMessage"]');
            return m.length >= 2 && m[m.length - 1].innerText.trim().length > 0;
        }""")
        wait_idle(self.page)
        result = self._done("chat answer")
        assert messages.count() == 2, f"{self.name}: {messages.count()} chat messages"
        return result

    def step(self, name: str) -> tuple[tuple[float, float], dict]:
        if name == "first load":
            return self.first_load()
        if name == "slider step":
            return self.slider_step()
        if name == "chat answer":
            return self.chat_answer()
        return self.switch(name.removeprefix("switch to "))


def _traffic(frames: list) -> dict:
    """What one rerun sent over the websocket: bytes, messages, elements by type, plotly charts."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    kinds, sizes = Counter(), Counter()
    refs = 0
    for payload in frames:
        msg = ForwardMsg.FromString(payload)
        kind = msg.WhichOneof("type")
        if kind == "ref_hash":
            refs += 1
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            element = msg.delta.new_element.WhichOneof("type")
            kinds[element] += 1
            sizes[element] += len(payload)
    return {"ws_bytes": sum(map(len, frames)), "ws_messages": len(frames),
            "cached_refs": refs, "plotly_sent": kinds["plotly_chart"], "plotly_bytes": sizes["plotly_chart"],
            "elements_sent": sum(kinds.values()),
            "largest_elements": dict(sorted(sizes.items(), key=lambda kv: -kv[1])[:5])}


def _warm_up(browser, session: Session) -> dict:
    """One untimed pass over every step on the fresh server; returns that server's first load."""
    session.open(browser)
    try:
        fresh = dict(zip(("idle", "drawn"), session.first_load()[0]))
        for step in STEPS[1:]:
            session.step(step)
        return fresh
    finally:
        session.close()


def _servers(stack: ExitStack, tmp: Path) -> list[Session]:
    """`optera sim`, Optera against it, and the baseline, each with its own DB; stopped when `stack` closes."""
    for name in ("app", "baseline"):
        (tmp / name).mkdir()
    sim, sim_url = start_sim(tmp)
    stack.enter_context(running(sim))
    app, app_url = start_streamlit("app.py", server_env(tmp / "app", sim_url), tmp / "app.log")
    stack.enter_context(running(app))
    base, base_url = start_streamlit("bench/baseline/app.py", server_env(tmp / "baseline"), tmp / "baseline.log")
    stack.enter_context(running(base))
    return [Session("app", app_url, app.pid), Session("baseline", base_url, base.pid)]


def measure(runs: int) -> dict:
    results = {s: {"app": [], "baseline": []} for s in STEPS}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        sessions = _servers(stack, Path(tmp))
        browser = stack.enter_context(chromium())
        warm = {s.name: _warm_up(browser, s) for s in sessions}
        for run in range(runs):
            order = sessions if run % 2 == 0 else sessions[::-1]  # who goes first alternates too
            for s in order:
                s.open(browser)
            try:
                for step in STEPS:
                    for s in order:
                        took, profile = s.step(step)
                        if step == "slider step":  # and one more, untimed, under the JavaScript profiler
                            profile["js"] = s.js_profile()
                        results[step][s.name].append((took, profile))
            finally:
                for s in order:
                    s.close()
    return {"runs": runs, "fresh_server_first_load_ms": warm,
            "measures": {step: _summary(step, r) for step, r in results.items()}}


def _summary(step: str, results: dict) -> dict:
    """Medians and ratios of the times, and the median profile, of one measure."""
    out = {"goal": GOALS.get(step)}
    for i, until in enumerate(("idle", "drawn")):
        app, base = ([took[i] for took, _ in results[k]] for k in ("app", "baseline"))
        ratios = [a / b for a, b in zip(app, base)]
        out[until] = {"app_ms": statistics.median(app), "baseline_ms": statistics.median(base),
                      "ratio": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
                      "app_runs_ms": app, "baseline_runs_ms": base}
    out["profile"] = {k: _median_profile([p for _, p in results[k]]) for k in ("app", "baseline")}
    return out


def _median_profile(profiles: list[dict]) -> dict:
    """Medians over the runs (JavaScript time per script file too, 0 where a run had none)."""
    out: dict = {k: statistics.median(p[k] for p in profiles) for k in PROFILE_LABELS}
    out["largest_elements"] = profiles[-1]["largest_elements"]
    if "js" in profiles[0]:
        files = Counter()
        for p in profiles:
            files.update(p["js"])
        out["js_ms"] = {f: statistics.median(p["js"].get(f, 0.0) for p in profiles) for f, _ in files.most_common(8)}
    return out


def report(data: dict) -> None:
    measures = data["measures"]
    print(f"Medians of {data['runs']} alternating runs, ms. Ratio = median of the per-run ratios Optera / bare "
          "Streamlit (range in brackets). Idle: run state notRunning, nothing stale, the expected content shown. "
          "Drawn: also every plotly chart drawn and the main thread quiet.\n")
    print("| measure | Optera, idle | bare, idle | ratio, idle | goal | Optera, drawn | bare, drawn | ratio, drawn |")
    print("|---|---:|---:|---|---|---:|---:|---|")
    for step, m in measures.items():
        idle, drawn = m["idle"], m["drawn"]
        goal = f"≤ {m['goal']}× ({'met' if idle['ratio'] <= m['goal'] else 'not met'})" if m["goal"] else ""
        print(f"| {step} | {idle['app_ms']:,.0f} | {idle['baseline_ms']:,.0f} | {_ratio(idle)} | {goal} | "
              f"{drawn['app_ms']:,.0f} | {drawn['baseline_ms']:,.0f} | {_ratio(drawn)} |")
    app, base = data["fresh_server_first_load_ms"]["app"], data["fresh_server_first_load_ms"]["baseline"]
    print(f"| first load of a fresh server (1 sample) | {app['idle']:,.0f} | {base['idle']:,.0f} | "
          f"{app['idle'] / base['idle']:.2f} | | {app['drawn']:,.0f} | {base['drawn']:,.0f} | "
          f"{app['drawn'] / base['drawn']:.2f} |")

    print("\nWhere the time goes (medians; Optera / bare Streamlit):\n")
    print("| measure | server CPU ms | browser main thread ms | … of it JavaScript ms | KB received | elements sent "
          "| plotly charts sent |")
    print("|---|---|---|---|---|---|---|")
    for step, m in measures.items():
        a, b = m["profile"]["app"], m["profile"]["baseline"]
        cells = [f"{a[k] / d:,.0f} / {b[k] / d:,.0f}" for k, d in (
            ("server_cpu_ms", 1), ("browser_TaskDuration_ms", 1), ("browser_ScriptDuration_ms", 1),
            ("ws_bytes", 1000), ("elements_sent", 1), ("plotly_sent", 1))]
        print(f"| {step} | " + " | ".join(cells) + " |")

    app, base = measures["slider step"]["profile"]["app"], measures["slider step"]["profile"]["baseline"]
    print("\nOne slider step in detail (medians):\n")
    print("| | Optera | bare Streamlit |")
    print("|---|---:|---:|")
    for key, label in PROFILE_LABELS.items():
        print(f"| {label} | {app[key]:,.0f} | {base[key]:,.0f} |")
    print(f"| largest elements sent (bytes, last run) | {_sizes(app)} | {_sizes(base)} |")
    print("\nJavaScript self time in one slider step by script file (CDP sampling profiler, an extra step per "
          "run, medians, ms):\n")
    for name, profile in (("Optera", app), ("bare Streamlit", base)):
        spent = sorted(profile["js_ms"].items(), key=lambda kv: -kv[1])
        print(f"- {name}: " + ", ".join(f"{k} {v:,.0f}" for k, v in spent))


def _ratio(m: dict) -> str:
    return f"{m['ratio']:.2f} ({m['ratio_min']:.2f}–{m['ratio_max']:.2f})"


def _sizes(profile: dict) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in profile["largest_elements"].items())


def main(runs: int = 5) -> None:
    if not os.path.exists(CHROMIUM):
        print(f"skipped: {CHROMIUM} is not installed (apt install chromium)")
        return
    data = measure(runs)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(data, indent=1))
    report(data)
    print(f"\n(written to {OUT.relative_to(ROOT)})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    main(parser.parse_args().runs)
