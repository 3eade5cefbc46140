"""Places in questions: "line 2" and "二号线" limit the answer to the assets of that line."""

from __future__ import annotations

import pytest

from kg_service.ask import Asker
from kg_service.ask.places import chinese_number, find_place_phrases
from kg_service.ask.rules import RuleMapper
from kg_service.ask.tools import parse_tool_call
from kg_service.errors import ToolCallError
from kg_service.extraction.backend import ScriptedBackend
from tests.conftest import load_sample_plant

LINE_1 = "line:sample-plant:line-1-machining"
LINE_2 = "line:sample-plant:line-2-assembly"

ON_LINE_QUERY = """
UNWIND $orders AS key
MATCH (wo:WorkOrder {id: key})-[:FOR_ASSET]->(target)
RETURN key, EXISTS { MATCH (target)-[:PART_OF*1..4]->(:Entity {id: $line}) } AS onLine
"""


@pytest.fixture(scope="module")
def plant_graph(store, settings):
    return load_sample_plant(store, settings)


def _ask(store, question: str):
    return Asker(store, RuleMapper()).ask(question)


# phrases, without the graph

@pytest.mark.parametrize("text, kind, number", [
    ("why did the pumps on line 2 fail last month", "line", 2),
    ("machines on line two", "line", 2),
    ("Production Line 3", "line", 3),
    ("Area 4", "area", 4),
    ("Site #5", "plant", 5),
    ("二号线的泵上个月为什么故障", "line", 2),
    ("2号线", "line", 2),
    ("二号装配线", "line", 2),
    ("第三车间的设备", "area", 3),
    ("产线2", "line", 2),
    ("十二号工厂", "plant", 12),
])
def test_place_phrase_found(text, kind, number):
    phrases = find_place_phrases(text)
    assert [(phrase.kind, phrase.number) for phrase in phrases] == [(kind, number)]


@pytest.mark.parametrize("text", ["2号数控车床有多少次故障？", "202输送机在哪条线？", "3号空压机为什么过热？",
                                  "Which line is CV-202 on?", "CNC Lathe 2"])
def test_no_place_in_asset_names(text):
    assert find_place_phrases(text) == []


@pytest.mark.parametrize("text, value", [("二", 2), ("十", 10), ("十二", 12), ("二十", 20), ("二十三", 23),
                                         ("17", 17), ("百", None)])
def test_chinese_numerals(text, value):
    assert chinese_number(text) == value


def test_place_call_validated():
    call = parse_tool_call('{"tool": "failure_history", "place": "line 2"}')
    assert call.place == "line 2"
    with pytest.raises(ToolCallError, match="give an asset or a place"):
        parse_tool_call('{"tool": "failure_history", "limit": 3}')


# answers on the sample plant

@pytest.mark.neo4j
@pytest.mark.parametrize("question", ["why did the machines on line 2 fail last month", "二号线的机器上个月为什么故障"])
def test_root_causes_scoped_to_line(plant_graph, question):
    answer = _ask(plant_graph, question)
    assert answer.status == "answered"
    assert answer.arguments["place"] == LINE_2
    assert answer.resolved["asset"] == LINE_2


@pytest.mark.neo4j
def test_line_evidence_stays_on_line(plant_graph):
    answer = _ask(plant_graph, "Why do machines on line 2 overheat?")
    orders = sorted({key for row in answer.rows for key in row["work_orders"]})
    rows = plant_graph.read(ON_LINE_QUERY, {"orders": orders, "line": LINE_2})
    assert orders
    assert all(row["onLine"] for row in rows)
    assert "Overheating on Line 2 Assembly" in answer.text


@pytest.mark.neo4j
def test_line_answer_differs_from_plant(plant_graph):
    line = _ask(plant_graph, "Why do machines on line 2 overheat?")
    plant = _ask(plant_graph, "Why do machines overheat?")
    assert line.rows[0]["id"] != plant.rows[0]["id"]


@pytest.mark.neo4j
@pytest.mark.parametrize("question, expected", [
    ("Why does AC-3 overheat on line 2?",
     "Air Compressor 3 is not part of Line 2 Assembly (it is part of Line 1 Machining"),
    ("2号线的AC-3为什么过热？", "3号空压机不属于二号装配线（它属于一号机加工线、苏州工厂）"),
])
def test_asset_outside_place_rejected(plant_graph, question, expected):
    answer = _ask(plant_graph, question)
    assert answer.status == "failed"
    assert expected in answer.text


@pytest.mark.neo4j
def test_asset_inside_place_answered(plant_graph):
    answer = _ask(plant_graph, "Why does AC-3 overheat on line 1?")
    assert answer.resolved["asset"] == "equipment:sample-plant:ac-3"
    assert answer.resolved["place"] == LINE_1
    assert "Air Compressor 3 (AC-3) in Line 1 Machining" in answer.text


@pytest.mark.neo4j
@pytest.mark.parametrize("question, unknown, known", [
    ("Why does equipment on line 7 fail?", "no production line or site named 'line 7' in the graph",
     f"Line 2 Assembly ({LINE_2})"),
    ("七号线为什么停机？", "图谱中没有名为“七号线”的产线或厂区", f"二号装配线（{LINE_2}）"),
])
def test_unknown_place_suggests_known(plant_graph, question, unknown, known):
    answer = _ask(plant_graph, question)
    assert answer.status == "failed"
    assert unknown in answer.text
    assert known in answer.text


@pytest.mark.neo4j
def test_line_history_counts_line_orders(plant_graph):
    answer = _ask(plant_graph, "二号线有多少次故障？")
    expected = plant_graph.read(
        "MATCH (wo:WorkOrder)-[:FOR_ASSET]->()-[:PART_OF*1..4]->(:Entity {id: $line}) "
        "WHERE (wo)-[:HAS_FAILURE_MODE]->() RETURN count(DISTINCT wo) AS n", {"line": LINE_2})[0]["n"]
    assert answer.tool == "failure_history"
    assert answer.arguments["failures_only"] is True
    assert f"共有 {expected} 张故障工单" in answer.text


@pytest.mark.neo4j
def test_supplier_place_without_locations(plant_graph):
    answer = _ask(plant_graph, "Which suppliers can replace the bearing supplier for line 2?")
    assert answer.status == "answered"
    assert answer.resolved["place"] == LINE_2
    assert "does not record where" in answer.text


@pytest.mark.neo4j
def test_supplier_place_without_parts(plant_graph):
    answer = _ask(plant_graph, "Which supplier is best for line 1?")
    assert answer.status == "failed"
    assert "no part with a supplier is installed in Line 1 Machining" in answer.text


@pytest.mark.neo4j
def test_model_place_phrase_resolved(plant_graph):
    backend = ScriptedBackend(['{"tool": "root_causes", "place": "二号线", "failure_mode": "过热"}'])
    answer = Asker(plant_graph, backend).ask("二号线的设备为什么过热？")
    assert answer.mapped_by == "scripted"
    assert answer.resolved["place"] == LINE_2
    assert answer.resolved["condition"] == "failure-mode:overheating"


@pytest.mark.neo4j
def test_prompt_lists_place(plant_graph):
    backend = ScriptedBackend(['{"tool": "lookup", "text": "line 2"}'])
    Asker(plant_graph, backend).ask("What is on line 2?")
    prompt = backend.requests[0].messages[-1]["content"]
    assert f"line 2 = {LINE_2} (ProductionLine, place)" in prompt
