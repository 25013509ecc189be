"""The clips of a realclips folder and the zone configs that go with them."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from evaluation.gt import GtBox, SeqInfo, by_frame, load_gt, load_seqinfo
from evaluation.visits import Inside, Thresholds

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "bench" / "realclips"
ENV_CLIPS = "EXTEROS_REALCLIPS"


class ClipsError(Exception):
    """The clips or their zone configs are missing or unusable (one line for the user)."""


def default_clips_dir() -> Path:
    return Path(os.environ.get(ENV_CLIPS) or REPO.parent / "shared" / "data" / "realclips")


@dataclass(frozen=True)
class Zone:
    location: str
    inside: Inside
    rules: Thresholds


@dataclass
class Clip:
    name: str
    video: Path
    config: Path
    info: SeqInfo
    boxes: list[GtBox]
    zones: list[Zone] = field(default_factory=list)

    @property
    def gt_by_frame(self) -> dict[int, list[GtBox]]:
        return by_frame(self.boxes)


def load_zones(config: Path, width: int, height: int) -> list[Zone]:
    from edge.config import ConfigError, load_config
    from edge.geometry import PixelPolygon

    try:
        cfg = load_config(config)
    except ConfigError as exc:
        raise ClipsError(str(exc)) from None
    zones = []
    for z in cfg.cameras[0].zones:
        rules = Thresholds(z.confirm_s, z.discovery_s, z.engagement_s, z.exit_grace_s)
        zones.append(Zone(z.location, PixelPolygon(z.polygon, width, height).contains, rules))
    return zones


def find_clips(clips_dir: Path, configs_dir: Path = CONFIGS, only: list[str] | None = None):
    """Every ``NAME.gt.txt`` with its video, seqinfo and ``configs_dir/NAME.yaml``."""
    if not clips_dir.is_dir():
        raise ClipsError(f"realclips folder not found: {clips_dir} "
                         f"(set --clips or {ENV_CLIPS})")  # fmt: skip
    clips: list[Clip] = []
    for gt in sorted(clips_dir.glob("*.gt.txt")):
        name = gt.name.removesuffix(".gt.txt")
        if only and name not in only:
            continue
        seqinfo = clips_dir / f"{name}.seqinfo.ini"
        if not seqinfo.is_file():
            raise ClipsError(f"{name}: {seqinfo.name} is missing in {clips_dir}")
        info = load_seqinfo(seqinfo)
        video = next((p for p in (clips_dir / f"{name}.avi", clips_dir / f"{name}.mp4")
                      if p.is_file()), None)  # fmt: skip
        if video is None:
            raise ClipsError(f"{name}: no {name}.avi or .mp4 in {clips_dir}")
        config = configs_dir / f"{name}.yaml"
        if not config.is_file():
            raise ClipsError(f"{name}: no zone config {config}")
        clip = Clip(name, video, config, info, load_gt(gt))
        clip.zones = load_zones(config, info.width, info.height)
        clips.append(clip)
    if not clips:
        what = f" named {', '.join(only)}" if only else ""
        raise ClipsError(f"no clips{what} (NAME.gt.txt + NAME.avi) in {clips_dir}")
    return clips
