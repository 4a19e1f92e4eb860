"""The import path hashes without the shape check (kit.canonical.trusted_digest_hex): the bytes must
be exactly RFC 8785's for every payload the ledger and the completion rules build."""

from __future__ import annotations

import hashlib
from datetime import date

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from creditbank.completions import rules
from creditbank.kit.canonical import trusted_digest_hex
from creditbank.ledger import chain

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)  # no lone surrogates


def reference(value: object) -> str:
    """The reference implementation itself, not the kit's fast path."""
    return hashlib.sha256(rfc8785.dumps(value)).hexdigest()


units = st.integers(min_value=-(2**53 - 1), max_value=2**53 - 1)


@settings(max_examples=300, deadline=None)
@given(
    seq=st.integers(min_value=1, max_value=2**53 - 1),
    ids=st.tuples(text, text, text),
    kind=st.sampled_from(["deposit", "reversal", "conversion"]),
    day=st.dates(min_value=date(1900, 1, 1)),
    optional=st.tuples(st.none() | text, st.none() | text, st.none() | text),
    postings=st.lists(st.tuples(text, units, st.none() | text), min_size=2, max_size=5),
)
def test_a_ledger_payload_hashes_to_the_rfc8785_digest(seq, ids, kind, day, optional, postings):
    fields = {
        "seq": seq,
        "tx_id": ids[0],
        "prev_hash": ids[1],
        "kind": kind,
        "event_on": day,
        "recorded_at": ids[2],
        "reverses_id": optional[0],
        "completion_id": optional[1],
        "completion_hash": optional[2],
        "postings": postings,
    }
    body = chain.payload(**fields)
    # The ledger writer hashes the fields without building the payload (chain.payload_hash).
    assert trusted_digest_hex(body) == reference(body) == chain.tx_hash(body) == chain.payload_hash(**fields)


def test_units_that_are_not_integers_take_the_general_path():
    # Written directly, True would be "True" (JSON: true): the fast path must not take them. The
    # writer's legs are integers; this is the guard, answering what hashing the payload answers.
    fields = {
        "seq": 7, "tx_id": "txn_a", "prev_hash": "0" * 64, "kind": "deposit", "event_on": date(2026, 3, 1),
        "recorded_at": "2026-03-01T00:00:00Z", "reverses_id": None, "completion_id": "cmp_a",
        "completion_hash": None, "postings": [("issuance:X", -1, None), ("learner:Y", True, "lot_a")],
    }  # fmt: skip
    assert chain.payload_hash(**fields) == chain.tx_hash(chain.payload(**fields))


@settings(max_examples=300, deadline=None)
@given(
    fields=st.tuples(text, text, text),
    day=st.dates(min_value=date(1900, 1, 1)),
    score=st.none() | st.floats(min_value=0, max_value=100),
    hours=st.none() | st.floats(min_value=0, max_value=10_000),
)
def test_a_completion_content_hash_is_the_rfc8785_digest(fields, day, score, hours):
    content = {
        "external_id": fields[0],
        "account_no": fields[1],
        "outcome_code": fields[2],
        "completed_on": day.isoformat(),
        "score": None if score is None else f"{score:.2f}",
        "hours": None if hours is None else f"{hours:.2f}",
    }
    digest = rules.content_hash(
        external_id=fields[0],
        account_no=fields[1],
        outcome_code=fields[2],
        completed_on=day,
        score=score,
        hours=hours,
    )
    assert digest == reference(content)
