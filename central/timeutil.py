"""Epoch-millisecond conversions used by the store and the API."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def to_ms(value: datetime) -> int:
    return (value - EPOCH) // _MS


def from_ms(value: int) -> datetime:
    return EPOCH + timedelta(milliseconds=value)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def format_seconds(value_ms: int) -> str:
    """``2020-05-30T09:30:10Z``: the published API's last-update format (whole seconds)."""
    return from_ms(value_ms).strftime("%Y-%m-%dT%H:%M:%SZ")
