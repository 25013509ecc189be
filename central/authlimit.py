"""Failed authentications per client address: too many in a window answer 429.

Unknown keys cost a database lookup each and would otherwise let anyone try keys
as fast as the API answers. Pure logic: the caller passes the (monotonic) time.
"""

from __future__ import annotations

import threading
from collections import deque

MAX_ADDRESSES = 100_000


class AuthFailureLimiter:
    """At most ``limit`` failed authentications per address in a sliding ``window_s``.

    While an address is over the limit, its requests are refused with 429 before
    their key is looked up (a right key too: the address is told when to retry).
    """

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, address: str, now: float) -> deque[float] | None:
        times = self._failures.get(address)
        if times is None:
            return None
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[address]
            return None
        return times

    def retry_after(self, address: str, now: float) -> float:
        """0 when the address may try to authenticate, else seconds until it may."""
        with self._lock:
            times = self._recent(address, now)
            if times is None or len(times) < self.limit:
                return 0.0
            # Allowed again once enough failures have aged out of the window.
            return max(0.0, times[len(times) - self.limit] + self.window_s - now)

    def failed(self, address: str, now: float) -> None:
        """Record one failed authentication from ``address``."""
        with self._lock:
            times = self._recent(address, now)
            if times is None:
                if len(self._failures) >= MAX_ADDRESSES:
                    self._prune(now)
                times = self._failures.setdefault(address, deque())
            times.append(now)
            while len(times) > self.limit:  # older ones no longer change the answer
                times.popleft()

    def _prune(self, now: float) -> None:
        for address in list(self._failures):
            self._recent(address, now)
        if len(self._failures) >= MAX_ADDRESSES:  # a flood of addresses: forget the oldest
            oldest = sorted(self._failures, key=lambda a: self._failures[a][-1])
            for address in oldest[: MAX_ADDRESSES // 10]:
                del self._failures[address]
