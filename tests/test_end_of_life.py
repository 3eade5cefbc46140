"""End of life of run-to-failure assets: C-MAPSS training engines get one FailureEvent each."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from kg_service.errors import MappingError
from kg_service.ingest import ingest_telemetry, load_ontologies
from loaders.mapping import load_mapping
from loaders.telemetry import TelemetryReader
from tests.conftest import CORE_ONTOLOGY, MAPPINGS_DIR, data_file, wipe

pytestmark = pytest.mark.neo4j

UNITS = {"1", "2", "3"}
ORIGIN = datetime(2000, 1, 1)
CYCLE = timedelta(minutes=10)

EVENTS_QUERY = """
MATCH (event:FailureEvent)-[:FOR_ASSET]->(engine:Equipment)
OPTIONAL MATCH (event)-[:HAS_FAILURE_MODE]->(mode:FailureMode)
RETURN engine.name AS engine, event.id AS id, event.sequence AS sequence, event.startTime AS time,
       event.source AS source, mode.nameEn AS mode, mode.nameZh AS modeZh
ORDER BY engine
"""


def _slice(tmp_path, name: str) -> tuple:
    """Copy units 1-3 of a C-MAPSS file under its own name; return the path and each unit's last cycle."""
    lines = [line for line in data_file("cmapss_fd001", name).read_text(encoding="utf-8").splitlines()
             if line.split()[0] in UNITS]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    last = {}
    for line in lines:
        unit, cycle = line.split()[:2]
        last[unit] = int(cycle)
    return path, last


def _mapping(tmp_path):
    """Return the C-MAPSS mapping under a source of its own, so other tests' samples stay untouched."""
    text = (MAPPINGS_DIR / "cmapss_fd001.yaml").read_text(encoding="utf-8")
    text = text.replace("source: cmapss", "source: cmapss-eol-test").replace(
        "asset_namespace: cmapss", "asset_namespace: cmapss-eol-test")
    path = tmp_path / "cmapss.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def engines(store, settings, tmp_path_factory):
    wipe(store)
    load_ontologies(store, [CORE_ONTOLOGY])
    folder = tmp_path_factory.mktemp("cmapss-eol")
    mapping = _mapping(folder)
    train, last = _slice(folder, "train_FD001.txt")
    test, _ = _slice(folder, "test_FD001.txt")
    results = [ingest_telemetry(store, settings, path, mapping) for path in (train, test)]
    return store, settings, mapping, train, last, results


def test_one_event_per_training_unit(engines):
    store, _, _, _, last, _ = engines
    rows = store.read(EVENTS_QUERY)
    assert [row["engine"] for row in rows] == [f"train_FD001-unit-{unit}" for unit in sorted(UNITS)]


def test_event_at_last_cycle(engines):
    store, _, _, _, last, _ = engines
    for row in store.read(EVENTS_QUERY):
        unit = row["engine"].rsplit("-", 1)[-1]
        assert row["sequence"] == last[unit]
        assert row["time"].to_native().replace(tzinfo=None) == ORIGIN + last[unit] * CYCLE


def test_event_has_failure_mode(engines):
    store = engines[0]
    rows = store.read(EVENTS_QUERY)
    assert {row["mode"] for row in rows} == {"HPC Degradation"}
    assert {row["modeZh"] for row in rows} == {"高压压气机性能退化"}
    assert {row["source"] for row in rows} == {"cmapss-eol-test"}


def test_event_count_in_details(engines):
    results = engines[-1]
    assert [result.details["failure_events"] for result in results] == [3, 0]


def test_test_units_get_none(engines):
    store = engines[0]
    rows = store.read("MATCH (e:FailureEvent)-[:FOR_ASSET]->(a) WHERE a.name STARTS WITH 'test_' RETURN count(e) AS n")
    assert rows[0]["n"] == 0


def test_reingest_changes_nothing(engines):
    store, settings, mapping, train, _, _ = engines
    before = store.read("MATCH (e:FailureEvent) RETURN count(e) AS n, collect(e.id) AS ids")[0]
    again = ingest_telemetry(store, settings, train, mapping)
    after = store.read("MATCH (e:FailureEvent) RETURN count(e) AS n, collect(e.id) AS ids")[0]
    assert after["n"] == before["n"] == 3
    assert sorted(after["ids"]) == sorted(before["ids"])
    assert again.report.nodes_created == 0
    assert again.report.relationships_created == 0


def test_wide_csv_end_of_life(tmp_path):
    mapping_path = tmp_path / "wide.yaml"
    mapping_path.write_text("""
kind: telemetry
source: wide-eol-test
columns: {asset: machine, sequence: cycle}
signals: [{column: temp, name: temperature}]
end_of_life: {only_files: ["run_*"]}
""", encoding="utf-8")
    data = tmp_path / "run_1.csv"
    data.write_text("machine,cycle,temp\nM-1,1,20\nM-2,1,21\nM-1,2,22\nM-2,2,23\nM-2,3,24\n", encoding="utf-8")
    load = TelemetryReader(load_mapping(mapping_path), tmp_path / "samples").read(data)
    load.samples.abort()
    events = {node.properties["name"]: node.properties["sequence"] for node in load.batch.nodes.values()
              if node.label == "FailureEvent"}
    assert load.end_of_life_events == 2
    assert events == {"end of life (failure) of M-1 at cycle 2": 2, "end of life (failure) of M-2 at cycle 3": 3}


def test_failure_mode_zh_needs_english(tmp_path):
    text = (MAPPINGS_DIR / "cmapss_fd001.yaml").read_text(encoding="utf-8")
    path = tmp_path / "bad.yaml"
    path.write_text(text.replace("  failure_mode: HPC Degradation\n", ""), encoding="utf-8")
    with pytest.raises(MappingError, match="failure_mode_zh"):
        load_mapping(path)


def test_long_file_end_of_life(tmp_path):
    from loaders.timeseries import TimeseriesReader

    mapping_path = tmp_path / "long.yaml"
    mapping_path.write_text("""
kind: telemetry
layout: long
source: long-eol-test
columns: {asset: machine, elapsed: t, signal: name, value: value}
time_origin: 2025-06-01T00:00:00
signals: [{column: temp, name: temperature}, {column: speed, name: speed}]
end_of_life: {failure_mode: Seizure}
""", encoding="utf-8")
    data = tmp_path / "long.csv"
    data.write_text("t,machine,name,value\n0,M-1,temp,20\n0,M-1,speed,5\n60,M-1,temp,21\n30,M-2,temp,22\n",
                    encoding="utf-8")
    load = TimeseriesReader(load_mapping(mapping_path), None).read(data)
    events = {node.properties["name"]: node.properties["startTime"] for node in load.batch.nodes.values()
              if node.label == "FailureEvent"}
    assert load.failure_events == 2
    assert events["end of life (Seizure) of M-1 at 2025-06-01T00:01:00"] == datetime(2025, 6, 1, 0, 1)
