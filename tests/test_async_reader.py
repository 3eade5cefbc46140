"""The asyncio reader that serves the API's simple reads: same rows, counts and errors as GraphStore.read."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from starlette.testclient import TestClient

from benchmarks.api_latency import FAMILIES
from kg_service.api.app import create_app
from kg_service.api.loaders import ENTITIES_BY_KEY
from kg_service.errors import GraphStoreError
from kg_service.graph.store import GraphStore
from kg_service.ingest import ingest_workorders, load_ontologies
from kg_service.reasoning import lookup
from kg_service.reasoning.rootcause import ASSET_CLASSES
from tests.conftest import CORE_ONTOLOGY, SAMPLE_DIR, graphql, wipe

pytestmark = pytest.mark.neo4j

ENTITY = 'query($id: ID!) { entity(id: $id) { id classes label(lang: "zh") } }'


@pytest.fixture(scope="module")
def plant(store, settings) -> GraphStore:
    wipe(store)
    load_ontologies(store, [CORE_ONTOLOGY])
    ingest_workorders(store, settings, SAMPLE_DIR / "workorders_en.csv", SAMPLE_DIR / "workorders_en.yaml")
    return store


def _read_async(store: GraphStore, cypher: str, params: dict) -> list[dict]:
    async def run() -> list[dict]:
        reader = store.open_async_reader()
        try:
            return await reader.read(cypher, params)
        finally:
            await reader.close()

    return asyncio.run(run())


def test_reader_rows_equal_sync_read(plant):
    keys = [row["id"] for row in plant.read("MATCH (n:Equipment) RETURN n.id AS id ORDER BY id")]
    assert keys, "the sample plant has equipment"
    assert _read_async(plant, ENTITIES_BY_KEY, {"keys": keys}) == plant.read(ENTITIES_BY_KEY, {"keys": keys})


def test_reader_counts_queries(plant):
    before = plant.query_count
    _read_async(plant, "RETURN 1 AS one", {})
    assert plant.query_count - before == 1


def test_reader_cypher_error_is_store_error(plant):
    with pytest.raises(GraphStoreError, match=r"^read query failed: Neo\.ClientError\.Statement\.SyntaxError"):
        _read_async(plant, "MATCH (n RETURN n", {})


def test_reader_refuses_writes(plant):
    before = plant.counts()
    with pytest.raises(GraphStoreError, match="read query failed"):
        _read_async(plant, "CREATE (:Entity {id: 'written-by-a-reader'})", {})
    assert plant.counts() == before


def test_reader_unreachable_server_named():
    store = GraphStore("bolt://127.0.0.1:9", "neo4j", "not-used")
    try:
        with pytest.raises(GraphStoreError, match=r"Neo4j at bolt://127\.0\.0\.1:9 is not reachable"):
            _read_async(store, "RETURN 1 AS one", {})
    finally:
        store.close()


def test_reader_retries_lost_server_within_budget(caplog):
    # Auto-commit reads are not retried by the driver, so the reader retries them itself.
    store = GraphStore("bolt://127.0.0.1:9", "neo4j", "not-used")

    async def run() -> None:
        reader = store.open_async_reader(retry_s=0.7)
        try:
            await reader.read("RETURN 1 AS one", {})
        finally:
            await reader.close()

    try:
        with caplog.at_level(logging.INFO, logger="kg_service.graph.async_reader"):
            with pytest.raises(GraphStoreError, match="not reachable"):
                asyncio.run(run())
    finally:
        store.close()
    retries = [record for record in caplog.records if "retrying in" in record.getMessage()]
    # Waits of 0.2 and 0.4 s fit in 0.7 s; the next one (0.8 s) would not.
    assert len(retries) == 2
    assert any("failed after 3 attempts" in record.getMessage() for record in caplog.records)


def test_app_reads_through_reader_during_lifespan(plant, settings):
    app = create_app(settings, plant)
    view = app.graphql_view
    assert view.reader is None
    with TestClient(app) as client:
        reader = view.reader
        assert reader is not None
        body = graphql(client, ENTITY, id=FAMILIES[0].variables["id"])
        before = plant.query_count
        calls = []
        original = reader.read

        async def counting_read(cypher, params=None):
            calls.append(cypher)
            return await original(cypher, params)

        reader.read = counting_read
        assert graphql(client, ENTITY, id=FAMILIES[0].variables["id"]) == body
        assert calls == [ENTITIES_BY_KEY]
        assert plant.query_count - before == 1
    assert view.reader is None


def test_history_halves_equal_asset_history(plant):
    reference = "Air Compressor 3"
    params = lookup.asset_history_params(reference, ASSET_CLASSES, 2)
    row = _read_async(plant, lookup.ASSET_HISTORY_QUERY, params)[0]
    assert lookup.asset_history_page(row, reference, ASSET_CLASSES) == lookup.asset_history(plant, reference,
                                                                                           ASSET_CLASSES, 2)


@pytest.mark.parametrize("family", [family for family in FAMILIES if family.direct_async is not None],
                         ids=lambda family: family.key)
def test_benchmark_async_path_matches_sync(plant, family):
    async def run():
        reader = plant.open_async_reader()
        try:
            return await family.direct_async(reader)
        finally:
            await reader.close()

    before = plant.query_count
    by_reader = asyncio.run(run())
    reader_queries = plant.query_count - before
    before = plant.query_count
    assert by_reader == family.direct(plant)
    assert reader_queries == plant.query_count - before == 1


def _unreachable_settings(settings, retry_s: float):
    return settings.model_copy(update={"neo4j_uri": "bolt://127.0.0.1:9", "neo4j_password": "not-used",
                                       "api_retry_s": retry_s})


def test_api_retry_budget_reaches_both_drivers(settings):
    app = create_app(_unreachable_settings(settings, 2.5))
    view = app.graphql_view
    # The drivers keep their configuration in a private attribute; neo4j 6 has no public getter.
    assert view.store.driver._default_workspace_config.max_transaction_retry_time == 2.5
    with TestClient(app):
        assert view.reader._driver._default_workspace_config.max_transaction_retry_time == 2.5


def test_unreachable_graph_message_hides_address(settings):
    from kg_service.api.schema import UNAVAILABLE_MESSAGE

    with TestClient(create_app(_unreachable_settings(settings, 0))) as client:
        for query in (ENTITY, '{ rootCauses(asset: "AC-3") { targetWorkOrders } }'):
            body = graphql(client, query, id="equipment:sample-plant:ac-3")
            assert body["errors"][0]["message"] == UNAVAILABLE_MESSAGE
            assert body["errors"][0]["extensions"] == {"code": "GraphUnavailableError"}
            assert "127.0.0.1" not in json.dumps(body)
