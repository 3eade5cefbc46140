"""Graph shape of extracted facts and their provenance, and removal of the facts a document supported.

    (:Document {id, name, source, checksum, extractionModel, mediaType})-[:HAS_CHUNK]->
    (:Chunk {id, text, startOffset, endOffset, page, chunkIndex})-[:MENTIONS {name, startOffset, endOffset,
        confidence, surfaceForms, resolvedFrom, mergeReason, mergeScore}]->(:Entity)
    (:Entity)-[:PART_OF {confidence, extractionModel, extractedAt, sourceChunks, endpointKeys}]->(:Entity)

Offsets on chunks and mentions count characters of the document text (`name` and the offsets
of a MENTIONS link are those of its first mention). The four list properties of a MENTIONS
link have one entry per mention in the chunk. They are its text, the key it would have had on
its own, and the merge reason and score ("" and 1.0 when the key is the entity's own). An extracted
relation holds one `sourceChunks` and `endpointKeys` entry per supporting mention pair; removing a document drops its chunks
from those lists and deletes a relation when no chunk is left, and deletes an extracted
entity when no chunk mentions it any more and nothing else links to it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable

from kg_service.graph.identifiers import quote
from kg_service.graph.records import NodeRecord, RelationshipRecord
from kg_service.graph.store import GraphStore
from kg_service.ontology.schema import ENTITY_LABEL, GraphSchema

logger = logging.getLogger(__name__)

EXTRACTION_SOURCE = "extraction"
# Property names of the provenance shape; `check_provenance_terms` verifies them against the ontology allowlist.
PROVENANCE_PROPERTIES = ("name", "source", "language", "checksum", "mediaType", "text", "startOffset", "endOffset",
                         "page", "chunkIndex", "confidence", "extractionModel", "extractedAt", "sourceChunks",
                         "endpointKeys", "surfaceForms", "resolvedFrom", "mergeReason", "mergeScore")
ENDPOINT_SEPARATOR = "\t"


def check_provenance_terms(schema: GraphSchema) -> None:
    """Raise UnknownTermError when the loaded ontology lacks a class, type or property that provenance uses."""
    for label in ("Document", "Chunk"):
        schema.label(label)
    for type_ in ("HAS_CHUNK", "MENTIONS"):
        schema.relationship(type_)
    for name in PROVENANCE_PROPERTIES:
        schema.property(name)


def document_key(source: str) -> str:
    """Return the stable key of a document from its source (resolved path, with '#row=N' for CSV rows)."""
    return "document:" + hashlib.sha256(source.encode("utf-8")).hexdigest()[:24]


def chunk_key(document_id: str, index: int) -> str:
    """Return the key of chunk `index` of a document."""
    return f"chunk:{document_id.split(':', 1)[1]}:{index}"


def stored_extraction(store: GraphStore, document_id: str) -> tuple[str | None, str | None]:
    """Return the checksum and extraction model stored on a document node; (None, None) when it is not in the graph."""
    rows = store.read(f"MATCH (d:{quote('Document')} {{id: $id}}) "
                      "RETURN d.checksum AS checksum, d.extractionModel AS model", {"id": document_id})
    return (rows[0]["checksum"], rows[0]["model"]) if rows else (None, None)


def extraction_identity(backend) -> str:
    """Return `<backend kind>:<model id>`, what a Document node records as the model that extracted it."""
    return f"{backend.name}:{backend.model_id}"


def relation_support(store: GraphStore, relationships: Iterable[RelationshipRecord]) -> dict[tuple[str, str, str],
                                                                                          dict]:
    """Return the stored provenance lists of relations that already exist, keyed by (start, type, end)."""
    by_type: dict[str, list[dict]] = {}
    for rel in relationships:
        by_type.setdefault(rel.type, []).append({"start": rel.start_id, "end": rel.end_id})
    support: dict[tuple[str, str, str], dict] = {}
    for type_, rows in by_type.items():
        query = (f"UNWIND $rows AS row MATCH (a:{quote(ENTITY_LABEL)} {{id: row.start}})"
                 f"-[r:{quote(type_, 'relationship type')}]->(b:{quote(ENTITY_LABEL)} {{id: row.end}}) "
                 "RETURN row.start AS start, row.end AS end, r.sourceChunks AS chunks, r.endpointKeys AS keys, "
                 "r.confidence AS confidence")
        for row in store.read(query, {"rows": rows}):
            support[(row["start"], type_, row["end"])] = row
    return support


def with_support(relationships: list[RelationshipRecord], existing: dict[tuple[str, str, str], dict]) -> list[
        RelationshipRecord]:
    """Return the relationships with stored `sourceChunks` and `endpointKeys` entries of other chunks kept."""
    merged = []
    for rel in relationships:
        stored = existing.get((rel.start_id, rel.type, rel.end_id))
        if not stored or not stored.get("chunks"):
            merged.append(rel)
            continue
        chunks = list(stored["chunks"])
        keys = list(stored.get("keys") or [""] * len(chunks))
        for chunk, key in zip(rel.properties["sourceChunks"], rel.properties["endpointKeys"]):
            if chunk not in chunks:
                chunks.append(chunk)
                keys.append(key)
        properties = dict(rel.properties, sourceChunks=chunks, endpointKeys=keys,
                          confidence=max(rel.properties["confidence"], stored.get("confidence") or 0.0))
        merged.append(RelationshipRecord(rel.type, rel.start_label, rel.start_id, rel.end_label, rel.end_id,
                                         properties))
    return merged


REMOVE_QUERY = """
MATCH (d:Document {id: $document})-[:HAS_CHUNK]->(c:Chunk)
WITH collect(c) AS chunks, collect(c.id) AS chunkIds
CALL (chunks, chunkIds) {
  UNWIND chunks AS c
  MATCH (c)-[:MENTIONS]->(e:Entity)-[r]-(:Entity)
  WHERE r.sourceChunks IS NOT NULL AND any(id IN r.sourceChunks WHERE id IN chunkIds)
  WITH DISTINCT r, chunkIds
  WITH r, [i IN range(0, size(r.sourceChunks) - 1) WHERE NOT r.sourceChunks[i] IN chunkIds] AS kept
  SET r.endpointKeys = [i IN kept | coalesce(r.endpointKeys[i], '')],
      r.sourceChunks = [i IN kept | r.sourceChunks[i]]
  WITH r WHERE size(r.sourceChunks) = 0
  DELETE r
  RETURN count(*) AS relationsDeleted
}
CALL (chunks) {
  UNWIND chunks AS c
  OPTIONAL MATCH (c)-[:MENTIONS]->(e:Entity)
  WITH collect(DISTINCT e) AS entities
  RETURN entities
}
CALL (chunks) {
  UNWIND chunks AS c
  DETACH DELETE c
  RETURN count(*) AS chunksDeleted
}
CALL (entities) {
  UNWIND entities AS e
  WITH e WHERE e.source = $extraction AND NOT (e)--()
  DETACH DELETE e
  RETURN count(*) AS entitiesDeleted
}
RETURN relationsDeleted, chunksDeleted, entitiesDeleted
"""

DELETE_DOCUMENT_QUERY = "MATCH (d:Document {id: $document}) DETACH DELETE d RETURN count(*) AS documents"


def remove_document_facts(store: GraphStore, document_id: str, *, delete_document: bool) -> dict[str, int]:
    """Remove a document's chunks and the facts only they supported, in one transaction; return counts."""
    def work(tx) -> dict[str, int]:
        counts = {"relationsDeleted": 0, "chunksDeleted": 0, "entitiesDeleted": 0, "documentsDeleted": 0}
        record = tx.run(REMOVE_QUERY, document=document_id, extraction=EXTRACTION_SOURCE).single()
        if record is not None:
            counts.update({key: record[key] for key in ("relationsDeleted", "chunksDeleted", "entitiesDeleted")})
        if delete_document:
            counts["documentsDeleted"] = tx.run(DELETE_DOCUMENT_QUERY, document=document_id).single()["documents"]
        return counts
    counts = store.execute_write(work)
    logger.info("removed facts of document %s: %s", document_id, counts)
    return counts


def node(label: str, key: str, **properties) -> NodeRecord:
    """Build a node record without None-valued properties."""
    return NodeRecord(label, key, {name: value for name, value in properties.items() if value is not None})


def relationship(type_: str, start: NodeRecord | tuple[str, str], end: NodeRecord | tuple[str, str],
                 **properties) -> RelationshipRecord:
    """Build a relationship record between two nodes given as records or (label, key) pairs."""
    start_label, start_id = (start.label, start.id) if isinstance(start, NodeRecord) else start
    end_label, end_id = (end.label, end.id) if isinstance(end, NodeRecord) else end
    clean = {name: value for name, value in properties.items() if value is not None}
    return RelationshipRecord(type_, start_label, start_id, end_label, end_id, clean)
