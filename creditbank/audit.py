"""``creditbank audit``: recompute everything the ledger caches, check the hash chain and the
transparency log.

Finds an edited posting (its transaction's hash no longer matches), a deleted or reordered
transaction (a gap in ``seq`` or a broken ``prev_hash`` link), an edited completion (its content
digest changed), any materialised balance that disagrees with the postings, and a posting whose
copy of its transaction's fields (what a statement line shows) disagrees with the transaction,
and a learner holding one course twice — through its completion and through a conversion into it.
Then the log: every leaf recomputed from the row it names, every transaction and certificate event
(and every outcome version, rule approval and retirement) in exactly one leaf and in order, the
tree rebuilt and compared with the stored tiles and every signed checkpoint — so a row edited, deleted, inserted or reordered behind the service's back is named even when whoever did it
also rewrote the hash chain to match. Beside the ledger, the history of learners' names: the
database's refusal to change it still in place, and every correction chained to the current name.
Beside the chain, the rows it does not cover compared with what it does: a completion's credits,
outcome and learner with its deposit, a certificate's printed text with its signed credential and
QR (docs/ledger.md, "Auditing", also lists what is not covered: institutions, qualifications,
learners' profiles).

It lives above the domain packages (beside ``app`` and ``cli``) because it reads across them: the
ledger, the completions its deposits rest on, the conversions holding its lots and the learners'
account numbers. The ledger itself imports no other domain.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, or_, select, text
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from creditbank.catalogue import logged as catalogue_logged
from creditbank.catalogue.models import Outcome
from creditbank.certificates.keys import IssuerKey
from creditbank.certificates.models import Certificate
from creditbank.certificates.service import revocation_digest
from creditbank.completions import ledgered
from creditbank.completions.models import Completion
from creditbank.conversion import logged as rules_logged
from creditbank.conversion.models import Conversion, ConversionLot, ConversionRule, RuleState
from creditbank.institutions.models import Institution
from creditbank.kit import signednote as sn
from creditbank.kit.canonical import digest_hex
from creditbank.learners.models import Learner, NameCorrection
from creditbank.ledger import chain
from creditbank.ledger.models import (
    LearnerBalance,
    LedgerAccount,
    LedgerHead,
    LedgerTransaction,
    Lot,
    LotState,
    Posting,
)
from creditbank.ledger.queries import lot_live
from creditbank.translog import audit as translog_audit
from creditbank.translog.models import LeafKind
from creditbank.translog.service import LOST_REF
from creditbank.verification import record


@dataclass
class AuditReport:
    transactions: int = 0
    postings: int = 0
    accounts: int = 0
    log_leaves: int = 0
    log_checkpoints_signed: bool = False
    """Whether the checkpoints' signatures were checked (the log's public keys were given)."""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def audit(
    session: Session,
    *,
    max_problems: int = 50,
    log_verifiers: list[sn.Verifier] | None = None,
    lost_leaves: Sequence[range] = (),
    certificate_keys: Callable[[str], IssuerKey | None] | None = None,
) -> AuditReport:
    """``log_verifiers``: the transparency log's public keys, to check the checkpoints' signatures.
    ``lost_leaves``: leaves put back from the published log after a restore, as recorded outside the
    database (``translog.published``) — they stand for records the restore lost.
    ``certificate_keys``: the issuer's keys by kid, to check the QR payload a certificate's printed
    text is compared with (without them its claims are compared unverified)."""
    report = AuditReport()

    def problem(text: str) -> bool:
        report.problems.append(text)
        return len(report.problems) >= max_problems

    codes = dict(session.execute(select(col(LedgerAccount.id), col(LedgerAccount.code))).all())
    postings_by_tx: dict[str, list[tuple[int, int, int, str | None, int]]] = defaultdict(list)
    for pid, tx_id, account_id, units, lot_id, after in session.execute(
        select(
            col(Posting.id),
            col(Posting.transaction_id),
            col(Posting.account_id),
            col(Posting.amount_units),
            col(Posting.lot_id),
            col(Posting.balance_after_units),
        ).order_by(col(Posting.id))
    ).yield_per(10_000):
        postings_by_tx[tx_id].append((pid, account_id, units, lot_id, after))
        report.postings += 1

    completions = {
        c.id: (c, account_no)
        for c, account_no in session.execute(
            select(Completion, col(Learner.account_no)).join(
                Learner, col(Learner.id) == col(Completion.learner_id)
            )
        )
    }

    published = _Published(session, problem)
    outcome_codes = {o.id: o.code for o in published.outcomes.values()}
    expected_seq, prev = 1, chain.GENESIS
    running: dict[int, int] = defaultdict(int)
    counts: dict[int, int] = defaultdict(int)
    lots = {lot.id: lot for lot in session.execute(select(Lot)).scalars()}
    lot_keys = {lot.id: (lot.learner_id, lot.category, lot.level) for lot in lots.values()}
    lot_net: dict[str, int] = defaultdict(int)
    lot_first: dict[str, int] = {}
    tx_reverses: dict[str, str] = {}
    tx_ids: set[str] = set()
    ledger_hashes: dict[str, tuple[int, str]] = {}  # id → (seq, hash recomputed from the rows)
    learner_totals: dict[tuple[int, str, int], int] = defaultdict(int)
    for tx in (
        session.execute(select(LedgerTransaction).order_by(col(LedgerTransaction.seq)))
        .scalars()
        .yield_per(10_000)
    ):
        report.transactions += 1
        where = f"transaction seq={tx.seq} id={tx.id}"
        if tx.seq != expected_seq:
            if problem(f"{where}: expected seq {expected_seq} — a transaction is missing or reordered"):
                return report
            expected_seq = tx.seq
        if tx.prev_hash != prev and problem(f"{where}: prev_hash does not link to seq {tx.seq - 1}"):
            return report
        legs = postings_by_tx.pop(tx.id, [])
        posted = [(codes.get(a, f"?{a}"), u, lot) for _, a, u, lot, _ in legs]
        body = chain.payload(
            seq=tx.seq,
            tx_id=tx.id,
            prev_hash=tx.prev_hash,
            kind=tx.kind,
            event_on=tx.event_on,
            recorded_at=tx.recorded_at,
            reverses_id=tx.reverses_id,
            completion_id=tx.completion_id,
            completion_hash=tx.completion_hash,
            postings=posted,
        )
        recomputed = chain.tx_hash(body)
        ledger_hashes[tx.id] = (tx.seq, recomputed)
        if recomputed != tx.hash and problem(
            f"{where}: hash mismatch — the transaction or a posting was edited"
        ):
            return report
        if (len(legs) < 2 or sum(u for _, _, u, _, _ in legs) != 0) and problem(
            f"{where}: postings do not balance"
        ):
            return report
        if tx.completion_id is not None:
            found = completions.get(tx.completion_id)
            if found is None:
                if problem(f"{where}: completion {tx.completion_id} is missing"):
                    return report
            elif "content" in (
                wrong := ledgered.disagreements(
                    found[0],
                    account_no=found[1],
                    outcome_code=outcome_codes.get(found[0].outcome_id),
                    tx_completion_id=tx.completion_id,
                    tx_completion_hash=tx.completion_hash,
                    postings=posted,
                )
            ):
                if problem(f"{where}: completion {tx.completion_id} was edited after it was posted"):
                    return report
            # (A transaction whose hash fails is reported above: the row is not compared with it.)
            elif (
                recomputed == tx.hash
                and found[0].transaction_id == tx.id
                and (wrong := [w for w in wrong if w in _ROW_ONLY])
            ):
                names = "、".join(_ROW_ONLY[w][0] for w in wrong)
                if problem(
                    f"完成记录 {tx.completion_id} 与其账本记账（第 {tx.seq} 笔）不一致：{names}在记账后被改动 — "
                    f"completion {tx.completion_id} disagrees with its ledger transaction (seq {tx.seq}): "
                    f"{', '.join(_ROW_ONLY[w][1] for w in wrong)} edited after it was posted"
                ):
                    return report
        for pid, account_id, units, lot_id, after in legs:
            running[account_id] += units
            counts[account_id] += 1
            if running[account_id] != after and problem(
                f"posting id={pid}: balance_after {after} ≠ running balance {running[account_id]}"
            ):
                return report
            if lot_id is not None and lot_id in lot_keys and codes.get(account_id, "").startswith("learner:"):
                # A lot's first posting is its deposit, 0 included: completions of 0-credit
                # outcomes were posted before the catalogue and the posting refused them.
                lot_first.setdefault(lot_id, units)
                if units != 0:
                    learner_totals[lot_keys[lot_id]] += units
                    lot_net[lot_id] += units
        tx_ids.add(tx.id)
        if tx.reverses_id:
            tx_reverses[tx.reverses_id] = tx.id
        prev = tx.hash
        expected_seq += 1
    for tx_id in postings_by_tx:
        if problem(f"postings of transaction {tx_id} have no transaction row"):
            return report
    if _audit_posting_copies(session, problem):
        return report

    head = session.get(LedgerHead, 1)
    if head is None or (head.seq, head.hash) != (expected_seq - 1, prev):
        problem("ledger head does not match the last transaction — the newest transactions were deleted")
    for account in session.execute(select(LedgerAccount).order_by(col(LedgerAccount.id))).scalars():
        report.accounts += 1
        if account.balance_units != running[account.id] and problem(
            f"account {account.code}: balance {account.balance_units} ≠ sum of postings {running[account.id]}"
        ):
            return report
        if account.version != counts[account.id] and problem(
            f"account {account.code}: version {account.version} ≠ {counts[account.id]} postings"
        ):
            return report
    stored = {
        (r.learner_id, r.category, r.level): r.units
        for r in session.execute(select(LearnerBalance)).scalars()
    }
    for key in sorted(set(stored) | set(learner_totals)):
        if stored.get(key, 0) != learner_totals.get(key, 0) and problem(
            f"learner_balance {key}: {stored.get(key, 0)} ≠ sum of lot postings {learner_totals.get(key, 0)}"
        ):
            return report
    # Lots: what conversions will spend must be exactly what the postings put there.
    for lot in lots.values():
        expected = 0 if lot.state == "reversed" else lot.amount_units - lot.consumed_units
        if lot_first.get(lot.id) != lot.amount_units and problem(
            f"lot {lot.id}: amount {lot.amount_units} ≠ its deposit posting {lot_first.get(lot.id)}"
        ):
            return report
        if lot_net[lot.id] != expected and problem(
            f"lot {lot.id}: state {lot.state} with {lot.consumed_units} consumed expects {expected} on the ledger, "
            f"postings hold {lot_net[lot.id]}"
        ):
            return report
    # Conversions: what a lot says is locked or consumed is exactly what requests hold.
    held: dict[tuple[str, str], int] = defaultdict(int)
    for lot_id, state, units in session.execute(
        select(col(ConversionLot.lot_id), col(Conversion.state), col(ConversionLot.units)).join(
            Conversion, col(Conversion.id) == col(ConversionLot.conversion_id)
        )
    ):
        held[(lot_id, state)] += units
    for lot in lots.values():
        locked, consumed = held[(lot.id, "pending")], held[(lot.id, "approved")]
        if (lot.locked_units, lot.consumed_units) != (locked, consumed) and problem(
            f"lot {lot.id}: locked {lot.locked_units} / consumed {lot.consumed_units}, but requests hold "
            f"{locked} pending / {consumed} approved"
        ):
            return report
    # Completions: each points at its deposit, and 'revoked' exactly when that deposit was reversed.
    for completion, _ in completions.values():
        if completion.transaction_id not in tx_ids:
            if problem(f"completion {completion.id}: its transaction {completion.transaction_id} is missing"):
                return report
            continue
        reversal = tx_reverses.get(completion.transaction_id)
        if (
            (completion.state == "revoked") != (reversal is not None)
            or (reversal is not None and completion.revoke_transaction_id != reversal)
        ) and problem(
            f"completion {completion.id}: state {completion.state} disagrees with the ledger "
            f"(reversal {reversal})"
        ):
            return report
    if _audit_courses_held_once(session, problem):
        return report
    total = session.execute(select(func.coalesce(func.sum(Posting.amount_units), 0))).scalar_one()
    if total != 0 and problem(f"all postings sum to {total}, not 0"):
        return report
    if _audit_names(session, problem):
        return report
    report.log_checkpoints_signed = log_verifiers is not None
    _audit_log(
        session, report, problem, published, ledger_hashes, log_verifiers, lost_leaves, certificate_keys
    )
    return report


_RECORD = {
    "completion": ("完成记录", "completion"),
    "conversion": ("学分转换", "conversion"),
    "lot": ("学分批次", "lot"),
}
"""How a finding names what holds a course: its completion or conversion (a lot of neither, by its own id)."""


def _audit_courses_held_once(session: Session, problem: Callable[[str], bool]) -> bool:
    """No learner holds one course (an institution's outcome, any version) through a conversion and
    through another live lot of it — its completion, or another conversion. The services refuse both
    orders (``outcome_held_by_conversion``, ``conversion_target_held``; ``conversion.taken_targets``
    is the rule: a course is held by a live lot of it) and end a waiting request when the course is
    posted (``superseded``); a hand-edited database or a race the guards missed leaves the course
    counted twice with every balance and hash consistent, so only this finds it. Records that ended
    (a revoked completion, a reversed conversion: their lots reversed; a withdrawn, rejected or
    superseded request: no lot) hold nothing. Two completions of one course are the database's to
    refuse (``uq_completion_active_outcome``).

    Driven by the conversions (few beside the completions), each one's lot looked up among its
    learner's lots (``ix_lot_learner_state``): the database returns only the courses held twice,
    nothing is kept per lot, and the time follows the conversions, not the size of the ledger.
    True when the report is full."""
    # The conversions' lots first, a table of their own (MATERIALIZED), each found by its id: in one
    # join, or found by ``lot.conversion_id`` (NULL on every other lot), both databases walked every
    # learner's lots instead — 502 000 lots, 2 000 conversions: PostgreSQL 4.3 s → 0.19 s, SQLite
    # 0.63 s → 0.10 s.
    converted = (
        select(
            col(Lot.id).label("id"),
            col(Lot.learner_id).label("learner_id"),
            col(Lot.outcome_id).label("outcome_id"),
            col(Conversion.id).label("conversion_id"),
            col(LedgerTransaction.seq).label("seq"),
        )
        .select_from(Conversion)
        .join(Lot, col(Lot.id) == col(Conversion.target_lot_id))
        .join(LedgerTransaction, col(LedgerTransaction.id) == col(Lot.transaction_id))
        .where(col(Lot.state) == LotState.active)  # a conversion's lot is written active, never batched
        .cte("converted")
        .prefix_with("MATERIALIZED")
    )
    target = aliased(Outcome)
    rows = session.execute(
        select(
            col(Learner.account_no),
            col(Institution.code),
            col(target.code),
            col(target.title_zh),
            col(target.title_en),
            converted.c.conversion_id,
            converted.c.seq,
            col(Lot.completion_id),
            col(Lot.conversion_id),
            col(Lot.id),
            col(LedgerTransaction.seq),
        )
        .select_from(converted)
        .join(target, col(target.id) == converted.c.outcome_id)
        .join(Lot, (col(Lot.learner_id) == converted.c.learner_id) & (col(Lot.id) != converted.c.id))
        .join(
            Outcome,
            (col(Outcome.id) == col(Lot.outcome_id))
            & (col(Outcome.institution_id) == col(target.institution_id))
            & (col(Outcome.code) == col(target.code)),
        )
        .join(Learner, col(Learner.id) == converted.c.learner_id)
        .join(Institution, col(Institution.id) == col(target.institution_id))
        .join(LedgerTransaction, col(LedgerTransaction.id) == col(Lot.transaction_id))
        .where(
            lot_live(),
            # Two conversions of one course: the pair once, from the later one.
            or_(col(Lot.conversion_id).is_(None), col(Lot.id) < converted.c.id),
        )
    )
    courses: dict[tuple[str, str, str], tuple[str, str, dict[tuple[str, str], int]]] = {}
    for account_no, institution, code, zh, en, conversion, seq, completion, other, lot, other_seq in rows:
        _, _, records = courses.setdefault((account_no, institution, code), (zh, en or zh, {}))
        records[("conversion", conversion)] = seq
        if completion is not None:
            records[("completion", completion)] = other_seq
        else:
            records[("conversion", other) if other is not None else ("lot", lot)] = other_seq
    for (account_no, institution, code), (zh, en, records) in sorted(courses.items()):
        held = sorted(records.items(), key=lambda record: record[1])  # in the order written
        zh_list = "、".join(f"{_RECORD[kind][0]} {ref}（账本第 {seq} 笔）" for (kind, ref), seq in held)
        en_list = ", ".join(f"{_RECORD[kind][1]} {ref} (ledger seq {seq})" for (kind, ref), seq in held)
        times = ("两次", "twice") if len(held) == 2 else (f"{len(held)} 次", f"{len(held)} times")
        if problem(
            f"学习者 {account_no} {times[0]}持有课程 {institution}:{code}「{zh}」的学分：{zh_list}；"
            "同一课程只计一次，后写入的记录本不该存在"
            f" — learner {account_no} holds the credits of course {institution}:{code} “{en}” {times[1]}: "
            f"{en_list}; a course counts once, the later record should not exist"
        ):
            return True
    return False


NAME_TRIGGERS = {
    "sqlite": ("learner_name_correction_no_update", "learner_name_correction_no_delete"),
    "postgresql": ("learner_name_correction_append_only", "learner_name_correction_no_truncate"),
}
"""The triggers of migration 0022 that make the database refuse to change or delete a name correction."""


def _audit_names(session: Session, problem: Callable[[str], bool]) -> bool:
    """The history of learners' names (``learners.names``): the database still refuses to change it
    (the triggers of migration 0022 present and enabled), each learner's corrections chain — every
    correction replaced the name the previous one set — and the last one set the learner's name.
    A correction edited or deleted by hand, or a name changed without one, breaks the chain.
    Names themselves are not printed (personal data): account numbers and correction ids are.
    Returns True when the report is full."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        present = set(
            session.execute(
                text(
                    "SELECT tgname FROM pg_trigger "
                    "WHERE tgrelid = 'learner_name_correction'::regclass AND tgenabled <> 'D'"
                )
            ).scalars()
        )
    else:
        present = set(
            session.execute(
                text(
                    "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'learner_name_correction'"
                )
            ).scalars()
        )
    for name in NAME_TRIGGERS.get(dialect, ()):
        if name not in present and problem(
            f"learner_name_correction: trigger {name} is missing or disabled — "
            "the history of names can be changed or deleted unnoticed"
        ):
            return True
    corrected = select(col(NameCorrection.learner_id))
    learners = {
        learner_id: (account_no, name)
        for learner_id, account_no, name in session.execute(
            select(col(Learner.id), col(Learner.account_no), col(Learner.name)).where(
                col(Learner.id).in_(corrected)
            )
        )
    }
    last: dict[int, NameCorrection] = {}
    for row in session.execute(
        select(NameCorrection).order_by(
            col(NameCorrection.learner_id), col(NameCorrection.corrected_at), col(NameCorrection.id)
        )
    ).scalars():
        account_no = learners.get(row.learner_id, (f"?{row.learner_id}", ""))[0]
        where = f"name correction {row.id} of learner {account_no}"
        before = last.get(row.learner_id)
        if row.old_name == row.new_name and problem(f"{where}: its old and new names are the same"):
            return True
        if (
            before is not None
            and row.old_name != before.new_name
            and problem(
                f"{where}: its old name is not the name correction {before.id} set — "
                "a correction was edited or deleted"
            )
        ):
            return True
        last[row.learner_id] = row
    for learner_id, row in last.items():
        account_no, name = learners.get(learner_id, (f"?{learner_id}", None))
        if name != row.new_name and problem(
            f"learner {account_no}: the name is not the one the last correction {row.id} set — "
            "the name was changed without a correction, or the last correction was edited or deleted"
        ):
            return True
    return False


# A posting's copies of its transaction's fields (what a statement line shows, migration 0023),
# in the order compared: (posting column, transaction column, name printed).
_COPIES = (
    (Posting.tx_seq, LedgerTransaction.seq, "seq"),
    (Posting.tx_kind, LedgerTransaction.kind, "kind"),
    (Posting.tx_event_on, LedgerTransaction.event_on, "event_on"),
    (Posting.tx_recorded_at, LedgerTransaction.recorded_at, "recorded_at"),
    (Posting.tx_completion_id, LedgerTransaction.completion_id, "completion_id"),
)


def _audit_posting_copies(session: Session, problem: Callable[[str], bool]) -> bool:
    """Every posting's copies of its transaction's fields equal the transaction's. The chain hashes
    the transaction row, not the copies, so an edited copy (a statement showing another date, kind
    or order than the chain) is found here. One join in the database: only disagreeing rows come
    back. True when enough problems were found to stop."""
    copies = [col(c) for c, _, _ in _COPIES]
    originals = [col(t) for _, t, _ in _COPIES]
    differs = or_(*(c.is_distinct_from(t) for c, t in zip(copies, originals, strict=True)))
    rows = session.execute(
        select(col(Posting.id), col(LedgerTransaction.id), *copies, *originals)
        .join(LedgerTransaction, col(LedgerTransaction.id) == col(Posting.transaction_id))
        .where(differs)
        .order_by(col(Posting.id))
    )
    n = len(_COPIES)
    for pid, tx_id, *values in rows:
        for (_, _, name), copy, original in zip(_COPIES, values[:n], values[n:], strict=True):
            if copy != original and problem(
                f"posting id={pid} of transaction {tx_id}: its copy of the transaction's {name} "
                f"({copy}) ≠ {original} — edited after it was written"
            ):
                return True
    return False


def _audit_log(
    session: Session,
    report: AuditReport,
    problem: Callable[[str], bool],
    published: _Published,
    ledger_hashes: dict[str, tuple[int, str]],
    log_verifiers: list[sn.Verifier] | None,
    lost_leaves: Sequence[range],
    certificate_keys: Callable[[str], IssuerKey | None] | None,
) -> None:
    """Every leaf recomputed from the row it names, every row of the ledger, every certificate event,
    outcome version and rule approval or retirement in exactly one leaf, in order — then the log's
    own tiles and signed checkpoints. A certificate whose credential is the one logged has its
    printed text (what verification, the /v/ page and the PDF show) compared with it too."""
    certificates = {c.id: c for c in session.execute(select(Certificate)).scalars()}
    logged_tx: set[str] = set()
    issued: set[str] = set()
    revoked: set[str] = set()
    last_seq = 0

    def on_leaf(leaf: translog_audit.Leaf) -> bool:
        nonlocal last_seq
        where = f"log leaf {leaf.index}"
        digest = leaf.digest.hex()
        if leaf.ref == LOST_REF:
            # Only where the record outside the database says so: in the database alone, marking a
            # leaf lost would hide a deleted row.
            if any(leaf.index in lost for lost in lost_leaves):
                return False
            return problem(
                f"{where} is marked as put back after a restore, but keys/log-published.json records no "
                "such re-append — the row it recorded was deleted"
            )
        if leaf.kind == LeafKind.ledger_transaction:
            found = ledger_hashes.get(leaf.ref)
            if found is None:
                return problem(
                    f"{where} records ledger transaction {leaf.ref}, which is gone — the row was deleted"
                )
            seq, recomputed = found
            if leaf.ref in logged_tx:
                return problem(f"{where} records ledger transaction {leaf.ref} a second time")
            logged_tx.add(leaf.ref)
            if seq < last_seq and problem(
                f"{where} records ledger seq {seq} after seq {last_seq} — transactions were reordered"
            ):
                return True
            last_seq = max(last_seq, seq)
            if recomputed != digest:
                return problem(
                    f"{where}: ledger transaction seq={seq} id={leaf.ref} no longer matches what was logged — "
                    "it (or its postings) was edited after it was written"
                )
            return False
        if leaf.kind == LeafKind.outcome_version:
            return published.outcome(leaf)
        if leaf.kind in rules_logged.EVENTS:
            return published.rule(leaf)
        if leaf.kind not in (LeafKind.certificate_issued, LeafKind.certificate_revoked):
            return problem(f"{where} has an unknown kind {leaf.kind}")
        certificate = certificates.get(leaf.ref)
        if certificate is None:
            return problem(f"{where} records certificate {leaf.ref}, which is gone — the row was deleted")
        if leaf.kind == LeafKind.certificate_issued:
            issued.add(certificate.id)
            credential = json.loads(certificate.credential_json)
            if certificate.log_index != leaf.index:
                return problem(
                    f"{where}: certificate {certificate.id} points at leaf {certificate.log_index}"
                )
            if digest_hex(credential) != digest or certificate.credential_hash != digest:
                return problem(
                    f"{where}: certificate {certificate.id} no longer matches what was logged — its credential "
                    "was edited after it was issued"
                )
            wrong = record.differences(
                certificate.id, certificate.printed_json, credential, certificate.qr_payload, certificate_keys
            )
            return bool(wrong) and problem(
                f"证书 {certificate.id} 的存档内容与签名数据不一致（{', '.join(wrong)}），被改动过 — "
                f"certificate {certificate.id}: its stored copy differs from the signed credential "
                f"({', '.join(wrong)}): it was altered"
            )
        revoked.add(certificate.id)
        if certificate.revoked_at is None:
            return problem(f"{where}: certificate {certificate.id} was revoked, but its row says it is not")
        if certificate.revoke_log_index != leaf.index:
            return problem(
                f"{where}: certificate {certificate.id} points at leaf {certificate.revoke_log_index}"
            )
        if revocation_digest(certificate).hex() != digest:
            return problem(f"{where}: the revocation of {certificate.id} was edited after it was logged")
        return False

    report.log_leaves = translog_audit.audit_log(session, problem, log_verifiers, on_leaf)
    if published.unlogged():
        return
    for tx_id, (seq, _) in sorted(ledger_hashes.items(), key=lambda item: item[1][0]):
        if tx_id not in logged_tx and problem(
            f"ledger transaction seq={seq} id={tx_id} is in no log leaf — it was written behind the service's back"
        ):
            return
    for certificate in certificates.values():
        if certificate.id not in issued and problem(
            f"certificate {certificate.id} is in no log leaf — it was written behind the service's back"
        ):
            return
        if (
            certificate.revoked_at is not None
            and certificate.id not in revoked
            and problem(f"the revocation of certificate {certificate.id} is in no log leaf")
        ):
            return


class _Published:
    """The catalogue and the conversion rules against their log leaves (``catalogue.logged``,
    ``conversion.logged``): each outcome version in exactly one leaf whose digest its row still
    gives, each approved or retired rule in the leaves of those events, with the terms they logged.
    Rows are named as people know them — ``INST:CODE v2`` — never by database id alone."""

    def __init__(self, session: Session, problem: Callable[[str], bool]) -> None:
        self.problem = problem
        codes = dict(session.execute(select(col(Institution.id), col(Institution.code))).all())
        self.outcomes = {
            catalogue_logged.ref(o.id): o
            for o in session.execute(select(Outcome).order_by(col(Outcome.id))).scalars()
        }
        self.rules = {
            rules_logged.ref(r.id): r
            for r in session.execute(select(ConversionRule).order_by(col(ConversionRule.id))).scalars()
        }
        self.codes = codes
        self.logged_outcomes: set[str] = set()
        self.rule_events: dict[str, list[int]] = defaultdict(list)

    def _name(self, institution_id: int, code: str, version: int) -> str:
        return f"{self.codes.get(institution_id, f'?{institution_id}')}:{code} v{version}"

    def outcome(self, leaf: translog_audit.Leaf) -> bool:
        outcome = self.outcomes.get(leaf.ref)
        if outcome is None:
            return self.problem(
                f"透明日志第 {leaf.index} 条记录的学习成果版本（{leaf.ref}）已不在数据库中：该行被删除 — "
                f"log leaf {leaf.index} records outcome version {leaf.ref}, which is gone — the row was deleted"
            )
        name = self._name(outcome.institution_id, outcome.code, outcome.version)
        if leaf.ref in self.logged_outcomes:
            return self.problem(
                f"透明日志第 {leaf.index} 条再次记录了学习成果 {name} — "
                f"log leaf {leaf.index} records outcome {name} a second time"
            )
        self.logged_outcomes.add(leaf.ref)
        if catalogue_logged.digest(outcome) != leaf.digest:
            return self.problem(
                f"学习成果 {name}「{outcome.title_zh}」与发布时记入透明日志（第 {leaf.index} 条）的内容不一致："
                "发布后在数据库中被改动（名称、学分、级别或类别等），此后签发的证书签入的是改动后的内容 — "
                f"outcome {name} no longer matches what was logged when it was published (log leaf {leaf.index}): "
                "it was edited in the database afterwards (title, credits, level, category…), and certificates "
                "issued since sign the edited text"
            )
        return False

    def rule(self, leaf: translog_audit.Leaf) -> bool:
        rule = self.rules.get(leaf.ref)
        event = rules_logged.EVENTS[LeafKind(leaf.kind)]
        if rule is None:
            return self.problem(
                f"透明日志第 {leaf.index} 条记录的转换规则（{leaf.ref}）已不在数据库中：该行被删除 — "
                f"log leaf {leaf.index} records conversion rule {leaf.ref} {event}, which is gone — the row was deleted"
            )
        name = self._name(rule.owner_institution_id, rule.code, rule.version)
        if leaf.kind in self.rule_events[leaf.ref]:
            return self.problem(
                f"透明日志第 {leaf.index} 条再次记录了转换规则 {name} 的{_RULE_EVENT[event]} — "
                f"log leaf {leaf.index} records that conversion rule {name} was {event} a second time"
            )
        self.rule_events[leaf.ref].append(leaf.kind)
        if rules_logged.digest(rule, LeafKind(leaf.kind)) != leaf.digest:
            return self.problem(
                f"转换规则 {name} 的条款与{_RULE_EVENT[event]}时记入透明日志（第 {leaf.index} 条）的不一致："
                "之后在数据库中被改动，转换按改动后的条款授予学分 — "
                f"conversion rule {name} no longer has the terms logged when it was {event} (log leaf {leaf.index}): "
                "they were edited in the database afterwards, and conversions grant credits by the edited terms"
            )
        return False

    def unlogged(self) -> bool:
        """Rows no leaf vouches for: written (or put back in use) behind the service's back."""
        for ref, outcome in self.outcomes.items():
            if ref not in self.logged_outcomes:
                name = self._name(outcome.institution_id, outcome.code, outcome.version)
                if self.problem(
                    f"学习成果 {name} 不在透明日志中：它绕过服务被写入数据库 — "
                    f"outcome {name} is in no log leaf — it was written behind the service's back"
                ):
                    return True
        for ref, rule in self.rules.items():
            events = self.rule_events.get(ref, [])
            name = self._name(rule.owner_institution_id, rule.code, rule.version)
            if rule.state == RuleState.approved and LeafKind.rule_retired in events:
                found = (
                    f"转换规则 {name} 已停用（见透明日志），数据库中却又是已批准：被绕过服务重新启用 — "
                    f"conversion rule {name} was retired (the log says so), but its row says approved: "
                    "it was put back in use behind the service's back"
                )
            elif rule.state == RuleState.approved and LeafKind.rule_approved not in events:
                found = (
                    f"转换规则 {name} 的批准不在透明日志中：它绕过服务被批准 — "
                    f"the approval of conversion rule {name} is in no log leaf — it was approved behind the "
                    "service's back"
                )
            elif rule.state == RuleState.retired and LeafKind.rule_retired not in events:
                found = f"转换规则 {name} 的停用不在透明日志中 — the retirement of conversion rule {name} is in no log leaf"
            elif rule.state not in (RuleState.approved, RuleState.retired) and events:
                found = (
                    f"转换规则 {name} 曾被批准或停用（见透明日志），数据库中却是“{rule.state}” — "
                    f"conversion rule {name} was approved or retired (the log says so), but its row says {rule.state}"
                )
            else:
                continue
            if self.problem(found):
                return True
        return False


_RULE_EVENT = {RuleState.approved: "批准", RuleState.retired: "停用"}


_ROW_ONLY = {
    "credits_units": ("学分", "its credits"),
    "outcome_id": ("学习成果", "its outcome"),
}
"""What of a completion row only the row holds (``completions.ledgered``): its identity digest is
checked above, by the transaction's ``completion_hash`` — which covers its learner too (through the
account number), so an edited ``learner_id`` is found there, as an edited completion."""
