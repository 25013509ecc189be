"""Exteros: Python client for the Exteros REST API, and the wire contract.

``import exteros; api = exteros.authorize("KEY")``. The client (and httpx) is
imported lazily, so edge code importing ``exteros.contract`` does not pay for it.
"""

from typing import Any

from exteros.version import __version__

_CLIENT_NAMES = (
    "Camera",
    "Client",
    "Count",
    "Device",
    "DwellBucket",
    "ExterosError",
    "FunnelBucket",
    "Location",
    "authorize",
)
__all__ = ["__version__", *_CLIENT_NAMES]


def __getattr__(name: str) -> Any:
    if name in _CLIENT_NAMES:
        from exteros import client

        return getattr(client, name)
    raise AttributeError(f"module 'exteros' has no attribute {name!r}")
