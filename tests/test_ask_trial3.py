"""Joined questions with an unknown tag, lookups of a shared name and "Who supplies" questions."""

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
SEAL_P_101 = "component:sample-plant:p-101/sealing-system/mechanical-seal"
SEAL_P_102 = "component:sample-plant:p-102/sealing-system/mechanical-seal"
SEAL_PART = "part:mechanical-seal"
COOLER_HOUSING = "part:sample-plant:cooler-housing"


@pytest.fixture(scope="module")
def plant(store, settings):
    return load_sample_plant(store, settings)


def _ask(store, question: str, lang: str | None = None):
    return Asker(store, RuleMapper(), today=lambda: TRIAL_DAY).ask(question, lang)


# an unknown tag joined to a known asset

@pytest.mark.parametrize("question, note", [
    ("Why did AC-3 and AC-99 fail?", "AC-99 is not in the graph, so the answer covers AC-3 only. "),
    ("AC-3和AC-99为什么故障？", "图谱中没有 AC-99，以下只回答 AC-3。"),
])
def test_unknown_joined_tag_named(plant, question, note):
    answer = _ask(plant, question)
    assert answer.status == "answered"
    assert answer.resolved["asset"] == AC_3
    assert answer.text.startswith(note)
    assert "AC-3" in answer.text[len(note):].split("\n")[0]


def test_unknown_tag_between_known_assets(plant):
    answer = _ask(plant, "Why did AC-3, AC-99 and AC-1 fail?")
    assert answer.status == "answered"
    assert set(answer.resolved["asset"].split(", ")) == {AC_1, AC_3}
    assert answer.text.startswith("AC-99 is not in the graph, so the answer covers AC-3 and AC-1 only. ")
    assert len(answer.text.split("\n")) == 3


def test_known_joined_assets_have_no_note(plant):
    answer = _ask(plant, "Why did AC-3 and AC-1 fail?")
    assert "not in the graph" not in answer.text


def test_single_unknown_tag_still_fails(plant):
    answer = _ask(plant, "Why did AC-99 fail?")
    assert answer.status == "failed"
    assert "AC-99" in answer.text


# a lookup of a name that several entities share

@pytest.mark.parametrize("question, start", [
    ("What is Mechanical Seal?", "3 entities are named Mechanical Seal: Mechanical Seal (P-101) "),
    ("机械密封是什么？", "有 3 个实体名为机械密封：机械密封（P-101） "),
])
def test_lookup_reports_every_match(plant, question, start):
    answer = _ask(plant, question)
    assert answer.status == "answered"
    assert answer.tool == "lookup"
    assert {row["id"] for row in answer.rows} == {SEAL_P_101, SEAL_P_102, SEAL_PART}
    assert answer.text.startswith(start)
    assert "(P-102)" in answer.text or "（P-102）" in answer.text
    assert {citation.id for citation in answer.citations} == {SEAL_P_101, SEAL_P_102, SEAL_PART}


def test_lookup_of_unique_name(plant):
    answer = _ask(plant, "What is AC-1?")
    assert [row["id"] for row in answer.rows] == [AC_1]
    assert answer.text.startswith("Found 1 entity: Air Compressor 1 ")


# "Who supplies X?"

@pytest.mark.parametrize("question, text", [
    ("Who supplies Mechanical Seal?", "The graph records no supplier of Mechanical Seal."),
    ("谁供应机械密封？", "图谱中没有记录机械密封"),
])
def test_who_supplies_part(plant, question, text):
    answer = _ask(plant, question)
    assert answer.status == "answered"
    assert answer.tool == "rank_suppliers"
    assert answer.resolved["part"] == SEAL_PART
    assert answer.rows == []
    assert answer.text.startswith(text)


@pytest.mark.parametrize("question, text", [
    ("Who supplies Cooler Housing?", "has a single supplier, Kunshan Castings Workshop"),
    ("谁供应冷却器壳体？", "只有一家供应商：昆山铸造厂"),
])
def test_who_supplies_supplied_part(plant, question, text):
    answer = _ask(plant, question)
    assert answer.status == "answered"
    assert answer.tool == "rank_suppliers"
    assert answer.resolved["part"] == COOLER_HOUSING
    assert [row["id"] for row in answer.rows] == ["supplier:sample-plant:kunshan-castings"]
    assert text in answer.text
