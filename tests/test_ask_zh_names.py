"""Chinese answers about entities without a Chinese name, and failed answers about joined tags that are all unknown."""

from __future__ import annotations

from datetime import date

import pytest

from kg_service.ask import Asker
from kg_service.ask.names import ClassLabel, ClassLabels
from kg_service.ask.rules import RuleMapper
from kg_service.extraction.backend import ScriptedBackend
from kg_service.ontology.editing import OntologyEditor
from tests.conftest import load_sample_plant

pytestmark = pytest.mark.neo4j

TRIAL_DAY = date(2026, 12, 5)
P_102 = "equipment:sample-plant:p-102"
GASKET = "component:test-zh-names:p-102/impeller-gasket"
BEARING = "part:test-zh-names:bearing-6310"

# A component of a class that an ontology edit adds under Component, and a part of the core class
# Bearing (a subclass of Part), both named only in English as English work orders name them.
CREATE_ENGLISH_ONLY_ENTITIES = """
MATCH (pump:Equipment {id: $pump})
CREATE (gasket:Entity:Asset:Component:Gasket {id: $gasket, name: 'Impeller Gasket', nameEn: 'Impeller Gasket'})
CREATE (gasket)-[:PART_OF]->(pump)
CREATE (:Entity:Part:Bearing {id: $bearing, name: 'Bearing 6310', nameEn: 'Bearing 6310'})
"""


@pytest.fixture(scope="module")
def plant(store, settings):
    graph = load_sample_plant(store, settings)
    OntologyEditor(graph).add_class("Gasket", "Component", {"en": "Gasket", "zh": "垫片"},
                                    {"en": "A seal between two fixed faces.", "zh": "两个固定面之间的密封件。"},
                                    why="a class more specific than Component", author="tester")
    graph.write(CREATE_ENGLISH_ONLY_ENTITIES, {"pump": P_102, "gasket": GASKET, "bearing": BEARING})
    return graph


def _ask(store, question: str, lang: str | None = None):
    return Asker(store, RuleMapper(), today=lambda: TRIAL_DAY).ask(question, lang)


# every joined tag unknown

@pytest.mark.parametrize("question, expected", [
    ("Why did AC-98 and AC-99 fail?",
     "The question maps onto a query, but it cannot run: no asset named 'AC-98' or 'AC-99' in the graph; "
     "closest names: Air Compressor 1 (equipment:sample-plant:ac-1)"),
    ("Show the work orders of AC-97, AC-98 and AC-99",
     "no asset named 'AC-97', 'AC-98' or 'AC-99' in the graph"),
    ("AC-98和AC-99为什么故障？", "问题已对应到查询，但无法执行：图谱中没有名为“AC-98”或“AC-99”的设备；最接近的名称：1号空压机（equipment:sample-plant:ac-1）"),
    ("AC-97、AC-98和AC-99为什么故障？", "图谱中没有名为“AC-97”、“AC-98”或“AC-99”的设备"),
])
def test_all_unknown_joined_tags_named(plant, question, expected):
    answer = _ask(plant, question)
    assert answer.status == "failed"
    assert expected in answer.text


def test_all_unknown_tags_from_model_call(plant):
    # A model that picks the second tag as the asset still gets an answer that names both tags.
    backend = ScriptedBackend(['{"tool": "root_causes", "asset": "AC-99"}'])
    answer = Asker(plant, backend, today=lambda: TRIAL_DAY).ask("Why did AC-98 and AC-99 fail?")
    assert answer.status == "failed"
    assert "no asset named 'AC-98' or 'AC-99' in the graph" in answer.text


@pytest.mark.parametrize("question, expected", [
    ("Why did AC-99 stop?", "no asset named 'AC-99' in the graph; closest names: Air Compressor 1"),
    ("为什么AC-99停机？", "图谱中没有名为“AC-99”的设备；最接近的名称：1号空压机"),
])
def test_single_unknown_tag_unchanged(plant, question, expected):
    answer = _ask(plant, question)
    assert answer.status == "failed"
    assert expected in answer.text


@pytest.mark.parametrize("question, expected", [
    ("Why did AC-99 overheat?", "no asset named 'AC-99' in the graph"),
    ("AC-99为什么过热？", "图谱中没有名为“AC-99”的设备"),
    ("Why did AC-99 on line 1 fail?", "no asset named 'AC-99' in the graph"),
    ("Why did AC-98 and AC-99 on line 1 fail?", "no asset named 'AC-98' or 'AC-99' in the graph"),
])
def test_unknown_tag_beside_mode_or_place(plant, question, expected):
    # Without the tag as its asset, the call would cover every asset with the failure mode, or the whole line.
    answer = _ask(plant, question)
    assert answer.status == "failed"
    assert expected in answer.text


def test_known_and_unknown_tag_unchanged(plant):
    answer = _ask(plant, "AC-3和AC-99为什么故障？")
    assert answer.status == "answered"
    assert answer.text.startswith("图谱中没有 AC-99，以下只回答 AC-3。")


# Chinese names of entities that only English sources name

def test_class_label_most_specific():
    labels = ClassLabels({"Entity": ClassLabel("实体", 0), "Asset": ClassLabel("资产", 1),
                          "Component": ClassLabel("部件", 2), "Gasket": ClassLabel("垫片", 3)})
    assert labels.class_label(["Entity", "Asset", "Component"]) == "部件"
    assert labels.class_label(["Gasket", "Entity", "Component", "Asset"]) == "垫片"
    assert labels.class_label(["Unlabeled"]) is None


@pytest.mark.parametrize("properties, node_labels, expected", [
    ({"name": "Casing Gasket", "nameEn": "Casing Gasket"}, ["Entity", "Asset", "Component"], "Casing Gasket（部件）"),
    ({"name": "Mechanical Seal", "nameZh": "机械密封"}, ["Entity", "Asset", "Component"], "机械密封"),
    ({"name": "冷却风扇"}, ["Entity", "Asset", "Component"], "冷却风扇"),
    ({"name": "Casing Gasket"}, None, "Casing Gasket"),
    ({"name": "Casing Gasket"}, ["Unlabeled"], "Casing Gasket"),
])
def test_chinese_name_fallback(properties, node_labels, expected):
    labels = ClassLabels({"Entity": ClassLabel("实体", 0), "Asset": ClassLabel("资产", 1),
                          "Component": ClassLabel("部件", 2)})
    assert labels.chinese_name(properties, node_labels) == expected


def test_stored_class_labels(plant):
    labels = ClassLabels.load(plant)
    assert labels.class_label(["Entity", "Part", "Bearing"]) == "轴承"
    assert labels.class_label(["Entity", "Part"]) == "零件"
    assert labels.class_label(["Entity", "Asset", "Component", "Gasket"]) == "垫片"


def test_root_cause_english_only_part_zh(plant):
    answer = _ask(plant, "P-101为什么泄漏？")
    assert answer.status == "answered"
    assert "3. Casing Gasket（部件）（得分 0.14，1 张证据工单）" in answer.text
    assert "1. 机械密封（得分" in answer.text


def test_root_cause_english_answer_unchanged(plant):
    answer = _ask(plant, "Why did P-101 leak?")
    assert "3. Casing Gasket (score 0.14, 1 evidence work order)" in answer.text
    assert "（" not in answer.text


@pytest.mark.parametrize("question, expected", [
    ("Impeller Gasket是什么？", "找到 1 个实体：Impeller Gasket（垫片） [Asset/Component] " + GASKET),
    ("Bearing 6310是什么？", "找到 1 个实体：Bearing 6310（轴承） [Bearing/Part] " + BEARING),
])
def test_most_specific_class_in_zh(plant, question, expected):
    answer = _ask(plant, question)
    assert answer.status == "answered"
    assert answer.text.startswith(expected)


def test_shared_english_name_zh(plant):
    answer = _ask(plant, "Casing Gasket是什么？")
    assert answer.text.startswith(
        "有 2 个实体名为Casing Gasket：Casing Gasket（部件）（P-101） [Asset/Component] "
        "component:sample-plant:p-101/pump-casing/casing-gasket；Casing Gasket（零件） [Part] part:casing-gasket。")


def test_shared_english_name_en_unchanged(plant):
    answer = _ask(plant, "What is Casing Gasket?")
    assert answer.text.startswith(
        "2 entities are named Casing Gasket: Casing Gasket (P-101) [Asset/Component] "
        "component:sample-plant:p-101/pump-casing/casing-gasket; Casing Gasket [Part] part:casing-gasket.")


def test_zh_subject_name_without_repeated_tag(plant):
    # The component's tag is its English name, which the Chinese name already shows.
    answer = _ask(plant, "Casing Gasket的维修记录")
    assert answer.status == "answered"
    assert answer.text.startswith("Casing Gasket（部件）没有工单。")


def test_chinese_names_kept(plant):
    answer = _ask(plant, "泵为什么故障？")
    assert answer.text.startswith("泵最常见的故障是泄漏（9 张工单记录）。可能原因：1. 机械密封（P-101）（得分 ")
    assert "涉及的泵：P-101冷却液泵（P-101）、P-102冷却液泵（P-102）。" in answer.text
