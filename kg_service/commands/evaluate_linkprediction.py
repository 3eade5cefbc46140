"""`kg-service evaluate link-prediction` and `kg-service ingest supplygraph`."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Optional

import typer

# kg_service.cli imports this module at its end, after `ingest_app` exists.
from kg_service.cli import _errors, _run_ingest, _store, ingest_app
from kg_service.commands.evaluate import evaluate_app

logger = logging.getLogger(__name__)


@ingest_app.command("supplygraph")
def ingest_supplygraph(folder: Path = typer.Argument(..., help="SupplyGraph folder with Nodes/, Edges/ and "
                                                              "Temporal Data/")) -> None:
    """Load SupplyGraph products, plants, storage locations and product groups."""
    from loaders.supplygraph import ingest_supplygraph as run

    _run_ingest(lambda store, settings, file, mapping, encoding, progress: run(store, settings, file, progress),
                folder, Path(), None)


def _options(models: str, seed: int, gnn_model: str, gnn_epochs: int, gnn_hidden: int, gnn_layers: int,
             kge_epochs: int, text_encoder: str, device: str, part: str):
    from pydantic import ValidationError

    from kg_service.errors import QueryError
    from kg_service.gnn.evaluate_run import EvaluationOptions
    from kg_service.gnn.train import TrainConfig

    try:
        gnn = TrainConfig(model=gnn_model, epochs=gnn_epochs, hidden_channels=gnn_hidden, num_layers=gnn_layers,
                          fan_out=[10] * gnn_layers, device=device)
        return EvaluationOptions(models=[name.strip() for name in models.split(",") if name.strip()], seed=seed,
                                 gnn=gnn, kge_epochs=kge_epochs, text_encoder=text_encoder, part=part)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, item['loc']))}: {item['msg']}" for item in error.errors())
        raise QueryError(f"invalid evaluation options: {problems}") from None


def _print_table(report) -> None:
    typer.echo(f"graph {report.graph}: targets {', '.join(report.target_types)}, split {report.split_sizes}, "
               f"seed {report.seed}, ranked on {report.part}")
    typer.echo(f"{'model':<14}{'MRR':>8}{'Hits@1':>8}{'Hits@3':>8}{'Hits@10':>9}{'tail MRR':>10}{'head MRR':>10}"
               f"{'train s':>9}")
    for result in report.results:
        metrics = result.both
        typer.echo(f"{result.model:<14}{metrics.mrr:>8.4f}{metrics.hits_at_1:>8.4f}{metrics.hits_at_3:>8.4f}"
                   f"{metrics.hits_at_10:>9.4f}{result.tail.mrr:>10.4f}{result.head.mrr:>10.4f}"
                   f"{result.train_seconds:>9.1f}")


@evaluate_app.command("link-prediction")
def evaluate_link_prediction(
        graph: str = typer.Option("maintkg", "--graph", "-g",
                                  help="maintkg, supplygraph, synthetic, a SupplyGraph folder or a work-order CSV"),
        mapping: Optional[Path] = typer.Option(None, "--mapping", "-m",
                                               help="Column mapping (YAML) of a work-order CSV given as --graph"),
        models: str = typer.Option("gnn,transe,rotate,adamic-adar", "--models",
                                   help="Comma-separated models: gnn, transe, rotate, adamic-adar, random"),
        stored: bool = typer.Option(False, "--stored", help="Evaluate the graph as stored; do not load the data "
                                                             "into the configured Neo4j first"),
        synthetic_edges: int = typer.Option(2000, help="Edges of the synthetic plant written for --graph synthetic"),
        seed: int = typer.Option(20261204, help="Seed of the split and of every model"),
        gnn_model: str = typer.Option("rgcn", help="GNN encoder: rgcn, sage or hgt (docs/evaluation.md compares them)"),
        gnn_epochs: int = typer.Option(30, help="GNN training epochs"),
        gnn_hidden: int = typer.Option(64, help="GNN hidden and embedding size"),
        gnn_layers: int = typer.Option(2, help="GNN message-passing layers"),
        kge_epochs: int = typer.Option(100, help="TransE and RotatE training epochs"),
        text_encoder: str = typer.Option("auto", help="Text encoder of the node features: auto, e5, minilm or hashing"),
        device: str = typer.Option("auto", help="Torch device of the GNN: auto, cpu, cuda or cuda:N"),
        part: str = typer.Option("test", help="Held-out pairs to rank: test, or valid to choose a model"),
        torch_threads: int = typer.Option(0, help="Torch intra-op threads; 0 keeps torch's default (one per core). "
                                                  "Use 1 on a machine shared with other jobs"),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table")) -> None:
    """Measure MRR and Hits@1/3/10 of the GNN and the baselines on a held-out edge split (filtered ranking).

    Unless --stored is given, the data set of --graph is first loaded (MERGE) into the configured
    Neo4j (NEO4J_URI, else the local server of KG_STATE_DIR and KG_BOLT_PORT), and it stays there.
    To keep it out of a plant's graph, run the command against a separate Neo4j, for example with
    KG_STATE_DIR and KG_BOLT_PORT set to another folder and port.
    """
    from kg_service.cli import get_settings
    from kg_service.gnn.evaluate_run import evaluate_stored_graph, load_preset_data, resolve_graph
    from kg_service.ingest import current_schema

    settings = get_settings()
    if torch_threads < 0:
        raise typer.BadParameter(f"must be 0 or more, got {torch_threads}", param_hint="--torch-threads")
    if torch_threads:
        import torch

        torch.set_num_threads(torch_threads)
    with _errors():
        options = _options(models, seed, gnn_model, gnn_epochs, gnn_hidden, gnn_layers, kge_epochs, text_encoder,
                           device, part)
        preset = resolve_graph(graph, mapping)
        store = _store(settings)
        loaded = None
        try:
            if not stored:
                graph_name = f"{store.uri} (database {store.database})"
                logger.info("link prediction: loading %s into %s; it stays there", preset.name, graph_name)
                loaded = {"graph": graph_name, "kept": True, **load_preset_data(store, settings, preset,
                                                                                synthetic_edges)}
            report = evaluate_stored_graph(store, current_schema(store), settings, preset, options)
        finally:
            store.close()
    if as_json:
        typer.echo(json.dumps(report.as_dict() | {"loaded": loaded}, ensure_ascii=False))
    else:
        _print_table(report)
        if loaded is not None:
            typer.echo(f"loaded {preset.name} into {loaded['graph']} ({loaded['nodes']} nodes, "
                       f"{loaded['relationships']} relationships written with MERGE) and kept it there; pass "
                       "--stored to evaluate without loading, or use a separate Neo4j (KG_STATE_DIR, "
                       "KG_BOLT_PORT)")
