"""Batched writes of live anomaly events to Neo4j, flushed by count or by time.

Updates of the same event between two flushes are merged (the latest state wins), so a long
event costs one row per flush. Each flush is one `BatchedWriter.write`: AnomalyEvent nodes merged
on their stable key, FOR_ASSET to the asset and INVOLVES_SIGNAL (with `contribution`) to the
contributing signals.
"""

from __future__ import annotations

import logging
import time as clock
from collections import deque
from dataclasses import dataclass

from kg_service.anomaly.live_window import EventUpdate
from kg_service.errors import GraphStoreError
from kg_service.graph.records import NodeRecord, RelationshipRecord
from kg_service.graph.store import GraphStore
from kg_service.graph.writer import BatchedWriter
from kg_service.ontology.schema import GraphSchema

logger = logging.getLogger(__name__)

MAX_LATENCY_RECORDS = 100_000


@dataclass(frozen=True)
class WrittenEvent:
    """An event that a flush opened in the graph, with the wall-clock times that give its latency."""

    key: str
    asset_key: str
    start: str
    received_at: float
    committed_at: float

    @property
    def latency_s(self) -> float:
        """Seconds from receiving the reading that opened the event to committing the event."""
        return self.committed_at - self.received_at


class EventSink:
    """Collect event updates and write them when `flush_count` are pending or `flush_interval_s` has passed."""

    def __init__(self, store: GraphStore, schema: GraphSchema, flush_count: int = 100,
                 flush_interval_s: float = 1.0, batch_size: int = 1000) -> None:
        if flush_count < 1:
            raise ValueError(f"flush_count must be at least 1, got {flush_count}")
        if flush_interval_s <= 0:
            raise ValueError(f"flush_interval_s must be positive, got {flush_interval_s}")
        self.writer = BatchedWriter(store, schema, batch_size)
        self.flush_count = flush_count
        self.flush_interval_s = flush_interval_s
        self.pending: dict[str, EventUpdate] = {}
        self.opened_at: dict[str, float] = {}
        self.oldest_pending: float | None = None
        self.written_events: deque[WrittenEvent] = deque(maxlen=MAX_LATENCY_RECORDS)
        self.events_opened = 0
        self.events_closed = 0
        self.flushes = 0
        self.failed_flushes = 0

    def add(self, update: EventUpdate) -> None:
        """Queue an update; it replaces an unwritten update of the same event."""
        if update.opened:
            self.opened_at[update.key] = update.received_at
        self.pending[update.key] = update
        if self.oldest_pending is None:
            self.oldest_pending = clock.monotonic()

    def seconds_until_due(self) -> float | None:
        """Return the seconds until the next timed flush, 0 when one is due, None when nothing is pending."""
        if self.oldest_pending is None:
            return None
        if len(self.pending) >= self.flush_count:
            return 0.0
        return max(0.0, self.oldest_pending + self.flush_interval_s - clock.monotonic())

    def flush(self) -> int:
        """Write every pending update in one batched write; return the number of events written.

        Raises GraphStoreError when Neo4j rejects or cannot take the write; the updates then stay
        pending for the next flush.
        """
        if not self.pending:
            return 0
        updates = list(self.pending.values())
        nodes, relationships = event_records(updates)
        self.writer.write(nodes, relationships)
        committed = clock.time()
        self.flushes += 1

        for update in updates:
            if update.key in self.opened_at:
                received = self.opened_at.pop(update.key)
                self.written_events.append(WrittenEvent(update.key, update.asset_key, update.start.isoformat(),
                                                        received, committed))
                self.events_opened += 1
            if update.closed:
                self.events_closed += 1
        self.pending.clear()
        self.oldest_pending = None
        logger.debug("wrote %d anomaly event updates", len(updates))
        return len(updates)

    def flush_or_keep(self) -> int:
        """Flush, logging and counting a failure instead of raising; the updates stay pending."""
        try:
            return self.flush()
        except GraphStoreError as error:
            self.failed_flushes += 1
            # Retry after another interval, not in a tight loop.
            self.oldest_pending = clock.monotonic()
            logger.error("writing %d anomaly events failed (attempt %d); retrying in %.1f s: %s",
                         len(self.pending), self.failed_flushes, self.flush_interval_s, error)
            return 0


def event_records(updates: list[EventUpdate]) -> tuple[list[NodeRecord], list[RelationshipRecord]]:
    """Return the AnomalyEvent nodes and their FOR_ASSET and INVOLVES_SIGNAL relationships."""
    nodes, relationships = [], []
    for update in updates:
        signals = ", ".join(key.rsplit(":", 1)[-1] for key in update.contributions)
        properties = {
            "name": f"anomaly on {update.asset_tag} from {update.start.isoformat()}",
            "description": f"live anomaly involving {signals or 'no mapped signal'}",
            "startTime": update.start,
            "endTime": update.end if update.closed else None,
            "peakScore": round(update.peak_score, 6),
            "modelVersion": update.model_version,
            "source": "mqtt",
        }
        nodes.append(NodeRecord("AnomalyEvent", update.key, properties))
        relationships.append(RelationshipRecord("FOR_ASSET", "AnomalyEvent", update.key, "Asset", update.asset_key))
        for signal_key, share in update.contributions.items():
            relationships.append(RelationshipRecord("INVOLVES_SIGNAL", "AnomalyEvent", update.key, "Signal",
                                                    signal_key, {"contribution": share}))
    return nodes, relationships
