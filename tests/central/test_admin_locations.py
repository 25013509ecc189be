"""`exteros-central locations update / rename / remove`, and add's timezone default,
as a user runs them, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from central.admin import add_device, create_key
from central.api import create_app
from central.config import ApiSettings
from central.models import DeadLetter, EventRow, Location, VisitRow
from central.store import Ingestor, Message, dump_json
from exteros.contract import topic
from tests.central import scenario as sc
from tests.central.scenario import load
from tests.central.test_api import KINDS, PATHS
from tests.central.test_cli import cli, ok, one_line_error

ZONE = f"{sc.LOCATION}.denim"


@pytest.fixture
def db(db_url, engine):  # noqa: ANN001, ANN201
    """acme: the store (America/New_York) with a zone, the published day's traffic; rival."""
    ok(db_url, "locations", "add", sc.LOCATION, "--company", "acme", "--timezone", sc.TZ)
    ok(db_url, "locations", "add", ZONE, "--company", "acme", "--type", "zone",
       "--parent", sc.LOCATION)  # fmt: skip
    ok(db_url, "locations", "add", "rival-store", "--company", "rival", "--timezone", "UTC")
    add_device(engine, sc.DEVICE, "acme")
    return db_url


def rows(engine, model, location: str) -> int:  # noqa: ANN001
    with engine.connect() as c:
        lid = c.execute(select(Location.id).where(Location.name == location)).scalar_one()
        return c.execute(
            select(func.count()).select_from(model).where(model.location_id == lid)
        ).scalar_one()


def location(engine, name: str) -> dict:  # noqa: ANN001
    with engine.connect() as c:
        row = c.execute(
            select(Location.type, Location.timezone, Location.parent_id).where(
                Location.name == name
            )
        ).one()
        parent = (
            c.execute(select(Location.name).where(Location.id == row.parent_id)).scalar_one()
            if row.parent_id is not None
            else None
        )
    return {"type": row.type, "timezone": row.timezone, "parent": parent}


def test_add_takes_the_parents_timezone(db, engine):
    assert location(engine, ZONE) == {"type": "zone", "timezone": sc.TZ, "parent": sc.LOCATION}
    out = ok(db, "locations", "add", "z2", "--company", "acme", "--parent", ZONE)
    assert out.strip() == f"added location z2 (store, {sc.TZ}) to acme"
    ok(db, "locations", "add", "z3", "--company", "acme", "--parent", ZONE, "--timezone", "UTC")
    assert location(engine, "z3")["timezone"] == "UTC"  # an explicit one wins
    one_line_error(
        cli(db, "locations", "add", "top", "--company", "acme"), "--timezone is required"
    )
    one_line_error(
        cli(db, "locations", "add", "z4", "--company", "acme", "--parent", "rival-store"),
        "belongs to another company",
    )


def test_update(db, engine):
    out = ok(db, "locations", "update", ZONE, "--timezone", "Europe/Paris", "--type", "table")
    assert out.strip() == (
        f"updated location {ZONE}: timezone: {sc.TZ} -> Europe/Paris; type: zone -> table"
    )
    assert location(engine, ZONE) == {
        "type": "table",
        "timezone": "Europe/Paris",
        "parent": sc.LOCATION,
    }
    ok(db, "locations", "add", "popup", "--company", "acme", "--timezone", "UTC")
    assert "parent: madison-ave-store -> popup" in ok(
        db, "locations", "update", ZONE, "--parent", "popup"
    )
    assert location(engine, ZONE)["parent"] == "popup"
    assert "parent: popup -> -" in ok(db, "locations", "update", ZONE, "--no-parent")
    assert location(engine, ZONE)["parent"] is None
    assert "nothing changed" in ok(db, "locations", "update", ZONE, "--type", "table")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("update", "nowhere", "--type", "zone"), "unknown location 'nowhere'"),
        (("update", ZONE), "nothing to change"),
        (("update", ZONE, "--timezone", "Mars/Olympus"), "unknown timezone 'Mars/Olympus'"),
        (("update", ZONE, "--type", "x" * 33), "--type must be 1 to 32 characters"),
        (("update", ZONE, "--parent", "nowhere"), "parent location 'nowhere' does not exist"),
        (("update", ZONE, "--parent", "rival-store"), "belongs to another company"),
        (("update", ZONE, "--parent", ZONE), "cannot be its own ancestor"),
        (("update", sc.LOCATION, "--parent", ZONE), "cannot be its own ancestor"),
        (("update", ZONE, "--parent", "x", "--no-parent"), "not allowed with argument"),
        (("rename", "nowhere", "new-name"), "unknown location 'nowhere'"),
        (("rename", ZONE, "Bad Name"), "not a slug"),
        (("rename", ZONE, "acme-store\n"), "not a slug"),
        (("rename", ZONE, "rival-store"), "location 'rival-store' already exists"),
        (("rename", ZONE, ZONE), "already has that name"),
        (("remove", "nowhere"), "unknown location 'nowhere'"),
    ],
)
def test_errors_are_one_line(db, engine, args, needle):
    one_line_error(cli(db, "locations", *args), needle)


def test_a_cycle_through_several_levels_is_refused(db, engine):
    ok(db, "locations", "add", "shelf", "--company", "acme", "--parent", ZONE)
    one_line_error(
        cli(db, "locations", "update", sc.LOCATION, "--parent", "shelf"),
        f"location {sc.LOCATION!r} cannot be its own ancestor ('shelf' is one of its descendants)",
    )
    assert location(engine, sc.LOCATION)["parent"] is None


def counts(client: TestClient, key: str, location: str) -> dict:
    out = {}
    for kind in KINDS:
        r = client.get(
            f"/v1/traffic/{PATHS[kind]}/{location}/{sc.DAY}", headers={"Authorization": key}
        )
        assert r.status_code == 200, r.text
        out[kind] = r.json()
    return out


def test_rename_keeps_the_history(db, engine):
    load(engine, sc.published_day())
    key, _ = create_key(engine, "acme")
    settings = ApiSettings(rate_per_s=10000, rate_burst=10000, auth_fail_limit=10000)
    with TestClient(create_app(engine, settings)) as client:
        before = counts(client, key, sc.LOCATION)
    assert before == {k: sc.PUBLISHED[k] for k in KINDS}
    events, visits = rows(engine, EventRow, sc.LOCATION), rows(engine, VisitRow, sc.LOCATION)

    r = cli(db, "locations", "rename", sc.LOCATION, "madison-flagship")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == (
        f"renamed location {sc.LOCATION} to madison-flagship; its {events} events and "
        f"{visits} visits stay with it"
    )
    assert "dead-lettered (unknown location)" in r.stderr
    assert rows(engine, EventRow, "madison-flagship") == events
    assert location(engine, ZONE)["parent"] == "madison-flagship"  # children follow

    with TestClient(create_app(engine, settings)) as client:
        assert counts(client, key, "madison-flagship") == before
        old = client.get(
            f"/v1/traffic/impression-counts/{sc.LOCATION}/{sc.DAY}",
            headers={"Authorization": key},
        )
        assert old.status_code == 404

    # A device still sending the old name: its events are dead-lettered, nothing counted.
    ev = sc.make_event("impression", sc.visit_starts(9, 1)[0], 99999)
    res = Ingestor(engine).process(
        [Message(topic(sc.DEVICE, "events"), dump_json(ev.to_payload()))]
    )
    assert res.dead == 1 and "unknown location 'madison-ave-store'" in res.reasons[0]
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(DeadLetter)).scalar_one() == 1
    # The name is free again, for this or another company.
    ok(db, "locations", "add", sc.LOCATION, "--company", "rival", "--timezone", "UTC")


def test_remove(db, engine):
    ok(db, "locations", "add", "empty", "--company", "acme", "--timezone", "UTC")
    assert ok(db, "locations", "remove", "empty").strip() == (
        "removed location empty with 0 events and 0 visits"
    )
    one_line_error(cli(db, "locations", "remove", "empty"), "unknown location 'empty'")

    # A parent is refused, even without traffic.
    one_line_error(
        cli(db, "locations", "remove", sc.LOCATION),
        f"location {sc.LOCATION!r} has 1 child locations; `--force`",
    )
    load(engine, sc.published_day())
    events, visits = rows(engine, EventRow, sc.LOCATION), rows(engine, VisitRow, sc.LOCATION)
    one_line_error(
        cli(db, "locations", "remove", sc.LOCATION),
        f"has {events} events, {visits} visits, 1 child locations",
    )
    assert rows(engine, EventRow, sc.LOCATION) == events  # nothing was touched

    out = ok(db, "locations", "remove", sc.LOCATION, "--force")
    assert out.strip() == (
        f"removed location {sc.LOCATION} with {events} events and {visits} visits; "
        f"{ZONE} moved to the top level"
    )
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(EventRow)).scalar_one() == 0
        assert c.execute(select(func.count()).select_from(VisitRow)).scalar_one() == 0
    assert location(engine, ZONE)["parent"] is None
    names = [ln.split("\t")[0] for ln in ok(db, "locations", "list").splitlines()]
    assert names == [ZONE, "rival-store"]


def test_remove_force_moves_children_to_the_grandparent(db, engine):
    ok(db, "locations", "add", "shelf", "--company", "acme", "--parent", ZONE)
    out = ok(db, "locations", "remove", ZONE, "--force")
    assert out.strip().endswith(f"shelf moved to {sc.LOCATION}")
    assert location(engine, "shelf")["parent"] == sc.LOCATION
