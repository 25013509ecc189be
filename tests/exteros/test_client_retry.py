"""The Python client waits out a 429's Retry-After, like the Ruby and JavaScript clients."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

import exteros
from exteros.client import retry_after_s
from tests.clients.shared import prepare, serve


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory):
    """A real server whose per-key rate is 1 request/s with a burst of 1."""
    workdir = tmp_path_factory.mktemp("retry")
    store = prepare(workdir)
    env = {"EXTEROS_RATE_PER_S": "1", "EXTEROS_RATE_BURST": "1"}
    with serve(store, workdir / "serve.log", env) as srv:
        yield srv.base_url, srv.key


@pytest.fixture
def server(slow_server):
    time.sleep(1.2)  # the key's bucket refills (1/s, burst 1) after the previous test
    return slow_server


def test_a_429_is_waited_out_and_retried(server):
    base, key = server
    with exteros.authorize(key, base_url=base) as api:
        api.locations()  # takes the burst
        t0 = time.monotonic()
        assert [loc.name for loc in api.locations()]  # 429 first, then served
        assert time.monotonic() - t0 >= 0.5


def test_without_retries_the_429_carries_retry_after(server):
    base, key = server
    with exteros.authorize(key, base_url=base, max_retries=0) as api:
        api.locations()
        with pytest.raises(exteros.ExterosError) as exc:
            api.locations()
    assert exc.value.status == 429
    assert exc.value.retry_after is not None and 0 < exc.value.retry_after <= 5


def test_a_wait_longer_than_allowed_is_not_waited(server):
    base, key = server
    with exteros.authorize(key, base_url=base, max_retry_wait=0.1) as api:
        api.locations()
        t0 = time.monotonic()
        with pytest.raises(exteros.ExterosError) as exc:
            api.locations()
    assert exc.value.status == 429 and time.monotonic() - t0 < 0.9


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("7", 7.0),
        ("Wed, 02 Dec 2026 10:00:30 GMT", 30.0),
        ("Wed, 02 Dec 2026 09:59:00 GMT", 0.0),
        ("soon", None),
    ],
)
def test_retry_after_header_forms(header, expected):
    now = datetime(2026, 12, 2, 10, 0, 0, tzinfo=UTC)
    assert retry_after_s(header, now) == expected
