"""Ontology editing, shapes and design-constraint messages: what a first-user trial found, against the real Neo4j."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from kg_service.api.app import create_app
from kg_service.errors import NotFoundError, OntologyConflictError, OntologyError, UnknownTermError
from kg_service.graph.checksum import graph_checksum
from kg_service.ingest import load_ontologies
from kg_service.ontology.editing import SHAPES_ONTOLOGY_IRI, OntologyEditor
from kg_service.ontology.model import KG, KG_ONTOLOGY_IRI
from kg_service.reasoning.design import DesignInput, PartChoice, Quantity, check_design, design_constraints
from loaders.rdf_instances import load_rdf_instances
from tests.conftest import CORE_ONTOLOGY, SAMPLE_DIR, wipe

pytestmark = pytest.mark.neo4j

WHO = {"why": "trial", "author": "tester"}
FEEDS = ({"en": "feeds into", "zh": "供给"}, {"en": "Passes its output on.", "zh": "将输出传给下游。"})
RATED_POWER = ({"en": "rated power", "zh": "额定功率"}, {"en": "Nameplate power in kW.", "zh": "铭牌功率，单位 kW。"})
TURBINE = ({"en": "Turbine", "zh": "涡轮机"}, {"en": "Turns flow into shaft power.", "zh": "将流体能量转为轴功。"})
LONG_VALUE = "x" * 5000
UNKNOWN_IRI = "http://example.org/not-loaded"
PRODUCT = "product:sample-plant:ac-3-cooling-module"
BEARING = "part:sample-plant:fan-bearing-6204"
TEMPLATE_VARIABLE = re.compile(r"\{[?$]\w+\}")


@pytest.fixture
def editor(core_graph) -> OntologyEditor:
    """The core ontology with the feedsInto and ratedPower properties of docs/ontology-editing.md added."""
    editor = OntologyEditor(core_graph)
    editor.add_property("feedsInto", "object", "Equipment", "Equipment", *FEEDS, **WHO)
    editor.add_property("ratedPower", "datatype", "Equipment", "xsd:decimal", *RATED_POWER, **WHO)
    return editor


def admin_client(store, settings) -> TestClient:
    return TestClient(create_app(settings.model_copy(update={"anonymous_role": "admin"}), store))


def stored_types(store) -> list[str]:
    rows = store.read("MATCH (p:OntologyProperty) WHERE p.relationshipType IS NOT NULL "
                      "RETURN p.relationshipType AS type ORDER BY type")
    return [row["type"] for row in rows]


# 1. A relationship type may not differ only by case from a label, property name or relationship type.

@pytest.mark.parametrize("relationship_type, clash", [("has_symptom", "'HAS_SYMPTOM'"),
                                                      ("Has_Symptom", "'HAS_SYMPTOM'"),
                                                      ("ratedpower", "'ratedPower'"),
                                                      ("Entity", "node label of")])
@pytest.mark.parametrize("preview", [True, False])
def test_rename_type_case_variant_rejected(editor, relationship_type, clash, preview):
    before = graph_checksum(editor.store), stored_types(editor.store)
    with pytest.raises(OntologyError) as error:
        editor.rename_term("feedsInto", "feedsTo", relationship_type=relationship_type, migrate=True,
                           preview=preview, **WHO)
    message = str(error.value)
    assert f"relationship type {relationship_type!r}" in message
    assert clash in message
    assert (graph_checksum(editor.store), stored_types(editor.store)) == before


def test_graphql_rename_type_case_variant_rejected(editor, settings):
    query = ('mutation { renameTerm(term: "feedsInto", newName: "feedsTo", relationshipType: "has_symptom", '
             'migrate: true, why: "trial", author: "li.wei") { applied } }')
    with admin_client(editor.store, settings) as client:
        body = client.post("/graphql", json={"query": query}).json()
        properties = client.post("/graphql", json={"query": "{ ontologyProperties(first: 200) { edges { node { "
                                                             "name } } } }"}).json()
    names = [edge["node"]["name"] for edge in properties["data"]["ontologyProperties"]["edges"]]
    assert body["data"] is None
    assert "differs only by case from the relationship type 'HAS_SYMPTOM'" in body["errors"][0]["message"]
    assert "HAS_SYMPTOM" in names
    assert "has_symptom" not in names


def test_add_property_type_case_variant_rejected(editor):
    editor.add_property("max_load", "datatype", "Equipment", "xsd:decimal",
                        {"en": "maximum load", "zh": "最大载荷"}, {"en": "Load limit in N.", "zh": "载荷上限，单位 N。"},
                        **WHO)
    with pytest.raises(OntologyError, match="relationship type 'MAX_LOAD' differs only by case from the property "
                                            "name 'max_load'"):
        editor.add_property("maxLoad", "object", "Equipment", "Equipment", {"en": "loads", "zh": "加载"},
                            {"en": "Puts load on.", "zh": "施加载荷。"}, preview=True, **WHO)


def test_case_variant_name_of_type_rejected(editor):
    with pytest.raises(OntologyError, match="differs only by case from 'FEEDS_INTO'"):
        editor.add_property("feeds_into", "datatype", "Equipment", "xsd:string", {"en": "feed", "zh": "进料"},
                            {"en": "What it feeds.", "zh": "供给的内容。"}, preview=True, **WHO)


def test_rename_preview_names_new_type(editor):
    explicit = editor.rename_term("feedsInto", "feedsTo", relationship_type="FLOWS_TO", preview=True, **WHO)
    derived = editor.rename_term("feedsInto", "feedsTo", preview=True, **WHO)
    kept = editor.rename_term("feedsInto", "feedsTo", relationship_type="FEEDS_INTO", preview=True, **WHO)
    assert "relationship type FEEDS_INTO becomes FLOWS_TO" in explicit.impact.description
    assert "relationship type FEEDS_INTO becomes FEEDS_TO" in derived.impact.description
    assert "relationship type FEEDS_INTO stays" in kept.impact.description


def test_own_type_case_change_allowed(editor):
    result = editor.rename_term("feedsInto", "feedsTo", relationship_type="Feeds_Into", **WHO)
    assert result.applied
    assert "Feeds_Into" in stored_types(editor.store)
    assert "FEEDS_INTO" not in stored_types(editor.store)


# 2. A rename to the current name changes nothing, and its description states why.

def test_rename_to_same_name_explained(editor):
    versions = editor.version()
    result = editor.rename_term("Sensor", "Sensor", **WHO)
    assert result.applied is False
    assert result.version is None
    assert "new name 'Sensor' equals the current name" in result.impact.description
    assert "nothing would change" in result.impact.description
    assert "already used" not in result.impact.description
    assert editor.version() == versions


def test_rename_type_only_under_same_name(editor):
    result = editor.rename_term("feedsInto", "feedsInto", relationship_type="FLOWS_TO", **WHO)
    assert result.applied
    assert result.term == str(KG.feedsInto)
    assert "FLOWS_TO" in stored_types(editor.store)
    assert result.inverse["arguments"]["relationship_type"] == "FEEDS_INTO"


# 3. A concurrent-edit conflict has its own error class and GraphQL code.

@pytest.fixture
def interleaved_edit(monkeypatch):
    """Apply another editor's change right after the next edit is validated, as a second client would."""
    validate = OntologyEditor._validate
    versions: list[int] = []
    started: list[bool] = []

    def validate_then_edit(self, model, term):
        validate(self, model, term)
        # The other editor's own validation passes through here too, so it starts only once.
        if not started:
            started.append(True)
            versions.append(OntologyEditor(self.store).relabel_term("Sensor", {"en": "Sensing device"},
                                                                    why="other editor", author="other").version)

    monkeypatch.setattr(OntologyEditor, "_validate", validate_then_edit)
    return versions


def test_concurrent_edit_conflict_own_class(core_graph, interleaved_edit):
    editor = OntologyEditor(core_graph)
    with pytest.raises(OntologyConflictError) as error:
        editor.add_class("Turbine", "Equipment", *TURBINE, **WHO)
    assert isinstance(error.value, OntologyError)
    assert "run the edit again" in str(error.value)
    assert interleaved_edit == [1]
    assert editor.add_class("Turbine", "Equipment", *TURBINE, **WHO).version == 2


def test_graphql_conflict_code(core_graph, settings, interleaved_edit):
    mutation = ('mutation { addClass(name: "Turbine", parent: "Equipment", labelEn: "Turbine", labelZh: "涡轮机", '
                'definitionEn: "Turns flow into shaft power.", definitionZh: "将流体能量转为轴功。", why: "trial", '
                'author: "li.wei") { applied version } }')
    with admin_client(core_graph, settings) as client:
        conflict = client.post("/graphql", json={"query": mutation}).json()
        retry = client.post("/graphql", json={"query": mutation}).json()
    assert conflict["errors"][0]["extensions"]["code"] == "OntologyConflictError"
    assert retry["data"]["addClass"] == {"applied": True, "version": 2}


def test_validation_error_code_unchanged(core_graph, settings):
    mutation = 'mutation { renameTerm(term: "Sensor", newName: "9x", why: "trial", author: "li.wei") { applied } }'
    with admin_client(core_graph, settings) as client:
        body = client.post("/graphql", json={"query": mutation}).json()
    assert body["errors"][0]["extensions"]["code"] == "OntologyError"


# 4. A Turtle syntax error points into the caller's text.

@pytest.mark.parametrize("turtle, line, column, context", [
    ("this is not turtle", 1, 1, '"^this is not turtle"'),
    ("kgsh:A a sh:NodeShape ;\n  sh:targetClass kg:Pump ;\n  sh:path [ oops .\n", 3, 13, '"sh:path [ ^oops ."'),
    ("kgsh:轴承 a sh:NodeShape ; sh:targetClass foo:Pump .", 1, 41, "^foo:Pump ."),
])
def test_shape_syntax_error_user_line(core_graph, turtle, line, column, context):
    with pytest.raises(OntologyError) as error:
        OntologyEditor(core_graph).upsert_shape(turtle, preview=True, **WHO)
    message = str(error.value)
    assert f"line {line}, column {column}:" in message
    assert context in message
    assert "b'" not in message
    assert "@prefix" not in message
    assert "line 7" not in message


# 5. An unknown ontology IRI lists the stored ones. The shapes graph before any shape edit gets its own reason.

def test_unknown_ontology_lists_stored(core_graph):
    with pytest.raises(NotFoundError) as error:
        OntologyEditor(core_graph, UNKNOWN_IRI).relabel_term("Sensor", {"en": "Sensing device"}, **WHO)
    message = str(error.value)
    assert f"'{UNKNOWN_IRI}' is not stored in Neo4j" in message
    assert f"stored: {KG_ONTOLOGY_IRI}" in message


def test_unknown_ontology_many_stored_counted(core_graph):
    core_graph.write("UNWIND range(1, 7) AS n CREATE (:Ontology {iri: 'http://example.org/o' + n})")
    with pytest.raises(NotFoundError) as error:
        OntologyEditor(core_graph, UNKNOWN_IRI).version()
    message = str(error.value)
    assert "8 are stored, the first 5: http://example.org/o1, " in message
    assert KG_ONTOLOGY_IRI not in message


def test_graphql_unknown_ontology_lists_stored(core_graph, settings):
    query = f'{{ ontologyChanges(ontology: "{UNKNOWN_IRI}") {{ totalCount }} }}'
    with admin_client(core_graph, settings) as client:
        body = client.post("/graphql", json={"query": query}).json()
    assert f"stored: {KG_ONTOLOGY_IRI}" in body["errors"][0]["message"]
    assert body["errors"][0]["extensions"]["code"] == "NotFoundError"


def test_shapes_history_before_edit_explained(core_graph, settings):
    query = f'{{ ontologyVersion(ontology: "{SHAPES_ONTOLOGY_IRI}") {{ changeVersion }} }}'
    with admin_client(core_graph, settings) as client:
        body = client.post("/graphql", json={"query": query}).json()
    message = body["errors"][0]["message"]
    assert "no shape has been edited or loaded yet" in message
    assert "load it first" not in message


# 6. Long values are shortened in error messages.

@pytest.mark.parametrize("kind", ["object", "datatype"])
def test_long_range_truncated(core_graph, kind):
    with pytest.raises(OntologyError) as error:
        OntologyEditor(core_graph).add_property("ratedPower", kind, "Equipment", LONG_VALUE, *RATED_POWER,
                                                preview=True, **WHO)
    message = str(error.value)
    assert "(5002 characters)" in message
    assert len(message) < 600


def test_long_ontology_truncated(core_graph, settings):
    query = "query($iri: String) { ontologyVersion(ontology: $iri) { changeVersion } }"
    with admin_client(core_graph, settings) as client:
        body = client.post("/graphql", json={"query": query, "variables": {"iri": LONG_VALUE}}).json()
    message = body["errors"][0]["message"]
    assert "(5002 characters)" in message
    assert len(message) < 600


# 7. Look-alike class names get a suggestion in read arguments, as in the mutations.

@pytest.mark.parametrize("name", ["equipment", "Еquipment", "Ｅｑｕｉｐｍｅｎｔ"])
def test_of_class_look_alike_suggested(core_graph, settings, name):
    query = "query($cls: String) { entities(text: \"AC\", ofClass: $cls) { totalCount } }"
    with TestClient(create_app(settings, core_graph)) as client:
        body = client.post("/graphql", json={"query": query, "variables": {"cls": name}}).json()
    message = body["errors"][0]["message"]
    assert "did you mean 'Equipment'?" in message
    assert body["errors"][0]["extensions"]["code"] == "UnknownTermError"


@pytest.mark.parametrize("name", ["equipment", "Еquipment", "Ｅｑｕｉｐｍｅｎｔ"])
def test_mutation_look_alike_suggested(core_graph, name):
    with pytest.raises(UnknownTermError, match="did you mean 'Equipment'\\?"):
        OntologyEditor(core_graph).add_class("Turbine", name, *TURBINE, preview=True, **WHO)


def test_of_class_unrelated_name_unchanged(core_graph, settings):
    query = '{ entities(text: "AC", ofClass: "Zeppelin") { totalCount } }'
    with TestClient(create_app(settings, core_graph)) as client:
        body = client.post("/graphql", json={"query": query}).json()
    message = body["errors"][0]["message"]
    assert "load an ontology that declares it" in message
    assert "did you mean" not in message


# 8. Listed constraints describe template variables in words; validation reports fill them in.

@pytest.fixture
def designs(store, settings):
    wipe(store)
    load_ontologies(store, [CORE_ONTOLOGY])
    load_rdf_instances(store, settings, SAMPLE_DIR / "designs.ttl")
    return store


@pytest.mark.parametrize("lang, bearing_rule", [
    ("en", "The bearing … is rated for … N and … rpm"),
    ("zh", "轴承 … 的额定值为 … N 和 … rpm"),
])
def test_listed_rules_without_template_variables(designs, lang, bearing_rule):
    result = design_constraints(designs, PRODUCT, lang=lang)
    messages = [rule.message for item in result.constraints for rule in item.rules]
    assert messages
    assert [message for message in messages if TEMPLATE_VARIABLE.search(message)] == []
    assert any(message.startswith(bearing_rule) for message in messages)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_report_still_fills_template_values(designs, lang):
    weak = [PartChoice(part=BEARING, rated_load=Quantity(value=4.5, unit="kN"))]
    design = DesignInput(name="rev B", product=PRODUCT, materials=["EN AC-43000"], parts=weak)
    report = check_design(designs, design, lang=lang)
    bearing = [item.message for item in report.violations if item.source_shape.endswith("CoolingModuleBearingShape")]
    assert len(bearing) == 1
    assert "4500.0 N" in bearing[0]
    assert "…" not in bearing[0]
    assert not TEMPLATE_VARIABLE.search(bearing[0])
