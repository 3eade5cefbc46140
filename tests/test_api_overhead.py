"""Fixed work per GraphQL request: the JSON POST short path, plain-field execution, access log, allowlist cache.

Each shortcut must respond exactly as the standard path does, so most tests send the same
request both ways and compare the whole response.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import time
from collections import Counter

import pytest
import strawberry
from starlette.testclient import TestClient
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from benchmarks.api_latency import (FAMILIES, _quantile, http_client, parse_wrk_output, remove_wrk_correction,
                                    run_wrk)
from kg_service.api import context as api_context
from kg_service.api.app import ACCESS_LOGGER, SchemaCache, create_app
from kg_service.api.auth import Principal
from kg_service.api.execution import PURE_RESOLVER, PlainFieldExecutor, executor_for
from kg_service.api.loaders import entity_loader
from kg_service.api.schema import build_schema
from kg_service.errors import KGServiceError
from tests.conftest import load_sample_plant, serve_in_thread

pytestmark = pytest.mark.neo4j

ASSET = "equipment:sample-plant:ac-3"

ENTITY = """query($id: ID!, $lang: String!) { entity(id: $id) { __typename id classes label(lang: $lang)
  en: label properties } }"""
HISTORY = """query($a: String!, $first: Int!, $withCost: Boolean!) {
  failureHistory(asset: $a, first: $first) { totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { ...Order cost @include(if: $withCost) } } } }
fragment Order on WorkOrder { id date text orderType runningHours
  failureModes { __typename totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { __typename id label(lang: "zh") classes } } }
  parts(first: 1) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id label } } }
  systems(first: 3) { edges { node { id properties } } } actions(first: 3) { edges { node { label } } }
  symptoms(first: 3) { totalCount } }"""
BAD_LANGUAGE = ('{ failureHistory(asset: "AC-3", first: 2) { edges { node { id '
                'failureModes { edges { node { id label(lang: "fr") } } } } } } }')
LIST_ERRORS = ('{ failureHistory(asset: "AC-3", first: 3) { edges { node { id failureModes(first: 0) { totalCount } '
               'parts(after: "not-a-cursor") { totalCount } symptoms(first: 201) { totalCount } } } } }')
ONTOLOGY = "{ ontologyClasses(first: 15) { totalCount edges { node { iri nodeLabel parents deprecated " \
           "label(lang: \"zh\") definition } } } }"

# (document, variables): each runs through both paths, and the responses must match.
CASES = [
    (ENTITY, {"id": ASSET, "lang": "zh"}),
    (ENTITY, {"id": "no-such-entity", "lang": "en"}),
    (HISTORY, {"a": "AC-3", "first": 20, "withCost": True}),
    (HISTORY, {"a": "Air Compressor 3", "first": 3, "withCost": False}),
    (HISTORY, {"a": "AC-99", "first": 3, "withCost": True}),
    (BAD_LANGUAGE, {}),
    (LIST_ERRORS, {}),
    (ONTOLOGY, {}),
    *((family.document, family.variables) for family in FAMILIES),
]
CASE_IDS = ["entity", "entity-missing", "history", "history-page", "history-unknown", "bad-language", "list-errors",
            "ontology", *(family.key for family in FAMILIES)]


@pytest.fixture(scope="module")
def plant(store, settings):
    return load_sample_plant(store, settings)


@pytest.fixture(scope="module")
def clients(plant, settings):
    """Test clients of the app with the JSON POST short path and without it."""
    with TestClient(create_app(settings, plant)) as short, \
            TestClient(create_app(settings, plant, json_post_shortcut=False)) as full:
        yield short, full


def _post_both(clients, **request) -> tuple:
    short, full = clients
    return short.post("/graphql", **request), full.post("/graphql", **request)


@pytest.mark.parametrize(("document", "variables"), CASES, ids=CASE_IDS)
def test_short_path_same_response(clients, document, variables):
    short, full = _post_both(clients, json={"query": document, "variables": variables})
    assert short.status_code == full.status_code
    assert short.headers["content-type"] == full.headers["content-type"]
    assert short.json() == full.json()


@pytest.mark.parametrize("request_kind", ["batch", "invalid-json", "query-not-string", "no-query", "mutation-get"])
def test_short_path_rejects_like_view(clients, request_kind):
    requests = {
        "batch": {"json": [{"query": "{ __typename }"}]},
        "invalid-json": {"content": b"{not json", "headers": {"content-type": "application/json"}},
        "query-not-string": {"json": {"query": 42}},
        "no-query": {"json": {"variables": {}}},
        "mutation-get": {"json": {"query": "subscription { x }"}},
    }
    short, full = _post_both(clients, **requests[request_kind])
    assert short.status_code == full.status_code
    assert short.text == full.text


def test_oversized_body_rejected_413(clients, plant):
    short, _ = clients
    before = plant.query_count
    body = {"query": "query($x: String) { __typename }", "variables": {"x": "a" * (1024 * 1024)}}
    response = short.post("/graphql", json=body)
    assert response.status_code == 413
    assert "request body exceeds 1048576 bytes" in response.text
    assert plant.query_count == before
    assert short.post("/graphql", json={"query": "{ __typename }"}).status_code == 200


def test_short_path_bad_key_401(clients):
    short, full = _post_both(clients, json={"query": "{ __typename }"}, headers={"X-API-Key": "kgs_not-a-key"})
    assert short.status_code == 401
    assert short.text == full.text


def test_short_path_skips_negotiation(clients, monkeypatch):
    # strawberry's view parses the Content-Type with email.message, and the short path must not call it.
    from strawberry.http import async_base_view

    calls = []
    original = async_base_view.parse_content_type
    monkeypatch.setattr(async_base_view, "parse_content_type", lambda value: calls.append(value) or original(value))
    short, full = _post_both(clients, json={"query": "{ __typename }"})
    assert short.json() == full.json()
    assert len(calls) == 1


def test_short_path_off_without_view_methods(plant, settings, monkeypatch):
    from kg_service.api import json_post

    monkeypatch.setattr(json_post, "VIEW_METHODS", (*json_post.VIEW_METHODS, "_method_of_another_version"))
    app = create_app(settings, plant)
    view = next(route.endpoint for route in app.routes if getattr(route, "path", "") == "/graphql")
    assert view.json_post_shortcut is False


def test_graphql_post_skips_starlette_stack(clients, monkeypatch):
    # A POST to /graphql goes straight to the view, so Starlette's router is not called.
    from starlette.routing import Router

    calls = []
    original = Router.__call__
    monkeypatch.setattr(Router, "__call__", lambda self, *args: calls.append(1) or original(self, *args))
    short, _ = clients
    assert short.post("/graphql", json={"query": "{ __typename }"}).json() == {"data": {"__typename": "Query"}}
    assert calls == []
    assert short.get("/health").json()["status"] == "ok"
    assert "graphiql" in short.get("/graphql", headers={"Accept": "text/html"}).text.lower()
    assert short.post("/graphql/", json={"query": "{ __typename }"}).json() == {"data": {"__typename": "Query"}}
    assert len(calls) == 3


def test_graphql_post_unexpected_error_500(plant, settings, monkeypatch):
    # An exception that escapes the view still becomes a 500 response from the server (uvicorn's).
    import httpx

    from kg_service.api.app import KGGraphQL

    async def broken(*args, **kwargs):
        raise RuntimeError("view broke")

    app = create_app(settings, plant)
    monkeypatch.setattr(KGGraphQL, "__call__", broken)
    with serve_in_thread(app, http="httptools", loop="asyncio") as url:
        response = httpx.post(url, json={"query": "{ __typename }"}, timeout=10)
        health = httpx.get(url.removesuffix("/graphql") + "/health", timeout=10)
    assert response.status_code == 500
    assert "view broke" not in response.text
    assert health.status_code == 200


def _context(store) -> dict:
    return {"store": store, "schema_cache": SchemaCache(store), "principal": Principal("test", "reader", False),
            "entity_loader": entity_loader(store)}


def _execute(schema, document: str, variables: dict, store) -> tuple:
    async def run():
        return await schema.execute(document, variable_values=variables, context_value=_context(store))

    result = asyncio.run(run())
    errors = [(error.message, error.path) for error in result.errors or []]
    return result.data, errors


@pytest.mark.parametrize(("document", "variables"), CASES, ids=CASE_IDS)
def test_plain_executor_same_result(plant, document, variables):
    standard = build_schema()
    standard.execution_context_class = StrawberryGraphQLCoreExecutionContext
    plain = build_schema()
    assert issubclass(plain.execution_context_class, PlainFieldExecutor)
    expected_data, expected_errors = _execute(standard, document, variables, plant)
    data, errors = _execute(plain, document, variables, plant)
    assert json.dumps(data) == json.dumps(expected_data)
    assert errors == expected_errors


def test_history_page_skips_resolvers(plant, monkeypatch):
    schema = build_schema()
    calls = []
    original = PlainFieldExecutor.build_resolve_info
    monkeypatch.setattr(PlainFieldExecutor, "build_resolve_info",
                        lambda self, *args: calls.append(args[0]) or original(self, *args))
    history = next(family for family in FAMILIES if family.key == "history")
    data, errors = _execute(schema, history.document, history.variables, plant)
    assert errors == []
    assert len(data["failureHistory"]["edges"]) == 20
    # Only the root field goes through graphql-core's resolver machinery. The 20 work orders complete in one
    # pass, with their lists paged by pure resolvers that the executor calls directly.
    assert len(calls) == 1


@strawberry.type
class Item:
    name: str
    tags: list[str]

    @strawberry.field(metadata={PURE_RESOLVER: True})
    def shout(self, suffix: str = "!") -> str:
        if suffix == "?":
            raise KGServiceError("suffix '?' is not allowed; pass another suffix")
        return self.name.upper() + suffix


@strawberry.type
class ItemQuery:
    @strawberry.field
    def items(self) -> list[Item]:
        # The second item breaks the schema: a null name and a null in a list of non-null strings.
        return [Item(name="a", tags=["x"]), Item(name=None, tags=["y", None]), Item(name="c", tags=[])]


@pytest.mark.parametrize("document", [
    "{ items { name tags } }",
    "{ items { tags } }",
    '{ items { shout(suffix: "?") } }',
    '{ items { __typename n: shout s: shout(suffix: "!!") } }',
])
def test_plain_executor_null_and_error(document):
    standard = strawberry.Schema(query=ItemQuery)
    plain = strawberry.Schema(query=ItemQuery)
    plain.execution_context_class = executor_for(plain._schema)
    expected, found = standard.execute_sync(document), plain.execute_sync(document)
    assert found.data == expected.data
    assert [(error.message, error.path) for error in found.errors or []] == \
           [(error.message, error.path) for error in expected.errors or []]


def test_other_graphql_core_standard_executor(monkeypatch):
    from kg_service.api import execution

    monkeypatch.setitem(execution._EXPECTED_PARAMETERS, "execute_fields", ("self", "parent_type"))
    executor = executor_for(strawberry.Schema(query=ItemQuery)._schema)
    assert executor is StrawberryGraphQLCoreExecutionContext


def test_pure_mark_rejects_info():
    @strawberry.type
    class BadQuery:
        @strawberry.field(metadata={PURE_RESOLVER: True})
        def name(self, info: strawberry.Info) -> str:
            return "x"

    with pytest.raises(ValueError, match="reads info or root"):
        executor_for(strawberry.Schema(query=BadQuery)._schema)


@pytest.mark.parametrize(("environment", "level"), [(None, logging.WARNING), ("true", logging.INFO)])
def test_access_log_setting(plant, settings, monkeypatch, environment, level):
    if environment is None:
        monkeypatch.delenv("KG_API_ACCESS_LOG", raising=False)
    else:
        monkeypatch.setenv("KG_API_ACCESS_LOG", environment)
    logging.getLogger(ACCESS_LOGGER).setLevel(logging.NOTSET)
    with TestClient(create_app(settings, plant)):
        assert logging.getLogger(ACCESS_LOGGER).level == level


def test_fresh_allowlist_no_thread(plant, monkeypatch):
    cache = SchemaCache(plant)
    assert cache.fresh() is None
    loaded = cache.get()
    assert cache.fresh() is loaded

    class Info:
        context = {"schema_cache": cache}

    def fail(*args, **kwargs):
        raise AssertionError("a fresh allowlist must not need a worker thread")

    monkeypatch.setattr(api_context.asyncio, "to_thread", fail)
    assert asyncio.run(api_context.request_schema_async(Info())) is loaded


def test_stale_allowlist_read_again(plant):
    cache = SchemaCache(plant, max_age_s=0.0)
    cache.get()
    time.sleep(0.01)
    assert cache.fresh() is None

    class Info:
        context = {"schema_cache": cache}

    assert asyncio.run(api_context.request_schema_async(Info())) is not None


@pytest.fixture(scope="module")
def server_url(plant, settings):
    """Serve the app with uvicorn (httptools) on a free port in a thread; yield its GraphQL URL."""
    with serve_in_thread(create_app(settings, plant), http="httptools", loop="asyncio") as url:
        yield url


@pytest.mark.parametrize("family", FAMILIES, ids=[family.key for family in FAMILIES])
def test_benchmark_clients_same_answer(server_url, family):
    async def post_with(kind: str) -> dict:
        async with http_client(kind, server_url) as post:
            return await post({"query": family.document, "variables": family.variables})

    by_aiohttp, by_httpx = asyncio.run(post_with("aiohttp")), asyncio.run(post_with("httpx"))
    assert "errors" not in by_aiohttp
    assert by_aiohttp == by_httpx


needs_wrk = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)")


@needs_wrk
@pytest.mark.parametrize("clients", [1, 4])
def test_wrk_client_counts_requests(server_url, clients):
    entity = next(family for family in FAMILIES if family.key == "entity")
    run = run_wrk(server_url, {"query": entity.document, "variables": entity.variables}, clients, 1)
    assert run.requests > 10
    assert sum(run.histogram.values()) == run.requests
    assert 0 < _quantile(run.histogram, 0.5) <= _quantile(run.histogram, 0.99) < 1_000_000
    assert 0.9 < run.seconds < 3


@needs_wrk
def test_wrk_client_reports_graphql_errors(server_url):
    # An error comes back with status 200, so only the body shows it. The benchmark must not time failures.
    with pytest.raises(RuntimeError, match=r"[1-9]\d* GraphQL errors"):
        run_wrk(server_url, {"query": BAD_LANGUAGE}, 1, 1)


def test_parse_wrk_output():
    run = parse_wrk_output("Running 1s test\nsummary 5 1000250 0 0 0\nlatency 180 2\nlatency 250 3\n", 1)
    assert (run.requests, run.seconds, run.graphql_errors) == (5, 1.00025, 0)
    assert run.histogram == Counter({180: 2, 250: 3})
    assert _quantile(run.histogram, 0.5) == 250
    assert _quantile(run.histogram, 0.0) == 180
    with pytest.raises(RuntimeError, match="no summary line"):
        parse_wrk_output("unable to connect to 127.0.0.1:1 Connection refused", 1)


def _wrk_correct(histogram: Counter, interval: int) -> Counter:
    """wrk 4's stats_correct: each sample n >= 2 * interval adds samples at n - k * interval above `interval`."""
    corrected = Counter(histogram)
    for value in sorted(histogram):
        if value < 2 * interval:
            continue
        lower = value - interval
        while lower > interval:
            corrected[lower] += histogram[value]
            lower -= interval
    return corrected


@pytest.mark.parametrize("connections", [1, 4])
def test_remove_wrk_correction(connections):
    measured = Counter({90: 40, 100: 50, 110: 20, 150: 5, 200: 3, 300: 1, 410: 2, 1000: 1})
    requests = sum(measured.values())
    duration_us = 100 * requests // connections + 7
    interval = duration_us // (requests // connections)
    reported = _wrk_correct(measured, interval)
    assert sum(reported.values()) > requests
    assert remove_wrk_correction(reported, requests, duration_us, connections) == measured
    with pytest.raises(RuntimeError, match="histogram contains"):
        remove_wrk_correction(reported, requests + 1, duration_us, connections)


def test_replay_store_reads_once(plant):
    from benchmarks.api_overhead import ReplayStore

    replay = ReplayStore(plant)
    entity = next(family for family in FAMILIES if family.key == "entity")
    before = plant.query_count
    first = entity.direct(replay)
    second = entity.direct(replay)
    assert first == second
    assert first[0]["id"] == ASSET
    assert plant.query_count - before == 1


def test_replay_reader_serves_the_replay_store(plant):
    from benchmarks.api_overhead import ReplayReader, ReplayStore

    replay = ReplayStore(plant)
    reader = ReplayReader(replay)
    entity = next(family for family in FAMILIES if family.key == "entity")
    before = plant.query_count
    first = asyncio.run(entity.direct_async(reader))
    second = asyncio.run(entity.direct_async(reader))
    assert first == second
    assert first[0]["id"] == ASSET
    assert plant.query_count - before == 1


def test_http_floor_app_returns_recorded_response():
    import httpx

    from benchmarks.http_floor import floor_app

    recorded = {"{ a }": b'{"data":{"a":1}}', "{ b }": b'{"data":{"b":2}}'}
    transport = httpx.ASGITransport(app=floor_app(recorded))

    async def post(document: str) -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://floor") as client:
            return await client.post("/graphql", json={"query": document})

    first, second = asyncio.run(post("{ a }")), asyncio.run(post("{ b }"))
    assert first.content == recorded["{ a }"]
    assert second.content == recorded["{ b }"]
    assert first.headers["content-length"] == str(len(recorded["{ a }"]))
