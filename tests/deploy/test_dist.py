"""The offline release for store devices, for real: `scripts/build_dist.py` (`make dist`)
builds it, `install.sh --from DIR` installs it into a temporary root with the network cut
(a network namespace where this runs as root), and the installed venv checks a config and
replays a video with the release's OpenVINO export.

Needs the exports `make models` makes (so marked `model`, like the other tests that run
the model); building the release downloads the `edge` wheels once (pip's cache keeps them).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.device import DEVICE_FREE_OF, START, edge_config, write_config, write_video
from tests.deploy.staging import base_python, systemd_analyze_verify, tree, tree_diff
from tests.deploy.units import UNITS

pytestmark = [pytest.mark.model, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parents[2]
MODELS = ("yolo11n-pose_openvino_model", "yolo11n-pose_736x1280_openvino_model",
          "yolo11n-pose_704x928_openvino_model")  # fmt: skip
DEVICE_VENV_MAX_BYTES = 1_500_000_000  # the development venv is about 7 GB (PyTorch)


def offline() -> list[str]:
    """A command prefix that runs without any network, or [] where none can be made (then
    only install.sh's own --no-index keeps pip away from the network)."""
    if shutil.which("unshare") is None:
        return []
    for prefix in (["unshare", "-n"], ["unshare", "-rn"]):  # as root; in a user namespace
        if subprocess.run([*prefix, "true"], capture_output=True).returncode == 0:
            return prefix
    return []


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "build_dist.py"), "--out",
                           str(out)], capture_output=True, text=True, timeout=1200)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    (dest,) = out.glob("exteros-edge-*")
    return dest


@pytest.fixture(scope="module")
def device(release, tmp_path_factory):
    """Install twice into one root, offline; returns (root, tree after 1st, after 2nd, logs)."""
    root = tmp_path_factory.mktemp("device") / "root"
    env = {**os.environ, "DESTDIR": str(root), "EXTEROS_PYTHON": base_python()}
    trees, logs = [], []
    for _ in range(2):
        proc = subprocess.run([*offline(), "bash", str(release / "deploy" / "install.sh"),
                               "--from", str(release)], env=env, capture_output=True, text=True,
                              timeout=900)  # fmt: skip
        logs.append(proc.stdout + proc.stderr)
        assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
        trees.append(tree(root))
    return root, trees, logs


def site_packages(root: Path) -> Path:
    (site,) = (root / "opt/exteros/venv/lib").glob("python3.*/site-packages")
    return site


def installed_names(root: Path) -> set[str]:
    dists = importlib.metadata.distributions(path=[str(site_packages(root))])
    return {d.metadata["Name"].lower().replace("_", "-") for d in dists}


def device_python(root: Path) -> list[str]:
    """The installed `exteros-edge` (its #! names /opt/exteros: run it with the venv's python)."""
    venv = root / "opt/exteros/venv"
    return [str(venv / "bin/python"), str(venv / "bin/exteros-edge")]


# -- the release ---------------------------------------------------------------------------------
def test_release_matches_its_sha256sums(release) -> None:
    proc = subprocess.run(["sha256sum", "--quiet", "--strict", "-c", "SHA256SUMS"], cwd=release,
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    listed = {line.split("  ", 1)[1] for line in (release / "SHA256SUMS").read_text().splitlines()}
    files = {p.relative_to(release).as_posix() for p in release.rglob("*") if p.is_file()}
    assert listed == files - {"SHA256SUMS"}


def test_release_holds_the_edge_wheels_for_cpython_311_manylinux(release) -> None:
    manifest = json.loads((release / "manifest.json").read_text())
    assert manifest["extras"] == ["edge"] and manifest["python"] == "3.11"
    packages = manifest["packages"]
    assert packages["exteros"] == manifest["version"]
    assert {"openvino", "trackers", "paho-mqtt", "numpy", "opencv-python", "pip"} <= set(packages)
    assert DEVICE_FREE_OF.isdisjoint(packages), sorted(DEVICE_FREE_OF & set(packages))
    for whl in (release / "wheels").glob("*.whl"):
        _, _, py, abi, plat = whl.name.removesuffix(".whl").rsplit("-", 4)
        assert py in ("py3", "py2.py3") or re.fullmatch(r"cp3\d+", py), whl.name
        assert abi in ("none", "abi3", "cp311"), whl.name
        assert plat == "any" or all(
            re.fullmatch(r"manylinux(_2_\d+|2014|2010|1)_x86_64", p) for p in plat.split(".")
        ), whl.name


def test_release_holds_the_default_exports_and_the_deploy_files(release) -> None:
    manifest = json.loads((release / "manifest.json").read_text())
    assert manifest["models"] == {
        "yolo11n-pose_openvino_model": {"imgsz": [384, 640]},
        "yolo11n-pose_736x1280_openvino_model": {"imgsz": [736, 1280]},
        "yolo11n-pose_704x928_openvino_model": {"imgsz": [704, 928]},
    }
    for name in MODELS:
        assert list((release / "models" / name).glob("*.bin")), name
    for unit in UNITS:
        assert (release / "deploy" / unit).is_file()
    assert os.access(release / "deploy" / "install.sh", os.X_OK)
    assert (release / "docs" / "deployment.md").is_file()


# -- the device installed from it ----------------------------------------------------------------
def test_install_from_the_release_twice_gives_the_same_tree(device) -> None:
    root, (first, second), logs = device
    assert "(offline)" in logs[0]
    assert tree_diff(first, second) == ([], [], [])


def test_device_venv_has_no_pytorch_server_or_database(device) -> None:
    root, *_ = device
    names = installed_names(root)
    assert {"exteros", "openvino", "trackers", "paho-mqtt"} <= names
    assert DEVICE_FREE_OF.isdisjoint(names), sorted(DEVICE_FREE_OF & names)
    size = sum(p.stat().st_size for p in (root / "opt/exteros/venv").rglob("*") if p.is_file())
    assert size < DEVICE_VENV_MAX_BYTES, f"device venv {size / 1e6:.0f} MB"


def test_device_has_the_releases_exports_and_no_weights_to_export(device, release) -> None:
    root, *_ = device
    models = root / "opt/exteros/models"
    assert sorted(p.name for p in models.iterdir()) == sorted(MODELS)  # no .pt was fetched
    for name in MODELS:
        ours = tree(release / "models" / name)
        theirs = tree(models / name)
        assert {k: v.split()[0] for k, v in theirs.items()} == {
            k: v.split()[0] for k, v in ours.items()
        }, name
        assert all(v == "dir" or v.endswith(" 100644") for v in theirs.values()), theirs


def test_installed_check_config(device) -> None:
    root, *_ = device
    cfg = root / "etc/exteros/edge.yaml"
    proc = subprocess.run([*device_python(root), "check-config", str(cfg)], cwd=root,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"{cfg}: OK" in proc.stdout


def test_installed_replay_counts_people_offline_with_the_release_export(device, tmp_path) -> None:
    root, *_ = device
    video = write_video(tmp_path / "people.avi")
    config = write_config(tmp_path / "edge.yaml", edge_config(tmp_path))
    events = tmp_path / "events.jsonl"
    exports = tmp_path / "exports"  # where a missing size would be exported: must stay empty
    env = {
        **os.environ,
        "EXTEROS_MODELS_DIR": str(root / "opt/exteros/models"),
        "EXTEROS_EXPORTS_DIR": str(exports),
        "HOME": str(tmp_path),
        "YOLO_OFFLINE": "1",
    }
    proc = subprocess.run([*offline(), *device_python(root), "replay", str(video), "--config",
                           str(config), "--no-mqtt", "--events-out", str(events), "--quiet",
                           "--start", START], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    payloads = [json.loads(line) for line in events.read_text().splitlines()]
    kinds = {p.get("kind") for p in payloads if p["schema"] == "exteros.event/1"}
    assert "impression" in kinds, payloads
    assert any(p["schema"] == "exteros.visit/1" for p in payloads), payloads
    assert not exports.exists() or not any(exports.iterdir()), "the device exported a model"


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (apt-get install systemd)",
)
def test_systemd_analyze_verify_on_the_device(device, tmp_path) -> None:
    root, *_ = device
    proc = systemd_analyze_verify(root, tmp_path)
    assert (proc.returncode, proc.stdout + proc.stderr) == (0, "")
