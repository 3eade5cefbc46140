"""Regressions from a first-user trial of telemetry loading: time zones, asset mapping, bad files, reloads, wording."""

from __future__ import annotations

import shutil

import pyarrow.parquet as pq
import pytest

from kg_service.errors import InputDataError, MappingError
from kg_service.ingest import ingest_telemetry
from loaders.mapping import load_mapping
from loaders.timeseries import count_rows
from loaders.timeseries_store import read_samples

pytestmark = pytest.mark.neo4j

WIDE_MAPPING = """
kind: telemetry
source: {source}
columns: {{asset: asset, timestamp: time}}
signals:
  - {{column: vib, name: vibration, unit: mm/s}}
failure: {{flag: failed}}
"""
LONG_MAPPING = """
kind: telemetry
layout: long
source: {source}
columns: {{asset: asset, timestamp: time, signal: signal, value: val}}
signals:
  - {{column: vib, name: vibration, unit: mm/s}}
"""
# Sources written by the tests below; their samples are deleted before each test.
SOURCES = ('columns', 'fake', 'forced', 'formatted', 'long-bad', 'long-row', 'mixed-long', 'mixed-wide',
           'nested', 'pattern', 'reread', 'revised', 'revised-long', 'shared-signal', 'short', 'two-files',
           'typo', 'tz-order', 'tz-wide')
TEXT_MAPPING = """
kind: telemetry
format: text
source: {source}
column_names: [unit, cycle, s1, s2]
columns: {{asset: unit, sequence: cycle}}
signals:
  - {{column: s1, name: s1}}
  - {{column: s2, name: s2}}
"""


@pytest.fixture(autouse=True)
def fresh_samples(settings):
    """Delete the stored samples of this file's sources, which a previous test run may have left."""
    for source in SOURCES:
        shutil.rmtree(settings.telemetry_dir / source, ignore_errors=True)


def _files(tmp_path, name: str, lines: list[str], mapping_text: str, suffix: str = ".csv"):
    data = tmp_path / f"{name}{suffix}"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    mapping = tmp_path / f"{name}.yaml"
    mapping.write_text(mapping_text, encoding="utf-8")
    return data, mapping


def _signal_times(store, asset: str) -> tuple[str, str]:
    row = store.read("MATCH (:Equipment {name: $asset})-[:HAS_SIGNAL]->(s:Signal {name: 'vibration'}) "
                     "RETURN toString(s.firstTime) AS first, toString(s.lastTime) AS last", {"asset": asset})[0]
    return row["first"], row["last"]


def _stored_times(settings, source: str) -> list[str]:
    samples = read_samples(settings.telemetry_dir / source)
    return [stamp.isoformat() for stamp in samples["time"]]


# Time zones


def test_wide_csv_timezone_offsets_converted_to_utc(core_graph, settings, tmp_path):
    data, mapping = _files(tmp_path, "tz-wide", [
        "time,asset,vib,failed",
        "2025-08-02T00:00:00+08:00,PX-1,1.0,0",
        "2025-08-02T01:00:00+00:00,PX-1,2.0,1",
    ], WIDE_MAPPING.format(source="tz-wide"))
    ingest_telemetry(core_graph, settings, data, mapping)

    assert _signal_times(core_graph, "PX-1") == ("2025-08-01T16:00:00", "2025-08-02T01:00:00")
    assert _stored_times(settings, "tz-wide") == ["2025-08-01T16:00:00", "2025-08-02T01:00:00"]
    event = core_graph.read("MATCH (e:FailureEvent {source: 'tz-wide'}) RETURN toString(e.startTime) AS at")
    assert event == [{"at": "2025-08-02T01:00:00"}]


def test_wide_csv_mixed_offsets_handled_like_long(core_graph, settings, tmp_path):
    times = ["2025-08-02T00:00:00+08:00", "2025-08-01T17:00:00", "2025-08-01T18:00:00Z"]
    wide, wide_mapping = _files(tmp_path, "mixed-wide", ["time,asset,vib,failed"] +
                                [f"{time},PX-1,{i}.0,0" for i, time in enumerate(times)],
                                WIDE_MAPPING.format(source="mixed-wide"))
    long, long_mapping = _files(tmp_path, "mixed-long", ["time,asset,signal,val"] +
                                [f"{time},PX-2,vib,{i}.0" for i, time in enumerate(times)],
                                LONG_MAPPING.format(source="mixed-long"))
    ingest_telemetry(core_graph, settings, wide, wide_mapping)
    ingest_telemetry(core_graph, settings, long, long_mapping)

    # Values without an offset are taken as UTC by both layouts.
    expected = ["2025-08-01T16:00:00", "2025-08-01T17:00:00", "2025-08-01T18:00:00"]
    assert _stored_times(settings, "mixed-wide") == expected
    assert _stored_times(settings, "mixed-long") == expected
    assert _signal_times(core_graph, "PX-1") == _signal_times(core_graph, "PX-2") == (expected[0], expected[-1])


def test_wide_csv_offset_order_checked_in_utc(core_graph, settings, tmp_path):
    data, mapping = _files(tmp_path, "tz-order", [
        "time,asset,vib,failed",
        "2025-08-02T00:00:00+00:00,PX-1,1.0,0",
        "2025-08-02T07:00:00+08:00,PX-1,2.0,0",
    ], WIDE_MAPPING.format(source="tz-order"))
    before = core_graph.counts()

    with pytest.raises(InputDataError, match="does not increase") as caught:
        ingest_telemetry(core_graph, settings, data, mapping)

    assert "line 3" in str(caught.value)
    assert core_graph.counts() == before


# Asset pattern and format


def test_wide_csv_asset_pattern_rejects_unmapped(core_graph, settings, tmp_path):
    data, mapping = _files(tmp_path, "pattern", [
        "time,asset,vib,failed",
        "2025-08-01T00:00:00,PX-1,1.0,0",
        "2025-08-01T00:00:00,ZZ-9,1.0,0",
    ], WIDE_MAPPING.format(source="pattern") + 'asset_pattern: "PX-[0-9]+"\n')
    before = core_graph.counts()

    with pytest.raises(InputDataError, match="asset 'ZZ-9' is not mapped") as caught:
        ingest_telemetry(core_graph, settings, data, mapping)

    assert "line 3" in str(caught.value)
    assert "column 'asset'" in str(caught.value)
    assert core_graph.counts() == before
    assert not (settings.telemetry_dir / "pattern").exists() or not any(
        (settings.telemetry_dir / "pattern").rglob("*.parquet"))


def test_wide_csv_asset_format_applied(core_graph, settings, tmp_path):
    data, mapping = _files(tmp_path, "formatted", [
        "time,asset,vib,failed",
        "2025-08-01T00:00:00,PX-1,1.0,0",
    ], WIDE_MAPPING.format(source="formatted") + 'asset_format: "X-{asset}"\nasset_pattern: "X-PX-[0-9]+"\n')
    ingest_telemetry(core_graph, settings, data, mapping)

    names = core_graph.read("MATCH (e:Equipment) RETURN e.name AS name, e.id AS id")
    assert names == [{"name": "X-PX-1", "id": "equipment:formatted:x-px-1"}]
    assert read_samples(settings.telemetry_dir / "formatted")["asset"].tolist() == ["X-PX-1"]


# Files that are not Parquet


def test_non_parquet_file_named(core_graph, settings, tmp_path):
    data, mapping = _files(tmp_path, "fake", ["time,asset,vib,failed", "2025-08-01T00:00:00,PX-1,1.0,0"],
                           WIDE_MAPPING.format(source="fake"), suffix=".parquet")
    before = core_graph.counts()

    with pytest.raises(InputDataError, match="not a Parquet file") as counted:
        count_rows(data, "parquet")
    with pytest.raises(InputDataError, match="not a Parquet file") as loaded:
        ingest_telemetry(core_graph, settings, data, mapping)

    for caught in (counted, loaded):
        assert str(data) in str(caught.value)
        assert "--format" in str(caught.value)
    assert core_graph.counts() == before


def test_format_parquet_on_csv_named(core_graph, settings, tmp_path):
    data, mapping = _files(tmp_path, "forced", ["time,asset,vib,failed", "2025-08-01T00:00:00,PX-1,1.0,0"],
                           WIDE_MAPPING.format(source="forced"))

    with pytest.raises(InputDataError, match="not a Parquet file") as caught:
        ingest_telemetry(core_graph, settings, data, mapping, file_format="parquet")

    assert str(data) in str(caught.value)


# Whitespace text


def test_whitespace_short_row_rejected(core_graph, settings, tmp_path):
    data, mapping = _files(tmp_path, "short", ["1 1 0.5 7.0", "1 2 0.6", "1 3 0.7 7.2"],
                           TEXT_MAPPING.format(source="short"), suffix=".txt")
    before = core_graph.counts()

    with pytest.raises(InputDataError, match="row has 3 fields but 4 are expected") as caught:
        ingest_telemetry(core_graph, settings, data, mapping)

    assert str(data) in str(caught.value)
    assert "line 2" in str(caught.value)
    assert core_graph.counts() == before


def test_whitespace_long_row_still_rejected(core_graph, settings, tmp_path):
    data, mapping = _files(tmp_path, "long-row", ["1 1 0.5 7.0", "1 2 0.6 7.1 9.9"],
                           TEXT_MAPPING.format(source="long-row"), suffix=".txt")

    with pytest.raises(InputDataError) as caught:
        ingest_telemetry(core_graph, settings, data, mapping)
    assert "row has 5 fields but 4 are expected" in str(caught.value)
    assert caught.value.line == 2


# Reloading a revised file


def _asset_records(store, asset: str) -> dict:
    row = store.read(
        "MATCH (a:Equipment {name: $asset}) "
        "RETURN COUNT { (a)-[:HAS_SIGNAL]->(:Signal) } AS signals, "
        "COUNT { (:FailureEvent)-[:FOR_ASSET]->(a) } AS events", {"asset": asset})
    return row[0] if row else {}


def test_reingest_removes_dropped_asset_summaries(core_graph, settings, tmp_path):
    header = "time,asset,vib,failed"
    first = ["2025-08-01T00:00:00,PX-1,1.0,0", "2025-08-01T00:00:00,PX-2,2.0,0", "2025-08-01T01:00:00,PX-2,3.0,1"]
    data, mapping = _files(tmp_path, "revised", [header, *first], WIDE_MAPPING.format(source="revised"))
    ingest_telemetry(core_graph, settings, data, mapping)
    assert _asset_records(core_graph, "PX-2") == {"signals": 1, "events": 1}

    data.write_text("\n".join([header, first[0]]) + "\n", encoding="utf-8")
    result = ingest_telemetry(core_graph, settings, data, mapping)

    assert result.details["dropped_assets"] == ["PX-2"]
    assert _asset_records(core_graph, "PX-2") == {"signals": 0, "events": 0}
    assert _asset_records(core_graph, "PX-1") == {"signals": 1, "events": 0}
    assert read_samples(settings.telemetry_dir / "revised")["asset"].tolist() == ["PX-1"]

    again = ingest_telemetry(core_graph, settings, data, mapping)
    assert again.details["dropped_assets"] == []
    assert (again.report.nodes_created, again.report.relationships_created) == (0, 0)


def test_reingest_long_csv_removes_dropped_asset(core_graph, settings, tmp_path):
    header = "time,asset,signal,val"
    rows = ["2025-08-01T00:00:00,PX-1,vib,1.0", "2025-08-01T00:00:00,PX-2,vib,2.0"]
    data, mapping = _files(tmp_path, "revised-long", [header, *rows], LONG_MAPPING.format(source="revised-long"))
    ingest_telemetry(core_graph, settings, data, mapping)

    data.write_text("\n".join([header, rows[0]]) + "\n", encoding="utf-8")
    result = ingest_telemetry(core_graph, settings, data, mapping)

    assert result.details["dropped_assets"] == ["PX-2"]
    assert _asset_records(core_graph, "PX-2") == {"signals": 0, "events": 0}
    assert _asset_records(core_graph, "PX-1") == {"signals": 1, "events": 0}


def test_reingest_keeps_asset_of_other_file(core_graph, settings, tmp_path):
    text = WIDE_MAPPING.format(source="two-files")
    january, mapping = _files(tmp_path, "january", ["time,asset,vib,failed", "2025-01-01T00:00:00,PX-1,1.0,0",
                                                    "2025-01-01T00:00:00,PX-2,1.0,0"], text)
    february, _ = _files(tmp_path, "february", ["time,asset,vib,failed", "2025-02-01T00:00:00,PX-2,1.0,0"], text)
    ingest_telemetry(core_graph, settings, january, mapping)
    ingest_telemetry(core_graph, settings, february, mapping)

    january.write_text("time,asset,vib,failed\n2025-01-01T00:00:00,PX-1,1.0,0\n", encoding="utf-8")
    result = ingest_telemetry(core_graph, settings, january, mapping)

    # February still has samples of PX-2, so its summary stays.
    assert result.details["dropped_assets"] == []
    assert _asset_records(core_graph, "PX-2")["signals"] == 1


# Signal summaries over several files of a source

MARCH = [f"2025-03-0{day}T00:00:00,QA-1,{day}.0,0" for day in range(1, 8)]
APRIL = ["2025-04-01T00:00:00,QA-1,20.0,0"]


def _signal_summary(store, asset: str) -> dict:
    return store.read(
        "MATCH (:Equipment {name: $asset})-[:HAS_SIGNAL]->(s:Signal {name: 'vibration'}) "
        "RETURN s.sampleCount AS count, toString(s.firstTime) AS first, toString(s.lastTime) AS last, "
        "s.mean AS mean, s.minimum AS minimum, s.maximum AS maximum", {"asset": asset})[0]


def _two_files(core_graph, settings, tmp_path):
    header = "time,asset,vib,failed"
    text = WIDE_MAPPING.format(source="shared-signal")
    march, mapping = _files(tmp_path, "march", [header, *MARCH], text)
    april, _ = _files(tmp_path, "april", [header, *APRIL, "2025-04-01T00:00:00,QA-2,5.0,0"], text)
    ingest_telemetry(core_graph, settings, march, mapping)
    ingest_telemetry(core_graph, settings, april, mapping)
    return april, mapping


def test_signal_summary_covers_every_file(core_graph, settings, tmp_path):
    april, mapping = _two_files(core_graph, settings, tmp_path)

    summary = _signal_summary(core_graph, "QA-1")
    assert summary["count"] == 8
    assert summary["first"] == "2025-03-01T00:00:00"
    assert summary["last"] == "2025-04-01T00:00:00"
    assert summary["mean"] == pytest.approx((sum(range(1, 8)) + 20.0) / 8)
    assert (summary["minimum"], summary["maximum"]) == (1.0, 20.0)

    # Loading the same file again counts its samples once.
    ingest_telemetry(core_graph, settings, april, mapping)
    assert _signal_summary(core_graph, "QA-1")["count"] == 8


def test_signal_summary_after_file_drops_asset(core_graph, settings, tmp_path):
    april, mapping = _two_files(core_graph, settings, tmp_path)

    april.write_text("time,asset,vib,failed\n2025-04-01T00:00:00,QA-2,5.0,0\n", encoding="utf-8")
    result = ingest_telemetry(core_graph, settings, april, mapping)

    assert result.details["dropped_assets"] == []
    summary = _signal_summary(core_graph, "QA-1")
    assert summary["count"] == 7
    assert summary["first"] == "2025-03-01T00:00:00"
    assert summary["last"] == "2025-03-07T00:00:00"
    assert summary["mean"] == pytest.approx(4.0)
    assert summary["maximum"] == 7.0
    assert len(read_samples(settings.telemetry_dir / "shared-signal", assets=["QA-1"])) == 7


def test_long_signal_summary_covers_every_file(core_graph, settings, tmp_path):
    text = LONG_MAPPING.format(source="shared-signal")
    march, mapping = _files(tmp_path, "march", ["time,asset,signal,val",
                                                "2025-03-01T00:00:00,QA-1,vib,1.0",
                                                "2025-03-02T00:00:00,QA-1,vib,3.0"], text)
    april, _ = _files(tmp_path, "april", ["time,asset,signal,val", "2025-04-01T00:00:00,QA-1,vib,5.0"], text)
    ingest_telemetry(core_graph, settings, march, mapping)
    ingest_telemetry(core_graph, settings, april, mapping)

    summary = _signal_summary(core_graph, "QA-1")
    assert summary["count"] == 3
    assert (summary["first"], summary["last"]) == ("2025-03-01T00:00:00", "2025-04-01T00:00:00")
    assert summary["mean"] == pytest.approx(3.0)


# Wording


def test_mapping_key_typo_suggested(tmp_path):
    mapping = tmp_path / "typo.yaml"
    mapping.write_text(WIDE_MAPPING.format(source="typo") + 'timestamp_fromat: "%Y-%m-%d"\n', encoding="utf-8")

    with pytest.raises(MappingError) as caught:
        load_mapping(mapping)

    assert str(caught.value) == (f"{mapping}: unknown key 'timestamp_fromat' in typo.yaml; "
                                 "did you mean 'timestamp_format'?")


def test_mapping_nested_key_typo_suggested(tmp_path):
    mapping = tmp_path / "nested.yaml"
    mapping.write_text(WIDE_MAPPING.format(source="nested").replace("unit: mm/s", "unitt: mm/s"), encoding="utf-8")

    with pytest.raises(MappingError, match=r"unknown key 'signals\.0\.unitt' in nested\.yaml; "
                                           r"did you mean 'signals\.0\.unit'\?"):
        load_mapping(mapping)


def test_column_typo_suggested(core_graph, settings, tmp_path):
    data, mapping = _files(tmp_path, "columns", ["time,asset,vib,failed", "2025-08-01T00:00:00,PX-1,1.0,0"],
                           WIDE_MAPPING.format(source="columns").replace("column: vib", "column: vibb"))

    with pytest.raises(InputDataError) as caught:
        ingest_telemetry(core_graph, settings, data, mapping)

    assert "column 'vibb' is not in columns.csv; did you mean 'vib'?" in str(caught.value)


def test_long_value_error_names_signal_and_column(core_graph, settings, tmp_path):
    data, mapping = _files(tmp_path, "long-bad", ["time,asset,signal,val", "2025-08-01T00:00:00,PX-1,vib,abc"],
                           LONG_MAPPING.format(source="long-bad"))

    with pytest.raises(InputDataError) as caught:
        ingest_telemetry(core_graph, settings, data, mapping)

    message = str(caught.value)
    assert "line 2, column 'val'" in message
    assert "'abc' is not a number (signal 'vib')" in message


def test_stored_parquet_is_readable_after_reload(core_graph, settings, tmp_path):
    data, mapping = _files(tmp_path, "reread", ["time,asset,vib,failed", "2025-08-01T00:00:00,PX-1,1.0,0"],
                           WIDE_MAPPING.format(source="reread"))
    ingest_telemetry(core_graph, settings, data, mapping)
    ingest_telemetry(core_graph, settings, data, mapping)

    parts = list((settings.telemetry_dir / "reread").rglob("*.parquet"))
    assert len(parts) == 1
    assert pq.read_table(parts[0]).num_rows == 1
