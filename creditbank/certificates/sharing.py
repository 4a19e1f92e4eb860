"""Share links (SPEC §3.7): a learner shows a verifier chosen certificates, for 30–180 days.

Who may do what is decided here, for every face: only the learner who owns a link may see its
management view or revoke it (anyone else: ``share_link_not_found``, as if it did not exist); a
link shows only certificates of its own learner; an expired or revoked link shows nothing
(``share_link_expired`` / ``share_link_revoked``, 410).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlmodel import Session, col

from creditbank.certificates.models import Certificate, ShareLink, ShareLinkCertificate
from creditbank.errors import CreditbankError
from creditbank.kit import clock
from creditbank.kit.tokens import new_secret

MIN_DAYS, MAX_DAYS = 30, 180
MAX_NOTE = 200


@dataclass(frozen=True)
class Shared:
    link: ShareLink
    certificate_ids: list[str]

    def state(self, now: datetime) -> str:
        if self.link.revoked_at is not None:
            return "revoked"
        if self.link.expires_at <= now:
            return "expired"
        return "active"


def create(
    session: Session, *, learner_id: int, certificate_ids: list[str], days: int, note: str | None
) -> ShareLink:
    chosen = list(dict.fromkeys(c.strip() for c in certificate_ids if c.strip()))
    if not chosen:
        raise CreditbankError("share_needs_certificates")
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise CreditbankError("invalid_value", {"field": "days", "reason": f"{MIN_DAYS}–{MAX_DAYS}"})
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_NOTE:
        raise CreditbankError("invalid_value", {"field": "note", "reason": f"≤ {MAX_NOTE}"})
    owned = set(
        session.execute(
            select(col(Certificate.id)).where(
                col(Certificate.id).in_(chosen), col(Certificate.learner_id) == learner_id
            )
        ).scalars()
    )
    for certificate_id in chosen:
        if certificate_id not in owned:  # another learner's certificate is "not found", never "forbidden"
            raise CreditbankError("certificate_not_found", {"id": certificate_id})
    now = clock.now()
    link = ShareLink(
        id=new_secret("shr"),
        learner_id=learner_id,
        note=note,
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    session.add(link)
    session.flush()
    for certificate_id in chosen:
        session.add(ShareLinkCertificate(share_link_id=link.id, certificate_id=certificate_id))
    session.flush()
    return link


def _certificates(session: Session, link_ids: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {i: [] for i in link_ids}
    for link_id, certificate_id in session.execute(
        select(col(ShareLinkCertificate.share_link_id), col(ShareLinkCertificate.certificate_id))
        .where(col(ShareLinkCertificate.share_link_id).in_(link_ids))
        .order_by(col(ShareLinkCertificate.certificate_id))
    ):
        out[link_id].append(certificate_id)
    return out


def for_learner(session: Session, learner_id: int) -> list[Shared]:
    links = (
        session.execute(
            select(ShareLink)
            .where(col(ShareLink.learner_id) == learner_id)
            .order_by(col(ShareLink.created_at).desc())
        )
        .scalars()
        .all()
    )
    chosen = _certificates(session, [link.id for link in links])
    return [Shared(link, chosen[link.id]) for link in links]


def get_for_learner(session: Session, *, learner_id: int, link_id: str) -> Shared:
    link = session.get(ShareLink, link_id)
    if link is None or link.learner_id != learner_id:
        raise CreditbankError("share_link_not_found")
    return Shared(link, _certificates(session, [link.id])[link.id])


def revoke(session: Session, *, learner_id: int, link_id: str) -> Shared:
    shared = get_for_learner(session, learner_id=learner_id, link_id=link_id)
    if shared.link.revoked_at is None:
        shared.link.revoked_at = clock.now()
        session.add(shared.link)
        session.flush()
    return shared


def open_link(session: Session, link_id: str) -> Shared:
    """What a verifier opening the link sees; counts the opening. Expired/revoked: 410."""
    link = session.get(ShareLink, link_id)
    if link is None:
        raise CreditbankError("share_link_not_found")
    now = clock.now()
    shared = Shared(link, _certificates(session, [link.id])[link.id])
    state = shared.state(now)
    if state != "active":
        raise CreditbankError("share_link_revoked" if state == "revoked" else "share_link_expired")
    session.execute(
        update(ShareLink)
        .where(col(ShareLink.id) == link.id)
        .values(open_count=col(ShareLink.open_count) + 1, last_opened_at=now)
    )
    return shared
