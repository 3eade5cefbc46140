"""Telemetry in long CSV, whitespace-separated text and Parquet: samples to Parquet, summaries to the graph.

The file is read in chunks of `mapping.chunk_rows` rows, so memory stays bounded whatever its
size. Each chunk is checked, converted to one row per asset and time with one float column per
signal, added to running statistics and staged as Parquet (see `loaders.timeseries_store`).
The graph gets each asset, one Signal node per asset and signal with summary statistics, and a
Sensor node that MEASURES the signal when the mapping names one. With `end_of_life`, each asset
of a run-to-failure file also gets a FailureEvent at its last sample (see `loaders.end_of_life`).

Value conversion: numeric signals and counters are parsed as numbers. Binary signals take 1/0,
true/false or yes/no and are stored as 1.0/0.0. Categorical signals are stored as the number that
`categories` (or the mapping's `categorical_encoding` file) gives their text. A long file stores
the state of every signal after each time, carried forward from its last change, while its
summary statistics count the recorded values only.

Bad input: an unknown signal raises InputDataError unless `unknown_signals: skip` (then its
rows are counted and logged), as do text in a number column, NaN or infinity, a time that goes
backwards for an asset, a unit that differs from the mapping's, and an asset outside
`asset_pattern`. Empty cells are counted as missing values. Time steps larger than
`max_gap_s` are counted and logged as gaps. Nothing is written when any chunk fails. A text row
with fewer fields than columns is rejected too, because whitespace cannot mark an empty field.

Timestamps with an offset (`+08:00`, `Z`) are converted to UTC; timestamps without one are taken
as UTC. `parse_times` and `map_assets` are shared with the wide CSV loader. Loading a file again
replaces its samples, and `remove_dropped_assets` deletes the graph summaries of assets that the
new version of the file lacks. Signal summaries also count the real samples of the source's other
files and of other sources with the same asset namespace (see `stats_with_stored`), so files that
share an asset and signal add up.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from kg_service.errors import InputDataError, MappingError
from kg_service.graph.records import GraphBatch, slug
from loaders.csv_source import missing_columns_error
from loaders.end_of_life import LastSample, add_end_of_life, runs_to_failure
from loaders.mapping import SignalColumn, TelemetryFormat, TelemetryMapping
from loaders.signal_stats import SignalStats
from loaders.timeseries_store import SampleWriter, stored_assets
from loaders.timeseries_summaries import file_summary, namespace_assets, stored_stats
from loaders.values import FALSE_VALUES, TRUE_VALUES

if TYPE_CHECKING:
    from kg_service.graph.store import GraphStore

logger = logging.getLogger(__name__)

SUFFIX_FORMATS: dict[str, TelemetryFormat] = {".csv": "csv", ".txt": "text", ".dat": "text", ".parquet": "parquet",
                                              ".pq": "parquet"}
RowProgress = Callable[[int], None]


def detect_format(path: Path, mapping: TelemetryMapping, override: str | None = None) -> TelemetryFormat:
    """Return the file format from `override`, the mapping's `format`, or the file suffix."""
    chosen = override or mapping.format or SUFFIX_FORMATS.get(path.suffix.lower())
    if chosen not in ("csv", "text", "parquet"):
        raise InputDataError(f"cannot tell the format of {path.name!r} from its suffix", path=str(path),
                             hint="pass --format csv, text or parquet, or set 'format' in the mapping")
    return chosen


def count_rows(path: Path, file_format: str) -> int:
    """Return the number of data rows (lines for text files), for a progress bar; cheap for large files."""
    if file_format == "parquet":
        return open_parquet(path).metadata.num_rows
    with open(path, "rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def open_parquet(path: Path) -> pq.ParquetFile:
    """Open a Parquet file; raise InputDataError naming the file when it is not one (or is damaged)."""
    try:
        return pq.ParquetFile(path)
    except (OSError, ValueError) as error:
        reason = str(error).split(". ")[0].rstrip(".")
        raise InputDataError(f"not a Parquet file, or a damaged one ({reason})", path=str(path),
                             hint="check that this is the right file, or pass --format csv or text "
                                  "when it is a CSV or text file with a .parquet suffix") from None


def parse_times(raw: pd.Series, timestamp_format: str | None, path: Path, lines: pd.Series,
                column: str) -> pd.Series:
    """Parse timestamps to naive UTC (datetime64[us]); raise InputDataError on the first unreadable one.

    A value with a time-zone offset (`+08:00`, `Z`) is converted to UTC. A value without one is
    taken as UTC already, also in a column that mixes both.
    """
    text = raw.astype(str).str.strip()
    parsed = pd.to_datetime(text, format=timestamp_format or "ISO8601", errors="coerce", utc=True)
    if parsed.isna().any():
        index = int(np.argmax(parsed.isna().to_numpy()))
        raise InputDataError(f"unparseable timestamp {text.iloc[index]!r}; expected "
                             f"{timestamp_format or 'ISO 8601 (2025-06-01T00:00:00 or 2025-06-01T08:00:00+08:00)'}",
                             path=str(path), line=int(lines.iloc[index]), column=column,
                             hint="fix the value or set 'timestamp_format' in the mapping")
    return parsed.dt.tz_localize(None).astype("datetime64[us]")


def map_assets(mapping: TelemetryMapping, raw: pd.Series, path: Path, lines: pd.Series) -> pd.Series:
    """Return the asset names of rows: checked not empty, formatted with `asset_format`, checked by `asset_pattern`."""
    column = mapping.columns.asset
    if column:
        names = raw.astype(str).str.strip()
        empty = (names == "").to_numpy()
        if empty.any():
            raise InputDataError("empty asset", path=str(path), line=int(lines.iloc[int(np.argmax(empty))]),
                                 column=column)
    else:
        names = pd.Series(mapping.asset, index=raw.index)

    if mapping.asset_format != "{asset}":
        formatted = {value: mapping.asset_format.format(asset=value, stem=path.stem) for value in names.unique()}
        names = names.map(formatted)

    if mapping.asset_pattern:
        bad = (~names.str.fullmatch(mapping.asset_pattern)).to_numpy()
        if bad.any():
            index = int(np.argmax(bad))
            raise InputDataError(f"asset {names.iloc[index]!r} is not mapped (it does not match asset_pattern "
                                 f"{mapping.asset_pattern!r})", path=str(path), line=int(lines.iloc[index]),
                                 column=column, hint="fix the asset in the file or widen 'asset_pattern' in the mapping")
    return names


@dataclass
class TimeseriesLoad:
    """The records of one telemetry file, where its samples went and what was read or skipped."""

    batch: GraphBatch
    rows: int
    encoding: str
    file_format: str
    samples: SampleWriter | None
    frame: pd.DataFrame | None = None
    assets: int = 0
    missing_values: int = 0
    gaps: int = 0
    skipped: Counter = field(default_factory=Counter)
    failure_events: int = 0
    dropped_assets: list[str] = field(default_factory=list)

    @property
    def details(self) -> dict:
        return {"format": self.file_format, "assets": self.assets, "missing_values": self.missing_values,
                "gaps": self.gaps, "skipped_rows": dict(self.skipped), "failure_events": self.failure_events,
                "dropped_assets": self.dropped_assets, "samples": str(self.samples.root) if self.samples else None}


class TimeseriesReader:
    """Read a long CSV, a whitespace-separated text or a Parquet telemetry file in chunks.

    Usage::

        load = TimeseriesReader(mapping, settings.telemetry_dir).read(Path("train_FD001.txt"))
        ...write load.batch...
        load.samples.commit()

    With `samples_dir=None` nothing is staged, and `load.frame` contains all samples in memory
    instead (for evaluations on files that are not loaded into the graph).
    """

    def __init__(self, mapping: TelemetryMapping, samples_dir: Path | None, encoding: str | None = None,
                 mapping_path: Path | str | None = None, file_format: str | None = None,
                 time_origin: datetime | None = None, progress: RowProgress | None = None) -> None:
        self.mapping = mapping
        self.samples_dir = Path(samples_dir) if samples_dir is not None else None
        self.encoding = encoding or mapping.encoding or "utf-8"
        self.mapping_path = mapping_path
        self.file_format = file_format
        self.time_origin = time_origin or mapping.time_origin
        self.progress = progress
        self.by_column = {signal.column: signal for signal in mapping.signals}
        self.signal_names = [signal.name for signal in mapping.signals]

    # reading

    def read(self, path: Path | str) -> TimeseriesLoad:
        path = Path(path)
        if not path.is_file():
            raise InputDataError("file not found", path=str(path))
        file_format = detect_format(path, self.mapping, self.file_format)
        if file_format == "parquet":
            # A file that is not Parquet is reported before any mapping check.
            open_parquet(path)
        # Failures inside a run come from failure columns, which only wide CSV files have. The end of a
        # run-to-failure asset needs no column: see `end_of_life` and `loaders.end_of_life`.
        if self.mapping.failure is not None:
            raise MappingError("failure columns are read from wide CSV files only", path=str(self.mapping_path),
                               hint="remove 'failure' from the mapping or export the file as wide CSV")
        categories = self._categories(path)
        writer = None if self.samples_dir is None else SampleWriter(
            self.samples_dir / self.mapping.source, path.stem, self.signal_names, self.mapping.partition_assets)
        load = TimeseriesLoad(GraphBatch(), 0, self.encoding, file_format, writer)
        state = _ReadState()
        to_failure = runs_to_failure(self.mapping, path)
        frames = []
        try:
            for chunk in self._chunks(path, file_format):
                frame = self._normalise(path, chunk, categories, load, state)
                if to_failure:
                    self._track_last_samples(frame, state)
                if self.mapping.layout == "wide":
                    self._check_order(path, frame, state, load)
                    self._add_stats(frame, state)
                if writer is not None:
                    writer.write(frame.drop(columns=["_line"]))
                else:
                    frames.append(frame.drop(columns=["_line"]).assign(recording=path.stem))
                load.rows += len(chunk)
                if self.progress is not None:
                    self.progress(len(chunk))
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        if frames:
            load.frame = pd.concat(frames, ignore_index=True)
        if load.rows == 0:
            if writer is not None:
                writer.abort()
            raise InputDataError("the file has no data rows", path=str(path),
                                 hint="export the readings again, or check that this is the right file")
        load.assets = len(state.last_position)
        if writer is not None:
            current = set(state.last_position)
            try:
                state.stats = stats_with_stored(writer, self.mapping, state.stats, current)
                load.dropped_assets = dropped_assets(writer, self.mapping, current)
            except BaseException:
                writer.abort()
                raise
        self._add_records(load.batch, state)
        if to_failure:
            last = {asset: LastSample(asset_key(self.mapping, asset), when, sequence)
                    for asset, (when, sequence) in state.last_sample.items()}
            load.failure_events = add_end_of_life(load.batch, self.mapping, path, last)
        if load.skipped:
            logger.warning("%s: skipped rows of unknown signals: %s", path, dict(load.skipped))
        if load.gaps:
            logger.warning("%s: %d time steps larger than max_gap_s=%s (first on line %s)", path, load.gaps,
                           self.mapping.max_gap_s, state.first_gap_line)
        logger.info("%s: read %d rows (%s) for %d assets, %d missing values", path, load.rows, file_format,
                    load.assets, load.missing_values)
        return load

    def _chunks(self, path: Path, file_format: str) -> Iterator[pd.DataFrame]:
        """Yield raw chunks with a `_line` column: the 1-based line (row number for Parquet)."""
        mapping = self.mapping
        size = mapping.chunk_rows
        if file_format == "parquet":
            offset = 0
            parquet = open_parquet(path)
            try:
                batches = parquet.iter_batches(batch_size=size)
                for batch in batches:
                    frame = batch.to_pandas()
                    frame["_line"] = np.arange(offset + 1, offset + len(frame) + 1)
                    offset += len(frame)
                    self._check_columns(path, list(frame.columns))
                    yield frame
            except (OSError, ValueError) as error:
                raise InputDataError(f"not a readable Parquet file: {error}", path=str(path)) from None
            return

        header = mapping.column_names is None
        options = dict(dtype=str, keep_default_na=False, chunksize=size, encoding=self.encoding)
        if file_format == "text":
            options |= dict(sep=r"\s+", header=0 if header else None, names=mapping.column_names,
                            engine="c", index_col=False)
        else:
            options |= dict(sep=mapping.delimiter, header=0 if header else None, names=mapping.column_names)
        first_line = 2 if header else 1
        try:
            reader = pd.read_csv(path, **options)
            for frame in reader:
                self._check_columns(path, list(frame.columns), None if file_format == "text" else mapping.delimiter)
                frame["_line"] = frame.index.to_numpy() + first_line
                if file_format == "text":
                    _check_short_rows(path, frame)
                yield frame
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
            # pandas reports a long row as "Expected 26 fields in line 4, saw 27", so it is reworded like a short row.
            long_row = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(error))
            if long_row:
                expected, line, found = (int(value) for value in long_row.groups())
                raise InputDataError(f"row has {found} fields but {expected} are expected", path=str(path),
                                     line=line, hint="export the row again, or fix 'delimiter' or 'column_names' "
                                                     "in the mapping") from None
            raise InputDataError(f"cannot read the file as {file_format}: {error}".strip(), path=str(path),
                                 hint="check 'delimiter', 'column_names' and 'format' in the mapping") from None

    def _check_columns(self, path: Path, columns: list[str], delimiter: str | None = None) -> None:
        mapping = self.mapping
        required = [name for name in mapping.columns.model_dump().values() if name]
        if mapping.layout == "wide":
            required += [signal.column for signal in mapping.signals]
        missing = [name for name in required if name not in columns]
        if missing:
            raise missing_columns_error(path, missing, required, list(map(str, columns)), delimiter,
                                        self.mapping_path)

    def _categories(self, path: Path) -> dict[str, dict[str, float]]:
        """Return each categorical signal's text-to-number map, from the mapping or its encoding file."""
        result = {signal.name: signal.categories for signal in self.mapping.signals if signal.categories}
        name = self.mapping.categorical_encoding
        if name:
            found = next((folder / name for folder in [path.parent, *path.parents] if (folder / name).is_file()), None)
            if found is None:
                raise MappingError(f"categorical_encoding file {name!r} not found beside {path} or above it",
                                   path=str(self.mapping_path))
            encoding = json.loads(found.read_text(encoding="utf-8"))
            for signal in self.mapping.signals:
                if signal.kind == "categorical" and signal.column in encoding:
                    result.setdefault(signal.name, {str(k): float(v) for k, v in encoding[signal.column].items()})
        unmapped = [signal.name for signal in self.mapping.signals if signal.kind == "categorical"
                    and signal.name not in result]
        if unmapped:
            raise MappingError(f"categorical signal(s) {unmapped} have no 'categories' and no entry in "
                               "'categorical_encoding'", path=str(self.mapping_path))
        return result

    # conversion

    def _normalise(self, path: Path, chunk: pd.DataFrame, categories: dict, load: TimeseriesLoad,
                   state: "_ReadState") -> pd.DataFrame:
        """Return the chunk as `asset, time, sequence, _line` plus one float column per signal."""
        assets = self._assets(path, chunk)
        times, sequence = self._times(path, chunk)
        base = pd.DataFrame({"asset": assets, "time": times, "sequence": sequence, "_line": chunk["_line"]},
                            index=chunk.index)
        if self.mapping.layout == "wide":
            for signal in self.mapping.signals:
                values = self._values(path, chunk[signal.column], chunk["_line"], signal, categories, signal.column)
                load.missing_values += int(np.isnan(values).sum())
                base[signal.name] = values
            return base
        # A long file is checked row by row, before rows of one time are merged into one state.
        self._check_order(path, base, state, load)
        return self._pivot_long(path, chunk, base, categories, load, state)

    def _assets(self, path: Path, chunk: pd.DataFrame) -> pd.Series:
        column = self.mapping.columns.asset
        raw = chunk[column] if column else pd.Series("", index=chunk.index)
        return map_assets(self.mapping, raw, path, chunk["_line"])

    def _times(self, path: Path, chunk: pd.DataFrame) -> tuple[pd.Series, pd.Series | None]:
        columns = self.mapping.columns
        lines = chunk["_line"]
        sequence = None
        times = pd.Series(pd.NaT, index=chunk.index, dtype="datetime64[us]")
        if columns.sequence:
            numbers = _numbers(path, chunk[columns.sequence], lines, columns.sequence)
            bad = np.isnan(numbers) | (numbers != np.round(numbers))
            if bad.any():
                index = int(np.argmax(bad))
                raise InputDataError(f"sequence {chunk[columns.sequence].iloc[index]!r} is not an integer",
                                     path=str(path), line=int(lines.iloc[index]), column=columns.sequence)
            sequence = pd.Series(numbers.astype(np.int64), index=chunk.index)
            if self.mapping.sequence_step_s:
                times = self._origin() + pd.to_timedelta(sequence * self.mapping.sequence_step_s, unit="s")
        if columns.elapsed:
            seconds = _numbers(path, chunk[columns.elapsed], lines, columns.elapsed)
            if np.isnan(seconds).any():
                raise InputDataError("empty elapsed time", path=str(path), line=int(lines.iloc[int(np.argmax(
                    np.isnan(seconds)))]), column=columns.elapsed)
            times = self._origin() + pd.to_timedelta(seconds, unit="s")
        if columns.timestamp:
            times = parse_times(chunk[columns.timestamp], self.mapping.timestamp_format, path, lines,
                                columns.timestamp)
        return pd.Series(pd.to_datetime(times), index=chunk.index).astype("datetime64[us]"), sequence

    def _origin(self) -> pd.Timestamp:
        return pd.Timestamp(self.time_origin).tz_localize(None) if pd.Timestamp(self.time_origin).tzinfo else \
            pd.Timestamp(self.time_origin)

    def _values(self, path: Path, raw: pd.Series, lines: pd.Series, signal: SignalColumn, categories: dict,
                column: str) -> np.ndarray:
        """Return one signal's values as floats (NaN for empty cells); raise on anything unreadable.

        `column` is the file column of the values: the signal's own column in a wide file, the value
        column in a long file, where messages then also name the signal.
        """
        about = f" (signal {signal.column!r})" if self.mapping.layout == "long" else ""
        if signal.kind in ("numeric", "counter"):
            return _numbers(path, raw, lines, column, about)
        text = raw.astype(str).str.strip()
        if signal.kind == "binary":
            lowered = text.str.lower()
            values = np.where(lowered.isin(TRUE_VALUES - {""}), 1.0, np.where(lowered.isin(FALSE_VALUES - {""}), 0.0,
                                                                               np.nan))
            bad = np.isnan(values) & (text != "").to_numpy()
            if bad.any():
                index = int(np.argmax(bad))
                raise InputDataError(f"{text.iloc[index]!r} is not a binary value{about} (use 1/0 or true/false)",
                                     path=str(path), line=int(lines.iloc[index]), column=column)
            return values
        codes = categories[signal.name]
        values = text.map(codes).to_numpy(dtype=float)
        bad = np.isnan(values) & (text != "").to_numpy()
        if bad.any():
            index = int(np.argmax(bad))
            raise InputDataError(f"{text.iloc[index]!r} is not a known category of signal {signal.name!r}",
                                 path=str(path), line=int(lines.iloc[index]), column=column,
                                 hint="add the category to 'categories' or to the categorical_encoding file")
        return values

    def _pivot_long(self, path: Path, chunk: pd.DataFrame, base: pd.DataFrame, categories: dict,
                    load: TimeseriesLoad, state: "_ReadState") -> pd.DataFrame:
        """Turn long rows (one value each) into the state of every signal after each time of each asset."""
        columns = self.mapping.columns
        names = chunk[columns.signal].astype(str).str.strip()
        known = names.isin(self.by_column.keys())
        if not known.all():
            unknown = names[~known]
            if self.mapping.unknown_signals == "error":
                raise InputDataError(f"unknown signal {unknown.iloc[0]!r} (not in the mapping)", path=str(path),
                                     line=int(chunk["_line"][~known].iloc[0]), column=columns.signal,
                                     hint="add it to 'signals' in the mapping or set 'unknown_signals: skip'")
            load.skipped.update(unknown.tolist())
        chunk, base, names = chunk[known], base[known], names[known]
        if columns.unit:
            units = chunk[columns.unit].astype(str).str.strip()
            expected = names.map({column: signal.unit or "" for column, signal in self.by_column.items()})
            mixed = (units != expected) & (units != "")
            if mixed.any():
                index = int(np.argmax(mixed.to_numpy()))
                raise InputDataError(f"signal {names.iloc[index]!r} has unit {units.iloc[index]!r} but the mapping "
                                     f"declares {expected.iloc[index]!r} (mixed units)", path=str(path),
                                     line=int(chunk["_line"].iloc[index]), column=columns.unit,
                                     hint="convert the values to one unit before loading")
        values = np.full(len(chunk), np.nan)
        for column, signal in self.by_column.items():
            rows = (names == column).to_numpy()
            if rows.any():
                values[rows] = self._values(path, chunk[columns.value][rows], chunk["_line"][rows], signal, categories,
                                            columns.value)
        long = pd.DataFrame({"asset": base["asset"], "time": base["time"], "sequence": base["sequence"],
                             "_line": base["_line"], "signal": names.map(lambda c: self.by_column[c].name),
                             "value": values}, index=chunk.index)
        load.missing_values += int(np.isnan(values).sum())
        self._add_long_stats(long, state)

        frames = []
        position = "time" if long["time"].notna().all() else "sequence"
        for asset, group in long.groupby("asset", sort=False):
            wide = group.pivot_table(index=position, columns="signal", values="value", aggfunc="last",
                                     dropna=False, sort=False)
            wide = wide.reindex(columns=self.signal_names)
            lines = group.groupby(position, sort=False)["_line"].first()
            carried = state.long_state.get(asset)
            if carried is not None:
                wide = wide.fillna(carried)
            wide = wide.ffill()
            state.long_state[asset] = wide.iloc[-1]
            wide = wide.reset_index()
            wide["asset"] = asset
            wide["_line"] = lines.reindex(wide[position]).to_numpy()
            if position == "time":
                wide["sequence"] = pd.NA
            else:
                wide["time"] = pd.NaT
            frames.append(wide)
        if not frames:
            return base.iloc[0:0]
        return pd.concat(frames, ignore_index=True)

    # order, gaps, statistics and records

    def _check_order(self, path: Path, frame: pd.DataFrame, state: "_ReadState", load: TimeseriesLoad) -> None:
        """Raise when an asset's time goes backwards (or repeats, in a wide file); count gaps."""
        is_time = bool(frame["time"].notna().all())
        position = frame["time"] if is_time else frame["sequence"].astype("float64")
        # Prepend each asset's last position of the previous chunk, so steps across chunks are checked too.
        carried = [(asset, *state.last_position[asset]) for asset in frame["asset"].unique()
                   if asset in state.last_position]
        previous = pd.DataFrame(carried, columns=["asset", "position", "_line"])
        current = pd.DataFrame({"asset": frame["asset"].to_numpy(), "position": position.to_numpy(),
                                "_line": frame["_line"].to_numpy()})
        joined = pd.concat([previous, current], ignore_index=True) if carried else current
        steps = joined.groupby("asset", sort=False)["position"].diff()
        zero = pd.Timedelta(0) if is_time else 0
        bad = ((steps <= zero) if self.mapping.layout == "wide" else (steps < zero)).to_numpy()
        if bad.any():
            where = int(np.argmax(bad))
            row = joined.iloc[where]
            before = joined[(joined["asset"] == row["asset"]) & (joined.index < where)].iloc[-1]
            raise InputDataError(
                f"time of asset {row['asset']!r} does not increase ({row['position']} after {before['position']} "
                f"on line {before['_line']})", path=str(path), line=int(row["_line"]),
                hint="sort the file by asset and time and remove duplicate samples")
        limit = self._gap_limit(is_time)
        if limit is not None:
            gaps = (steps > limit).to_numpy()
            if gaps.any():
                load.gaps += int(gaps.sum())
                if state.first_gap_line is None:
                    state.first_gap_line = int(joined["_line"].iloc[int(np.argmax(gaps))])
        last = current.groupby("asset", sort=False).last()
        for asset, row in last.iterrows():
            state.last_position[asset] = (row["position"], row["_line"])

    def _gap_limit(self, is_time: bool):
        if self.mapping.max_gap_s is None:
            return 1 if not is_time else None
        if is_time:
            return pd.Timedelta(seconds=self.mapping.max_gap_s)
        return self.mapping.max_gap_s / (self.mapping.sequence_step_s or 1.0)

    @staticmethod
    def _track_last_samples(frame: pd.DataFrame, state: "_ReadState") -> None:
        """Keep each asset's latest time and sequence number; rows arrive in time order per asset."""
        if frame.empty:
            return
        last = frame.groupby("asset", sort=False)[["time", "sequence"]].last()
        for asset, row in last.iterrows():
            sequence = None if pd.isna(row["sequence"]) else int(row["sequence"])
            state.last_sample[asset] = (_native_time(row["time"]), sequence)

    def _add_stats(self, frame: pd.DataFrame, state: "_ReadState") -> None:
        """Merge the chunk's per-asset count, mean, M2, min, max and time span of each signal into the totals."""
        groups = frame.groupby("asset", sort=False)
        values = groups[self.signal_names]
        count, mean = values.count(), values.mean()
        m2 = values.var(ddof=0) * count
        low, high = values.min(), values.max()
        spans = {}
        for name in self.signal_names:
            present_times = frame["time"].where(frame[name].notna())
            by_asset = present_times.groupby(frame["asset"], sort=False)
            spans[name] = (by_asset.min(), by_asset.max())
        for asset in count.index:
            for name in self.signal_names:
                first, last = spans[name][0].get(asset), spans[name][1].get(asset)
                if count.at[asset, name] == 0:
                    state.stats.setdefault((asset, name), SignalStats())
                    continue
                part = SignalStats(int(count.at[asset, name]), float(mean.at[asset, name]), float(m2.at[asset, name]),
                                   float(low.at[asset, name]), float(high.at[asset, name]), _native_time(first),
                                   _native_time(last))
                state.stats.setdefault((asset, name), SignalStats()).merge(part)

    def _add_long_stats(self, long: pd.DataFrame, state: "_ReadState") -> None:
        """Merge the recorded values of a long chunk (not the carried-forward states) into the totals."""
        present = long.dropna(subset=["value"])
        groups = present.groupby(["asset", "signal"], sort=False)
        summary = groups["value"].agg(["count", "mean", "min", "max"])
        summary["m2"] = groups["value"].var(ddof=0) * summary["count"]
        spans = groups["time"].agg(["min", "max"])
        for (asset, name), row in summary.iterrows():
            first, last = spans.at[(asset, name), "min"], spans.at[(asset, name), "max"]
            part = SignalStats(int(row["count"]), float(row["mean"]), float(row["m2"]), float(row["min"]),
                               float(row["max"]), _native_time(first), _native_time(last))
            state.stats.setdefault((asset, name), SignalStats()).merge(part)

    def _add_records(self, batch: GraphBatch, state: "_ReadState") -> None:
        mapping = self.mapping
        by_name = {signal.name: signal for signal in mapping.signals}
        for asset in state.last_position:
            batch.add_node(mapping.asset_class, asset_key(mapping, asset), name=asset)
        for (asset, name), summary in sorted(state.stats.items()):
            if summary.count == 0:
                continue
            signal = by_name[name]
            # An asset that only other files still have samples of is not in `last_position`.
            equipment = batch.add_node(mapping.asset_class, asset_key(mapping, asset), name=asset)
            key = batch.add_node(
                "Signal", signal_key(mapping, asset, name), name=name, nameEn=name, nameZh=signal.name_zh,
                unit=signal.unit, signalKind=signal.kind, sampleCount=summary.count, mean=round(summary.mean, 6),
                stdDev=round(summary.std_dev, 6), minimum=summary.minimum, maximum=summary.maximum,
                firstTime=summary.first, lastTime=summary.last, source=mapping.source)
            batch.add_relationship("HAS_SIGNAL", equipment, key)
            if signal.sensor:
                sensor = batch.add_node("Sensor", f"sensor:{mapping.assets}:{slug(asset)}/{slug(signal.sensor)}",
                                        name=signal.sensor, source=mapping.source)
                batch.add_relationship("HAS_SENSOR", equipment, sensor)
                batch.add_relationship("MEASURES", sensor, key)


@dataclass
class _ReadState:
    last_position: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)
    long_state: dict = field(default_factory=dict)
    last_sample: dict = field(default_factory=dict)
    first_gap_line: int | None = None


def _native_time(value) -> datetime | None:
    return None if pd.isna(value) else value.to_pydatetime()


def asset_key(mapping: TelemetryMapping, asset: str) -> str:
    """Return the stable key of a telemetry asset (the same one the wide CSV loader writes)."""
    return f"{mapping.asset_class.lower()}:{mapping.assets}:{slug(asset)}"


def signal_key(mapping: TelemetryMapping, asset: str, signal: str) -> str:
    """Return the stable key of an asset's Signal node (the same one the wide CSV loader writes)."""
    return f"signal:{mapping.assets}:{slug(asset)}/{slug(signal)}"


def _numbers(path: Path, raw: pd.Series, lines: pd.Series, column: str, about: str = "") -> np.ndarray:
    """Parse a column of numbers; empty cells become NaN, text, NaN and infinity raise InputDataError.

    `about` is appended to the message, such as " (signal 'temp')" for the values of a long file.
    """
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        values = raw.to_numpy(dtype=float)
        infinite = np.isinf(values)
        if infinite.any():
            index = int(np.argmax(infinite))
            raise InputDataError(f"{values[index]!r} is not a finite number{about}", path=str(path),
                                 line=int(lines.iloc[index]), column=column)
        return values
    text = raw.astype(str).str.strip()
    values = pd.to_numeric(text.where(text != "", None), errors="coerce").to_numpy(dtype=float)
    not_number = np.isnan(values) & (text != "").to_numpy()
    if not_number.any():
        index = int(np.argmax(not_number))
        word = text.iloc[index].lower().lstrip("+-")
        problem = "is not a finite number" if word in {"nan", "inf", "infinity"} else "is not a number"
        raise InputDataError(f"{text.iloc[index]!r} {problem}{about}", path=str(path), line=int(lines.iloc[index]),
                             column=column, hint="leave the cell empty when the value is unknown")
    infinite = np.isinf(values)
    if infinite.any():
        index = int(np.argmax(infinite))
        raise InputDataError(f"{text.iloc[index]!r} is not a finite number{about}", path=str(path),
                             line=int(lines.iloc[index]), column=column)
    return values


def _check_short_rows(path: Path, frame: pd.DataFrame) -> None:
    """Raise on a row of a whitespace-separated file that has fewer fields than the file has columns.

    Whitespace cannot separate an empty field, so a missing field shifts every later value into the
    wrong column. pandas fills the missing trailing fields with "" (read with keep_default_na=False).
    """
    fields = frame.drop(columns=["_line"])
    present = fields.notna() & fields.ne("")
    short = (~present.iloc[:, -1]).to_numpy()
    if short.any():
        index = int(np.argmax(short))
        found = int(present.iloc[index].sum())
        raise InputDataError(f"row has {found} {'field' if found == 1 else 'fields'} but {fields.shape[1]} are "
                             "expected (whitespace-separated "
                             "text has no empty fields, so a missing value would shift the values after it)",
                             path=str(path), line=int(frame["_line"].iloc[index]),
                             hint="export the row again with every value, or fix 'column_names' in the mapping")


def dropped_assets(writer: SampleWriter, mapping: TelemetryMapping, current: set[str]) -> list[str]:
    """Return the assets that the stored samples of `writer`'s file have but the new load of that file lacks.

    An asset is left out while another file of the same source, or a file of another source with
    the same asset namespace, still has samples for it, because its graph summaries then still
    describe stored data.
    """
    own, others = stored_assets(writer.root, writer.stem, writer.partition_assets)
    shared = namespace_assets(writer.root, mapping.assets)
    return sorted(asset for asset in own - current - others if slug(asset) not in shared)


def stats_with_stored(writer: SampleWriter, mapping: TelemetryMapping, stats: dict[tuple[str, str], SignalStats],
                      current: set[str]) -> dict[tuple[str, str], SignalStats]:
    """Return the file's signal statistics merged with what every other stored file adds to the same Signals.

    Stages the file's own statistics as its summary first (see `loaders.timeseries_summaries`).
    The result describes the samples stored once `writer` commits: this file's new samples plus
    the other files' real samples, never this file's previous version, so loading a file again
    gives the same summaries. Other files are those of the same source and those of sources with
    the same asset namespace. The result also covers assets that the previous version of the file
    had and another file still has, so their summaries stop counting the dropped samples.
    """
    writer.stage_summary(file_summary(mapping, writer.stem, stats))
    own, others = stored_assets(writer.root, writer.stem, writer.partition_assets)
    shared = namespace_assets(writer.root, mapping.assets)
    refreshed = {asset for asset in current | own if asset in others or slug(asset) in shared}
    stored = stored_stats(writer, mapping, refreshed)

    merged = {key: SignalStats().merge(summary) for key, summary in stats.items()}
    for key, summary in stored.items():
        merged.setdefault(key, SignalStats()).merge(summary)
    return merged


def remove_dropped_assets(store: GraphStore, mapping: TelemetryMapping, assets: list[str]) -> int:
    """Delete the Signal, Sensor and FailureEvent nodes of `mapping.source` for assets no longer loaded.

    Runs in one write transaction, so either all of them go or none does. The asset nodes stay,
    because work orders and other sources may refer to them. Returns the number of deleted nodes.
    """
    if not assets:
        return 0

    # The file's events of assets still in it are replaced by `loaders.timeseries_events.replace_file_events`.
    rows = [{"key": asset_key(mapping, asset), "signals": f"signal:{mapping.assets}:{slug(asset)}/",
             "sensors": f"sensor:{mapping.assets}:{slug(asset)}/"} for asset in assets]
    result = store.write(
        "UNWIND $rows AS row "
        "MATCH (asset:Entity {id: row.key}) "
        "WITH COLLECT { MATCH (asset)-[:HAS_SIGNAL]->(s:Signal) WHERE s.id STARTS WITH row.signals RETURN s } "
        "+ COLLECT { MATCH (asset)-[:HAS_SENSOR]->(s:Sensor) WHERE s.id STARTS WITH row.sensors RETURN s } "
        "+ COLLECT { MATCH (e:FailureEvent)-[:FOR_ASSET]->(asset) WHERE e.source = $source RETURN e } AS stale "
        "UNWIND stale AS node "
        "WITH DISTINCT node "
        "DETACH DELETE node "
        "RETURN count(*) AS deleted",
        {"rows": rows, "source": mapping.source})
    deleted = result[0]["deleted"] if result else 0
    logger.info("source %s: deleted %d Signal, Sensor and FailureEvent nodes of %d assets no longer in the file: %s",
                mapping.source, deleted, len(assets), ", ".join(assets[:20]))
    return deleted
