"""The `optera` command at its edges: deploy flags honoured or refused, hostile arguments, files that are not files."""

import json
import os

import pytest

from optera.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("optera: ") and "Traceback" not in err, err
    return lines[0]


def site(capsys) -> dict:
    code, out, err = run(capsys, "status", "--json")
    assert code == 0, err
    return json.loads(out)["allocation"]


@pytest.mark.parametrize("flags, needle", [
    (["--max", "gpu_compute=2"], "at most 2 GPU inference (it runs 4)"),
    (["--lock", "gpu_compute=3"], "exactly 3 GPU inference (it runs 4)"),
    (["--power-limit", "10000"], "power limit 10 kW (it uses 20 kW)"),
    (["--min-inference-share", "0.5"], None),  # all-inference: holds, so it is sent
    (["--max-inference-share", "0.5"], "inference at most 50% of power (it has 100%)"),
    (["--min-tokens", "5000"], "at least 5,000 tokens (it makes 4,000)"),
])
def test_deploy_with_counts_honours_every_constraint_flag(capsys, flags, needle):
    before = site(capsys)
    code, out, err = run(capsys, "deploy", "gpu_compute=4", *flags, "--yes", "--json")
    if needle is None:
        assert code == 0, err
        assert site(capsys)["gpu_compute"] == 4
        return
    assert code == 2 and needle in one_line(err) and "Nothing was sent" in err
    assert site(capsys) == before


def test_a_type_named_twice_is_an_error_not_last_one_wins(capsys):
    before = site(capsys)
    code, _, err = run(capsys, "deploy", "gpu_compute=4", "gpu_compute=9", "--yes")
    assert code == 2 and "gpu_compute is given twice (4 and 9)" in one_line(err)
    code, _, err = run(capsys, "optimize", "--max", "asic_compute=3", "--max", "asic_compute=5", "--json")
    assert code == 2 and "--max: asic_compute is given twice" in one_line(err)
    assert site(capsys) == before


def test_a_no_op_deploy_sends_nothing(capsys):
    current = site(capsys)
    pairs = [f"{k}={v}" for k, v in current.items()]
    code, out, err = run(capsys, "deploy", *pairs, "--yes")
    assert code == 0 and "already runs this allocation" in out and "nothing to send" in out


@pytest.mark.parametrize("argv, needle", [
    (["deploy", "air_miners=" + "9" * 400, "--yes"], "too large"),
    (["backtest", "--start", "9999-12-31T23:59:59-01:00"], "out of the range of dates"),
    (["backtest", "--end", "0001-01-01T00:00:00+01:00"], "out of the range of dates"),
    (["optimize", "--energy-price", "1e400"], "must be a finite number"),
])
def test_hostile_arguments_are_one_line_exit_2(capsys, argv, needle):
    code, _, err = run(capsys, *argv)
    assert code == 2 and needle in one_line(err)


def test_prices_csv_that_is_not_a_readable_file(capsys, tmp_path):
    folder = tmp_path / "prices"
    folder.mkdir()
    code, _, err = run(capsys, "backtest", "--prices-csv", str(folder))
    assert code == 2 and "is a folder" in one_line(err)
    code, _, err = run(capsys, "backtest", "--prices-csv", "/dev/zero")  # would never end if read
    assert code == 2 and "not a regular file" in one_line(err)
    locked = tmp_path / "locked.csv"
    locked.write_text("timestamp,energy_price,hash_price,token_price\n")
    locked.chmod(0)
    try:
        code, _, err = run(capsys, "backtest", "--prices-csv", str(locked))
        if os.geteuid() != 0:  # root reads anything
            assert code == 2 and "permission denied" in one_line(err)
        else:
            assert code == 2 and one_line(err)
    finally:
        locked.chmod(0o600)


def test_db_path_under_a_file_or_a_read_only_folder_says_so(capsys, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("OPTERA_DB", str(blocker / "optera.db"))
    code, _, err = run(capsys, "status")
    line = one_line(err)
    assert code == 1 and "is a file, not a folder" in line and "recover" not in line
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        monkeypatch.setenv("OPTERA_DB", str(ro / "optera.db"))
        code, _, err = run(capsys, "status")
        assert code == 1 and "not writable" in one_line(err)


def test_db_check_reads_quick_check_and_points_to_recovery(capsys, tmp_path, monkeypatch):
    import sqlite3

    path = tmp_path / "damaged.db"
    monkeypatch.setenv("OPTERA_DB", str(path))
    code, _, err = run(capsys, "sync")
    assert code == 0, err
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(path.read_bytes())
    page = 4096
    for i in range(2 * page, min(len(data), 6 * page)):  # scribble over a few B-tree pages
        data[i] = 0x5A
    path.write_bytes(bytes(data))
    code, _, err = run(capsys, "db", "check")
    line = one_line(err)
    assert code == 1 and "optera db recover" in line
    code, out, err = run(capsys, "db", "recover")
    assert code == 0 and "Recovered" in out
    code, out, _ = run(capsys, "db", "check")
    assert code == 0 and "OK" in out
