"""SupplyGraph loader: the stored graph matches the data set's files."""

from __future__ import annotations

import csv

import pytest

from kg_service.errors import InputDataError
from loaders.supplygraph import SupplyGraphReader, ingest_supplygraph
from tests.conftest import data_file

pytestmark = pytest.mark.neo4j


def _rows(*parts: str) -> list[dict[str, str]]:
    with open(data_file("supplygraph", *parts), encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def _code(text: str) -> str:
    return text[:-2] if text.endswith(".0") else text


@pytest.fixture(scope="module")
def expected() -> dict[str, int]:
    products = {row["Node"] for row in _rows("Nodes", "Nodes.csv")}
    plant_rows = _rows("Nodes", "Nodes Type (Plant & Storage).csv")
    group_rows = _rows("Nodes", "Node Types (Product Group and Subgroup).csv")
    return {
        "Product": len(products),
        "Site": len({row["Plant"] for row in plant_rows}),
        "StorageLocation": len({_code(row["Storage Location"]) for row in plant_rows if row["Storage Location"]}),
        "ProductGroup": len({row["Group"] for row in group_rows} | {row["Sub-Group"] for row in group_rows}),
        "PRODUCED_AT": len({(row["Node"], row["Plant"]) for row in plant_rows}),
        "STORED_AT": len({(row["Node"], row["Storage Location"]) for row in plant_rows if row["Storage Location"]}),
        "IN_PRODUCT_GROUP": len({row["Node"] for row in group_rows}),
    }


@pytest.fixture(scope="module")
def supply_graph(store, settings):
    from kg_service.ingest import load_ontologies
    from tests.conftest import CORE_ONTOLOGY

    store.wipe()
    load_ontologies(store, [CORE_ONTOLOGY])
    result = ingest_supplygraph(store, settings, data_file("supplygraph"))
    return store, result


@pytest.mark.parametrize("label", ["Product", "Site", "StorageLocation", "ProductGroup"])
def test_supplygraph_node_counts(supply_graph, expected, label):
    store, _ = supply_graph
    rows = store.read(f"MATCH (n:`{label}`) WHERE n.source = 'supplygraph' RETURN count(n) AS n")

    assert rows[0]["n"] == expected[label]


@pytest.mark.parametrize("rel_type", ["PRODUCED_AT", "STORED_AT", "IN_PRODUCT_GROUP"])
def test_supplygraph_relationship_counts(supply_graph, expected, rel_type):
    store, _ = supply_graph
    rows = store.read(f"MATCH (:Product)-[r:`{rel_type}`]->() RETURN count(r) AS n")

    assert rows[0]["n"] == expected[rel_type]


def test_supplygraph_edges_follow_memberships(supply_graph):
    _, result = supply_graph

    assert result.details["edges_read"]["Edges (Plant).csv"] == len(_rows("Edges", "Edges (Plant).csv"))
    assert result.details["edges_not_derived"]["Edges (Plant).csv"] == 0
    assert result.details["edges_not_derived"]["Edges (Storage Location).csv"] == 0


def test_supplygraph_products_get_series_means(supply_graph):
    store, _ = supply_graph
    rows = store.read("MATCH (p:Product {name: 'SOS008L02P'}) RETURN p.meanDailyProduction AS production")
    series = _rows("Temporal Data", "Unit", "Production .csv")
    mean = sum(float(row["SOS008L02P"]) for row in series) / len(series)

    assert rows[0]["production"] == pytest.approx(mean, abs=1e-3)


def test_supplygraph_reload_creates_nothing(supply_graph, settings):
    store, _ = supply_graph
    again = ingest_supplygraph(store, settings, data_file("supplygraph"))

    assert again.report.nodes_created == 0
    assert again.report.relationships_created == 0


def test_supplygraph_missing_folder(tmp_path):
    with pytest.raises(InputDataError, match="folder not found"):
        SupplyGraphReader().read(tmp_path / "absent")
