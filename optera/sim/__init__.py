"""MARA-compatible simulator: a price model calibrated on the real hackathon day and the API itself."""

from .api import DEMO_KEY, Simulator
from .prices import PriceModel

__all__ = ["DEMO_KEY", "PriceModel", "Simulator"]
