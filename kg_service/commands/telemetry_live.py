"""`kg-service telemetry listen|replay`: live anomaly detection on MQTT readings and causRCA replays."""

from __future__ import annotations

import json
import signal
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Optional

import typer

command_name = "telemetry"
command_group = typer.Typer(help="Live telemetry over MQTT: score readings online and write anomaly events.",
                            no_args_is_help=True)

TOPIC_HELP = "Topic pattern with {asset} and {signal} levels; other {name} levels match anything"
# The default broker is the one that scripts/mosquitto.sh starts: 127.0.0.1 on the KG_MQTT_PORT setting
# (environment or .env), default 1883.
DEFAULT_MQTT_HOST = "127.0.0.1"
BROKER_HELP = "MQTT broker as HOST:PORT; default 127.0.0.1 on the port of the KG_MQTT_PORT setting (default 1883)"


def _broker(text: str | None) -> tuple[str, int]:
    """Split HOST:PORT, or return 127.0.0.1 and the KG_MQTT_PORT setting when `text` is None.

    Raise typer.BadParameter when `text` is invalid, and ConfigurationError when the settings are.
    """
    if text is None:
        from kg_service.config import get_settings

        return DEFAULT_MQTT_HOST, get_settings().mqtt_port
    host, separator, port = text.rpartition(":")
    if not separator or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise typer.BadParameter(f"{text!r} is not HOST:PORT, such as 127.0.0.1:1883", param_hint="--broker")
    return host, int(port)


def _asset_map(items: list[str]) -> dict[str, str]:
    mapping = {}
    for item in items:
        tag, separator, key = item.partition("=")
        if not separator or not tag or not key:
            raise typer.BadParameter(f"{item!r} is not TAG=ASSET_KEY, such as lathe=asset:causrca:lathe",
                                     param_hint="--asset")
        mapping[tag] = key
    return mapping


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 3)


@command_group.command("listen")
def listen(
        broker: Optional[str] = typer.Option(None, help=BROKER_HELP),
        topics: str = typer.Option("kg/{site}/{asset}/{signal}", help=TOPIC_HELP),
        detector: str = typer.Option(..., help="Detector checkpoint: folder, ASSET_CLASS/VERSION, VERSION or "
                                               "ASSET_CLASS (its latest)"),
        asset: list[str] = typer.Option([], help="Map a topic asset tag to a graph asset key, TAG=KEY; repeat it. "
                                                 "Unmapped tags are looked up by key or name"),
        period: float = typer.Option(1.0, help="Sampling grid of the windows, in seconds of reading time"),
        flush_interval: float = typer.Option(1.0, help="Maximum wait before an event update is written, in seconds"),
        queue_size: int = typer.Option(10_000, help="Maximum number of readings waiting to be scored; when "
                                                    "the queue is full, the broker holds further readings back"),
        client_id: str = typer.Option("kg-service-live", help="MQTT client id; one per running subscriber"),
        archive: bool = typer.Option(False, help="Append accepted raw readings to Parquet under "
                                                 "KG_STATE_DIR/telemetry/live, partitioned by asset and day"),
        max_seconds: Optional[float] = typer.Option(None, help="Stop after this many seconds; default run until "
                                                               "Ctrl-C or SIGTERM")) -> None:
    """Subscribe to readings, score them with a detector and write anomaly events to Neo4j; print counters at exit."""
    from kg_service.anomaly.detector import load_detector
    from kg_service.anomaly.live_payload import TopicPattern
    from kg_service.anomaly.mqtt import LiveSubscriber, SubscriberConfig
    from kg_service.cli import _errors, _store
    from pydantic import ValidationError

    from kg_service.config import get_settings
    from kg_service.errors import ConfigurationError
    from kg_service.ingest import current_schema

    host, port = _broker(broker)
    settings = get_settings()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with _errors():
        try:
            config = SubscriberConfig(host=host, port=port, topic_pattern=topics, client_id=client_id,
                                      queue_size=queue_size, flush_interval_s=flush_interval, period_s=period,
                                      asset_map=_asset_map(asset),
                                      archive_dir=settings.telemetry_dir / "live" if archive else None)
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, item['loc']))}: {item['msg']}" for item in error.errors())
            raise ConfigurationError(f"invalid listener option: {problems}") from None
        TopicPattern(topics)
        model = load_detector(detector, settings)
        store = _store(settings)
        try:
            subscriber = LiveSubscriber(store, current_schema(store), model, config, settings.batch_size)
            subscriber.start()
            began = time.monotonic()
            try:
                while not stop.wait(0.5):
                    if max_seconds is not None and time.monotonic() - began >= max_seconds:
                        break
            except KeyboardInterrupt:
                pass
            stats = subscriber.stop()
        finally:
            store.close()
    latencies = [event.latency_s for event in subscriber.sink.written_events]
    typer.echo(json.dumps({**stats.as_dict(), "detector": model.version,
                           "events_opened": subscriber.sink.events_opened,
                           "events_closed": subscriber.sink.events_closed,
                           "archived": subscriber.archive.rows_written if subscriber.archive else None,
                           "latency_p50_s": _percentile(latencies, 0.5),
                           "latency_p99_s": _percentile(latencies, 0.99)}))


@command_group.command("replay")
def replay(
        run_folder: Path = typer.Argument(..., help="causRCA fault-run folder (with faultDataset_*.csv) or a "
                                                    "recording in the time_s,node,value,type layout"),
        broker: Optional[str] = typer.Option(None, help=BROKER_HELP),
        topics: str = typer.Option("kg/{site}/{asset}/{signal}", help=TOPIC_HELP),
        asset: str = typer.Option("lathe", help="Asset tag in the topics"),
        site: str = typer.Option("iwu", help="Value of a {site} level in the topics"),
        speedup: float = typer.Option(10.0, min=0, help="Times real time; 0 publishes as fast as possible"),
        start: str = typer.Option("2025-01-01T00:00:00", help="Date-time (UTC) at which the recording starts"),
        from_s: float = typer.Option(0.0, help="Skip readings before this many seconds of the recording"),
        to_s: Optional[float] = typer.Option(None, help="Stop before this many seconds of the recording")) -> None:
    """Publish a recorded causRCA run to the broker, one JSON reading per value change."""
    from kg_service.anomaly.live_payload import TopicPattern
    from kg_service.anomaly.live_replay import replay_run
    from kg_service.cli import _errors
    from kg_service.errors import InputDataError

    host, port = _broker(broker)
    with _errors():
        try:
            anchor = datetime.fromisoformat(start).replace(tzinfo=None)
        except ValueError:
            raise InputDataError(f"--start {start!r} is not an ISO 8601 date-time; pass one such as "
                                 "2025-01-01T00:00:00") from None
        report = replay_run(run_folder, host, port, asset, anchor, TopicPattern(topics), speedup, from_s, to_s,
                            site=site)
    typer.echo(json.dumps({"run": report.run, "published": report.published, "skipped": report.skipped,
                           "first_s": report.first_seconds, "last_s": report.last_seconds,
                           "wall_s": round(report.wall_seconds, 3)}))
