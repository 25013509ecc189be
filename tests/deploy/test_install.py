"""deploy/install.sh into a temporary root: idempotent, and the units find what it installs.

The install reuses this venv's site-packages (``--reuse-site-packages``, which
implies ``--no-deps``) so it takes seconds and downloads nothing; the full
dependency install is the same script without that option.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from edge.modelzoo import REGISTRY, sha256_of
from tests.deploy.units import DEPLOY, UNITS, environment, last, parse_unit

REPO = DEPLOY.parent
MODEL = "yolo11n-pose.pt"
EXCLUDE_DIRS = {"__pycache__", ".cache", "pip-cache"}


def snapshot_source(dest: Path) -> Path:
    """Copy the checkout's files (tracked and untracked, not ignored) so that edits other
    people make to the working tree during the test cannot change what is installed."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "-co", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        src = REPO / os.fsdecode(name)
        if src.is_file():
            target = dest / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    return dest


def tree(root: Path) -> dict[str, str]:
    """path -> sha256 (files), '->target' (links) or 'dir'; skips caches and .pyc."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in EXCLUDE_DIRS)
        rel_dir = Path(dirpath).relative_to(root)
        out[str(rel_dir)] = "dir"
        for name in filenames:
            if name.endswith(".pyc"):
                continue
            p = Path(dirpath) / name
            rel = str(rel_dir / name)
            if p.is_symlink():
                out[rel] = "->" + os.readlink(p)
            else:
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() + f" {p.stat().st_mode:o}"
    return out


def base_python() -> str:
    return getattr(sys, "_base_executable", None) or sys.executable


def local_model() -> Path | None:
    p = REPO / "models" / MODEL
    if p.is_file() and sha256_of(p) == REGISTRY[MODEL].sha256:
        return p
    return None


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Install twice into one DESTDIR; returns (destdir, tree after 1st run, after 2nd, logs)."""
    tmp = tmp_path_factory.mktemp("install")
    src = snapshot_source(tmp / "src")
    dest = tmp / "root"
    env = {
        **os.environ,
        "DESTDIR": str(dest),
        "EXTEROS_PYTHON": base_python(),
        "EXTEROS_REUSE_SITE_PACKAGES": sysconfig.get_paths()["purelib"],
    }
    model = local_model()
    if model is not None:
        env["EXTEROS_MODEL_FILE"] = str(model)
    else:
        env["EXTEROS_INSTALL_NO_MODEL"] = "1"
    trees, logs = [], []
    for _ in range(2):
        proc = subprocess.run(
            ["bash", str(src / "deploy" / "install.sh")],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        logs.append(proc.stdout + proc.stderr)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        trees.append(tree(dest))
    return dest, trees, logs, src, env, model


def test_install_twice_gives_the_same_tree(installed) -> None:
    dest, (first, second), logs, *_ = installed
    assert first, "install.sh installed nothing"
    added = sorted(set(second) - set(first))
    removed = sorted(set(first) - set(second))
    changed = sorted(k for k in set(first) & set(second) if first[k] != second[k])
    assert (added, removed, changed) == ([], [], [])
    assert "keeping existing" in logs[1]


def test_install_lays_out_venv_units_config_and_model(installed) -> None:
    dest, _, _, _, _, model = installed
    for unit in UNITS:
        assert (dest / "etc/systemd/system" / unit).read_text() == (DEPLOY / unit).read_text()
    assert (dest / "etc/exteros/edge.yaml").read_text() == (DEPLOY / "edge.yaml").read_text()
    pw = dest / "etc/exteros/mqtt-password"
    assert pw.stat().st_mode & 0o777 == 0o600
    assert (dest / "usr/lib/sysusers.d/exteros.conf").is_file()
    # the units' Documentation= lines name these files
    for unit in UNITS:
        for line in (DEPLOY / unit).read_text().splitlines():
            if line.startswith("Documentation="):
                for uri in line.split("=", 1)[1].split():
                    if uri.startswith("file:///"):
                        assert (dest / uri.removeprefix("file:///")).is_file(), uri
    for script in ("exteros-edge", "exteros-central"):
        exe = dest / "opt/exteros/venv/bin" / script
        assert os.access(exe, os.X_OK)
        # the staging path is gone from the #! line: the tree works once copied to /
        assert exe.read_text().splitlines()[0] == "#!/opt/exteros/venv/bin/python"
    if model is None:
        pytest.skip(f"models/{MODEL} is not in this checkout, so the install ran --no-model")
    assert sha256_of(dest / "opt/exteros/models" / MODEL) == REGISTRY[MODEL].sha256


def test_installed_package_imports_from_the_venv(installed) -> None:
    dest, *_ = installed
    py = dest / "opt/exteros/venv/bin/python"
    code = (
        "import edge.systemd, edge.config, sys;"
        "from edge.config import load_config;"
        "load_config(sys.argv[1]);"
        "print(edge.systemd.__file__)"
    )
    out = subprocess.run(
        [str(py), "-c", code, str(dest / "etc/exteros/edge.yaml")],
        cwd=dest,  # not the checkout: `python -c` puts the cwd first on sys.path
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out.startswith(str(dest / "opt/exteros/venv/lib/"))


def test_rerun_keeps_a_technicians_config(installed) -> None:
    dest, _, _, src, env, _ = installed
    conf = dest / "etc/exteros/edge.yaml"
    pw = dest / "etc/exteros/mqtt-password"
    conf.write_text(conf.read_text().replace("edge-store-01", "edge-madison-01"))
    pw.write_text("s3cret\n")
    subprocess.run(["bash", str(src / "deploy/install.sh")], env=env, check=True,
                   capture_output=True, timeout=300)  # fmt: skip
    assert "edge-madison-01" in conf.read_text()
    assert pw.read_text() == "s3cret\n"


def test_units_reference_paths_the_installer_creates(installed) -> None:
    dest, *_ = installed
    state_dirs = set()
    for name in UNITS:
        unit = parse_unit(dest / "etc/systemd/system" / name)
        exe = last(unit, "Service", "ExecStart").split()[0]
        assert os.access(dest / exe.lstrip("/"), os.X_OK), f"{name}: {exe}"
        state_dirs.add(last(unit, "Service", "StateDirectory"))
        for cred in unit["Service"].get("LoadCredential", []):
            path = cred.split(":", 1)[1]
            assert (dest / path.lstrip("/")).is_file(), f"{name}: credential {path}"
        env = environment(unit)
        if "EXTEROS_MODELS_DIR" in env:
            assert (dest / env["EXTEROS_MODELS_DIR"].lstrip("/")).is_dir()
        cfg = last(unit, "Service", "ConfigurationDirectory")
        assert (dest / "etc" / cfg).is_dir()
    edge = parse_unit(dest / "etc/systemd/system/exteros-edge.service")
    config_arg = last(edge, "Service", "ExecStart").split("--config", 1)[1].split()[0]
    assert (dest / config_arg.lstrip("/")).is_file()
    # The example config keeps its state where systemd's StateDirectory= puts it.
    from edge.config import load_config

    cfg = load_config(dest / config_arg.lstrip("/"))
    assert str(cfg.state_dir) == "/var/lib/exteros" and "exteros" in state_dirs
    users = (dest / "usr/lib/sysusers.d/exteros.conf").read_text()
    assert f"u {last(edge, 'Service', 'User')} " in users


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (apt-get install systemd); "
    "test_units.py still checks the keys",
)
def test_systemd_analyze_verify_on_the_installed_tree(installed, tmp_path) -> None:
    """`systemd-analyze verify --root=` checks every key and that ExecStart/ExecReload exist
    inside the installed tree. The root gets the host's stock units (sysinit.target, ...)
    and /bin/kill, which a real system has."""
    dest, *_ = installed
    root = tmp_path / "root"
    shutil.copytree(dest, root, symlinks=True)
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True,
                    dirs_exist_ok=True)  # fmt: skip
    (root / "usr/bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(shutil.which("kill") or "/bin/kill", root / "usr/bin/kill")
    if not (root / "bin").exists():
        (root / "bin").symlink_to("usr/bin")
    names = [n.replace("@.service", "@1.service") for n in UNITS]
    proc = subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", *names],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # verify exits 0 on unknown keys (it only warns), so the output must be empty too.
    assert (proc.returncode, proc.stdout + proc.stderr) == (0, "")


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_install_sh_passes_shellcheck() -> None:
    proc = subprocess.run(
        ["shellcheck", str(DEPLOY / "install.sh")], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout
