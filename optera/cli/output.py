"""What the `optera` command prints: strict JSON, and tables in the project's words."""

from __future__ import annotations

import json
import math
import sys
from datetime import datetime
from typing import Any, Mapping

from ..redaction import redact
from ..units import power
from ..vocabulary import LABELS, MACHINE_TYPES


def strict(value: Any) -> Any:
    """Plain JSON values: non-finite floats become null, datetimes ISO strings."""
    if isinstance(value, Mapping):
        return {str(k): strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return strict(value.item())  # numpy scalars
    return value


def print_json(data: Any) -> None:
    """One line of strict JSON (no NaN, no Infinity), keys masked."""
    print(redact(json.dumps(strict(data), allow_nan=False)))


def warn(message: str) -> None:
    print(f"optera: warning: {redact(message)}", file=sys.stderr)


def allocation_table(counts: Mapping[str, int], watts: Mapping[str, float] | None = None) -> list[str]:
    width = max(len(v) for v in LABELS.values())
    lines = []
    for name in MACHINE_TYPES:
        line = f"  {LABELS[name]:<{width}} {counts[name]:>8,}"
        if watts is not None:
            line += f"  {power(watts[name]):>10}"
        lines.append(line)
    return lines


def diff_table(rows: list[dict]) -> list[str]:
    width = max(len(v) for v in LABELS.values())
    lines = []
    for r in rows:
        mark = "" if r["change"] == 0 else f"  ({r['change']:+,d})"
        lines.append(f"  {LABELS[r['type']]:<{width}} {r['current']:>8,} -> {r['target']:>8,}{mark}")
    return lines
