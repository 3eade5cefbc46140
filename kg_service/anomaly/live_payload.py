"""Topics and payloads of live telemetry readings over MQTT.

A reading is one value of one signal of one asset. Its topic names the asset and the signal
through a pattern such as `kg/{site}/{asset}/{signal}`, and its payload is a JSON object::

    {"t": "2025-01-01T00:01:38.795Z", "v": 1.0, "unit": "bar"}

`t` is an ISO 8601 date-time or seconds since the Unix epoch, `v` a finite number (JSON
`true`/`false` count as 1 and 0) and `unit` an optional text. Times are kept as naive UTC
date-times, as the loaders store them.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timezone
from typing import NamedTuple

from kg_service.errors import InputDataError

DEFAULT_TOPIC_PATTERN = "kg/{site}/{asset}/{signal}"
_PLACEHOLDER = re.compile(r"^\{([a-z_]+)\}$")
MAX_PAYLOAD_BYTES = 4096
# Epoch times at or above this many are taken as milliseconds: as seconds they would lie after the
# year 5000, and milliseconds since the epoch reach it in March 1973.
EPOCH_MILLIS_FROM = 1e11


class RejectedReading(InputDataError):
    """A reading that the subscriber skips; `reason` is the counter it goes to."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class Reading(NamedTuple):
    """One value of one signal of one asset at one time."""

    asset: str
    signal: str
    time: datetime
    value: float
    unit: str | None


class TopicPattern:
    """A topic pattern with `{asset}` and `{signal}` levels and any other `{name}` levels as wildcards.

    Usage::

        pattern = TopicPattern("kg/{site}/{asset}/{signal}")
        pattern.subscription            # 'kg/+/+/+'
        pattern.parse("kg/iwu/lathe/MPA_WorkPos")   # ('lathe', 'MPA_WorkPos')
    """

    def __init__(self, pattern: str = DEFAULT_TOPIC_PATTERN) -> None:
        self.pattern = pattern
        self.levels = pattern.split("/")
        names = [match.group(1) for level in self.levels if (match := _PLACEHOLDER.match(level))]
        for required in ("asset", "signal"):
            if names.count(required) != 1:
                raise InputDataError(f"topic pattern {pattern!r} must contain the level {{{required}}} exactly once",
                                     hint="pass a pattern such as kg/{site}/{asset}/{signal}")
        for level in self.levels:
            if not _PLACEHOLDER.match(level) and ("{" in level or "+" in level or "#" in level):
                raise InputDataError(f"topic pattern {pattern!r} has the invalid level {level!r}",
                                     hint="a level is either fixed text or one {name} placeholder")
        self.asset_index = self.levels.index("{asset}")
        self.signal_index = self.levels.index("{signal}")

    @property
    def subscription(self) -> str:
        """Return the MQTT topic filter that matches every topic of the pattern."""
        return "/".join("+" if _PLACEHOLDER.match(level) else level for level in self.levels)

    def topic(self, asset: str, signal: str, **values: str) -> str:
        """Return the topic of one asset and signal; other placeholders take `values` (default `_`)."""
        parts = []
        for level in self.levels:
            match = _PLACEHOLDER.match(level)
            if match is None:
                parts.append(level)
                continue
            name = match.group(1)
            if name == "asset":
                parts.append(asset)
            elif name == "signal":
                parts.append(signal)
            else:
                parts.append(values.get(name, "_"))
        return "/".join(parts)

    def parse(self, topic: str) -> tuple[str, str]:
        """Return (asset, signal) of a topic, or raise RejectedReading('topic') when it does not fit."""
        parts = topic.split("/")
        fits = len(parts) == len(self.levels) and all(
            _PLACEHOLDER.match(level) or level == part for level, part in zip(self.levels, parts))
        if not fits or not parts[self.asset_index] or not parts[self.signal_index]:
            raise RejectedReading("topic", f"topic {topic!r} does not match the pattern {self.pattern!r}")
        return parts[self.asset_index], parts[self.signal_index]


def parse_time(value: object) -> datetime:
    """Return a naive UTC date-time from ISO 8601 text or epoch seconds; raise ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a time")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError("the time is not finite")
        if abs(value) >= EPOCH_MILLIS_FROM:
            raise ValueError(f"{value!r} looks like milliseconds since the Unix epoch; 't' expects seconds "
                             f"since the epoch (divide by 1000) or ISO 8601 text")
        return datetime.fromtimestamp(value, tz=timezone.utc).replace(tzinfo=None)
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value.strip())
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
        return parsed
    raise ValueError(f"expected ISO 8601 text or epoch seconds, got {type(value).__name__}")


def parse_payload(asset: str, signal: str, payload: bytes) -> Reading:
    """Decode a JSON payload into a Reading; raise RejectedReading('json' or 'value') when it is invalid."""
    where = f"reading of {asset}/{signal}"
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise RejectedReading("json", f"{where}: the payload has {len(payload)} bytes, more than "
                                      f"{MAX_PAYLOAD_BYTES}")
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RejectedReading("json", f"{where}: the payload is not valid JSON ({error})") from None
    if not isinstance(body, dict):
        raise RejectedReading("json", f"{where}: the payload is JSON but not an object with 't' and 'v'")

    value = body.get("v")
    if isinstance(value, bool):
        value = float(value)
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RejectedReading("value", f"{where}: 'v' must be a finite number, got {value!r}")
    try:
        time = parse_time(body.get("t"))
    except (ValueError, OverflowError, OSError) as error:
        raise RejectedReading("value", f"{where}: 't' {body.get('t')!r} is not a time ({error})") from None
    unit = body.get("unit")
    if unit is not None and not isinstance(unit, str):
        raise RejectedReading("value", f"{where}: 'unit' must be text, got {unit!r}")
    return Reading(asset, signal, time, float(value), unit)


def encode_payload(time: datetime | float, value: float, unit: str | None = None) -> bytes:
    """Return the JSON payload of one reading; a naive date-time is taken as UTC."""
    if isinstance(time, datetime):
        stamp: str | float = (time if time.tzinfo else time.replace(tzinfo=timezone.utc)).isoformat()
    else:
        stamp = time
    body: dict = {"t": stamp, "v": value}
    if unit:
        body["unit"] = unit
    return json.dumps(body, separators=(",", ":")).encode("utf-8")
