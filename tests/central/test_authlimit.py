"""Failed authentications are rate-limited per client address (unknown keys too)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from central.admin import add_location, create_key
from central.api import create_app
from central.authlimit import AuthFailureLimiter
from central.config import ApiSettings
from tests.central import scenario as sc


def test_limiter_counts_failures_in_a_sliding_window():
    lim = AuthFailureLimiter(limit=3, window_s=10)
    for t in (0.0, 1.0, 2.0):
        assert lim.retry_after("a", t) == 0
        lim.failed("a", t)
    assert lim.retry_after("a", 2.5) == pytest.approx(7.5)  # the failure at 0 ages out at 10
    assert lim.retry_after("b", 2.5) == 0  # per address
    assert lim.retry_after("a", 10.0) == 0
    lim.failed("a", 10.0)
    assert lim.retry_after("a", 10.5) == pytest.approx(0.5)  # 1, 2, 10 in the window
    assert lim.retry_after("a", 30.0) == 0
    assert "a" not in lim._failures  # aged-out addresses are forgotten


@pytest.fixture
def api(engine):
    add_location(engine, sc.LOCATION, "acme", sc.TZ)
    key, _ = create_key(engine, "acme")
    app = create_app(engine, ApiSettings(auth_fail_limit=5, auth_fail_window_s=60))
    return app, key


def test_unknown_keys_get_429_after_the_limit_from_that_address_only(api):
    app, key = api
    path = f"/v1/traffic/impression-counts/{sc.LOCATION}/{sc.DAY}"
    attacker = TestClient(app, client=("203.0.113.7", 40000))
    other = TestClient(app, client=("198.51.100.2", 40000))
    codes = [attacker.get(path, headers={"Authorization": f"guess-{i}"}).status_code
             for i in range(8)]  # fmt: skip
    assert codes == [401] * 5 + [429] * 3
    r = attacker.get(path, headers={"Authorization": "guess-x"})
    assert r.status_code == 429
    body = r.json()
    assert body["error"]["status"] == 429
    assert body["error"]["message"].startswith("too many failed authentications")
    assert 1 <= int(r.headers["Retry-After"]) <= 61
    # A missing key counts as a failure too; the blocked address is told to wait.
    assert attacker.get(path).status_code == 429
    # Another address is not affected, with a right key or a wrong one.
    assert other.get(path, headers={"Authorization": key}).status_code == 200
    assert other.get(path, headers={"Authorization": "nope"}).status_code == 401


def test_successful_requests_are_not_counted_as_failures(api):
    app, key = api
    client = TestClient(app, client=("192.0.2.1", 1))
    for _ in range(20):
        assert client.get("/v1/locations", headers={"Authorization": key}).status_code == 200
    for _ in range(5):
        assert client.get("/v1/locations", headers={"Authorization": "bad"}).status_code == 401
    assert client.get("/v1/locations", headers={"Authorization": key}).status_code == 429


def test_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("EXTEROS_AUTH_FAIL_LIMIT", "7")
    monkeypatch.setenv("EXTEROS_AUTH_FAIL_WINDOW_S", "30")
    s = ApiSettings()
    assert (s.auth_fail_limit, s.auth_fail_window_s) == (7, 30)
