"""Contract messages from visit changes, with deterministic ids.

The clock of a camera is seconds since its start; ``base`` is the wall time of
that start (the replay's ``--start`` for files, the device clock for live
cameras). Ids are built from device, camera, location, the visit's start in
epoch milliseconds and the first track id, so replaying the same video with the
same config gives the same ids.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from edge.visits import Change, Ended, Fired, Visit
from exteros.contract import KIND_ORDER, Event, VisitSummary


class EventFactory:
    def __init__(self, device_id: str, camera_id: str, base: datetime) -> None:
        self.device_id = device_id
        self.camera_id = camera_id
        self.base = base

    def at(self, t: float) -> datetime:
        # millisecond resolution, like the wire format, so ids and times agree
        return self.base + timedelta(milliseconds=round(t * 1000))

    def visit_id(self, location: str, v: Visit) -> str:
        start_ms = round(self.at(v.start_t).timestamp() * 1000)
        return f"{self.device_id}/{self.camera_id}/{location}/{start_ms}-{v.first_track_id}"

    def build(self, location: str, change: Change) -> Event | VisitSummary:
        v = change.visit
        vid = self.visit_id(location, v)
        if isinstance(change, Fired):
            return Event(
                event_id=f"{vid}/{change.kind.value}",
                kind=change.kind,
                location=location,
                device_id=self.device_id,
                camera_id=self.camera_id,
                visit_id=vid,
                visit_started_at=self.at(v.start_t),
                occurred_at=self.at(change.at),
                dwell_s=round(change.dwell_s, 3),
                confidence=round(min(max(v.confidence, 0.0), 1.0), 3),
            )
        assert isinstance(change, Ended)
        return VisitSummary(
            visit_id=vid,
            location=location,
            device_id=self.device_id,
            camera_id=self.camera_id,
            started_at=self.at(v.start_t),
            ended_at=self.at(v.last_in_t),
            dwell_s=round((self.at(v.last_in_t) - self.at(v.start_t)).total_seconds(), 3),
            kinds=[k for k in KIND_ORDER if k in v.kinds],
        )
