"""Publish a recorded causRCA run to an MQTT broker as live readings, at a chosen speed-up.

A run's long-format recording (`time_s,node,value,type`) becomes one reading per row on the topic
of its asset and signal. Binary and alarm values `True`/`False` become 1 and 0. Categorical values
become the numbers of the data set's `categorical_encoding.json` (found beside the recording or in
a folder above it), as the telemetry loader stores them for training. Other values are published
when they are numbers; the rest are skipped and counted. Times are `start + time_s` as ISO 8601
UTC.
"""

from __future__ import annotations

import json
import logging
import time as clock
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import numpy as np

from kg_service.anomaly.live_payload import TopicPattern, encode_payload
from kg_service.errors import ConfigurationError, InputDataError

logger = logging.getLogger(__name__)

BOOLEAN_VALUES = {"True": 1.0, "False": 0.0}
CATEGORICAL_ENCODING_FILE = "categorical_encoding.json"
# Messages that paho may have in flight to the broker before it queues further ones locally.
MAX_INFLIGHT = 100


class RecordedReading(NamedTuple):
    """One numeric value of a recording, `seconds` after its start."""

    seconds: float
    signal: str
    value: float


@dataclass
class ReplayReport:
    """Counts of one replay; `skipped` counts values that are neither numbers nor encoded categories."""

    run: str
    published: int
    skipped: int
    first_seconds: float | None
    last_seconds: float | None
    wall_seconds: float


def recording_file(run_dir: Path) -> Path:
    """Return the run's `faultDataset_*.csv`, or a CSV file given directly."""
    if run_dir.is_file():
        return run_dir
    if not run_dir.is_dir():
        raise InputDataError("folder not found", path=str(run_dir),
                             hint="pass a fault-run folder such as dig_twin/exp_probe/exp_1/run_1")
    files = sorted(run_dir.glob("faultDataset_*.csv"))
    if len(files) != 1:
        raise InputDataError(f"expected one faultDataset_*.csv, found {len(files)}", path=str(run_dir),
                             hint="pass a fault-run folder such as dig_twin/exp_probe/exp_1/run_1")
    return files[0]


def categorical_encoding(recording: Path) -> dict[str, dict[str, float]]:
    """Return each categorical signal's value-to-number map from the nearest categorical_encoding.json, or {}."""
    for folder in recording.parents:
        path = folder / CATEGORICAL_ENCODING_FILE
        if path.is_file():
            try:
                content = json.loads(path.read_text(encoding="utf-8"))
                return {signal: {str(key): float(number) for key, number in values.items()}
                        for signal, values in content.items()}
            except (ValueError, AttributeError, TypeError) as error:
                raise InputDataError(f"invalid categorical encoding: {error}", path=str(path),
                                     hint="expected an object of signal -> {value: number}") from None
    return {}


def recorded_readings(run_dir: Path, from_s: float = 0.0, to_s: float | None = None) -> tuple[list[RecordedReading], int]:
    """Return the numeric readings of a run between `from_s` and `to_s` and the number of skipped values."""
    from loaders.causrca import read_changes

    recording = recording_file(run_dir)
    categories = categorical_encoding(recording.resolve())
    readings, skipped = [], 0
    for change in read_changes(recording):
        if change.time < from_s or (to_s is not None and change.time >= to_s):
            continue
        value = BOOLEAN_VALUES.get(change.value)
        if value is None and change.kind == "Categorical" and change.signal in categories:
            value = categories[change.signal].get(change.value)
            if value is None:
                skipped += 1
                continue
        if value is None:
            try:
                value = float(change.value)
            except ValueError:
                skipped += 1
                continue
        readings.append(RecordedReading(change.time, change.signal, value))
    return readings, skipped


def publish_readings(readings: list[RecordedReading], host: str, port: int, asset: str, start: datetime,
                     pattern: TopicPattern, speedup: float = 0.0, qos: int = 1, site: str = "_",
                     client_id: str = "kg-service-replay", timeout_s: float = 120.0) -> float:
    """Publish readings in order, paced at `speedup` times real time (0: as fast as possible); return wall seconds.

    Raises ConfigurationError when the broker cannot be reached or does not acknowledge every
    reading within `timeout_s`.
    """
    try:
        import paho.mqtt.client as mqtt
    except ImportError:
        raise ConfigurationError("replaying needs paho-mqtt; install it with pip install 'kg-service[mqtt]'") from None

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(MAX_INFLIGHT)
    client.max_queued_messages_set(0)
    try:
        client.connect(host, port, keepalive=30)
    except OSError as error:
        raise ConfigurationError(f"cannot connect to the MQTT broker {host}:{port} ({error}); start it with "
                                 "scripts/mosquitto.sh start or pass --broker HOST:PORT") from None
    client.loop_start()
    began = clock.monotonic()
    deadline = began + timeout_s
    try:
        infos = []
        origin = readings[0].seconds if readings else 0.0
        for reading in readings:
            if speedup > 0:
                delay = (reading.seconds - origin) / speedup - (clock.monotonic() - began)
                if delay > 0:
                    clock.sleep(delay)
            topic = pattern.topic(asset, reading.signal, site=site)
            payload = encode_payload(start + timedelta(seconds=reading.seconds), reading.value)
            infos.append(client.publish(topic, payload, qos=qos))
        for info in infos:
            info.wait_for_publish(timeout=max(0.1, deadline - clock.monotonic()))
            if not info.is_published():
                raise ConfigurationError(f"the MQTT broker {host}:{port} did not acknowledge the readings within "
                                         f"{timeout_s:.0f} s; check that it runs and has room to queue them")
    finally:
        client.disconnect()
        client.loop_stop()
    return clock.monotonic() - began


def replay_run(run_dir: Path, host: str, port: int, asset: str, start: datetime,
               pattern: TopicPattern, speedup: float = 0.0, from_s: float = 0.0, to_s: float | None = None,
               qos: int = 1, site: str = "_") -> ReplayReport:
    """Publish the readings of one recorded run between `from_s` and `to_s` seconds."""
    readings, skipped = recorded_readings(run_dir, from_s, to_s)
    logger.info("replaying %d readings of %s to %s:%d at speed-up %s", len(readings), run_dir, host, port,
                speedup or "max")
    wall = publish_readings(readings, host, port, asset, start, pattern, speedup, qos, site)
    return ReplayReport(str(run_dir), len(readings), skipped, readings[0].seconds if readings else None,
                        readings[-1].seconds if readings else None, wall)


def grid_samples(readings: list[RecordedReading], signals: list[str], period_s: float = 1.0) -> np.ndarray:
    """Sample a recording on the subscriber's grid (sample and hold), `[rows, len(signals)]`.

    Row k contains the last value of each signal at `k * period_s` seconds; rows before every signal
    has a value are left out. Use it to train a detector on the windows that live scoring sees.
    """
    index = {name: position for position, name in enumerate(signals)}
    state = np.full(len(signals), np.nan)
    rows = []
    boundary = 0.0
    for reading in readings:
        while boundary < reading.seconds:
            rows.append(state.copy())
            boundary += period_s
        position = index.get(reading.signal)
        if position is not None:
            state[position] = reading.value
    rows.append(state.copy())
    matrix = np.vstack(rows)
    return matrix[~np.isnan(matrix).any(axis=1)]
