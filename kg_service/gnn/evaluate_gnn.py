"""The GNN link predictor (kg_service.gnn.train) as a scorer for the held-out ranking.

The GNN trains on a copy of the exported HeteroData whose target edge types keep only the train
pairs, and whose `rev_` reverse types keep only the mirrors of those pairs. Its embeddings are
computed on that same copy, so valid and test edges never carry messages.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from kg_service.gnn.evaluate import EdgeSplit, EdgeType, reverse_edge_types

if TYPE_CHECKING:
    from torch_geometric.data import HeteroData

    from kg_service.gnn.train import TrainConfig

logger = logging.getLogger(__name__)


def training_data(data: "HeteroData", split: EdgeSplit) -> "HeteroData":
    """Return a copy of `data` with every target type (and its reverse) cut down to the train pairs."""
    import torch

    train = data.clone()
    for edge_type in split.target_types:
        pairs = torch.as_tensor(split.train[edge_type], dtype=torch.long)
        train[edge_type].edge_index = pairs.contiguous()
        for reverse in reverse_edge_types(data.edge_types, edge_type):
            train[reverse].edge_index = pairs.flip(0).contiguous()
    return train


class GNNScorer:
    """A heterogeneous GNN trained with `train_link_predictor` on the split's train graph."""

    name = "gnn"

    def __init__(self, data: "HeteroData", split: EdgeSplit, config: "TrainConfig") -> None:
        from kg_service.gnn.train import train_link_predictor

        self.predictor = train_link_predictor(training_data(data, split), list(split.target_types), config)
        self.config = config.model_dump() | {
            "final_loss": round(float(self.predictor.metrics.get("loss", float("nan"))), 5),
            "seconds_per_epoch": self.predictor.metrics.get("seconds_per_epoch")}
        self.name = f"gnn-{config.model}"

    def score(self, edge_type: EdgeType, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        import torch

        # Logits, not the sigmoid probabilities of LinkPredictor.score: in float32 the sigmoid
        # rounds large logits to exactly 1.0, which would turn distinct scores into ties.
        embeddings = self.predictor.embed()
        source = embeddings[edge_type[0]][torch.as_tensor(src, dtype=torch.long)]
        target = embeddings[edge_type[2]][torch.as_tensor(dst, dtype=torch.long)]
        decoder = self.predictor.decoder.cpu()
        with torch.inference_mode():
            logits = decoder(tuple(edge_type), source, target)
        return logits.float().numpy().astype(np.float64)
