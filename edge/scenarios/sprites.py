"""Person sprites cut out of real photographs shipped inside installed packages.

Each sprite is a BGRA image (alpha = person mask) cut with ``cv2.grabCut``
initialised from the person box the YOLO11n-pose model finds on the photo. The
boxes and the keypoints used for planning (wrist, shoulder) are recorded here
so that generation does not need the model; the cut-outs are cached on disk.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np


@dataclass(frozen=True)
class SpriteSource:
    """A person in a photo: the model's box and the keypoints the generator plans with."""

    name: str
    package: str
    relpath: str
    box: tuple[int, int, int, int]  # x1, y1, x2, y2 from yolo11n-pose on the photo
    # Keypoints in photo pixels (COCO index -> (x, y)), only those the generator uses.
    keypoints: dict[int, tuple[float, float]]
    # Hand-picked seeds for grabCut (photo pixels): certain background polygons (a stranger's
    # hand, a bollard between the legs) and certain foreground ellipses (shoes on dark paving).
    background: tuple[tuple[tuple[int, int], ...], ...] = ()
    shoes: tuple[tuple[int, int, int, int], ...] = ()  # cx, cy, rx, ry


# Boxes and keypoints (COCO order, None where the model was not confident) measured with
# models/yolo11n-pose.pt at imgsz 640 on the photos. Only full-body people are used: the
# others shipped in packages (zidane.jpg, skimage astronaut, matplotlib grace_hopper) are
# cut off above the knees, so they have no feet point to test against a floor zone.
_COAT_KPS = [(142, 442), (148, 431), (131, 433), None, (107, 441), (157, 493), (94, 499),
             (176, 551), (111, 568), (174, 532), (162, 534), (149, 645), (100, 649),
             (179, 749), (95, 757), (186, 850), (74, 858)]  # fmt: skip
_BLACK_KPS = [(293, 451), (298, 442), (283, 443), (304, 446), (265, 449), (318, 495),
              (251, 499), (329, 554), (251, 575), (279, 535), (252, 616), (303, 630),
              (259, 630), (301, 724), (261, 718), (288, 806), (261, 805)]  # fmt: skip

SOURCES: dict[str, SpriteSource] = {
    # Man in a cream fleece coat, facing the camera, hands together at the chest.
    "coat": SpriteSource(
        "coat",
        "ultralytics",
        "assets/bus.jpg",
        (48, 400, 244, 912),
        {i: p for i, p in enumerate(_COAT_KPS) if p is not None},
        background=(
            ((30, 715), (62, 715), (62, 825), (30, 825)),
            ((107, 690), (120, 690), (150, 830), (107, 830)),
            ((110, 840), (168, 840), (168, 912), (110, 912)),
        ),
        shoes=((78, 875, 26, 22), (205, 880, 32, 20)),
    ),
    # Man in a black coat and red shirt; his right arm hangs along his side.
    "black": SpriteSource(
        "black",
        "ultralytics",
        "assets/bus.jpg",
        (223, 405, 344, 868),
        {i: p for i, p in enumerate(_BLACK_KPS) if p is not None},
        shoes=((272, 840, 18, 16), (289, 800, 10, 12)),
    ),
}

# COCO skeleton limbs used to seed grabCut with certain foreground.
_LIMBS = [(5, 6), (5, 7), (7, 9), (6, 8), (8, 10), (5, 11), (6, 12), (11, 12), (11, 13),
          (13, 15), (12, 14), (14, 16), (0, 5), (0, 6), (1, 2), (3, 4), (1, 3), (2, 4)]  # fmt: skip


@dataclass
class Sprite:
    """A cut-out person: BGRA pixels cropped to the mask's bounding box."""

    name: str
    rgba: np.ndarray  # H x W x 4, alpha 0/255 (feathered edge)
    # Keypoints relative to the crop (x, y in pixels of ``rgba``).
    keypoints: dict[int, tuple[float, float]]

    @property
    def height(self) -> int:
        return int(self.rgba.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgba.shape[1])


def _package_file(package: str, relpath: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {package!r} is not installed (needed for {relpath})")
    path = Path(next(iter(spec.submodule_search_locations))) / relpath
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed {package!r}")
    return path


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "exteros" / "sprites"


def _cut(src: SpriteSource) -> Sprite:
    path = _package_file(src.package, src.relpath)
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"cannot read sprite source image {path}")
    h, w = img.shape[:2]
    x1, y1, x2, y2 = src.box
    pad = 12
    rx1, ry1 = max(x1 - pad, 0), max(y1 - pad, 0)
    rx2, ry2 = min(x2 + pad, w), min(y2 + pad, h)
    # grabCut seeds its GMMs with k-means on OpenCV's global RNG: fix it for determinism.
    cv2.setRNGSeed(0)
    # Seed: outside the padded box is background, the skeleton is certain foreground, a
    # band around it probable foreground, the rest of the box probably background.
    mask = np.full((h, w), cv2.GC_BGD, np.uint8)
    mask[ry1:ry2, rx1:rx2] = cv2.GC_PR_BGD
    height = y2 - y1
    kp = src.keypoints
    band = np.zeros((h, w), np.uint8)
    core = np.zeros((h, w), np.uint8)
    for a, b in _LIMBS:
        if a in kp and b in kp:
            pa = tuple(int(v) for v in kp[a])
            pb = tuple(int(v) for v in kp[b])
            cv2.line(band, pa, pb, 255, max(int(0.16 * height), 3))
            cv2.line(core, pa, pb, 255, max(int(0.025 * height), 2))
    if 0 in kp:  # the head: a disc above the nose
        cx, cy = (int(v) for v in kp[0])
        cv2.circle(band, (cx, cy - int(0.02 * height)), int(0.07 * height), 255, -1)
        cv2.circle(core, (cx, cy), int(0.03 * height), 255, -1)
    for ankle in (15, 16):  # the shoes, below the ankles
        if ankle in kp:
            ax, ay = (int(v) for v in kp[ankle])
            cv2.ellipse(band, (ax, ay + int(0.04 * height)), (int(0.07 * height),
                        int(0.06 * height)), 0, 0, 360, 255, -1)  # fmt: skip
    inside = np.zeros((h, w), bool)
    inside[ry1:ry2, rx1:rx2] = True
    mask[(band > 0) & inside] = cv2.GC_PR_FGD
    mask[(core > 0) & inside] = cv2.GC_FGD
    seeds = np.zeros((h, w), np.uint8)
    for cx, cy, ex, ey in src.shoes:
        cv2.ellipse(seeds, (cx, cy), (ex, ey), 0, 0, 360, 255, -1)
    mask[seeds > 0] = cv2.GC_FGD
    for poly in src.background:
        cv2.fillPoly(mask, [np.array(poly, np.int32)], cv2.GC_BGD)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    # rect is unused with GC_INIT_WITH_MASK; OpenCV's stubs do not allow None for it
    cv2.grabCut(img, mask, None, bgd, fgd, 6, cv2.GC_INIT_WITH_MASK)  # type: ignore[call-overload]
    fg: np.ndarray = np.where((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD), 255, 0).astype(
        np.uint8
    )
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg)
    if n > 1:
        keep = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        fg = np.where(labels == keep, 255, 0).astype(np.uint8)
    # Fill holes (between arm and body grabCut sometimes leaves background inside).
    contours, _ = cv2.findContours(fg, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    fg = np.zeros_like(fg)
    cv2.drawContours(fg, contours, -1, 255, thickness=cv2.FILLED)
    ys, xs = np.nonzero(fg)
    bx1, by1, bx2, by2 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    crop = img[by1:by2, bx1:bx2]
    alpha = cv2.GaussianBlur(fg[by1:by2, bx1:bx2], (3, 3), 0)
    rgba = np.dstack([crop, alpha])
    kps = {i: (x - bx1, y - by1) for i, (x, y) in src.keypoints.items()}
    return Sprite(src.name, rgba, kps)


@cache
def load_sprite(name: str) -> Sprite:
    """The sprite ``name`` from SOURCES, cut once and cached as PNG under the user cache."""
    src = SOURCES[name]
    key = hashlib.sha256(repr(src).encode()).hexdigest()[:12]
    path = cache_dir() / f"{name}-{key}.png"
    if path.is_file():
        rgba = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        meta = path.with_suffix(".npy")
        if rgba is not None and rgba.shape[2] == 4 and meta.is_file():
            arr = np.load(meta)
            return Sprite(name, rgba, {int(i): (float(x), float(y)) for i, x, y in arr})
    sprite = _cut(src)
    try:  # the cache is an optimisation: a read-only home must not stop generation
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.stem + f".{os.getpid()}.tmp.png")
        cv2.imwrite(str(tmp), sprite.rgba)
        kps = [(i, x, y) for i, (x, y) in sprite.keypoints.items()]
        np.save(path.with_suffix(".npy"), np.array(kps, dtype=np.float64))
        os.replace(tmp, path)
    except OSError:
        pass
    return sprite
