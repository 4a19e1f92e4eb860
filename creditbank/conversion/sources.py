"""What a conversion rule takes from the learner, as stored in ``conversion_rule.source_json``.

One parser and one writer for that column: the cycle check, the eligibility engine's
``RuleView`` and the public rule listing all read a :class:`RuleSource`, never the JSON.
Pure: no database, no web. Stored forms (sorted keys, credits in hundredths)::

    {"all_of": ["INST:CODE", …]}
    {"any_n_of": {"n": 2, "outcomes": ["INST:CODE", …]}}
    {"credits": {"amount_units": 300, "category": "community", "min_level": 2, "within_years": 5}}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from creditbank.conversion import rules as engine


@dataclass(frozen=True)
class CreditsCondition:
    category: str
    min_level: int
    amount_units: int
    within_years: int | None


@dataclass(frozen=True)
class RuleSource:
    """Exactly one of the three is set (``RuleSpec`` checked that when the rule was proposed)."""

    all_of: tuple[str, ...] | None = None
    any_n_of: tuple[int, tuple[str, ...]] | None = None
    credits: CreditsCondition | None = None

    @classmethod
    def parse(cls, text: str) -> RuleSource:
        data = json.loads(text)
        if "all_of" in data:
            return cls(all_of=tuple(data["all_of"]))
        if "any_n_of" in data:
            return cls(any_n_of=(data["any_n_of"]["n"], tuple(data["any_n_of"]["outcomes"])))
        c = data["credits"]
        return cls(
            credits=CreditsCondition(c["category"], c["min_level"], c["amount_units"], c["within_years"])
        )

    def dumps(self) -> str:
        return json.dumps(self._stored(), ensure_ascii=False, sort_keys=True)

    def _stored(self) -> dict[str, Any]:
        if self.all_of is not None:
            return {"all_of": list(self.all_of)}
        if self.any_n_of is not None:
            return {"any_n_of": {"n": self.any_n_of[0], "outcomes": list(self.any_n_of[1])}}
        c = self._credits()
        return {
            "credits": {
                "category": c.category,
                "min_level": c.min_level,
                "amount_units": c.amount_units,
                "within_years": c.within_years,
            }
        }

    def _credits(self) -> CreditsCondition:
        if self.credits is None:
            raise ValueError("a rule source needs all_of, any_n_of or credits")
        return self.credits

    def refs(self) -> list[str]:
        """The outcome references the rule names (none for a credits source)."""
        if self.all_of is not None:
            return list(self.all_of)
        if self.any_n_of is not None:
            return list(self.any_n_of[1])
        return []

    def public(self) -> dict[str, Any]:
        """The ``source`` of a rule as the API shows it: credits as a number, not hundredths."""
        if self.credits is None:
            return self._stored()
        c = self.credits
        return {
            "credits": {
                "category": c.category,
                "min_level": c.min_level,
                "amount": c.amount_units / 100,
                "within_years": c.within_years,
            }
        }

    def for_engine(self) -> engine.Source:
        """The engine's own (validating) form; raises ``ValueError`` on what it cannot evaluate."""
        if self.all_of is not None:
            return engine.AllOf(self.all_of)
        if self.any_n_of is not None:
            return engine.AnyNOf(*self.any_n_of)
        c = self._credits()
        return engine.CreditsOf(c.category, c.min_level, c.amount_units, c.within_years)
