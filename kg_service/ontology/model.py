"""Map an OWL ontology onto a property-graph schema: classes to labels, object properties to
relationship types, datatype properties to property names.

What cannot be mapped is kept as ontology metadata only and reported with its reason, so a
domain expert loading IOF, ISO 14224 or AAS can check what the graph schema gained and what it left out.
"""

from __future__ import annotations

import logging
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import NamedTuple

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import OWL, RDF, RDFS, SKOS

from kg_service.errors import UnknownTermError
from kg_service.graph.identifiers import MAX_IDENTIFIER_LENGTH, check_identifier

logger = logging.getLogger(__name__)

KG = Namespace("https://w3id.org/kg-service/ontology#")
KG_ONTOLOGY_IRI = "https://w3id.org/kg-service/ontology"

# Labels that kg-service uses for its own bookkeeping nodes; ontology classes may not take them.
RESERVED_LABELS = frozenset({"OntologyTerm", "Ontology", "OntologyClass", "OntologyProperty",
                             "OntologyIndividual", "OntologyChange"})
# Property names that the writer sets itself on every instance node.
SYSTEM_PROPERTIES = ("id",)
LANGUAGES = ("en", "zh")


class SkippedTerm(NamedTuple):
    """A term kept as ontology metadata only, with the reason it was not mapped."""

    iri: str
    kind: str
    reason: str


@dataclass
class ClassMapping:
    iri: str
    label: str
    parents: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    definitions: dict[str, str] = field(default_factory=dict)
    alt_labels: dict[str, list[str]] = field(default_factory=dict)
    deprecated: bool = False


@dataclass
class RelationshipMapping:
    iri: str
    type: str
    domain: str | None
    range: str | None
    labels: dict[str, str] = field(default_factory=dict)
    definitions: dict[str, str] = field(default_factory=dict)


@dataclass
class PropertyMapping:
    iri: str
    name: str
    domain: str | None
    datatype: str | None
    labels: dict[str, str] = field(default_factory=dict)
    definitions: dict[str, str] = field(default_factory=dict)


@dataclass
class OntologyModel:
    """The graph schema derived from one RDF graph, plus what was skipped and why."""

    iri: str
    graph: Graph
    classes: dict[str, ClassMapping] = field(default_factory=dict)
    relationships: dict[str, RelationshipMapping] = field(default_factory=dict)
    properties: dict[str, PropertyMapping] = field(default_factory=dict)
    individuals: dict[str, list[str]] = field(default_factory=dict)
    skipped: list[SkippedTerm] = field(default_factory=list)

    @classmethod
    def from_graph(cls, graph: Graph, fallback_iri: str = "urn:kg-service:anonymous-ontology") -> "OntologyModel":
        """Map `graph`; `fallback_iri` names the ontology when the graph declares no owl:Ontology."""
        model = cls(iri=_ontology_iri(graph) or fallback_iri, graph=graph)
        _map_classes(model)
        _map_object_properties(model)
        _map_datatype_properties(model)
        _collect_metadata_only(model)
        logger.info("ontology %s: %d classes, %d relationship types, %d properties mapped; %d terms skipped",
                    model.iri, len(model.classes), len(model.relationships), len(model.properties), len(model.skipped))
        return model

    def drop_collisions(self, taken_labels: dict[str, tuple[str, str]], taken_types: dict[str, tuple[str, str]]) -> None:
        """Keep as metadata only the classes and object properties whose label or relationship type
        another ontology already maps; `taken_*` map a name to (term IRI, ontology IRI)."""
        for iri, mapping in list(self.classes.items()):
            owner = taken_labels.get(mapping.label)
            if owner is not None and owner[0] != iri:
                del self.classes[iri]
                self.skipped.append(SkippedTerm(iri, "class", f"local name collides with a class of {owner[1]}"))
        for iri, rel in list(self.relationships.items()):
            owner = taken_types.get(rel.type)
            if owner is not None and owner[0] != iri:
                del self.relationships[iri]
                self.skipped.append(SkippedTerm(iri, "object property",
                                                f"relationship type collides with a property of {owner[1]}"))
        for rel in self.relationships.values():
            if rel.domain is not None and rel.domain not in self.classes:
                rel.domain = None
            if rel.range is not None and rel.range not in self.classes:
                rel.range = None

    def summary(self) -> "OntologySummary":
        """Count the skipped terms by reason, with up to three examples of each.

        Named terms come first among the examples. A blank node has no IRI, so it is an example
        only when a reason has fewer than three named terms, written in Turtle notation (`_:id`).
        """
        reasons = Counter(skip.reason for skip in self.skipped)
        blank_nodes: Counter[str] = Counter()
        named: dict[str, list[str]] = defaultdict(list)
        blank: dict[str, list[str]] = defaultdict(list)
        for skip in self.skipped:
            if (BNode(skip.iri), None, None) in self.graph:
                blank_nodes[skip.reason] += 1
                blank[skip.reason].append(f"_:{skip.iri}")
            else:
                named[skip.reason].append(skip.iri)
        examples = {reason: (named[reason] + blank[reason])[:3] for reason in reasons}
        return OntologySummary(iri=self.iri, triples=len(self.graph), classes=len(self.classes),
                               relationship_types=len(self.relationships), properties=len(self.properties),
                               individuals=len(self.individuals), skipped=dict(reasons), skipped_examples=examples,
                               skipped_blank_nodes=dict(blank_nodes))


class OntologySummary(NamedTuple):
    """Counts of what one `ontology load` mapped and skipped, by reason."""

    iri: str
    triples: int
    classes: int
    relationship_types: int
    properties: int
    individuals: int
    skipped: dict[str, int]
    skipped_examples: dict[str, list[str]]
    # Skipped blank nodes by reason: anonymous classes, restrictions and the like have no IRI.
    skipped_blank_nodes: dict[str, int] = {}

    def as_text(self) -> str:
        lines = [f"ontology {self.iri}: {self.triples} triples",
                 f"  mapped: {self.classes} classes -> node labels, {self.relationship_types} object properties -> "
                 f"relationship types, {self.properties} datatype properties -> property names, "
                 f"{self.individuals} individuals kept as ontology nodes"]
        if self.skipped:
            lines.append("  kept as ontology metadata only (not part of the graph schema):")
            for reason, count in sorted(self.skipped.items(), key=lambda item: -item[1]):
                lines.append(f"    {count:5d} x {reason}  ({self._examples_text(reason, count)})")
        return "\n".join(lines)

    def _examples_text(self, reason: str, count: int) -> str:
        """Name the skipped terms of `reason` by IRI. Blank nodes have none, so only their number is given."""
        blank = self.skipped_blank_nodes.get(reason, 0)
        named = [example for example in self.skipped_examples.get(reason, []) if not example.startswith("_:")]
        if not blank:
            return f"e.g. {', '.join(named)}"
        if blank == count:
            return "all blank nodes, which have no IRI"
        return f"e.g. {', '.join(named)}; {blank} of them blank nodes"


def local_name(iri: str) -> str:
    """Return the part of an IRI after its last '#' or '/', or after the last ':' of a URN.

    The result is empty for an IRI ending in '#' or '/', which has no local name.
    """
    for separator in ("#", "/"):
        if separator in iri:
            return iri.rsplit(separator, 1)[1]
    return iri.rsplit(":", 1)[1] if ":" in iri else iri


def relationship_type_for(name: str) -> str:
    """Derive an UPPER_SNAKE relationship type from a property's local name (partOf -> PART_OF)."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    snake = re.sub(r"[\s\-]+", "_", snake)
    return snake.upper()


def _ontology_iri(graph: Graph) -> str | None:
    for subject in graph.subjects(RDF.type, OWL.Ontology):
        if isinstance(subject, URIRef):
            return str(subject)
    return None


def _lang_texts(graph: Graph, subject: URIRef, predicate: URIRef) -> dict[str, str]:
    texts: dict[str, str] = {}
    for value in graph.objects(subject, predicate):
        if isinstance(value, Literal):
            language = (value.language or "en").split("-")[0].lower()
            texts.setdefault(language, str(value))
    return texts


def _lang_lists(graph: Graph, subject: URIRef, predicate: URIRef) -> dict[str, list[str]]:
    texts: dict[str, list[str]] = defaultdict(list)
    for value in graph.objects(subject, predicate):
        if isinstance(value, Literal):
            texts[(value.language or "en").split("-")[0].lower()].append(str(value))
    return {language: sorted(values) for language, values in texts.items()}


def _definitions(graph: Graph, subject: URIRef) -> dict[str, str]:
    texts = _lang_texts(graph, subject, SKOS.definition)
    for language, text in _lang_texts(graph, subject, RDFS.comment).items():
        texts.setdefault(language, text)
    return texts


def _name_problem(name: str) -> str | None:
    """Return why `name` cannot be a label, type or property name, or None when it can."""
    if not name:
        return "IRI has no local name to use as a name"
    if len(name) > MAX_IDENTIFIER_LENGTH:
        return f"local name longer than {MAX_IDENTIFIER_LENGTH} characters"
    try:
        check_identifier(name, "local name")
    except UnknownTermError:
        return "local name contains a backslash, control or unassigned character"
    return None


def _map_classes(model: OntologyModel) -> None:
    graph = model.graph
    declared = set(graph.subjects(RDF.type, OWL.Class)) | set(graph.subjects(RDF.type, RDFS.Class))
    taken: dict[str, str] = {}
    for subject in sorted(declared, key=str):
        if isinstance(subject, BNode):
            model.skipped.append(SkippedTerm(str(subject), "class", "anonymous class expression (kept as metadata)"))
            continue
        iri = str(subject)
        label = local_name(iri)
        problem = _name_problem(label)
        if problem is None and label in RESERVED_LABELS:
            problem = "local name collides with an internal kg-service label"
        if problem is None and label in taken:
            problem = f"local name collides with class {taken[label]}"
        if problem:
            model.skipped.append(SkippedTerm(iri, "class", problem))
            continue
        taken[label] = iri
        parents = sorted(str(parent) for parent in graph.objects(subject, RDFS.subClassOf) if isinstance(parent, URIRef))
        deprecated = any(str(value).lower() == "true" for value in graph.objects(subject, OWL.deprecated))
        model.classes[iri] = ClassMapping(iri=iri, label=label, parents=parents,
                                          labels=_lang_texts(graph, subject, RDFS.label),
                                          definitions=_definitions(graph, subject),
                                          alt_labels=_lang_lists(graph, subject, SKOS.altLabel),
                                          deprecated=deprecated)


def _single_class(graph: Graph, subject: URIRef, predicate: URIRef, classes: dict[str, ClassMapping]) -> tuple[str | None, str | None]:
    """Return (class IRI, problem) for a property's domain or range."""
    values = list(graph.objects(subject, predicate))
    if not values:
        return None, None
    iris = [value for value in values if isinstance(value, URIRef)]
    if len(iris) != len(values):
        return None, "class expression (e.g. owl:unionOf)"
    mapped = [str(value) for value in iris if str(value) in classes]
    if not mapped:
        return None, "class declared outside this ontology"
    return sorted(mapped)[0], None


def _map_object_properties(model: OntologyModel) -> None:
    graph = model.graph
    taken: dict[str, str] = {}
    for subject in sorted(set(graph.subjects(RDF.type, OWL.ObjectProperty)), key=str):
        if isinstance(subject, BNode):
            continue
        iri = str(subject)
        annotated = graph.value(subject, KG.relationshipType)
        name = local_name(iri)
        problem = _name_problem(name)
        rel_type = str(annotated) if annotated is not None else relationship_type_for(name)
        if problem is None and rel_type in taken:
            problem = f"relationship type {rel_type} already taken by {taken[rel_type]}"
        if problem:
            model.skipped.append(SkippedTerm(iri, "object property", problem))
            continue
        domain, domain_problem = _single_class(graph, subject, RDFS.domain, model.classes)
        range_, range_problem = _single_class(graph, subject, RDFS.range, model.classes)
        for which, issue in (("domain", domain_problem), ("range", range_problem)):
            if issue:
                model.skipped.append(SkippedTerm(iri, f"object property {which}",
                                                 f"{which} is a {issue}: relationship mapped without a {which} check"))
        taken[rel_type] = iri
        model.relationships[iri] = RelationshipMapping(iri=iri, type=rel_type, domain=domain, range=range_,
                                                       labels=_lang_texts(graph, subject, RDFS.label),
                                                       definitions=_definitions(graph, subject))


def _map_datatype_properties(model: OntologyModel) -> None:
    graph = model.graph
    for subject in sorted(set(graph.subjects(RDF.type, OWL.DatatypeProperty)), key=str):
        if isinstance(subject, BNode):
            continue
        iri = str(subject)
        name = local_name(iri)
        problem = _name_problem(name)
        if problem is None and name in SYSTEM_PROPERTIES:
            problem = "local name collides with a property kg-service sets itself"
        if problem is None and any(existing.name == name for existing in model.properties.values()):
            problem = "local name collides with another datatype property"
        if problem:
            model.skipped.append(SkippedTerm(iri, "datatype property", problem))
            continue
        domain, _ = _single_class(graph, subject, RDFS.domain, model.classes)
        datatype = graph.value(subject, RDFS.range)
        model.properties[iri] = PropertyMapping(iri=iri, name=name, domain=domain,
                                                datatype=str(datatype) if isinstance(datatype, URIRef) else None,
                                                labels=_lang_texts(graph, subject, RDFS.label),
                                                definitions=_definitions(graph, subject))


def _collect_metadata_only(model: OntologyModel) -> None:
    graph = model.graph
    for subject in sorted(set(graph.subjects(RDF.type, OWL.AnnotationProperty)), key=str):
        model.skipped.append(SkippedTerm(str(subject), "annotation property", "annotation property (kept as metadata)"))
    for subject in set(graph.subjects(RDF.type, OWL.Restriction)):
        model.skipped.append(SkippedTerm(str(subject), "restriction", "OWL restriction (kept as metadata)"))
    for predicate, reason in ((OWL.equivalentClass, "owl:equivalentClass axiom (kept as metadata)"),
                              (OWL.disjointWith, "owl:disjointWith axiom (kept as metadata)"),
                              (OWL.inverseOf, "owl:inverseOf axiom (kept as metadata)"),
                              (RDFS.subPropertyOf, "rdfs:subPropertyOf axiom (kept as metadata)")):
        for subject in graph.subjects(predicate, None):
            model.skipped.append(SkippedTerm(str(subject), "axiom", reason))
    for subject in sorted({s for s in graph.subjects(RDF.type, OWL.NamedIndividual)}
                          | {s for s, _, o in graph.triples((None, RDF.type, None)) if str(o) in model.classes}, key=str):
        if isinstance(subject, URIRef) and str(subject) not in model.classes:
            types = sorted(str(o) for o in graph.objects(subject, RDF.type) if str(o) in model.classes)
            model.individuals[str(subject)] = types
    for subject in set(graph.subjects(RDF.type, OWL.TransitiveProperty)) | set(graph.subjects(RDF.type, OWL.SymmetricProperty)):
        if str(subject) not in model.relationships:
            model.skipped.append(SkippedTerm(str(subject), "property characteristic",
                                             "property characteristic without owl:ObjectProperty (kept as metadata)"))
