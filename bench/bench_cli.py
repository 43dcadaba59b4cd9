"""How fast the `optera` command starts, against `python -c "import scipy.optimize"` on the same machine.

Whole processes, as a user runs them, alternating command by command (and who goes first,
round by round) so a busy machine slows all alike; medians, and the median of the per-round
ratios to the import. Goals (issue 13): `optera optimize` with explicit prices within 1.3x of
the import, `optera --help` under half of it. The optimize runs twice: without a database
(nothing to read) and with a synced one (it reads the site's machine specs from it).

Run: .venv/bin/python -m bench.bench_cli [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
OPTIMIZE = ["optimize", "--energy-price", "0.65", "--hash-price", "2.1", "--token-price", "3.4",
            "--power-limit", "1000000", "--json"]
GOALS = {"optera --help": 0.5, "optera optimize … --json (no database)": 1.3,
         "optera optimize … --json (synced database)": 1.3}


def _env(folder: Path) -> dict[str, str]:
    """Offline (the embedded simulator), with its own database; no user settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MARA_", "OPENAI_", "OPTERA_"))}
    env.update(OPTERA_DB=str(folder / "optera.db"), OPTERA_SIM_STATE=str(folder / "sim.json"))
    return env


def _run(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited with {done.returncode}: {done.stderr.decode()[-500:]}")
    return took


def measure(rounds: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        empty, synced = Path(tmp, "empty"), Path(tmp, "synced")
        empty.mkdir()
        synced.mkdir()
        _run([str(BIN / "optera"), "sync"], _env(synced))
        commands = {
            "python -c \"import scipy.optimize\"": ([str(BIN / "python"), "-c", "import scipy.optimize"], _env(empty)),
            "optera --help": ([str(BIN / "optera"), "--help"], _env(empty)),
            "optera optimize … --json (no database)": ([str(BIN / "optera"), *OPTIMIZE], _env(empty)),
            "optera optimize … --json (synced database)": ([str(BIN / "optera"), *OPTIMIZE], _env(synced)),
        }
        for argv, env in commands.values():  # warm the file cache once
            _run(argv, env)
        times: dict[str, list[float]] = {name: [] for name in commands}
        names = list(commands)
        for r in range(rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:
                times[name].append(_run(*commands[name]))
        return times


def report(times: dict[str, list[float]]) -> None:
    base_name = next(iter(times))
    base = times[base_name]
    print(f"Medians of {len(base)} alternating rounds, whole process, seconds; ratio = median of the per-round "
          f"ratios to `{base_name.split(' ', 1)[1]}`.\n")
    print("| command | median s | min s | ratio to the import | goal |")
    print("|---|---:|---:|---|---|")
    for name, values in times.items():
        ratios = [v / b for v, b in zip(values, base)]
        goal = GOALS.get(name)
        verdict = f"≤ {goal}× ({'met' if statistics.median(ratios) <= goal else 'not met'})" if goal else ""
        print(f"| `{name}` | {statistics.median(values):.3f} | {min(values):.3f} | "
              f"{statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f}) | {verdict} |")


def main(rounds: int = 11) -> None:
    report(measure(rounds))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    main(parser.parse_args().rounds)
