"""``clock.add_years``: the one "N years after a date" (lot expiry, conversion windows)."""

from __future__ import annotations

from datetime import date

import pytest

from creditbank.kit.clock import add_years


class TestAddYears:
    @pytest.mark.parametrize(
        ("day", "years", "expected"),
        [
            (date(2026, 3, 1), 5, date(2031, 3, 1)),
            (date(2024, 2, 29), 1, date(2025, 2, 28)),  # no 29 February in 2025
            (date(2024, 2, 29), 4, date(2028, 2, 29)),  # a leap year keeps it
            (date(2024, 2, 29), -1, date(2023, 2, 28)),
            (date(2026, 12, 31), -3, date(2023, 12, 31)),
        ],
    )
    def test_same_calendar_day_or_28_february(self, day: date, years: int, expected: date) -> None:
        assert add_years(day, years) == expected

    def test_stops_at_the_ends_of_the_calendar(self) -> None:
        assert add_years(date(20, 6, 1), -100) == date.min
        assert add_years(date(9990, 6, 1), 100) == date.max
