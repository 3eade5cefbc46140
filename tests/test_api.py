"""The GraphQL API on the sample plant and the real MaintKG work orders."""

from __future__ import annotations

import csv

import pytest
from starlette.testclient import TestClient

from kg_service.api.app import create_app
from kg_service.graph.checksum import graph_checksum
from kg_service.ingest import ingest_telemetry, ingest_workorders, load_ontologies
from kg_service.reasoning import lookup
from kg_service.reasoning.rootcause import ASSET_CLASSES
from tests.conftest import CORE_ONTOLOGY, MAPPINGS_DIR, SAMPLE_DIR, data_file, graphql, wipe

pytestmark = pytest.mark.neo4j

ROOT_CAUSES = """
query($asset: String!, $mode: String!, $lang: String!) {
  rootCauses(asset: $asset, failureMode: $mode) {
    targetWorkOrders
    asset { id label(lang: $lang) }
    condition { id label(lang: $lang) } conditionSource
    candidates(first: 5) { edges { node {
      entity { id classes label(lang: $lang) } score breakdown { source value }
      evidenceWorkOrders(first: 200) { totalCount edges { node } }
      paths(first: 200) { edges { node { nodes relationships } } } } } }
  }
}
"""


def candidates(result: dict) -> list[dict]:
    """Return the candidate nodes of a rootCauses result with their evidence lists flattened."""
    nodes = []
    for edge in result["candidates"]["edges"]:
        node = dict(edge["node"])
        for name in ("evidenceWorkOrders", "paths"):
            if name in node:
                node[name] = [item["node"] for item in node[name]["edges"]]
        nodes.append(node)
    return nodes


@pytest.fixture(scope="module")
def client(store, settings):
    wipe(store)
    load_ontologies(store, [CORE_ONTOLOGY])
    for name in ("workorders_en", "workorders_zh"):
        ingest_workorders(store, settings, SAMPLE_DIR / f"{name}.csv", SAMPLE_DIR / f"{name}.yaml")
    ingest_telemetry(store, settings, SAMPLE_DIR / "telemetry.csv", SAMPLE_DIR / "telemetry.yaml")
    ingest_workorders(store, settings, data_file("maintkg_pdl", "case_study_pdl.csv"), MAPPINGS_DIR / "maintkg_pdl.yaml")
    with TestClient(create_app(settings, store)) as test_client:
        yield test_client


def test_entity_by_key(client):
    body = graphql(client, '{ entity(id: "equipment:sample-plant:ac-3") { id classes label(lang: "zh") '
                           'en: label(lang: "en") properties } }')
    entity = body["data"]["entity"]
    assert entity["classes"][:2] == ["Equipment", "Asset"]
    assert entity["label"] == "3号空压机"
    assert entity["en"] == "Air Compressor 3"
    assert entity["properties"]["name"] == "AC-3"


def test_missing_entity_is_null(client):
    assert graphql(client, '{ entity(id: "no-such-key") { id } }')["data"]["entity"] is None


def test_entities_by_chinese_label(client):
    body = graphql(client, '{ entities(text: "空压机", lang: "zh", ofClass: "Equipment") '
                           '{ totalCount edges { node { id label(lang: "zh") } } } }')
    found = {edge["node"]["id"]: edge["node"]["label"] for edge in body["data"]["entities"]["edges"]}
    assert found["equipment:sample-plant:ac-3"] == "3号空压机"
    assert body["data"]["entities"]["totalCount"] == len(found)


def test_chinese_and_english_records_merge(client):
    body = graphql(client, '{ entity(id: "failure-mode:overheating") { label(lang: "zh") en: label(lang: "en") } }')
    assert body["data"]["entity"] == {"label": "过热", "en": "Overheating"}


def test_failure_history_paginates(client):
    with open(data_file("maintkg_pdl", "case_study_pdl.csv"), encoding="utf-8", newline="") as handle:
        expected = {f"workorder:maintkg-pdl:{row['id']}" for row in csv.DictReader(handle) if row["Asset"] == "A"}
    query = """query($after: String) { failureHistory(asset: "equipment:maintkg-pdl:a", first: 40, after: $after) {
                 totalCount pageInfo { hasNextPage endCursor } edges { node { id date } } } }"""
    seen, dates, after = [], [], None
    while True:
        page = graphql(client, query, after=after)["data"]["failureHistory"]
        assert page["totalCount"] == len(expected)
        seen += [edge["node"]["id"] for edge in page["edges"]]
        dates += [edge["node"]["date"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen))
    assert set(seen) == expected
    assert dates == sorted(dates, reverse=True)


def test_failure_history_lists_details(client):
    body = graphql(client, '{ failureHistory(asset: "AC-3", first: 100, failuresOnly: true) { totalCount '
                           'edges { node { id failureModes(first: 1) { totalCount } '
                           'parts(first: 5) { edges { node { label } } } actions(first: 1) { totalCount } cost } } } }')
    history = body["data"]["failureHistory"]
    assert history["totalCount"] == len(history["edges"])
    assert all(edge["node"]["failureModes"]["totalCount"] > 0 for edge in history["edges"])
    part_labels = {part["node"]["label"] for edge in history["edges"] for part in edge["node"]["parts"]["edges"]}
    assert "Cooling Fan" in part_labels


WORK_ORDER_LISTS = ("failureModes", "parts", "systems", "actions", "symptoms")


def work_order_list_query(field: str) -> str:
    """Return a query for one page of `field` of the AC-3 work order after the work order `$order`."""
    return f"""query($order: String, $first: Int!, $after: String) {{
      failureHistory(asset: "AC-3", first: 1, after: $order) {{ edges {{ node {{ id
        {field}(first: $first, after: $after) {{ totalCount pageInfo {{ hasNextPage endCursor }}
                                                 edges {{ cursor node {{ id }} }} }} }} }} }} }}"""


def read_work_order_list(client, field: str, order_cursor: str | None, first: int) -> tuple[str, list[str], list]:
    """Page through one list of one work order; return the work order key, the item keys and the pages."""
    keys, pages, after = [], [], None
    while True:
        body = graphql(client, work_order_list_query(field), order=order_cursor, first=first, after=after)
        assert "errors" not in body, body["errors"]
        node = body["data"]["failureHistory"]["edges"][0]["node"]
        page = node[field]
        pages.append(page)
        keys += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return node["id"], keys, pages
        after = page["pageInfo"]["endCursor"]


@pytest.fixture(scope="module")
def ac3_orders(client, store) -> list[tuple[str | None, dict]]:
    """Every AC-3 work order as read by Cypher, with the history cursor of the work order before it."""
    page = lookup.asset_history(store, "AC-3", ASSET_CLASSES, 200)
    before = [None] + [lookup.history_cursor(row, page.scope) for row in page.rows]
    return list(zip(before, page.rows))


@pytest.mark.parametrize("field", WORK_ORDER_LISTS)
@pytest.mark.parametrize("first", [1, 2])
def test_work_order_list_pages_match_whole(client, ac3_orders, field, first):
    checked = 0
    for order_cursor, row in ac3_orders:
        expected = [item["id"] for item in row[field] if item]
        order, keys, pages = read_work_order_list(client, field, order_cursor, first)
        assert order == row["id"]
        assert keys == expected
        assert {page["totalCount"] for page in pages} == {len(expected)}
        assert len(pages) == max(1, -(-len(expected) // first))
        assert [page["pageInfo"]["hasNextPage"] for page in pages] == [True] * (len(pages) - 1) + [False]
        checked += len(expected) >= 2
    # Parts name one component per AC-3 work order; the other lists have work orders with two items.
    assert field == "parts" or checked > 0


def test_work_order_cursor_rejected_on_other_order(client, ac3_orders):
    with_modes = [order_cursor for order_cursor, row in ac3_orders if any(row["failureModes"])]
    first_order, second_order = with_modes[:2]
    body = graphql(client, work_order_list_query("failureModes"), order=first_order, first=1, after=None)
    cursor = body["data"]["failureHistory"]["edges"][0]["node"]["failureModes"]["edges"][0]["cursor"]
    body = graphql(client, work_order_list_query("failureModes"), order=second_order, first=1, after=cursor)
    message = body["errors"][0]["message"]
    assert "belongs to another list or to a request with other arguments" in message
    assert "after of failureModes" in message


def test_work_order_cursor_rejected_on_other_list(client, ac3_orders):
    order = next(order_cursor for order_cursor, row in ac3_orders if any(row["failureModes"]))
    body = graphql(client, work_order_list_query("failureModes"), order=order, first=1, after=None)
    cursor = body["data"]["failureHistory"]["edges"][0]["node"]["failureModes"]["edges"][0]["cursor"]
    body = graphql(client, work_order_list_query("symptoms"), order=order, first=1, after=cursor)
    assert "after of symptoms" in body["errors"][0]["message"]


@pytest.mark.parametrize("first", [0, 201])
def test_work_order_list_first_out_of_range(client, first):
    body = graphql(client, work_order_list_query("parts"), order=None, first=first, after=None)
    assert f"first of parts must be between 1 and 200, got {first}" in body["errors"][0]["message"]


def test_root_causes_rank_cooling_fan(client, store):
    result = graphql(client, ROOT_CAUSES, asset="AC-3", mode="Overheating", lang="en")["data"]["rootCauses"]
    targets = store.read("MATCH (wo:WorkOrder)-[:FOR_ASSET]->(:Equipment {name: 'AC-3'}), "
                         "(wo)-[:HAS_FAILURE_MODE]->(:FailureMode {name: 'Overheating'}) RETURN wo.id AS id")
    assert result["targetWorkOrders"] == len(targets) > 0
    ranked = candidates(result)
    top = ranked[0]
    assert top["entity"]["label"] in {"Cooling Fan", "Cooling System"}
    assert top["score"] == pytest.approx(sum(part["value"] for part in top["breakdown"]), abs=1e-5)
    scores = [candidate["score"] for candidate in ranked]
    assert scores == sorted(scores, reverse=True)
    target_ids = {row["id"] for row in targets}
    assert set(top["evidenceWorkOrders"]) <= target_ids
    assert len(top["evidenceWorkOrders"]) == round(dict((p["source"], p["value"]) for p in top["breakdown"])
                                                    ["co-occurrence"] * len(targets))
    for path in top["paths"]:
        assert path["nodes"][0] in target_ids
        assert path["relationships"] == ["INVOLVES"]


def test_root_causes_same_in_chinese(client):
    english = graphql(client, ROOT_CAUSES, asset="AC-3", mode="Overheating", lang="en")["data"]["rootCauses"]
    chinese = graphql(client, ROOT_CAUSES, asset="3号空压机", mode="过热", lang="zh")["data"]["rootCauses"]
    assert [c["entity"]["id"] for c in candidates(chinese)] == [c["entity"]["id"] for c in candidates(english)]
    assert chinese["condition"]["label"] == "过热"


ROOT_CAUSES_IN_WINDOW = """query($asset: String!, $since: String!, $until: String!) {
  rootCauses(asset: $asset, since: $since, until: $until) {
    condition { id } conditionSource targetWorkOrders candidates(first: 3) { edges { node { score } } } } }"""

MODE_COUNTS_IN_2024 = """
MATCH (wo:WorkOrder)-[:FOR_ASSET]->()-[:PART_OF*0..4]->(:Entity {id: 'equipment:sample-plant:ac-3'})
WHERE wo.date >= date('2024-01-01') AND wo.date <= date('2024-12-31')
MATCH (wo)-[:HAS_FAILURE_MODE]->(mode:FailureMode)
RETURN mode.id AS id, count(DISTINCT wo) AS orders ORDER BY orders DESC, id
"""


def test_root_causes_window_without_events_picks_mode(client, store):
    # The sample telemetry has events only in mid-2025, so 2024 gave an empty ranking without a word.
    body = graphql(client, ROOT_CAUSES_IN_WINDOW, asset="AC-3", since="2024-01-01", until="2024-12-31")
    result = body["data"]["rootCauses"]
    modes = store.read(MODE_COUNTS_IN_2024)

    assert modes
    assert result["condition"]["id"] == modes[0]["id"]
    assert result["conditionSource"] == "work orders"
    assert result["targetWorkOrders"] == modes[0]["orders"]
    assert result["candidates"]["edges"]


def test_root_causes_tied_conditions_listed(client):
    query = "query($a: String!) { rootCauses(asset: $a) { condition { id } conditionSource tiedConditions } }"
    tied = graphql(client, query, a="AC-1")["data"]["rootCauses"]
    alone = graphql(client, query, a="AC-3")["data"]["rootCauses"]

    # Pressure Low and Noise have two failure work orders each on AC-1; Pressure Low's is newer.
    assert tied["conditionSource"] == "work orders"
    assert tied["condition"]["id"] == "failure-mode:pressure-low"
    assert tied["tiedConditions"] == ["failure-mode:noise"]
    assert alone["tiedConditions"] == []


def test_root_causes_named_mode_source(client):
    body = graphql(client, ROOT_CAUSES, asset="AC-3", mode="Overheating", lang="en")
    assert body["data"]["rootCauses"]["conditionSource"] == "query"


def test_root_causes_unknown_asset_message(client):
    body = graphql(client, ROOT_CAUSES, asset="AC-99", mode="Overheating", lang="en")
    assert body["data"] is None
    message = body["errors"][0]["message"]
    assert "'AC-99'" in message
    assert "Traceback" not in str(body)


def test_invalid_language_is_rejected(client):
    body = graphql(client, '{ entity(id: "equipment:sample-plant:ac-3") { label(lang: "fr") } }')
    assert "lang must be one of en, zh" in body["errors"][0]["message"]


def test_unexpected_errors_are_masked(client, store, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    async def broken_async(*args, **kwargs):
        broken()

    monkeypatch.setattr(store, "read", broken)
    # Under the lifespan the entity lookup reads through the app's asyncio reader.
    monkeypatch.setattr(client.app.graphql_view.reader, "read", broken_async)
    body = graphql(client, '{ entity(id: "x") { id } }')
    assert body["errors"][0]["message"] == "Unexpected error."
    assert "secret internal detail" not in str(body)


@pytest.mark.parametrize("payload", ["`) MATCH (n) DETACH DELETE n //", "AC-3' OR 1=1 //", "Еquipment",
                                     "x" * 5000, "\u0000"])
def test_injection_leaves_graph_unchanged(client, store, payload):
    before = graph_checksum(store)
    graphql(client, ROOT_CAUSES, asset=payload, mode=payload, lang="en")
    body = graphql(client, "query($t: String!, $c: String!) { entities(text: $t, ofClass: $c) { totalCount } }",
                   t=payload, c=payload)
    assert body["data"] is None
    assert graph_checksum(store) == before


def test_alias_limit_rejects_query(client):
    aliases = " ".join(f'a{index}: entity(id: "x") {{ id }}' for index in range(30))
    body = graphql(client, "{ " + aliases + " }")
    assert "aliases" in body["errors"][0]["message"].lower()


def test_ontology_classes_in_both_languages(client):
    body = graphql(client, '{ ontologyClasses(first: 200) { edges { node { nodeLabel parents label(lang: "zh") '
                           'en: label definition(lang: "zh") } } } }')
    classes = {edge["node"]["nodeLabel"]: edge["node"] for edge in body["data"]["ontologyClasses"]["edges"]}
    assert classes["Equipment"]["parents"] == ["Asset"]
    assert classes["Equipment"]["label"] == "设备"
    assert classes["Equipment"]["en"] == "Equipment"
    assert all(item["label"] and item["definition"] for item in classes.values())


@pytest.mark.parametrize("field", ["ontologyClasses", "ontologyProperties"])
def test_ontology_term_pages_cover_all(client, field):
    seen, after = [], None
    while True:
        query = "query($a: String) { " + field + "(first: 7, after: $a) { totalCount edges { node { iri } } " \
                "pageInfo { hasNextPage endCursor } } }"
        page = graphql(client, query, a=after)["data"][field]
        seen.extend(edge["node"]["iri"] for edge in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == page["totalCount"]
    assert len(set(seen)) == len(seen)


def test_ontology_page_bad_cursor(client):
    body = graphql(client, '{ ontologyClasses(after: "bm90LWEtY3Vyc29y") { totalCount } }')
    assert "invalid cursor" in body["errors"][0]["message"]


def test_graphiql_page_is_served(client):
    response = client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


def test_sample_plant_hierarchy_merges(client, store):
    sites = store.read("MATCH (s:Site) WHERE s.id STARTS WITH 'site:sample-plant' RETURN s.name AS name, s.nameZh AS zh")
    assert sites == [{"name": "Suzhou Plant", "zh": "苏州工厂"}]
    lines = store.read("MATCH (l:ProductionLine)-[:PART_OF]->(:Site {name: 'Suzhou Plant'}) RETURN l.nameZh AS zh ORDER BY zh")
    assert [row["zh"] for row in lines] == ["一号机加工线", "二号装配线"]


def test_query_cost_budget_rejects(client):
    pages = " ".join(f'h{index}: failureHistory(asset: "AC-3", first: 200) {{ edges {{ node {{ id date cost }} }} }}'
                     for index in range(15))
    body = graphql(client, "{ " + pages + " }")
    assert body["data"] is None
    assert "exceeds the budget" in body["errors"][0]["message"]
    assert body["errors"][0]["extensions"] == {"code": "QueryCostError"}


def test_query_cost_counts_variables(client):
    query = "query($n: Int!) { failureHistory(asset: \"AC-3\", first: $n) { edges { node { id } } } }"
    assert "errors" not in graphql(client, query, n=200)
    body = graphql(client, "query($n: Int!) { " + " ".join(
        f'h{index}: failureHistory(asset: "AC-3", first: $n) {{ edges {{ node {{ id date }} }} }}'
        for index in range(15)) + " }", n=200)
    assert "exceeds the budget" in body["errors"][0]["message"]


def test_query_cost_counts_float_variables(client):
    """A page size sent as 200.0 used to cost the default 20 per list, so this query ran."""
    body = graphql(client, "query($n: Int!) { " + " ".join(
        f'h{index}: failureHistory(asset: "AC-3", first: $n) {{ edges {{ node {{ id date }} }} }}'
        for index in range(15)) + " }", n=200.0)
    assert body["data"] is None
    assert "exceeds the budget" in body["errors"][0]["message"]


@pytest.mark.parametrize("name", [["entity"], {"name": "entity"}])
def test_non_string_operation_name_rejected(client, name):
    """An operationName that is a JSON list or object used to fail the request with 500 Internal Server Error."""
    response = client.post("/graphql", json={"query": "query entity { __typename }", "operationName": name})
    assert response.status_code == 400
    assert "Unknown operation named" in response.text


@pytest.mark.parametrize("value", ["3", True, 2.5])
def test_invalid_variable_not_masked(client, value):
    """A variable of the wrong type used to come back as "Unexpected error." with a traceback in the log."""
    query = 'query($n: Int!) { entities(text: "pump", first: $n) { totalCount } }'
    # The valid request first, so that the invalid one also takes the prepared path.
    assert "errors" not in graphql(client, query, n=3)
    body = graphql(client, query, n=value)
    assert body["data"] is None
    message = body["errors"][0]["message"]
    assert message.startswith("Variable '$n' has invalid value")
    assert "Int cannot represent non-integer value" in message


def test_cost_counts_default_first_regression():
    """A nested connection left without `first` used to cost one item instead of its default page."""
    from graphql import parse

    from kg_service.api.limits import query_cost
    from kg_service.api.schema import build_schema

    schema = build_schema()._schema
    implicit = parse('{ rootCauses(asset: "AC-3") { candidates { edges { node { score } } } } }')
    explicit = parse('{ rootCauses(asset: "AC-3") { candidates(first: 10) { edges { node { score } } } } }')
    root = schema.query_type
    costs = [query_cost(document.definitions[0].selection_set, {}, {}, schema=schema, parent=root)
             for document in (implicit, explicit)]
    assert costs[0] == costs[1]


def test_recursive_fragments_are_rejected(client):
    query = """{ entity(id: "equipment:sample-plant:ac-3") { ...A } }
               fragment A on Entity { id ...B }
               fragment B on Entity { classes ...A }"""
    body = graphql(client, query)
    assert body["data"] is None
    assert "Cannot spread fragment" in body["errors"][0]["message"]


def test_entity_lookups_are_batched(client, store):
    keys = [row["id"] for row in store.read("MATCH (n:Equipment) RETURN n.id AS id ORDER BY id LIMIT 12")]
    aliases = " ".join(f'e{index}: entity(id: "{key}") {{ id label }}' for index, key in enumerate(keys))
    # One untimed lookup first, so that the ontology allowlist is cached and only the lookups count.
    graphql(client, f'{{ entity(id: "{keys[0]}") {{ id label }} }}')
    before = store.query_count
    body = graphql(client, "{ " + aliases + " }")
    assert [body["data"][f"e{index}"]["id"] for index in range(len(keys))] == keys
    assert store.query_count - before <= 2


ROOT_CAUSE_PAGE = """query($first: Int!, $evidence: Int!, $after: String) {
  rootCauses(asset: "AC-3", failureMode: "Overheating") {
    candidates(first: $first, after: $after) { pageInfo { endCursor } edges { node { entity { id label }
      evidenceWorkOrders(first: $evidence) { totalCount edges { node } }
      paths(first: $evidence) { edges { node { nodes } } }
      events(first: $evidence) { edges { node { id } } } } } } } }"""


def test_root_cause_pages_bounded_queries(client, store):
    # The whole ranking is computed per request, so neither the page nor the evidence page sizes add queries.
    first = graphql(client, ROOT_CAUSE_PAGE, first=2, evidence=3, after=None)["data"]["rootCauses"]["candidates"]
    before = store.query_count
    graphql(client, ROOT_CAUSE_PAGE, first=2, evidence=3, after=None)
    first_page_queries = store.query_count - before
    before = store.query_count
    second = graphql(client, ROOT_CAUSE_PAGE, first=2, evidence=3, after=first["pageInfo"]["endCursor"])
    second_page_queries = store.query_count - before
    before = store.query_count
    graphql(client, ROOT_CAUSE_PAGE, first=10, evidence=15, after=None)
    larger_page_queries = store.query_count - before
    assert second["data"]["rootCauses"]["candidates"]["edges"]
    assert second_page_queries == first_page_queries
    assert larger_page_queries == first_page_queries
    assert first_page_queries <= 15


def test_root_causes_from_failure_event(client):
    key = "failure-event:sample-plant-telemetry:ac-3:2025-06-20T14:00:00"
    query = """query($e: String!) { rootCauses(event: $e) { sources
               observedEvents { edges { node { id startTime } } }
               asset { id } condition { label } candidates(first: 3) { edges { node { entity { label } score } } } } }"""
    result = graphql(client, query, e=key)["data"]["rootCauses"]
    assert [edge["node"] for edge in result["observedEvents"]["edges"]] == [{"id": key, "startTime": "2025-06-20T14:00:00"}]
    assert result["asset"]["id"] == "equipment:sample-plant:ac-3"
    assert result["condition"]["label"] == "Overheating"
    assert "co-occurrence" in result["sources"]
    assert candidates(result)[0]["entity"]["label"] in {"Cooling System", "Cooling Fan"}


def test_ontology_properties_lists_domain_range(client):
    body = graphql(client, '{ ontologyProperties(first: 200) { edges { node { name kind domain range '
                           'label(lang: "zh") } } } }')
    properties = {edge["node"]["name"]: edge["node"] for edge in body["data"]["ontologyProperties"]["edges"]}
    assert properties["PART_OF"]["domain"] == "Asset"
    assert properties["PART_OF"]["range"] == "Asset"
    assert properties["cost"]["kind"] == "datatype"
    assert properties["cost"]["range"].endswith("#decimal")


def test_entities_long_text_rejected(client):
    body = graphql(client, "query($t: String!) { entities(text: $t) { totalCount } }", t="A" * 5000)
    message = body["errors"][0]["message"]
    assert "at most 200" in message
    assert len(message) < 200


def test_cost_counts_variable_defaults(client):
    query = "query($n: Int! = 200) { " + " ".join(
        f'h{index}: failureHistory(asset: "AC-3", first: $n) {{ edges {{ node {{ id date }} }} }}'
        for index in range(15)) + " }"
    assert "exceeds the budget" in graphql(client, query)["errors"][0]["message"]


def test_forged_history_cursor_rejected(client):
    import base64

    forged = base64.urlsafe_b64encode(b'["garbage", "x"]').decode("ascii")
    body = graphql(client, 'query($c: String) { failureHistory(asset: "P-101", after: $c) { totalCount } }', c=forged)
    assert "invalid cursor" in body["errors"][0]["message"]
    assert "Neo" not in body["errors"][0]["message"]


def test_empty_page_keeps_total(client):
    first = graphql(client, '{ entities(text: "Cooling", first: 200) { totalCount pageInfo { endCursor } } }')
    total = first["data"]["entities"]["totalCount"]
    after = first["data"]["entities"]["pageInfo"]["endCursor"]
    query = 'query($c: String) { entities(text: "Cooling", first: 200, after: $c) { totalCount edges { cursor } } }'
    empty = graphql(client, query, c=after)["data"]["entities"]
    assert empty["edges"] == []
    assert empty["totalCount"] == total
    history = 'query($c: String) { failureHistory(asset: "P-101", first: 200, after: $c) { totalCount pageInfo { endCursor } } }'
    page = graphql(client, history, c=None)["data"]["failureHistory"]
    past_end = graphql(client, history, c=page["pageInfo"]["endCursor"])["data"]["failureHistory"]
    assert past_end["totalCount"] == page["totalCount"]


def test_root_causes_offset_converted_to_utc(client):
    """Event times are stored in UTC, so a bound with Z or an offset is converted to UTC rather than rejected."""
    query = 'query($since: String) { rootCauses(asset: "AC-3", since: $since) { targetWorkOrders } }'
    naive = graphql(client, query, since="2025-06-01T00:00:00")
    assert "errors" not in naive
    for since in ("2025-06-01T00:00:00Z", "2025-06-01T08:00:00+08:00"):
        body = graphql(client, query, since=since)
        assert "errors" not in body, body
        assert body["data"] == naive["data"]


def test_root_causes_rejects_reversed_window(client):
    body = graphql(client, '{ rootCauses(asset: "AC-3", since: "2025-07-01", until: "2025-06-01") { targetWorkOrders } }')
    assert "is after until" in body["errors"][0]["message"]


WINDOWED_HISTORY = """query($since: String, $until: String, $after: String) {
  failureHistory(asset: "AC-3", first: 3, after: $after, since: $since, until: $until) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { id date } } } }"""


def test_history_window_keeps_dates_within(client):
    everything = graphql(client, WINDOWED_HISTORY.replace("first: 3", "first: 200"), since=None, until=None, after=None)
    all_dates = [edge["node"]["date"] for edge in everything["data"]["failureHistory"]["edges"]]
    expected = [day for day in all_dates if "2024-01-01" <= day <= "2024-12-31"]
    assert 0 < len(expected) < len(all_dates)

    dates, after = [], None
    while True:
        page = graphql(client, WINDOWED_HISTORY, since="2024-01-01", until="2024-12-31", after=after)
        history = page["data"]["failureHistory"]
        assert history["totalCount"] == len(expected)
        dates += [edge["node"]["date"] for edge in history["edges"]]
        if not history["pageInfo"]["hasNextPage"]:
            break
        after = history["pageInfo"]["endCursor"]
    assert dates == expected


def test_history_window_open_ended(client):
    since_only = graphql(client, WINDOWED_HISTORY.replace("first: 3", "first: 200"), since="2025-01-01", until=None,
                         after=None)["data"]["failureHistory"]
    assert since_only["edges"]
    assert all(edge["node"]["date"] >= "2025-01-01" for edge in since_only["edges"])
    assert since_only["totalCount"] == len(since_only["edges"])


@pytest.mark.parametrize(("since", "until", "message"), [
    ("2024-12-31", "2024-01-01", "since (2024-12-31) is after until (2024-01-01)"),
    ("last month", None, "since must be an ISO 8601 date such as 2024-05-01, got 'last month'"),
    (None, "2024-13-01", "until must be an ISO 8601 date"),
])
def test_history_window_invalid_bounds(client, since, until, message):
    body = graphql(client, WINDOWED_HISTORY, since=since, until=until, after=None)
    assert body["data"] is None
    assert message in body["errors"][0]["message"]


@pytest.mark.parametrize(("since", "until", "named", "shown"), [
    ("2024-03-01T10:00:00", None, "since", "2024-03-01T10:00:00"),
    (None, "2024-12-31 23:59", "until", "2024-12-31 23:59"),
    ("2024-01-01T00:00:00+08:00", "2024-12-31", "since", "2024-01-01T00:00:00+08:00"),
])
def test_history_window_date_time_rejected(client, since, until, named, shown):
    """A date-time in since or until used to be cut to its date, which silently changed the window."""
    body = graphql(client, WINDOWED_HISTORY, since=since, until=until, after=None)
    assert body["data"] is None
    message = body["errors"][0]["message"]
    assert message.startswith(f"{named} must be a date (YYYY-MM-DD), got the date-time '{shown}'")
    assert f"such as {shown[:10]}" in message


def test_history_cursor_other_asset_rejected(client):
    """A failureHistory cursor of AC-3 used to page P-101's history or another window without an error."""
    query = """query($asset: String!, $since: String, $after: String) {
      failureHistory(asset: $asset, first: 2, since: $since, after: $after) { pageInfo { endCursor } } }"""
    first_page = graphql(client, query, asset="AC-3", since=None, after=None)["data"]["failureHistory"]
    cursor = first_page["pageInfo"]["endCursor"]
    assert "errors" not in graphql(client, query, asset="AC-3", since=None, after=cursor)
    for asset, since in (("P-101", None), ("AC-3", "2025-01-01")):
        body = graphql(client, query, asset=asset, since=since, after=cursor)
        assert body["data"] is None
        assert "belongs to another asset, failures-only filter or date window" in body["errors"][0]["message"]


def test_work_order_lists_page_alone(client, ac3_orders):
    """Paging one work order's list inside a history page failed the whole request on the other work orders."""
    _, row = next((cursor, row) for cursor, row in ac3_orders if len([item for item in row["failureModes"] if item]) >= 2)
    query = """query($id: ID!, $after: String) { workOrder(id: $id) { id
      failureModes(first: 1, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { id } } } } }"""
    keys, after = [], None
    while True:
        order = graphql(client, query, id=row["id"], after=after)["data"]["workOrder"]
        assert order["id"] == row["id"]
        keys += [edge["node"]["id"] for edge in order["failureModes"]["edges"]]
        if not order["failureModes"]["pageInfo"]["hasNextPage"]:
            break
        after = order["failureModes"]["pageInfo"]["endCursor"]
    assert keys == [item["id"] for item in row["failureModes"] if item]
    assert graphql(client, query, id="workorder:no-such-order", after=None)["data"]["workOrder"] is None
