"""Event precision and recall of the anomaly detectors against labelled failures and fault windows.

Two kinds of data are accepted:

- an AI4I-style CSV (one row per sample, ordered by the sequence column `UDI`, with the five
  process signals and the `Machine failure` flag). The whole file is one series; the labels are
  the failed rows. The detectors are trained on the same file without its labels
  (self-supervised), so they see the failures as part of "normal" data, as in production.
- a folder in the causRCA layout: a data set folder, its `dig_twin/` folder, or one group,
  scenario or run folder. The detectors are trained on the normal recordings in `real_op/` (of
  the input or a data set folder above it, else of the shared data set) and scored on every
  fault run in the folder. Each run's label is its fault window from `causes.json`,
  `cause_start_at` to `cause_end_at` seconds after the run starts. Recordings are put on a 1 s
  grid, carrying values forward.

Event-matching rule: an event covers the samples of all its windows, from `window - 1` samples
before its first anomalous window's newest sample to its last anomalous window's newest sample.
It matches a failure (one sample) or a fault window when that span, widened by `tolerance`
samples on each side, overlaps it. Precision is the share of events that match some label;
recall is the share of labels matched by at least one event. `chance_precision` is the
precision that events of the same span placed at random would reach, and `flagged_share` the
share of scored windows above the threshold: a detector that flags almost everything reaches high
precision and recall on long fault windows without telling faults apart.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from kg_service.anomaly.detector import Detector, fit_rolling_mad
from kg_service.anomaly.events import DetectedEvent, find_events, score_segment
from kg_service.anomaly.series import Segment, build_segments
from kg_service.errors import InputDataError

logger = logging.getLogger(__name__)

AI4I_SIGNALS = {"Air temperature [K]": "air temperature", "Process temperature [K]": "process temperature",
                "Rotational speed [rpm]": "rotational speed", "Torque [Nm]": "torque", "Tool wear [min]": "tool wear"}
AI4I_WINDOW = 8
CAUSRCA_WINDOW = 16
CAUSRCA_STEP_S = 1.0


@dataclass
class LabelledSeries:
    """A gap-free series to score and its labels as [first, last] sample index intervals."""

    name: str
    segment: Segment
    labels: list[tuple[int, int]]


@dataclass
class DetectorResult:
    """Event counts, precision and recall of one detector on one data set."""

    detector: str
    version: str
    threshold: float
    events: int
    matched_events: int
    labels: int
    detected_labels: int
    precision: float
    recall: float
    f1: float
    chance_precision: float
    flagged_share: float
    train_seconds: float


@dataclass
class AnomalyEvaluation:
    """The data set, its size, the matching rule's parameters and each detector's result."""

    data: str
    kind: str
    series: int
    samples: int
    labels: int
    window: int
    tolerance: int
    results: list[DetectorResult] = field(default_factory=list)
    normal_recordings: str | None = None
    """causRCA only: the folder whose `real_op/` the detectors were trained on."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


def match_events(events: list[tuple[int, int]], labels: list[tuple[int, int]], window: int,
                 tolerance: int) -> tuple[int, int]:
    """Return (events that match a label, labels matched by an event) under the module's matching rule."""
    matched_labels: set[int] = set()
    matched_events = 0
    for first, last in events:
        low, high = first - (window - 1) - tolerance, last + tolerance
        hits = [index for index, (start, end) in enumerate(labels) if start <= high and end >= low]
        matched_events += bool(hits)
        matched_labels.update(hits)
    return matched_events, len(matched_labels)


def _chance_precision(series: list[LabelledSeries], window: int, tolerance: int) -> float:
    """Return the share of positions at which an event of one window's span would match a label."""
    hits = total = 0
    for item in series:
        length = len(item.segment.values)
        covered = np.zeros(length, dtype=bool)
        for start, end in item.labels:
            covered[max(0, start - tolerance): min(length, end + window + tolerance)] = True
        hits += int(covered[window - 1:].sum())
        total += max(length - window + 1, 0)
    return hits / total if total else 0.0


def _event_indices(item: LabelledSeries, event: DetectedEvent) -> tuple[int, int]:
    segment = item.segment
    if segment.sequence is not None:
        positions = segment.sequence
        return int(np.searchsorted(positions, event.start_sequence)), int(np.searchsorted(positions,
                                                                                          event.end_sequence))
    positions = segment.times
    return (int(np.searchsorted(positions, np.datetime64(event.start))),
            int(np.searchsorted(positions, np.datetime64(event.end))))


def score_detector(name: str, detector: Detector, series: list[LabelledSeries], tolerance: int,
                   train_seconds: float) -> DetectorResult:
    """Detect events on every labelled series and compare them with the labels."""
    matched_events = detected = events_total = labels_total = flagged = windows = 0
    for item in series:
        scores, contributions = score_segment(detector, item.segment)
        flagged += int((scores > detector.threshold).sum())
        windows += len(scores)
        events = find_events(detector, item.segment, scores, contributions)
        spans = [_event_indices(item, event) for event in events]
        hits, found = match_events(spans, item.labels, detector.window, tolerance)
        matched_events += hits
        detected += found
        events_total += len(events)
        labels_total += len(item.labels)
    precision = matched_events / events_total if events_total else 0.0
    recall = detected / labels_total if labels_total else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return DetectorResult(name, detector.version, detector.threshold, events_total, matched_events, labels_total,
                          detected, round(precision, 4), round(recall, 4), round(f1, 4),
                          round(_chance_precision(series, detector.window, tolerance), 4),
                          round(flagged / windows, 4) if windows else 0.0, round(train_seconds, 2))


def read_ai4i(path: Path) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """Return the AI4I samples `[n, 5]` ordered by UDI, the UDIs and the failed rows as labels."""
    try:
        frame = pd.read_csv(path, encoding="utf-8-sig")
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise InputDataError(f"cannot read the file as CSV: {error}", path=str(path)) from None
    required = ["UDI", "Machine failure", *AI4I_SIGNALS]
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise InputDataError(f"missing AI4I columns {missing}", path=str(path), line=1,
                             hint="pass the AI4I 2020 CSV or a folder in the causRCA layout")
    frame = frame.sort_values("UDI")
    values = frame[list(AI4I_SIGNALS)].to_numpy(dtype=np.float64)
    if np.isnan(values).any():
        raise InputDataError("the AI4I signals contain empty or NaN values", path=str(path),
                             hint="remove or fill the incomplete rows first")
    failed = np.where(frame["Machine failure"].to_numpy() == 1)[0]
    return values, frame["UDI"].to_numpy(), [(int(index), int(index)) for index in failed]


def _causrca_frame(path: Path, mapping, origin) -> pd.DataFrame:
    from loaders.timeseries import TimeseriesReader

    return TimeseriesReader(mapping, None, time_origin=origin).read(path).frame


def find_normal_recordings(root: Path, normal: Path | None = None, data_dir: Path | None = None) -> Path:
    """Return the folder whose `real_op/` contains the normal recordings for the causRCA input `root`.

    That is `normal` when given, else `root` or a data set folder above it, else the shared data
    set `data_dir/causrca`. Raises InputDataError when none has `real_op/*.csv`.
    """
    from loaders.causrca import find_data_set_folder

    if normal is not None:
        candidates = [normal]
    else:
        candidates = [find_data_set_folder(root, "real_op"), data_dir / "causrca" if data_dir is not None else None]
    for folder in candidates:
        if folder is not None and any((folder / "real_op").glob("*.csv")):
            return folder
    raise InputDataError("no normal recordings (real_op/*.csv) in the input, a folder above it or the shared "
                         f"causRCA data set under {data_dir}", path=str(normal or root),
                         hint="pass --normal-recordings with a causRCA folder that contains real_op/")


def _with_encoding_fallback(mapping, run: Path, normal_root: Path):
    """Return `mapping` with its categorical encoding file taken from `normal_root` when no folder above `run` has one.

    A group, scenario or run folder copied out of its data set lacks the data set's
    categorical_encoding.json, which the normal recordings' folder has.
    """
    name = mapping.categorical_encoding
    if not name or any((folder / name).is_file() for folder in [run, *run.resolve().parents]):
        return mapping
    fallback = normal_root.resolve() / name
    if not fallback.is_file():
        return mapping
    # NOTE: a category that this encoding file lacks still fails the run. The causRCA release ships
    # one encoding file for all its recordings, so its own runs are covered.
    return mapping.model_copy(update={"categorical_encoding": str(fallback)})


def read_causrca(root: Path, mapping, window: int,
                 normal_root: Path | None = None) -> tuple[list[Segment], list[LabelledSeries], list[str]]:
    """Return the normal segments, the labelled fault runs and the signals used, from a causRCA layout.

    The fault runs are those of `find_fault_runs(root)`, and the normal recordings those in
    `normal_root/real_op` (default `root/real_op`).
    """
    from datetime import datetime, timedelta

    from kg_service.anomaly.service import model_signals
    from loaders.causrca import find_fault_runs

    origin = datetime(2025, 1, 1)
    normal_root = root if normal_root is None else normal_root
    normal_files = sorted((normal_root / "real_op").glob("*.csv"))
    runs = find_fault_runs(root)
    if not normal_files or not runs:
        raise InputDataError(f"expected normal recordings in {normal_root / 'real_op'}/*.csv and fault runs with "
                             "causes.json", path=str(root),
                             hint="pass a causRCA data set, group, scenario or run folder")
    normal = [_causrca_frame(path, mapping, origin) for path in normal_files]
    fault_mapping = _with_encoding_fallback(mapping, runs[0], normal_root)
    faults = []
    for run in runs:
        recordings = sorted(run.glob("faultDataset_*.csv"))
        if len(recordings) != 1:
            raise InputDataError(f"expected one faultDataset_*.csv, found {len(recordings)}", path=str(run))
        causes = json.loads((run / "causes.json").read_text(encoding="utf-8"))
        faults.append((run, _causrca_frame(recordings[0], fault_mapping, origin), causes))

    # A signal is used when every recording observes it: one never seen would leave every row incomplete.
    candidates = model_signals(mapping)
    signals = [name for name in candidates
               if all(frame[name].notna().any() for frame in normal + [frame for _, frame, _ in faults])]
    normal_segments, _ = build_segments(pd.concat(normal, ignore_index=True), signals, window, CAUSRCA_STEP_S)
    labelled = []
    for run, frame, causes in faults:
        segments, _ = build_segments(frame, signals, window, CAUSRCA_STEP_S)
        if not segments:
            logger.warning("%s: no complete stretch of %d samples; the run is not scored", run, window)
            continue
        segment = max(segments, key=lambda item: len(item.values))
        start = np.datetime64(origin + timedelta(seconds=float(causes["cause_start_at"])))
        end = np.datetime64(origin + timedelta(seconds=float(causes["cause_end_at"])))
        first, last = int(np.searchsorted(segment.times, start)), int(np.searchsorted(segment.times, end))
        name = str(run.relative_to(root)) if run != root else run.name
        labelled.append(LabelledSeries(name, segment,
                                       [(first, min(last, len(segment.values) - 1))]))
    return normal_segments, labelled, signals


def evaluate_anomalies(path: Path, settings, detectors: list[str], epochs: int = 5, tolerance: int | None = None,
                       max_seconds: float | None = None, threads: int | None = None,
                       normal_recordings: Path | None = None) -> AnomalyEvaluation:
    """Train the chosen detectors ("model", "baseline") without labels and measure event precision and recall.

    `normal_recordings` is a causRCA folder with `real_op/` (see `find_normal_recordings`).
    """
    import time

    from kg_service.anomaly.model import train_masked_model
    from loaders.mapping import load_mapping

    path = Path(path)
    if path.is_dir():
        mapping = load_mapping(Path(__file__).resolve().parents[2] / "loaders" / "mappings" / "causrca_long.yaml")
        window = CAUSRCA_WINDOW
        normal_root = find_normal_recordings(path, normal_recordings, settings.data_dir)
        training, series, signals = read_causrca(path, mapping, window, normal_root)
        kind, samples = "causrca", sum(len(item.segment.values) for item in series)
        tolerance = window if tolerance is None else tolerance
    elif path.is_file():
        window = AI4I_WINDOW
        values, udi, labels = read_ai4i(path)
        signals = list(AI4I_SIGNALS.values())
        segment = Segment("ai4i", path.stem, None, udi, values)
        training, series = [segment], [LabelledSeries(path.stem, segment, labels)]
        kind, samples = "ai4i", len(values)
        tolerance = 0 if tolerance is None else tolerance
    else:
        raise InputDataError("file or folder not found", path=str(path),
                             hint="pass an AI4I CSV file or a causRCA folder")

    evaluation = AnomalyEvaluation(str(path), kind, len(series), samples, sum(len(item.labels) for item in series),
                                   window, tolerance)
    if kind == "causrca":
        evaluation.normal_recordings = str(normal_root)
    training_values = [segment.values for segment in training]
    for name in detectors:
        started = time.perf_counter()
        if name == "baseline":
            detector = fit_rolling_mad(training_values, signals, f"evaluation-{kind}", window)
        else:
            detector, _ = train_masked_model(training_values, signals, f"evaluation-{kind}", settings, window=window,
                                             epochs=epochs, max_seconds=max_seconds, threads=threads)
        elapsed = time.perf_counter() - started
        evaluation.results.append(score_detector(name, detector, series, tolerance, elapsed))
        logger.debug("%s on %s: %s", name, kind, evaluation.results[-1])
    return evaluation
