"""One number validator for every boundary: API payloads, flags, widgets, tool arguments.

Built on pydantic-core's number schemas (bools are not numbers, NaN and infinity are
rejected), with one sane upper bound so that nothing from outside can push a product of
two numbers out of float64's range. pydantic-core is the validation engine under
pydantic, used directly: pydantic's own import and adapters cost `optera optimize` more
than a tenth of its start. Failures raise
:class:`~optera.errors.ValidationError` naming the field and the value.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from .errors import ValidationError

if TYPE_CHECKING:
    from pydantic_core import SchemaValidator

MAX_VALUE = 1e12  # far beyond any real price, power in W, count or output; products stay finite
MAX_COUNT = 1_000_000  # machines of one type: far beyond any site
_FLOAT_INT = 2**1023  # ints beyond this overflow float(); they are out of every bound anyway


@lru_cache(maxsize=64)
def _validator(integer: bool, lo: float | None, hi: float, gt: bool) -> SchemaValidator:
    from pydantic_core import SchemaValidator, core_schema  # on the first check: `optera --help` needs none

    bounds = {"gt" if gt else "ge": lo} if lo is not None else {}
    if integer:
        return SchemaValidator(core_schema.int_schema(strict=True, le=int(hi), **bounds))
    return SchemaValidator(core_schema.float_schema(strict=False, allow_inf_nan=False, le=hi, **bounds))


def _reason(kind: str, integer: bool, lo: float | None, hi: float, gt: bool) -> str:
    if kind in ("greater_than_equal", "greater_than"):
        return ("must be positive" if gt and lo == 0 else "must not be negative" if lo == 0
                else f"must be {'above' if gt else 'at least'} {lo:g}")
    if kind == "less_than_equal":
        return f"is too large (at most {hi:,.0f})" if hi >= 1000 else f"must be at most {hi:g}"
    if kind == "finite_number":
        return "must be a finite number"
    return "expected a whole number of machines" if integer else "expected a number"


def check(name: str, value: Any, *, minimum: float | None = 0.0, maximum: float = MAX_VALUE,  # noqa: C901 - one branch per way a number can be bad, each with its own message
          integer: bool = False, positive: bool = False, allow_none: bool = False,
          text: bool = False) -> Any:
    """``value`` as a float (or int with ``integer``), or ValidationError naming ``name``.

    ``text`` also accepts numeric strings ("1,200", " 3.5 "), for typed input.
    A float that is a whole number passes as an integer ("5.0" machines is 5).
    """
    if value is None:
        if allow_none:
            return None
        raise ValidationError(name, value, "missing value")
    if isinstance(value, bool):
        raise ValidationError(name, value, "expected a whole number of machines" if integer else "expected a number")
    if text and isinstance(value, str):
        cleaned = value.strip().replace(",", "").replace("_", "")
        try:
            # digits alone are read exactly, so 400 nines are "too large", not "not a whole number"
            value = (int(cleaned) if cleaned.lstrip("+-").isdigit() and len(cleaned) < 1000 else float(cleaned)) \
                if cleaned else None
        except ValueError:
            raise ValidationError(name, value, "expected a number") from None
        if value is None:
            if allow_none:
                return None
            raise ValidationError(name, "", "missing value")
    if integer and isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if not integer and hasattr(value, "item") and not isinstance(value, (int, float)):
        value = value.item()  # numpy scalars
    if integer and hasattr(value, "item") and not isinstance(value, int):
        value = value.item()
        if isinstance(value, float) and value.is_integer():
            value = int(value)
    hi = min(maximum, MAX_COUNT) if integer and maximum == MAX_VALUE else maximum
    if not integer and type(value) is int and abs(value) > _FLOAT_INT:  # no float can hold it
        kind = "less_than_equal" if value > 0 else "greater_than_equal" if minimum is not None else "finite_number"
        raise ValidationError(name, value, _reason(kind, integer, minimum, hi, positive))
    validator = _validator(integer, minimum, hi, positive)
    from pydantic_core import ValidationError as _PydanticError

    try:
        if isinstance(value, str) and not text:
            raise ValidationError(name, value, _reason("", integer, minimum, hi, positive))
        return validator.validate_python(value)
    except _PydanticError as e:
        kind = e.errors()[0].get("type", "")
        raise ValidationError(name, value, _reason(kind, integer, minimum, hi, positive)) from None
