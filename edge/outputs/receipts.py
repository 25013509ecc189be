"""The in-flight window between the outbox and the central store: pure, time passed in.

A row of the outbox goes through three states (docs/contract.md, "Receipts"):

* **unsent**: committed, not yet accepted by the broker;
* **published, unconfirmed**: the broker sent its PUBACK, which only says the
  broker has it (a restarted or killed broker, or a shared subscription whose
  worker was away, can still lose it);
* **confirmed**: the central store's receipt on ``exteros/v1/{device}/acks``
  named it: stored, already stored, or dead-lettered. Only then is it deleted.

:class:`ReceiptWindow` tracks every row handed to the broker in this process:
which MQTT packet id it waits on, when it was PUBACKed, which receipt key
(``("events", event_id)`` or ``("visits", visit_id)``) confirms it, and when it
must be sent again: no PUBACK for ``puback_timeout_s`` on a live connection, no
receipt ``confirm_timeout_s`` after the PUBACK (doubling per attempt up to
``max_backoff`` times, so a long central outage does not flood the broker), and
every unconfirmed row after a reconnect. It does no I/O and reads no clock; the
MQTT output calls it from its publisher thread only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from exteros.contract import topic

RECEIPT_SCHEMA = "exteros.receipt/1"
Key = tuple[str, str]  # (topic kind "events"/"visits", event_id or visit_id)
ID_FIELD = {"events": "event_id", "visits": "visit_id"}


def acks_topic(device_id: str) -> str:
    """Where the central store sends this device's receipts."""
    return topic(device_id, "acks")


def message_key(topic: str, payload: bytes) -> Key | None:
    """The receipt key of an outgoing message, or None if no receipt can name it."""
    kind = topic.rsplit("/", 1)[-1]
    field = ID_FIELD.get(kind)
    if field is None:
        return None
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    value = data.get(field) if isinstance(data, dict) else None
    return (kind, value) if isinstance(value, str) and value else None


def parse_receipt(payload: bytes) -> list[Key]:
    """The keys a receipt confirms; [] for anything that is not a receipt."""
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return []
    if not isinstance(data, dict) or data.get("schema") != RECEIPT_SCHEMA:
        return []
    keys: list[Key] = []
    for kind in ID_FIELD:
        ids = data.get(kind)
        if isinstance(ids, list):
            keys.extend((kind, i) for i in ids if isinstance(i, str))
    return keys


@dataclass(slots=True)
class _Entry:
    seq: int
    key: Key | None
    mid: int | None  # waiting for this PUBACK; None once acked or queued again
    sent_at: float
    acked_at: float | None = None
    attempts: int = 1
    queued: bool = False  # waiting to be sent again


PubackResult = Literal["ok", "refused", "retry"]


class ReceiptWindow:
    """Rows handed to the broker and not yet confirmed; see the module docstring."""

    def __init__(
        self,
        *,
        confirm_timeout_s: float,
        puback_timeout_s: float,
        max_backoff: int = 8,
    ) -> None:
        if confirm_timeout_s <= 0 or puback_timeout_s <= 0:
            raise ValueError("timeouts must be positive")
        self.confirm_timeout_s = confirm_timeout_s
        self.puback_timeout_s = puback_timeout_s
        self.max_backoff = max_backoff
        self._rows: dict[int, _Entry] = {}
        self._by_mid: dict[int, int] = {}
        self._by_key: dict[Key, set[int]] = {}
        self._queued: set[int] = set()

    # -- counts ------------------------------------------------------------------------

    def __len__(self) -> int:
        """Rows handed to the broker at least once and not yet confirmed."""
        return len(self._rows)

    def __contains__(self, seq: int) -> bool:
        return seq in self._rows

    @property
    def awaiting_puback(self) -> int:
        return len(self._by_mid)

    @property
    def unconfirmed(self) -> int:
        """PUBACKed by the broker, no receipt yet (and not queued to be sent again)."""
        return sum(1 for e in self._rows.values() if e.acked_at is not None and not e.queued)

    def pending_resends(self) -> int:
        return len(self._queued)

    # -- events ------------------------------------------------------------------------

    def sent(self, seq: int, key: Key | None, mid: int, now: float) -> int | None:
        """The row went to the broker as packet ``mid``.

        Returns the seq of another row that still waited on the same packet id (ids
        wrap at 65535): that row can no longer be matched to its PUBACK and must be
        sent again; it is queued for that and returned for logging.
        """
        displaced = None
        old_seq = self._by_mid.get(mid)
        if old_seq is not None and old_seq != seq:
            old = self._rows[old_seq]
            old.mid = None
            self._queue(old)
            displaced = old_seq
        entry = self._rows.get(seq)
        if entry is None:
            entry = _Entry(seq, key, mid, now)
            self._rows[seq] = entry
            if key is not None:
                self._by_key.setdefault(key, set()).add(seq)
        else:
            if entry.mid is not None:
                self._by_mid.pop(entry.mid, None)
            entry.mid, entry.sent_at, entry.acked_at = mid, now, None
            entry.attempts += 1
            entry.queued = False
            self._queued.discard(seq)
        self._by_mid[mid] = seq
        return displaced

    def puback(self, mid: int, result: PubackResult, now: float) -> int | None:
        """The broker answered packet ``mid``; returns the row's seq (None if unknown).

        ``ok``: the row is now published, unconfirmed (a row without a receipt key
        is done: the caller deletes it). ``refused``: the broker will never take
        it; it leaves the window and the caller drops it. ``retry``: queued again.
        """
        seq = self._by_mid.pop(mid, None)
        if seq is None:
            return None
        entry = self._rows[seq]
        entry.mid = None
        if result == "refused":
            self._remove(entry)
        elif result == "retry":
            self._queue(entry)
        else:
            entry.acked_at = now
        return seq

    def done_without_receipt(self, seq: int) -> None:
        """Forget a row that no receipt can confirm (no id), or that left the outbox."""
        entry = self._rows.get(seq)
        if entry is not None:
            self._remove(entry)

    def receipt(self, keys: Iterable[Key]) -> list[int]:
        """The store settled these keys: returns the seqs to delete (left the window)."""
        done: list[int] = []
        for key in keys:
            for seq in self._by_key.pop(key, ()):
                entry = self._rows.pop(seq)
                if entry.mid is not None:
                    # A late PUBACK for it is ignored; its packet id may be reused.
                    self._by_mid.pop(entry.mid, None)
                self._queued.discard(seq)
                done.append(seq)
        return done

    def reconnected(self) -> int:
        """After a reconnect every PUBACKed, unconfirmed row is sent again.

        Rows still waiting for a PUBACK are resent by the MQTT client itself (with
        DUP). Returns how many were queued.
        """
        n = 0
        for entry in self._rows.values():
            if entry.acked_at is not None and not entry.queued:
                self._queue(entry)
                n += 1
        return n

    def due(self, now: float, connected: bool = True) -> int:
        """Queue every row whose PUBACK or receipt is overdue; returns how many."""
        n = 0
        for entry in self._rows.values():
            if entry.queued:
                continue
            if entry.acked_at is not None:
                backoff = min(2 ** (entry.attempts - 1), self.max_backoff)
                if now - entry.acked_at >= self.confirm_timeout_s * backoff:
                    self._queue(entry)
                    n += 1
            elif (
                connected and entry.mid is not None and now - entry.sent_at >= self.puback_timeout_s
            ):
                self._by_mid.pop(entry.mid, None)
                entry.mid = None
                self._queue(entry)
                n += 1
        return n

    def take_resends(self, limit: int) -> list[int]:
        """Up to ``limit`` queued seqs, oldest first; they stay queued until :meth:`sent`."""
        if not self._queued or limit <= 0:
            return []
        return sorted(self._queued)[:limit]

    def next_deadline(self) -> float | None:
        """The earliest time :meth:`due` could queue something (None: nothing in flight)."""
        best: float | None = None
        for entry in self._rows.values():
            if entry.queued:
                continue
            if entry.acked_at is not None:
                backoff = min(2 ** (entry.attempts - 1), self.max_backoff)
                at = entry.acked_at + self.confirm_timeout_s * backoff
            else:
                at = entry.sent_at + self.puback_timeout_s
            best = at if best is None else min(best, at)
        return best

    # -- internals ---------------------------------------------------------------------

    def _queue(self, entry: _Entry) -> None:
        entry.queued = True
        entry.acked_at = None
        self._queued.add(entry.seq)

    def _remove(self, entry: _Entry) -> None:
        self._rows.pop(entry.seq, None)
        if entry.mid is not None:
            self._by_mid.pop(entry.mid, None)
        self._queued.discard(entry.seq)
        if entry.key is not None:
            seqs = self._by_key.get(entry.key)
            if seqs is not None:
                seqs.discard(entry.seq)
                if not seqs:
                    del self._by_key[entry.key]
