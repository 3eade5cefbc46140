"""Supplier questions in `ask`: product category, delivery KPIs some suppliers lack, lateness as default KPI.

The graph is the sample plant (its three suppliers have no deliveries) plus the first 600 rows of the
SCMS delivery history, which hold 40 vendors and the product groups ARV, HRDT, ACT, ANTM and MRDT.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from starlette.testclient import TestClient

from kg_service.api.app import create_app
from kg_service.ask import Asker
from kg_service.ask.entities import EntityIndex
from kg_service.ask.execute import DEFAULT_SUPPLIER_CRITERIA, run_tool
from kg_service.ask.rules import RuleMapper
from kg_service.ask.tools import RankSuppliersCall
from kg_service.ingest import ingest_shipments
from tests.conftest import MAPPINGS_DIR, data_file, load_sample_plant

pytestmark = pytest.mark.neo4j

MAPPING = MAPPINGS_DIR / "scms_shipments.yaml"
SCMS_ROWS = 600
SAMPLE_SUPPLIERS = {"supplier:sample-plant:suzhou-thermal", "supplier:sample-plant:wuxi-bearing",
                    "supplier:sample-plant:kunshan-castings"}
DELIVERY_KPIS = ("onTimeRate", "meanLatenessDays")
ARV_QUESTIONS = ["Which supplier is best for ARV?", "Rank suppliers for category ARV", "Rank the ARV suppliers",
                 "ARV类供应商哪家最好？", "Rank the arv suppliers"]

ARV_SUPPLIERS_QUERY = """
MATCH (p:Part)-[:SUPPLIED_BY]->(s:Supplier) WHERE p.productGroup = 'ARV' RETURN collect(DISTINCT s.id) AS ids
"""


@pytest.fixture(scope="module")
def scms_part(tmp_path_factory) -> Path:
    """The first SCMS_ROWS rows of the SCMS delivery history, written as the loader reads the whole file."""
    frame = pd.read_csv(data_file("scms_shipments", "SCMS_Delivery_History_Dataset.csv"), encoding="utf-8-sig",
                        dtype=str, keep_default_na=False)
    path = tmp_path_factory.mktemp("scms") / "scms_part.csv"
    frame.head(SCMS_ROWS).to_csv(path, index=False, encoding="utf-8-sig")
    return path


@pytest.fixture(scope="module")
def plant(store, settings, scms_part):
    """The sample plant with its designs (suppliers without deliveries) and part of the SCMS history."""
    load_sample_plant(store, settings)
    ingest_shipments(store, settings, scms_part, MAPPING)
    return store


def _ask(store, question: str, lang: str | None = None):
    return Asker(store, RuleMapper()).ask(question, lang)


def _run(store, question: str):
    index = EntityIndex.load(store)
    call = RuleMapper().map(question, index)
    return call, run_tool(store, index, call, question)


# default KPI

def test_default_criteria_use_lateness():
    assert "meanLatenessDays" in DEFAULT_SUPPLIER_CRITERIA
    assert "meanDelayDays" not in DEFAULT_SUPPLIER_CRITERIA


def test_ranking_uses_lateness_not_delay(plant):
    _, result = _run(plant, "Which suppliers are best?")
    assert "meanLatenessDays" in result.facts["criteria"]
    assert "meanDelayDays" not in result.facts["criteria"]


# category

@pytest.mark.parametrize("question", ARV_QUESTIONS)
def test_category_question_mapped(plant, question):
    call, _ = _run(plant, question)
    assert isinstance(call, RankSuppliersCall)
    assert call.category == "ARV"


@pytest.mark.parametrize("question", ARV_QUESTIONS)
def test_category_limits_ranked_suppliers(plant, question):
    _, result = _run(plant, question)
    arv_suppliers = set(plant.read(ARV_SUPPLIERS_QUERY)[0]["ids"])
    ranked = {row["id"] for row in result.rows}
    excluded = {item["id"] for item in result.facts["excluded"]}
    assert result.resolved["category"] == "ARV"
    assert ranked
    assert ranked <= arv_suppliers
    assert ranked | excluded == arv_suppliers


def test_category_named_in_answer(plant):
    answer = _ask(plant, "Which supplier is best for ARV?")
    assert answer.status == "answered"
    assert answer.arguments["category"] == "ARV"
    assert "in category ARV" in answer.text


def test_category_named_in_chinese_answer(plant):
    answer = _ask(plant, "ARV类供应商哪家最好？")
    assert answer.status == "answered"
    assert "ARV 类供应商" in answer.text


def test_unknown_category_reported(plant):
    answer = _ask(plant, "Rank suppliers for category vaccines")
    assert answer.status == "failed"
    assert answer.arguments["category"] == "vaccines"
    assert "'vaccines' is not a product group" in answer.text
    assert "ARV" in answer.text
    assert not answer.rows


def test_unknown_category_reported_in_chinese(plant):
    answer = _ask(plant, "XYZ类供应商哪家最好？", "zh")
    assert answer.status == "failed"
    assert "XYZ" in answer.text
    assert "ARV" in answer.text


def test_single_supplier_category_named(plant):
    answer = _ask(plant, "Rank suppliers for the MRDT category")
    assert answer.status == "answered"
    assert "Category MRDT has a single supplier" in answer.text


def test_graphql_ask_category(plant, settings, monkeypatch):
    import kg_service.api.ask as ask_module

    monkeypatch.setattr(ask_module, "_shared_mapper", RuleMapper())
    query = "query($q: String!) { ask(question: $q) { status arguments resolved text } }"
    with TestClient(create_app(settings, plant)) as client:
        body = client.post("/graphql", json={"query": query, "variables": {"q": "Rank the ARV suppliers"}}).json()
    answer = body["data"]["ask"]
    assert answer["status"] == "answered"
    assert answer["arguments"]["category"] == "ARV"
    assert answer["resolved"]["category"] == "ARV"


def test_part_name_still_ranks(plant):
    call, _ = _run(plant, "Who supplies the cooler housing?")
    assert call.category is None
    assert call.part == "part:sample-plant:cooler-housing"


# suppliers without delivery KPIs

def test_missing_delivery_kpis_exclude_suppliers(plant):
    _, result = _run(plant, "Which suppliers are best?")
    excluded = {item["id"]: item for item in result.facts["excluded"]}
    for kpi in DELIVERY_KPIS:
        assert kpi in result.facts["criteria"]
    assert SAMPLE_SUPPLIERS <= set(excluded)
    assert "onTimeRate" in excluded["supplier:sample-plant:wuxi-bearing"]["unknown"]
    assert not SAMPLE_SUPPLIERS & {row["id"] for row in result.rows}


def test_missing_delivery_kpis_named_in_answer(plant):
    answer = _ask(plant, "Which suppliers are best?")
    assert "on onTimeRate, meanLatenessDays" in answer.text
    assert "Excluded for lacking a KPI used" in answer.text
    assert "no value for onTimeRate, meanLatenessDays, meanUnitPrice, freightShare: Kunshan" in answer.text


def test_arv_question_not_topped_by_bearing_supplier(plant):
    answer = _ask(plant, "Rank the ARV suppliers")
    assert answer.rows
    assert answer.rows[0]["id"] not in SAMPLE_SUPPLIERS
    assert "meanLatenessDays" in answer.text


def test_kpi_unknown_for_most_dropped(store, settings):
    # Without delivery history every supplier lacks the delivery KPIs, so they are dropped, not all suppliers.
    load_sample_plant(store, settings)
    _, result = _run(store, "Which suppliers are best?")
    dropped = {item["kpi"]: item for item in result.facts["dropped_criteria"]}
    assert "onTimeRate" not in result.facts["criteria"]
    assert dropped["onTimeRate"]["reason"] == "unknown"
    assert dropped["onTimeRate"]["missing"] == dropped["onTimeRate"]["total"]
    assert not result.facts["excluded"]
    answer = _ask(store, "Which suppliers are best?")
    assert "KPIs left out: onTimeRate, meanLatenessDays" in answer.text
