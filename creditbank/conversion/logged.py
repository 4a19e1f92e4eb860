"""What the transparency log records of conversion rules: a leaf when a rule is approved and one
when it is retired.

An approved rule's terms decide what a conversion grants (its source, credits or ratio, target
outcome version, dates, qualification); a rule is used only while approved. Without a leaf an edit
of those terms in the database would grant credits the operator never approved, and no audit could
tell. Each leaf's digest is SHA-256 of the RFC 8785 record of the terms with the event
(``approved`` or ``retired``); ``creditbank audit`` recomputes it from the row and checks the row's
state agrees with the rule's leaves (docs/conversion.md). Proposed and rejected rules decide nothing
and are not logged.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlmodel import Session

from creditbank.conversion.models import ConversionRule, RuleState
from creditbank.kit import canonical
from creditbank.translog import sequencer
from creditbank.translog.models import LeafKind

EVENTS = {LeafKind.rule_approved: RuleState.approved, LeafKind.rule_retired: RuleState.retired}


def ref(rule_id: int) -> str:
    """The leaf's ``ref``: which rule row it records."""
    return f"rule:{rule_id}"


def record(rule: ConversionRule, event: str) -> dict[str, Any]:
    return {
        "owner_institution_id": rule.owner_institution_id,
        "code": rule.code,
        "version": rule.version,
        "name_zh": rule.name_zh,
        "name_en": rule.name_en,
        "target_outcome_id": rule.target_outcome_id,
        "credits_units": rule.credits_units,
        "ratio": rule.ratio,
        "source": json.loads(rule.source_json),
        "effective_from": rule.effective_from.isoformat(),
        "effective_until": rule.effective_until.isoformat() if rule.effective_until else None,
        "qualification_id": rule.qualification_id,
        "event": event,
    }


def digest(rule: ConversionRule, kind: LeafKind) -> bytes:
    return canonical.digest(record(rule, EVENTS[kind]))


def append(session: Session, events: Sequence[tuple[LeafKind, ConversionRule]]) -> None:
    """Log rules just approved or retired (in this order), in the caller's transaction."""
    sequencer.append(session, [(kind, ref(rule.id), digest(rule, kind)) for kind, rule in events])
