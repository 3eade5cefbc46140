"""Relay cursor pagination of computed lists on the sample plant: rankings, evidence, designs, text evidence."""

from __future__ import annotations

import base64
import json

import pandas as pd
import pytest
from starlette.testclient import TestClient

import kg_service.client as client_module
from kg_service.api import paging
from kg_service.api.app import create_app
from kg_service.client import KGClient
from tests.conftest import graphql, load_sample_plant

pytestmark = pytest.mark.neo4j

CANDIDATES = """query($first: Int!, $after: String, $windowDays: Int! = 30) {
  rootCauses(asset: "AC-3", failureMode: "Overheating", windowDays: $windowDays) {
    candidates(first: $first, after: $after) {
      totalCount pageInfo { hasNextPage endCursor }
      edges { cursor node { entity { id } score breakdown { source value } } }
    }
  }
}"""

WORK_ORDERS = """query($first: Int!, $after: String) {
  rootCauses(asset: "AC-3", failureMode: "Overheating") {
    candidates(first: 1) { edges { node { entity { id }
      evidenceWorkOrders(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node } }
      paths(first: 1) { pageInfo { endCursor } } } } }
  }
}"""

RANKING = """query($first: Int!, $after: String, $method: String! = "TOPSIS") {
  rankSuppliers(criteria: [{name: "certificationCount", weight: 0.5}, {name: "partCount", weight: 0.5}],
                method: $method) {
    ranking(first: $first, after: $after) {
      totalCount pageInfo { hasNextPage endCursor } edges { node { rank supplier { id } score } } }
  }
}"""

CONSTRAINTS = """query($first: Int!, $after: String) {
  designConstraints(target: "AC-3-CM") {
    constraints(first: $first, after: $after) {
      totalCount pageInfo { hasNextPage endCursor } edges { node { constraint appliesTo } } }
  }
}"""

EVIDENCE = """query($id: String!, $first: Int!, $after: String) {
  entityEvidence(id: $id, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { chunkId text } }
  }
}"""


@pytest.fixture(scope="module")
def plant(store, settings):
    return load_sample_plant(store, settings)


@pytest.fixture(scope="module")
def api(plant, settings):
    with TestClient(create_app(settings, plant)) as test_client:
        yield test_client


def connection_at(data: dict, path: tuple[str, ...]) -> dict:
    for name in path:
        data = data[name]
        if isinstance(data, dict) and "edges" in data and name != path[-1]:
            data = data["edges"][0]["node"]
    return data


def read_pages(api: TestClient, query: str, path: tuple[str, ...], first: int,
               **variables) -> tuple[list, list[dict]]:
    """Follow `after` from the first page to the last; return the nodes and every page's connection."""
    nodes, pages, after = [], [], None
    while True:
        body = graphql(api, query, first=first, after=after, **variables)
        assert "errors" not in body, body["errors"]
        page = connection_at(body["data"], path)
        pages.append(page)
        nodes += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes, pages
        after = page["pageInfo"]["endCursor"]


def error_message(body: dict) -> str:
    assert body["data"] is None or body.get("errors"), body
    return body["errors"][0]["message"]


# root-cause candidates and their evidence

def test_candidate_pages_match_unpaged(api):
    unpaged, _ = read_pages(api, CANDIDATES, ("rootCauses", "candidates"), first=100)
    paged, pages = read_pages(api, CANDIDATES, ("rootCauses", "candidates"), first=2)
    assert len(unpaged) > 4
    assert len(pages) == -(-len(unpaged) // 2)
    assert paged == unpaged


def test_candidate_total_count(api):
    unpaged, _ = read_pages(api, CANDIDATES, ("rootCauses", "candidates"), first=100)
    _, pages = read_pages(api, CANDIDATES, ("rootCauses", "candidates"), first=3)
    assert {page["totalCount"] for page in pages} == {len(unpaged)}


def test_last_page_has_no_next(api):
    _, pages = read_pages(api, CANDIDATES, ("rootCauses", "candidates"), first=3)
    assert [page["pageInfo"]["hasNextPage"] for page in pages] == [True] * (len(pages) - 1) + [False]
    assert pages[-1]["pageInfo"]["endCursor"] == pages[-1]["edges"][-1]["cursor"]


def test_candidate_scores_as_ranking(api, plant):
    from kg_service.reasoning.rootcause import RootCauseQuery, rank_causes

    paged, _ = read_pages(api, CANDIDATES, ("rootCauses", "candidates"), first=2)
    ranking = rank_causes(plant, RootCauseQuery(asset="AC-3", failure_mode="Overheating", limit=10))
    expected = [(item.id, item.score) for item in ranking.candidates]
    assert [(node["entity"]["id"], node["score"]) for node in paged[:10]] == expected


def test_evidence_pages_match_unpaged(api):
    unpaged, _ = read_pages(api, WORK_ORDERS, ("rootCauses", "candidates", "evidenceWorkOrders"), first=200)
    paged, pages = read_pages(api, WORK_ORDERS, ("rootCauses", "candidates", "evidenceWorkOrders"), first=3)
    assert len(unpaged) == 11
    assert paged == unpaged
    assert pages[0]["totalCount"] == 11


def test_past_end_page_is_empty(api):
    _, pages = read_pages(api, CANDIDATES, ("rootCauses", "candidates"), first=100)
    body = graphql(api, CANDIDATES, first=5, after=pages[-1]["pageInfo"]["endCursor"])
    page = body["data"]["rootCauses"]["candidates"]
    assert page["edges"] == []
    assert page["totalCount"] == len(pages[-1]["edges"])
    assert page["pageInfo"]["hasNextPage"] is False


# invalid arguments

@pytest.mark.parametrize("first", [0, -1, 101])
def test_candidates_first_out_of_range(api, first):
    message = error_message(graphql(api, CANDIDATES, first=first, after=None))
    assert f"first of candidates must be between 1 and 100, got {first}" in message


@pytest.mark.parametrize("first", [0, 201])
def test_evidence_first_out_of_range(api, first):
    message = error_message(graphql(api, WORK_ORDERS, first=first, after=None))
    assert f"first of evidenceWorkOrders must be between 1 and 200, got {first}" in message


def test_cursor_of_other_request_rejected(api):
    page = graphql(api, CANDIDATES, first=2, after=None)["data"]["rootCauses"]["candidates"]
    body = graphql(api, CANDIDATES, first=2, after=page["pageInfo"]["endCursor"], windowDays=7)
    message = error_message(body)
    assert "belongs to another list or to a request with other arguments" in message
    assert "after of candidates" in message


def test_cursor_of_other_list_rejected(api):
    body = graphql(api, WORK_ORDERS, first=2, after=None)
    candidate = body["data"]["rootCauses"]["candidates"]["edges"][0]["node"]
    paths_cursor = candidate["paths"]["pageInfo"]["endCursor"]
    message = error_message(graphql(api, WORK_ORDERS, first=2, after=paths_cursor))
    assert "belongs to another list" in message


def test_supplier_cursor_rejected_by_other_method(api):
    page = graphql(api, RANKING, first=1, after=None)["data"]["rankSuppliers"]["ranking"]
    message = error_message(graphql(api, RANKING, first=1, after=page["pageInfo"]["endCursor"], method="VIKOR"))
    assert "after of ranking" in message


@pytest.mark.parametrize("cursor", ["not base64!", base64.urlsafe_b64encode(b'["x", -1]').decode(),
                                    base64.urlsafe_b64encode(b'{"a": 1}').decode(), "过热",
                                    base64.urlsafe_b64encode(b'["x", 100000000000000000000]').decode()])
def test_malformed_cursor_rejected(api, cursor):
    message = error_message(graphql(api, CANDIDATES, first=2, after=cursor))
    assert "invalid cursor" in message
    assert "after of candidates" in message


def test_evidence_forged_position_rejected(api):
    scope = paging.fingerprint("entityEvidence", {"id": "equipment:sample-plant:p-101"})
    forged = base64.urlsafe_b64encode(json.dumps([scope, 2**40]).encode()).decode()
    message = error_message(graphql(api, EVIDENCE, id="equipment:sample-plant:p-101", first=2, after=forged))
    assert "invalid cursor" in message


# supplier ranking and design constraints

def test_supplier_pages_match_unpaged(api):
    unpaged, _ = read_pages(api, RANKING, ("rankSuppliers", "ranking"), first=200)
    paged, pages = read_pages(api, RANKING, ("rankSuppliers", "ranking"), first=1)
    assert len(unpaged) == 3
    assert paged == unpaged
    assert [node["rank"] for node in paged] == [1, 2, 3]
    assert pages[-1]["totalCount"] == 3


def test_constraint_pages_match_unpaged(api):
    unpaged, _ = read_pages(api, CONSTRAINTS, ("designConstraints", "constraints"), first=200)
    paged, pages = read_pages(api, CONSTRAINTS, ("designConstraints", "constraints"), first=2)
    assert len(unpaged) > 2
    assert paged == unpaged
    assert pages[0]["totalCount"] == len(unpaged)


# text evidence, read from Neo4j one page at a time

def test_entity_evidence_pages(api, plant, settings, tmp_path):
    from tests.test_documents import ingestor

    for number in range(5):
        (tmp_path / f"note-{number}.txt").write_text(f"Note {number}: replaced mechanical seal on pump P-101.",
                                                    encoding="utf-8")
    ingestor(plant, settings).ingest_paths([tmp_path])
    # Entity resolution merges "pump P-101" into the sample plant's pump.
    pump = "equipment:sample-plant:p-101"
    unpaged, _ = read_pages(api, EVIDENCE, ("entityEvidence",), first=200, id=pump)
    paged, pages = read_pages(api, EVIDENCE, ("entityEvidence",), first=2, id=pump)
    assert len(unpaged) == 5
    assert paged == unpaged
    assert [page["totalCount"] for page in pages] == [5, 5, 5]


# the Python client follows pages

def test_client_follows_small_pages(plant, monkeypatch):
    with KGClient(store=plant) as client:
        whole = client.root_causes(asset="AC-3", failure_mode="Overheating", limit=5)
        monkeypatch.setattr(client_module, "CANDIDATE_PAGE", 2)
        monkeypatch.setattr(client_module, "EVIDENCE_PAGE", 1)
        monkeypatch.setattr(client_module, "EVIDENCE_FOLLOW_PAGE", 2)
        paged = client.root_causes(asset="AC-3", failure_mode="Overheating", limit=5)
    assert len(whole.candidates) == 5
    pd.testing.assert_frame_equal(paged.candidates, whole.candidates)
    pd.testing.assert_frame_equal(paged.evidence, whole.evidence)


def test_client_history_follows_small_pages(plant, monkeypatch):
    with KGClient(store=plant) as client:
        whole = client.failure_history("AC-3")
        monkeypatch.setattr(client_module, "HISTORY_PAGE", 3)
        monkeypatch.setattr(client_module, "WORK_ORDER_LIST_PAGE", 1)
        monkeypatch.setattr(client_module, "LIST_FOLLOW_PAGE", 1)
        paged = client.failure_history("AC-3")
    assert len(whole) == 25
    assert whole["symptoms"].str.contains(", ").any()
    pd.testing.assert_frame_equal(paged, whole)


def test_client_tables_follow_small_pages(plant, monkeypatch):
    criteria = {"certificationCount": 0.5, "partCount": 0.5}
    with KGClient(store=plant) as client:
        whole = client.rank_suppliers(criteria)
        monkeypatch.setattr(client_module, "PAGE_SIZE", 2)
        paged = client.rank_suppliers(criteria)
    assert len(whole.decision) == 3
    for name in ("decision", "normalized", "weighted", "distances", "ranking"):
        pd.testing.assert_frame_equal(getattr(paged, name), getattr(whole, name))
    pd.testing.assert_series_equal(paged.scores, whole.scores)
    pd.testing.assert_series_equal(paged.ideal, whole.ideal)


def test_client_ask_follows_citation_pages(plant, monkeypatch):
    import kg_service.api.ask as ask_module
    from kg_service.ask.rules import RuleMapper

    monkeypatch.setattr(ask_module, "_shared_mapper", RuleMapper())
    with KGClient(store=plant) as client:
        whole = client.ask("Why does Air Compressor 3 overheat?")
        monkeypatch.setattr(client_module, "PAGE_SIZE", 2)
        paged = client.ask("Why does Air Compressor 3 overheat?")
    assert len(whole["citations"]) > 3
    assert paged["citations"] == whole["citations"]
    assert {"id": "equipment:sample-plant:ac-3", "kind": "entity", "label": "Air Compressor 3"} in whole["citations"]


@pytest.mark.parametrize("scope", ["WorkOrder.parts:0123456789abcdef", 'quote"inside', "back\\slash", "工单", "tab\there",
                                   ""])
@pytest.mark.parametrize("position", [0, 7, paging.MAX_POSITION - 1])
def test_cursor_text_equals_json_form(scope, position):
    expected = base64.urlsafe_b64encode(json.dumps([scope, position]).encode("utf-8")).decode("ascii")
    assert paging.encode_cursor(scope, position) == expected
    assert paging.decode_cursor(expected, scope, "field") == position


def test_cursor_with_inserted_junk_rejected():
    """A cursor with characters outside the URL-safe alphabet used to decode to the same position."""
    from kg_service.errors import QueryError
    from kg_service.reasoning import lookup

    cursor = paging.encode_cursor("WorkOrder.parts:0123456789abcdef", 3)
    for forged in (cursor[:4] + "!!!" + cursor[4:], cursor[:4] + " " + cursor[4:], cursor.replace("-", "+")):
        if forged == cursor:
            continue
        with pytest.raises(QueryError, match="invalid cursor"):
            paging.decode_cursor(forged, "WorkOrder.parts:0123456789abcdef", "parts")
    keyset = lookup.encode_cursor(["2024-05-01", "work-order:x"])
    with pytest.raises(QueryError, match="invalid cursor"):
        lookup.decode_cursor(keyset[:4] + "!!!" + keyset[4:])


PAGE_INFO = """query($after: String, $historyAfter: String) {
  rootCauses(asset: "AC-3", failureMode: "Overheating") {
    candidates(first: 2, after: $after) {
      pageInfo { hasPreviousPage hasNextPage startCursor endCursor } edges { cursor } } }
  failureHistory(asset: "AC-3", first: 2, after: $historyAfter) {
    pageInfo { hasPreviousPage hasNextPage startCursor endCursor } edges { cursor } }
}"""


def test_page_info_four_relay_fields(api):
    first = graphql(api, PAGE_INFO, after=None, historyAfter=None)["data"]
    for connection in (first["rootCauses"]["candidates"], first["failureHistory"]):
        info, cursors = connection["pageInfo"], [edge["cursor"] for edge in connection["edges"]]
        assert info["hasPreviousPage"] is False
        assert (info["startCursor"], info["endCursor"]) == (cursors[0], cursors[-1])

    second = graphql(api, PAGE_INFO, after=first["rootCauses"]["candidates"]["pageInfo"]["endCursor"],
                     historyAfter=first["failureHistory"]["pageInfo"]["endCursor"])["data"]
    for connection in (second["rootCauses"]["candidates"], second["failureHistory"]):
        info, cursors = connection["pageInfo"], [edge["cursor"] for edge in connection["edges"]]
        assert info["hasPreviousPage"] is True
        assert info["startCursor"] == cursors[0]


def test_history_cursor_encoded_only_when_selected(api, monkeypatch):
    from kg_service.api import types as api_types

    calls = []
    real = api_types.history_cursor
    monkeypatch.setattr(api_types, "history_cursor", lambda row, scope: calls.append(row["id"]) or real(row, scope))
    nodes_only = 'query { failureHistory(asset: "AC-3", first: 5) { edges { node { id } } } }'
    with_cursors = 'query { failureHistory(asset: "AC-3", first: 5) { edges { cursor node { id } } } }'

    api.post("/graphql", json={"query": nodes_only}).raise_for_status()
    assert calls == []
    body = api.post("/graphql", json={"query": with_cursors}).json()
    edges = body["data"]["failureHistory"]["edges"]
    assert calls == [edge["node"]["id"] for edge in edges]
    assert all(edge["cursor"] for edge in edges)
