"""Store ontologies in Neo4j as queryable nodes, and export them back to RDF.

Each subject of an ontology file (IRI or blank node) becomes an `OntologyTerm` node keyed by
ontology IRI and term. Classes, properties and individuals also get the labels
`OntologyClass`, `OntologyProperty` and `OntologyIndividual` with their names, labels in each
language and `SUBCLASS_OF`, `DOMAIN` and `RANGE` relationships, so queries and editors can use
them. Every node keeps its statements in N-Triples syntax, which makes the export lossless:
re-loading the exported file gives an isomorphic graph.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

from rdflib import Graph, Literal, URIRef
from rdflib.namespace import OWL
from rdflib.plugins.serializers.nt import _quoteLiteral
from rdflib.term import Node

from kg_service.errors import NotFoundError, OntologyConflictError, OntologyError
from kg_service.graph.store import GraphStore
from kg_service.ontology.model import KG_ONTOLOGY_IRI, LANGUAGES, OntologyModel
from kg_service.ontology.schema import ENTITY_LABEL

logger = logging.getLogger(__name__)

SCHEMA_STATEMENTS = [
    f"CREATE CONSTRAINT entity_id IF NOT EXISTS FOR (n:{ENTITY_LABEL}) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT ontology_term_key IF NOT EXISTS FOR (t:OntologyTerm) REQUIRE t.key IS UNIQUE",
    "CREATE CONSTRAINT ontology_iri IF NOT EXISTS FOR (o:Ontology) REQUIRE o.iri IS UNIQUE",
    "CREATE INDEX ontology_term_iri IF NOT EXISTS FOR (t:OntologyTerm) ON (t.iri)",
    "CREATE INDEX ontology_class_label IF NOT EXISTS FOR (c:OntologyClass) ON (c.nodeLabel)",
    f"CREATE INDEX entity_name IF NOT EXISTS FOR (n:{ENTITY_LABEL}) ON (n.name)",
    f"CREATE FULLTEXT INDEX entity_names IF NOT EXISTS FOR (n:{ENTITY_LABEL}) ON EACH [n.name, n.nameEn, n.nameZh]",
    "CREATE CONSTRAINT ontology_change_version IF NOT EXISTS FOR (c:OntologyChange) REQUIRE (c.ontology, c.version) IS UNIQUE",
]


def ensure_schema(store: GraphStore) -> None:
    """Create the key constraints and lookup indexes (idempotent)."""
    store.run_schema(SCHEMA_STATEMENTS)


def _nt(term: Node) -> str:
    """Return `term` in N-Triples syntax.

    `Node.n3()` is not enough: it writes multi-line literals in triple quotes, which N-Triples
    lacks, and raises on IRIs with characters such as a backtick that RDF/XML allows.
    """
    if isinstance(term, Literal):
        return _quoteLiteral(term)
    if isinstance(term, URIRef):
        return f"<{term}>"
    return term.n3()


def _term_rows(model: OntologyModel) -> list[dict]:
    statements: dict[str, list[str]] = defaultdict(list)
    for subject, predicate, obj in model.graph:
        statements[_nt(subject)].append(f"{_nt(predicate)} {_nt(obj)}")
    rows = []
    for subject_n3, lines in statements.items():
        iri = subject_n3[1:-1] if subject_n3.startswith("<") else None
        rows.append({"key": f"{model.iri}|{subject_n3}", "iri": iri, "subject": subject_n3,
                     "statements": sorted(lines)})
    return rows


def _class_rows(model: OntologyModel) -> list[dict]:
    rows = []
    for mapping in model.classes.values():
        row = {"key": f"{model.iri}|<{mapping.iri}>", "nodeLabel": mapping.label, "parents": mapping.parents,
               "deprecated": mapping.deprecated}
        for language in LANGUAGES:
            row[f"label_{language}"] = mapping.labels.get(language)
            row[f"definition_{language}"] = mapping.definitions.get(language)
            row[f"altLabels_{language}"] = mapping.alt_labels.get(language, [])
        rows.append(row)
    return rows


def _property_rows(model: OntologyModel) -> list[dict]:
    rows = []
    for rel in model.relationships.values():
        rows.append({"key": f"{model.iri}|<{rel.iri}>", "kind": "object", "relationshipType": rel.type,
                     "propertyName": None, "domain": rel.domain, "range": rel.range, "datatype": None,
                     **_texts(rel.labels, rel.definitions)})
    for prop in model.properties.values():
        rows.append({"key": f"{model.iri}|<{prop.iri}>", "kind": "datatype", "relationshipType": None,
                     "propertyName": prop.name, "domain": prop.domain, "range": None, "datatype": prop.datatype,
                     **_texts(prop.labels, prop.definitions)})
    return rows


def _texts(labels: dict[str, str], definitions: dict[str, str]) -> dict[str, str | None]:
    texts: dict[str, str | None] = {}
    for language in LANGUAGES:
        texts[f"label_{language}"] = labels.get(language)
        texts[f"definition_{language}"] = definitions.get(language)
    return texts


def store_ontology(store: GraphStore, model: OntologyModel, source: str, change: dict | None = None,
                   expected_version: int = 0, loaded_at: int | None = None) -> None:
    """Replace the stored copy of `model`'s ontology in one transaction.

    With `change` (the properties of an `OntologyChange` node), the replacement is logged as change
    `expected_version + 1` in the same transaction, and it fails when the change log has moved past
    `expected_version` meanwhile. The `Ontology` node keeps the change-log version it was loaded at
    (`loadedAtVersion`), so a later load can tell whether experts edited it since. That version is
    `loaded_at` when given, else the version of this store: a merge that keeps expert edits passes
    the version of the last full load, so that the edits still count as edits afterwards.
    """
    ensure_schema(store)
    info = model.graph.value(URIRef(model.iri), OWL.versionInfo)
    if loaded_at is None:
        loaded_at = expected_version + 1 if change is not None else expected_version

    def work(tx) -> int:
        if change is not None:
            latest = tx.run("MATCH (c:OntologyChange {ontology: $iri}) RETURN max(c.version) AS version",
                            iri=model.iri).single()["version"] or 0
            if latest != expected_version:
                raise OntologyConflictError(f"ontology {model.iri} was edited while it was loaded (change-log "
                                            f"version {expected_version} -> {latest}); load it again")
        tx.run("MATCH (o:Ontology {iri: $iri}) OPTIONAL MATCH (o)-[:DECLARES]->(t:OntologyTerm) DETACH DELETE t, o",
               iri=model.iri).consume()
        terms = replace_ontology_terms(tx, model, source)
        tx.run("MATCH (o:Ontology {iri: $iri}) SET o.loadedAtVersion = $loaded, o.versionInfo = $info",
               iri=model.iri, loaded=loaded_at, info=str(info) if info is not None else None).consume()
        if change is not None:
            tx.run("CREATE (c:OntologyChange) SET c = $change, c.version = $version, c.at = datetime()",
                   change=change, version=expected_version + 1).consume()
        return terms

    terms = store.execute_write(work)
    logger.info("stored ontology %s from %s: %d terms", model.iri, source, terms)


def ontology_load_state(store: GraphStore, iri: str) -> tuple[bool, int, int]:
    """Return whether ontology `iri` is stored, its latest change-log version and the version it was loaded at.

    An ontology stored before loads recorded `loadedAtVersion` counts as loaded at version 0, so
    every change in its log counts as an edit made since.
    """
    rows = store.read("OPTIONAL MATCH (o:Ontology {iri: $iri}) OPTIONAL MATCH (c:OntologyChange {ontology: $iri}) "
                      "RETURN o IS NOT NULL AS stored, o.loadedAtVersion AS loaded, max(c.version) AS latest",
                      {"iri": iri})
    if not rows:
        return False, 0, 0
    return bool(rows[0]["stored"]), rows[0]["latest"] or 0, rows[0]["loaded"] or 0


def stored_ontologies(store: GraphStore) -> list[dict]:
    return store.read("MATCH (o:Ontology) RETURN o.iri AS iri, o.source AS source, o.triples AS triples ORDER BY iri")


def export_ontology(store: GraphStore, iri: str = KG_ONTOLOGY_IRI) -> Graph:
    """Rebuild the RDF graph of a stored ontology from its term nodes."""
    rows = store.read("MATCH (o:Ontology {iri: $iri}) RETURN o.prefixes AS prefixes", {"iri": iri})
    if not rows:
        known = ", ".join(row["iri"] for row in stored_ontologies(store)) or "none"
        raise NotFoundError(f"ontology {iri!r} is not stored in Neo4j (stored: {known}); load it first")
    prefixes = rows[0]["prefixes"] or []
    terms = store.read("MATCH (:Ontology {iri: $iri})-[:DECLARES]->(t:OntologyTerm) "
                       "RETURN t.subject AS subject, t.statements AS statements", {"iri": iri})
    lines = [f"{term['subject']} {statement} ." for term in terms for statement in term["statements"]]
    graph = Graph()
    for entry in prefixes:
        prefix, _, namespace = entry.partition(" ")
        graph.bind(prefix, URIRef(namespace), override=True, replace=True)
    try:
        graph.parse(data="\n".join(lines), format="nt")
    except Exception as error:  # noqa: BLE001 - any parser failure means corrupted stored statements
        raise OntologyError(f"stored statements of ontology {iri} could not be parsed: {error}") from error
    return graph


def write_export(graph: Graph, path: Path) -> None:
    """Serialize an exported graph in the format that the file suffix names (.ttl, .rdf, .nt, .jsonld...)."""
    from kg_service.ontology.parsing import guess_format

    rdf_format = guess_format(path)
    if rdf_format == "xml":
        rdf_format = "pretty-xml"
    if not path.parent.is_dir():
        raise OntologyError(f"{path}: the folder {path.parent} does not exist; create it or choose another path")
    try:
        graph.serialize(destination=str(path), format=rdf_format, encoding="utf-8")
    except OSError as error:
        raise OntologyError(f"{path}: cannot write the export: {error.strerror}") from error




def replace_ontology_terms(tx, model: OntologyModel, source: str) -> int:
    """Replace the term nodes of `model`'s ontology inside the caller's transaction and return their count.

    Unlike `store_ontology`, this keeps the `Ontology` node (creating it when missing), so an editor
    can rewrite the terms, migrate instances and log the change in one transaction.
    """
    prefixes = [f"{prefix} {namespace}" for prefix, namespace in model.graph.namespaces()]
    terms = _term_rows(model)
    tx.run("MATCH (:Ontology {iri: $iri})-[:DECLARES]->(t:OntologyTerm) DETACH DELETE t", iri=model.iri).consume()
    tx.run("MERGE (o:Ontology {iri: $iri}) ON CREATE SET o.source = $source "
           "SET o.prefixes = $prefixes, o.triples = $triples",
           iri=model.iri, source=source, prefixes=prefixes, triples=len(model.graph)).consume()
    tx.run("MATCH (o:Ontology {iri: $iri}) UNWIND $rows AS row "
           "CREATE (o)-[:DECLARES]->(:OntologyTerm {key: row.key, iri: row.iri, subject: row.subject, "
           "statements: row.statements, ontology: $iri})", iri=model.iri, rows=terms).consume()
    tx.run("UNWIND $rows AS row MATCH (t:OntologyTerm {key: row.key}) SET t:OntologyClass, "
           "t.nodeLabel = row.nodeLabel, t.deprecated = row.deprecated, t.parents = row.parents, "
           "t.label_en = row.label_en, t.label_zh = row.label_zh, "
           "t.definition_en = row.definition_en, t.definition_zh = row.definition_zh, "
           "t.altLabels_en = row.altLabels_en, t.altLabels_zh = row.altLabels_zh", rows=_class_rows(model)).consume()
    tx.run("UNWIND $rows AS row MATCH (t:OntologyTerm {key: row.key}) SET t:OntologyProperty, "
           "t.kind = row.kind, t.relationshipType = row.relationshipType, t.propertyName = row.propertyName, "
           "t.datatype = row.datatype, t.domainIri = row.domain, t.rangeIri = row.range, t.label_en = row.label_en, "
           "t.label_zh = row.label_zh, t.definition_en = row.definition_en, t.definition_zh = row.definition_zh",
           rows=_property_rows(model)).consume()
    individuals = [{"key": f"{model.iri}|<{iri}>", "types": types} for iri, types in model.individuals.items()]
    tx.run("UNWIND $rows AS row MATCH (t:OntologyTerm {key: row.key}) SET t:OntologyIndividual, "
           "t.types = row.types", rows=individuals).consume()
    tx.run("MATCH (c:OntologyClass) WHERE c.parents IS NOT NULL UNWIND c.parents AS parent "
           "MATCH (p:OntologyClass {iri: parent}) MERGE (c)-[:SUBCLASS_OF]->(p)").consume()
    tx.run("MATCH (p:OntologyProperty) WHERE p.domainIri IS NOT NULL MATCH (d:OntologyClass {iri: p.domainIri}) "
           "MERGE (p)-[:DOMAIN]->(d)").consume()
    tx.run("MATCH (p:OntologyProperty) WHERE p.rangeIri IS NOT NULL MATCH (r:OntologyClass {iri: p.rangeIri}) "
           "MERGE (p)-[:RANGE]->(r)").consume()
    return len(terms)
