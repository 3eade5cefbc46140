"""Unit tests for Cypher identifier quoting, name derivation and the ontology allowlist (no Neo4j)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import OWL, RDF, RDFS, SKOS

from kg_service.errors import UnknownTermError
from kg_service.graph.identifiers import MAX_IDENTIFIER_LENGTH, check_identifier, quote, quote_labels
from kg_service.ontology.model import KG, OntologyModel, local_name, relationship_type_for
from kg_service.ontology.parsing import parse_ontology_file
from kg_service.ontology.schema import GraphSchema

CORE_ONTOLOGY = Path(__file__).resolve().parent.parent / "ontology" / "kg-core.ttl"
CJK = re.compile(r"[\u3400-\u9fff]")
UPPER_SNAKE = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$")


@pytest.fixture(scope="module")
def core_rdf() -> Graph:
    return parse_ontology_file(CORE_ONTOLOGY)


@pytest.fixture(scope="module")
def core_schema(core_rdf: Graph) -> GraphSchema:
    return GraphSchema.from_models([OntologyModel.from_graph(core_rdf)])


# quote and check_identifier

def test_quote_plain_name():
    assert quote("Equipment") == "`Equipment`"


@pytest.mark.parametrize(("name", "quoted"), [
    ("a`b", "`a``b`"),
    ("`", "````"),
    ("``", "``````"),
    ("Foo`) MATCH (n) DETACH DELETE n //", "`Foo``) MATCH (n) DETACH DELETE n //`"),
])
def test_quote_doubles_backticks(name, quoted):
    assert quote(name) == quoted


@pytest.mark.parametrize("name", ["泵", "Heat-Exchanger", "rated power", "Pump.Valve", "Équipement"])
def test_quote_keeps_other_characters(name):
    assert quote(name) == f"`{name}`"


def test_quote_rejects_empty():
    with pytest.raises(UnknownTermError, match="non-empty"):
        quote("")


def test_quote_rejects_non_string():
    with pytest.raises(UnknownTermError, match="non-empty string"):
        quote(None)  # type: ignore[arg-type]


def test_quote_accepts_max_length():
    name = "A" * MAX_IDENTIFIER_LENGTH
    assert quote(name) == f"`{name}`"


def test_quote_rejects_over_long():
    name = "A" * (MAX_IDENTIFIER_LENGTH + 1)
    with pytest.raises(UnknownTermError, match=f"{MAX_IDENTIFIER_LENGTH + 1} characters long"):
        quote(name)


@pytest.mark.parametrize("char", ["\x00", "\t", "\n", "\r", "\x1b", "\x7f", "\x85"])
def test_quote_rejects_control_characters(char):
    with pytest.raises(UnknownTermError, match="control"):
        quote(f"Pump{char}Valve")


@pytest.mark.parametrize("char", ["\ue000", "\U000e0080", "\ud800"])
def test_quote_rejects_unassigned_private_surrogate(char):
    with pytest.raises(UnknownTermError):
        quote(f"Pump{char}")


def test_quote_uses_kind_in_message():
    with pytest.raises(UnknownTermError, match="^relationship type must be"):
        quote("", "relationship type")


def test_quote_rejects_unicode_escape():
    with pytest.raises(UnknownTermError):
        quote("Tank\\u0060) MATCH (n) DETACH DELETE n //")


def test_check_identifier_returns_name():
    assert check_identifier("Equipment", "label") == "Equipment"


def test_quote_labels_quotes_each():
    assert quote_labels(["Entity", "a`b", "泵"]) == ":`Entity`:`a``b`:`泵`"


def test_quote_labels_rejects_empty_label():
    with pytest.raises(UnknownTermError, match="^label must be"):
        quote_labels(["Entity", ""])


# relationship_type_for and local_name

@pytest.mark.parametrize(("name", "expected"), [
    ("partOf", "PART_OF"),
    ("hasSensor", "HAS_SENSOR"),
    ("instanceOfPart", "INSTANCE_OF_PART"),
    ("hasURL", "HAS_URL"),
    ("feeds-into", "FEEDS_INTO"),
    ("feeds into", "FEEDS_INTO"),
    ("has2Parts", "HAS2_PARTS"),
    ("PART_OF", "PART_OF"),
    ("连接", "连接"),
])
def test_relationship_type_for_cases(name, expected):
    assert relationship_type_for(name) == expected


@pytest.mark.parametrize(("iri", "expected"), [
    ("https://w3id.org/kg-service/ontology#Equipment", "Equipment"),
    ("https://spec.industrialontologies.org/ontology/construct/PieceOfEquipment", "PieceOfEquipment"),
    ("http://example.org/a/b#c", "c"),
    ("http://purl.obolibrary.org/obo/BFO_0000015", "BFO_0000015"),
    ("urn:example:pump", "pump"),
    ("http://example.org/x#泵", "泵"),
    ("http://example.org/x#Heat-Exchanger", "Heat-Exchanger"),
    ("Equipment", "Equipment"),
])
def test_local_name_cases(iri, expected):
    assert local_name(iri) == expected


def test_local_name_prefers_fragment():
    assert local_name("http://example.org/a/b#c/d") == "c/d"


# GraphSchema from the parsed core ontology

def test_schema_equipment_ancestors(core_schema):
    ancestors = core_schema.ancestors("Equipment")

    assert ancestors[0] == "Equipment"
    assert "Asset" in ancestors
    assert "Entity" in ancestors
    assert ancestors.index("Asset") < ancestors.index("Entity")


def test_schema_is_a_transitive(core_schema):
    assert core_schema.is_a("Component", "Entity")
    assert not core_schema.is_a("Equipment", "Occurrence")


def test_schema_part_of_allowed(core_schema):
    assert core_schema.check_relationship("PART_OF", "Component", "Equipment") is None


def test_schema_for_asset_wrong_direction(core_schema):
    with pytest.raises(UnknownTermError, match="FOR_ASSET must start at Occurrence, not at Equipment"):
        core_schema.check_relationship("FOR_ASSET", "Equipment", "WorkOrder")


def test_schema_unknown_relationship_type(core_schema):
    with pytest.raises(UnknownTermError, match="not an object property"):
        core_schema.check_relationship("OWNS", "Site", "Equipment")


def test_schema_label_rejects_injection(core_schema):
    with pytest.raises(UnknownTermError, match="not a class of the loaded ontology"):
        core_schema.label("Foo`) MATCH (n) DETACH DELETE n //")


@pytest.mark.parametrize("name", [
    "\u0415quipment",   # Cyrillic capital IE
    "\u0395quipment",   # Greek capital epsilon
    "\uff25quipment",   # fullwidth E
    "Equipment\u200b",  # trailing zero-width space
    "equipment",
])
def test_schema_label_rejects_look_alike(core_schema, name):
    assert core_schema.label("Equipment") == "Equipment"
    with pytest.raises(UnknownTermError):
        core_schema.label(name)


def test_schema_property_allowlist(core_schema):
    assert core_schema.property("id") == "id"
    with pytest.raises(UnknownTermError, match="not a datatype property"):
        core_schema.property("password")


def test_mapped_classes_are_valid_labels():
    graph = Graph()
    for name in ("Pump", "Pump\x7f", "Pump\ue000"):
        graph.add((URIRef(f"http://example.org/x#{name}"), RDF.type, OWL.Class))
    model = OntologyModel.from_graph(graph)
    schema = GraphSchema.from_models([model])

    for mapping in model.classes.values():
        assert schema.label(mapping.label) == mapping.label


# Annotations of ontology/kg-core.ttl

def _core_terms(graph: Graph, rdf_type: URIRef) -> list[URIRef]:
    return sorted(term for term in graph.subjects(RDF.type, rdf_type)
                  if isinstance(term, URIRef) and str(term).startswith(str(KG)))


def _languages(graph: Graph, term: URIRef, predicate: URIRef) -> set[str]:
    return {value.language for value in graph.objects(term, predicate) if isinstance(value, Literal)}


@pytest.mark.parametrize("rdf_type", [OWL.Class, OWL.ObjectProperty, OWL.DatatypeProperty],
                         ids=["class", "object-property", "datatype-property"])
def test_core_terms_bilingual(core_rdf, rdf_type):
    terms = _core_terms(core_rdf, rdf_type)
    assert terms, f"ontology/kg-core.ttl declares no {rdf_type}"

    missing = []
    for term in terms:
        for predicate in (RDFS.label, SKOS.definition):
            absent = {"en", "zh"} - _languages(core_rdf, term, predicate)
            if absent:
                missing.append(f"{local_name(str(term))} {predicate.n3(core_rdf.namespace_manager)} {sorted(absent)}")
    assert missing == []


def test_core_chinese_labels_are_chinese(core_rdf):
    not_chinese = []
    for rdf_type in (OWL.Class, OWL.ObjectProperty, OWL.DatatypeProperty):
        for term in _core_terms(core_rdf, rdf_type):
            for value in core_rdf.objects(term, RDFS.label):
                if isinstance(value, Literal) and value.language == "zh" and not CJK.search(str(value)):
                    not_chinese.append(f"{local_name(str(term))}: {value}")
    assert not_chinese == []


def test_core_object_properties_annotated(core_rdf):
    problems = []
    for term in _core_terms(core_rdf, OWL.ObjectProperty):
        name = local_name(str(term))
        types = list(core_rdf.objects(term, KG.relationshipType))
        if len(types) != 1 or not UPPER_SNAKE.match(str(types[0])):
            problems.append(f"{name}: kg:relationshipType {[str(t) for t in types]}")
        for predicate in (RDFS.domain, RDFS.range):
            values = list(core_rdf.objects(term, predicate))
            if len(values) != 1 or not str(values[0]).startswith(str(KG)):
                problems.append(f"{name}: {predicate.n3(core_rdf.namespace_manager)} {[str(v) for v in values]}")
    assert problems == []
