"""systemd notifications (``sd_notify``) without a dependency.

The protocol is one datagram of ``KEY=value`` lines to the AF_UNIX socket named
by ``$NOTIFY_SOCKET`` (a leading ``@`` means the Linux abstract namespace).
Outside systemd the variable is unset and every call is a no-op, so the frame
loop can call these unconditionally.

``watchdog()`` is meant to be called from the frame loop on every processed
frame: it sends ``WATCHDOG=1`` at most every ``WATCHDOG_USEC / 2``, so a stalled
loop stops petting the watchdog and systemd restarts the service.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)


class SystemdNotifier:
    """Sends ``READY=1``, ``STATUS=``, ``WATCHDOG=1`` and ``STOPPING=1`` to systemd.

    ``environ`` and ``clock`` are injectable for tests; by default the process
    environment and ``time.monotonic``.
    """

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        env = os.environ if environ is None else environ
        self._clock = clock
        self._address = _socket_address(env.get("NOTIFY_SOCKET", ""))
        self._sock: socket.socket | None = None
        self._last_watchdog: float | None = None
        self._failed = False
        self.watchdog_interval_s = _watchdog_interval(env)

    @property
    def enabled(self) -> bool:
        """True when running under systemd with a notify socket."""
        return self._address is not None

    @property
    def watchdog_enabled(self) -> bool:
        """True when systemd expects ``WATCHDOG=1`` from this process."""
        return self.enabled and self.watchdog_interval_s is not None

    def notify(self, message: str) -> bool:
        """Send one raw notification; False when disabled or the send failed."""
        if self._address is None:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(message.encode("utf-8"), self._address)
        except OSError as exc:
            # Log once: a vanished socket must not flood the journal from the frame loop.
            if not self._failed:
                log.warning("sd_notify to %s failed: %s", self._address, exc)
                self._failed = True
            return False
        self._failed = False
        return True

    def ready(self, status: str | None = None) -> bool:
        """The service is up (the first frame of every camera is processed)."""
        msg = "READY=1"
        if status:
            msg += "\nSTATUS=" + _one_line(status)
        return self.notify(msg)

    def status(self, text: str) -> bool:
        """Free-form status shown by ``systemctl status`` (fps, open visits, outbox depth)."""
        return self.notify("STATUS=" + _one_line(text))

    def stopping(self) -> bool:
        """Shutdown has begun (sent on SIGTERM)."""
        return self.notify("STOPPING=1")

    def reloading(self) -> bool:
        """A config reload has begun (SIGHUP); follow with ``ready()`` when done."""
        return self.notify("RELOADING=1")

    def watchdog(self, force: bool = False) -> bool:
        """Pet the watchdog, at most every ``WATCHDOG_USEC / 2``; True when a datagram went."""
        if not self.watchdog_enabled:
            return False
        now = self._clock()
        assert self.watchdog_interval_s is not None
        if (
            not force
            and self._last_watchdog is not None
            and now - self._last_watchdog < self.watchdog_interval_s
        ):
            return False
        sent = self.notify("WATCHDOG=1")
        if sent:
            self._last_watchdog = now
        return sent

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> SystemdNotifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _socket_address(value: str) -> str | bytes | None:
    if not value:
        return None
    if value.startswith("@"):
        return b"\0" + value[1:].encode("utf-8")
    if value.startswith("/"):
        return value
    # vsock:// and other schemes are not used on store devices.
    log.warning("NOTIFY_SOCKET=%r is not a unix socket path; systemd notifications off", value)
    return None


def _watchdog_interval(env: Mapping[str, str]) -> float | None:
    """Half of WATCHDOG_USEC in seconds, or None when no watchdog is set for this process."""
    usec = env.get("WATCHDOG_USEC", "")
    try:
        value = int(usec)
    except ValueError:
        return None
    if value <= 0:
        return None
    pid = env.get("WATCHDOG_PID", "")
    # systemd sets WATCHDOG_PID to the main process; a child that inherits the
    # environment must not pet the watchdog on its parent's behalf.
    if pid and pid != str(os.getpid()):
        return None
    return value / 2 / 1_000_000


def _one_line(text: str) -> str:
    return " ".join(str(text).split())
