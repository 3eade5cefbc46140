"""The `@cost` weights of the reasoning fields in the query cost budget."""

from __future__ import annotations

import pytest
from graphql import parse
from starlette.testclient import TestClient
from strawberry.types.graphql import OperationType

from kg_service.api.app import create_app
from kg_service.api.limits import Cost, field_weight, operation_cost
from kg_service.api.prepared import PreparedOperation, PreparedOperations
from kg_service.api.schema import build_schema
from tests.conftest import graphql

DESIGN_CHECK = ('check{index}: checkDesign(design: {{product: "AC-3-CM", materials: ["S235JR"]}}) '
                '{{ conforms violationCount }}')


@pytest.fixture(scope="module")
def schema():
    return build_schema()._schema


def _cost(schema, query: str, variables: dict | None = None) -> int:
    return operation_cost(schema, parse(query), None, variables or {})


@pytest.mark.parametrize(("field", "weight"), [("checkDesign", 2000), ("ask", 500), ("rankSuppliers", 200),
                                               ("designConstraints", 200), ("rootCauses", 100),
                                               ("supplierKpis", 100), ("similar", 50), ("entity", 1),
                                               ("failureHistory", 1)])
def test_root_field_weights(schema, field, weight):
    assert field_weight(schema.query_type.fields[field]) == weight


def test_weighted_field_cost(schema):
    assert _cost(schema, '{ checkDesign(design: {product: "P"}) { conforms violationCount } }') == 2000 + 2
    assert _cost(schema, '{ entity(id: "x") { id } }') == 1 + 1


def test_paged_weight_counts_once(schema):
    small = _cost(schema, "{ supplierKpis(first: 1) { totalCount } }")
    large = _cost(schema, "{ supplierKpis(first: 200) { totalCount } }")
    assert small == 1 * (1 + 1) + 99
    assert large == 200 * (1 + 1) + 99


def test_weight_counts_once_per_alias(schema):
    single = _cost(schema, "{ " + DESIGN_CHECK.format(index=0) + " }")
    four = _cost(schema, "{ " + " ".join(DESIGN_CHECK.format(index=index) for index in range(4)) + " }")
    assert four == 4 * single


def test_weights_appear_in_sdl():
    sdl = build_schema().as_str()
    assert "directive @cost(weight: Int!) on FIELD_DEFINITION" in sdl
    check_line = next(line for line in sdl.splitlines() if line.strip().startswith("checkDesign("))
    assert check_line.endswith("@cost(weight: 2000)")


@pytest.mark.parametrize("weight", [0, -5, True, 1.5])
def test_cost_weight_must_be_positive_integer(weight):
    with pytest.raises(ValueError, match=rf"weight must be a positive integer, got {weight!r}"):
        Cost(weight=weight)


@pytest.mark.neo4j
def test_five_design_checks_rejected(store, settings):
    four = "{ " + " ".join(DESIGN_CHECK.format(index=index) for index in range(4)) + " }"
    five = "{ " + " ".join(DESIGN_CHECK.format(index=index) for index in range(5)) + " }"
    with TestClient(create_app(settings, store)) as client:
        before = store.query_count
        body = graphql(client, five)
        assert body["data"] is None
        assert body["errors"][0]["message"].startswith("query cost 10010 exceeds the budget of 10000")
        assert store.query_count == before
        # Four checks fit the budget: they run (and may fail on the product, which this test does not load).
        body = graphql(client, four)
        assert not any("budget" in error["message"] for error in body.get("errors", []))
        assert store.query_count > before


NESTED_HISTORY = ('query($n: Int!) { failureHistory(asset: "AC-3", first: $n) { edges { node { id '
                  'failureModes(first: $n) { edges { node { id } } } } } } }')


@pytest.mark.parametrize("size", [200.0, 2e2], ids=["decimal-point", "exponent"])
def test_float_page_size_costs_as_int(schema, size):
    """A page size sent as a JSON float runs as an Int (graphql-core accepts 200.0) but used to cost the default 20."""
    assert _cost(schema, NESTED_HISTORY, {"n": size}) == _cost(schema, NESTED_HISTORY, {"n": 200})


def test_prepared_cost_keyed_by_float_size(schema):
    """A prepared operation used to reuse the cost of {"n": 1.0} for {"n": 200.0}, because floats were not in the key."""
    operations = PreparedOperations(max_cost=10_000)
    operation = PreparedOperation(parse(NESTED_HISTORY), OperationType.QUERY, {})
    allowed = {OperationType.QUERY}
    assert operations.runs(operation, schema, None, {"n": 1.0}, allowed)
    assert not operations.runs(operation, schema, None, {"n": 200.0}, allowed)


@pytest.mark.parametrize("name", [["A"], {"name": "A"}])
def test_prepared_lookup_non_string_operation_name(name):
    """A JSON list or object as operationName used to raise TypeError (unhashable) in the prepared lookup."""
    operations = PreparedOperations(max_cost=100)
    operations.record("query A { __typename }", "A", PreparedOperation(None, OperationType.QUERY, {}))
    assert operations.get("query A { __typename }", name) is None


def test_huge_cost_shortened_in_message():
    from kg_service.api.limits import _shown

    assert _shown(10_001) == "10001"
    assert _shown(10**300) == "over 10^15"
