"""A kind phrase ("machine tools", "lathes", "coolant pumps") against asset names that share its words.

The graph adds what a causRCA lathe brings: an Equipment named "Lathe" with components named
"Tool" and "Coolant". These names must not turn "Which machine tools failed?" into a question
about the component "Tool", or "Which lathes failed?" into one about the single asset "Lathe".
"""

from __future__ import annotations

from datetime import date

import pytest

from kg_service.ask import Asker
from kg_service.ask.rules import RuleMapper
from tests.conftest import load_sample_plant

pytestmark = pytest.mark.neo4j

MID_2025 = date(2025, 6, 1)
LATHE = "equipment:causrca:lathe"
TOOL = "component:causrca:lathe/tool"
COOLANT = "component:causrca:lathe/coolant"
MACHINE_TOOLS = ["equipment:causrca:lathe", "equipment:sample-plant:cnc-01", "equipment:sample-plant:cnc-02"]
PUMPS = ["equipment:sample-plant:p-101", "equipment:sample-plant:p-102"]

LATHE_PARTS = """
CREATE (lathe:Entity:Asset:Equipment {id: $lathe, name: 'Lathe'})
CREATE (:Entity:Asset:Component {id: $tool, name: 'Tool'})-[:PART_OF]->(lathe)
CREATE (:Entity:Asset:Component {id: $coolant, name: 'Coolant', nameZh: '冷却液'})-[:PART_OF]->(lathe)
"""


@pytest.fixture(scope="module")
def plant(store, settings):
    graph = load_sample_plant(store, settings)
    graph.write(LATHE_PARTS, {"lathe": LATHE, "tool": TOOL, "coolant": COOLANT})
    return graph


def _ask(store, question: str):
    return Asker(store, RuleMapper(), today=lambda: MID_2025).ask(question)


@pytest.mark.parametrize("question, kind, equipment, start", [
    ("Which machine tools failed in 2024?", "MachineTool", MACHINE_TOOLS, "Machine tools have "),
    ("Which lathes failed?", "MachineTool", MACHINE_TOOLS, "Machine tools have "),
    ("Which coolant pumps failed in 2024?", "Pump", PUMPS, "Pumps have "),
    ("哪些冷却液泵出过故障？", "Pump", PUMPS, "泵共有 "),
])
def test_kind_phrase_beats_partial_name(plant, question, kind, equipment, start):
    answer = _ask(plant, question)
    assert answer.status == "answered"
    assert answer.tool == "failure_history"
    assert "asset" not in answer.arguments
    assert answer.arguments["equipment_kind"] == kind
    assert answer.resolved["equipment"] == ", ".join(equipment)
    assert answer.text.startswith(start)


def test_exact_asset_name_beats_kind(plant):
    answer = _ask(plant, "Why did the Lathe fail?")
    assert answer.arguments["asset"] == LATHE
    assert "equipment_kind" not in answer.arguments


def test_asset_name_longer_than_kind_wins(plant):
    answer = _ask(plant, "Why does Air Compressor 3 overheat?")
    assert answer.resolved["asset"] == "equipment:sample-plant:ac-3"
    assert "equipment_kind" not in answer.arguments


def test_component_alone_still_named(plant):
    answer = _ask(plant, "What is the Coolant of the lathe?")
    assert answer.tool == "lookup"
    assert answer.arguments["text"] == COOLANT


def test_prompt_names_kind_not_part(plant):
    from kg_service.extraction.backend import ScriptedBackend

    backend = ScriptedBackend(['{"tool": "failure_history", "equipment_kind": "MachineTool"}'])
    answer = Asker(plant, backend).ask("Which machine tools failed?")
    prompt = backend.requests[0].messages[-1]["content"]
    assert "machine tools = MachineTool (equipment_kind)" in prompt
    assert TOOL not in prompt
    assert answer.resolved["equipment"] == ", ".join(MACHINE_TOOLS)
