"""The bank's districts (区县): one spelling each, so statistics never split a district in two.

A district is free text where people type it — an institution's address, an enrolment form, an
LMS export — and 「重庆市永川区」 beside 「永川区」 made two rows in every figure, two choices in the
district filter, and a participation rate counted against the wrong population. The bank's own
districts are those of its area list (区域名录, ``Area``) and resident population (``Population``),
which the operator keeps (/operator/stats/areas, /operator/stats/population); every district given at
enrolment or for an institution is written as one of them:

* the same text (spaces aside) — kept;
* a province or city written before it (重庆市永川区, 重庆永川区, 淄博市临淄区) — the district;
* the district without its 区/县/市/旗 (永川) — the district;
* anything else, or a form that fits two of the bank's districts — refused (``unknown_district``,
  ``ambiguous_district``), naming the districts the bank has and where the operator adds one.

A bank with no area list and no population yet has nothing to compare against: it takes the district
as written (cleaned). ``canonical`` alone (no refusal) maps what was stored before
(``creditbank districts --apply``).
"""

from __future__ import annotations

from sqlalchemy import union
from sqlmodel import Session, col, select

from creditbank.errors import CreditbankError
from creditbank.institutions.models import Area, Population
from creditbank.kit import text

UNITS = ("区", "县", "市", "旗")
"""What ends a 区县-level name: 永川区, 巫山县, 都江堰市 (county-level city), 额济纳旗."""
_SHOWN = 12


def known(session: Session) -> list[str]:
    """The bank's districts: every district of its area list or its resident population, sorted."""
    names = union(select(col(Area.district)).distinct(), select(col(Population.district)).distinct())
    return sorted({d for (d,) in session.execute(names).all() if d})


def candidates(value: str, districts: list[str]) -> list[str]:
    """The bank's districts ``value`` may name (see the module's rules); exact first."""
    written = "".join(value.split())
    if written in districts:
        return [written]
    return [
        d
        for d in districts
        if written.endswith(d)  # 重庆市永川区 → 永川区
        or (len(written) >= 2 and d.endswith(written))  # 永川区 → 重庆市永川区, if listed so
        or any(d == written + unit for unit in UNITS)  # 永川 → 永川区
    ]


def canonical(value: str, districts: list[str]) -> str | None:
    """The one district of ``districts`` that ``value`` names, or None (none, or two)."""
    found = candidates(value, districts)
    return found[0] if len(found) == 1 else None


def check(session: Session, value: str | None, *, field: str = "district") -> str | None:
    """``value`` cleaned and written as the bank's district (None for blank), or ``unknown_district``
    / ``ambiguous_district`` (422)."""
    cleaned = text.optional(value, field=field, max_length=100)
    if cleaned is None:
        return None
    districts = known(session)
    if not districts:
        return cleaned
    found = candidates(cleaned, districts)
    if len(found) == 1:
        return found[0]
    if found:
        raise CreditbankError(
            "ambiguous_district", {"field": field, "district": cleaned, "choices": "、".join(found)}
        )
    shown = "、".join(districts[:_SHOWN])
    more = len(districts) - _SHOWN
    raise CreditbankError(
        "unknown_district",
        {
            "field": field,
            "district": cleaned,
            "allowed_zh": shown + (f" 等 {len(districts)} 个" if more > 0 else ""),
            "allowed_en": shown.replace("、", ", ") + (f" and {more} more" if more > 0 else ""),
        },
        errors=[{"field": field, "allowed": districts}],
    )
