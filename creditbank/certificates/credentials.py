"""Building the credential documents (pure: no database, no keys).

An achievement is an Open Badges 3.0 ``OpenBadgeCredential`` (W3C VC 2.0); a transcript is a
CLR 2.0 ``ClrCredential`` that embeds one signed achievement credential per line. The same
``Printed`` facts feed the PDF, the QR payload and the verification page, so what a person
reads is exactly what is signed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

VC_V2 = "https://www.w3.org/ns/credentials/v2"
OB_V3 = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
CLR_V2 = "https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json"

CATEGORY_NAMES = {
    "academic": ("学历教育", "Academic education"),
    "vocational_training": ("职业培训", "Vocational training"),
    "vocational_certificate": ("职业技能等级证书", "Vocational skill certificate"),
    "community": ("社区教育", "Community education"),
    "senior": ("老年教育", "Senior education"),
    "culture_leisure": ("文化休闲", "Culture and leisure"),
}

KIND_TITLES = {
    "achievement": ("学习成果证书", "Certificate of Learning Achievement"),
    "transcript": ("学分成绩单", "Credit Transcript"),
    "conversion": ("学分转换证明", "Credit Conversion Certificate"),
    "qualification": ("资历证书", "Qualification Certificate"),
    "award": ("学习表彰证书", "Certificate of Award"),
}


@dataclass(frozen=True)
class Line:
    """One printed line: an outcome the learner achieved."""

    outcome_ref: str  # INSTITUTION:CODE:vVERSION
    title_zh: str
    title_en: str | None
    category: str
    level: int
    credits: str  # display text, e.g. "1.5"
    completed_on: str  # YYYY-MM-DD
    institution_code: str
    institution_name: str
    available: str | None = None
    """The outcome version's own credits (the achievement's ``creditsAvailable``): ``credits`` is
    what this learner holds of it. ``None`` on certificates issued before it was recorded."""
    outcome_title_zh: str | None = None
    outcome_title_en: str | None = None
    """The outcome's own titles, for its ``Achievement``: a transcript line's ``title_*`` may add
    what happened to the learner's credits ("1.5 学分已转换"), which belongs to the line, not the
    outcome. ``None`` on certificates issued before they were recorded."""


@dataclass(frozen=True)
class Printed:
    """Everything a certificate shows a person."""

    certificate_id: str
    kind: str
    issued_on: str
    issuer_did: str
    issuer_name_zh: str
    issuer_name_en: str
    learner_name: str
    id_masked: str
    account_no: str
    total_credits: str
    lines: tuple[Line, ...]


def qr_claims(p: Printed) -> dict[str, Any]:
    """The claims the QR payload signs (``kit.qrpayload``, ``docs/qr-format.md``): the printed text."""
    claims: dict[str, Any] = {
        "certificate_id": p.certificate_id,
        "kind": p.kind,
        "issued_on": p.issued_on,
        "issuer_name": p.issuer_name_zh,
        "issuer_did": p.issuer_did,
        "learner_name": p.learner_name,
        "id_masked": p.id_masked,
        "total_credits": p.total_credits,
        "lines": [
            {
                "title_zh": line.title_zh,
                "credits": line.credits,
                "completed_on": line.completed_on,
                "institution_code": line.institution_code,
            }
            for line in p.lines
        ],
    }
    if p.account_no:
        claims["account_no"] = p.account_no
    return claims


def credits_number(text: str) -> float | int:
    value = float(text)
    return int(value) if value.is_integer() else value


def _total(p: Printed) -> str:
    return f"共 {p.total_credits} 学分 · {p.total_credits} credits in total · {len(p.lines)} 项 items"


def _issuer(p: Printed) -> dict:
    return {
        "id": p.issuer_did,
        "type": ["Profile"],
        "name": p.issuer_name_zh,
        "description": p.issuer_name_en,
    }


def _identifiers(p: Printed) -> list[dict]:
    # Plain (unhashed) identity objects: the certificate prints them anyway, and a verifier must
    # be able to compare the printed name and masked ID with what was signed.
    return [
        {"type": "IdentityObject", "identityType": "name", "hashed": False, "identityHash": p.learner_name},
        {
            "type": "IdentityObject",
            "identityType": "nationalIdentityNumber",
            "hashed": False,
            "identityHash": p.id_masked,
        },
        {
            "type": "IdentityObject",
            "identityType": "accountId",
            "hashed": False,
            "identityHash": p.account_no,
        },
    ]


def achievement_of(line: Line, base_url: str) -> dict:
    """The OB 3.0 ``Achievement`` of an outcome version: what its id (``…/api/v1/outcomes/<ref>``)
    answers, and what every credential embeds."""
    zh, en = CATEGORY_NAMES.get(line.category, (line.category, line.category))
    title_zh, title_en = (
        (line.outcome_title_zh, line.outcome_title_en)
        if line.outcome_title_zh
        else (
            line.title_zh,
            line.title_en,
        )
    )
    name = title_zh if not title_en else f"{title_zh} ({title_en})"
    return {
        "id": f"{base_url}/api/v1/outcomes/{line.outcome_ref}",
        "type": ["Achievement"],
        "achievementType": "Course",
        "name": name,
        "description": f"{zh} · {en} · 等级 level {line.level} · {line.institution_name}",
        "criteria": {"narrative": f"完成{line.institution_name}的学习成果「{title_zh}」并通过考核。"},
        "creditsAvailable": credits_number(line.available or line.credits),
        "fieldOfStudy": zh,
        "humanCode": line.outcome_ref,
    }


def _credential(
    p: Printed,
    *,
    base_url: str,
    status: dict | None,
    valid_from: str,
    contexts: list[str],
    kind_type: str,
    name: str,
    subject: dict,
    **extra: object,
) -> dict:
    """The envelope every certificate shares: issuer, dates, the learner's identity, the status entry."""
    credential = {
        "@context": [VC_V2, *contexts],
        "id": f"{base_url}/api/v1/certificates/{p.certificate_id}",
        "type": ["VerifiableCredential", kind_type],
        "name": name,
        "description": _total(p),
        "issuer": _issuer(p),
        "validFrom": valid_from,
        "credentialSubject": {"id": f"urn:creditbank:account:{p.account_no}", **subject},
        **extra,
    }
    if status is not None:
        credential["credentialStatus"] = status
    return credential


def achievement_credential(p: Printed, *, base_url: str, status: dict | None, valid_from: str) -> dict:
    line = p.lines[0]
    return _credential(
        p,
        base_url=base_url,
        status=status,
        valid_from=valid_from,
        contexts=[OB_V3],
        kind_type="OpenBadgeCredential",
        name=f"{KIND_TITLES[p.kind][0]} · {line.title_zh}",
        subject={
            "type": ["AchievementSubject"],
            "identifier": _identifiers(p),
            "achievement": achievement_of(line, base_url),
            "creditsEarned": credits_number(line.credits),
            "activityEndDate": f"{line.completed_on}T00:00:00Z",
        },
    )


def transcript_credential(
    p: Printed, *, base_url: str, status: dict | None, valid_from: str, embedded: list[dict]
) -> dict:
    """CLR 2.0: ``embedded`` are the signed achievement credentials, one per line."""
    return _credential(
        p,
        base_url=base_url,
        status=status,
        valid_from=valid_from,
        contexts=[CLR_V2, OB_V3],
        kind_type="ClrCredential",
        name=f"{KIND_TITLES['transcript'][0]} · {p.learner_name}",
        subject={"type": ["ClrSubject"], "identifier": _identifiers(p), "verifiableCredential": embedded},
    )


def summary_credential(
    p: Printed,
    *,
    base_url: str,
    status: dict | None,
    valid_from: str,
    achievement: dict,
    evidence: list[dict],
) -> dict:
    """A conversion or qualification certificate: one achievement, the lines as its evidence."""
    return _credential(
        p,
        base_url=base_url,
        status=status,
        valid_from=valid_from,
        contexts=[OB_V3],
        kind_type="OpenBadgeCredential",
        name=f"{KIND_TITLES[p.kind][0]} · {achievement['name']}",
        subject={
            "type": ["AchievementSubject"],
            "identifier": _identifiers(p),
            "achievement": achievement,
            "creditsEarned": credits_number(p.total_credits),
        },
        evidence=evidence,
    )


def award_credential(
    p: Printed, *, base_url: str, status: dict | None, valid_from: str, award_id: str, narrative: str
) -> dict:
    """A recognition as an Open Badge: an ``Achievement`` of ``achievementType`` ``Award``. It grants
    no credits (``creditsAvailable``/``creditsEarned`` 0); what the learner earned to deserve it is in
    the description and the criteria."""
    line = p.lines[0]
    name = line.title_zh if not line.title_en else f"{line.title_zh} ({line.title_en})"
    achievement = {
        "id": f"{base_url}/api/v1/certificates/{p.certificate_id}#award-{award_id}",
        "type": ["Achievement"],
        "achievementType": "Award",
        "name": name,
        "description": f"{line.institution_name} · {line.completed_on}",
        "criteria": {"narrative": narrative},
        "creditsAvailable": 0,
        "humanCode": award_id,
    }
    return _credential(
        p,
        base_url=base_url,
        status=status,
        valid_from=valid_from,
        contexts=[OB_V3],
        kind_type="OpenBadgeCredential",
        name=f"{KIND_TITLES['award'][0]} · {line.title_zh}",
        subject={
            "type": ["AchievementSubject"],
            "identifier": _identifiers(p),
            "achievement": achievement,
            "creditsEarned": 0,
            "activityEndDate": f"{line.completed_on}T00:00:00Z",
        },
    )


def line_role(kind: str, index: int) -> str | None:
    """What a printed line is on a conversion certificate: line 0 the granted ``target``, the
    others the ``source`` credits it was converted from (so since the first one was issued). The
    PDF, the verification page and the verify answer mark them by this; the signed credential
    by shape (the target is the ``achievement``, the sources its ``evidence``). Other kinds: None."""
    if kind != "conversion":
        return None
    return "target" if index == 0 else "source"


def conversion_parts(p: Printed, base_url: str) -> tuple[dict, list[dict]]:
    """Line 0 is the granted target; the other lines are the credits it was converted from
    (``line_role``)."""
    target, sources = p.lines[0], p.lines[1:]
    achievement = achievement_of(target, base_url)
    evidence = [
        {
            "type": ["Evidence"],
            "name": f"来源 Source: {line.title_zh}",
            "description": f"{line.credits} 学分 credits · {line.institution_name} · {line.completed_on}",
        }
        for line in sources
    ]
    return achievement, evidence


def qualification_achievement(
    base_url: str, *, code: str, version: int, name_zh: str, name_en: str | None, total_required: str
) -> dict:
    """The OB 3.0 ``Achievement`` of a qualification version (``…/qualifications/<code>/versions/<n>``)."""
    name = name_zh if not name_en else f"{name_zh} ({name_en})"
    return {
        "id": f"{base_url}/api/v1/qualifications/{code}/versions/{version}",
        "type": ["Achievement"],
        "achievementType": "Diploma",
        "name": name,
        "description": f"{name_zh}：要求 {total_required} 学分 / requires {total_required} credits",
        "criteria": {"narrative": f"满足资历「{name_zh}」的全部学分要求。"},
        "creditsAvailable": credits_number(total_required),
        "humanCode": code,
    }


def achievement_document(achievement: dict) -> dict:
    """An embedded ``Achievement`` as a JSON-LD document of its own (what its id answers)."""
    return {"@context": [VC_V2, OB_V3], **achievement}


def qualification_parts(
    p: Printed,
    base_url: str,
    *,
    code: str,
    version: int,
    name_zh: str,
    name_en: str | None,
    total_required: str,
) -> tuple[dict, list[dict]]:
    achievement = qualification_achievement(
        base_url, code=code, version=version, name_zh=name_zh, name_en=name_en, total_required=total_required
    )
    evidence = [
        {
            "type": ["Evidence"],
            "name": line.title_zh,
            "description": f"{line.credits} 学分 credits · {line.institution_name} · {line.completed_on}",
        }
        for line in p.lines
    ]
    return achievement, evidence
