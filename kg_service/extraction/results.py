"""Typed results of extraction: validated entities and relations, dropped items and raw answers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ExtractedEntity:
    """An entity mention found in the text: `text == source_text[start:end]`, `type` an ontology class."""

    text: str
    type: str
    start: int
    end: int
    confidence: float


@dataclass(frozen=True)
class ExtractedRelation:
    """A relation between two extracted entities, given by their positions in the entity list."""

    source: int
    type: str
    target: int
    confidence: float


@dataclass(frozen=True)
class DroppedItem:
    """An entity or relation of a model answer that failed validation, with the reason."""

    kind: str
    """"entity", "relation" or "answer"."""
    item: Any
    reason: str


@dataclass
class ChunkExtraction:
    """Validated output for one text, with what was dropped and every raw answer of the model.

    `quarantined` is True when no answer parsed after every attempt; `quarantine_reason` then
    says why and `entities` and `relations` are empty.
    """

    text: str
    entities: list[ExtractedEntity] = field(default_factory=list)
    relations: list[ExtractedRelation] = field(default_factory=list)
    dropped: list[DroppedItem] = field(default_factory=list)
    raw_answers: list[str] = field(default_factory=list)
    attempts: int = 0
    model_id: str = ""
    lang: str = "en"
    quarantined: bool = False
    quarantine_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict; relations also carry the text of their two ends."""
        data = asdict(self)
        for relation, row in zip(self.relations, data["relations"]):
            row["source_text"] = self.entities[relation.source].text
            row["target_text"] = self.entities[relation.target].text
        return data
