"""`kg-service train`, `embed` and `predict`: GNN link prediction and embeddings on the graph.

torch and torch_geometric are imported inside the commands, so `kg-service --help` stays fast.
"""

from __future__ import annotations

import json
import logging
from typing import Optional

import typer

from kg_service.cli import app, console

logger = logging.getLogger(__name__)

DEFAULT_CLASSES = ["WorkOrder", "Equipment", "System", "Component", "FailureMode", "MaintenanceAction"]
DEFAULT_RELATIONSHIPS = ["FOR_ASSET", "INVOLVES", "HAS_FAILURE_MODE", "HAS_ACTION", "PART_OF"]


def _check_gnn_installed() -> None:
    from kg_service.errors import ConfigurationError

    try:
        import torch  # noqa: F401
        import torch_geometric  # noqa: F401
    except ImportError as error:
        raise ConfigurationError(f"GNN training needs torch and torch_geometric ({error.name} is missing); install "
                                 "them with pip install 'kg-service[gnn]'") from error


def _print_predictions(reports, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps([report._asdict() for report in reports]))
        return
    for report in reports:
        typer.echo(f"{report.relationship_type}: wrote {report.written} predictions of model {report.version}, "
                   f"removed {report.removed} earlier ones, skipped {report.asserted_skipped} asserted pairs")


@app.command("train")
def train(
    classes: list[str] = typer.Option(DEFAULT_CLASSES, "--class", "-c",
                                      help="Ontology class to export (repeat); default: work orders and assets"),
    relationships: list[str] = typer.Option(DEFAULT_RELATIONSHIPS, "--rel", "-r",
                                            help="Relationship type to export as edges (repeat)"),
    targets: list[str] = typer.Option(["HAS_FAILURE_MODE"], "--target", "-t",
                                      help="Relationship type to predict, or Source:TYPE:Target (repeat)"),
    model: str = typer.Option("rgcn", help="rgcn (R-GCN), sage (GraphSAGE via to_hetero) or hgt"),
    epochs: int = typer.Option(20, min=1, help="Training epochs"),
    hidden: int = typer.Option(64, min=2, help="Hidden and embedding size"),
    layers: int = typer.Option(2, min=1, max=6, help="Message-passing layers"),
    lr: float = typer.Option(0.003, help="Adam learning rate"),
    batch_size: int = typer.Option(256, min=1, help="Target edges per mini-batch"),
    fan_out: str = typer.Option("10,10", help="Neighbours sampled per layer and edge type, comma-separated; -1 for all"),
    negative_ratio: float = typer.Option(1.0, help="Negative edges per positive edge"),
    device: Optional[str] = typer.Option(None, help="auto, cpu, cuda or cuda:N; default KG_DEVICE"),
    threads: Optional[int] = typer.Option(None, min=1, help="CPU threads of torch while training; default torch's"),
    text_encoder: str = typer.Option("auto", help="Text features: auto (e5, else minilm, else hashing), e5, "
                                                  "minilm or hashing"),
    write_embeddings: bool = typer.Option(False, "--write-embeddings", help="Write embeddings back after training"),
    write_predictions: bool = typer.Option(False, "--write-predictions", help="Write predicted links after training"),
    top_k: int = typer.Option(5, min=1, help="Predicted links kept per source node"),
    min_score: float = typer.Option(0.5, min=0.0, max=1.0, help="Lowest score of a written prediction"),
) -> None:
    """Export part of the graph, train a GNN link predictor and save a versioned checkpoint."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from kg_service.cli import _errors, _store
    from kg_service.config import get_settings
    from kg_service.errors import QueryError

    settings = get_settings()
    with _errors():
        _check_gnn_installed()
        from kg_service.gnn.pipeline import embed_nodes, train_from_graph, write_all_predictions
        from kg_service.gnn.train import TrainConfig
        from kg_service.ontology.schema import GraphSchema

        try:
            fan_outs = [int(part) for part in fan_out.split(",") if part.strip()]
        except ValueError:
            raise QueryError(f"--fan-out {fan_out!r} is invalid; give integers separated by commas, such as 10,10")
        if len(fan_outs) == 1:
            fan_outs = fan_outs * layers
        try:
            config = TrainConfig(model=model, epochs=epochs, hidden_channels=hidden, num_layers=layers, lr=lr,
                                 batch_size=batch_size, fan_out=fan_outs, negative_ratio=negative_ratio,
                                 seed=settings.seed, device=device or settings.device, num_threads=threads)
        except ValueError as error:
            raise QueryError(f"invalid training option: {error}") from None
        store = _store(settings)
        try:
            schema = GraphSchema.from_store(store)
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          TextColumn("loss {task.fields[loss]}"), console=console) as progress:
                task = progress.add_task("training", total=epochs, loss="-")

                def on_epoch(epoch: int, total: int, loss: float) -> None:
                    progress.update(task, completed=epoch, loss=f"{loss:.4f}")

                run = train_from_graph(store, schema, settings, classes, relationships, targets, config,
                                       text_encoder=text_encoder, progress=on_epoch)
            manifest = run.manifest
            typer.echo(f"trained {config.model} model {manifest.version} on "
                       f"{', '.join(':'.join(t) for t in manifest.target_edge_types)}: final loss "
                       f"{manifest.metrics['loss']:.4f}, {manifest.metrics['seconds_per_epoch']:.2f} s per epoch "
                       f"on {manifest.metrics['device']}")
            typer.echo(f"checkpoint: {settings.models_dir / 'gnn' / manifest.version}")
            if write_embeddings:
                report = embed_nodes(store, schema, run.predictor, run.exported.node_keys, manifest.version, settings)
                typer.echo(f"wrote {report.nodes} embeddings of dimension {report.dimension} (index {report.index})")
            if write_predictions:
                _print_predictions(write_all_predictions(store, schema, run.predictor, run.exported.node_keys,
                                                         manifest.version, settings, top_k=top_k,
                                                         min_score=min_score), as_json=False)
        finally:
            store.close()


@app.command("embed")
def embed(version: str = typer.Option("latest", help="Checkpoint version under the models folder, or latest")) -> None:
    """Write the node embeddings of a trained GNN to Neo4j and create the vector index."""
    from kg_service.cli import _errors, _store
    from kg_service.config import get_settings

    settings = get_settings()
    with _errors():
        _check_gnn_installed()
        from kg_service.gnn.pipeline import embed_nodes, load_version
        from kg_service.ontology.schema import GraphSchema

        predictor, manifest, node_keys = load_version(settings, version)
        store = _store(settings)
        try:
            report = embed_nodes(store, GraphSchema.from_store(store), predictor, node_keys, manifest.version, settings)
        finally:
            store.close()
    typer.echo(f"wrote {report.nodes} embeddings of dimension {report.dimension} from model {report.version} "
               f"(vector index {report.index})")


@app.command("predict")
def predict(version: str = typer.Option("latest", help="Checkpoint version under the models folder, or latest"),
            top_k: int = typer.Option(5, min=1, help="Predicted links kept per source node"),
            min_score: float = typer.Option(0.5, min=0.0, max=1.0, help="Lowest score of a written prediction"),
            as_json: bool = typer.Option(False, "--json", help="Print one JSON list of reports")) -> None:
    """Write the links a trained GNN predicts as PREDICTED_<TYPE>, replacing earlier predictions."""
    from kg_service.cli import _errors, _store
    from kg_service.config import get_settings

    settings = get_settings()
    with _errors():
        _check_gnn_installed()
        from kg_service.gnn.pipeline import load_version, write_all_predictions
        from kg_service.ontology.schema import GraphSchema

        predictor, manifest, node_keys = load_version(settings, version)
        store = _store(settings)
        try:
            reports = write_all_predictions(store, GraphSchema.from_store(store), predictor, node_keys,
                                            manifest.version, settings, top_k=top_k, min_score=min_score)
        finally:
            store.close()
    _print_predictions(reports, as_json)
