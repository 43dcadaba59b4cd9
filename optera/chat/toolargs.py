"""What every chat tool shares: argument checks, JSON-ready results, the schema helper.

A tool's caller may be a language model that corrects itself, so a bad argument is an
error result (``{"error": ...}``) naming the argument, never an exception; the
:func:`tool` decorator makes it so. Numbers go through :func:`optera.numbers.check`,
times through :func:`optera.models.parse_timestamp`.
"""

from __future__ import annotations

import functools
import math
from datetime import datetime
from typing import Any, Callable, Mapping

import numpy as np

from ..errors import OpteraError, ToolError
from ..models import Allocation, format_timestamp, parse_timestamp
from ..numbers import check
from ..vocabulary import MACHINE_TYPES

MAX_HOURS = 24 * 366
EARLIEST = datetime(2000, 1, 1)
LATEST = datetime(2200, 1, 1)


def jsonable(value: Any) -> Any:
    """Plain JSON types only (numpy scalars, datetimes, NaN -> None)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, Allocation):
        return value.to_dict()
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def num(name: str, value: Any, *, positive: bool = False, maximum: float | None = None) -> float | None:
    """A number argument (numeric text too, as a model may send "1,200"); None stays None."""
    if isinstance(value, str):
        value = value.replace("$", "")
    kw = {} if maximum is None else {"maximum": maximum}
    return check(name, value, positive=positive, allow_none=True, text=True, **kw)


def hours(value: Any) -> float | None:
    return num("hours", value, positive=True, maximum=MAX_HOURS)


def share(name: str, value: Any) -> float | None:
    """A share of power, 0-1 (a model's 30 for 30% is read as 0.3)."""
    value = num(name, value)
    if value is not None and 1 < value <= 100:
        value = value / 100
    if value is not None and value > 1:
        raise ToolError(f"{name} is a share of power between 0 and 1 (got {value:g})")
    return value


def counts(name: str, value: Any) -> dict[str, int] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ToolError(f"{name} must be an object of machine type -> count (got {value!r:.80})")
    out = {}
    for key, count in value.items():
        if key not in MACHINE_TYPES:
            raise ToolError(f"{name}: unknown machine type {key!r:.40}; use one of {', '.join(MACHINE_TYPES)}")
        out[key] = check(f"{name}.{key}", count, integer=True, text=True)
    return out


def allocation(value: Any) -> Allocation:
    if isinstance(value, Allocation):
        return value
    try:
        return Allocation.from_counts(counts("allocation", value) or {})
    except ValueError as e:
        raise ToolError(f"allocation: {e}") from None


def when(name: str, value: Any) -> datetime | None:
    """An ISO 8601 time (naive means UTC) within a sane span; None stays None."""
    if value is None or value == "":
        return None
    dt = parse_timestamp(value, name)
    if not EARLIEST <= dt <= LATEST:
        raise ToolError(f"{name}: {value!r:.40} is outside {EARLIEST.year}-{LATEST.year}")
    return dt


def fields(value: Any) -> dict[str, Any]:
    """A dataclass-ish result as a dict of its fields."""
    if value is None:
        return {}
    if hasattr(value, "__dataclass_fields__"):
        return {k: getattr(value, k) for k in value.__dataclass_fields__}
    return dict(value)


def spec(name: str, description: str, properties: dict | None = None) -> dict:
    """An OpenAI function-tool schema."""
    return {"type": "function", "function": {
        "name": name, "description": description,
        "parameters": {"type": "object", "properties": properties or {}, "required": []}}}


def tool(fn: Callable[..., Any]) -> Callable[..., dict[str, Any]]:
    """A tool method: its result made JSON-ready; any failure an {"error": ...} result."""
    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        try:
            return jsonable(fn(self, *args, **kwargs))
        except OpteraError as e:
            return {"error": e.message}
        except (ValueError, TypeError) as e:
            return {"error": str(e)}
        except Exception as e:  # a tool must never raise into the chat
            return {"error": f"{fn.__name__} failed: {type(e).__name__}: {e}"}
    return wrapper
