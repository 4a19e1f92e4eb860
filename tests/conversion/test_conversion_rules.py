"""The pure conversion eligibility engine (SPEC §3.5–§3.6): no database, no web."""

from __future__ import annotations

import dataclasses
import random
import sys
from datetime import date, timedelta
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from creditbank.conversion.rules import (
    AllOf,
    AnyNOf,
    Caps,
    CreditsOf,
    LotView,
    Message,
    RuleView,
    Transferred,
    Use,
    evaluate,
    evaluate_all,
    find_cycle,
    format_units,
    rule_edges,
    select,
    would_cycle,
    years_before,
)

TODAY = date(2026, 6, 1)


def lot(
    lot_id: str,
    ref: str = "CQSC:ELEC",
    *,
    units: int = 100,
    category: str = "community",
    level: int = 2,
    earned: date = date(2025, 1, 1),
    expires: date | None = None,
    institution: str | None = None,
    zh: str | None = None,
    en: str | None = "",
) -> LotView:
    return LotView(
        id=lot_id,
        outcome_ref=ref,
        title_zh=zh or f"成果{ref}",
        title_en=(f"Outcome {ref}" if en == "" else en),
        institution_code=institution or ref.split(":")[0],
        category=category,
        level=level,
        earned_on=earned,
        expires_on=expires,
        available_units=units,
    )


def rule(
    source,
    *,
    credits: int | None = 200,
    ratio: float | None = None,
    state: str = "approved",
    effective_from: date = date(2020, 1, 1),
    effective_until: date | None = None,
    caps: Caps | None = None,
    transferred: Transferred | None = None,
    titles: dict[str, tuple[str, str | None]] | None = None,
) -> RuleView:
    refs = getattr(source, "outcomes", ())
    if ratio is not None:
        credits = None
    return RuleView(
        id=1,
        code="R1",
        version=1,
        name_zh="规则",
        name_en="Rule",
        source=source,
        target_ref="CQOU:AGRI",
        target_title_zh="现代农业技术基础",
        credits_units=credits,
        ratio=ratio,
        effective_from=effective_from,
        effective_until=effective_until,
        state=state,
        titles=titles if titles is not None else {r: (f"成果{r}", f"Outcome {r}") for r in refs},
        caps=caps,
        transferred=transferred,
    )


def used(option) -> list[tuple[str, int]]:
    return [(u.lot_id, u.units) for u in option.would_use]


# ---------------------------------------------------------------------------------------------
# Formatting helpers
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("units", "text"),
    [(150, "1.5"), (200, "2"), (25, "0.25"), (5, "0.05"), (0, "0"), (-150, "-1.5"), (1010, "10.1")],
)
def test_format_units(units: int, text: str) -> None:
    assert format_units(units) == text


def test_years_before_handles_29_february() -> None:
    assert years_before(date(2028, 2, 29), 1) == date(2027, 2, 28)
    assert years_before(date(2028, 2, 29), 4) == date(2024, 2, 29)
    assert years_before(date(2026, 6, 1), 5) == date(2021, 6, 1)


def test_source_validation() -> None:
    with pytest.raises(ValueError):
        AnyNOf(3, ("A:1", "A:2"))
    with pytest.raises(ValueError):
        AllOf(())
    with pytest.raises(ValueError):
        CreditsOf("community", 0, 100, None)
    with pytest.raises(ValueError):
        CreditsOf("nonsense", 1, 100, None)
    with pytest.raises(ValueError):
        dataclasses.replace(rule(AllOf(("A:1",)), credits=100), ratio=0.5)
    with pytest.raises(ValueError):
        dataclasses.replace(rule(AllOf(("A:1",)), credits=100), credits_units=None)


# ---------------------------------------------------------------------------------------------
# AllOf
# ---------------------------------------------------------------------------------------------


def test_all_of_met_uses_the_oldest_lot_of_each_ref_whole() -> None:
    lots = [
        lot("L3", "A:1", units=80, earned=date(2025, 3, 1)),
        lot("L1", "A:1", units=50, earned=date(2024, 3, 1)),
        lot("L2", "B:1", units=120, earned=date(2025, 1, 1)),
        lot("L9", "C:1", units=300),
    ]
    option = evaluate(rule(AllOf(("A:1", "B:1"))), lots, today=TODAY)
    assert option.eligible
    assert used(option) == [("L1", 50), ("L2", 120)]
    assert option.grant_units == 200
    assert option.missing == () and option.bound_by_cap is None
    assert sum(u.granted_units for u in option.would_use) == 200


def test_all_of_unmet_names_each_missing_outcome_exactly() -> None:
    titles = {
        "CQSC:ELEC": ("居民用电安全", "Household electrical safety"),
        "CQSC:WX": ("玩转微信享受智慧生活", None),
        "CQSC:HELD": ("楠竹工艺画", "Bamboo craft painting"),
    }
    option = evaluate(
        rule(AllOf(("CQSC:ELEC", "CQSC:HELD", "CQSC:WX")), titles=titles),
        [lot("L1", "CQSC:HELD")],
        today=TODAY,
    )
    assert not option.eligible
    assert option.missing == (
        Message("还差学习成果「居民用电安全」", "still need the outcome “Household electrical safety”"),
        Message("还差学习成果「玩转微信享受智慧生活」", "still need the outcome “玩转微信享受智慧生活”"),
    )
    assert option.would_use == () and option.grant_units == 0


def test_all_of_expired_lot_is_excluded_with_a_note() -> None:
    titles = {"CQSC:ELEC": ("居民用电安全", "Household electrical safety")}
    lots = [
        lot(
            "L1",
            "CQSC:ELEC",
            units=200,
            expires=date(2026, 5, 31),
            zh="居民用电安全",
            en="Household electrical safety",
        )
    ]
    option = evaluate(rule(AllOf(("CQSC:ELEC",)), titles=titles), lots, today=TODAY)
    assert not option.eligible
    assert option.notes == (
        Message(
            "2 个学分已过有效期，不能计入：「居民用电安全」",
            "2 credits have expired and cannot count: Household electrical safety",
        ),
    )
    # the last valid day still counts
    assert evaluate(rule(AllOf(("CQSC:ELEC",)), titles=titles), lots, today=date(2026, 5, 31)).eligible


def test_lots_with_nothing_available_are_ignored() -> None:
    option = evaluate(rule(AllOf(("A:1",))), [lot("L1", "A:1", units=0)], today=TODAY)
    assert not option.eligible and option.notes == ()


# ---------------------------------------------------------------------------------------------
# AnyNOf
# ---------------------------------------------------------------------------------------------


def test_any_n_of_met_chooses_the_refs_with_the_oldest_lots() -> None:
    lots = [
        lot("La", "A:1", earned=date(2025, 5, 1)),
        lot("Lb", "B:1", earned=date(2024, 1, 1)),
        lot("Lc", "C:1", earned=date(2025, 1, 1)),
        lot("Lc2", "C:1", earned=date(2023, 1, 1)),
    ]
    option = evaluate(rule(AnyNOf(2, ("A:1", "B:1", "C:1"))), lots, today=TODAY)
    assert option.eligible
    assert used(option) == [("Lc2", 100), ("Lb", 100)]


def test_any_n_of_unmet_lists_only_the_refs_not_held() -> None:
    titles = {
        "A:1": ("居民用电安全", "Household electrical safety"),
        "B:1": ("楠竹工艺画", None),
        "C:1": ("智慧助老我能行", "Smart ageing"),
        "D:1": ("家庭教育培训", "Family education"),
    }
    option = evaluate(
        rule(AnyNOf(2, ("A:1", "B:1", "C:1", "D:1")), titles=titles), [lot("L1", "D:1")], today=TODAY
    )
    assert not option.eligible
    assert option.missing == (
        Message(
            "还差 1 项：从「居民用电安全」「楠竹工艺画」「智慧助老我能行」中任选",
            "still need 1 more of: Household electrical safety, 楠竹工艺画, Smart ageing",
        ),
    )


def test_any_n_of_counts_distinct_refs_only() -> None:
    lots = [lot("L1", "A:1"), lot("L2", "A:1")]
    option = evaluate(rule(AnyNOf(2, ("A:1", "B:1"))), lots, today=TODAY)
    assert not option.eligible
    assert option.missing[0].en == "still need 1 more of: Outcome B:1"


# ---------------------------------------------------------------------------------------------
# CreditsOf
# ---------------------------------------------------------------------------------------------


def test_credits_of_takes_oldest_first_and_the_last_lot_partially() -> None:
    lots = [
        lot("L4", units=100, earned=date(2025, 4, 1)),
        lot("L2", units=100, earned=date(2024, 1, 1)),
        lot("L1", units=100, earned=date(2024, 1, 1)),  # same day as L2: id breaks the tie
        lot("L3", units=100, earned=date(2025, 1, 1)),
        lot("Lx", units=500, earned=date(2020, 1, 1), category="senior"),
        lot("Ly", units=500, earned=date(2020, 1, 1), level=1),
    ]
    option = evaluate(rule(CreditsOf("community", 2, 250, None)), lots, today=TODAY)
    assert option.eligible
    assert used(option) == [("L1", 100), ("L2", 100), ("L3", 50)]
    assert option.grant_units == 200


def test_credits_of_exact_amount_uses_whole_lots_only() -> None:
    lots = [
        lot("L1", units=100, earned=date(2024, 1, 1)),
        lot("L2", units=200, earned=date(2024, 2, 1)),
        lot("L3", units=100, earned=date(2024, 3, 1)),
    ]
    option = evaluate(rule(CreditsOf("community", 1, 300, None)), lots, today=TODAY)
    assert used(option) == [("L1", 100), ("L2", 200)]


def test_credits_of_unmet_message_is_exact() -> None:
    lots = [lot("L1", units=150, level=2), lot("L2", units=500, level=1)]
    option = evaluate(rule(CreditsOf("community", 2, 300, None)), lots, today=TODAY)
    assert not option.eligible
    assert option.missing == (
        Message("还差 1.5 个社区教育学分（等级 ≥ 2）", "still need 1.5 community credits (level ≥ 2)"),
    )
    option = evaluate(
        rule(CreditsOf("culture_leisure", 3, 125, None)),
        [lot("L1", units=100, level=3, category="culture_leisure")],
        today=TODAY,
    )
    assert option.missing == (
        Message(
            "还差 0.25 个文化休闲学分（等级 ≥ 3）", "still need 0.25 culture and leisure credits (level ≥ 3)"
        ),
    )
    option = evaluate(rule(CreditsOf("vocational_training", 1, 100, None)), [], today=TODAY)
    assert option.missing == (
        Message("还差 1 个职业培训学分（等级 ≥ 1）", "still need 1 vocational training credit (level ≥ 1)"),
    )


def test_credits_of_within_years_cut_off_and_note() -> None:
    old = [lot(f"O{i}", units=75, earned=date(2020, 1, 1 + i)) for i in range(4)]  # 3 credits, > 5 years ago
    recent = [lot("R1", units=100, earned=date(2022, 1, 1))]
    option = evaluate(rule(CreditsOf("community", 2, 300, 5)), old + recent, today=TODAY)
    assert not option.eligible
    assert option.notes == (
        Message(
            "3 个学分是 5 年前获得的，不能计入",
            "3 credits were earned more than 5 years ago and cannot count",
        ),
    )
    assert option.missing == (
        Message("还差 2 个社区教育学分（等级 ≥ 2）", "still need 2 community credits (level ≥ 2)"),
    )
    # the cut-off day itself counts
    edge = [lot("E1", units=300, earned=date(2021, 6, 1))]
    assert evaluate(rule(CreditsOf("community", 2, 300, 5)), edge, today=TODAY).eligible
    assert not evaluate(rule(CreditsOf("community", 2, 300, 5)), edge, today=date(2026, 6, 2)).eligible


def test_credits_of_within_years_with_a_29_february_earned_date() -> None:
    leap = [
        lot(
            "L1",
            units=100,
            earned=date(2024, 2, 29),
            zh="春季蔬菜田间管理培训",
            en="Spring vegetable field management",
        )
    ]
    source = CreditsOf("community", 1, 100, 1)
    assert evaluate(rule(source), leap, today=date(2025, 2, 28)).eligible  # cut-off 2024-02-28
    option = evaluate(rule(source), leap, today=date(2025, 3, 1))  # cut-off 2024-03-01
    assert not option.eligible
    assert option.notes == (
        Message(
            "1 个学分是 1 年前获得的，不能计入：「春季蔬菜田间管理培训」",
            "1 credit was earned more than 1 year ago and cannot count: Spring vegetable field management",
        ),
    )
    # today is 29 February: four years back is a 29 February again, one year back is the 28th
    assert evaluate(rule(CreditsOf("community", 1, 100, 4)), leap, today=date(2028, 2, 29)).eligible
    assert not evaluate(rule(CreditsOf("community", 1, 100, 4)), leap, today=date(2028, 3, 1)).eligible
    day_before = [lot("L2", units=100, earned=date(2027, 2, 27))]
    assert not evaluate(rule(CreditsOf("community", 1, 100, 1)), day_before, today=date(2028, 2, 29)).eligible
    on_cutoff = [lot("L3", units=100, earned=date(2027, 2, 28))]
    assert evaluate(rule(CreditsOf("community", 1, 100, 1)), on_cutoff, today=date(2028, 2, 29)).eligible


def test_credits_of_expired_lots_excluded_and_told_once() -> None:
    lots = [
        lot("E1", units=100, earned=date(2025, 1, 1), expires=date(2026, 1, 1), zh="楠竹工艺画", en=None),
        lot(
            "E2",
            units=100,
            earned=date(2025, 2, 1),
            expires=date(2026, 1, 1),
            zh="智慧助老我能行",
            en="Smart ageing",
        ),
        lot("X1", units=100, earned=date(2010, 1, 1), expires=date(2011, 1, 1)),  # too old AND expired
        lot("U1", units=100, earned=date(2025, 3, 1)),
    ]
    option = evaluate(rule(CreditsOf("community", 2, 200, 5)), lots, today=TODAY)
    assert not option.eligible
    assert option.notes == (
        Message(
            "1 个学分是 5 年前获得的，不能计入：「成果CQSC:ELEC」",
            "1 credit was earned more than 5 years ago and cannot count: Outcome CQSC:ELEC",
        ),
        Message(
            "2 个学分已过有效期，不能计入：「楠竹工艺画」「智慧助老我能行」",
            "2 credits have expired and cannot count: 楠竹工艺画, Smart ageing",
        ),
    )
    many = [lot(f"E{i}", units=50, expires=date(2026, 1, 1)) for i in range(4)]
    option = evaluate(rule(CreditsOf("community", 2, 100, None)), many, today=TODAY)
    assert option.notes == (
        Message("2 个学分已过有效期，不能计入", "2 credits have expired and cannot count"),
    )


# ---------------------------------------------------------------------------------------------
# Rule state and validity window
# ---------------------------------------------------------------------------------------------


def test_rule_states_and_windows() -> None:
    lots = [lot("L1", "A:1")]
    src = AllOf(("A:1",))
    future = evaluate(rule(src, effective_from=date(2027, 1, 1)), lots, today=TODAY)
    assert not future.eligible and future.grant_units == 0
    assert future.missing == (
        Message("规则尚未生效（2027-01-01 起）", "rule not yet in effect (from 2027-01-01)"),
    )
    assert [u.lot_id for u in future.would_use] == ["L1"]  # still explained
    assert all(u.granted_units == 0 for u in future.would_use)
    ended = evaluate(rule(src, effective_until=date(2026, 5, 31)), lots, today=TODAY)
    assert ended.missing == (Message("规则已失效", "rule no longer in effect"),)
    assert evaluate(rule(src, state="retired"), lots, today=TODAY).missing == (
        Message("规则已失效", "rule no longer in effect"),
    )
    assert evaluate(rule(src, state="proposed"), lots, today=TODAY).missing == (
        Message("规则尚未批准", "rule not approved"),
    )
    # both ends inclusive
    assert evaluate(rule(src, effective_from=TODAY, effective_until=TODAY), lots, today=TODAY).eligible
    # a rule not in effect still says what else is missing
    both = evaluate(rule(AllOf(("B:1",)), state="proposed"), lots, today=TODAY)
    assert [m.en for m in both.missing] == ["rule not approved", "still need the outcome “Outcome B:1”"]


# ---------------------------------------------------------------------------------------------
# Grants
# ---------------------------------------------------------------------------------------------


def test_ratio_grant_applies_to_the_units_actually_used() -> None:
    lots = [lot("L1", units=100, earned=date(2024, 1, 1)), lot("L2", units=400, earned=date(2024, 2, 1))]
    option = evaluate(rule(CreditsOf("community", 1, 300, None), ratio=0.5), lots, today=TODAY)
    assert used(option) == [("L1", 100), ("L2", 200)]
    assert option.grant_units == 150
    assert [u.granted_units for u in option.would_use] == [50, 100]
    # 0.29 × 100 is 28.999… in binary floating point: the engine floors the decimal the rule states
    assert evaluate(rule(AllOf(("CQSC:ELEC",)), ratio=0.29), [lot("L1")], today=TODAY).grant_units == 29
    assert (
        evaluate(rule(AllOf(("CQSC:ELEC",)), ratio=0.333), [lot("L1", units=300)], today=TODAY).grant_units
        == 99
    )


def test_ratio_grant_of_zero_is_not_eligible() -> None:
    option = evaluate(rule(AllOf(("CQSC:ELEC",)), ratio=0.01), [lot("L1", units=50)], today=TODAY)
    assert not option.eligible and option.grant_units == 0
    assert option.missing == (
        Message(
            "按比例折算后可转入的学分为 0（已用 0.5 学分）",
            "the ratio gives 0 credits for the 0.5 credits used",
        ),
    )


def test_granted_shares_are_proportional_with_the_remainder_to_the_last() -> None:
    lots = [
        lot("L1", "A:1", units=100, earned=date(2024, 1, 1)),
        lot("L2", "B:1", units=100, earned=date(2024, 1, 2)),
        lot("L3", "C:1", units=100, earned=date(2024, 1, 3)),
    ]
    option = evaluate(rule(AllOf(("A:1", "B:1", "C:1")), credits=200), lots, today=TODAY)
    assert [u.granted_units for u in option.would_use] == [66, 66, 68]


# ---------------------------------------------------------------------------------------------
# Caps
# ---------------------------------------------------------------------------------------------


def caps(
    total: int = 10000, ratio: float | None = None, per_year: int | None = None, per_inst: int | None = None
) -> Caps:
    return Caps(
        total_units=total,
        max_transfer_ratio=ratio,
        per_year_cap_units=per_year,
        per_institution_cap_units=per_inst,
    )


def done(total: int = 0, this_year: int = 0, **by_inst: int) -> Transferred:
    return Transferred(total_units=total, this_year_units=this_year, by_institution=by_inst)


def test_cap_max_transfer_ratio_binds_with_exact_note() -> None:
    option = evaluate(
        rule(
            AllOf(("CQSC:ELEC",)), credits=400, caps=caps(total=1000, ratio=0.5), transferred=done(total=200)
        ),
        [lot("L1", units=300)],
        today=TODAY,
    )
    assert option.eligible
    assert option.grant_units == 300 and option.bound_by_cap == "max_transfer_ratio"
    assert option.notes == (
        Message(
            "受转换上限限制：本资历最多可转入 50%（还可转入 3 学分）",
            "limited by the cap: at most 50% of this qualification may be transferred (3 credits left)",
        ),
    )
    assert used(option) == [("L1", 300)]  # the lots stay the same


def test_cap_per_year_binds() -> None:
    option = evaluate(
        rule(AllOf(("CQSC:ELEC",)), credits=400, caps=caps(per_year=4200), transferred=done(this_year=4050)),
        [lot("L1")],
        today=TODAY,
    )
    assert option.eligible and option.grant_units == 150 and option.bound_by_cap == "per_year_cap"
    assert option.notes == (
        Message(
            "受年度上限限制：每年最多可转入 42 学分（今年还可转入 1.5 学分）",
            "limited by the yearly cap: at most 42 credits may be transferred a year "
            "(1.5 credits left this year)",
        ),
    )


def test_cap_per_institution_binds_on_the_attributable_share() -> None:
    lots = [
        lot("L1", "X:1", units=100, earned=date(2024, 1, 1)),
        lot("L2", "Y:1", units=100, earned=date(2024, 1, 2)),
    ]
    option = evaluate(
        rule(AllOf(("X:1", "Y:1")), credits=400, caps=caps(per_inst=300), transferred=done(X=200)),
        lots,
        today=TODAY,
    )
    # X may still receive 1 credit; X supplies half the units -> the grant may be at most 2 credits
    assert option.eligible and option.grant_units == 200 and option.bound_by_cap == "per_institution_cap"
    assert [(u.lot_id, u.granted_units) for u in option.would_use] == [("L1", 100), ("L2", 100)]
    assert option.notes == (
        Message(
            "受来源机构上限限制：来自 X 的学分最多可转入 3 学分（还可转入 1 学分）",
            "limited by the per-institution cap: at most 3 credits from X may be transferred (1 credit left)",
        ),
    )


def test_cap_per_institution_integer_shares_never_exceed_the_cap() -> None:
    # Y may receive 0.01 more; its proportional share of a 0.03 grant would be 6/7 of 0.01, but the
    # integer shares (floors, remainder to the last lot — Y's) would hand it 0.02: the engine lowers the grant.
    lots = [
        lot("L1", "X:1", units=2, earned=date(2024, 1, 1)),
        lot("L2", "X:2", units=3, earned=date(2024, 1, 2)),
        lot("L3", "Y:1", units=2, earned=date(2024, 1, 3)),
    ]
    option = evaluate(
        rule(AllOf(("X:1", "X:2", "Y:1")), credits=500, caps=caps(per_inst=1000), transferred=done(Y=999)),
        lots,
        today=TODAY,
    )
    assert option.eligible and option.bound_by_cap == "per_institution_cap"
    assert option.grant_units == 1
    assert [u.granted_units for u in option.would_use] == [0, 0, 1]


def test_when_two_caps_apply_the_tighter_one_is_named() -> None:
    src = AllOf(("CQSC:ELEC",))
    year_tighter = evaluate(
        rule(
            src,
            credits=500,
            caps=caps(total=1000, ratio=0.5, per_year=4200),
            transferred=done(total=200, this_year=4000),
        ),
        [lot("L1")],
        today=TODAY,
    )
    assert year_tighter.grant_units == 200 and year_tighter.bound_by_cap == "per_year_cap"
    ratio_tighter = evaluate(
        rule(
            src,
            credits=500,
            caps=caps(total=1000, ratio=0.5, per_year=4200),
            transferred=done(total=400, this_year=4000),
        ),
        [lot("L1")],
        today=TODAY,
    )
    assert ratio_tighter.grant_units == 100 and ratio_tighter.bound_by_cap == "max_transfer_ratio"
    assert ratio_tighter.notes[0].en == (
        "limited by the cap: at most 50% of this qualification may be transferred (1 credit left)"
    )
    loose = evaluate(
        rule(
            src,
            credits=100,
            caps=caps(total=1000, ratio=0.5, per_year=4200, per_inst=1000),
            transferred=done(),
        ),
        [lot("L1")],
        today=TODAY,
    )
    assert loose.grant_units == 100 and loose.bound_by_cap is None and loose.notes == ()


def test_cap_leaving_nothing_makes_the_rule_ineligible() -> None:
    option = evaluate(
        rule(AllOf(("CQSC:ELEC",)), caps=caps(total=1000, ratio=0.5), transferred=done(total=500)),
        [lot("L1")],
        today=TODAY,
    )
    assert not option.eligible and option.grant_units == 0 and option.bound_by_cap == "max_transfer_ratio"
    assert option.missing == (
        Message(
            "已达转换上限：本资历最多可转入 50%（已无剩余额度）",
            "cap reached: at most 50% of this qualification may be transferred (no credits left)",
        ),
    )
    year = evaluate(
        rule(AllOf(("CQSC:ELEC",)), caps=caps(per_year=4200), transferred=done(this_year=4300)),
        [lot("L1")],
        today=TODAY,
    )
    assert not year.eligible and year.bound_by_cap == "per_year_cap"
    assert year.missing[0].zh == "已达年度转换上限：每年最多可转入 42 学分（今年已无剩余额度）"
    inst = evaluate(
        rule(AllOf(("CQSC:ELEC",)), caps=caps(per_inst=500), transferred=done(CQSC=500)),
        [lot("L1")],
        today=TODAY,
    )
    assert not inst.eligible and inst.bound_by_cap == "per_institution_cap"
    assert (
        inst.missing[0].en
        == "per-institution cap reached: at most 5 credits from CQSC may be transferred (no credits left)"
    )
    assert all(u.granted_units == 0 for u in inst.would_use)


def test_caps_need_both_caps_and_transferred() -> None:
    option = evaluate(
        rule(AllOf(("CQSC:ELEC",)), credits=900, caps=caps(total=1000, ratio=0.1)), [lot("L1")], today=TODAY
    )
    assert option.grant_units == 900 and option.bound_by_cap is None


# ---------------------------------------------------------------------------------------------
# select(): the learner names the lots
# ---------------------------------------------------------------------------------------------


def test_select_uses_only_the_named_lots() -> None:
    lots = [
        lot("L1", units=100, earned=date(2024, 1, 1)),
        lot("L2", units=100, earned=date(2024, 2, 1)),
        lot("L3", units=100, earned=date(2024, 3, 1)),
    ]
    src = CreditsOf("community", 2, 150, None)
    assert used(select(rule(src), lots, today=TODAY)) == [("L1", 100), ("L2", 50)]
    assert used(select(rule(src), lots, today=TODAY, lot_ids=None)) == [("L1", 100), ("L2", 50)]
    option = select(rule(src), lots, today=TODAY, lot_ids={"L3", "L2"})
    assert option.eligible and used(option) == [("L2", 100), ("L3", 50)]
    short = select(rule(src), lots, today=TODAY, lot_ids=["L3"])
    assert not short.eligible
    assert short.missing == (
        Message("还差 0.5 个社区教育学分（等级 ≥ 2）", "still need 0.5 community credits (level ≥ 2)"),
    )


def test_select_refuses_a_named_lot_of_another_category() -> None:
    lots = [
        lot("L1", units=200),
        lot("S1", "SEN:TAICHI", units=200, category="senior", zh="太极拳", en="Tai chi"),
    ]
    option = select(rule(CreditsOf("community", 2, 150, None)), lots, today=TODAY, lot_ids=["L1", "S1"])
    assert not option.eligible and option.grant_units == 0
    assert option.missing == (
        Message(
            "「太极拳」不是社区教育学分，不能计入", "“Tai chi” is not a community credit and cannot count"
        ),
    )
    assert used(option) == [("L1", 150)]


def test_select_refusal_reasons() -> None:
    lots = [
        lot("LOW", units=200, level=1, zh="低级"),
        lot("OLD", units=200, earned=date(2015, 1, 1), zh="旧"),
        lot("EXP", units=200, expires=date(2026, 1, 1), zh="过期"),
        lot("NIL", units=0, zh="用完"),
    ]
    option = select(
        rule(CreditsOf("community", 2, 100, 5)),
        lots,
        today=TODAY,
        lot_ids=["LOW", "OLD", "EXP", "NIL", "ZZZ"],
    )
    assert [m.zh for m in option.missing] == [
        "「旧」是 5 年前获得的，不能计入",
        "「过期」的学分已于 2026-01-01 过期，不能计入",
        "「低级」的等级为 1，低于要求的 2",
        "「用完」的学分已用完或已锁定",
        "找不到学分批次 ZZZ",
        "还差 1 个社区教育学分（等级 ≥ 2）",
    ]
    other = select(
        rule(AllOf(("A:1",))),
        [lot("L1", "A:1"), lot("L2", "B:1", zh="别的")],
        today=TODAY,
        lot_ids=["L1", "L2"],
    )
    assert other.missing == (
        Message(
            "「别的」不是本规则要求的学习成果", "“Outcome B:1” is not one of the outcomes this rule asks for"
        ),
    )


def test_select_notes_named_lots_it_does_not_need() -> None:
    lots = [lot("L1", "A:1", earned=date(2024, 1, 1)), lot("L2", "A:1", earned=date(2024, 2, 1), zh="第二次")]
    option = select(rule(AllOf(("A:1",))), lots, today=TODAY, lot_ids=["L1", "L2"])
    assert option.eligible and used(option) == [("L1", 100)]
    assert option.notes == (
        Message(
            "「第二次」无需使用（条件已满足）", "“Outcome A:1” is not needed (the condition is already met)"
        ),
    )


# ---------------------------------------------------------------------------------------------
# Cycles
# ---------------------------------------------------------------------------------------------


def test_would_cycle() -> None:
    assert would_cycle([("A", "B")], ("B", "A"))
    assert would_cycle([("A", "B"), ("B", "C")], ("C", "A"))
    assert find_cycle([("A", "B"), ("B", "C")], ("C", "A")) == ["C", "A", "B", "C"]
    assert would_cycle([], ("A", "A"))
    # no false positives: a diamond and a parallel path are not cycles
    diamond = [("A", "B"), ("A", "C"), ("B", "D"), ("C", "D")]
    assert not would_cycle(diamond, ("A", "D"))
    assert not would_cycle(diamond, ("D", "E"))
    assert not would_cycle([("A", "B"), ("C", "B")], ("A", "C"))
    assert would_cycle(diamond, ("D", "A"))
    assert rule_edges(AnyNOf(1, ("X:1", "Y:1", "X:1")), "T:1") == [("X:1", "T:1"), ("Y:1", "T:1")]
    assert rule_edges(CreditsOf("community", 1, 100, None), "T:1") == []


def test_would_cycle_long_chain_is_not_recursive() -> None:
    n = sys.getrecursionlimit() * 2
    chain = [(f"N{i}", f"N{i + 1}") for i in range(n)]
    assert would_cycle(chain, (f"N{n}", "N0"))
    assert not would_cycle(chain, ("N0", f"N{n}"))


# ---------------------------------------------------------------------------------------------
# evaluate_all
# ---------------------------------------------------------------------------------------------


def test_evaluate_all_matches_evaluate_one_by_one() -> None:
    rng = random.Random(7)
    lots = [
        lot(
            f"L{i}",
            f"I{rng.randrange(3)}:{rng.randrange(5)}",
            units=rng.randrange(1, 300),
            category=rng.choice(["community", "senior"]),
            level=rng.randrange(1, 5),
            earned=date(2018, 1, 1) + timedelta(days=rng.randrange(3000)),
            expires=rng.choice([None, date(2026, 1, 1), date(2030, 1, 1)]),
        )
        for i in range(60)
    ]
    rules = [
        rule(AllOf(("I0:1", "I1:2"))),
        rule(AnyNOf(2, ("I0:0", "I2:3", "I1:4"))),
        rule(CreditsOf("senior", 2, 500, 3), ratio=0.5),
        rule(CreditsOf("community", 1, 20000, None)),
    ]
    assert evaluate_all(rules, lots, today=TODAY) == [evaluate(r, lots, today=TODAY) for r in rules]


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------

REFS = ["X:1", "X:2", "Y:1", "Y:2", "Z:1"]
CATS = ["community", "senior", "culture_leisure"]
D0 = date(2015, 1, 1)


@st.composite
def lot_lists(draw) -> list[LotView]:
    n = draw(st.integers(0, 14))
    ids = draw(st.lists(st.text("abcdef0123", min_size=1, max_size=3), min_size=n, max_size=n, unique=True))
    out = []
    for lot_id in ids:
        ref = draw(st.sampled_from(REFS))
        earned = D0 + timedelta(days=draw(st.integers(0, 4200)))
        expires = draw(st.one_of(st.none(), st.just(earned + timedelta(days=draw(st.integers(0, 3000))))))
        out.append(
            lot(
                lot_id,
                ref,
                units=draw(st.integers(0, 400)),
                category=draw(st.sampled_from(CATS)),
                level=draw(st.integers(1, 4)),
                earned=earned,
                expires=expires,
            )
        )
    return out


@st.composite
def rules_(draw) -> RuleView:
    kind = draw(st.sampled_from(["all", "any", "credits"]))
    if kind == "all":
        source = AllOf(tuple(draw(st.lists(st.sampled_from(REFS), min_size=1, max_size=3))))
    elif kind == "any":
        refs = tuple(draw(st.lists(st.sampled_from(REFS), min_size=1, max_size=4)))
        source = AnyNOf(draw(st.integers(1, len(set(refs)))), refs)
    else:
        source = CreditsOf(
            draw(st.sampled_from(CATS)),
            draw(st.integers(1, 4)),
            draw(st.integers(1, 900)),
            draw(st.one_of(st.none(), st.integers(1, 8))),
        )
    ratio = draw(st.one_of(st.none(), st.sampled_from([0.01, 0.29, 0.5, 1.0, 1.5])))
    cap = draw(
        st.one_of(
            st.none(),
            st.builds(
                Caps,
                st.integers(100, 5000),
                st.one_of(st.none(), st.sampled_from([0.1, 0.333, 0.5])),
                st.one_of(st.none(), st.integers(0, 600)),
                st.one_of(st.none(), st.integers(0, 600)),
            ),
        )
    )
    transferred = draw(
        st.builds(
            Transferred,
            st.integers(0, 2000),
            st.integers(0, 600),
            st.dictionaries(st.sampled_from(["X", "Y", "Z"]), st.integers(0, 600)),
        )
    )
    return rule(
        source,
        credits=None if ratio else draw(st.integers(1, 800)),
        ratio=ratio,
        caps=cap,
        transferred=transferred,
        state=draw(st.sampled_from(["approved", "approved", "approved", "proposed"])),
    )


def _check(option, r: RuleView, lots: list[LotView]) -> None:
    by_id = {lv.id: lv for lv in lots}
    ids = [u.lot_id for u in option.would_use]
    assert len(ids) == len(set(ids))
    for u in option.would_use:
        lv = by_id[u.lot_id]
        assert 0 < u.units <= lv.available_units
        assert lv.expires_on is None or lv.expires_on >= TODAY
    assert option.eligible == (not option.missing)
    assert sum(u.granted_units for u in option.would_use) == option.grant_units
    assert all(u.granted_units >= 0 for u in option.would_use)
    if not option.eligible:
        assert option.grant_units == 0
    else:
        assert option.grant_units > 0
        total = sum(u.units for u in option.would_use)
        if isinstance(r.source, CreditsOf):
            assert total == r.source.amount_units
        if r.credits_units is not None:
            assert option.grant_units <= r.credits_units
        else:
            assert option.grant_units <= Fraction(repr(r.ratio)) * total
        if r.caps is not None:
            c, t = r.caps, r.transferred
            if c.max_transfer_ratio is not None:
                assert (
                    option.grant_units <= Fraction(repr(c.max_transfer_ratio)) * c.total_units - t.total_units
                )
            if c.per_year_cap_units is not None:
                assert option.grant_units <= c.per_year_cap_units - t.this_year_units
            if c.per_institution_cap_units is not None:
                used_by: dict[str, int] = {}
                granted_by: dict[str, int] = {}
                for u in option.would_use:
                    inst = by_id[u.lot_id].institution_code
                    used_by[inst] = used_by.get(inst, 0) + u.units
                    granted_by[inst] = granted_by.get(inst, 0) + u.granted_units
                for inst, units in used_by.items():
                    remaining = c.per_institution_cap_units - t.by_institution.get(inst, 0)
                    assert granted_by[inst] <= remaining
                    assert option.grant_units * units <= remaining * total


def _naive_credits(source: CreditsOf, lots: list[LotView]) -> list[tuple[str, int]] | None:
    cutoff = years_before(TODAY, source.within_years) if source.within_years else date.min
    pool = sorted(
        (
            lv
            for lv in lots
            if lv.category == source.category
            and lv.level >= source.min_level
            and lv.earned_on >= cutoff
            and lv.available_units > 0
            and (lv.expires_on is None or lv.expires_on >= TODAY)
        ),
        key=lambda lv: (lv.earned_on, lv.id),
    )
    need, out = source.amount_units, []
    for lv in pool:
        if need == 0:
            break
        take = min(need, lv.available_units)
        out.append((lv.id, take))
        need -= take
    return out if need == 0 else None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lots=lot_lists(), r=rules_(), seed=st.randoms(use_true_random=False))
def test_properties(lots: list[LotView], r: RuleView, seed: random.Random) -> None:
    option = evaluate(r, lots, today=TODAY)
    _check(option, r, lots)
    # independent of the order the lots come in
    shuffled = list(lots)
    seed.shuffle(shuffled)
    assert evaluate(r, shuffled, today=TODAY) == option
    assert evaluate_all([r, r], shuffled, today=TODAY) == [option, option]
    # CreditsOf = the smallest sufficient set in order of age
    if isinstance(r.source, CreditsOf):
        naive = _naive_credits(r.source, lots)
        assert (used(option) or None) == naive
    # naming exactly the lots it would use gives the same answer
    if option.eligible:
        again = select(r, shuffled, today=TODAY, lot_ids=[u.lot_id for u in option.would_use])
        assert (
            again.would_use == option.would_use and again.grant_units == option.grant_units and again.eligible
        )
    # naming arbitrary lots never uses any other lot
    named = {lv.id for lv in lots if seed.random() < 0.5}
    chosen = select(r, shuffled, today=TODAY, lot_ids=named)
    _check(chosen, r, lots)
    assert {u.lot_id for u in chosen.would_use} <= named


def test_use_is_a_plain_value() -> None:
    assert Use("L1", 100, 50) == Use("L1", 100, 50)
