"""The `optera` command: its JSON contract, exit codes, and one-line errors."""

import contextlib
import itertools
import json
import os
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta

import httpx
import pytest

from optera.cli import main
from optera.models import DEFAULT_INVENTORY, MACHINE_TYPES

SPECS = [DEFAULT_INVENTORY[n] for n in MACHINE_TYPES]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def brute_force(energy, hash_, token, limit):
    """Independent optimum by enumeration (small limits only)."""
    best = (0.0, (0,) * 5)
    ranges = [range(int(limit // s.power) + 1) for s in SPECS]
    for counts in itertools.product(*ranges):
        power = sum(c * s.power for c, s in zip(counts, SPECS, strict=True))
        if power > limit:
            continue
        profit = sum(c * (s.hashrate * hash_ + s.tokens * token - s.power * energy)
                     for c, s in zip(counts, SPECS, strict=True))
        if profit > best[0] + 1e-9:
            best = (profit, counts)
    return best


@pytest.mark.parametrize("prices,limit", [((0.7, 1.5, 0.85), 40_000), ((2.0, 1.0, 0.05), 35_000),
                                          ((0.1, 3.0, 0.2), 45_000), ((5.0, 0.5, 0.1), 30_000)])
def test_optimize_json_matches_brute_force(capsys, prices, limit):
    e, h, t = prices
    code, out, err = run(capsys, "optimize", "--energy-price", str(e), "--hash-price", str(h), "--token-price",
                         str(t), "--power-limit", str(limit), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert set(data["allocation"]) == set(MACHINE_TYPES)
    expected, _ = brute_force(e, h, t, limit)
    assert data["profit"] == pytest.approx(expected, rel=1e-9, abs=1e-6)
    assert data["power_used"] <= limit
    assert data["profit"] == pytest.approx(data["revenue"] - data["cost"])
    assert isinstance(data["binding"], list)


def test_optimize_without_prices_uses_latest_stored(capsys):
    code, out, err = run(capsys, "optimize", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["power_limit"] == 1_000_000
    assert data["power_used"] <= 1_000_000


def test_caps_and_locks(capsys):
    code, out, _ = run(capsys, "optimize", "--energy-price", "0.5", "--hash-price", "2", "--token-price", "1",
                       "--power-limit", "1000000", "--max", "asic_compute=10", "--lock", "gpu_compute=3", "--json")
    assert code == 0
    alloc = json.loads(out)["allocation"]
    assert alloc["asic_compute"] <= 10 and alloc["gpu_compute"] == 3


@pytest.mark.parametrize("argv,needle", [
    (["optimize", "--energy-price", "abc"], "not a number"),
    (["optimize", "--energy-price", "-1"], "negative"),
    (["optimize", "--energy-price", "nan"], "finite"),
    (["optimize", "--max", "foo=3"], "unknown machine type"),
    (["optimize", "--max", "gpu_compute=2.5"], "whole number"),
    (["optimize", "--min-inference-share", "1.5"], "between 0 and 1"),
    (["optimize", "--bogus"], "unrecognized"),
    (["optimize", "--energy-price", "1", "--hash-price", "1", "--token-price", "1", "--power-limit", "1000",
      "--lock", "asic_compute=5"], "infeasible"),
    (["backtest", "--strategy", "fixed"], "--allocation"),
    (["backtest", "--prices-csv", "/nonexistent.csv"], "no such file"),
    ([], "required"),
])
def test_bad_flags_one_line_exit_2(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and needle in err
    assert "Traceback" not in err + out


def test_status_json(capsys):
    code, out, err = run(capsys, "status", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["power_limit"] == 1_000_000 and set(data["allocation"]) == set(MACHINE_TYPES)
    assert data["profit"] == pytest.approx(data["revenue"] - data["cost"])


def test_deploy_needs_confirmation_and_yes_sends(capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", open(os.devnull))
    code, _, err = run(capsys, "deploy", "gpu_compute=4")
    assert code == 2 and "--yes" in err
    code, out, _ = run(capsys, "status", "--json")
    assert json.loads(out)["allocation"]["gpu_compute"] != 4
    code, out, err = run(capsys, "deploy", "gpu_compute=4", "hydro_miners=2", "--yes", "--json")
    assert code == 0, err
    assert json.loads(out)["readback"]["gpu_compute"] == 4
    code, out, _ = run(capsys, "status", "--json")
    assert json.loads(out)["allocation"] == {"air_miners": 0, "hydro_miners": 2, "immersion_miners": 0,
                                            "gpu_compute": 4, "asic_compute": 0}


def test_deploy_over_limit_is_refused_locally(capsys):
    code, out, err = run(capsys, "deploy", "asic_compute=100", "--yes")
    assert code == 2 and "exceeds" in err


def test_backtest_csv_json(capsys):
    csv = os.path.join(os.path.dirname(__file__), "..", "data", "mara_prices_2025-06-21.csv")
    code, out, err = run(capsys, "backtest", "--strategy", "optimal", "--prices-csv", csv, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["intervals"] == 110 and data["capture"] == pytest.approx(1.0)
    code, out, _ = run(capsys, "backtest", "--strategy", "fixed", "--allocation", "hydro_miners=5",
                       "--allocation", "immersion_miners=10", "--allocation", "gpu_compute=30",
                       "--allocation", "asic_compute=20", "--prices-csv", csv, "--json")
    fixed = json.loads(out)
    assert fixed["switches"] == 0 and fixed["profit"] < data["profit"]


def test_source_failure_is_one_line_exit_1(capsys, monkeypatch, retry_waits):
    monkeypatch.setenv("MARA_API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("MARA_API_KEY", "secret-key-123")
    code, out, err = run(capsys, "sync")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "secret-key-123" not in out + err


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving_sim(tmp_path, *flags, env=None):
    """`optera sim` on a free port; yields its URL once /prices answers."""
    port = _free_port()
    exe = os.path.join(os.path.dirname(sys.executable), "optera")
    proc = subprocess.Popen([exe, "sim", "--port", str(port), "--state", str(tmp_path / "s.json"), *flags],
                            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(url + "/prices", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(5)


def test_sim_command_serves_over_http(tmp_path):
    with serving_sim(tmp_path) as url:
        r = httpx.get(url + "/prices", timeout=5)
        assert r.status_code == 200 and len(r.json()) > 100
        assert r.json()[0]["timestamp"] > r.json()[1]["timestamp"]  # newest first


def test_sim_clock_file_moves_the_served_prices_from_another_process(tmp_path):
    """What the browser journeys rely on: rewriting the file gives the running sim a new price point."""
    from optera.clock import FileClock

    clock = FileClock(tmp_path / "clock")
    clock.set(datetime(2025, 7, 1, 12, 0))
    with serving_sim(tmp_path, "--clock-file", str(clock.path), env={"OPTERA_HISTORY_DAYS": "1"}) as url:
        before = httpx.get(url + "/prices", timeout=5).json()
        assert before[0]["timestamp"] == "2025-07-01T12:00:00" and len(before) == 289
        clock.advance(timedelta(minutes=5))
        after = httpx.get(url + "/prices", timeout=5).json()
        assert after[0]["timestamp"] == "2025-07-01T12:05:00"
        assert after[1:] == before[:-1]  # one new point on top; the one-day window slides by one


def test_sim_refuses_a_clock_file_that_is_not_a_timestamp(capsys, tmp_path):
    (tmp_path / "clock").write_text("soon")
    code, _, err = run(capsys, "sim", "--port", str(_free_port()), "--clock-file", str(tmp_path / "clock"))
    assert code == 2 and "ISO timestamp" in err and len(err.strip().splitlines()) == 1


def test_malformed_source_url_is_a_message_not_a_traceback(capsys, monkeypatch):
    monkeypatch.setenv("MARA_API_URL", "http://[::1")
    code, out, err = run(capsys, "status")
    assert code == 2 and "MARA_API_URL" in err and "http:// or https:// URL" in err
    assert len(err.strip().splitlines()) == 1
