"""Credits are integer hundredths ("units") inside the bank; people and JSON see credits."""

from __future__ import annotations


def credits(units: int) -> float:
    """Hundredths to a JSON number with at most two decimals (150 → 1.5)."""
    return units / 100
