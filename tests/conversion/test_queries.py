"""Reading rules and requests (``conversion.queries``): what the public listing costs."""

from __future__ import annotations

from datetime import date

from creditbank.catalogue import service as catalogue
from creditbank.catalogue.schemas import OutcomeSpec
from creditbank.conversion import service as conversions
from creditbank.conversion.schemas import QualificationSpec, RuleSpec
from creditbank.db import Database
from creditbank.institutions import service as institutions
from tests.conftest import counting, institution, outcome


def _add_rules(db: Database, first: int, last: int) -> None:
    """Rules of all three source kinds, each with its own target outcome, every other one under its
    own qualification: nothing a per-rule look-up could find already loaded."""
    with db.unit_of_work() as session:
        owner = institutions.get(session, "YCCEC")
        sources = [
            {"all_of": ["YCCEC:YC-ELEC"]},
            {"any_n_of": {"n": 1, "outcomes": ["YCCEC:YC-ELEC", "YCCEC:YC-WECHAT"]}},
            {"credits": {"category": "community", "min_level": 1, "amount": 1.5, "within_years": 5}},
        ]
        for n in range(first, last + 1):
            catalogue.upsert(
                session,
                institution_id=owner.id,
                code=f"T{n:03d}",
                spec=OutcomeSpec(title_zh=f"目标{n}", category="community", level=2, credits=1),
                hours_per_credit=18,
            )
            if n % 2:
                conversions.put_qualification(
                    session,
                    institution=owner,
                    code=f"Q{n:03d}",
                    spec=QualificationSpec(name_zh=f"资历{n}", total_credits=10),
                )
            spec = RuleSpec(
                code=f"R{n:03d}",
                name_zh=f"规则{n}",
                target_outcome_code=f"T{n:03d}",
                credits=1 if n % 2 else None,
                ratio=None if n % 2 else 0.5,
                source=sources[n % 3],
                effective_from=date(2026, 1, 1),
                qualification_code=f"Q{n:03d}" if n % 2 else None,
            )
            rule, _ = conversions.propose_rule(session, institution=owner, spec=spec)
            conversions.approve_rule(session, rule_id=rule.id)


class TestRuleListing:
    def test_costs_the_same_number_of_queries_for_1_and_50_rules(self, client, db: Database) -> None:
        headers = institution(client)
        for code in ("YC-ELEC", "YC-WECHAT"):
            outcome(client, headers, code)

        def listing() -> tuple[int, list[dict]]:
            with counting(db) as statements:
                response = client.get("/api/v1/conversion-rules")
            assert response.status_code == 200, response.text
            return len(statements), response.json()

        _add_rules(db, 1, 1)
        one, rules = listing()
        assert [r["code"] for r in rules] == ["R001"]
        _add_rules(db, 2, 50)
        fifty, rules = listing()
        assert len(rules) == 50
        assert [r["qualification_code"] for r in rules[:3]] == ["Q001", None, "Q003"]
        assert {next(iter(r["source"])) for r in rules} == {"all_of", "any_n_of", "credits"}
        assert [r["target_outcome"] for r in rules[:2]] == ["YCCEC:T001", "YCCEC:T002"]
        assert fifty == one, (one, fifty)
