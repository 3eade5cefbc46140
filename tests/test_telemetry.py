"""Telemetry from the real AI4I 2020 file: machines, signal summaries, failure events, Parquet samples."""

from __future__ import annotations

import csv
import statistics

import pyarrow.parquet as pq
import pytest

from kg_service.errors import InputDataError
from kg_service.graph.checksum import graph_checksum
from kg_service.ingest import ingest_telemetry, load_ontologies
from tests.conftest import CORE_ONTOLOGY, MAPPINGS_DIR, data_file, wipe

pytestmark = pytest.mark.neo4j

AI4I_MAPPING = MAPPINGS_DIR / "ai4i2020.yaml"
MODE_COUNTS = {"Tool Wear Failure": 46, "Heat Dissipation Failure": 115, "Power Failure": 95,
               "Overstrain Failure": 98, "Random Failure": 19}

WIDE_MAPPING = """
kind: telemetry
source: line-test
asset_namespace: line-test
columns: {asset: asset, timestamp: time}
signals:
  - {column: temp, name: temperature, name_zh: 温度, unit: degC}
  - {column: vib, name: vibration, unit: mm/s}
failure: {flag: failed, mode_column: mode}
"""


@pytest.fixture(scope="module")
def ai4i_graph(store, settings):
    wipe(store)
    load_ontologies(store, [CORE_ONTOLOGY])
    result = ingest_telemetry(store, settings, data_file("ai4i2020", "ai4i2020.csv"), AI4I_MAPPING)
    return store, result


def test_ai4i_failure_counts_per_mode(ai4i_graph):
    store, result = ai4i_graph
    rows = store.read("MATCH (:FailureEvent)-[:HAS_FAILURE_MODE]->(m:FailureMode) RETURN m.name AS mode, count(*) AS n")
    assert {row["mode"]: row["n"] for row in rows} == MODE_COUNTS
    assert result.details["failure_modes"] == MODE_COUNTS


def test_ai4i_failed_machines(ai4i_graph):
    store, result = ai4i_graph
    rows = store.read("MATCH (e:FailureEvent {severity: 'machine failure'})-[:FOR_ASSET]->(m:Equipment) "
                      "RETURN count(DISTINCT m) AS machines")
    assert rows[0]["machines"] == 339
    assert result.details["failed_assets"] == 339
    assert store.read("MATCH (m:Equipment) RETURN count(m) AS n")[0]["n"] == 10000


def test_ai4i_machine_signals_and_type(ai4i_graph):
    store, _ = ai4i_graph
    rows = store.read("MATCH (m:Equipment {name: 'M14860'})-[:HAS_SIGNAL]->(s:Signal) "
                      "RETURN m.productType AS type, s.name AS name, s.unit AS unit, s.mean AS mean, "
                      "s.sampleCount AS count, s.nameZh AS zh ORDER BY name")
    assert {row["type"] for row in rows} == {"M"}
    by_name = {row["name"]: row for row in rows}
    assert by_name["torque"]["mean"] == pytest.approx(42.8)
    assert by_name["torque"]["unit"] == "N.m"
    assert by_name["torque"]["zh"] == "扭矩"
    assert by_name["rotational speed"]["mean"] == pytest.approx(1551)
    assert {row["count"] for row in rows} == {1}


def test_ai4i_samples_stay_in_parquet(ai4i_graph):
    store, result = ai4i_graph
    table = pq.read_table(result.details["samples"])
    assert table.num_rows == 10000
    with open(data_file("ai4i2020", "ai4i2020.csv"), encoding="utf-8-sig", newline="") as handle:
        torque = [float(row["Torque [Nm]"]) for row in csv.DictReader(handle)]
    assert table.column("torque").to_pylist() == torque
    stored = store.read("MATCH (n) WHERE n.torque IS NOT NULL OR n.value IS NOT NULL RETURN count(n) AS n")
    assert stored[0]["n"] == 0


def test_ai4i_samples_partition_layout(ai4i_graph, settings):
    _, result = ai4i_graph
    root = settings.telemetry_dir / "ai4i2020"
    assert result.details["samples"] == str(root)
    assert len(list((root / "asset=all" / "day=undated").glob("part-ai4i2020-*.parquet"))) == 1
    assert not (root / "ai4i2020.parquet").exists()


def test_ai4i_reload_changes_nothing(ai4i_graph, settings):
    store, _ = ai4i_graph
    before = (store.counts(), graph_checksum(store))
    again = ingest_telemetry(store, settings, data_file("ai4i2020", "ai4i2020.csv"), AI4I_MAPPING)
    assert (again.report.nodes_created, again.report.relationships_created) == (0, 0)
    assert (store.counts(), graph_checksum(store)) == before


def _write(tmp_path, lines: list[str]):
    data = tmp_path / "line.csv"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    mapping = tmp_path / "line.yaml"
    mapping.write_text(WIDE_MAPPING, encoding="utf-8")
    return data, mapping


def test_time_series_summary_statistics(core_graph, settings, tmp_path):
    data, mapping = _write(tmp_path, [
        "time,asset,temp,vib,failed,mode",
        "2025-06-01T00:00:00,AC-3,80.0,1.0,0,",
        "2025-06-01T01:00:00,AC-3,84.0,,0,",
        "2025-06-01T02:00:00,AC-3,91.0,2.5,1,Overheating",
        "2025-06-01T00:00:00,P-101,,0.5,0,",
    ])
    ingest_telemetry(core_graph, settings, data, mapping)
    row = core_graph.read("MATCH (:Equipment {name: 'AC-3'})-[:HAS_SIGNAL]->(s:Signal {name: 'temperature'}) "
                          "RETURN s.sampleCount AS n, s.mean AS mean, s.stdDev AS sd, s.minimum AS lo, "
                          "s.maximum AS hi, toString(s.firstTime) AS first, toString(s.lastTime) AS last")[0]
    assert row["n"] == 3
    assert row["mean"] == pytest.approx(statistics.mean([80.0, 84.0, 91.0]))
    assert row["sd"] == pytest.approx(statistics.stdev([80.0, 84.0, 91.0]))
    assert (row["lo"], row["hi"]) == (80.0, 91.0)
    assert (row["first"], row["last"]) == ("2025-06-01T00:00:00", "2025-06-01T02:00:00")
    events = core_graph.read("MATCH (e:FailureEvent)-[:FOR_ASSET]->(a), (e)-[:HAS_FAILURE_MODE]->(m) "
                             "RETURN a.name AS asset, m.name AS mode, toString(e.startTime) AS at")
    assert events == [{"asset": "AC-3", "mode": "Overheating", "at": "2025-06-01T02:00:00"}]
    signals = core_graph.read("MATCH (:Equipment {name: 'P-101'})-[:HAS_SIGNAL]->(s) RETURN s.name AS name")
    assert [row["name"] for row in signals] == ["vibration"]


@pytest.mark.parametrize(("bad_line", "message"), [
    ("2025-06-01T02:00:00,AC-3,abc,1.0,0,", "'abc' is not a number"),
    ("2025-06-01T02:00:00,AC-3,nan,1.0,0,", "'nan' is not a finite number"),
    ("yesterday,AC-3,80.0,1.0,0,", "unparseable timestamp 'yesterday'"),
    ("2025-06-01T00:30:00,AC-3,80.0,1.0,0,", "does not increase"),
    ("2025-06-01T02:00:00,,80.0,1.0,0,", "empty asset"),
    ("2025-06-01T02:00:00,AC-3,80.0,1.0,maybe,", "'maybe' is not a flag"),
])
def test_bad_telemetry_row_writes_nothing(core_graph, settings, tmp_path, bad_line, message):
    data, mapping = _write(tmp_path, ["time,asset,temp,vib,failed,mode",
                                      "2025-06-01T00:00:00,AC-3,80.0,1.0,0,",
                                      "2025-06-01T01:00:00,AC-3,81.0,1.0,0,", bad_line])
    before = core_graph.counts()
    with pytest.raises(InputDataError, match=message) as caught:
        ingest_telemetry(core_graph, settings, data, mapping)
    assert "line 4" in str(caught.value)
    assert core_graph.counts() == before


def test_unknown_signal_column_is_rejected(core_graph, settings, tmp_path):
    data, mapping = _write(tmp_path, ["time,asset,temperature,vib,failed,mode", "2025-06-01T00:00:00,AC-3,1,1,0,"])
    with pytest.raises(InputDataError, match="'temp'"):
        ingest_telemetry(core_graph, settings, data, mapping)
