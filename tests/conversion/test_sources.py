"""``conversion.sources``: the one reader and writer of a rule's stored source."""

from __future__ import annotations

import pytest

from creditbank.conversion import rules as engine
from creditbank.conversion.sources import CreditsCondition, RuleSource

STORED = [
    '{"all_of": ["YCCEC:A", "CQOU:B"]}',
    '{"any_n_of": {"n": 2, "outcomes": ["YCCEC:A", "YCCEC:B", "CQOU:C"]}}',
    '{"credits": {"amount_units": 350, "category": "community", "min_level": 2, "within_years": null}}',
]


class TestRuleSource:
    @pytest.mark.parametrize("text", STORED)
    def test_writes_back_exactly_what_it_read(self, text: str) -> None:
        assert RuleSource.parse(text).dumps() == text

    def test_names_the_outcomes_it_takes(self) -> None:
        assert [RuleSource.parse(t).refs() for t in STORED] == [
            ["YCCEC:A", "CQOU:B"],
            ["YCCEC:A", "YCCEC:B", "CQOU:C"],
            [],
        ]

    def test_public_form_shows_credits_not_hundredths(self) -> None:
        assert RuleSource.parse(STORED[2]).public() == {
            "credits": {"category": "community", "min_level": 2, "amount": 3.5, "within_years": None}
        }
        assert RuleSource.parse(STORED[1]).public() == {
            "any_n_of": {"n": 2, "outcomes": ["YCCEC:A", "YCCEC:B", "CQOU:C"]}
        }

    def test_becomes_the_engines_source(self) -> None:
        assert RuleSource.parse(STORED[0]).for_engine() == engine.AllOf(("YCCEC:A", "CQOU:B"))
        assert RuleSource(credits=CreditsCondition("community", 2, 350, 5)).for_engine() == engine.CreditsOf(
            "community", 2, 350, 5
        )
