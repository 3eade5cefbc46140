"""Training and detection use cases on stored telemetry, shared by the CLI and the tests.

Training reads a source's stored samples (see `loaders.timeseries_store`), builds gap-free
segments and fits a detector per asset class: every asset of the source shares one model.
Detection scores the stored samples of some or all assets, turns anomalous windows into
AnomalyEvent records and writes them through the BatchedWriter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kg_service.anomaly.detector import Detector, fit_rolling_mad, save_detector
from kg_service.anomaly.events import DetectedEvent, events_batch, find_events, score_segment
from kg_service.anomaly.series import Segment, SegmentReport, build_segments
from kg_service.errors import InputDataError
from kg_service.graph.writer import BatchedWriter, WriteProgress, WriteReport

logger = logging.getLogger(__name__)

DetectorKind = Literal["model", "baseline"]
# Samples of long (change-per-row) recordings are put on a grid of this many seconds.
DEFAULT_LONG_STEP_S = 1.0


def model_signals(mapping, requested: list[str] | None = None) -> list[str]:
    """Return the signals a detector uses: `requested`, or every numeric and binary signal of the mapping."""
    names = [signal.name for signal in mapping.signals]
    if requested:
        unknown = [name for name in requested if name not in names]
        if unknown:
            raise InputDataError(f"unknown signal(s) {unknown}; the mapping defines {names}",
                                 hint="pass signal names as the mapping's 'name' fields")
        return list(requested)
    return [signal.name for signal in mapping.signals if signal.kind in ("numeric", "binary")]


def default_asset_class(mapping) -> str:
    """Return the checkpoint folder name of a source's assets: `<ontology class>-<source>`."""
    return f"{mapping.asset_class}-{mapping.source}"


def load_segments(settings, mapping, signals: list[str], window: int, step_s: float | None = None,
                  assets: list[str] | None = None) -> tuple[list[Segment], SegmentReport]:
    """Read a source's stored samples and split them into gap-free segments of at least `window` rows."""
    from loaders.timeseries_store import read_samples

    frame = read_samples(settings.telemetry_dir / mapping.source, assets, signals)
    if assets:
        unknown = sorted(set(assets) - set(frame["asset"].unique()))
        if unknown:
            raise InputDataError(f"no stored samples for asset(s) {unknown} of source {mapping.source!r}",
                                 hint="load their telemetry first, or check the asset names")
    if not mapping.partition_assets:
        frame = single_series(frame)
    step = step_s
    if step is None and mapping.layout == "long":
        step = DEFAULT_LONG_STEP_S
    return build_segments(frame, signals, window, step, mapping.max_gap_s)


def single_series(frame):
    """Merge the rows of all assets into one series per recording, in time and sequence order.

    A mapping with `partition_assets: false` (AI4I: each product has one sample) describes one
    machine's stream, as `evaluate anomalies` reads it. Each row keeps its asset in `row_asset`,
    so an event can still point at the asset of its peak sample.
    """
    from loaders.timeseries_store import ALL_ASSETS

    merged = frame.assign(row_asset=frame["asset"], asset=ALL_ASSETS)
    return merged.sort_values(["recording", "time", "sequence"], kind="stable").reset_index(drop=True)


@dataclass
class TrainResult:
    """Outcome of training: the detector, its checkpoint folder, per-epoch figures and the segment counts."""

    detector: Detector
    folder: Path
    segments: SegmentReport
    epoch_losses: list[float]
    epoch_seconds: list[float]
    device: str


def observed_signals(settings, mapping, names: list[str], assets: list[str] | None = None) -> list[str]:
    """Return the signals that every stored recording observes, in order.

    A long file records a signal only when its value changes, so a signal that one recording never
    reports would leave all of that recording's rows incomplete and no window could be trained on.
    """
    from loaders.timeseries_store import read_samples

    frame = read_samples(settings.telemetry_dir / mapping.source, assets, names)
    if frame.empty:
        return names
    seen = frame.groupby("recording")[names].agg(lambda column: column.notna().any()).all()
    kept = [name for name in names if bool(seen[name])]
    dropped = [name for name in names if name not in kept]
    if dropped:
        logger.warning("training without %d signal(s) that some recordings of %r never report: %s",
                       len(dropped), mapping.source, ", ".join(dropped))
    return kept


def train_detector(settings, mapping, kind: DetectorKind = "model", window: int = 32, epochs: int = 5,
                   signals: list[str] | None = None, assets: list[str] | None = None,
                   asset_class: str | None = None, step_s: float | None = None, max_seconds: float | None = None,
                   on_epoch: Callable[[int, float], None] | None = None, threads: int | None = None) -> TrainResult:
    """Train a detector on a source's stored samples and save its checkpoint under `settings.models_dir`."""
    names = model_signals(mapping, signals)
    if signals is None and mapping.layout == "long":
        names = observed_signals(settings, mapping, names, assets)
    segments, report = load_segments(settings, mapping, names, window, step_s, assets)
    series = [segment.values for segment in segments]
    if not series:
        raise InputDataError(f"no gap-free stretch of {window} samples of {names} in the stored samples of "
                             f"{mapping.source!r}: {report.explain_no_windows(window)}",
                             hint=_no_windows_hint(report, window))
    group = asset_class or default_asset_class(mapping)
    # NOTE: one normalisation serves all assets of the class, so an asset whose normal operating point
    # differs from the others' (initial wear of a C-MAPSS engine) scores higher from its first window.
    if kind == "baseline":
        detector = fit_rolling_mad(series, names, group, window)
        losses, seconds, device = [], [], "cpu"
    else:
        from kg_service.anomaly.model import train_masked_model

        detector, training = train_masked_model(series, names, group, settings, window=window, epochs=epochs,
                                                max_seconds=max_seconds, on_epoch=on_epoch,
                                                threads=threads)
        losses, seconds, device = training.epoch_losses, training.epoch_seconds, training.device
    folder = save_detector(detector, settings.models_dir)
    return TrainResult(detector, folder, report, losses, seconds, device)


def _no_windows_hint(report: SegmentReport, window: int, detect: bool = False) -> str:
    """Return what to do when no segment reached the window length, matching `explain_no_windows`."""
    if report.rows == 0:
        return "Load the telemetry with 'kg-service ingest telemetry', or check the --asset names"
    if report.empty_signals:
        empty = sorted({name for names in report.empty_signals.values() for name in names})
        if detect:
            return (f"Train a detector without the empty signal(s) {empty} ('kg-service anomalies train --signal "
                    f"...' with the other signals) and detect with it")
        return f"Leave out the empty signal(s) {empty}: pass the other signals with --signal"
    if report.longest >= 4:
        option = "train a detector with --window" if detect else "pass --window"
        return f"{option.capitalize()} {report.longest} or smaller, or load longer gap-free recordings"
    return "Load longer gap-free recordings; the window has at least 4 samples"


@dataclass
class DetectResult:
    """Outcome of detection: the events, the number of scored windows, segment counts and the write report."""

    events: list[DetectedEvent]
    windows: int
    segments: SegmentReport
    report: WriteReport
    warning: str | None = None


def detect_anomalies(store, schema, settings, mapping, detector: Detector, assets: list[str] | None = None,
                     step_s: float | None = None, progress: WriteProgress | None = None) -> DetectResult:
    """Score stored samples with `detector` and write one AnomalyEvent per interval of anomalous windows."""
    from loaders.timeseries import asset_key, signal_key

    segments, report = load_segments(settings, mapping, list(detector.signals), detector.window, step_s, assets)
    events: list[DetectedEvent] = []
    windows = 0
    for segment in segments:
        scores, contributions = score_segment(detector, segment)
        windows += len(scores)
        events.extend(find_events(detector, segment, scores, contributions))
    batch = events_batch(events, detector, mapping.assets, mapping.asset_class,
                         lambda asset: asset_key(mapping, asset),
                         lambda asset, signal: signal_key(mapping, asset, signal), source=mapping.source)
    _check_endpoints(store, batch)
    writer = BatchedWriter(store, schema, settings.batch_size, progress)
    write_report = writer.write(batch.nodes.values(), batch.relationships.values())
    logger.info("%s: scored %d windows of %d segments with %s; %d anomaly events", mapping.source, windows,
                len(segments), detector.version, len(events))
    warning = None
    if windows == 0:
        # Zero events here means "not scored", not "healthy", so the caller must see why.
        warning = (f"no window of {detector.window} samples of {detector.signals} could be scored for "
                   f"{assets or 'any asset'} of {mapping.source!r}: {report.explain_no_windows(detector.window)}. "
                   f"{_no_windows_hint(report, detector.window, detect=True)}")
        logger.warning("%s", warning)
    return DetectResult(events, windows, report, write_report, warning)


def _check_endpoints(store, batch) -> None:
    """Raise InputDataError before any write when an event would point at an asset or signal not in the graph."""
    from kg_service.graph.identifiers import quote
    from kg_service.ontology.schema import ENTITY_LABEL

    targets = sorted({relationship.end_id for relationship in batch.relationships.values()})
    if not targets:
        return
    found = {row["id"] for row in store.read(f"MATCH (n:{quote(ENTITY_LABEL)}) WHERE n.id IN $ids RETURN n.id AS id",
                                             {"ids": targets})}
    missing = [key for key in targets if key not in found]
    if missing:
        raise InputDataError(f"{len(missing)} assets or signals of the anomaly events are not in the graph (for "
                             f"example {missing[:3]}); nothing was written",
                             hint="load the source's telemetry with 'kg-service ingest telemetry' first")
