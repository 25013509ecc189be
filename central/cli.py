"""``exteros-central``: migrate, administer, import, serve the API, run the ingest worker.

Every failure is one line on stderr and a non-zero exit status, never a traceback
(set ``EXTEROS_DEBUG=1`` to see one).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from central.admin import (
    AdminError,
    add_device,
    add_location,
    create_key,
    ensure_company,
    remove_location,
    rename_location,
    revoke_key,
    update_location,
)
from central.db import DatabaseUrlError, default_url, make_engine, migrate, normalize_url

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings

S = TypeVar("S", bound="BaseSettings")

PROG = "exteros-central"


class CliError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not usage + error
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _safe_url(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(normalize_url(url)).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return "<unparseable URL>"


def build_parser() -> Parser:
    p = Parser(prog=PROG, description="Exteros central store, REST API and ingest worker.")
    p.add_argument(
        "--db",
        default=None,
        help="database URL: sqlite:///FILE, a file path, or postgresql://USER@HOST/DB "
        "(default: $EXTEROS_DB_URL, else ./exteros-central.db)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=Parser, metavar="COMMAND")

    sub.add_parser("migrate", help="create or upgrade the schema")

    comp = sub.add_parser("companies", help="list or add companies").add_subparsers(
        dest="action", required=True, parser_class=Parser
    )
    c_add = comp.add_parser("add", help="add a company")
    c_add.add_argument("name")
    c_add.add_argument("--timezone", default="UTC", help="the company's default IANA timezone")
    comp.add_parser("list", help="list companies")

    loc = sub.add_parser(
        "locations", help="add, list, update, rename or remove locations"
    ).add_subparsers(dest="action", required=True, parser_class=Parser)
    l_add = loc.add_parser("add", help="add a location (creates the company if new)")
    l_add.add_argument("name")
    l_add.add_argument("--company", required=True)
    l_add.add_argument(
        "--timezone",
        default=None,
        help="IANA name, e.g. America/New_York (default: the parent's; required without --parent)",
    )
    l_add.add_argument("--type", default="store", help="store, popup, zone, ... (default store)")
    l_add.add_argument("--parent", default=None, help="parent location of the same company")
    l_list = loc.add_parser("list", help="list locations")
    l_list.add_argument("--company", default=None)
    l_upd = loc.add_parser("update", help="change a location's timezone, type or parent")
    l_upd.add_argument("name")
    l_upd.add_argument("--timezone", default=None, help="IANA name; re-buckets past days too")
    l_upd.add_argument("--type", default=None, help="store, popup, zone, ...")
    parent = l_upd.add_mutually_exclusive_group()
    parent.add_argument("--parent", default=None, help="new parent location (same company)")
    parent.add_argument("--no-parent", action="store_true", help="make it a top-level location")
    l_ren = loc.add_parser("rename", help="rename a location; its history stays with it")
    l_ren.add_argument("old")
    l_ren.add_argument("new")
    l_rm = loc.add_parser("remove", help="remove a location without events, visits or children")
    l_rm.add_argument("name")
    l_rm.add_argument(
        "--force",
        action="store_true",
        help="also delete its events and visits; its children move up to its parent",
    )

    keys = sub.add_parser("keys", help="create, list or revoke API keys").add_subparsers(
        dest="action", required=True, parser_class=Parser
    )
    k_create = keys.add_parser("create", help="create a key; prints it once, stores its hash")
    k_create.add_argument("--company", required=True)
    k_list = keys.add_parser("list", help="list key prefixes")
    k_list.add_argument("--company", default=None)
    k_revoke = keys.add_parser("revoke", help="revoke the key with this prefix")
    k_revoke.add_argument("prefix")

    dev = sub.add_parser("devices", help="register, list or check edge devices").add_subparsers(
        dest="action", required=True, parser_class=Parser
    )
    d_add = dev.add_parser("add", help="register a device to a company")
    d_add.add_argument("device_id")
    d_add.add_argument("--company", required=True)
    d_list = dev.add_parser("list", help="list devices: online/offline, version, last heartbeat")
    d_list.add_argument("--company", default=None)
    d_status = dev.add_parser(
        "status", help="device health: heartbeats, outbox, cameras (stalled ones marked)"
    )
    d_status.add_argument("--company", default=None)

    imp = sub.add_parser("import", help="import an edge --events-out JSONL file")
    imp.add_argument("file")

    dl = sub.add_parser("dead-letters", help="show the latest dead-lettered messages")
    dl.add_argument("--limit", type=int, default=20)

    serve = sub.add_parser("serve", help="run the REST API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)

    ing = sub.add_parser("ingest", help="run an MQTT ingest worker")
    ing.add_argument("--mqtt-host", default=os.environ.get("EXTEROS_MQTT_HOST", "127.0.0.1"))
    ing.add_argument(
        "--mqtt-port", type=int, default=int(os.environ.get("EXTEROS_MQTT_PORT", "1883"))
    )
    ing.add_argument("--mqtt-username", default=os.environ.get("EXTEROS_MQTT_USERNAME"))
    ing.add_argument(
        "--mqtt-password-file",
        default=None,
        help="file holding the password (default: $CREDENTIALS_DIRECTORY/mqtt-password if set)",
    )
    ing.add_argument("--mqtt-tls", action="store_true", help="connect with TLS")
    ing.add_argument("--mqtt-ca", default=None, help="CA bundle for TLS (default: system)")
    ing.add_argument(
        "--client-id",
        default=None,
        help="stable MQTT client id; restart a worker with the same id to get its "
        "unacknowledged messages back (default exteros-ingest-HOSTNAME)",
    )
    return p


def _engine(args: argparse.Namespace) -> Engine:
    url = args.db or default_url()
    engine = make_engine(url)
    migrate(engine)
    return engine


def _note(msg: str) -> None:
    print(msg, file=sys.stderr)


def _password(args: argparse.Namespace) -> str | None:
    path = args.mqtt_password_file
    if path is None and os.environ.get("CREDENTIALS_DIRECTORY"):
        cand = Path(os.environ["CREDENTIALS_DIRECTORY"]) / "mqtt-password"
        path = str(cand) if cand.exists() else None
    if path is None:
        return None
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise CliError(f"cannot read the MQTT password file {path}: {exc.strerror}") from None


def _settings(kind: type[S]) -> S:
    """Settings from the environment; a bad value is one line naming the variable."""
    from pydantic import ValidationError

    try:
        return kind()
    except ValidationError as exc:
        err = exc.errors()[0]
        prefix = kind.model_config.get("env_prefix", "")
        name = f"{prefix}{err['loc'][0]}".upper() if err["loc"] else prefix
        raise CliError(f"{name}: {err['msg']} (got {err.get('input')!r})") from None


def _location_admin(engine: Engine, args: argparse.Namespace) -> None:
    """``locations update`` / ``rename`` / ``remove``."""
    if args.action == "update":
        changes = update_location(
            engine,
            args.name,
            timezone=args.timezone,
            type_=args.type,
            parent=args.parent,
            no_parent=args.no_parent,
        )
        print(f"updated location {args.name}: {'; '.join(changes) or 'nothing changed'}")
    elif args.action == "rename":
        kept = rename_location(engine, args.old, args.new)
        print(
            f"renamed location {args.old} to {args.new}; its {kept.events} events and "
            f"{kept.visits} visits stay with it"
        )
        _note(
            f"note: devices still sending {args.old!r} get their events and visits "
            "dead-lettered (unknown location) and their heartbeats refused whole, until their "
            f"calibration names {args.new!r}; running ingest workers see the rename "
            "within 10 s (they cache location names that long)"
        )
    else:
        gone = remove_location(engine, args.name, force=args.force)
        moved = ""
        if gone.children:
            moved = f"; {', '.join(gone.children)} moved to {gone.new_parent or 'the top level'}"
        print(
            f"removed location {args.name} with {gone.events} events and "
            f"{gone.visits} visits{moved}"
        )
        _note(
            "note: running ingest workers see the removal within 10 s "
            "(they cache location names that long)"
        )


def _devices(engine: Engine, args: argparse.Namespace) -> None:
    """``devices list`` / ``status``: liveness from heartbeats and status (central.devices)."""
    from central.devices import DeviceHealth, device_health
    from central.models import Company

    companies = select(Company.id, Company.name).order_by(Company.name)
    if args.company:
        companies = companies.where(Company.name == args.company)
    with engine.connect() as conn:
        found = conn.execute(companies).all()
        if args.company and not found:
            raise CliError(f"unknown company {args.company!r}")
        health: list[tuple[str, DeviceHealth]] = [
            (name, d) for cid, name in found for d in device_health(conn, cid)
        ]
    if args.action == "list":
        for company, d in health:
            state = "online" if d.online else "offline"
            fields = (d.device_id, company, state, d.version, d.last_heartbeat)
            print("\t".join(v if v is not None else "-" for v in fields))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for col in (
        "device", "company", "state", "last heartbeat", "version", "outbox",
        "camera", "fps", "connected", "last frame", "",
    ):  # fmt: skip
        table.add_column(col, no_wrap=True, justify="right" if col in ("outbox", "fps") else "left")
    for company, d in health:
        head = [
            d.device_id,
            company,
            "online" if d.online else "OFFLINE",
            d.last_heartbeat or "never",
            d.version or "-",
            str(d.outbox_depth) if d.outbox_depth is not None else "-",
        ]
        if not d.cameras:
            table.add_row(*head, "-", "-", "-", "-", "")
        for i, cam in enumerate(d.cameras):
            table.add_row(
                *(head if i == 0 else [""] * len(head)),
                cam.camera_id,
                f"{cam.fps:.1f}" if cam.fps is not None else "-",
                {True: "yes", False: "no", None: "-"}[cam.connected],
                cam.last_frame or "never",
                "STALLED" if cam.stalled else "",
            )
    if not health:
        _note("no devices registered" + (f" to {args.company}" if args.company else ""))
        return
    Console(file=sys.stdout, width=200).print(table)


def run(args: argparse.Namespace) -> int:
    from central.models import ApiKey, Company, DeadLetter, Location

    engine = _engine(args)
    if args.cmd == "migrate":
        print(f"schema is up to date in {_safe_url(args.db or default_url())}")
        return 0
    if args.cmd == "companies":
        if args.action == "add":
            with engine.begin() as conn:
                made = ensure_company(conn, args.name, args.timezone)
            if not made.created:
                raise CliError(f"company {args.name!r} already exists")
            print(f"added company {args.name}")
        else:
            with engine.connect() as conn:
                for name, tz in conn.execute(
                    select(Company.name, Company.default_timezone).order_by(Company.name)
                ):
                    print(f"{name}\t{tz}")
        return 0
    if args.cmd == "locations":
        if args.action == "add":
            lid, new_company = add_location(
                engine, args.name, args.company, args.timezone, args.type, args.parent
            )
            if new_company:
                _note(f"created company {args.company}")
            with engine.connect() as conn:
                tz = conn.execute(select(Location.timezone).where(Location.id == lid)).scalar_one()
            print(f"added location {args.name} ({args.type}, {tz}) to {args.company}")
        elif args.action in ("update", "rename", "remove"):
            _location_admin(engine, args)
        else:
            stmt = (
                select(Location.name, Company.name, Location.type, Location.timezone)
                .join(Company, Company.id == Location.company_id)
                .order_by(Location.name)
            )
            if args.company:
                stmt = stmt.where(Company.name == args.company)
            with engine.connect() as conn:
                for row in conn.execute(stmt):
                    print("\t".join(row))
        return 0
    if args.cmd == "devices":
        if args.action == "add":
            if add_device(engine, args.device_id, args.company):
                _note(f"created company {args.company}")
            print(f"registered device {args.device_id} to {args.company}")
        else:
            _devices(engine, args)
        return 0
    if args.cmd == "keys":
        if args.action == "create":
            key, new_company = create_key(engine, args.company)
            if new_company:
                _note(f"created company {args.company}")
            _note(f"new API key for {args.company} (shown once; only its hash is stored):")
            print(key)
        elif args.action == "list":
            api_keys = (
                select(ApiKey.prefix, Company.name, ApiKey.revoked_ms)
                .join(Company, Company.id == ApiKey.company_id)
                .order_by(ApiKey.id)
            )
            if args.company:
                api_keys = api_keys.where(Company.name == args.company)
            with engine.connect() as conn:
                for prefix, company, revoked in conn.execute(api_keys):
                    print(f"{prefix}...\t{company}\t{'revoked' if revoked else 'active'}")
        else:
            revoke_key(engine, args.prefix.rstrip("."))
            print(f"revoked {args.prefix}")
        return 0
    if args.cmd == "import":
        from central.config import IngestSettings
        from central.importer import import_jsonl

        rep = import_jsonl(engine, args.file, _settings(IngestSettings))
        print(
            f"read {rep.events_read} events and {rep.visits_read} visits; "
            f"{rep.events_new} new events stored"
        )
        status = 0
        if rep.conflicts:
            _note(
                f"{PROG}: skipped {rep.conflicts} conflicting duplicate(s): ids already stored "
                "(or repeated in the file) with other content; the first copies are kept"
            )
            status = 2
        if rep.unknown:
            names = ", ".join(f"{n} ({c})" for n, c in sorted(rep.unknown.items()))
            _note(
                f"{PROG}: skipped {rep.skipped} events/visits for unknown locations: {names}; "
                f"add them with `{PROG} locations add NAME --company C --timezone TZ` "
                "and import again (importing is idempotent)"
            )
            status = 2
        return status
    if args.cmd == "dead-letters":
        with engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(DeadLetter)).scalar_one()
            rows = conn.execute(
                select(DeadLetter.topic, DeadLetter.reason, DeadLetter.payload)
                .order_by(DeadLetter.id.desc())
                .limit(max(0, args.limit))
            ).all()
        print(f"{total} dead letters")
        for topic, reason, payload in rows:
            print(f"{topic}\t{reason}\t{payload[:200]}")
        return 0
    if args.cmd == "serve":
        import uvicorn

        from central.api import create_app
        from central.config import ApiSettings

        app = create_app(engine, _settings(ApiSettings))
        uvicorn.run(app, host=args.host, port=args.port, log_level="info")
        return 0
    if args.cmd == "ingest":
        from central.config import IngestSettings
        from central.ingest import IngestWorker, MqttOptions

        settings = _settings(IngestSettings)
        worker = IngestWorker(
            engine,
            MqttOptions(
                host=args.mqtt_host,
                port=args.mqtt_port,
                client_id=args.client_id or "",
                username=args.mqtt_username,
                password=_password(args),
                tls=args.mqtt_tls,
                ca_file=args.mqtt_ca,
            ),
            settings,
        )
        signal.signal(signal.SIGTERM, lambda *_: worker.stop())
        signal.signal(signal.SIGINT, lambda *_: worker.stop())
        worker.run()
        return 0
    raise CliError(f"unknown command {args.cmd!r}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        return run(args)
    except (CliError, AdminError, DatabaseUrlError) as exc:
        msg = str(exc)
    except SQLAlchemyError as exc:
        if os.environ.get("EXTEROS_DEBUG"):
            raise
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        msg = f"database {_safe_url(args.db or default_url())}: {first[0] if first else exc}"
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("EXTEROS_DEBUG"):
            raise
        from central.importer import ImportFileError

        if isinstance(exc, ImportFileError):
            msg = str(exc)
        else:
            msg = f"{type(exc).__name__}: {exc}".splitlines()[0]
    print(f"{PROG}: error: {msg}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
