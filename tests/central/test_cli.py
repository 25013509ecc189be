"""The admin CLI as a user runs it: exact command shapes, import, one-line errors."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout

import pytest
from sqlalchemy import func, select

from central.cli import main
from central.db import make_engine
from central.keys import hash_key
from central.models import ApiKey, EventRow, VisitRow
from tests.central import scenario as sc


def cli(db: str, *args: str, subprocess_: bool = False) -> subprocess.CompletedProcess:
    """Run ``exteros-central --db DB ARGS``: in-process (fast) or as a real subprocess."""
    argv = ["--db", db, *args]
    if subprocess_:
        return subprocess.run(
            [sys.executable, "-m", "central", *argv], capture_output=True, text=True, timeout=60
        )
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as exc:
            rc = exc.code
    return subprocess.CompletedProcess(argv, rc, out.getvalue(), err.getvalue())


def ok(db: str, *args: str) -> str:
    r = cli(db, *args)
    assert r.returncode == 0, r.stderr
    return r.stdout


def one_line_error(r: subprocess.CompletedProcess, needle: str) -> None:
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert needle in lines[0], lines[0]


def test_admin_commands(db_url):
    ok(
        db_url,
        "locations",
        "add",
        "madison-ave-store",
        "--company",
        "acme",
        "--timezone",
        "America/New_York",
    )
    ok(
        db_url,
        "locations",
        "add",
        "madison-ave-store.denim",
        "--company",
        "acme",
        "--timezone",
        "America/New_York",
        "--type",
        "zone",
        "--parent",
        "madison-ave-store",
    )
    r = cli(db_url, "keys", "create", "--company", "acme", subprocess_=True)
    assert r.returncode == 0, r.stderr
    key = r.stdout.strip().splitlines()[-1]
    assert key.startswith("ext_") and len(key) > 40
    ok(db_url, "devices", "add", "edge-madison-01", "--company", "acme")
    engine = make_engine(db_url)
    with engine.connect() as c:
        hashes = list(c.execute(select(ApiKey.key_hash)).scalars())
    engine.dispose()
    assert hashes == [hash_key(key)]  # only the hash is stored
    listing = ok(db_url, "locations", "list")
    assert "madison-ave-store.denim\tacme\tzone\tAmerica/New_York" in listing
    assert "active" in ok(db_url, "keys", "list")

    one_line_error(
        cli(
            db_url,
            "locations",
            "add",
            "madison-ave-store",
            "--company",
            "acme",
            "--timezone",
            "UTC",
        ),
        "already exists",
    )
    one_line_error(
        cli(db_url, "locations", "add", "x", "--company", "acme", "--timezone", "Mars/Olympus"),
        "unknown timezone",
    )
    one_line_error(
        cli(db_url, "locations", "add", "Bad Name", "--company", "acme", "--timezone", "UTC"),
        "not a slug",
    )
    one_line_error(
        cli(
            db_url,
            "locations",
            "add",
            "y",
            "--company",
            "acme",
            "--timezone",
            "UTC",
            "--parent",
            "nowhere",
        ),
        "parent location",
    )
    one_line_error(
        cli(db_url, "devices", "add", "edge-madison-01", "--company", "acme"), "already registered"
    )
    one_line_error(cli(db_url, "keys", "create"), "--company")
    one_line_error(cli(db_url, "frobnicate", subprocess_=True), "invalid choice")


@pytest.mark.parametrize(
    ("db", "needle"),
    [
        ("postgresql://nobody@127.0.0.1:1/none", "database"),
        ("mysql://x@y/z", "unsupported database"),
        ("/nonexistent-dir/sub/x.db", "database"),
    ],
)
def test_bad_database_is_one_line(db, needle):
    one_line_error(cli(db, "migrate", subprocess_=(db.startswith("postgresql"))), needle)


def test_import(db_url, tmp_path):
    ok(db_url, "locations", "add", sc.LOCATION, "--company", "acme", "--timezone", sc.TZ)
    day = sc.published_day()
    n_events = sum(1 for m in day if m.schema_ == "exteros.event/1")
    n_visits = len(day) - n_events
    f = tmp_path / "events.jsonl"
    f.write_text("".join(json.dumps(m.to_payload()) + "\n" for m in day))
    out = ok(db_url, "import", str(f))
    assert f"read {n_events} events and {n_visits} visits; {n_events} new" in out
    out = ok(db_url, "import", str(f))  # idempotent
    assert "; 0 new events stored" in out
    engine = make_engine(db_url)
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(EventRow)).scalar_one() == n_events
        assert c.execute(select(func.count()).select_from(VisitRow)).scalar_one() == n_visits
    engine.dispose()

    # Events for a location the store does not know are reported, not guessed.
    other = [sc.make_event("impression", day[0].visit_started_at, 7, "5th-ave-popup")]
    f2 = tmp_path / "unknown.jsonl"
    f2.write_text("".join(json.dumps(m.to_payload()) + "\n" for m in [*other, day[0]]))
    r = cli(db_url, "import", str(f2))
    assert r.returncode == 2
    assert "5th-ave-popup (1)" in r.stderr and "locations add" in r.stderr

    # Malformed lines: nothing imported, each bad line named.
    f3 = tmp_path / "bad.jsonl"
    good = json.dumps(other[0].to_payload())
    f3.write_text(f'{good}\nnot json\n\n{{"schema": "exteros.event/1"}}\n[1]\n')
    one_line_error(cli(db_url, "import", str(f3)), "line 2: not JSON")
    r = cli(db_url, "import", str(f3))
    assert "line 4: " in r.stderr and "line 5: " in r.stderr and "3 malformed" in r.stderr
    one_line_error(cli(db_url, "import", str(tmp_path / "missing.jsonl")), "cannot read")


def test_import_checks_lines_like_ingest_and_reports_conflicts(db_url, tmp_path):
    ok(db_url, "locations", "add", sc.LOCATION, "--company", "acme", "--timezone", sc.TZ)
    first = sc.make_event("impression", sc.visit_starts(9, 1)[0], 1).to_payload()
    f = tmp_path / "a.jsonl"
    f.write_text(json.dumps(first) + "\n")
    assert "1 new events stored" in ok(db_url, "import", str(f))
    # The same id with other content: the stored copy stays, the import says so.
    f.write_text(json.dumps({**first, "confidence": 0.1}) + "\n" + json.dumps(first) + "\n")
    r = cli(db_url, "import", str(f))
    assert r.returncode == 2 and "0 new events stored" in r.stdout
    assert "1 conflicting duplicate(s)" in r.stderr
    engine = make_engine(db_url)
    with engine.connect() as c:
        assert c.execute(select(EventRow.confidence)).scalar_one() == first["confidence"]
    engine.dispose()
    # Strict types and time bounds, as on MQTT: nothing imported, each line named.
    bad = [
        {**first, "event_id": first["event_id"] + "-2", "dwell_s": "3"},
        {**first, "event_id": first["event_id"] + "-3", "occurred_at": "9999-01-01T00:00:00Z"},
        {**first, "event_id": "other-device/x", "device_id": sc.DEVICE},
    ]
    f.write_text("".join(json.dumps(b) + "\n" for b in bad))
    r = cli(db_url, "import", str(f))
    one_line_error(r, "3 malformed line(s), nothing imported")
    assert "line 1: dwell_s" in r.stderr and "line 2: timestamp in the future" in r.stderr
    assert "line 3: event_id 'other-device/x' does not belong" in r.stderr


@pytest.mark.parametrize(
    ("var", "value"),
    [("EXTEROS_INGEST_EARLIEST", "someday"), ("EXTEROS_INGEST_CLOCK_SKEW_S", "-1")],
)
def test_bad_setting_in_the_environment_is_one_line(db_url, tmp_path, monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    f = tmp_path / "empty.jsonl"
    f.write_text("")
    one_line_error(cli(db_url, "import", str(f)), var)


@pytest.mark.parametrize(
    "args",
    [
        ("companies", "add", "acme\n"),
        ("locations", "add", "acme-store\n", "--company", "acme", "--timezone", "UTC"),
        ("locations", "add", "x", "--company", "acme", "--timezone", "UTC", "--parent", "p\n"),
        ("devices", "add", "edge-1\n", "--company", "acme"),
        ("keys", "create", "--company", "acme\n"),
    ],
)
def test_names_with_a_trailing_newline_are_refused(db_url, args):
    r = cli(db_url, *args)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "not a slug" in r.stderr or "does not exist" in r.stderr
