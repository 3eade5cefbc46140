"""Answers for a kind with an empty date window, tied failure modes, and an asset joined with another kind."""

from __future__ import annotations

import re
from datetime import date

import pytest

from kg_service.ask import Asker
from kg_service.ask.answer import render
from kg_service.ask.execute import ToolResult
from kg_service.ask.rules import RuleMapper
from kg_service.extraction.backend import ScriptedBackend
from kg_service.reasoning.rootcause import RootCauseQuery, event_modes_by_frequency, rank_causes
from tests.conftest import load_sample_plant

pytestmark = pytest.mark.neo4j

# A day long after the sample plant's newest work order (2025-10-21), so "last month" is empty.
TRIAL_DAY = date(2026, 12, 5)
AC_1 = "equipment:sample-plant:ac-1"
AC_3 = "equipment:sample-plant:ac-3"
PUMPS = "equipment:sample-plant:p-101, equipment:sample-plant:p-102"
ENGLISH_MESSAGE_WORDS = re.compile(r"\b(no|has|is|not|the|in|ask|about|records?|graph|evidence|latest)\b")

MODE_COUNTS_QUERY = """
MATCH (wo:WorkOrder)-[:FOR_ASSET]->()-[:PART_OF*0..4]->(:Entity {id: $asset})
MATCH (wo)-[:HAS_FAILURE_MODE]->(mode:FailureMode)
RETURN mode.id AS id, count(DISTINCT wo) AS orders, max(wo.date) AS latest ORDER BY orders DESC, id
"""


@pytest.fixture(scope="module")
def plant(store, settings):
    return load_sample_plant(store, settings)


def _ask(store, question: str, lang: str | None = None, today: date = TRIAL_DAY):
    return Asker(store, RuleMapper(), today=lambda: today).ask(question, lang)


# a kind with an empty date window

@pytest.mark.parametrize("lang, kind_text, asset_text", [
    ("en",
     "No work order of the pumps between 2026-11-01 and 2026-11-30 records a failure, so the graph has no evidence "
     "to rank causes. The latest work order of the pumps is dated 2025-09-26.",
     "No work order of Coolant Pump P-101 (P-101) between 2026-11-01 and 2026-11-30 records a failure, so the graph "
     "has no evidence to rank causes. The latest work order of Coolant Pump P-101 (P-101) is dated 2025-09-26."),
    ("zh",
     "在 2026-11-01 至 2026-11-30 期间，泵的工单都没有记录故障，图谱中没有足以排出原因的证据。泵最近的工单日期是 2025-09-26。",
     "在 2026-11-01 至 2026-11-30 期间，P-101冷却液泵（P-101）的工单都没有记录故障，图谱中没有足以排出原因的证据。"
     "P-101冷却液泵（P-101）最近的工单日期是 2025-09-26。"),
])
def test_kind_with_empty_window_reads_like_single_asset(plant, lang, kind_text, asset_text):
    questions = {"en": ("Why did the pumps fail last month?", "Why did P-101 fail last month?"),
                 "zh": ("为什么泵上个月故障？", "为什么P-101上个月故障？")}[lang]
    kind, asset = (_ask(plant, question) for question in questions)

    assert kind.status == "answered"
    assert asset.status == "answered"
    assert kind.rows == []
    assert asset.rows == []
    assert kind.text.startswith(kind_text)
    assert asset.text.startswith(asset_text)
    assert kind.resolved["equipment"] == PUMPS
    assert kind.suggestions == []


def test_empty_kind_window_chinese_only(plant):
    answer = _ask(plant, "为什么泵上个月故障？")
    body = answer.text.split("\n")[0]
    assert ENGLISH_MESSAGE_WORDS.findall(body.lower()) == []


def test_kind_on_line_with_empty_window_answered(plant):
    answer = _ask(plant, "Why did the pumps on line 1 fail last month?")
    assert answer.status == "answered"
    assert answer.text.startswith("No work order of the pumps on Line 1 Machining between 2026-11-01 and 2026-11-30 "
                                  "records a failure")
    assert "The latest work order of the pumps on Line 1 Machining is dated 2025-09-26." in answer.text


# tied failure modes

def test_sample_counts_tie_on_ac_1(plant):
    # The tie tests below rest on these sample counts: Pressure Low and Noise have 2 work orders each.
    rows = plant.read(MODE_COUNTS_QUERY, {"asset": AC_1})
    counts = {row["id"]: row["orders"] for row in rows}
    assert counts["failure-mode:pressure-low"] == counts["failure-mode:noise"] == 2
    assert max(counts.values()) == 2


@pytest.mark.parametrize("lang, expected", [
    ("en", "Pressure Low and Noise are recorded equally often for Air Compressor 1 (AC-1) (2 work orders each). "
           "Likely causes of Pressure Low: 1. Intake Valve"),
    ("zh", "1号空压机（AC-1）最常见的故障有压力低和噪声，次数相同（各 2 张工单记录）。以下是压力低的可能原因：1. 进气阀"),
])
def test_tied_most_frequent_modes_are_reported_as_a_tie(plant, lang, expected):
    answer = _ask(plant, "Why did AC-1 fail?", lang)
    assert answer.status == "answered"
    # Pressure Low wins the tie because its newest work order (2025-08-01) is newer than Noise's (2025-05-17).
    assert answer.resolved["condition"] == "failure-mode:pressure-low"
    assert answer.text.startswith(expected)
    assert "most often fails" not in answer.text
    assert "最常见的故障是" not in answer.text


def test_tied_modes_name_the_others_to_ask_about(plant):
    english = _ask(plant, "Why did AC-1 fail?")
    chinese = _ask(plant, "AC-1为什么故障？")
    assert "Ask about Noise by name for its causes." in english.text
    assert "要查看噪声的原因，请在问题中指明该故障。" in chinese.text


def test_tied_modes_of_kind_in_window(plant):
    answer = _ask(plant, "Why did the conveyors fail in 2024?")
    assert answer.status == "answered"
    # All five modes have one work order in 2024. Noise and Vibration share the newest date, so the key decides.
    assert answer.resolved["condition"] == "failure-mode:noise"
    assert answer.text.startswith("Noise, Vibration, Fail to Start, Electrical Fault and Breakdown are recorded equally "
                                  "often for the conveyors (1 work order each between 2024-01-01 and 2024-12-31). "
                                  "Likely causes of Noise:")
    assert "Ask about Vibration, Fail to Start, Electrical Fault and Breakdown by name for their causes." in answer.text


def test_mode_without_tie_keeps_most_often(plant):
    answer = _ask(plant, "Why did AC-3 fail?")
    assert answer.text.startswith("Air Compressor 3 (AC-3) most often fails with Overheating (14 work orders record it).")
    assert "equally often" not in answer.text


def test_ranking_breaks_ties_like_ask(plant):
    ranking = rank_causes(plant, RootCauseQuery(asset="AC-1"))
    assert ranking.condition_source == "work orders"
    assert ranking.condition["id"] == "failure-mode:pressure-low"
    assert ranking.tied_conditions == ["failure-mode:noise"]

    # Conveyor 202: Fail to Start (newest 2025-09-05) and Breakdown (newest 2025-08-06) have 2 work orders each.
    ranking = rank_causes(plant, RootCauseQuery(asset="CV-202"))
    assert ranking.condition["id"] == "failure-mode:fail-to-start"
    assert ranking.tied_conditions == ["failure-mode:breakdown"]

    ranking = rank_causes(plant, RootCauseQuery(asset="AC-3"))
    assert ranking.tied_conditions == []


def test_event_modes_tie_goes_to_latest_event():
    # Rows are events ordered by start time, as WINDOW_EVENTS_QUERY returns them.
    rows = [{"modes": ["failure-mode:leak"]}, {"modes": ["failure-mode:noise"]}, {"modes": []}]
    assert event_modes_by_frequency(rows) == [("failure-mode:noise", 1), ("failure-mode:leak", 1)]

    rows = [{"modes": ["failure-mode:noise", "failure-mode:leak"]}, {"modes": ["failure-mode:leak"]}]
    assert event_modes_by_frequency(rows) == [("failure-mode:leak", 2), ("failure-mode:noise", 1)]

    rows = [{"modes": ["failure-mode:noise", "failure-mode:leak"]}]
    assert event_modes_by_frequency(rows) == [("failure-mode:leak", 1), ("failure-mode:noise", 1)]


def _event_tie_result() -> ToolResult:
    """Build a ranking result whose mode was chosen from two window events that record different modes."""
    def mode(key: str, en: str, zh: str) -> dict:
        return {"id": key, "name": {"en": en, "zh": zh}, "tag": None}

    facts = {"asset": {"id": AC_3, "name": {"en": "Air Compressor 3", "zh": "3号空压机"}, "tag": "AC-3"},
             "place": None, "kind": None, "kind_assets": [],
             "condition": mode("failure-mode:overheating", "Overheating", "过热"), "condition_chosen": True,
             "condition_ties": [mode("failure-mode:leak", "Leak", "泄漏")], "condition_counted": "window events",
             "target_work_orders": 3, "observed_events": [], "sources": [], "since": "2025-06-01",
             "until": "2025-06-30", "latest": None}
    return ToolResult("root_causes", facts=facts)


@pytest.mark.parametrize("lang, expected", [
    ("en", "The failure events of Air Compressor 3 (AC-3) between 2025-06-01 and 2025-06-30 record Overheating and "
           "Leak equally often. The graph has no evidence to rank causes of Overheating. Ask about Leak by name for "
           "its causes."),
    ("zh", "在 2025-06-01 至 2025-06-30 期间，3号空压机（AC-3）的故障事件记录过热和泄漏的次数相同。图谱中没有足以排出过热原因的证据。"
           "要查看泄漏的原因，请在问题中指明该故障。"),
])
def test_event_tie_wording(lang, expected):
    assert render(_event_tie_result(), lang) == expected


# an asset joined with another kind

@pytest.mark.parametrize("question", ["Why did AC-3 and the pumps fail?", "Why did AC-3, the pumps fail?",
                                      "AC-3和泵为什么故障？", "AC-3与泵为什么故障？", "AC-3及泵为什么故障？"])
def test_asset_and_other_kind_joined_by_and(plant, question):
    answer = _ask(plant, question)
    assert answer.status == "answered"
    assert answer.arguments["asset"] == AC_3
    assert answer.arguments["equipment_kind"] == "Pump"
    assert answer.resolved["asset"] == AC_3
    assert answer.resolved["equipment"] == PUMPS
    assert answer.resolved["condition"] == "failure-mode:overheating, failure-mode:leak"
    row_keys = [row["id"] for row in answer.rows]
    assert "system:sample-plant:ac-3/cooling-system" in row_keys
    assert "component:sample-plant:p-101/sealing-system/mechanical-seal" in row_keys


def test_asset_and_kind_answered_in_question_order(plant):
    english = _ask(plant, "Why did AC-3 and the pumps fail?")
    paragraphs = english.text.split("\n")
    assert paragraphs[0].startswith("Air Compressor 3 (AC-3) most often fails with Overheating")
    assert paragraphs[1].startswith("Pumps most often fail with Leak")
    assert paragraphs[2].startswith("Sources: ")

    chinese = _ask(plant, "泵与AC-3为什么故障？")
    paragraphs = chinese.text.split("\n")
    assert paragraphs[0].startswith("泵最常见的故障是泄漏")
    assert paragraphs[1].startswith("3号空压机（AC-3）最常见的故障是过热")


def test_asset_and_kind_cite_both_subjects(plant):
    answer = _ask(plant, "Why did AC-3 and the pumps fail?")
    keys = [item.id for item in answer.citations]
    assert AC_3 in keys
    assert "equipment:sample-plant:p-101" in keys
    assert len(keys) == len(set(keys))


def test_asset_and_kind_history_with_window(plant):
    answer = _ask(plant, "Which pumps and AC-3 failed in 2024?")
    assert answer.status == "answered"
    assert answer.tool == "failure_history"
    paragraphs = answer.text.split("\n")
    assert paragraphs[0].startswith("Pumps have 4 failure work orders between 2024-01-01 and 2024-12-31")
    assert paragraphs[1].startswith("Air Compressor 3 (AC-3) has 7 failure work orders between 2024-01-01 and "
                                    "2024-12-31")


@pytest.mark.parametrize("question, expected", [
    ("Why did pump AC-3 fail?", "AC-3 (Air Compressor 3) is not a pump; it is a compressor."),
    ("Why did the AC-3 pump fail?", "AC-3 (Air Compressor 3) is not a pump; it is a compressor."),
    ("泵AC-3为什么故障？", "AC-3（3号空压机）不是泵，而是压缩机"),
])
def test_kind_qualifying_asset_still_rejected(plant, question, expected):
    answer = _ask(plant, question)
    assert answer.status == "failed"
    assert expected in answer.text


def test_model_call_for_joined_subjects_answered(plant):
    backend = ScriptedBackend(['{"tool": "root_causes", "asset": "AC-3", "equipment_kind": "Pump"}'])
    answer = Asker(plant, backend).ask("Why did AC-3 and the pumps fail?")
    assert answer.mapped_by == "scripted"
    assert answer.status == "answered"
    assert answer.resolved["equipment"] == PUMPS
    assert answer.resolved["asset"] == AC_3
