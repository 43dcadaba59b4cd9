"""Every page driven through streamlit.testing (AppTest), on the embedded simulator."""

import re
from datetime import timedelta

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from optera.config import load_settings
from optera.optimize import solve
from optera.service import Service
from optera.store import Store
from optera.units import Money

TIMEOUT = 60


@pytest.fixture(autouse=True)
def _fresh_caches():
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


def app(page: str | None = None) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metric(at, label):
    for m in at.metric:
        if m.label == label:
            return m
    raise AssertionError(f"no metric {label!r}: {[m.label for m in at.metric]}")


def text_of(at) -> str:
    """Every text on the page, with Markdown escapes of outside text undone."""
    parts = []
    for kind in ("markdown", "caption", "error", "warning", "info", "success"):
        parts += [getattr(e, "value", "") or "" for e in getattr(at, kind)]
    return re.sub(r"\\(.)", r"\1", "\n".join(map(str, parts)))


def test_overview_shows_latest_prices_and_site():
    at = app()
    store = Store(load_settings().db_path)
    now, prev = store.latest_prices(2)
    assert metric(at, "Energy price").value == f"{now.energy_price:.4f}"
    assert metric(at, "Hash price").value == f"{now.hash_price:.4f}"
    assert metric(at, "Token price").value == f"{now.token_price:.4f}"
    assert metric(at, "Energy price").delta == f"{now.energy_price - prev.energy_price:+.4f}"
    assert "Embedded simulator" in text_of(at.sidebar) or "Embedded simulator" in text_of(at)
    assert metric(at, "Power used").value.endswith("kW")
    assert not at.get("plotly_chart")  # the history opens on its summary table; charts come with their tabs
    stats = next(t.value for t in at.table if "Price (per period)" in t.value.columns)
    assert stats.set_index("Price (per period)").loc["Energy price", "Last"] == f"{now.energy_price:,.4f}"


def test_overview_history_charts_come_with_their_tabs():
    at = app()
    tabs = {t.label: t for t in at.tabs}
    assert list(tabs)[:4] == ["Summary", "Price chart", "Economics chart", "Realized profit per day"]
    drawn = {}
    for label in ("Price chart", "Economics chart", "Realized profit per day"):
        at.session_state["overview.history_tab"] = label
        at.run()
        assert not at.exception
        drawn[label] = len(at.get("plotly_chart"))
    assert drawn == {"Price chart": 1, "Economics chart": 1, "Realized profit per day": 1}  # one chart at a time


def test_overview_range_selector_changes_window():
    at = app()
    before = [c for c in at.caption if "price points in range" in c.value][0].value
    at.segmented_control[0].set_value("24 h").run()
    after = [c for c in at.caption if "price points in range" in c.value][0].value
    assert not at.exception
    assert before != after and after.startswith("288 ")


def test_overview_failing_source_keeps_cached_data(monkeypatch, retry_waits):
    at = app()
    shown = metric(at, "Energy price").value
    monkeypatch.setenv("MARA_API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("MARA_API_KEY", "do-not-show-me")
    st.cache_resource.clear()
    at.sidebar.button(key="refresh_now").click().run()
    assert not at.exception
    assert any("The data source failed" in e.value for e in at.error)
    assert metric(at, "Energy price").value == shown
    assert "do-not-show-me" not in text_of(at) + text_of(at.sidebar)


def slider(at, name):
    return at.slider(key=f"whatif.{name}.slider")


def box(at, name):
    return at.number_input(key=f"whatif.{name}.box")


def test_optimizer_slider_moves_result():
    at = app("views/optimizer.py")
    first = metric(at, "Optimal profit").help
    slider(at, "energy_price").set_value(0.0).run()
    assert not at.exception
    assert metric(at, "Optimal profit").help != first
    # at zero energy cost everything that earns runs: the power limit binds
    assert "Binding: power limit" in text_of(at)
    assert "Answering at **what-if** values: energy **0.0000**" in text_of(at)


def test_optimizer_table_matches_hand_calculation():
    at = app("views/optimizer.py")
    slider(at, "energy_price").set_value(0.5).run()
    slider(at, "hash_price").set_value(2.0).run()
    box(at, "token_price").set_value(1.0).run()
    table = next(t.value for t in at.table if "Optimal" in t.value.columns)
    from optera.models import DEFAULT_INVENTORY, MACHINE_TYPES
    profit = 0.0
    for name, shown in zip(MACHINE_TYPES, table["Optimal"], strict=True):
        units = int(shown.replace(",", ""))
        s = DEFAULT_INVENTORY[name]
        profit += units * (s.hashrate * 2.0 + s.tokens * 1.0 - s.power * 0.5)
    assert metric(at, "Optimal profit").help.startswith(Money().period(profit) + ";")


def test_a_typed_price_beyond_the_slider_is_kept_exactly():
    at = app("views/optimizer.py")
    top = slider(at, "energy_price").max
    box(at, "energy_price").set_value(top * 3 + 0.1234).run()
    assert not at.exception
    assert box(at, "energy_price").value == pytest.approx(top * 3 + 0.1234)
    assert slider(at, "energy_price").value == pytest.approx(top)  # the slider shows its end
    assert "beyond the slider's end" in text_of(at)


def test_what_if_holds_through_a_new_price_point_and_reset_follows_live_again():
    at = app("views/optimizer.py")
    store = Store(load_settings().db_path)
    latest = store.latest_prices(1)[0]
    limits = (slider(at, "energy_price").min, slider(at, "energy_price").max)
    chosen = round(limits[1] * 0.9, 2)  # 90% of the range: the value that once snapped to 0
    slider(at, "energy_price").set_value(chosen).run()
    # a new price point arrives (what a sync every 5 minutes does)
    store.upsert_prices([latest.with_overrides(energy=latest.energy_price * 1.5, hash_=latest.hash_price * 1.1)
                         .__class__(latest.timestamp + timedelta(minutes=5), latest.energy_price * 1.5,
                                    latest.hash_price * 1.1, latest.token_price)])
    at.run()
    assert not at.exception
    assert slider(at, "energy_price").value == pytest.approx(chosen)
    assert (slider(at, "energy_price").min, slider(at, "energy_price").max) == limits  # the range never moves
    # the untouched hash price follows the live value; the page says which is which
    assert box(at, "hash_price").value == pytest.approx(latest.hash_price * 1.1)
    assert f"energy **{chosen:.4f}** (live {latest.energy_price * 1.5:.4f})" in text_of(at)
    [b for b in at.button if b.label == "Reset to latest"][0].click().run()
    assert box(at, "energy_price").value == pytest.approx(latest.energy_price * 1.5)
    assert "Answering at **live** values" in text_of(at)


def test_optimizer_impossible_constraints_message():
    at = app("views/optimizer.py")
    at.number_input(key="locks.asic_compute").set_value(500).run()
    assert not at.exception
    assert any("No allocation satisfies" in e.value for e in at.error)


def test_optimum_below_what_runs_says_which_cap_the_site_breaks():
    at = app("views/optimizer.py")  # the demo site runs 20 ASIC inference
    for name, value in (("energy_price", 0.5), ("hash_price", 0.5), ("token_price", 2.0)):  # ASIC pays most
        box(at, name).set_value(value).run()
    at.number_input(key="caps.asic_compute").set_value(10).run()
    assert not at.exception
    warning = " ".join(w.value for w in at.warning)
    assert "less** than what runs now" in warning
    assert "breaks at most 10 ASIC inference (it runs 20)" in warning
    # the cap is saved and shapes the other pages, which say so and can clear it
    assert Service(load_settings()).caps() == {"asic_compute": 10}
    at.switch_page("views/overview.py").run()
    assert "Your caps apply to the optimum on this page: at most 10 ASIC inference" in text_of(at)
    [b for b in at.button if b.label == "Clear caps"][0].click().run()
    assert not at.exception
    assert Service(load_settings()).caps() == {}


def test_no_deploy_is_offered_when_the_site_already_runs_the_optimum():
    at = app("views/optimizer.py")
    svc = Service(load_settings())
    best = solve(svc.latest_prices(), svc.power_limit(), None, None, svc.inventory()).allocation
    result = svc.deploy(best, expected_current=svc.current_allocation(), source="test")
    assert result.ok, result.message
    at.run()
    assert "The site already runs this optimum" in text_of(at)
    assert not [b for b in at.button if b.label.startswith("Deploy the optimal")]


def test_optimizer_manual_editor_validates_and_repairs():
    at = app("views/optimizer.py")
    at.number_input(key="manual.asic_compute").set_value(100).run()
    assert any("exceeds" in w.value for w in at.warning)
    [b for b in at.button if b.label == "Repair"][0].click().run()
    assert not at.exception
    assert not any("exceeds" in w.value for w in at.warning)
    assert at.number_input(key="manual.asic_compute").value <= 66


def test_widget_values_survive_page_switch():
    at = app("views/optimizer.py")
    slider(at, "energy_price").set_value(1.23).run()
    at.number_input(key="locks.gpu_compute").set_value(3).run()
    at.switch_page("views/overview.py").run()
    at.switch_page("views/optimizer.py").run()
    assert slider(at, "energy_price").value == pytest.approx(1.23)
    assert at.number_input(key="locks.gpu_compute").value == 3


def test_chat_answers_and_history_survives_rerun():
    at = app("views/chat.py")
    at.chat_input[0].set_value("what is the best allocation?").run()
    assert not at.exception
    assert len(at.chat_message) >= 2
    assert at.chat_message[0].name == "user"
    at.run()
    assert len(at.chat_message) >= 2
    [b for b in at.button if b.label == "Clear history"][0].click().run()
    assert len(at.chat_message) == 0


def test_intel_page_renders():
    at = app("views/intel.py")
    assert not at.exception
    assert not at.get("plotly_chart")  # the page opens on tables; each chart comes with its tab
    assert "Hydro miners and immersion miners earn exactly the same per kW" in text_of(at)
    ahead = next(t.value for t in at.table if "Forecast" in t.value.columns).set_index("Price (per period)")
    assert list(ahead.index) == ["Energy price", "Hash price", "Token price"]
    latest = Store(load_settings().db_path).latest_prices(1)[0]
    assert ahead.loc["Energy price", "Last"] == f"{latest.energy_price:,.4f}"
    ahead = ahead.map(lambda text: float(text.replace(",", "")))
    assert (ahead["Low (90%)"] <= ahead["Forecast"]).all() and (ahead["Forecast"] <= ahead["High (90%)"]).all()
    at.session_state["intel.tab"] = "Forecast charts"
    at.run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 3


def test_malformed_source_url_shows_a_banner(monkeypatch):
    monkeypatch.setenv("MARA_API_URL", "http://[::1")
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    assert "MARA_API_URL" in text_of(at) and "http:// or https:// URL" in text_of(at)


def test_optimizer_lock_above_cap_is_a_message_and_the_page_stays_usable():
    at = app("views/optimizer.py")
    at.number_input(key="caps.gpu_compute").set_value(2).run()
    at.number_input(key="locks.gpu_compute").set_value(5).run()
    assert not at.exception
    assert any("Check the constraints" in e.value and "cap" in e.value for e in at.error)
    # the manual editor and history are still there
    assert at.number_input(key="manual.gpu_compute") is not None
    assert any(s.value == "Deployment history" for s in at.subheader)


def test_forecast_preset_lands_on_the_optimizer_sliders():
    at = app("views/intel.py")
    [b for b in at.button if b.label.startswith("Use the 1-hour forecast")][0].click().run()
    assert not at.exception
    preset = at.session_state["forecast.preset"]
    assert set(preset) == {"energy_price", "hash_price", "token_price"}
    at.switch_page("views/optimizer.py").run()
    for name, value in preset.items():
        assert box(at, name).value == pytest.approx(value)
