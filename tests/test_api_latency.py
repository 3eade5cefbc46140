"""Per-request work of the GraphQL API: cached validation, one-query failure history, API key reads.

Also checks that the latency benchmark's driver path sends as many queries as the GraphQL
request it is compared with.
"""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient
from strawberry.extensions.validation_cache import _get_validate_cache

from benchmarks.api_latency import FAMILIES
from kg_service.api.app import create_app
from kg_service.api.auth import ApiKeyStore, Principal
from kg_service.errors import NotFoundError, QueryError
from kg_service.ingest import ingest_workorders, load_ontologies
from kg_service.reasoning import lookup
from kg_service.reasoning.rootcause import ASSET_CLASSES
from tests.conftest import CORE_ONTOLOGY, SAMPLE_DIR, graphql, wipe

pytestmark = pytest.mark.neo4j

HISTORY = """query($a: String!, $after: String, $failures: Boolean!) {
  failureHistory(asset: $a, first: 3, after: $after, failuresOnly: $failures) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id date failureModes { edges { node { id } } } parts { edges { node { id } } }
                          systems { edges { node { id } } } actions { edges { node { id } } }
                          symptoms { edges { node { id } } } } }
  }
}"""


@pytest.fixture(scope="module")
def client(store, settings):
    wipe(store)
    load_ontologies(store, [CORE_ONTOLOGY])
    for name in ("workorders_en", "workorders_zh"):
        ingest_workorders(store, settings, SAMPLE_DIR / f"{name}.csv", SAMPLE_DIR / f"{name}.yaml")
    with TestClient(create_app(settings, store)) as test_client:
        yield test_client


def _two_step_pages(store, reference: str, failures_only: bool) -> list[lookup.HistoryPage]:
    """Read every page of three work orders as the resolver did before: resolve the asset, then read the history."""
    asset_id = lookup.resolve_entity(store, reference, ASSET_CLASSES)["id"]
    pages, after = [], None
    while True:
        page = lookup.failure_history(store, asset_id, 3, after, failures_only)
        pages.append(page)
        if not page.has_next:
            return pages
        after = page.end_cursor


def _comparable(page: lookup.HistoryPage) -> tuple:
    rows = [(row["id"], row["props"], *(sorted(map(repr, row[field])) for field in
                                        ("failureModes", "parts", "systems", "actions", "symptoms")))
            for row in page.rows]
    return rows, page.total, page.has_next, page.end_cursor


def test_repeated_query_skips_validation(client):
    query = '{ entity(id: "equipment:sample-plant:ac-3") { id classes } }'
    cache = _get_validate_cache(256)
    graphql(client, query)
    before = cache.cache_info()
    graphql(client, query)
    after = cache.cache_info()
    # The repeated text runs as a prepared operation (kg_service.api.prepared), which does not
    # even ask the validation cache.
    assert after.hits == before.hits
    assert after.misses == before.misses


@pytest.mark.parametrize("attempt", ["first", "repeated"])
def test_cached_limits_still_reject(client, attempt):
    # The second attempt takes the validation result from the cache, so it must reject just the same.
    deep = "query Deep { entity(id: \"x\") " + "{ id a " * 12 + "{ id }" + " }" * 12 + " }"
    aliases = "{ " + " ".join(f'a{index}: entity(id: "x") {{ id }}' for index in range(25)) + " }"
    recursive = 'query { entity(id: "x") { ...A } } fragment A on Entity { id ...B } fragment B on Entity { id ...A }'
    deep_messages = [error["message"] for error in graphql(client, deep)["errors"]]
    assert any("exceeds maximum operation depth" in message for message in deep_messages)
    assert "aliases" in graphql(client, aliases)["errors"][0]["message"].lower()
    assert "Cannot spread fragment" in graphql(client, recursive)["errors"][0]["message"]


@pytest.mark.parametrize("reference", ["equipment:sample-plant:ac-3", "AC-3", "3号空压机", "Air Compressor 3",
                                       "equipment:sample-plant:p-101"])
@pytest.mark.parametrize("failures_only", [False, True])
def test_history_matches_two_steps(client, store, reference, failures_only):
    expected = _two_step_pages(store, reference, failures_only)
    after = None
    for page in expected:
        found = lookup.asset_history(store, reference, ASSET_CLASSES, 3, after, failures_only)
        assert _comparable(found) == _comparable(page)
        after = page.end_cursor


def test_history_past_end_keeps_total(client, store):
    last = _two_step_pages(store, "AC-3", False)[-1]
    past_end = lookup.asset_history(store, "AC-3", ASSET_CLASSES, 3, last.end_cursor)
    assert past_end.rows == []
    assert past_end.total == last.total
    assert past_end.has_next is False


@pytest.mark.parametrize("reference", ["Spindle", "no such asset", "failure-mode:overheating"])
def test_history_errors_match_resolver(client, store, reference):
    with pytest.raises((NotFoundError, QueryError)) as expected:
        lookup.resolve_entity(store, reference, ASSET_CLASSES)
    with pytest.raises(expected.type) as found:
        lookup.asset_history(store, reference, ASSET_CLASSES)
    assert str(found.value) == str(expected.value)


def test_history_field_sends_one_query(client, store):
    variables = {"a": "Air Compressor 3", "after": None, "failures": False}
    graphql(client, HISTORY, **variables)
    before = store.query_count
    body = graphql(client, HISTORY, **variables)
    assert body["data"]["failureHistory"]["totalCount"] > 3
    assert store.query_count - before == 1


def test_history_field_unknown_asset(client):
    body = graphql(client, HISTORY, a="AC-99", after=None, failures=False)
    assert body["data"] is None
    assert "'AC-99'" in body["errors"][0]["message"]


@pytest.mark.parametrize("family", FAMILIES, ids=[family.key for family in FAMILIES])
def test_benchmark_driver_same_query_count(client, store, family):
    # The first request fills the ontology allowlist cache, which the benchmark's warm-up does too.
    assert "errors" not in graphql(client, family.document, **family.variables)
    before = store.query_count
    body = graphql(client, family.document, **family.variables)
    graphql_queries = store.query_count - before
    assert "errors" not in body
    before = store.query_count
    family.direct(store)
    assert store.query_count - before == graphql_queries


def test_api_key_file_read_once(tmp_path, monkeypatch):
    keys = ApiKeyStore(tmp_path / "api_keys.json")
    key = keys.create("dana", "analyst")
    reads = []
    original = ApiKeyStore._load
    monkeypatch.setattr(ApiKeyStore, "_load", lambda self: reads.append(1) or original(self))
    for _ in range(5):
        assert keys.authenticate(key) == Principal("dana", "analyst", True)
    assert len(reads) == 1


def test_api_key_revoked_elsewhere_rejected(tmp_path):
    serving = ApiKeyStore(tmp_path / "api_keys.json")
    key = serving.create("erin", "reader")
    assert serving.authenticate(key) is not None
    # Another process (kg-service apikey revoke) writes the file through its own store.
    assert ApiKeyStore(tmp_path / "api_keys.json").revoke("erin")
    assert serving.authenticate(key) is None
