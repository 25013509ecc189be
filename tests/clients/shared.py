"""The shared client test table and a real ``exteros-central serve`` to run it against.

The store is made by ``clients/testdata/fixture.py`` (the same script the JavaScript and
Ruby suites run): locations added and events imported with the ``exteros-central`` CLI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.broker import free_port, wait_port

ROOT = Path(__file__).resolve().parents[2]
TESTDATA = ROOT / "clients" / "testdata"
TABLE = json.loads((TESTDATA / "published_examples.json").read_text(encoding="utf-8"))
CASES = TABLE["cases"]


@dataclass(frozen=True)
class Store:
    db: str
    key: str
    central: list[str]


@dataclass(frozen=True)
class Server:
    base_url: str
    key: str


def prepare(workdir: Path) -> Store:
    """A SQLite store in ``workdir`` set up by the shared fixture script."""
    proc = subprocess.run(
        [sys.executable, str(TESTDATA / "fixture.py"), str(workdir)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, f"fixture.py failed: {proc.stderr}"
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    return Store(info["db"], info["key"], info["central"])


@contextmanager
def serve(store: Store, log: Path, env: dict[str, str] | None = None) -> Iterator[Server]:
    """``exteros-central serve`` on a free port for the duration of the block."""
    port = free_port()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*store.central, "--db", store.db, "serve", "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    try:
        wait_port(port, 90)
        yield Server(f"http://127.0.0.1:{port}", store.key)
    finally:
        proc.terminate()
        proc.wait(10)


def raw_get(server: Server, case: dict) -> tuple[int, bytes]:
    """The case's request as curl makes it: status and the exact body bytes."""
    url = server.base_url + case["path"] + (f"?{case['query']}" if case["query"] else "")
    req = urllib.request.Request(url, headers={"Authorization": case.get("key", server.key)})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def compact(value: object) -> bytes:
    """JSON as the API sends it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
