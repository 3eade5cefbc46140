"""Ontology loading, storage in Neo4j and export, against the real Neo4j and real ontologies."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rdflib import Graph, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import OWL, RDF, RDFS

from kg_service.errors import OntologyError, UnknownTermError
from kg_service.graph.identifiers import quote
from kg_service.graph.records import NodeRecord, RelationshipRecord
from kg_service.graph.store import GraphStore
from kg_service.graph.writer import BatchedWriter
from kg_service.ingest import load_ontologies
from kg_service.ontology.model import KG_ONTOLOGY_IRI, OntologySummary, local_name
from kg_service.ontology.parsing import parse_ontology_file
from kg_service.ontology.schema import GraphSchema
from kg_service.ontology.storage import export_ontology

from conftest import CORE_ONTOLOGY, ROOT, data_file

pytestmark = pytest.mark.neo4j

KG_SERVICE = Path(sys.executable).parent / "kg-service"
IOF = "https://spec.industrialontologies.org/ontology/construct/"
IOF_CORE_IRI = "https://spec.industrialontologies.org/ontology/core/Core/"
RESTRICTION_REASON = "OWL restriction (kept as metadata)"
ANONYMOUS_CLASS_REASON = "anonymous class expression (kept as metadata)"

ODD_NAMES_TTL = """\
@prefix owl:  <http://www.w3.org/2002/07/owl#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix xsd:  <http://www.w3.org/2001/XMLSchema#> .
@prefix kg:   <https://w3id.org/kg-service/ontology#> .
@prefix odd:  <http://example.org/odd#> .

<http://example.org/odd> a owl:Ontology .

odd:Heat-Exchanger a owl:Class ;
    rdfs:label "heat exchanger"@en , "换热器"@zh .

odd:泵 a owl:Class ;
    rdfs:label "pump"@en , "泵"@zh .

odd:feeds-into a owl:ObjectProperty ;
    rdfs:domain odd:Heat-Exchanger ;
    rdfs:range odd:泵 .

odd:piped-to a owl:ObjectProperty ;
    kg:relationshipType "PIPED-TO" ;
    rdfs:domain odd:泵 ;
    rdfs:range odd:Heat-Exchanger .

odd:连接到 a owl:ObjectProperty ;
    rdfs:domain odd:泵 ;
    rdfs:range odd:泵 .

odd:rated-power a owl:DatatypeProperty ;
    rdfs:domain odd:泵 ;
    rdfs:range xsd:double .
"""

# The Turtle and N-Triples grammars exclude backticks from IRIs, but an RDF/XML attribute may contain one.
BACKTICK_RDF = """\
<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
         xmlns:rdfs="http://www.w3.org/2000/01/rdf-schema#"
         xmlns:owl="http://www.w3.org/2002/07/owl#">
  <owl:Ontology rdf:about="http://example.org/backtick"/>
  <owl:Class rdf:about="http://example.org/backtick#Pump`Valve">
    <rdfs:label xml:lang="en">pump valve</rdfs:label>
  </owl:Class>
  <owl:ObjectProperty rdf:about="http://example.org/backtick#feeds`into">
    <rdfs:domain rdf:resource="http://example.org/backtick#Pump`Valve"/>
    <rdfs:range rdf:resource="http://example.org/backtick#Pump`Valve"/>
  </owl:ObjectProperty>
</rdf:RDF>
"""

# Each case: file name, content, and the line and column where the parser detects the error.
INVALID_FILES = {
    # The parser notices the missing '.' after line 5 at the first token of line 6.
    "missing-dot": ("missing_dot.ttl",
                    "@prefix ex: <http://example.org/x#> .\n"
                    "@prefix owl: <http://www.w3.org/2002/07/owl#> .\n"
                    "\n"
                    "ex:Pump a owl:Class .\n"
                    "ex:Valve a owl:Class\n"
                    "ex:Tank a owl:Class .\n",
                    6, 1),
    # The column counts characters, so the two Chinese characters count once each.
    "unterminated-string": ("unterminated.ttl",
                            "@prefix ex: <http://example.org/x#> .\n"
                            "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n"
                            "\n"
                            'ex:Pump rdfs:label "泵泵 pump ;\n'
                            'ex:Tank rdfs:label "tank" .\n',
                            4, 30),
    "rdfxml-mismatched-tag": ("mismatched.rdf",
                              '<?xml version="1.0"?>\n'
                              '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
                              '  <rdf:Description rdf:about="http://example.org/x#Pump">\n'
                              "  </rdf:RDF>\n",
                              4, 4),
}


def _load(store: GraphStore, path: Path) -> OntologySummary:
    [summary] = load_ontologies(store, [path])
    return summary


def _term_count(store: GraphStore) -> int:
    return store.read("MATCH (t:OntologyTerm) RETURN count(t) AS terms")[0]["terms"]


def _ontology_iris(store: GraphStore) -> list[str]:
    return [row["iri"] for row in store.read("MATCH (o:Ontology) RETURN o.iri AS iri ORDER BY iri")]


def _write_odd_names(tmp_path: Path) -> Path:
    path = tmp_path / "odd-names.ttl"
    path.write_text(ODD_NAMES_TTL, encoding="utf-8")
    return path


def _run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    # A wide terminal keeps rich from wrapping the error message.
    environment = {**os.environ, "COLUMNS": "400"}
    return subprocess.run([str(KG_SERVICE), *args], env=environment, cwd=cwd, capture_output=True,
                          text=True, timeout=120, check=False)


# Round trip

def test_export_core_isomorphic(core_graph):
    original = parse_ontology_file(CORE_ONTOLOGY)

    exported = export_ontology(core_graph)

    assert len(exported) == len(original)
    assert isomorphic(original, exported)


def test_cli_export_core_isomorphic(core_graph, tmp_path):
    out = tmp_path / "exported.ttl"

    result = _run_cli("ontology", "export", str(out), cwd=ROOT)

    assert result.returncode == 0, result.stderr
    assert out.is_file()
    exported = Graph().parse(out, format="turtle")
    original = parse_ontology_file(CORE_ONTOLOGY)
    assert f"wrote {len(original)} triples" in result.stderr
    assert isomorphic(original, exported)


def test_cli_export_unknown_iri(core_graph, tmp_path):
    out = tmp_path / "missing.ttl"

    result = _run_cli("ontology", "export", str(out), "--iri", "http://example.org/not-loaded", cwd=ROOT)

    message = " ".join(result.stderr.split())
    assert result.returncode == 1
    assert "'http://example.org/not-loaded' is not stored in Neo4j" in message
    assert KG_ONTOLOGY_IRI in message
    assert not out.exists()


@pytest.mark.parametrize("parts", [
    ("iso14224", "pidvocab14224.ttl"),
    ("aas", "rdf-ontology.ttl"),
    ("iof", "Core.rdf"),
    ("iof", "Maintenance.rdf"),
], ids=["iso14224", "aas", "iof-core", "iof-maintenance"])
def test_export_real_ontology_isomorphic(empty_graph, parts):
    path = data_file("ontologies", *parts)
    original = parse_ontology_file(path)
    summary = _load(empty_graph, path)

    exported = export_ontology(empty_graph, summary.iri)

    assert len(exported) == len(original)
    assert isomorphic(original, exported)


def test_export_unicode_iris_isomorphic(empty_graph, tmp_path):
    path = _write_odd_names(tmp_path)
    summary = _load(empty_graph, path)

    exported = export_ontology(empty_graph, summary.iri)

    assert isomorphic(parse_ontology_file(path), exported)


# Stored ontology is queryable

def test_stored_equipment_class(core_graph):
    rows = core_graph.read(
        "MATCH (c:OntologyClass {nodeLabel: 'Equipment', ontology: $iri}) "
        "OPTIONAL MATCH (c)-[:SUBCLASS_OF]->(p:OntologyClass) "
        "RETURN c.iri AS iri, c.label_en AS label_en, c.label_zh AS label_zh, "
        "c.definition_zh AS definition_zh, collect(p.nodeLabel) AS parents", {"iri": KG_ONTOLOGY_IRI})

    assert len(rows) == 1
    equipment = rows[0]
    assert equipment["iri"] == "https://w3id.org/kg-service/ontology#Equipment"
    assert equipment["label_en"] == "Equipment"
    assert equipment["label_zh"] == "设备"
    assert equipment["definition_zh"]
    assert equipment["parents"] == ["Asset"]


def test_stored_part_of_property(core_graph):
    rows = core_graph.read(
        "MATCH (p:OntologyProperty {relationshipType: 'PART_OF'}) "
        "MATCH (p)-[:DOMAIN]->(d:OntologyClass) MATCH (p)-[:RANGE]->(r:OntologyClass) "
        "RETURN p.kind AS kind, p.iri AS iri, d.nodeLabel AS domain, r.nodeLabel AS range")

    assert rows == [{"kind": "object", "iri": "https://w3id.org/kg-service/ontology#partOf",
                     "domain": "Asset", "range": "Asset"}]


# Real ontologies

@pytest.mark.parametrize("parts", [
    ("iof", "Core.rdf"),
    ("iof", "Maintenance.rdf"),
    ("iso14224", "pidvocab14224.ttl"),
    ("aas", "rdf-ontology.ttl"),
], ids=["iof-core", "iof-maintenance", "iso14224", "aas"])
def test_real_ontology_loads(empty_graph, parts):
    path = data_file("ontologies", *parts)

    summary = _load(empty_graph, path)

    assert summary.classes > 0
    assert summary.triples == len(parse_ontology_file(path))
    stored = empty_graph.read(
        "MATCH (o:Ontology {iri: $iri}) "
        "OPTIONAL MATCH (o)-[:DECLARES]->(c:OntologyClass) "
        "RETURN o.source AS source, o.triples AS triples, count(c) AS classes", {"iri": summary.iri})
    assert stored == [{"source": str(path), "triples": summary.triples, "classes": summary.classes}]


def test_iof_core_skips_restrictions(empty_graph):
    summary = _load(empty_graph, data_file("ontologies", "iof", "Core.rdf"))

    assert summary.iri == IOF_CORE_IRI
    assert summary.skipped.get(RESTRICTION_REASON, 0) > 0
    assert summary.skipped.get(ANONYMOUS_CLASS_REASON, 0) > 0
    assert len(summary.skipped_examples[RESTRICTION_REASON]) == 3
    assert RESTRICTION_REASON in summary.as_text()


def test_iof_core_class_label(empty_graph):
    # Core.rdf tags its labels @en-US, and the stored class keeps them under the base language "en".
    path = data_file("ontologies", "iof", "Core.rdf")
    _load(empty_graph, path)

    rows = empty_graph.read("MATCH (c:OntologyClass {iri: $iri}) RETURN c.nodeLabel AS label, "
                            "c.label_en AS label_en, c.label_zh AS label_zh", {"iri": IOF + "PieceOfEquipment"})

    assert rows == [{"label": "PieceOfEquipment", "label_en": "piece of equipment", "label_zh": None}]


def test_iso14224_keeps_english_labels(empty_graph):
    summary = _load(empty_graph, data_file("ontologies", "iso14224", "pidvocab14224.ttl"))

    labelled = empty_graph.read("MATCH (:Ontology {iri: $iri})-[:DECLARES]->(c:OntologyClass) "
                                "WHERE c.label_en IS NOT NULL RETURN count(c) AS classes", {"iri": summary.iri})
    availability = empty_graph.read("MATCH (c:OntologyClass {nodeLabel: 'Availability'}) "
                                    "RETURN c.label_en AS label_en, c.definition_en AS definition_en")
    assert labelled[0]["classes"] > 0
    assert availability == [{"label_en": "Availability",
                             "definition_en": "ability to be in a state to perform as required"}]


def test_maintenance_links_core_parent(empty_graph):
    core_path = data_file("ontologies", "iof", "Core.rdf")
    maintenance_path = data_file("ontologies", "iof", "Maintenance.rdf")
    failure_event, event = URIRef(IOF + "MaintenanceProcess"), URIRef(IOF + "PlannedProcess")
    maintenance = parse_ontology_file(maintenance_path)
    assert (failure_event, RDFS.subClassOf, event) in maintenance
    assert (event, RDF.type, OWL.Class) not in maintenance
    assert (event, RDF.type, OWL.Class) in parse_ontology_file(core_path)

    load_ontologies(empty_graph, [core_path, maintenance_path])

    rows = empty_graph.read(
        "MATCH (c:OntologyClass {iri: $child})-[:SUBCLASS_OF]->(p:OntologyClass {iri: $parent}) "
        "RETURN c.ontology AS child_ontology, p.ontology AS parent_ontology",
        {"child": str(failure_event), "parent": str(event)})
    assert rows == [{"child_ontology": "https://spec.industrialontologies.org/ontology/maintenance/Maintenance/",
                     "parent_ontology": IOF_CORE_IRI}]


def test_subclass_link_any_load_order(empty_graph):
    core_path = data_file("ontologies", "iof", "Core.rdf")
    maintenance_path = data_file("ontologies", "iof", "Maintenance.rdf")
    query = ("MATCH (:OntologyClass {iri: $child})-[link:SUBCLASS_OF]->(:OntologyClass {iri: $parent}) "
             "RETURN count(link) AS links")
    params = {"child": IOF + "MaintenanceProcess", "parent": IOF + "PlannedProcess"}

    _load(empty_graph, maintenance_path)
    assert empty_graph.read(query, params)[0]["links"] == 0

    _load(empty_graph, core_path)
    assert empty_graph.read(query, params)[0]["links"] == 1

    _load(empty_graph, core_path)
    assert empty_graph.read(query, params)[0]["links"] == 1


def test_aas_keeps_core_hierarchy(core_graph):
    _load(core_graph, data_file("ontologies", "aas", "rdf-ontology.ttl"))

    schema = GraphSchema.from_store(core_graph)

    assert schema.ancestors("Equipment") == ["Equipment", "Asset", "Entity"]


# Local names that need quoting

def test_odd_names_load(empty_graph, tmp_path):
    path = _write_odd_names(tmp_path)
    parsed = parse_ontology_file(path)
    assert sorted(local_name(str(term)) for term in parsed.subjects(RDF.type, OWL.Class)) == ["Heat-Exchanger", "泵"]

    summary = _load(empty_graph, path)
    schema = GraphSchema.from_store(empty_graph)

    assert summary.classes == 2
    assert summary.relationship_types == 3
    assert summary.properties == 1
    assert summary.skipped == {}
    assert sorted(schema.parents) == ["Heat-Exchanger", "泵"]
    assert schema.relationship("FEEDS_INTO").domain == "Heat-Exchanger"
    assert schema.relationship("FEEDS_INTO").range == "泵"
    assert schema.relationship("PIPED-TO").domain == "泵"
    assert schema.relationship("连接到").range == "泵"
    assert schema.property("rated-power") == "rated-power"


def test_odd_names_write_and_read(empty_graph, tmp_path):
    _load(empty_graph, _write_odd_names(tmp_path))
    writer = BatchedWriter(empty_graph, GraphSchema.from_store(empty_graph), batch_size=2)
    nodes = [NodeRecord("Heat-Exchanger", "hx-1"),
             NodeRecord("泵", "pump-1", {"rated-power": 7.5}),
             NodeRecord("泵", "pump-2")]
    relationships = [RelationshipRecord("FEEDS_INTO", "Heat-Exchanger", "hx-1", "泵", "pump-1"),
                     RelationshipRecord("PIPED-TO", "泵", "pump-1", "Heat-Exchanger", "hx-1"),
                     RelationshipRecord("连接到", "泵", "pump-1", "泵", "pump-2")]

    report = writer.write(nodes, relationships)

    assert report.nodes_created == 3
    assert report.relationships_created == 3
    exchangers = empty_graph.read(f"MATCH (n:{quote('Heat-Exchanger')}) RETURN n.id AS id, labels(n) AS labels")
    assert [row["id"] for row in exchangers] == ["hx-1"]
    assert sorted(exchangers[0]["labels"]) == ["Entity", "Heat-Exchanger"]
    pumps = empty_graph.read(f"MATCH (n:{quote('泵')}) RETURN n.id AS id, n.{quote('rated-power')} AS power "
                             "ORDER BY id")
    assert pumps == [{"id": "pump-1", "power": 7.5}, {"id": "pump-2", "power": None}]
    for rel_type, start, end in (("FEEDS_INTO", "hx-1", "pump-1"), ("PIPED-TO", "pump-1", "hx-1"),
                                 ("连接到", "pump-1", "pump-2")):
        rows = empty_graph.read(f"MATCH (a)-[:{quote(rel_type)}]->(b) RETURN a.id AS start, b.id AS end")
        assert rows == [{"start": start, "end": end}], rel_type


def test_odd_names_domain_checked(empty_graph, tmp_path):
    _load(empty_graph, _write_odd_names(tmp_path))
    writer = BatchedWriter(empty_graph, GraphSchema.from_store(empty_graph))
    nodes = [NodeRecord("Heat-Exchanger", "hx-1"), NodeRecord("泵", "pump-1")]
    backwards = RelationshipRecord("FEEDS_INTO", "泵", "pump-1", "Heat-Exchanger", "hx-1")

    with pytest.raises(UnknownTermError, match="FEEDS_INTO must start at Heat-Exchanger, not at 泵"):
        writer.write(nodes, [backwards])

    assert empty_graph.read("MATCH (n:Entity) RETURN count(n) AS nodes")[0]["nodes"] == 0


def test_backtick_name_write_and_read(empty_graph, tmp_path):
    path = tmp_path / "backtick.rdf"
    path.write_text(BACKTICK_RDF, encoding="utf-8")
    classes = list(parse_ontology_file(path).subjects(RDF.type, OWL.Class))
    assert [local_name(str(term)) for term in classes] == ["Pump`Valve"]

    summary = _load(empty_graph, path)
    assert summary.classes == 1
    assert summary.relationship_types == 1

    writer = BatchedWriter(empty_graph, GraphSchema.from_store(empty_graph))
    writer.write([NodeRecord("Pump`Valve", "pv-1"), NodeRecord("Pump`Valve", "pv-2")],
                 [RelationshipRecord("FEEDS`INTO", "Pump`Valve", "pv-1", "Pump`Valve", "pv-2")])

    rows = empty_graph.read(f"MATCH (a:{quote('Pump`Valve')})-[:{quote('FEEDS`INTO')}]->(b) "
                            "RETURN a.id AS start, b.id AS end")
    assert rows == [{"start": "pv-1", "end": "pv-2"}]


@pytest.mark.parametrize("name", ["Pump`Valve", "``", "Heat-Exchanger", "泵", "rated power"])
def test_quoted_name_reaches_neo4j(store, name):
    rows = store.read(f"RETURN 1 AS {quote(name)}")

    assert rows == [{name: 1}]


def test_quote_blocks_unicode_escape(store):
    name = "x\\u0060, 'injected' AS marker //"
    try:
        query = f"RETURN 1 AS {quote(name)}"
    except UnknownTermError:
        return  # Rejecting the name is a valid fix: it never reaches Cypher.

    rows = store.read(query)

    assert rows == [{name: 1}]


# Invalid input

@pytest.mark.parametrize("case", sorted(INVALID_FILES))
def test_invalid_file_keeps_stored(core_graph, tmp_path, case):
    file_name, content, line, column = INVALID_FILES[case]
    bad = tmp_path / file_name
    bad.write_text(content, encoding="utf-8")
    good = _write_odd_names(tmp_path)
    terms_before = _term_count(core_graph)
    assert terms_before > 0

    with pytest.raises(OntologyError) as raised:
        load_ontologies(core_graph, [good, bad])

    message = str(raised.value)
    assert message.startswith(f"{bad}: invalid ")
    assert f"at line {line}, column {column}:" in message
    assert "nothing was written" in message
    assert _term_count(core_graph) == terms_before
    assert _ontology_iris(core_graph) == [KG_ONTOLOGY_IRI]


def test_unknown_suffix_rejected(store, tmp_path):
    path = tmp_path / "ontology.csv"
    path.write_text("iri,label\n", encoding="utf-8")
    terms_before = _term_count(store)

    with pytest.raises(OntologyError) as raised:
        load_ontologies(store, [path])

    message = str(raised.value)
    assert message.startswith(f"{path}: unknown ontology file type '.csv'")
    assert ".ttl" in message
    assert ".rdf" in message
    assert _term_count(store) == terms_before


def test_missing_file_rejected(store, tmp_path):
    path = tmp_path / "absent.ttl"
    terms_before = _term_count(store)

    with pytest.raises(OntologyError, match="ontology file not found") as raised:
        load_ontologies(store, [path])

    assert str(raised.value) == f"{path}: ontology file not found"
    assert _term_count(store) == terms_before


def test_iof_cannot_take_core_labels(core_graph):
    summary = _load(core_graph, data_file("ontologies", "iof", "Core.rdf"))

    reasons = [reason for reason in summary.skipped if reason.startswith("local name collides with a class of")]
    schema = GraphSchema.from_store(core_graph)
    owners = core_graph.read("MATCH (c:OntologyClass {nodeLabel: 'Event'}) RETURN c.iri AS iri")
    assert reasons
    assert schema.ancestors("FailureEvent") == ["FailureEvent", "Event", "Occurrence", "Entity"]
    assert owners == [{"iri": "https://w3id.org/kg-service/ontology#Event"}]


def test_subclass_cycle_rejected(core_graph, tmp_path):
    path = tmp_path / "cycle.ttl"
    path.write_text("""@prefix owl: <http://www.w3.org/2002/07/owl#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix ex: <https://example.org/plant#> .
<https://example.org/plant> a owl:Ontology .
ex:Pump a owl:Class ; rdfs:subClassOf ex:Machine .
ex:Machine a owl:Class ; rdfs:subClassOf ex:RotatingUnit .
ex:RotatingUnit a owl:Class ; rdfs:subClassOf ex:Pump .
""", encoding="utf-8")
    before = core_graph.read("MATCH (o:Ontology) RETURN count(o) AS n")
    with pytest.raises(OntologyError, match="subClassOf cycle") as caught:
        load_ontologies(core_graph, [path])
    assert "Machine" in str(caught.value)
    assert core_graph.read("MATCH (o:Ontology) RETURN count(o) AS n") == before
