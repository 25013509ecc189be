"""Helpers for tests that install into a temporary root: tree snapshots, the interpreter,
``systemd-analyze verify`` on the installed units."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.deploy.units import UNITS

EXCLUDE_DIRS = {"__pycache__", ".cache", "pip-cache"}


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


def tree_diff(first: dict[str, str], second: dict[str, str]) -> tuple[list[str], ...]:
    """(added, removed, changed) paths from first to second."""
    added = sorted(set(second) - set(first))
    removed = sorted(set(first) - set(second))
    changed = sorted(k for k in set(first) & set(second) if first[k] != second[k])
    return added, removed, changed


def base_python() -> str:
    return getattr(sys, "_base_executable", None) or sys.executable


def systemd_analyze_verify(dest: Path, scratch: Path) -> subprocess.CompletedProcess[str]:
    """`systemd-analyze verify --root=` checks every key and that ExecStart/ExecReload exist
    inside the installed tree. The root gets the host's stock units (sysinit.target, ...)
    and /bin/kill, which a real system has."""
    root = scratch / "root"
    # the venv's libraries are not needed: only that the ExecStart= scripts exist
    shutil.copytree(dest, root, symlinks=True, ignore=shutil.ignore_patterns("site-packages"))
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True,
                    dirs_exist_ok=True)  # fmt: skip
    (root / "usr/bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(shutil.which("kill") or "/bin/kill", root / "usr/bin/kill")
    if not (root / "bin").exists():
        (root / "bin").symlink_to("usr/bin")
    names = [n.replace("@.service", "@1.service") for n in UNITS]
    return subprocess.run(["systemd-analyze", "verify", f"--root={root}", *names],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
