"""Neighbour sampling in plain torch, for `LinkNeighborLoader` when neither pyg-lib nor torch-sparse is installed.

PyG's `NeighborSampler` keeps the graph in CSC form (per edge type: `colptr` over target nodes,
`row` with the source node of each edge) and calls a compiled sampling kernel from pyg-lib or
torch-sparse. `TorchNeighborSampler` keeps the same CSC data and replaces only the kernel: at
each hop, for every edge type, each frontier node of the target type gets up to `fan_out` of
its in-edges, drawn uniformly without replacement. Returned edge ids are CSC positions, as the
compiled kernels return them, so PyG's loaders map them back through `perm` unchanged.

NOTE: pyg-lib (wheels at data.pyg.org, not on PyPI) samples several times faster; install it
where that index is reachable and `make_neighbor_sampler` uses it.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import torch
import torch_geometric.typing
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.sampler import HeteroSamplerOutput, NeighborSampler
from torch_geometric.sampler.base import SubgraphType

logger = logging.getLogger(__name__)


def compiled_sampler_available() -> bool:
    """Return True when pyg-lib or torch-sparse provides PyG's compiled neighbour sampling."""
    return bool(torch_geometric.typing.WITH_PYG_LIB or torch_geometric.typing.WITH_TORCH_SPARSE)


class TorchNeighborSampler(NeighborSampler):
    """A heterogeneous, directional, uniform neighbour sampler without compiled extensions.

    Supports what link-prediction training here needs: HeteroData, sampling without replacement,
    no temporal or weighted sampling and no disjoint subgraphs; other options raise ValueError.
    """

    def __init__(self, data: HeteroData, num_neighbors: Any, *, seed: int | None = None, **kwargs: Any) -> None:
        if not isinstance(data, HeteroData):
            raise ValueError("TorchNeighborSampler samples HeteroData only; convert a homogeneous graph with "
                             "Data.to_heterogeneous()")
        for option in ("time_attr", "weight_attr"):
            if kwargs.get(option) is not None:
                raise ValueError(f"TorchNeighborSampler does not support {option}; install pyg-lib for it")
        if kwargs.get("replace") or kwargs.get("disjoint"):
            raise ValueError("TorchNeighborSampler samples without replacement and without disjoint subgraphs")
        if kwargs.get("subgraph_type", SubgraphType.directional) not in (SubgraphType.directional, "directional"):
            raise ValueError("TorchNeighborSampler supports subgraph_type='directional' only")
        with warnings.catch_warnings():
            # PyG warns that sampling without pyg-lib is deprecated; this class is the replacement.
            warnings.simplefilter("ignore")
            super().__init__(data, num_neighbors, **kwargs)
        self.generator = torch.Generator()
        if seed is not None:
            self.generator.manual_seed(seed)

    def _sample(self, seed: dict[str, Tensor] | Tensor, seed_time: Any = None, **kwargs: Any) -> HeteroSamplerOutput:
        if not isinstance(seed, dict):
            raise ValueError("TorchNeighborSampler samples HeteroData only")
        if seed_time is not None:
            raise ValueError("TorchNeighborSampler does not support temporal sampling")

        num_hops = self.num_neighbors.num_hops
        fan_outs = dict(zip(self.edge_types, self.num_neighbors.get_mapped_values(self.edge_types).values()))
        local_of = {kind: torch.full((count,), -1, dtype=torch.long) for kind, count in self.num_nodes.items()}
        nodes: dict[str, list[Tensor]] = {kind: [] for kind in self.node_types}
        frontier: dict[str, Tensor] = {}
        num_sampled_nodes: dict[str, list[int]] = {kind: [] for kind in self.node_types}
        for kind in self.node_types:
            # Keep the seeds in their given order: loaders read the seed nodes off the front.
            seeds = seed[kind] if kind in seed else torch.empty(0, dtype=torch.long)
            _add_nodes(local_of[kind], nodes[kind], seeds, dedupe_in_order=True)
            frontier[kind] = torch.cat(nodes[kind]) if nodes[kind] else torch.empty(0, dtype=torch.long)
            num_sampled_nodes[kind].append(len(frontier[kind]))

        rows: dict[tuple, list[Tensor]] = {edge_type: [] for edge_type in self.edge_types}
        cols: dict[tuple, list[Tensor]] = {edge_type: [] for edge_type in self.edge_types}
        edges: dict[tuple, list[Tensor]] = {edge_type: [] for edge_type in self.edge_types}
        num_sampled_edges: dict[tuple, list[int]] = {edge_type: [] for edge_type in self.edge_types}
        for hop in range(num_hops):
            added: dict[str, list[Tensor]] = {kind: [] for kind in self.node_types}
            for edge_type in self.edge_types:
                source_type, _, target_type = edge_type
                rel = self.to_rel_type[edge_type]
                targets = frontier[target_type]
                positions, target_nodes = sample_in_edges(self.colptr_dict[rel], targets, fan_outs[edge_type][hop],
                                                          self.generator)
                sources = self.row_dict[rel][positions]
                new = _add_nodes(local_of[source_type], nodes[source_type], sources)
                if len(new):
                    added[source_type].append(new)
                rows[edge_type].append(local_of[source_type][sources])
                cols[edge_type].append(local_of[target_type][target_nodes])
                edges[edge_type].append(positions)
                num_sampled_edges[edge_type].append(len(positions))
            for kind in self.node_types:
                frontier[kind] = torch.cat(added[kind]) if added[kind] else torch.empty(0, dtype=torch.long)
                num_sampled_nodes[kind].append(len(frontier[kind]))

        def join(parts: list[Tensor]) -> Tensor:
            return torch.cat(parts) if parts else torch.empty(0, dtype=torch.long)

        return HeteroSamplerOutput(
            node={kind: join(parts) for kind, parts in nodes.items()},
            row={et: join(parts) for et, parts in rows.items()},
            col={et: join(parts) for et, parts in cols.items()},
            edge={et: join(parts) for et, parts in edges.items()},
            batch=None,
            num_sampled_nodes=num_sampled_nodes,
            num_sampled_edges=num_sampled_edges,
        )


def sample_in_edges(colptr: Tensor, targets: Tensor, fan_out: int,
                    generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Draw up to `fan_out` in-edges per target node uniformly without replacement (-1 takes all).

    Returns the CSC positions of the drawn edges and the target node of each.
    """
    if len(targets) == 0 or fan_out == 0:
        empty = torch.empty(0, dtype=torch.long)
        return empty, empty
    starts = colptr[targets]
    degrees = colptr[targets + 1] - starts
    total = int(degrees.sum())
    if total == 0:
        empty = torch.empty(0, dtype=torch.long)
        return empty, empty
    group = torch.repeat_interleave(torch.arange(len(targets)), degrees)
    group_start = torch.repeat_interleave(torch.cumsum(degrees, 0) - degrees, degrees)
    offsets = torch.arange(total) - group_start
    positions = starts[group] + offsets
    if fan_out < 0:
        return positions, targets[group]

    # Sort the candidate edges by (target, random key); the first fan_out of each target are a
    # uniform sample without replacement of its in-edges.
    keys = torch.rand(total, generator=generator, dtype=torch.float64)
    order = torch.argsort(group.to(torch.float64) + keys)
    rank = torch.arange(total) - group_start
    chosen = order[rank < fan_out]
    return positions[chosen], targets[group[chosen]]


def _add_nodes(local_of: Tensor, parts: list[Tensor], candidates: Tensor, dedupe_in_order: bool = False) -> Tensor:
    """Give local indices to the nodes of `candidates` that have none yet; return those nodes."""
    if len(candidates) == 0:
        return candidates
    if dedupe_in_order:
        unique, inverse = torch.unique(candidates, return_inverse=True)
        first = torch.full((len(unique),), len(candidates), dtype=torch.long)
        first.scatter_reduce_(0, inverse, torch.arange(len(candidates)), reduce="amin")
        fresh = candidates[torch.sort(first).values]
    else:
        fresh = torch.unique(candidates)
    fresh = fresh[local_of[fresh] < 0]
    count = sum(len(part) for part in parts)
    local_of[fresh] = torch.arange(count, count + len(fresh))
    parts.append(fresh)
    return fresh


def make_neighbor_sampler(data: HeteroData, num_neighbors: list[int] | dict, *, seed: int | None = None) -> NeighborSampler:
    """Return PyG's compiled sampler when pyg-lib or torch-sparse is installed, else TorchNeighborSampler."""
    if compiled_sampler_available():
        logger.info("neighbour sampling with PyG's compiled sampler (pyg-lib %s, torch-sparse %s)",
                    torch_geometric.typing.WITH_PYG_LIB, torch_geometric.typing.WITH_TORCH_SPARSE)
        return NeighborSampler(data, num_neighbors=num_neighbors)
    logger.info("neighbour sampling in plain torch: neither pyg-lib nor torch-sparse is installed")
    return TorchNeighborSampler(data, num_neighbors, seed=seed)
