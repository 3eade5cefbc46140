"""GraphQL fields for the text evidence of extracted facts: `factEvidence` and `entityEvidence`.

The relationship type argument is checked against the ontology allowlist before it reaches
Cypher; keys travel as parameters.
"""

from __future__ import annotations

import asyncio
import logging

import strawberry
from strawberry.types import Info

from kg_service.api.context import request_schema, request_store
from kg_service.api.paging import (Connection, check_first, connection, decode_cursor, edges, fingerprint, page_at,
                                   page_info)
from kg_service.extraction.evidence import MAX_EVIDENCE, EvidenceChunk, entity_evidence_page, relation_evidence
from kg_service.extraction.scope import core_ontology
from kg_service.reasoning.lookup import check_language

logger = logging.getLogger(__name__)


@strawberry.type(name="EvidenceChunk", description="A chunk of document text that supports an extracted fact")
class EvidenceChunkType:
    chunk_id: str
    text: str = strawberry.field(description="The chunk text, unchanged from the document")
    document_id: str | None
    document_name: str | None
    source: str | None = strawberry.field(description="The document's file path, with '#row=N' for a CSV row")
    page: int | None = strawberry.field(description="Page on which the chunk starts, from 1 (PDF only)")
    start_offset: int | None = strawberry.field(description="Character offset of the chunk in the document text")
    end_offset: int | None = strawberry.field(description="Character offset just after the chunk (exclusive)")
    mentions: list[str] = strawberry.field(description="Texts in this chunk that mention the fact's entities")


@strawberry.type(name="EvidenceChunkConnection", description="Relay-style page of evidence chunks")
class EvidenceChunkConnection(Connection[EvidenceChunkType]):
    pass


# Default page size of evidence chunks; `first` goes up to 200.
EVIDENCE_PAGE = 20


@strawberry.type(description="An extracted relation with the model, confidence, time and supporting text")
class FactEvidence:
    source_id: str
    type: str
    target_id: str
    confidence: float | None
    model: str | None = strawberry.field(description="The model that extracted the relation")
    extracted_at: str | None = strawberry.field(description="UTC time of the extraction, ISO 8601")
    supporting: strawberry.Private[list[EvidenceChunkType]]

    @strawberry.field(description="Chunks that the relation was extracted from, in the order the relation stores "
                                  f"them; at most the first {MAX_EVIDENCE} count")
    def chunks(self, first: int = EVIDENCE_PAGE, after: str | None = None) -> EvidenceChunkConnection:
        # NOTE: relation_evidence reads at most MAX_EVIDENCE chunk keys, so totalCount stops there.
        scope = fingerprint("FactEvidence.chunks", {"source": self.source_id, "type": self.type,
                                                    "target": self.target_id})
        return connection(EvidenceChunkConnection, self.supporting, first, after, scope, "chunks")

    @strawberry.field(description="Label of the relationship type in the requested language ('en' or 'zh')")
    def label(self, lang: str = "en") -> str | None:
        language = check_language(lang)
        for rel in core_ontology().relationships.values():
            if rel.type == self.type:
                return rel.labels.get(language) or rel.labels.get("en")
        return None


def _chunk(item: EvidenceChunk) -> EvidenceChunkType:
    return EvidenceChunkType(chunk_id=item.chunk_id, text=item.text, document_id=item.document_id,
                             document_name=item.document_name, source=item.source, page=item.page,
                             start_offset=item.start_offset, end_offset=item.end_offset, mentions=item.mentions)


@strawberry.type
class ExtractionQuery:
    @strawberry.field(description="Provenance and supporting text of one extracted relation "
                                  "(source entity key, relationship type, target entity key)")
    async def fact_evidence(self, info: Info, source: str, type: str, target: str) -> FactEvidence:
        evidence = await asyncio.to_thread(relation_evidence, request_store(info), request_schema(info), source, type,
                                           target)
        return FactEvidence(source_id=evidence.source_id, type=evidence.type, target_id=evidence.target_id,
                            confidence=evidence.confidence, model=evidence.model, extracted_at=evidence.extracted_at,
                            supporting=[_chunk(item) for item in evidence.chunks])

    @strawberry.field(description="Chunks of document text that mention an entity, ordered by chunk key")
    async def entity_evidence(self, info: Info, id: str, first: int = EVIDENCE_PAGE,
                              after: str | None = None) -> EvidenceChunkConnection:
        check_first(first, "entityEvidence", MAX_EVIDENCE)
        scope = fingerprint("entityEvidence", {"id": id})
        start = decode_cursor(after, scope, "entityEvidence") + 1
        chunks, total = await asyncio.to_thread(entity_evidence_page, request_store(info), id, start, first)
        page = page_at([_chunk(item) for item in chunks], start, total, scope)
        return EvidenceChunkConnection(total_count=page.total, edges=edges(page), page_info=page_info(page))


query_type = ExtractionQuery
