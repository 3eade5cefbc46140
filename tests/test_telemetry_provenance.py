"""Telemetry provenance: failure events keep their source file, and Signal summaries count every file and source."""

from __future__ import annotations

import shutil
from datetime import datetime

import numpy as np
import pytest

from kg_service.anomaly.detector import fit_rolling_mad
from kg_service.anomaly.events import DetectedEvent, events_batch
from kg_service.errors import GraphStoreError
from kg_service.graph.records import GraphBatch, NodeRecord, RelationshipRecord
from kg_service.graph.writer import BatchedWriter
from kg_service.ingest import ingest_telemetry
from kg_service.ontology.schema import GraphSchema
from loaders.mapping import load_mapping
from loaders.timeseries_events import replace_file_events
from loaders.timeseries_store import read_samples

pytestmark = pytest.mark.neo4j

WIDE_MAPPING = """
kind: telemetry
source: {source}
asset_namespace: {namespace}
columns: {{asset: asset, timestamp: time}}
signals:
  - {{column: vib, name: vibration, unit: mm/s}}
failure: {{flag: failed, mode_column: mode}}
"""
LONG_MAPPING = """
kind: telemetry
layout: long
source: {source}
asset_namespace: {namespace}
columns: {{asset: asset, timestamp: time, signal: signal, value: val}}
signals:
  - {{column: vib, name: vibration, unit: mm/s}}
  - {{column: temp, name: temperature, unit: degC}}
"""
WIDE_HEADER = "time,asset,vib,failed,mode"
LONG_HEADER = "time,asset,signal,val"
# Sources written by the tests below. Their samples are deleted before each test.
SOURCES = ("prov-events", "prov-events-other", "prov-long", "prov-shared-a", "prov-shared-b", "prov-prefix")


@pytest.fixture(autouse=True)
def fresh_samples(settings):
    """Delete the stored samples of this file's sources, which a previous test run may have left."""
    for source in SOURCES:
        shutil.rmtree(settings.telemetry_dir / source, ignore_errors=True)


def _mapping(tmp_path, template: str, source: str, namespace: str):
    path = tmp_path / f"{source}.yaml"
    path.write_text(template.format(source=source, namespace=namespace), encoding="utf-8")
    return path


def _data(tmp_path, name: str, header: str, rows: list[str]):
    path = tmp_path / f"{name}.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def _events(store, asset: str) -> list[dict]:
    return store.read(
        "MATCH (e:FailureEvent)-[:FOR_ASSET]->(:Equipment {name: $asset}) "
        "RETURN e.id AS id, e.source AS source, e.sourceFile AS file, "
        "[(e)-[:HAS_FAILURE_MODE]->(m) | m.name] AS modes ORDER BY id", {"asset": asset})


def _signal(store, asset: str, name: str = "vibration") -> dict | None:
    rows = store.read(
        "MATCH (:Equipment {name: $asset})-[:HAS_SIGNAL]->(s:Signal {name: $name}) "
        "RETURN s.sampleCount AS count, s.mean AS mean, s.minimum AS minimum, s.maximum AS maximum, "
        "toString(s.firstTime) AS first, toString(s.lastTime) AS last", {"asset": asset, "name": name})
    return rows[0] if rows else None


# Failure events of a revised file


def test_revised_file_removes_gone_events(core_graph, settings, tmp_path):
    mapping = _mapping(tmp_path, WIDE_MAPPING, "prov-events", "prov-plant")
    other_mapping = _mapping(tmp_path, WIDE_MAPPING, "prov-events-other", "prov-plant")
    rows = ["2025-05-01T00:00:00,PX-1,1.0,1,Overheat", "2025-05-01T01:00:00,PX-1,2.0,1,Leak",
            "2025-05-01T02:00:00,PX-1,3.0,0,"]
    may = _data(tmp_path, "may", WIDE_HEADER, rows)
    june = _data(tmp_path, "june", WIDE_HEADER, ["2025-06-01T00:00:00,PX-1,4.0,1,Leak"])
    other = _data(tmp_path, "other", WIDE_HEADER, ["2025-05-01T01:00:00,PX-1,9.0,1,Noise"])
    ingest_telemetry(core_graph, settings, may, mapping)
    ingest_telemetry(core_graph, settings, june, mapping)
    ingest_telemetry(core_graph, settings, other, other_mapping)
    assert len(_events(core_graph, "PX-1")) == 4

    # The revised May file keeps PX-1 but no longer marks the failure at 01:00.
    may.write_text("\n".join([WIDE_HEADER, rows[0], "2025-05-01T01:00:00,PX-1,2.0,0,", rows[2]]) + "\n",
                   encoding="utf-8")
    result = ingest_telemetry(core_graph, settings, may, mapping)

    events = _events(core_graph, "PX-1")
    assert [(event["source"], event["file"], event["modes"]) for event in events] == [
        ("prov-events-other", "other", ["Noise"]),
        ("prov-events", "may", ["Overheat"]),
        ("prov-events", "june", ["Leak"]),
    ]
    assert result.details["removed_events"] == 1
    assert result.details["dropped_assets"] == []


def test_unchanged_reingest_keeps_events(core_graph, settings, tmp_path):
    mapping = _mapping(tmp_path, WIDE_MAPPING, "prov-events", "prov-plant")
    data = _data(tmp_path, "may", WIDE_HEADER, ["2025-05-01T00:00:00,PX-1,1.0,1,Overheat",
                                                  "2025-05-01T00:00:00,PX-2,1.0,1,"])
    ingest_telemetry(core_graph, settings, data, mapping)
    before = (_events(core_graph, "PX-1"), _events(core_graph, "PX-2"), core_graph.counts())

    again = ingest_telemetry(core_graph, settings, data, mapping)

    assert again.details["removed_events"] == 0
    assert (again.report.nodes_created, again.report.relationships_created) == (0, 0)
    assert (_events(core_graph, "PX-1"), _events(core_graph, "PX-2"), core_graph.counts()) == before


def test_revised_file_without_events(core_graph, settings, tmp_path):
    mapping = _mapping(tmp_path, WIDE_MAPPING, "prov-events", "prov-plant")
    data = _data(tmp_path, "may", WIDE_HEADER, ["2025-05-01T00:00:00,PX-1,1.0,1,Overheat",
                                                  "2025-05-01T00:00:00,PX-2,1.0,1,Leak"])
    ingest_telemetry(core_graph, settings, data, mapping)

    data.write_text("\n".join([WIDE_HEADER, "2025-05-01T00:00:00,PX-1,1.0,0,",
                               "2025-05-01T00:00:00,PX-2,1.0,0,"]) + "\n", encoding="utf-8")
    result = ingest_telemetry(core_graph, settings, data, mapping)

    assert _events(core_graph, "PX-1") == []
    assert _events(core_graph, "PX-2") == []
    assert result.details["removed_events"] == 2


def test_failed_event_write_keeps_old_events(core_graph, settings, tmp_path):
    mapping_path = _mapping(tmp_path, WIDE_MAPPING, "prov-events", "prov-plant")
    data = _data(tmp_path, "may", WIDE_HEADER, ["2025-05-01T00:00:00,PX-1,1.0,1,Overheat"])
    ingest_telemetry(core_graph, settings, data, mapping_path)
    before = _events(core_graph, "PX-1")
    asset = core_graph.read("MATCH (a:Equipment {name: 'PX-1'}) RETURN a.id AS id")[0]["id"]

    # The new event of PX-1 points at a failure mode that is not in the graph, so its transaction fails.
    event = "failure-event:prov-events:px-1:2025-05-02T00:00:00"
    events = GraphBatch(
        nodes={event: NodeRecord("FailureEvent", event, {"name": "new", "source": "prov-events",
                                                          "sourceFile": "may"})},
        relationships={
            (event, "FOR_ASSET", asset): RelationshipRecord("FOR_ASSET", "FailureEvent", event, "Equipment", asset),
            (event, "HAS_FAILURE_MODE", "failure-mode:missing"): RelationshipRecord(
                "HAS_FAILURE_MODE", "FailureEvent", event, "FailureMode", "failure-mode:missing"),
        })
    with pytest.raises(GraphStoreError, match="previous events stay"):
        replace_file_events(core_graph, GraphSchema.from_store(core_graph), load_mapping(mapping_path), "may",
                            events)

    assert _events(core_graph, "PX-1") == before


def test_anomaly_event_names_source_file(core_graph):
    rng = np.random.default_rng(7)
    detector = fit_rolling_mad([rng.normal(size=(64, 1))], ["vibration"], "Equipment-prov", window=8)
    event = DetectedEvent(asset="PX-1", recording="may", start=datetime(2025, 5, 1), end=datetime(2025, 5, 1, 1),
                          start_sequence=None, end_sequence=None, peak_score=3.0, contributions={"vibration": 3.0},
                          shares={"vibration": 1.0}, windows=2)

    batch = events_batch([event], detector, "prov-plant", "Equipment", lambda asset: f"equipment:prov-plant:{asset}",
                         lambda asset, signal: f"signal:prov-plant:{asset}/{signal}", source="prov-events")

    [node] = batch.nodes.values()
    assert (node.properties["source"], node.properties["sourceFile"]) == ("prov-events", "may")
    BatchedWriter(core_graph, GraphSchema.from_store(core_graph)).validate(batch.nodes.values(),
                                                                            batch.relationships.values())


# Signal summaries of long files


def test_long_summary_counts_real_samples(core_graph, settings, tmp_path):
    mapping = _mapping(tmp_path, LONG_MAPPING, "prov-long", "prov-long")
    # March records vibration once; the temperature rows after it carry 1.0 forward in the stored samples.
    march = _data(tmp_path, "march", LONG_HEADER, ["2025-03-01T00:00:00,QA-1,vib,1.0",
                                                   "2025-03-02T00:00:00,QA-1,temp,5.0",
                                                   "2025-03-03T00:00:00,QA-1,temp,6.0"])
    april = _data(tmp_path, "april", LONG_HEADER, ["2025-04-01T00:00:00,QA-1,vib,3.0"])
    ingest_telemetry(core_graph, settings, march, mapping)
    ingest_telemetry(core_graph, settings, april, mapping)

    stored = read_samples(settings.telemetry_dir / "prov-long")
    assert stored["vibration"].tolist() == [3.0, 1.0, 1.0, 1.0]
    summary = _signal(core_graph, "QA-1")
    assert summary["count"] == 2
    assert summary["mean"] == pytest.approx(2.0)
    assert (summary["first"], summary["last"]) == ("2025-03-01T00:00:00", "2025-04-01T00:00:00")
    assert _signal(core_graph, "QA-1", "temperature")["count"] == 2

    ingest_telemetry(core_graph, settings, march, mapping)
    assert _signal(core_graph, "QA-1")["count"] == 2
    assert _signal(core_graph, "QA-1", "temperature")["count"] == 2


# Sources that share an asset namespace


def test_shared_namespace_summaries_merge(core_graph, settings, tmp_path):
    first = _mapping(tmp_path, WIDE_MAPPING, "prov-shared-a", "prov-shared")
    second = _mapping(tmp_path, WIDE_MAPPING, "prov-shared-b", "prov-shared")
    line_a = _data(tmp_path, "line-a", WIDE_HEADER, ["2025-07-01T00:00:00,QA-1,1.0,0,",
                                                     "2025-07-01T01:00:00,QA-1,2.0,0,"])
    line_b = _data(tmp_path, "line-b", WIDE_HEADER, ["2025-07-02T00:00:00,QA-1,12.0,0,"])
    ingest_telemetry(core_graph, settings, line_a, first)
    ingest_telemetry(core_graph, settings, line_b, second)

    summary = _signal(core_graph, "QA-1")
    assert summary["count"] == 3
    assert summary["mean"] == pytest.approx(5.0)
    assert (summary["minimum"], summary["maximum"]) == (1.0, 12.0)
    assert (summary["first"], summary["last"]) == ("2025-07-01T00:00:00", "2025-07-02T00:00:00")

    # Loading the first source again counts the second source's sample once.
    ingest_telemetry(core_graph, settings, line_a, first)
    assert _signal(core_graph, "QA-1")["count"] == 3


def test_shared_namespace_drop_keeps_other_source(core_graph, settings, tmp_path):
    first = _mapping(tmp_path, WIDE_MAPPING, "prov-shared-a", "prov-shared")
    second = _mapping(tmp_path, WIDE_MAPPING, "prov-shared-b", "prov-shared")
    line_a = _data(tmp_path, "line-a", WIDE_HEADER, ["2025-07-01T00:00:00,QA-1,1.0,0,",
                                                     "2025-07-01T01:00:00,QA-1,3.0,0,"])
    line_b = _data(tmp_path, "line-b", WIDE_HEADER, ["2025-07-02T00:00:00,QA-1,12.0,0,"])
    ingest_telemetry(core_graph, settings, line_a, first)
    ingest_telemetry(core_graph, settings, line_b, second)

    # The second source's file no longer has QA-1; the first source's samples of QA-1 remain.
    line_b.write_text("\n".join([WIDE_HEADER, "2025-07-02T00:00:00,QA-2,5.0,0,"]) + "\n", encoding="utf-8")
    result = ingest_telemetry(core_graph, settings, line_b, second)

    assert result.details["dropped_assets"] == []
    summary = _signal(core_graph, "QA-1")
    assert summary["count"] == 2
    assert summary["mean"] == pytest.approx(2.0)
    assert summary["maximum"] == 3.0


# Stored parts of files whose names share a prefix


def test_file_prefix_keeps_other_parts(core_graph, settings, tmp_path):
    mapping = _mapping(tmp_path, WIDE_MAPPING, "prov-prefix", "prov-prefix")
    short = _data(tmp_path, "line", WIDE_HEADER, ["2025-08-01T00:00:00,QA-1,1.0,0,"])
    longer = _data(tmp_path, "line-2", WIDE_HEADER, ["2025-08-02T00:00:00,QA-1,2.0,0,"])
    ingest_telemetry(core_graph, settings, short, mapping)
    ingest_telemetry(core_graph, settings, longer, mapping)

    ingest_telemetry(core_graph, settings, short, mapping)

    stored = read_samples(settings.telemetry_dir / "prov-prefix")
    assert sorted(stored["recording"]) == ["line", "line-2"]
    assert _signal(core_graph, "QA-1")["count"] == 2


def test_rejected_event_writes_nothing(store, settings, tmp_path):
    """An ontology without sourceFile left a telemetry file's assets and signals in the graph after the error."""
    from kg_service.errors import UnknownTermError
    from kg_service.ingest import load_ontologies
    from tests.conftest import CORE_ONTOLOGY, wipe

    text = CORE_ONTOLOGY.read_text(encoding="utf-8")
    start = text.index("kg:sourceFile a owl:DatatypeProperty")
    end = text.index("kg:language a owl:DatatypeProperty")
    older = tmp_path / "kg-core-without-sourcefile.ttl"
    older.write_text(text[:start] + text[end:], encoding="utf-8")
    wipe(store)
    load_ontologies(store, [older])
    try:
        mapping = _mapping(tmp_path, WIDE_MAPPING, "prov-events", "prov-plant")
        data = _data(tmp_path, "may", WIDE_HEADER, ["2025-05-01T00:00:00,PX-1,1.0,1,Overheat"])
        with pytest.raises(UnknownTermError, match="sourceFile"):
            ingest_telemetry(store, settings, data, mapping)

        assert store.read("MATCH (n:Entity) RETURN count(n) AS nodes")[0]["nodes"] == 0
        assert not list((settings.telemetry_dir / "prov-events").rglob("*.parquet"))
    finally:
        # Later tests expect the current core ontology.
        wipe(store)
        load_ontologies(store, [CORE_ONTOLOGY])
