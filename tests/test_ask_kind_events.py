"""Root causes for a kind of equipment ("the compressors") observe the kind's telemetry events."""

from __future__ import annotations

from datetime import date

import pytest

from kg_service.ask import Asker
from kg_service.ask.rules import RuleMapper
from kg_service.ingest import ingest_telemetry
from tests.conftest import SAMPLE_DIR, load_sample_plant

COMPRESSORS = ["equipment:sample-plant:ac-1", "equipment:sample-plant:ac-3"]

WINDOW_EVENTS_OF_EQUIPMENT = """
UNWIND $equipment AS key
MATCH (event:Event)-[:FOR_ASSET]->(target)-[:PART_OF*0..6]->(:Entity {id: key})
WHERE (event:Alarm OR event:FailureEvent) AND date(event.startTime) >= date($since)
  AND date(event.startTime) <= date($until)
RETURN collect(DISTINCT event.id) AS events
"""


@pytest.fixture(scope="module")
def plant(store, settings):
    load_sample_plant(store, settings)
    ingest_telemetry(store, settings, SAMPLE_DIR / "telemetry.csv", SAMPLE_DIR / "telemetry.yaml")
    return store


def _ask(store, question: str):
    return Asker(store, RuleMapper(), today=lambda: date(2025, 7, 15)).ask(question)


@pytest.mark.neo4j
def test_kind_window_reads_failure_events(plant):
    # A kind without an asset used to rank from work orders and documents only, so the
    # compressors' failure events in the window were neither observed nor cited.
    answer = _ask(plant, "Why did the compressors fail in 2025?")
    events = plant.read(WINDOW_EVENTS_OF_EQUIPMENT, {"equipment": COMPRESSORS, "since": "2025-01-01",
                                                     "until": "2025-12-31"})[0]["events"]
    cited = [item.id for item in answer.citations if item.kind == "event"]
    assert events
    assert answer.status == "answered"
    assert set(cited) == set(events)


@pytest.mark.neo4j
def test_kind_window_without_events_cites_none(plant):
    answer = _ask(plant, "Why did the compressors fail in 2024?")
    assert answer.status == "answered"
    assert [item.id for item in answer.citations if item.kind == "event"] == []
