"""Posting and revoking completions: validation plus the ledger, in the caller's one transaction.

``Poster`` is used the same way for one JSON completion and for a 100 000-row file: rows
arrive in chunks; each chunk costs a handful of IN-queries (learners, existing external ids,
earlier completions of the same outcome) and one executemany per table, which is what keeps
the import path close to raw insert speed (bench/ingest.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import islice
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Integer,
    Select,
    String,
    bindparam,
    cast,
    null,
    select,
    text,
    union_all,
    update,
)
from sqlmodel import Session, col

from creditbank.catalogue.models import Outcome
from creditbank.catalogue.service import current_versions
from creditbank.completions import rules
from creditbank.completions.models import Completion, CompletionImport, CompletionState, ImportState, live
from creditbank.conversion.models import Conversion, ConversionRule, ConversionState
from creditbank.conversion.service import locked_by, reverse_for_lot, supersede
from creditbank.db import bulk_insert_values, in_values, table_of
from creditbank.errors import CreditbankError, row_error
from creditbank.institutions import service as institutions
from creditbank.institutions.models import Institution
from creditbank.kit import clock, reasons
from creditbank.kit.halfwidth import name_key
from creditbank.kit.tokens import hmac_hex, new_ordered_id
from creditbank.learners import service as learners
from creditbank.learners.models import InstitutionLearner, Learner, NameCorrection
from creditbank.ledger.models import LedgerAccount, LedgerTransaction, Lot, LotState, TxKind
from creditbank.ledger.queries import released
from creditbank.ledger.writer import LedgerWriter, Leg, lock

CHUNK = 2000
ANALYZE_MIN_ROWS = 500
"""A poster that has written fewer completions than this never refreshes the planner's statistics."""
LEASE = timedelta(seconds=60)
"""A running staged import commits a chunk (and moves its heartbeat) every second or so; one
silent for this long is dead (its process crashed), and a retry may take over its rows."""

ABANDONED_BY = "import-abandoned"
"""``Completion.revoked_by`` of the rows an abandoned import had written (``imports.abandon``)."""

RevokedHook = Callable[..., object]
"""Called as ``hook(session, completion_id=…, reason=…)`` inside the revoking unit of work."""
_on_revoked: list[RevokedHook] = []


def on_revoked(hook: RevokedHook) -> RevokedHook:
    """Have ``hook`` run whenever a completion is revoked, in the same transaction (registering the
    same hook twice is a no-op). Packages above this one — certificates, which must stop verifying
    what rests on reversed credits — listen this way, so completions never imports them; the
    wiring is ``creditbank.hooks.install``, called where the app, the CLI and the demo are built."""
    if hook not in _on_revoked:
        _on_revoked.append(hook)
    return hook


class Posted(NamedTuple):
    """A posted (or replayed) completion as its institution is answered. A named tuple: a batch
    import makes one per row, and a frozen dataclass's ``__init__`` cost ~1.5 µs of it."""

    id: str
    external_id: str
    account_no: str
    outcome_code: str
    credits_units: int
    transaction_id: str
    completed_on: date
    state: str
    replayed: bool


WARNINGS_LISTED = 100
"""Warnings a report lists (the first ones, by line); ``warning_counts`` counts every one. A term's
file exported twice into one sheet repeats 50 000 rows: listing each made a 10 MB answer."""

ERRORS_LISTED = 100
"""Refused rows an API report lists in full (``row_error``, both languages) for each code, the first
by line; ``error_counts`` counts every refused row and ``error_lines`` gives each one's line. A
100 000-row file refused whole was a 19 MB answer of 100 000 objects, built and encoded on the
server and parsed by the client, saying one thing 100 000 times."""


@dataclass(frozen=True)
class ErrorListing:
    """A report's refused rows as an answer gives them (``listing``)."""

    errors: list[dict[str, Any]]
    """The first ``ERRORS_LISTED`` rows of each code, by line, with their messages."""
    counts: dict[str, int]
    """Code → how many refused rows have it."""
    lines: dict[str, list[int]]
    """Code → the line of every refused row that has it, in order."""


def listing(errors: Sequence[dict[str, Any]], per_code: int = ERRORS_LISTED) -> ErrorListing:
    """``errors`` (sorted by line) bounded for an answer: every row is still named by line and code."""
    listed: list[dict[str, Any]] = []
    lines: dict[str, list[int]] = {}
    for error in errors:
        seen = lines.setdefault(error["code"], [])
        if len(seen) < per_code:
            listed.append(error)
        seen.append(error["line"])
    return ErrorListing(listed, {code: len(found) for code, found in lines.items()}, lines)


DUPLICATE = "duplicate_in_file"
"""A row the same, word for word, as an earlier line of the file (same external_id, same content):
counted once — SPEC 3.4's "the same content returns the original" within one file — and listed
among the report's ``warnings``, not its errors. Same external_id, other content: ``external_id_conflict``."""


@dataclass
class BatchReport:
    mode: str
    total_rows: int = 0
    accepted: int = 0
    replayed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    committed: bool = False
    duplicates: int = 0
    """Rows repeating an earlier line exactly (``DUPLICATE``): not imported again, not refused."""
    warnings: list[dict[str, Any]] = field(default_factory=list)
    """Rows to look at that were not refused (``row_error`` entries): the duplicates, the first
    ``WARNINGS_LISTED`` of them by line."""
    warning_counts: dict[str, int] = field(default_factory=dict)
    """Every warning's code → how many rows have it, listed or not."""

    @property
    def rejected(self) -> int:
        return len(self.errors)

    def refused(self, line: int, problem: rules.Problem) -> None:
        """A row's problem: an error, or (a duplicate) a warning."""
        if problem.code == DUPLICATE:
            self.duplicates += 1
            self.warning_counts[DUPLICATE] = self.warning_counts.get(DUPLICATE, 0) + 1
            if len(self.warnings) < WARNINGS_LISTED:  # rows come in line order: these are the first
                self.warnings.append(row_error(line, problem.code, problem.field, problem.params))
        else:
            self.errors.append(row_error(line, problem.code, problem.field, problem.params))


@dataclass(frozen=True)
class _LearnerRef:
    learner_id: int
    account_no: str
    account_id: int
    linked: bool = False
    """The institution had enrolled or taught the learner when they were looked up (links are never
    removed): a post for them need not ask ``learners.link`` again."""
    birth_year: int = 0
    """What ``rules.check_completed_on`` holds a completion date against."""
    name: str = ""
    """The registered name, for a file's 姓名 column (``Poster._name_matches``)."""


class _Account(NamedTuple):
    id: int
    code: str


class _Outcome(NamedTuple):
    id: int
    code: str
    credits_units: int
    category: str
    level: int
    validity_years: int | None
    min_score: float | None


COMPLETION_COLUMNS = (
    "id", "institution_id", "external_id", "learner_id", "outcome_id", "outcome_code", "completed_on", "score",
    "hours", "credits_units", "content_hash", "api_key_id", "staff_id", "transaction_id", "state", "created_at",
    "import_id",
)  # fmt: skip
"""What a post writes of a completion, in the order of ``Poster._completions`` (the revocation
columns are NULL until a revocation)."""
_COMPLETION = table_of(Completion)

_CHECKED = Posted("", "", "", "", 0, "", date.min, CompletionState.pending, replayed=False)
"""What a checking poster answers for a row it would write (nothing is read from it but ``replayed``)."""


@dataclass(frozen=True)
class Prepared:
    """A chunk as ``Poster.prepare`` left it: what does not depend on the ledger's current state."""

    cleaned: list[rules.CleanRow | rules.Problem]
    refs: dict[str, _LearnerRef]
    digests: dict[int, str]
    """Line → content hash, for rows whose learner was found."""


# The look-ups of every chunk, built once with bound parameters: building a statement and its cache
# key costs SQLAlchemy 60–160 µs each, ~2.5 ms of CPU per single post when each call built its own
# (bench/hotpath.py). The lists of a chunk's look-ups are one parameter each (``db.in_values``).
_INSTITUTION_ID = bindparam("institution_id", type_=Integer)
_FRESH_INSTITUTION = (
    select(Institution, col(LedgerAccount.id), col(LedgerAccount.code))
    .join(LedgerAccount, col(LedgerAccount.institution_id) == col(Institution.id))
    .where(col(Institution.id) == _INSTITUTION_ID)
    .execution_options(populate_existing=True)
)
"""The institution afresh (a suspension that just committed takes effect) and its issuance account."""


def _learners_by(column: Any) -> Select:
    """Learners and their credit accounts by ``column`` (account number or ID HMAC), and whether
    the institution already enrolled or taught them."""
    return (
        select(
            col(Learner.id),
            col(Learner.account_no),
            col(Learner.id_hmac),
            col(LedgerAccount.id),
            col(InstitutionLearner.learner_id).is_not(None),
            col(Learner.birth_year),
            col(Learner.name),
        )
        .join(LedgerAccount, col(LedgerAccount.learner_id) == col(Learner.id))
        .outerjoin(
            InstitutionLearner,
            (col(InstitutionLearner.learner_id) == col(Learner.id))
            & (col(InstitutionLearner.institution_id) == _INSTITUTION_ID),
        )
        .where(in_values(column, "keys"))
    )


_LEARNERS_BY_ACCOUNT = _learners_by(col(Learner.account_no))
_LEARNERS_BY_HMAC = _learners_by(col(Learner.id_hmac))
_EXISTING = (
    # ``published``: whether a pending row belongs to a published import still settling (then it
    # counts as active) — asked in the same query, not one more round trip per post.
    select(Completion, col(Learner.account_no), col(Completion.import_id).in_(released()).label("published"))
    .join(Learner, col(Learner.id) == col(Completion.learner_id))
    .where(
        col(Completion.institution_id) == _INSTITUTION_ID,
        in_values(col(Completion.external_id), "external_ids"),
    )
)


def _conversions_into_our_courses(*conditions: ColumnElement[bool]) -> Select:
    """Learners' conversions whose rule targets one of this institution's courses (the target
    outcome, any version: its code), with the rule a refusal names (``outcome_held_by_conversion``)
    and the request's state (``Poster._note_conversion``)."""
    return (
        select(
            col(Conversion.learner_id),
            col(Outcome.code),
            col(Conversion.id),
            col(ConversionRule.code),
            col(ConversionRule.name_zh),
            col(ConversionRule.name_en),
            col(Conversion.state),
        )
        .join(ConversionRule, col(ConversionRule.id) == col(Conversion.rule_id))
        .join(Outcome, col(Outcome.id) == col(ConversionRule.target_outcome_id))
        .where(col(Outcome.institution_id) == _INSTITUTION_ID, *conditions)
    )


# Live pairs: active ones (the partial unique index answers), and pending ones of this
# institution's published imports still settling (usually none; found by learner). Two selects in
# one statement: with models.live() in one WHERE, or the institution named in the second, SQLite
# walked every completion of the institution, per chunk of a big import. The third select: the
# outcomes of this institution the learners hold through an approved conversion (SPEC 3.4: not a
# duplicate of the same outcome — a converted course counts once) or have asked for (a pending
# request, which the completion supersedes), in the same round trip; its rows carry the conversion,
# its rule for the refusal's words and its state, the others NULL.
_NO_TEXT = cast(null(), String)
_PAIRS: CompoundSelect[int, str, str | None, str | None, str | None, str | None, str | None] = union_all(
    select(
        col(Completion.learner_id),
        col(Completion.outcome_code),
        *[_NO_TEXT] * 5,
    ).where(
        col(Completion.institution_id) == _INSTITUTION_ID,
        col(Completion.state) == CompletionState.active,
        in_values(col(Completion.learner_id), "learner_ids"),
    ),
    select(
        col(Completion.learner_id),
        col(Completion.outcome_code),
        *[_NO_TEXT] * 5,
    ).where(
        in_values(col(Completion.learner_id), "learner_ids"),
        col(Completion.state) == CompletionState.pending,
        col(Completion.import_id).in_(
            select(col(CompletionImport.id)).where(
                col(CompletionImport.institution_id) == _INSTITUTION_ID,
                col(CompletionImport.id).in_(released()),
            )
        ),
    ),
    _conversions_into_our_courses(
        in_values(col(Conversion.learner_id), "learner_ids"),
        # Reversed ones hold nothing any more; pending ones are ended by the completion.
        col(Conversion.state).in_((ConversionState.approved, ConversionState.pending)),
    ),
)
_CONVERTED_SINCE = (
    # Conversions approved after ledger position ``seq``: a staged import asks between chunks when
    # another writer moved the ledger, so a conversion the institution approved meanwhile refuses
    # the import's later rows of that course too.
    _conversions_into_our_courses(col(Conversion.state) == ConversionState.approved)
    .join(LedgerTransaction, col(LedgerTransaction.id) == col(Conversion.transaction_id))
    .where(col(LedgerTransaction.seq) > bindparam("seq", type_=Integer))
)
_FORMER_NAMES = select(col(NameCorrection.learner_id), col(NameCorrection.old_name)).where(
    in_values(col(NameCorrection.learner_id), "learner_ids")
)
"""The names learners had before a correction (``learners.names``): a file's 姓名 may still say one."""
_RUNNING_IMPORT = select(col(CompletionImport.id)).where(
    col(CompletionImport.institution_id) == _INSTITUTION_ID,
    col(CompletionImport.state) == ImportState.running,
    col(CompletionImport.heartbeat_at) > bindparam("alive_since"),
)


class Poster:
    """Posts completions for one institution within one unit of work (holds the ledger lock)."""

    def __init__(
        self,
        session: Session,
        *,
        institution: Institution,
        api_key_id: str | None,
        secret: bytes,
        write: bool = True,
        import_id: str | None = None,
        staff_id: int | None = None,
        known_learners: dict[str, _LearnerRef] | None = None,
        locked: bool = True,
    ) -> None:
        self.session = session
        # The institution afresh (a suspension that just committed takes effect) and its issuance
        # account (fixed at creation), in one query.
        fresh, issuance_id, issuance_code = session.execute(
            _FRESH_INSTITUTION, {"institution_id": institution.id}
        ).one()
        institutions.may_act(fresh)
        self.institution: Institution = fresh
        self.issuance = _Account(issuance_id, issuance_code)
        self.api_key_id = api_key_id
        self.staff_id = staff_id
        """The staff account posting through the console (None for API keys and the CLI)."""
        self.secret = secret
        self.today = clock.today()
        self.write = write
        """False once an all-or-nothing import has failed: keep checking rows, stop writing."""
        self.import_id = import_id
        """Set for a staged import (``completions.imports``): rows are written ``pending``, and a
        dead import's pending row with the same content is adopted instead of refused."""
        # Only a writing poster takes the ledger lock: a checking pass holds no lock at all. With
        # ``locked=False`` the caller reads what no writer changes first (``prepare``) and the
        # lock is taken by ``take_lock`` or the first ``post``.
        self.writer: LedgerWriter | None = LedgerWriter(session) if write and locked else None
        self.catalogue: dict[str, _Outcome] = {}
        """The outcomes named so far, latest version, as plain copies (read per row, where an ORM
        attribute costs ~1 µs each); loaded by ``prepare`` for the codes each chunk names — a
        single post reads one outcome, not the institution's whole catalogue."""
        self._codes_asked: set[str] = set()
        self._seen_external: dict[str, tuple[int, str]] = {}
        """External id → (first line, content hash) of the rows of this file seen so far."""
        self._seen_pairs: set[tuple[int, str]] = set()
        self._converted: dict[tuple[int, str], dict[str, str]] = {}
        """(learner, outcome code) → the refusal's words, for outcomes held through an approved
        conversion: loaded with the pairs, once per learner per poster; a staged import adds those
        approved between its chunks (``_CONVERTED_SINCE``)."""
        self._requested: dict[tuple[int, str], list[str]] = {}
        """(learner, outcome code) → the learner's pending requests for that outcome: a completion
        written outside a staged import supersedes them in ``flush`` (a staged import's, as it
        publishes)."""
        self._superseding: dict[str, str] = {}
        """Pending request → the completion this poster wrote that ends it (``conversion.supersede``)."""
        self._seq_seen: int | None = None
        """The ledger's head after this poster's previous flush (a staged import: between chunks)."""
        self._completions: list[tuple] = []
        """Rows to insert, in ``COMPLETION_COLUMNS`` order (tuples: no dict per imported row)."""
        self._taught: set[int] = set()
        self._hashes: dict[str, str] = {}
        self._posted_at: dict[str, datetime] = {}
        """Completion → when it was posted, for an ``external_id_conflict`` with it."""
        self._former: dict[int, frozenset[str]] = {}
        """Learner → the ``name_key`` of each name they had before a correction (loaded only for
        learners a row's 姓名 does not match by their current name)."""
        self._pairs_loaded: set[int] = set()
        self._adopted: list[str] = []
        self._abandoned: set[str] = set()
        self._flushes = 0
        self._created_at = clock.now()
        self._written = 0
        self._known = known_learners if known_learners is not None else {}
        """Learner refs found so far (account number or ID HMAC → learner): a learner's ids never
        change, so a staged import's check pass and write pass share one dict and look each learner
        up once (memory: one entry per distinct learner of the file)."""

    def read_with(self, session: Session) -> None:
        """Use ``session`` (a read transaction, no lock) for ``prepare`` of the next chunk."""
        self.session = session

    def take_lock(self) -> None:
        """Take the ledger lock now (a writing poster created with ``locked=False``)."""
        if self.write and self.writer is None:
            self.writer = LedgerWriter(self.session)

    def rebind(self, session: Session, institution: Institution) -> None:
        """Continue in a new unit of work (a staged import commits chunk by chunk), keeping what
        earlier chunks saw: external ids and learner × outcome pairs of this file."""
        institutions.may_act(institution)  # suspended mid-import: institution_suspended (item 6)
        self.session = session
        self.institution = institution
        self.writer = LedgerWriter(session) if self.write else None

    def prepare(self, rows: list[tuple[int, dict[str, Any]]]) -> Prepared:
        """What a chunk needs that no other writer can change: fields checked, learners found,
        content hashes — a staged import does it outside the ledger lock, in a read transaction."""
        today = self.today
        return self.prepare_cleaned([rules.clean(line, values, today=today) for line, values in rows])

    def prepare_cleaned(
        self, cleaned: list[rules.CleanRow | rules.Problem], digests: dict[int, str] | None = None
    ) -> Prepared:
        """``prepare`` for rows already cleaned (``rules.clean``), with their content hashes by line
        if known: a staged import's write pass takes both from its check pass instead of reading,
        cleaning and hashing the file again."""
        good = [c for c in cleaned if isinstance(c, rules.CleanRow)]
        refs = self._learners(good)
        self._outcomes({c.outcome_code for c in good})
        self._former_names([c for c in good if c.name is not None], refs)
        if digests is None:
            digests = {}
            for row in good:
                ref = refs.get(row.account_no or self._hmac(row.national_id))
                if ref is not None:
                    digests[row.line] = _digest(row, ref)
        return Prepared(cleaned, refs, digests)

    def post(
        self, rows: list[tuple[int, dict[str, Any]]], prepared: Prepared | None = None
    ) -> list[Posted | rules.Problem]:
        """Check and (if writing) post one chunk; one result per row, in order."""
        if prepared is None:
            prepared = self.prepare(rows)
        cleaned, refs, digests = prepared.cleaned, prepared.refs, prepared.digests
        self._created_at = clock.now()  # one stamp per chunk, written in its transaction
        good = [c for c in cleaned if isinstance(c, rules.CleanRow)]
        self.take_lock()
        if self.write and self.writer is not None:
            self.writer.prefetch({self.issuance.id} | {ref.account_id for ref in refs.values()})
        existing = self._existing([c.external_id for c in good])
        if self.writer is not None and self._seq_seen is not None and self.writer.seq != self._seq_seen:
            self._converted_since(self._seq_seen)  # someone wrote since our previous chunk
        self._load_pairs({r.learner_id for r in refs.values()})
        results: list[Posted | rules.Problem] = []
        for row in cleaned:
            results.append(
                row
                if isinstance(row, rules.Problem)
                else self._one(row, refs, existing, digests.get(row.line))
            )
        return results

    def _one(
        self,
        row: rules.CleanRow,
        refs: dict[str, _LearnerRef],
        existing: dict[str, Posted],
        digest: str | None,
    ) -> Posted | rules.Problem:
        ref = refs.get(row.account_no or self._hmac(row.national_id))
        if ref is None:
            return rules.Problem(
                "learner_not_found",
                "account_no" if row.account_no else "national_id",
                {"ref": row.account_no or "national_id"},
            )
        if row.name is not None and not self._name_matches(row.name, ref):
            return _name_mismatch(row)
        outcome = self.catalogue.get(row.outcome_code)
        if outcome is None:
            return rules.Problem("outcome_not_found", "outcome_code", {"code": row.outcome_code})
        if digest is None:
            digest = _digest(row, ref)
        # This file first: a row repeated word for word counts once (its first line is the one
        # imported or replayed), whether or not an earlier chunk of the import wrote it already.
        seen = self._seen_external.get(row.external_id)
        if seen is not None:
            if seen[1] == digest:  # the same external id: the same content, or a conflict
                return rules.Problem(
                    DUPLICATE, "external_id", {"external_id": row.external_id, "first_line": seen[0]}
                )
            return _conflict(
                row.external_id, f"：见本文件第 {seen[0]} 行", f": see line {seen[0]} of this file"
            )
        # Idempotency next: a replay of an accepted completion is not a duplicate of itself.
        earlier = existing.get(row.external_id)
        if earlier is not None:
            if earlier.id in self._abandoned:  # reversed with its import: the id is spent
                return rules.Problem("completion_abandoned", "external_id", {"external_id": row.external_id})
            if earlier.replayed and self._hash_of(earlier) == digest:
                if earlier.state != CompletionState.pending:
                    self._seen_external[row.external_id] = (row.line, digest)
                    return earlier
                if self.import_id is None:
                    # Written by an import that never published: only that file, sent again, finishes it.
                    return rules.Problem(
                        "completion_pending", "external_id", {"external_id": row.external_id}
                    )
                # A dead import's row (imports of one institution never overlap): adopt it, once —
                # unless the pair got credited meanwhile (posted by hand while the file waited):
                # adopting would credit the learner twice for one course.
                if (ref.learner_id, outcome.code) in self._seen_pairs:
                    return rules.Problem("duplicate_completion", "outcome_code", {"code": outcome.code})
                if (held := self._converted.get((ref.learner_id, outcome.code))) is not None:
                    return rules.Problem("outcome_held_by_conversion", "outcome_code", held)
                self._seen_external[row.external_id] = (row.line, digest)
                self._seen_pairs.add((ref.learner_id, outcome.code))
                if self.write:
                    self._adopted.append(earlier.id)
                return earlier._replace(replayed=False)
            return self._conflict_with(row.external_id, earlier)
        problem = (
            worth_nothing(outcome)
            or rules.check_completed_on(row.completed_on, ref.birth_year)
            or rules.check_score(row.score, outcome.min_score)
        )
        if problem is not None:
            return problem
        if (ref.learner_id, outcome.code) in self._seen_pairs:
            return rules.Problem("duplicate_completion", "outcome_code", {"code": outcome.code})
        if (held := self._converted.get((ref.learner_id, outcome.code))) is not None:
            return rules.Problem("outcome_held_by_conversion", "outcome_code", held)
        self._seen_external[row.external_id] = (row.line, digest)
        self._seen_pairs.add((ref.learner_id, outcome.code))
        return self._record(row, ref, outcome, digest)

    def _record(self, row: rules.CleanRow, ref: _LearnerRef, outcome: _Outcome, digest: str) -> Posted:
        if not self.write:
            return _CHECKED
        completion_id = new_ordered_id("cmp")
        tx_id = ""
        staged = self.import_id is not None
        if self.write and self.writer is not None:
            lot_id = new_ordered_id("lot")
            units = outcome.credits_units
            tx_id = self.writer.append(
                kind=TxKind.deposit,
                event_on=row.completed_on,
                completion_id=completion_id,
                completion_hash=digest,
                legs=[
                    Leg(self.issuance.id, self.issuance.code, -units),
                    Leg(
                        ref.account_id,
                        f"learner:{ref.account_no}",
                        units,
                        lot_id,
                        balance_key=(ref.learner_id, outcome.category, outcome.level),
                    ),
                ],
            )
            self.writer.add_lot_values(  # LOT_COLUMNS
                (
                    lot_id,
                    ref.learner_id,
                    completion_id,
                    None,
                    tx_id,
                    self.institution.id,
                    outcome.id,
                    outcome.category,
                    outcome.level,
                    row.completed_on,
                    None
                    if outcome.validity_years is None
                    else clock.add_years(row.completed_on, outcome.validity_years),
                    units,
                    0,
                    0,
                    LotState.pending if staged else LotState.active,
                    self.import_id,
                )
            )
            self._completions.append(  # COMPLETION_COLUMNS
                (
                    completion_id,
                    self.institution.id,
                    row.external_id,
                    ref.learner_id,
                    outcome.id,
                    outcome.code,
                    row.completed_on,
                    row.score,
                    row.hours,
                    units,
                    digest,
                    self.api_key_id,
                    self.staff_id,
                    tx_id,
                    CompletionState.pending if staged else CompletionState.active,
                    self._created_at,
                    self.import_id,
                )
            )
            if not ref.linked:
                self._taught.add(ref.learner_id)
            if not staged:  # a staged import's rows count (and supersede) when it publishes
                for conversion_id in self._requested.get((ref.learner_id, outcome.code), ()):
                    self._superseding[conversion_id] = completion_id
        return Posted(
            id=completion_id,
            external_id=row.external_id,
            account_no=ref.account_no,
            outcome_code=outcome.code,
            credits_units=outcome.credits_units,
            transaction_id=tx_id,
            completed_on=row.completed_on,
            state=CompletionState.pending if staged else CompletionState.active,
            replayed=False,
        )

    def flush(self) -> None:
        if not self.write or self.writer is None:
            return
        self.writer.flush()
        if self._adopted:
            self.session.execute(
                update(Completion)
                .where(
                    col(Completion.id).in_(self._adopted), col(Completion.state) == CompletionState.pending
                )
                .values(import_id=self.import_id)
            )
            self.session.execute(  # and their lots into this import's batch
                update(Lot)
                .where(col(Lot.completion_id).in_(self._adopted), col(Lot.state) == LotState.pending)
                .values(batch_id=self.import_id)
            )
            self._adopted = []
        wrote = len(self._completions)
        bulk_insert_values(self.session, _COMPLETION, COMPLETION_COLUMNS, self._completions)
        self._completions = []
        self._written += wrote
        self._flushes += bool(wrote)
        if wrote and self._flushes in (1, 8) and self._statistics_stale():
            # The planner's statistics still say these tables are (nearly) empty, and its plan for
            # the per-chunk look-ups then scans every row this import wrote: a 100 000-row import
            # into a young ledger turned quadratic. ANALYZE sees our own rows; twice is enough.
            self.session.execute(text("ANALYZE completion, lot"))
        if self._taught:
            learners.link(self.session, institution_id=self.institution.id, learner_ids=sorted(self._taught))
            self._taught = set()
        if self._superseding:
            supersede(self.session, self._superseding)
            self._superseding = {}
        self._seq_seen = self.writer.seq

    def _statistics_stale(self) -> bool:
        """PostgreSQL: whether the rows this poster wrote are a large part of what the planner
        believes the completion table holds — then it needs fresh statistics. Never for a single
        post or a small batch: ANALYZE reads up to 30 000 rows of each table, and it runs under
        the ledger lock (0.9 s of a 0.95 s post at 25 000 completions; bench/scale.py)."""
        if self._written < ANALYZE_MIN_ROWS or self.session.get_bind().dialect.name != "postgresql":
            return False
        estimate = self.session.execute(
            text("SELECT reltuples FROM pg_class WHERE oid = 'completion'::regclass")
        ).scalar_one()
        return bool(estimate < 2 * self._written)  # -1: never analysed

    # -- lookups, one query per chunk each --------------------------------------------------
    def _hmac(self, national_id: str | None) -> str:
        return hmac_hex(self.secret, national_id or "")

    def _learners(self, rows: list[rules.CleanRow]) -> dict[str, _LearnerRef]:
        """Map account_no and ID-HMAC to the learner and their credit account (the chunk's own keys;
        learners already in ``self._known`` are not queried again)."""
        known = self._known
        keys = {r.account_no or self._hmac(r.national_id) for r in rows}
        missing = keys - known.keys()
        numbers = sorted(k for k in missing if k.startswith("CB"))
        hmacs = sorted(k for k in missing if not k.startswith("CB"))
        for statement, values in ((_LEARNERS_BY_ACCOUNT, numbers), (_LEARNERS_BY_HMAC, hmacs)):
            if not values:
                continue
            for learner_id, account_no, digest, account_id, linked, born, name in self.session.execute(
                statement, {"institution_id": self.institution.id, "keys": values}
            ):
                ref = _LearnerRef(learner_id, account_no, account_id, bool(linked), born, name)
                known[account_no] = ref
                if digest:
                    known[digest] = ref
        return {k: known[k] for k in keys if k in known}

    def _outcomes(self, codes: set[str]) -> None:
        """Load the latest version of the codes not asked for yet (a code that does not exist stays
        absent: its rows are refused with ``outcome_not_found``)."""
        new = codes - self._codes_asked
        if not new:
            return
        self._codes_asked |= new
        for code, o in current_versions(self.session, institution_id=self.institution.id, codes=new).items():
            self.catalogue[code] = _Outcome(
                o.id, o.code, o.credits_units, o.category, o.level, o.validity_years, o.min_score
            )

    def _existing(self, external_ids: list[str]) -> dict[str, Posted]:
        found: dict[str, Posted] = {}
        if not external_ids:
            return found
        rows = self.session.execute(
            _EXISTING, {"institution_id": self.institution.id, "external_ids": sorted(set(external_ids))}
        )
        for completion, account_no, in_published in rows:
            live_pending = completion.state == CompletionState.pending and bool(in_published)
            found[completion.external_id] = as_posted(
                completion, account_no, replayed=True, published=live_pending
            )
            self._hashes[completion.id] = completion.content_hash
            self._posted_at[completion.id] = completion.created_at
            if completion.revoked_by == ABANDONED_BY:
                self._abandoned.add(completion.id)
        return found

    def _hash_of(self, posted: Posted) -> str:
        return self._hashes[posted.id]

    def _conflict_with(self, external_id: str, earlier: Posted) -> rules.Problem:
        """``external_id_conflict`` with a completion posted before: when, for whom, which outcome —
        what the clerk looks it up by (the console lists an account's completions)."""
        on = clock.local(self._posted_at[earlier.id]).date().isoformat()
        if earlier.state == CompletionState.pending:  # an import that never published: not shown anywhere
            return _conflict(
                external_id,
                f"：{on} 由一次未完成的导入写入，尚未生效（学习账号 {earlier.account_no}，成果代码 {earlier.outcome_code}）",
                f": written on {on} by an import that did not finish, not in effect (account "
                f"{earlier.account_no}, outcome {earlier.outcome_code})",
            )
        return _conflict(
            external_id,
            f"：已于 {on} 登记（学习账号 {earlier.account_no}，成果代码 {earlier.outcome_code}）",
            f": posted on {on} (account {earlier.account_no}, outcome {earlier.outcome_code})",
        )

    def _name_matches(self, name: str, ref: _LearnerRef) -> bool:
        """Whether a row's 姓名 is the learner's registered name or one they had before a correction
        (``name_key``: spaces, full-width forms, the middle dot's variants and case do not count).

        Any name on record, whatever the completion's date: the check is there to catch a wrong ID
        or account number — credits going to another resident — and a former name under the right
        number is the right person. An LMS keeps the spelling it was given (the correction is made
        at the bank, often long after), so refusing rows dated after the correction would refuse
        this term's file for a name the office already knows was theirs, and protect nobody."""
        if name == ref.name:  # nearly every row: as registered, character for character
            return True
        key = name_key(name)
        return key == name_key(ref.name) or key in self._former.get(ref.learner_id, ())

    def _former_names(self, rows: list[rules.CleanRow], refs: dict[str, _LearnerRef]) -> None:
        """Load the former names of the learners whose rows' 姓名 is not their current name: one
        query per chunk, and none at all when every name matches (the usual file)."""
        wanted: set[int] = set()
        for row in rows:
            ref = refs.get(row.account_no or self._hmac(row.national_id))
            if (
                ref is not None
                and row.name != ref.name
                and ref.learner_id not in self._former
                and name_key(row.name or "") != name_key(ref.name)
            ):
                wanted.add(ref.learner_id)
        if not wanted:
            return
        former: dict[int, set[str]] = {learner_id: set() for learner_id in wanted}
        for learner_id, old_name in self.session.execute(_FORMER_NAMES, {"learner_ids": sorted(wanted)}):
            former[learner_id].add(name_key(old_name))
        self._former.update((learner_id, frozenset(keys)) for learner_id, keys in former.items())

    def _load_pairs(self, learner_ids: set[int]) -> None:
        # Once per learner per import: pairs this import adds are tracked in memory as it goes.
        ids = sorted(learner_ids - self._pairs_loaded)
        self._pairs_loaded |= learner_ids
        if ids:
            rows = self.session.execute(_PAIRS, {"institution_id": self.institution.id, "learner_ids": ids})
            for learner_id, code, conversion_id, rule_code, rule_zh, rule_en, state in rows:
                if conversion_id is None:
                    self._seen_pairs.add((learner_id, code))
                else:
                    self._note_conversion(learner_id, code, conversion_id, rule_code, rule_zh, rule_en, state)

    def _note_conversion(
        self,
        learner_id: int,
        code: str,
        conversion_id: str,
        rule_code: str,
        rule_zh: str,
        rule_en: str | None,
        state: str,
    ) -> None:
        """A row of ``_conversions_into_our_courses``: a pending request is ended by a completion of
        its course (``_requested``), an approved conversion refuses one (``_converted``)."""
        if state == ConversionState.pending:
            self._requested.setdefault((learner_id, code), []).append(conversion_id)
            return
        self._converted[(learner_id, code)] = {
            "code": code,
            "conversion": conversion_id,
            "rule_code": rule_code,
            "rule_zh": rule_zh,
            "rule_en": rule_en or rule_zh,
        }

    def _converted_since(self, seq: int) -> None:
        """Conversions into this institution's outcomes approved after ledger position ``seq`` (while a
        staged import waited between two chunks): its later rows of those courses are refused."""
        for row in self.session.execute(
            _CONVERTED_SINCE, {"institution_id": self.institution.id, "seq": seq}
        ):
            self._note_conversion(*row)


def worth_nothing(outcome: _Outcome) -> rules.Problem | None:
    """An outcome of 0 credits, published before the catalogue refused them (docs/ledger.md): a
    completion of it would deposit a lot of nothing, so it is refused, row by row in a batch."""
    if outcome.credits_units > 0:
        return None
    return rules.Problem("outcome_without_credits", "outcome_code", {"code": outcome.code})


def _conflict(external_id: str, where_zh: str, where_en: str) -> rules.Problem:
    return rules.Problem(
        "external_id_conflict",
        "external_id",
        {"external_id": external_id, "where_zh": where_zh, "where_en": where_en},
    )


_SHOWN_NAME = 24  # characters of a file's name quoted back, as ``rules.invalid`` quotes a value


def _name_mismatch(row: rules.CleanRow) -> rules.Problem:
    """The file's name and which number to check — never the registered name: the mistyped number
    most likely belongs to another resident, whom the institution must not learn about from it."""
    name = row.name or ""
    shown = name if len(name) <= _SHOWN_NAME else name[: _SHOWN_NAME - 1] + "…"
    if row.account_no:
        words = {
            "ref_zh": f"学习账号 {row.account_no} ",  # a space before 登记, as after a number in prose
            "ref_en": f"account {row.account_no}",
            "check_zh": "学习账号",
            "check_en": "account number",
        }
    else:
        words = {
            "ref_zh": "这个身份证号",
            "ref_en": "this ID number",
            "check_zh": "身份证号",
            "check_en": "ID number",
        }
    return rules.Problem("name_mismatch", "name", {"name": shown, **words})


def _digest(row: rules.CleanRow, ref: _LearnerRef) -> str:
    return rules.content_hash(
        external_id=row.external_id,
        account_no=ref.account_no,
        outcome_code=row.outcome_code,
        completed_on=row.completed_on,
        score=row.score,
        hours=row.hours,
    )


def as_posted(completion: Completion, account_no: str, *, replayed: bool, published: bool = False) -> Posted:
    """``published``: a pending completion of a published import (``models.live``): it counts as active."""
    return Posted(
        id=completion.id,
        external_id=completion.external_id,
        account_no=account_no,
        outcome_code=completion.outcome_code,
        credits_units=completion.credits_units,
        transaction_id=completion.transaction_id,
        completed_on=completion.completed_on,
        state=CompletionState.active if published else completion.state,
        replayed=replayed,
    )


# -- use cases ---------------------------------------------------------------------------------


def post_one(
    session: Session,
    *,
    institution: Institution,
    api_key_id: str | None,
    secret: bytes,
    values: dict[str, Any],
    staff_id: int | None = None,
) -> Posted:
    """POST /completions: the posted (or replayed) completion, or a CreditbankError.

    ``institution`` may come from another session (the caller's API key): the poster reads it afresh.
    Before the ledger lock, what no concurrent writer can change: the fields, the learner (ids and
    account never change; links are only added) and the outcome's latest version. An edit of the
    outcome is not serialised by the ledger lock (``catalogue.upsert`` never takes it), so reading
    it under the lock would order nothing: the post uses the version current when it was read, as
    if it had come just before the edit. Under the lock, what another writer may have changed
    meanwhile: a running import of this institution, the external id (replay or conflict), the
    learner × outcome pair and the account balances (``Poster.post``)."""
    poster = Poster(
        session,
        institution=institution,
        api_key_id=api_key_id,
        secret=secret,
        staff_id=staff_id,
        locked=False,
    )
    rows = [(1, values)]
    prepared = poster.prepare(rows)
    poster.take_lock()
    # After the lock: the institution's own import publishes its learner × outcome pairs at the
    # end, so a post of its own meanwhile could collide with them. Others go ahead.
    if import_running(session, institution_id=poster.institution.id):
        raise CreditbankError("import_in_progress")
    result = poster.post(rows, prepared)[0]
    if isinstance(result, rules.Problem):
        raise CreditbankError(result.code, result.params)
    poster.flush()
    return result


def import_rows(
    session: Session,
    *,
    institution: Institution,
    api_key_id: str | None,
    secret: bytes,
    rows: Iterable[tuple[int, dict[str, Any]] | tuple[int, str, dict[str, Any]]],
    mode: str = "all_or_nothing",
    progress: Any = None,
    staff_id: int | None = None,
) -> BatchReport:
    """A whole import in the caller's transaction. ``rows`` yields (line, values) or (line, code, params)
    for rows the file reader already refused. In all-or-nothing mode any refusal raises
    ``batch_rejected`` (the caller rolls back) with the full row-by-row report."""
    report = BatchReport(mode=mode)
    poster = Poster(session, institution=institution, api_key_id=api_key_id, secret=secret, staff_id=staff_id)
    iterator: Iterator = iter(rows)
    while chunk := list(islice(iterator, CHUNK)):
        good = [r for r in chunk if len(r) == 2]
        for line, code, params in (r for r in chunk if len(r) == 3):
            report.errors.append(row_error(line, code, params=params))
        report.total_rows += len(chunk)
        if mode == "all_or_nothing" and report.errors:
            poster.write = False
        for (line, _), result in zip(good, poster.post(good), strict=True):
            if isinstance(result, rules.Problem):
                report.refused(line, result)
                if mode == "all_or_nothing" and result.code != DUPLICATE:
                    poster.write = False
            elif result.replayed:
                report.replayed += 1
            else:
                report.accepted += 1
        poster.flush()
        if progress is not None:
            progress(len(chunk))
    report.errors.sort(key=lambda e: e["line"])
    if mode == "all_or_nothing" and report.errors:
        raise CreditbankError("batch_rejected", {"rejected": report.rejected}, errors=report.errors)
    report.committed = True
    return report


@dataclass(frozen=True)
class LearnerCompletion:
    """One of a learner's own active completions, as their portal lists it."""

    id: str
    title_zh: str
    title_en: str | None
    institution_zh: str
    completed_on: date
    credits_units: int


def for_learner(session: Session, learner_id: int) -> list[LearnerCompletion]:
    rows = session.execute(
        select(col(Completion.id), col(Outcome.title_zh), col(Outcome.title_en), col(Institution.name_zh),
               col(Completion.completed_on), col(Completion.credits_units))
        .join(Outcome, col(Outcome.id) == col(Completion.outcome_id))
        .join(Institution, col(Institution.id) == col(Completion.institution_id))
        .where(col(Completion.learner_id) == learner_id, live())
        .order_by(col(Completion.completed_on).desc(), col(Completion.id))
    )  # fmt: skip
    return [LearnerCompletion(*row) for row in rows]


def get(session: Session, completion_id: str) -> tuple[Completion, str]:
    """A completion as its institution and the operator see it: a row of a published import that is
    still being settled is shown ``active`` (it counts already); one of an import not published yet
    does not exist to the outside (``completion_unpublished``)."""
    row = session.execute(
        select(Completion, col(Learner.account_no), live())
        .join(Learner, col(Learner.id) == col(Completion.learner_id))
        .where(col(Completion.id) == completion_id)
    ).first()
    if row is None:
        raise CreditbankError("completion_not_found", {"id": completion_id})
    completion, account_no, counts = row
    if completion.state == CompletionState.pending:
        if not counts:
            raise CreditbankError("completion_unpublished", {"id": completion_id})
        session.expunge(completion)  # shown as it counts; the row itself is settled by the import
        completion.state = CompletionState.active
    return completion, account_no


def revoke(
    session: Session,
    *,
    completion_id: str,
    institution_id: int | None,
    reason: str | None,
    force: bool = False,
    revoked_by: str | None = None,
) -> Posted:
    """Reverse a completion's lot. ``institution_id`` None = the operator. Repeating is a no-op.

    A lot already used by a conversion is refused with ``lot_consumed``, one only locked by pending
    requests with ``lot_locked`` (naming them) — unless the operator forces the cascade, which first
    undoes those conversions (and what was built on them)."""
    lock(session)  # first: the lot must not change under us
    if institution_id is not None:  # a suspended institution is read-only; the operator may act
        institutions.require_accredited(session, institution_id)
    completion, account_no = get(session, completion_id)
    if institution_id is not None and completion.institution_id != institution_id:
        # Another institution's record: answer as if it did not exist (no probing of ids).
        raise CreditbankError("completion_not_found", {"id": completion_id})
    if completion.state == CompletionState.revoked:
        return as_posted(completion, account_no, replayed=True)
    if completion.state == CompletionState.pending and completion.import_id not in set(
        session.execute(released()).scalars()
    ):  # a published import's row still being settled counts as active
        raise CreditbankError("completion_pending", {"external_id": completion.external_id})
    lot = session.execute(select(Lot).where(col(Lot.completion_id) == completion.id)).scalar_one()
    if lot.consumed_units or lot.locked_units:
        if not force and lot.consumed_units:
            raise CreditbankError("lot_consumed")
        if not force:  # only held by pending requests: say so, and who can release them
            held = locked_by(session, lot_id=lot.id)
            raise CreditbankError(
                "lot_locked",
                {
                    "requests": "、".join(c for c, _ in held),
                    "schools": "、".join(dict.fromkeys(code for _, code in held)),
                },
            )
        reverse_for_lot(session, lot_id=lot.id, reason=reasons.coded(reasons.SOURCE_REVOKED, reason))
        session.refresh(lot)
    # After the cascade's own transactions: the writer reads the current chain tip.
    writer = LedgerWriter(session)
    tx_id = writer.reverse(completion.transaction_id)
    writer.flush()  # marks the lot reversed too
    completion.state = CompletionState.revoked
    completion.revoked_at = clock.now()
    completion.revoke_reason = reason
    completion.revoke_transaction_id = tx_id
    completion.revoked_by = revoked_by
    session.add(completion)
    session.flush()
    # Whatever rests on the reversed credits (certificates) must change too, in the same transaction.
    for hook in _on_revoked:
        hook(session, completion_id=completion.id, reason=reason)
    return as_posted(completion, account_no, replayed=False)


def import_running(session: Session, *, institution_id: int) -> bool:
    """Whether a staged import of this institution is live (running, heartbeat within ``LEASE``)."""
    alive_since = clock.now() - LEASE
    return (
        session.execute(
            _RUNNING_IMPORT, {"institution_id": institution_id, "alive_since": alive_since}
        ).first()
        is not None
    )


@dataclass(frozen=True)
class InstitutionCompletion:
    """One completion as the institution's console lists it."""

    id: str
    external_id: str
    account_no: str
    learner_name: str
    outcome_code: str
    title_zh: str
    title_en: str | None
    completed_on: date
    credits_units: int
    state: str
    revoke_reason: str | None


def for_institution(
    session: Session, *, institution_id: int, account_no: str | None = None, limit: int = 50
) -> list[InstitutionCompletion]:
    """An institution's completions, newest first (one learner's when ``account_no`` is given)."""
    query = (
        select(col(Completion.id), col(Completion.external_id), col(Learner.account_no), col(Learner.name),
               col(Completion.outcome_code), col(Outcome.title_zh), col(Outcome.title_en),
               col(Completion.completed_on), col(Completion.credits_units), col(Completion.state),
               col(Completion.revoke_reason))
        .join(Learner, col(Learner.id) == col(Completion.learner_id))
        .join(Outcome, col(Outcome.id) == col(Completion.outcome_id))
        .where(col(Completion.institution_id) == institution_id)
        .order_by(col(Completion.created_at).desc(), col(Completion.id))
        .limit(limit)
    )  # fmt: skip
    if account_no:
        query = query.where(col(Learner.account_no) == account_no.strip().upper())
    return [InstitutionCompletion(*row) for row in session.execute(query)]
