"""Write GNN output back to Neo4j: node embeddings with a vector index, and predicted links.

Embeddings go to the `embedding` property (a list of floats) with `embeddingModel` set to the
checkpoint version, and the vector index `entity_embedding` (cosine) over `Entity.embedding`
serves `similar`. The embedding writes MATCH existing nodes and never create one, so they do
not go through `BatchedWriter`, which merges.

A predicted link of asserted type T is written as `PREDICTED_T`, which must be an object
property of the ontology, with `score` (0..1), `modelVersion` and `predicted = true`. Pairs
that already have an asserted T relationship in the graph are never predicted. Writing a new
version deletes the previous predictions of that type between the same two classes and writes
the new ones in one transaction, so readers see either the old set or the new set.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from kg_service.errors import GraphStoreError, QueryError
from kg_service.graph.identifiers import quote
from kg_service.graph.store import GraphStore
from kg_service.ontology.schema import ENTITY_LABEL, GraphSchema
from kg_service.reasoning.lookup import resolve_entity

if TYPE_CHECKING:
    from torch import Tensor

    from kg_service.gnn.train import LinkPredictor

logger = logging.getLogger(__name__)

EMBEDDING_INDEX = "entity_embedding"
EMBEDDING_PROPERTY = "embedding"
EMBEDDING_MODEL_PROPERTY = "embeddingModel"
PREDICTED_PREFIX = "PREDICTED_"
PREDICTION_PROPERTIES = ("score", "modelVersion", "predicted")
MAX_SIMILAR = 100
# The vector index returns the nearest nodes of any model version. Asking it for more than k
# leaves k after the nodes embedded by another version are dropped.
SIMILAR_OVERFETCH = 3
# One transaction contains a whole prediction set (see the module docstring), so larger sets are rejected.
MAX_PREDICTIONS = 200_000

EdgeType = tuple[str, str, str]


class EmbeddingReport(NamedTuple):
    """Counts of one embedding write-back."""

    nodes: int
    dimension: int
    version: str
    index: str


@dataclass
class SimilarNode:
    """A node near the query node in embedding space, with its cosine similarity mapped to 0..1."""

    id: str
    labels: list[str]
    properties: dict[str, Any]
    score: float


class Prediction(NamedTuple):
    """One predicted link between two node keys."""

    start: str
    end: str
    score: float


class PredictionReport(NamedTuple):
    """Counts of one prediction write: links written, the previous ones removed, asserted pairs skipped."""

    relationship_type: str
    version: str
    written: int
    removed: int
    asserted_skipped: int


def ensure_vector_index(store: GraphStore, dimension: int) -> None:
    """Create the cosine vector index on `Entity.embedding`, recreating it when its dimension differs."""
    rows = store.read("SHOW VECTOR INDEXES YIELD name, options WHERE name = $name RETURN options",
                      {"name": EMBEDDING_INDEX})
    if rows:
        config = (rows[0]["options"] or {}).get("indexConfig", {})
        current = config.get("vector.dimensions")
        if current == dimension and config.get("vector.quantization.enabled") is False:
            return
        logger.info("dropping vector index %s: it has %s dimensions, the model has %d", EMBEDDING_INDEX, current,
                    dimension)
        store.run_schema([f"DROP INDEX {quote(EMBEDDING_INDEX)} IF EXISTS"])
    # Cypher takes no parameters in index options; `dimension` is an int from the model, not request text.
    # Quantization (on by default since Neo4j 5.23) shifts cosine scores by about 0.01, enough to
    # reorder close neighbours, so it is turned off.
    store.run_schema([
        f"CREATE VECTOR INDEX {quote(EMBEDDING_INDEX)} IF NOT EXISTS FOR (n:{quote(ENTITY_LABEL)}) "
        f"ON (n.{quote(EMBEDDING_PROPERTY)}) OPTIONS {{indexConfig: {{`vector.dimensions`: {int(dimension)}, "
        "`vector.similarity_function`: 'cosine', `vector.quantization.enabled`: false}}",
        f"CALL db.awaitIndex('{EMBEDDING_INDEX}', 300)"])


def write_embeddings(store: GraphStore, schema: GraphSchema, embeddings: dict[str, "Tensor"],
                     node_keys: dict[str, list[str]], version: str, *, batch_size: int = 1000) -> EmbeddingReport:
    """Set `embedding` and `embeddingModel` on every node of `node_keys`, in batches, then index them."""
    schema.property(EMBEDDING_PROPERTY)
    schema.property(EMBEDDING_MODEL_PROPERTY)
    dimension = 0
    rows: list[dict[str, Any]] = []
    for kind, keys in node_keys.items():
        matrix = embeddings[kind]
        if matrix.size(0) != len(keys):
            raise QueryError(f"node type {kind} has {len(keys)} keys but {matrix.size(0)} embeddings; export and "
                             "embed the same graph")
        dimension = int(matrix.size(1))
        rows.extend({"id": key, "embedding": vector} for key, vector in zip(keys, matrix.tolist()))

    query = (f"UNWIND $rows AS row MATCH (n:{quote(ENTITY_LABEL)} {{id: row.id}}) "
             f"SET n.{quote(EMBEDDING_PROPERTY)} = row.embedding, n.{quote(EMBEDDING_MODEL_PROPERTY)} = $version "
             "RETURN count(n) AS matched")
    written = 0
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        written += store.write(query, {"rows": chunk, "version": version})[0]["matched"]
    if written < len(rows):
        logger.warning("%d of %d embedded nodes no longer exist in the graph; their embeddings were not written",
                       len(rows) - written, len(rows))
    if dimension:
        ensure_vector_index(store, dimension)
    logger.info("wrote %d embeddings of dimension %d (model %s)", written, dimension, version)
    return EmbeddingReport(written, dimension, version, EMBEDDING_INDEX)


def _no_embedding_message(store: GraphStore, entity: dict[str, Any]) -> str:
    """Explain why an entity has no embedding: 'kg-service embed' covers only the classes the GNN was trained on."""
    classes = [label for label in entity["labels"] if label != ENTITY_LABEL]
    rows = store.read(f"MATCH (n:{quote(ENTITY_LABEL)}) WHERE n.{quote(EMBEDDING_PROPERTY)} IS NOT NULL "
                      "UNWIND labels(n) AS label WITH DISTINCT label WHERE label <> $entity "
                      "RETURN label ORDER BY label", {"entity": ENTITY_LABEL})
    embedded = [row["label"] for row in rows]
    if embedded:
        where = f"the graph has embeddings for {', '.join(embedded)} only"
    else:
        where = "the graph has no embeddings yet"
    return (f"entity {entity['id']} ({', '.join(classes) or 'no class'}) has no embedding: 'kg-service embed' "
            f"embeds only the classes that the GNN was trained on (kg-service train --class), and {where}. "
            f"Documents and chunks are never embedded; to find entities near a document, query the entities "
            f"that its chunks mention")


def similar(store: GraphStore, reference: str, k: int = 10) -> tuple[dict[str, Any], list[SimilarNode]]:
    """Return the entity named by key or name `reference` and its `k` nearest entities by embedding.

    Only nodes embedded by the same model version count, because vectors of two versions are
    not comparable.
    """
    if not 1 <= k <= MAX_SIMILAR:
        raise QueryError(f"k must be between 1 and {MAX_SIMILAR}, got {k}")
    entity = resolve_entity(store, reference, [ENTITY_LABEL])
    if entity["props"].get(EMBEDDING_PROPERTY) is None:
        raise QueryError(_no_embedding_message(store, entity))
    rows = store.read(
        "MATCH (n:Entity {id: $key}) "
        "CALL db.index.vector.queryNodes($index, $candidates, n.embedding) YIELD node, score "
        "WHERE node <> n AND node.embeddingModel = n.embeddingModel "
        "RETURN node.id AS id, labels(node) AS labels, node {.*, embedding: null} AS props, score "
        "ORDER BY score DESC, id LIMIT $k",
        {"key": entity["id"], "index": EMBEDDING_INDEX, "candidates": min(k * SIMILAR_OVERFETCH + 1, 1000), "k": k})
    entity["props"] = {name: value for name, value in entity["props"].items() if name != EMBEDDING_PROPERTY}
    return entity, [SimilarNode(row["id"], row["labels"],
                                {name: value for name, value in row["props"].items() if value is not None},
                                float(row["score"])) for row in rows]


def predicted_type(schema: GraphSchema, edge_type: EdgeType) -> str:
    """Return `PREDICTED_<TYPE>` for a target edge type, or raise UnknownTermError if the ontology lacks it."""
    name = PREDICTED_PREFIX + edge_type[1]
    schema.check_relationship(name, edge_type[0], edge_type[2])
    for property_name in PREDICTION_PROPERTIES:
        schema.property(property_name)
    return name


def predict_links(predictor: "LinkPredictor", node_keys: dict[str, list[str]], edge_type: EdgeType, *,
                  top_k: int = 5, min_score: float = 0.5, batch_size: int = 256) -> tuple[list[Prediction], int]:
    """Score every (source, target) pair of `edge_type` and keep each source's best `top_k` above `min_score`.

    Pairs with an asserted edge in the predictor's graph are skipped. Returns the predictions and
    the number of asserted pairs that were skipped among each source's top candidates.
    """
    import torch

    if top_k < 1:
        raise QueryError(f"top_k must be at least 1, got {top_k}")
    if not 0.0 <= min_score <= 1.0:
        raise QueryError(f"min_score must be between 0 and 1, got {min_score}")
    source_type, _, target_type = edge_type
    data = predictor.data
    sources, targets = len(node_keys[source_type]), len(node_keys[target_type])
    asserted = data[edge_type].edge_index
    asserted_codes = asserted[0] * targets + asserted[1]

    predictions: list[Prediction] = []
    skipped = 0
    for start in range(0, sources, batch_size):
        batch = torch.arange(start, min(start + batch_size, sources))
        src = batch.repeat_interleave(targets)
        dst = torch.arange(targets).repeat(len(batch))
        scores = predictor.score(edge_type, src, dst).view(len(batch), targets)
        codes = src.view(len(batch), targets) * targets + dst.view(len(batch), targets)
        is_asserted = torch.isin(codes, asserted_codes)
        skipped += int((is_asserted & (scores >= min_score)).sum())
        scores = scores.masked_fill(is_asserted, -1.0)
        best = torch.topk(scores, k=min(top_k, targets), dim=1)
        for row, source in enumerate(batch.tolist()):
            for score, target in zip(best.values[row].tolist(), best.indices[row].tolist()):
                if score >= min_score:
                    predictions.append(Prediction(node_keys[source_type][source], node_keys[target_type][target],
                                                  float(score)))
    return predictions, skipped


def write_predictions(store: GraphStore, schema: GraphSchema, edge_type: EdgeType, predictions: list[Prediction],
                      version: str, *, batch_size: int = 1000, asserted_skipped: int = 0) -> PredictionReport:
    """Replace the `PREDICTED_<TYPE>` links between the edge type's two classes with `predictions`.

    Deletion and writes run in one transaction. A pair that has gained an asserted edge since
    the export is skipped at write time too.
    """
    rel_type = predicted_type(schema, edge_type)
    if len(predictions) > MAX_PREDICTIONS:
        raise QueryError(f"{len(predictions)} predictions exceed the limit of {MAX_PREDICTIONS} per write; "
                         "lower top_k or raise min_score")
    asserted_type = schema.relationship(edge_type[1]).type
    source_label, target_label = quote(edge_type[0], "label"), quote(edge_type[2], "label")
    predicted, asserted = quote(rel_type, "relationship type"), quote(asserted_type, "relationship type")
    delete = (f"MATCH (:{source_label})-[r:{predicted}]->(:{target_label}) WHERE r.predicted = true "
              "WITH r LIMIT $limit DELETE r RETURN count(*) AS removed")
    create = (f"UNWIND $rows AS row MATCH (a:{quote(ENTITY_LABEL)} {{id: row.start}}) "
              f"MATCH (b:{quote(ENTITY_LABEL)} {{id: row.end}}) WHERE NOT (a)-[:{asserted}]->(b) "
              f"CREATE (a)-[r:{predicted}]->(b) SET r.score = row.score, r.modelVersion = $version, r.predicted = true "
              "RETURN count(r) AS written")
    rows = [{"start": p.start, "end": p.end, "score": max(0.0, min(1.0, p.score))} for p in predictions]

    def work(tx) -> tuple[int, int]:
        removed = 0
        while True:
            count = tx.run(delete, limit=batch_size).single()["removed"]
            removed += count
            if count < batch_size:
                break
        written = 0
        for start in range(0, len(rows), batch_size):
            written += tx.run(create, rows=rows[start:start + batch_size], version=version).single()["written"]
        return removed, written

    try:
        removed, written = store.execute_write(work)
    except GraphStoreError:
        logger.error("writing %d %s predictions of model %s failed; the previous predictions are unchanged",
                     len(rows), rel_type, version)
        raise
    logger.info("wrote %d %s predictions (model %s), removed %d earlier ones", written, rel_type, version, removed)
    return PredictionReport(rel_type, version, written, removed, asserted_skipped)
