"""Supplier selection on the real SCMS delivery history: loader, KPIs, decision methods, GraphQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pymcdm import normalizations
from pymcdm.methods import TOPSIS, VIKOR
from starlette.testclient import TestClient

from kg_service.api.app import create_app
from kg_service.errors import DecisionInputError, InputDataError, QueryError
from kg_service.graph.records import GraphBatch
from kg_service.graph.writer import BatchedWriter
from kg_service.ingest import load_ontologies
from kg_service.ontology.schema import GraphSchema
from kg_service.reasoning import mcdm
from kg_service.reasoning.suppliers import Constraint, Criterion, rank_suppliers, supplier_kpis
from loaders.mapping import load_mapping
from kg_service.ingest import ingest_shipments
from loaders.shipments import ShipmentReader
from tests.conftest import CORE_ONTOLOGY, MAPPINGS_DIR, ROOT, data_file, graphql, wipe

pytestmark = pytest.mark.neo4j

MAPPING = MAPPINGS_DIR / "scms_shipments.yaml"
VENDORS = ["Orgenics, Ltd", "Aurobindo Pharma Limited", "Abbott GmbH & Co. KG"]
CRITERIA = [Criterion("onTimeRate", 0.4), Criterion("meanDelayDays", 0.3), Criterion("meanUnitPrice", 0.1),
            Criterion("freightShare", 0.2)]
MIN_SHIPMENTS = [Constraint("shipmentCount", minimum=20)]


def scms_file() -> Path:
    return data_file("scms_shipments", "SCMS_Delivery_History_Dataset.csv")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """The delivery history read independently of the loader, with delays in days."""
    df = pd.read_csv(scms_file(), encoding="utf-8-sig", dtype=str, keep_default_na=False)
    scheduled = pd.to_datetime(df["Scheduled Delivery Date"], format="%d-%b-%y")
    delivered = pd.to_datetime(df["Delivered to Client Date"], format="%d-%b-%y")
    df["delay"] = (delivered - scheduled).dt.days
    df["freight"] = pd.to_numeric(df["Freight Cost (USD)"], errors="coerce")
    df["value"] = df["Line Item Value"].astype(float)
    df["unit"] = df["Unit Price"].astype(float)
    return df


@pytest.fixture(scope="module")
def scms(store, settings):
    wipe(store)
    load_ontologies(store, [CORE_ONTOLOGY])
    result = ingest_shipments(store, settings, scms_file(), MAPPING)
    return store, result


def kpi_row(table, vendor: str):
    return next(row for row in table.rows if row.properties["name"] == vendor)


# loader

def test_load_counts_shipments(scms, frame):
    store, result = scms
    deliveries = store.read("MATCH (d:Delivery {source: 'scms'}) RETURN count(d) AS n")[0]["n"]
    suppliers = store.read("MATCH (s:Supplier) RETURN count(s) AS n")[0]["n"]
    assert result.rows == len(frame)
    assert deliveries == 10324
    assert suppliers == frame["Vendor"].nunique()


def test_load_counts_unknown_freight(scms, frame):
    _, result = scms
    unknown = result.details["unknown_values"]["Freight Cost (USD)"]
    expected = int((frame["Freight Cost (USD)"] == "Freight Included in Commodity Cost").sum())
    assert unknown["^Freight Included in Commodity Cost$"] == expected
    assert sum(unknown.values()) == int(frame["freight"].isna().sum())


def test_load_links_order_chain(scms):
    store, _ = scms
    row = store.read("""
        MATCH (d:Delivery {id: 'delivery:scms:1'})-[:FULFILS]->(o:PurchaseOrder)-[:ORDERED_FROM]->(s:Supplier),
              (o)-[:ORDERS_PART]->(p:Part)-[:SUPPLIED_BY]->(s)
        RETURN s.name AS supplier, p.name AS part, o.quantity AS quantity, d.deliveryDelayDays AS delay,
               d.freightCost AS freight""")[0]
    assert row["supplier"] == "RANBAXY Fine Chemicals LTD."
    assert row["part"] == "HIV, Reveal G3 Rapid HIV-1 Antibody Test, 30 Tests"
    assert row["quantity"] == 19
    assert row["delay"] == 0
    assert row["freight"] == 780.34


def test_unknown_text_rejected():
    mapping = load_mapping(MAPPING).model_copy(update={"unknown_values": []})
    with pytest.raises(InputDataError) as error:
        ShipmentReader(mapping).read(scms_file())
    message = str(error.value)
    assert "Freight Cost (USD)" in message
    assert "unknown_values" in message


def test_reload_creates_nothing(scms):
    store, _ = scms
    before = store.counts()
    result = subprocess.run([str(Path(sys.executable).parent / "kg-service"), "ingest", "shipments", str(scms_file()),
                             "-m", str(MAPPING)], capture_output=True, text=True, cwd=ROOT, env=os.environ.copy(),
                            timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["nodes_created"] == 0
    assert report["relationships_created"] == 0
    assert store.counts() == before


# KPIs

@pytest.mark.parametrize("vendor", VENDORS)
def test_kpis_match_pandas(scms, frame, vendor):
    store, _ = scms
    row = kpi_row(supplier_kpis(store), vendor).values
    lines = frame[frame["Vendor"] == vendor]
    known = lines["freight"].notna()
    assert row["shipmentCount"] == len(lines)
    assert row["onTimeRate"] == pytest.approx((lines["delay"] <= 0).mean())
    assert row["meanDelayDays"] == pytest.approx(lines["delay"].mean())
    assert row["delayStdDays"] == pytest.approx(lines["delay"].std())
    assert row["meanUnitPrice"] == pytest.approx(lines["unit"].mean())
    assert row["freightShare"] == pytest.approx(lines.loc[known, "freight"].sum() / lines.loc[known, "value"].sum())


def test_single_source_parts_match(scms, frame):
    store, _ = scms
    vendors_per_item = frame.groupby("Item Description")["Vendor"].nunique()
    orgenics_items = set(frame.loc[frame["Vendor"] == "Orgenics, Ltd", "Item Description"])
    expected = sum(1 for item in orgenics_items if vendors_per_item[item] == 1)
    row = kpi_row(supplier_kpis(store), "Orgenics, Ltd").values
    assert row["partCount"] == len(orgenics_items)
    assert row["singleSourceParts"] == expected


def test_single_shipment_std_unknown(scms):
    store, _ = scms
    row = kpi_row(supplier_kpis(store), "ABBOTT LABORATORIES (PUERTO RICO)").values
    assert row["shipmentCount"] == 1
    assert row["delayStdDays"] is None


def test_kpis_for_part_filter(scms, frame):
    store, _ = scms
    part = "Efavirenz 600mg, tablets, 30 Tabs"
    part_id = store.read("MATCH (p:Part {name: $name}) RETURN p.id AS id", {"name": part})[0]["id"]
    table = supplier_kpis(store, [part_id])
    expected = frame[frame["Item Description"] == part].groupby("Vendor").size()
    assert sorted(row.properties["name"] for row in table.rows) == sorted(expected.index)
    assert {row.properties["name"]: row.values["shipmentCount"] for row in table.rows} == expected.to_dict()


def test_rank_by_part_name(scms, frame):
    store, _ = scms
    part = "Efavirenz 600mg, tablets, 30 Tabs"
    ranking = rank_suppliers(store, [Criterion("onTimeRate", 1.0)], part=part)
    ranked = len(ranking.suppliers) + len(ranking.excluded)
    assert len(ranking.part_ids) == 1
    assert ranked == frame.loc[frame["Item Description"] == part, "Vendor"].nunique()


def test_unknown_category_lists_groups(scms):
    store, _ = scms
    with pytest.raises(QueryError) as error:
        rank_suppliers(store, [Criterion("onTimeRate", 1.0)], category="vaccines")
    assert "category = 'vaccines' matches no part's product group" in str(error.value)
    assert "ARV" in str(error.value)


# decision methods

def test_topsis_matches_pymcdm(scms):
    store, _ = scms
    ranking = rank_suppliers(store, CRITERIA, "TOPSIS", MIN_SHIPMENTS)
    result = ranking.result
    types = np.array([1 if direction == "benefit" else -1 for direction in result.directions])
    expected = TOPSIS(normalizations.vector_normalization)(result.decision_matrix, result.weights, types)
    assert len(result.alternatives) >= 10
    assert np.allclose(result.scores, expected)
    assert result.ranking == [int(index) for index in np.argsort(-expected, kind="stable")]


def test_vikor_matches_pymcdm(scms):
    store, _ = scms
    result = rank_suppliers(store, CRITERIA, "VIKOR", MIN_SHIPMENTS).result
    types = np.array([1 if direction == "benefit" else -1 for direction in result.directions])
    expected = VIKOR(v=0.5)(result.decision_matrix, result.weights, types)
    assert np.allclose(result.scores, expected)
    assert result.ranking == [int(index) for index in np.argsort(expected, kind="stable")]


def test_decision_matrix_is_kpis(scms):
    store, _ = scms
    ranking = rank_suppliers(store, CRITERIA, "TOPSIS", MIN_SHIPMENTS)
    table = supplier_kpis(store)
    for row_index, supplier_id in enumerate(ranking.result.alternatives):
        expected = [table.row(supplier_id).values[criterion.name] for criterion in CRITERIA]
        assert list(ranking.result.decision_matrix[row_index]) == pytest.approx(expected)


def test_weighted_sum_by_hand():
    result = mcdm.weighted_sum([[10, 5], [20, 1], [15, 3]], [0.5, 0.5], ["benefit", "cost"])
    assert result.scores == pytest.approx([0.0, 1.0, 0.5])
    assert result.ranking == [1, 2, 0]


def test_ahp_textbook_example():
    result = mcdm.ahp_weights([[1, 1 / 3, 1 / 2], [3, 1, 3], [2, 1 / 3, 1]])
    assert result.lambda_max == pytest.approx(3.0536, abs=1e-4)
    assert result.consistency_index == pytest.approx(0.0268, abs=1e-4)
    assert result.random_index == 0.58
    assert result.consistency_ratio == pytest.approx(0.046, abs=1e-3)
    assert result.weights == pytest.approx([0.1571, 0.5936, 0.2493], abs=1e-4)


def test_ahp_consistent_recovers_weights():
    weights = np.array([0.5, 0.3, 0.15, 0.05])
    result = mcdm.ahp_weights(weights[:, None] / weights[None, :])
    assert result.weights == pytest.approx(weights)
    assert result.consistency_ratio == pytest.approx(0.0, abs=1e-9)


def test_ahp_inconsistent_rejected():
    with pytest.raises(DecisionInputError) as error:
        mcdm.ahp_weights([[1, 9, 1 / 9], [1 / 9, 1, 9], [9, 1 / 9, 1]], name="ahp")
    assert str(error.value).startswith("ahp is inconsistent")
    assert isinstance(error.value, ValueError)


def test_ahp_not_reciprocal_rejected():
    with pytest.raises(DecisionInputError, match=r"ahp\[0\]\[1\] = 3.0 and ahp\[1\]\[0\] = 3.0"):
        mcdm.ahp_weights([[1, 3], [3, 1]], name="ahp")


def test_negative_weight_rejected():
    with pytest.raises(DecisionInputError, match=r"weights\[1\] = -0.2"):
        mcdm.topsis([[1, 2], [3, 4]], [0.5, -0.2], ["benefit", "cost"])


def test_zero_weights_rejected():
    with pytest.raises(DecisionInputError, match="sum to 0"):
        mcdm.vikor([[1, 2], [3, 4]], [0, 0], ["benefit", "cost"])


def test_bad_direction_rejected():
    with pytest.raises(DecisionInputError, match=r"directions\[0\] = 'max'"):
        mcdm.weighted_sum([[1, 2], [3, 4]], [1, 1], ["max", "cost"])


def test_shape_mismatch_rejected():
    with pytest.raises(DecisionInputError, match=r"one value per criterion \(2\)"):
        mcdm.topsis([[1, 2], [3, 4]], [1, 1, 1], ["benefit", "cost"])


def test_unknown_criterion_rejected(scms):
    store, _ = scms
    with pytest.raises(QueryError, match=r"criteria\[0\].name = 'price' is not a supplier KPI"):
        rank_suppliers(store, [Criterion("price", 1.0)])


def test_constraints_exclude_with_reason(scms, frame):
    store, _ = scms
    ranking = rank_suppliers(store, CRITERIA, "TOPSIS", MIN_SHIPMENTS)
    counts = frame.groupby("Vendor").size()
    excluded = {item.properties["name"]: item.reasons for item in ranking.excluded}
    assert set(excluded) >= set(counts[counts < 20].index)
    assert excluded["ABBOTT LABORATORIES (PUERTO RICO)"][0] == "shipmentCount 1 is below the minimum 20"


# GraphQL

RANK_QUERY = """
query($criteria: [CriterionInput!]!, $method: String!, $constraints: [ConstraintInput!], $ahp: [[Float!]!]) {
  rankSuppliers(category: "ARV", criteria: $criteria, method: $method, constraints: $constraints, ahp: $ahp) {
    method higherIsBetter
    ranking(first: 200) { totalCount pageInfo { hasNextPage }
      edges { node { rank supplier { id label } score distances { name value } values } } }
    tables { totalCount pageInfo { hasNextPage endCursor } alternatives criteria directions weights decision
             normalized weighted ideal antiIdeal distances { name values } scores }
    excluded(first: 200) { totalCount pageInfo { hasNextPage } edges { node { supplier { id } reasons } } }
    ahp { consistencyRatio weights }
  }
  supplierKpis(first: 5) { columns totalCount edges { node { supplier { id } values } } pageInfo { hasNextPage } }
}
"""


@pytest.fixture(scope="module")
def client(scms, settings):
    store, _ = scms
    with TestClient(create_app(settings, store)) as test_client:
        yield test_client


def nodes(connection: dict) -> list[dict]:
    assert not connection["pageInfo"]["hasNextPage"]
    return [edge["node"] for edge in connection["edges"]]


@pytest.mark.parametrize("method", ["TOPSIS", "VIKOR", "WSM"])
def test_graphql_tables_shapes(client, method):
    criteria = [{"name": "onTimeRate", "weight": 0.5}, {"name": "meanDelayDays", "weight": 0.3},
                {"name": "meanUnitPrice", "weight": 0.2}]
    body = graphql(client, RANK_QUERY, criteria=criteria, method=method,
                   constraints=[{"criterion": "shipmentCount", "min": 5}])
    result = body["data"]["rankSuppliers"]
    ranking, excluded = nodes(result["ranking"]), nodes(result["excluded"])
    tables = result["tables"]
    rows, columns = len(tables["alternatives"]), len(tables["criteria"])
    assert rows == len(ranking)
    assert tables["totalCount"] == rows
    assert tables["pageInfo"]["hasNextPage"] is False
    assert result["ranking"]["totalCount"] == rows
    assert columns == 3
    for name in ("decision", "normalized", "weighted"):
        assert np.shape(tables[name]) == (rows, columns)
    assert len(tables["ideal"]) == columns
    assert len(tables["antiIdeal"]) == columns
    assert all(len(vector["values"]) == rows for vector in tables["distances"])
    assert len(tables["scores"]) == rows
    assert [item["rank"] for item in ranking] == list(range(1, rows + 1))
    assert all(item["reasons"] for item in excluded)


def test_graphql_covers_every_supplier(client):
    criteria = [{"name": "onTimeRate", "weight": 1.0}]
    body = graphql(client, RANK_QUERY, criteria=criteria, method="TOPSIS", constraints=None)
    result = body["data"]["rankSuppliers"]
    ranking, excluded = nodes(result["ranking"]), nodes(result["excluded"])
    arv_suppliers = len(ranking) + len(excluded)
    assert body["data"]["supplierKpis"]["totalCount"] == 73
    assert arv_suppliers == len(result["tables"]["alternatives"]) + len(excluded)
    assert ranking[0]["score"] >= ranking[-1]["score"]


TABLES_QUERY = """
query($criteria: [CriterionInput!]!, $method: String!, $first: Int!, $after: String) {
  rankSuppliers(criteria: $criteria, method: $method) {
    tables(first: $first, after: $after) {
      totalCount pageInfo { hasNextPage endCursor }
      alternatives criteria directions weights decision normalized weighted ideal antiIdeal distances { name values }
      scores }
  }
}
"""
TABLE_CRITERIA = [{"name": "onTimeRate", "weight": 0.6}, {"name": "meanDelayDays", "weight": 0.4}]
ROW_FIELDS = ("alternatives", "decision", "normalized", "weighted", "scores")
CRITERION_FIELDS = ("criteria", "directions", "weights", "ideal", "antiIdeal")


def read_table_pages(client, first: int, method: str = "TOPSIS") -> list[dict]:
    pages, after = [], None
    while True:
        body = graphql(client, TABLES_QUERY, criteria=TABLE_CRITERIA, method=method, first=first, after=after)
        assert "errors" not in body, body["errors"]
        page = body["data"]["rankSuppliers"]["tables"]
        pages.append(page)
        if not page["pageInfo"]["hasNextPage"]:
            return pages
        after = page["pageInfo"]["endCursor"]


@pytest.mark.parametrize("first", [2, 7])
def test_table_pages_join_to_whole(client, scms, first):
    store, _ = scms
    result = rank_suppliers(store, [Criterion(item["name"], item["weight"]) for item in TABLE_CRITERIA]).result
    rows = len(result.alternatives)
    (whole,) = read_table_pages(client, 200)
    pages = read_table_pages(client, first)
    assert rows == whole["totalCount"] == len(whole["alternatives"]) > 60
    assert whole["alternatives"] == result.alternatives
    assert whole["scores"] == pytest.approx(result.scores.tolist())
    assert len(pages) == -(-rows // first)
    assert {page["totalCount"] for page in pages} == {rows}
    assert [page["pageInfo"]["hasNextPage"] for page in pages] == [True] * (len(pages) - 1) + [False]
    assert [len(page["alternatives"]) for page in pages[:-1]] == [first] * (len(pages) - 1)
    for name in ROW_FIELDS:
        assert [row for page in pages for row in page[name]] == whole[name]
    for index, vector in enumerate(whole["distances"]):
        joined = [value for page in pages for value in page["distances"][index]["values"]]
        assert joined == vector["values"]
        assert all(page["distances"][index]["name"] == vector["name"] for page in pages)
    for name in CRITERION_FIELDS:
        assert all(page[name] == whole[name] for page in pages)


def test_table_cursor_other_method_rejected(client):
    page = read_table_pages(client, 50)[0]
    body = graphql(client, TABLES_QUERY, criteria=TABLE_CRITERIA, method="VIKOR", first=50,
                   after=page["pageInfo"]["endCursor"])
    message = body["errors"][0]["message"]
    assert "belongs to another list or to a request with other arguments" in message
    assert "after of tables" in message


@pytest.mark.parametrize("first", [0, 201])
def test_tables_first_out_of_range(client, first):
    body = graphql(client, TABLES_QUERY, criteria=TABLE_CRITERIA, method="TOPSIS", first=first, after=None)
    assert f"first of tables must be between 1 and 200, got {first}" in body["errors"][0]["message"]


def test_graphql_ahp_weights(client):
    criteria = [{"name": "onTimeRate"}, {"name": "meanDelayDays"}, {"name": "meanUnitPrice"}]
    body = graphql(client, RANK_QUERY, criteria=criteria, method="TOPSIS", constraints=None,
                   ahp=[[1, 1 / 3, 1 / 2], [3, 1, 3], [2, 1 / 3, 1]])
    result = body["data"]["rankSuppliers"]
    assert result["ahp"]["consistencyRatio"] == pytest.approx(0.046, abs=1e-3)
    assert result["tables"]["weights"] == pytest.approx(result["ahp"]["weights"])


def test_graphql_unknown_criterion_error(client):
    body = graphql(client, RANK_QUERY, criteria=[{"name": "MATCH (n) DETACH DELETE n", "weight": 1}],
                   method="TOPSIS", constraints=None)
    assert body["data"] is None
    assert "is not a supplier KPI" in body["errors"][0]["message"]


def test_graphql_bad_method_error(client):
    body = graphql(client, RANK_QUERY, criteria=[{"name": "onTimeRate", "weight": 1}], method="ELECTRE",
                   constraints=None)
    assert "method = 'ELECTRE' is invalid" in body["errors"][0]["message"]


# constant criteria and ties

ARV_WARNINGS_QUERY = """
query($criteria: [CriterionInput!]!, $method: String!) {
  rankSuppliers(category: "ARV", criteria: $criteria, method: $method) {
    warnings
    ranking(first: 200) { edges { node { rank score } } }
  }
}
"""


def test_constant_criterion_reported(scms):
    store, _ = scms
    criteria = [Criterion("onTimeRate", 0.5), Criterion("certificationCount", 0.5)]
    ranking = rank_suppliers(store, criteria, category="ARV")
    assert len(ranking.suppliers) > 2
    assert len(ranking.warnings) == 1
    assert ranking.warnings[0].startswith("criterion certificationCount has the same value (0) for all ")
    assert "its weight 0.5 carries no information" in ranking.warnings[0]


def test_all_constant_criteria_rejected(scms):
    store, _ = scms
    with pytest.raises(DecisionInputError) as error:
        rank_suppliers(store, [Criterion("certificationCount", 1.0)], category="ARV")
    message = str(error.value)
    assert message.startswith("every criterion has the same value for all ")
    assert "(certificationCount = 0)" in message
    assert "rank on a KPI whose values differ" in message


def test_varying_criteria_have_no_warning(scms):
    store, _ = scms
    ranking = rank_suppliers(store, CRITERIA, "TOPSIS", MIN_SHIPMENTS)
    assert ranking.warnings == []


@pytest.mark.parametrize("method", ["TOPSIS", "VIKOR", "WSM"])
def test_graphql_constant_criterion_warning(client, method):
    criteria = [{"name": "onTimeRate", "weight": 0.5}, {"name": "certificationCount", "weight": 0.5}]
    body = graphql(client, ARV_WARNINGS_QUERY, criteria=criteria, method=method)
    assert "errors" not in body, body["errors"]
    warnings = body["data"]["rankSuppliers"]["warnings"]
    assert len(warnings) == 1
    assert "certificationCount" in warnings[0]


def test_graphql_all_constant_criteria_error(client):
    body = graphql(client, ARV_WARNINGS_QUERY, criteria=[{"name": "certificationCount", "weight": 1}],
                   method="TOPSIS")
    assert body["data"] is None
    assert "every criterion has the same value" in body["errors"][0]["message"]
    assert body["errors"][0]["extensions"]["code"] == "DecisionInputError"


def test_tied_scores_share_rank():
    # Rows 1 and 2 are equal and best, so both rank 1; row 0 ranks 3 and row 3 ranks 4.
    for method in ("TOPSIS", "VIKOR", "WSM"):
        result = mcdm.rank(method, [[1, 5], [2, 3], [2, 3], [0, 9]], [0.5, 0.5], ["benefit", "cost"])
        assert result.ranking == [1, 2, 0, 3], method
        assert result.ranks == [3, 1, 1, 4], method
        assert result.rank_of("2") == 1, method
        assert result.rank_of("0") == 3, method


def test_graphql_tied_scores_share_rank(client):
    body = graphql(client, ARV_WARNINGS_QUERY, criteria=[{"name": "onTimeRate", "weight": 1}], method="TOPSIS")
    nodes = [edge["node"] for edge in body["data"]["rankSuppliers"]["ranking"]["edges"]]
    scores = [node["score"] for node in nodes]
    # Several ARV suppliers deliver every shipment on time, so they tie for first place.
    assert scores.count(scores[0]) > 1
    for node in nodes:
        better = sum(1 for score in scores if score > node["score"] + mcdm.SCORE_TIE_TOLERANCE)
        assert node["rank"] == better + 1
    assert [node["rank"] for node in nodes] == sorted(node["rank"] for node in nodes)


def test_near_equal_scores_tie_in_matrix_order():
    # Both first rows score 0.5, but their weighted sums differ in the last bit of the float.
    result = mcdm.weighted_sum([[1, 1, 0], [0, 0, 1], [0, 0, 0]], [0.7, 0.1, 0.8], ["benefit"] * 3)
    assert result.scores[0] != result.scores[1]
    assert result.ranks == [1, 1, 3]
    assert result.ranking == [0, 1, 2]


@pytest.mark.filterwarnings("ignore:Alternatives with indices")
def test_constant_column_normalisation_matches_pymcdm():
    matrix = np.array([[4.0, 1.0], [4.0, 3.0], [4.0, 2.0]])
    topsis = mcdm.topsis(matrix, [0.5, 0.5], ["benefit", "cost"])
    wsm = mcdm.weighted_sum(matrix, [0.5, 0.5], ["benefit", "cost"])
    vikor = mcdm.vikor(matrix, [0.5, 0.5], ["benefit", "cost"])
    assert np.allclose(topsis.normalized_matrix[:, 0], normalizations.vector_normalization(matrix[:, 0]))
    assert np.allclose(wsm.normalized_matrix[:, 0], normalizations.minmax_normalization(matrix[:, 0]))
    # pymcdm's VIKOR raises for a constant column; here it gives no alternative any regret.
    with pytest.raises(ValueError, match="equal values for all alternatives"):
        VIKOR(v=0.5)(matrix, np.array([0.5, 0.5]), np.array([1, -1]))
    assert np.allclose(vikor.normalized_matrix[:, 0], 0.0)
    # The constant column shifts every score alike, so each method ranks by the other column alone.
    for result in (topsis, wsm, vikor):
        assert result.ranking == [0, 2, 1], result.method
    assert mcdm.constant_criteria(matrix) == [0]


@pytest.mark.filterwarnings("ignore:Alternatives with indices")
def test_constant_topsis_matches_pymcdm():
    matrix = np.array([[4.0, 1.0], [4.0, 3.0], [4.0, 2.0]])
    weights = np.array([0.5, 0.5])
    expected = TOPSIS(normalizations.vector_normalization)(matrix, weights, np.array([1, -1]))
    assert np.allclose(mcdm.topsis(matrix, weights, ["benefit", "cost"]).scores, expected)


# errors that name their cause

def test_criterion_without_values_named(scms):
    store, _ = scms
    with pytest.raises(QueryError) as error:
        rank_suppliers(store, [Criterion("countryShare", 1.0)], category="ARV")
    message = str(error.value)
    assert message.startswith("no supplier is left to rank: all 35 suppliers in category 'ARV' were excluded. ")
    assert "35 suppliers have no value for countryShare" in message
    assert "constraints" not in message
    assert "supplierKpis" in message


def test_only_supplier_excluded_singular(scms, frame):
    store, _ = scms
    # A part ordered once from one vendor: its delay has no sample standard deviation.
    counts = frame.groupby("Item Description").size()
    part = sorted(counts[counts == 1].index)[0]
    with pytest.raises(QueryError) as error:
        rank_suppliers(store, [Criterion("delayStdDays", 1.0)], part=part)
    message = str(error.value)
    assert f"the only supplier of part {part!r} was excluded. 1 supplier has no value for delayStdDays" in message
    assert "were" not in message


def test_single_supplier_warned(scms, frame):
    store, _ = scms
    counts = frame.groupby("Item Description")["Vendor"].nunique()
    part = sorted(counts[counts == 1].index)[0]
    ranking = rank_suppliers(store, [Criterion("onTimeRate", 1.0)], part=part)
    assert len(ranking.suppliers) == 1
    assert ranking.result.ranks == [1]
    assert ranking.warnings == [f"only 1 supplier ({ranking.suppliers[0].supplier_id}) is left to rank, so the "
                                "criteria compare nothing and it ranks first"]


def test_constraint_exclusions_counted(scms):
    store, _ = scms
    constraints = [Constraint("shipmentCount", minimum=1e9)]
    with pytest.raises(QueryError) as error:
        rank_suppliers(store, [Criterion("onTimeRate", 1.0)], constraints=constraints, category="ARV")
    message = str(error.value)
    assert "35 suppliers break constraints[0] (shipmentCount min 1e+09)" in message
    assert "relax or drop the constraints" in message


def test_ahp_with_weights_rejected(scms):
    store, _ = scms
    ahp = [[1, 3], [1 / 3, 1]]
    both = [Criterion("onTimeRate", 0.5), Criterion("meanDelayDays", 0.5)]
    some = [Criterion("onTimeRate"), Criterion("meanDelayDays", 0.5)]
    with pytest.raises(QueryError) as error:
        rank_suppliers(store, both, ahp=ahp)
    assert ("ahp is given, so the criteria must not carry weights, but criteria[0] (onTimeRate), "
            "criteria[1] (meanDelayDays) have them") in str(error.value)
    with pytest.raises(QueryError) as error:
        rank_suppliers(store, some, ahp=ahp)
    assert "but criteria[1] (meanDelayDays) has one" in str(error.value)
    ranking = rank_suppliers(store, [Criterion("onTimeRate"), Criterion("meanDelayDays")], ahp=ahp)
    assert ranking.result.weights == pytest.approx([0.75, 0.25])


def test_graphql_ahp_with_weights_rejected(client):
    criteria = [{"name": "onTimeRate", "weight": 0.5}, {"name": "meanDelayDays", "weight": 0.5}]
    body = graphql(client, RANK_QUERY, criteria=criteria, method="TOPSIS", constraints=None,
                   ahp=[[1, 3], [0.333, 1]])
    assert body["data"] is None
    assert "ahp is given, so the criteria must not carry weights" in body["errors"][0]["message"]


@pytest.mark.parametrize("value", [0, -3, float("nan")])
def test_ahp_nonpositive_cell_named(value):
    with pytest.raises(DecisionInputError) as error:
        mcdm.ahp_weights([[1, 3, 2], [1 / 3, 1, value], [1 / 2, 1, 1]], name="ahp")
    assert str(error.value).startswith(f"ahp[1][2] = {float(value)} is invalid; a judgement must be a finite "
                                       "positive number")


def test_direction_case_insensitive(scms):
    store, _ = scms
    lower = rank_suppliers(store, [Criterion("onTimeRate", 0.5, "benefit"), Criterion("meanDelayDays", 0.5, "cost")],
                           category="ARV")
    upper = rank_suppliers(store, [Criterion("onTimeRate", 0.5, "BENEFIT"), Criterion("meanDelayDays", 0.5, "Cost")],
                           category="ARV")
    assert upper.result.directions == ["benefit", "cost"]
    assert np.array_equal(upper.result.scores, lower.result.scores)
    assert mcdm.topsis([[1, 2], [3, 4]], [1, 1], ["Benefit", "COST"]).directions == ["benefit", "cost"]
    with pytest.raises(QueryError) as error:
        rank_suppliers(store, [Criterion("onTimeRate", 1.0, "up")])
    assert str(error.value) == "criteria[0].direction = 'up' is invalid; use 'benefit' or 'cost' (any case)"


# graph KPIs (runs last: it adds quality records to the loaded graph)

def test_graph_kpis_trace_parts(scms):
    store, _ = scms
    part = "part:hiv-1-2-determine-complete-hiv-kit-100-tests"
    supplier = store.read("MATCH (:Part {id: $part})-[:SUPPLIED_BY]->(s:Supplier) RETURN s.id AS id ORDER BY id",
                          {"part": part})[0]["id"]
    batch = GraphBatch()
    batch.add_node("Part", part)
    batch.add_node("Supplier", supplier, country="DE")
    for index in (1, 2):
        ncr = batch.add_node("Nonconformance", f"ncr:test:{index}", name=f"NCR-{index}")
        batch.add_relationship("CONCERNS_PART", ncr, part)
    component = batch.add_node("Component", "component:test:kit-1", name="kit 1")
    batch.add_relationship("INSTANCE_OF_PART", component, part)
    order = batch.add_node("WorkOrder", "workorder:test:1", name="WO-1")
    mode = batch.add_node("FailureMode", "failure-mode:test-invalid-result", name="invalid result")
    batch.add_relationship("INVOLVES", order, component)
    batch.add_relationship("HAS_FAILURE_MODE", order, mode)
    certificate = batch.add_node("Certification", "certification:test:iso-13485", name="ISO 13485")
    batch.add_relationship("HAS_CERTIFICATION", supplier, certificate)
    BatchedWriter(store, GraphSchema.from_store(store)).write(batch.nodes.values(), batch.relationships.values())

    values = supplier_kpis(store).row(supplier).values
    assert values["nonconformanceCount"] == 2
    assert values["failureCount"] == 1
    assert values["certificationCount"] == 1
    assert values["countryShare"] == 1.0


def test_ragged_ahp_matrix_rejected():
    with pytest.raises(DecisionInputError, match="rows have different lengths"):
        mcdm.ahp_weights([[1, 3], [1]], name="ahp")


def test_huge_weights_do_not_overflow():
    result = mcdm.topsis([[1, 2], [3, 4], [2, 1]], [1e308, 1e308], ["benefit", "cost"])
    assert np.allclose(result.weights, [0.5, 0.5])


def test_part_without_supplier_named(scms):
    store, _ = scms
    batch = GraphBatch()
    batch.add_node("Part", "part:test:mechanical-seal", name="Mechanical Seal")
    BatchedWriter(store, GraphSchema.from_store(store)).write(batch.nodes.values(), batch.relationships.values())

    with pytest.raises(QueryError) as error:
        rank_suppliers(store, [Criterion("onTimeRate", 1.0)], part="Mechanical Seal")
    message = str(error.value)
    assert message.startswith("part 'Mechanical Seal' has no supplier in the graph; a supplier is linked to a part "
                              "by Part -SUPPLIED_BY-> Supplier")
    assert "kg-service ingest shipments" in message
    assert "excluded" not in message
    assert "constraints" not in message
