"""The dashboard in a real headless Chromium against a real ``exteros-central serve``.

The store is set up as an operator would: ``exteros-central`` locations/devices/keys and
``import`` of an edge events file; device health arrives the real way, as MQTT status and
heartbeat messages through a real Mosquitto and an ``exteros-central ingest`` worker. The
page's numbers are checked against what the API answers for the same requests.

Set ``DASHBOARD_SCREENSHOTS=docs/img`` to refresh the screenshots in the docs.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from central.dashboard import VENDOR_CHART
from exteros.contract import (
    CameraHealth,
    DeviceStatus,
    EventKind,
    Heartbeat,
    VisitSummary,
    topic,
)
from tests.calibration.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.central.scenario import CAMERA, make_event
from tests.support.broker import Mosquitto, free_port, wait_port
from tests.support.central import ProcWorker, publish_all

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CENTRAL = [sys.executable, "-m", "central"]
STORE = "madison-ave-store"
ZONE = "madison-ave-store.denim"
POPUP = "broadway-popup"  # sorts first: picking the store is a real change in the picker
TZ = "America/New_York"
DEVICE = "edge-madison-01"
IDLE_DEVICE = "edge-broadway-01"
LAST_DAY = date(2020, 1, 1)
DAYS = 14
HOURS = range(9, 18)
KINDS = ("impression", "discovery", "engagement", "interaction")
PLURAL = ("impressions", "discoveries", "engagements", "interactions")
RATES = ("discovery-rate", "engagement-rate", "interaction-rate")
SHOTS = os.environ.get("DASHBOARD_SCREENSHOTS")


# -- the store --------------------------------------------------------------------------------


def visits_of(hour: int, day_no: int) -> int:
    """A varied, deterministic number of visits for a local hour (0 for some hours)."""
    return 0 if (day_no + hour) % 11 == 0 else 4 + (day_no * 7 + hour * 5) % 19


def write_events(path: Path) -> int:
    """Two weeks of traffic at the store (and some in its zone) as an edge events file."""
    lines: list[str] = []
    seq = 0
    for day_no in range(DAYS):
        day = LAST_DAY - timedelta(days=DAYS - 1 - day_no)
        for hour in HOURS:
            n = visits_of(hour, day_no)
            base = datetime(day.year, day.month, day.day, hour, tzinfo=ZoneInfo(TZ))
            for i in range(n):
                seq += 1
                start = (base + timedelta(seconds=i * 3600 / n)).astimezone(UTC)
                share = i / n  # the first visits of an hour go furthest down the funnel
                kinds = [
                    k for k, cut in zip(KINDS, (1, 0.7, 0.45, 0.2), strict=True) if share < cut
                ]
                for loc in (STORE, ZONE) if i % 3 == 0 else (STORE,):
                    events = [make_event(k, start, seq, loc, DEVICE) for k in kinds]
                    dwell = 4.0 + (seq * 37) % 170 + (0.5 if i % 2 else 0)
                    visit = VisitSummary(
                        visit_id=events[0].visit_id,
                        location=loc,
                        device_id=DEVICE,
                        camera_id=CAMERA,
                        started_at=start,
                        ended_at=start + timedelta(seconds=dwell),
                        dwell_s=dwell,
                        kinds=[EventKind(k) for k in kinds],
                    )
                    lines += [json.dumps(e.to_payload()) for e in events]
                    lines.append(json.dumps(visit.to_payload()))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


def cli(db: str, *args: str) -> str:
    proc = subprocess.run(
        [*CENTRAL, "--db", db, *args], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert proc.returncode == 0, f"exteros-central {' '.join(args)}: {proc.stderr}"
    return proc.stdout


@dataclass(frozen=True)
class Site:
    base_url: str
    key: str
    rival_key: str
    mqtt_port: int


@contextmanager
def serve(db: str, log: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """``exteros-central serve`` on a free port; yields its base URL."""
    port = free_port()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*CENTRAL, "--db", db, "serve", "--host", "127.0.0.1", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, **(env or {})},
        )  # fmt: skip
    try:
        wait_port(port, 90)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    work = tmp_path_factory.mktemp("dashboard")
    db = f"sqlite:///{work / 'central.db'}"
    cli(db, "locations", "add", STORE, "--company", "acme", "--timezone", TZ)
    cli(db, "locations", "add", ZONE, "--company", "acme", "--timezone", TZ, "--type", "zone",
        "--parent", STORE)  # fmt: skip
    cli(db, "locations", "add", POPUP, "--company", "acme", "--timezone", TZ, "--type", "popup")
    cli(db, "locations", "add", "rival-store", "--company", "rival", "--timezone", "UTC")
    cli(db, "devices", "add", DEVICE, "--company", "acme")
    cli(db, "devices", "add", IDLE_DEVICE, "--company", "acme")
    key = cli(db, "keys", "create", "--company", "acme").strip().splitlines()[-1]
    rival_key = cli(db, "keys", "create", "--company", "rival").strip().splitlines()[-1]
    events = work / "events.jsonl"
    write_events(events)
    assert "new events stored" in cli(db, "import", str(events))

    with Mosquitto(work / "broker") as broker:
        worker = ProcWorker(db, broker.port, "dashboard-ingest", work / "ingest.log")
        try:
            worker.wait_connected()
            with serve(db, work / "serve.log") as url:
                yield Site(url, key, rival_key, broker.port)
        finally:
            worker.stop()


def api(site: Site, path: str, key: str | None = None) -> object:
    req = urllib.request.Request(site.base_url + path, headers={"Authorization": key or site.key})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def send_health(site: Site) -> None:
    """The store's device: online, one camera delivering frames and one stalled."""
    now = datetime.now(UTC).replace(microsecond=0)
    status = DeviceStatus(state="online", at=now - timedelta(minutes=5), version="1.4.2")
    beat = Heartbeat(
        at=now,
        uptime_s=3600,
        locations=[STORE, ZONE],
        cameras={
            "cam-entrance": CameraHealth(fps=14.9, connected=True, last_frame_at=now),
            "cam-back": CameraHealth(
                fps=0.0, connected=False, last_frame_at=now - timedelta(minutes=7)
            ),
        },
        outbox_depth=3,
        version="1.4.2",
    )
    publish_all(
        site.mqtt_port,
        [
            (topic(DEVICE, "status"), json.dumps(status.to_payload()).encode()),
            (topic(DEVICE, "heartbeat"), json.dumps(beat.to_payload()).encode()),
        ],
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        devices = api(site, "/v1/devices")
        mine = [d for d in devices if d["device-id"] == DEVICE]  # type: ignore[union-attr]
        if mine and mine[0]["online"] and len(mine[0]["cameras"]) == 2:
            return
        time.sleep(0.2)
    raise AssertionError(f"the heartbeat did not reach the store: {devices}")


# -- the browser ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    """Headless Debian chromium through Playwright; missing chromium is a failure, not a skip."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, site: Site):
    context = browser.new_context(
        viewport={"width": 1360, "height": 900}, locale="en-US", timezone_id="UTC"
    )
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    # console errors: failed loads, Content-Security-Policy violations
    pg.on("console", lambda msg: errors.append(f"console: {msg.text}")
          if msg.type == "error" else None)  # fmt: skip
    pg.on("request", lambda req: errors.append(f"external request {req.url}")
          if not req.url.startswith(site.base_url) else None)  # fmt: skip
    pg.errors = errors
    yield pg
    context.close()


def open_page(page, site: Site) -> None:
    page.goto(site.base_url + "/")
    page.wait_for_selector("body[data-ready='1']")


def sign_in(page, key: str) -> None:
    page.fill("#key", key)
    page.click("#sign-in-form button[type=submit]")


def last_update_day(site: Site, location: str) -> str:
    stamp = api(site, f"/v1/locations/last-update/{location}")[0]["last-update"]  # type: ignore[index]
    return datetime.fromisoformat(stamp).astimezone(ZoneInfo(TZ)).date().isoformat()


def pick_day(page, day: str) -> None:
    page.fill("#day", day)
    page.wait_for_selector(f"#day-section[data-state=loaded][data-day='{day}']")


def number(text: str) -> int:
    assert re.fullmatch(r"[0-9,]+", text.strip()), text
    return int(text.replace(",", ""))


def shows_rate(text: str, rate: float | None) -> bool:
    """The cell shows the rate as a percentage with one decimal (a dash for none)."""
    if rate is None:
        return text == "\u2014"
    m = re.fullmatch(r"([0-9]+\.[0-9])%", text)
    return m is not None and abs(float(m.group(1)) - rate * 100) <= 0.05 + 1e-9


def shot(page, name: str, selector: str | None = None, height: int | None = None) -> None:
    if not SHOTS:
        return
    page.evaluate("document.activeElement && document.activeElement.blur()")
    path = Path(SHOTS) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if selector:
        page.locator(selector).screenshot(path=str(path))
    else:
        clip = (
            {"x": 0, "y": 0, "width": page.viewport_size["width"], "height": height}
            if height
            else None
        )
        page.screenshot(path=str(path), clip=clip)


def chart_data(page, canvas: str) -> list[list[float]] | None:
    return page.evaluate(
        """id => {
            const c = window.Chart && window.Chart.getChart(document.getElementById(id));
            return c ? c.data.datasets.map(d => d.data) : null;
        }""",
        canvas,
    )


# -- tests --------------------------------------------------------------------------------------


def test_day_and_range_show_what_the_api_answers(page, site: Site):
    open_page(page, site)
    assert page.is_visible("#sign-in") and not page.is_visible("#app")
    sign_in(page, site.key)
    page.wait_for_selector("#app:not([hidden])")
    assert page.input_value("#location") == POPUP
    options = page.eval_on_selector_all("#location option", "os => os.map(o => o.value)")
    assert options == [POPUP, STORE, ZONE]  # the tree, depth first; no other company's
    page.select_option("#location", STORE)
    page.wait_for_selector(f"#day-section[data-state=loaded][data-location='{STORE}']")
    # It opens on the local day (in the location's time zone) of the location's last update:
    # the last event imported, or a later heartbeat of a device covering it.
    assert page.input_value("#day") == last_update_day(site, STORE)
    assert "Contains:" in page.inner_text("#location-tree")
    pick_day(page, LAST_DAY.isoformat())

    day = LAST_DAY.isoformat()
    hours = api(site, f"/v1/traffic/funnel/{STORE}/{day}?interval=hour&hour=all")
    total = api(site, f"/v1/traffic/funnel/{STORE}/{day}?interval=day")[0]  # type: ignore[index]
    assert isinstance(hours, list) and len(hours) >= 8
    rows = page.locator("#funnel-table tbody tr")
    assert rows.count() == len(hours)
    for i, want in enumerate(hours):
        row = rows.nth(i)
        assert row.locator("th").inner_text() == f"{want['hr']:02d}:00"
        for col in PLURAL:
            assert number(row.locator(f"td[data-col={col}]").inner_text()) == want[col], (i, col)
        for col in RATES:
            shown = row.locator(f"td[data-col={col}]").inner_text()
            assert shows_rate(shown, want[col]), (i, col, shown, want[col])
    foot = page.locator("#funnel-table tfoot tr")
    for col in PLURAL:
        assert number(foot.locator(f"td[data-col={col}]").inner_text()) == total[col]
    assert sum(h["impressions"] for h in hours) == total["impressions"]
    # The day's dwell: median and p90 of the API, as minutes and seconds.
    dwell = api(site, f"/v1/traffic/dwell/{STORE}/{day}?interval=day")[0]  # type: ignore[index]
    cards = page.inner_text("#day-cards")
    assert fmt_duration(dwell["median-dwell-s"]) in cards
    assert fmt_duration(dwell["p90-dwell-s"]) in cards

    if VENDOR_CHART.exists():
        assert chart_data(page, "funnel-chart") == [[h[c] for h in hours] for c in PLURAL]
        assert not page.is_visible("#charts-note")
    else:
        assert page.is_visible("#charts-note")
    shot(page, "dashboard-day.png")

    # The range: two weeks to the day, every day listed, and this week against last week.
    page.wait_for_selector(f"#range-section[data-state=loaded][data-to='{day}']")
    first = (LAST_DAY - timedelta(days=13)).isoformat()
    assert page.input_value("#from") == first and page.input_value("#to") == day
    daily = api(site, f"/v1/traffic/funnel/{STORE}/{first}?to={day}&interval=day")
    assert isinstance(daily, list) and len(daily) == DAYS
    table = page.locator("#daily-table tbody tr")
    assert table.count() == DAYS
    for i, want in enumerate(daily):
        row = table.nth(i)
        assert want["date"] in row.locator("th").inner_text()
        for col in PLURAL:
            assert number(row.locator(f"td[data-col={col}]").inner_text()) == want[col]
    for kind in PLURAL:
        this_week = sum(d[kind] for d in daily[7:])
        last_week = sum(d[kind] for d in daily[:7])
        row = page.locator(f"#week-table tr[data-kind={kind}]")
        assert number(row.locator("td[data-col=this]").inner_text()) == this_week
        assert number(row.locator("td[data-col=last]").inner_text()) == last_week
        shown = row.locator("td[data-col=change]").inner_text()
        m = re.fullmatch(r"([+-][0-9]+\.[0-9])%", shown)
        assert m, shown
        assert abs(float(m.group(1)) - (this_week - last_week) / last_week * 100) <= 0.05 + 1e-9
    if VENDOR_CHART.exists():
        assert chart_data(page, "daily-chart") == [[d[c] for d in daily] for c in PLURAL]
    page.locator("#range-section").scroll_into_view_if_needed()
    shot(page, "dashboard-range.png", "#range-section")

    # Another day, picked by hand: the table follows, and so does the API.
    pick_day(page, "2019-12-31")
    hours = api(site, f"/v1/traffic/funnel/{STORE}/2019-12-31?interval=hour&hour=all")
    got = [
        number(t)
        for t in page.locator("#funnel-table tbody td[data-col=impressions]").all_inner_texts()
    ]
    assert got == [h["impressions"] for h in hours]
    assert not page.is_visible("#alert")
    assert not page.errors, page.errors


def fmt_duration(seconds: float) -> str:
    s = math.floor(seconds + 0.5)  # JavaScript's Math.round
    return f"{s} s" if s < 60 else f"{s // 60} min {s % 60:02d} s"


def test_a_wrong_key_is_refused_plainly(page, site: Site):
    open_page(page, site)
    sign_in(page, "ext_not-a-real-key")
    alert = page.locator("#alert")
    alert.wait_for(state="visible")
    text = alert.inner_text()
    assert "HTTP 401" in text and "unknown API key" in text, text
    shot(page, "dashboard-sign-in.png", height=360)
    assert page.is_visible("#sign-in") and not page.is_visible("#app")
    assert page.evaluate("sessionStorage.length") == 0
    # The right key then works, and a reload keeps the session (sessionStorage).
    sign_in(page, site.key)
    page.wait_for_selector("#app:not([hidden])")
    assert not page.is_visible("#alert")
    page.reload()
    page.wait_for_selector("#app:not([hidden])")
    # Signing out forgets the key.
    page.click("#sign-out")
    assert page.is_visible("#sign-in")
    assert page.evaluate("sessionStorage.getItem('exteros.dashboard.key')") is None


def test_unknown_location_shows_the_404(page, site: Site):
    open_page(page, site)
    sign_in(page, site.rival_key)  # another company: its store only
    page.wait_for_selector("#day-section[data-state=loaded]")
    assert page.eval_on_selector_all("#location option", "os => os.map(o => o.value)") == [
        "rival-store"
    ]
    # A location of another company answers exactly like a missing one.
    page.evaluate(
        """name => {
            const s = document.getElementById('location');
            s.append(new Option(name, name));
            s.value = name;
            s.dispatchEvent(new Event('change'));
        }""",
        STORE,
    )
    alert = page.locator("#alert")
    alert.wait_for(state="visible")
    assert f"Not found (HTTP 404): unknown location '{STORE}'" in alert.inner_text()


def test_devices_panel_highlights_a_stalled_camera(page, site: Site):
    send_health(site)
    open_page(page, site)
    sign_in(page, site.key)
    page.wait_for_selector("#devices-section[data-state=loaded]")
    stalled = page.locator(f"#devices-table tr[data-device='{DEVICE}'][data-camera='cam-back']")
    assert "stalled" in (stalled.get_attribute("class") or "")
    assert "Stalled" in stalled.inner_text()
    bg = stalled.locator("td.camera").evaluate("td => getComputedStyle(td).backgroundColor")
    assert bg not in ("rgba(0, 0, 0, 0)", "transparent", "rgb(255, 255, 255)"), bg
    fine = page.locator("#devices-table tr[data-camera='cam-entrance']")
    assert "stalled" not in (fine.get_attribute("class") or "")
    assert "14.9" in fine.inner_text() and "Receiving frames" in fine.inner_text()
    device = page.locator(f"#devices-table tr[data-device='{DEVICE}']").first
    assert "Online" in device.inner_text() and "1.4.2" in device.inner_text()
    assert device.locator("td.num").first.inner_text() == "3"  # outbox depth
    idle = page.locator(f"#devices-table tr[data-device='{IDLE_DEVICE}']")
    assert "Offline" in idle.inner_text() and "never" in idle.inner_text()
    summary = page.inner_text("#devices-summary")
    assert "1 online, 1 offline" in summary and f"{DEVICE} / cam-back" in summary
    page.locator("#devices-section").scroll_into_view_if_needed()
    shot(page, "dashboard-devices.png", "#devices-section")
    assert not page.errors, page.errors


def test_without_the_chart_library_the_tables_remain(page, site: Site):
    page.route("**/dashboard/vendor/**", lambda route: route.fulfill(status=404, body=""))
    open_page(page, site)
    note = page.locator("#charts-note")
    assert note.is_visible()
    assert "charts unavailable: run scripts/build-dashboard.sh" in note.inner_text().lower()
    sign_in(page, site.key)
    page.select_option("#location", STORE)
    page.wait_for_selector(f"#day-section[data-state=loaded][data-location='{STORE}']")
    pick_day(page, LAST_DAY.isoformat())
    assert page.locator("#funnel-table tbody tr").count() >= 8
    assert not page.is_visible("#funnel-chart")


def test_too_many_requests_is_shown(browser, site: Site, tmp_path: Path):
    db = f"sqlite:///{tmp_path / 'limited.db'}"
    cli(db, "locations", "add", STORE, "--company", "acme", "--timezone", TZ)
    key = cli(db, "keys", "create", "--company", "acme").strip().splitlines()[-1]
    env = {"EXTEROS_RATE_BURST": "1", "EXTEROS_RATE_PER_S": "0.01"}
    with serve(db, tmp_path / "serve.log", env) as url:
        context = browser.new_context(locale="en-US")
        try:
            pg = context.new_page()
            pg.goto(url + "/")
            pg.wait_for_selector("body[data-ready='1']")
            sign_in(pg, key)
            alert = pg.locator("#alert")
            alert.wait_for(state="visible", timeout=15_000)
            text = alert.inner_text()
            assert "Too many requests (HTTP 429)" in text and "Wait" in text, text
            assert pg.is_visible("#alert-retry")
        finally:
            context.close()
