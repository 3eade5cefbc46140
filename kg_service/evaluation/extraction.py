"""Entity and relation precision, recall and F1 of extraction against gold files in the MaintIE format.

Gold formats read by `load_gold`:

- MaintIE (a JSON list): each example has `tokens`, optional `text`, `entities` as token spans
  (`start`, `end` exclusive) with slash-path types such as "PhysicalObject/SensingObject", and
  `relations` with `head` and `tail` positions in `entities`. The Chinese counterpart has one
  token per character, with placeholders such as `<id>` kept whole.
- MWO2KG NER (JSON lines): each line has `tokens` and `mentions` with `start`, `end` and
  `labels`. Duplicate mentions (one per annotator) count once, and the annotation helper
  labels Typo, Unsure and Abbreviation are not entity types, so they are left out.

Predictions carry character offsets into the text; a predicted span becomes the token span of
every token it overlaps. Scores are micro-averaged over all examples. "Exact" compares the
token span and the whole type path; "at depth d" compares the span and the first d segments
of both paths (a prediction mapped only to "PhysicalObject" cannot match at depth 2).
Relations match when both end spans and the (truncated) relation type match.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel

from kg_service.errors import InputDataError
from kg_service.evaluation.type_mappings import SCHEMES, SchemeMapping

logger = logging.getLogger(__name__)

MWO2KG_HELPER_LABELS = frozenset({"Typo", "Unsure", "Abbreviation"})
UNMAPPED_PREFIX = "unmapped:"
# Examples with invalid gold spans that `load_gold` lists one by one before it only counts them.
MAX_SPAN_WARNINGS = 10

Span = tuple[int, int]


class EntityKey(NamedTuple):
    """A token span (end exclusive) with a type path."""

    start: int
    end: int
    type: str


class RelationKey(NamedTuple):
    """A relation between two token spans with a relation type path."""

    head: Span
    tail: Span
    type: str


@dataclass(frozen=True)
class GoldExample:
    """One annotated text with its tokens, their character offsets and the gold entities and relations."""

    text: str
    tokens: list[str]
    offsets: list[Span]
    entities: list[EntityKey]
    relations: list[RelationKey]


@dataclass(frozen=True)
class GoldSet:
    """The examples of one gold file, with its annotation scheme ("maintie" or "mwo2kg") and language."""

    path: Path
    scheme: str
    lang: str
    examples: list[GoldExample]


class PrecisionRecallF1(BaseModel):
    """Micro-averaged precision, recall and F1 over matched items, with the counts behind them."""

    precision: float
    recall: float
    f1: float
    true_positives: int
    predicted: int
    gold: int

    @classmethod
    def compute(cls, predicted: Sequence[set], gold: Sequence[set]) -> "PrecisionRecallF1":
        """Score per-example sets of predicted items against per-example sets of gold items."""
        if len(predicted) != len(gold):
            raise ValueError(f"got predictions for {len(predicted)} examples and gold for {len(gold)}")
        true_positives = sum(len(guess & truth) for guess, truth in zip(predicted, gold))
        predicted_count = sum(len(guess) for guess in predicted)
        gold_count = sum(len(truth) for truth in gold)
        precision = true_positives / predicted_count if predicted_count else 0.0
        recall = true_positives / gold_count if gold_count else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return cls(precision=precision, recall=recall, f1=f1, true_positives=true_positives,
                   predicted=predicted_count, gold=gold_count)


class ExtractionScores(BaseModel):
    """Entity and relation scores of one set of predictions against one gold set."""

    depth: int
    entity_exact: PrecisionRecallF1
    entity_at_depth: PrecisionRecallF1
    entity_span: PrecisionRecallF1
    """Spans only, whatever the type."""
    relation_exact: PrecisionRecallF1
    relation_at_depth: PrecisionRecallF1


class GoldRun(BaseModel):
    """The gold file, its scheme and language, the number of examples, and the model that ran on them."""

    gold_file: str
    scheme: str
    lang: str
    examples: int
    backend: str
    model: str


class ExtractionEvaluation(GoldRun):
    """An extraction run over a gold file: scores, model, timing and what validation rejected."""

    scores: ExtractionScores
    seconds: float
    texts_per_second: float
    quarantined: int
    dropped_items: int


# Gold files

def load_gold(path: Path, limit: int | None = None) -> GoldSet:
    """Read a MaintIE or MWO2KG NER gold file; `limit` keeps the first N examples."""
    if not path.is_file():
        raise InputDataError("gold file not found", path=str(path), hint="give a MaintIE JSON or MWO2KG NER file")
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputDataError(f"not UTF-8 text ({error})", path=str(path),
                             hint="give a MaintIE JSON or MWO2KG NER file in UTF-8") from None
    try:
        rows = json.loads(raw)
    except json.JSONDecodeError:
        try:
            rows = [json.loads(line) for line in raw.splitlines() if line.strip()]
        except json.JSONDecodeError as error:
            raise InputDataError(f"not JSON or JSON lines ({error})", path=str(path),
                                 hint="give a MaintIE JSON list or an MWO2KG NER JSON-lines file") from error
    if isinstance(rows, dict) and "tokens" in rows:
        rows = [rows]
    if not isinstance(rows, list) or not rows or not isinstance(rows[0], dict):
        raise InputDataError("expected a non-empty list of examples", path=str(path))
    if limit is not None:
        rows = rows[:limit]

    scheme = "mwo2kg" if "mentions" in rows[0] else "maintie"
    examples = []
    invalid_spans = 0
    for number, row in enumerate(rows, start=1):
        try:
            example = _mwo2kg_example(row) if scheme == "mwo2kg" else _maintie_example(row)
        except (KeyError, IndexError, TypeError, ValueError) as error:
            raise InputDataError(f"example {number} is invalid: {error}", path=str(path),
                                 hint=f"each {scheme} example needs tokens and token-span annotations") from error
        examples.append(example)
        invalid = _invalid_spans(example)
        if invalid:
            invalid_spans += 1
            if invalid_spans <= MAX_SPAN_WARNINGS:
                names = [f"example {number}", *(f"{field} {row[field]!r}" for field in ("id", "doc_idx")
                                                if field in row)]
                logger.warning("%s: %s has %d tokens, but its gold spans %s (end exclusive) lie outside them; "
                               "they count as missed entities, so fix them in the gold file",
                               path, ", ".join(names), len(example.tokens), invalid)
    if invalid_spans > MAX_SPAN_WARNINGS:
        logger.warning("%s: %d examples have gold spans outside their tokens; only the first %d are listed",
                       path, invalid_spans, MAX_SPAN_WARNINGS)
    # The language comes from the texts, never the file name: Chinese when at least half of them contain
    # a CJK character, so a stray character in an English file does not switch the prompts.
    chinese = sum(any(_is_cjk(char) for char in example.text) for example in examples)
    lang = "zh" if chinese * 2 >= len(examples) else "en"
    return GoldSet(path=path, scheme=scheme, lang=lang, examples=examples)


def _invalid_spans(example: GoldExample) -> list[Span]:
    """Return the gold entity spans of `example` that lie outside its tokens; they can never match a prediction."""
    return [(key.start, key.end) for key in example.entities if not 0 <= key.start < key.end <= len(example.tokens)]


def _maintie_example(row: dict[str, Any]) -> GoldExample:
    tokens = [str(token) for token in row["tokens"]]
    text = row.get("text") or " ".join(tokens)
    entities = [EntityKey(int(item["start"]), int(item["end"]), str(item["type"]))
                for item in row.get("entities") or []]
    relations = []
    for item in row.get("relations") or []:
        head, tail = entities[int(item["head"])], entities[int(item["tail"])]
        relations.append(RelationKey((head.start, head.end), (tail.start, tail.end), str(item["type"])))
    try:
        offsets = token_offsets(text, tokens)
    except ValueError:
        # A few MaintIE texts keep a typo that the annotated tokens correct ("carosell" and
        # "carousel"); the tokens are what the spans refer to, so the model reads them instead.
        text = " ".join(tokens)
        offsets = token_offsets(text, tokens)
    return GoldExample(text=text, tokens=tokens, offsets=offsets, entities=entities, relations=relations)


def _mwo2kg_example(row: dict[str, Any]) -> GoldExample:
    tokens = [str(token) for token in row["tokens"]]
    text = " ".join(tokens)
    entities = []
    for mention in row["mentions"]:
        for label in mention["labels"]:
            if label in MWO2KG_HELPER_LABELS:
                continue
            key = EntityKey(int(mention["start"]), int(mention["end"]), str(label))
            if key not in entities:
                entities.append(key)
    return GoldExample(text=text, tokens=tokens, offsets=token_offsets(text, tokens), entities=entities,
                       relations=[])


def token_offsets(text: str, tokens: Sequence[str]) -> list[Span]:
    """Return the character span of each token, found in order in `text`."""
    offsets = []
    position = 0
    for token in tokens:
        start = text.find(token, position)
        if start < 0:
            raise ValueError(f"token {token!r} does not occur in the text after offset {position}")
        offsets.append((start, start + len(token)))
        position = start + len(token)
    return offsets


def char_span_to_tokens(offsets: Sequence[Span], start: int, end: int) -> Span | None:
    """Return the token span (end exclusive) of the tokens that overlap characters [start, end), or None."""
    covered = [index for index, (token_start, token_end) in enumerate(offsets)
               if token_start < end and start < token_end]
    if not covered:
        return None
    return covered[0], covered[-1] + 1


def truncate(path: str, depth: int) -> str:
    """Return the first `depth` segments of a slash-separated type path."""
    if path.startswith(UNMAPPED_PREFIX):
        return path
    return "/".join(path.split("/")[:depth])


# Predictions

def predicted_keys(example: GoldExample, extraction: Any,
                   mapping: SchemeMapping) -> tuple[list[EntityKey], list[RelationKey]]:
    """Translate one extraction result (ontology classes, character offsets) into gold-scheme keys."""
    spans: list[Span | None] = []
    entities = []
    for entity in extraction.entities:
        span = char_span_to_tokens(example.offsets, entity.start, entity.end)
        spans.append(span)
        if span is None:
            continue
        type_path = mapping.entities.get(entity.type, UNMAPPED_PREFIX + entity.type)
        entities.append(EntityKey(span[0], span[1], type_path))

    relations = []
    for relation in extraction.relations:
        source, target = spans[relation.source], spans[relation.target]
        if source is None or target is None:
            continue
        rule = mapping.relations.get(relation.type)
        if rule is None:
            relations.append(RelationKey(source, target, UNMAPPED_PREFIX + relation.type))
        elif rule.reverse:
            relations.append(RelationKey(target, source, rule.type))
        else:
            relations.append(RelationKey(source, target, rule.type))
    return entities, relations


def score(gold: GoldSet, predictions: Sequence[tuple[list[EntityKey], list[RelationKey]]],
          depth: int = 1) -> ExtractionScores:
    """Compute exact, depth-truncated and span-only scores of predictions given per gold example."""
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    gold_entities = [set(example.entities) for example in gold.examples]
    gold_relations = [set(example.relations) for example in gold.examples]
    predicted_entities = [set(entities) for entities, _ in predictions]
    predicted_relations = [set(relations) for _, relations in predictions]

    def entities_at(sets: list[set[EntityKey]]) -> list[set[EntityKey]]:
        return [{EntityKey(key.start, key.end, truncate(key.type, depth)) for key in items} for items in sets]

    def relations_at(sets: list[set[RelationKey]]) -> list[set[RelationKey]]:
        return [{RelationKey(key.head, key.tail, truncate(key.type, depth)) for key in items} for items in sets]

    def spans(sets: list[set[EntityKey]]) -> list[set[Span]]:
        return [{(key.start, key.end) for key in items} for items in sets]

    return ExtractionScores(
        depth=depth,
        entity_exact=PrecisionRecallF1.compute(predicted_entities, gold_entities),
        entity_at_depth=PrecisionRecallF1.compute(entities_at(predicted_entities), entities_at(gold_entities)),
        entity_span=PrecisionRecallF1.compute(spans(predicted_entities), spans(gold_entities)),
        relation_exact=PrecisionRecallF1.compute(predicted_relations, gold_relations),
        relation_at_depth=PrecisionRecallF1.compute(relations_at(predicted_relations), relations_at(gold_relations)),
    )


def evaluate_extraction(gold: GoldSet, backend: Any, scope: Any, *, depth: int = 1, batch_size: int = 4,
                        max_new_tokens: int = 512, progress: Any = None) -> tuple[ExtractionEvaluation, list[Any]]:
    """Extract from every gold text with `backend` and score the result; return it with the raw extractions.

    `progress` (an object with `start(total)` and `advance(count)`, such as the CLI's progress bar)
    counts the texts as each batch finishes. Each batch also gets a log line with its seconds.
    """
    from kg_service.extraction.pipeline import extract_texts

    mapping = SCHEMES[gold.scheme]
    texts = [example.text for example in gold.examples]
    extractions: list[Any] = []
    logger.info("extracting %d gold texts of %s with backend %s (model %s) in batches of %d", len(texts),
                gold.path.name, backend.name, backend.model_id, batch_size)
    if progress is not None:
        progress.start(len(texts))
    started = time.perf_counter()
    for start in range(0, len(texts), batch_size):
        batch_started = time.perf_counter()
        batch = texts[start:start + batch_size]
        extractions.extend(extract_texts(batch, backend, scope, lang=gold.lang, max_new_tokens=max_new_tokens))
        logger.info("extracted gold texts %d to %d of %d in %.1f s", start + 1, start + len(batch), len(texts),
                    time.perf_counter() - batch_started)
        if progress is not None:
            progress.advance(len(batch))
    seconds = time.perf_counter() - started

    predictions = [predicted_keys(example, extraction, mapping)
                   for example, extraction in zip(gold.examples, extractions)]
    evaluation = ExtractionEvaluation(
        gold_file=str(gold.path), scheme=gold.scheme, lang=gold.lang, examples=len(texts),
        backend=backend.name, model=backend.model_id, scores=score(gold, predictions, depth), seconds=seconds,
        texts_per_second=len(texts) / seconds if seconds else 0.0,
        quarantined=sum(1 for extraction in extractions if extraction.quarantined),
        dropped_items=sum(len(extraction.dropped) for extraction in extractions))
    return evaluation, extractions


def _is_cjk(char: str) -> bool:
    return "\u3400" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff"
