"""The in-flight/receipt window on its own: no broker, no disk, time passed in."""

from __future__ import annotations

import json

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from central.ingest import MAX_RECEIPT_IDS, receipts
from edge.outputs.receipts import (
    RECEIPT_SCHEMA,
    ReceiptWindow,
    acks_topic,
    message_key,
    parse_receipt,
)


def window(confirm: float = 30.0, puback: float = 60.0) -> ReceiptWindow:
    return ReceiptWindow(confirm_timeout_s=confirm, puback_timeout_s=puback)


def key(i: int) -> tuple[str, str]:
    return ("events", f"e{i}")


@pytest.mark.parametrize(
    ("topic", "payload", "want"),
    [
        ("exteros/v1/d/events", b'{"event_id":"x/1"}', ("events", "x/1")),
        ("exteros/v1/d/visits", b'{"visit_id":"v/1","event_id":"no"}', ("visits", "v/1")),
        ("exteros/v1/d/events", b'{"visit_id":"v/1"}', None),
        ("exteros/v1/d/events", b'{"event_id":""}', None),
        ("exteros/v1/d/events", b'{"event_id":7}', None),
        ("exteros/v1/d/events", b"[1,2]", None),
        ("exteros/v1/d/events", b"\xff\xfe", None),
        ("exteros/v1/d/heartbeat", b'{"event_id":"x"}', None),
    ],
)
def test_message_key(topic, payload, want):
    assert message_key(topic, payload) == want


@pytest.mark.parametrize(
    ("payload", "want"),
    [
        (
            {"schema": RECEIPT_SCHEMA, "events": ["a", "b"], "visits": ["v"]},
            [("events", "a"), ("events", "b"), ("visits", "v")],
        ),  # fmt: skip
        ({"schema": RECEIPT_SCHEMA, "events": ["a", 3, None]}, [("events", "a")]),
        ({"schema": RECEIPT_SCHEMA, "events": "a"}, []),
        ({"schema": "exteros.receipt/2", "events": ["a"]}, []),
        ({"events": ["a"]}, []),
        ([1], []),
    ],
)
def test_parse_receipt(payload, want):
    assert parse_receipt(json.dumps(payload).encode()) == want
    assert parse_receipt(b"not json") == []


def test_ingest_receipts_per_device_own_topic_and_deduplicated():
    msgs = [
        ("exteros/v1/dev-a/events", b'{"event_id":"a1"}'),
        ("exteros/v1/dev-a/events", b'{"event_id":"a1"}'),  # a redelivery in the same batch
        ("exteros/v1/dev-b/events", b'{"event_id":"a2"}'),  # b claims a's id pattern: b's receipt
        ("exteros/v1/dev-a/visits", b'{"visit_id":"va"}'),
        ("exteros/v1/dev-a/heartbeat", b'{"at":"x"}'),
        ("exteros/v1/dev-a/events", b"garbage"),
        ("not/exteros/dev-a/events", b'{"event_id":"zz"}'),
    ]
    got = {t: json.loads(p) for t, p in receipts(msgs)}
    assert set(got) == {acks_topic("dev-a"), acks_topic("dev-b")}
    a = got[acks_topic("dev-a")]
    assert a == {"schema": RECEIPT_SCHEMA, "events": ["a1"], "visits": ["va"]}
    assert got[acks_topic("dev-b")]["events"] == ["a2"]
    # what the ingest sends, the edge reads
    assert parse_receipt(json.dumps(a).encode()) == [("events", "a1"), ("visits", "va")]


def test_ingest_receipts_are_chunked():
    msgs = [("exteros/v1/d/events", json.dumps({"event_id": f"e{i}"}).encode())
            for i in range(MAX_RECEIPT_IDS * 2 + 5)]  # fmt: skip
    out = receipts(msgs)
    assert len(out) == 3
    ids = [i for _, p in out for i in json.loads(p)["events"]]
    assert ids == [f"e{i}" for i in range(MAX_RECEIPT_IDS * 2 + 5)]


def test_puback_then_receipt_confirms():
    w = window()
    w.sent(1, key(1), mid=10, now=0.0)
    w.sent(2, key(2), mid=11, now=0.0)
    assert w.awaiting_puback == 2 and w.unconfirmed == 0
    assert w.puback(10, "ok", 0.1) == 1
    assert w.awaiting_puback == 1 and w.unconfirmed == 1
    assert w.receipt([key(1), ("events", "unknown")]) == [1]
    assert len(w) == 1 and 1 not in w
    assert w.puback(10, "ok", 0.2) is None  # a stale or repeated PUBACK


def test_receipt_before_puback_confirms_and_late_puback_is_ignored():
    w = window()
    w.sent(1, key(1), mid=10, now=0.0)
    assert w.receipt([key(1)]) == [1]
    assert w.awaiting_puback == 0
    assert w.puback(10, "ok", 0.1) is None


@pytest.mark.parametrize(
    ("attempts", "due_at"),
    [(1, 30.0), (2, 60.0), (3, 120.0), (4, 240.0), (5, 240.0)],  # doubling, capped at 8x
)
def test_no_receipt_resends_with_backoff(attempts, due_at):
    w = window(confirm=30.0)
    for n in range(attempts):
        w.sent(1, key(1), mid=10 + n, now=0.0)
    w.puback(10 + attempts - 1, "ok", 0.0)
    assert w.due(due_at - 0.01) == 0
    assert w.next_deadline() == pytest.approx(due_at)
    assert w.due(due_at) == 1
    assert w.take_resends(10) == [1]
    assert w.unconfirmed == 0 and w.pending_resends() == 1
    assert w.receipt([key(1)]) == [1]  # a receipt still confirms a queued row
    assert w.take_resends(10) == []


def test_reconnect_resends_unconfirmed_but_not_puback_pending():
    w = window()
    w.sent(1, key(1), 10, 0.0)
    w.sent(2, key(2), 11, 0.0)
    w.puback(10, "ok", 0.0)
    assert w.reconnected() == 1
    assert w.take_resends(5) == [1]  # 2 is resent by the MQTT client itself
    w.sent(1, key(1), 12, 1.0)
    assert w.take_resends(5) == [] and w.awaiting_puback == 2


def test_puback_timeout_only_while_connected():
    w = window(puback=5.0)
    w.sent(1, key(1), 10, 0.0)
    assert w.due(100.0, connected=False) == 0
    assert w.due(4.9) == 0
    assert w.due(5.0) == 1
    assert w.take_resends(5) == [1] and w.awaiting_puback == 0
    assert w.puback(10, "ok", 6.0) is None  # the lost PUBACK turns up: ignored


def test_refused_and_retry_pubacks():
    w = window()
    w.sent(1, key(1), 10, 0.0)
    w.sent(2, key(2), 11, 0.0)
    assert w.puback(10, "refused", 0.0) == 1
    assert 1 not in w and w.receipt([key(1)]) == []
    assert w.puback(11, "retry", 0.0) == 2
    assert w.take_resends(5) == [2]


def test_reused_packet_id_queues_the_older_row():
    w = window()
    w.sent(1, key(1), 10, 0.0)
    assert w.sent(2, key(2), 10, 0.1) == 1
    assert w.take_resends(5) == [1]
    assert w.puback(10, "ok", 0.2) == 2


def test_duplicate_ids_in_the_outbox_are_all_confirmed():
    w = window()
    w.sent(1, key(7), 10, 0.0)
    w.sent(2, key(7), 11, 0.0)  # the same event replayed twice
    assert sorted(w.receipt([key(7)])) == [1, 2]
    assert len(w) == 0


def test_rejects_bad_timeouts():
    with pytest.raises(ValueError):
        ReceiptWindow(confirm_timeout_s=0, puback_timeout_s=1)


class WindowMachine(RuleBasedStateMachine):
    """Against a model: a row leaves only by a receipt naming it, a refusal or forget;
    nothing in flight is ever lost track of; resends happen only for rows in the window."""

    def __init__(self) -> None:
        super().__init__()
        self.w = ReceiptWindow(confirm_timeout_s=3.0, puback_timeout_s=5.0)
        self.now = 0.0
        self.next_seq = 1
        self.next_mid = 1
        self.live: dict[int, int] = {}  # seq -> key number, rows the model says are in flight
        self.mids: dict[int, int] = {}  # mid -> seq, packets the model expects a PUBACK for

    @rule(k=st.integers(0, 5))
    def send_new(self, k):
        seq = self.next_seq
        self.next_seq += 1
        self._send(seq, k)

    def _send(self, seq, k):
        mid = self.next_mid
        self.next_mid = self.next_mid % 8 + 1  # tiny id space: reuse happens
        displaced = self.w.sent(seq, key(k), mid, self.now)
        old = self.mids.pop(mid, None)
        assert displaced == (old if old is not None and old != seq else None)
        self.mids = {m: s for m, s in self.mids.items() if s != seq}
        self.mids[mid] = seq
        self.live[seq] = k

    @precondition(lambda self: self.w.pending_resends() > 0)
    @rule()
    def resend(self):
        seq = self.w.take_resends(1)[0]
        assert seq in self.live
        self._send(seq, self.live[seq])

    @rule(mid=st.integers(1, 8), result=st.sampled_from(["ok", "ok", "refused", "retry"]))
    def puback(self, mid, result):
        got = self.w.puback(mid, result, self.now)
        assert got == self.mids.pop(mid, None)
        if got is not None and result == "refused":
            del self.live[got]

    @rule(ks=st.lists(st.integers(0, 7), max_size=3))
    def receipt(self, ks):
        done = self.w.receipt([key(k) for k in ks])
        want = sorted(s for s, k in self.live.items() if k in ks)
        assert sorted(done) == want
        for s in done:
            del self.live[s]
        self.mids = {m: s for m, s in self.mids.items() if s in self.live}

    @rule(dt=st.floats(0.0, 10.0), connected=st.booleans())
    def tick(self, dt, connected):
        self.now += dt
        self.w.due(self.now, connected)
        self.mids = {m: s for m, s in self.mids.items() if s in self.w._by_mid.values()}

    @rule()
    def reconnect(self):
        self.w.reconnected()

    @invariant()
    def consistent(self):
        assert set(self.w._rows) == set(self.live)
        assert len(self.w) == len(self.live)
        assert self.w.awaiting_puback + self.w.unconfirmed + self.w.pending_resends() == len(
            self.live
        )
        assert all(s in self.live for s in self.w._queued)


TestWindowMachine = WindowMachine.TestCase
TestWindowMachine.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
