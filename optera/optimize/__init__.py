"""The allocation problem: constraints, the exact MILP optimum, its explanation, the
per-interval candidate frontier used by backtests, and repair of hand-made allocations."""

from .constraints import Constraints
from .explain import Explanation, explain, profit_curve, running_ranges
from .milp import Solution, solve

__all__ = ["Constraints", "Explanation", "Solution", "explain", "profit_curve", "running_ranges", "solve"]
