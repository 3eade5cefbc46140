"""Kinds of equipment in questions ("the pumps", "压缩机") and questions that name no subject at all."""

from __future__ import annotations

from datetime import date

import pytest

from kg_service.ask import Asker
from kg_service.ask.kinds import EquipmentKind, english_plural, find_kind
from kg_service.ask.rules import RuleMapper
from kg_service.ask.timespans import find_time_window
from kg_service.ask.tools import FailureHistoryCall, RootCausesCall, parse_tool_call
from kg_service.errors import ToolCallError
from kg_service.extraction.backend import ScriptedBackend
from kg_service.ontology.editing import OntologyEditor
from tests.conftest import load_sample_plant

LINE_1 = "line:sample-plant:line-1-machining"
LINE_2 = "line:sample-plant:line-2-assembly"
PUMPS = ["equipment:sample-plant:p-101", "equipment:sample-plant:p-102"]
COMPRESSORS = ["equipment:sample-plant:ac-1", "equipment:sample-plant:ac-3"]
MID_2025 = date(2025, 6, 1)

# A kind that kg-core.ttl lacks, added the way a domain expert adds one. "Welding Robot 5" and
# "5号焊接机器人" contain neither "welder" nor 焊机, so RB-05 is a welder by its node label only.
WELDER = ("Welder", {"en": "Welder", "zh": "焊机"})
RB_05 = "equipment:sample-plant:rb-05"

# Work orders (by key) with the equipment they are for, counting an order on a part for its equipment.
ORDER_EQUIPMENT_QUERY = """
UNWIND $orders AS key
MATCH (wo:WorkOrder {id: key})-[:FOR_ASSET]->(target)-[:PART_OF*0..4]->(equipment:Equipment)
RETURN key, collect(DISTINCT equipment.id) AS equipment
"""

FAILURE_ORDERS_QUERY = """
MATCH (wo:WorkOrder)-[:FOR_ASSET]->()-[:PART_OF*0..4]->(equipment:Equipment)
WHERE equipment.id IN $equipment AND (wo)-[:HAS_FAILURE_MODE]->()
  AND wo.date >= date($since) AND wo.date <= date($until)
RETURN count(DISTINCT wo) AS n
"""


@pytest.fixture(scope="module")
def plant(store, settings):
    graph = load_sample_plant(store, settings)
    name, labels = WELDER
    definitions = {"en": "Equipment that joins parts by welding.", "zh": "通过焊接连接零件的设备。"}
    OntologyEditor(graph).add_class(name, "Equipment", labels, definitions, why="a kind for questions",
                                    author="tester")
    graph.write("MATCH (n:Entity {id: $key}) SET n:Welder", {"key": RB_05})
    return graph


def _ask(store, question: str, today: date = MID_2025):
    return Asker(store, RuleMapper(), today=lambda: today).ask(question)


def _order_equipment(store, orders: list[str]) -> dict[str, list[str]]:
    rows = store.read(ORDER_EQUIPMENT_QUERY, {"orders": orders})
    return {row["key"]: row["equipment"] for row in rows}


# kinds and calls, without the graph

PUMP = EquipmentKind("Pump", frozenset({"Pump"}), "Pump", "泵", ("pump",), ("泵",))
PRESS = EquipmentKind("Press", frozenset({"Press"}), "Press", "压力机", ("press",), ("压力机",))


@pytest.mark.parametrize("noun, plural", [("pump", "pumps"), ("press", "presses"), ("gearbox", "gearboxes"),
                                          ("machine tool", "machine tools"), ("assembly", "assemblies")])
def test_english_plural(noun, plural):
    assert english_plural(noun) == plural


@pytest.mark.parametrize("question, label", [
    ("Why did the pumps on line 2 fail last month?", "Pump"),
    ("2号线的泵为什么故障？", "Pump"),
    ("Which PRESSES failed?", "Press"),
    ("Why does the air compressor overheat?", None),
    ("Why did the pumpkins rot?", None),
])
def test_kind_found_by_whole_word(question, label):
    mention = find_kind(question, [PUMP, PRESS])
    assert (mention.kind.label if mention else None) == label


def test_kind_inside_entity_name_ignored():
    question = "Why does Coolant Pump P-101 leak?"
    start = question.index("Coolant")
    assert find_kind(question, [PUMP], [(start, start + len("Coolant Pump P-101"))]) is None


def test_kind_call_validated():
    history = parse_tool_call('{"tool": "failure_history", "equipment_kind": "Pump"}')
    causes = parse_tool_call('{"tool": "root_causes", "equipment_kind": "泵", "place": "line 1"}')
    assert isinstance(history, FailureHistoryCall)
    assert history.equipment_kind == "Pump"
    assert isinstance(causes, RootCausesCall)
    assert causes.equipment_kind == "泵"
    with pytest.raises(ToolCallError, match="equipment_kind"):
        parse_tool_call('{"tool": "failure_history", "equipment_kind": "Pump\\n MATCH (n) DETACH DELETE n"}')


@pytest.mark.parametrize("question, since, until", [
    ("Which pumps failed last quarter?", date(2025, 1, 1), date(2025, 3, 31)),
    ("上个季度哪些泵出过故障？", date(2025, 1, 1), date(2025, 3, 31)),
    ("AC-3 work orders this quarter", date(2025, 4, 1), MID_2025),
])
def test_quarter_window(question, since, until):
    window = find_time_window(question, MID_2025)
    assert (window.since, window.until) == (since, until)


# a kind with a place

@pytest.mark.neo4j
@pytest.mark.parametrize("question, expected", [
    ("Why did the pumps on line 2 fail last month?", "Line 2 Assembly has no pumps; the pumps in the graph are on "
                                                     "Line 1 Machining (Coolant Pump P-101, Coolant Pump P-102)"),
    ("2号线的泵为什么故障？", "二号装配线没有泵；图谱中的泵在一号机加工线（P-101冷却液泵、P-102冷却液泵）"),
])
def test_kind_outside_place_explained(plant, question, expected):
    answer = _ask(plant, question)
    assert answer.status == "failed"
    assert answer.arguments["equipment_kind"] == "Pump"
    assert answer.arguments["place"] == LINE_2
    assert expected in answer.text


@pytest.mark.neo4j
def test_pumps_on_line_ranked(plant):
    answer = _ask(plant, "Why did the pumps on line 1 fail?")
    orders = sorted({key for row in answer.rows for key in row["work_orders"]})
    equipment = _order_equipment(plant, orders)
    assert answer.status == "answered"
    assert answer.resolved["equipment"] == ", ".join(PUMPS)
    assert orders
    assert all(set(equipment[key]) <= set(PUMPS) for key in orders)
    assert answer.text.startswith("Pumps on Line 1 Machining most often fail with Leak")
    assert "Pumps covered: Coolant Pump P-101 (P-101), Coolant Pump P-102 (P-102)." in answer.text


@pytest.mark.neo4j
def test_pumps_differ_from_whole_line(plant):
    pumps = _ask(plant, "Why did the pumps on line 1 fail?")
    line = _ask(plant, "Why did the machines on line 1 fail?")
    line_orders = sorted({key for row in line.rows for key in row["work_orders"]})
    assert "equipment_kind" not in line.arguments
    assert pumps.resolved["condition"] != line.resolved["condition"]
    assert any(not set(equipment) <= set(PUMPS) for equipment in _order_equipment(plant, line_orders).values())


@pytest.mark.neo4j
def test_chinese_pumps_on_line(plant):
    answer = _ask(plant, "一号产线的泵为什么泄漏？")
    assert answer.resolved["condition"] == "failure-mode:leak"
    assert answer.text.startswith("一号机加工线的泵泄漏的可能原因")
    assert "涉及的泵：P-101冷却液泵（P-101）、P-102冷却液泵（P-102）。" in answer.text


@pytest.mark.neo4j
def test_chinese_kind_history_on_line(plant):
    answer = _ask(plant, "1号线的压缩机有哪些工单？")
    equipment = _order_equipment(plant, [row["id"] for row in answer.rows])
    assert answer.tool == "failure_history"
    assert answer.resolved["equipment"] == "equipment:sample-plant:ac-3"
    assert answer.rows
    assert all(equipment[row["id"]] == ["equipment:sample-plant:ac-3"] for row in answer.rows)
    assert answer.text.startswith("一号机加工线的压缩机共有")
    assert "涉及的压缩机：3号空压机（AC-3）。" in answer.text


# a kind alone covers the whole plant

@pytest.mark.neo4j
def test_compressor_failures_in_year(plant):
    answer = _ask(plant, "Which compressors failed in 2024?")
    expected = plant.read(FAILURE_ORDERS_QUERY, {"equipment": COMPRESSORS, "since": "2024-01-01",
                                                 "until": "2024-12-31"})[0]["n"]
    equipment = _order_equipment(plant, [row["id"] for row in answer.rows])
    assert answer.tool == "failure_history"
    assert answer.arguments["failures_only"] is True
    assert answer.resolved["equipment"] == ", ".join(COMPRESSORS)
    assert {key for keys in equipment.values() for key in keys} == set(COMPRESSORS)
    assert answer.text.startswith(f"Compressors have {expected} failure work orders between 2024-01-01 and "
                                  "2024-12-31; the latest: ")
    assert "Compressors covered: Air Compressor 1 (AC-1), Air Compressor 3 (AC-3)." in answer.text


@pytest.mark.neo4j
def test_pump_failures_last_quarter(plant):
    answer = _ask(plant, "Which pumps failed last quarter?")
    expected = plant.read(FAILURE_ORDERS_QUERY, {"equipment": PUMPS, "since": "2025-01-01",
                                                 "until": "2025-03-31"})[0]["n"]
    assert (answer.arguments["since"], answer.arguments["until"]) == ("2025-01-01", "2025-03-31")
    assert 0 < expected == len(answer.rows)
    assert all("2025-01-01" <= row["date"] <= "2025-03-31" for row in answer.rows)
    assert f"Pumps have {expected} failure work orders between 2025-01-01 and 2025-03-31" in answer.text


@pytest.mark.neo4j
def test_chinese_kind_alone_explained(plant):
    answer = _ask(plant, "泵为什么故障？")
    assert answer.resolved["condition"] == "failure-mode:leak"
    assert answer.text.startswith("泵最常见的故障是泄漏")


@pytest.mark.neo4j
def test_kind_by_node_label(plant):
    answer = _ask(plant, "Which welders failed?")
    assert answer.resolved["equipment"] == RB_05
    assert "Welders covered: Welding Robot 5 (RB-05)." in answer.text


@pytest.mark.neo4j
def test_stock_kinds_match_sample_names(plant):
    # kg-core.ttl's kinds cover the sample plant by name: lathes are machine tools, 空压机 are compressors.
    answer = _ask(plant, "Which machine tools failed?")
    assert answer.resolved["equipment"] == "equipment:sample-plant:cnc-01, equipment:sample-plant:cnc-02"
    answer = _ask(plant, "空压机有哪些维修记录？")
    assert answer.resolved["equipment_kind"] == "Compressor"
    assert answer.resolved["equipment"] == ", ".join(COMPRESSORS)


@pytest.mark.neo4j
def test_kind_not_in_ontology_ignored(plant):
    answer = _ask(plant, "Why did the turbines on line 1 fail?")
    assert answer.status == "answered"
    assert "equipment_kind" not in answer.arguments
    assert answer.resolved["asset"] == LINE_1


@pytest.mark.neo4j
def test_kind_in_asset_name_ignored(plant):
    answer = _ask(plant, "Why does Air Compressor 3 overheat?")
    assert "equipment_kind" not in answer.arguments
    assert answer.resolved["asset"] == "equipment:sample-plant:ac-3"


# the model path

@pytest.mark.neo4j
def test_model_kind_resolved(plant):
    backend = ScriptedBackend(['{"tool": "failure_history", "equipment_kind": "泵", "place": "line 1"}'])
    answer = Asker(plant, backend).ask("一号线的泵有哪些维修记录？")
    assert answer.mapped_by == "scripted"
    assert answer.resolved["equipment_kind"] == "Pump"
    assert answer.resolved["equipment"] == ", ".join(PUMPS)


@pytest.mark.neo4j
def test_model_asset_of_other_kind_rejected(plant):
    backend = ScriptedBackend(['{"tool": "root_causes", "asset": "AC-3", "equipment_kind": "Pump"}'])
    answer = Asker(plant, backend).ask("Why did pump AC-3 fail?")
    assert answer.status == "failed"
    assert "AC-3 (Air Compressor 3) is not a pump; it is a compressor." in answer.text


@pytest.mark.neo4j
def test_model_unknown_kind_lists_known(plant):
    backend = ScriptedBackend(['{"tool": "failure_history", "equipment_kind": "turbines"}'])
    answer = Asker(plant, backend).ask("Which turbines failed?")
    assert answer.status == "failed"
    assert "no kind of equipment named 'turbines'" in answer.text
    assert "Pump (pumps, 泵)" in answer.text


@pytest.mark.neo4j
def test_prompt_lists_kind(plant):
    backend = ScriptedBackend(['{"tool": "lookup", "text": "pump"}'])
    Asker(plant, backend).ask("Why did the pumps on line 1 fail?")
    prompt = backend.requests[0].messages[-1]["content"]
    assert "pumps = Pump (equipment_kind)" in prompt


# cause questions without a subject (failure-history questions without one cover the whole plant)

@pytest.mark.neo4j
def test_no_subject_answer_in_english(plant):
    answer = _ask(plant, "Why were there failures last quarter?")
    assert answer.status == "unmappable"
    assert answer.text.startswith("This question asks about failures or maintenance but names no asset, place or "
                                  "kind of equipment")
    assert "an asset tag (such as AC-1, AC-3, CNC-01)" in answer.text
    assert "a production line or area (such as Line 1 Machining, Line 2 Assembly)" in answer.text
    assert "a kind of equipment (such as compressors, conveyors)" in answer.text


@pytest.mark.neo4j
def test_no_subject_answer_in_chinese(plant):
    answer = _ask(plant, "最近三个月为什么故障？")
    assert answer.status == "unmappable"
    assert answer.text.startswith("这个问题询问故障或维修，但没有指明设备、产线或设备类型")
    assert "设备位号（如AC-1、AC-3、CNC-01）" in answer.text
    assert "产线或车间（如一号机加工线、二号装配线）" in answer.text


@pytest.mark.neo4j
@pytest.mark.parametrize("question", ["Why were there failures last quarter?", "最近三个月为什么故障？"])
def test_no_subject_suggestions_answered(plant, question):
    suggestions = _ask(plant, question).suggestions
    answers = [_ask(plant, suggestion) for suggestion in suggestions]
    assert len(suggestions) == 3
    assert [answer.status for answer in answers] == ["answered"] * 3


@pytest.mark.neo4j
def test_unrelated_question_keeps_generic_answer(plant):
    answer = _ask(plant, "Write me a poem about pumps")
    assert answer.status == "unmappable"
    assert answer.text.startswith("I cannot map this question")


# causes that share a name across the equipment of a kind

@pytest.mark.neo4j
def test_kind_causes_qualified_by_tag(plant):
    answer = _ask(plant, "Why did the pump fail?")
    assert [row["name_en"] for row in answer.rows[:3:2]] == ["Mechanical Seal", "Mechanical Seal"]
    assert "1. Mechanical Seal (P-101) (score " in answer.text
    assert "3. Mechanical Seal (P-102) (score " in answer.text
    assert "5. Casing Gasket (score " in answer.text


@pytest.mark.neo4j
def test_chinese_kind_causes_qualified_by_tag(plant):
    answer = _ask(plant, "泵为什么故障？")
    assert "1. 机械密封（P-101）（得分 " in answer.text
    assert "3. 机械密封（P-102）（得分 " in answer.text
    assert "Mechanical Seal" not in answer.text


def test_shared_cause_name_has_one_chinese_name():
    from kg_service.ask.answer import _cause_names

    def row(key: str, name_zh: str, tag: str) -> dict:
        return {"id": key, "name_en": "Pump Casing", "name_zh": name_zh,
                "equipment": {"id": f"equipment:{tag}", "name": {"en": tag, "zh": tag}, "tag": tag}}

    rows = [row("casing-1", "Pump Casing", "P-101"), row("casing-2", "泵体", "P-102")]
    assert _cause_names(rows, "zh") == {"casing-1": "泵体（P-101）", "casing-2": "泵体（P-102）"}
    assert _cause_names(rows, "en") == {"casing-1": "Pump Casing (P-101)", "casing-2": "Pump Casing (P-102)"}


@pytest.mark.neo4j
@pytest.mark.parametrize("question, named", [("Show the history of compressor 99", "compressor 99"),
                                             ("99号空压机的维修记录", "99号空压机"),
                                             ("Why did the No. 9 compressor fail?", "No. 9 compressor"),
                                             ("9号压缩机2024年为什么故障？", "9号压缩机")])
def test_numbered_kind_is_unknown_asset(plant, question, named):
    """A kind with a number used to answer for every machine of the kind instead of naming the unknown one."""
    answer = _ask(plant, question)
    assert answer.status == "failed"
    assert named in answer.text
    assert "equipment_kind" not in answer.arguments


@pytest.mark.neo4j
def test_numbered_kind_of_known_asset_answered(plant):
    answer = _ask(plant, "Why did compressor 3 overheat?")
    assert answer.status == "answered"
    assert answer.resolved["asset"] == "equipment:sample-plant:ac-3"


@pytest.mark.neo4j
@pytest.mark.parametrize("question", ["一号线的泵2024年有哪些故障？", "泵2024年有哪些故障？"])
def test_year_after_kind_is_window(plant, question):
    """A year right after a kind ("泵2024年") was read as a machine named "泵2024"."""
    answer = _ask(plant, question)
    assert answer.status == "answered"
    assert answer.arguments["equipment_kind"] == "Pump"
    assert answer.arguments["since"] == "2024-01-01"


@pytest.mark.neo4j
@pytest.mark.parametrize("question, start", [("Which pumps failed in 2100?", "'in 2100' is not a date or period"),
                                             ("泵2024年13月为什么故障？", "无法识别时间“2024年13月”")])
def test_unreadable_time_fails(plant, question, start):
    """A date that reads as no window used to be dropped, so the answer covered all time."""
    answer = _ask(plant, question)
    assert answer.status == "failed"
    assert start in answer.text


@pytest.mark.neo4j
@pytest.mark.parametrize("question, note", [
    ("Why did the turbines on line 1 fail in 2024?", "'turbines' is not a kind of equipment in the ontology"),
    ("一号线的涡轮机2024年为什么故障？", "“涡轮机”不是本体中的设备类型")])
def test_unknown_kind_with_place_noted(plant, question, note):
    """An unknown kind with a place was dropped silently and the answer covered the whole line."""
    answer = _ask(plant, question)
    assert answer.status == "answered"
    assert note in answer.text
    assert "pumps" in answer.text or "泵" in answer.text
