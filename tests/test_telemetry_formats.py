"""Telemetry in whitespace text (C-MAPSS FD001), long CSV (causRCA) and Parquet, and bad input."""

from __future__ import annotations

import csv
import json

import pandas as pd
import pytest

from kg_service.errors import InputDataError
from kg_service.ingest import ingest_telemetry, load_ontologies
from loaders.timeseries_store import read_samples
from tests.conftest import CORE_ONTOLOGY, MAPPINGS_DIR, data_file, wipe

pytestmark = pytest.mark.neo4j

CMAPSS_MAPPING = MAPPINGS_DIR / "cmapss_fd001.yaml"
CAUSRCA_MAPPING = MAPPINGS_DIR / "causrca_long.yaml"

LONG_MAPPING = """
kind: telemetry
layout: long
source: long-test
columns: {asset: machine, elapsed: t, signal: name, value: value, unit: unit}
time_origin: 2025-06-01T00:00:00
asset_pattern: "M-[0-9]+"
max_gap_s: 10
signals:
  - {column: temp, name: temperature, unit: degC, sensor: thermocouple}
  - {column: door, name: door open, kind: binary}
  - {column: mode, name: mode, kind: categorical, categories: {auto: 1, manual: 2}}
"""
LONG_HEADER = "t,machine,name,value,unit"
LONG_ROWS = ["0,M-1,temp,20.5,degC", "0,M-1,door,False,", "0,M-1,mode,auto,", "1,M-1,temp,21.5,degC",
             "2,M-1,door,True,", "3,M-1,mode,manual,", "4,M-1,temp,22.0,degC"]


@pytest.fixture(scope="module")
def cmapss_graph(store, settings):
    wipe(store)
    load_ontologies(store, [CORE_ONTOLOGY])
    results = [ingest_telemetry(store, settings, data_file("cmapss_fd001", name), CMAPSS_MAPPING)
               for name in ("train_FD001.txt", "test_FD001.txt")]
    return store, results


def test_cmapss_rows_and_engines(cmapss_graph, settings):
    store, results = cmapss_graph
    assert [result.rows for result in results] == [20631, 13096]
    assert [result.details["assets"] for result in results] == [100, 100]
    assert store.read("MATCH (e:Equipment) RETURN count(e) AS n")[0]["n"] == 200
    samples = read_samples(settings.telemetry_dir / "cmapss")
    samples = samples[samples["recording"].isin(["train_FD001", "test_FD001"])]
    assert len(samples) == 33727
    assert samples["asset"].nunique() == 200


def test_cmapss_partitions_by_asset_and_day(cmapss_graph, settings):
    root = settings.telemetry_dir / "cmapss"
    first_day = root / "asset=train_FD001-unit-1" / "day=2000-01-01"
    assert any(first_day.glob("part-train_fd001-*.parquet"))
    # Unit 1 of the training file runs 192 cycles of 10 minutes from 00:10, so it ends on day two.
    assert any((root / "asset=train_FD001-unit-1" / "day=2000-01-02").glob("*.parquet"))


def test_cmapss_signal_summary_and_sensor(cmapss_graph):
    store, _ = cmapss_graph
    row = store.read(
        "MATCH (e:Equipment {name: 'train_FD001-unit-1'})-[:HAS_SENSOR]->(s:Sensor)-[:MEASURES]->(g:Signal "
        "{name: 'T24'}) RETURN g.sampleCount AS n, g.unit AS unit, g.minimum AS lo, g.maximum AS hi, "
        "toString(g.firstTime) AS first, s.name AS sensor")[0]
    with open(data_file("cmapss_fd001", "train_FD001.txt"), encoding="utf-8") as handle:
        values = [float(line.split()[6]) for line in handle if line.split()[0] == "1"]
    assert row["n"] == len(values) == 192
    assert (row["lo"], row["hi"]) == (min(values), max(values))
    assert row["unit"] == "degR"
    assert row["first"] == "2000-01-01T00:10:00"
    assert row["sensor"].startswith("T24 sensor")


def test_causrca_long_file_state(core_graph, settings):
    path = data_file("causrca", "real_op", "dataset_real_op_28610.csv")
    result = ingest_telemetry(core_graph, settings, path, CAUSRCA_MAPPING)
    with open(path, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    times = {float(row["time_s"]) for row in rows}
    samples = read_samples(settings.telemetry_dir / "causrca-telemetry")
    recording = samples[samples["recording"] == path.stem]
    assert result.rows == len(rows)
    assert len(recording) == len(times)
    assert set(recording["CBC_Closed"].dropna().unique()) <= {0.0, 1.0}
    program = [row["value"] for row in rows if row["node"] == "Prog_Name"][-1]
    encoding = json.loads(data_file("causrca", "categorical_encoding.json").read_text(encoding="utf-8"))
    assert recording["Prog_Name"].iloc[-1] == pytest.approx(encoding["Prog_Name"][program])
    names = set(core_graph.read("MATCH (:Equipment {name: 'Lathe'})-[:HAS_SIGNAL]->(s:Signal) "
                                "RETURN collect(s.name) AS names")[0]["names"])
    # Signal summaries cover every stored file of the source, so signals that only other causRCA
    # files of earlier tests recorded may be there too, but never a name that no stored file has.
    assert {row["node"] for row in rows} <= names
    assert names <= {row["node"] for row in rows} | set(samples.dropna(axis=1, how="all").columns)


def _long_file(tmp_path, rows: list[str], mapping_text: str = LONG_MAPPING):
    data = tmp_path / "long.csv"
    data.write_text("\n".join([LONG_HEADER, *rows]) + "\n", encoding="utf-8")
    mapping = tmp_path / "long.yaml"
    mapping.write_text(mapping_text, encoding="utf-8")
    return data, mapping


def test_long_file_values_and_sensor(core_graph, settings, tmp_path):
    data, mapping = _long_file(tmp_path, LONG_ROWS)
    result = ingest_telemetry(core_graph, settings, data, mapping)
    samples = read_samples(settings.telemetry_dir / "long-test")
    assert samples["temperature"].tolist() == [20.5, 21.5, 21.5, 21.5, 22.0]
    assert samples["door open"].tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]
    assert samples["mode"].tolist() == [1.0, 1.0, 1.0, 2.0, 2.0]
    assert result.details["gaps"] == 0
    sensor = core_graph.read("MATCH (:Equipment {name: 'M-1'})-[:HAS_SENSOR]->(:Sensor {name: 'thermocouple'})"
                             "-[:MEASURES]->(s:Signal) RETURN s.name AS name, s.mean AS mean")
    assert sensor == [{"name": "temperature", "mean": pytest.approx(64 / 3)}]


def test_parquet_file_loads(core_graph, settings, tmp_path):
    lines = [line.split() for line in data_file("cmapss_fd001", "test_FD001.txt").read_text().splitlines()[:40]]
    frame = pd.DataFrame({"unit": [int(row[0]) for row in lines], "cycle": [int(row[1]) for row in lines],
                          "T24": [float(row[6]) for row in lines]})
    path = tmp_path / "engines.parquet"
    frame.to_parquet(path)
    mapping = tmp_path / "parquet.yaml"
    mapping.write_text("kind: telemetry\nsource: pq-test\ncolumns: {asset: unit, sequence: cycle}\n"
                       "signals: [{column: T24, name: T24, unit: degR}]\n", encoding="utf-8")
    result = ingest_telemetry(core_graph, settings, path, mapping)
    assert result.details["format"] == "parquet"
    assert result.rows == 40
    stored = read_samples(settings.telemetry_dir / "pq-test")
    assert stored["T24"].tolist() == frame["T24"].tolist()
    again = ingest_telemetry(core_graph, settings, path, mapping)
    assert (again.report.nodes_created, again.report.relationships_created) == (0, 0)
    assert len(read_samples(settings.telemetry_dir / "pq-test")) == 40


def _stored_files(settings) -> dict:
    """Return every file under the long-test samples folder (staging included) with its modification time."""
    root = settings.telemetry_dir / "long-test"
    return {path: path.stat().st_mtime_ns for path in root.rglob("*") if path.is_file()} if root.exists() else {}


@pytest.mark.parametrize(("bad_row", "message"), [
    ("5,M-1,pressure,3.0,bar", "unknown signal 'pressure'"),
    ("0,M-1,temp,19.0,degC", "does not increase"),
    ("5,M-1,temp,nan,degC", "'nan' is not a finite number"),
    ("5,M-1,temp,70.0,degF", "mixed units"),
    ("5,X-9,temp,20.0,degC", "asset 'X-9' is not mapped"),
    ("5,M-1,door,maybe,", "'maybe' is not a binary value"),
    ("5,M-1,mode,turbo,", "'turbo' is not a known category"),
])
def test_bad_long_row_writes_nothing(core_graph, settings, tmp_path, bad_row, message):
    data, mapping = _long_file(tmp_path, [*LONG_ROWS, bad_row])
    before = core_graph.counts()
    samples_before = _stored_files(settings)
    with pytest.raises(InputDataError, match=message) as caught:
        ingest_telemetry(core_graph, settings, data, mapping)
    assert f"line {len(LONG_ROWS) + 2}" in str(caught.value)
    assert core_graph.counts() == before
    assert _stored_files(settings) == samples_before


def test_unknown_signal_skip_is_counted(core_graph, settings, tmp_path):
    data, mapping = _long_file(tmp_path, [*LONG_ROWS, "5,M-1,pressure,3.0,bar", "6,M-1,pressure,3.1,bar"],
                               LONG_MAPPING + "unknown_signals: skip\n")
    result = ingest_telemetry(core_graph, settings, data, mapping)
    assert result.details["skipped_rows"] == {"pressure": 2}


def test_gap_is_counted(core_graph, settings, tmp_path):
    data, mapping = _long_file(tmp_path, [*LONG_ROWS, "60,M-1,temp,22.5,degC"])
    result = ingest_telemetry(core_graph, settings, data, mapping)
    assert result.details["gaps"] == 1
