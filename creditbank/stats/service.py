"""What the district office enters: resident population, targets, the list of areas to cover.

Each write validates everything first and then writes, so a bad line changes nothing (the unit of
work rolls back on the error as well).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CompoundSelect, delete, func, select, union, update
from sqlmodel import Session, col

from creditbank.db import may_lag
from creditbank.errors import CreditbankError
from creditbank.institutions import districts as bank_districts
from creditbank.institutions.models import Institution
from creditbank.kit import clock
from creditbank.learners.models import Learner
from creditbank.stats.figures import AGE_BANDS
from creditbank.stats.models import AgeBand, Area, Award, Population, Snapshot, Target
from creditbank.stats.queries import TARGETS

MAX_RESIDENTS = 100_000_000
_BAND_ALIASES = {
    **{b.value: b.value for b in AgeBand},
    **{zh: key for key, (zh, _) in AGE_BANDS.items()},
    **{en: key for key, (_, en) in AGE_BANDS.items()},
    "<18": AgeBand.under_18.value,
    "18-59": AgeBand.adult.value,
    "60+": AgeBand.senior.value,
}


def figures_changed(session: Session) -> None:
    """What the figures show changed outside the ledger (population, targets, area list): kept
    figures (``stats.snapshots``) are recomputed at their next request, without waiting for the
    interval."""
    session.execute(
        update(Snapshot).where(col(Snapshot.requested_at).is_(None)).values(requested_at=clock.now())
    )


@dataclass(frozen=True)
class PopulationLine:
    district: str
    age_band: str
    residents: Any
    """As entered (text from a form or a CSV cell, or a number from JSON): checked here."""
    line: int = 1


def _residents(entry: PopulationLine) -> int:
    value = entry.residents
    text = str(value).strip().replace(",", "").replace("，", "") if value is not None else ""
    if isinstance(value, bool) or not text.isdigit() or not 0 < int(text) <= MAX_RESIDENTS:
        raise CreditbankError(
            "population_invalid",
            {
                "line": entry.line,
                "district": entry.district,
                "band": AGE_BANDS.get(entry.age_band, (entry.age_band,))[0],
                "value": "" if value is None else str(value)[:40],
            },
        )
    return int(text)


def set_population(session: Session, *, lines: Iterable[PopulationLine]) -> int:
    """Create or replace the resident population of each (district, age band) given."""
    checked: dict[tuple[str, str], int] = {}
    known = bank_districts.known(session)
    for entry in lines:
        # 重庆市永川区 for a district the bank has (永川区) is that district, not a second one.
        district = entry.district.strip()
        district = bank_districts.canonical(district, known) or district
        band = _BAND_ALIASES.get(entry.age_band.strip())
        if not district or len(district) > 100 or band is None:
            raise CreditbankError(
                "population_invalid",
                {"line": entry.line, "district": district, "band": entry.age_band, "value": entry.residents},
            )
        checked[(district, band)] = _residents(PopulationLine(district, band, entry.residents, entry.line))
    now = clock.now()
    for (district, band), residents in checked.items():
        row = session.get(Population, (district, band))
        if row is None:
            row = Population(district=district, age_band=band, residents=residents, updated_at=now)
        else:
            row.residents, row.updated_at = residents, now
        session.add(row)
    figures_changed(session)
    session.flush()
    return len(checked)


def population(session: Session) -> list[Population]:
    return list(
        session.execute(select(Population).order_by(col(Population.district), col(Population.age_band)))
        .scalars()
        .all()
    )


def set_targets(session: Session, *, percents: dict[str, Any]) -> dict[str, float]:
    """Targets as percentages (60 = 60 %); names are ``queries.TARGETS`` keys."""
    shares: dict[str, float] = {}
    for name, value in percents.items():
        try:
            percent = float(str(value).strip().rstrip("%").strip())
        except ValueError:
            percent = -1.0
        if name not in TARGETS or not 0 < percent <= 100:
            raise CreditbankError("target_invalid", {"name": name, "value": str(value)[:40]})
        shares[name] = round(percent / 100, 4)
    now = clock.now()
    for name, share in shares.items():
        row = session.get(Target, name) or Target(name=name, share=share, updated_at=now)
        row.share, row.updated_at = share, now
        session.add(row)
    figures_changed(session)
    session.flush()
    return shares


@dataclass(frozen=True)
class AreaLine:
    district: str
    township: str
    village: str = ""
    line: int = 1


def replace_areas(session: Session, *, lines: Iterable[AreaLine]) -> int:
    """The area list of each district in ``lines`` becomes exactly those lines (a 村/社区 line adds
    its 乡镇/街道 too). Districts not in ``lines`` keep theirs."""
    wanted: dict[str, set[tuple[str, str]]] = {}
    known = bank_districts.known(session)
    for entry in lines:
        district, township, village = entry.district.strip(), entry.township.strip(), entry.village.strip()
        district = bank_districts.canonical(district, known) or district  # as in set_population
        if not district or not township:
            raise CreditbankError("area_invalid", {"line": entry.line, "reason": "empty"})
        if max(len(district), len(township), len(village)) > 100:
            raise CreditbankError("area_invalid", {"line": entry.line, "reason": "> 100"})
        places = wanted.setdefault(district, set())
        places.add((township, ""))
        if village:
            places.add((township, village))
    for district, places in wanted.items():
        session.execute(delete(Area).where(col(Area.district) == district))
        session.add_all(Area(district=district, township=t, village=v) for t, v in sorted(places))
    figures_changed(session)
    session.flush()
    return sum(len(p) for p in wanted.values())


def areas(session: Session) -> list[Area]:
    return list(
        session.execute(select(Area).order_by(col(Area.district), col(Area.township), col(Area.village)))
        .scalars()
        .all()
    )


@may_lag()  # a filter's choices: may lag when read through Database.read
def districts(session: Session) -> list[str]:
    """Every district named anywhere: on learners, institutions, the area list or a population."""
    names: CompoundSelect = union(
        select(col(Learner.district).label("d")).where(col(Learner.district).is_not(None)).distinct(),
        select(col(Institution.district).label("d")).where(col(Institution.district).is_not(None)).distinct(),
        select(col(Area.district).label("d")).distinct(),
        select(col(Population.district).label("d")).distinct(),
    )
    return sorted(d for (d,) in session.execute(select(names.subquery().c.d)).all() if d)


@dataclass(frozen=True)
class DistrictVariant:
    """A district stored on learners, institutions or awards that is not one of the bank's districts
    (e.g. 重庆市永川区 entered before districts were checked), and the one it names."""

    written: str
    district: str | None
    """The bank's district it names (``institutions.districts.canonical``); None: none or two."""
    learners: int
    institutions: int
    awards: int
    """Awards recorded with it: an award keeps the learner's district of its day (stats.awards)."""


_STORING_DISTRICTS: tuple[type[Learner] | type[Institution] | type[Award], ...] = (
    Learner,
    Institution,
    Award,
)
"""What stores a district, in DistrictVariant's order of counts."""


def district_variants(session: Session) -> list[DistrictVariant]:
    """Every stored spelling that is not one of the bank's districts, with how many rows carry it."""
    known = bank_districts.known(session)
    if not known:
        return []
    counts: dict[str, list[int]] = {}
    for position, model in enumerate(_STORING_DISTRICTS):
        column = col(model.district)
        rows = session.execute(
            select(column, func.count()).where(column.is_not(None), column.not_in(known)).group_by(column)
        ).all()
        for written, count in rows:
            counts.setdefault(written, [0] * len(_STORING_DISTRICTS))[position] = count
    return [
        DistrictVariant(written, bank_districts.canonical(written, known), *n)
        for written, n in sorted(counts.items())
    ]


def map_district_variants(session: Session) -> list[DistrictVariant]:
    """Rewrite each stored spelling that names one of the bank's districts as that district (learners,
    institutions and awards — an award's certificate already issued keeps the text it was signed
    with); the others are left for the operator. Returns every variant found."""
    variants = district_variants(session)
    mapped = [v for v in variants if v.district is not None]
    for variant in mapped:
        for model in _STORING_DISTRICTS:
            session.execute(
                update(model).where(col(model.district) == variant.written).values(district=variant.district)
            )
    if mapped:
        figures_changed(session)
    return variants


# -- CSV files -------------------------------------------------------------------------------------

POPULATION_HEADERS = {
    "district": {"district", "区县", "区/县", "区"},
    "age_band": {"age_band", "年龄段", "age band"},
    "residents": {"residents", "常住人口", "人口", "population"},
}
AREA_HEADERS = {
    "district": {"district", "区县", "区/县", "区"},
    "township": {"township", "乡镇/街道", "乡镇街道", "乡镇", "街道"},
    "village": {"village", "村/社区", "村社区", "村", "社区"},
}


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise CreditbankError("stats_file_invalid", {"reason": "UTF-8 / GB18030"})


def read_csv(data: bytes, headers: dict[str, set[str]]) -> list[tuple[int, dict[str, str]]]:
    """(line number, {field: text}) for each non-empty line of a small CSV (a district's population
    or area list: hundreds of lines, so it is read whole)."""
    reader = csv.reader(io.StringIO(_decode(data)))
    try:
        header = next(reader)
    except StopIteration:
        raise CreditbankError("stats_file_invalid", {"reason": "empty"}) from None
    index: dict[str, int] = {}
    for i, name in enumerate(header):
        for field, aliases in headers.items():
            if name.strip().lower() in aliases:
                index[field] = i
    required = [f for f in headers if f != "village"]
    missing = [f for f in required if f not in index]
    if missing:
        raise CreditbankError("stats_file_invalid", {"reason": "columns: " + ", ".join(missing)})
    rows = []
    for line, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        rows.append((line, {f: cells[i].strip() if i < len(cells) else "" for f, i in index.items()}))
    return rows


def population_from_csv(data: bytes) -> list[PopulationLine]:
    return [
        PopulationLine(r["district"], r["age_band"], r["residents"], line)
        for line, r in read_csv(data, POPULATION_HEADERS)
    ]


def areas_from_csv(data: bytes) -> list[AreaLine]:
    return [
        AreaLine(r["district"], r["township"], r.get("village", ""), line)
        for line, r in read_csv(data, AREA_HEADERS)
    ]
