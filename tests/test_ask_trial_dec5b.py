"""Questions about the parts of an asset or product, failures of the whole plant, and design-constraint targets."""

from __future__ import annotations

from datetime import date

import pytest

from kg_service.ask import Asker
from kg_service.ask.rules import RuleMapper
from tests.conftest import load_sample_plant

pytestmark = pytest.mark.neo4j

# A day long after the sample plant's newest work order (2025-10-21), so "last month" is empty.
TRIAL_DAY = date(2026, 12, 5)
# A day inside the sample plant's history: "last month" is December 2024.
HISTORY_DAY = date(2025, 1, 10)
AC_3 = "equipment:sample-plant:ac-3"
PRODUCT = "product:sample-plant:ac-3-cooling-module"
COOLER_HOUSING = "part:sample-plant:cooler-housing"
ASSEMBLY = "part:sample-plant:cooling-module-assembly"
COOLING_SYSTEM = "system:sample-plant:ac-3/cooling-system"
COOLING_FAN = "component:sample-plant:ac-3/cooling-system/cooling-fan"
# A component of an excavator, named as the MaintKG loader names it, with no Chinese name.
MAINTKG_COMPRESSOR = "component:maintkg-pdl:a/_/air-compressor"

CREATE_MAINTKG_COMPRESSOR = """
CREATE (:Entity:Asset:Component {id: $id, name: 'air compressor', source: 'test-trial'})
"""
CREATE_FAILURE_EVENT = """
MATCH (asset:Entity {id: $asset}), (mode:FailureMode {id: $mode})
CREATE (event:Entity:Event:FailureEvent {id: $id, name: $id, startTime: localdatetime($start), source: 'test-trial'})
CREATE (event)-[:FOR_ASSET]->(asset), (event)-[:HAS_FAILURE_MODE]->(mode)
"""
DELETE_TEST_NODES = "MATCH (n:Entity {source: 'test-trial'}) DETACH DELETE n"

# The failure modes of the whole plant's work orders in a window, most work orders first: the expected ranking.
PLANT_MODES_QUERY = """
MATCH (wo:WorkOrder)-[:HAS_FAILURE_MODE]->(mode:FailureMode)
WHERE wo.date >= date($since) AND wo.date <= date($until)
RETURN mode.id AS id, count(DISTINCT wo) AS orders, max(wo.date) AS latest ORDER BY orders DESC, latest DESC, id
"""


@pytest.fixture(scope="module")
def plant(store, settings):
    return load_sample_plant(store, settings)


@pytest.fixture
def maintkg_compressor(plant):
    """Add an excavator component named "air compressor", as MaintKG data has, and remove it after the test."""
    plant.write(CREATE_MAINTKG_COMPRESSOR, {"id": MAINTKG_COMPRESSOR})
    yield plant
    plant.write(DELETE_TEST_NODES)


@pytest.fixture
def ac_3_failure_event(plant):
    """Add an Overheating failure event on AC-3 on 2024-12-10, and remove it after the test."""
    plant.write(CREATE_FAILURE_EVENT, {"asset": AC_3, "mode": "failure-mode:overheating",
                                       "id": "failure-event:test-trial:ac-3:1", "start": "2024-12-10T08:00:00"})
    yield plant
    plant.write(DELETE_TEST_NODES)


def _ask(store, question: str, today: date = TRIAL_DAY):
    return Asker(store, RuleMapper(), today=lambda: today).ask(question)


# parts of an asset or product

@pytest.mark.parametrize("question, head", [
    ("What are the parts of AC-3?", "Air Compressor 3 (AC-3) has 12 parts in the graph (by PART_OF):"),
    ("Which parts does AC-3 have?", "Air Compressor 3 (AC-3) has 12 parts in the graph (by PART_OF):"),
    ("What is AC-3 made of?", "Air Compressor 3 (AC-3) has 12 parts in the graph (by PART_OF):"),
    ("3号空压机有哪些零部件？", "3号空压机（AC-3）共有 12 个零部件（按 PART_OF 关系）："),
    ("3号空压机由哪些部件组成？", "3号空压机（AC-3）共有 12 个零部件（按 PART_OF 关系）："),
])
def test_parts_of_asset_listed_as_tree(plant, question, head):
    answer = _ask(plant, question)
    rows = {row["id"]: row for row in answer.rows}

    assert answer.status == "answered"
    assert answer.tool == "parts"
    assert answer.resolved == {"target": AC_3}
    assert answer.text.startswith(head)
    assert rows[COOLING_SYSTEM]["class_en"] == "System"
    assert rows[COOLING_SYSTEM]["depth"] == 1
    assert rows[COOLING_FAN]["parent"] == COOLING_SYSTEM
    assert rows[COOLING_FAN]["depth"] == 2
    assert COOLING_FAN in [citation.id for citation in answer.citations]


def test_parts_tree_lines_show_class(plant):
    english = _ask(plant, "What are the parts of AC-3?").text.splitlines()
    chinese = _ask(plant, "3号空压机有哪些零部件？").text.splitlines()
    assert english[1:3] == ["- Cooling System [System]", "  - Cooling Fan [Component]"]
    assert chinese[1:3] == ["- 冷却系统（系统）", "  - 冷却风扇（部件）"]


@pytest.mark.parametrize("question", [
    "What are the parts of the AC-3 replacement cooling module?",
    "What is the BOM of the AC-3 cooling module?",
    "3号空压机替换冷却模块由哪些部件组成？",
    "3号空压机替换冷却模块的物料清单",
])
def test_parts_of_product_follow_bill_of_materials(plant, question):
    answer = _ask(plant, question)
    rows = {row["id"]: row for row in answer.rows}

    assert answer.status == "answered"
    assert answer.tool == "parts"
    assert answer.resolved == {"target": PRODUCT}
    assert rows["design:sample-plant:ac-3-cooling-module-rev-a"]["relationship"] == "HAS_DESIGN"
    assert rows[COOLER_HOUSING]["parent"] == ASSEMBLY
    assert rows[COOLER_HOUSING]["relationship"] == "HAS_BOM_ITEM"
    assert len(answer.rows) == 5


@pytest.mark.parametrize("question, expected", [
    ("What are the parts of the AC-3 replacement cooling module?",
     "The question's words name Air Compressor AC-3 replacement cooling module (AC-3-CM), the product whose name "
     "contains AC-3, not the equipment AC-3 (Air Compressor 3) itself. "),
    ("3号空压机替换冷却模块由哪些部件组成？", "3号空压机替换冷却模块（AC-3-CM）共有 5 个零部件"),
])
def test_parts_of_product_say_why_chosen(plant, question, expected):
    assert _ask(plant, question).text.startswith(expected)


@pytest.mark.parametrize("question, expected", [
    ("What are the parts of the cooler housing?", "The graph records no parts of Cooler housing (CM-HSG-02)"),
    ("冷却器壳体有哪些零部件？", "图谱中没有记录冷却器壳体（CM-HSG-02）的零部件"),
])
def test_parts_of_leaf_part_say_none(plant, question, expected):
    answer = _ask(plant, question)
    assert answer.status == "answered"
    assert answer.resolved == {"target": COOLER_HOUSING}
    assert answer.rows == []
    assert answer.text.startswith(expected)


@pytest.mark.parametrize("question", ["Which parts of AC-3 failed in 2024?", "3号空压机哪些部件为什么故障？"])
def test_parts_failure_question_not_parts(plant, question):
    assert _ask(plant, question).tool in ("failure_history", "root_causes")


# failures of the whole plant

@pytest.mark.parametrize("question, head", [
    ("What failed most last month?",
     "Across the plant, no work order or failure event between 2026-11-01 and 2026-11-30 records a failure. "
     "The latest failure work order is dated "),
    ("上个月什么故障最多？",
     "全厂在 2026-11-01 至 2026-11-30 期间没有记录故障的工单或故障事件。全厂最近一张故障工单的日期是 "),
    ("最近7天有哪些故障？",
     "全厂在 2026-11-29 至 2026-12-05 期间没有记录故障的工单或故障事件。全厂最近一张故障工单的日期是 "),
])
def test_plant_failures_empty_window_answered(plant, question, head):
    answer = _ask(plant, question)
    assert answer.status == "answered"
    assert answer.tool == "plant_failures"
    assert answer.rows == []
    assert answer.text.startswith(head)


@pytest.mark.parametrize("question, head", [
    ("What failed most in 2024?", "Across the plant, "),
    ("2024年什么故障最多？", "全厂在 2024-01-01 至 2024-12-31 期间"),
])
def test_plant_failures_rank_modes(plant, question, head):
    expected = plant.read(PLANT_MODES_QUERY, {"since": "2024-01-01", "until": "2024-12-31"})
    answer = _ask(plant, question)

    assert answer.status == "answered"
    assert answer.tool == "plant_failures"
    assert answer.arguments["since"] == "2024-01-01"
    assert answer.text.startswith(head)
    assert [row["id"] for row in answer.rows] == [row["id"] for row in expected[:5]]
    assert [len(row["work_orders"]) for row in answer.rows] == [row["orders"] for row in expected[:5]]
    assert answer.rows[0]["assets"][0]["id"] == AC_3
    assert any(citation.kind == "work_order" for citation in answer.citations)


@pytest.mark.parametrize("question, head", [
    ("What failed most last month?", "Across the plant, "),
    ("上个月什么故障最多？", "全厂在 2024-12-01 至 2024-12-31 期间"),
])
def test_plant_failures_count_events(ac_3_failure_event, question, head):
    answer = _ask(ac_3_failure_event, question, today=HISTORY_DAY)
    overheating = next(row for row in answer.rows if row["id"] == "failure-mode:overheating")

    assert answer.text.startswith(head)
    assert overheating["events"] == ["failure-event:test-trial:ac-3:1"]
    assert AC_3 in [asset["id"] for asset in overheating["assets"]]
    assert "failure-event:test-trial:ac-3:1" in [citation.id for citation in answer.citations]


def test_plant_failures_english_first_sentence(ac_3_failure_event):
    answer = _ask(ac_3_failure_event, "What failed most last month?", today=HISTORY_DAY)
    assert " and 1 failure event between 2024-12-01 and 2024-12-31 hit " in answer.text.split(". ")[0]


@pytest.mark.parametrize("question", ["Why were there failures last quarter?", "最近三个月为什么故障？"])
def test_cause_question_without_subject_still_asks(plant, question):
    assert _ask(plant, question).status == "unmappable"


# targets of design-constraint questions

@pytest.mark.parametrize("question, listed", [
    ("Which design constraints apply to the compressor?", "'compressor' matches several products, designs, parts and "
                                                          "components: "),
    ("哪些设计约束适用于空压机？", "“空压机”对应多个产品、设计、零件或部件："),
])
def test_design_kind_word_lists_matches(maintkg_compressor, question, listed):
    answer = _ask(maintkg_compressor, question)
    assert answer.status == "failed"
    assert answer.tool == "design_constraints"
    assert listed in answer.text
    assert PRODUCT in answer.text
    assert ("Which one do you mean?" in answer.text) or ("请问是哪一个" in answer.text)


def test_design_kind_word_lists_maintkg_component(maintkg_compressor):
    answer = _ask(maintkg_compressor, "Which design constraints apply to the compressor?")
    assert MAINTKG_COMPRESSOR in answer.text


@pytest.mark.parametrize("question, note", [
    ("Which design constraints apply to AC-3?",
     "AC-3 (Air Compressor 3) is equipment, and design constraints apply to products, designs, parts and components, "
     "so this answer is about Air Compressor AC-3 replacement cooling module (AC-3-CM), the product whose name "
     "contains AC-3. "),
    ("哪些设计约束适用于3号空压机？",
     "3号空压机（AC-3）是设备，而设计约束只适用于产品、设计、零件和部件，所以以下回答名称含有“3号空压机”的产品"
     "3号空压机替换冷却模块（AC-3-CM）。"),
])
def test_design_asset_names_chosen_product(plant, question, note):
    answer = _ask(plant, question)
    assert answer.status == "answered"
    assert answer.resolved == {"target": PRODUCT}
    assert answer.text.startswith(note)


@pytest.mark.parametrize("question", [
    "Which design constraints apply to the AC-3 cooling module?",
    "What design constraints apply to the AC-3 replacement cooling module?",
    "3号空压机替换冷却模块有哪些设计约束？",
    "3号空压机冷却模块有哪些设计约束？",
])
def test_design_both_languages_same_target(plant, question):
    answer = _ask(plant, question)
    assert answer.resolved == {"target": PRODUCT}
    assert len(answer.rows) == 21


@pytest.mark.parametrize("question, head", [
    ("Which constraints apply to the cooler housing?", "3 constraints apply to Cooler housing (CM-HSG-02)"),
    ("冷却器壳体有哪些约束？", "冷却器壳体（CM-HSG-02）及其物料清单"),
])
def test_design_exact_name_without_note(plant, question, head):
    answer = _ask(plant, question)
    assert answer.resolved == {"target": COOLER_HOUSING}
    assert answer.text.startswith(head)
