"""List and undo the merges that entity resolution made, from the lists on MENTIONS links.

A merge is identified by the key the merged mentions would have had on their own
(`resolvedFrom`). Undoing it creates that entity, moves the mentions and the relation
support entries (`endpointKeys`) that came from those mentions to it, and deletes links
and relations left without entries.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kg_service.errors import NotFoundError
from kg_service.extraction.provenance import ENDPOINT_SEPARATOR, EXTRACTION_SOURCE, node, relationship
from kg_service.extraction.resolution import EXTRACTED_KEY_PREFIX
from kg_service.graph.identifiers import quote
from kg_service.graph.records import RelationshipRecord
from kg_service.graph.store import GraphStore
from kg_service.graph.writer import BatchedWriter
from kg_service.ontology.schema import GraphSchema

logger = logging.getLogger(__name__)

# Properties of a MENTIONS link that hold one entry per mention.
MENTION_LISTS = ("surfaceForms", "resolvedFrom", "mergeReason", "mergeScore")


@dataclass(frozen=True)
class MergeRecord:
    """One merge: the key of the merged mentions, the entity they went into, why, and where."""

    key: str
    into: str
    reason: str
    score: float
    mentions: int
    chunks: list[str]


@dataclass(frozen=True)
class UnmergeReport:
    """Counts of one undone merge: mentions and relation entries moved to the restored entity."""

    key: str
    restored_from: str
    mentions_moved: int
    relation_entries_moved: int


LIST_QUERY = """
MATCH (c:Chunk)-[m:MENTIONS]->(e:Entity)
WHERE m.resolvedFrom IS NOT NULL
UNWIND range(0, size(m.resolvedFrom) - 1) AS i
WITH c, e, m, i WHERE m.resolvedFrom[i] <> e.id
RETURN m.resolvedFrom[i] AS key, e.id AS into, head(collect(m.mergeReason[i])) AS reason,
       max(m.mergeScore[i]) AS score, count(*) AS mentions, collect(DISTINCT c.id) AS chunks
ORDER BY key
"""


def list_merges(store: GraphStore) -> list[MergeRecord]:
    """Return every merge recorded on MENTIONS links, ordered by merged key."""
    return [MergeRecord(row["key"], row["into"], row["reason"] or "", float(row["score"] or 0.0), row["mentions"],
                        sorted(row["chunks"])) for row in store.read(LIST_QUERY)]


def unmerge(store: GraphStore, schema: GraphSchema, key: str) -> UnmergeReport:
    """Undo the merge of the mentions whose own key is `key`; raise NotFoundError when there is none."""
    links = store.read(
        "MATCH (c:Chunk)-[m:MENTIONS]->(e:Entity) WHERE $key IN m.resolvedFrom AND e.id <> $key "
        "RETURN c.id AS chunk, e.id AS into, properties(m) AS props", {"key": key})
    if not links:
        raise NotFoundError(f"no merge has the key {key!r}; list the merges with 'kg-service documents merges'")
    into = links[0]["into"]
    class_name = _class_of(key, schema)

    first_surface = next(surface for link in links
                         for surface, own in zip(link["props"]["surfaceForms"], link["props"]["resolvedFrom"])
                         if own == key)
    new_node = node(class_name, key, name=first_surface, source=EXTRACTION_SOURCE)
    mentions: list[RelationshipRecord] = []
    for link in links:
        props = link["props"]
        positions = [i for i, own in enumerate(props["resolvedFrom"]) if own == key]
        moved = {name: [props[name][i] for i in positions] for name in MENTION_LISTS}
        moved["mergeReason"] = [""] * len(positions)
        moved["mergeScore"] = [1.0] * len(positions)
        mentions.append(relationship("MENTIONS", ("Chunk", link["chunk"]), new_node, name=moved["surfaceForms"][0],
                                     startOffset=props.get("startOffset"), endOffset=props.get("endOffset"),
                                     confidence=props.get("confidence"), **moved))

    relations, updates = _moved_relations(store, schema, into, key, new_node.label)
    BatchedWriter(store, schema).write([new_node], mentions + relations)
    entries = 0
    for type_, update in updates:
        entries += update.pop("moved")
        store.write(f"MATCH ()-[r:{quote(type_, 'relationship type')}]->() WHERE elementId(r) = $rid "
                    "SET r.sourceChunks = $chunks, r.endpointKeys = $keys "
                    "WITH r WHERE size(r.sourceChunks) = 0 DELETE r", update)
    store.write(
        "MATCH (c:Chunk)-[m:MENTIONS]->(e:Entity {id: $into}) WHERE $key IN m.resolvedFrom "
        "WITH m, [i IN range(0, size(m.resolvedFrom) - 1) WHERE m.resolvedFrom[i] <> $key] AS kept "
        "SET m.surfaceForms = [i IN kept | m.surfaceForms[i]], m.mergeReason = [i IN kept | m.mergeReason[i]], "
        "m.mergeScore = [i IN kept | m.mergeScore[i]], m.resolvedFrom = [i IN kept | m.resolvedFrom[i]] "
        "WITH m WHERE size(m.resolvedFrom) = 0 DELETE m", {"into": into, "key": key})
    logger.info("undid merge of %s into %s: %d mention links, %d relation entries moved", key, into, len(mentions),
                entries)
    return UnmergeReport(key, into, len(mentions), entries)


def _class_of(key: str, schema: GraphSchema) -> str:
    parts = key.split(":", 2)
    if len(parts) != 3 or parts[0] != EXTRACTED_KEY_PREFIX:
        raise NotFoundError(f"{key!r} is not a key of an extracted entity (extracted:CLASS:NAME)")
    return schema.label(parts[1])


def _moved_relations(store: GraphStore, schema: GraphSchema, into: str, key: str,
                     label: str) -> tuple[list[RelationshipRecord], list[tuple[str, dict]]]:
    """Split off the relation entries whose endpoint key on the merged side is `key`.

    Return the new relation records and, per old relation, its type and the parameters that
    keep only its other entries.
    """
    rows = store.read(
        "MATCH (a:Entity)-[r]->(b:Entity) WHERE (a.id = $into OR b.id = $into) AND r.endpointKeys IS NOT NULL "
        "RETURN elementId(r) AS rid, type(r) AS type, a.id AS start, b.id AS end, labels(a) AS startLabels, "
        "labels(b) AS endLabels, properties(r) AS props", {"into": into})
    records: list[RelationshipRecord] = []
    updates: list[tuple[str, dict]] = []
    for row in rows:
        schema.relationship(row["type"])
        props = row["props"]
        outgoing = row["start"] == into
        side = 0 if outgoing else 1
        positions = [i for i, pair in enumerate(props["endpointKeys"])
                     if pair.split(ENDPOINT_SEPARATOR)[side] == key]
        if not positions:
            continue
        other_id = row["end"] if outgoing else row["start"]
        other_labels = row["endLabels"] if outgoing else row["startLabels"]
        other_label = max((name for name in other_labels if name in schema.parents),
                          key=lambda name: len(schema.ancestors(name)))
        moved = {"sourceChunks": [props["sourceChunks"][i] for i in positions],
                 "endpointKeys": [props["endpointKeys"][i] for i in positions]}
        start, end = ((label, key), (other_label, other_id)) if outgoing else ((other_label, other_id), (label, key))
        records.append(relationship(row["type"], start, end, confidence=props.get("confidence"),
                                    extractionModel=props.get("extractionModel"),
                                    extractedAt=props.get("extractedAt"), **moved))
        remaining = [i for i in range(len(props["endpointKeys"])) if i not in positions]
        updates.append((row["type"], {"rid": row["rid"], "moved": len(positions),
                                      "chunks": [props["sourceChunks"][i] for i in remaining],
                                      "keys": [props["endpointKeys"][i] for i in remaining]}))
    return records, updates
