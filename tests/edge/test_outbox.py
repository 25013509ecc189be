"""The SQLite outbox on its own: durability settings, order, caps, counters."""

from __future__ import annotations

import json
import logging
import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.outbox import Outbox, occurred_at_of, outbox_path, read_status


def payload(i: int, size: int = 0) -> bytes:
    body = {"event_id": f"e{i}", "occurred_at": f"2020-01-01T00:00:{i % 60:02d}.000Z"}
    if size:
        body["pad"] = "x" * size
    return json.dumps(body).encode()


def test_wal_and_full_sync(tmp_path):
    with Outbox(tmp_path / "o.sqlite3") as ob:
        assert ob._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert ob._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_put_pending_delete_in_order(tmp_path):
    with Outbox(tmp_path / "o.sqlite3") as ob:
        seqs = [ob.put("t/events", payload(i), created_at=100.0 + i) for i in range(5)]
        assert seqs == sorted(seqs)
        assert ob.depth() == 5
        assert [r.payload for r in ob.pending(0, 10)] == [payload(i) for i in range(5)]
        assert [r.seq for r in ob.pending(seqs[1], 2)] == seqs[2:4]
        assert ob.oldest_created() == 100.0
        assert ob.delete([seqs[0], seqs[2], 999999]) == 2
        assert ob.depth() == 3
        assert [r.seq for r in ob.pending()] == [seqs[1], seqs[3], seqs[4]]
        assert ob.size_bytes() == sum(len(payload(i)) for i in (1, 3, 4))


def test_rows_survive_reopen(tmp_path):
    path = tmp_path / "state" / "outbox.sqlite3"
    ob = Outbox(path)
    for i in range(3):
        ob.put("t", payload(i))
    ob.close()
    with Outbox(path) as again:
        assert again.depth() == 3
        assert [r.payload for r in again.pending()] == [payload(i) for i in range(3)]


def test_full_by_rows_drops_oldest_counts_and_warns(tmp_path, caplog):
    path = tmp_path / "o.sqlite3"
    with caplog.at_level(logging.WARNING, logger="edge.outbox"), Outbox(path, max_rows=10) as ob:
        for i in range(25):
            assert ob.put("t", payload(i)) is not None
        assert ob.depth() == 10
        assert ob.dropped == 15
        assert [r.payload for r in ob.pending(0, 100)] == [payload(i) for i in range(15, 25)]
    assert any("outbox full" in r.message and "dropped" in r.message for r in caplog.records)
    # The counter is persisted.
    with Outbox(path, max_rows=10) as again:
        assert again.dropped == 15
    assert read_status(path).dropped == 15


def test_full_by_bytes_drops_enough_oldest(tmp_path):
    with Outbox(tmp_path / "o.sqlite3", max_bytes=10_000) as ob:
        for i in range(30):
            ob.put("t", payload(i, size=900))
        assert ob.size_bytes() <= 10_000
        kept = ob.depth()
        assert 5 <= kept <= 10
        assert ob.dropped == 30 - kept
        assert ob.pending(0, 1)[0].payload == payload(30 - kept, size=900)
        # One payload that can never fit is counted, not allowed to wipe the outbox.
        assert ob.put("t", b"x" * 20_000) is None
        assert ob.depth() == kept
        assert ob.dropped == 30 - kept + 1


def test_write_is_one_transaction_with_caps(tmp_path):
    """Group commit: deletes and a batch larger than the cap in one write()."""
    with Outbox(tmp_path / "o.sqlite3", max_rows=10) as ob:
        first, _ = ob.write([("t", payload(i), 1.0) for i in range(3)])
        seqs, deleted = ob.write([("t", payload(i), 2.0) for i in range(3, 18)], first[:2])
        assert deleted == 2 and len(seqs) == 15
        assert ob.depth() == 10
        assert ob.dropped == 6  # 1 left of the first batch + 15 new - 10 kept
        assert [r.payload for r in ob.pending(0, 100)] == [payload(i) for i in range(8, 18)]


def test_read_status_is_read_only_and_sees_oldest(tmp_path):
    path = outbox_path(tmp_path)
    assert read_status(path).exists is False
    with Outbox(path) as ob:
        ob.put("t", payload(7), created_at=1234.5)
        ob.put("t", payload(8))
        st_ = read_status(path)
        assert (st_.depth, st_.dropped, st_.oldest_created) == (2, 0, 1234.5)
        assert st_.oldest_event_at == "2020-01-01T00:00:07.000Z"
    assert occurred_at_of(b"not json") is None


def test_concurrent_put_and_delete(tmp_path):
    """The frame loop puts while the publisher deletes: counters stay exact."""
    ob = Outbox(tmp_path / "o.sqlite3")
    n = 400

    def writer() -> None:
        for i in range(n):
            ob.put("t", payload(i))

    t = threading.Thread(target=writer)
    t.start()
    deleted = 0
    cursor = 0
    while t.is_alive() or ob.depth():
        rows = ob.pending(cursor, 50)
        if rows:
            cursor = rows[-1].seq
            deleted += ob.delete(r.seq for r in rows)
    t.join()
    assert deleted == n
    assert ob.depth() == 0 and ob.size_bytes() == 0
    assert ob._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0
    ob.close()


ops = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.integers(0, 2000)),
        st.tuples(st.just("ack"), st.integers(0, 20)),
        st.tuples(st.just("reopen"), st.just(0)),
    ),
    max_size=60,
)


@settings(max_examples=40, deadline=None)
@given(ops=ops)
def test_outbox_matches_a_model(tmp_path_factory, ops):
    """Against a list model: order kept, caps hold, dropped = put - kept - acked."""
    path = tmp_path_factory.mktemp("ob") / "o.sqlite3"
    max_rows, max_bytes = 10, 12_000
    ob = Outbox(path, max_rows=max_rows, max_bytes=max_bytes)
    ob._db.execute("PRAGMA synchronous=OFF")  # logic only here; fsyncs make it slow
    model: list[tuple[int, int]] = []  # (seq, size)
    put = acked = 0
    try:
        for op, arg in ops:
            if op == "put":
                data = b"p" * arg
                seq = ob.put("t", data)
                put += 1
                model.append((seq, arg))
                while len(model) > max_rows or sum(s for _, s in model) > max_bytes:
                    model.pop(0)
            elif op == "ack" and model:
                seq = model[arg % len(model)][0]
                ob.delete([seq])
                acked += 1
                model = [m for m in model if m[0] != seq]
            elif op == "reopen":
                ob.close()
                ob = Outbox(path, max_rows=max_rows, max_bytes=max_bytes)
                ob._db.execute("PRAGMA synchronous=OFF")
            assert [r.seq for r in ob.pending(0, 1000)] == [s for s, _ in model]
            assert ob.depth() == len(model)
            assert ob.size_bytes() == sum(s for _, s in model) <= max_bytes
            assert ob.dropped == put - len(model) - acked
    finally:
        ob.close()


def test_published_marks_and_a_v1_outbox_is_upgraded_in_place(tmp_path):
    import sqlite3

    path = tmp_path / "o.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, "
        "payload BLOB NOT NULL, created_at REAL NOT NULL, size INTEGER NOT NULL);"
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
        "INSERT INTO meta VALUES ('dropped', 3);"
        "PRAGMA user_version=1;"
    )
    old.execute("INSERT INTO outbox(topic, payload, created_at, size) VALUES ('t', X'70', 1.0, 1)")
    old.commit()
    old.close()
    with Outbox(path) as ob:
        assert ob.depth() == 1 and ob.dropped == 3
        (seq,) = [r.seq for r in ob.pending()]
        new, _ = ob.write([("t", payload(1), 2.0)], published=[(seq, 5.0)])
        st_ = read_status(path)
        assert (st_.depth, st_.published) == (2, 1)
        assert [r.seq for r in ob.rows([new[0], seq, 12345])] == [seq, new[0]]
        assert ob.write(deletes=[seq])[1] == 1
        assert read_status(path).published == 0 and ob.count_on_disk() == 1
