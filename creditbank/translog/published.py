"""The newest checkpoint the bank published, kept outside the database: ``keys/log-published.json``.

Every check the log makes of itself reads the database, so a database restored to an earlier point
takes the log's memory back with it: the log ends before checkpoints the world has already seen
(verifiers keep them, witnesses cosigned them), and the bank would sign checkpoints of a smaller or
different tree. Under C2SP two checkpoints of one origin that are not consistent are a fork —
proof of a tampered log to every verifier. This record lives beside the log's keys, which a database
restore does not touch: the bank compares its database with it at start (``serve``, each app),
before each signature and in ``creditbank audit``, and refuses when the database does not contain
it. ``creditbank log reset-after-restore`` is the way past that refusal, and is recorded in the
record's ``resets``: ``--entries-from`` puts the lost entries back from a copy of the published log
(no fork; the leaves are marked lost, which the audit accepts only where the record says so),
``--accept-fork`` gives the published checkpoint up and keeps it as evidence.

The file is public data (the checkpoint was published), written like ``log-keys.json``: a temp file
in the folder renamed into place, under a lock, and only ever forward — several workers sign.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from creditbank.errors import CreditbankError
from creditbank.kit import clock
from creditbank.translog.models import TranslogCheckpoint, TranslogHead

FILE = "log-published.json"
_LOCK = ".log-published.lock"


class RecordError(RuntimeError):
    """The record cannot be read or written; the message is in Chinese and English."""


@dataclass(frozen=True)
class Published:
    """A checkpoint as the bank published it."""

    origin: str
    size: int
    root: bytes
    note: str
    """The signed note (body and the log's signature line)."""
    signed_at: str
    """When it was signed (ISO 8601 UTC); empty when the bank was told of it afterwards."""

    @classmethod
    def of(cls, row: TranslogCheckpoint) -> Published:
        return cls(row.note.split("\n", 1)[0], row.size, row.root, row.note, clock.iso(row.created_at))

    def as_json(self) -> dict[str, Any]:
        return asdict(self) | {"root": base64.b64encode(self.root).decode()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Published:
        return cls(
            str(data["origin"]),
            int(data["size"]),
            base64.b64decode(data["root"]),
            str(data["note"]),
            str(data["signed_at"]),
        )


@dataclass(frozen=True)
class Record:
    published: Published | None
    resets: list[dict[str, Any]] = field(default_factory=list)
    """``reset-after-restore`` events, oldest first: ``{at, abandoned, database_size,
    database_checkpoint}`` — the published checkpoint given up, and the log it was given up for — or
    ``{at, reappended: {from, to}}`` — published entries put back from a copy, their records lost."""

    def lost_leaves(self) -> list[range]:
        """The leaves put back from a copy of the published log: their records are gone."""
        return [
            range(r["reappended"]["from"], r["reappended"]["to"]) for r in self.resets if "reappended" in r
        ]


@dataclass(frozen=True)
class Divergence:
    """The database does not contain the checkpoint the bank published."""

    published: Published
    database_size: int
    """Leaves in the database's log."""
    database_checkpoint: int | None
    """Size of the database's newest checkpoint (None: it has none)."""
    database_root: bytes | None
    """The database's root at the published size, when it has a checkpoint of that size."""

    @property
    def older(self) -> bool:
        """The database ends before the published checkpoint (rather than holding another history)."""
        return self.database_root is None and self.database_size < self.published.size

    @property
    def zh(self) -> str:
        p, at = self.published, when(self.published.signed_at)[0]
        if self.older:
            what = (
                f"数据库里的透明日志比本行已经公布的旧：{at} 公布的检查点有 {p.size} 条，"
                f"数据库只有 {self.database_size} 条（最新检查点 {self.database_checkpoint or 0} 条）。"
                f"多半是数据库被恢复到了较早的时间点（从备份恢复），或断电丢失了最近的写入。"
            )
        else:
            what = (
                f"数据库里的透明日志与本行已经公布的不同：{at} 公布的检查点（{p.size} 条）不在数据库里"
                f"（数据库有 {self.database_size} 条）。这个数据库不是公布它的那一个——可能是恢复到较早时间点后"
                f"又写入了新记录，或用错了数据库。"
            )
        return (
            what
            + "如果照常启动，本行会签署与已公布检查点相矛盾的检查点：保存了旧检查点的验证者和见证人会认为"
            "日志被篡改或分叉，而公布之后的记录（证书、撤销、记账）在数据库里已不存在。"
            "可选：(1) 换用更新的备份或按时间点恢复，直到 creditbank log status 显示一致；"
            "(2) 确认无法找回后运行 creditbank log reset-after-restore --accept-fork，明确记下这次分叉，"
            "并通知见证人和验证者（docs/operations.md“恢复到较早的时间点”）。"
        )

    @property
    def en(self) -> str:
        p, at = self.published, when(self.published.signed_at)[1]
        if self.older:
            what = (
                f"The database's transparency log is older than the log the bank already published: the "
                f"checkpoint published {at} has {p.size} entries, the database has "
                f"{self.database_size} (newest checkpoint {self.database_checkpoint or 0}). Most likely the "
                f"database was restored to an earlier point (from a backup), or lost its newest writes in a "
                f"power cut. "
            )
        else:
            what = (
                f"The database's transparency log differs from the log the bank published: the checkpoint "
                f"of {p.size} entries published {at} is not in it (it has {self.database_size}). "
                f"This is not the database that published it — restored to an earlier point and written to "
                f"since, or the wrong database. "
            )
        return (
            what
            + "Starting as usual would sign checkpoints that contradict the published one: verifiers and "
            "witnesses holding it would see a tampered or forked log, and what was recorded after the "
            "restore point (certificates, revocations, postings) is gone from the database. Choices: "
            "(1) restore a newer backup or recover to a later point until `creditbank log status` says "
            "consistent; (2) if it cannot be recovered, run `creditbank log reset-after-restore "
            "--accept-fork`, which records the fork, and tell your witnesses and verifiers "
            "(docs/operations.md, 'A restore to an earlier point')."
        )


def when(signed_at: str) -> tuple[str, str]:
    """A recorded time as people read it: Beijing time in Chinese, UTC in English."""
    if not signed_at:  # told afterwards (``log record-published``): when it was signed is unknown
        return "此前", "earlier"
    at = clock.parse_iso(signed_at)
    if at is None or at.tzinfo is None:
        return signed_at, signed_at
    return f"北京时间 {clock.local(at):%Y-%m-%d %H:%M}", f"{at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


class LogForked(CreditbankError):
    """The stored log no longer extends the last signed checkpoint: it will not be signed again, and
    (``divergence``: the database does not contain the published checkpoint) nothing is appended to it.

    A request that meets it answers 503 ``log_forked`` — the clerk is told that nothing was saved and
    that the operator must check the bank; ``str()`` is the reason, for the operator's log and the
    command line."""

    def __init__(self, reason: str, divergence: Divergence | None = None) -> None:
        super().__init__("log_forked")
        self.reason = reason
        self.divergence = divergence

    def __str__(self) -> str:
        return self.reason


class LogBehind(RuntimeError):
    """Start refused: the database does not contain the checkpoint the bank published."""

    def __init__(self, divergence: Divergence) -> None:
        super().__init__(f"{divergence.zh}\n{divergence.en}")
        self.divergence = divergence


def compare(session: Session, published: Published | None) -> Divergence | None:
    """None when the database contains ``published`` (a checkpoint of its size with its root).

    A checkpoint row is the test, not the leaves: rows are append-only and the record is written
    only after its row committed, so a database without the row is not the one that published it."""
    if published is None or published.size == 0:
        return None  # the empty tree is a prefix of every tree: it contradicts nothing
    row = session.get(TranslogCheckpoint, published.size)
    if row is not None and row.root == published.root:
        return None
    size = session.execute(select(col(TranslogHead.size)).where(col(TranslogHead.id) == 1)).scalar_one()
    newest = session.execute(
        select(col(TranslogCheckpoint.size)).order_by(col(TranslogCheckpoint.size).desc()).limit(1)
    ).scalar()
    return Divergence(published, int(size), newest, row.root if row is not None else None)


class RecordFile:
    """``keys/log-published.json`` (the keys folder is made 0700 if missing, as the key store makes it)."""

    def __init__(self, keys_dir: Path) -> None:
        self.keys_dir = Path(keys_dir)
        self.path = self.keys_dir / FILE

    def read(self) -> Record:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            published = data.get("published")
            return Record(
                None if published is None else Published.from_json(published), list(data.get("resets", []))
            )
        except FileNotFoundError:
            return Record(None)
        except OSError as exc:
            raise RecordError(
                f"无法读取 {self.path}（{exc.strerror}）：本行公布的最新检查点记在这里。请处理后重试。\n"
                f"Cannot read {self.path} ({exc.strerror}): the newest checkpoint the bank published is kept "
                f"there. Fix it and try again."
            ) from None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise RecordError(
                f"{self.path} 已损坏，无法读出本行公布的最新检查点（{exc}）。请从密钥目录的备份恢复这个文件，"
                f"或把 /log/checkpoint 公布的内容与数据库核对后删除它。\n"
                f"{self.path} is damaged: the newest checkpoint the bank published cannot be read ({exc}). "
                f"Restore the file from your backup of the keys folder, or check the database against the "
                f"published /log/checkpoint, then delete it."
            ) from None

    def advance(self, published: Published) -> bool:
        """Record ``published`` unless a checkpoint at least as large is recorded (workers race)."""
        with self._locked():
            record = self.read()
            if record.published is not None and record.published.size >= published.size:
                return False
            self._write(Record(published, record.resets))
            return True

    def reset(self, divergence: Divergence, newest: Published | None) -> Record:
        """Give up the published checkpoint for the database's log (``newest``: its newest checkpoint),
        keeping the abandoned one, and what replaced it, in ``resets``."""
        with self._locked():
            record = self.read()
            event = {
                "at": clock.iso(clock.now()),
                "abandoned": divergence.published.as_json(),
                "database_size": divergence.database_size,
                "database_checkpoint": divergence.database_checkpoint,
            }
            updated = Record(newest, [*record.resets, event])
            self._write(updated)
            return updated

    def reappended(self, first: int, size: int) -> None:
        """Note that entries ``first … size-1`` were put back from a copy of the published log: their
        leaves stand for records the restore lost (``creditbank audit`` accepts them as such)."""
        with self._locked():
            record = self.read()
            event = {"at": clock.iso(clock.now()), "reappended": {"from": first, "to": size}}
            self._write(Record(record.published, [*record.resets, event]))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.keys_dir / _LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise self._unwritable(exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _write(self, record: Record) -> None:
        data = {
            "published": None if record.published is None else record.published.as_json(),
            "resets": record.resets,
        }
        text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
        try:
            fd, tmp = tempfile.mkstemp(dir=self.keys_dir, prefix=".log-published.", suffix=".tmp")
        except OSError as exc:
            raise self._unwritable(exc) from None
        try:
            # No fsync: it is written after every checkpoint — with CREDITBANK_LOG_CERTIFICATE_WAIT=0
            # after every new certificate — and the two fsyncs cost ~5 ms of the ~12 ms a post and
            # its checkpoint took (measured, load 5). The rename is atomic; a power cut can only leave
            # the previous record (the journal commits within seconds), never a torn one — while a
            # SQLite database (synchronous=NORMAL) may lose more than that.
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.chmod(tmp, 0o644)  # public data, like log-keys.json; the folder stays 0700
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise self._unwritable(exc) from None

    def _unwritable(self, exc: OSError) -> RecordError:
        return RecordError(
            f"无法写入 {self.path}（{exc.strerror}）：本行公布的最新检查点记在这里。请处理后重试。\n"
            f"Cannot write {self.path} ({exc.strerror}): the newest checkpoint the bank published is kept "
            f"there. Fix it and try again."
        )
