"""Prepared operations: a repeated query skips the extension machinery and returns what the standard path returns.

Each test runs a request twice on a schema with prepared operations, so that the second run
takes the prepared path, and compares it with a schema that has them turned off.
"""

from __future__ import annotations

import asyncio
import json

import pytest
import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from kg_service.api.app import SchemaCache
from kg_service.api.auth import Principal
from kg_service.api.loaders import entity_loader
from kg_service.api.prepared import PreparedOperation, PreparedOperations, RecordPreparedOperation
from kg_service.api.schema import KGSchema, build_schema
from tests.conftest import load_sample_plant
from tests.test_api_overhead import CASE_IDS, CASES

pytestmark = pytest.mark.neo4j

HISTORY_PAGE = "query($a: String!, $first: Int!) { failureHistory(asset: $a, first: $first) { edges { node { id " \
               "failureModes { edges { node { id } } } parts { edges { node { id } } } } } } }"
TWO_OPERATIONS = 'query Name { entity(id: "equipment:sample-plant:ac-3") { label } } ' \
                 'query Classes { entity(id: "equipment:sample-plant:ac-3") { classes } }'


@pytest.fixture(scope="module")
def plant(store, settings):
    return load_sample_plant(store, settings)


class FailingStore:
    """The real store, except that reads fail with an error kg-service did not raise on purpose."""

    def __init__(self, store) -> None:
        self._store = store

    def read(self, cypher, params=None):
        raise RuntimeError("connection to 10.0.0.7 reset")

    def __getattr__(self, name):
        return getattr(self._store, name)


def _context(store) -> dict:
    return {"store": store, "schema_cache": SchemaCache(store), "principal": Principal("test", "reader", False),
            "entity_loader": entity_loader(store)}


def _run(schema, document: str, variables: dict | None, store, operation_name: str | None = None,
         allowed: set | None = None) -> dict:
    async def run():
        return await schema.execute(document, variable_values=variables, context_value=_context(store),
                                    operation_name=operation_name, allowed_operation_types=allowed)

    result = asyncio.run(run())
    return {"data": json.dumps(result.data), "extensions": result.extensions,
            "errors": [(error.message, error.path, error.original_error is None) for error in result.errors or []]}


def _standard_schema(debug: bool = False) -> KGSchema:
    schema = build_schema(debug=debug)
    schema.prepared = None
    return schema


def _count_standard_runs(schema, monkeypatch) -> list:
    """Count the requests that go the standard way (the only way that builds extension instances)."""
    calls = []
    original = schema.get_extensions
    monkeypatch.setattr(schema, "get_extensions", lambda *args, **kwargs: calls.append(1) or original(*args, **kwargs))
    return calls


@pytest.mark.parametrize(("document", "variables"), CASES, ids=CASE_IDS)
def test_prepared_same_result(plant, monkeypatch, document, variables):
    schema, standard = build_schema(), _standard_schema()
    standard_runs = _count_standard_runs(schema, monkeypatch)
    first = _run(schema, document, variables, plant)
    second = _run(schema, document, variables, plant)
    expected = _run(standard, document, variables, plant)
    assert first == expected
    assert second == expected
    assert len(standard_runs) == 1
    assert len(schema.prepared) == 1


@pytest.mark.parametrize("debug", [False, True])
def test_prepared_masks_unexpected_errors(plant, debug):
    failing = FailingStore(plant)
    document, variables = CASES[0]
    schema, standard = build_schema(debug=debug), _standard_schema(debug=debug)
    _run(schema, document, variables, plant)
    prepared = _run(schema, document, variables, failing)
    expected = _run(standard, document, variables, failing)
    assert prepared == expected
    message = prepared["errors"][0][0]
    assert (message == "Unexpected error.") is not debug
    assert ("10.0.0.7" in message) is debug


def test_prepared_checks_cost_per_request(plant, monkeypatch):
    schema = build_schema()
    standard_runs = _count_standard_runs(schema, monkeypatch)
    small = _run(schema, HISTORY_PAGE, {"a": "AC-3", "first": 3}, plant)
    assert small["errors"] == []
    # The same text, now with a page size whose cost exceeds the budget: the standard path rejects it.
    huge = _run(schema, HISTORY_PAGE, {"a": "AC-3", "first": 200}, plant)
    assert huge["data"] == "null"
    assert "exceeds the budget of 10000" in huge["errors"][0][0]
    again = _run(schema, HISTORY_PAGE, {"a": "AC-3", "first": 3}, plant)
    assert again == small
    assert len(standard_runs) == 2


@pytest.mark.parametrize("document", [
    "{ entity(id: \"x\") { noSuchField } }",
    "{ " + " ".join(f"a{index}: __typename" for index in range(25)) + " }",
    "{ ontologyClasses { edges { node { " + "label " * 3 + "} } } " + "__typename " * 2000 + "}",
], ids=["unknown-field", "too-many-aliases", "too-many-tokens"])
def test_rejected_document_not_prepared(plant, monkeypatch, document):
    schema, standard = build_schema(), _standard_schema()
    standard_runs = _count_standard_runs(schema, monkeypatch)
    first, second = _run(schema, document, None, plant), _run(schema, document, None, plant)
    assert first == second == _run(standard, document, None, plant)
    assert first["errors"]
    assert len(schema.prepared) == 0
    assert len(standard_runs) == 2


def test_prepared_by_operation_name(plant):
    schema, standard = build_schema(), _standard_schema()
    for name in ("Name", "Classes", "Name", "Classes"):
        assert _run(schema, TWO_OPERATIONS, None, plant, name) == _run(standard, TWO_OPERATIONS, None, plant, name)
    assert len(schema.prepared) == 2


def test_prepared_respects_transport_types(plant):
    # A transport that allows no queries (GET with queries turned off) gets the standard path's rejection.
    from strawberry.schema.exceptions import InvalidOperationTypeError

    schema = build_schema()
    document, variables = CASES[0]
    _run(schema, document, variables, plant)
    with pytest.raises(InvalidOperationTypeError):
        _run(schema, document, variables, plant, allowed={OperationType.MUTATION})


def test_mutation_never_prepared():
    operations = PreparedOperations(max_cost=100)
    graphql_schema = strawberry.Schema(query=Query)._schema
    mutation = PreparedOperation(None, OperationType.MUTATION, {})
    assert not operations.runs(mutation, graphql_schema, None, {}, {OperationType.QUERY, OperationType.MUTATION})


def test_prepared_operations_bounded():
    operations = PreparedOperations(max_cost=100, size=2)
    for index in range(3):
        operations.record(f"q{index}", None, PreparedOperation(None, OperationType.QUERY, {}))
    assert len(operations) == 2
    assert operations.get("q0", None) is None
    assert operations.get("q2", None) is not None
    with pytest.raises(ValueError, match="size must be at least 1, got 0"):
        PreparedOperations(max_cost=100, size=0)


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "hi"


class Timing(SchemaExtension):
    def on_operation(self):
        yield


def test_prepared_off_with_other_extension():
    operations = PreparedOperations(max_cost=100)
    extensions = [Timing, lambda: RecordPreparedOperation(operations)]
    assert KGSchema(query=Query, extensions=extensions, prepared=operations).prepared is None
    assert KGSchema(query=Query, extensions=extensions[1:], prepared=operations).prepared is operations


def test_prepared_off_without_strawberry_internals(monkeypatch):
    from kg_service.api import schema as api_schema

    monkeypatch.setattr(api_schema, "STRAWBERRY_INTERNALS", (*api_schema.STRAWBERRY_INTERNALS, "_method_of_another"))
    assert build_schema().prepared is None


def test_single_operation_named_or_not(plant, monkeypatch):
    schema = build_schema()
    standard_runs = _count_standard_runs(schema, monkeypatch)
    document = 'query Label { entity(id: "equipment:sample-plant:ac-3") { label } }'
    named, unnamed = _run(schema, document, None, plant, "Label"), _run(schema, document, None, plant)
    assert named == unnamed
    assert named["errors"] == []
    assert len(standard_runs) == 1
