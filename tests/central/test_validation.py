"""The pure ingest rules (central.validation) and the slug rule, without a database."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from central.timeutil import to_ms
from central.validation import TimeLimits, event_problem, heartbeat_problem, visit_problem
from exteros.contract import CameraHealth, Heartbeat, VisitSummary, is_slug
from tests.central import scenario as sc

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
LIMITS = TimeLimits(clock_skew_s=300, earliest=date(2000, 1, 1))
W = LIMITS.window(to_ms(NOW))


@pytest.mark.parametrize(
    ("value", "ok"),
    [("acme-store", True), ("a" * 64, True), ("acme-store\n", False), ("acme\r\n", False),
     ("\nacme", False), ("a" * 65, False), ("Acme", False), ("", False), (None, False)],
)  # fmt: skip
def test_slugs_are_whole_strings(value, ok):
    assert is_slug(value) is ok


def test_contract_models_refuse_a_newline_name():
    with pytest.raises(ValidationError, match="not a slug"):
        Heartbeat(at=NOW, uptime_s=1, locations=["acme-store\n"])


def test_event_bounds():
    ev = sc.make_event("discovery", NOW - timedelta(hours=1), 1)
    assert event_problem(ev, W) is None
    ahead = ev.model_copy(update={"occurred_at": NOW + timedelta(seconds=300)})
    assert event_problem(ahead, W) is None  # exactly the allowance
    ahead = ev.model_copy(update={"occurred_at": NOW + timedelta(seconds=301)})
    assert "timestamp in the future: occurred_at" in event_problem(ahead, W)
    old = sc.make_event("impression", datetime(1999, 12, 31, 23, 0, tzinfo=UTC), 1)
    assert "timestamp too early: visit_started_at" in event_problem(old, W)
    assert event_problem(old, TimeLimits(earliest=date(1990, 1, 1)).window(to_ms(NOW))) is None
    backwards = ev.model_copy(update={"visit_started_at": ev.occurred_at + timedelta(seconds=1)})
    assert event_problem(backwards, W) == "visit_started_at is after occurred_at"
    foreign = ev.model_copy(update={"event_id": "edge-other/x"})
    assert "does not belong to device" in event_problem(foreign, W)
    prefix_only = ev.model_copy(update={"event_id": f"{sc.DEVICE}-evil/x"})
    assert "does not belong to device" in event_problem(prefix_only, W)


def test_visit_and_heartbeat_bounds():
    v = VisitSummary(visit_id=f"{sc.DEVICE}/c/1", location=sc.LOCATION, device_id=sc.DEVICE,
                     camera_id="c", started_at=NOW, ended_at=NOW - timedelta(seconds=1),
                     dwell_s=0, kinds=[])  # fmt: skip
    assert visit_problem(v, W) == "started_at is after ended_at"
    hb = Heartbeat(at=NOW, uptime_s=1, locations=[],
                   cameras={"c": CameraHealth(fps=1, connected=True,
                                              last_frame_at=NOW + timedelta(days=1))})  # fmt: skip
    assert "cameras.c.last_frame_at" in heartbeat_problem(hb, W)


@pytest.mark.parametrize("field", ["dwell_s", "confidence"])
@pytest.mark.parametrize("value", ["Infinity", "-Infinity", "NaN"])
def test_non_finite_numbers_are_refused_by_ingest_and_import_alike(tmp_path, field, value):
    """One rule in the contract models: MQTT ingest and `exteros-central import` agree."""
    from central.importer import ImportFileError, _check
    from central.store import Rejected, parse_strict
    from exteros.contract import Event

    payload = sc.make_event("discovery", NOW - timedelta(hours=1), 1).to_payload()
    payload[field] = "@"
    line = json.dumps(payload).replace('"@"', value)
    with pytest.raises(Rejected, match=field):
        parse_strict(Event, line.encode())
    path = tmp_path / "events.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(ImportFileError, match=f"1 malformed line.*{field}"):
        _check(path, W)
