"""A checksum of the instance graph, to prove that re-running a load changed nothing."""

from __future__ import annotations

import hashlib
import json

from kg_service.graph.identifiers import quote
from kg_service.graph.store import GraphStore
from kg_service.ontology.schema import ENTITY_LABEL


def graph_checksum(store: GraphStore) -> str:
    """Return a SHA-256 over every entity's labels and properties and every relationship between entities."""
    digest = hashlib.sha256()
    nodes = store.read(f"MATCH (n:{quote(ENTITY_LABEL)}) RETURN n.id AS id, labels(n) AS labels, "
                       "properties(n) AS props ORDER BY id")
    for row in nodes:
        row["labels"] = sorted(row["labels"])
        digest.update(json.dumps(row, sort_keys=True, default=str).encode("utf-8"))
    rels = store.read(f"MATCH (a:{quote(ENTITY_LABEL)})-[r]->(b:{quote(ENTITY_LABEL)}) "
                      "RETURN a.id AS start, type(r) AS type, b.id AS end, properties(r) AS props "
                      "ORDER BY start, type, end")
    for row in rels:
        digest.update(json.dumps(row, sort_keys=True, default=str).encode("utf-8"))
    return digest.hexdigest()
