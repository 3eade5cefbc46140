"""Versioned checkpoints of trained link predictors under `<models_dir>/gnn/<version>/`.

A version is the UTC training time and the first 8 hex digits of the graph's data hash
(`20261204T231500Z-1a2b3c4d`), so versions sort by time. Each folder contains the predictor files
(`LinkPredictor.save`), `node_keys.json` (tensor index -> node key, per node type) and
`manifest.json` (classes, relationship types, config, data hash, metrics).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from kg_service.errors import ConfigurationError
from kg_service.gnn.export import ExportedGraph
from kg_service.gnn.train import LinkPredictor, TrainConfig

logger = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.json"
NODE_KEYS_FILE = "node_keys.json"


class Manifest(BaseModel):
    """Training record of a checkpoint: graph scope, config, data hash and metrics."""

    version: str
    created: str
    classes: list[str]
    relationship_types: list[str]
    target_edge_types: list[list[str]]
    config: TrainConfig
    data_hash: str
    text_encoder: str
    embedding_dimension: int
    node_counts: dict[str, int]
    metrics: dict[str, Any]


def gnn_dir(models_dir: Path) -> Path:
    return models_dir / "gnn"


def save_checkpoint(predictor: LinkPredictor, exported: ExportedGraph, models_dir: Path) -> Manifest:
    """Write `predictor` and its node mapping to a new version folder and return its manifest."""
    now = datetime.now(timezone.utc)
    data_hash = exported.data_hash()
    version = f"{now:%Y%m%dT%H%M%SZ}-{data_hash[:8]}"
    folder = gnn_dir(models_dir) / version
    predictor.save(folder)
    (folder / NODE_KEYS_FILE).write_text(json.dumps(exported.node_keys, ensure_ascii=False), encoding="utf-8")
    manifest = Manifest(version=version, created=now.isoformat(), classes=exported.classes,
                        relationship_types=exported.relationship_types,
                        target_edge_types=[list(edge_type) for edge_type in predictor.target_edge_types],
                        config=predictor.config, data_hash=data_hash, text_encoder=exported.text_encoder,
                        embedding_dimension=predictor.dimension,
                        node_counts={kind: len(keys) for kind, keys in exported.node_keys.items()},
                        metrics=predictor.metrics)
    (folder / MANIFEST_FILE).write_text(manifest.model_dump_json(indent=2), encoding="utf-8")
    logger.info("saved GNN checkpoint %s in %s", version, folder)
    return manifest


def list_versions(models_dir: Path) -> list[str]:
    """Return the saved versions, oldest first."""
    root = gnn_dir(models_dir)
    if not root.is_dir():
        return []
    return sorted(path.name for path in root.iterdir() if (path / MANIFEST_FILE).is_file())


def load_checkpoint(models_dir: Path, version: str = "latest",
                    device: str = "auto") -> tuple[LinkPredictor, Manifest, dict[str, list[str]]]:
    """Return the predictor, manifest and node keys of `version` (`latest` for the newest)."""
    versions = list_versions(models_dir)
    if not versions:
        raise ConfigurationError(f"no trained GNN under {gnn_dir(models_dir)}; train one with 'kg-service train'")
    if version == "latest":
        version = versions[-1]
    if version not in versions:
        raise ConfigurationError(f"GNN version {version!r} is not under {gnn_dir(models_dir)}; saved versions: "
                                 f"{', '.join(versions[-5:])}")
    folder = gnn_dir(models_dir) / version
    manifest = Manifest.model_validate_json((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    node_keys = json.loads((folder / NODE_KEYS_FILE).read_text(encoding="utf-8"))
    return LinkPredictor.load(folder, device=device), manifest, node_keys
