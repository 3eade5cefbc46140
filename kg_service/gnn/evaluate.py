"""Held-out edge split and filtered ranking of link predictors (GNN and baselines alike).

The procedure follows the transductive link-prediction protocol that PyKEEN implements:

1. the unique (head, tail) pairs of each target relationship type are shuffled with a seed and
   split into train, valid and test;
2. every model trains on `EdgeSplit.train_graph()`: all other relationship types plus the train
   pairs of the target types. Valid and test pairs are removed from message passing, and so are
   their mirrored pairs in reverse edge types (such as `rev_HAS_FAILURE_MODE`), so no model sees
   a held-out edge from either direction;
3. each test pair (h, t) is ranked against every node of the tail's type as (h, ?) and of the
   head's type as (?, t). Candidates that form another known pair of that type in train, valid
   or test are filtered out, and the realistic rank of kg_service.evaluation.linkprediction is used.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import numpy as np

from kg_service.errors import QueryError
from kg_service.evaluation.linkprediction import RankingMetrics, ranking_metrics, rank_true_scores

logger = logging.getLogger(__name__)

EdgeType = tuple[str, str, str]
REVERSE_PREFIX = "rev_"
# Candidate scores computed per chunk of test pairs: about 16 MB of float64.
MAX_PAIRS_PER_CHUNK = 2_000_000


@dataclass
class LinkGraph:
    """A typed graph: node count per type and a (2, E) int64 array of edges per edge type.

    Edge types are (source type, relationship type, target type). Reverse edge types added for
    message passing are not stored here, because every model adds its own.
    """

    num_nodes: dict[str, int]
    edges: dict[EdgeType, np.ndarray]
    node_keys: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for edge_type, pairs in self.edges.items():
            source, _, target = edge_type
            if pairs.ndim != 2 or pairs.shape[0] != 2:
                raise ValueError(f"edges of {edge_type} must have shape (2, E), got {pairs.shape}")
            for node_type, row in ((source, pairs[0]), (target, pairs[1])):
                if node_type not in self.num_nodes:
                    raise ValueError(f"edge type {edge_type} uses node type {node_type!r}, which has no node count")
                if row.size and (row.min() < 0 or row.max() >= self.num_nodes[node_type]):
                    last = self.num_nodes[node_type] - 1
                    raise ValueError(f"edge type {edge_type} has node indices outside 0..{last}")

    @property
    def num_edges(self) -> int:
        return int(sum(pairs.shape[1] for pairs in self.edges.values()))

    @classmethod
    def from_hetero(cls, data, node_keys: dict[str, list[str]] | None = None) -> "LinkGraph":
        """Build from a torch_geometric HeteroData, skipping the reverse edge types (relationship names with `rev_`)."""
        num_nodes = {node_type: int(data[node_type].num_nodes) for node_type in data.node_types}
        edges = {tuple(edge_type): data[edge_type].edge_index.cpu().numpy().astype(np.int64)
                 for edge_type in data.edge_types}
        forward = {edge_type: pairs for edge_type, pairs in edges.items()
                   if not edge_type[1].startswith(REVERSE_PREFIX)}
        return cls(num_nodes, forward, dict(node_keys or {}))

    def describe(self) -> dict[str, object]:
        """Return node counts per type and edge counts per edge type, for reports."""
        return {"nodes": dict(self.num_nodes),
                "edges": {"|".join(edge_type): int(pairs.shape[1]) for edge_type, pairs in self.edges.items()}}


def unique_pairs(pairs: np.ndarray) -> np.ndarray:
    """Return the distinct columns of a (2, E) array in first-seen order."""
    if pairs.shape[1] == 0:
        return pairs
    _, first = np.unique(pairs.T, axis=0, return_index=True)
    return pairs[:, np.sort(first)]


def reverse_edge_types(edge_types: Iterable[EdgeType], target: EdgeType) -> list[EdgeType]:
    """Return the edge types that mirror `target`: (d, 'rev_' + r, s), the name torch_geometric's ToUndirected gives."""
    source, relation, destination = target
    return [tuple(edge_type) for edge_type in edge_types
            if tuple(edge_type) == (destination, REVERSE_PREFIX + relation, source)]


class EdgeSplit(NamedTuple):
    """Train, valid and test pairs of each target edge type, drawn from `graph` with `seed`."""

    graph: LinkGraph
    target_types: tuple[EdgeType, ...]
    train: dict[EdgeType, np.ndarray]
    valid: dict[EdgeType, np.ndarray]
    test: dict[EdgeType, np.ndarray]
    seed: int

    def train_graph(self) -> LinkGraph:
        """Return the graph that models may train on: held-out pairs removed from the target types."""
        edges = dict(self.graph.edges)
        for edge_type in self.target_types:
            edges[edge_type] = self.train[edge_type]
        return LinkGraph(dict(self.graph.num_nodes), edges, self.graph.node_keys)

    def known_pairs(self, edge_type: EdgeType) -> np.ndarray:
        """Return every true pair of a target type (train, valid and test), the filter of the ranking."""
        return np.concatenate([self.train[edge_type], self.valid[edge_type], self.test[edge_type]], axis=1)

    def sizes(self) -> dict[str, dict[str, int]]:
        """Return the pair counts of each split per target type, for reports."""
        return {"|".join(edge_type): {"train": int(self.train[edge_type].shape[1]),
                                      "valid": int(self.valid[edge_type].shape[1]),
                                      "test": int(self.test[edge_type].shape[1])}
                for edge_type in self.target_types}


def split_edges(graph: LinkGraph, target_types: Iterable[EdgeType], *, valid_ratio: float = 0.1,
                test_ratio: float = 0.1, seed: int = 20261204) -> EdgeSplit:
    """Split the distinct pairs of each target edge type into train, valid and test with a seeded shuffle.

    Each of valid and test gets at least one pair, and train keeps at least one.
    """
    if not 0 < valid_ratio < 1 or not 0 < test_ratio < 1 or valid_ratio + test_ratio >= 1:
        raise QueryError(f"valid_ratio ({valid_ratio}) and test_ratio ({test_ratio}) must be in (0, 1) "
                         "and sum to less than 1")
    target_types = tuple(tuple(edge_type) for edge_type in target_types)
    if not target_types:
        raise QueryError("no target edge type given; name at least one relationship type to predict")
    rng = np.random.default_rng(seed)
    edges = dict(graph.edges)
    train, valid, test = {}, {}, {}
    for edge_type in target_types:
        if edge_type not in edges:
            raise QueryError(f"target edge type {'|'.join(edge_type)} is not in the graph; its edge types are "
                             f"{sorted('|'.join(known) for known in edges)}")
        pairs = unique_pairs(edges[edge_type])
        count = pairs.shape[1]
        if count < 3:
            raise QueryError(f"target edge type {'|'.join(edge_type)} has {count} distinct edges; "
                             "a train, valid and test split needs at least 3")
        order = rng.permutation(count)
        test_count = max(1, int(round(count * test_ratio)))
        valid_count = max(1, int(round(count * valid_ratio)))
        test[edge_type] = pairs[:, order[:test_count]]
        valid[edge_type] = pairs[:, order[test_count:test_count + valid_count]]
        train[edge_type] = pairs[:, order[test_count + valid_count:]]
        edges[edge_type] = pairs
    deduplicated = LinkGraph(dict(graph.num_nodes), edges, graph.node_keys)
    return EdgeSplit(deduplicated, target_types, train, valid, test, seed)


class LinkScorer(Protocol):
    """A trained model that scores candidate edges; a higher score means a more likely edge."""

    name: str

    def score(self, edge_type: EdgeType, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Return one score per pair (src[i], dst[i]) of node indices."""
        ...


class ConstantScorer:
    """Scores every pair the same, so each rank is the expected rank of a random guess."""

    name = "random"

    def score(self, edge_type: EdgeType, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        return np.zeros(len(src), dtype=np.float64)


class SideRanks(NamedTuple):
    """Realistic ranks of the test pairs for head and for tail prediction."""

    head: np.ndarray
    tail: np.ndarray


def _known_by_node(pairs: np.ndarray, key_row: int) -> dict[int, np.ndarray]:
    grouped: dict[int, list[int]] = defaultdict(list)
    for key, value in zip(pairs[key_row].tolist(), pairs[1 - key_row].tolist()):
        grouped[key].append(value)
    return {key: np.asarray(values, dtype=np.int64) for key, values in grouped.items()}


def _rank_side(scorer: LinkScorer, edge_type: EdgeType, queries: np.ndarray, expected: np.ndarray,
               num_candidates: int, known: dict[int, np.ndarray], predict_tail: bool) -> np.ndarray:
    """Rank each expected node among all candidates of its type for its query node (filtered, realistic)."""
    ranks = []
    chunk = max(1, MAX_PAIRS_PER_CHUNK // max(num_candidates, 1))
    candidates = np.arange(num_candidates, dtype=np.int64)
    for start in range(0, len(queries), chunk):
        query_chunk, expected_chunk = queries[start:start + chunk], expected[start:start + chunk]
        fixed = np.repeat(query_chunk, num_candidates)
        varying = np.tile(candidates, len(query_chunk))
        src, dst = (fixed, varying) if predict_tail else (varying, fixed)
        scores = np.asarray(scorer.score(edge_type, src, dst), dtype=np.float64).reshape(len(query_chunk), -1)

        rows = np.arange(len(query_chunk))
        true_scores = scores[rows, expected_chunk]
        keep = np.ones_like(scores, dtype=bool)
        for row, query in enumerate(query_chunk.tolist()):
            keep[row, known.get(query, np.empty(0, dtype=np.int64))] = False
        keep[rows, expected_chunk] = False
        ranks.append(rank_true_scores(true_scores, scores, keep).realistic)
    return np.concatenate(ranks) if ranks else np.empty(0)


def rank_pairs(split: EdgeSplit, scorer: LinkScorer, part: str = "test") -> dict[EdgeType, SideRanks]:
    """Rank the `part` ("test" or "valid") pairs of every target type for head and tail prediction."""
    if part not in ("test", "valid"):
        raise QueryError(f"part must be 'test' or 'valid', got {part!r}")
    held_out = split.test if part == "test" else split.valid
    ranks = {}
    for edge_type in split.target_types:
        source, _, destination = edge_type
        pairs, known = held_out[edge_type], split.known_pairs(edge_type)
        tail = _rank_side(scorer, edge_type, pairs[0], pairs[1], split.graph.num_nodes[destination],
                          _known_by_node(known, 0), predict_tail=True)
        head = _rank_side(scorer, edge_type, pairs[1], pairs[0], split.graph.num_nodes[source],
                          _known_by_node(known, 1), predict_tail=False)
        ranks[edge_type] = SideRanks(head, tail)
    return ranks


class ModelResult(NamedTuple):
    """Metrics of one model on one split: both sides together, head and tail separately."""

    model: str
    both: RankingMetrics
    head: RankingMetrics
    tail: RankingMetrics
    train_seconds: float
    config: dict


def measure(split: EdgeSplit, scorer: LinkScorer, *, train_seconds: float = 0.0, config: dict | None = None,
            part: str = "test") -> ModelResult:
    """Rank the held-out pairs with `scorer` and return its metrics."""
    ranks = rank_pairs(split, scorer, part)
    head = np.concatenate([side.head for side in ranks.values()])
    tail = np.concatenate([side.tail for side in ranks.values()])
    result = ModelResult(scorer.name, ranking_metrics(np.concatenate([head, tail])), ranking_metrics(head),
                         ranking_metrics(tail), round(train_seconds, 3), dict(config or {}))
    logger.info("%s on %s: MRR %.4f, Hits@1 %.4f, Hits@10 %.4f over %d ranks (trained in %.1f s)", scorer.name,
                part, result.both.mrr, result.both.hits_at_1, result.both.hits_at_10, result.both.count,
                train_seconds)
    return result


ScorerFactory = Callable[[EdgeSplit], LinkScorer]


class LinkPredictionReport(NamedTuple):
    """Everything one evaluation measured: the graph, the split and each model's metrics."""

    graph: str
    graph_summary: dict
    target_types: list[str]
    split_sizes: dict[str, dict[str, int]]
    seed: int
    part: str
    results: list[ModelResult]

    def as_dict(self) -> dict:
        """Return the report as plain JSON types."""
        return {"graph": self.graph, "graph_summary": self.graph_summary, "target_types": self.target_types,
                "split": self.split_sizes, "seed": self.seed, "measured_on": self.part,
                "results": [{"model": result.model, "train_seconds": result.train_seconds, "config": result.config,
                             "both": result.both._asdict(), "head": result.head._asdict(),
                             "tail": result.tail._asdict()} for result in self.results]}


def evaluate_models(graph_name: str, split: EdgeSplit, factories: dict[str, ScorerFactory],
                    part: str = "test") -> LinkPredictionReport:
    """Train each model on the split's train graph and measure it on the `part` pairs ("test" or "valid")."""
    results = []
    for factory in factories.values():
        started = time.perf_counter()
        scorer = factory(split)
        elapsed = time.perf_counter() - started
        results.append(measure(split, scorer, train_seconds=elapsed, config=getattr(scorer, "config", {}), part=part))
    target_names = ["|".join(edge_type) for edge_type in split.target_types]
    return LinkPredictionReport(graph_name, split.graph.describe(), target_names, split.sizes(), split.seed, part,
                                results)
