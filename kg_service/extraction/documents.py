"""Ingest documents: load, chunk, extract, resolve and write facts with provenance, incrementally.

An empty or whitespace-only document is skipped with a warning. A document whose content
checksum matches the stored one is left alone, with no model call and no write, whichever model
extracted it, unless the stored extraction is a dry run (the scripted backend) and a model runs
now, or --force is given. Any other document is chunked and extracted first. Only then are its previous chunks and the facts only
they supported removed and the new ones written. An unreadable file (binary data, a corrupt
PDF) is reported in the result and the batch goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from kg_service.config import Settings
from kg_service.errors import InputDataError, KGServiceError, OntologyError
from kg_service.extraction.backend import LLMBackend
from kg_service.extraction.chunking import TextChunk, chunk_text
from kg_service.extraction.pipeline import extract_texts
from kg_service.extraction.prompt import detect_language
from kg_service.extraction.provenance import (EXTRACTION_SOURCE, ENDPOINT_SEPARATOR, check_provenance_terms,
                                              chunk_key, document_key, node, relation_support, relationship,
                                              extraction_identity, remove_document_facts, stored_extraction,
                                              with_support)
from kg_service.extraction.quarantine import quarantine_chunk
from kg_service.extraction.resolution import EntityResolver, KnownEntity, Resolution, default_embedder
from kg_service.extraction.results import ChunkExtraction
from kg_service.extraction.scope import ExtractionScope, core_ontology
from kg_service.extraction.tokens import token_counter_for
from kg_service.graph.identifiers import quote
from kg_service.graph.records import NodeRecord, RelationshipRecord
from kg_service.graph.store import GraphStore
from kg_service.graph.writer import BatchedWriter
from kg_service.ontology.schema import ENTITY_LABEL, GraphSchema
from loaders.documents import LoadedDocument, load_document, supported

logger = logging.getLogger(__name__)

# The extraction model that a Document node records after a dry run (`--backend scripted`, which
# returns nothing for every text). A later run with a model extracts such a document again.
DRY_RUN_EXTRACTION = "scripted:scripted"

KNOWN_ENTITY_LIMIT = 100_000


@dataclass
class DocumentResult:
    """Outcome of one document: status "ingested", "unchanged", "skipped" or "failed", with counts."""

    source: str
    status: str
    document_id: str | None = None
    reason: str | None = None
    chunks: int = 0
    entities: int = 0
    relations: int = 0
    merges: int = 0
    dropped: int = 0
    quarantined: int = 0
    removed: dict[str, int] = field(default_factory=dict)


@dataclass
class IngestOptions:
    """Choices of one document ingestion; `None` fields fall back to the settings."""

    chunk_tokens: int | None = None
    batch_size: int | None = None
    text_columns: list[str] | None = None
    encoding: str | None = None
    force: bool = False
    use_embeddings: bool = True


def expand_paths(paths: Iterable[Path | str]) -> list[Path]:
    """Return the files named, with the supported files inside each named folder (recursively, sorted)."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files.extend(sorted(item for item in path.rglob("*") if item.is_file() and supported(item)))
        else:
            files.append(path)
    return files


class DocumentIngestor:
    """Ingest documents into the graph with one backend, scope and resolver.

    Usage::

        ingestor = DocumentIngestor(store, settings, backend)
        results = ingestor.ingest_paths([Path("manuals/")])
    """

    def __init__(self, store: GraphStore, settings: Settings, backend: LLMBackend, *,
                 scope: ExtractionScope | None = None, options: IngestOptions | None = None,
                 schema: GraphSchema | None = None) -> None:
        self.store = store
        self.settings = settings
        self.backend = backend
        self.options = options or IngestOptions()
        self.schema = schema or GraphSchema.from_store(store)
        if self.schema.is_empty:
            raise OntologyError("no ontology is loaded in Neo4j; run 'kg-service ontology load ontology/kg-core.ttl' "
                                "before ingesting documents")
        check_provenance_terms(self.schema)
        self.scope = scope or ExtractionScope.from_schema(self.schema)
        embedder = default_embedder() if self.options.use_embeddings else None
        self.resolver = EntityResolver(self.schema, core_ontology(), embedder)
        self.count_tokens = token_counter_for(backend)

    def ingest_paths(self, paths: Sequence[Path | str],
                     on_document: Callable[[DocumentResult], None] | None = None) -> list[DocumentResult]:
        """Ingest every file (folders are expanded); a failing file is reported and the rest go on."""
        results = []
        for path in expand_paths(paths):
            try:
                documents = load_document(path, text_columns=self.options.text_columns, encoding=self.options.encoding)
            except InputDataError as error:
                logger.error("cannot read %s: %s", path, error)
                results.append(DocumentResult(source=str(path), status="failed", reason=str(error)))
                if on_document:
                    on_document(results[-1])
                continue
            for document in documents:
                results.append(self.ingest_document(document))
                if on_document:
                    on_document(results[-1])
        return results

    def ingest_document(self, document: LoadedDocument) -> DocumentResult:
        """Ingest one loaded document; see the module docstring for the statuses."""
        document_id = document_key(document.source)
        if document.is_blank:
            logger.warning("skipped %s: the document is empty or contains only whitespace", document.source)
            return DocumentResult(document.source, "skipped", document_id, reason="empty or whitespace-only document")
        checksum = document.checksum
        model = extraction_identity(self.backend)
        stored_checksum, stored_model = stored_extraction(self.store, document_id)
        if stored_checksum == checksum and not self.options.force:
            # A dry run's empty extraction never blocks a real model, but a document that a model
            # extracted is replaced by a dry run or by another model only with --force.
            after_dry_run = stored_model == DRY_RUN_EXTRACTION and model != DRY_RUN_EXTRACTION
            if not after_dry_run:
                if stored_model not in (None, model):
                    logger.info("unchanged %s: it was extracted by %s; pass --force to extract it again with %s",
                                document.source, stored_model, model)
                else:
                    logger.info("unchanged %s (checksum %s); nothing to do", document.source, checksum[:12])
                return DocumentResult(document.source, "unchanged", document_id)
            logger.info("extracting %s again: the stored extraction is a dry run (%s), now %s", document.source,
                        stored_model, model)

        try:
            return self._ingest_changed(document, document_id)
        except KGServiceError as error:
            logger.error("failed to ingest %s: %s", document.source, error)
            return DocumentResult(document.source, "failed", document_id, reason=str(error))

    def _ingest_changed(self, document: LoadedDocument, document_id: str) -> DocumentResult:
        max_tokens = self.options.chunk_tokens or self.settings.chunk_tokens
        chunks = chunk_text(document.text, max_tokens, self.count_tokens, document.page_starts or None)
        extractions = self._extract(chunks)
        result = DocumentResult(document.source, "ingested", document_id, chunks=len(chunks))
        for chunk, extraction in zip(chunks, extractions):
            result.dropped += len(extraction.dropped)
            if extraction.quarantined:
                quarantine_chunk(self.settings, document.source, chunk, extraction)
                result.quarantined += 1

        # Old facts go before resolution, so no new mention merges into an entity that only this document supported.
        # The Document node keeps its old checksum until the writer replaces it, so a failed write is retried next run.
        result.removed = remove_document_facts(self.store, document_id, delete_document=False)
        nodes, relationships = self._records(document, document_id, chunks, extractions, result)
        relationships = with_support(relationships, relation_support(self.store, relationships))
        BatchedWriter(self.store, self.schema, self.settings.batch_size).write(nodes, relationships)
        logger.info("ingested %s: %d chunks, %d entities, %d relations, %d merges, %d quarantined",
                    document.source, result.chunks, result.entities, result.relations, result.merges,
                    result.quarantined)
        return result

    def _extract(self, chunks: list[TextChunk]) -> list[ChunkExtraction]:
        batch_size = self.options.batch_size or self.settings.llm_batch_size
        extractions: list[ChunkExtraction] = []
        for start in range(0, len(chunks), batch_size):
            batch = chunks[start:start + batch_size]
            extractions.extend(extract_texts([chunk.text for chunk in batch], self.backend, self.scope,
                                             max_new_tokens=self.settings.llm_max_new_tokens))
        return extractions

    def _records(self, document: LoadedDocument, document_id: str, chunks: list[TextChunk],
                 extractions: list[ChunkExtraction], result: DocumentResult) -> tuple[list[NodeRecord],
                                                                                       list[RelationshipRecord]]:
        """Build the document, chunk, entity, mention and relation records of one document."""
        extracted_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        document_node = node("Document", document_id, name=document.title or document.path.name,
                             source=document.source, checksum=document.checksum, mediaType=document.media_type,
                             extractionModel=extraction_identity(self.backend),
                             language=detect_language(document.text[:10_000]))
        nodes: dict[str, NodeRecord] = {document_id: document_node}
        relationships: dict[tuple[str, str, str], RelationshipRecord] = {}

        mentions = [(chunk, position, entity) for chunk, extraction in zip(chunks, extractions)
                    for position, entity in enumerate(extraction.entities)]
        known = self._known_entities()
        resolutions = self.resolver.resolve([(entity.text, entity.type) for _, _, entity in mentions], known)
        entity_labels = {entity.id: entity.type for entity in known}
        resolution_of: dict[tuple[int, int], Resolution] = {}
        for (chunk, position, entity), resolution in zip(mentions, resolutions):
            resolution_of[(chunk.index, position)] = resolution
            entity_labels.setdefault(resolution.entity_id, entity.type)
            if resolution.is_new:
                nodes[resolution.entity_id] = node(entity.type, resolution.entity_id, name=entity.text,
                                                   source=EXTRACTION_SOURCE, language=detect_language(entity.text))

        for chunk, extraction in zip(chunks, extractions):
            chunk_id = chunk_key(document_id, chunk.index)
            chunk_node = node("Chunk", chunk_id, text=chunk.text, startOffset=chunk.start, endOffset=chunk.end,
                              page=chunk.page, chunkIndex=chunk.index, language=extraction.lang)
            nodes[chunk_id] = chunk_node
            relationships[(document_id, "HAS_CHUNK", chunk_id)] = relationship("HAS_CHUNK", document_node, chunk_node)
            self._mention_records(chunk, chunk_node, extraction, resolution_of, entity_labels, relationships, result)
            self._relation_records(chunk, chunk_id, extraction, resolution_of, entity_labels, relationships,
                                   extracted_at, result)
        result.entities = sum(1 for record in nodes.values() if record.label not in ("Document", "Chunk"))
        return list(nodes.values()), list(relationships.values())

    def _mention_records(self, chunk, chunk_node, extraction, resolution_of, entity_labels, relationships,
                         result) -> None:
        """Add one MENTIONS link per chunk and entity; its lists hold one entry per mention, merged or not."""
        for position, entity in enumerate(extraction.entities):
            resolution = resolution_of[(chunk.index, position)]
            if resolution.merged:
                result.merges += 1
            key = (chunk_node.id, "MENTIONS", resolution.entity_id)
            existing = relationships.get(key)
            if existing is None:
                existing = relationship("MENTIONS", chunk_node,
                                        (entity_labels[resolution.entity_id], resolution.entity_id),
                                        name=entity.text, startOffset=chunk.start + entity.start,
                                        endOffset=chunk.start + entity.end, confidence=entity.confidence,
                                        surfaceForms=[], resolvedFrom=[], mergeReason=[], mergeScore=[])
                relationships[key] = existing
            properties = existing.properties
            properties["confidence"] = max(properties["confidence"], entity.confidence)
            properties["surfaceForms"].append(entity.text)
            properties["resolvedFrom"].append(resolution.own_key)
            properties["mergeReason"].append(resolution.reason or "")
            properties["mergeScore"].append(resolution.score if resolution.score is not None else 1.0)

    def _relation_records(self, chunk, chunk_id, extraction, resolution_of, entity_labels, relationships,
                          extracted_at, result) -> None:
        for relation in extraction.relations:
            source = resolution_of[(chunk.index, relation.source)]
            target = resolution_of[(chunk.index, relation.target)]
            if source.entity_id == target.entity_id:
                continue
            source_label, target_label = entity_labels[source.entity_id], entity_labels[target.entity_id]
            if not self.scope.fits(relation.type, source_label, target_label):
                continue
            key = (source.entity_id, relation.type, target.entity_id)
            endpoint = f"{source.own_key}{ENDPOINT_SEPARATOR}{target.own_key}"
            existing = relationships.get(key)
            if existing is not None:
                existing.properties["sourceChunks"].append(chunk_id)
                existing.properties["endpointKeys"].append(endpoint)
                existing.properties["confidence"] = max(existing.properties["confidence"], relation.confidence)
                continue
            result.relations += 1
            relationships[key] = relationship(relation.type, (source_label, source.entity_id),
                                              (target_label, target.entity_id), confidence=relation.confidence,
                                              extractionModel=extraction.model_id, extractedAt=extracted_at,
                                              sourceChunks=[chunk_id], endpointKeys=[endpoint])

    def _known_entities(self) -> list[KnownEntity]:
        """Read the named entities of the classes in scope, as merge candidates."""
        rows = self.store.read(
            f"MATCH (n:{quote(ENTITY_LABEL)}) WHERE n.name IS NOT NULL AND any(label IN labels(n) WHERE label IN $classes) "
            "RETURN n.id AS id, n.name AS name, labels(n) AS labels LIMIT $limit",
            {"classes": sorted(self.scope.classes), "limit": KNOWN_ENTITY_LIMIT})
        known = []
        for row in rows:
            labels = [label for label in row["labels"] if label in self.schema.parents]
            if not labels or not isinstance(row["name"], str):
                continue
            most_specific = max(labels, key=lambda label: len(self.schema.ancestors(label)))
            known.append(KnownEntity(row["id"], row["name"], most_specific))
        return known


def delete_document(store: GraphStore, source_or_id: str) -> dict[str, int]:
    """Delete a document given by id, source path or file path, with the facts that only it supported."""
    candidates = [source_or_id]
    path = Path(source_or_id)
    if not source_or_id.startswith("document:"):
        candidates = [document_key(str(path.resolve())), document_key(source_or_id)]
    rows = store.read("MATCH (d:Document) WHERE d.id IN $ids OR d.source = $source OR d.source STARTS WITH $prefix "
                      "RETURN d.id AS id",
                      {"ids": candidates, "source": str(path.resolve()), "prefix": f"{path.resolve()}#row="})
    if not rows:
        raise InputDataError(f"no ingested document has the id or source {source_or_id!r}",
                             hint="list the documents with 'kg-service documents list'")
    totals: dict[str, int] = {}
    for row in rows:
        for name, value in remove_document_facts(store, row["id"], delete_document=True).items():
            totals[name] = totals.get(name, 0) + value
    return totals
