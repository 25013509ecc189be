"""The outbox writer thread: group commit of new rows, PUBACK marks and confirmed deletes.

``put`` (frame loop) appends to an in-memory hand-over queue and returns at
once; the writer commits everything handed over since its last pass in one
transaction together with the publisher's ``published`` marks and deletes
(one fsync for many events), then calls ``on_commit`` so the publisher sends
the new rows. A message is therefore on disk before it is on the wire.

When the disk refuses writes (full, read-only) the batch stays in memory and is
retried; ``storage_error`` says why. What is still in memory at :meth:`stop`
could not be stored: :attr:`unstored` counts it, and nothing reports it as kept.
"""

from __future__ import annotations

import collections
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable

from edge.outbox import Outbox, describe_storage_error

log = logging.getLogger(__name__)

# Emitted messages waiting for their commit: beyond this the disk has stalled.
MAX_PENDING = 100_000
COMMIT_BATCH = 5_000
RETRY_S = 1.0
ERROR_LOG_INTERVAL_S = 60.0


class OutboxWriter:
    """One thread that owns every write to the outbox; see the module docstring."""

    def __init__(self, outbox: Outbox, on_commit: Callable[[], None]) -> None:
        self.outbox = outbox
        self._on_commit = on_commit
        self._pending: collections.deque[tuple[str, bytes, float]] = collections.deque()
        self._published: collections.deque[tuple[int, float]] = collections.deque()
        self._deletes: collections.deque[int] = collections.deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = False
        self.emitted = 0  # under _lock
        self.committed = 0  # writer thread only
        self.mem_dropped = 0
        self._mem_dropped_saved = 0
        self.storage_error: str | None = None
        self._last_error_log = 0.0
        self._thread = threading.Thread(target=self._loop, name="outbox-writer", daemon=True)
        self._thread.start()

    # -- producers ---------------------------------------------------------------------

    def put(self, topic: str, data: bytes, created_at: float) -> bool:
        """Hand a payload over for commit; False when it had to be dropped."""
        with self._lock:  # several camera threads may emit
            if len(self._pending) >= MAX_PENDING:
                # The disk has stopped taking writes: never block or grow without bound.
                self.mem_dropped += 1
                if self.mem_dropped == 1 or self.mem_dropped % 1000 == 0:
                    log.warning(
                        "outbox writes are %d messages behind (%s); dropped %d message(s)",
                        len(self._pending),
                        self.storage_error or "slow disk",
                        self.mem_dropped,
                    )
                return False
            # Count first: uncommitted() must never miss a message between hand-over and commit.
            self.emitted += 1
            self._pending.append((topic, data, created_at))
        self._wake.set()
        return True

    def mark_published(self, marks: Iterable[tuple[int, float]]) -> None:
        self._published.extend(marks)
        self._wake.set()

    def delete(self, seqs: Iterable[int]) -> None:
        self._deletes.extend(seqs)
        self._wake.set()

    # -- state -------------------------------------------------------------------------

    def uncommitted(self) -> int:
        """Handed over, not yet on disk (also the batch being committed right now)."""
        return max(0, self.emitted - self.committed)

    @property
    def unstored(self) -> int:
        """After :meth:`stop`: messages that never reached the disk."""
        return len(self._pending)

    def alive(self) -> bool:
        return self._thread.is_alive()

    def sync(self, timeout_s: float | None = 10.0) -> bool:
        """Wait until every message handed over so far is committed."""
        target = self.emitted
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while self.committed < target:
            if not self._thread.is_alive():
                return False
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.002)
        return True

    def stop(self, timeout_s: float = 15.0) -> None:
        """Commit what can still be committed (one last try), then end the thread."""
        self._stop = True
        self._wake.set()
        self._thread.join(timeout_s)

    # -- the thread --------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            self._wake.wait(0.5)
            self._wake.clear()
            stopping = self._stop
            try:
                ok = self._commit()
            except Exception:
                log.exception("outbox writer failed; retrying")
                ok = False
            if stopping:
                return
            if not ok:
                self._wake.wait(RETRY_S)

    def _commit(self) -> bool:
        if self.mem_dropped > self._mem_dropped_saved:
            delta = self.mem_dropped - self._mem_dropped_saved
            self.outbox.count_dropped(delta)
            self._mem_dropped_saved += delta
        while self._pending or self._deletes or self._published:
            batch: list[tuple[str, bytes, float]] = []
            while self._pending and len(batch) < COMMIT_BATCH:
                batch.append(self._pending.popleft())
            marks: list[tuple[int, float]] = []
            while self._published and len(marks) < 4 * COMMIT_BATCH:
                marks.append(self._published.popleft())
            deletes: list[int] = []
            while self._deletes and len(deletes) < 4 * COMMIT_BATCH:
                deletes.append(self._deletes.popleft())
            try:
                self.outbox.write(batch, deletes, marks)
            except sqlite3.Error as exc:
                # Keep everything in memory and retry. Nothing is published before its
                # commit, so a stuck disk delays events but never loses a kept one.
                self._pending.extendleft(reversed(batch))
                self._published.extendleft(reversed(marks))
                self._deletes.extendleft(reversed(deletes))
                self._note_error(exc)
                return False
            if self.storage_error is not None:
                log.info("the outbox %s takes writes again", self.outbox.path)
                self.storage_error = None
            self.committed += len(batch)
            if batch:
                self._on_commit()
        return True

    def _note_error(self, exc: sqlite3.Error) -> None:
        text = describe_storage_error(self.outbox.path, exc, "write to")
        now = time.monotonic()
        if text != self.storage_error or now - self._last_error_log >= ERROR_LOG_INTERVAL_S:
            log.error("%s; %d message(s) wait in memory, retrying", text, len(self._pending))
            self._last_error_log = now
        self.storage_error = text
