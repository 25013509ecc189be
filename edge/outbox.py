"""Durable outbox: every payload is committed to SQLite before it is published.

A row is deleted only when the central store confirms it (a receipt on
``exteros/v1/{device}/acks``, docs/contract.md), so an event survives broker
outages and crashes, ingest restarts, process crashes and power loss. The
broker's PUBACK only marks the row ``published_at`` (published, unconfirmed).
The database lives in ``state_dir/outbox.sqlite3``.

Durability: WAL journal with ``synchronous=FULL``. In WAL mode ``NORMAL`` only
syncs the WAL at checkpoints, so a power cut can roll back the last commits
(they survive a process crash, not a power loss). ``FULL`` syncs the WAL on
every commit, so once :meth:`Outbox.write` (or ``put``) returns the rows are on
stable storage. One fsync costs 0.2-6 ms depending on the disk and its load,
so callers batch: :meth:`Outbox.write` appends many rows and deletes acked ones
in one transaction (group commit).

Bounded: beyond ``max_rows`` rows or ``max_bytes`` payload bytes the *oldest*
rows are dropped, counted in a persisted counter and logged; a full outbox
never raises and never waits for the broker.

Storage faults (unwritable state_dir, a corrupted file, a full disk) raise
:class:`OutboxError` with one line naming the file, the problem and what to
do; a corrupted file is moved aside (``outbox.sqlite3.corrupt-<time>``),
never deleted.

Thread-safety: a writer connection under one lock (``write``/``put``/
``delete``) and a reader connection under another (``pending``/``oldest``), so
reads never wait for a commit's fsync (WAL readers see the last commit).
Nothing here is ever called from a paho callback.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

FILENAME = "outbox.sqlite3"
LOCK_FILENAME = "outbox.lock"
SCHEMA_VERSION = 2  # 2: published_at (PUBACKed, waiting for the store's receipt)
DROP_LOG_INTERVAL_S = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_at REAL NOT NULL,
    size INTEGER NOT NULL,
    published_at REAL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta(key, value) VALUES ('dropped', 0);
"""


@dataclass(frozen=True, slots=True)
class Row:
    seq: int
    topic: str
    payload: bytes
    created_at: float


def outbox_path(state_dir: str | Path) -> Path:
    return Path(state_dir) / FILENAME


class OutboxError(RuntimeError):
    """The outbox cannot be used: the message is one line with the file and a hint."""


class OutboxBusyError(OutboxError):
    """Another process (or output) already publishes from this outbox."""


_FULL_HINT = "free space on that filesystem (or point state_dir elsewhere) and run again"


def is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return True
    return isinstance(exc, sqlite3.Error) and "full" in str(exc).lower()


def _is_corrupt(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text or "corrupt" in text


def describe_storage_error(path: Path, exc: BaseException, doing: str = "open") -> str:
    """One line: which file, what went wrong, what to do."""
    if is_disk_full(exc):
        return f"cannot {doing} the outbox {path}: the disk is full; {_FULL_HINT}"
    if (
        isinstance(exc, PermissionError)
        or "readonly" in str(exc).lower()
        or (isinstance(exc, sqlite3.OperationalError) and "unable to open" in str(exc).lower())
    ):
        return (
            f"cannot {doing} the outbox {path}: permission denied or read-only; make "
            f"{path.parent} writable by user {_user()} (or set state_dir to a writable directory)"
        )
    what = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return f"cannot {doing} the outbox {path}: {what}"


def _user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):  # pragma: no cover - no passwd entry
        return str(os.geteuid())


def move_aside(path: Path, now: float | None = None) -> Path:
    """Rename a corrupted outbox (and its WAL/SHM) out of the way; returns the new name."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(time.time() if now is None else now))
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    path.rename(target)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.rename(target.with_name(target.name + suffix))
    return target


def lock_state_dir(state_dir: Path) -> int:
    """Take the state_dir's outbox lock (one publisher per outbox); returns the fd."""
    path = Path(state_dir) / LOCK_FILENAME
    try:
        Path(state_dir).mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise OutboxError(describe_storage_error(outbox_path(state_dir), exc, "create")) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            raise OutboxBusyError(
                f"the outbox in {state_dir} is in use by another exteros-edge process "
                "(the running edge service delivers it; stop it first)"
            ) from None
        raise OutboxError(describe_storage_error(path, exc, "lock")) from None
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
    except OSError:
        pass  # the pid is a courtesy for humans; the flock is what counts
    return fd


def open_outbox(path: Path, **caps: int) -> Outbox:
    """Open (or create) the outbox; storage faults become one-line :class:`OutboxError`.

    A corrupted file is moved aside first, and the error names where it went.
    """
    try:
        return Outbox(path, **caps)
    except sqlite3.DatabaseError as exc:
        if not _is_corrupt(exc):
            raise OutboxError(describe_storage_error(path, exc)) from None
        try:
            aside = move_aside(path)
        except OSError as err:
            raise OutboxError(
                f"the outbox {path} is corrupted ({exc}) and cannot be moved aside "
                f"({err.strerror}); move it away by hand and run again"
            ) from None
        raise OutboxError(
            f"the outbox {path} is corrupted ({exc}); moved it aside to {aside.name}. "
            f"Run again to start a fresh outbox; to recover its undelivered events try "
            f"`sqlite3 {aside} .recover | sqlite3 recovered.sqlite3`"
        ) from None
    except OSError as exc:
        raise OutboxError(describe_storage_error(path, exc)) from None


class Outbox:
    """SQLite outbox bounded by rows and bytes; see the module docstring."""

    def __init__(
        self,
        path: str | Path,
        *,
        max_rows: int = 1_000_000,
        max_bytes: int = 512 * 1024 * 1024,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        # isolation_level=None: we issue BEGIN/COMMIT ourselves.
        self._db = sqlite3.connect(
            str(self.path), isolation_level=None, check_same_thread=False, timeout=10.0
        )
        self._rlock = threading.Lock()
        rdb: sqlite3.Connection | None = None
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA journal_size_limit=67108864")
            self._migrate()
            # A second connection for reads: in WAL mode it sees the last commit and
            # never waits for the writer's fsync, so the publisher is not held up by it.
            rdb = sqlite3.connect(
                str(self.path), isolation_level=None, check_same_thread=False, timeout=10.0
            )
            rows, size = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM outbox"
            ).fetchone()
            self._dropped: int = self._read_dropped()
        except BaseException:
            if rdb is not None:
                rdb.close()
            self._db.close()
            raise
        self._rdb = rdb
        self._rows: int = rows
        self._bytes: int = size
        self._dropped_unlogged = 0
        self._last_drop_log = 0.0
        self._closed = False

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        self._db.executescript(_SCHEMA)
        if version == 1:
            self._db.execute("ALTER TABLE outbox ADD COLUMN published_at REAL")
        if version != SCHEMA_VERSION:
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    # -- writing ---------------------------------------------------------------

    def put(self, topic: str, payload: bytes, created_at: float | None = None) -> int | None:
        """Commit one payload (durably) and return its seq; None if it could never fit.

        When the outbox is full the oldest rows are dropped.
        """
        created = time.time() if created_at is None else created_at
        seqs, _ = self.write([(topic, payload, created)])
        return seqs[0]

    def delete(self, seqs: Iterable[int]) -> int:
        """Delete acknowledged rows in one transaction; returns how many were present."""
        return self.write((), seqs)[1]

    def write(
        self,
        puts: Sequence[tuple[str, bytes, float]] = (),
        deletes: Iterable[int] = (),
        published: Sequence[tuple[int, float]] = (),
    ) -> tuple[list[int | None], int]:
        """One transaction, one fsync: delete confirmed rows, mark PUBACKed ones
        (``published``: seq, time), append new ones, apply the caps.

        Returns the new rows' seqs (None for a payload larger than ``max_bytes``,
        which is counted as dropped) and how many of ``deletes`` were present.
        Group commit is what lets one publisher thread keep up with thousands of
        events per second on a disk where one fsync takes milliseconds.
        """
        deletes = list(deletes)
        if not puts and not deletes and not published:
            return [], 0
        seqs: list[int | None] = []
        with self._lock:
            rows, size = self._rows, self._bytes
            deleted = too_big = 0
            # Only new rows need their own fsync. A delete-only commit is synced by
            # the next FULL commit (or a checkpoint); losing it to a power cut means
            # a duplicate delivery, never a lost event.
            relaxed = not puts
            if relaxed:
                self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if published:
                    self._db.executemany(
                        "UPDATE outbox SET published_at = ? WHERE seq = ?",
                        [(at, seq) for seq, at in published],
                    )
                for i in range(0, len(deletes), 500):
                    chunk = deletes[i : i + 500]
                    marks = ",".join("?" * len(chunk))
                    n, freed = self._db.execute(
                        "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM outbox "
                        f"WHERE seq IN ({marks})",
                        chunk,
                    ).fetchone()
                    self._db.execute(f"DELETE FROM outbox WHERE seq IN ({marks})", chunk)
                    deleted += n
                    rows -= n
                    size -= freed
                for topic, payload, created in puts:
                    if len(payload) > self.max_bytes:
                        # Cannot ever fit: count it rather than wiping the outbox for it.
                        too_big += 1
                        seqs.append(None)
                        continue
                    cur = self._db.execute(
                        "INSERT INTO outbox(topic, payload, created_at, size) VALUES (?, ?, ?, ?)",
                        (topic, payload, created, len(payload)),
                    )
                    assert cur.lastrowid is not None  # set by every INSERT
                    seqs.append(cur.lastrowid)
                    rows += 1
                    size += len(payload)
                trimmed, freed = self._trim_locked(rows, size)
                rows -= trimmed
                size -= freed
                dropped = trimmed + too_big
                if dropped:
                    self._db.execute(
                        "UPDATE meta SET value = value + ? WHERE key = 'dropped'", (dropped,)
                    )
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:  # SQLite may have rolled back already (disk full)
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                raise
            finally:
                if relaxed:
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("PRAGMA synchronous=FULL")
            self._rows, self._bytes = rows, size
            if dropped:
                self._count_dropped_locked(dropped, persist=False)
                self._maybe_log_drops_locked()
        return seqs, deleted

    def _trim_locked(self, rows: int, size: int) -> tuple[int, int]:
        over_rows = rows - self.max_rows
        over_bytes = size - self.max_bytes
        if over_rows <= 0 and over_bytes <= 0:
            return 0, 0
        last_seq = None
        n = freed = 0
        # Walk the oldest rows until both caps are met.
        for seq, row_size in self._db.execute("SELECT seq, size FROM outbox ORDER BY seq"):
            if n >= over_rows and freed >= over_bytes:
                break
            last_seq = seq
            n += 1
            freed += row_size
        if last_seq is not None:
            self._db.execute("DELETE FROM outbox WHERE seq <= ?", (last_seq,))
        return n, freed

    def _count_dropped_locked(self, n: int, *, persist: bool) -> None:
        self._dropped += n
        self._dropped_unlogged += n
        if persist:
            self._db.execute("UPDATE meta SET value = value + ? WHERE key = 'dropped'", (n,))

    def _maybe_log_drops_locked(self) -> None:
        if not self._dropped_unlogged:
            return
        now = time.monotonic()
        if self._last_drop_log and now - self._last_drop_log < DROP_LOG_INTERVAL_S:
            return
        log.warning(
            "outbox full (max_rows=%d, max_bytes=%d): dropped %d oldest undelivered "
            "message(s), %d in total since the outbox was created",
            self.max_rows,
            self.max_bytes,
            self._dropped_unlogged,
            self._dropped,
        )
        self._last_drop_log = now
        self._dropped_unlogged = 0

    def count_dropped(self, n: int = 1) -> None:
        """Count messages lost for other reasons (refused by the broker, unwritable disk)."""
        with self._lock:
            try:
                self._count_dropped_locked(n, persist=True)
            except sqlite3.Error:
                log.exception("cannot persist the outbox drop counter (kept in memory)")
            self._maybe_log_drops_locked()

    # -- reading ---------------------------------------------------------------

    def pending(self, after_seq: int = 0, limit: int = 100) -> list[Row]:
        """Rows with seq > after_seq in delivery order."""
        with self._rlock:
            cur = self._rdb.execute(
                "SELECT seq, topic, payload, created_at FROM outbox WHERE seq > ? "
                "ORDER BY seq LIMIT ?",
                (after_seq, limit),
            )
            return [Row(s, t, bytes(p), c) for s, t, p, c in cur.fetchall()]

    def rows(self, seqs: Sequence[int]) -> list[Row]:
        """The rows with these seqs that are still here, in seq order."""
        out: list[Row] = []
        with self._rlock:
            for i in range(0, len(seqs), 500):
                chunk = list(seqs[i : i + 500])
                marks = ",".join("?" * len(chunk))
                out.extend(
                    Row(s, t, bytes(p), c)
                    for s, t, p, c in self._rdb.execute(
                        "SELECT seq, topic, payload, created_at FROM outbox "
                        f"WHERE seq IN ({marks})",
                        chunk,
                    )
                )
        out.sort(key=lambda r: r.seq)
        return out

    def count_on_disk(self) -> int:
        """Rows really committed (a fresh count, not the in-memory counter)."""
        with self._rlock:
            return int(self._rdb.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def depth(self) -> int:
        """Unconfirmed rows (unsent, and published but not yet confirmed by the store)."""
        return self._rows

    def size_bytes(self) -> int:
        return self._bytes

    @property
    def dropped(self) -> int:
        """Messages dropped since the outbox was created (persisted across restarts)."""
        return self._dropped

    def oldest(self) -> Row | None:
        with self._rlock:
            got = self._rdb.execute(
                "SELECT seq, topic, payload, created_at FROM outbox ORDER BY seq LIMIT 1"
            ).fetchone()
        return Row(got[0], got[1], bytes(got[2]), got[3]) if got else None

    def oldest_created(self) -> float | None:
        """Unix time the oldest undelivered row was committed, or None when empty."""
        row = self.oldest()
        return row.created_at if row else None

    def _read_dropped(self) -> int:
        got = self._db.execute("SELECT value FROM meta WHERE key = 'dropped'").fetchone()
        return int(got[0]) if got else 0

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._maybe_log_drops_locked_final()
            with self._rlock:
                self._rdb.close()
            self._db.close()

    def _maybe_log_drops_locked_final(self) -> None:
        if self._dropped_unlogged:
            self._last_drop_log = 0.0
            self._maybe_log_drops_locked()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def occurred_at_of(payload: bytes) -> str | None:
    """The event time inside a payload (``occurred_at`` of an event, ``ended_at`` of a visit)."""
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    value = data.get("occurred_at") or data.get("ended_at")
    return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class OutboxStatus:
    exists: bool
    depth: int
    size_bytes: int
    published: int  # PUBACKed by the broker, waiting for the store's receipt
    dropped: int
    oldest_created: float | None
    oldest_event_at: str | None


def read_status(path: str | Path) -> OutboxStatus:
    """Read an outbox without writing to it (safe while the edge service runs)."""
    path = Path(path)
    if not path.exists():
        return OutboxStatus(False, 0, 0, 0, 0, None, None)
    try:
        return _read_status(path)
    except sqlite3.DatabaseError as exc:
        if _is_corrupt(exc):
            raise OutboxError(
                f"the outbox {path} is corrupted ({exc}); the next replay, run or flush moves "
                "it aside and starts a fresh one"
            ) from None
        raise OutboxError(describe_storage_error(path, exc, "read")) from None
    except OSError as exc:
        raise OutboxError(describe_storage_error(path, exc, "read")) from None


def _read_status(path: Path) -> OutboxStatus:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10.0)
    try:
        depth, size = db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM outbox").fetchone()
        version = db.execute("PRAGMA user_version").fetchone()[0]
        published = (
            db.execute("SELECT COUNT(*) FROM outbox WHERE published_at IS NOT NULL").fetchone()[0]
            if version >= 2
            else 0
        )
        got = db.execute("SELECT value FROM meta WHERE key = 'dropped'").fetchone()
        oldest = db.execute(
            "SELECT created_at, payload FROM outbox ORDER BY seq LIMIT 1"
        ).fetchone()
    finally:
        db.close()
    return OutboxStatus(
        exists=True,
        depth=int(depth),
        size_bytes=int(size),
        published=int(published),
        dropped=int(got[0]) if got else 0,
        oldest_created=oldest[0] if oldest else None,
        oldest_event_at=occurred_at_of(bytes(oldest[1])) if oldest else None,
    )
