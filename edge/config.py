"""Edge configuration: one YAML file plus ``EXTEROS_*`` environment overrides.

Every model forbids unknown keys and every field says what it is for. A bad
file fails with *every* error, each with its path in the file
(``cameras[0].zones[1].polygon: needs at least 3 points``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from edge.geometry import Point, validate_relative_polygon
from exteros.contract import Slug

if TYPE_CHECKING:
    # what a validated polygon holds; the input side below also takes lists of any length so
    # the validator can name a bad point itself
    RelPolygon = list[Point]
else:
    RelPolygon = Annotated[
        list[tuple[float, float]] | list[list[float]],
        AfterValidator(validate_relative_polygon),
    ]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ZoneConfig(Strict):
    """One image region of a camera that maps to a location."""

    location: Slug = Field(description="location slug counted for people whose feet are inside")
    polygon: RelPolygon = Field(
        description="zone outline, [x, y] pairs relative to width/height (0..1); "
        "tested on the feet point (bottom centre of the person's box)"
    )
    product_areas: list[RelPolygon] = Field(
        default_factory=list,
        description="relative polygons where a wrist counts as touching a product",
    )
    confirm_s: float = Field(
        default=0.5, ge=0, le=60, description="seen this long before a visit counts (impression)"
    )
    discovery_s: float = Field(default=3.0, gt=0, le=3600, description="dwell for a discovery")
    engagement_s: float = Field(default=10.0, gt=0, le=3600, description="dwell for an engagement")
    exit_grace_s: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description="unseen/outside this long ends the visit; shorter gaps continue it",
    )
    interaction_s: float = Field(
        default=0.2,
        ge=0,
        le=60,
        description="a visible hand in a product area this long, the person about still, "
        "= interaction (0.2 s: 3 processed frames at 8 fps, so a brief touch counts)",
    )

    @model_validator(mode="after")
    def _funnel(self) -> ZoneConfig:
        if self.discovery_s < self.confirm_s:
            raise ValueError("discovery_s must be >= confirm_s (counts form a funnel)")
        if self.engagement_s < self.discovery_s:
            raise ValueError("engagement_s must be >= discovery_s (counts form a funnel)")
        return self


class GroundPlaneConfig(Strict):
    """Four image points and where they lie on the floor: an image->floor homography."""

    image: list[tuple[float, float]] = Field(
        min_length=4, max_length=4, description="4 [x, y] image points relative to width/height"
    )
    floor_m: list[tuple[float, float]] = Field(
        min_length=4, max_length=4, description="the same 4 points on the floor, [X, Y] in metres"
    )

    @model_validator(mode="after")
    def _usable(self) -> GroundPlaneConfig:
        for name, pts in (("image", self.image), ("floor_m", self.floor_m)):
            if name == "image" and not all(0 <= v <= 1 for p in pts for v in p):
                raise ValueError("image points must be relative (0..1)")
            # A homography needs 4 points with no 3 on one line.
            for i in range(4):
                a, b, c = (pts[j] for j in range(4) if j != i)
                if abs((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])) < 1e-9:
                    raise ValueError(f"{name}: 3 of the 4 points lie on one line")
        return self


DEFAULT_MIN_PERSON_PX = 40.0


class CameraConfig(Strict):
    """One camera and its zones."""

    camera_id: Slug = Field(description="camera slug, unique on the device")
    source: int | str = Field(
        description="video file path, USB camera index or /dev/videoN, or rtsp://, http(s):// URL"
    )
    fps: float | None = Field(
        default=None, gt=0, le=240, description="frame rate when the source does not report one"
    )
    loop: bool = Field(
        default=False, description="run: play a video file again from the start at its end"
    )
    zones: list[ZoneConfig] = Field(min_length=1, description="zones mapped to locations")
    ground_plane: GroundPlaneConfig | None = Field(
        default=None, description="optional floor calibration: zone areas in m², walking speed"
    )
    min_person_px: float = Field(
        default=DEFAULT_MIN_PERSON_PX,
        ge=8,
        le=4000,
        description="height in camera pixels of the smallest (farthest) person to count; "
        "with model.imgsz auto the model input is scaled so such a person is found",
    )
    view: Literal["angled", "overhead"] = Field(
        default="angled",
        description="angled: a wall camera looking across the floor (zones are tested on "
        "the feet, the box bottom); overhead: a ceiling camera looking straight down "
        "(tested on the box centre)",
    )
    track_conf: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="detection confidence that starts and keeps a track on this camera; "
        "default model.conf; lower (e.g. 0.15) keeps bending shoppers on overhead cameras",
    )
    store: Slug | None = Field(
        default=None,
        description="store location this camera also counts: a person seen in any of its "
        "zones is one visit to the store (the union of the zones), with its own four kinds",
    )
    count_store: bool = Field(
        default=True,
        description="with store: count store visits on this camera; false on a camera whose "
        "view overlaps one that already counts the store, so nobody is counted twice",
    )

    @field_validator("source")
    @classmethod
    def _source(cls, value: int | str) -> int | str:
        if isinstance(value, str):
            value = value.strip()
            if not value:
                raise ValueError("is empty")
            if value.isdigit():
                return int(value)
        elif value < 0:
            raise ValueError("a camera index must be >= 0")
        return value

    @model_validator(mode="after")
    def _unique_locations(self) -> CameraConfig:
        seen: set[str] = set()
        for zone in self.zones:
            if zone.location in seen:
                raise ValueError(f"location {zone.location!r} has two zones on this camera")
            seen.add(zone.location)
        return self

    @field_validator("store")
    @classmethod
    def _store(cls, value: str | None, info: ValidationInfo) -> str | None:
        zones = info.data.get("zones") or []
        if value is not None and value in {z.location for z in zones}:
            raise ValueError(
                f"{value!r} is also a zone's location on this camera; the store counts the "
                f"union of the zones, so name that zone for its part of the store "
                f"(e.g. {value + '.floor'!r})"
            )
        return value

    @field_validator("count_store")
    @classmethod
    def _count_store(cls, value: bool, info: ValidationInfo) -> bool:
        # runs only when the key is given; false without store switches nothing off (true,
        # the default, is what a dumped config repeats, so it stays allowed)
        if not value and "store" in info.data and info.data["store"] is None:
            raise ValueError("needs a store: key naming the store location this camera counts")
        return value

    @property
    def counted_store(self) -> str | None:
        """The store location whose visits this camera counts, if any."""
        return self.store if self.count_store else None

    def locations(self) -> list[str]:
        """Every location this camera produces events for: its zones, then its store."""
        zones = [z.location for z in self.zones]
        return zones + ([self.counted_store] if self.counted_store else [])


class TlsConfig(Strict):
    """TLS towards the broker."""

    ca_file: Path = Field(description="CA certificate(s) that signed the broker's certificate")
    cert_file: Path | None = Field(default=None, description="client certificate (optional)")
    key_file: Path | None = Field(default=None, description="client private key (optional)")

    @model_validator(mode="after")
    def _pair(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        return self


class MqttConfig(Strict):
    """Broker connection. The password comes from a file or systemd credentials."""

    enabled: bool = Field(default=True, description="publish to MQTT at all")
    host: str = Field(default="127.0.0.1", min_length=1, description="broker host")
    port: int = Field(default=1883, ge=1, le=65535, description="broker port")
    username: str | None = Field(default=None, description="defaults to the device_id")
    password: SecretStr | None = Field(
        default=None, description="prefer password_file or $CREDENTIALS_DIRECTORY/mqtt-password"
    )
    password_file: Path | None = Field(default=None, description="file holding the password")
    tls: TlsConfig | None = Field(default=None, description="TLS settings; plain TCP when absent")
    keepalive_s: int = Field(default=30, ge=5, le=3600, description="MQTT keepalive")
    reconnect_min_s: float = Field(default=1.0, gt=0, description="first reconnect delay")
    reconnect_max_s: float = Field(default=30.0, gt=0, description="longest reconnect delay")

    @model_validator(mode="after")
    def _password_sources(self) -> MqttConfig:
        if self.password is not None and self.password_file is not None:
            raise ValueError("give password or password_file, not both")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        return self

    def resolve_password(self) -> str | None:
        """Password from the config, a file, or systemd's $CREDENTIALS_DIRECTORY."""
        if self.password is not None:
            return self.password.get_secret_value()
        if self.password_file is not None:
            return self.password_file.read_text().strip() or None
        cred_dir = os.environ.get("CREDENTIALS_DIRECTORY")
        if cred_dir and (Path(cred_dir) / "mqtt-password").is_file():
            # the installer leaves an empty file until a password is set: that means none
            return (Path(cred_dir) / "mqtt-password").read_text().strip() or None
        return None


class ModelConfig(Strict):
    """Person detector: weights, input size and rates."""

    weights: str = Field(
        default="yolo11n-pose_openvino_model",
        description="registry name or path: .pt, .onnx or a *_openvino_model/ folder; "
        "the default is yolo11n-pose exported to OpenVINO on first use",
    )
    backend: Literal["auto", "openvino", "onnxruntime", "ultralytics"] = Field(
        default="auto",
        description="inference runtime: auto (openvino for *_openvino_model when installed, "
        "onnxruntime for .onnx, ultralytics for .pt), or one of them; only ultralytics "
        "needs torch",
    )
    imgsz: Literal["auto"] | int | tuple[int, int] = Field(
        default="auto",
        description="inference size: auto (from each camera's resolution and "
        "min_person_px, longest side at most max_imgsz), or a fixed 640 or "
        "[height, width] (the camera's aspect; [384, 640] is the cheap near-camera profile)",
    )
    max_imgsz: int = Field(
        default=1280,
        ge=64,
        le=4096,
        description="longest side of an automatic input size (cost grows with its square)",
    )
    conf: float = Field(default=0.25, gt=0, lt=1, description="detection confidence threshold")
    iou: float = Field(default=0.7, gt=0, lt=1, description="NMS IoU threshold")
    keypoint_conf: float = Field(default=0.5, gt=0, lt=1, description="a wrist counts above this")
    elbow_conf: float = Field(
        default=0.5,
        gt=0,
        lt=1,
        description="a forearm counts as seen above this; with it, a wrist on the torso is a hand",
    )
    hand_reach: float = Field(
        default=0.35,
        ge=0,
        le=1,
        description="the hand point lies this fraction of the forearm past the wrist",
    )
    hand_tolerance: float = Field(
        default=0.05,
        ge=0,
        le=0.5,
        description="a hand this fraction of the person's height from a product area touches it",
    )
    process_fps: float = Field(
        default=8.0, ge=0, le=120, description="frames per second to run the model on; 0 = all"
    )
    device: str = Field(
        default="cpu",
        description="cpu; intel:gpu or intel:npu (openvino); cuda:0 ... (ultralytics, torch)",
    )
    threads: int | None = Field(default=None, ge=1, le=64, description="CPU threads for inference")
    track_buffer_s: float = Field(
        default=2.0, gt=0, le=30, description="how long the tracker keeps a lost track"
    )
    tracker: Literal["bytetrack", "botsort", "ocsort", "deepocsort"] = Field(
        default="bytetrack",
        description="multi-object tracker (Roboflow trackers, no torch) that links detections "
        "into tracks: bytetrack, botsort (with colour appearance), ocsort",
    )
    appearance: bool = Field(
        default=True,
        description="use clothes colours (not only box overlap) to keep identities apart "
        "where people cross, and to continue a visit after an occlusion",
    )
    appearance_similarity: float = Field(
        default=0.85,
        gt=0,
        lt=1,
        description="colour similarity (0..1) above which two boxes may be the same person",
    )
    motion_skip: bool = Field(
        default=True,
        description="skip inference on frames without motion while no person is tracked",
    )
    motion_threshold: float = Field(
        default=0.002,
        ge=0,
        le=1,
        description="fraction of changed pixels (downscaled) that counts as motion",
    )

    @field_validator("imgsz")
    @classmethod
    def _imgsz(cls, value: str | int | tuple[int, int]) -> str | int | tuple[int, int]:
        if isinstance(value, str):
            return value
        sizes = (value,) if isinstance(value, int) else value
        for s in sizes:
            if s < 32 or s % 32:
                raise ValueError(f"{s} must be a multiple of 32 and at least 32")
        return value

    @model_validator(mode="after")
    def _backend_fits_weights(self) -> ModelConfig:
        onnx = self.weights.endswith(".onnx")
        if self.backend == "onnxruntime" and not onnx:
            raise ValueError(f"backend onnxruntime needs .onnx weights, not {self.weights!r}")
        if self.backend == "openvino" and onnx:
            raise ValueError(f"backend openvino needs an OpenVINO export or a registry .pt "
                             f"name, not {self.weights!r}")  # fmt: skip
        return self


class OutboxConfig(Strict):
    """The durable outbox in state_dir that holds payloads until the central store confirms them."""

    max_rows: int = Field(default=1_000_000, ge=10, description="oldest dropped beyond this")
    max_bytes: int = Field(default=512 * 1024 * 1024, ge=10_000, description="size cap")
    drain_rate: float = Field(
        default=1000.0, gt=0, description="backlog messages per second at most after an outage"
    )
    max_inflight: int = Field(default=100, ge=1, le=65535, description="unacked messages at once")
    confirm_timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="seconds after the broker's PUBACK without a receipt from the central "
        "store before a message is sent again (doubling per attempt, up to 8x)",
    )


class EdgeConfig(BaseSettings):
    """The whole edge device configuration."""

    model_config = SettingsConfigDict(
        extra="forbid",
        env_prefix="EXTEROS_",
        env_nested_delimiter="__",
        nested_model_default_partial_update=True,
    )

    device_id: Slug = Field(description="this edge box's slug; also its MQTT username")
    timezone: str = Field(default="UTC", description="IANA timezone of the store")
    state_dir: Path = Field(default=Path("state"), description="outbox and runtime state")
    log_format: Literal["text", "json"] = Field(default="text", description="log line format")
    heartbeat_s: float = Field(default=60.0, gt=0, description="heartbeat period")
    mqtt: MqttConfig = Field(default_factory=MqttConfig, description="broker connection")
    model: ModelConfig = Field(default_factory=ModelConfig, description="detector")
    outbox: OutboxConfig = Field(default_factory=OutboxConfig, description="durable outbox")
    cameras: list[CameraConfig] = Field(min_length=1, description="cameras on this device")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment beats the YAML file (passed as init kwargs).
        return (env_settings, init_settings)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA timezone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _unique_cameras(self) -> EdgeConfig:
        ids = [c.camera_id for c in self.cameras]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"camera_id {dup[0]!r} is used twice")
        return self

    def camera(self, camera_id: str | None) -> CameraConfig:
        if camera_id is None:
            return self.cameras[0]
        for cam in self.cameras:
            if cam.camera_id == camera_id:
                return cam
        raise ConfigError([f"camera {camera_id!r} is not in the config"])

    def locations(self) -> list[str]:
        """Every location the device counts: zones and stores."""
        return sorted({loc for c in self.cameras for loc in c.locations()})


class ConfigError(Exception):
    """A configuration that cannot be used; ``errors`` holds one line per problem."""

    def __init__(self, errors: Iterable[str], source: str | None = None) -> None:
        self.errors = list(errors)
        self.source = source
        super().__init__("; ".join(self.errors))

    def __str__(self) -> str:
        where = f"{self.source}: " if self.source else ""
        return where + "; ".join(self.errors)


def format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            # pydantic puts union branch names (e.g. 'list[tuple[float, float]]') in the path
            if "[" in str(part) or str(part) in {"int", "str", "function-after"}:
                continue
            out += f".{part}" if out else str(part)
    return out or "(top level)"


_MESSAGES = {
    "extra_forbidden": "unknown key",
    "missing": "required key is missing",
}


def validation_lines(exc: ValidationError) -> list[str]:
    lines: list[str] = []
    for err in exc.errors():
        msg = _MESSAGES.get(err["type"], err["msg"])
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        line = f"{format_loc(tuple(err['loc']))}: {msg}"
        if line not in lines:
            lines.append(line)
    return lines


def parse_config(data: Any, source: str | None = None) -> EdgeConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(["(top level): must be a mapping of keys"], source)
    try:
        return EdgeConfig(**data)
    except ValidationError as exc:
        raise ConfigError(validation_lines(exc), source) from None
    except SettingsError as exc:  # an EXTEROS_* override whose value is not valid JSON
        raise ConfigError([env_error_line(exc)], source) from None


def env_error_line(exc: SettingsError) -> str:
    """One line naming the environment variable whose JSON value cannot be parsed."""
    m = re.search(r'field "([^"]+)"', str(exc))
    name = f"EXTEROS_{m.group(1).upper()}" if m else "an EXTEROS_* variable"
    return (
        f"environment override {name}: value is not valid JSON "
        f"(nested keys take JSON, e.g. {name}='[...]'; or unset it)"
    )


# A YAML alias may point at a node that holds aliases itself: a few hundred bytes can
# expand to billions of values ("billion laughs"). A config has a few hundred values.
MAX_YAML_VALUES = 100_000


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """How many values ``node`` becomes once every alias is expanded (counted, not built)."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = 1  # a recursive alias counts once instead of looping
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, memo) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    memo[key] = min(size, 10 * MAX_YAML_VALUES)
    return memo[key]


def safe_yaml_load(text: str) -> Any:
    """``yaml.safe_load`` that refuses alias bombs before building anything."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, {}) > MAX_YAML_VALUES:
            raise ConfigError(
                [
                    f"YAML expands to more than {MAX_YAML_VALUES:,} values through aliases "
                    "(&anchor/*alias); write the values out or use fewer nested aliases"
                ]  # fmt: skip
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


def load_config(path: str | os.PathLike[str]) -> EdgeConfig:
    """Read, merge with the environment and validate; ConfigError lists every problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"config file not found: {p}"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"cannot read config file {p}: {exc}"]) from None
    try:
        data = safe_yaml_load(text)
    except ConfigError as exc:
        raise ConfigError(exc.errors, str(p)) from None
    except RecursionError:
        raise ConfigError(["YAML nests too deeply"], str(p)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"invalid YAML{where}: {problem}"], str(p)) from None
    return parse_config(data, str(p))
