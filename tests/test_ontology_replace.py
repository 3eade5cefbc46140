"""`ontology replace` after renames that migrated instance data or rewrote the stored shapes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from rdflib import URIRef

from kg_service.errors import OntologyError
from kg_service.graph.checksum import graph_checksum
from kg_service.ingest import load_ontologies
from kg_service.ontology.editing import SHAPES_ONTOLOGY_IRI, OntologyEditor
from kg_service.ontology.model import KG
from kg_service.ontology.storage import export_ontology
from kg_service.reasoning.design import DesignInput, PartChoice, Quantity, check_design
from loaders.rdf_instances import load_rdf_instances
from tests.conftest import CORE_ONTOLOGY, SAMPLE_DIR, wipe

pytestmark = pytest.mark.neo4j

KG_SERVICE = Path(sys.executable).parent / "kg-service"
WHO = {"why": "replace test", "author": "tester"}
RESET = {"author": "qa", "why": "reset after rename"}
SHAPES = "https://w3id.org/kg-service/shapes#"
SH_SELECT = URIRef("http://www.w3.org/ns/shacl#select")
UNDO_RENAME = 'renameTerm(term: "RollingBearing", newName: "Bearing", migrate: true)'
TURBINE = {"en": "Turbine", "zh": "涡轮机"}
TURBINE_DEFINITION = {"en": "Equipment that turns fluid flow into rotation.", "zh": "将流体转为旋转的设备。"}


@pytest.fixture
def designs(store, settings):
    """The core ontology with the sample designs, whose bearing parts carry the label Bearing."""
    wipe(store)
    load_ontologies(store, [CORE_ONTOLOGY])
    load_rdf_instances(store, settings, SAMPLE_DIR / "designs.ttl")
    return store


def count_label(store, label: str) -> int:
    return store.read(f"MATCH (n:Entity:`{label}`) RETURN count(n) AS n")[0]["n"]


def shape_queries(store) -> str:
    shapes = export_ontology(store, SHAPES_ONTOLOGY_IRI)
    return "\n".join(str(text) for text in shapes.objects(None, SH_SELECT))


def bearing_violations(store) -> list:
    design = DesignInput(materials=["EN AC-43000"],
                         parts=[PartChoice(part="6204-2RS", speed_limit=Quantity(value=0, unit="rpm"))])
    return [item for item in check_design(store, design).violations
            if item.source_shape == SHAPES + "BearingRatingShape"]


def test_replace_after_migrated_rename_refused(designs):
    bearings = count_label(designs, "Bearing")
    OntologyEditor(designs).rename_term("Bearing", "RollingBearing", migrate=True, **WHO)
    before = graph_checksum(designs)
    queries_before = shape_queries(designs)

    with pytest.raises(OntologyError) as error:
        load_ontologies(designs, [CORE_ONTOLOGY], replace=True, **RESET)

    message = str(error.value)
    assert "renameTerm Bearing -> RollingBearing" in message
    assert f"moved {bearings} instance nodes" in message
    assert "CoolingModuleBearingShape" in message
    assert UNDO_RENAME in message
    assert "--undo-migrations" in message
    assert bearings > 0
    assert graph_checksum(designs) == before
    assert shape_queries(designs) == queries_before
    assert "kg:RollingBearing" in queries_before
    assert count_label(designs, "RollingBearing") == bearings
    assert (KG.RollingBearing, None, None) in export_ontology(designs)


def test_replace_cli_rejects_migrated_rename(designs):
    OntologyEditor(designs).rename_term("Bearing", "RollingBearing", migrate=True, **WHO)
    before = graph_checksum(designs)
    run = subprocess.run([str(KG_SERVICE), "ontology", "replace", str(CORE_ONTOLOGY), "--author", "qa",
                          "--why", "reset after rename"], capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    assert "renameTerm Bearing -> RollingBearing" in run.stdout + run.stderr
    assert graph_checksum(designs) == before


def test_replace_undoes_migrated_rename(designs):
    bearings = count_label(designs, "Bearing")
    editor = OntologyEditor(designs)
    editor.rename_term("Bearing", "RollingBearing", migrate=True, **WHO)

    load_ontologies(designs, [CORE_ONTOLOGY], replace=True, undo_migrations=True, **RESET)

    history = editor.history()
    queries = shape_queries(designs)
    assert count_label(designs, "Bearing") == bearings
    assert count_label(designs, "RollingBearing") == 0
    assert "?value a kg:Bearing" in queries
    assert "RollingBearing" not in queries
    assert not any(KG.RollingBearing in triple for triple in export_ontology(designs, SHAPES_ONTOLOGY_IRI))
    assert [item.path for item in bearing_violations(designs)] == ["kg:speedLimit"]
    assert [change.operation for change in history] == ["renameTerm", "renameTerm", "loadOntology"]
    assert history[1].arguments["term"] == str(KG.RollingBearing)
    assert "reset after rename" in history[1].why


def test_replace_undoes_renames_newest_first(designs):
    bearings = count_label(designs, "Bearing")
    editor = OntologyEditor(designs)
    editor.rename_term("Bearing", "RollingBearing", migrate=True, **WHO)
    editor.rename_term("RollingBearing", "BallBearing", migrate=True, **WHO)

    load_ontologies(designs, [CORE_ONTOLOGY], replace=True, undo_migrations=True, **RESET)

    assert count_label(designs, "Bearing") == bearings
    assert count_label(designs, "BallBearing") == 0
    assert count_label(designs, "RollingBearing") == 0
    assert "?value a kg:Bearing" in shape_queries(designs)


def test_replace_after_shape_rewrite_refused(core_graph):
    # Sensor has no instances here, but the rename rewrote AssetShape.
    OntologyEditor(core_graph).rename_term("Sensor", "Transducer", **WHO)
    with pytest.raises(OntologyError, match="rewrote the stored shapes AssetShape"):
        load_ontologies(core_graph, [CORE_ONTOLOGY], replace=True, **RESET)
    assert (KG.Transducer, None, None) in export_ontology(core_graph)


def test_replace_after_renamed_back_allowed(designs):
    editor = OntologyEditor(designs)
    editor.rename_term("Bearing", "RollingBearing", migrate=True, **WHO)
    editor.rename_term("RollingBearing", "Bearing", migrate=True, **WHO)
    editor.add_class("Turbine", "Equipment", TURBINE, TURBINE_DEFINITION, **WHO)

    load_ontologies(designs, [CORE_ONTOLOGY], replace=True, **RESET)

    assert editor.history()[-1].operation == "loadOntology"
    assert (KG.Turbine, None, None) not in export_ontology(designs)
    assert count_label(designs, "RollingBearing") == 0


def test_replace_undo_failure_names_change(designs, monkeypatch):
    editor = OntologyEditor(designs)
    editor.rename_term("Bearing", "RollingBearing", migrate=True, **WHO)
    before = graph_checksum(designs)

    def fail(self, *args, **kwargs):
        raise OntologyError("simulated failure")

    monkeypatch.setattr(OntologyEditor, "rename_term", fail)
    with pytest.raises(OntologyError) as error:
        load_ontologies(designs, [CORE_ONTOLOGY], replace=True, undo_migrations=True, **RESET)

    message = str(error.value)
    assert "undoing change 1 (renameTerm Bearing -> RollingBearing" in message
    assert "simulated failure" in message
    assert UNDO_RENAME in message
    assert graph_checksum(designs) == before


# Classes and object properties that an expert added and loaders then used

DRIVES = {"en": "drives", "zh": "驱动"}
DRIVES_DEFINITION = {"en": "The turbine turns this equipment.", "zh": "涡轮机带动该设备。"}


def add_turbines(store) -> OntologyEditor:
    """Add the class Turbine and the object property drives as an expert would, then write two turbines."""
    from kg_service.graph.records import GraphBatch
    from kg_service.graph.writer import BatchedWriter
    from kg_service.ingest import current_schema

    editor = OntologyEditor(store)
    editor.add_class("Turbine", "Equipment", TURBINE, TURBINE_DEFINITION, **WHO)
    editor.add_property("drives", "object", "Turbine", "Equipment", DRIVES, DRIVES_DEFINITION, **WHO)
    batch = GraphBatch()
    first = batch.add_node("Turbine", "asset:plant:turbine-1", name="Turbine 1", source="plant")
    batch.add_node("Turbine", "asset:plant:turbine-2", name="Turbine 2", source="plant")
    pump = batch.add_node("Equipment", "asset:plant:pump-1", name="Pump 1", source="plant")
    batch.add_relationship("DRIVES", first, pump)
    BatchedWriter(store, current_schema(store)).write(batch.nodes.values(), batch.relationships.values())
    return editor


def test_replace_rejects_orphaned_expert_class(core_graph):
    add_turbines(core_graph)
    before = graph_checksum(core_graph)

    with pytest.raises(OntologyError) as error:
        load_ontologies(core_graph, [CORE_ONTOLOGY], replace=True, **RESET)

    message = str(error.value)
    assert "the replace was rejected" in message
    assert "- class Turbine (label Turbine): 2 instance nodes" in message
    assert "- object property drives (relationship type DRIVES): 1 relationship" in message
    assert "--keep-orphans" in message
    assert f"Add these terms to {CORE_ONTOLOGY}" in message
    assert graph_checksum(core_graph) == before
    assert (KG.Turbine, None, None) in export_ontology(core_graph)


def test_replace_keeps_orphans_when_asked(core_graph):
    editor = add_turbines(core_graph)

    load_ontologies(core_graph, [CORE_ONTOLOGY], replace=True, keep_orphans=True, **RESET)

    last = editor.history()[-1]
    assert (KG.Turbine, None, None) not in export_ontology(core_graph)
    assert count_label(core_graph, "Turbine") == 2
    assert core_graph.read("MATCH (n:Equipment:Turbine) RETURN count(n) AS n")[0]["n"] == 2
    assert last.operation == "loadOntology"
    assert last.arguments["keptOrphans"] == {"Turbine": 2, "DRIVES": 1}


def test_replace_orphan_check_precedes_undo(designs):
    editor = add_turbines(designs)
    editor.rename_term("Bearing", "RollingBearing", migrate=True, **WHO)
    before = graph_checksum(designs)
    changes_before = len(editor.history())

    with pytest.raises(OntologyError) as error:
        load_ontologies(designs, [CORE_ONTOLOGY], replace=True, undo_migrations=True, **RESET)

    message = str(error.value)
    assert "class Turbine (label Turbine): 2 instance nodes" in message
    assert "RollingBearing" not in message
    assert graph_checksum(designs) == before
    assert len(editor.history()) == changes_before

    load_ontologies(designs, [CORE_ONTOLOGY], replace=True, undo_migrations=True, keep_orphans=True, **RESET)

    assert count_label(designs, "RollingBearing") == 0
    assert count_label(designs, "Turbine") == 2
    assert editor.history()[-1].arguments["keptOrphans"] == {"Turbine": 2, "DRIVES": 1}


def test_replace_cli_keep_orphans(core_graph):
    add_turbines(core_graph)
    before = graph_checksum(core_graph)
    command = [str(KG_SERVICE), "ontology", "replace", str(CORE_ONTOLOGY), "--author", "qa", "--why", "start over"]

    rejected = subprocess.run(command, capture_output=True, text=True, timeout=120)
    checksum_after_rejection = graph_checksum(core_graph)
    kept = subprocess.run(command + ["--keep-orphans"], capture_output=True, text=True, timeout=120)

    assert rejected.returncode == 1
    assert "class Turbine (label Turbine): 2 instance nodes" in rejected.stderr
    assert checksum_after_rejection == before
    assert kept.returncode == 0, kept.stderr
    assert (KG.Turbine, None, None) not in export_ontology(core_graph)
    assert count_label(core_graph, "Turbine") == 2
