"""Telemetry from wide CSV files: samples to Parquet, summaries and failure events to the graph.

Raw samples never enter Neo4j: they are staged as Parquet partitioned by asset and day (see
`loaders.timeseries_store`) and stored when the caller commits `TelemetryLoad.samples` after
the graph write. The graph gets each asset, one Signal node per asset and signal with summary
statistics (count, mean, standard deviation, minimum, maximum, first and last time) over the
samples of every stored file of the source, and a FailureEvent per failed row linked to the
asset and its failure modes. With `end_of_life`, each asset of a run-to-failure file also gets a
FailureEvent at its last row (see `loaders.end_of_life`). Long CSV, text and Parquet files are read by `loaders.timeseries`, whose
`map_assets` and `parse_times` this loader shares, so `asset_format`, `asset_pattern` and time
zones behave the same in every layout.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd

from kg_service.errors import InputDataError
from kg_service.graph.records import GraphBatch, slug
from loaders.csv_source import CsvRow, read_csv
from loaders.end_of_life import LastSample, add_end_of_life
from loaders.mapping import TelemetryMapping
from loaders.signal_stats import SignalStats
from loaders.timeseries import asset_key, dropped_assets, map_assets, parse_times, stats_with_stored
from loaders.timeseries_store import SampleWriter
from loaders.values import parse_flag, parse_number

logger = logging.getLogger(__name__)


@dataclass
class TelemetryLoad:
    """The records of one telemetry file, where its samples went and what was read."""

    batch: GraphBatch
    rows: int
    encoding: str
    samples: SampleWriter | None
    failed_assets: int = 0
    failure_modes: Counter = field(default_factory=Counter)
    end_of_life_events: int = 0
    dropped_assets: list[str] = field(default_factory=list)


class TelemetryReader:
    """Reads a wide telemetry CSV into graph records and writes its samples to Parquet.

    Usage::

        load = TelemetryReader(load_mapping("loaders/mappings/ai4i2020.yaml"), samples_dir).read("ai4i2020.csv")
    """

    def __init__(self, mapping: TelemetryMapping, samples_dir: Path, encoding: str | None = None,
                 mapping_path: Path | str | None = None) -> None:
        self.mapping = mapping
        self.samples_dir = Path(samples_dir)
        self.encoding = encoding or mapping.encoding
        self.mapping_path = mapping_path

    def _required_columns(self) -> list[str]:
        columns = [value for value in self.mapping.columns.model_dump().values() if value]
        columns += [signal.column for signal in self.mapping.signals]
        failure = self.mapping.failure
        if failure:
            columns += [name for name in (failure.flag, failure.mode_column) if name] + list(failure.modes)
        return columns

    def read(self, path: Path | str) -> TelemetryLoad:
        path = Path(path)
        mapping = self.mapping
        _, row_iterator, encoding = read_csv(path, self._required_columns(), self.encoding, mapping.delimiter,
                                             self.mapping_path)
        rows = list(row_iterator)
        if not rows:
            raise InputDataError("the file has a header but no data rows", path=str(path),
                                 hint="export the readings again, or check that this is the right file")

        # Assets and times are parsed by the same code as long CSV, text and Parquet files.
        lines = pd.Series([row.line for row in rows])
        assets = self._assets(path, rows, lines)
        times = self._times(path, rows, lines)

        batch = GraphBatch()
        stats: dict[tuple[str, str], SignalStats] = {}
        samples: dict[str, list] = {"asset": [], "time": [], "sequence": []} | {s.name: [] for s in mapping.signals}
        last_time: dict[str, tuple[datetime | int, int]] = {}
        load = TelemetryLoad(batch=batch, rows=0, encoding=encoding, samples=None)
        failed_assets: set[str] = set()
        last_samples: dict[str, LastSample] = {}

        for row, asset, when in zip(rows, assets, times):
            sequence = self._row_sequence(path, row, asset, when, last_time)
            equipment = self._add_asset(batch, row, asset)
            last_samples[asset] = LastSample(equipment, when, sequence)
            samples["asset"].append(asset)
            samples["time"].append(when)
            samples["sequence"].append(sequence)
            for signal in mapping.signals:
                value = parse_number(row.values[signal.column], path, row.line, signal.column)
                samples[signal.name].append(value)
                if value is not None:
                    stats.setdefault((asset, signal.name), SignalStats()).update(value, when)
            if mapping.failure and self._add_failure(path, row, batch, equipment, asset, when, sequence, load):
                failed_assets.add(asset)
            load.rows += 1

        # The summaries add the stored samples of the source's other files, so they are built after staging.
        load.samples = self._stage_samples(path, samples)
        try:
            load.dropped_assets = dropped_assets(load.samples, mapping, set(last_samples))
            self._add_signals(batch, stats_with_stored(load.samples, mapping, stats, set(last_samples)))
            load.end_of_life_events = add_end_of_life(batch, mapping, path, last_samples)
        except BaseException:
            load.samples.abort()
            raise
        load.failed_assets = len(failed_assets)
        logger.info("%s: read %d rows for %d assets; %d failure events; samples staged for %s", path, load.rows,
                    len({key[0] for key in stats}), sum(1 for n in batch.nodes.values() if n.label == "FailureEvent"),
                    load.samples.root)
        return load

    def _assets(self, path: Path, rows: list[CsvRow], lines: pd.Series) -> list[str]:
        column = self.mapping.columns.asset
        raw = pd.Series([row.values[column] if column else "" for row in rows], dtype=object)
        return map_assets(self.mapping, raw, path, lines).tolist()

    def _times(self, path: Path, rows: list[CsvRow], lines: pd.Series) -> list[datetime | None]:
        """Return each row's time as a naive UTC datetime, or None when the mapping has no timestamp column."""
        column = self.mapping.columns.timestamp
        if not column:
            return [None] * len(rows)
        raw = pd.Series([row.values[column] for row in rows], dtype=object)
        parsed = parse_times(raw, self.mapping.timestamp_format, path, lines, column)
        return [stamp.to_pydatetime() for stamp in parsed]

    def _row_sequence(self, path: Path, row: CsvRow, asset: str, when: datetime | None,
                      last_time: dict) -> int | None:
        """Return the row's sequence number; raise when the asset's time or sequence does not increase."""
        columns = self.mapping.columns
        sequence = None
        if columns.sequence:
            number = parse_number(row.values[columns.sequence], path, row.line, columns.sequence)
            if number is None or number != int(number):
                raise InputDataError(f"sequence {row.values[columns.sequence]!r} is not an integer", path=str(path),
                                     line=row.line, column=columns.sequence)
            sequence = int(number)
        position = when if when is not None else sequence
        previous = last_time.get(asset)
        if previous is not None and position <= previous[0]:
            raise InputDataError(f"time of asset {asset!r} does not increase ({position} after {previous[0]} on line "
                                 f"{previous[1]})", path=str(path), line=row.line,
                                 hint="sort the file by asset and time and remove duplicate samples")
        last_time[asset] = (position, row.line)
        return sequence

    def _add_asset(self, batch: GraphBatch, row: CsvRow, asset: str) -> str:
        columns = self.mapping.columns
        product_type = row.values.get(columns.product_type) if columns.product_type else None
        return batch.add_node(self.mapping.asset_class, f"{self.mapping.asset_class.lower()}:{self.mapping.assets}:{slug(asset)}",
                              name=asset, productType=product_type or None)

    def _add_failure(self, path: Path, row: CsvRow, batch: GraphBatch, equipment: str, asset: str,
                     when: datetime | None, sequence: int | None, load: TelemetryLoad) -> bool:
        """Add a FailureEvent when the row marks a failure; return True when the machine failure flag is set."""
        failure = self.mapping.failure
        machine_failed = parse_flag(row.values[failure.flag], path, row.line, failure.flag) if failure.flag else False
        modes = [mode for column, mode in failure.modes.items() if parse_flag(row.values[column], path, row.line, column)]
        if failure.mode_column and row.values[failure.mode_column]:
            modes.append(row.values[failure.mode_column])
        if not machine_failed and not modes:
            return False
        if failure.flag is None:
            machine_failed = True
        position = when.isoformat() if when is not None else str(sequence)
        event = batch.add_node(
            "FailureEvent", f"failure-event:{self.mapping.source}:{slug(asset)}:{position}",
            name=f"{', '.join(modes) or 'failure'} on {asset} at {position}", startTime=when, sequence=sequence,
            severity="machine failure" if machine_failed else "failure mode flagged without machine stop",
            source=self.mapping.source)
        batch.add_relationship("FOR_ASSET", event, equipment)
        for mode in modes:
            node = batch.add_node("FailureMode", f"failure-mode:{slug(mode)}", name=mode, nameEn=mode)
            batch.add_relationship("HAS_FAILURE_MODE", event, node)
            load.failure_modes[mode] += 1
        return machine_failed

    def _add_signals(self, batch: GraphBatch, stats: dict[tuple[str, str], SignalStats]) -> None:
        by_name = {signal.name: signal for signal in self.mapping.signals}
        for (asset, name), summary in sorted(stats.items()):
            signal = by_name[name]
            # An asset that only other files of the source still have samples of has no row in this file.
            equipment = batch.add_node(self.mapping.asset_class, asset_key(self.mapping, asset), name=asset)
            key = batch.add_node(
                "Signal", f"signal:{self.mapping.assets}:{slug(asset)}/{slug(name)}", name=name, nameEn=name,
                nameZh=signal.name_zh, unit=signal.unit, sampleCount=summary.count, mean=round(summary.mean, 6),
                stdDev=round(summary.std_dev, 6), minimum=summary.minimum, maximum=summary.maximum,
                firstTime=summary.first, lastTime=summary.last)
            batch.add_relationship("HAS_SIGNAL", equipment, key)

    def _stage_samples(self, path: Path, samples: dict[str, list]) -> SampleWriter:
        """Stage the samples as partitioned Parquet; the caller commits them after the graph write."""
        names = [signal.name for signal in self.mapping.signals]
        writer = SampleWriter(self.samples_dir / self.mapping.source, path.stem, names, self.mapping.partition_assets)
        frame = pd.DataFrame(samples)
        frame["time"] = pd.to_datetime(frame["time"]).astype("datetime64[us]")
        for name in names:
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
        try:
            writer.write(frame)
        except BaseException:
            writer.abort()
            raise
        return writer
