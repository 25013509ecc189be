#!/usr/bin/env python3
"""Build the offline install artifact for store devices: ``dist/exteros-edge-<version>/``.

    .venv/bin/python scripts/build_dist.py [--out dist] [--tar]      # `make dist`

The folder holds everything ``deploy/install.sh --from DIR`` needs, so a device installs
with no network:

- ``wheels/``: the Exteros wheel and every wheel of the ``edge`` extra's dependency
  closure (plus pip itself), binary only, for CPython 3.11 on manylinux x86_64. The
  versions are those of the running (development) venv, so the device gets exactly what
  the test suite ran with.
- ``models/``: the default OpenVINO exports made by ``make models`` (384x640, 736x1280
  for 720p/1080p, 704x928 for 4:3 SD), so no export happens on the device.
- ``deploy/`` (install.sh, units, configs), ``README.md``, ``docs/``.
- ``manifest.json`` (version, platform, packages, models) and ``SHA256SUMS`` over every
  file (``sha256sum -c SHA256SUMS``; install.sh checks it before installing).

It downloads from the package index (or pip's cache) once per build.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The exports a device uses with the default config (model.imgsz: auto or 384x640).
DEFAULT_MODELS = (
    "yolo11n-pose_openvino_model",
    "yolo11n-pose_736x1280_openvino_model",
    "yolo11n-pose_704x928_openvino_model",
)
# glibc 2.35 is the oldest of the supported systems (Ubuntu 22.04; Debian 12 has 2.36).
GLIBC = (2, 35)
ARCH = "x86_64"
PYTHON_VERSION = "3.11"
# Ignored by git but part of the package when present (built by scripts/build-dashboard.sh).
BUILT_PATHS = ("central/dashboard/static/vendor",)


class DistError(Exception):
    """Something the build needs is missing or failed; the message says what."""


def project_version(root: Path) -> str:
    data = tomllib.loads((root / "pyproject.toml").read_text())
    return str(data["project"]["version"])


def snapshot_source(root: Path, dest: Path) -> Path:
    """Copy the checkout's files (tracked and untracked, not ignored) into dest, so that the
    build never writes into the checkout and nobody's edits change it halfway."""
    if (root / ".git").exists():
        out = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=root,
                             capture_output=True, check=True).stdout  # fmt: skip
        names = [os.fsdecode(n) for n in out.split(b"\0") if n]
    else:
        skip = {".git", ".venv", "build", "dist", "models", "state", "node_modules"}
        names = [str(p.relative_to(root)) for p in root.rglob("*")
                 if p.is_file() and not skip & set(p.relative_to(root).parts)]  # fmt: skip
    for extra in BUILT_PATHS:
        if (root / extra).is_dir():
            names += [str(p.relative_to(root)) for p in (root / extra).rglob("*") if p.is_file()]
    for name in names:
        src = root / name
        if src.is_file() and "__pycache__" not in src.parts:
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    return dest


def pinned_versions(skip: str = "exteros") -> list[str]:
    """``name==version`` of every distribution in the running environment but ours."""
    pins = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name and name.lower() != skip:
            pins[name.lower()] = f"{name}=={dist.version}"
    return sorted(pins.values())


def platform_tags(glibc: tuple[int, int], arch: str) -> list[str]:
    """Every manylinux tag a system with this glibc runs, newest first (pip does not expand
    a --platform by itself)."""
    major, minor = glibc
    tags = [f"manylinux_{major}_{m}_{arch}" for m in range(minor, 4, -1)]
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    return tags + [f"{name}_{arch}" for m, name in legacy.items() if m <= minor]


def pip(*args: str) -> None:
    cmd = [sys.executable, "-m", "pip", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip()[-3000:]
        raise DistError(f"{' '.join(cmd[2:5])} ... failed:\n{tail}")


def check_models(models: Path, names: tuple[str, ...]) -> None:
    for name in names:
        folder = models / name
        if not (folder / "metadata.yaml").is_file() or not list(folder.glob("*.xml")):
            raise DistError(f"{folder} is missing or incomplete: run `make models` first")


def export_size(folder: Path) -> list[int] | None:
    """The [h, w] an export was made for (Ultralytics' metadata.yaml)."""
    import yaml

    size = (yaml.safe_load((folder / "metadata.yaml").read_text()) or {}).get("imgsz")
    return [int(v) for v in size] if isinstance(size, list) else None


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def git_commit(root: Path) -> str | None:
    proc = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        return None
    return proc.stdout.strip() or None


def wheel_packages(wheels: Path) -> dict[str, str]:
    """{project: version} from the wheel file names (name-version-...whl)."""
    out = {}
    for whl in sorted(wheels.glob("*.whl")):
        name, version = whl.name.split("-")[:2]
        out[name.replace("_", "-").lower()] = version
    return out


def build(out: Path, models: Path, extras: str, glibc: tuple[int, int], pin: bool) -> Path:
    version = project_version(ROOT)
    dest = out / f"exteros-edge-{version}"
    check_models(models, DEFAULT_MODELS)
    if dest.exists():
        shutil.rmtree(dest)
    wheels = dest / "wheels"
    wheels.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="exteros-dist-") as tmp:
        src = snapshot_source(ROOT, Path(tmp) / "src")
        # our wheel, with this venv's setuptools (no build environment to download)
        pip("wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(src))
        (ours,) = wheels.glob("exteros-*.whl")
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text("\n".join(pinned_versions()) + "\n" if pin else "")
        platforms = [a for tag in platform_tags(glibc, ARCH) for a in ("--platform", tag)]
        pip("download", "-q", "--dest", str(wheels), "--only-binary=:all:", *platforms,
            "--python-version", PYTHON_VERSION,
            "--implementation", "cp", "--abi", "cp" + PYTHON_VERSION.replace(".", ""),
            "-c", str(constraints), f"exteros[{extras}] @ {ours.as_uri()}", "pip")  # fmt: skip
        shutil.copytree(src / "deploy", dest / "deploy")
        shutil.copytree(src / "docs", dest / "docs", ignore=shutil.ignore_patterns("img"))
        shutil.copy2(src / "README.md", dest / "README.md")
    (dest / "deploy" / "install.sh").chmod(0o755)
    for name in DEFAULT_MODELS:
        shutil.copytree(models / name, dest / "models" / name,
                        ignore=shutil.ignore_patterns(".*", "__pycache__"))  # fmt: skip
    manifest = {
        "name": "exteros-edge",
        "version": version,
        "git_commit": git_commit(ROOT),
        "python": PYTHON_VERSION,
        "platform": f"manylinux_{glibc[0]}_{glibc[1]}_{ARCH}",
        "extras": extras.split(","),
        "install": "sudo deploy/install.sh --from . (see docs/deployment.md)",
        "packages": wheel_packages(wheels),
        "models": {
            name: {"imgsz": export_size(dest / "models" / name)} for name in DEFAULT_MODELS
        },  # fmt: skip
    }
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    files = sorted(p for p in dest.rglob("*") if p.is_file() and p.name != "SHA256SUMS")
    sums = "".join(f"{sha256(p)}  {p.relative_to(dest).as_posix()}\n" for p in files)
    (dest / "SHA256SUMS").write_text(sums)
    return dest


def make_tar(dest: Path) -> Path:
    """An uncompressed tar (the wheels are zips already), owner and order fixed."""
    tar = dest.with_name(dest.name + ".tar")
    subprocess.run(["tar", "--sort=name", "--owner=0", "--group=0", "--numeric-owner",
                    "-cf", str(tar), "-C", str(dest.parent), dest.name], check=True)  # fmt: skip
    return tar


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def glibc_version(value: str) -> tuple[int, int]:
    """'2.35' -> (2, 35), for argparse."""
    parts = value.split(".")
    if len(parts) != 2 or not all(v.isdigit() for v in parts):
        raise argparse.ArgumentTypeError(f"{value!r} is not MAJOR.MINOR (e.g. 2.35)")
    return int(parts[0]), int(parts[1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="build_dist.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "dist", help="output folder (dist/)")
    p.add_argument("--models", type=Path, default=ROOT / "models",
                   help="where `make models` put the exports (models/)")  # fmt: skip
    p.add_argument("--extras", default="edge", help="extras of the device role (edge)")
    p.add_argument(
        "--glibc",
        type=glibc_version,
        default=GLIBC,
        help=f"oldest glibc of the devices ({GLIBC[0]}.{GLIBC[1]}): newer manylinux wheels are "
        "left out",
    )
    p.add_argument("--no-pin", action="store_true",
                   help="newest matching versions instead of this venv's")  # fmt: skip
    p.add_argument("--tar", action="store_true", help="also write <folder>.tar")
    args = p.parse_args(argv)
    try:
        dest = build(args.out.resolve(), args.models.resolve(), args.extras, args.glibc,
                     pin=not args.no_pin)  # fmt: skip
    except DistError as exc:
        print(f"build_dist.py: error: {exc}", file=sys.stderr)
        return 1
    n = len(list((dest / "wheels").glob("*.whl")))
    print(f"{dest}: {n} wheels, {du(dest / 'wheels') / 1e6:.0f} MB; "
          f"models {du(dest / 'models') / 1e6:.0f} MB; total {du(dest) / 1e6:.0f} MB")  # fmt: skip
    if args.tar:
        print(make_tar(dest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
