"""Instance data that a replaced ontology would no longer declare a label or relationship type for.

An expert can add a class or an object property to a stored ontology, and loaders can then write
instances of it. Replacing the ontology with a file that lacks the term keeps that data, but no
ontology declares its label or relationship type any more, so loaders, design checks and the
GraphQL allowlist no longer know it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kg_service.graph.identifiers import quote
from kg_service.graph.store import GraphStore
from kg_service.ontology.model import OntologyModel, local_name

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OrphanedTerm:
    """A stored class or object property that the replacement lacks, with the instance data that uses it."""

    kind: str  # "class" or "object property"
    iri: str
    # Node label of a class, relationship type of an object property.
    name: str
    # Instance nodes with the label, or relationships of the type.
    count: int

    def describe(self) -> str:
        """Return one line such as "class Turbine (label Turbine): 3 instance nodes"."""
        noun = "instance node" if self.kind == "class" else "relationship"
        what = "label" if self.kind == "class" else "relationship type"
        plural = "" if self.count == 1 else "s"
        return f"{self.kind} {local_name(self.iri)} ({what} {self.name}): {self.count} {noun}{plural}"


def find_orphaned_data(store: GraphStore, ontology_iri: str, replacement: OntologyModel) -> list[OrphanedTerm]:
    """Return the stored classes and object properties of `ontology_iri` that `replacement` lacks and data uses.

    A term counts as lacking when the replacement maps no class to its node label, or no object
    property to its relationship type. Terms without instance data are left out, because dropping
    them loses nothing. Classes come first, then object properties, each sorted by name.
    """
    # NOTE: datatype properties are not checked. Values of a property that only a discarded edit
    # declared stay on the nodes after a replace.
    kept_labels = {mapping.label for mapping in replacement.classes.values()}
    kept_types = {mapping.type for mapping in replacement.relationships.values()}
    rows = store.read(
        "MATCH (t:OntologyTerm {ontology: $iri}) WHERE t:OntologyClass OR (t:OntologyProperty AND t.kind = 'object') "
        "RETURN t.iri AS iri, t.nodeLabel AS label, t.relationshipType AS type ORDER BY coalesce(label, type)",
        {"iri": ontology_iri})

    orphans = []
    for row in rows:
        if row["label"] is not None and row["label"] not in kept_labels:
            # The label comes from the stored ontology's own mapping, so it is an allowlisted name.
            count = store.read(f"MATCH (n:{quote(row['label'], 'label')}) RETURN count(n) AS n")[0]["n"]
            if count:
                orphans.append(OrphanedTerm("class", row["iri"], row["label"], count))
        elif row["type"] is not None and row["type"] not in kept_types:
            count = store.read(f"MATCH ()-[r:{quote(row['type'], 'relationship type')}]->() "
                               "RETURN count(r) AS n")[0]["n"]
            if count:
                orphans.append(OrphanedTerm("object property", row["iri"], row["type"], count))
    orphans.sort(key=lambda orphan: (orphan.kind != "class", orphan.name))
    logger.debug("found %d terms of %s that the replacement lacks and instance data uses", len(orphans),
                 ontology_iri)
    return orphans
