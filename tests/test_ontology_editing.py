"""Ontology editing against the real Neo4j: operations, instance migration, change log, diff, GraphQL."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import OWL, RDF, RDFS, SKOS
from starlette.testclient import TestClient

from kg_service.api.app import create_app
from kg_service.errors import OntologyError, UnknownTermError
from kg_service.graph.checksum import graph_checksum
from kg_service.ingest import ingest_workorders, load_ontologies
from kg_service.ontology.diff import diff_graphs
from kg_service.ontology.editing import SHAPES_ONTOLOGY_IRI, OntologyEditor, bump_version
from kg_service.ontology.model import KG, KG_ONTOLOGY_IRI
from kg_service.ontology.parsing import parse_ontology_file
from kg_service.ontology.schema import GraphSchema
from kg_service.ontology.storage import export_ontology
from kg_service.reasoning import design
from tests.conftest import CORE_ONTOLOGY, SAMPLE_DIR, wipe

pytestmark = pytest.mark.neo4j

KG_SERVICE = Path(sys.executable).parent / "kg-service"
WHO = {"why": "test edit", "author": "tester"}
PUMP = {"en": "Turbine", "zh": "涡轮机"}
PUMP_DEFINITION = {"en": "Equipment that moves fluid.", "zh": "输送流体的设备。"}
FEEDS = {"en": "feeds into", "zh": "供给"}
FEEDS_DEFINITION = {"en": "The equipment passes its output to another equipment.", "zh": "设备将其输出传给另一设备。"}
RATED_POWER = {"en": "rated power", "zh": "额定功率"}
RATED_POWER_DEFINITION = {"en": "Nameplate power in kW.", "zh": "铭牌功率，单位 kW。"}
XSD_DECIMAL = URIRef("http://www.w3.org/2001/XMLSchema#decimal")
SH_TARGET_CLASS = URIRef("http://www.w3.org/ns/shacl#targetClass")
PUMP_SHAPE = """
kgsh:TurbineShape a sh:NodeShape ;
    sh:targetClass kg:Equipment ;
    sh:property [ sh:path kg:name ; sh:minCount 1 ; sh:datatype xsd:string ] .
"""


@pytest.fixture
def editor(core_graph) -> OntologyEditor:
    return OntologyEditor(core_graph)


@pytest.fixture
def plant(store, settings) -> OntologyEditor:
    """The core ontology with the English sample-plant work orders loaded."""
    wipe(store)
    load_ontologies(store, [CORE_ONTOLOGY])
    ingest_workorders(store, settings, SAMPLE_DIR / "workorders_en.csv", SAMPLE_DIR / "workorders_en.yaml")
    return OntologyEditor(store)


def reloaded_export(store, tmp_path: Path, iri: str = KG_ONTOLOGY_IRI) -> Graph:
    """Export the stored ontology to Turtle and parse the file again."""
    path = tmp_path / "export.ttl"
    export_ontology(store, iri).serialize(destination=str(path), format="turtle", encoding="utf-8")
    return parse_ontology_file(path)


def term_count(store) -> int:
    return store.read("MATCH (t:OntologyTerm) RETURN count(t) AS n")[0]["n"]


def state(store) -> tuple[str, int, int]:
    changes = store.read("MATCH (c:OntologyChange) RETURN count(c) AS n")[0]["n"]
    return graph_checksum(store), term_count(store), changes


def test_add_class_exports(editor, tmp_path):
    result = editor.add_class("Turbine", "Equipment", PUMP, PUMP_DEFINITION, **WHO)
    graph = reloaded_export(editor.store, tmp_path)
    pump = KG.Turbine
    assert result.applied
    assert (pump, RDFS.subClassOf, KG.Equipment) in graph
    assert (pump, RDFS.label, Literal("涡轮机", lang="zh")) in graph
    assert (pump, SKOS.definition, Literal("Equipment that moves fluid.", lang="en")) in graph
    assert editor.store.read("MATCH (:OntologyClass {nodeLabel: 'Turbine'})-[:SUBCLASS_OF]->(p) "
                             "RETURN p.nodeLabel AS p") == [{"p": "Equipment"}]


def test_add_class_bumps_version(editor, tmp_path):
    editor.add_class("Turbine", "Equipment", PUMP, PUMP_DEFINITION, **WHO)
    graph = reloaded_export(editor.store, tmp_path)
    assert str(graph.value(URIRef(KG_ONTOLOGY_IRI), OWL.versionInfo)) == "0.1.1"
    assert editor.version() == ("0.1.1", 1)


def test_relabel_exports_both_languages(editor, tmp_path):
    editor.relabel_term("Equipment", {"en": "Machine unit", "zh": "装备"}, **WHO)
    graph = reloaded_export(editor.store, tmp_path)
    labels = set(graph.objects(KG.Equipment, RDFS.label))
    assert labels == {Literal("Machine unit", lang="en"), Literal("装备", lang="zh")}
    row = editor.store.read("MATCH (c:OntologyClass {nodeLabel: 'Equipment'}) RETURN c.label_zh AS zh")[0]
    assert row["zh"] == "装备"


def test_deprecate_marks_term(editor, tmp_path):
    result = editor.deprecate_term("Sensor", **WHO)
    graph = reloaded_export(editor.store, tmp_path)
    assert (KG.Sensor, OWL.deprecated, Literal(True)) in graph
    assert result.inverse == {"operation": "deprecateTerm", "arguments": {"term": str(KG.Sensor), "deprecated": False}}
    assert editor.store.read("MATCH (c:OntologyClass {nodeLabel: 'Sensor'}) RETURN c.deprecated AS d") == [{"d": True}]


def test_set_range_exports(editor, tmp_path):
    editor.set_domain_range("SHOWS_SYMPTOM", range_="Occurrence", **WHO)
    graph = reloaded_export(editor.store, tmp_path)
    prop = URIRef(editor.store.read("MATCH (p:OntologyProperty {relationshipType: 'SHOWS_SYMPTOM'}) "
                                    "RETURN p.iri AS iri")[0]["iri"])
    assert list(graph.objects(prop, RDFS.range)) == [KG.Occurrence]
    rows = editor.store.read("MATCH (:OntologyProperty {relationshipType: 'SHOWS_SYMPTOM'})-[:RANGE]->(c) "
                             "RETURN c.nodeLabel AS label")
    assert rows == [{"label": "Occurrence"}]


def test_rename_class_exports(editor, tmp_path):
    editor.rename_term("Sensor", "Transducer", **WHO)
    graph = reloaded_export(editor.store, tmp_path)
    assert (KG.Transducer, RDFS.subClassOf, KG.Asset) in graph
    assert (KG.Sensor, None, None) not in graph
    measures = [s for s, o in graph.subject_objects(RDFS.domain) if o == KG.Transducer]
    assert measures


def test_rename_property_exports(editor, tmp_path):
    editor.rename_term("HAS_CODE", "hasModeCode", **WHO)
    graph = reloaded_export(editor.store, tmp_path)
    assert str(graph.value(KG.hasModeCode, KG.relationshipType)) == "HAS_MODE_CODE"
    rows = editor.store.read("MATCH (p:OntologyProperty {relationshipType: 'HAS_MODE_CODE'}) RETURN p.iri AS iri")
    assert rows == [{"iri": str(KG.hasModeCode)}]


def test_rename_with_instances_migrates(plant):
    store = plant.store
    before = store.read("MATCH (n:MaintenanceAction) RETURN count(n) AS n")[0]["n"]
    result = plant.rename_term("MaintenanceAction", "RepairAction", migrate=True, **WHO)
    assert before > 0
    assert result.impact.nodes == before
    assert store.read("MATCH (n:MaintenanceAction) RETURN count(n) AS n")[0]["n"] == 0
    assert store.read("MATCH (n:RepairAction:Entity) RETURN count(n) AS n")[0]["n"] == before


def test_rename_relationship_type_migrates(plant):
    store = plant.store
    before = store.read("MATCH ()-[r:HAS_CODE]->() RETURN count(r) AS n")[0]["n"]
    plant.rename_term("HAS_CODE", "hasModeCode", migrate=True, **WHO)
    assert before > 0
    assert store.read("MATCH ()-[r:HAS_CODE]->() RETURN count(r) AS n")[0]["n"] == 0
    assert store.read("MATCH ()-[r:HAS_MODE_CODE]->() RETURN count(r) AS n")[0]["n"] == before


def test_rename_datatype_property_migrates(plant):
    store = plant.store
    before = store.read("MATCH (n:WorkOrder) WHERE n.cost IS NOT NULL RETURN count(n) AS n")[0]["n"]
    plant.rename_term("cost", "totalCost", migrate=True, **WHO)
    assert before > 0
    assert store.read("MATCH (n) WHERE n.cost IS NOT NULL RETURN count(n) AS n")[0]["n"] == 0
    assert store.read("MATCH (n:WorkOrder) WHERE n.totalCost IS NOT NULL RETURN count(n) AS n")[0]["n"] == before


def test_rename_inverse_restores_type(plant):
    store = plant.store
    before = graph_checksum(store)
    result = plant.rename_term("HAS_CODE", "codedAs", migrate=True, relationship_type="CODED_AS_ITEM", **WHO)
    moved = store.read("MATCH ()-[r:CODED_AS_ITEM]->() RETURN count(r) AS n")[0]["n"]
    plant.rename_term(why="undo", author="tester", **result.inverse["arguments"])
    assert moved == result.impact.relationships > 0
    assert graph_checksum(store) == before


def test_rename_without_migrate_rejected(plant):
    before = state(plant.store)
    with pytest.raises(OntologyError, match="migrate=true"):
        plant.rename_term("MaintenanceAction", "RepairAction", **WHO)
    assert state(plant.store) == before


def test_preview_changes_nothing(plant):
    before = state(plant.store)
    result = plant.rename_term("MaintenanceAction", "RepairAction", preview=True, **WHO)
    plant.add_class("Turbine", "Equipment", PUMP, PUMP_DEFINITION, preview=True, **WHO)
    plant.set_domain_range("HAS_CODE", domain="Equipment", preview=True, **WHO)
    assert not result.applied
    assert result.impact.nodes > 0
    assert state(plant.store) == before


def test_preview_counts_violations(plant):
    result = plant.set_domain_range("HAS_CODE", domain="Equipment", preview=True, **WHO)
    total = plant.store.read("MATCH ()-[r:HAS_CODE]->() RETURN count(r) AS n")[0]["n"]
    assert total > 0
    assert result.impact.relationships == total
    assert result.impact.violations == total


INVALID_EDITS = [
    ("cycle", lambda e: e.move_class("Asset", "Equipment", **WHO), "subclass cycle"),
    ("dangling range", lambda e: e.set_domain_range("SHOWS_SYMPTOM", range_="NoSuchClass", **WHO), "NoSuchClass"),
    ("injection name", lambda e: e.add_class("X`) MATCH (n) DETACH DELETE n //", "Equipment", PUMP,
                                             PUMP_DEFINITION, **WHO), "may not contain"),
    ("backslash name", lambda e: e.rename_term("Sensor", "Sen\\u0060sor", **WHO), "backslash"),
    ("taken iri", lambda e: e.rename_term("Sensor", "Equipment", **WHO), "already used"),
    ("reserved label", lambda e: e.add_class("OntologyChange", "Equipment", PUMP, PUMP_DEFINITION, **WHO),
     "reserved"),
    ("taken type", lambda e: e.rename_term("HAS_CODE", "partOf", **WHO), "already used"),
    ("empty label", lambda e: e.relabel_term("Sensor", {"en": "  "}, **WHO), "must not be empty"),
    ("french label", lambda e: e.relabel_term("Sensor", {"fr": "Capteur"}, **WHO), "not supported"),
    ("duplicate label", lambda e: e.relabel_term("Sensor", {"zh": "设备"}, **WHO), "already the label"),
    ("missing zh", lambda e: e.add_class("Turbine", "Equipment", {"en": "Turbine"}, PUMP_DEFINITION, **WHO), "zh"),
    ("empty why", lambda e: e.deprecate_term("Sensor", why=" ", author="tester"), "why must not be empty"),
    ("bad shape", lambda e: e.upsert_shape("kgsh:S a sh:NodeShape ; sh:minCount \"x\" .", **WHO), "SHACL"),
    ("cyrillic look-alike", lambda e: e.add_class("\u0415quipment", "Asset", PUMP, PUMP_DEFINITION, **WHO),
     "ASCII letters"),
    ("over-long name", lambda e: e.add_class("P" * 300, "Equipment", PUMP, PUMP_DEFINITION, **WHO),
     "the limit is 256"),
    ("leading underscore", lambda e: e.rename_term("Sensor", "_Sensor", **WHO), "start with a letter"),
    ("duplicate property", lambda e: e.add_property("cost", "datatype", "WorkOrder", "xsd:decimal", RATED_POWER,
                                                    RATED_POWER_DEFINITION, **WHO), "already used"),
    ("taken property type", lambda e: e.add_property("has_symptom", "object", "Equipment", "Equipment", FEEDS,
                                                     FEEDS_DEFINITION, **WHO), "HAS_SYMPTOM"),
    ("dangling domain", lambda e: e.add_property("feedsInto", "object", "NoSuchClass", "Equipment", FEEDS,
                                                 FEEDS_DEFINITION, **WHO), "NoSuchClass"),
    ("dangling range", lambda e: e.add_property("feedsInto", "object", "Equipment", "NoSuchClass", FEEDS,
                                                FEEDS_DEFINITION, **WHO), "NoSuchClass"),
    ("unknown datatype", lambda e: e.add_property("ratedPower", "datatype", "Equipment", "xsd:money", RATED_POWER,
                                                  RATED_POWER_DEFINITION, **WHO), "xsd:money"),
    ("unknown kind", lambda e: e.add_property("ratedPower", "annotation", "Equipment", "xsd:decimal", RATED_POWER,
                                              RATED_POWER_DEFINITION, **WHO), "'annotation' is invalid"),
    ("duplicate property label", lambda e: e.add_property("displayName", "datatype", "Entity", "xsd:string",
                                                          {"en": "Name", "zh": "显示名"}, RATED_POWER_DEFINITION,
                                                          **WHO), "already the label of property"),
    ("property missing zh", lambda e: e.add_property("ratedPower", "datatype", "Equipment", "xsd:decimal",
                                                     {"en": "rated power"}, RATED_POWER_DEFINITION, **WHO), "zh"),
]


@pytest.mark.parametrize("case", INVALID_EDITS, ids=[case[0] for case in INVALID_EDITS])
def test_invalid_edit_rejected(editor, case):
    _, edit, message = case
    before = state(editor.store)
    export_before = export_ontology(editor.store)
    with pytest.raises((OntologyError, UnknownTermError), match=message):
        edit(editor)
    assert state(editor.store) == before
    assert len(export_ontology(editor.store)) == len(export_before)


OTHER_ONTOLOGY = """\
@prefix owl:  <http://www.w3.org/2002/07/owl#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
<http://example.org/plant> a owl:Ontology .
<http://example.org/plant#Valve> a owl:Class ; rdfs:label "valve"@en .
"""


def test_add_object_property_in_allowlist(editor, tmp_path):
    result = editor.add_property("feedsInto", "object", "Equipment", "Equipment", FEEDS, FEEDS_DEFINITION, **WHO)
    graph = reloaded_export(editor.store, tmp_path)
    schema = GraphSchema.from_store(editor.store)
    assert result.applied
    assert result.term == str(KG.feedsInto)
    assert (KG.feedsInto, RDF.type, OWL.ObjectProperty) in graph
    assert (KG.feedsInto, RDFS.label, Literal("供给", lang="zh")) in graph
    assert schema.relationships["FEEDS_INTO"].domain == "Equipment"
    assert schema.relationships["FEEDS_INTO"].range == "Equipment"


def test_add_datatype_property_in_allowlist(editor, tmp_path):
    editor.add_property("ratedPower", "datatype", "Equipment", "xsd:decimal", RATED_POWER, RATED_POWER_DEFINITION,
                        **WHO)
    graph = reloaded_export(editor.store, tmp_path)
    rows = editor.store.read("MATCH (p:OntologyProperty {propertyName: 'ratedPower'})-[:DOMAIN]->(d) "
                             "RETURN p.kind AS kind, p.datatype AS datatype, d.nodeLabel AS domain")
    assert (KG.ratedPower, RDFS.range, XSD_DECIMAL) in graph
    assert rows == [{"kind": "datatype", "datatype": str(XSD_DECIMAL), "domain": "Equipment"}]
    assert "ratedPower" in GraphSchema.from_store(editor.store).properties


def test_add_property_preview_changes_nothing(editor):
    before = state(editor.store)
    result = editor.add_property("feedsInto", "object", "Equipment", "Equipment", FEEDS, FEEDS_DEFINITION,
                                 preview=True, **WHO)
    assert not result.applied
    assert "FEEDS_INTO" in result.impact.description
    assert state(editor.store) == before
    assert "FEEDS_INTO" not in GraphSchema.from_store(editor.store).relationships


def test_add_property_logged(editor):
    editor.add_property("ratedPower", "datatype", "Equipment", "xsd:decimal", RATED_POWER, RATED_POWER_DEFINITION,
                        why="energy audit", author="li.wei")
    change = editor.history()[-1]
    assert change.operation == "addProperty"
    assert change.author == "li.wei"
    assert change.why == "energy audit"
    assert change.arguments["name"] == "ratedPower"
    assert change.arguments["range"] == "xsd:decimal"
    assert editor.version() == ("0.1.1", 1)


def _pump_min_count(shapes: Graph) -> int:
    sh = "http://www.w3.org/ns/shacl#"
    shape = next(subject for subject in shapes.subjects(URIRef(sh + "targetClass"), None)
                 if str(subject).endswith("TurbineShape"))
    return int(next(shapes.objects(next(shapes.objects(shape, URIRef(sh + "property"))), URIRef(sh + "minCount"))))


def test_stored_shapes_fresh_after_wipe(editor):
    # Regression: the cache of stored shapes was keyed by the change-log version only, which
    # starts again at 1 after a wipe, so a re-edited database got the shapes of the old one.
    editor.upsert_shape(PUMP_SHAPE, **WHO)
    first, _ = design.stored_shapes(editor.store)
    assert _pump_min_count(first) == 1
    wipe(editor.store)
    load_ontologies(editor.store, [CORE_ONTOLOGY])
    editor.upsert_shape(PUMP_SHAPE.replace("sh:minCount 1", "sh:minCount 2"), **WHO)
    second, _ = design.stored_shapes(editor.store)
    assert _pump_min_count(second) == 2


def test_rename_rewrites_file_shapes(editor, tmp_path):
    preview = editor.rename_term("Sensor", "Transducer", preview=True, **WHO)
    editor.rename_term("Sensor", "Transducer", **WHO)
    shapes = reloaded_export(editor.store, tmp_path, SHAPES_ONTOLOGY_IRI)
    reasoning_graph, _ = design.stored_shapes(editor.store)
    assert preview.impact.shapes == 1
    assert (URIRef("https://w3id.org/kg-service/shapes#AssetShape"), SH_TARGET_CLASS, KG.Transducer) in shapes
    assert not any(KG.Sensor in triple for triple in shapes)
    assert (None, SH_TARGET_CLASS, KG.Transducer) in reasoning_graph
    assert editor.store.read("MATCH (c:OntologyChange {ontology: $iri}) RETURN c.operation AS operation",
                             {"iri": SHAPES_ONTOLOGY_IRI}) == [{"operation": "renameTerm"}]


def test_rename_rewrites_upserted_shape(editor, tmp_path):
    editor.upsert_shape(PUMP_SHAPE.replace("kg:Equipment", "kg:Sensor"), **WHO)
    result = editor.rename_term("Sensor", "Transducer", **WHO)
    shapes = reloaded_export(editor.store, tmp_path, SHAPES_ONTOLOGY_IRI)
    pump_shape = URIRef("https://w3id.org/kg-service/shapes#TurbineShape")
    assert result.impact.shapes == 2
    assert list(shapes.objects(pump_shape, SH_TARGET_CLASS)) == [KG.Transducer]
    assert not any(KG.Sensor in triple for triple in shapes)


def test_rename_property_rewrites_shape_path(editor, tmp_path):
    editor.rename_term("cost", "totalCost", **WHO)
    shapes = reloaded_export(editor.store, tmp_path, SHAPES_ONTOLOGY_IRI)
    assert (None, URIRef("http://www.w3.org/ns/shacl#path"), KG.totalCost) in shapes
    assert not any(KG.cost in triple for triple in shapes)


def test_deprecate_counts_shapes(editor):
    result = editor.deprecate_term("Sensor", preview=True, **WHO)
    assert result.impact.shapes == 1
    assert "1 SHACL shape refers to Sensor" in result.impact.description


def test_rename_keeps_parallel_relationships(core_graph):
    core_graph.write("CREATE (a:Entity:FailureMode {id: 'leak'}), (b:Entity:FailureModeCode {id: 'ELP'}), "
                     "(a)-[:HAS_CODE {workOrder: 'WO-1', cost: 10}]->(b), "
                     "(a)-[:HAS_CODE {workOrder: 'WO-2'}]->(b)")
    OntologyEditor(core_graph).rename_term("HAS_CODE", "hasModeCode", migrate=True, **WHO)
    rows = core_graph.read("MATCH (:FailureMode {id: 'leak'})-[r:HAS_MODE_CODE]->(:FailureModeCode {id: 'ELP'}) "
                           "RETURN properties(r) AS props ORDER BY r.workOrder")
    assert [row["props"] for row in rows] == [{"workOrder": "WO-1", "cost": 10}, {"workOrder": "WO-2"}]
    assert core_graph.read("MATCH ()-[r:HAS_CODE]->() RETURN count(r) AS n") == [{"n": 0}]


def test_label_of_other_ontology_rejected(editor, tmp_path):
    other = tmp_path / "plant.ttl"
    other.write_text(OTHER_ONTOLOGY, encoding="utf-8")
    load_ontologies(editor.store, [other])
    before = state(editor.store)
    with pytest.raises(OntologyError, match="already the node label of class http://example.org/plant#Valve"):
        editor.add_class("Valve", "Component", {"en": "Valve", "zh": "阀门"}, PUMP_DEFINITION, **WHO)
    assert state(editor.store) == before


def test_change_log_records_edits(editor):
    editor.add_class("Turbine", "Equipment", PUMP, PUMP_DEFINITION, why="new turbine fleet", author="li.wei")
    editor.relabel_term("Turbine", {"en": "Gas turbine"}, why="clearer name", author="anna")
    editor.deprecate_term("Turbine", why="merged into Equipment", author="li.wei")
    history = editor.history()
    assert [change.version for change in history] == [1, 2, 3]
    assert [change.author for change in history] == ["li.wei", "anna", "li.wei"]
    assert history[1].why == "clearer name"
    assert history[1].inverse == {"operation": "relabelTerm", "arguments": {"term": str(KG.Turbine),
                                                                          "labels": {"en": "Turbine"}}}
    assert [change.ontology_version for change in history] == ["0.1.1", "0.1.2", "0.1.3"]


def test_shape_upsert_replaces(editor, tmp_path):
    editor.upsert_shape(PUMP_SHAPE, **WHO)
    editor.upsert_shape(PUMP_SHAPE.replace("sh:minCount 1", "sh:minCount 2"), **WHO)
    graph = reloaded_export(editor.store, tmp_path, SHAPES_ONTOLOGY_IRI)
    sh = "http://www.w3.org/ns/shacl#"
    pump = URIRef("https://w3id.org/kg-service/shapes#TurbineShape")
    counts = [int(value) for prop in graph.objects(pump, URIRef(sh + "property"))
              for value in graph.objects(prop, URIRef(sh + "minCount"))]
    assert counts == [2]
    assert editor.store.read("MATCH (c:OntologyChange {ontology: $iri}) RETURN count(c) AS n",
                             {"iri": SHAPES_ONTOLOGY_IRI}) == [{"n": 2}]


def test_shape_graph_starts_from_file(editor, tmp_path):
    editor.upsert_shape(PUMP_SHAPE, **WHO)
    graph = reloaded_export(editor.store, tmp_path, SHAPES_ONTOLOGY_IRI)
    assert (URIRef("https://w3id.org/kg-service/shapes#PartShape"), None, None) in graph


def test_shape_unknown_class_rejected(editor):
    with pytest.raises(OntologyError, match="no stored ontology declares"):
        editor.upsert_shape(PUMP_SHAPE.replace("kg:Equipment", "kg:Spaceship"), **WHO)


def test_diff_lists_exactly_change(editor, tmp_path):
    editor.add_class("Turbine", "Equipment", PUMP, PUMP_DEFINITION, **WHO)
    result = diff_graphs(parse_ontology_file(CORE_ONTOLOGY), reloaded_export(editor.store, tmp_path))
    assert [term.iri for term in result.added] == [str(KG.Turbine)]
    assert result.removed == []
    assert result.changed == []
    assert (result.old_version, result.new_version) == ("0.1.0", "0.1.1")


def test_diff_cli_against_stored(editor, tmp_path):
    editor.rename_term("Sensor", "Transducer", **WHO)
    run = subprocess.run([str(KG_SERVICE), "ontology", "diff", str(CORE_ONTOLOGY), "stored:", "--json"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    body = json.loads(run.stdout)
    assert [term["iri"] for term in body["added"]] == [str(KG.Transducer)]
    assert [term["iri"] for term in body["removed"]] == [str(KG.Sensor)]
    changed = {term["iri"]: [change["field"] for change in term["changes"]] for term in body["changed"]}
    assert all(fields in (["domain"], ["range"], ["parents"]) for fields in changed.values())


def test_diff_between_logged_versions(editor, tmp_path):
    editor.rename_term("Sensor", "Transducer", **WHO)
    editor.relabel_term("Transducer", {"zh": "变送器"}, **WHO)

    def diff(old: str, new: str) -> dict:
        run = subprocess.run([str(KG_SERVICE), "ontology", "diff", old, new, "--json"], capture_output=True,
                             text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout)

    first = diff("stored:@0", "stored:@1")
    assert [term["iri"] for term in first["added"]] == [str(KG.Transducer)]
    assert [term["iri"] for term in first["removed"]] == [str(KG.Sensor)]
    second = diff("stored:@1", "stored:@2")
    assert second["added"] == []
    assert second["removed"] == []
    assert [term["iri"] for term in second["changed"]] == [str(KG.Transducer)]
    assert diff("stored:@2", "stored:")["changed"] == []
    assert diff(str(CORE_ONTOLOGY), "stored:@0")["added"] == []


def test_export_logged_version(editor, tmp_path):
    editor.rename_term("Sensor", "Transducer", **WHO)
    path = tmp_path / "v0.ttl"
    run = subprocess.run([str(KG_SERVICE), "ontology", "export", str(path), "--version", "0"], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    exported = Graph().parse(path, format="turtle")
    assert (KG.Sensor, None, None) in exported
    assert (KG.Transducer, None, None) not in exported
    missing = subprocess.run([str(KG_SERVICE), "ontology", "export", str(path), "--version", "9"],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode != 0
    assert "has no change 9; its change log ends at version 1" in missing.stdout + missing.stderr


def test_snapshot_per_version(editor):
    editor.deprecate_term("Sensor", **WHO)
    assert (KG.Sensor, OWL.deprecated, Literal(True)) not in editor.snapshot(0)
    assert (KG.Sensor, OWL.deprecated, Literal(True)) in editor.snapshot(1)
    assert [record.operation for record in editor.history()] == ["deprecateTerm"]
    with pytest.raises(OntologyError, match="version must be 0 or more, got -1"):
        editor.snapshot(-1)


def test_history_cli_prints_log(editor):
    editor.deprecate_term("Sensor", why="replaced by Signal sources", author="li.wei")
    run = subprocess.run([str(KG_SERVICE), "ontology", "history"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "deprecateTerm" in run.stdout
    assert "replaced by Signal sources" in run.stdout


def test_bump_version_patch():
    assert bump_version("0.1.9") == "0.1.10"
    assert bump_version(None) == "0.0.1"


ADD_CLASS = """
mutation($preview: Boolean!) {
  addClass(name: "Turbine", parent: "Equipment", labelEn: "Turbine", labelZh: "涡轮机", definitionEn: "Turns flow into shaft power.",
           definitionZh: "输送流体。", why: "new fleet", author: "li.wei", preview: $preview) {
    applied term version ontologyVersion impact { nodes relationships }
  }
}
"""


def test_graphql_mutation_round_trip(core_graph, settings):
    with TestClient(create_app(settings.model_copy(update={"anonymous_role": "admin"}), core_graph)) as client:
        preview = client.post("/graphql", json={"query": ADD_CLASS, "variables": {"preview": True}}).json()
        applied = client.post("/graphql", json={"query": ADD_CLASS, "variables": {"preview": False}}).json()
        changes = client.post("/graphql", json={"query": "{ ontologyChanges(first: 5) { totalCount edges { node { "
                                                         "version author why operation arguments } } } "
                                                         "ontologyVersion { versionInfo changeVersion } }"}).json()
        classes = client.post("/graphql", json={"query": '{ ontologyClasses(first: 200) { edges { node { nodeLabel label(lang: "zh") } } } }'}).json()
    assert preview["data"]["addClass"]["applied"] is False
    assert applied["data"]["addClass"] == {"applied": True, "term": str(KG.Turbine), "version": 1,
                                           "ontologyVersion": "0.1.1", "impact": {"nodes": 0, "relationships": 0}}
    node = changes["data"]["ontologyChanges"]["edges"][0]["node"]
    assert node["author"] == "li.wei"
    assert node["arguments"]["name"] == "Turbine"
    assert changes["data"]["ontologyVersion"] == {"versionInfo": "0.1.1", "changeVersion": 1}
    assert {"node": {"nodeLabel": "Turbine", "label": "涡轮机"}} in classes["data"]["ontologyClasses"]["edges"]


ADD_PROPERTY = """
mutation($preview: Boolean!) {
  addProperty(name: "feedsInto", kind: "object", domain: "Equipment", range: "Equipment", labelEn: "feeds into",
              labelZh: "供给", definitionEn: "Passes its output on.", definitionZh: "将输出传给下游。",
              why: "line layout", author: "li.wei", preview: $preview) {
    applied term version impact { nodes relationships shapes description }
  }
}
"""


def test_graphql_add_property_round_trip(core_graph, settings):
    with TestClient(create_app(settings.model_copy(update={"anonymous_role": "admin"}), core_graph)) as client:
        preview = client.post("/graphql", json={"query": ADD_PROPERTY, "variables": {"preview": True}}).json()
        applied = client.post("/graphql", json={"query": ADD_PROPERTY, "variables": {"preview": False}}).json()
    assert preview["data"]["addProperty"]["applied"] is False
    assert applied["data"]["addProperty"]["applied"] is True
    assert applied["data"]["addProperty"]["term"] == str(KG.feedsInto)
    assert applied["data"]["addProperty"]["version"] == 1
    assert "FEEDS_INTO" in GraphSchema.from_store(core_graph).relationships


def test_graphql_add_property_needs_editor(core_graph, settings):
    before = state(core_graph)
    with TestClient(create_app(settings.model_copy(update={"anonymous_role": "reader"}), core_graph)) as client:
        body = client.post("/graphql", json={"query": ADD_PROPERTY, "variables": {"preview": False}}).json()
    assert body["data"] is None
    assert "needs the role ontology-editor" in body["errors"][0]["message"]
    assert state(core_graph) == before


def test_graphql_rejects_injection(core_graph, settings):
    query = ('mutation { renameTerm(term: "Sensor", newName: "X`) MATCH (n) DETACH DELETE n //", why: "x", '
             'author: "y") { applied } }')
    before = state(core_graph)
    with TestClient(create_app(settings.model_copy(update={"anonymous_role": "admin"}), core_graph)) as client:
        body = client.post("/graphql", json={"query": query}).json()
    assert body["data"] is None
    assert "may not contain" in body["errors"][0]["message"]
    assert state(core_graph) == before


def test_graphql_changes_paginate(core_graph, settings):
    editor = OntologyEditor(core_graph)
    for text in ("one", "two", "three"):
        editor.relabel_term("Sensor", {"en": f"Sensor {text}"}, why=text, author="tester")
    query = "query($after: String) { ontologyChanges(first: 2, after: $after) { pageInfo { hasNextPage endCursor } " \
            "edges { node { version why } } } }"
    with TestClient(create_app(settings.model_copy(update={"anonymous_role": "admin"}), core_graph)) as client:
        first = client.post("/graphql", json={"query": query, "variables": {"after": None}}).json()
        page = first["data"]["ontologyChanges"]
        second = client.post("/graphql", json={"query": query,
                                                "variables": {"after": page["pageInfo"]["endCursor"]}}).json()
    assert [edge["node"]["version"] for edge in page["edges"]] == [1, 2]
    assert page["pageInfo"]["hasNextPage"] is True
    assert [edge["node"]["why"] for edge in second["data"]["ontologyChanges"]["edges"]] == ["three"]


def test_rename_entity_rejected(editor, core_graph):
    before = graph_checksum(core_graph)
    with pytest.raises(OntologyError, match="cannot be renamed"):
        editor.rename_term("Entity", "Thing", migrate=True, **WHO)
    assert graph_checksum(core_graph) == before


def test_internal_relationship_type_rejected(editor):
    with pytest.raises(OntologyError, match="reserved for kg-service's ontology nodes"):
        editor.rename_term("HAS_CODE", "subclassOf", relationship_type="SUBCLASS_OF", preview=True, **WHO)


# Protected core terms, reloads that keep edits, duplicate labels, case variants, no-op edits, history by term.


def test_core_relationship_rename_rejected(core_graph):
    core_graph.write("CREATE (:Entity:Part {id: 'part-1'})-[:SUPPLIED_BY]->(:Entity:Supplier {id: 'acme'})")
    editor = OntologyEditor(core_graph)
    before = state(core_graph)
    with pytest.raises(OntologyError) as error:
        editor.rename_term("SUPPLIED_BY", "providedBy", migrate=True, **WHO)
    message = str(error.value)
    assert "'SUPPLIED_BY' cannot be renamed" in message
    assert "supplierKpis" in message
    assert "relabel" in message
    assert state(core_graph) == before
    assert core_graph.read("MATCH ()-[r:SUPPLIED_BY]->() RETURN count(r) AS n") == [{"n": 1}]


def test_core_rename_preview_rejected(editor):
    with pytest.raises(OntologyError, match="design checks"):
        editor.rename_term("Supplier", "Vendor", preview=True, **WHO)


def test_core_class_deprecate_rejected(editor):
    before = state(editor.store)
    with pytest.raises(OntologyError, match=r"class 'Supplier' cannot be deprecated.*addClass\(parent: 'Supplier'\)"):
        editor.deprecate_term("Supplier", **WHO)
    assert state(editor.store) == before


def test_core_property_rename_rejected(editor):
    with pytest.raises(OntologyError, match="property 'name' cannot be renamed"):
        editor.rename_term("name", "title", **WHO)


def test_core_term_domain_change_rejected(core_graph, tmp_path):
    core_graph.write("CREATE (:Entity:Part {id: 'part-1'})-[:SUPPLIED_BY]->(:Entity:Supplier {id: 'acme'})")
    editor = OntologyEditor(core_graph)
    before = state(core_graph)
    for preview in (True, False):
        with pytest.raises(OntologyError) as error:
            editor.set_domain_range("SUPPLIED_BY", domain="Equipment", preview=preview, **WHO)
        message = str(error.value)
        assert "'SUPPLIED_BY' cannot be given a new domain or range" in message
        assert "relabel" in message
    assert state(core_graph) == before
    prop = URIRef(core_graph.read("MATCH (p:OntologyProperty {relationshipType: 'SUPPLIED_BY'}) "
                                  "RETURN p.iri AS iri")[0]["iri"])
    assert list(reloaded_export(core_graph, tmp_path).objects(prop, RDFS.domain)) == [KG.Part]


def test_core_term_range_change_rejected(editor):
    with pytest.raises(OntologyError, match="'name' cannot be given a new domain or range"):
        editor.set_domain_range("name", domain="Equipment", **WHO)


def test_core_term_relabel_allowed(editor):
    result = editor.relabel_term("SUPPLIED_BY", {"en": "provided by", "zh": "供货方"}, **WHO)
    assert result.applied
    assert editor.store.read("MATCH (p:OntologyProperty {relationshipType: 'SUPPLIED_BY'}) "
                             "RETURN p.label_en AS en") == [{"en": "provided by"}]


def test_expert_term_rename_allowed(editor):
    editor.add_class("CentrifugalPump", "Pump", {"en": "Centrifugal pump", "zh": "离心泵"}, PUMP_DEFINITION, **WHO)
    result = editor.rename_term("CentrifugalPump", "RadialPump", **WHO)
    assert result.applied
    assert editor.store.read("MATCH (c:OntologyClass {nodeLabel: 'RadialPump'}) RETURN count(c) AS n") == [{"n": 1}]


def test_other_ontology_rename_allowed(core_graph, tmp_path):
    other = tmp_path / "plant.ttl"
    other.write_text(OTHER_ONTOLOGY, encoding="utf-8")
    load_ontologies(core_graph, [other])
    result = OntologyEditor(core_graph, "http://example.org/plant").rename_term("Valve", "GateValve", **WHO)
    assert result.applied
    assert result.term == "http://example.org/plant#GateValve"


def test_notebook_reload_keeps_expert_edits(editor, caplog):
    editor.add_class("Turbine", "Equipment", PUMP, PUMP_DEFINITION, **WHO)
    with caplog.at_level("WARNING", logger="kg_service.ingest"):
        load_ontologies(editor.store, [CORE_ONTOLOGY])
    warning = " ".join(record.getMessage() for record in caplog.records if record.levelname == "WARNING")
    assert editor.store.read("MATCH (c:OntologyClass {nodeLabel: 'Turbine'}) RETURN count(c) AS n") == [{"n": 1}]
    assert editor.version() == ("0.1.1", 1)
    assert KG_ONTOLOGY_IRI in warning
    assert "1 edit " in warning
    assert "kg-service ontology replace" in warning


def test_reload_with_replace_logs_change(editor):
    editor.add_class("Turbine", "Equipment", PUMP, PUMP_DEFINITION, **WHO)
    load_ontologies(editor.store, [CORE_ONTOLOGY], replace=True, author="li.wei", why="start over")
    last = editor.history()[-1]
    assert editor.store.read("MATCH (c:OntologyClass {nodeLabel: 'Turbine'}) RETURN count(c) AS n") == [{"n": 0}]
    assert editor.version() == ("0.1.2", 2)
    assert (last.operation, last.author, last.why) == ("loadOntology", "li.wei", "start over")
    assert last.arguments["discardedEdits"] == 1
    assert (KG.Turbine, None, None) in editor.snapshot(1)
    assert (KG.Turbine, None, None) not in editor.snapshot(2)


def test_reload_replace_needs_author(editor):
    editor.add_class("Turbine", "Equipment", PUMP, PUMP_DEFINITION, **WHO)
    with pytest.raises(OntologyError, match="author must not be empty"):
        load_ontologies(editor.store, [CORE_ONTOLOGY], replace=True, why="start over")
    assert editor.version() == ("0.1.1", 1)


def test_reload_after_undone_edit_silent(editor, caplog):
    result = editor.relabel_term("Sensor", {"zh": "传感装置"}, **WHO)
    editor.relabel_term(why="undo", author="tester", **result.inverse["arguments"])
    with caplog.at_level("WARNING", logger="kg_service.ingest"):
        load_ontologies(editor.store, [CORE_ONTOLOGY])
    assert [record for record in caplog.records if record.levelname == "WARNING"] == []
    assert editor.version() == ("0.1.2", 2)


def test_reload_changed_file_logged(editor, tmp_path):
    editor.add_class("Turbine", "Equipment", PUMP, PUMP_DEFINITION, **WHO)
    load_ontologies(editor.store, [CORE_ONTOLOGY], replace=True, author="li.wei", why="start over")
    changed = tmp_path / "kg-core.ttl"
    changed.write_text(CORE_ONTOLOGY.read_text(encoding="utf-8").replace('"Sensor"@en', '"Sensing device"@en'),
                       encoding="utf-8")
    load_ontologies(editor.store, [changed])
    last = editor.history()[-1]
    assert editor.version() == ("0.1.3", 3)
    assert (last.operation, last.author) == ("loadOntology", "kg-service ontology load")
    assert editor.store.read("MATCH (c:OntologyClass {nodeLabel: 'Sensor'}) RETURN c.label_en AS en") == \
        [{"en": "Sensing device"}]


def test_replace_cli_discards_edits(editor):
    editor.add_class("Turbine", "Equipment", PUMP, PUMP_DEFINITION, **WHO)
    run = subprocess.run([str(KG_SERVICE), "ontology", "replace", str(CORE_ONTOLOGY), "--author", "li.wei",
                          "--why", "start over"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert editor.store.read("MATCH (c:OntologyClass {nodeLabel: 'Turbine'}) RETURN count(c) AS n") == [{"n": 0}]
    assert editor.history()[-1].author == "li.wei"


def test_relabel_rejects_duplicate_label(editor):
    editor.add_property("feedsInto", "object", "Equipment", "Equipment", FEEDS, FEEDS_DEFINITION, **WHO)
    editor.add_property("ratedPower", "datatype", "Equipment", "xsd:decimal", RATED_POWER, RATED_POWER_DEFINITION,
                        **WHO)
    before = state(editor.store)
    with pytest.raises(OntologyError, match=f"already the label of property {KG.feedsInto}"):
        editor.relabel_term("ratedPower", {"en": "Feeds into"}, **WHO)
    with pytest.raises(OntologyError, match="already the label of property"):
        editor.relabel_term("ratedPower", {"zh": "供给"}, **WHO)
    assert state(editor.store) == before


def test_relabel_keeps_own_label(editor):
    result = editor.relabel_term("HAS_CODE", {"en": "Has code", "zh": "新代码"}, **WHO)
    assert result.applied


def test_case_variant_rename_rejected(editor):
    editor.add_class("CentrifugalPump", "Pump", {"en": "Centrifugal pump", "zh": "离心泵"}, PUMP_DEFINITION, **WHO)
    before = state(editor.store)
    with pytest.raises(OntologyError, match=f"differs only by case from 'Supplier' \\({KG.Supplier}\\)"):
        editor.rename_term("CentrifugalPump", "supplier", **WHO)
    assert state(editor.store) == before


def test_case_variant_add_rejected(editor):
    with pytest.raises(OntologyError, match="differs only by case from 'Supplier'"):
        editor.add_class("SUPPLIER", "Entity", {"en": "Vendor", "zh": "卖方"}, PUMP_DEFINITION, **WHO)
    with pytest.raises(OntologyError, match="differs only by case from 'cost'"):
        editor.add_property("Cost", "datatype", "Equipment", "xsd:decimal", RATED_POWER, RATED_POWER_DEFINITION, **WHO)


def test_case_change_of_own_name_allowed(editor):
    editor.add_class("CentrifugalPump", "Pump", {"en": "Centrifugal pump", "zh": "离心泵"}, PUMP_DEFINITION, **WHO)
    assert editor.rename_term("CentrifugalPump", "Centrifugalpump", **WHO).applied


def test_redeprecate_is_no_op(editor):
    editor.deprecate_term("Sensor", **WHO)
    again = editor.deprecate_term("Sensor", **WHO)
    assert again.applied is False
    assert again.version is None
    assert again.impact.description == "Sensor is already deprecated; nothing changed"
    assert editor.version() == ("0.1.1", 1)
    assert len(editor.history()) == 1


def test_restore_of_current_term_is_no_op(editor):
    result = editor.deprecate_term("Sensor", deprecated=False, **WHO)
    assert result.applied is False
    assert "not deprecated" in result.impact.description
    assert editor.version()[1] == 0


def test_relabel_to_same_label_is_no_op(editor):
    result = editor.relabel_term("Sensor", {"en": "Sensor"}, **WHO)
    assert result.applied is False
    assert "nothing changed" in result.impact.description
    assert editor.version()[1] == 0


def test_history_by_term_ignores_label_values(editor):
    editor.add_property("ratedPower", "datatype", "Equipment", "xsd:decimal", RATED_POWER, RATED_POWER_DEFINITION,
                        **WHO)
    editor.relabel_term("ratedPower", {"en": "Bearing"}, **WHO)
    editor.relabel_term("Bearing", {"zh": "滚动轴承"}, **WHO)
    assert [change.version for change in editor.history("Bearing")] == [3]
    assert [change.version for change in editor.history(str(KG.Bearing))] == [3]
    assert [change.version for change in editor.history("ratedPower")] == [1, 2]


def test_history_by_term_follows_rename(editor):
    editor.rename_term("Sensor", "Transducer", **WHO)
    editor.relabel_term("Transducer", {"zh": "变送器"}, **WHO)
    assert [change.version for change in editor.history("Transducer")] == [1, 2]
    assert [change.version for change in editor.history("Sensor")] == [1]
    assert [change.version for change in editor.history("Equipment")] == []


def test_impact_counts_singular_and_plural(editor):
    single = editor.rename_term("Sensor", "Transducer", preview=True, **WHO)
    editor.upsert_shape(PUMP_SHAPE.replace("kg:Equipment", "kg:Sensor"), **WHO)
    double = editor.rename_term("Sensor", "Transducer", preview=True, **WHO)
    assert "1 SHACL shape refers to Sensor" in single.impact.description
    assert "2 SHACL shapes refer to Sensor" in double.impact.description
    assert "0 instance nodes carry the label" in single.impact.description


def test_authenticated_author_kept_as_note(core_graph, settings, tmp_path):
    from kg_service.api.auth import ApiKeyStore

    key = ApiKeyStore(tmp_path / "api_keys.json").create("ci-bot", "ontology-editor")
    secured = settings.model_copy(update={"state_dir": tmp_path})
    with TestClient(create_app(secured, core_graph)) as client:
        body = client.post("/graphql", json={"query": ADD_CLASS, "variables": {"preview": False}},
                           headers={"X-API-Key": key}).json()
    change = OntologyEditor(core_graph).history()[-1]
    assert body["data"]["addClass"]["applied"] is True
    assert change.author == "ci-bot"
    assert change.author_note == "li.wei"


def test_ontology_changes_return_author_note(core_graph, settings, tmp_path):
    from kg_service.api.auth import ApiKeyStore

    keys = ApiKeyStore(tmp_path / "api_keys.json")
    editor_key, analyst_key = keys.create("ci-bot", "ontology-editor"), keys.create("ana", "analyst")
    OntologyEditor(core_graph).relabel_term("Equipment", {"en": "Machine"}, why="no note", author="li.wei")
    secured = settings.model_copy(update={"state_dir": tmp_path})
    query = "{ ontologyChanges { edges { node { author authorNote why } } } }"
    with TestClient(create_app(secured, core_graph)) as client:
        client.post("/graphql", json={"query": ADD_CLASS, "variables": {"preview": False}},
                    headers={"X-API-Key": editor_key})
        as_analyst = client.post("/graphql", json={"query": query}, headers={"X-API-Key": analyst_key}).json()
        as_reader = client.post("/graphql", json={"query": query}).json()

    nodes = [edge["node"] for edge in as_analyst["data"]["ontologyChanges"]["edges"]]
    assert nodes[0] == {"author": "li.wei", "authorNote": None, "why": "no note"}
    assert nodes[1] == {"author": "ci-bot", "authorNote": "li.wei", "why": "new fleet"}
    assert "needs the role analyst" in as_reader["errors"][0]["message"]


def test_move_preview_runs_same_checks(plant):
    before = state(plant.store)
    messages = []
    for preview in (True, False):
        with pytest.raises(OntologyError) as error:
            plant.move_class("MaintenanceAction", "Observation", preview=preview, **WHO)
        messages.append(str(error.value))
    assert "not supported" in messages[0]
    assert messages[0] == messages[1]
    assert state(plant.store) == before


def test_rename_impact_counts_sparql_shapes(editor):
    preview = editor.rename_term("Bearing", "RollingBearing", preview=True, **WHO)
    editor.rename_term("Bearing", "RollingBearing", **WHO)
    rewritten = editor.store.read("MATCH (c:OntologyChange {ontology: $iri, operation: 'renameTerm'}) "
                                  "RETURN c.arguments AS arguments", {"iri": SHAPES_ONTOLOGY_IRI})
    shapes = json.loads(rewritten[0]["arguments"])["shapes"]
    assert "https://w3id.org/kg-service/shapes#CoolingModuleBearingShape" in shapes
    assert preview.impact.shapes == len(shapes)
    assert f"{len(shapes)} SHACL shapes refer to Bearing" in preview.impact.description
