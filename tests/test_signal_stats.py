"""Running signal statistics: Welford updates, chunk summaries and parallel merges agree."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
import pytest

from loaders.signal_stats import SignalStats
from tests.conftest import data_file

# Column 11 of train_FD001.txt (0-based) is sensor 7, P30: total pressure at the HPC outlet in psia.
P30_COLUMN = 11


@pytest.fixture(scope="module")
def p30() -> np.ndarray:
    return np.loadtxt(data_file("cmapss_fd001", "train_FD001.txt"), usecols=[P30_COLUMN])


def test_merged_halves_equal_one_pass(p30):
    middle = len(p30) // 2
    merged = SignalStats.from_values(p30[:middle]).merge(SignalStats.from_values(p30[middle:]))
    one_pass = SignalStats()
    for value in p30:
        one_pass.update(float(value))
    assert merged.count == one_pass.count == len(p30)
    assert merged.mean == pytest.approx(one_pass.mean, rel=1e-12)
    assert merged.m2 == pytest.approx(one_pass.m2, rel=1e-9)
    assert merged.minimum == one_pass.minimum
    assert merged.maximum == one_pass.maximum


def test_one_pass_matches_numpy(p30):
    one_pass = SignalStats()
    for value in p30:
        one_pass.update(float(value))
    assert one_pass.mean == pytest.approx(float(p30.mean()), rel=1e-12)
    assert one_pass.std_dev == pytest.approx(float(p30.std(ddof=1)), rel=1e-9)


def test_uneven_chunks_merge_equal(p30):
    merged = SignalStats()
    for start in range(0, len(p30), 997):
        merged.merge(SignalStats.from_values(p30[start:start + 997]))
    whole = SignalStats.from_values(p30)
    assert merged.count == whole.count
    assert merged.variance == pytest.approx(whole.variance, rel=1e-9)


def test_empty_merge_changes_nothing(p30):
    stats = SignalStats.from_values(p30[:100])
    before = (stats.count, stats.mean, stats.m2, stats.minimum, stats.maximum)
    stats.merge(SignalStats())
    assert (stats.count, stats.mean, stats.m2, stats.minimum, stats.maximum) == before


def test_merge_into_empty_copies(p30):
    part = SignalStats.from_values(p30[:100])
    merged = SignalStats().merge(part)
    assert merged.count == 100
    assert merged.mean == pytest.approx(part.mean, rel=1e-15)
    assert merged.m2 == pytest.approx(part.m2, rel=1e-12)


def test_two_empty_merge_empty():
    merged = SignalStats().merge(SignalStats())
    assert merged.count == 0
    assert merged.std_dev == 0.0
    assert merged.minimum == math.inf


def test_single_value_has_zero_spread():
    stats = SignalStats()
    stats.update(553.75)
    assert stats.count == 1
    assert stats.mean == 553.75
    assert stats.std_dev == 0.0
    assert stats.minimum == stats.maximum == 553.75


def test_single_value_chunk_equals_update():
    chunk = SignalStats.from_values([553.75])
    assert (chunk.count, chunk.mean, chunk.m2) == (1, 553.75, 0.0)


def test_chunk_skips_missing_values():
    stats = SignalStats.from_values([1.0, np.nan, 3.0])
    assert stats.count == 2
    assert stats.mean == 2.0


def test_time_span_covers_present_values():
    start = datetime(2000, 1, 1)
    times = [start + timedelta(minutes=10 * step) for step in range(4)]
    first = SignalStats.from_values([np.nan, 2.0, 3.0, 4.0], times[:4])
    second = SignalStats()
    second.update(1.0, start - timedelta(minutes=10))
    merged = first.merge(second)
    assert merged.first == start - timedelta(minutes=10)
    assert merged.last == times[3]


def test_chunk_times_length_checked():
    with pytest.raises(ValueError, match="one time per value"):
        SignalStats.from_values([1.0, 2.0], [datetime(2000, 1, 1)])
