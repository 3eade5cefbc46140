"""The load summary names skipped terms by IRI and counts blank nodes instead of printing their ids.

Blank-node ids such as `ne9a620…` change on every parse and name nothing a reader can look up.
"""

from __future__ import annotations

from rdflib import BNode, Graph

from kg_service.ontology.model import OntologyModel
from tests.conftest import data_file

RESTRICTION = "OWL restriction (kept as metadata)"
INVERSE = "owl:inverseOf axiom (kept as metadata)"

# One named inverseOf axiom and one on a blank node, and one restriction (always a blank node).
TURTLE = """
@prefix : <http://example.org/plant#> .
@prefix owl: <http://www.w3.org/2002/07/owl#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .

<http://example.org/plant> a owl:Ontology .
:Pump a owl:Class ;
    rdfs:subClassOf [ a owl:Restriction ; owl:onProperty :hasPart ; owl:someValuesFrom :Impeller ] .
:Impeller a owl:Class .
:hasPart a owl:ObjectProperty ; owl:inverseOf :partOf .
:partOf a owl:ObjectProperty .
[ owl:inverseOf :hasPart ] .
"""


def summary_of(graph: Graph):
    return OntologyModel.from_graph(graph).summary()


def test_summary_counts_blank_nodes():
    summary = summary_of(Graph().parse(data=TURTLE, format="turtle"))
    assert summary.skipped[RESTRICTION] == 1
    assert summary.skipped_blank_nodes[RESTRICTION] == 1
    assert summary.skipped[INVERSE] == 2
    assert summary.skipped_blank_nodes[INVERSE] == 1


def test_summary_examples_named_first():
    summary = summary_of(Graph().parse(data=TURTLE, format="turtle"))
    assert summary.skipped_examples[INVERSE][0] == "http://example.org/plant#hasPart"
    assert summary.skipped_examples[INVERSE][1].startswith("_:")


def test_summary_text_hides_blank_ids():
    summary = summary_of(Graph().parse(data=TURTLE, format="turtle"))
    lines = {line.split(" x ", 1)[1].split("  (")[0]: line for line in summary.as_text().splitlines() if " x " in line}
    assert lines[RESTRICTION].endswith("(all blank nodes, which have no IRI)")
    assert lines[INVERSE].endswith("(e.g. http://example.org/plant#hasPart; 1 of them blank nodes)")
    assert "_:" not in summary.as_text()


def test_fmea_summary_names_terms_only():
    graph = Graph().parse(data_file("ontologies", "lis14_fmea", "fmea-iso.ttl"))
    blank_ids = {str(node) for node in graph.all_nodes() if isinstance(node, BNode)}
    text = summary_of(graph).as_text()
    assert blank_ids
    assert "all blank nodes, which have no IRI" in text
    assert not any(blank_id in text for blank_id in blank_ids)
