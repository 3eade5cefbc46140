"""Parse a model answer and validate every entity and relation against the text and the ontology.

Model output is data, never code: class and relationship names are only looked up in the
`ExtractionScope` (an allowlist built from the ontology), so a type such as
"DataIngestion,FileProcessing", a name with backticks or a ") MATCH" fragment, or a type that
is an internal label (Document, Chunk, Entity) is rejected or mapped here and never reaches Cypher.
"""

from __future__ import annotations

import json
import logging
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from kg_service.extraction.results import DroppedItem, ExtractedEntity, ExtractedRelation
from kg_service.extraction.scope import INTERNAL_LABELS, ExtractionScope

logger = logging.getLogger(__name__)

MAX_ENTITY_CHARS = 200
# Confidence of an item that the model output gives no confidence for. That is the usual case,
# because the answer schema has no confidence field. The factors below lower it for a type or
# span that the parser had to map.
DEFAULT_CONFIDENCE = 0.7
# Confidence factors for a type that was not given by its exact class name.
LABEL_MATCH_FACTOR = 0.9
FUZZY_MATCH_FACTOR = 0.8
FUZZY_CUTOFF = 0.85
# Confidence factor for a span found only after width, case and whitespace normalization.
NORMALIZED_SPAN_FACTOR = 0.9
# Confidence factor for a relation whose two ends the parser swapped to fit its domain and range.
REVERSED_RELATION_FACTOR = 0.8

_FENCE = re.compile(r"```[a-zA-Z0-9_-]*")
_TYPE_SEPARATORS = re.compile(r"[,;|/]+")


class MalformedAnswerError(ValueError):
    """The answer holds no JSON object with an "entities" list."""


@dataclass
class ValidatedAnswer:
    """Entities and relations that passed validation, and every dropped item with its reason."""

    entities: list[ExtractedEntity]
    relations: list[ExtractedRelation]
    dropped: list[DroppedItem]


def first_json_object(raw: str) -> dict[str, Any]:
    """Return the first complete JSON object in `raw`, after removing Markdown code fences."""
    text = _FENCE.sub("", raw)
    decoder = json.JSONDecoder()
    position = text.find("{")
    while position != -1:
        try:
            value, _ = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            position = text.find("{", position + 1)
            continue
        if isinstance(value, dict):
            return value
        position = text.find("{", position + 1)
    raise MalformedAnswerError("the answer contains no complete JSON object")


def close_truncated_object(raw: str) -> tuple[str, int] | None:
    """Close an answer that stops inside its JSON object after its last complete list item.

    A model that reaches its token limit leaves an unfinished object, such as a relations list cut
    in the middle of an item. The answer is cut back to the last item that was complete inside a
    list nested in the object, and the open lists and objects are closed. Return the repaired text
    and the number of characters cut, or None when no list item was complete.
    """
    text = _FENCE.sub("", raw)
    start = text.find("{")
    if start == -1:
        return None
    stack: list[str] = []
    in_string = escaped = False
    last_cut: tuple[int, list[str]] | None = None
    for position in range(start, len(text)):
        char = text[position]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char in "{[":
            stack.append("}" if char == "{" else "]")
        elif char in "}]":
            if not stack or stack[-1] != char:
                return None
            stack.pop()
            if not stack:
                return None  # the object is complete, so first_json_object would have found it
            if len(stack) >= 2 and stack[-1] == "]":
                # An item of a list nested in the object has just ended.
                last_cut = (position + 1, list(stack))
    if last_cut is None:
        return None
    end, open_brackets = last_cut
    return text[:end] + "".join(reversed(open_brackets)), len(text) - end


def parse_answer(raw: str, text: str, scope: ExtractionScope) -> ValidatedAnswer:
    """Parse `raw` and validate it against `text` and `scope`; raise MalformedAnswerError when unusable.

    An answer cut off inside its object (at the token limit) keeps its complete items, and the
    cut is recorded as a dropped item of kind "answer".
    """
    dropped: list[DroppedItem] = []
    try:
        answer = first_json_object(raw)
    except MalformedAnswerError:
        answer = {}
    if not isinstance(answer.get("entities"), list):
        # A cut-off answer has no complete outer object, so the first complete one is an inner item.
        closed = close_truncated_object(raw)
        if closed is not None:
            answer = first_json_object(closed[0])
            logger.info("kept the complete items of an answer cut off %d characters before its end", closed[1])
            dropped.append(DroppedItem("answer", raw[-200:], f"the answer was cut off (token limit); the last "
                                                             f"{closed[1]} characters, an unfinished item, were "
                                                             "dropped"))
        elif not answer:
            raise MalformedAnswerError("the answer contains no complete JSON object")
    entities_in = answer.get("entities")
    if not isinstance(entities_in, list):
        raise MalformedAnswerError('the JSON object has no "entities" list')
    relations_in = answer.get("relations", [])
    if not isinstance(relations_in, list):
        dropped.append(DroppedItem("answer", relations_in, '"relations" is not a list'))
        relations_in = []

    entities, index_map = _validate_entities(entities_in, text, scope, dropped)
    relations = _validate_relations(relations_in, entities, index_map, scope, dropped)
    return ValidatedAnswer(entities, relations, dropped)


def _validate_entities(items: list[Any], text: str, scope: ExtractionScope,
                       dropped: list[DroppedItem]) -> tuple[list[ExtractedEntity], dict[int, int]]:
    """Return the valid entities and a map from answer position to position in the result."""
    entities: list[ExtractedEntity] = []
    index_map: dict[int, int] = {}
    position_of: dict[tuple[int, int, str], int] = {}
    for position, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("text"), str) or not isinstance(item.get("type"), str):
            dropped.append(DroppedItem("entity", item, 'not an object with string "text" and "type"'))
            continue
        surface = item["text"].strip()
        if not surface:
            dropped.append(DroppedItem("entity", item, "empty entity text"))
            continue
        if len(surface) > MAX_ENTITY_CHARS:
            dropped.append(DroppedItem("entity", item, f"entity text longer than {MAX_ENTITY_CHARS} characters"))
            continue

        class_name, factor, problem = map_type(item["type"], scope)
        if class_name is None:
            dropped.append(DroppedItem("entity", item, problem))
            continue

        located = _locate(surface, text, item.get("start"), {key[:2] for key in position_of})
        if located is None:
            dropped.append(DroppedItem("entity", item, "entity text does not occur in the text (invented span)"))
            continue
        span, exact = located

        key = (span[0], span[1], class_name)
        if key in position_of:
            index_map[position] = position_of[key]
            continue
        confidence = _confidence(item.get("confidence")) * factor * (1.0 if exact else NORMALIZED_SPAN_FACTOR)
        position_of[key] = len(entities)
        index_map[position] = len(entities)
        entities.append(ExtractedEntity(text=text[span[0]:span[1]], type=class_name, start=span[0], end=span[1],
                                        confidence=round(confidence, 4)))
    return entities, index_map


def map_type(type_name: str, scope: ExtractionScope) -> tuple[str | None, float, str]:
    """Map a type from the answer to a class in scope; return (class or None, confidence factor, reason)."""
    name = type_name.strip()
    class_name, match_kind = scope.resolve_class(name)
    if class_name is not None:
        return class_name, 1.0 if match_kind == "exact" else LABEL_MATCH_FACTOR, match_kind

    parts = [part.strip() for part in _TYPE_SEPARATORS.split(name) if part.strip()]
    if len(parts) > 1:
        # A path such as "PhysicalObject/Pump" names its most specific class last.
        for part in reversed(parts):
            class_name, _ = scope.resolve_class(part)
            if class_name is not None:
                return class_name, LABEL_MATCH_FACTOR, f"mapped from part {part!r} of a compound type"

    if name in INTERNAL_LABELS or any(part in INTERNAL_LABELS for part in parts):
        return None, 0.0, f"type {name!r} is an internal kg-service label, not an extractable class"

    closest = scope.closest_class(name, FUZZY_CUTOFF)
    if closest is not None:
        return closest, FUZZY_MATCH_FACTOR, f"closest class name to {name!r}"
    return None, 0.0, f"type {name[:80]!r} is not a class in scope ({', '.join(scope.classes)})"


def _locate(surface: str, text: str, hint: Any,
            used_spans: set[tuple[int, int]]) -> tuple[tuple[int, int], bool] | None:
    """Return the span of `surface` in `text` and whether it matched character for character.

    The search tries an exact match, then a case- and spacing-insensitive one, then one that
    compares NFKC-normalized, case-folded characters with all whitespace removed. The last one
    finds "P-101泵" in "P－101泵" and "机 械 密 封" in "机械密封". Every span is a slice of
    `text`, so the stored entity keeps the text's own characters. Among several occurrences
    the first one at or after an integer `hint` wins, else the first one that no other entity
    has taken yet, else the first.
    """
    exact = True
    spans = [match.span() for match in re.finditer(re.escape(surface), text)]
    if not spans:
        exact = False
        pattern = r"\s+".join(re.escape(word) for word in surface.split())
        spans = [match.span() for match in re.finditer(pattern, text, flags=re.IGNORECASE)]
    if not spans:
        spans = _normalized_spans(surface, text)
    if not spans:
        return None

    if isinstance(hint, int) and not isinstance(hint, bool):
        after = [span for span in spans if span[0] >= hint]
        if after:
            return after[0], exact
    free = [span for span in spans if span not in used_spans]
    return (free or spans)[0], exact


def _normalize_chars(text: str) -> tuple[str, list[int]]:
    """Return `text` NFKC-normalized and case-folded without whitespace, and the source index of each character."""
    characters: list[str] = []
    sources: list[int] = []
    for index, char in enumerate(text):
        if char.isspace():
            continue
        for folded in unicodedata.normalize("NFKC", char).casefold():
            if not folded.isspace():
                characters.append(folded)
                sources.append(index)
    return "".join(characters), sources


def _normalized_spans(surface: str, text: str) -> list[tuple[int, int]]:
    """Return the spans of `text` whose normalized characters equal those of `surface`."""
    needle, _ = _normalize_chars(surface)
    if not needle:
        return []
    haystack, sources = _normalize_chars(text)
    spans = []
    position = haystack.find(needle)
    while position != -1:
        span = (sources[position], sources[position + len(needle) - 1] + 1)
        # A match that starts or ends inside the expansion of one character (the "i" of "ﬁ") is no span.
        if _normalize_chars(text[span[0]:span[1]])[0] == needle:
            spans.append(span)
        position = haystack.find(needle, position + 1)
    return spans


def _confidence(value: Any, default: float = DEFAULT_CONFIDENCE) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and 0 <= value <= 1:
        return float(value)
    return default


def _end_index(value: Any, entities: list[ExtractedEntity], index_map: dict[int, int]) -> int | None:
    """Resolve a relation end given as an answer position or as the entity's text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return index_map.get(value)
    if isinstance(value, str):
        expected = value.strip().casefold()
        for index, entity in enumerate(entities):
            if entity.text.casefold() == expected:
                return index
    return None


def _validate_relations(items: list[Any], entities: list[ExtractedEntity], index_map: dict[int, int],
                        scope: ExtractionScope, dropped: list[DroppedItem]) -> list[ExtractedRelation]:
    relations: list[ExtractedRelation] = []
    seen: set[tuple[int, str, int]] = set()
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            dropped.append(DroppedItem("relation", item, 'not an object with a string "type"'))
            continue
        type_ = scope.resolve_relationship(item["type"])
        if type_ is None:
            dropped.append(DroppedItem("relation", item, f"relationship type {item['type'][:80]!r} is not in scope"))
            continue
        source = _end_index(item.get("source"), entities, index_map)
        target = _end_index(item.get("target"), entities, index_map)
        if source is None or target is None:
            dropped.append(DroppedItem("relation", item, "source or target is not a valid entity of this answer"))
            continue
        if source == target:
            dropped.append(DroppedItem("relation", item, "source and target are the same entity"))
            continue
        factor = 1.0
        if not scope.fits(type_, entities[source].type, entities[target].type):
            if not scope.fits(type_, entities[target].type, entities[source].type):
                rel = scope.relationships[type_]
                dropped.append(DroppedItem("relation", item, f"{type_} must go from {rel.domain} to {rel.range}, "
                                                             f"not from {entities[source].type} to "
                                                             f"{entities[target].type}"))
                continue
            # The classes fit only the other way round ("leaking" SHOWS_FAILURE_MODE "pump"), so the
            # model output has the two ends swapped.
            source, target = target, source
            factor = REVERSED_RELATION_FACTOR
        key = (source, type_, target)
        if key in seen:
            continue
        seen.add(key)
        # Without a confidence of its own, a relation is as certain as the weaker of its two ends.
        ends_confidence = min(entities[source].confidence, entities[target].confidence)
        relations.append(ExtractedRelation(source=source, type=type_, target=target,
                                           confidence=round(_confidence(item.get("confidence"), ends_confidence)
                                                            * factor, 4)))
    return relations
