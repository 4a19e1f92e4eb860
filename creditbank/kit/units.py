"""Credits are integer hundredths ("units") inside the bank; people and JSON see credits."""

from __future__ import annotations

import math


def credits(units: int) -> float:
    """Hundredths to a JSON number with at most two decimals (150 → 1.5)."""
    return units / 100


def credits_of_text(text: object) -> float | int | None:
    """A certificate's printed credits ("1.5", "5") as a JSON number with at most two decimals
    (1.5, 5); None for text that is no such number (a forged or damaged QR's claim)."""
    try:
        value = round(float(str(text)), 2)
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    return int(value) if value.is_integer() else value
