"""MOTChallenge ground truth (``frame,id,x,y,w,h,conf,class,vis``) and seqinfo files."""

from __future__ import annotations

import configparser
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class GtBox:
    """One labelled person box. ``frame`` is 1-based; ``evaluate`` is False for conf=0 rows."""

    frame: int
    person: int
    x1: float
    y1: float
    x2: float
    y2: float
    evaluate: bool = True

    @property
    def feet(self) -> tuple[float, float]:
        return (self.x1 + self.x2) / 2.0, self.y2

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        return self.x1, self.y1, self.x2, self.y2


@dataclass(frozen=True, slots=True)
class SeqInfo:
    name: str
    fps: float
    length: int
    width: int
    height: int


class GtError(Exception):
    """A ground-truth or seqinfo file that cannot be used."""


def parse_gt(lines: Iterable[str], source: str = "gt") -> list[GtBox]:
    boxes: list[GtBox] = []
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(",")
        if len(parts) < 7:
            raise GtError(f"{source}:{n}: expected frame,id,x,y,w,h,conf[,class,vis]")
        try:
            frame, person = int(float(parts[0])), int(float(parts[1]))
            x, y, w, h, conf = (float(p) for p in parts[2:7])
            cls = int(float(parts[7])) if len(parts) > 7 else 1
        except ValueError:
            raise GtError(f"{source}:{n}: not a number in {line!r}") from None
        if cls != 1:  # MOT: only pedestrians are scored; other classes are not people
            continue
        boxes.append(GtBox(frame, person, x, y, x + w, y + h, conf > 0))
    return boxes


def load_gt(path: str | Path) -> list[GtBox]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise GtError(f"cannot read ground truth {p}: {exc.strerror}") from None
    return parse_gt(text.splitlines(), str(p))


def load_seqinfo(path: str | Path) -> SeqInfo:
    cp = configparser.ConfigParser()
    p = Path(path)
    if not cp.read(p, encoding="utf-8") or "Sequence" not in cp:
        raise GtError(f"no [Sequence] block in {p}")
    s = cp["Sequence"]
    try:
        return SeqInfo(s.get("name", p.stem), float(s["frameRate"]), int(s["seqLength"]),
                       int(s["imWidth"]), int(s["imHeight"]))  # fmt: skip
    except (KeyError, ValueError) as exc:
        raise GtError(f"{p}: missing or bad key {exc}") from None


def by_frame(boxes: Iterable[GtBox]) -> dict[int, list[GtBox]]:
    out: dict[int, list[GtBox]] = defaultdict(list)
    for b in boxes:
        out[b.frame].append(b)
    return out


def by_person(boxes: Iterable[GtBox]) -> dict[int, list[GtBox]]:
    out: dict[int, list[GtBox]] = defaultdict(list)
    for b in boxes:
        out[b.person].append(b)
    for seq in out.values():
        seq.sort(key=lambda b: b.frame)
    return out
