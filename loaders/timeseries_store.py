"""Raw telemetry samples in Parquet, partitioned by asset and day.

Layout under `settings.telemetry_dir / <source>`::

    asset=<asset>/day=<YYYY-MM-DD>/part-<file stem>-<chunk>-<n>.parquet

Each part has the columns `recording` (the source file's stem), `time` (timestamp, naive UTC,
absent for undated samples), `sequence` (integer or null) and one float64 column per signal.
Samples without a time go under `day=undated`. A mapping with `partition_assets: false` puts
every row under `asset=all` and keeps the asset in an `asset_name` column instead.

A load writes its parts into a staging folder first. `commit` then replaces the parts of the
same source file, so loading a file again replaces its samples, and a failed load leaves the
previous samples untouched. The file's signal summary, when staged, is committed with its parts
under `_summaries/` (see `loaders.timeseries_summaries`); pyarrow datasets skip that folder.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from kg_service.graph.records import slug
# Re-exported: signal statistics lived here before they moved to their own module.
from loaders.signal_stats import SignalStats

logger = logging.getLogger(__name__)

UNDATED = "undated"
ALL_ASSETS = "all"
PARTITION_COLUMNS = ["asset", "day"]
# Staged rows are buffered up to this count before they are written, which bounds memory.
FLUSH_ROWS = 200_000


SUMMARIES_FOLDER = "_summaries"
# Part names are `part-<slug of the file stem>-<chunk>-<n>.parquet` (see `SampleWriter._flush`).
PART_NAME = re.compile(r"^part-(?P<stem>.+)-\d{5,}-\d+\.parquet$")


def part_prefix(stem: str) -> str:
    return f"part-{slug(stem)}-"


def part_stem(name: str) -> str | None:
    """Return the slug of the file stem that a part file name belongs to, or None for another file."""
    match = PART_NAME.match(name)
    return match.group("stem") if match else None


def summary_path(root: Path, stem: str) -> Path:
    """Return the path of the signal summary of file `stem` under a source folder."""
    return Path(root) / SUMMARIES_FOLDER / f"{slug(stem)}.json"


def _part_assets(part: Path, partition_assets: bool) -> set[str]:
    """Return the assets of one stored part: its folder name, or its `asset_name` column when not partitioned."""
    if partition_assets:
        return {unquote(part.parent.parent.name.removeprefix("asset="))}
    column = pq.read_table(part, columns=["asset_name"]).column("asset_name")
    return {str(name) for name in column.unique().to_pylist() if name is not None}


def stored_assets(root: Path, stem: str, partition_assets: bool) -> tuple[set[str], set[str]]:
    """Return the assets with stored samples from file `stem`, and those with samples from the source's other files."""
    own_stem = slug(stem)
    own: set[str] = set()
    others: set[str] = set()
    for part in Path(root).glob("asset=*/day=*/*.parquet"):
        assets = _part_assets(part, partition_assets)
        (own if part_stem(part.name) == own_stem else others).update(assets)
    return own, others


def stored_stems(root: Path) -> set[str]:
    """Return the slugs of the file stems that have stored parts under a source folder."""
    stems = {part_stem(part.name) for part in Path(root).glob("asset=*/day=*/*.parquet")}
    return {stem for stem in stems if stem is not None}


def stored_signal_stats(root: Path, stems: set[str], partition_assets: bool, signals: list[str],
                        assets: set[str]) -> dict[tuple[str, str], SignalStats]:
    """Summarise the stored samples of `assets` from the files whose stem slugs are `stems`, by asset and signal.

    Reads only the parts of those assets when samples are partitioned by asset. A part written
    before a signal was added to the mapping lacks that signal's column and adds nothing to it.
    Every stored value counts, so for a long file this includes the carried-forward states.
    """
    frames = []
    for part in Path(root).glob("asset=*/day=*/*.parquet"):
        if part_stem(part.name) not in stems:
            continue
        if partition_assets:
            asset = unquote(part.parent.parent.name.removeprefix("asset="))
            if asset not in assets:
                continue
        present = set(pq.read_schema(part).names)
        columns = [name for name in ["asset_name", "time", *signals] if name in present]
        frame = pq.read_table(part, columns=columns).to_pandas()
        frame["asset"] = asset if partition_assets else frame["asset_name"]
        frames.append(frame)

    stats: dict[tuple[str, str], SignalStats] = {}
    if not frames:
        return stats
    samples = pd.concat(frames, ignore_index=True)
    samples = samples[samples["asset"].isin(assets)]
    times = samples["time"] if "time" in samples else pd.Series(pd.NaT, index=samples.index)
    for asset, group in samples.groupby("asset", sort=False):
        for name in signals:
            if name not in group:
                continue
            summary = SignalStats.from_values(group[name].to_numpy(dtype="float64"), times.loc[group.index])
            if summary.count:
                stats[(str(asset), name)] = summary
    return stats


class SampleWriter:
    """Write sample chunks of one source file as hive-partitioned Parquet, staged until `commit`.

    Usage::

        writer = SampleWriter(settings.telemetry_dir / "cmapss", "train_FD001", signals)
        writer.write(frame)   # columns: asset, recording, time, sequence and the signals
        folder = writer.commit()
    """

    def __init__(self, root: Path, stem: str, signals: list[str], partition_assets: bool = True,
                 flush_rows: int = FLUSH_ROWS) -> None:
        self.root = Path(root)
        self.flush_rows = flush_rows
        self._buffer: list[pa.Table] = []
        self._buffered = 0
        self.stem = stem
        self.signals = signals
        self.partition_assets = partition_assets
        self.staging = self.root / f".staging-{slug(stem)}-{os.getpid()}"
        self.summary: dict | None = None
        self.chunks = 0
        self.rows = 0
        self._schema = pa.schema([("asset", pa.string()), ("day", pa.string()), ("asset_name", pa.string()),
                                  ("recording", pa.string()), ("time", pa.timestamp("us")),
                                  ("sequence", pa.int64())] + [(name, pa.float64()) for name in signals])
        if self.staging.exists():
            shutil.rmtree(self.staging)

    def write(self, frame: pd.DataFrame) -> None:
        """Stage one chunk; `frame` has `asset`, `time` (datetime64 or all NaT), `sequence` and signal columns."""
        if frame.empty:
            return
        table_frame = pd.DataFrame({
            "asset": frame["asset"].astype(str) if self.partition_assets else ALL_ASSETS,
            "day": _days(frame["time"]),
            "asset_name": None if self.partition_assets else frame["asset"].astype(str),
            "recording": self.stem,
            "time": frame["time"],
            "sequence": frame["sequence"].astype("Int64") if "sequence" in frame else pd.array(
                [None] * len(frame), dtype="Int64"),
        }, index=frame.index)
        for name in self.signals:
            table_frame[name] = frame[name].astype("float64") if name in frame else np.nan
        self._buffer.append(pa.Table.from_pandas(table_frame, schema=self._schema, preserve_index=False))
        self._buffered += len(frame)
        self.rows += len(frame)
        if self._buffered >= self.flush_rows:
            self._flush()

    def _flush(self) -> None:
        """Write the buffered chunks as one set of parts; few large parts read faster than many small ones."""
        if not self._buffer:
            return
        table = pa.concat_tables(self._buffer)
        self._buffer, self._buffered = [], 0
        ds.write_dataset(table, self.staging, format="parquet", partitioning=PARTITION_COLUMNS,
                         partitioning_flavor="hive",
                         basename_template=f"{part_prefix(self.stem)}{self.chunks:05d}-{{i}}.parquet",
                         existing_data_behavior="overwrite_or_ignore", max_partitions=100_000, max_open_files=512)
        self.chunks += 1

    def stage_summary(self, summary: dict) -> None:
        """Keep the file's signal summary (a JSON-ready dict) to store with its parts on `commit`."""
        self.summary = summary

    def commit(self) -> Path:
        """Replace the source file's previous parts and summary with the staged ones; return the source folder."""
        self._flush()
        own_stem = slug(self.stem)
        for old in self.root.glob(f"asset=*/day=*/{part_prefix(self.stem)}*.parquet"):
            # The prefix of file "a" also matches the parts of a file "a-b", which stay.
            if part_stem(old.name) == own_stem:
                old.unlink()
        # Earlier versions wrote one unpartitioned <stem>.parquet per file, which would now be read twice.
        legacy = self.root / f"{self.stem}.parquet"
        if legacy.is_file():
            legacy.unlink()
        if self.staging.exists():
            self._move_staged()
            shutil.rmtree(self.staging)
        self._store_summary()
        for folder in sorted(self.root.glob("asset=*/day=*"), reverse=True):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        logger.info("%s: %d sample rows in %d chunks stored under %s", self.stem, self.rows, self.chunks, self.root)
        return self.root

    def _move_staged(self) -> None:
        """Move staged parts into place, renaming whole folders where the target has none yet."""
        self.root.mkdir(parents=True, exist_ok=True)
        for asset_dir in self.staging.glob("asset=*"):
            target_asset = self.root / asset_dir.name
            if not target_asset.exists():
                asset_dir.rename(target_asset)
                continue
            for day_dir in asset_dir.glob("day=*"):
                target_day = target_asset / day_dir.name
                if not target_day.exists():
                    day_dir.rename(target_day)
                    continue
                for staged in day_dir.glob("*.parquet"):
                    staged.replace(target_day / staged.name)

    def _store_summary(self) -> None:
        """Write the staged summary in place of the file's previous one, or delete that one when none is staged."""
        target = summary_path(self.root, self.stem)
        if self.summary is None:
            target.unlink(missing_ok=True)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(self.summary, ensure_ascii=False), encoding="utf-8")
        temporary.replace(target)

    def abort(self) -> None:
        """Delete the staged parts and summary; the stored samples stay as they were."""
        self._buffer, self._buffered = [], 0
        self.summary = None
        if self.staging.exists():
            shutil.rmtree(self.staging)


def _days(times: pd.Series) -> pd.Series:
    days = pd.Series(UNDATED, index=times.index, dtype=object)
    dated = times.notna()
    if dated.any():
        days[dated] = pd.to_datetime(times[dated]).dt.strftime("%Y-%m-%d")
    return days


def read_samples(root: Path, assets: list[str] | None = None, signals: list[str] | None = None) -> pd.DataFrame:
    """Read stored samples of one source (optionally some assets and signals), ordered by asset, recording, time."""
    from kg_service.errors import InputDataError

    if not any(Path(root).glob("asset=*/day=*/*.parquet")):
        raise InputDataError("no telemetry samples stored", path=str(root),
                             hint="load the telemetry first with 'kg-service ingest telemetry'")
    dataset = ds.dataset(root, format="parquet", partitioning="hive")
    names = set(dataset.schema.names)
    columns = ["asset", "asset_name", "recording", "time", "sequence"] + (
        signals if signals is not None else [name for name in dataset.schema.names
                                             if name not in {"asset", "day", "asset_name", "recording", "time",
                                                             "sequence"}])
    missing = [name for name in columns if name not in names]
    if missing:
        raise InputDataError(f"stored samples have no signal(s) {missing}", path=str(root),
                             hint="train and detect with the signals of the source's mapping")
    frame = dataset.to_table(columns=columns).to_pandas()
    frame["asset"] = frame["asset_name"].where(frame["asset_name"].notna(), frame["asset"].astype(str))
    frame = frame.drop(columns=["asset_name"])
    if assets is not None:
        frame = frame[frame["asset"].isin(assets)]
    return frame.sort_values(["asset", "recording", "time", "sequence"], kind="stable").reset_index(drop=True)
