"""Failed and unmappable answers: in the answer's language, with the kinds, tags and dates that help to ask again."""

from __future__ import annotations

import re
from datetime import date

import pytest
from starlette.testclient import TestClient

from kg_service.api.app import create_app
from kg_service.ask import Asker
from kg_service.ask.answer import suggestions
from kg_service.ask.entities import EntityIndex
from kg_service.ask.rules import RuleMapper
from kg_service.ask.tools import RootCausesCall
from kg_service.extraction.backend import ScriptedBackend
from kg_service.ontology.editing import OntologyEditor
from tests.conftest import load_sample_plant

pytestmark = pytest.mark.neo4j

MID_2025 = date(2025, 6, 1)
# A day long after the sample plant's newest work order (2025-10-21), as on the first user's trial.
TRIAL_DAY = date(2026, 12, 5)
# A kind that no equipment of the sample plant is of.
BOILER = ("Boiler", {"en": "Boiler", "zh": "锅炉"})
# Latin words of an English message that a Chinese answer must not contain. Tags, keys and
# English names of entities without a Chinese name are allowed.
ENGLISH_MESSAGE_WORDS = re.compile(r"\b(no|has|is|not|the|in|ask|about|without|named|graph|kind|place|of)\b")


@pytest.fixture(scope="module")
def plant(store, settings):
    graph = load_sample_plant(store, settings)
    name, labels = BOILER
    definitions = {"en": "Equipment that heats water or makes steam.", "zh": "加热水或产生蒸汽的设备。"}
    OntologyEditor(graph).add_class(name, "Equipment", labels, definitions, why="a kind with no equipment",
                                    author="tester")
    return graph


def _ask(store, question: str, lang: str | None = None, today: date = MID_2025):
    return Asker(store, RuleMapper(), today=lambda: today).ask(question, lang)


def _english_words(text: str) -> list[str]:
    return ENGLISH_MESSAGE_WORDS.findall(text.lower())


# failure texts in the answer's language

@pytest.mark.parametrize("question, lang, expected", [
    ("1号线的输送机为什么故障？", None,
     "问题已对应到查询，但无法执行：一号机加工线没有输送机；图谱中的输送机在二号装配线（201输送机、202输送机）。"
     "请去掉地点再问输送机，或去掉设备类型再问一号机加工线"),
    ("Why did the conveyors on line 1 fail?", "zh",
     "问题已对应到查询，但无法执行：一号机加工线没有输送机；图谱中的输送机在二号装配线（201输送机、202输送机）。"),
    ("七号线为什么停机？", None, "问题已对应到查询，但无法执行：图谱中没有名为“七号线”的产线或厂区；已知的地点：一号机加工线（"),
    ("哪些锅炉出过故障？", None, "问题已对应到查询，但无法执行：图谱中没有锅炉：没有设备带有 Boiler 标签"),
    ("为什么AC-99停机？", None, "问题已对应到查询，但无法执行：图谱中没有名为“AC-99”的设备"),
    ("2号线的AC-3为什么过热？", None, "3号空压机不属于二号装配线（它属于一号机加工线、苏州工厂）；请去掉地点再问3号空压机"),
])
def test_failure_text_in_chinese(plant, question, lang, expected):
    answer = _ask(plant, question, lang)
    assert answer.status == "failed"
    assert answer.lang == "zh"
    assert expected in answer.text
    assert _english_words(answer.text) == []


@pytest.mark.parametrize("question, expected", [
    ("Why did the conveyors on line 1 fail?",
     "Line 1 Machining has no conveyors; the conveyors in the graph are on Line 2 Assembly (Conveyor 201, "
     "Conveyor 202)"),
    ("Which boilers failed?", "the graph has no boilers: no equipment is labeled Boiler"),
    ("Why did AC-99 stop?", "no asset named 'AC-99' in the graph"),
])
def test_failure_text_in_english(plant, question, expected):
    answer = _ask(plant, question)
    assert answer.status == "failed"
    assert answer.text.startswith("The question maps onto a query, but it cannot run: ")
    assert expected in answer.text


def test_model_unknown_kind_in_chinese(plant):
    backend = ScriptedBackend(['{"tool": "failure_history", "equipment_kind": "涡轮机"}'])
    answer = Asker(plant, backend).ask("哪些涡轮机出过故障？")
    assert answer.status == "failed"
    assert "本体中没有名为“涡轮机”的设备类型；已知的设备类型：" in answer.text
    assert "泵（Pump）" in answer.text
    assert _english_words(answer.text) == []


def test_graphql_failure_text_in_chinese(plant, settings, monkeypatch):
    import kg_service.api.ask as ask_module

    monkeypatch.setattr(ask_module, "_shared_mapper", RuleMapper())
    query = "query($question: String!, $lang: String) { ask(question: $question, lang: $lang) { status lang text } }"
    with TestClient(create_app(settings, plant)) as client:
        body = client.post("/graphql", json={"query": query, "variables": {
            "question": "Why did the conveyors on line 1 fail?", "lang": "zh"}}).json()
    answer = body["data"]["ask"]
    assert answer["status"] == "failed"
    assert answer["text"].startswith("问题已对应到查询，但无法执行：一号机加工线没有输送机")
    assert _english_words(answer["text"]) == []


# a kind that does not fit the named asset

@pytest.mark.parametrize("question, lang, expected", [
    ("Why did pump AC-3 fail?", "en",
     "AC-3 (Air Compressor 3) is not a pump; it is a compressor. Ask about AC-3 without the kind of equipment, "
     "or about the pumps"),
    ("P-101 空压机为什么故障？", "zh", "P-101（P-101冷却液泵）不是压缩机，而是泵；请去掉设备类型再问 P-101，或改问压缩机"),
    ("Why did pump AC-3 fail?", "zh", "AC-3（3号空压机）不是泵，而是压缩机"),
])
def test_kind_not_fitting_tag_rejected(plant, question, lang, expected):
    answer = _ask(plant, question, lang)
    assert answer.status == "failed"
    assert answer.resolved == {}
    assert expected in answer.text


def test_kind_fitting_tag_answered(plant):
    answer = _ask(plant, "Why did the P-101 pump leak?")
    assert answer.status == "answered"
    assert answer.arguments["equipment_kind"] == "Pump"
    assert answer.resolved["asset"] == "equipment:sample-plant:p-101"
    assert answer.text.startswith("Likely causes of Leak on Coolant Pump P-101 (P-101)")


# an equipment word that is no kind

@pytest.mark.parametrize("question, expected", [
    ("Why did the turbines fail?",
     "'turbines' is not a kind of equipment in the ontology; the known kinds are boilers, compressors, conveyors, "
     "industrial robots, machine tools, presses, pumps."),
    ("Which turbines failed?", "'turbines' is not a kind of equipment in the ontology; the known kinds are boilers, "),
    ("涡轮机为什么故障？", "“涡轮机”不是本体中的设备类型；已知的设备类型：锅炉、压缩机、输送机、工业机器人、机床、压力机、泵。"),
])
def test_unknown_kind_lists_known_kinds(plant, question, expected):
    answer = _ask(plant, question)
    assert answer.status == "unmappable"
    assert "equipment_kind" not in answer.arguments
    assert expected in answer.text


@pytest.mark.parametrize("question", ["What is the weather tomorrow?", "Write me a poem about pumps", "明天天气怎么样？"])
def test_no_kind_list_without_equipment_word(plant, question):
    answer = _ask(plant, question)
    assert answer.status == "unmappable"
    assert "known kinds" not in answer.text
    assert "已知的设备类型" not in answer.text


# suggestions and dates after a failed or empty answer

def test_suggestions_keep_kind_and_window(plant):
    answer = _ask(plant, "Why did the conveyors on line 1 fail in 2024?")
    assert answer.status == "failed"
    assert answer.suggestions[:3] == ["Why did the conveyors fail in 2024?", "Which conveyors failed in 2024?",
                                      "Why did Conveyor 201 fail in 2024?"]
    answers = [_ask(plant, suggestion) for suggestion in answer.suggestions[:3]]
    assert [item.status for item in answers] == ["answered"] * 3
    assert all(item.arguments["since"] == "2024-01-01" for item in answers)


def test_chinese_suggestions_keep_kind_and_window(plant):
    answer = _ask(plant, "去年1号线的输送机为什么故障？")
    assert answer.status == "failed"
    assert answer.suggestions[:2] == ["去年输送机为什么故障？", "去年哪些输送机出过故障？"]
    assert [_ask(plant, item).status for item in answer.suggestions[:2]] == ["answered"] * 2


def test_suggestions_skip_failed_question(plant):
    # A kind with an empty window gets an answer, not a failure, so this test calls `suggestions` directly.
    call = RootCausesCall(tool="root_causes", equipment_kind="Pump")
    items = suggestions("Why did the pumps fail last month?", EntityIndex.load(plant), "en", call, TRIAL_DAY)
    assert "Why did the pumps fail last month?" not in items
    assert "Which pumps failed last month?" in items


@pytest.mark.parametrize("question, lang, expected", [
    ("Which pumps failed last month?", None,
     "Pumps have no failure work orders between 2026-11-01 and 2026-11-30. The latest work order of the pumps "
     "is dated 2025-09-26."),
    ("上个月哪些泵出过故障？", None, "泵在 2026-11-01 至 2026-11-30 期间没有故障工单。泵最近的工单日期是 2025-09-26。"),
    ("AC-3 work orders last month", None, "The latest work order of Air Compressor 3 (AC-3) is dated 2025-10-21."),
])
def test_empty_window_names_latest_order(plant, question, lang, expected):
    answer = _ask(plant, question, lang, today=TRIAL_DAY)
    assert answer.status == "answered"
    assert answer.rows == []
    assert expected in answer.text


def test_window_with_orders_has_no_date_hint(plant):
    answer = _ask(plant, "Which pumps failed in 2024?")
    assert answer.rows
    assert "latest work order of" not in answer.text


def test_english_only_reason_marked_in_chinese():
    from kg_service.ask.answer import error_text

    reason = "since (2025-02-01) is after until (2025-01-01); swap them or widen the window"
    assert error_text("zh", None, reason) == f"问题已对应到查询，但无法执行。查询给出的原因（英文）：{reason}"
    assert error_text("en", None, reason) == f"The question maps onto a query, but it cannot run: {reason}"
