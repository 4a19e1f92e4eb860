"""Bounded work in JSON-LD canonicalisation (issue 9, item 3): a time budget per call, and no
lock shared between threads, so one slow document cannot stall every other verification."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from creditbank.kit import jsonld, jsonshape

V2 = "https://www.w3.org/ns/credentials/v2"


def _credential(identifiers: int) -> dict:
    """The shape of the reported attack: one array of thousands of identical identity objects.
    PyLD's expansion is quadratic in an array's length."""
    return {
        "@context": [V2, "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"],
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": {"id": "did:web:example.org", "type": ["Profile"]},
        "validFrom": "2026-01-01T00:00:00Z",
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "identifier": [
                {"type": "IdentityObject", "identityType": "name", "hashed": False, "identityHash": "张桂兰"}
            ]
            * identifiers,
        },
    }


@contextmanager
def costly_collections(monkeypatch: pytest.MonkeyPatch, seconds: float = 5.0) -> Iterator[Callable[[], None]]:
    """A thread CPU clock that stands still except in the garbage collections run by the function
    yielded, each of which costs ``seconds``: what a full collection of a large process costs the
    request that happens to set it off (one of 6 s was measured), made independent of this machine."""
    cpu = [0.0]
    forcing = [False]
    monkeypatch.setattr(time, "thread_time", lambda: cpu[0])

    def costly(phase: str, info: dict) -> None:
        if phase == "start" and forcing[0]:
            cpu[0] += seconds

    def collect() -> None:
        forcing[0] = True
        try:
            gc.collect()
        finally:
            forcing[0] = False

    gc.callbacks.append(costly)  # after creditbank.kit.jsonld's own (registered at its import)
    try:
        yield collect
    finally:
        gc.callbacks.remove(costly)


class TestItem3TimeBudget:
    def test_item3_canonicalisation_past_its_time_budget_is_refused(self):
        with pytest.raises(jsonld.WorkBudgetExceeded) as caught:
            jsonld.canonize(_credential(2000), budget_seconds=0.01)
        assert caught.value.seconds == 0.01

    def test_item3_the_same_document_within_its_budget_canonicalises(self):
        assert "identityHash" in jsonld.canonize(_credential(3), budget_seconds=60)

    def test_item3_a_garbage_collection_on_the_way_is_not_the_documents_work(self, monkeypatch):
        # A collection sweeps the whole process's garbage, whoever made it: charged to the document
        # that set it off, it refused a genuine presentation as too costly (tests/vcapi, in CI).
        with costly_collections(monkeypatch) as collect:

            class Collecting(jsonld.DocumentLoader):
                def load(self, url):
                    collect()
                    return super().load(url)

            assert "identityHash" in jsonld.canonize(_credential(3), loader=Collecting(), budget_seconds=2)


class TestItem3NoGlobalLock:
    def test_item3_a_stalled_canonicalisation_does_not_block_another_thread(self):
        """One thread sits inside JSON-LD processing (its context load blocks); another thread
        using the same loader must still finish. With a lock around PyLD it waited forever."""
        slow_url = "https://slow.example/context.jsonld"
        entered, release = threading.Event(), threading.Event()

        class SlowLoader(jsonld.DocumentLoader):
            def load(self, url):
                if url == slow_url:
                    entered.set()
                    release.wait(60)
                return super().load(url)

        loader = SlowLoader(extra={slow_url: {"@context": {"name": "https://schema.org/name"}}})
        stalled = threading.Thread(
            target=jsonld.canonize, args=({"@context": slow_url, "name": "x"},), kwargs={"loader": loader}
        )
        stalled.start()
        try:
            assert entered.wait(30)
            done: list[str] = []
            other = threading.Thread(
                target=lambda: done.append(jsonld.canonize(_credential(1), loader=loader))
            )
            other.start()
            other.join(30)
            assert done, "the second canonicalisation waited for the stalled one"
        finally:
            release.set()
            stalled.join(30)


class TestJsonShape:
    limits = jsonshape.Limits(depth=4, values=20, array_items=5)

    @pytest.mark.parametrize(
        ("value", "kind"),
        [
            ([[[[["deep"]]]]], "depth"),
            (list(range(6)), "array_items"),
            ({k: list(range(5)) for k in "abcd"}, "values"),
        ],
    )
    def test_each_bound_is_named(self, value, kind):
        with pytest.raises(jsonshape.ShapeError) as caught:
            jsonshape.check(value, self.limits)
        assert caught.value.kind == kind

    def test_within_the_bounds_passes(self):
        jsonshape.check({"a": [1, 2, {"b": None}]}, self.limits)

    def test_very_deep_values_do_not_recurse(self):
        value: list = []
        for _ in range(100_000):
            value = [value]
        with pytest.raises(jsonshape.ShapeError):
            jsonshape.check(value, self.limits)
