"""Sliding windows of live readings per asset, online scoring and anomaly-event tracking.

Readings arrive one signal at a time, often only when a value changes. So each asset keeps the
last value of every detector signal and samples that state on a fixed grid of `period` seconds of
reading time (sample and hold). A grid row at time b holds the state after
every reading with a time up to b, so it is complete once a later reading arrives.

`LiveScorer.score_pending` scores every completed row once the window is full, and after each
reading of a detector signal a provisional window: the last `window - 1` completed rows and the
current state at the reading's time. The provisional window makes an event visible as soon as
the reading that starts it arrives, instead of when a later reading completes its grid row, which
keeps the latency bounded on change-based streams. It also catches changes shorter than one
period. Scoring depends only on the readings and their order, so a replay gives the same events.

Consecutive anomalous rows form one event; it closes after `close_after` normal rows. Its
contributions are each signal's highest share of a window score during the event. Each
change of an event produces an `EventUpdate` with a stable key, so writing the updates again
changes nothing.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from kg_service.anomaly.live_payload import Reading, RejectedReading
from kg_service.graph.records import slug

if TYPE_CHECKING:
    from kg_service.anomaly.detector import Detector

logger = logging.getLogger(__name__)

# Contributions below this share of an event's score are not linked as involved signals,
# except the largest one, which is always linked.
MIN_CONTRIBUTION_SHARE = 0.1
# Grid rows lie on whole multiples of the period since the Unix epoch (naive UTC).
EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True)
class AssetBinding:
    """A topic asset tag bound to its graph asset, the Signal keys of its signals and their units, by name."""

    tag: str
    asset_key: str
    signal_keys: dict[str, str]
    units: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EventUpdate:
    """The current state of one anomaly event, to be written to the graph.

    `received_at` is the wall-clock time (`time.time()`) at which the subscriber received the
    reading that produced this update, and `opened` is True for the update that opened the event.
    """

    key: str
    asset_key: str
    asset_tag: str
    start: datetime
    end: datetime
    peak_score: float
    model_version: str
    contributions: dict[str, float]
    closed: bool
    opened: bool
    received_at: float


@dataclass
class _OpenEvent:
    key: str
    start: datetime
    end: datetime
    peak_score: float
    contributions: dict[str, float]
    normal_rows: int = 0


@dataclass
class AssetWindow:
    """The sampled state of one asset's detector signals and its last `window` grid rows."""

    binding: AssetBinding
    signals: list[str]
    window: int
    period: timedelta
    state: np.ndarray = field(init=False)
    rows: deque = field(init=False)
    # Windows to score in order: (time, row, completed). A completed row enters `rows`; a provisional one does not.
    pending: list[tuple[datetime, np.ndarray, bool]] = field(init=False, default_factory=list)
    next_boundary: datetime | None = None
    last_time: datetime | None = None
    last_received_at: float = 0.0
    warned_incomplete: bool = False
    event: _OpenEvent | None = None

    def __post_init__(self) -> None:
        self.index = {name: position for position, name in enumerate(self.signals)}
        self.state = np.full(len(self.signals), np.nan)
        self.rows = deque(maxlen=self.window)

    def add(self, reading: Reading, received_at: float) -> bool:
        """Apply a reading; return False when its signal is not a detector signal (it only moves the clock).

        Raises RejectedReading('late') for a reading older than the last completed grid row.
        """
        if self.next_boundary is not None and reading.time < self.next_boundary - self.period:
            raise RejectedReading("late", f"reading of {reading.asset}/{reading.signal} at {reading.time} is "
                                          f"older than the last completed sample at "
                                          f"{self.next_boundary - self.period} of this asset")
        self._complete_rows(reading.time)
        self.last_time = reading.time if self.last_time is None else max(self.last_time, reading.time)
        self.last_received_at = received_at
        position = self.index.get(reading.signal)
        if position is None:
            return False
        self.state[position] = reading.value
        self.pending.append((reading.time, self.state.copy(), False))
        return True

    def _complete_rows(self, time: datetime) -> None:
        """Close every grid row whose time lies before `time`, holding the state across gaps."""
        if self.next_boundary is None:
            seconds = self.period.total_seconds()
            floor = math.floor((time - EPOCH).total_seconds() / seconds) * seconds
            self.next_boundary = EPOCH + timedelta(seconds=floor)
            if self.next_boundary < time:
                self.next_boundary += self.period
            return
        emitted = 0
        while self.next_boundary < time:
            remaining = math.ceil((time - self.next_boundary) / self.period)
            if emitted >= self.window and remaining > 1:
                # Rows inside a long gap repeat the held state, and `window` of them fill the window. So the
                # rest is skipped up to the last row before `time`, which still extends an open event.
                self.next_boundary += (remaining - 1) * self.period
            self.pending.append((self.next_boundary, self.state.copy(), True))
            emitted += 1
            self.next_boundary += self.period


class LiveScorer:
    """Score each asset's windows with one detector and turn anomalous rows into event updates.

    Usage::

        scorer = LiveScorer(detector, period_s=1.0)
        scorer.add(binding, reading, time.time())
        updates = scorer.score_pending()
    """

    def __init__(self, detector: "Detector", period_s: float = 1.0, close_after: int = 2) -> None:
        if period_s <= 0:
            raise ValueError(f"period_s must be positive, got {period_s}")
        if close_after < 1:
            raise ValueError(f"close_after must be at least 1, got {close_after}")
        self.detector = detector
        self.signals = list(detector.signals)
        self.window = int(detector.window)
        self.period = timedelta(seconds=period_s)
        self.close_after = close_after
        self.windows: dict[str, AssetWindow] = {}
        self.scores = 0

    def add(self, binding: AssetBinding, reading: Reading, received_at: float) -> bool:
        """Apply one reading; return False when the detector does not use its signal."""
        window = self.windows.get(binding.tag)
        if window is None:
            window = AssetWindow(binding, self.signals, self.window, self.period)
            self.windows[binding.tag] = window
        return window.add(reading, received_at)

    def score_pending(self) -> list[EventUpdate]:
        """Score the completed rows and provisional windows of every asset in reading order."""
        updates: list[EventUpdate] = []
        for window in self.windows.values():
            for row_time, row, completed in window.pending:
                if completed:
                    window.rows.append(row)
                    self._score(window, list(window.rows), row_time, updates)
                elif len(window.rows) >= self.window - 1:
                    history = list(window.rows)[len(window.rows) - (self.window - 1):]
                    self._score(window, history + [row], row_time, updates)
            window.pending.clear()
        return updates

    def close_all(self) -> list[EventUpdate]:
        """Close every open event (at shutdown) and return the closing updates."""
        updates = []
        for window in self.windows.values():
            if window.event is not None:
                updates.append(self._update(window, closed=True, opened=False))
                window.event = None
        return updates

    def _score(self, window: AssetWindow, rows: list[np.ndarray], row_time: datetime,
               updates: list[EventUpdate]) -> None:
        if len(rows) < self.window:
            return
        matrix = np.vstack(rows)
        if np.isnan(matrix).any():
            # A signal without any reading yet leaves NaN in the window, and the detector scores only complete windows.
            if not window.warned_incomplete:
                silent = [name for name, value in zip(self.signals, window.state) if np.isnan(value)]
                logger.warning("asset %s has no reading yet of the detector signals %s; its windows are not "
                               "scored until every detector signal has a value", window.binding.tag, silent[:10])
                window.warned_incomplete = True
            return
        result = self.detector.score(matrix)
        self.scores += 1

        event = window.event
        if result.is_anomaly:
            shares = _shares(result.contributions)
            if event is None:
                key = event_key(window.binding.asset_key, self.detector.version, row_time)
                window.event = _OpenEvent(key, row_time, row_time, float(result.score), shares)
                updates.append(self._update(window, closed=False, opened=True))
                return
            event.end = max(event.end, row_time)
            event.normal_rows = 0
            merged = {name: max(share, event.contributions.get(name, 0.0)) for name, share in shares.items()}
            if result.score > event.peak_score or any(name not in event.contributions for name in merged):
                event.peak_score = max(event.peak_score, float(result.score))
                event.contributions.update(merged)
                updates.append(self._update(window, closed=False, opened=False))
            return
        if event is not None:
            event.normal_rows += 1
            if event.normal_rows >= self.close_after:
                updates.append(self._update(window, closed=True, opened=False))
                window.event = None

    def _update(self, window: AssetWindow, closed: bool, opened: bool) -> EventUpdate:
        event = window.event
        binding = window.binding
        contributions = {binding.signal_keys[name]: share for name, share in event.contributions.items()
                         if name in binding.signal_keys}
        return EventUpdate(event.key, binding.asset_key, binding.tag, event.start, event.end, event.peak_score,
                           self.detector.version, contributions, closed, opened, window.last_received_at)


def event_key(asset_key: str, model_version: str, start: datetime) -> str:
    """Return the stable key of a live anomaly event: asset, model version and start time."""
    return f"anomaly:live:{slug(asset_key)}:{slug(model_version)}:{start.strftime('%Y%m%dT%H%M%S.%f')}"


def _shares(contributions: dict[str, float]) -> dict[str, float]:
    """Return the contributions as shares of their sum, keeping the largest and those above the minimum share."""
    positive = {name: float(value) for name, value in contributions.items() if value and value > 0}
    total = sum(positive.values())
    if total <= 0:
        return {}
    shares = {name: value / total for name, value in positive.items()}
    largest = max(shares, key=shares.get)
    return {name: round(share, 6) for name, share in shares.items()
            if share >= MIN_CONTRIBUTION_SHARE or name == largest}
