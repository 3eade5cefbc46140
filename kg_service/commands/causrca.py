"""`kg-service ingest causrca PATH`: load the causRCA expert causal graph and fault-run events."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import typer

from kg_service.cli import ingest_app


@ingest_app.command("causrca")
def ingest_causrca(
        path: Path = typer.Argument(..., help="causRCA data folder (with expert_graph/, dig_twin/ and real_op/)"),
        run: list[str] = typer.Option([], "--run", "-r",
                                      help="Fault-run folder to load, relative to PATH (such as "
                                           "dig_twin/exp_probe/exp_1/run_1); repeat it, or pass 'all'"),
        start: str = typer.Option("2025-01-01T00:00:00",
                                  help="Date-time at which the first run starts; run i starts i days later"),
        deviations: bool = typer.Option(True, help="Also load deviations from the normal recordings as anomaly "
                                                   "events")) -> None:
    """Load the expert causal graph with the machine hierarchy, and the alarms of the chosen fault runs."""
    from kg_service.cli import _errors, _progress, _store
    from kg_service.config import get_settings
    from kg_service.errors import InputDataError
    from kg_service.ingest import current_schema
    from loaders.causrca import find_fault_runs, load_causrca

    settings = get_settings()
    with _errors():
        try:
            anchor = datetime.fromisoformat(start)
        except ValueError:
            raise InputDataError(f"--start {start!r} is not an ISO 8601 date-time; "
                                 "pass one such as 2025-01-01T00:00:00") from None
        run_dirs = find_fault_runs(path) if "all" in run else [path / item for item in run]
        store = _store(settings)
        try:
            with _progress(f"writing {path.name}") as progress:
                load = load_causrca(store, current_schema(store), path, run_dirs, anchor.replace(tzinfo=None),
                                    deviations, settings.batch_size, progress)
        finally:
            store.close()
    report = load.report
    typer.echo(json.dumps({"data": str(load.root), "variables": load.variables, "causal_edges": load.edges,
                           "runs": load.runs, "alarms": load.alarms, "anomalies": load.anomalies,
                           "nodes": report.nodes, "relationships": report.relationships,
                           "nodes_created": report.nodes_created,
                           "relationships_created": report.relationships_created}, ensure_ascii=False))
