"""Device health: is each edge box alive, and are its cameras delivering frames.

Read from what ingest keeps: the ``devices`` row (the last retained status message:
``state``, ``state_ms``, ``version``) and the ``heartbeats`` table, whose rows keep each
heartbeat's raw payload (per camera ``fps``, ``connected``, ``last_frame_at``, and
``outbox_depth``; docs/contract.md section 3). No extra state is stored for this.

Rules (docs/central.md, "Device health"):

- The last heartbeat of a device is its newest by the heartbeat's own ``at``.
- **Online**: that heartbeat was *received* within :data:`ONLINE_WITHIN_MS` (3 heartbeat
  intervals of 60 s, the contract's period) of ``now``, and no ``offline`` status came
  after it (an ``offline`` status with ``at`` at or after the heartbeat's ``at`` wins; a
  heartbeat after an ``offline`` status proves the device is back). Liveness is judged
  on the store's receive clock, so a device clock that is off does not make it look dead.
- **Stalled camera**: not connected, no frame yet, or its last frame more than
  :data:`STALL_AFTER_MS` (30 s) older than the heartbeat that reported it (both times
  from the device clock, so skew between device and store does not matter).
"""

from __future__ import annotations

import logging

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Connection, select

from central.models import Device, HeartbeatRow
from central.timeutil import format_seconds, to_ms
from central.timeutil import now_ms as _now_ms
from exteros.contract import Heartbeat

log = logging.getLogger(__name__)

HEARTBEAT_INTERVAL_S = 60
ONLINE_WITHIN_MS = 3 * HEARTBEAT_INTERVAL_S * 1000
STALL_AFTER_MS = 30_000


class CameraHealth(BaseModel):
    """One camera as the device's last heartbeat reported it."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    camera_id: str = Field(alias="camera-id", description="the camera's id on its device")
    fps: float | None = Field(description="frames processed per second")
    connected: bool | None = Field(description="the source delivers frames")
    last_frame: str | None = Field(
        alias="last-frame", description="time of its last frame, ISO 8601 UTC, whole seconds"
    )
    stalled: bool = Field(
        description="not connected, no frame yet, or the last frame over 30 s before the heartbeat"
    )


class DeviceHealth(BaseModel):
    """One device: liveness from heartbeats and status, details from its last heartbeat."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    device_id: str = Field(alias="device-id", description="the registered device id")
    online: bool = Field(description="a recent heartbeat and no later offline status")
    last_heartbeat: str | None = Field(
        alias="last-heartbeat",
        description="`at` of its newest heartbeat, ISO 8601 UTC, whole seconds; null if none",
    )
    version: str | None = Field(description="software version from its heartbeat or status")
    outbox_depth: int | None = Field(
        alias="outbox-depth", description="messages waiting for the store's receipt"
    )
    cameras: list[CameraHealth] = Field(description="cameras of the last heartbeat, by id")


def _cameras(hb: Heartbeat) -> list[CameraHealth]:
    at = to_ms(hb.at)
    out = []
    for cam_id in sorted(hb.cameras):
        cam = hb.cameras[cam_id]
        last = to_ms(cam.last_frame_at) if cam.last_frame_at is not None else None
        stalled = not cam.connected or last is None or at - last > STALL_AFTER_MS
        out.append(
            CameraHealth(
                camera_id=cam_id,
                fps=cam.fps,
                connected=cam.connected,
                last_frame=format_seconds(last) if last is not None else None,
                stalled=stalled,
            )
        )
    return out


def _parse(device_id: str, payload: str) -> Heartbeat | None:
    try:
        return Heartbeat.model_validate_json(payload)
    except ValidationError:  # ingest validated it; only a hand-edited row gets here
        log.warning("stored heartbeat of device %s is not a valid heartbeat", device_id)
        return None


def device_health(
    conn: Connection, company_id: int, now_ms: int | None = None
) -> list[DeviceHealth]:
    """Health of every device of the company, ordered by device id.

    ``now_ms`` is the time to judge liveness at (epoch ms; default: now).
    """
    now = _now_ms() if now_ms is None else now_ms
    newest = (
        select(HeartbeatRow.id)
        .where(HeartbeatRow.device_id == Device.id)
        .order_by(HeartbeatRow.at_ms.desc(), HeartbeatRow.id.desc())
        .limit(1)
        .correlate(Device)
        .scalar_subquery()
    )
    devices = conn.execute(
        select(Device.id, Device.state, Device.state_ms, Device.version, newest.label("hb"))
        .where(Device.company_id == company_id)
        .order_by(Device.id)
    ).all()
    hb_ids = [d.hb for d in devices if d.hb is not None]
    beats = (
        {
            row.id: row
            for row in conn.execute(
                select(
                    HeartbeatRow.id,
                    HeartbeatRow.at_ms,
                    HeartbeatRow.received_ms,
                    HeartbeatRow.payload,
                ).where(HeartbeatRow.id.in_(hb_ids))
            )
        }
        if hb_ids
        else {}
    )
    out = []
    for d in devices:
        row = beats.get(d.hb) if d.hb is not None else None
        hb = _parse(d.id, row.payload) if row is not None else None
        online = False
        if row is not None:
            recent = now - row.received_ms <= ONLINE_WITHIN_MS
            signed_off = d.state == "offline" and (d.state_ms or 0) >= row.at_ms
            online = recent and not signed_off
        out.append(
            DeviceHealth(
                device_id=d.id,
                online=online,
                last_heartbeat=format_seconds(row.at_ms) if row is not None else None,
                version=(hb.version if hb is not None else None) or d.version,
                outbox_depth=hb.outbox_depth if hb is not None else None,
                cameras=_cameras(hb) if hb is not None else [],
            )
        )
    return out
