"""From window scores to AnomalyEvent records.

A window is anomalous when its score exceeds the detector's threshold; its position is its
newest sample. Anomalous windows of one segment that are at most `merge_gap` windows apart form
one event: it starts at the first anomalous window's newest sample, ends at the last one's, and
carries the peak score. The contributing signals are those whose contribution at the peak
exceeds the threshold (at least the top one, at most `MAX_SIGNALS`). Each is linked by
INVOLVES_SIGNAL, whose `contribution` is the signal's share (0 to 1) of the sum of all
contributions at the peak.

The event key is built from the source, asset, detector version and start, so detecting again
with the same detector on the same samples merges onto the same nodes and changes nothing. Each
event carries `source` and `sourceFile`, the stem of the telemetry file whose samples it comes from.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from kg_service.anomaly.detector import Detector, sliding_windows
from kg_service.anomaly.series import Segment
from kg_service.graph.records import GraphBatch, RelationshipRecord, slug

logger = logging.getLogger(__name__)

MAX_SIGNALS = 5


@dataclass
class DetectedEvent:
    """An interval of anomalous windows of one asset, with its peak and contributing signals."""

    asset: str
    recording: str
    start: datetime | None
    end: datetime | None
    start_sequence: int | None
    end_sequence: int | None
    peak_score: float
    contributions: dict[str, float]
    shares: dict[str, float]
    windows: int

    @property
    def position(self) -> str:
        return self.start.isoformat() if self.start is not None else f"seq-{self.start_sequence}"


def score_segment(detector: Detector, segment: Segment) -> tuple[np.ndarray, np.ndarray]:
    """Score every window of a segment; row i belongs to the window that ends at sample i + window - 1."""
    return detector.score_windows(sliding_windows(segment.values, detector.window))


def find_events(detector: Detector, segment: Segment, scores: np.ndarray, contributions: np.ndarray,
                merge_gap: int | None = None) -> list[DetectedEvent]:
    """Group the segment's anomalous windows into events (see the module docstring)."""
    merge_gap = detector.window if merge_gap is None else merge_gap
    flagged = np.where(scores > detector.threshold)[0]
    if flagged.size == 0:
        return []
    groups: list[list[int]] = [[int(flagged[0])]]
    for index in flagged[1:]:
        if index - groups[-1][-1] <= merge_gap:
            groups[-1].append(int(index))
        else:
            groups.append([int(index)])

    events = []
    offset = detector.window - 1
    for group in groups:
        peak = max(group, key=lambda index: scores[index])
        row = contributions[peak]
        total = float(row.sum()) or 1.0
        order = np.argsort(-row)
        chosen = [int(i) for i in order[:MAX_SIGNALS] if row[i] > detector.threshold] or [int(order[0])]
        first, last = group[0] + offset, group[-1] + offset
        times, sequence = segment.times, segment.sequence
        # A series of many assets (one sample per product) attributes the event to its peak sample's asset.
        asset = segment.asset if segment.row_assets is None else str(segment.row_assets[peak + offset])
        events.append(DetectedEvent(
            asset=asset, recording=segment.recording,
            start=None if times is None else pd.Timestamp(times[first]).to_pydatetime(),
            end=None if times is None else pd.Timestamp(times[last]).to_pydatetime(),
            start_sequence=None if sequence is None else int(sequence[first]),
            end_sequence=None if sequence is None else int(sequence[last]),
            peak_score=float(scores[peak]),
            contributions={detector.signals[i]: round(float(row[i]), 6) for i in chosen},
            shares={detector.signals[i]: round(float(row[i] / total), 6) for i in chosen},
            windows=len(group)))
    return events


def event_key(namespace: str, event: DetectedEvent, version: str) -> str:
    return f"anomaly:{namespace}:{slug(event.asset)}:{version}:{event.position}"


def events_batch(events: list[DetectedEvent], detector: Detector, namespace: str, asset_label: str, asset_key,
                 signal_key, source: str, batch: GraphBatch | None = None) -> GraphBatch:
    """Return AnomalyEvent nodes with FOR_ASSET and INVOLVES_SIGNAL relationships for `events`.

    `asset_key(asset)` and `signal_key(asset, signal)` return the keys of the nodes that the
    telemetry loader wrote. The batch does not contain those nodes, so the writer rejects it
    when one of them is missing from the graph instead of creating an empty asset or signal.
    """
    batch = batch or GraphBatch()
    for event in events:
        asset = asset_key(event.asset)
        signals = ", ".join(event.contributions)
        key = batch.add_node(
            "AnomalyEvent", event_key(namespace, event, detector.version),
            name=f"anomaly of {signals} on {event.asset} at {event.position}",
            description=f"{event.windows} anomalous windows of {detector.window} samples; threshold "
                        f"{detector.threshold:.4g}",
            startTime=event.start, endTime=event.end, sequence=event.start_sequence,
            peakScore=round(event.peak_score, 6), modelVersion=detector.version, source=source,
            sourceFile=event.recording)
        batch.relationships[(key, "FOR_ASSET", asset)] = RelationshipRecord(
            "FOR_ASSET", "AnomalyEvent", key, asset_label, asset)
        for signal, share in event.shares.items():
            signal_node = signal_key(event.asset, signal)
            batch.relationships[(key, "INVOLVES_SIGNAL", signal_node)] = RelationshipRecord(
                "INVOLVES_SIGNAL", "AnomalyEvent", key, "Signal", signal_node, {"contribution": share})
    return batch
