"""Round-trip editing of the edge YAML: change zones, keep everything else.

The file is read with ruamel.yaml's round-trip loader so comments, key order
and unrelated keys survive a save. Every save is validated by the edge's own
models (``edge.config.parse_config``) before anything touches the disk, and the
previous file is kept next to it as ``FILE.bak``.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from edge.config import ConfigError, EdgeConfig, ZoneConfig, parse_config

THRESHOLDS = ("confirm_s", "discovery_s", "engagement_s", "exit_grace_s", "interaction_s")
DECIMALS = 4  # 0.1 px on a 1000 px frame


def threshold_defaults() -> dict[str, float]:
    return {name: ZoneConfig.model_fields[name].default for name in THRESHOLDS}


def threshold_descriptions() -> dict[str, str]:
    return {name: ZoneConfig.model_fields[name].description or "" for name in THRESHOLDS}


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096  # keep a polygon on one line
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + ".bak")


class ConfigDocument:
    """The edge YAML as a round-trip document, plus the validated config it stands for."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self.text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError([f"config file not found: {self.path}"]) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError([f"cannot read config file {self.path}: {exc}"]) from None
        try:
            self.doc = _yaml().load(self.text)
        except Exception as exc:  # ruamel raises several unrelated error types
            raise ConfigError([f"invalid YAML: {exc}"], str(self.path)) from None
        self.config = self._lenient()

    def dump(self) -> str:
        buf = io.StringIO()
        _yaml().dump(self.doc, buf)
        return buf.getvalue()

    def validate(self) -> EdgeConfig:
        """The document through the edge's own models; ConfigError lists every problem."""
        return parse_config(yaml.safe_load(self.dump()), str(self.path))

    def _lenient(self) -> EdgeConfig:
        """Like validate, but a camera without zones yet (a fresh install) is allowed.

        The edge needs at least one zone per camera, and a save still does; the
        editor must open such a file all the same, or nobody could draw the first.
        """
        data = yaml.safe_load(self.dump())
        try:
            return parse_config(data, str(self.path))
        except ConfigError:
            cams = (data.get("cameras") if isinstance(data, dict) else None) or []
            empty = [i for i, c in enumerate(cams) if isinstance(c, dict) and not c.get("zones")]
            if not empty:
                raise
        for i in empty:
            cams[i]["zones"] = [{"location": "placeholder", "polygon": [[0, 0], [1, 0], [0, 1]]}]
        cfg = parse_config(data, str(self.path))  # every other problem still counts
        for i in empty:
            cfg.cameras[i].zones = []
        return cfg

    def _camera_map(self, camera_id: str) -> CommentedMap:
        for cam in self.doc.get("cameras") or []:
            if isinstance(cam, CommentedMap) and cam.get("camera_id") == camera_id:
                return cam
        raise ConfigError([f"camera {camera_id!r} is not in the config"], str(self.path))

    def set_zones(self, camera_id: str, zones: list[dict[str, Any]]) -> None:
        """Replace a camera's zones; entries that already existed keep their comments."""
        cam = self._camera_map(camera_id)
        old = cam.get("zones")
        old_list = list(old) if isinstance(old, list) else []
        by_location = {z.get("location"): z for z in old_list if isinstance(z, CommentedMap)}
        new_locations = {z.get("location") for z in zones}
        defaults = threshold_defaults()
        out: list[CommentedMap] = []
        for i, zone in enumerate(zones):
            target = by_location.get(zone.get("location"))
            # A renamed zone: reuse the entry at the same place unless that one is kept.
            if (
                target is None
                and i < len(old_list)
                and isinstance(old_list[i], CommentedMap)
                and old_list[i].get("location") not in new_locations
            ):
                target = old_list[i]
            if target is None or any(target is o for o in out):
                target = CommentedMap()
            _fill_zone(target, zone, defaults)
            out.append(target)
        if isinstance(old, CommentedSeq):
            old.clear()
            old.extend(out)
        else:
            cam["zones"] = CommentedSeq(out)

    def set_ground_plane(self, camera_id: str, ground_plane: dict[str, Any] | None) -> None:
        cam = self._camera_map(camera_id)
        if ground_plane is None:
            cam.pop("ground_plane", None)
            return
        gp = cam.get("ground_plane")
        if not isinstance(gp, CommentedMap):
            gp = CommentedMap()
            cam["ground_plane"] = gp
        gp["image"] = _flow([_flow([_round(v) for v in p]) for p in ground_plane["image"]])
        gp["floor_m"] = _flow([_flow([float(v) for v in p]) for p in ground_plane["floor_m"]])

    def save(self) -> Path:
        """Validate, keep the previous file as FILE.bak, write atomically; returns the backup."""
        text = self.dump()
        self.config = parse_config(yaml.safe_load(text), str(self.path))
        backup = backup_path(self.path)
        shutil.copy2(self.path, backup)
        fd, tmp = tempfile.mkstemp(prefix=self.path.name + ".", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            shutil.copymode(self.path, tmp)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.text = text
        return backup


def _round(v: Any) -> Any:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return v  # not a number: the edge models say so, with its path
    r = round(float(v), DECIMALS)
    return int(r) if r.is_integer() else r


def _flow(items: list[Any]) -> CommentedSeq:
    seq = CommentedSeq(items)
    seq.fa.set_flow_style()
    return seq


def _polygon(points: Any) -> Any:
    if not isinstance(points, list):
        return points  # let the edge models report it
    return _flow([_flow([_round(v) for v in p]) if isinstance(p, list) else p for p in points])


def _fill_zone(target: CommentedMap, zone: dict[str, Any], defaults: dict[str, float]) -> None:
    known = {"location", "polygon", "product_areas", *THRESHOLDS}
    target["location"] = zone.get("location")
    target["polygon"] = _polygon(zone.get("polygon"))
    areas = zone.get("product_areas") or []
    if areas or "product_areas" in target:
        seq = CommentedSeq([_polygon(a) for a in areas])
        if not areas:
            seq.fa.set_flow_style()
        target["product_areas"] = seq
    for name in THRESHOLDS:
        if name not in zone:
            continue
        value = zone[name]
        # Write a threshold only when it says something: not default, or already in the file.
        if name in target or value != defaults[name]:
            target[name] = value
    for key, value in zone.items():
        if key not in known:
            target[key] = value  # unknown keys go through so the edge models can refuse them
