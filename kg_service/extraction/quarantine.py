"""Quarantine of chunks whose model answers could not be parsed: one JSON file per chunk.

Files live in `<state_dir>/extraction/quarantine/` and hold the document source, the chunk
offsets and text, the model, every raw answer and the reason. Nothing from a quarantined
chunk reaches the graph except the chunk itself (its text stays searchable).
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timezone
from pathlib import Path

from kg_service.config import Settings
from kg_service.extraction.chunking import TextChunk
from kg_service.extraction.results import ChunkExtraction

logger = logging.getLogger(__name__)


def quarantine_dir(settings: Settings) -> Path:
    """Return the folder of quarantined chunks."""
    return settings.state_dir / "extraction" / "quarantine"


def quarantine_chunk(settings: Settings, source: str, chunk: TextChunk, result: ChunkExtraction) -> Path:
    """Write one quarantined chunk to its JSON file and return the path."""
    folder = quarantine_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(f"{source}\n{chunk.start}\n{chunk.text}".encode("utf-8")).hexdigest()[:16]
    path = folder / f"{digest}.json"
    record = {"source": source, "chunk_index": chunk.index, "start": chunk.start, "end": chunk.end,
              "page": chunk.page, "text": chunk.text, "model": result.model_id, "attempts": result.attempts,
              "reason": result.quarantine_reason, "raw_answers": result.raw_answers,
              "quarantined_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    path.write_text(json.dumps(record, ensure_ascii=False, indent=2), encoding="utf-8")
    logger.warning("quarantined chunk %d of %s in %s: %s", chunk.index, source, path, result.quarantine_reason)
    return path


def list_quarantined(settings: Settings) -> list[dict]:
    """Return every quarantined chunk record, oldest first."""
    folder = quarantine_dir(settings)
    if not folder.is_dir():
        return []
    records = []
    for path in sorted(folder.glob("*.json"), key=lambda item: item.stat().st_mtime):
        record = json.loads(path.read_text(encoding="utf-8"))
        record["file"] = str(path)
        records.append(record)
    return records
