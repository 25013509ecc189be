"""Dependencies by role: every import of the packages is declared in its role's extras, and
the store device's commands never load PyTorch or Ultralytics.

The roles are the extras of pyproject.toml, read from the wheel metadata setuptools builds
(so a self-reference such as ``exteros[edge]`` is followed as pip follows it). Each module
belongs to one role (``ROLE_OF``); the imports are found with ``ast``:

- an import that runs when the module is imported must be covered by the role's own
  requirements (a local module it imports belongs to a role with no more requirements);
- one inside a function, or in a ``try`` that catches ImportError, is an optional path
  and may also come from the optional backends and tools (``onnx``, ``tools``).

A distribution must be named directly, not reached through another's dependencies.
"""

from __future__ import annotations

import ast
import email.parser
import fnmatch
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.device import DEVICE_FREE_OF, edge_config, write_config, write_video

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("edge", "central", "calibration", "exteros")
# First match wins. "" is the base (`dependencies`): what `import exteros` needs.
ROLE_OF = (
    ("edge/demo.py", "demo"),
    ("edge/export.py", "tools"),
    ("edge/scenarios/*", "tools"),
    ("edge/*", "edge"),
    ("calibration/*", "calibrate"),
    ("central/*", "central"),
    ("exteros/*", ""),
)
OPTIONAL = ("onnx", "tools")  # backends and tools a function may import when asked for
ROLES = ("edge", "onnx", "calibrate", "central", "tools", "demo", "dev")
# Libraries whose internals we rely on: a new major (or 0.x minor) must be tried first.
BOUNDED = ("openvino", "trackers", "supervision", "ultralytics", "paho-mqtt", "pydantic",
           "sqlalchemy", "fastapi", "onnxruntime", "nncf")  # fmt: skip


# -- the wheel metadata --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def metadata(tmp_path_factory) -> email.message.Message:
    """METADATA as setuptools writes it into the wheel (from a copy: no egg-info here)."""
    tmp = tmp_path_factory.mktemp("meta")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, tmp / name)
    out = tmp / "out"
    out.mkdir()
    code = "import sys; from setuptools import build_meta as b; " \
        "print(b.prepare_metadata_for_build_wheel(sys.argv[1]))"  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code, str(out)], cwd=tmp, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    dist_info = proc.stdout.strip().splitlines()[-1]
    return email.parser.Parser().parsestr((out / dist_info / "METADATA").read_text())


def requirements(meta: email.message.Message) -> dict[str, list[Requirement]]:
    """{extra ("" for the base): [its requirements]}."""
    extras = meta.get_all("Provides-Extra") or []
    out: dict[str, list[Requirement]] = {"": [], **{e: [] for e in extras}}
    for line in meta.get_all("Requires-Dist") or []:
        req = Requirement(line)
        # setuptools writes `; <the requirement's own marker> and extra == "NAME"`
        found = re.search(r'extra == "([^"]+)"', str(req.marker or ""))
        out[found.group(1) if found else ""].append(req)
    return out


def closure(reqs: dict[str, list[Requirement]], role: str) -> dict[str, Requirement]:
    """{distribution: requirement} a role installs: the base, its extra, the extras it names."""
    name = canonicalize_name("exteros")
    seen, todo, out = set(), ["", *([role] if role else [])], {}
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for req in reqs[extra]:
            if canonicalize_name(req.name) == name:
                todo.extend(req.extras)
            else:
                out[canonicalize_name(req.name)] = req
    return out


# -- the imports ---------------------------------------------------------------------------------
def role_of(path: str) -> str:
    for pattern, role in ROLE_OF:
        if fnmatch.fnmatch(path, pattern):
            return role
    raise AssertionError(f"{path}: no role in ROLE_OF")


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _catches_import_error(node: ast.Try) -> bool:
    names = set()
    for handler in node.handlers:
        kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        names |= {k.id for k in kinds if isinstance(k, ast.Name)}
    return bool(names & {"ImportError", "ModuleNotFoundError"})


def imports_of(tree: ast.AST) -> list[tuple[str, bool]]:
    """(module, eager): eager when it runs at import time and must succeed."""
    out: list[tuple[str, bool]] = []

    def visit(node: ast.AST, eager: bool) -> None:
        if isinstance(node, ast.Import):
            out.extend((alias.name, eager) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.extend(
                (f"{node.module}.{alias.name}" if alias.name != "*" else node.module, eager)
                for alias in node.names
            )
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            children: list[ast.AST] = list(node.orelse)  # the body is for type checkers only
        elif isinstance(node, ast.Try) and _catches_import_error(node):
            for child in node.body:
                visit(child, False)
            children = [*node.handlers, *node.orelse, *node.finalbody]
        else:
            children = list(ast.iter_child_nodes(node))
        for child in children:
            lazy = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            visit(child, eager and not lazy)

    visit(tree, True)
    return out


@cache
def modules() -> dict[str, Path]:
    """Dotted name -> file, for every module of the packages."""
    out = {}
    for pkg in PACKAGES:
        for path in sorted((REPO / pkg).rglob("*.py")):
            rel = path.relative_to(REPO).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            out[".".join(parts)] = path
    return out


def local_module(name: str) -> str | None:
    """The module a local import resolves to (``edge.config.load`` -> ``edge.config``)."""
    parts = name.split(".")
    while parts:
        if ".".join(parts) in modules():
            return ".".join(parts)
        parts.pop()
    return None


@cache
def distributions_of(top: str) -> frozenset[str]:
    return frozenset(
        canonicalize_name(d) for d in importlib.metadata.packages_distributions().get(top, [])
    )


def problems(reqs: dict[str, list[Requirement]]) -> list[str]:
    optional = set()
    for extra in OPTIONAL:
        optional |= set(closure(reqs, extra))
    out = []
    for path in modules().values():
        rel = path.relative_to(REPO).as_posix()
        role = role_of(rel)
        have = set(closure(reqs, role))
        for name, eager in imports_of(ast.parse(path.read_text(), rel)):
            top = name.split(".")[0]
            if top in sys.stdlib_module_names or top == "__future__":
                continue
            if top in PACKAGES:
                target = local_module(name)
                if target is None:
                    out.append(f"{rel}: imports {name}, which is no module of the packages")
                    continue
                other = role_of(modules()[target].relative_to(REPO).as_posix())
                extra_needed = set(closure(reqs, other)) - have
                if eager and extra_needed:
                    out.append(f"{rel} ({role or 'base'}) imports {target} ({other}) at import "
                               f"time, which needs {sorted(extra_needed)}")  # fmt: skip
                continue
            dists = distributions_of(top)
            wanted = "/".join(sorted(dists))
            if not dists:
                out.append(f"{rel}: imports {top}, which no installed distribution provides")
            elif eager and not dists & have:
                out.append(f"{rel}: imports {top} at import time, but role "
                           f"'{role or 'base'}' does not require {wanted}")  # fmt: skip
            elif not dists & (have | optional):
                out.append(f"{rel}: imports {top} (in a function), but neither role "
                           f"'{role or 'base'}' nor {'/'.join(OPTIONAL)} requires "
                           f"{wanted}")  # fmt: skip
    return out


# -- the tests -----------------------------------------------------------------------------------
def test_every_import_is_declared_in_its_roles_extras(metadata) -> None:
    assert list(dict.fromkeys(problems(requirements(metadata)))) == []


def test_the_roles_are_the_extras(metadata) -> None:
    reqs = requirements(metadata)
    assert set(ROLES) <= set(reqs), sorted(reqs)
    everything = set()
    for role in ROLES:
        everything |= set(closure(reqs, role))
    assert set(closure(reqs, "dev")) == everything, "dev must hold every role"
    assert set(closure(reqs, "")) == {"httpx", "pydantic"}


def test_the_device_role_declares_no_pytorch_server_or_database(metadata) -> None:
    edge = set(closure(requirements(metadata), "edge"))
    assert edge.isdisjoint(DEVICE_FREE_OF | {"torchvision", "sqlalchemy", "alembic", "uvicorn"})
    assert {"openvino", "trackers", "paho-mqtt", "numpy", "opencv-python"} <= edge


@pytest.mark.parametrize("name", BOUNDED)
def test_libraries_whose_internals_we_use_have_an_upper_bound(metadata, name: str) -> None:
    reqs = requirements(metadata)
    found = [r for role in ROLES for r in closure(reqs, role).values()
             if canonicalize_name(r.name) == name]  # fmt: skip
    assert found, f"{name} is not a requirement of any role"
    for req in found:
        assert any(spec.operator in ("<", "<=", "~=", "==") for spec in req.specifier), str(req)


def test_the_import_checker_sees_eager_lazy_and_guarded_imports() -> None:
    code = (
        "import numpy\nfrom typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import torch\n"
        "try:\n    import orjson\nexcept ImportError:\n    orjson = None\n"
        "def f():\n    import ultralytics\n"
        "class C:\n    import yaml\n"
    )
    assert imports_of(ast.parse(code)) == [
        ("numpy", True), ("typing.TYPE_CHECKING", True), ("orjson", False),
        ("ultralytics", False), ("yaml", True),
    ]  # fmt: skip


# -- what the device's commands load -------------------------------------------------------------
def imported(stderr: str) -> list[tuple[int, str]]:
    """(indent, module) per line of ``-X importtime`` output, in the order printed (a module's
    imports come before it, one level deeper)."""
    out = []
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1]
            if name.strip() != "imported package":
                out.append((len(name) - len(name.lstrip()), name.strip()))
    return out


def who_imported(lines: list[tuple[int, str]], forbidden: set[str]) -> list[str]:
    """For each forbidden top-level package loaded: the chain of modules that pulled it in."""
    out, seen = [], set()
    for i, (indent, name) in enumerate(lines):
        top = name.split(".")[0]
        if top not in forbidden or top in seen:
            continue
        seen.add(top)
        chain, level = [name], indent
        for later_indent, later in lines[i + 1 :]:
            if later_indent < level:
                chain.append(later)
                level = later_indent
        out.append(" <- ".join(chain))
    return out


def run_importtime(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # The variable (unlike -X importtime) reaches any worker process the command starts.
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1", "YOLO_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip


def test_check_config_loads_no_pytorch(tmp_path) -> None:
    proc = run_importtime(["check-config", str(REPO / "deploy" / "edge.yaml")], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = imported(proc.stderr)
    assert len(lines) > 50, "no -X importtime output"
    assert who_imported(lines, {"torch", "torchvision", "ultralytics"}) == []


@pytest.mark.model
def test_replay_loads_no_pytorch(tmp_path) -> None:
    video = write_video(tmp_path / "people.avi")
    config = write_config(tmp_path / "edge.yaml", edge_config(tmp_path))
    out = tmp_path / "events.jsonl"
    proc = run_importtime(["replay", str(video), "--config", str(config), "--no-mqtt",
                           "--events-out", str(out), "--quiet",
                           "--start", "2020-01-01T09:00:00Z"], tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert out.read_text().strip(), "the replay wrote no events"
    lines = imported(proc.stderr)
    assert who_imported(lines, {"torch", "torchvision", "ultralytics"}) == []
