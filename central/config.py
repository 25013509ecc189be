"""Settings of the API server and the ingest worker, from the environment (``EXTEROS_*``).

Command-line options override them. Secrets (the MQTT password) come from a
file, never from the environment or the command line.
"""

from __future__ import annotations

from datetime import date

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    """REST API server settings."""

    model_config = SettingsConfigDict(env_prefix="EXTEROS_", extra="ignore")

    rate_per_s: float = Field(default=20.0, gt=0, description="sustained requests/s per API key")
    rate_burst: int = Field(default=100, ge=1, description="requests a key may burst above rate")
    location_cache_s: float = Field(
        default=10.0, ge=0, description="seconds a location's id/company/timezone is cached"
    )
    key_cache_s: float = Field(
        default=5.0, ge=0, description="seconds a key lookup is cached (revocation delay)"
    )
    auth_fail_limit: int = Field(
        default=20,
        ge=1,
        description="failed authentications per client address in auth_fail_window_s "
        "before that address is answered 429",
    )
    auth_fail_window_s: float = Field(
        default=60.0, gt=0, description="window over which failed authentications are counted"
    )


class IngestSettings(BaseSettings):
    """MQTT ingest worker settings."""

    model_config = SettingsConfigDict(env_prefix="EXTEROS_INGEST_", extra="ignore")

    batch_size: int = Field(default=1000, ge=1, description="most messages per transaction")
    batch_wait_s: float = Field(
        default=0.05, ge=0, description="longest wait to fill a batch before committing"
    )
    session_expiry_s: int = Field(
        default=86400,
        ge=0,
        description="how long the broker keeps a stopped worker's session and unacked messages",
    )
    receive_maximum: int = Field(
        default=2000, ge=1, le=65535, description="unacknowledged messages the broker may send"
    )
    group: str = Field(default="exteros-ingest", description="shared-subscription group name")
    clock_skew_s: float = Field(
        default=300.0,
        ge=0,
        description="how far past the receive time a timestamp may lie (device clock skew)",
    )
    earliest: date = Field(
        default=date(2000, 1, 1),
        description="timestamps before this UTC day are refused (replays of old video are fine)",
    )
