"""Chat question parser: accuracy on the corpus halves and parse time per question.

Run: .venv/bin/python -m bench.bench_parser
"""

from __future__ import annotations

import statistics
import time

from tests.parser_corpus import DEV, HELDOUT, grade, load

REPEATS = 20


def main() -> None:
    print("| Half | Questions | Right | Honest misses | Confidently wrong | Accuracy |")
    print("|---|---:|---:|---:|---:|---:|")
    timings: list[float] = []
    misses = []
    for label, path in (("development", DEV), ("held-out", HELDOUT)):
        rows = load(path)
        graded = grade(rows)
        counts = {v: sum(1 for *_, verdict, _ in graded if verdict == v) for v in ("right", "honest", "wrong")}
        print(f"| {label} | {len(rows)} | {counts['right']} | {counts['honest']} | {counts['wrong']} | "
              f"{counts['right'] / len(rows) * 100:.1f}% |")
        misses += [(label, row["id"], row["question"], verdict, diff) for row, _, verdict, diff in graded
                   if verdict != "right"]
        for _ in range(REPEATS):
            start = time.perf_counter()
            grade(rows)
            timings.append((time.perf_counter() - start) / len(rows))
    per = sorted(timings)
    print(f"\nParse time per question (follow-ups include their previous question; {REPEATS} passes): "
          f"median {statistics.median(per) * 1e3:.2f} ms, worst pass {per[-1] * 1e3:.2f} ms")
    for label, ident, question, verdict, diff in misses:
        print(f"- {label} {ident} ({verdict}): {question!r} — {'; '.join(diff)}")


if __name__ == "__main__":
    main()
