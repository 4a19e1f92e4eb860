"""JSON-LD for Data Integrity: an offline document loader and strict RDFC-1.0 canonicalisation.

* Contexts come only from :mod:`creditbank.contexts` (files shipped in the package). The loader
  never touches the network: any other URL raises :class:`ContextNotBundledError`.
* :func:`canonize` turns a JSON-LD document into canonical N-Quads (RDF Dataset
  Canonicalization, RDFC-1.0 — the algorithm formerly known as URDNA2015) and REFUSES documents
  whose meaning would not be fully captured by the RDF that gets signed:

  - a property the active context does not define (JSON-LD expansion silently drops it);
  - a ``type`` value the context does not define, or an ``id`` / ``@id``-typed value that is a
    relative IRI (RDF conversion silently drops those statements).

  Both raise :class:`UndefinedTermError` naming the path, e.g. ``credentialSubject.foo``.
  This is what jsonld.js calls "safe mode"; PyLD has no safe mode, so expansion runs through a
  small :class:`pyld.jsonld.JsonLdProcessor` subclass that watches every key and every IRI.
* Processed contexts are cached per loader and per thread (PyLD's resolved-context cache, kept
  private to the loader so a test loader's extra contexts never leak into the production one),
  so repeated canonicalisation does not re-process the (large) VC / Open Badges contexts. PyLD's
  caches are not thread-safe; one cache per thread (not one lock per loader) means a slow
  document never makes other requests wait.
* Work is bounded: each :func:`canonize` / :func:`to_dataset` call has a time budget (checked at
  every element expanded and every blank-node hash) and raises :class:`WorkBudgetExceeded` past
  it. The budget counts the calling thread's CPU time less its garbage collections: a collection
  sweeps the whole process's garbage, whoever made it. JSON-LD expansion is quadratic in the length of an array in PyLD, and RDFC-1.0 is
  exponential on "poison" graphs; callers that take documents from strangers also bound their
  size and shape first (``creditbank.kit.jsonshape``).

PyLD's URDNA2015 serialises N-Quads with the older escaping rules (only ``\\t \\n \\r " \\``);
RDFC-1.0 (and jsonld.js / rdf-canonize) also escape ``\\b``, ``\\f`` and the other control
characters. To match byte for byte we run PyLD's canonicaliser from a private copy of its
``pyld.canon`` module whose ``serialize_nquad`` follows RDFC-1.0; the global ``pyld`` modules are
left untouched. Documents whose canonical form would depend on the Unicode sort order used
(code points, as RDFC-1.0 says, versus UTF-16 code units, as jsonld.js and Java sort) are
refused with :class:`UnicodeOrderError`.
"""

from __future__ import annotations

import copy
import gc
import importlib.util
import re
import threading
import time
from collections.abc import Mapping
from typing import Any

from cachetools import LRUCache
from pyld import jsonld as _pyld
from pyld.context_resolver import ContextResolver

from creditbank import contexts
from creditbank.contexts import ContextNotBundledError

__all__ = [
    "ContextNotBundledError",
    "DocumentLoader",
    "JsonLdProcessingError",
    "UndefinedTermError",
    "UnicodeOrderError",
    "WorkBudgetExceeded",
    "canonize",
    "default_loader",
    "to_dataset",
]

_XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
_RDF_LANGSTRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"


class UndefinedTermError(ValueError):
    """The document says something its JSON-LD contexts cannot express, so RDF would drop it.

    ``term_path`` is a dotted path into the document (``credentialSubject.foo``); for type
    values the offending value follows in brackets (``credentialSubject.type[Foo]``).
    ``problems`` lists every offending path found, first one first.
    """

    def __init__(
        self, term_path: str, *, detail: str = "undefined term", problems: tuple[str, ...] = ()
    ) -> None:
        self.term_path = term_path
        self.detail = detail
        self.problems = problems or (f"{detail}: {term_path}",)
        super().__init__(f"{detail}: {term_path}")


class JsonLdProcessingError(ValueError):
    """Any other JSON-LD failure (invalid syntax, redefining a protected term, …)."""


class UnicodeOrderError(JsonLdProcessingError):
    """RDFC-1.0 sorts N-Quads in code-point order; jsonld.js (rdf-canonize) and Java sort by
    UTF-16 code units. The two differ only when a character above U+FFFF (emoji, CJK Extension
    B…) meets one in U+E000–U+FFFF (e.g. fullwidth punctuation) at the same position of two
    otherwise equal lines. Such a document would verify with some implementations and not
    others, so it is refused."""

    def __init__(self) -> None:
        super().__init__(
            "canonical N-Quads differ between code-point order (RDFC-1.0) and UTF-16 order "
            "(jsonld.js, Java): refusing a document whose signature would not verify everywhere"
        )


class WorkBudgetExceeded(Exception):
    """Canonicalisation ran past its time budget: a document built to be slow, not a bad one.

    Deliberately not a :class:`JsonLdProcessingError`: callers must not report it as "this
    signature does not verify" — nobody knows, the work was refused."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(f"JSON-LD processing took longer than its {seconds:g} s budget")


DEFAULT_TIME_BUDGET_SECONDS = 2.0
"""Per call, in the calling thread's CPU seconds (garbage collection aside), for documents from
strangers. Measured whole verifications (both proofs): an achievement credential ~10 ms, a 60-line
transcript 0.7 s, a 350-line one 24 s (PyLD's expansion grows faster than the number of lines). So the bank's own documents (signing, a byte-identical
copy of an issued credential, the offline verifier run by the holder) pass ``math.inf``."""


class _Collections(threading.local):
    """CPU seconds this thread has spent in the garbage collector (see :func:`_work_seconds`)."""

    seconds = 0.0
    started: float | None = None


_collections = _Collections()


def _count_collection(phase: str, info: dict[str, Any]) -> None:
    # Runs in the thread whose allocation set the collection off, every other thread held by the GIL.
    if phase == "start":
        _collections.started = time.thread_time()
    elif _collections.started is not None:
        _collections.seconds += time.thread_time() - _collections.started
        _collections.started = None


gc.callbacks.append(_count_collection)


def _work_seconds() -> float:
    """This thread's CPU time less its garbage collections. A full collection walks every object of
    the process (other requests' garbage; in a test run, every app built before) and used to be
    charged to whichever document's allocation set it off: one of 6 s CPU (15 s wall) refused a
    genuine presentation whose check costs 10 ms as over its 2 s budget (the tests/vcapi flake).
    The document's own collections go uncounted too: they cost a fraction of its allocations."""
    return time.thread_time() - _collections.seconds


class _Deadline:
    """Counts the calling thread's work (:func:`_work_seconds`), not the wall clock: the budget bounds
    the work a document costs, and on a busy machine (other requests, a test suite in two workers)
    the wall clock ran past 2 s for the bank's own transcript and refused a genuine credential."""

    __slots__ = ("at", "seconds")

    def __init__(self, seconds: float | None) -> None:
        self.seconds = DEFAULT_TIME_BUDGET_SECONDS if seconds is None else seconds
        self.at = _work_seconds() + self.seconds

    def check(self) -> None:
        if _work_seconds() > self.at:
            raise WorkBudgetExceeded(self.seconds)


# ---------------------------------------------------------------------------------------------
# document loader


class DocumentLoader:
    """Serves the bundled contexts (plus ``extra`` documents, for tests) and nothing else."""

    def __init__(self, extra: Mapping[str, Any] | None = None) -> None:
        self._extra = {url: copy.deepcopy(doc) for url, doc in (extra or {}).items()}
        # PyLD's resolved/processed-context cache, private to this loader and to each thread:
        # PyLD's caches are not thread-safe, and a lock around them let one slow document stall
        # every other verification (issue 9, item 3).
        self._local = threading.local()

    @property
    def cache(self) -> LRUCache[str, Any]:
        cache = getattr(self._local, "cache", None)
        if cache is None:
            cache = self._local.cache = LRUCache(maxsize=100)
        return cache

    @property
    def urls(self) -> frozenset[str]:
        return frozenset(contexts.INDEX) | frozenset(self._extra)

    def load(self, url: str) -> Any:
        if url in self._extra:
            return copy.deepcopy(self._extra[url])
        return contexts.load(url)  # raises ContextNotBundledError for anything else

    def __call__(self, url: str, options: Any = None) -> dict[str, Any]:
        return {
            "contentType": "application/ld+json",
            "contextUrl": None,
            "documentUrl": url,
            "document": self.load(url),
            # 'static' lets PyLD keep the processed context in this loader's cache
            "tag": "static",
        }

    def options(self) -> dict[str, Any]:
        return {
            "documentLoader": self,
            "contextResolver": ContextResolver(self.cache, self),
            "base": None,  # relative IRIs stay relative (and are refused), as jsonld.js base: null
            "processingMode": "json-ld-1.1",
            "produceGeneralizedRdf": False,
            "rdfDirection": "i18n-datatype",  # as jsonld.js / Digital Bazaar's cryptosuites
        }


_DEFAULT = DocumentLoader()


def default_loader() -> DocumentLoader:
    return _DEFAULT


# ---------------------------------------------------------------------------------------------
# strict expansion


def _is_absolute(iri: Any) -> bool:
    return isinstance(iri, str) and bool(_pyld._is_absolute_iri(iri))


class _StrictProcessor(_pyld.JsonLdProcessor):  # type: ignore[misc]  # pyld has no type information
    """Expansion that records every key, type and IRI that RDF conversion would lose."""

    def __init__(self, deadline: _Deadline) -> None:
        super().__init__(on_property_dropped=self._on_dropped)
        self._deadline = deadline
        self._stack: list[str | None] = []
        self._flagged: list[int] = []
        self.problems: list[tuple[str, str]] = []  # (detail, path)

    def _path(self, *extra: str | None) -> str:
        parts = [p for p in (*self._stack, *extra) if p is not None]
        return ".".join(parts) if parts else "(document)"

    def _note(self, detail: str, path: str) -> None:
        if (detail, path) not in self.problems:
            self.problems.append((detail, path))

    def _on_dropped(self, expanded_property: str | None) -> None:
        # backstop: keys are normally caught, by name, in _expand_object below
        if not (self._flagged and self._flagged[-1]):
            self._note("undefined term", self._path(str(expanded_property)))

    def _expand(
        self,
        active_ctx: Any,
        active_property: str | None,
        element: Any,
        options: Any,
        inside_list: bool = False,
        inside_index: bool = False,
        type_scoped_ctx: Any = None,
    ) -> Any:
        self._deadline.check()
        is_object = isinstance(element, dict)
        if is_object:
            self._stack.append(active_property)
        try:
            rval = super()._expand(
                active_ctx,
                active_property,
                element,
                options,
                inside_list=inside_list,
                inside_index=inside_index,
                type_scoped_ctx=type_scoped_ctx,
            )
            if isinstance(rval, dict):
                if is_object:
                    self._check_iris(rval, self._path(), id_key=".id")
                else:
                    self._check_iris(rval, self._path(active_property), id_key="")
        finally:
            if is_object:
                self._stack.pop()
        return rval

    def _check_iris(self, expanded: dict[str, Any], path: str, *, id_key: str) -> None:
        node_id = expanded.get("@id")
        if isinstance(node_id, str) and not _is_absolute(node_id):
            where = f"{path}{id_key}" if path != "(document)" else id_key.lstrip(".") or path
            self._note("relative IRI (RDF would drop it)", f"{where}={node_id!r}")
        types = expanded.get("@type")
        for t in types if isinstance(types, list) else [types] if types is not None else []:
            if isinstance(t, str) and t != "@json" and not _is_absolute(t):
                self._note("undefined term", f"{path}.type[{t}]")

    def _expand_object(
        self,
        active_ctx: Any,
        active_property: str | None,
        expanded_active_property: str | None,
        element: dict[str, Any],
        expanded_parent: Any,
        options: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        flagged = 0
        for key in element:
            if key == "@context":
                continue
            expanded = self._expand_iri(active_ctx, key, vocab=True)
            ok = isinstance(expanded, str) and (
                _pyld._is_keyword(expanded) or (_is_absolute(expanded) and not expanded.startswith("_:"))
            )
            if not ok:
                flagged += 1
                self._note("undefined term", self._path(key))
        self._flagged.append(flagged)
        try:
            return super()._expand_object(
                active_ctx,
                active_property,
                expanded_active_property,
                element,
                expanded_parent,
                options,
                *args,
                **kwargs,
            )
        finally:
            self._flagged.pop()


# ---------------------------------------------------------------------------------------------
# RDFC-1.0 N-Quads serialisation (private copy of pyld.canon, see module docstring)

_ECHAR = {0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r", 0x22: '\\"', 0x5C: "\\\\"}
_LITERAL_ESCAPES = {c: _ECHAR.get(c, f"\\u{c:04X}") for c in [*range(0x20), 0x22, 0x5C, 0x7F]}
_IRI_ESCAPES = {c: f"\\u{c:04X}" for c in [*range(0x21), *map(ord, '<>"{}|^`\\')]}


def _iri(value: str) -> str:
    return "<" + value.translate(_IRI_ESCAPES) + ">"


def _serialize_nquad_rdfc10(triple: dict[str, Any], graph_name: str | None = None) -> str:
    s, p, o = triple["subject"], triple["predicate"], triple["object"]
    g = triple.get("name", {"value": graph_name})["value"]
    parts = [
        _iri(s["value"]) if s["type"] == "IRI" else s["value"],
        _iri(p["value"]) if p["type"] == "IRI" else p["value"],
    ]
    if o["type"] == "IRI":
        parts.append(_iri(o["value"]))
    elif o["type"] == "blank node":
        parts.append(o["value"])
    else:
        literal = '"' + o["value"].translate(_LITERAL_ESCAPES) + '"'
        if o["datatype"] == _RDF_LANGSTRING:
            if o.get("language"):
                literal += "@" + o["language"]
        elif o["datatype"] != _XSD_STRING:
            literal += "^^" + _iri(o["datatype"])
        parts.append(literal)
    if g is not None:
        parts.append(g if g.startswith("_:") else _iri(g))
    return " ".join(parts) + " .\n"


def _rdfc10_class() -> type:
    spec = importlib.util.find_spec("pyld.canon")
    assert spec is not None and spec.loader is not None
    module: Any = importlib.util.module_from_spec(spec)  # not registered in sys.modules
    spec.loader.exec_module(module)
    module.serialize_nquad = _serialize_nquad_rdfc10
    urdna2015: type = module.URDNA2015
    return urdna2015


_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def _utf16_order(lines: list[str]) -> list[str]:
    return sorted(lines, key=lambda line: line.encode("utf-16-be"))


class _Rdfc10(_rdfc10_class()):  # type: ignore[misc]  # a base class made at run time
    """RDFC-1.0 that notices when code-point order and UTF-16 order would disagree."""

    order_diverges = False

    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self._deadline = deadline

    def hash_n_degree_quads(self, id_: str, issuer: Any) -> Any:
        self._deadline.check()
        return super().hash_n_degree_quads(id_, issuer)

    def hash_related_blank_node(self, related: str, quad: Any, issuer: Any, position: str) -> Any:
        self._deadline.check()
        return super().hash_related_blank_node(related, quad, issuer, position)

    def _check_order(self, lines: list[str]) -> None:
        if not self.order_diverges and any(_ASTRAL.search(line) for line in lines):
            self.order_diverges = _utf16_order(lines) != lines

    def hash_nquads(self, nquads: list[str]) -> Any:  # the sorted quads of Hash First Degree Quads
        self._deadline.check()
        self._check_order(nquads)
        return super().hash_nquads(nquads)

    def canonical_nquads(self, dataset: dict[str, Any]) -> str:
        result: str = self.main(dataset, {"format": "application/n-quads"})
        self._check_order(result.splitlines(keepends=True))
        if self.order_diverges:
            raise UnicodeOrderError()
        return result


# ---------------------------------------------------------------------------------------------
# public API


def _bundling_error(exc: BaseException) -> ContextNotBundledError | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ContextNotBundledError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _jsonld_message(exc: BaseException) -> str:
    messages = []
    seen: BaseException | None = exc
    while seen is not None:
        msg = seen.args[0] if seen.args else type(seen).__name__
        code = getattr(seen, "code", None)
        messages.append(f"{msg} ({code})" if code else str(msg))
        seen = seen.__cause__
    return "; ".join(messages)


def to_dataset(
    document: Mapping[str, Any],
    *,
    loader: DocumentLoader | None = None,
    budget_seconds: float | None = None,
    _deadline: _Deadline | None = None,
) -> dict[str, Any]:
    """The RDF dataset of ``document`` (PyLD's dict form), refusing undefined terms.

    Raises :class:`WorkBudgetExceeded` after ``budget_seconds`` (default
    :data:`DEFAULT_TIME_BUDGET_SECONDS`)."""
    loader = loader or _DEFAULT
    if not isinstance(document, Mapping):
        raise JsonLdProcessingError("a JSON-LD document must be a JSON object")
    processor = _StrictProcessor(_deadline or _Deadline(budget_seconds))
    dataset: dict[str, Any]
    try:
        dataset = processor.to_rdf(dict(document), loader.options())
    except _pyld.JsonLdError as exc:
        missing = _bundling_error(exc)
        if missing is not None:
            raise ContextNotBundledError(missing.url) from None
        raise JsonLdProcessingError(_jsonld_message(exc)) from exc
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        # PyLD trips over some invalid contexts instead of reporting them: {"@vocab": null} with no
        # @vocab in force raises KeyError (an input of the W3C VC 2.0 test suite; a 500 before).
        raise JsonLdProcessingError(f"invalid JSON-LD ({type(exc).__name__}: {exc})") from exc
    if processor.problems:
        detail, path = processor.problems[0]
        raise UndefinedTermError(
            path, detail=detail, problems=tuple(f"{d}: {p}" for d, p in processor.problems)
        )
    return dataset


def canonize(
    document: Mapping[str, Any],
    *,
    loader: DocumentLoader | None = None,
    budget_seconds: float | None = None,
) -> str:
    """Canonical N-Quads (RDFC-1.0) of a JSON-LD document.

    Raises :class:`UndefinedTermError` if any part of the document would be silently dropped,
    :class:`ContextNotBundledError` for a context URL creditbank does not ship,
    :class:`JsonLdProcessingError` for any other JSON-LD error, and :class:`WorkBudgetExceeded`
    when expansion and canonicalisation together take longer than ``budget_seconds``.
    """
    deadline = _Deadline(budget_seconds)
    dataset = to_dataset(document, loader=loader, _deadline=deadline)
    return _Rdfc10(deadline).canonical_nquads(dataset)
