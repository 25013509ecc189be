"""Outputs behind one small seam: every payload goes to each configured output.

An output takes contract messages (events and visit summaries) from the frame
loop and must never block it. ``close`` is called once at the end; it returns
True when everything handed to the output was delivered.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from exteros.contract import Event, VisitSummary

Message = Event | VisitSummary


@runtime_checkable
class Output(Protocol):
    def emit(self, message: Message) -> None:
        """Take one message; must not block the frame loop."""

    def close(self, drain_timeout_s: float | None = None) -> bool:
        """Flush and release; True when everything emitted was delivered."""
