"""Loading a new release of an ontology file into a stored copy that experts edited merges what the file adds."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rdflib import Literal
from rdflib.namespace import OWL, RDFS

from kg_service.errors import UnknownTermError
from kg_service.graph.checksum import graph_checksum
from kg_service.ingest import ingest_telemetry, load_ontologies
from kg_service.ontology.editing import OntologyEditor
from kg_service.ontology.model import KG, KG_ONTOLOGY_IRI, OntologyModel
from kg_service.ontology.release_merge import MERGE_AUTHOR, MERGE_OPERATION
from kg_service.ontology.schema import GraphSchema
from kg_service.ontology.storage import export_ontology, ontology_load_state, store_ontology
from tests.conftest import CORE_ONTOLOGY, wipe

pytestmark = pytest.mark.neo4j

KG_SERVICE = Path(sys.executable).parent / "kg-service"
XSD_DECIMAL = "http://www.w3.org/2001/XMLSchema#decimal"
WHO = {"why": "plant wording", "author": "li.wei"}
TURBINE = {"en": "Turbine", "zh": "涡轮机"}
TURBINE_DEFINITION = {"en": "Equipment that turns fluid flow into rotation.", "zh": "将流体转为旋转的设备。"}
SOURCE_FILE_CLASS = {"en": "Source document file", "zh": "源文档文件"}
SOURCE_FILE_DEFINITION = {"en": "A file that a document came from.", "zh": "文档所来自的文件。"}
FLOW_METER = {"en": "Flow sensor", "zh": "流量传感器"}
FLOW_METER_DEFINITION = {"en": "A sensor that measures flow.", "zh": "测量流量的传感器。"}
# One datatype property and one class that the release adds to kg-core.ttl.
RELEASE_TERMS = """
kg:ratedPower a owl:DatatypeProperty ;
    rdfs:domain kg:Equipment ;
    rdfs:range xsd:decimal ;
    rdfs:label "rated power"@en , "额定功率"@zh ;
    skos:definition "The power that the equipment is rated for, in kW."@en , "设备的额定功率，单位千瓦。"@zh .

kg:Flowmeter a owl:Class ;
    rdfs:subClassOf kg:Sensor ;
    rdfs:label "Flowmeter"@en , "流量计"@zh ;
    skos:definition "A sensor that measures the flow of a fluid."@en , "测量流体流量的传感器。"@zh .
"""
# A class whose parent is another new class that sorts after it, and an object property between them.
DEPENDENT_TERMS = """
kg:AxialTurbineFlowmeter a owl:Class ;
    rdfs:subClassOf kg:TurbineFlowmeter ;
    rdfs:label "Axial turbine flowmeter"@en , "轴向涡轮流量计"@zh ;
    skos:definition "A turbine flowmeter with an axial rotor."@en , "带轴向转子的涡轮流量计。"@zh .

kg:TurbineFlowmeter a owl:Class ;
    rdfs:subClassOf kg:Sensor ;
    rdfs:label "Turbine flowmeter"@en , "涡轮流量计"@zh ;
    skos:definition "A flowmeter whose rotor turns with the flow."@en , "转子随流体转动的流量计。"@zh .

kg:calibratedAgainst a owl:ObjectProperty ;
    kg:relationshipType "CALIBRATED_AGAINST" ;
    rdfs:domain kg:AxialTurbineFlowmeter ;
    rdfs:range kg:TurbineFlowmeter ;
    rdfs:label "calibrated against"@en , "校准依据"@zh ;
    skos:definition "The reference flowmeter used for calibration."@en , "校准时所用的参考流量计。"@zh .
"""
# A new class and a property whose domain is that class.
FLOW_TERMS = """
kg:FlowMeter a owl:Class ;
    rdfs:subClassOf kg:Sensor ;
    rdfs:label "Flow meter"@en , "流量表"@zh ;
    skos:definition "A meter of flow."@en , "流量表。"@zh .

kg:flowRange a owl:DatatypeProperty ;
    rdfs:domain kg:FlowMeter ;
    rdfs:range xsd:string ;
    rdfs:label "flow range"@en , "流量范围"@zh ;
    skos:definition "The range of flow that the meter measures."@en , "流量表的测量范围。"@zh .
"""
# The release's new property on a class that an expert renamed.
BEARING_TERMS = """
kg:boreDiameter a owl:DatatypeProperty ;
    rdfs:domain kg:Bearing ;
    rdfs:range xsd:decimal ;
    rdfs:label "bore diameter"@en , "内径"@zh ;
    skos:definition "The inner diameter of the bearing, in mm."@en , "轴承的内径，单位毫米。"@zh .
"""
TELEMETRY_MAPPING = """
kind: telemetry
source: release-merge
asset_namespace: release-plant
columns: {asset: asset, timestamp: time}
signals:
  - {column: vib, name: vibration, unit: mm/s}
failure: {flag: failed, mode_column: mode}
"""


def core_text() -> str:
    return CORE_ONTOLOGY.read_text(encoding="utf-8")


def write_core(tmp_path: Path, name: str, text: str) -> Path:
    """Write an ontology file named kg-core.ttl in its own folder under `tmp_path`."""
    folder = tmp_path / name
    folder.mkdir()
    path = folder / "kg-core.ttl"
    path.write_text(text, encoding="utf-8")
    return path


def core_without_source_file() -> str:
    """Return kg-core.ttl as it was before the release that added kg:sourceFile."""
    text = core_text()
    start = text.index("kg:sourceFile a owl:DatatypeProperty")
    end = text.index("\n\n", start)
    return text[:start] + text[end + 2:]


@pytest.fixture
def edited(store):
    """The core ontology with two expert edits: Sensor relabelled in Chinese and the class Turbine added."""
    wipe(store)
    load_ontologies(store, [CORE_ONTOLOGY])
    editor = OntologyEditor(store)
    editor.relabel_term("Sensor", {"zh": "传感装置"}, **WHO)
    editor.add_class("Turbine", "Equipment", TURBINE, TURBINE_DEFINITION, **WHO)
    return editor


@pytest.fixture
def release(tmp_path) -> Path:
    return write_core(tmp_path, "release", core_text() + RELEASE_TERMS)


def class_row(store, label: str) -> dict | None:
    rows = store.read("MATCH (c:OntologyClass {nodeLabel: $label}) OPTIONAL MATCH (c)-[:SUBCLASS_OF]->(p) "
                      "RETURN c.label_en AS en, c.label_zh AS zh, collect(p.nodeLabel) AS parents", {"label": label})
    return rows[0] if rows else None


def property_row(store, name: str) -> dict | None:
    rows = store.read("MATCH (p:OntologyProperty {propertyName: $name}) OPTIONAL MATCH (p)-[:DOMAIN]->(d) "
                      "RETURN p.kind AS kind, p.datatype AS datatype, p.label_zh AS zh, d.nodeLabel AS domain",
                      {"name": name})
    return rows[0] if rows else None


def warnings(caplog) -> str:
    return "\n".join(record.getMessage() for record in caplog.records if record.levelname == "WARNING")


# Adding what the release adds


def test_merge_adds_release_terms(edited, release):
    load_ontologies(edited.store, [release])

    store = edited.store
    assert property_row(store, "ratedPower") == {"kind": "datatype", "datatype": XSD_DECIMAL, "zh": "额定功率",
                                                 "domain": "Equipment"}
    assert class_row(store, "Flowmeter") == {"en": "Flowmeter", "zh": "流量计", "parents": ["Sensor"]}
    schema = GraphSchema.from_store(store)
    assert "ratedPower" in schema.properties
    assert schema.is_a("Flowmeter", "Sensor")


def test_merge_keeps_expert_edits(edited, release):
    load_ontologies(edited.store, [release])

    store = edited.store
    assert class_row(store, "Sensor")["zh"] == "传感装置"
    assert class_row(store, "Turbine") == {"en": "Turbine", "zh": "涡轮机", "parents": ["Equipment"]}
    exported = export_ontology(store)
    assert (KG.Sensor, RDFS.label, Literal("传感装置", lang="zh")) in exported
    assert (KG.Sensor, RDFS.label, Literal("传感器", lang="zh")) not in exported


def test_merge_logged_as_one_change(edited, release):
    _, _, loaded_at = ontology_load_state(edited.store, KG_ONTOLOGY_IRI)
    load_ontologies(edited.store, [release])

    history = edited.history()
    last = history[-1]
    assert [change.operation for change in history] == ["relabelTerm", "addClass", MERGE_OPERATION]
    assert last.author == MERGE_AUTHOR
    assert last.why == f"added 2 terms of {release} that the stored, edited copy lacked"
    assert last.arguments["added"] == [str(KG.Flowmeter), str(KG.ratedPower)]
    assert last.arguments["leftOut"] == {}
    assert edited.version() == ("0.1.3", 3)
    assert (KG.ratedPower, None, None) in edited.snapshot(3)
    assert (KG.ratedPower, None, None) not in edited.snapshot(2)
    # The merge is no full load, so the expert edits still count as edits.
    assert ontology_load_state(edited.store, KG_ONTOLOGY_IRI) == (True, 3, loaded_at)


def test_merge_found_in_term_history(edited, release):
    """`ontology history --term ratedPower` returned nothing after a merge added ratedPower."""
    load_ontologies(edited.store, [release])

    assert [change.operation for change in edited.history(term="ratedPower")] == [MERGE_OPERATION]
    assert [change.operation for change in edited.history(term=str(KG.Flowmeter))] == [MERGE_OPERATION]
    assert MERGE_OPERATION not in [change.operation for change in edited.history(term="Turbine")]


def test_merge_reload_changes_nothing(edited, release, caplog):
    load_ontologies(edited.store, [release])
    before = graph_checksum(edited.store)

    with caplog.at_level("WARNING"):
        load_ontologies(edited.store, [release])

    assert graph_checksum(edited.store) == before
    assert len(edited.history()) == 3
    assert edited.version() == ("0.1.3", 3)
    assert "kept the stored ontology" in warnings(caplog)
    assert "2 edits " in warnings(caplog)


def test_merge_keeps_stored_statements(edited, tmp_path):
    # The release also relabels Sensor and gives Turbine another parent: the stored, edited copy wins.
    text = core_text().replace('"Sensor"@en', '"Sensing device"@en') + RELEASE_TERMS + """
kg:Turbine a owl:Class ;
    rdfs:subClassOf kg:Asset ;
    rdfs:label "Steam turbine"@en , "汽轮机"@zh .
"""
    load_ontologies(edited.store, [write_core(tmp_path, "relabelled", text)])

    assert class_row(edited.store, "Sensor")["en"] == "Sensor"
    assert class_row(edited.store, "Turbine") == {"en": "Turbine", "zh": "涡轮机", "parents": ["Equipment"]}
    assert edited.history()[-1].arguments["added"] == [str(KG.Flowmeter), str(KG.ratedPower)]


def test_merge_orders_dependent_terms(edited, tmp_path):
    load_ontologies(edited.store, [write_core(tmp_path, "dependent", core_text() + DEPENDENT_TERMS)])

    assert class_row(edited.store, "AxialTurbineFlowmeter")["parents"] == ["TurbineFlowmeter"]
    assert class_row(edited.store, "TurbineFlowmeter")["parents"] == ["Sensor"]
    rule = GraphSchema.from_store(edited.store).relationship("CALIBRATED_AGAINST")
    assert (rule.domain, rule.range) == ("AxialTurbineFlowmeter", "TurbineFlowmeter")
    assert len(edited.history()[-1].arguments["added"]) == 3


def test_load_without_edits_still_replaces(core_graph, release):
    load_ontologies(core_graph, [release])

    assert property_row(core_graph, "ratedPower")["domain"] == "Equipment"
    assert OntologyEditor(core_graph).history() == []


# Terms that experts renamed or deprecated


def test_merge_skips_renamed_term(core_graph, caplog):
    editor = OntologyEditor(core_graph)
    editor.rename_term("Bearing", "RollingBearing", **WHO)
    before = graph_checksum(core_graph)

    with caplog.at_level("INFO", logger="kg_service.ontology.release_merge"):
        load_ontologies(core_graph, [CORE_ONTOLOGY])

    assert graph_checksum(core_graph) == before
    assert class_row(core_graph, "Bearing") is None
    assert class_row(core_graph, "RollingBearing") is not None
    assert [change.operation for change in editor.history()] == ["renameTerm"]
    assert "Bearing: an expert renamed it to RollingBearing in change 1" in caplog.text


def test_merge_follows_renamed_domain(core_graph, tmp_path):
    editor = OntologyEditor(core_graph)
    editor.rename_term("Bearing", "RollingBearing", **WHO)

    load_ontologies(core_graph, [write_core(tmp_path, "bearing", core_text() + BEARING_TERMS)])

    assert property_row(core_graph, "boreDiameter")["domain"] == "RollingBearing"
    assert class_row(core_graph, "Bearing") is None
    last = editor.history()[-1]
    assert last.arguments["added"] == [str(KG.boreDiameter)]
    assert last.arguments["notReadded"] == {str(KG.Bearing): "an expert renamed it to RollingBearing in change 1"}


def test_merge_skips_removed_term(edited, release):
    # No editor operation deletes a term yet, so the removal is logged the way such an operation would be.
    store = edited.store
    _, latest, loaded_at = ontology_load_state(store, KG_ONTOLOGY_IRI)
    graph = export_ontology(store)
    graph.remove((KG.Bearing, None, None))
    change = {"ontology": KG_ONTOLOGY_IRI, "author": "li.wei", "operation": "deleteTerm", "why": "not used",
              "term": str(KG.Bearing), "arguments": "{}", "ontologyVersion": "0.1.3",
              "snapshot": graph.serialize(format="turtle")}
    store_ontology(store, OntologyModel.from_graph(graph, KG_ONTOLOGY_IRI), source="test", change=change,
                   expected_version=latest, loaded_at=loaded_at)

    load_ontologies(store, [release])

    assert class_row(store, "Bearing") is None
    last = edited.history()[-1]
    assert last.arguments["added"] == [str(KG.Flowmeter), str(KG.ratedPower)]
    assert last.arguments["notReadded"] == {
        str(KG.Bearing): "the stored copy had it at change-log version 2 and an expert removed it since"}


def test_merge_keeps_deprecation(core_graph, release):
    editor = OntologyEditor(core_graph)
    editor.deprecate_term("Bearing", **WHO)

    load_ontologies(core_graph, [release])

    assert (KG.Bearing, OWL.deprecated, Literal(True)) in export_ontology(core_graph)
    assert "Bearing" in GraphSchema.from_store(core_graph).deprecated
    assert property_row(core_graph, "ratedPower") is not None


# Terms that fail the checks of an expert's edit


def test_merge_leaves_out_colliding_term(store, tmp_path, caplog):
    wipe(store)
    load_ontologies(store, [write_core(tmp_path, "old", core_without_source_file())])
    editor = OntologyEditor(store)
    editor.add_class("SourceFile", "Document", SOURCE_FILE_CLASS, SOURCE_FILE_DEFINITION, **WHO)

    with caplog.at_level("WARNING"):
        load_ontologies(store, [write_core(tmp_path, "release", core_text() + RELEASE_TERMS)])

    message = warnings(caplog)
    assert f"- {KG.sourceFile}: name 'sourceFile' differs only by case from 'SourceFile'" in message
    assert property_row(store, "sourceFile") is None
    assert class_row(store, "SourceFile") is not None
    assert property_row(store, "ratedPower") is not None
    last = editor.history()[-1]
    assert last.arguments["added"] == [str(KG.Flowmeter), str(KG.ratedPower)]
    assert list(last.arguments["leftOut"]) == [str(KG.sourceFile)]


def test_merge_leaves_out_dependent_of_colliding_class(edited, tmp_path, caplog):
    edited.add_class("Flowmeter", "Sensor", FLOW_METER, FLOW_METER_DEFINITION, **WHO)
    before = graph_checksum(edited.store)

    with caplog.at_level("WARNING"):
        load_ontologies(edited.store, [write_core(tmp_path, "flow", core_text() + FLOW_TERMS)])

    message = warnings(caplog)
    assert f"- {KG.FlowMeter}: name 'FlowMeter' differs only by case from 'Flowmeter'" in message
    assert f"- {KG.flowRange}: its domain {KG.FlowMeter} is not a class of the stored ontology" in message
    assert graph_checksum(edited.store) == before
    assert [change.operation for change in edited.history()][-1] == "addClass"


def test_merge_leaves_out_label_collision(edited, tmp_path, caplog):
    text = core_text() + RELEASE_TERMS.replace('"Flowmeter"@en', '"turbine"@en')

    with caplog.at_level("WARNING"):
        load_ontologies(edited.store, [write_core(tmp_path, "label", text)])

    assert f"- {KG.Flowmeter}: label 'turbine'@en is already the label of class {KG.Turbine}" in warnings(caplog)
    assert class_row(edited.store, "Flowmeter") is None
    assert edited.history()[-1].arguments["added"] == [str(KG.ratedPower)]


def test_merge_cli_reports_merge(edited, release):
    run = subprocess.run([str(KG_SERVICE), "ontology", "load", str(release)], capture_output=True, text=True,
                         timeout=120)

    assert run.returncode == 0, run.stderr
    assert "merged 2 new terms" in run.stdout + run.stderr
    assert edited.history()[-1].operation == MERGE_OPERATION


# Regression: the release that added kg:sourceFile never reached a graph whose ontology experts had edited.


@pytest.fixture
def telemetry_files(settings, tmp_path):
    shutil.rmtree(settings.telemetry_dir / "release-merge", ignore_errors=True)
    mapping = tmp_path / "release-merge.yaml"
    mapping.write_text(TELEMETRY_MAPPING, encoding="utf-8")
    data = tmp_path / "may.csv"
    data.write_text("time,asset,vib,failed,mode\n2025-05-01T00:00:00,RM-1,1.0,1,Overheat\n"
                    "2025-05-01T01:00:00,RM-1,2.0,0,\n", encoding="utf-8")
    yield data, mapping
    shutil.rmtree(settings.telemetry_dir / "release-merge", ignore_errors=True)


def test_source_file_release_reaches_edited_graph(store, settings, tmp_path, telemetry_files):
    data, mapping = telemetry_files
    wipe(store)
    load_ontologies(store, [write_core(tmp_path, "old", core_without_source_file())])
    OntologyEditor(store).relabel_term("Sensor", {"zh": "传感装置"}, **WHO)
    with pytest.raises(UnknownTermError, match="property 'sourceFile' is not a datatype property"):
        ingest_telemetry(store, settings, data, mapping)

    load_ontologies(store, [CORE_ONTOLOGY])
    ingest_telemetry(store, settings, data, mapping)

    events = store.read("MATCH (e:FailureEvent)-[:FOR_ASSET]->(:Equipment {name: 'RM-1'}) "
                        "RETURN e.sourceFile AS file")
    assert events == [{"file": "may"}]
    assert class_row(store, "Sensor")["zh"] == "传感装置"
