"""Which conversion rules a learner can use now, with which lots, and why not (SPEC §3.5–§3.6).

Pure functions over plain frozen dataclasses: no web, no database; the standard library and
``kit.clock`` only. The service layer loads the learner's lots and the candidate rules (with the
caps of the target qualification and what already counts against them), calls
:func:`evaluate_all` or :func:`select`, and renders the :class:`Option` s.

Conventions
-----------
* Credits are integer hundredths ("units": 150 = 1.5 credits) everywhere.
* Lots are taken oldest first: ordered by ``(earned_on, id)`` — so the result never depends on
  the order the lots were passed in.
* A lot is *usable* when it has ``available_units > 0`` and has not expired
  (``expires_on is None or expires_on >= today``). Lots with nothing available are ignored
  silently; expired lots that would otherwise match are excluded and said so in ``notes``.
* Outcome rules (``AllOf`` / ``AnyNOf``) take a lot only *whole*: nothing of it consumed or
  locked. A lot a credits rule took part of still counts as credits, never as its outcome again
  (``missing`` names the conversion that took it); a lot an outcome rule took is wholly consumed
  or locked, so nothing of it is left for a credits rule either.
* ``Option.eligible`` is True only when the rule is approved and in effect, the learner named no
  unusable lot, the source condition is met and the grant after the caps is > 0. Then
  ``missing`` is empty and ``grant_units > 0``.
* ``Option.would_use`` lists the lots the source condition would take whenever that condition is
  met — even if the rule is not in effect or a cap leaves nothing — so the explanation can show
  them; it is empty when the condition is not met. ``grant_units`` (and every
  ``Use.granted_units``) is 0 whenever ``eligible`` is False.
* ``missing`` is ordered: rule state, refused lots (``select``), the source condition, caps.

Complexity: :func:`evaluate_all` sorts the lots once and indexes them by outcome ref and by
category once per call. A rule then costs O(outcomes named) for ``AllOf``/``AnyNOf`` (dict look-ups)
and O(log lots + lots used) for ``CreditsOf`` (per category × minimum level band, built lazily
once per call, with prefix sums and a bisect on the earned-date cut-off) — never a scan of all
the lots per rule.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache

from creditbank.kit import clock

__all__ = [
    "CAP_INSTITUTION",
    "CAP_TOTAL",
    "CAP_YEAR",
    "CATEGORY_EN",
    "CATEGORY_ZH",
    "AllOf",
    "AnyNOf",
    "Caps",
    "CreditsOf",
    "LotView",
    "Message",
    "Option",
    "RuleView",
    "Source",
    "Transferred",
    "Use",
    "evaluate",
    "evaluate_all",
    "find_cycle",
    "format_units",
    "rule_edges",
    "select",
    "source_refs",
    "would_cycle",
    "years_before",
]

# Own copy (catalogue.models imports sqlmodel; this module must not). Keys are the category strings.
CATEGORY_ZH: dict[str, str] = {
    "academic": "学历教育",
    "vocational_training": "职业培训",
    "vocational_certificate": "职业技能等级证书",
    "community": "社区教育",
    "senior": "老年教育",
    "culture_leisure": "文化休闲",
}
CATEGORY_EN: dict[str, str] = {
    "academic": "academic",
    "vocational_training": "vocational training",
    "vocational_certificate": "vocational certificate",
    "community": "community",
    "senior": "senior",
    "culture_leisure": "culture and leisure",
}

CAP_TOTAL = "max_transfer_ratio"
CAP_YEAR = "per_year_cap"
CAP_INSTITUTION = "per_institution_cap"
_CAP_NAMES = {
    CAP_TOTAL: ("本资历的转换比例上限", "the qualification's cap on converted credits"),
    CAP_YEAR: ("年度转换上限", "the yearly cap"),
    CAP_INSTITUTION: ("来源机构上限", "the per-institution cap"),
}
_CAP_ORDER = {CAP_TOTAL: 0, CAP_YEAR: 1, CAP_INSTITUTION: 2}  # tie-break when two caps allow the same


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LotView:
    id: str
    outcome_ref: str
    """``INSTITUTION:CODE`` of the outcome the lot's credits are for."""
    title_zh: str
    title_en: str | None
    institution_code: str
    """The institution that issued the credits (per-institution caps count by it)."""
    category: str
    level: int
    earned_on: date
    expires_on: date | None
    """Last day the credits count for conversion; None = never."""
    available_units: int
    """amount - consumed - locked."""
    amount_units: int | None = None
    """The lot's whole amount; None = ``available_units`` (nothing of it used or locked)."""
    used_for: tuple[tuple[str, str], ...] = ()
    """(zh, en) names of the rules whose conversions (pending or approved) took part of the lot."""

    @property
    def whole(self) -> bool:
        """Nothing of the lot is used or locked: only such a lot can count as its outcome (SPEC §3.5 —
        partial consumption is for credit-quantity rules; one completion never makes two conversions)."""
        return self.amount_units is None or self.available_units >= self.amount_units


@dataclass(frozen=True)
class AllOf:
    outcomes: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "outcomes", tuple(self.outcomes))
        if not self.outcomes:
            raise ValueError("AllOf needs at least one outcome")


@dataclass(frozen=True)
class AnyNOf:
    n: int
    outcomes: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "outcomes", tuple(self.outcomes))
        distinct = len(set(self.outcomes))
        if not 1 <= self.n <= distinct:
            raise ValueError(f"AnyNOf needs 1 <= n <= {distinct} (distinct outcomes), got n={self.n}")


@dataclass(frozen=True)
class CreditsOf:
    category: str
    min_level: int
    amount_units: int
    within_years: int | None

    def __post_init__(self) -> None:
        if self.category not in CATEGORY_ZH:
            raise ValueError(f"unknown category {self.category!r}")
        if not 1 <= self.min_level <= 10:
            raise ValueError("min_level must be 1–10")
        if self.amount_units <= 0:
            raise ValueError("amount_units must be > 0")
        if self.within_years is not None and self.within_years < 1:
            raise ValueError("within_years must be >= 1 (or None)")


Source = AllOf | AnyNOf | CreditsOf


@dataclass(frozen=True)
class Caps:
    total_units: int
    """The qualification's total credits (units)."""
    max_transfer_ratio: float | None
    per_year_cap_units: int | None
    per_institution_cap_units: int | None


@dataclass(frozen=True)
class Transferred:
    """What already counts against the caps: approved AND pending conversions into the qualification."""

    total_units: int
    this_year_units: int
    by_institution: Mapping[str, int]
    """Source institution code -> units granted (attributed) from its credits."""


@dataclass(frozen=True)
class RuleView:
    id: int
    code: str
    version: int
    name_zh: str
    name_en: str
    source: Source
    target_ref: str
    target_title_zh: str
    credits_units: int | None
    ratio: float | None
    """Exactly one of ``credits_units`` / ``ratio``; a ratio grants floor(ratio × units used)."""
    effective_from: date
    effective_until: date | None
    state: str
    """proposed | approved | retired"""
    titles: Mapping[str, tuple[str, str | None]]
    """outcome_ref -> (title_zh, title_en) for every ref the source names, for explanations."""
    caps: Caps | None = None
    transferred: Transferred | None = None
    target_title_en: str | None = None
    """The target's English title, for English pages (None: they show the Chinese one)."""

    def __post_init__(self) -> None:
        if (self.credits_units is None) == (self.ratio is None):
            raise ValueError("exactly one of credits_units / ratio")
        if self.credits_units is not None and self.credits_units <= 0:
            raise ValueError("credits_units must be > 0")
        if self.ratio is not None and not self.ratio > 0:
            raise ValueError("ratio must be > 0")


@dataclass(frozen=True)
class Use:
    lot_id: str
    units: int
    granted_units: int
    """This lot's share of the grant: proportional to ``units``, remainder to the last use."""


@dataclass(frozen=True)
class Message:
    zh: str
    en: str


@dataclass(frozen=True)
class Option:
    rule: RuleView
    eligible: bool
    would_use: tuple[Use, ...]
    missing: tuple[Message, ...]
    notes: tuple[Message, ...]
    grant_units: int
    bound_by_cap: str | None
    """"max_transfer_ratio" | "per_year_cap" | "per_institution_cap" when a cap reduced the grant."""

    @property
    def used_units(self) -> int:
        return sum(u.units for u in self.would_use)

    @property
    def exchange(self) -> Message | None:
        """What applying gives and takes, in one sentence (None unless eligible): "将使用 2 学分，换得
        0.5 学分". When a cap bound, approval still consumes every credit used (SPEC §3.5 consumes the
        lots the rule took; the cap limits only the grant), so the sentence says so plainly too."""
        if not self.eligible:
            return None
        used, grant = self.used_units, self.grant_units
        zh = f"将使用 {format_units(used)} 学分，换得 {format_units(grant)} 学分"
        en = f"Uses {_credits_en(used)} of yours to receive {_credits_en(grant)}"
        if self.bound_by_cap is not None:
            cap_zh, cap_en = _CAP_NAMES[self.bound_by_cap]
            zh += f"：{cap_zh}只允许换得这些，所用的 {format_units(used)} 学分仍会全部用掉"
            en += f": {cap_en} allows no more, and all {_credits_en(used)} used are still spent"
        return Message(zh, en)


# ---------------------------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------------------------


def format_units(units: int) -> str:
    """150 -> "1.5", 200 -> "2", 25 -> "0.25" (no trailing zeros)."""
    sign = "-" if units < 0 else ""
    whole, cents = divmod(abs(units), 100)
    if not cents:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{cents:02d}".rstrip("0")


def _credits_en(units: int, qualifier: str = "") -> str:
    word = "credit" if units == 100 else "credits"
    return f"{format_units(units)} {qualifier}{word}"


def _percent(ratio: float) -> str:
    return format((Decimal(repr(ratio)) * 100).normalize(), "f")


@lru_cache(maxsize=256)
def _fraction(x: float) -> Fraction:
    """The decimal the user wrote (0.29, not 0.28999…), so floors are exact."""
    return Fraction(repr(x))


def _zh_list(titles: Iterable[str]) -> str:
    return "".join(f"「{t}」" for t in titles)


def _dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _lot_titles(lot: LotView) -> tuple[str, str]:
    return lot.title_zh, lot.title_en or lot.title_zh


def _ref_titles(rule: RuleView, ref: str) -> tuple[str, str]:
    zh, en = rule.titles.get(ref, (ref, None))
    return zh, en or zh


def years_before(day: date, years: int) -> date:
    """``day`` minus ``years`` calendar years; 29 February becomes 28 February in other years."""
    return clock.add_years(day, -years)


def _age(lot: LotView) -> tuple[date, str]:
    return lot.earned_on, lot.id


# ---------------------------------------------------------------------------------------------
# Index (built once per call)
# ---------------------------------------------------------------------------------------------


class _Band:
    """Lots of one category with level >= m, oldest first, with earned dates and prefix sums."""

    __slots__ = ("earned", "lots", "prefix")

    def __init__(self, lots: list[LotView]) -> None:
        self.lots = lots
        self.earned = [lot.earned_on for lot in lots]
        prefix = [0]
        running = 0
        for lot in lots:
            running += lot.available_units
            prefix.append(running)
        self.prefix = prefix


class _Index:
    __slots__ = (
        "_bands",
        "expired_by_cat",
        "expired_by_ref",
        "partial_by_ref",
        "usable_by_cat",
        "usable_by_ref",
    )

    def __init__(self, lots: Iterable[LotView], today: date) -> None:
        self.usable_by_ref: dict[str, list[LotView]] = {}
        self.expired_by_ref: dict[str, list[LotView]] = {}
        self.usable_by_cat: dict[str, list[LotView]] = {}
        self.expired_by_cat: dict[str, list[LotView]] = {}
        self.partial_by_ref: dict[str, list[LotView]] = {}
        """Usable lots partly taken by a credits rule: they still count as credits, not as outcomes."""
        self._bands: dict[tuple[str, int], tuple[_Band, _Band]] = {}
        for lot in sorted((lot for lot in lots if lot.available_units > 0), key=_age):
            if lot.expires_on is None or lot.expires_on >= today:
                by_ref, by_cat = self.usable_by_ref, self.usable_by_cat
                if not lot.whole:
                    by_ref = self.partial_by_ref
            else:
                by_ref, by_cat = self.expired_by_ref, self.expired_by_cat
            by_ref.setdefault(lot.outcome_ref, []).append(lot)
            by_cat.setdefault(lot.category, []).append(lot)

    def band(self, category: str, min_level: int) -> tuple[_Band, _Band]:
        key = (category, min_level)
        bands = self._bands.get(key)
        if bands is None:
            bands = (
                _Band([lot for lot in self.usable_by_cat.get(category, ()) if lot.level >= min_level]),
                _Band([lot for lot in self.expired_by_cat.get(category, ()) if lot.level >= min_level]),
            )
            self._bands[key] = bands
        return bands


# ---------------------------------------------------------------------------------------------
# Source conditions
# ---------------------------------------------------------------------------------------------

# A source match: (lots taken with units, missing messages, notes). Met iff no missing messages.
_Match = tuple[list[tuple[LotView, int]], list[Message], list[Message]]


def _expired_note(lots: Sequence[LotView]) -> Message:
    units = sum(lot.available_units for lot in lots)
    verb = "has" if units == 100 else "have"
    zh = f"{format_units(units)} 个学分已过有效期，不能计入"
    en = f"{_credits_en(units)} {verb} expired and cannot count"
    if len(lots) <= 3:
        titles = [_lot_titles(lot) for lot in lots]
        zh += "：" + _zh_list(_dedupe(t[0] for t in titles))
        en += ": " + ", ".join(_dedupe(t[1] for t in titles))
    return Message(zh, en)


def _too_old_note(lots: Sequence[LotView], units: int, years: int) -> Message:
    verb = "was" if units == 100 else "were"
    unit = "year" if years == 1 else "years"
    zh = f"{format_units(units)} 个学分是 {years} 年前获得的，不能计入"
    en = f"{_credits_en(units)} {verb} earned more than {years} {unit} ago and cannot count"
    if lots:
        titles = [_lot_titles(lot) for lot in lots]
        zh += "：" + _zh_list(_dedupe(t[0] for t in titles))
        en += ": " + ", ".join(_dedupe(t[1] for t in titles))
    return Message(zh, en)


def _partly_used(lot: LotView) -> Message:
    """Why a lot of the right outcome does not count for an outcome rule: a credits rule took part of it."""
    zh, en = _lot_titles(lot)
    used = (lot.amount_units or lot.available_units) - lot.available_units
    names_zh = "、".join(f"「{name}」" for name, _ in lot.used_for) or "其他转换"
    names_en = ", ".join(f"“{name}”" for _, name in lot.used_for) or "another conversion"
    return Message(
        f"「{zh}」已有 {format_units(used)} 学分用于转换{names_zh}（已申请或已批准）；"
        "按课程转换需要这门课程的全部学分，且未被使用过",
        f"{_credits_en(used)} of “{en}” were already used for the conversion {names_en} "
        "(requested or approved); a conversion by course needs all of that course's credits, unused",
    )


def _expired_of_refs(index: _Index, refs: Iterable[str]) -> list[Message]:
    lots = [lot for ref in refs for lot in index.expired_by_ref.get(ref, ())]
    if not lots:
        return []
    lots.sort(key=_age)
    return [_expired_note(lots)]


def _match_all_of(rule: RuleView, source: AllOf, index: _Index) -> _Match:
    uses: list[tuple[LotView, int]] = []
    missing: list[Message] = []
    unheld: list[str] = []
    for ref in _dedupe(source.outcomes):
        held = index.usable_by_ref.get(ref)
        if held:
            uses.append((held[0], held[0].available_units))
        elif ref in index.partial_by_ref:
            missing.append(_partly_used(index.partial_by_ref[ref][0]))
        else:
            unheld.append(ref)
            zh, en = _ref_titles(rule, ref)
            missing.append(Message(f"还差学习成果「{zh}」", f"still need the outcome “{en}”"))
    return uses, missing, _expired_of_refs(index, unheld)


def _match_any_n_of(rule: RuleView, source: AnyNOf, index: _Index) -> _Match:
    refs = _dedupe(source.outcomes)
    oldest: list[LotView] = []
    unheld: list[str] = []
    for ref in refs:
        held = index.usable_by_ref.get(ref)
        if held:
            oldest.append(held[0])
        else:
            unheld.append(ref)
    notes = _expired_of_refs(index, unheld)
    if len(oldest) >= source.n:
        chosen = heapq.nsmallest(source.n, oldest, key=_age)
        return [(lot, lot.available_units) for lot in chosen], [], notes
    short = source.n - len(oldest)
    titles = [_ref_titles(rule, ref) for ref in unheld]
    message = Message(
        f"还差 {short} 项：从{_zh_list(t[0] for t in titles)}中任选",
        f"still need {short} more of: {', '.join(t[1] for t in titles)}",
    )
    partly = [_partly_used(index.partial_by_ref[ref][0]) for ref in unheld if ref in index.partial_by_ref]
    return [], [message, *partly], notes


def _match_credits_of(source: CreditsOf, index: _Index, today: date) -> _Match:
    usable, expired = index.band(source.category, source.min_level)
    cutoff = years_before(today, source.within_years) if source.within_years is not None else None
    start = bisect_left(usable.earned, cutoff) if cutoff is not None else 0
    expired_start = bisect_left(expired.earned, cutoff) if cutoff is not None else 0

    notes: list[Message] = []
    # Too old for this rule (expired or not) -> the within-years note; in the window but expired
    # -> the expired note. Each excluded lot is told once.
    old_units = usable.prefix[start] + expired.prefix[expired_start]
    if old_units:
        old_count = start + expired_start
        old_lots = (
            sorted(usable.lots[:start] + expired.lots[:expired_start], key=_age) if old_count <= 3 else []
        )
        notes.append(_too_old_note(old_lots, old_units, source.within_years or 0))
    if expired_start < len(expired.lots):
        notes.append(_expired_note(expired.lots[expired_start:]))

    base = usable.prefix[start]
    have = usable.prefix[-1] - base
    if have < source.amount_units:
        short = source.amount_units - have
        category_zh = CATEGORY_ZH.get(source.category, source.category)
        category_en = CATEGORY_EN.get(source.category, source.category)
        message = Message(
            f"还差 {format_units(short)} 个{category_zh}学分（等级 ≥ {source.min_level}）",
            f"still need {_credits_en(short, category_en + ' ')} (level ≥ {source.min_level})",
        )
        return [], [message], notes
    target = base + source.amount_units
    end = bisect_left(usable.prefix, target)  # smallest k with prefix[k] >= target; lots[start:k] are used
    uses = [(lot, lot.available_units) for lot in usable.lots[start : end - 1]]
    last = usable.lots[end - 1]
    uses.append((last, target - usable.prefix[end - 1]))
    return uses, [], notes


def _match(rule: RuleView, index: _Index, today: date) -> _Match:
    source = rule.source
    if isinstance(source, AllOf):
        return _match_all_of(rule, source, index)
    if isinstance(source, AnyNOf):
        return _match_any_n_of(rule, source, index)
    if isinstance(source, CreditsOf):
        return _match_credits_of(source, index, today)
    raise TypeError(f"unknown source {source!r}")


# ---------------------------------------------------------------------------------------------
# Rule state, grant, caps
# ---------------------------------------------------------------------------------------------


def _gate(rule: RuleView, today: date) -> Message | None:
    if rule.state == "retired":
        return Message("规则已失效", "rule no longer in effect")
    if rule.state != "approved":
        return Message("规则尚未批准", "rule not approved")
    if today < rule.effective_from:
        day = rule.effective_from.isoformat()
        return Message(f"规则尚未生效（{day} 起）", f"rule not yet in effect (from {day})")
    if rule.effective_until is not None and today > rule.effective_until:
        return Message("规则已失效", "rule no longer in effect")
    return None


def _shares(grant: int, units: Sequence[int]) -> list[int]:
    """Split ``grant`` proportionally to ``units``: floors, the remainder to the last."""
    total = sum(units)
    if not units or total <= 0 or grant <= 0:
        return [0] * len(units)
    shares = [grant * u // total for u in units[:-1]]
    shares.append(grant - sum(shares))
    return shares


def _institution_sums(lots: Sequence[LotView], shares: Sequence[int]) -> dict[str, int]:
    sums: dict[str, int] = {}
    for lot, share in zip(lots, shares):
        sums[lot.institution_code] = sums.get(lot.institution_code, 0) + share
    return sums


def _cap_message(cap: str, caps: Caps, remaining: int, institution: str | None, *, reached: bool) -> Message:
    if cap == CAP_TOTAL:
        pct = _percent(caps.max_transfer_ratio or 0.0)
        if reached:
            return Message(
                f"已达转换上限：本资历最多可转入 {pct}%（已无剩余额度）",
                f"cap reached: at most {pct}% of this qualification may be transferred (no credits left)",
            )
        return Message(
            f"受转换上限限制：本资历最多可转入 {pct}%（还可转入 {format_units(remaining)} 学分）",
            f"limited by the cap: at most {pct}% of this qualification may be transferred "
            f"({_credits_en(remaining)} left)",
        )
    if cap == CAP_YEAR:
        cap_units = caps.per_year_cap_units or 0
        if reached:
            return Message(
                f"已达年度转换上限：每年最多可转入 {format_units(cap_units)} 学分（今年已无剩余额度）",
                f"yearly cap reached: at most {_credits_en(cap_units)} may be transferred a year "
                "(no credits left this year)",
            )
        return Message(
            f"受年度上限限制：每年最多可转入 {format_units(cap_units)} 学分"
            f"（今年还可转入 {format_units(remaining)} 学分）",
            f"limited by the yearly cap: at most {_credits_en(cap_units)} may be transferred a year "
            f"({_credits_en(remaining)} left this year)",
        )
    cap_units = caps.per_institution_cap_units or 0
    if reached:
        return Message(
            f"已达来源机构上限：来自 {institution} 的学分最多可转入 {format_units(cap_units)} 学分（已无剩余额度）",
            f"per-institution cap reached: at most {_credits_en(cap_units)} from {institution} "
            "may be transferred (no credits left)",
        )
    return Message(
        f"受来源机构上限限制：来自 {institution} 的学分最多可转入 {format_units(cap_units)} 学分"
        f"（还可转入 {format_units(remaining)} 学分）",
        f"limited by the per-institution cap: at most {_credits_en(cap_units)} from {institution} "
        f"may be transferred ({_credits_en(remaining)} left)",
    )


def _apply_caps(
    rule: RuleView, lots: Sequence[LotView], units: Sequence[int], grant: int
) -> tuple[int, str | None, Message | None]:
    """(allowed grant, binding cap, its message) — the largest grant within every cap."""
    caps, done = rule.caps, rule.transferred
    if caps is None or done is None:
        return grant, None, None
    # (allowed, cap order, cap, remaining, institution)
    limits: list[tuple[int, int, str, int, str | None]] = []
    if caps.max_transfer_ratio is not None:
        ceiling = (_fraction(caps.max_transfer_ratio) * caps.total_units).__floor__()
        remaining = max(0, ceiling - done.total_units)
        limits.append((remaining, 0, CAP_TOTAL, remaining, None))
    if caps.per_year_cap_units is not None:
        remaining = max(0, caps.per_year_cap_units - done.this_year_units)
        limits.append((remaining, 1, CAP_YEAR, remaining, None))
    remaining_by_inst: dict[str, int] = {}
    if caps.per_institution_cap_units is not None:
        used_by_inst: dict[str, int] = {}
        for lot, u in zip(lots, units):
            used_by_inst[lot.institution_code] = used_by_inst.get(lot.institution_code, 0) + u
        total_used = sum(units)
        for inst in sorted(used_by_inst):
            remaining = max(0, caps.per_institution_cap_units - done.by_institution.get(inst, 0))
            remaining_by_inst[inst] = remaining
            # grant × used_i / used <= remaining_i
            limits.append((remaining * total_used // used_by_inst[inst], 2, CAP_INSTITUTION, remaining, inst))
    if not limits:
        return grant, None, None
    tightest = min(limits)
    allowed = min(grant, tightest[0])
    binding = tightest if allowed < grant else None
    # Shares are integers (floors, remainder to the last lot): never let the rounding push an
    # institution past its cap either.
    if remaining_by_inst:
        while allowed > 0:
            sums = _institution_sums(lots, _shares(allowed, units))
            over = sorted(inst for inst, s in sums.items() if s > remaining_by_inst[inst])
            if not over:
                break
            allowed -= 1
            binding = (allowed, 2, CAP_INSTITUTION, remaining_by_inst[over[0]], over[0])
    if binding is None:
        return grant, None, None
    _, _, cap, remaining, capped_institution = binding
    return allowed, cap, _cap_message(cap, caps, remaining, capped_institution, reached=allowed == 0)


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------


def _evaluate(rule: RuleView, index: _Index, today: date, refused: Sequence[Message] = ()) -> Option:
    gate = _gate(rule, today)
    taken, source_missing, notes = _match(rule, index, today)
    if source_missing:
        taken = []  # would_use lists lots only when the source condition is met
    missing: list[Message] = [gate] if gate else []
    missing.extend(refused)
    missing.extend(source_missing)
    bound: str | None = None
    grant = 0
    taken.sort(key=lambda pair: _age(pair[0]))
    lots = [lot for lot, _ in taken]
    units = [u for _, u in taken]
    if not source_missing:
        used = sum(units)
        if rule.credits_units is not None:
            base = rule.credits_units
        else:
            base = (_fraction(rule.ratio) * used).__floor__()
        if base <= 0:
            missing.append(
                Message(
                    f"按比例折算后可转入的学分为 0（已用 {format_units(used)} 学分）",
                    f"the ratio gives 0 credits for the {_credits_en(used)} used",
                )
            )
        else:
            grant, bound, cap_message = _apply_caps(rule, lots, units, base)
            if cap_message is not None:
                (missing if grant == 0 else notes).append(cap_message)
    eligible = not missing
    if not eligible:
        grant = 0
    shares = _shares(grant, units)
    uses = tuple(Use(lot.id, u, s) for lot, u, s in zip(lots, units, shares))
    return Option(rule, eligible, uses, tuple(missing), tuple(notes), grant, bound)


def evaluate(rule: RuleView, lots: Sequence[LotView], *, today: date) -> Option:
    """One rule against the learner's lots."""
    return _evaluate(rule, _Index(lots, today), today)


def evaluate_all(rules: Sequence[RuleView], lots: Sequence[LotView], *, today: date) -> list[Option]:
    """Every rule against the learner's lots (in the order of ``rules``); the lots are indexed once."""
    index = _Index(lots, today)
    return [_evaluate(rule, index, today) for rule in rules]


def _refusal(rule: RuleView, lot: LotView, today: date) -> Message | None:
    """Why a lot the learner named cannot count for this rule (None when it can)."""
    zh, en = _lot_titles(lot)
    source = rule.source
    if isinstance(source, (AllOf, AnyNOf)):
        if lot.outcome_ref not in source.outcomes:
            return Message(
                f"「{zh}」不是本规则要求的学习成果", f"“{en}” is not one of the outcomes this rule asks for"
            )
    elif isinstance(source, CreditsOf):
        if lot.category != source.category:
            category_en = CATEGORY_EN.get(source.category, source.category)
            article = "an" if category_en[:1] in "aeiou" else "a"
            return Message(
                f"「{zh}」不是{CATEGORY_ZH.get(source.category, source.category)}学分，不能计入",
                f"“{en}” is not {article} {category_en} credit and cannot count",
            )
        if lot.level < source.min_level:
            return Message(
                f"「{zh}」的等级为 {lot.level}，低于要求的 {source.min_level}",
                f"“{en}” is level {lot.level}, below the required level {source.min_level}",
            )
        if source.within_years is not None and lot.earned_on < years_before(today, source.within_years):
            years = source.within_years
            return Message(
                f"「{zh}」是 {years} 年前获得的，不能计入",
                f"“{en}” was earned more than {years} year{'s' if years != 1 else ''} ago and cannot count",
            )
    if lot.available_units <= 0:
        return Message(f"「{zh}」的学分已用完或已锁定", f"“{en}” has no credits left (used or locked)")
    if isinstance(source, (AllOf, AnyNOf)) and not lot.whole:
        return _partly_used(lot)
    if lot.expires_on is not None and lot.expires_on < today:
        day = lot.expires_on.isoformat()
        return Message(
            f"「{zh}」的学分已于 {day} 过期，不能计入", f"“{en}” expired on {day} and cannot count"
        )
    return None


def select(
    rule: RuleView, lots: Sequence[LotView], *, today: date, lot_ids: Collection[str] | None = None
) -> Option:
    """As :func:`evaluate`, but when the learner names lots only those may be used.

    A named lot that cannot count (unknown, other category/outcome, level too low, too old,
    expired, nothing left) is a ``missing`` message naming it, so the option is not eligible.
    Named lots the condition does not need are left alone and said so in ``notes``.
    """
    if lot_ids is None:
        return evaluate(rule, lots, today=today)
    wanted = set(lot_ids)
    named = sorted({lot.id: lot for lot in lots if lot.id in wanted}.values(), key=_age)
    refused: list[Message] = []
    fit: list[LotView] = []
    for lot in named:
        reason = _refusal(rule, lot, today)
        if reason is None:
            fit.append(lot)
        else:
            refused.append(reason)
    known = {lot.id for lot in named}
    for lot_id in sorted(wanted - known):
        refused.append(Message(f"找不到学分批次 {lot_id}", f"no lot {lot_id} among your credits"))
    option = _evaluate(rule, _Index(fit, today), today, refused)
    if option.would_use:
        used = {use.lot_id for use in option.would_use}
        spare = [lot for lot in fit if lot.id not in used]
        if spare:
            extra = [
                Message(
                    f"「{_lot_titles(lot)[0]}」无需使用（条件已满足）",
                    f"“{_lot_titles(lot)[1]}” is not needed (the condition is already met)",
                )
                for lot in spare
            ]
            option = Option(
                option.rule,
                option.eligible,
                option.would_use,
                option.missing,
                option.notes + tuple(extra),
                option.grant_units,
                option.bound_by_cap,
            )
    return option


# ---------------------------------------------------------------------------------------------
# Cycles between outcomes
# ---------------------------------------------------------------------------------------------


def source_refs(source: Source) -> tuple[str, ...]:
    """The outcome refs a source names (none for ``CreditsOf``)."""
    if isinstance(source, (AllOf, AnyNOf)):
        return tuple(_dedupe(source.outcomes))
    return ()


def rule_edges(source: Source, target_ref: str) -> list[tuple[str, str]]:
    """The edges source ref -> target ref a rule adds to the conversion graph."""
    return [(ref, target_ref) for ref in source_refs(source)]


def find_cycle(edges: Iterable[tuple[str, str]], new_edge: tuple[str, str]) -> list[str] | None:
    """The cycle adding ``new_edge`` (a -> b) would close, as [a, b, …, a]; None if none."""
    start, end = new_edge
    if start == end:
        return [start, start]
    graph: dict[str, list[str]] = {}
    for a, b in edges:
        graph.setdefault(a, []).append(b)
    # Is there a path end -> … -> start? Iterative DFS with parents to rebuild it.
    parent: dict[str, str | None] = {end: None}
    stack = [end]
    while stack:
        node = stack.pop()
        if node == start:
            path = [node]
            step = parent[node]
            while step is not None:
                path.append(step)
                step = parent[step]
            path.reverse()  # end … start
            return [start, *path]
        for nxt in graph.get(node, ()):
            if nxt not in parent:
                parent[nxt] = node
                stack.append(nxt)
    return None


def would_cycle(edges: Iterable[tuple[str, str]], new_edge: tuple[str, str]) -> bool:
    """True if adding ``new_edge`` (source ref -> target ref) to ``edges`` creates a cycle."""
    return find_cycle(edges, new_edge) is not None
