"""Build the outputs a run asks for, close them, and say what they did not deliver.

Shared by ``exteros-edge replay`` (edge/cli.py) and ``exteros-edge run``
(edge/service.py), so neither reaches into the other.
"""

from __future__ import annotations

from collections.abc import Sequence

from edge.config import EdgeConfig
from edge.outputs import Output


class OutputSetupError(Exception):
    """An output could not be set up (unwritable file, bad broker settings); one line."""


def build_outputs(
    cfg: EdgeConfig, events_out: str | None, mqtt: bool, version: str
) -> list[Output]:
    """A JSONL file output (when ``events_out``) and MQTT (when asked and enabled)."""
    from edge.outputs.jsonl import JsonlOutput

    outputs: list[Output] = []
    if events_out:
        try:
            outputs.append(JsonlOutput(events_out))
        except OSError as exc:
            raise OutputSetupError(
                f"cannot write --events-out {events_out}: {exc.strerror}"
            ) from None
    if mqtt and cfg.mqtt.enabled:
        from edge.outputs.mqtt import MqttOutput, MqttSetupError

        try:
            outputs.append(MqttOutput(cfg, version=version))
        except MqttSetupError as exc:
            close_outputs(outputs, 0)
            raise OutputSetupError(str(exc)) from None
    return outputs


def close_outputs(outputs: Sequence[Output], drain_timeout_s: float | None) -> bool:
    """Close every output (each one, even after a failure); True when all delivered."""
    ok = True
    for out in outputs:
        ok = out.close(drain_timeout_s) and ok
    return ok


def delivery_problems(outputs: Sequence[Output], drain_timeout_s: float | None) -> list[str]:
    """One line per output that did not deliver everything (after close)."""
    from edge.outputs.jsonl import JsonlOutput
    from edge.outputs.mqtt import MqttOutput

    lines: list[str] = []
    for out in outputs:
        if isinstance(out, JsonlOutput) and out.dropped:
            lines.append(
                f"--events-out {out.path}: {out.dropped} payload(s) could not be written "
                f"({out.error}); free space there and replay again"
            )
        if isinstance(out, MqttOutput):
            path = out.outbox.path
            if out.unstored:
                lines.append(
                    f"{out.unstored} event(s) could not be stored in the outbox {path} "
                    f"({out.storage_error or 'outbox writer stopped'}) and will not be "
                    "delivered; free space there and replay again"
                )
            if out.kept:
                wait = (
                    ""
                    if drain_timeout_s is None
                    else f" within --drain-timeout {drain_timeout_s:g} s"
                )
                lines.append(
                    f"{out.kept} event(s) not confirmed by the central store{wait}; they are "
                    f"kept in the outbox {path} ('exteros-edge flush' sends them)"
                )
    return lines
