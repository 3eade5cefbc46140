"""Side-by-side run of our extraction and neo4j-graphrag's `SimpleKGPipeline` on the same gold texts.

Both systems get the same model object, the same classes and relationship types (our
`ExtractionScope`, with the definitions in the gold file's language) and the same texts. The
texts go in blocks of `batch_size`: our extraction takes a block as one batch, as `ingest
documents` and `evaluate extraction` do, and SimpleKGPipeline runs once per text, because its LLM
interface takes one prompt per call. The runner alternates which system goes first on each
block, so that machine load hits both alike, and times every call. SimpleKGPipeline writes into Neo4j: before each text the runner deletes the
nodes that graphrag wrote (label `__KGBuilder__`), runs the pipeline, and reads back the entity
nodes (label and `name`) and the relationships between them. Because it deletes every
`__KGBuilder__` node, the comparison refuses to start on a graph that already has some, and it
drops graphrag's index `__entity__tmp_internal_id` at the end unless that index existed before.

A graphrag node has a name but no offsets, so its span is the first case-insensitive occurrence
of the name in the text. A name that does not occur counts as a wrong prediction.
`comparable_keys` scores both systems with the same rule: every predicted entity without a token
span, and every relation with such an end, counts as a false positive.
"""

from __future__ import annotations

import asyncio
import logging
import re
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from kg_service.errors import GraphStoreError
from kg_service.evaluation.extraction import (UNMAPPED_PREFIX, EntityKey, GoldExample, GoldRun, GoldSet,
                                              PrecisionRecallF1, RelationKey, char_span_to_tokens, predicted_keys,
                                              score)
from kg_service.evaluation.type_mappings import SCHEMES, SchemeMapping
from kg_service.extraction.backend import Generation, GenerationRequest, LLMBackend
from kg_service.extraction.scope import ExtractionScope
from kg_service.graph.identifiers import quote
from kg_service.graph.store import GraphStore

logger = logging.getLogger(__name__)

PREFIX_SLOTS = 2
"""Prompt prefixes that a llama-cpp backend keeps cached during the comparison: one per system."""

OURS = "kg-service"
GRAPHRAG = "neo4j-graphrag"

_DELETE_GRAPHRAG_NODES = "MATCH (n:__KGBuilder__) DETACH DELETE n RETURN count(*) AS deleted"
_COUNT_GRAPHRAG_NODES = "MATCH (n:__KGBuilder__) RETURN count(n) AS nodes"
# The index that neo4j-graphrag's Neo4jWriter creates on its first write (neo4j-graphrag 1.22).
GRAPHRAG_INDEX = "__entity__tmp_internal_id"
_READ_ENTITIES = ("MATCH (n:__KGBuilder__:__Entity__) "
                  "RETURN elementId(n) AS id, labels(n) AS labels, n.name AS name ORDER BY id")
_READ_RELATIONSHIPS = ("MATCH (a:__KGBuilder__:__Entity__)-[r]->(b:__KGBuilder__:__Entity__) "
                       "RETURN elementId(a) AS source, type(r) AS type, elementId(b) AS target ORDER BY source, target")


@dataclass(frozen=True)
class NamedEntity:
    """An entity that graphrag wrote, with the span of its name in the text; start == end == 0 when not found."""

    text: str
    type: str
    start: int
    end: int


@dataclass(frozen=True)
class NamedRelation:
    """A relationship that graphrag wrote, between two positions in the entity list."""

    source: int
    type: str
    target: int


@dataclass
class GraphragExtraction:
    """The entities and relationships that SimpleKGPipeline wrote for one text."""

    text: str
    entities: list[NamedEntity] = field(default_factory=list)
    relations: list[NamedRelation] = field(default_factory=list)
    writer_status: str = ""


class SystemScores(BaseModel):
    """Scores, speed and memory of one system over the gold texts."""

    system: str
    entity_at_depth: PrecisionRecallF1
    entity_span: PrecisionRecallF1
    relation_at_depth: PrecisionRecallF1
    seconds: float
    """Wall time of the system's calls only, without clearing and reading back Neo4j."""
    seconds_per_text: float
    texts_per_second: float
    model_seconds: float
    """Time spent inside the backend's `generate`."""
    model_requests: int
    completion_tokens: int
    """Number of tokens the backend generated for this system (0 where the backend does not count them)."""
    max_rss_bytes: int
    """Largest resident set size sampled right after one of this system's calls."""
    entities_without_span: int
    failed_texts: int
    """Texts quarantined (ours) or whose graph write failed (graphrag)."""


class TextTiming(BaseModel):
    """Seconds and entity counts of both systems on one text, and which went first."""

    index: int
    first: str
    ours_seconds: float
    graphrag_seconds: float
    ours_entities: int
    graphrag_entities: int


class GraphragComparison(GoldRun):
    """Our extraction against SimpleKGPipeline on one gold file, with the goal check."""

    depth: int
    max_new_tokens: int
    batch_size: int
    """Texts that our extraction decodes together (SimpleKGPipeline takes one text per run)."""
    prefix_slots: int
    """Prompt prefixes the llama.cpp backend kept cached (0: another backend; see `keep_prompt_prefixes`)."""
    ours: SystemScores
    graphrag: SystemScores
    peak_rss_bytes: int
    """Peak resident set size of the whole process (both systems share the model)."""
    graph: str = ""
    """The Neo4j server and database that SimpleKGPipeline wrote into."""
    graphrag_nodes_deleted: int = 0
    """Nodes that SimpleKGPipeline wrote and the comparison deleted again, over all texts."""
    f1_goal_met: bool
    """Our entity F1 at depth 1 is at least graphrag's."""
    throughput_goal_met: bool
    """Our texts per second are at least twice graphrag's."""
    texts: list[TextTiming]


def keep_prompt_prefixes(backend: LLMBackend, count: int) -> int:
    """Make a llama-cpp backend keep `count` prompt prefixes cached; return the count, or 0 for other backends.

    The two systems have different prompts. With one cached prefix, alternating them would make
    every call evaluate its whole prompt again, which neither system does when it runs alone.
    """
    keep = getattr(backend, "keep_prefixes", None)
    if keep is None:
        return 0
    keep(count)
    logger.info("llama.cpp keeps %d prompt prefixes for %s", count, backend.model_id)
    return count


class TimedBackend:
    """An `LLMBackend` proxy that adds up the time and the number of requests sent to `generate`."""

    def __init__(self, backend: LLMBackend) -> None:
        self.backend = backend
        self.name = backend.name
        self.model_id = backend.model_id
        self.seconds = 0.0
        self.requests = 0
        self.completion_tokens = 0

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """Forward the requests to the wrapped backend and record the time taken and the answer tokens."""
        started = time.perf_counter()
        try:
            generations = self.backend.generate(requests)
        finally:
            self.seconds += time.perf_counter() - started
            self.requests += len(requests)
        self.completion_tokens += sum(generation.completion_tokens or 0 for generation in generations)
        return generations


def graphrag_schema(scope: ExtractionScope, lang: str) -> Any:
    """Build graphrag's `GraphSchema` from our scope: the same classes, types, definitions and domain/range pairs.

    Every relationship type gets one pattern per pair of classes in scope that its domain and
    range allow, and nothing outside the scope is allowed, so graphrag's pruner applies the same
    checks as our validation.
    """
    from neo4j_graphrag.components.schema import GraphSchema, NodeType, PropertyType, RelationshipType

    def definition(definitions: dict[str, str]) -> str:
        return definitions.get(lang) or definitions.get("en", "")

    name_description = "the entity's text, copied from the input text" if lang == "en" else "实体在原文中的文字"
    node_types = [NodeType(label=scope_class.name, description=definition(scope_class.definitions),
                           properties=[PropertyType(name="name", type="STRING", description=name_description)],
                           additional_properties=False)
                  for scope_class in scope.classes.values()]
    relationship_types = [RelationshipType(label=rel.type, description=definition(rel.definitions))
                          for rel in scope.relationships.values()]
    patterns = [(source, rel.type, target) for rel in scope.relationships.values()
                for source in scope.classes for target in scope.classes if scope.fits(rel.type, source, target)]
    return GraphSchema(node_types=node_types, relationship_types=relationship_types, patterns=patterns,
                       additional_node_types=False, additional_relationship_types=False, additional_patterns=False)


def build_pipeline(llm: Any, store: GraphStore, scope: ExtractionScope, lang: str, embedder: Any) -> Any:
    """Create a SimpleKGPipeline on `store` with our scope's schema, without APOC and without entity resolution.

    Entity resolution (`apoc.refactor.mergeNodes`) needs APOC, and it would only merge nodes of
    one text with the same label and name, which the set-based scoring counts once anyway.
    """
    from neo4j_graphrag.experimental.pipeline.kg_builder import SimpleKGPipeline

    from kg_service.extraction.graphrag_adapter import AllowlistNeo4jWriter

    writer = AllowlistNeo4jWriter(store.driver, labels=scope.classes, relationship_types=scope.relationships,
                                  neo4j_database=store.database)
    return SimpleKGPipeline(llm=llm, driver=store.driver, embedder=embedder, schema=graphrag_schema(scope, lang),
                            from_file=False, kg_writer=writer, on_error="IGNORE", perform_entity_resolution=False,
                            neo4j_database=store.database)


def locate_name(text: str, name: str) -> tuple[int, int] | None:
    """Return the character span of the first case-insensitive occurrence of `name` in `text`, or None."""
    name = name.strip()
    if not name:
        return None
    match = re.search(re.escape(name), text, flags=re.IGNORECASE)
    return (match.start(), match.end()) if match else None


def clear_graphrag_nodes(store: GraphStore) -> int:
    """Delete every node that graphrag's writer created (label `__KGBuilder__`); return how many."""
    [row] = store.write(_DELETE_GRAPHRAG_NODES)
    return int(row["deleted"])


def check_graph_for_graphrag(store: GraphStore, graph: str) -> bool:
    """Raise GraphStoreError when the graph already has `__KGBuilder__` nodes; return whether graphrag's index exists.

    The comparison deletes every `__KGBuilder__` node, so nodes that neo4j-graphrag wrote for
    another purpose would be lost, and they would count as predictions of the first text.
    """
    [row] = store.read(_COUNT_GRAPHRAG_NODES)
    if row["nodes"]:
        raise GraphStoreError(f"the graph {graph} already has {row['nodes']} nodes with the label __KGBuilder__ "
                              "(written by neo4j-graphrag), which the comparison would delete; run it against "
                              "a separate Neo4j, for example with KG_STATE_DIR and KG_BOLT_PORT set to another "
                              "folder and port")
    rows = store.read("SHOW INDEXES YIELD name WHERE name = $name RETURN count(*) AS found", {"name": GRAPHRAG_INDEX})
    return bool(rows[0]["found"])


def read_graphrag_extraction(store: GraphStore, text: str, scope: ExtractionScope) -> GraphragExtraction:
    """Read the entity nodes and their relationships back from Neo4j and locate each name in `text`."""
    extraction = GraphragExtraction(text=text)
    positions: dict[str, int] = {}
    for row in store.read(_READ_ENTITIES):
        classes = [label for label in row["labels"] if label in scope.classes]
        type_ = classes[0] if len(classes) == 1 else UNMAPPED_PREFIX + "+".join(sorted(row["labels"]))
        name = str(row["name"] or "")
        span = locate_name(text, name) or (0, 0)
        positions[row["id"]] = len(extraction.entities)
        extraction.entities.append(NamedEntity(text=name, type=type_, start=span[0], end=span[1]))
    for row in store.read(_READ_RELATIONSHIPS):
        extraction.relations.append(NamedRelation(source=positions[row["source"]], type=row["type"],
                                                  target=positions[row["target"]]))
    return extraction


def comparable_keys(example: GoldExample, extraction: Any,
                    mapping: SchemeMapping) -> tuple[list[EntityKey], list[RelationKey]]:
    """Score keys of one extraction, with an unmatched key for each entity or relation end without a token span.

    `predicted_keys` skips entities whose span covers no token. Here each of them, and each
    relation with such an end, becomes a key that no gold item can match. It then counts as a
    false positive, for both systems alike.
    """
    entities, relations = predicted_keys(example, extraction, mapping)
    spans = [char_span_to_tokens(example.offsets, entity.start, entity.end) for entity in extraction.entities]
    for position, (entity, span) in enumerate(zip(extraction.entities, spans)):
        if span is None:
            marker = -1 - position
            entities.append(EntityKey(marker, marker, mapping.entities.get(entity.type, UNMAPPED_PREFIX + entity.type)))
    for position, relation in enumerate(extraction.relations):
        if spans[relation.source] is None or spans[relation.target] is None:
            marker = (-1 - position, -1 - position)
            relations.append(RelationKey(marker, marker, UNMAPPED_PREFIX + relation.type))
    return entities, relations


def compare_with_graphrag(gold: GoldSet, backend: LLMBackend, scope: ExtractionScope, store: GraphStore, *,
                          depth: int = 1, max_new_tokens: int = 384, embedder: Any | None = None,
                          batch_size: int = 4, prefix_slots: int = PREFIX_SLOTS) -> GraphragComparison:
    """Run both systems on every gold text, alternating which goes first, and score them the same way.

    `embedder` is any object with `embed(texts)` for graphrag's chunk embeddings (default: the e5
    model). Graphrag's nodes are deleted before each text and after the last one. Our extraction
    takes `batch_size` texts per batch; each of its texts is timed as an equal share of its batch.
    `prefix_slots` is passed to `keep_prompt_prefixes`.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if prefix_slots < 1:
        raise ValueError(f"prefix_slots must be at least 1, got {prefix_slots}")
    from kg_service.extraction.graphrag_adapter import BackendLLM, E5Embedder

    graph = f"{store.uri} (database {store.database})"
    index_existed = check_graph_for_graphrag(store, graph)
    mapping = SCHEMES[gold.scheme]
    kept_prefixes = keep_prompt_prefixes(backend, prefix_slots)
    timed = TimedBackend(backend)
    llm = BackendLLM(timed, max_new_tokens=max_new_tokens)
    pipeline = build_pipeline(llm, store, scope, gold.lang, E5Embedder(embedder))
    runs = {OURS: _SystemRun(), GRAPHRAG: _SystemRun()}
    timings: list[TextTiming] = []

    loop = asyncio.new_event_loop()
    logger.info("comparison with neo4j-graphrag: SimpleKGPipeline writes into %s; its nodes are deleted after "
                "each text", graph)
    try:
        for block, start in enumerate(range(0, len(gold.examples), batch_size)):
            examples = gold.examples[start:start + batch_size]
            order = (OURS, GRAPHRAG) if block % 2 == 0 else (GRAPHRAG, OURS)
            for system in order:
                if system == OURS:
                    _run_ours(runs[OURS], examples, timed, scope, gold.lang, mapping, max_new_tokens)
                else:
                    for example in examples:
                        _run_graphrag(runs[GRAPHRAG], example, pipeline, loop, timed, store, scope, mapping)
            for offset, example in enumerate(examples):
                index = start + offset
                timings.append(TextTiming(index=index, first=order[0], ours_seconds=runs[OURS].seconds[index],
                                          graphrag_seconds=runs[GRAPHRAG].seconds[index],
                                          ours_entities=len(runs[OURS].extractions[index].entities),
                                          graphrag_entities=len(runs[GRAPHRAG].extractions[index].entities)))
            logger.info("texts %d to %d of %d: %s %.1f s, %s %.1f s", start + 1, start + len(examples),
                        len(gold.examples), OURS, sum(runs[OURS].seconds[start:]), GRAPHRAG,
                        sum(runs[GRAPHRAG].seconds[start:]))
    finally:
        loop.close()
        runs[GRAPHRAG].nodes_deleted += clear_graphrag_nodes(store)
        if not index_existed:
            store.run_schema([f"DROP INDEX {quote(GRAPHRAG_INDEX, 'index name')} IF EXISTS"])
        logger.info("comparison with neo4j-graphrag: deleted %d graphrag nodes from %s%s",
                    runs[GRAPHRAG].nodes_deleted, graph,
                    "" if index_existed else f" and dropped the index {GRAPHRAG_INDEX}")

    ours = runs[OURS].scores(OURS, gold, depth)
    graphrag = runs[GRAPHRAG].scores(GRAPHRAG, gold, depth)
    return GraphragComparison(
        gold_file=str(gold.path), scheme=gold.scheme, lang=gold.lang, examples=len(gold.examples),
        backend=backend.name, model=backend.model_id, depth=depth, max_new_tokens=max_new_tokens,
        batch_size=batch_size, prefix_slots=kept_prefixes,
        ours=ours, graphrag=graphrag, peak_rss_bytes=_peak_rss_bytes(), graph=graph,
        graphrag_nodes_deleted=runs[GRAPHRAG].nodes_deleted,
        f1_goal_met=ours.entity_at_depth.f1 >= graphrag.entity_at_depth.f1,
        throughput_goal_met=ours.texts_per_second >= 2 * graphrag.texts_per_second,
        texts=timings)


def _run_ours(run: _SystemRun, examples: Sequence[GoldExample], timed: TimedBackend, scope: ExtractionScope,
              lang: str, mapping: SchemeMapping, max_new_tokens: int) -> None:
    """Extract a block of texts as one batch and record each text with an equal share of the time."""
    from kg_service.extraction.pipeline import extract_texts

    model_before, requests_before, tokens_before = timed.seconds, timed.requests, timed.completion_tokens
    started = time.perf_counter()
    extractions = extract_texts([example.text for example in examples], timed, scope, lang=lang,
                                max_new_tokens=max_new_tokens)
    share = (time.perf_counter() - started) / len(examples)
    model_share = (timed.seconds - model_before) / len(examples)
    requests, tokens = timed.requests - requests_before, timed.completion_tokens - tokens_before
    for offset, (example, extraction) in enumerate(zip(examples, extractions)):
        first = offset == 0
        run.record(example, extraction, mapping, share, model_share, requests if first else 0,
                   extraction.quarantined, tokens if first else 0)


def _run_graphrag(run: _SystemRun, example: GoldExample, pipeline: Any, loop: asyncio.AbstractEventLoop,
                  timed: TimedBackend, store: GraphStore, scope: ExtractionScope, mapping: SchemeMapping) -> None:
    """Run SimpleKGPipeline on one text and record what it wrote."""
    model_before, requests_before, tokens_before = timed.seconds, timed.requests, timed.completion_tokens
    run.nodes_deleted += clear_graphrag_nodes(store)
    started = time.perf_counter()
    result = loop.run_until_complete(pipeline.run_async(text=example.text))
    seconds = time.perf_counter() - started
    extraction = read_graphrag_extraction(store, example.text, scope)
    extraction.writer_status = _writer_status(result)
    run.record(example, extraction, mapping, seconds, timed.seconds - model_before, timed.requests - requests_before,
               extraction.writer_status != "SUCCESS", timed.completion_tokens - tokens_before)


@dataclass
class _SystemRun:
    """Extractions, score keys, times and memory samples that one system has produced so far."""

    extractions: list[Any] = field(default_factory=list)
    predictions: list[tuple[list[EntityKey], list[RelationKey]]] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    model_seconds: float = 0.0
    model_requests: int = 0
    completion_tokens: int = 0
    max_rss_bytes: int = 0
    entities_without_span: int = 0
    failed_texts: int = 0
    nodes_deleted: int = 0

    def record(self, example: GoldExample, extraction: Any, mapping: SchemeMapping, seconds: float,
               model_seconds: float, model_requests: int, failed: bool, completion_tokens: int = 0) -> None:
        self.extractions.append(extraction)
        self.completion_tokens += completion_tokens
        self.predictions.append(comparable_keys(example, extraction, mapping))
        self.seconds.append(seconds)
        self.model_seconds += model_seconds
        self.model_requests += model_requests
        self.max_rss_bytes = max(self.max_rss_bytes, _current_rss_bytes())
        self.entities_without_span += sum(
            1 for entity in extraction.entities if char_span_to_tokens(example.offsets, entity.start, entity.end) is None)
        self.failed_texts += int(failed)

    def scores(self, system: str, gold: GoldSet, depth: int) -> SystemScores:
        scores = score(gold, self.predictions, depth)
        total = sum(self.seconds)
        return SystemScores(system=system, entity_at_depth=scores.entity_at_depth, entity_span=scores.entity_span,
                            relation_at_depth=scores.relation_at_depth, seconds=total,
                            seconds_per_text=total / len(self.seconds) if self.seconds else 0.0,
                            texts_per_second=len(self.seconds) / total if total else 0.0,
                            model_seconds=self.model_seconds, model_requests=self.model_requests,
                            completion_tokens=self.completion_tokens,
                            max_rss_bytes=self.max_rss_bytes, entities_without_span=self.entities_without_span,
                            failed_texts=self.failed_texts)


def _writer_status(result: Any) -> str:
    """Return the writer's status from a PipelineResult ("SUCCESS" or "FAILURE")."""
    output = (result.result or {}).get("writer") or {}
    status = output.get("status") if isinstance(output, dict) else getattr(output, "status", None)
    if status is None:
        raise GraphStoreError(f"SimpleKGPipeline returned no writer status (result {result.result!r}); "
                              "check that the pipeline ends with its writer")
    if status != "SUCCESS":
        logger.warning("graphrag's writer failed: %s", output)
    return str(status)


def _current_rss_bytes() -> int:
    """Return the resident set size of this process from /proc, or 0 where /proc is missing."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            pages = int(handle.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * resource.getpagesize()


def _peak_rss_bytes() -> int:
    """Return the peak resident set size of this process (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
