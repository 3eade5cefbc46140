"""The meanLatenessDays supplier KPI (mean of max(delay, 0)) on the real SCMS delivery history.

The mean delay lets early deliveries cancel late ones, so a vendor that delivers months early ranks
as the most punctual. The lateness KPI counts an early delivery as 0 days late.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from starlette.testclient import TestClient

from kg_service.api.app import create_app
from kg_service.errors import QueryError
from kg_service.graph.records import GraphBatch
from kg_service.graph.writer import BatchedWriter
from kg_service.ingest import ingest_shipments, load_ontologies
from kg_service.ontology.schema import GraphSchema
from kg_service.reasoning.suppliers import KPI_DIRECTIONS, Constraint, Criterion, rank_suppliers, supplier_kpis
from tests.conftest import CORE_ONTOLOGY, MAPPINGS_DIR, data_file, graphql, wipe

pytestmark = pytest.mark.neo4j

MAPPING = MAPPINGS_DIR / "scms_shipments.yaml"
EARLY_VENDOR = "S. BUYS WHOLESALER"
VENDORS = [EARLY_VENDOR, "Orgenics, Ltd", "Aurobindo Pharma Limited", "JSI R&T INSTITUTE, INC.", "PHARMACY DIRECT"]


def scms_file() -> Path:
    return data_file("scms_shipments", "SCMS_Delivery_History_Dataset.csv")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """The delivery history read independently of the loader, with delays in days."""
    df = pd.read_csv(scms_file(), encoding="utf-8-sig", dtype=str, keep_default_na=False)
    scheduled = pd.to_datetime(df["Scheduled Delivery Date"], format="%d-%b-%y")
    delivered = pd.to_datetime(df["Delivered to Client Date"], format="%d-%b-%y")
    df["delay"] = (delivered - scheduled).dt.days
    return df


@pytest.fixture(scope="module")
def scms(store, settings):
    wipe(store)
    load_ontologies(store, [CORE_ONTOLOGY])
    ingest_shipments(store, settings, scms_file(), MAPPING)
    return store


def kpis_of(store, vendor: str) -> dict[str, float | None]:
    return next(row.values for row in supplier_kpis(store).rows if row.properties["name"] == vendor)


def test_lateness_is_cost_kpi():
    assert KPI_DIRECTIONS["meanLatenessDays"] == "cost"


@pytest.mark.parametrize("vendor", VENDORS)
def test_lateness_matches_pandas(scms, frame, vendor):
    delays = frame.loc[frame["Vendor"] == vendor, "delay"]
    values = kpis_of(scms, vendor)
    assert values["meanLatenessDays"] == pytest.approx(delays.clip(lower=0).mean())


def test_lateness_of_early_vendor_by_hand(scms, frame):
    # Counted by hand in the CSV: 715 deliveries, 11 of them late by 257 days in all, the rest on
    # time or early (down to 220 days early), so the mean delay is about -28.7 days.
    delays = frame.loc[frame["Vendor"] == EARLY_VENDOR, "delay"]
    assert len(delays) == 715
    assert int((delays > 0).sum()) == 11
    assert int(delays[delays > 0].sum()) == 257
    values = kpis_of(scms, EARLY_VENDOR)
    assert values["meanDelayDays"] == pytest.approx(-28.678, abs=1e-3)
    assert values["meanLatenessDays"] == pytest.approx(257 / 715)


def test_lateness_never_below_delay(scms):
    for row in supplier_kpis(scms).rows:
        lateness, delay = row.values["meanLatenessDays"], row.values["meanDelayDays"]
        assert lateness >= 0, row.supplier_id
        assert lateness >= delay - 1e-9, row.supplier_id


def test_lateness_unknown_without_delays(scms):
    batch = GraphBatch()
    batch.add_node("Supplier", "supplier:test:no-deliveries", name="No Deliveries Ltd")
    batch.add_node("Part", "part:test:no-deliveries", name="Undelivered Part")
    batch.add_relationship("SUPPLIED_BY", "part:test:no-deliveries", "supplier:test:no-deliveries")
    BatchedWriter(scms, GraphSchema.from_store(scms)).write(batch.nodes.values(), batch.relationships.values())

    values = supplier_kpis(scms).row("supplier:test:no-deliveries").values
    assert values["shipmentCount"] == 0
    assert values["meanLatenessDays"] is None


def test_early_vendor_no_longer_wins(scms):
    # With the mean delay, earliness outweighs the worst freight share. With lateness it cannot.
    constraints = [Constraint("shipmentCount", minimum=20)]
    by_delay = rank_suppliers(scms, [Criterion("onTimeRate", 0.4), Criterion("meanDelayDays", 0.3),
                                     Criterion("meanUnitPrice", 0.1), Criterion("freightShare", 0.2)],
                              constraints=constraints)
    by_lateness = rank_suppliers(scms, [Criterion("onTimeRate", 0.4), Criterion("meanLatenessDays", 0.3),
                                        Criterion("meanUnitPrice", 0.1), Criterion("freightShare", 0.2)],
                                 constraints=constraints)
    early_id = next(row.supplier_id for row in supplier_kpis(scms).rows if row.properties["name"] == EARLY_VENDOR)
    assert by_delay.result.alternatives[int(by_delay.result.ranking[0])] == early_id
    assert by_lateness.result.alternatives[int(by_lateness.result.ranking[0])] != early_id


def test_lateness_name_checked(scms):
    with pytest.raises(QueryError) as error:
        rank_suppliers(scms, [Criterion("meanLateness", 1.0)])
    assert "meanLatenessDays" in str(error.value)


RANK_QUERY = """
query($criteria: [CriterionInput!]!) {
  rankSuppliers(criteria: $criteria, constraints: [{criterion: "shipmentCount", min: 20}]) {
    tables { criteria directions }
  }
  supplierKpis(first: 200) { columns edges { node { supplier { id label } kpis { name value } } } }
}
"""


def test_lateness_in_graphql(scms, settings, frame):
    with TestClient(create_app(settings, scms)) as api:
        body = graphql(api, RANK_QUERY, criteria=[{"name": "onTimeRate", "weight": 0.5},
                                                  {"name": "meanLatenessDays", "weight": 0.5}])
    assert "errors" not in body
    tables = body["data"]["rankSuppliers"]["tables"]
    assert tables["criteria"] == ["onTimeRate", "meanLatenessDays"]
    assert tables["directions"] == ["benefit", "cost"]
    kpis = body["data"]["supplierKpis"]
    assert "meanLatenessDays" in kpis["columns"]
    row = next(edge["node"] for edge in kpis["edges"] if edge["node"]["supplier"]["label"] == EARLY_VENDOR)
    lateness = next(item["value"] for item in row["kpis"] if item["name"] == "meanLatenessDays")
    assert lateness == pytest.approx(257 / 715)
