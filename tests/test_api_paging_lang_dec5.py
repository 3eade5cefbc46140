"""Cursors tied to their list, `lang` arguments, date bounds and messages of the GraphQL API on the sample plant."""

from __future__ import annotations

import base64
import re

import pytest
from graphql import parse, validate
from starlette.testclient import TestClient

from kg_service.api.app import create_app
from kg_service.api.schema import build_schema
from kg_service.graph.records import GraphBatch
from kg_service.graph.writer import BatchedWriter
from kg_service.ontology.schema import GraphSchema
from tests.conftest import ROOT, graphql, load_sample_plant

pytestmark = pytest.mark.neo4j

TERMS = """query($first: Int!, $after: String) {
  ontologyClasses(first: $first, after: $after) { pageInfo { endCursor } edges { node { iri } } }
}"""

PROPERTIES = """query($first: Int!, $after: String) {
  ontologyProperties(first: $first, after: $after) { pageInfo { endCursor } edges { node { iri } } }
}"""

ENTITIES = """query($text: String!, $lang: String! = "en", $first: Int! = 2, $after: String) {
  entities(text: $text, lang: $lang, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { id label } } }
}"""

KPIS = """query($first: Int!, $after: String) {
  supplierKpis(first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { supplier { id } } } }
}"""

CANDIDATES = """query($after: String) {
  rootCauses(asset: "AC-3", failureMode: "Overheating") { candidates(first: 2, after: $after) { totalCount } }
}"""

HISTORY = """query($since: String, $after: String) {
  failureHistory(asset: "AC-3", first: 200, since: $since, after: $after) { totalCount edges { node { date } } }
}"""

CITATIONS = """query($question: String!, $lang: String) {
  ask(question: $question, lang: $lang) {
    lang citations(first: 20) { edges { node { id label en: label(lang: "en") zh: label(lang: "zh") } } } }
}"""

CONSTRAINTS = """query($lang: String! = "en") {
  designConstraints(target: "AC-3-CM", lang: $lang) {
    constraints(first: 50) { edges { node { constraint kind label en: label(lang: "en") zh: label(lang: "ZH") } } } }
}"""

# A cursor of 133,000 characters that decodes to a list with one very long key.
LONG_CURSOR = base64.b64encode(('["' + 100_000 * "x" + '"]').encode("utf-8")).decode("ascii")


@pytest.fixture(scope="module")
def api(store, settings):
    load_sample_plant(store, settings)
    with TestClient(create_app(settings, store)) as test_client:
        yield test_client


def error_message(body: dict) -> str:
    assert body.get("errors"), body
    return body["errors"][0]["message"]


# Key-paged cursors name their list and its arguments

def test_property_cursor_rejected_by_classes(api):
    """A cursor of ontologyProperties used to give ontologyClasses an empty page without an error."""
    cursor = graphql(api, PROPERTIES, first=2)["data"]["ontologyProperties"]["pageInfo"]["endCursor"]
    message = error_message(graphql(api, TERMS, first=2, after=cursor))
    assert "in after of ontologyClasses belongs to another list or to a request with other arguments" in message
    assert "restart from the first page (omit after)" in message


def test_class_cursor_rejected_by_properties(api):
    """A cursor of ontologyClasses used to give ontologyProperties a page from an arbitrary point."""
    cursor = graphql(api, TERMS, first=2)["data"]["ontologyClasses"]["pageInfo"]["endCursor"]
    message = error_message(graphql(api, PROPERTIES, first=2, after=cursor))
    assert "in after of ontologyProperties belongs to another list" in message
    assert "restart from the first page" in message


def test_term_cursor_pages_own_list(api):
    whole = [edge["node"]["iri"] for edge in graphql(api, TERMS, first=200)["data"]["ontologyClasses"]["edges"]]
    first_page = graphql(api, TERMS, first=2)["data"]["ontologyClasses"]
    second_page = graphql(api, TERMS, first=2, after=first_page["pageInfo"]["endCursor"])["data"]["ontologyClasses"]
    assert [edge["node"]["iri"] for edge in second_page["edges"]] == whole[2:4]


def test_entities_cursor_rejected_for_other_text(api):
    """An entities cursor of text "a" used to return a page of other entities for text "o"."""
    cursor = graphql(api, ENTITIES, text="a")["data"]["entities"]["pageInfo"]["endCursor"]
    message = error_message(graphql(api, ENTITIES, text="o", after=cursor))
    assert "in after of entities belongs to another list or to a request with other arguments" in message
    assert "restart from the first page" in message


def test_entities_cursor_rejected_by_other_list(api):
    cursor = graphql(api, ENTITIES, text="a")["data"]["entities"]["pageInfo"]["endCursor"]
    assert "belongs to another list" in error_message(graphql(api, TERMS, first=2, after=cursor))
    assert "belongs to another list" in error_message(graphql(api, KPIS, first=2, after=cursor))
    assert "belongs to another list" in error_message(graphql(api, CANDIDATES, after=cursor))


def test_entities_cursor_kept_across_lang(api):
    """`lang` changes only the labels, so a cursor stays valid with another lang."""
    whole = graphql(api, ENTITIES, text="a", first=200)["data"]["entities"]["edges"]
    cursor = graphql(api, ENTITIES, text="a")["data"]["entities"]["pageInfo"]["endCursor"]
    page = graphql(api, ENTITIES, text="a", lang="zh", after=cursor)["data"]["entities"]
    assert [edge["node"]["id"] for edge in page["edges"]] == [edge["node"]["id"] for edge in whole[2:4]]


@pytest.mark.parametrize(("query", "field"), [(ENTITIES, "entities"), (TERMS, "ontologyClasses"),
                                              (KPIS, "supplierKpis"), (CANDIDATES, "candidates"),
                                              (HISTORY, "after")])
def test_forged_long_cursor_rejected(api, query, field):
    """A forged cursor of 100,000 characters used to give entities an empty page without an error."""
    message = error_message(graphql(api, query, text="a", first=2, after=LONG_CURSOR))
    assert message.startswith("invalid cursor")
    assert "cursors of this API have at most 4096 characters" in message
    assert f"in {field}" in message or f"of {field}" in message


def test_supplier_kpi_cursor_pages_all(api):
    whole = graphql(api, KPIS, first=200)["data"]["supplierKpis"]
    ids, after = [], None
    while True:
        page = graphql(api, KPIS, first=1, after=after)["data"]["supplierKpis"]
        ids += [edge["node"]["supplier"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert whole["totalCount"] >= 2
    assert ids == [edge["node"]["supplier"]["id"] for edge in whole["edges"]]


def test_position_cursor_says_restart(api):
    cursor = graphql(api, TERMS, first=2)["data"]["ontologyClasses"]["pageInfo"]["endCursor"]
    message = error_message(graphql(api, CANDIDATES, after=cursor))
    assert "in after of candidates belongs to another list" in message
    assert "restart from the first page (omit after)" in message


# Every label field takes lang

def test_citation_labels_in_answer_language(api):
    """A Chinese answer used to cite "Air Compressor 3" and "Overheating" in English."""
    body = graphql(api, CITATIONS, question="为什么3号空压机停机？", lang=None)
    answer = body["data"]["ask"]
    labels = {edge["node"]["id"]: edge["node"] for edge in answer["citations"]["edges"]}
    assert answer["lang"] == "zh"
    assert labels["equipment:sample-plant:ac-3"]["label"] == "3号空压机"
    assert labels["equipment:sample-plant:ac-3"]["en"] == "Air Compressor 3"
    assert labels["failure-mode:overheating"]["label"] == "过热"
    assert labels["failure-mode:overheating"]["en"] == "Overheating"


def test_citation_labels_english_answer(api):
    body = graphql(api, CITATIONS, question="Why does Air Compressor 3 overheat?", lang=None)
    labels = {edge["node"]["id"]: edge["node"] for edge in body["data"]["ask"]["citations"]["edges"]}
    assert labels["equipment:sample-plant:ac-3"]["label"] == "Air Compressor 3"
    assert labels["equipment:sample-plant:ac-3"]["zh"] == "3号空压机"


def test_constraint_label_takes_lang(api):
    """AppliedDesignConstraint.label took no lang, so its language was fixed by designConstraints."""
    english = graphql(api, CONSTRAINTS)["data"]["designConstraints"]["constraints"]["edges"]
    chinese = graphql(api, CONSTRAINTS, lang="zh")["data"]["designConstraints"]["constraints"]["edges"]
    shape = next(edge["node"] for edge in english if edge["node"]["kind"] == "shape")
    stored = next(edge["node"] for edge in english if edge["node"]["kind"] != "shape")
    for node in (shape, stored):
        assert node["label"] == node["en"]
        assert node["zh"] != node["en"]
        assert re.search(r"[\u4e00-\u9fff]", node["zh"])
    assert [edge["node"]["label"] for edge in chinese] == [edge["node"]["zh"] for edge in english]


# One rule for every lang argument

@pytest.mark.parametrize("query", [
    '{ entity(id: "equipment:sample-plant:ac-3") { label(lang: "%s") } }',
    '{ entities(text: "AC-3", lang: "%s", first: 1) { edges { node { label } } } }',
    '{ ontologyClasses(first: 1) { edges { node { label(lang: "%s") } } } }',
    '{ designConstraints(target: "AC-3-CM", lang: "%s") { constraints(first: 1) { totalCount } } }',
    '{ ask(question: "Why does AC-3 overheat?", lang: "%s") { lang } }',
])
def test_lang_any_case_accepted(api, query):
    """label(lang: "ZH") was rejected while ask(lang: "ZH") was accepted."""
    for lang in ("ZH", "zh", "Zh", "zh-CN"):
        body = graphql(api, query % lang)
        assert "errors" not in body, body
    message = error_message(graphql(api, query % "fr"))
    assert message.startswith("lang must be one of en, zh, got 'fr'")


def test_lang_upper_case_gives_chinese(api):
    body = graphql(api, '{ entity(id: "equipment:sample-plant:ac-3") { label(lang: "ZH") } '
                        'ask(question: "Why does AC-3 overheat?", lang: "ZH") { lang } }')
    assert body["data"]["entity"]["label"] == "3号空压机"
    assert body["data"]["ask"]["lang"] == "zh"


# Dates with Z or an offset

@pytest.mark.parametrize("since", ["2024-01-01T00:00:00Z", "2024-01-01T00:00:00z", "2024-01-01T00:00:00+00:00",
                                   "2024-01-01T08:00:00+08:00", "2023-12-31T19:00:00-05:00"])
def test_history_since_with_offset_accepted(api, since):
    """failureHistory(since: "2024-01-01T00:00:00Z") was rejected although it is midnight."""
    expected = graphql(api, HISTORY, since="2024-01-01")["data"]["failureHistory"]
    body = graphql(api, HISTORY, since=since)
    assert "errors" not in body, body
    assert body["data"]["failureHistory"] == expected
    assert 0 < expected["totalCount"]


def test_history_since_local_midnight_explained(api):
    message = error_message(graphql(api, HISTORY, since="2024-01-01T00:00:00+08:00"))
    assert "which is 2023-12-31T16:00:00 in UTC" in message
    assert "such as 2024-01-01, or midnight UTC such as 2024-01-01T00:00:00Z" in message


@pytest.mark.parametrize("since", ["2024-13-01T00:00:00Z", "2024-01-01T00:00:00+25:00", "soon"])
def test_history_since_invalid_shows_example(api, since):
    message = error_message(graphql(api, HISTORY, since=since))
    assert message.startswith(f"since must be an ISO 8601 date such as 2024-05-01, got '{since}'")
    assert "2024-05-01T00:00:00Z also works" in message


# entities matches names in every language, and lang picks the label

def test_entities_chinese_text_with_english_lang(api):
    """entities(text: "冷却", lang: "en") used to match nothing, because it matched English names only."""
    page = graphql(api, ENTITIES, text="冷却", lang="en", first=200)["data"]["entities"]
    labels = {edge["node"]["id"]: edge["node"]["label"] for edge in page["edges"]}
    assert labels["system:sample-plant:ac-3/cooling-system"] == "Cooling System"
    assert page["totalCount"] == len(labels)


def test_entities_match_same_across_lang(api):
    """entities(text: "Cooling", lang: "zh") matched by English names while a Chinese text in en matched none."""
    english = graphql(api, ENTITIES, text="Cooling", lang="en", first=200)["data"]["entities"]
    chinese = graphql(api, ENTITIES, text="Cooling", lang="zh", first=200)["data"]["entities"]
    assert [edge["node"]["id"] for edge in english["edges"]] == [edge["node"]["id"] for edge in chinese["edges"]]
    labels = {edge["node"]["id"]: edge["node"]["label"] for edge in chinese["edges"]}
    assert labels["system:sample-plant:ac-3/cooling-system"] == "冷却系统"
    assert english["totalCount"] > 0


def test_entities_text_ignores_case(api):
    lower = graphql(api, ENTITIES, text="cooling", first=200)["data"]["entities"]
    upper = graphql(api, ENTITIES, text="COOLING", first=200)["data"]["entities"]
    assert lower["totalCount"] == upper["totalCount"] > 0


# The GraphQL examples of docs/extraction.md

def test_extraction_doc_examples_valid():
    """docs/extraction.md had one block with two anonymous operations, which GraphQL rejects."""
    text = (ROOT / "docs" / "extraction.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```graphql\n(.*?)```", text, flags=re.DOTALL)
    schema = build_schema()._schema
    assert len(blocks) >= 2
    for block in blocks:
        assert validate(schema, parse(block)) == [], block


# The message for a ranking without a filter does not suggest dropping one. This test deletes the suppliers
# and loads the sample plant again at its end, so later tests of the module see the whole plant.

def test_no_supplier_message_without_filter(api, store, settings):
    """The message for rankSuppliers without a part filter suggested to "rank without the part filter"."""
    try:
        _check_no_supplier_messages(api, store)
    finally:
        load_sample_plant(store, settings)


def _check_no_supplier_messages(api, store) -> None:
    store.write("MATCH (n:Supplier) DETACH DELETE n")
    query = '{ rankSuppliers(criteria: [{name: "onTimeRate", weight: 1}]%s) { method } }'
    message = error_message(graphql(api, query % ""))
    assert message.startswith("the graph has no supplier; a supplier is linked to a part by Part -SUPPLIED_BY-> "
                              "Supplier")
    assert message.endswith("Load one")
    assert "filter" not in message

    batch = GraphBatch()
    batch.add_node("Part", "part:test:unsupplied-seal", name="Unsupplied Seal")
    BatchedWriter(store, GraphSchema.from_store(store)).write(batch.nodes.values(), batch.relationships.values())
    with_part = error_message(graphql(api, query % ', part: "Unsupplied Seal"'))
    assert with_part.startswith("part 'Unsupplied Seal' has no supplier in the graph")
    assert with_part.endswith("Load one, or rank without the part filter")
