"""`kg-service ingest causrca PATH`: load the causRCA expert causal graph and fault-run events."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Optional

import typer

from kg_service.cli import ingest_app


@ingest_app.command("causrca")
def ingest_causrca(
        path: Path = typer.Argument(..., help="causRCA data folder (with expert_graph/, dig_twin/ and real_op/), or "
                                              "a dig_twin/, group, scenario or run folder"),
        run: list[str] = typer.Option([], "--run", "-r",
                                      help="Fault-run folder to load, relative to PATH (such as "
                                           "dig_twin/exp_probe/exp_1/run_1); repeat it, or pass 'all'"),
        start: str = typer.Option("2025-01-01T00:00:00",
                                  help="Date-time at which the first run starts; run i starts i days later"),
        deviations: bool = typer.Option(True, help="Also load deviations from the normal recordings as anomaly "
                                                   "events"),
        causal_graph: Optional[Path] = typer.Option(None, "--causal-graph",
                                                    help="causRCA folder with the expert_graph/ to load; default "
                                                         "PATH's own or a folder above it, else the shared data "
                                                         "set KG_DATA_DIR/causrca")) -> None:
    """Load the expert causal graph with the machine hierarchy, and the alarms of the chosen fault runs."""
    from kg_service.cli import _errors, _progress, _store
    from kg_service.config import get_settings
    from kg_service.errors import InputDataError
    from kg_service.evaluation.rootcause import resolve_causrca_inputs
    from kg_service.ingest import current_schema
    from loaders.causrca import load_causrca

    settings = get_settings()
    with _errors():
        try:
            anchor = datetime.fromisoformat(start)
        except ValueError:
            raise InputDataError(f"--start {start!r} is not an ISO 8601 date-time; "
                                 "pass one such as 2025-01-01T00:00:00") from None
        if run:
            inputs = resolve_causrca_inputs(path, causal_graph, settings.data_dir)
            graph_root, normal_root, known_runs = inputs.causal_graph, inputs.normal_recordings, inputs.known_runs
            run_dirs = inputs.runs if "all" in run else [path / item for item in run]
            if "all" not in run:
                _check_run_folders(path, run, inputs.runs)
        else:
            # The expert graph alone: PATH (or --causal-graph) must hold expert_graph/.
            graph_root, normal_root, known_runs, run_dirs = causal_graph or path, None, None, []
            if (graph_root / "all_nodes.csv").is_file():
                graph_root = graph_root.parent
        with_deviations = deviations and (normal_root is not None or not run)
        if run and deviations and not with_deviations:
            typer.echo(f"no normal recordings (real_op/) found for {path}; loading the alarms without deviations",
                       err=True)
        store = _store(settings)
        try:
            with _progress(f"writing {path.name}") as progress:
                load = load_causrca(store, current_schema(store), graph_root, run_dirs, anchor.replace(tzinfo=None),
                                    with_deviations, settings.batch_size, progress, normal_root=normal_root,
                                    known_runs=known_runs)
        finally:
            store.close()
    report = load.report
    typer.echo(json.dumps({"data": str(load.root), "variables": load.variables, "causal_edges": load.edges,
                           "runs": load.runs, "alarms": load.alarms, "anomalies": load.anomalies,
                           "nodes": report.nodes, "relationships": report.relationships,
                           "nodes_created": report.nodes_created,
                           "relationships_created": report.relationships_created}, ensure_ascii=False))


def _check_run_folders(path: Path, run: list[str], known: list[Path]) -> None:
    """Raise InputDataError naming every --run item that is not a fault-run folder, before anything is read."""
    from kg_service.errors import InputDataError
    from loaders.causrca import find_fault_runs

    invalid = []
    for item in run:
        run_dir = path / item
        if not run_dir.is_dir():
            invalid.append(f"{item} (folder not found)")
        elif find_fault_runs(run_dir) != [run_dir]:
            invalid.append(f"{item} (no causes.json, so not a fault-run folder)")
    if not invalid:
        return

    examples = ", ".join(str(run_dir.relative_to(path)) for run_dir in known[:3])
    raise InputDataError(f"invalid --run {', '.join(invalid)}, so nothing was loaded", path=str(path),
                         hint=f"pass fault-run folders relative to {path}, such as {examples}, or --run all")
