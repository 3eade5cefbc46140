"""Load instances written as RDF in the kg-core vocabulary (for example designs.ttl) into Neo4j.

Each subject IRI is `INSTANCE_NAMESPACE` followed by the node key, so the same key names a node
in Neo4j and a resource in RDF. A subject's `rdf:type` picks its label, kg: datatype properties
become node properties and kg: object properties become relationships. The whole file is read
and checked against the core ontology before the first write, so bad input writes nothing.
"""

from __future__ import annotations

import functools
import logging
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote as url_quote
from urllib.parse import unquote

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import RDF

from kg_service.config import Settings
from kg_service.errors import InputDataError, OntologyError
from kg_service.graph.records import GraphBatch
from kg_service.graph.store import GraphStore
from kg_service.graph.writer import BatchedWriter, WriteProgress, WriteReport
from kg_service.ontology.model import KG, OntologyModel
from kg_service.ontology.parsing import parse_ontology_file
from kg_service.ontology.schema import GraphSchema

logger = logging.getLogger(__name__)

INSTANCE_NAMESPACE = "https://w3id.org/kg-service/id/"


def instance_iri(key: str) -> URIRef:
    """Return the RDF IRI of the node with this key."""
    return URIRef(INSTANCE_NAMESPACE + url_quote(key, safe=":-._~/"))


def instance_key(iri: str) -> str | None:
    """Return the node key of an instance IRI, or None when the IRI is outside `INSTANCE_NAMESPACE`."""
    if not iri.startswith(INSTANCE_NAMESPACE) or len(iri) == len(INSTANCE_NAMESPACE):
        return None
    return unquote(iri[len(INSTANCE_NAMESPACE):])


@functools.lru_cache(maxsize=4)
def core_vocabulary(core_file: Path) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """Return the class IRI -> label, object property IRI -> relationship type and datatype property
    IRI -> property name maps of an ontology file."""
    model = OntologyModel.from_graph(parse_ontology_file(core_file))
    return ({iri: mapping.label for iri, mapping in model.classes.items()},
            {iri: rel.type for iri, rel in model.relationships.items()},
            {iri: prop.name for iri, prop in model.properties.items()})


def _plain_value(value: Literal, path: Path, subject: str, predicate: str) -> Any:
    """Return a Neo4j-storable Python value for a literal."""
    python = value.toPython()
    if isinstance(python, Decimal):
        return float(python)
    if isinstance(python, (str, int, float, bool, date, datetime)):
        return python
    if isinstance(python, Literal):
        return str(python)
    raise InputDataError(f"value {value!r} of {predicate} on {subject} cannot be stored in Neo4j", path=str(path),
                         hint="use an xsd:string, number, boolean, date or dateTime literal")


def _subject_label(graph: Graph, subject: URIRef, labels: dict[str, str], schema: GraphSchema, path: Path) -> str:
    """Return the most specific kg: class label of a subject."""
    kg_types = [str(value) for value in graph.objects(subject, RDF.type) if str(value).startswith(str(KG))]
    unknown = [iri for iri in kg_types if iri not in labels]
    if unknown:
        raise InputDataError(f"{subject} has the type {unknown[0]}, which is not a class of kg-core", path=str(path),
                             hint="use a class declared in ontology/kg-core.ttl")
    candidates = sorted({labels[iri] for iri in kg_types})
    if not candidates:
        raise InputDataError(f"{subject} has statements but no rdf:type of a kg-core class", path=str(path),
                             hint="add 'a kg:SomeClass' to it, or describe it in the file where it is typed")
    for label in candidates:
        schema.label(label)
    specific = [label for label in candidates if all(schema.is_a(label, other) for other in candidates)]
    if not specific:
        raise InputDataError(f"{subject} has the unrelated types {', '.join(candidates)}", path=str(path),
                             hint="give it one kg-core class, or classes that are subclasses of each other")
    return specific[0]


def read_instances(path: Path, schema: GraphSchema, core_file: Path) -> GraphBatch:
    """Read an RDF file of kg-core instances into graph records; raise InputDataError on bad input."""
    path = Path(path)
    if not path.is_file():
        raise InputDataError("file not found", path=str(path), hint="pass an existing Turtle, RDF/XML or N-Triples file")
    try:
        graph = parse_ontology_file(path)
    except OntologyError as error:
        raise InputDataError(str(error).replace(f"{path}: ", "", 1), path=str(path)) from None
    labels, relationship_types, property_names = core_vocabulary(core_file)

    batch = GraphBatch()
    subjects = sorted({subject for subject in graph.subjects() if subject is not None}, key=str)
    for subject in subjects:
        if isinstance(subject, BNode):
            raise InputDataError(f"a blank node has statements ({graph.value(subject, RDF.type) or 'no type'})",
                                 path=str(path), hint=f"give every instance an IRI under {INSTANCE_NAMESPACE}")
        key = instance_key(str(subject))
        if key is None:
            raise InputDataError(f"subject {subject} is outside the instance namespace", path=str(path),
                                 hint=f"name instances {INSTANCE_NAMESPACE}<key>, for example with "
                                      f"'@prefix kgi: <{INSTANCE_NAMESPACE}>'")
        label = _subject_label(graph, subject, labels, schema, path)
        properties: dict[str, Any] = {}
        for predicate, value in graph.predicate_objects(subject):
            predicate_iri = str(predicate)
            if predicate == RDF.type or predicate_iri in relationship_types:
                continue
            if predicate_iri not in property_names:
                raise InputDataError(f"{subject} uses the predicate {predicate_iri}, which is not a datatype or "
                                     "object property of kg-core", path=str(path),
                                     hint="use kg-core properties only (kg:nameEn and kg:nameZh for labels)")
            if not isinstance(value, Literal):
                raise InputDataError(f"{predicate_iri} on {subject} must be a literal, got {value}", path=str(path))
            name = schema.property(property_names[predicate_iri])
            if name in properties:
                raise InputDataError(f"{subject} has several values of {predicate_iri}", path=str(path),
                                     hint="keep one value per datatype property")
            properties[name] = _plain_value(value, path, str(subject), predicate_iri)
        batch.add_node(label, key, **properties)

    for subject, predicate, value in sorted(graph, key=lambda triple: tuple(map(str, triple))):
        rel_type = relationship_types.get(str(predicate))
        if rel_type is None:
            continue
        end_key = instance_key(str(value)) if isinstance(value, URIRef) else None
        if end_key is None or end_key not in batch.nodes:
            raise InputDataError(f"{predicate} on {subject} points at {value}, which is not a typed instance in "
                                 "this file", path=str(path), hint="describe the target with 'a kg:SomeClass' in the "
                                                                  "same file")
        start = batch.nodes[instance_key(str(subject))]
        end = batch.nodes[end_key]
        try:
            schema.check_relationship(rel_type, start.label, end.label)
        except OntologyError as error:
            raise InputDataError(f"{subject} {predicate} {value}: {error}", path=str(path)) from None
        batch.add_relationship(rel_type, start.id, end.id)
    logger.info("read %s: %d nodes, %d relationships", path, len(batch.nodes), len(batch.relationships))
    return batch


def load_rdf_instances(store: GraphStore, settings: Settings, path: Path,
                       progress: WriteProgress | None = None) -> tuple[GraphBatch, WriteReport]:
    """Read an RDF file of kg-core instances and write it through the batched writer."""
    from kg_service.ingest import CORE_ONTOLOGY_FILE, current_schema

    schema = current_schema(store)
    batch = read_instances(path, schema, CORE_ONTOLOGY_FILE)
    writer = BatchedWriter(store, schema, settings.batch_size, progress)
    return batch, writer.write(batch.nodes.values(), batch.relationships.values())
