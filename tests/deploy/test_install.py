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
import sysconfig
from pathlib import Path

import pytest

from edge.modelzoo import REGISTRY, sha256_of
from tests.deploy.staging import base_python, systemd_analyze_verify, tree, tree_diff
from tests.deploy.units import DEPLOY, UNITS, environment, last, parse_unit

REPO = DEPLOY.parent
MODEL = "yolo11n-pose.pt"


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
    assert tree_diff(first, second) == ([], [], [])
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
    dest, *_ = installed
    proc = systemd_analyze_verify(dest, tmp_path)
    # verify exits 0 on unknown keys (it only warns), so the output must be empty too.
    assert (proc.returncode, proc.stdout + proc.stderr) == (0, "")


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_install_sh_passes_shellcheck() -> None:
    proc = subprocess.run(
        ["shellcheck", str(DEPLOY / "install.sh")], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout


def fake_release(root: Path, sums: str) -> Path:
    (root / "wheels").mkdir(parents=True)
    (root / "wheels" / "exteros-0.1.0-py3-none-any.whl").write_bytes(b"not a wheel")
    (root / "SHA256SUMS").write_text(sums)
    return root


def run_install(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(DEPLOY / "install.sh"), *args], capture_output=True,
                          text=True, timeout=60, env=env)  # fmt: skip


def test_from_refuses_a_release_that_does_not_match_its_sums(tmp_path) -> None:
    release = fake_release(tmp_path / "rel", "0" * 64 + "  wheels/exteros-0.1.0-py3-none-any.whl\n")
    proc = run_install("--from", str(release), env={**os.environ, "DESTDIR": str(tmp_path / "r")})
    assert proc.returncode == 1
    assert f"install.sh: error: {release} does not match its SHA256SUMS" in proc.stderr
    assert not (tmp_path / "r").exists(), "installed something from a damaged release"


def test_from_refuses_a_folder_that_is_no_release(tmp_path) -> None:
    proc = run_install("--from", str(tmp_path), env={**os.environ, "DESTDIR": str(tmp_path / "r")})
    assert proc.returncode == 1
    assert "is not a release (no SHA256SUMS or wheels/; build one with make dist)" in proc.stderr


def test_from_refuses_extras_the_release_lacks(tmp_path) -> None:
    wheel = b"not a wheel"
    release = fake_release(tmp_path / "rel", hashlib.sha256(wheel).hexdigest()
                           + "  wheels/exteros-0.1.0-py3-none-any.whl\n")  # fmt: skip
    (release / "manifest.json").write_text('{"extras": ["edge"]}')
    env = {**os.environ, "DESTDIR": str(tmp_path / "r"), "EXTEROS_PYTHON": base_python()}
    proc = run_install("--from", str(release), "--enable-central", "2", env=env)
    assert proc.returncode == 1
    assert "holds the wheels of [edge], not central" in proc.stderr
    assert not (tmp_path / "r").exists()
