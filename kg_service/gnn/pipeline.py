"""The steps behind `kg-service train`, `embed` and `predict`: export, train, checkpoint, write back."""

from __future__ import annotations

import logging
from typing import NamedTuple

from kg_service.config import Settings
from kg_service.errors import QueryError
from kg_service.gnn.checkpoints import Manifest, load_checkpoint, save_checkpoint
from kg_service.gnn.export import ExportedGraph, export_graph
from kg_service.gnn.train import EdgeType, LinkPredictor, ProgressCallback, TrainConfig, train_link_predictor
from kg_service.gnn.writeback import (EmbeddingReport, PredictionReport, predict_links, write_embeddings,
                                      write_predictions)
from kg_service.graph.store import GraphStore
from kg_service.ontology.schema import GraphSchema

logger = logging.getLogger(__name__)


class TrainingRun(NamedTuple):
    """A trained predictor with the graph it was trained on and its saved manifest."""

    predictor: LinkPredictor
    exported: ExportedGraph
    manifest: Manifest


def resolve_targets(exported: ExportedGraph, targets: list[str]) -> list[EdgeType]:
    """Turn `TYPE` or `Source:TYPE:Target` names into exported edge types.

    A bare relationship type selects every exported edge type with it. Raises QueryError for a
    name that matches no exported edges.
    """
    resolved: list[EdgeType] = []
    available = exported.edge_types()
    for target in targets:
        parts = target.split(":")
        if len(parts) == 3:
            matches = [edge_type for edge_type in available if edge_type == tuple(parts)]
        elif len(parts) == 1:
            matches = [edge_type for edge_type in available if edge_type[1] == target]
        else:
            raise QueryError(f"target {target!r} is invalid; write a relationship type (HAS_CAUSE) or "
                             "Source:TYPE:Target (FailureMode:HAS_CAUSE:FailureCause)")
        if not matches:
            names = ", ".join(":".join(edge_type) for edge_type in available) or "none"
            raise QueryError(f"target {target!r} matches no exported edges; exported edge types: {names}")
        resolved.extend(match for match in matches if match not in resolved)
    return resolved


def train_from_graph(store: GraphStore, schema: GraphSchema, settings: Settings, classes: list[str],
                     relationship_types: list[str], targets: list[str], config: TrainConfig, *,
                     text_encoder: str = "auto", progress: ProgressCallback | None = None) -> TrainingRun:
    """Export the chosen part of the graph, train on `targets` and save a new checkpoint version."""
    exported = export_graph(store, schema, classes, relationship_types, settings=settings, text_encoder=text_encoder)
    target_types = resolve_targets(exported, targets)
    predictor = train_link_predictor(exported.data, target_types, config, progress=progress)
    manifest = save_checkpoint(predictor, exported, settings.models_dir)
    return TrainingRun(predictor, exported, manifest)


def embed_nodes(store: GraphStore, schema: GraphSchema, predictor: LinkPredictor, node_keys: dict[str, list[str]],
                version: str, settings: Settings) -> EmbeddingReport:
    """Compute every node's embedding with `predictor` and write them back with the vector index."""
    return write_embeddings(store, schema, predictor.embed(), node_keys, version, batch_size=settings.batch_size)


def write_all_predictions(store: GraphStore, schema: GraphSchema, predictor: LinkPredictor,
                          node_keys: dict[str, list[str]], version: str, settings: Settings, *,
                          top_k: int = 5, min_score: float = 0.5) -> list[PredictionReport]:
    """Predict and write links for every target edge type of `predictor`."""
    reports = []
    for edge_type in predictor.target_edge_types:
        predictions, skipped = predict_links(predictor, node_keys, edge_type, top_k=top_k, min_score=min_score)
        reports.append(write_predictions(store, schema, edge_type, predictions, version,
                                         batch_size=settings.batch_size, asserted_skipped=skipped))
    return reports


def load_version(settings: Settings, version: str = "latest") -> tuple[LinkPredictor, Manifest, dict[str, list[str]]]:
    """Return the checkpoint `version` of the current state folder (`latest` for the newest)."""
    return load_checkpoint(settings.models_dir, version, device=settings.device)
