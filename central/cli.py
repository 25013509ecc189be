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
    revoke_key,
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

    loc = sub.add_parser("locations", help="add or list locations").add_subparsers(
        dest="action", required=True, parser_class=Parser
    )
    l_add = loc.add_parser("add", help="add a location (creates the company if new)")
    l_add.add_argument("name")
    l_add.add_argument("--company", required=True)
    l_add.add_argument("--timezone", required=True, help="IANA name, e.g. America/New_York")
    l_add.add_argument("--type", default="store", help="store, popup, zone, ... (default store)")
    l_add.add_argument("--parent", default=None, help="parent location of the same company")
    l_list = loc.add_parser("list", help="list locations")
    l_list.add_argument("--company", default=None)

    keys = sub.add_parser("keys", help="create, list or revoke API keys").add_subparsers(
        dest="action", required=True, parser_class=Parser
    )
    k_create = keys.add_parser("create", help="create a key; prints it once, stores its hash")
    k_create.add_argument("--company", required=True)
    k_list = keys.add_parser("list", help="list key prefixes")
    k_list.add_argument("--company", default=None)
    k_revoke = keys.add_parser("revoke", help="revoke the key with this prefix")
    k_revoke.add_argument("prefix")

    dev = sub.add_parser("devices", help="register or list edge devices").add_subparsers(
        dest="action", required=True, parser_class=Parser
    )
    d_add = dev.add_parser("add", help="register a device to a company")
    d_add.add_argument("device_id")
    d_add.add_argument("--company", required=True)
    dev.add_parser("list", help="list devices")

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


def run(args: argparse.Namespace) -> int:
    from central.models import ApiKey, Company, DeadLetter, Device, Location

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
            _lid, new_company = add_location(
                engine, args.name, args.company, args.timezone, args.type, args.parent
            )
            if new_company:
                _note(f"created company {args.company}")
            print(f"added location {args.name} ({args.type}, {args.timezone}) to {args.company}")
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
            devices = (
                select(Device.id, Company.name, Device.state, Device.version)
                .join(Company, Company.id == Device.company_id)
                .order_by(Device.id)
            )
            with engine.connect() as conn:
                for device in conn.execute(devices):
                    print("\t".join(str(v) if v is not None else "-" for v in device))
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
