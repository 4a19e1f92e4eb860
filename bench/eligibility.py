"""Eligibility benchmark: ``conversion.rules.evaluate_all`` for one learner as lots and rules grow.

    python bench/eligibility.py [--budget 100] [--seed 1]

Grid: lots 10 → 100 → 1 000 → 10 000 × rules 10 → 100 → 1 000. Rules are a mix of the three
source kinds (all-of, any-n-of, credits-of; about half with qualification caps), naming random
outcomes (half of them outcomes the learner holds, so the rules are relevant) and random
categories/levels/windows; lots have random outcomes, categories, levels, ages and expiry.

For each cell it prints ms per ``evaluate_all`` call, the lot-indexing part alone (a call with no
rules), the number of (lot × relevant rule) pairs — for each rule, the learner's lots in the
buckets it can draw from: lots of the outcomes it names, or lots of its category — and µs per
pair. The goal is linear in lots × relevant rules or better: µs/pair must stay flat or fall as
the grid grows. (The engine answers credits-of rules from per category×level bands with prefix
sums and a bisect, so a rule costs O(log lots + lots used), and µs/pair falls.)

Runtime is bounded by ``--budget`` seconds (default 100): a cell whose estimated cost (from the
cells already run) would overrun the budget is skipped and reported as such.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from creditbank.conversion.rules import (  # noqa: E402
    AllOf,
    AnyNOf,
    Caps,
    CreditsOf,
    LotView,
    RuleView,
    Transferred,
    evaluate_all,
)

TODAY = date(2026, 6, 1)
CATEGORIES = [
    "academic",
    "vocational_training",
    "vocational_certificate",
    "community",
    "senior",
    "culture_leisure",
]
INSTITUTIONS = [f"I{i:02d}" for i in range(40)]
UNIVERSE = [f"{inst}:C{j:03d}" for inst in INSTITUTIONS for j in range(50)]  # 2 000 outcomes
LOTS = [10, 100, 1_000, 10_000]
RULES = [10, 100, 1_000]


def make_lots(rng: random.Random, n: int) -> list[LotView]:
    lots = []
    for i in range(n):
        ref = rng.choice(UNIVERSE)
        earned = TODAY - timedelta(days=rng.randrange(1, 3650))
        expires = None if rng.random() < 0.7 else earned + timedelta(days=rng.randrange(365, 3650))
        lots.append(
            LotView(
                id=f"L{i:06d}",
                outcome_ref=ref,
                title_zh=f"课程{ref}",
                title_en=None if i % 3 else f"Course {ref}",
                institution_code=ref.split(":")[0],
                category=rng.choice(CATEGORIES),
                level=rng.randint(1, 6),
                earned_on=earned,
                expires_on=expires,
                available_units=rng.choice([0, 50, 100, 100, 150, 200, 300]),
            )
        )
    return lots


def make_rules(rng: random.Random, n: int, held: list[str]) -> list[RuleView]:
    def ref() -> str:
        return rng.choice(held) if held and rng.random() < 0.5 else rng.choice(UNIVERSE)

    rules = []
    for i in range(n):
        kind = i % 3
        if kind == 0:
            source = AllOf(tuple({ref() for _ in range(rng.randint(1, 3))}))
        elif kind == 1:
            refs = tuple({ref() for _ in range(rng.randint(2, 6))})
            source = AnyNOf(rng.randint(1, len(refs)), refs)
        else:
            source = CreditsOf(
                rng.choice(CATEGORIES),
                rng.randint(1, 5),
                rng.choice([100, 300, 500, 1000, 3000]),
                rng.choice([None, 2, 5, 10]),
            )
        caps = transferred = None
        if rng.random() < 0.5:
            caps = Caps(
                total_units=rng.choice([3000, 12000]),
                max_transfer_ratio=rng.choice([None, 0.5]),
                per_year_cap_units=rng.choice([None, 4200]),
                per_institution_cap_units=rng.choice([None, 1500]),
            )
            transferred = Transferred(
                total_units=rng.randrange(0, 3000),
                this_year_units=rng.randrange(0, 4200),
                by_institution={inst: rng.randrange(0, 1500) for inst in rng.sample(INSTITUTIONS, 5)},
            )
        ratio = 0.5 if rng.random() < 0.3 else None
        refs = getattr(source, "outcomes", ())
        rules.append(
            RuleView(
                id=i,
                code=f"R{i}",
                version=1,
                name_zh=f"规则{i}",
                name_en=f"Rule {i}",
                source=source,
                target_ref=f"TGT:T{i}",
                target_title_zh=f"目标{i}",
                credits_units=None if ratio else rng.choice([100, 200, 400]),
                ratio=ratio,
                effective_from=date(2020, 1, 1),
                effective_until=None if rng.random() < 0.9 else date(2025, 1, 1),
                state="approved" if rng.random() < 0.9 else "proposed",
                titles={r: (f"课程{r}", None) for r in refs},
                caps=caps,
                transferred=transferred,
            )
        )
    return rules


def relevant_pairs(rules: list[RuleView], lots: list[LotView]) -> int:
    by_ref: dict[str, int] = {}
    by_cat: dict[str, int] = {}
    for lot in lots:
        by_ref[lot.outcome_ref] = by_ref.get(lot.outcome_ref, 0) + 1
        by_cat[lot.category] = by_cat.get(lot.category, 0) + 1
    pairs = 0
    for rule in rules:
        source = rule.source
        if isinstance(source, CreditsOf):
            pairs += by_cat.get(source.category, 0)
        else:
            pairs += sum(by_ref.get(r, 0) for r in set(source.outcomes))
    return pairs


def timed(fn, min_seconds: float = 0.25, min_reps: int = 3) -> tuple[float, int, float]:
    """(best seconds per call, reps, seconds spent)."""
    best = float("inf")
    reps = 0
    started = time.perf_counter()
    while reps < min_reps or time.perf_counter() - started < min_seconds:
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        reps += 1
    return best, reps, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--budget", type=float, default=100.0, help="seconds for the whole grid (default 100)"
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    started = time.perf_counter()
    print(f"evaluate_all, one learner; best of ≥3 calls (≥0.25 s) per cell; Python {sys.version.split()[0]}")
    header = (
        f"{'lots':>6} {'rules':>6} {'ms/call':>9} {'index ms':>9} {'eligible':>8} "
        f"{'lot×rule pairs':>15} {'µs/pair':>8} {'µs/rule':>8}"
    )
    print(header)
    print("-" * len(header))
    per_pair: dict[tuple[int, int], float] = {}
    last_cost = 0.0  # seconds the previous cell took (setup + timing)
    skipped: list[tuple[int, int]] = []
    for n_lots in LOTS:
        rng = random.Random(args.seed * 1_000_003 + n_lots)
        lots = make_lots(rng, n_lots)
        held = sorted({lot.outcome_ref for lot in lots})
        index_s, _, _ = timed(lambda: evaluate_all([], lots, today=TODAY))
        for n_rules in RULES:
            spent = time.perf_counter() - started
            # the next cell costs at most ~10× the previous one (10× rules or 10× lots)
            if spent + 10 * last_cost > args.budget and last_cost:
                skipped.append((n_lots, n_rules))
                print(
                    f"{n_lots:>6} {n_rules:>6}   skipped: estimated {10 * last_cost:.0f} s would overrun the "
                    f"{args.budget:.0f} s budget ({spent:.0f} s spent)"
                )
                continue
            cell_start = time.perf_counter()
            rules = make_rules(random.Random(args.seed * 7919 + n_lots * 31 + n_rules), n_rules, held)
            pairs = relevant_pairs(rules, lots)
            options = evaluate_all(rules, lots, today=TODAY)
            eligible = sum(o.eligible for o in options)
            call_s, _, _ = timed(lambda: evaluate_all(rules, lots, today=TODAY))
            last_cost = time.perf_counter() - cell_start
            per_pair[(n_lots, n_rules)] = call_s * 1e6 / max(pairs, 1)
            print(
                f"{n_lots:>6} {n_rules:>6} {call_s * 1e3:>9.3f} {index_s * 1e3:>9.3f} {eligible:>8} "
                f"{pairs:>15,} {call_s * 1e6 / max(pairs, 1):>8.3f} {call_s * 1e6 / n_rules:>8.2f}"
            )
    print()
    if (10, 10) in per_pair and (LOTS[-1], RULES[-1]) in per_pair:
        growth = per_pair[(LOTS[-1], RULES[-1])] / per_pair[(10, 10)]
        print(f"µs/pair at {LOTS[-1]:,}×{RULES[-1]:,} vs 10×10: ×{growth:.2f} (≤ 1 means linear or better)")
    if skipped:
        print("skipped cells (over budget): " + ", ".join(f"{a}×{b}" for a, b in skipped))
    print(f"total {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
