"""Questions that join several subjects, and failure modes picked from failure events."""

from __future__ import annotations

from datetime import date

import pytest

from kg_service.ask import Asker
from kg_service.ask.rules import RuleMapper
from tests.conftest import load_sample_plant

pytestmark = pytest.mark.neo4j

TRIAL_DAY = date(2026, 12, 5)
AC_1 = "equipment:sample-plant:ac-1"
AC_3 = "equipment:sample-plant:ac-3"
PUMPS = "equipment:sample-plant:p-101, equipment:sample-plant:p-102"
COMPRESSORS = "equipment:sample-plant:ac-1, equipment:sample-plant:ac-3"

# Failure events as the telemetry loader writes them: linked to the asset and to a failure mode.
CREATE_FAILURE_EVENT = """
MATCH (asset:Entity {id: $asset}), (mode:FailureMode {id: $mode})
CREATE (event:Entity:Event:FailureEvent {id: $id, name: $id, startTime: localdatetime($start), source: 'test-events'})
CREATE (event)-[:FOR_ASSET]->(asset), (event)-[:HAS_FAILURE_MODE]->(mode)
"""
DELETE_TEST_EVENTS = "MATCH (event:FailureEvent {source: 'test-events'}) DETACH DELETE event"


@pytest.fixture(scope="module")
def plant(store, settings):
    return load_sample_plant(store, settings)


@pytest.fixture
def ac_1_leak_events(plant):
    """Add two Leak failure events on AC-1 in 2025, and remove them after the test."""
    for number, start in enumerate(("2025-03-02T08:00:00", "2025-04-11T14:30:00"), start=1):
        plant.write(CREATE_FAILURE_EVENT, {"asset": AC_1, "mode": "failure-mode:leak",
                                           "id": f"failure-event:test-events:ac-1:{number}", "start": start})
    yield plant
    plant.write(DELETE_TEST_EVENTS)


def _ask(store, question: str, lang: str | None = None):
    return Asker(store, RuleMapper(), today=lambda: TRIAL_DAY).ask(question, lang)


# a failure mode picked from failure events

@pytest.mark.parametrize("lang, expected", [
    ("en", "The failure events of Air Compressor 1 (AC-1) record Leak most often (2 failure events). Likely causes: "),
    ("zh", "1号空压机（AC-1）的故障事件最常记录泄漏（2 次故障事件）。可能原因："),
])
def test_event_chosen_mode_counts_events(ac_1_leak_events, lang, expected):
    question = {"en": "Why did AC-1 fail?", "zh": "AC-1为什么故障？"}[lang]
    answer = _ask(ac_1_leak_events, question)
    assert answer.status == "answered"
    assert answer.resolved["condition"] == "failure-mode:leak"
    assert answer.text.startswith(expected)
    assert "work order records it" not in answer.text
    assert "张工单记录" not in answer.text.split("。")[0]


def test_event_chosen_mode_with_window(ac_1_leak_events):
    answer = _ask(ac_1_leak_events, "Why did AC-1 fail in 2025?")
    assert answer.text.startswith("The failure events of Air Compressor 1 (AC-1) between 2025-01-01 and 2025-12-31 "
                                  "record Leak most often (2 failure events).")


def test_work_order_chosen_mode_keeps_count(plant):
    answer = _ask(plant, "Why did AC-3 fail?")
    assert answer.text.startswith("Air Compressor 3 (AC-3) most often fails with Overheating (14 work orders record it).")


# an asset joined with a kind

@pytest.mark.parametrize("question", [
    "AC-3和所有泵为什么故障？", "为什么AC-3和所有泵都坏了", "AC-3和全部泵为什么故障？", "Why did AC-3 and every pump fail?",
    "Why did AC-3 and each pump fail?", "Why did AC-3 and all pumps fail?", "Why did AC-3 fail, and the pumps?",
    "Why did AC-3 stop, and all the pumps?", "AC-3，还有泵为什么故障？",
])
def test_asset_and_kind_more_joiners(plant, question):
    answer = _ask(plant, question)
    assert answer.status == "answered"
    assert answer.resolved["asset"] == AC_3
    assert answer.resolved["equipment"] == PUMPS
    paragraphs = answer.text.split("\n")
    assert len(paragraphs) == 3
    assert "AC-3" in paragraphs[0]
    assert paragraphs[1].startswith(("Pumps", "泵"))


@pytest.mark.parametrize("question", ["Why did pump AC-3 fail?", "Why did the AC-3 pump fail?", "泵AC-3为什么故障？",
                                      "Why did the pump AC-3 fail?"])
def test_kind_beside_asset_not_joined(plant, question):
    answer = _ask(plant, question)
    assert answer.status == "failed"
    assert "AC-3" in answer.text


# two assets or two kinds

@pytest.mark.parametrize("question, first, second", [
    ("Why did AC-3 and AC-1 fail?", "Air Compressor 3 (AC-3) most often fails with Overheating",
     "Pressure Low and Noise are recorded equally often for Air Compressor 1 (AC-1)"),
    ("AC-3和AC-1为什么故障？", "3号空压机（AC-3）最常见的故障是过热", "1号空压机（AC-1）最常见的故障有压力低和噪声"),
    ("Why did AC-1 and AC-3 fail?", "Pressure Low and Noise are recorded equally often for Air Compressor 1 (AC-1)",
     "Air Compressor 3 (AC-3) most often fails with Overheating"),
])
def test_two_assets_both_answered_or_named(plant, question, first, second):
    answer = _ask(plant, question)
    assert answer.status == "answered"
    assert set(answer.resolved["asset"].split(", ")) == {AC_1, AC_3}
    paragraphs = answer.text.split("\n")
    assert len(paragraphs) == 3
    assert paragraphs[0].startswith(first)
    assert paragraphs[1].startswith(second)
    assert paragraphs[2].startswith(("Sources: ", "依据："))


@pytest.mark.parametrize("question, first, second", [
    ("Why did the pumps and the compressors fail?", "Pumps most often fail with Leak",
     "Compressors most often fail with Overheating"),
    ("泵和压缩机为什么故障？", "泵最常见的故障是泄漏", "压缩机最常见的故障是过热"),
    ("Why did the compressors and pumps fail?", "Compressors most often fail with Overheating",
     "Pumps most often fail with Leak"),
])
def test_two_kinds_both_answered_or_named(plant, question, first, second):
    answer = _ask(plant, question)
    assert answer.status == "answered"
    assert set(answer.resolved["equipment"].split(", ")) == set(f"{PUMPS}, {COMPRESSORS}".split(", "))
    paragraphs = answer.text.split("\n")
    assert len(paragraphs) == 3
    assert paragraphs[0].startswith(first)
    assert paragraphs[1].startswith(second)


def test_two_assets_history(plant):
    answer = _ask(plant, "Show the work orders of AC-3 and AC-1 in 2024")
    assert answer.status == "answered"
    assert answer.tool == "failure_history"
    paragraphs = answer.text.split("\n")
    assert paragraphs[0].startswith("Air Compressor 3 (AC-3) has ")
    assert paragraphs[1].startswith("Air Compressor 1 (AC-1) has ")

