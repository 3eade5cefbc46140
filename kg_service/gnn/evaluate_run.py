"""`kg-service evaluate link-prediction` end to end: load a graph, export it, split, train every model, rank.

All models see the same split of the same exported graph: the GNN through its HeteroData copy
(kg_service.gnn.evaluate_gnn), the baselines through `EdgeSplit.train_graph()`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from kg_service.config import Settings
from kg_service.errors import QueryError
from kg_service.gnn.evaluate import (ConstantScorer, EdgeSplit, LinkGraph, LinkPredictionReport, ScorerFactory,
                                     evaluate_models, split_edges)
from kg_service.gnn.evaluate_graphs import GraphPreset, preset, workorder_scope
from kg_service.gnn.train import TrainConfig
from kg_service.graph.store import GraphStore
from kg_service.ontology.schema import GraphSchema

logger = logging.getLogger(__name__)

MODEL_NAMES = ("gnn", "transe", "rotate", "adamic-adar", "random")


class EvaluationOptions(BaseModel):
    """Models, split and hyperparameters of one link-prediction evaluation."""

    models: list[str] = Field(default_factory=lambda: ["gnn", "transe", "rotate", "adamic-adar"])
    seed: int = 20261204
    valid_ratio: float = Field(default=0.1, gt=0.0, lt=0.5)
    test_ratio: float = Field(default=0.1, gt=0.0, lt=0.5)
    gnn: TrainConfig = Field(default_factory=lambda: TrainConfig(model="rgcn", epochs=30))
    kge_epochs: int = Field(default=100, ge=1, le=10_000, description="Training epochs of TransE and RotatE")
    kge_dimension: int = Field(default=64, ge=2, le=4096, description="Embedding size of TransE and RotatE")
    text_encoder: str = Field(default="auto", description="Text encoder of the node features, a name from "
                                                          "kg_service.gnn.text_features.ENCODER_NAMES")
    part: Literal["test", "valid"] = Field(default="test", description="Held-out pairs to rank; valid for model choice")

    @field_validator("text_encoder")
    @classmethod
    def _check_text_encoder(cls, name: str) -> str:
        from kg_service.gnn.text_features import ENCODER_NAMES

        if name not in ENCODER_NAMES:
            raise ValueError(f"unknown text encoder {name!r}; choose from {', '.join(ENCODER_NAMES)}")
        return name

    @field_validator("models")
    @classmethod
    def _check_models(cls, models: list[str]) -> list[str]:
        unknown = [name for name in models if name not in MODEL_NAMES]
        if unknown or not models:
            raise ValueError(f"unknown models {unknown}; choose from {', '.join(MODEL_NAMES)}")
        return list(dict.fromkeys(models))


def resolve_graph(name_or_path: str, mapping: Path | None = None) -> GraphPreset:
    """Return the preset for `maintkg`, `supplygraph`, `synthetic`, a SupplyGraph folder or a work-order CSV."""
    if name_or_path in ("maintkg", "supplygraph", "synthetic"):
        return preset(name_or_path)
    path = Path(name_or_path)
    if path.is_dir():
        return _with_data(preset("supplygraph"), path, None)
    if path.is_file() and path.suffix.lower() == ".csv":
        return _with_data(preset("maintkg"), path, mapping or preset("maintkg").mapping_path)
    raise QueryError(f"graph {name_or_path!r} is neither maintkg, supplygraph, synthetic, a SupplyGraph folder nor a "
                     "work-order CSV file; check the path")


def _with_data(base: GraphPreset, data_path: Path, mapping_path: Path | None) -> GraphPreset:
    # A work-order CSV's nodes are in the namespaces of its own mapping; a SupplyGraph folder keeps the preset's.
    scope = workorder_scope(mapping_path) if mapping_path is not None else base.scope
    return GraphPreset(base.name + ":" + data_path.name, base.classes, base.relationship_types, base.targets,
                       data_path, mapping_path, scope)


def load_preset_data(store: GraphStore, settings: Settings, graph: GraphPreset, synthetic_size: int = 2000) -> dict:
    """Write the preset's data into Neo4j (idempotent MERGE) and return what the loader reported."""
    if graph.name == "synthetic":
        from kg_service.gnn.synthetic import SyntheticPlantConfig, write_synthetic_plant

        report = write_synthetic_plant(store, settings, SyntheticPlantConfig.for_edges(synthetic_size))
        return {"nodes": report.nodes, "relationships": report.relationships}
    if graph.data_path is None:
        raise QueryError(f"graph {graph.name!r} has no data file to load")
    if graph.mapping_path is None:
        from loaders.supplygraph import ingest_supplygraph

        result = ingest_supplygraph(store, settings, graph.data_path)
    else:
        from kg_service.ingest import ingest_workorders

        result = ingest_workorders(store, settings, graph.data_path, graph.mapping_path)
    return {"nodes": result.report.nodes, "relationships": result.report.relationships, "rows": result.rows}


def model_factories(data, options: EvaluationOptions) -> dict[str, ScorerFactory]:
    """Return a factory per requested model that trains it on a split."""
    from kg_service.gnn.baselines import AdamicAdarScorer, KGEConfig, KGEScorer
    from kg_service.gnn.evaluate_gnn import GNNScorer

    def kge(model: str) -> ScorerFactory:
        config = KGEConfig(model=model, epochs=options.kge_epochs, embedding_dim=options.kge_dimension,
                           seed=options.seed)
        return lambda split: KGEScorer(split, config)

    available: dict[str, ScorerFactory] = {
        "gnn": lambda split: GNNScorer(data, split, options.gnn.model_copy(update={"seed": options.seed})),
        "transe": kge("transe"),
        "rotate": kge("rotate"),
        "adamic-adar": lambda split: AdamicAdarScorer(split.train_graph()),
        "random": lambda split: ConstantScorer(),
    }
    return {name: available[name] for name in options.models}


def split_hetero(data, node_keys: dict[str, list[str]], graph: GraphPreset, options: EvaluationOptions) -> EdgeSplit:
    """Split the target edge types of an exported HeteroData with the options' seed and ratios."""
    link_graph = LinkGraph.from_hetero(data, node_keys)
    return split_edges(link_graph, graph.targets, valid_ratio=options.valid_ratio, test_ratio=options.test_ratio,
                       seed=options.seed)


def evaluate_hetero(name: str, data, node_keys: dict[str, list[str]], graph: GraphPreset,
                    options: EvaluationOptions) -> LinkPredictionReport:
    """Split an exported or generated HeteroData and measure every requested model on it."""
    split = split_hetero(data, node_keys, graph, options)
    return evaluate_models(name, split, model_factories(data, options), options.part)


def evaluate_stored_graph(store: GraphStore, schema: GraphSchema, settings: Settings, graph: GraphPreset,
                          options: EvaluationOptions) -> LinkPredictionReport:
    """Export the preset's data set from the stored graph and measure every requested model on it.

    Nodes of other sources in the same Neo4j (another plant's sites, for example) are left out of
    the export, so they never enter the candidate sets.
    """
    from kg_service.gnn.export import export_graph

    exported = export_graph(store, schema, list(graph.classes), list(graph.relationship_types), settings=settings,
                            text_encoder=options.text_encoder, scope=graph.scope)
    for target in graph.targets:
        if target not in exported.data.edge_types:
            raise QueryError(f"the stored graph has no {':'.join(target)} edges to predict; load the data first "
                             "(drop --stored)")
    return evaluate_hetero(graph.name, exported.data, exported.node_keys, graph, options)
