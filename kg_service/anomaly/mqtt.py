"""Live anomaly detection on readings from an MQTT broker (paho-mqtt 2.x, MQTT 3.1.1).

Threads and flow:

1. paho's network thread receives each message and puts it into a bounded queue. When the queue
   is full, the callback blocks for up to `put_timeout_s`. Meanwhile paho sends no PUBACK, so the
   broker's in-flight window for QoS 1 fills and the broker keeps further messages in its own
   queue (flow control). Only a message that still finds the queue full after the timeout is
   dropped, and it is counted and logged with its topic.
2. The consumer thread parses topics and payloads, rejects and counts invalid ones, keeps a
   window per asset (`LiveScorer`) and hands event updates to `EventSink`, which writes them to
   Neo4j at least every `flush_interval_s` or when `flush_count` are pending.

paho reconnects by itself after a broker restart, waiting `reconnect_min_s` and then doubling the
delay up to `reconnect_max_s`; `on_connect` subscribes again each time, because a broker without
persistence loses its subscriptions when it restarts.

Usage::

    subscriber = LiveSubscriber(store, schema, detector, SubscriberConfig(port=18830))
    subscriber.start()
    ...
    stats = subscriber.stop()
"""

from __future__ import annotations

import logging
import queue
import threading
import time as clock
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, model_validator

from kg_service.anomaly.live_archive import MAX_BUFFERED, SampleArchive
from kg_service.anomaly.live_payload import DEFAULT_TOPIC_PATTERN, RejectedReading, TopicPattern, parse_payload
from kg_service.anomaly.live_sink import EventSink
from kg_service.anomaly.live_window import AssetBinding, LiveScorer
from kg_service.errors import ConfigurationError, KGServiceError
from kg_service.graph.store import GraphStore
from kg_service.ontology.schema import GraphSchema

if TYPE_CHECKING:
    from kg_service.anomaly.detector import Detector

logger = logging.getLogger(__name__)


class NotConnectedFilter(logging.Filter):
    """Demote paho's "Client is not connected. Socket: None)." errors to DEBUG.

    paho 2.x logs that line at ERROR on each pass of its network loop while the broker is down.
    `_on_connect_fail` and `_on_disconnect` already log one warning per attempt with the broker
    address, so the raw line only repeats them.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.getMessage().startswith("Client is not connected"):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)

REJECTION_REASONS = ("topic", "json", "value", "unit", "unmapped_asset", "unknown_signal", "late")
# Each rejection reason and the drop counter log their first occurrences and then every N-th one.
LOG_FIRST = 5
LOG_EVERY = 1000
# An asset tag that did not resolve is looked up again after this many seconds, so assets loaded
# into the graph while the subscriber runs are picked up.
UNRESOLVED_RETRY_S = 60.0
MAX_DRAIN = 1000
ASSET_SIGNALS_QUERY = (
    "MATCH (asset:Asset {id: $key}) "
    "OPTIONAL MATCH (asset)<-[:PART_OF*0..8]-(part:Asset)-[:HAS_SIGNAL]->(signal:Signal) "
    "RETURN asset.id AS key, collect(DISTINCT [signal.name, signal.id, signal.unit]) AS signals")
ASSET_BY_NAME_QUERY = "MATCH (asset:Asset) WHERE asset.id = $tag OR asset.name = $tag RETURN asset.id AS key LIMIT 2"


class SubscriberConfig(BaseModel):
    """Connection, flow-control and scoring settings of the live subscriber."""

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    topic_pattern: str = DEFAULT_TOPIC_PATTERN
    client_id: str = "kg-service-live"
    qos: int = Field(default=1, ge=0, le=2)
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    reconnect_min_s: float = Field(default=1.0, gt=0)
    reconnect_max_s: float = Field(default=30.0, gt=0)
    queue_size: int = Field(default=10_000, ge=1, description="Readings waiting for the consumer at most")
    put_timeout_s: float = Field(default=10.0, gt=0, description="How long a full queue blocks the network "
                                                                 "thread before a reading is dropped")
    flush_interval_s: float = Field(default=1.0, gt=0, le=60, description="Maximum wait before a pending event "
                                                                          "update is written, in seconds")
    flush_count: int = Field(default=100, ge=1, description="Pending event updates that trigger a write at once")
    period_s: float = Field(default=1.0, gt=0, description="Sampling grid of the windows, seconds of reading time")
    close_after: int = Field(default=2, ge=1, description="Normal rows that close an open event")
    asset_map: dict[str, str] = Field(default_factory=dict, description="Topic asset tag -> graph asset key")
    archive_dir: Path | None = Field(default=None, description="Folder to append accepted raw readings to as "
                                                               "Parquet; None keeps no raw readings")

    @model_validator(mode="after")
    def _check_timeouts(self) -> "SubscriberConfig":
        # A network thread blocked longer than the keep-alive interval sends no PINGREQ, so the broker disconnects it.
        if self.put_timeout_s >= self.keepalive_s:
            raise ValueError(f"put_timeout_s ({self.put_timeout_s}) must be shorter than keepalive_s "
                             f"({self.keepalive_s})")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError(f"reconnect_max_s ({self.reconnect_max_s}) must not be below reconnect_min_s "
                             f"({self.reconnect_min_s})")
        return self


@dataclass
class LiveStats:
    """Counters of one subscriber run; `received == processed + rejected + dropped + queued`."""

    received: int = 0
    processed: int = 0
    scored_readings: int = 0
    unscored_readings: int = 0
    rejected: Counter = field(default_factory=Counter)
    dropped: int = 0
    blocked: int = 0
    blocked_seconds: float = 0.0
    queue_high_water: int = 0
    connects: int = 0
    disconnects: int = 0
    failed_connects: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"received": self.received, "processed": self.processed, "scored_readings": self.scored_readings,
                "unscored_readings": self.unscored_readings,
                "rejected": {reason: self.rejected.get(reason, 0) for reason in REJECTION_REASONS},
                "dropped": self.dropped, "blocked": self.blocked, "blocked_seconds": round(self.blocked_seconds, 3),
                "queue_high_water": self.queue_high_water, "connects": self.connects,
                "disconnects": self.disconnects, "failed_connects": self.failed_connects}


class AssetResolver:
    """Bind topic asset tags to graph assets and their signals, caching the results."""

    def __init__(self, store: GraphStore, asset_map: dict[str, str], detector_signals: list[str]) -> None:
        self.store = store
        self.asset_map = dict(asset_map)
        self.detector_signals = list(detector_signals)
        self.bindings: dict[str, AssetBinding] = {}
        self.unresolved: dict[str, float] = {}

    def bind(self, tag: str) -> AssetBinding:
        """Return the binding of `tag` or raise RejectedReading('unmapped_asset')."""
        binding = self.bindings.get(tag)
        if binding is not None:
            return binding
        failed_at = self.unresolved.get(tag)
        if failed_at is not None and clock.monotonic() - failed_at < UNRESOLVED_RETRY_S:
            raise RejectedReading("unmapped_asset", f"asset {tag!r} is not mapped to a graph asset")
        try:
            binding = self._resolve(tag)
        except RejectedReading:
            self.unresolved[tag] = clock.monotonic()
            raise
        self.bindings[tag] = binding
        self.unresolved.pop(tag, None)
        return binding

    def _resolve(self, tag: str) -> AssetBinding:
        key = self.asset_map.get(tag)
        if key is None:
            rows = self.store.read(ASSET_BY_NAME_QUERY, {"tag": tag})
            if len(rows) != 1:
                found = "several graph assets" if rows else "no graph asset"
                raise RejectedReading("unmapped_asset", f"asset {tag!r} matches {found} by key or name; map it with "
                                                        f"--asset {tag}=ASSET_KEY")
            key = rows[0]["key"]
        rows = self.store.read(ASSET_SIGNALS_QUERY, {"key": key})
        if not rows:
            raise RejectedReading("unmapped_asset", f"asset {tag!r} is mapped to {key!r}, which is not an Asset "
                                                    "in the graph; load the asset first or fix the mapping")
        signals = {name: signal_key for name, signal_key, _ in rows[0]["signals"] if name is not None}
        units = {name: unit for name, _, unit in rows[0]["signals"] if name is not None and unit}
        missing = [name for name in self.detector_signals if name not in signals]
        if len(missing) == len(self.detector_signals):
            raise RejectedReading("unmapped_asset", f"asset {tag!r} ({key}) has none of the detector's signals "
                                                    f"{self.detector_signals[:5]}; pick the detector of its class")
        if missing:
            logger.warning("asset %s (%s) lacks detector signals %s; windows of this asset are not scored until "
                           "the graph has them", tag, key, missing)
        logger.info("bound topic asset %s to %s with %d signals", tag, key, len(signals))
        return AssetBinding(tag, key, signals, units)


class LiveSubscriber:
    """Subscribe to readings, score them online and write anomaly events to Neo4j."""

    def __init__(self, store: GraphStore, schema: GraphSchema, detector: "Detector",
                 config: SubscriberConfig | None = None, batch_size: int = 1000) -> None:
        self.config = config or SubscriberConfig()
        self.pattern = TopicPattern(self.config.topic_pattern)
        self.detector = detector
        self.scorer = LiveScorer(detector, self.config.period_s, self.config.close_after)
        self.sink = EventSink(store, schema, self.config.flush_count, self.config.flush_interval_s, batch_size)
        self.resolver = AssetResolver(store, self.config.asset_map, list(detector.signals))
        self.archive = (SampleArchive(self.config.archive_dir, self.config.client_id)
                        if self.config.archive_dir is not None else None)
        self._archived_at = clock.monotonic()
        self.stats = LiveStats()
        self.queue: queue.Queue = queue.Queue(maxsize=self.config.queue_size)
        self.connected = threading.Event()
        self._stopping = threading.Event()
        self._idle = threading.Event()
        self._consumer: threading.Thread | None = None
        self._client = None

    # network side

    def start(self) -> None:
        """Connect in the background (retrying while the broker is down) and start the consumer thread."""
        try:
            import paho.mqtt.client as mqtt
        except ImportError:
            raise ConfigurationError("live MQTT ingestion needs paho-mqtt; install it with "
                                     "pip install 'kg-service[mqtt]'") from None

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.config.client_id,
                             clean_session=False, protocol=mqtt.MQTTv311)
        paho_logger = logging.getLogger(f"{__name__}.paho")
        if not any(isinstance(item, NotConnectedFilter) for item in paho_logger.filters):
            paho_logger.addFilter(NotConnectedFilter())
        client.enable_logger(paho_logger)
        client.reconnect_delay_set(min_delay=max(1, round(self.config.reconnect_min_s)),
                                   max_delay=max(1, round(self.config.reconnect_max_s)))
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client

        self._consumer = threading.Thread(target=self._consume, name="kg-live-consumer", daemon=True)
        self._consumer.start()
        logger.info("connecting to MQTT broker %s:%d, topics %s", self.config.host, self.config.port,
                    self.pattern.subscription)
        client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive_s)
        client.loop_start()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.stats.failed_connects += 1
            logger.error("MQTT broker %s:%d rejected the connection: %s", self.config.host, self.config.port,
                         reason_code)
            return
        self.stats.connects += 1
        client.subscribe(self.pattern.subscription, qos=self.config.qos)
        self.connected.set()
        logger.info("connected to MQTT broker %s:%d (connection %d), subscribed to %s", self.config.host,
                    self.config.port, self.stats.connects, self.pattern.subscription)

    def _on_connect_fail(self, client, userdata) -> None:
        self.stats.failed_connects += 1
        logger.warning("connecting to MQTT broker %s:%d failed (attempt %d); paho retries with backoff up to %.0f s",
                       self.config.host, self.config.port, self.stats.failed_connects, self.config.reconnect_max_s)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        if self._stopping.is_set():
            return
        self.stats.disconnects += 1
        logger.warning("lost MQTT broker %s:%d (%s); reconnecting with backoff from %.0f s to %.0f s",
                       self.config.host, self.config.port, reason_code, self.config.reconnect_min_s,
                       self.config.reconnect_max_s)

    def _on_message(self, client, userdata, message) -> None:
        self.stats.received += 1
        item = (message.topic, message.payload, clock.time())
        try:
            self.queue.put_nowait(item)
        except queue.Full:
            self._put_blocking(item)
        self.stats.queue_high_water = max(self.stats.queue_high_water, self.queue.qsize())

    def _put_blocking(self, item: tuple) -> None:
        """Hold paho's network thread until the queue has room, so the broker stops sending (flow control)."""
        self.stats.blocked += 1
        started = clock.monotonic()
        try:
            self.queue.put(item, timeout=self.config.put_timeout_s)
        except queue.Full:
            self.stats.dropped += 1
            if self.stats.dropped <= LOG_FIRST or self.stats.dropped % LOG_EVERY == 0:
                logger.error("dropped the reading on %s (%d dropped so far): the queue of %d readings stayed full "
                             "for %.1f s because scoring or writing to Neo4j is too slow", item[0],
                             self.stats.dropped, self.config.queue_size, self.config.put_timeout_s)
        finally:
            self.stats.blocked_seconds += clock.monotonic() - started

    # consumer side

    def _consume(self) -> None:
        while True:
            timeout = self.sink.seconds_until_due()
            try:
                items = [self.queue.get(timeout=0.2 if timeout is None else min(timeout, 0.2))]
            except queue.Empty:
                items = []
            while items and len(items) < MAX_DRAIN:
                try:
                    items.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            if items:
                self._idle.clear()
                self._process(items)
            due = self.sink.seconds_until_due()
            if due is not None and due <= 0:
                self.sink.flush_or_keep()
            self._archive_if_due()
            if not items and self.queue.empty() and not self.sink.pending:
                self._idle.set()
                if self._stopping.is_set():
                    return

    def _process(self, items: list[tuple]) -> None:
        for topic, payload, received_at in items:
            try:
                asset, signal = self.pattern.parse(topic)
                binding = self.resolver.bind(asset)
                if signal not in binding.signal_keys:
                    raise RejectedReading("unknown_signal", f"signal {signal!r} of asset {asset!r} is not a Signal "
                                                            f"of {binding.asset_key} or its parts in the graph")
                reading = parse_payload(asset, signal, payload)
                expected_unit = binding.units.get(signal)
                if reading.unit and expected_unit and reading.unit != expected_unit:
                    raise RejectedReading("unit", f"reading of {asset}/{signal} is in {reading.unit!r}, but the "
                                                  f"signal is stored in {expected_unit!r}; convert it before "
                                                  "publishing")
                scored = self.scorer.add(binding, reading, received_at)
            except RejectedReading as rejection:
                self._count_rejection(rejection, topic)
                continue
            except KGServiceError as error:
                # A graph lookup failed (Neo4j unreachable): the reading cannot be bound, so it is counted.
                self._count_rejection(RejectedReading("unmapped_asset", str(error)), topic)
                continue
            self.stats.processed += 1
            if self.archive is not None:
                self.archive.add(reading)
            if scored:
                self.stats.scored_readings += 1
            else:
                self.stats.unscored_readings += 1
        try:
            updates = self.scorer.score_pending()
        except KGServiceError as error:
            logger.error("scoring failed, the windows of this batch are skipped: %s", error)
            return
        for update in updates:
            self.sink.add(update)

    def _archive_if_due(self, force: bool = False) -> None:
        """Append buffered raw readings to the archive every flush interval, or sooner when many are buffered."""
        if self.archive is None or not self.archive.buffered:
            return
        waited = clock.monotonic() - self._archived_at
        if force or waited >= self.config.flush_interval_s or self.archive.buffered >= MAX_BUFFERED:
            self.archive.flush()
            self._archived_at = clock.monotonic()

    def _count_rejection(self, rejection: RejectedReading, topic: str) -> None:
        self.stats.rejected[rejection.reason] += 1
        count = self.stats.rejected[rejection.reason]
        if count <= LOG_FIRST or count % LOG_EVERY == 0:
            logger.warning("skipped the reading on %s (%s, %d so far): %s", topic, rejection.reason, count, rejection)

    # control

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until the queue is empty and every event update is written; return False on timeout."""
        deadline = clock.monotonic() + timeout_s
        while clock.monotonic() < deadline:
            if self.queue.empty() and not self.sink.pending and self._idle.wait(0.05):
                if self.queue.empty() and not self.sink.pending:
                    return True
        return False

    def stop(self, timeout_s: float = 30.0) -> LiveStats:
        """Disconnect, process what is queued, close open events, write them and return the counters."""
        self._stopping.set()
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
        if self._consumer is not None:
            self._consumer.join(timeout_s)
            if self._consumer.is_alive():
                logger.error("the consumer did not finish within %.0f s (%d readings still queued, %d event updates "
                             "unwritten); stopping without closing open events", timeout_s, self.queue.qsize(),
                             len(self.sink.pending))
                return self.stats
        for update in self.scorer.close_all():
            self.sink.add(update)
        self.sink.flush_or_keep()
        self._archive_if_due(force=True)
        logger.info("stopped the live subscriber: %s, %d events opened, %d closed", self.stats.as_dict(),
                    self.sink.events_opened, self.sink.events_closed)
        return self.stats
