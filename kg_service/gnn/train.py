"""Train a heterogeneous GNN for link prediction, and the trained `LinkPredictor`.

Training draws mini-batches of target edges with `LinkNeighborLoader` and samples negatives
per batch. The target edges are split once (seeded) into message-passing edges and
supervision edges. The supervision edges and their reverses are removed from the graph that the
encoder reads, so the model never reads an edge that it must predict.

On CUDA the forward pass runs under bfloat16 autocast (`mixed_precision`); on the CPU it runs in
float32. NOTE: training uses one device, and the multi-GPU path is not implemented. It would wrap
`HeteroEncoder` and the decoder in `torch.nn.parallel.DistributedDataParallel` after
`torch.distributed.init_process_group`, with each rank training on its own shard of the
supervision edges.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from kg_service.errors import ConfigurationError, QueryError

if TYPE_CHECKING:
    from torch import Tensor
    from torch_geometric.data import HeteroData

logger = logging.getLogger(__name__)

EdgeType = tuple[str, str, str]
ProgressCallback = Callable[[int, int, float], None]
REVERSE_PREFIX = "rev_"
WEIGHTS_FILE = "model.pt"
CONFIG_FILE = "predictor.json"
GRAPH_FILE = "graph.pt"


class TrainConfig(BaseModel):
    """Model kind and training hyperparameters of a link predictor."""

    # R-GCN had the best held-out filtered MRR of the three on the MaintKG work orders
    # (benchmarks/gnn_model_choice.py, recorded in docs/evaluation.md) and trains fastest.
    model: Literal["sage", "rgcn", "hgt"] = Field(default="rgcn", description="GraphSAGE via to_hetero, R-GCN or HGT")
    hidden_channels: int = Field(default=64, ge=2, le=4096, description="Size of hidden layers and embeddings")
    num_layers: int = Field(default=2, ge=1, le=6, description="Message-passing layers")
    heads: int = Field(default=2, ge=1, le=16, description="Attention heads of HGT; hidden_channels must divide by it")
    dropout: float = Field(default=0.1, ge=0.0, lt=1.0)
    node_embeddings: bool = Field(default=True, description="Add a learned embedding per node to its input features")
    epochs: int = Field(default=20, ge=1, le=10_000)
    # 0.003 trained steadily on the MaintKG work orders with every model kind, where 0.01 made the loss jump.
    lr: float = Field(default=0.003, gt=0.0, le=1.0, description="Adam learning rate")
    max_grad_norm: float = Field(default=1.0, gt=0.0, description="Gradient norm clipping threshold")
    weight_decay: float = Field(default=0.0, ge=0.0)
    batch_size: int = Field(default=256, ge=1, le=1_000_000, description="Target edges per mini-batch")
    fan_out: list[int] = Field(default_factory=lambda: [10, 10],
                               description="Neighbours sampled per node and edge type at each layer, -1 for all; "
                                           "one entry per layer")
    negative_ratio: float = Field(default=1.0, gt=0.0, le=100.0, description="Negative edges per positive edge")
    supervision_ratio: float = Field(default=0.3, gt=0.0, lt=1.0,
                                     description="Share of target edges used as supervision and hidden from "
                                                 "message passing")
    seed: int = 20261204
    device: str = Field(default="auto", description="auto (CUDA when present), cpu, cuda or cuda:N")
    mixed_precision: bool = Field(default=True, description="Use bfloat16 autocast on CUDA; ignored on the CPU")
    num_threads: int | None = Field(default=None, ge=1, le=1024,
                                    description="CPU threads of torch during training; None keeps torch's setting")


def resolve_device(name: str) -> "Any":
    """Return the torch device for `auto`, `cpu`, `cuda` or `cuda:N`."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigurationError(f"device {name!r} was requested but torch sees no CUDA device; use --device cpu "
                                 "or auto")
    try:
        return torch.device(name)
    except RuntimeError as error:
        raise ConfigurationError(f"device {name!r} is invalid; use auto, cpu, cuda or cuda:N") from error


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) for repeatable training."""
    import numpy
    import torch

    random.seed(seed)
    numpy.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class LinkPredictor:
    """A trained encoder and per-relationship decoder that scores candidate edges.

    `data` is the graph the encoder reads at inference: every edge given to training, the
    supervision edges included.
    """

    def __init__(self, encoder: Any, decoder: Any, data: "HeteroData", target_edge_types: list[EdgeType],
                 config: TrainConfig, metrics: dict[str, Any] | None = None, device: Any = None) -> None:
        self.encoder = encoder
        self.decoder = decoder
        self.data = data
        self.target_edge_types = [tuple(edge_type) for edge_type in target_edge_types]
        self.config = config
        self.metrics = metrics or {}
        self.device = device or resolve_device("cpu")
        self._embeddings: dict[str, Tensor] | None = None

    @property
    def dimension(self) -> int:
        return self.config.hidden_channels

    def embed(self) -> dict[str, "Tensor"]:
        """Return the embedding of every node, by node type, computed on the full graph (cached).

        NOTE: this is one full-graph forward pass. A graph whose activations do not fit in memory
        needs layer-wise inference with a NeighborLoader, which is not implemented.
        """
        import torch

        if self._embeddings is None:
            self.encoder.eval()
            # HeteroData.to moves tensors in place, so a copy goes to the GPU and `data` stays on the CPU.
            data = self.data if self.device.type == "cpu" else self.data.clone().to(self.device)
            with torch.inference_mode():
                out = self.encoder(_features(data, self.device), data.edge_index_dict)
            self._embeddings = {kind: z.float().cpu() for kind, z in out.items()}
        return self._embeddings

    def score(self, edge_type: EdgeType, src: "Tensor", dst: "Tensor") -> "Tensor":
        """Return the probability (0..1) of an edge of `edge_type` for each pair (src[i], dst[i])."""
        import torch

        edge_type = tuple(edge_type)
        if edge_type not in self.decoder.keys:
            raise QueryError(f"the model was not trained on edge type {edge_type}; it scores "
                             f"{', '.join(map(str, self.target_edge_types))}")
        z = self.embed()
        weight = self.decoder.relations[self.decoder.keys[edge_type]].detach().float().cpu()
        with torch.inference_mode():
            logits = (z[edge_type[0]][src] * weight * z[edge_type[2]][dst]).sum(dim=-1)
        return torch.sigmoid(logits)

    def save(self, path: Path) -> None:
        """Write the weights, the config and the graph to the folder `path`."""
        import torch

        from kg_service.gnn.model import model_arguments

        path.mkdir(parents=True, exist_ok=True)
        torch.save({"encoder": self.encoder.state_dict(), "decoder": self.decoder.state_dict()}, path / WEIGHTS_FILE)
        torch.save(self.data.cpu(), path / GRAPH_FILE)
        description = {"config": self.config.model_dump(), "target_edge_types": [list(t) for t in self.target_edge_types],
                       "metrics": self.metrics, "shapes": model_arguments(self.data.metadata(), self.data)}
        (path / CONFIG_FILE).write_text(json.dumps(description, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, path: Path, data: "HeteroData | None" = None, device: str = "auto") -> "LinkPredictor":
        """Read a predictor written by `save`; `data` replaces the saved graph when given."""
        import torch

        from kg_service.gnn.model import DistMultDecoder, HeteroEncoder

        if not (path / CONFIG_FILE).is_file():
            raise ConfigurationError(f"{path} contains no trained model ({CONFIG_FILE} is missing); train one with "
                                     "'kg-service train'")
        description = json.loads((path / CONFIG_FILE).read_text(encoding="utf-8"))
        config = TrainConfig(**description["config"])
        shapes = description["shapes"]
        metadata = (shapes["node_types"], [tuple(edge_type) for edge_type in shapes["edge_types"]])
        targets = [tuple(edge_type) for edge_type in description["target_edge_types"]]
        if data is None:
            data = torch.load(path / GRAPH_FILE, weights_only=False)
        torch_device = resolve_device(device)
        encoder = HeteroEncoder(metadata, shapes["in_channels"], shapes["num_nodes"], config)
        decoder = DistMultDecoder(targets, config.hidden_channels)
        weights = torch.load(path / WEIGHTS_FILE, map_location="cpu", weights_only=True)
        encoder.load_state_dict(weights["encoder"])
        decoder.load_state_dict(weights["decoder"])
        return cls(encoder.to(torch_device), decoder.to(torch_device), data, targets, config,
                   description.get("metrics"), torch_device)


def split_supervision(data: "HeteroData", target_edge_types: list[EdgeType], ratio: float,
                      seed: int) -> tuple["HeteroData", dict[EdgeType, "Tensor"]]:
    """Move a seeded share `ratio` of each target type's edges out of the message graph.

    Returns the message graph (a copy without those edges and their `rev_` reverses) and the
    supervision edges by type. At least one edge of each type stays for message passing.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    message = data.clone()
    supervision: dict[EdgeType, Tensor] = {}
    for edge_type in target_edge_types:
        edge_index = data[edge_type].edge_index
        count = edge_index.size(1)
        size = min(max(1, round(count * ratio)), count - 1) if count > 1 else count
        order = torch.randperm(count, generator=generator)
        supervision[edge_type] = edge_index[:, order[:size]]
        message[edge_type].edge_index = edge_index[:, order[size:]]
        reverse = (edge_type[2], REVERSE_PREFIX + edge_type[1], edge_type[0])
        if reverse in data.edge_types:
            message[reverse].edge_index = _without_pairs(data[reverse].edge_index, supervision[edge_type].flip(0),
                                                         data[edge_type[0]].num_nodes)
    return message, supervision


def _without_pairs(edge_index: "Tensor", remove: "Tensor", num_src_dst: int) -> "Tensor":
    import torch

    width = max(int(edge_index.max()) + 1 if edge_index.numel() else 1, num_src_dst, 1)
    codes = edge_index[0] * width + edge_index[1]
    removed = remove[0] * width + remove[1]
    return edge_index[:, ~torch.isin(codes, removed)]


def check_targets(data: "HeteroData", target_edge_types: list[EdgeType]) -> list[EdgeType]:
    """Return the targets as tuples, or raise QueryError for a type the graph lacks or leaves empty."""
    targets = [tuple(edge_type) for edge_type in target_edge_types]
    if not targets:
        raise QueryError("no target edge types given; name at least one relationship type to predict")
    for edge_type in targets:
        if edge_type not in data.edge_types:
            known = ", ".join(str(t) for t in data.edge_types if not t[1].startswith(REVERSE_PREFIX))
            raise QueryError(f"edge type {edge_type} is not in the exported graph; exported types: {known}")
        if data[edge_type].edge_index.size(1) < 2:
            raise QueryError(f"edge type {edge_type} has fewer than 2 edges, too few to train on")
    return targets


def train_link_predictor(data: "HeteroData", target_edge_types: list[EdgeType], config: TrainConfig, *,
                         progress: ProgressCallback | None = None) -> LinkPredictor:
    """Train a link predictor on `target_edge_types` of `data` and return it.

    `progress(epoch, epochs, loss)` is called after each epoch.
    """
    import torch
    from torch_geometric.loader import LinkNeighborLoader
    from torch_geometric.sampler import NegativeSampling

    from kg_service.gnn.model import DistMultDecoder, HeteroEncoder
    from kg_service.gnn.sampler import make_neighbor_sampler

    targets = check_targets(data, target_edge_types)
    if len(config.fan_out) != config.num_layers:
        raise QueryError(f"fan_out has {len(config.fan_out)} entries but the model has {config.num_layers} layers; "
                         "give one fan-out per layer")
    seed_everything(config.seed)
    device = resolve_device(config.device)
    use_amp = config.mixed_precision and device.type == "cuda"

    message, supervision = split_supervision(data, targets, config.supervision_ratio, config.seed)
    sampler = make_neighbor_sampler(message, config.fan_out, seed=config.seed)
    loaders = {edge_type: LinkNeighborLoader(
        message, num_neighbors=config.fan_out, edge_label_index=(edge_type, supervision[edge_type]),
        neg_sampling=NegativeSampling("binary", amount=config.negative_ratio), batch_size=config.batch_size,
        shuffle=True, neighbor_sampler=sampler, generator=torch.Generator().manual_seed(config.seed))
        for edge_type in targets}

    metadata = data.metadata()
    in_channels = {kind: int(data[kind].x.size(1)) if "x" in data[kind] else 0 for kind in metadata[0]}
    num_nodes = {kind: int(data[kind].num_nodes) for kind in metadata[0]}
    encoder = HeteroEncoder(metadata, in_channels, num_nodes, config).to(device)
    decoder = DistMultDecoder(targets, config.hidden_channels).to(device)
    optimizer = torch.optim.Adam(list(encoder.parameters()) + list(decoder.parameters()), lr=config.lr,
                                 weight_decay=config.weight_decay)
    logger.info("training %s link predictor on %s: %d supervision edges, device %s%s", config.model,
                ", ".join(t[1] for t in targets), sum(e.size(1) for e in supervision.values()), device,
                ", bfloat16 autocast" if use_amp else "")

    previous_threads = torch.get_num_threads()
    if config.num_threads is not None:
        # Small graphs train faster on one thread: intra-op parallelism costs more than it saves there.
        torch.set_num_threads(config.num_threads)
    try:
        losses, seconds = _run_epochs(loaders, encoder, decoder, optimizer, config, device, use_amp, progress)
    finally:
        torch.set_num_threads(previous_threads)

    metrics = {"loss": losses[-1], "loss_history": losses, "train_seconds": round(seconds, 3),
               "seconds_per_epoch": round(seconds / config.epochs, 4), "device": str(device),
               "supervision_edges": {"|".join(t): int(e.size(1)) for t, e in supervision.items()}}
    logger.info("trained %d epochs in %.1f s, final loss %.4f", config.epochs, seconds, losses[-1])
    return LinkPredictor(encoder, decoder, data, targets, config, metrics, device)


def _run_epochs(loaders: dict, encoder: Any, decoder: Any, optimizer: Any, config: TrainConfig, device: Any,
                use_amp: bool, progress: ProgressCallback | None) -> tuple[list[float], float]:
    """Run the training epochs; return the mean loss of each epoch and the seconds taken."""
    import torch

    parameters = list(encoder.parameters()) + list(decoder.parameters())
    losses: list[float] = []
    started = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        encoder.train()
        decoder.train()
        total = count = 0.0
        for edge_type, batch in _interleave(loaders):
            batch = batch.to(device)
            optimizer.zero_grad()
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
                n_id = {kind: batch[kind].n_id for kind in batch.node_types}
                z = encoder(_features(batch, device), batch.edge_index_dict, n_id)
                label_index = batch[edge_type].edge_label_index
                logits = decoder(edge_type, z[edge_type[0]][label_index[0]], z[edge_type[2]][label_index[1]])
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), batch[edge_type].edge_label)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, config.max_grad_norm)
            optimizer.step()
            total += loss.detach().item() * logits.numel()
            count += logits.numel()
        losses.append(total / max(count, 1.0))
        logger.debug("epoch %d/%d: loss %.4f", epoch, config.epochs, losses[-1])
        if progress is not None:
            progress(epoch, config.epochs, losses[-1])

    return losses, time.perf_counter() - started


def _interleave(loaders: dict) -> Any:
    """Yield (edge type, batch) from each loader in turn until all are exhausted."""
    iterators = [(edge_type, iter(loader)) for edge_type, loader in loaders.items()]
    while iterators:
        remaining = []
        for edge_type, iterator in iterators:
            batch = next(iterator, None)
            if batch is not None:
                remaining.append((edge_type, iterator))
                yield edge_type, batch
        iterators = remaining


def _features(data: "HeteroData", device: Any) -> dict[str, "Tensor"]:
    """Return each node type's features, an empty (n, 0) matrix for a type without any."""
    import torch

    return {kind: data[kind].x if "x" in data[kind] else torch.zeros(data[kind].num_nodes, 0, device=device)
            for kind in data.node_types}
