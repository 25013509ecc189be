"""Outputs behind one small seam: every payload goes to each configured output.

An output takes contract messages (events and visit summaries) from the frame
loop and must never block it. ``close`` is called once at the end; it returns
True when everything handed to the output was delivered (for MQTT: confirmed
by the central store). The health methods (``depth``, ``dropped``,
``heartbeat``) feed the service's status line and heartbeats; an output for
which they mean nothing returns 0 / does nothing.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from exteros.contract import Event, Heartbeat, VisitSummary

Message = Event | VisitSummary


@runtime_checkable
class Output(Protocol):
    def emit(self, message: Message) -> None:
        """Take one message; must not block the frame loop."""

    def close(self, drain_timeout_s: float | None = None) -> bool:
        """Flush and release; True when everything emitted was delivered."""

    def depth(self) -> int:
        """Messages taken and not yet delivered (confirmed); 0 for a local file."""

    @property
    def dropped(self) -> int:
        """Messages this output lost (full outbox, refused, unwritable file)."""

    def heartbeat(self, hb: Heartbeat) -> None:
        """Send a device heartbeat, with this output's depth and drops filled in."""
