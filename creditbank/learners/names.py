"""Correcting a learner's stored name (SPEC §3.2): 张小明 enrolled for 张晓明, or a name stored
before ``kit.text`` that a certificate now refuses (``certificate_data_invalid``).

- Who: the institution that enrolled the learner (``Learner.enrolled_by_id``) and the operator. An
  institution that cannot see the learner at all gets ``learner_not_found`` (as for a balance: it
  does not learn the account exists); one that taught or re-enrolled them gets
  ``name_correction_not_allowed``, naming who can.
- Nothing is overwritten silently: every correction adds a ``NameCorrection`` row (old name, new
  name, reason, who, when) in the transaction that changes ``Learner.name``, under the learner's
  row lock. Rows are never changed or deleted.
- The new name goes through ``kit.text`` as at enrolment; so does the reason (the learner reads it).
- Asking for the name the learner already has changes nothing and answers the correction that
  set it (a retry after a lost answer gets the same answer).
- The ID number is not touched: another ID number is another person (a new enrolment).

Certificates are not touched either: each one signed the name of its day and keeps it, so an old
certificate still verifies as genuine and shows the name it was issued with; certificates issued
after the correction carry the new name (docs/certificates.md, "A corrected name").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from creditbank.errors import CreditbankError
from creditbank.institutions import service as institutions
from creditbank.institutions.models import Institution
from creditbank.kit import clock, text
from creditbank.kit.tokens import new_ordered_id
from creditbank.learners import service as learners
from creditbank.learners.models import Learner, NameCorrection

OPERATOR_ZH, OPERATOR_EN = "区学分银行", "the district office"
"""How the operator is named to a clerk and to the learner (as ``learners.enrolled_by`` does)."""


@dataclass(frozen=True)
class Correction:
    """A correction as people read it: who is an institution (or the district office)."""

    id: str
    old_name: str
    new_name: str
    reason: str
    corrected_at: datetime
    corrected_by: str
    institution_code: str | None
    """None: the operator (the district office)."""
    institution_name_zh: str
    institution_name_en: str


@dataclass(frozen=True)
class Corrected:
    learner: Learner
    correction: Correction | None
    """The correction made now — or, when the name was already this one, the last correction
    (None if the name was never corrected)."""
    changed: bool

    @property
    def action_note(self) -> str | None:
        """The staff activity log's line for a correction made now (None when nothing changed):
        the old name with hidden characters written out, as the clerk's page shows it."""
        if not self.changed or self.correction is None:
            return None
        c = self.correction
        return f"{self.learner.account_no}: {text.visible(c.old_name)} → {c.new_name}"


def correct(
    session: Session,
    *,
    account_no: str,
    name: str,
    reason: str,
    institution_id: int | None,
    corrected_by: str,
) -> Corrected:
    """Set the learner's name to ``name`` and record the correction; ``institution_id`` None is the
    operator. Flushes; the caller's unit of work commits."""
    name = text.clean(name, field="name", max_length=100)
    reason = text.clean(reason, field="reason", max_length=500)
    if institution_id is not None:
        institutions.require_accredited(session, institution_id)
    found = learners.visible_to(session, account_no, institution_id=institution_id)
    # Locked: two corrections at once (or a correction and an enrolment) take turns, and each
    # records the name it really replaced. SQLite writers are serialised by BEGIN IMMEDIATE already.
    learner = session.exec(
        select(Learner)
        .where(col(Learner.id) == found.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if institution_id is not None and learner.enrolled_by_id != institution_id:
        who_zh, who_en = learners.enrolled_by(session, learner)
        raise CreditbankError("name_correction_not_allowed", {"who_zh": who_zh, "who_en": who_en})
    if learner.name == name:
        last = history(session, learner.id, limit=1)
        return Corrected(learner, last[0] if last and last[0].new_name == name else None, changed=False)
    row = NameCorrection(
        id=new_ordered_id("ncr"),
        learner_id=learner.id,
        old_name=learner.name,
        new_name=name,
        reason=reason,
        institution_id=institution_id,
        corrected_by=corrected_by,
        corrected_at=clock.now(),
    )
    learner.name = name
    session.add(row)
    session.add(learner)
    session.flush()
    by = session.get(Institution, institution_id) if institution_id is not None else None
    return Corrected(learner, _view(row, by), changed=True)


def history(session: Session, learner_id: int, *, limit: int | None = None) -> list[Correction]:
    """The learner's name corrections, newest first, with who made each: one query."""
    query = (
        select(NameCorrection, Institution)
        .join(Institution, col(Institution.id) == col(NameCorrection.institution_id), isouter=True)
        .where(col(NameCorrection.learner_id) == learner_id)
        .order_by(col(NameCorrection.corrected_at).desc(), col(NameCorrection.id).desc())
        .limit(limit)
    )
    return [_view(row, institution) for row, institution in session.exec(query)]


def _view(row: NameCorrection, institution: Institution | None) -> Correction:
    return Correction(
        id=row.id,
        old_name=row.old_name,
        new_name=row.new_name,
        reason=row.reason,
        corrected_at=row.corrected_at,
        corrected_by=row.corrected_by,
        institution_code=institution.code if institution else None,
        institution_name_zh=institution.name_zh if institution else OPERATOR_ZH,
        institution_name_en=(institution.name_en or institution.name_zh) if institution else OPERATOR_EN,
    )
