"""Baselines for link prediction, trained on the same split as the GNN.

- `AdamicAdarScorer`: the Adamic–Adar index on the train graph seen as one undirected graph,
  score(u, v) = sum over common neighbours w of 1 / ln(degree(w)). Pairs without a common
  neighbour score 0, so on bipartite relationships (work order to failure mode) most candidates tie.
- `KGEScorer`: PyKEEN's TransE or RotatE (pykeen 1.11), trained with the stochastic local
  closed-world assumption (corrupted heads or tails per positive, Adam) on every train triple
  of every relationship type. Valid and test triples never reach it.
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from kg_service.errors import ConfigurationError
from kg_service.gnn.evaluate import EdgeSplit, EdgeType, LinkGraph

logger = logging.getLogger(__name__)


def _global_offsets(graph: LinkGraph) -> dict[str, int]:
    """Return the first global index of each node type, types in sorted order."""
    offsets, total = {}, 0
    for node_type in sorted(graph.num_nodes):
        offsets[node_type] = total
        total += graph.num_nodes[node_type]
    return offsets


class AdamicAdarScorer:
    """Adamic–Adar index of node pairs on an undirected, untyped view of a graph."""

    name = "adamic-adar"

    def __init__(self, graph: LinkGraph) -> None:
        from scipy import sparse

        self.offsets = _global_offsets(graph)
        total = sum(graph.num_nodes.values())
        rows, cols = [], []
        for (source, _, destination), pairs in graph.edges.items():
            rows.append(pairs[0] + self.offsets[source])
            cols.append(pairs[1] + self.offsets[destination])
        row = np.concatenate(rows) if rows else np.empty(0, dtype=np.int64)
        col = np.concatenate(cols) if cols else np.empty(0, dtype=np.int64)
        keep = row != col
        row, col = row[keep], col[keep]
        adjacency = sparse.coo_matrix((np.ones(2 * len(row)), (np.concatenate([row, col]), np.concatenate([col, row]))),
                                      shape=(total, total)).tocsr()
        adjacency.data[:] = 1.0
        degree = np.asarray(adjacency.sum(axis=1)).ravel()
        # A common neighbour has degree at least 2, so ln(degree) > 0.
        weight = np.where(degree > 1, 1.0 / np.log(np.maximum(degree, 2)), 0.0)
        self.adjacency = adjacency
        self.weighted = sparse.diags(weight) @ adjacency
        self.config = {"graph": "train graph, undirected, all relationship types"}

    def score(self, edge_type: EdgeType, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        source, _, destination = edge_type
        src = np.asarray(src, dtype=np.int64) + self.offsets[source]
        dst = np.asarray(dst, dtype=np.int64) + self.offsets[destination]
        if len(np.unique(dst)) < len(np.unique(src)):
            # The index is symmetric, so group by whichever side has fewer distinct nodes.
            src, dst = dst, src
        scores = np.empty(len(src), dtype=np.float64)
        # Score per distinct source node: one sparse row product gives its index against every node.
        order = np.argsort(src, kind="stable")
        sorted_src = src[order]
        boundaries = np.flatnonzero(np.diff(sorted_src)) + 1
        for group in np.split(order, boundaries):
            node = int(src[group[0]])
            row = (self.adjacency[node] @ self.weighted).toarray().ravel()
            scores[group] = row[dst[group]]
        return scores


class KGEConfig(BaseModel):
    """Hyperparameters of a PyKEEN baseline."""

    model: Literal["transe", "rotate"] = "transe"
    embedding_dim: int = Field(default=64, ge=2, le=4096, description="Embedding size (complex numbers for RotatE)")
    epochs: int = Field(default=100, ge=1, le=10_000)
    batch_size: int = Field(default=256, ge=1, le=1_000_000, description="Triples per training batch")
    lr: float = Field(default=0.01, gt=0.0, le=1.0, description="Adam learning rate")
    num_negs_per_pos: int = Field(default=4, ge=1, le=1000, description="Corrupted triples per positive triple")
    seed: int = 20261204


def _require_pykeen():
    try:
        import pykeen  # noqa: F401
    except ImportError as error:
        raise ConfigurationError("the TransE and RotatE baselines need PyKEEN; install it with "
                                 "pip install 'kg-service[eval]'") from error


def _train_slcwa(model, mapped_triples, num_entities: int, config: KGEConfig) -> list[float]:
    """Train `model` with PyKEEN's negative sampler and loss; return the mean loss of each epoch.

    This is the loop of pykeen.training.SLCWATrainingLoop (pykeen 1.11.1) without its per-epoch gc.collect(),
    which took 0.7 s an epoch on a 2-core machine, longer than the epoch itself on small graphs.
    """
    import torch
    from pykeen.sampling import BasicNegativeSampler

    sampler = BasicNegativeSampler(mapped_triples=mapped_triples, num_entities=num_entities,
                                   num_negs_per_pos=config.num_negs_per_pos)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(config.seed)
    losses = []
    model.train()
    for _ in range(config.epochs):
        order = torch.randperm(len(mapped_triples), generator=generator)
        total = 0.0
        for start in range(0, len(order), config.batch_size):
            positives = mapped_triples[order[start:start + config.batch_size]]
            negatives, batch_filter = sampler.sample(positives)
            positive_scores = model.score_hrt(positives)
            negative_scores = model.score_hrt(negatives.view(-1, 3)).view(len(positives), -1)
            loss = model.loss.process_slcwa_scores(positive_scores, negative_scores, batch_filter=batch_filter,
                                                   num_entities=num_entities)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            model.post_parameter_update()
            total += loss.item() * len(positives)
        losses.append(total / len(mapped_triples))
    return losses


class KGEScorer:
    """A PyKEEN TransE or RotatE model trained on the train triples of a split."""

    def __init__(self, split: EdgeSplit, config: KGEConfig) -> None:
        _require_pykeen()
        import torch
        from pykeen.losses import MarginRankingLoss, NSSALoss
        from pykeen.models import RotatE, TransE
        from pykeen.triples import TriplesFactory

        torch.manual_seed(config.seed)
        np.random.seed(config.seed % 2**32)
        graph = split.train_graph()
        self.offsets = _global_offsets(graph)
        self.relation_ids = {edge_type: index for index, edge_type in enumerate(sorted(graph.edges))}
        triples = [np.stack([pairs[0] + self.offsets[edge_type[0]],
                             np.full(pairs.shape[1], self.relation_ids[edge_type]),
                             pairs[1] + self.offsets[edge_type[2]]], axis=1)
                   for edge_type, pairs in graph.edges.items() if pairs.shape[1]]
        mapped = torch.as_tensor(np.concatenate(triples), dtype=torch.long)
        num_entities = sum(graph.num_nodes.values())
        factory = TriplesFactory(mapped_triples=mapped,
                                 entity_to_id={str(index): index for index in range(num_entities)},
                                 relation_to_id={"|".join(edge_type): index
                                                 for edge_type, index in self.relation_ids.items()})

        if config.model == "transe":
            model = TransE(triples_factory=factory, embedding_dim=config.embedding_dim, loss=MarginRankingLoss(),
                           random_seed=config.seed)
        else:
            model = RotatE(triples_factory=factory, embedding_dim=config.embedding_dim,
                           loss=NSSALoss(margin=9.0, adversarial_temperature=1.0), random_seed=config.seed)
        losses = _train_slcwa(model, mapped, num_entities, config)
        model.eval()
        self.model = model
        self.name = config.model
        self.config = config.model_dump() | {"final_loss": round(float(losses[-1]), 5) if losses else None}
        logger.info("trained %s on %d triples of %d relationship types, final loss %s", self.name, len(mapped),
                    len(self.relation_ids), self.config["final_loss"])

    def score(self, edge_type: EdgeType, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        import torch

        heads = torch.as_tensor(np.asarray(src) + self.offsets[edge_type[0]], dtype=torch.long)
        tails = torch.as_tensor(np.asarray(dst) + self.offsets[edge_type[2]], dtype=torch.long)
        relations = torch.full_like(heads, self.relation_ids[edge_type])
        with torch.no_grad():
            scores = self.model.score_hrt(torch.stack([heads, relations, tails], dim=1))
        return scores.view(-1).cpu().numpy().astype(np.float64)

