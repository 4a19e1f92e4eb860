"""What the achievement ids inside credentials answer (issue 12, item 2).

Every credential names its achievement by a URL of the bank:

* ``…/api/v1/outcomes/<INSTITUTION>:<CODE>:v<N>`` — a learning outcome in the version the
  completion was earned under (``…/<INSTITUTION>:<CODE>`` alone: the current version);
* ``…/api/v1/qualifications/<CODE>/versions/<N>`` — a qualification in the version the certificate
  was issued under (certificates issued before versions were named say ``…/qualifications/<CODE>``:
  the current version).

Each answers the Open Badges 3.0 ``Achievement`` — built by the same function the credentials use,
so it is what they embed — and a page for people. Versions never change once written.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from creditbank.catalogue.models import Outcome
from creditbank.certificates import credentials
from creditbank.certificates.credentials import CATEGORY_NAMES, Line
from creditbank.conversion.models import Qualification
from creditbank.errors import CreditbankError
from creditbank.institutions.models import Institution

_VERSION = re.compile(r"v([1-9][0-9]{0,8})")


@dataclass(frozen=True)
class AchievementView:
    document: dict[str, Any]
    """The OB 3.0 ``Achievement`` as a JSON-LD document (with its ``@context``)."""
    page: dict[str, Any]
    """What the page for people shows (templates/web/achievement.html.j2); ``kind`` is a message id
    of the pages' catalogue, the other texts come in both languages."""
    versioned: bool
    """The id named a version: the answer never changes."""


def _credits(units: int) -> str:
    return f"{units / 100:g}"


def outcome(session: Session, base_url: str, ref: str) -> AchievementView:
    parts = ref.split(":")
    match = _VERSION.fullmatch(parts[2]) if len(parts) == 3 else None
    if len(parts) not in (2, 3) or not all(parts[:2]) or (len(parts) == 3 and match is None):
        raise CreditbankError("invalid_outcome_ref", {"ref": ref})
    institution_code, code = parts[0].upper(), parts[1]
    rows = session.execute(
        select(Outcome, Institution)
        .join(Institution, col(Institution.id) == col(Outcome.institution_id))
        .where(col(Institution.code) == institution_code, col(Outcome.code) == code)
        .order_by(col(Outcome.version).desc())
    ).all()
    if not rows:
        raise CreditbankError("outcome_not_found", {"code": ref})
    current = rows[0][0].version
    wanted = int(match.group(1)) if match else current
    found = next(((o, i) for o, i in rows if o.version == wanted), None)
    if found is None:
        raise CreditbankError("outcome_not_found", {"code": ref})
    o, institution = found
    line = Line(
        outcome_ref=f"{institution.code}:{o.code}:v{o.version}",
        title_zh=o.title_zh,
        title_en=o.title_en,
        category=o.category,
        level=o.level,
        credits=_credits(o.credits_units),
        completed_on="",
        institution_code=institution.code,
        institution_name=institution.name_zh,
        available=_credits(o.credits_units),
        outcome_title_zh=o.title_zh,
        outcome_title_en=o.title_en,
    )
    achievement = credentials.achievement_of(line, base_url)
    category_zh, category_en = CATEGORY_NAMES.get(o.category, (o.category, o.category))
    page = {
        "kind": "Learning outcome",
        "name_zh": o.title_zh,
        "name_en": o.title_en,
        "institution_zh": institution.name_zh,
        "institution_code": institution.code,
        "code": o.code,
        "category_zh": category_zh,
        "category_en": category_en,
        "level": o.level,
        "credits": _credits(o.credits_units),
        "hours": f"{o.hours:g}" if o.hours else None,
        "validity_years": o.validity_years,
        "min_score": o.min_score,
        "max_transfer_ratio": None,
        "version": o.version,
        "current_version": current,
        "requirements": [],
        "criteria": achievement["criteria"]["narrative"],
    }
    return AchievementView(credentials.achievement_document(achievement), page, versioned=match is not None)


def qualification(session: Session, base_url: str, code: str, version: int | None = None) -> AchievementView:
    versions = (
        session.execute(
            select(Qualification)
            .where(col(Qualification.code) == code)
            .order_by(col(Qualification.version).desc())
        )
        .scalars()
        .all()
    )
    q = next((v for v in versions if version is None or v.version == version), None)
    if q is None:
        raise CreditbankError(
            "qualification_not_found", {"code": code if version is None else f"{code} v{version}"}
        )
    owner = session.get(Institution, q.owner_institution_id)
    achievement = credentials.qualification_achievement(
        base_url,
        code=q.code,
        version=q.version,
        name_zh=q.name_zh,
        name_en=q.name_en,
        total_required=_credits(q.total_units),
    )
    page = {
        "kind": "Qualification",
        "name_zh": q.name_zh,
        "name_en": q.name_en,
        "institution_zh": owner.name_zh if owner else "",
        "institution_code": owner.code if owner else "",
        "code": q.code,
        "category_zh": None,
        "category_en": None,
        "level": None,
        "credits": _credits(q.total_units),
        "hours": None,
        "validity_years": None,
        "min_score": None,
        "max_transfer_ratio": q.max_transfer_ratio,
        "version": q.version,
        "current_version": versions[0].version,
        "requirements": [_requirement(session, r) for r in json.loads(q.requirements_json)],
        "criteria": achievement["criteria"]["narrative"],
    }
    return AchievementView(credentials.achievement_document(achievement), page, versioned=version is not None)


def _requirement(session: Session, requirement: dict[str, Any]) -> dict[str, str]:
    if "outcome" in requirement:
        ref = requirement["outcome"]
        institution_code, _, code = ref.partition(":")
        title = session.execute(
            select(col(Outcome.title_zh))
            .join(Institution, col(Institution.id) == col(Outcome.institution_id))
            .where(col(Institution.code) == institution_code, col(Outcome.code) == code)
            .order_by(col(Outcome.version).desc())
            .limit(1)
        ).scalar_one_or_none()
        return {"zh": f"完成「{title or ref}」（{ref}）", "en": f"complete {ref}"}
    zh, en = CATEGORY_NAMES.get(requirement["category"], (requirement["category"], requirement["category"]))
    amount = _credits(requirement["min_units"])
    return {"zh": f"{zh}至少 {amount} 学分", "en": f"at least {amount} credits of {en}"}
