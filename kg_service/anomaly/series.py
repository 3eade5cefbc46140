"""Turn stored samples into gap-free segments that detectors can slide windows over.

A segment is one stretch of one asset's recording with no missing value and no gap. Samples of
event-style recordings (a long file stores a row per change) are first put on a regular grid of
`step_s` seconds, carrying each value forward. Rows with a missing signal value are dropped and
split the segment; time steps above `max_gap_s` split it too. Both are counted, so a caller can
log what it skipped instead of scoring windows that span a hole.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)


@dataclass
class Segment:
    """Gap-free samples of one asset: times (or None), sequence numbers (or None) and values `[n, signals]`.

    `row_assets` contains the asset of each row when one series spans many assets (a mapping with
    `partition_assets: false`, where each product has one sample). It is None otherwise.
    """

    asset: str
    recording: str
    times: np.ndarray | None
    sequence: np.ndarray | None
    values: np.ndarray
    row_assets: np.ndarray | None = None


@dataclass
class SegmentReport:
    """Counts of rows with missing values, gaps and too-short segments that segment preparation dropped."""

    rows: int = 0
    missing_rows: int = 0
    gaps: int = 0
    short_segments: int = 0
    by_asset: dict[str, int] = field(default_factory=dict)
    longest: int = 0
    empty_signals: dict[str, list[str]] = field(default_factory=dict)

    def explain_no_windows(self, window: int) -> str:
        """Return why no segment reached `window` rows: no samples, signals without values, or gaps."""
        if self.rows == 0:
            return "no stored samples in the requested range"
        if self.empty_signals:
            listed = "; ".join(f"{asset}: {', '.join(signals)}"
                               for asset, signals in sorted(self.empty_signals.items()))
            return (f"some signals have no value at all for an asset, so every row of that asset is incomplete "
                    f"({listed})")
        per_asset = sorted(self.by_asset.values())
        return (f"{len(per_asset)} asset(s) with {per_asset[0]} to {per_asset[-1]} samples each; the longest "
                f"gap-free stretch has {self.longest} samples, fewer than the window of {window} "
                f"({self.missing_rows} rows with missing values, {self.gaps} gaps)")


def regular_grid(frame: pd.DataFrame, signals: list[str], step_s: float) -> pd.DataFrame:
    """Resample one recording onto a grid of `step_s` seconds, carrying the last value forward."""
    indexed = frame.set_index("time")[signals]
    indexed = indexed[~indexed.index.duplicated(keep="last")]
    grid = pd.date_range(indexed.index.min(), indexed.index.max(), freq=pd.Timedelta(seconds=step_s))
    resampled = indexed.reindex(indexed.index.union(grid)).ffill().reindex(grid)
    return resampled.rename_axis("time").reset_index()


def build_segments(frame: pd.DataFrame, signals: list[str], window: int, step_s: float | None = None,
                   max_gap_s: float | None = None) -> tuple[list[Segment], SegmentReport]:
    """Split stored samples (`read_samples` output) into gap-free segments of at least `window` rows."""
    report = SegmentReport()
    segments: list[Segment] = []
    for (asset, recording), group in frame.groupby(["asset", "recording"], sort=True):
        empty = [name for name in signals if bool(group[name].isna().all())]
        if empty:
            known = report.empty_signals.setdefault(str(asset), [])
            known.extend(name for name in empty if name not in known)
        dated = bool(group["time"].notna().all())
        if step_s is not None and dated:
            group = regular_grid(group, signals, step_s)
            group["sequence"] = pd.NA
        report.rows += len(group)
        values = group[signals].to_numpy(dtype=np.float64)
        row_assets = group["row_asset"].to_numpy(dtype=object) if "row_asset" in group else None
        missing = np.isnan(values).any(axis=1)
        report.missing_rows += int(missing.sum())
        breaks = missing.copy()
        if dated and max_gap_s is not None:
            steps = group["time"].diff().dt.total_seconds().to_numpy()
            gaps = steps > max_gap_s
            report.gaps += int(np.nansum(gaps))
            breaks |= np.nan_to_num(gaps, nan=0).astype(bool)
        elif not dated:
            steps = group["sequence"].astype("float64").diff().to_numpy()
            gaps = steps > 1
            report.gaps += int(np.nansum(gaps))
            breaks |= np.nan_to_num(gaps, nan=0).astype(bool)
        times = group["time"].to_numpy() if dated else None
        sequence = group["sequence"].to_numpy() if bool(group["sequence"].notna().all()) else None
        # A segment starts at each break; a row with missing values is itself dropped.
        segment_ids = np.cumsum(breaks)
        for segment_id in np.unique(segment_ids[~missing]):
            rows = np.where((segment_ids == segment_id) & ~missing)[0]
            report.longest = max(report.longest, len(rows))
            if len(rows) < window:
                report.short_segments += 1
                continue
            segments.append(Segment(str(asset), str(recording), None if times is None else times[rows],
                                    None if sequence is None else sequence[rows], values[rows],
                                    None if row_assets is None else row_assets[rows]))
        report.by_asset[str(asset)] = report.by_asset.get(str(asset), 0) + len(group)
    if report.missing_rows or report.gaps:
        logger.warning("skipped %d rows with missing values and split at %d gaps; %d segments shorter than the "
                       "window of %d samples were not scored", report.missing_rows, report.gaps,
                       report.short_segments, window)
    return segments, report
