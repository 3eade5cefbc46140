"""Commands for documents: `ingest documents`, `extract` and the `documents` group (list, delete, merges,
unmerge, quarantine)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Optional

import typer

from kg_service.cli import app, ingest_app

logger = logging.getLogger(__name__)

command_name = "documents"
command_group = typer.Typer(help="Inspect and delete ingested documents, entity merges and quarantined chunks.",
                            no_args_is_help=True)

BACKEND_HELP = "LLM backend: auto, transformers, openai, llama-cpp or scripted; default KG_LLM_BACKEND"
MODEL_HELP = "Model folder, GGUF file, hub id or short name; default KG_LLM_MODEL or the best installed model"


def _backend(backend: str | None, model: str | None):
    from kg_service.config import get_settings
    from kg_service.extraction.backends import create_backend

    overrides = {}
    if backend:
        overrides["backend"] = backend
    if model:
        overrides["model"] = model
    return create_backend(get_settings(), **overrides)


@ingest_app.command("documents")
def ingest_documents(paths: list[Path] = typer.Argument(..., help="Document files or folders (.txt, .md, .pdf, "
                                                                  ".docx, .csv)"),
                     backend: Optional[str] = typer.Option(None, help=BACKEND_HELP),
                     model: Optional[str] = typer.Option(None, help=MODEL_HELP),
                     text_column: list[str] = typer.Option([], "--text-column",
                                                           help="CSV column with work-order text (repeatable); "
                                                                "detected when omitted"),
                     encoding: Optional[str] = typer.Option(None, help="Text encoding; detected when omitted"),
                     chunk_tokens: Optional[int] = typer.Option(None, min=16,
                                                                help="Token limit of one chunk; default KG_CHUNK_TOKENS"),
                     force: bool = typer.Option(False, help="Extract again even when a document is unchanged"),
                     embeddings: bool = typer.Option(True, help="Use embedding similarity in entity resolution"),
                     limit: Optional[int] = typer.Option(None, "--limit", min=1,
                                                         help="Ingest only the first N files, in sorted path "
                                                              "order")) -> None:
    """Extract entities and relations from documents into the graph, with provenance; unchanged files are skipped.

    The progress bar counts files; each text (a file, or a row of a CSV file) gets a log line with its
    status and seconds.
    """
    from kg_service.cli import _errors, _progress, _store
    from kg_service.config import get_settings
    from kg_service.extraction.documents import DocumentIngestor, IngestOptions, expand_paths

    settings = get_settings()
    rows = []
    with _errors():
        files = expand_paths(paths)
        if limit is not None:
            files = sorted(files)[:limit]
        llm = _backend(backend, model)
        store = _store(settings)
        try:
            options = IngestOptions(chunk_tokens=chunk_tokens, text_columns=text_column or None, encoding=encoding,
                                    force=force, use_embeddings=embeddings)
            ingestor = DocumentIngestor(store, settings, llm, options=options)
            with _progress("ingesting documents") as progress:
                progress.start(len(files))
                for number, file in enumerate(files, start=1):
                    timer = _TextTimer(f"file {number} of {len(files)}")
                    rows.extend(ingestor.ingest_paths([file], on_document=timer.log))
                    progress.advance(1)
        finally:
            store.close()
    for result in rows:
        typer.echo(json.dumps(_result_row(result), ensure_ascii=False))
    statuses = [result.status for result in rows]
    summary = {status: statuses.count(status) for status in ("ingested", "unchanged", "skipped", "failed")}
    typer.echo(json.dumps({"summary": summary}, ensure_ascii=False))
    if summary["failed"]:
        raise typer.Exit(1)


class _TextTimer:
    """Logs each text of one file as it finishes, with the seconds since the previous text of that file."""

    def __init__(self, position: str) -> None:
        self.position = position
        self.started = time.perf_counter()

    def log(self, result) -> None:
        now = time.perf_counter()
        logger.info("%s (%s): %s in %.1f s", result.source, self.position, result.status, now - self.started)
        self.started = now


def _result_row(result) -> dict:
    row = {"source": result.source, "status": result.status, "document": result.document_id}
    if result.reason:
        row["reason"] = result.reason
    if result.status == "ingested":
        row.update(chunks=result.chunks, entities=result.entities, relations=result.relations, merges=result.merges,
                   dropped=result.dropped, quarantined=result.quarantined)
    return row


@app.command("extract")
def extract(file: Path = typer.Argument(..., help="A .txt, .md, .pdf, .docx or .csv file"),
            backend: Optional[str] = typer.Option(None, help=BACKEND_HELP),
            model: Optional[str] = typer.Option(None, help=MODEL_HELP),
            text_column: list[str] = typer.Option([], "--text-column", help="CSV column with work-order text"),
            chunk_tokens: Optional[int] = typer.Option(None, min=16, help="Token limit of one chunk"),
            show_dropped: bool = typer.Option(False, "--dropped", help="Also print dropped items and raw answers")) -> None:
    """Print the entities and relations extracted from FILE as JSON; nothing is written to the graph."""
    from kg_service.cli import _errors
    from kg_service.config import get_settings
    from kg_service.extraction.chunking import chunk_text
    from kg_service.extraction.pipeline import extract_texts
    from kg_service.extraction.scope import ExtractionScope, core_schema
    from kg_service.extraction.tokens import token_counter_for
    from loaders.documents import load_document

    settings = get_settings()
    output = []
    with _errors():
        llm = _backend(backend, model)
        scope = ExtractionScope.from_schema(core_schema())
        for document in load_document(file, text_columns=text_column or None):
            if document.is_blank:
                logger.warning("skipped %s: the document is empty or contains only whitespace", document.source)
                continue
            chunks = chunk_text(document.text, chunk_tokens or settings.chunk_tokens, token_counter_for(llm),
                                document.page_starts or None)
            results = extract_texts([chunk.text for chunk in chunks], llm, scope,
                                    max_new_tokens=settings.llm_max_new_tokens)
            output.append({"source": document.source, "chunks": [
                _chunk_row(chunk, result, show_dropped) for chunk, result in zip(chunks, results)]})
    typer.echo(json.dumps(output, ensure_ascii=False, indent=2))


def _chunk_row(chunk, result, show_dropped: bool) -> dict:
    entities = [{"text": entity.text, "type": entity.type, "start": chunk.start + entity.start,
                 "end": chunk.start + entity.end, "confidence": entity.confidence} for entity in result.entities]
    relations = [{"source": result.entities[relation.source].text, "type": relation.type,
                  "target": result.entities[relation.target].text, "confidence": relation.confidence}
                 for relation in result.relations]
    row = {"index": chunk.index, "start": chunk.start, "end": chunk.end, "page": chunk.page, "entities": entities,
           "relations": relations, "model": result.model_id}
    if result.quarantined:
        row["quarantined"] = result.quarantine_reason
    if show_dropped:
        row["dropped"] = [{"kind": item.kind, "item": item.item, "reason": item.reason} for item in result.dropped]
        row["raw_answers"] = result.raw_answers
    return row


@command_group.command("list")
def list_documents() -> None:
    """Print each ingested document with its chunk count, one JSON object per line."""
    from kg_service.cli import _errors, _store
    from kg_service.config import get_settings

    with _errors():
        store = _store(get_settings())
        try:
            rows = store.read("MATCH (d:Document) OPTIONAL MATCH (d)-[:HAS_CHUNK]->(c:Chunk) "
                              "RETURN d.id AS id, d.source AS source, d.checksum AS checksum, count(c) AS chunks "
                              "ORDER BY source")
        finally:
            store.close()
    for row in rows:
        typer.echo(json.dumps(row, ensure_ascii=False))


@command_group.command("delete")
def delete_documents(documents: list[str] = typer.Argument(..., help="Document ids or source file paths")) -> None:
    """Delete documents with their chunks and the extracted facts that only they supported."""
    from kg_service.cli import _errors, _store
    from kg_service.config import get_settings
    from kg_service.extraction.documents import delete_document

    with _errors():
        store = _store(get_settings())
        try:
            for document in documents:
                counts = delete_document(store, document)
                typer.echo(json.dumps({"document": document, **counts}, ensure_ascii=False))
        finally:
            store.close()


@command_group.command("merges")
def merges() -> None:
    """Print each entity merge (key of the merged mentions, target entity, reason), one JSON object per line."""
    from dataclasses import asdict

    from kg_service.cli import _errors, _store
    from kg_service.config import get_settings
    from kg_service.extraction.merges import list_merges

    with _errors():
        store = _store(get_settings())
        try:
            records = list_merges(store)
        finally:
            store.close()
    for record in records:
        typer.echo(json.dumps(asdict(record), ensure_ascii=False))


@command_group.command("unmerge")
def unmerge_command(key: str = typer.Argument(..., help="Key of the merged mentions, as 'documents merges' prints")) -> None:
    """Undo one entity merge: the mentions and relations it moved get their own entity again."""
    from dataclasses import asdict

    from kg_service.cli import _errors, _store
    from kg_service.config import get_settings
    from kg_service.extraction.merges import unmerge
    from kg_service.ontology.schema import GraphSchema

    with _errors():
        store = _store(get_settings())
        try:
            report = unmerge(store, GraphSchema.from_store(store), key)
        finally:
            store.close()
    typer.echo(json.dumps(asdict(report), ensure_ascii=False))


@command_group.command("quarantine")
def quarantine() -> None:
    """Print the quarantined chunks (unparseable model answers) with their reasons, one JSON object per line."""
    from kg_service.config import get_settings
    from kg_service.extraction.quarantine import list_quarantined

    for record in list_quarantined(get_settings()):
        typer.echo(json.dumps({key: record[key] for key in ("file", "source", "chunk_index", "page", "reason",
                                                             "model", "attempts")}, ensure_ascii=False))
