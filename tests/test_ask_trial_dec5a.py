"""Questions from a first-user trial: one-letter asset tags, classes of parts, unknown assets, reasons, punctuation."""

from __future__ import annotations

import logging
from datetime import date

import pytest

from kg_service.ask import Asker
from kg_service.ask.answer import _end_sentences, subject_needed_text
from kg_service.ask.entities import EntityIndex
from kg_service.ask.rules import RuleMapper
from kg_service.errors import NotFoundError
from kg_service.extraction.backend import ScriptedBackend
from kg_service.ingest import ingest_workorders
from kg_service.logging_setup import quiet_info_logs
from kg_service.reasoning.design import _shape_catalog
from kg_service.reasoning.lookup import resolve_entity
from tests.conftest import MAPPINGS_DIR, data_file, load_sample_plant

pytestmark = pytest.mark.neo4j

TRIAL_DAY = date(2026, 12, 5)
EXCAVATOR_B = "equipment:maintkg-pdl:b"
EXCAVATOR_D = "equipment:maintkg-pdl:d"
WUXI_BEARING = "supplier:sample-plant:wuxi-bearing"


@pytest.fixture(scope="module")
def plant(store, settings):
    """The sample plant with the MaintKG excavators A to E, whose tags are single letters."""
    load_sample_plant(store, settings)
    ingest_workorders(store, settings, data_file("maintkg_pdl", "case_study_pdl.csv"),
                      MAPPINGS_DIR / "maintkg_pdl.yaml")
    return store


def _ask(store, question: str, lang: str | None = None):
    return Asker(store, RuleMapper(), today=lambda: TRIAL_DAY).ask(question, lang)


# one-letter asset tags

@pytest.mark.parametrize("question", ["Why does excavator D leak?", "Why does D leak?", "为什么D号挖掘机泄漏？"])
def test_single_letter_tag_resolved(plant, question):
    answer = _ask(plant, question)
    assert answer.status == "answered"
    assert answer.tool == "root_causes"
    assert answer.resolved["asset"] == EXCAVATOR_D
    assert "failure-mode:leak" == answer.resolved["condition"]


def test_single_letter_tag_after_kind_in_year(plant):
    answer = _ask(plant, "What failed on excavator B in 2015?")
    assert answer.status == "answered"
    assert answer.tool == "failure_history"
    assert answer.resolved["asset"] == EXCAVATOR_B
    assert "names no asset" not in answer.text


def test_article_and_pronoun_not_tags(plant):
    index = EntityIndex.load(plant)
    assert [tag.token for tag in index.short_tags("A pump failed. Why?")] == []
    assert [tag.token for tag in index.short_tags("Why do I see leaks on D?")] == ["D"]
    call = RuleMapper().map("Why do I see leaks on D?", index)
    assert call.asset == EXCAVATOR_D


def test_article_after_kind_word_is_tag(plant):
    index = EntityIndex.load(plant)
    tags = index.short_tags("A excavator A leak")
    assert [(tag.token, tag.after_equipment_word) for tag in tags] == [("A", True)]


@pytest.mark.parametrize("question", ["Why does excavator F leak?", "Why does F leak?"])
def test_unknown_single_letter_tag_named(plant, question):
    answer = _ask(plant, question)
    assert answer.status == "failed"
    assert "no asset named 'F' in the graph" in answer.text
    assert "closest names: A (equipment:maintkg-pdl:a)" in answer.text


def test_suggested_single_letter_questions_resolve(plant):
    answer = _ask(plant, "Why does F leak?")
    for suggestion in answer.suggestions:
        assert _ask(plant, suggestion).status == "answered", suggestion


# a class of parts in a supplier question

def test_part_class_of_kind_suppliers(plant):
    answer = _ask(plant, "Who supplies bearings for the pumps?")
    assert answer.tool == "rank_suppliers"
    assert answer.arguments["part_class"] == "Bearing"
    assert answer.arguments["equipment_kind"] == "Pump"
    assert "Engine Pumps" not in answer.text
    assert "bearings (part class Bearing) used by the pumps" in answer.text
    assert "no supplier" in answer.text


@pytest.mark.parametrize("question, name", [
    ("Who supplies bearings?", "Suppliers of bearings: Wuxi Precision Bearing Co. (Miniature bearing 608-2Z"),
    ("谁供应轴承？", "轴承的供应商：无锡精密轴承有限公司（微型轴承 608-2Z（608-2Z）"),
])
def test_part_class_suppliers(plant, question, name):
    answer = _ask(plant, question)
    assert answer.status == "answered"
    assert [row["id"] for row in answer.rows] == [WUXI_BEARING]
    assert answer.text.startswith(name)


def test_part_class_without_used_parts(plant):
    answer = _ask(plant, "Who supplies bearings for the compressors?")
    assert answer.status == "answered"
    assert "The graph records no bearings used by the compressors" in answer.text
    assert answer.rows == []


# an unknown asset

@pytest.mark.parametrize("question, hint", [
    ("Why did AC-99 overheat?", "closest names: Air Compressor 1 (equipment:sample-plant:ac-1)"),
    ("为什么AC-99过热？", "最接近的名称：1号空压机（equipment:sample-plant:ac-1）"),
])
def test_unknown_asset_cli_hint(plant, question, hint):
    answer = _ask(plant, question)
    assert answer.status == "failed"
    assert "entities" not in answer.text
    assert hint in answer.text
    assert "Lathe" not in " ".join(answer.suggestions)
    assert "1" in answer.suggestions[0]


def test_unknown_asset_lists_graph_names(plant):
    answer = _ask(plant, "Why did XY-9 stop?")
    assert answer.status == "failed"
    assert "entities" not in answer.text
    assert "asset names in the graph include" in answer.text


def test_lookup_error_names_graphql_query(plant):
    with pytest.raises(NotFoundError, match="GraphQL 'entities' query"):
        resolve_entity(plant, "AC-99", ["Equipment"])


# the model's own reason

def test_model_reason_not_shown(plant):
    backend = ScriptedBackend(['{"tool": "unmappable", "reason": "not about the failure mode"}'])
    answer = Asker(plant, backend, today=lambda: TRIAL_DAY).ask("Which equipment had the most breakdowns in 2025?")
    assert answer.status == "unmappable"
    assert "not about the failure mode" not in answer.text


# punctuation

def test_zh_answer_full_width(plant):
    answer = _ask(plant, "为什么3号空压机过热？")
    assert "3号空压机（AC-3）" in answer.text
    assert "依据：" in answer.text
    assert "依据:" not in answer.text
    assert " (" not in answer.text


def test_zh_history_full_width(plant):
    answer = _ask(plant, "3号空压机的维修记录")
    assert answer.tool == "failure_history"
    assert "（过热" in answer.text
    assert ", " not in answer.text.split("\n")[0]


def test_zh_subject_examples_no_space():
    text = subject_needed_text("zh", {"tags": ["Lathe", "A"], "places": ["一号线"], "kinds": []})
    assert "设备位号（如Lathe、A）" in text
    assert "如 " not in text


def test_name_with_period_ends_sentence():
    assert _end_sentences("supplied by ACME INC.. Next") == "supplied by ACME INC. Next"
    assert _end_sentences("supplied by ACME INC..") == "supplied by ACME INC."
    assert _end_sentences("Wait...") == "Wait..."


# terminal noise

def test_design_question_parses_shapes_once(plant, caplog):
    _shape_catalog.cache_clear()
    with caplog.at_level(logging.INFO, logger="kg_service.ontology.parsing"):
        answer = _ask(plant, "What design constraints apply to the cooling module assembly?")
    assert answer.tool == "design_constraints"
    parsed = [record for record in caplog.records if "shapes.ttl" in record.getMessage()]
    assert len(parsed) == 1


@pytest.mark.parametrize("root_level, expected", [(logging.INFO, logging.WARNING), (logging.DEBUG, logging.NOTSET)])
def test_ask_command_quiets_info_logs(root_level, expected):
    root, package = logging.getLogger(), logging.getLogger("kg_service")
    saved = root.level, package.level
    try:
        root.setLevel(root_level)
        package.setLevel(logging.NOTSET)
        quiet_info_logs()
        assert package.level == expected
    finally:
        root.setLevel(saved[0])
        package.setLevel(saved[1])


@pytest.mark.parametrize("colloquial, named", [
    ("为什么D号挖掘机漏油？", "为什么D号挖掘机泄漏？"),
    ("为什么2号液压机渗油？", "为什么2号液压机泄漏？"),
    ("为什么3号空压机发烫？", "为什么3号空压机过热？"),
])
def test_colloquial_failure_words_read(plant, colloquial, named):
    """"为什么D号挖掘机漏油？" explained D's most frequent failure mode instead of its leaks: 漏油 named no failure mode."""
    expected = _ask(plant, named)
    answer = _ask(plant, colloquial)

    assert answer.status == "answered"
    assert answer.tool == "root_causes"
    assert answer.arguments.get("failure_mode")
    assert answer.resolved["condition"] == expected.resolved["condition"]
    assert answer.resolved["asset"] == expected.resolved["asset"]
