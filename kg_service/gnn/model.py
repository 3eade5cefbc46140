"""Heterogeneous GNN encoders (GraphSAGE via `to_hetero`, R-GCN, HGT) and a DistMult link decoder.

Every encoder first projects each node type's features to `hidden_channels` and adds a learned
embedding of the node's own index (`node_embeddings`), because names alone often do not tell
two nodes apart. Node types without incoming edges keep their projected features.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.nn import HeteroConv, HGTConv, SAGEConv, to_hetero

from kg_service.gnn.train import TrainConfig

EdgeType = tuple[str, str, str]
Metadata = tuple[list[str], list[EdgeType]]


class _Sage(nn.Module):
    """Homogeneous GraphSAGE stack; `to_hetero` copies it per edge type and sums the messages."""

    def __init__(self, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.convs = nn.ModuleList([SAGEConv(hidden, hidden) for _ in range(layers)])
        # A Dropout module, not the functional form: FX tracing in to_hetero would freeze `training`.
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        for i, conv in enumerate(self.convs):
            x = conv(x, edge_index)
            if i < len(self.convs) - 1:
                x = self.dropout(torch.relu(x))
        return x


class _RGCN(nn.Module):
    """R-GCN layers: per relationship a mean of transformed neighbours, summed, plus a self-connection.

    h_i' = W_0 h_i + sum_r mean_{j in N_r(i)} W_r h_j (Schlichtkrull et al., 2018, without basis
    decomposition).
    """

    def __init__(self, metadata: Metadata, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        node_types, edge_types = metadata
        self.convs = nn.ModuleList([
            HeteroConv({edge_type: SAGEConv(hidden, hidden, aggr="mean", root_weight=False, bias=False)
                        for edge_type in edge_types}, aggr="sum")
            for _ in range(layers)])
        self.roots = nn.ModuleList([nn.ModuleDict({kind: nn.Linear(hidden, hidden) for kind in node_types})
                                    for _ in range(layers)])
        self.dropout = dropout

    def forward(self, x_dict: dict[str, Tensor], edge_index_dict: dict[EdgeType, Tensor]) -> dict[str, Tensor]:
        for i, (conv, roots) in enumerate(zip(self.convs, self.roots)):
            messages = conv(x_dict, edge_index_dict)
            x_dict = {kind: roots[kind](x) + messages.get(kind, 0) for kind, x in x_dict.items()}
            if i < len(self.convs) - 1:
                x_dict = {kind: nn.functional.dropout(torch.relu(x), p=self.dropout, training=self.training)
                          for kind, x in x_dict.items()}
        return x_dict


class _HGT(nn.Module):
    def __init__(self, metadata: Metadata, hidden: int, layers: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.convs = nn.ModuleList([HGTConv(hidden, hidden, metadata, heads) for _ in range(layers)])
        self.dropout = dropout

    def forward(self, x_dict: dict[str, Tensor], edge_index_dict: dict[EdgeType, Tensor]) -> dict[str, Tensor]:
        for i, conv in enumerate(self.convs):
            out = conv(x_dict, edge_index_dict)
            x_dict = {kind: out[kind] if out.get(kind) is not None else x for kind, x in x_dict.items()}
            if i < len(self.convs) - 1:
                x_dict = {kind: nn.functional.dropout(x, p=self.dropout, training=self.training)
                          for kind, x in x_dict.items()}
        return x_dict


class HeteroEncoder(nn.Module):
    """Input projection, optional node-index embeddings and a message-passing stack."""

    def __init__(self, metadata: Metadata, in_channels: dict[str, int], num_nodes: dict[str, int],
                 config: TrainConfig) -> None:
        super().__init__()
        node_types, _ = metadata
        hidden = config.hidden_channels
        self.node_types = list(node_types)
        self.project = nn.ModuleDict({kind: nn.Linear(max(in_channels.get(kind, 0), 1), hidden)
                                      for kind in node_types})
        self.node_embedding = nn.ModuleDict({kind: nn.Embedding(num_nodes[kind], hidden) for kind in node_types}) \
            if config.node_embeddings else None
        if self.node_embedding is not None:
            for embedding in self.node_embedding.values():
                nn.init.normal_(embedding.weight, std=0.1)
        if config.model == "sage":
            self.gnn: nn.Module = to_hetero(_Sage(hidden, config.num_layers, config.dropout), metadata, aggr="sum")
        elif config.model == "rgcn":
            self.gnn = _RGCN(metadata, hidden, config.num_layers, config.dropout)
        else:
            if hidden % config.heads:
                raise ValueError(f"hidden_channels ({hidden}) must be divisible by heads ({config.heads}) for HGT")
            self.gnn = _HGT(metadata, hidden, config.num_layers, config.heads, config.dropout)

    def forward(self, x_dict: dict[str, Tensor], edge_index_dict: dict[EdgeType, Tensor],
                n_id_dict: dict[str, Tensor] | None = None) -> dict[str, Tensor]:
        h_dict = {}
        for kind, x in x_dict.items():
            if x.size(1) == 0:
                x = torch.ones(x.size(0), 1, device=x.device)
            h = self.project[kind](x)
            if self.node_embedding is not None:
                n_id = n_id_dict[kind] if n_id_dict is not None else torch.arange(x.size(0), device=x.device)
                h = h + self.node_embedding[kind](n_id)
            h_dict[kind] = h
        present = {edge_type: index for edge_type, index in edge_index_dict.items()}
        out = self.gnn(h_dict, present)
        return {kind: out[kind] if out.get(kind) is not None else h for kind, h in h_dict.items()}


class DistMultDecoder(nn.Module):
    """Scores an edge (s, r, d) as sum(z_s * w_r * z_d), one learned diagonal w_r per target edge type."""

    def __init__(self, target_edge_types: list[EdgeType], hidden: int) -> None:
        super().__init__()
        self.keys = {edge_type: f"e{i}" for i, edge_type in enumerate(target_edge_types)}
        self.relations = nn.ParameterDict({key: nn.Parameter(torch.ones(hidden)) for key in self.keys.values()})

    def forward(self, edge_type: EdgeType, z_src: Tensor, z_dst: Tensor) -> Tensor:
        return (z_src * self.relations[self.keys[edge_type]] * z_dst).sum(dim=-1)


def model_arguments(metadata: Metadata, data: Any) -> dict[str, Any]:
    """Return the shapes a HeteroEncoder needs from `data`, in a form `save` can store as JSON."""
    return {"node_types": list(metadata[0]), "edge_types": [list(edge_type) for edge_type in metadata[1]],
            "in_channels": {kind: int(data[kind].x.size(1)) if "x" in data[kind] else 0 for kind in metadata[0]},
            "num_nodes": {kind: int(data[kind].num_nodes) for kind in metadata[0]}}
