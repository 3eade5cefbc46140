"""Evidence of extracted facts: the chunks, documents and text spans that support an entity or a relation."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from kg_service.errors import NotFoundError, QueryError
from kg_service.graph.identifiers import quote
from kg_service.graph.store import GraphStore
from kg_service.ontology.schema import GraphSchema

logger = logging.getLogger(__name__)

MAX_KEY_CHARS = 1000
MAX_EVIDENCE = 200


@dataclass(frozen=True)
class EvidenceChunk:
    """One supporting chunk: its text, position in its document and the mention texts it contains."""

    chunk_id: str
    text: str
    document_id: str | None
    document_name: str | None
    source: str | None
    page: int | None
    start_offset: int | None
    end_offset: int | None
    mentions: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FactEvidence:
    """An extracted relation with its provenance and supporting chunks."""

    source_id: str
    type: str
    target_id: str
    confidence: float | None
    model: str | None
    extracted_at: str | None
    chunks: list[EvidenceChunk]


CHUNK_QUERY = """
UNWIND $chunks AS key
MATCH (c:Chunk {id: key})
OPTIONAL MATCH (d:Document)-[:HAS_CHUNK]->(c)
OPTIONAL MATCH (c)-[m:MENTIONS]->(e:Entity) WHERE e.id IN $entities
RETURN c.id AS id, c.text AS text, c.page AS page, c.startOffset AS start, c.endOffset AS end,
       d.id AS document, d.name AS name, d.source AS source,
       reduce(forms = [], item IN collect(coalesce(m.surfaceForms, [m.name])) | forms + item) AS mentions
"""


def _check_key(value: str, what: str) -> str:
    if not value or len(value) > MAX_KEY_CHARS:
        raise QueryError(f"{what} must be a key of 1 to {MAX_KEY_CHARS} characters, got {len(value)} characters")
    return value


def _chunks(store: GraphStore, chunk_ids: list[str], entity_ids: list[str]) -> list[EvidenceChunk]:
    rows = {row["id"]: row for row in store.read(CHUNK_QUERY, {"chunks": chunk_ids, "entities": entity_ids})}
    chunks = []
    for chunk_id in dict.fromkeys(chunk_ids):
        row = rows.get(chunk_id)
        if row is None:
            continue
        chunks.append(EvidenceChunk(chunk_id=chunk_id, text=row["text"] or "", document_id=row["document"],
                                    document_name=row["name"], source=row["source"], page=row["page"],
                                    start_offset=row["start"], end_offset=row["end"],
                                    mentions=sorted({form for form in row["mentions"] if form})))
    return chunks


def relation_evidence(store: GraphStore, schema: GraphSchema, source_id: str, type_: str,
                      target_id: str) -> FactEvidence:
    """Return the provenance and supporting chunks of one extracted relation; raise NotFoundError if absent."""
    _check_key(source_id, "source")
    _check_key(target_id, "target")
    schema.relationship(type_)
    rows = store.read(
        f"MATCH (:Entity {{id: $source}})-[r:{quote(type_, 'relationship type')}]->(:Entity {{id: $target}}) "
        "RETURN properties(r) AS props", {"source": source_id, "target": target_id})
    if not rows:
        raise NotFoundError(f"no {type_} relation from {source_id!r} to {target_id!r}")
    props = rows[0]["props"]
    if not props.get("sourceChunks"):
        raise NotFoundError(f"the {type_} relation from {source_id!r} to {target_id!r} was not extracted from "
                            "documents, so it has no text evidence")
    chunk_ids = list(props["sourceChunks"])[:MAX_EVIDENCE]
    return FactEvidence(source_id=source_id, type=type_, target_id=target_id, confidence=props.get("confidence"),
                        model=props.get("extractionModel"), extracted_at=props.get("extractedAt"),
                        chunks=_chunks(store, chunk_ids, [source_id, target_id]))


def entity_evidence(store: GraphStore, entity_id: str, limit: int = 20) -> list[EvidenceChunk]:
    """Return the chunks that mention an entity, in document order, at most `limit`."""
    _check_key(entity_id, "id")
    if not 1 <= limit <= MAX_EVIDENCE:
        raise QueryError(f"limit must be between 1 and {MAX_EVIDENCE}, got {limit}")
    rows = store.read("MATCH (c:Chunk)-[:MENTIONS]->(:Entity {id: $id}) "
                      "RETURN c.id AS id ORDER BY c.id LIMIT $limit", {"id": entity_id, "limit": limit})
    return _chunks(store, [row["id"] for row in rows], [entity_id])


ENTITY_CHUNKS_QUERY = """
MATCH (c:Chunk)-[:MENTIONS]->(:Entity {id: $id})
WITH c.id AS id ORDER BY id
WITH collect(id) AS ids
RETURN size(ids) AS total, ids[$offset..$offset + $limit] AS page
"""


def entity_evidence_page(store: GraphStore, entity_id: str, offset: int, limit: int) -> tuple[list[EvidenceChunk], int]:
    """Return `limit` chunks that mention an entity, from position `offset` in chunk-key order, and their total."""
    _check_key(entity_id, "id")
    if not 1 <= limit <= MAX_EVIDENCE:
        raise QueryError(f"limit must be between 1 and {MAX_EVIDENCE}, got {limit}")
    if offset < 0:
        raise QueryError(f"offset must be at least 0, got {offset}")
    row = store.read(ENTITY_CHUNKS_QUERY, {"id": entity_id, "offset": offset, "limit": limit})[0]
    chunks = _chunks(store, row["page"], [entity_id]) if row["page"] else []
    return chunks, row["total"]
