"""Running summary statistics of one signal: count, mean, variance, minimum, maximum and time span.

One `SignalStats` takes values one at a time (Welford's update), whole chunks (`from_values`)
and the statistics of other parts of the same signal (`merge`, Chan et al.'s parallel update).
The result is the same, up to rounding, whichever way the values arrive, so a loader can read
a file row by row or chunk by chunk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

import numpy as np
import pandas as pd


@dataclass
class SignalStats:
    """Count, mean, sum of squared deviations (`m2`), min, max and time span of a signal's values."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf
    first: datetime | None = None
    last: datetime | None = None

    @classmethod
    def from_values(cls, values: np.ndarray | Sequence[float],
                    times: np.ndarray | pd.Series | Sequence[datetime | None] | None = None) -> "SignalStats":
        """Summarise a chunk of values; NaN values and their times are left out.

        `times`, when given, has one entry per value (NaT or None where the value has no time).
        """
        array = np.asarray(values, dtype="float64")
        present = ~np.isnan(array)
        present_values = array[present]
        stats = cls()
        if present_values.size == 0:
            return stats
        stats.count = int(present_values.size)
        stats.mean = float(present_values.mean())
        stats.m2 = float(((present_values - stats.mean) ** 2).sum())
        stats.minimum = float(present_values.min())
        stats.maximum = float(present_values.max())
        if times is not None:
            stamps = pd.Series(pd.to_datetime(np.asarray(times)))
            if len(stamps) != len(array):
                raise ValueError(f"got {len(stamps)} times for {len(array)} values; give one time per value")
            stamps = stamps[present].dropna()
            if not stamps.empty:
                stats.first = stamps.min().to_pydatetime()
                stats.last = stamps.max().to_pydatetime()
        return stats

    def update(self, value: float, when: datetime | None = None) -> None:
        """Add one value (Welford's online update), with the time it was sampled at when known."""
        self.count += 1
        delta = value - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (value - self.mean)
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)
        self._widen_span(when, when)

    def merge(self, other: "SignalStats") -> "SignalStats":
        """Add the statistics of another, disjoint part of the same signal; return self.

        This is Chan et al.'s parallel update: the means combine by weight, and `m2` gains the
        squared difference of the means times `n_a * n_b / n`.
        """
        if other.count == 0:
            return self
        total = self.count + other.count
        delta = other.mean - self.mean
        self.mean += delta * other.count / total
        self.m2 += other.m2 + delta * delta * self.count * other.count / total
        self.count = total
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)
        self._widen_span(other.first, other.last)
        return self

    def _widen_span(self, first: datetime | None, last: datetime | None) -> None:
        if first is not None:
            self.first = first if self.first is None else min(self.first, first)
        if last is not None:
            self.last = last if self.last is None else max(self.last, last)

    @property
    def variance(self) -> float:
        """Sample variance (divided by count - 1); 0.0 for fewer than two values."""
        return self.m2 / (self.count - 1) if self.count > 1 else 0.0

    @property
    def std_dev(self) -> float:
        """Sample standard deviation; 0.0 for fewer than two values."""
        return math.sqrt(self.variance)
